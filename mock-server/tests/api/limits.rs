//! Limits against slow and oversized clients (`server::Limits`): request body 413 on every route, header
//! bytes 431 in UKO's shape, heads hyper cannot hold refused and closed, slow bodies 408, slowloris heads
//! and idle keep-alive connections closed, the journal and the instance registry bounded.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uko_mock::server::{Limits, MAX_BODY_BYTES, MAX_HEADERS, MAX_HEADER_BYTES, MAX_HEAD_BYTES};
use uko_mock::MockServer;

use crate::helpers::raw::{self, RawError};
use crate::hostile::{state_difference, state_snapshot};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Short limits, so the timeout tests take about a second each.
fn short_limits() -> Limits {
    Limits {
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(1),
        ..Limits::default()
    }
}

fn request(method: &str, path: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra_headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[track_caller]
fn assert_uko_error(response: &raw::RawResponse, status: u16, code: &str) {
    assert_eq!(response.status, status, "{:?}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.uko_error_problem(false), None);
    assert_eq!(response.json().unwrap()["errors"][0]["code"], code);
}

#[tokio::test]
async fn bodies_over_the_limit_get_a_uko_413_on_every_route_and_change_nothing() {
    let server = MockServer::start().await.unwrap();
    let routes = [
        ("POST", "/api/v4/vaults"),
        ("PATCH", "/api/v4/managed_keys/44444444-4444-4444-8444-000000000001"),
        // These read no body at all, and still refuse one over the limit.
        ("POST", "/api/v4/managed_keys/44444444-4444-4444-8444-000000000001/activate"),
        ("GET", "/api/v4/vaults"),
        ("POST", "/nowhere"),
        ("POST", "/identity/token"),
        ("POST", "/__mock/v1/fixture"),
    ];
    for (method, path) in routes {
        let before = state_snapshot(&server);
        let body = vec![b'x'; 10 * 1024 * 1024];
        let response = raw::send(server.address(), &request(method, path, "If-Match: *\r\n", &body), TIMEOUT)
            .await
            .unwrap_or_else(|error| panic!("{method} {path}: {error:?}"));
        assert_uko_error(&response, 413, "payload_too_large");
        assert_eq!(response.header("connection").as_deref(), Some("close"), "{method} {path}");
        let after = state_snapshot(&server);
        assert_eq!(state_difference(&server, &before, &after), None, "{method} {path}");
    }
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_gets_413_and_one_at_the_limit_is_read() {
    let server = MockServer::start().await.unwrap();
    let chunked = |length: usize| {
        let mut bytes =
            b"POST /api/v4/vaults HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_vec();
        let mut body = b"{\"name\": \"Chunked\", \"description\": \"".to_vec();
        body.resize(length - 2, b' ');
        body.extend_from_slice(b"\"}");
        for chunk in body.chunks(64 * 1024) {
            bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            bytes.extend_from_slice(chunk);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        bytes
    };

    let over = raw::send(server.address(), &chunked(MAX_BODY_BYTES + 1), TIMEOUT).await.unwrap();
    let at = raw::send(server.address(), &chunked(MAX_BODY_BYTES), TIMEOUT).await.unwrap();

    assert_uko_error(&over, 413, "payload_too_large");
    // Read whole and judged by the operation: a description of a MiB is too long for UKO.
    assert_uko_error(&at, 400, "invalid_field");
}

#[tokio::test]
async fn headers_over_the_limit_get_a_uko_431() {
    let server = MockServer::start().await.unwrap();
    let padding = format!("X-Padding: {}\r\n", "p".repeat(MAX_HEADER_BYTES));

    let response =
        raw::send(server.address(), &request("GET", "/api/v4/vaults", &padding, b""), TIMEOUT).await.unwrap();

    assert_uko_error(&response, 431, "request_header_fields_too_large");
}

#[tokio::test]
async fn heads_hyper_cannot_hold_are_refused_and_the_server_keeps_serving() {
    let server = MockServer::start().await.unwrap();
    let huge_head = format!("X-Padding: {}\r\n", "p".repeat(2 * MAX_HEAD_BYTES));
    let many_headers: String = (0..=MAX_HEADERS).map(|i| format!("X-H{i}: {i}\r\n")).collect();

    for extra in [huge_head, many_headers] {
        let answer = raw::send(server.address(), &request("GET", "/api/v4/vaults", &extra, b""), TIMEOUT).await;
        match answer {
            // hyper answers before any service sees the request: no UKO body, no correlation id.
            Ok(response) => {
                assert_eq!(response.status, 431);
                assert!(response.header("x-correlation-id").is_none(), "{} bytes of head", extra.len());
            }
            Err(RawError::ClosedWithoutAnswer) => {}
            Err(error) => panic!("{error:?}"),
        }
    }

    let after = raw::send(server.address(), &request("GET", "/api/v4/vaults", "", b""), TIMEOUT).await.unwrap();
    assert_eq!(after.status, 200);
}

#[tokio::test]
async fn a_body_sent_too_slowly_gets_a_uko_408() {
    let server = MockServer::builder().limits(short_limits()).start().await.unwrap();
    let mut stream = TcpStream::connect(server.address()).await.unwrap();
    let head = "POST /api/v4/vaults HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 100\r\n\r\n{";
    stream.write_all(head.as_bytes()).await.unwrap();

    let started = Instant::now();
    let response = tokio::time::timeout(TIMEOUT, raw::read_to_close(&mut stream, false)).await.unwrap().unwrap();

    assert_uko_error(&response, 408, "request_timeout");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_head_sent_byte_by_byte_is_cut_off_after_the_header_timeout() {
    // Arrange: a slowloris client keeps sending, one byte every 100 ms, a head that never ends.
    let server = MockServer::builder().limits(short_limits()).start().await.unwrap();
    let mut stream = TcpStream::connect(server.address()).await.unwrap();
    let endless = "GET /api/v4/vaults HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".bytes().chain(std::iter::repeat(b'a'));

    // Act: dribble until the server closes the connection.
    let started = Instant::now();
    let mut sent = 0usize;
    let mut answer = Vec::new();
    for byte in endless {
        if started.elapsed() > Duration::from_secs(10) {
            break;
        }
        if stream.write_all(&[byte]).await.is_err() {
            break;
        }
        sent += 1;
        let mut buffer = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
            Err(_still_open) => {}
        }
    }
    let closed_after = started.elapsed();

    // Assert: closed after about the header timeout (1 s), long before the 10 s the client would go on.
    assert!(closed_after >= Duration::from_millis(900), "closed too early: {closed_after:?}");
    assert!(closed_after < Duration::from_secs(4), "not closed in time: {closed_after:?} after {sent} bytes");
    assert!(!String::from_utf8_lossy(&answer).contains(" 200 "), "the endless head was served");
}

#[tokio::test]
async fn slowloris_connections_do_not_stop_other_clients() {
    let server = MockServer::builder().limits(short_limits()).start().await.unwrap();
    let mut slow = Vec::new();
    for _ in 0..64 {
        let mut stream = TcpStream::connect(server.address()).await.unwrap();
        stream.write_all(b"GET /api/v4/vaults HTTP/1.1\r\nHo").await.unwrap();
        slow.push(stream);
    }

    let response = raw::send(server.address(), &request("GET", "/api/v4/vaults", "", b""), TIMEOUT).await.unwrap();
    assert_eq!(response.status, 200);

    // And every slow connection is closed by the server within the header timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for mut stream in slow {
        let mut buffer = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "a slowloris connection is still open: {read:?}");
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let server = MockServer::builder().limits(short_limits()).start().await.unwrap();
    let mut stream = TcpStream::connect(server.address()).await.unwrap();
    stream.write_all(b"GET /api/v4/vaults HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let first = raw::read_one(&mut stream).await.unwrap();
    assert_eq!(first.status, 200);

    let started = Instant::now();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await;

    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the idle connection stayed open: {read:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn the_journal_keeps_its_cap_and_cuts_long_fields() {
    // Arrange: a small journal, and requests whose path and If-Match are 60 KiB each.
    let server = MockServer::builder().journal_size(50).start().await.unwrap();
    let long_id = "a".repeat(60 * 1024);
    let long_if_match = format!("Content-Type: application/json\r\nIf-Match: {}\r\n", "9".repeat(60 * 1024));
    let path = format!("/api/v4/managed_keys/{long_id}");

    // Act
    for _ in 0..200 {
        let response = raw::send(server.address(), &request("PATCH", &path, &long_if_match, b"{}"), TIMEOUT).await;
        assert_eq!(response.unwrap().status, 404);
    }

    // Assert: 50 entries, none holding more than MAX_FIELD_BYTES in a field.
    let (entries, _) = server.store().with_instance("default", |instance| instance.journal.read(0, usize::MAX));
    assert_eq!(entries.len(), 50);
    let bound = uko_mock::domain::request_journal::MAX_FIELD_BYTES;
    for entry in &entries {
        assert!(entry.path.len() <= bound, "{}", entry.path.len());
        assert!(entry.if_match.as_ref().unwrap().len() <= bound);
        assert!(entry.resource_id.as_ref().map_or(0, String::len) <= bound);
    }
    assert_eq!(entries.last().unwrap().seq, 200);
}

#[tokio::test]
async fn the_instance_registry_is_bounded_and_refuses_new_instances_in_uko_shape() {
    // Arrange: fill the registry (the default instance is one of them).
    let server = MockServer::start().await.unwrap();
    let max = uko_mock::store::MAX_INSTANCES;
    for index in 1..max {
        let path = format!("/instances/i-{index}/api/v4/vaults");
        let response = raw::send(server.address(), &request("GET", &path, "", b""), TIMEOUT).await.unwrap();
        assert_eq!(response.status, 200, "{path}");
    }

    // Act
    let one_more = raw::send(server.address(), &request("GET", "/instances/one-more/api/v4/vaults", "", b""), TIMEOUT)
        .await
        .unwrap();
    let control =
        raw::send(server.address(), &request("GET", "/__mock/v1/instances/one-more/export", "", b""), TIMEOUT)
            .await
            .unwrap();
    let existing =
        raw::send(server.address(), &request("GET", "/instances/i-7/api/v4/vaults", "", b""), TIMEOUT).await.unwrap();
    let deleted =
        raw::send(server.address(), &request("DELETE", "/__mock/v1/instances/i-7", "", b""), TIMEOUT).await.unwrap();
    let after_delete =
        raw::send(server.address(), &request("GET", "/instances/one-more/api/v4/vaults", "", b""), TIMEOUT)
            .await
            .unwrap();

    // Assert
    assert_uko_error(&one_more, 409, "conflict");
    assert!(one_more.json().unwrap()["errors"][0]["message"].as_str().unwrap().contains("DELETE /__mock/v1/instances"));
    assert_uko_error(&control, 409, "conflict");
    assert_eq!(existing.status, 200);
    assert_eq!(deleted.status, 204);
    assert_eq!(after_delete.status, 200);
    assert_eq!(server.store().instance_ids().len(), max);
    let body: Value = after_delete.json().unwrap();
    assert_eq!(body["total_count"], 1);
}

#[tokio::test]
async fn a_100_kb_uri_gets_a_uko_414() {
    let server = MockServer::start().await.unwrap();
    let path = format!("/api/v4/managed_keys/{}", "a".repeat(100 * 1024));

    let response = raw::send(server.address(), &request("GET", &path, "", b""), TIMEOUT).await.unwrap();

    assert_uko_error(&response, 414, "uri_too_long");
    // The server keeps serving.
    let after = raw::send(server.address(), &request("GET", "/api/v4/vaults", "", b""), TIMEOUT).await.unwrap();
    assert_eq!(after.status, 200);
}
