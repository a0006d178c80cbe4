//! A raw HTTP/1.1 client over a plain TCP socket, for requests no well-behaved client would send:
//! invalid bytes in the request line or headers, duplicate or huge headers, bodies whose framing lies,
//! headers dribbled one byte at a time. It writes exactly the bytes it is given and parses whatever comes
//! back, so a test sees the server's answer (or its silence) as a hostile client would.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An answer as read off the socket.
#[derive(Clone, Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lowercased, values as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// What came back instead of an answer.
#[derive(Debug)]
pub enum RawError {
    /// The server closed (or reset) the connection without sending a byte.
    ClosedWithoutAnswer,
    /// No complete answer within the time allowed.
    TimedOut,
    /// Bytes came back, but not an HTTP/1.1 answer.
    // Read only through `Debug` in failure messages, which dead-code analysis does not count.
    Malformed(#[allow(dead_code)] String),
    // Likewise.
    Io(#[allow(dead_code)] std::io::Error),
}

impl RawResponse {
    /// The first value of a header, as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Why this answer is not a UKO error (`None` when it is one): status 4xx, `Content-Type:
    /// application/json`, a JSON body with `status_code` equal to the status, `trace` equal to the
    /// `X-Correlation-ID` header, and a non-empty `errors[]` whose items have a `code` and a `message`.
    /// A HEAD answer carries the headers only.
    pub fn uko_error_problem(&self, head: bool) -> Option<String> {
        if !(400..500).contains(&self.status) {
            return Some(format!("status {} is not a 4xx", self.status));
        }
        if self.header("content-type").as_deref() != Some("application/json") {
            return Some(format!("content-type {:?} is not application/json", self.header("content-type")));
        }
        let Some(correlation) = self.header("x-correlation-id") else {
            return Some("no x-correlation-id".to_owned());
        };
        if head {
            return (!self.body.is_empty()).then(|| "a HEAD answer with a body".to_owned());
        }
        let Some(body) = self.json() else {
            return Some(format!("the body is not JSON: {:?}", String::from_utf8_lossy(&self.body)));
        };
        if body["status_code"] != self.status {
            return Some(format!("status_code {} differs from the status {}", body["status_code"], self.status));
        }
        if body["trace"] != correlation.as_str() {
            return Some(format!("trace {} differs from x-correlation-id {correlation}", body["trace"]));
        }
        let errors = body["errors"].as_array().filter(|errors| !errors.is_empty());
        let Some(errors) = errors else { return Some(format!("no errors[] in {body}")) };
        for error in errors {
            for field in ["code", "message"] {
                if error[field].as_str().is_none_or(str::is_empty) {
                    return Some(format!("errors[].{field} missing or empty in {body}"));
                }
            }
        }
        None
    }
}

/// Connects, writes `request` whole (a write error is ignored: the server may answer and close before
/// reading everything), then reads the answer until the server closes the connection. Send
/// `Connection: close` in `request`, or the read waits for `timeout`.
pub async fn send(address: SocketAddr, request: &[u8], timeout: Duration) -> Result<RawResponse, RawError> {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await.map_err(RawError::Io)?;
        let _ = stream.write_all(request).await;
        let _ = stream.flush().await;
        read_to_close(&mut stream, request.starts_with(b"HEAD ")).await
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| RawError::TimedOut)?
}

/// Reads until EOF (or a reset after some bytes) and parses one answer (to a HEAD request when `head`).
pub async fn read_to_close(stream: &mut TcpStream, head: bool) -> Result<RawResponse, RawError> {
    let mut bytes = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            Err(error) if bytes.is_empty() => {
                return match error.kind() {
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
                        Err(RawError::ClosedWithoutAnswer)
                    }
                    _ => Err(RawError::Io(error)),
                };
            }
            Err(_) => break,
        }
    }
    if bytes.is_empty() {
        return Err(RawError::ClosedWithoutAnswer);
    }
    parse(&bytes, head)
}

/// Reads exactly one answer with a `Content-Length` body off a connection that stays open (keep-alive).
pub async fn read_one(stream: &mut TcpStream) -> Result<RawResponse, RawError> {
    let mut bytes = Vec::new();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if let Some(head_end) = find(&bytes, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if bytes.len() >= head_end + 4 + length {
                return parse(&bytes[..head_end + 4 + length], false);
            }
        }
        match stream.read(&mut buffer).await {
            Ok(0) if bytes.is_empty() => return Err(RawError::ClosedWithoutAnswer),
            Ok(0) => return parse(&bytes, false),
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            Err(error) => return Err(RawError::Io(error)),
        }
    }
}

/// Parses one HTTP/1.1 answer (Content-Length, chunked, or until close; none to a HEAD request).
pub fn parse(bytes: &[u8], head_request: bool) -> Result<RawResponse, RawError> {
    let malformed = |why: &str| RawError::Malformed(format!("{why}: {:?}", String::from_utf8_lossy(bytes)));
    let head_end = find(bytes, b"\r\n\r\n").ok_or_else(|| malformed("no end of head"))?;
    let head = std::str::from_utf8(&bytes[..head_end]).map_err(|_| malformed("head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut words = status_line.splitn(3, ' ');
    if words.next() != Some("HTTP/1.1") {
        return Err(malformed("not HTTP/1.1"));
    }
    let status = words.next().and_then(|s| s.parse::<u16>().ok()).ok_or_else(|| malformed("no status"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(|| malformed("header without colon"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().as_bytes().to_vec()));
    }
    let rest = &bytes[head_end + 4..];
    let value =
        |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    let body = if head_request {
        Vec::new()
    } else if value("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest).ok_or_else(|| malformed("bad chunked body"))?
    } else if let Some(length) = value("content-length") {
        let length: usize = length.parse().map_err(|_| malformed("bad content-length"))?;
        if rest.len() < length {
            return Err(malformed("body shorter than content-length"));
        }
        rest[..length].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(RawResponse { status, headers, body })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}
