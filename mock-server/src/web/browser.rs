//! What keeps a web page from driving the mock from a developer's browser (issue 15): the gateway runs
//! these checks on every request before routing.
//!
//! - `Host` must name this server: `localhost`, `127.0.0.1`, `[::1]`, the bound address (any IP literal
//!   when bound to `0.0.0.0`/`::`), the `--public-url` host or a name given with `--allowed-host`; any port.
//!   Otherwise 403: a page whose DNS name was rebound to 127.0.0.1 sends its own name as `Host`. A request
//!   without `Host` (no browser sends one) passes.
//! - A state-changing request (not GET, HEAD or OPTIONS) carrying `Origin` must come from the server's own
//!   origin (the `Origin` authority equals `Host`) or from an `--allowed-host` / `--public-url` host.
//!   Otherwise 403: browsers send cross-site "simple" requests without asking first.
//! - A non-empty body must be `application/json` (parameters such as `charset` allowed, and `+json` types),
//!   except IAM's form-encoded `POST /identity/token`. Otherwise 415: `text/plain` and form bodies are what
//!   a page can send cross-site without a CORS preflight.
//!
//! `--allowed-host '*'` accepts any `Host` and `Origin` (the content-type rule stays).

use std::net::IpAddr;

use axum::http::{header, HeaderMap, Method};

use super::error::{ApiError, ErrorCode, TargetType};

/// The path whose body is form-encoded, as IBM IAM has it.
const FORM_PATH: &str = "/identity/token";

/// Which hosts and origins a server accepts.
#[derive(Clone, Debug)]
pub struct BrowserPolicy {
    /// Lower-case host names (and IP literals, IPv6 in brackets) accepted as `Host`, any port.
    hosts: Vec<String>,
    /// Hosts given explicitly (`--allowed-host`, `--public-url`): also accepted as an `Origin`'s host.
    explicit: Vec<String>,
    /// Bound to an unspecified address: any IP literal is one of this machine's addresses.
    any_address: bool,
    /// `--allowed-host '*'`.
    any_host: bool,
}

impl Default for BrowserPolicy {
    /// Loopback names only (a server bound to 127.0.0.1 without extra names).
    fn default() -> Self {
        BrowserPolicy::new(IpAddr::from([127, 0, 0, 1]), &[], None)
    }
}

impl BrowserPolicy {
    /// The policy of a server bound to `bound`, with extra `allowed` names and its `--public-url`.
    pub fn new(bound: IpAddr, allowed: &[String], public_url: Option<&str>) -> BrowserPolicy {
        let mut explicit: Vec<String> = allowed.iter().map(|name| name.trim().to_ascii_lowercase()).collect();
        if let Some(host) = public_url.and_then(url_host) {
            explicit.push(host);
        }
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(str::to_owned).to_vec();
        hosts.push(ip_literal(bound));
        hosts.extend(explicit.iter().cloned());
        BrowserPolicy {
            any_host: explicit.iter().any(|name| name == "*"),
            hosts,
            explicit,
            any_address: bound.is_unspecified(),
        }
    }

    /// Checks a request's `Host` and, for a state-changing method, its `Origin`.
    pub fn check_request(&self, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.any_host {
            return Ok(());
        }
        let host =
            headers.get(header::HOST).map(|value| String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase());
        if let Some(host) = &host {
            if !split_authority(host).is_some_and(|(name, _)| self.host_allowed(name)) {
                return Err(ApiError::new(
                    ErrorCode::HostNotAllowed,
                    format!(
                        "The Host '{}' does not name this server; uko-mock answers localhost, 127.0.0.1, [::1] and its bound address (add names with --allowed-host NAME)",
                        shorten(host)
                    ),
                )
                .with_target(TargetType::Header, "Host"));
            }
        }
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = String::from_utf8_lossy(origin.as_bytes()).to_ascii_lowercase();
        let authority = origin.split_once("://").map(|(_, authority)| authority.trim_end_matches('/'));
        let same_origin = authority.is_some_and(|authority| host.as_deref() == Some(authority));
        let explicit = authority
            .and_then(split_authority)
            .is_some_and(|(name, _)| self.explicit.iter().any(|allowed| allowed == name));
        if same_origin || explicit {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::OriginNotAllowed,
            format!(
                "A request from the web page at '{}' may not change this server's state; only the server's own origin may (add a host with --allowed-host NAME)",
                shorten(&origin)
            ),
        )
        .with_target(TargetType::Header, "Origin"))
    }

    fn host_allowed(&self, name: &str) -> bool {
        self.hosts.iter().any(|allowed| allowed == name)
            || (self.any_address && name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok())
    }
}

/// Refuses a non-empty body that is not JSON (415), except on IAM's form-encoded token endpoint.
pub fn check_body_type(path: &str, headers: &HeaderMap, body_is_empty: bool) -> Result<(), ApiError> {
    if body_is_empty || path == FORM_PATH {
        return Ok(());
    }
    let content_type = headers.get(header::CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = content_type.as_deref().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let json = essence == "application/json"
        || essence.strip_prefix("application/").is_some_and(|subtype| subtype.ends_with("+json"));
    if json {
        return Ok(());
    }
    let found = match &content_type {
        Some(content_type) => format!("found '{}'", shorten(content_type)),
        None => "found no Content-Type".to_owned(),
    };
    Err(ApiError::new(
        ErrorCode::UnsupportedMediaType,
        format!("A request body must be sent as 'Content-Type: application/json'; {found}"),
    )
    .with_target(TargetType::Header, "Content-Type"))
}

/// `name[:port]` or `[v6][:port]` → (name, port); `None` when the port is not digits.
fn split_authority(authority: &str) -> Option<(&str, Option<&str>)> {
    let (name, port) = if authority.starts_with('[') {
        let end = authority.find(']')? + 1;
        let rest = &authority[end..];
        (&authority[..end], if rest.is_empty() { None } else { Some(rest.strip_prefix(':')?) })
    } else {
        match authority.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (authority, None),
        }
    };
    let port_valid =
        port.is_none_or(|port| !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()));
    (port_valid && !name.is_empty()).then_some((name, port))
}

/// The host of `scheme://host[:port][/...]`, lower case.
fn url_host(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?.to_ascii_lowercase();
    split_authority(&authority).map(|(name, _)| name.to_owned())
}

/// An address as a `Host` names it (IPv6 in brackets).
fn ip_literal(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// A header value for an error message: at most 200 characters.
fn shorten(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, StatusCode};

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (name.clone(), HeaderValue::from_str(value).unwrap())).collect()
    }

    #[test]
    fn hosts_name_this_server_on_any_port_and_nothing_else() {
        let policy = BrowserPolicy::new(IpAddr::from([127, 0, 0, 1]), &["mock.internal".into()], None);
        for host in ["localhost", "localhost:9549", "127.0.0.1:1", "[::1]:9549", "LOCALHOST", "mock.internal:80"] {
            assert!(policy.check_request(&Method::GET, &headers(&[(header::HOST, host)])).is_ok(), "{host}");
        }
        for host in ["evil.example", "evil.example:9549", "localhost.evil.example", "10.0.0.1", "localhost:x", "[::1]x"]
        {
            let error = policy.check_request(&Method::GET, &headers(&[(header::HOST, host)])).unwrap_err();
            assert_eq!(error.status, StatusCode::FORBIDDEN, "{host}");
        }
        let wide = BrowserPolicy::new(IpAddr::from([0, 0, 0, 0]), &[], Some("https://uko.example.com/base"));
        for host in ["10.0.0.1:9549", "[fe80::1]:9549", "uko.example.com"] {
            assert!(wide.check_request(&Method::GET, &headers(&[(header::HOST, host)])).is_ok(), "{host}");
        }
    }

    #[test]
    fn state_changes_need_the_servers_own_origin() {
        let policy = BrowserPolicy::new(IpAddr::from([127, 0, 0, 1]), &["console.example".into()], None);
        let request = |origin: &str| {
            policy.check_request(&Method::POST, &headers(&[(header::HOST, "127.0.0.1:9549"), (header::ORIGIN, origin)]))
        };
        assert!(request("http://127.0.0.1:9549").is_ok());
        assert!(request("https://console.example").is_ok());
        for origin in ["http://evil.example", "null", "http://localhost:3000", "http://127.0.0.1:8080"] {
            assert_eq!(request(origin).unwrap_err().status, StatusCode::FORBIDDEN, "{origin}");
        }
        let read = headers(&[(header::HOST, "127.0.0.1"), (header::ORIGIN, "http://evil.example")]);
        assert!(policy.check_request(&Method::GET, &read).is_ok(), "reads are not refused for their Origin");
    }

    #[test]
    fn bodies_must_be_json_except_the_iam_form() {
        let typed = |value: &str| headers(&[(header::CONTENT_TYPE, value)]);
        for accepted in
            ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"]
        {
            assert!(check_body_type("/api/v4/vaults", &typed(accepted), false).is_ok(), "{accepted}");
        }
        for refused in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            let error = check_body_type("/api/v4/vaults", &typed(refused), false).unwrap_err();
            assert_eq!(error.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{refused}");
        }
        assert!(check_body_type("/api/v4/vaults", &HeaderMap::new(), false).is_err());
        assert!(check_body_type("/api/v4/vaults", &HeaderMap::new(), true).is_ok(), "an empty body needs no type");
        assert!(check_body_type("/identity/token", &typed("application/x-www-form-urlencoded"), false).is_ok());
    }
}
