//! Redactions that check a value before hiding it, so a snapshot never hides a malformed value.
//!
//! Fixtures use fixed ids and a virtual clock, so most bodies are deterministic and stay unredacted.
//! What is not deterministic: the server's port in `href`s and `Location`, generated correlation ids
//! (a process-wide counter shared by tests running in parallel), wall-clock instants (IAM tokens,
//! instances on a wall clock). Each redaction here asserts the value's format first.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `[uuid]`, after checking that `value` parses as a lowercase hyphenated UUID.
pub fn uuid(value: &str) -> String {
    assert!(is_uuid(value), "expected a lowercase hyphenated uuid, found {value:?}");
    "[uuid]".to_owned()
}

/// `[timestamp]`, after checking that `value` is an RFC 3339 date-time in UTC (`…Z`).
pub fn timestamp(value: &str) -> String {
    assert!(
        value.ends_with('Z') && OffsetDateTime::parse(value, &Rfc3339).is_ok(),
        "expected an RFC 3339 UTC timestamp, found {value:?}"
    );
    "[timestamp]".to_owned()
}

/// `[etag]`, after checking UKO's ETag format `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`.
pub fn etag(value: &str) -> String {
    assert!(is_etag(value), "expected an ETag like 2022-05-26T14:18:10Z, found {value:?}");
    "[etag]".to_owned()
}

/// `[correlation-id]`, after checking that a generated correlation id is a uuid and, for a `trace`,
/// that it equals the response's `X-Correlation-ID` header.
pub fn correlation_id(value: &str, header: &str) -> String {
    assert_eq!(value, header, "trace must equal the X-Correlation-ID response header");
    assert!(is_uuid(value), "expected a generated correlation id to be a uuid, found {value:?}");
    "[correlation-id]".to_owned()
}

/// `[unix-time]`, after checking that `value` is a Unix time within a day of now.
pub fn unix_time(value: &Value) -> Value {
    let seconds = value.as_u64().unwrap_or_else(|| panic!("expected Unix seconds, found {value}"));
    let now = OffsetDateTime::now_utc().unix_timestamp() as u64;
    assert!(seconds.abs_diff(now) < 86_400, "expected a Unix time near now ({now}), found {seconds}");
    Value::String("[unix-time]".to_owned())
}

/// `[jwt]`, after checking three non-empty base64url segments whose payload has `iat` and `exp`.
pub fn jwt(value: &str) -> String {
    let segments: Vec<&str> = value.split('.').collect();
    assert_eq!(segments.len(), 3, "expected a JWT with three segments, found {value:?}");
    for segment in &segments {
        assert!(
            !segment.is_empty() && segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "expected base64url JWT segments, found {value:?}"
        );
    }
    let payload = base64url_decode(segments[1]);
    let claims: Value = serde_json::from_slice(&payload).expect("the JWT payload is JSON");
    assert!(claims["iat"].is_u64() && claims["exp"].is_u64(), "expected iat and exp claims, found {claims}");
    "[jwt]".to_owned()
}

/// Replaces the test server's origin (`http://127.0.0.1:<port>`) with `http://[host]`, after checking
/// that no other loopback origin appears (an href pointing at another port would be a bug).
pub fn host(text: &str, base_url: &str) -> String {
    let replaced = text.replace(base_url, "http://[host]");
    assert!(
        !replaced.contains("127.0.0.1") && !replaced.contains("localhost"),
        "found a host other than the test server's {base_url} in:\n{replaced}"
    );
    replaced
}

/// Applies `redaction` to every string value under a key named `key`, at any depth.
pub fn strings_named(value: &mut Value, key: &str, redaction: &dyn Fn(&str) -> String) {
    match value {
        Value::Object(map) => {
            for (name, child) in map.iter_mut() {
                match child {
                    Value::String(text) if name == key => *text = redaction(text),
                    _ => strings_named(child, key, redaction),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| strings_named(item, key, redaction)),
        _ => {}
    }
}

/// True for `YYYY-MM-DDTHH:MM:SSZ`.
pub fn is_etag(value: &str) -> bool {
    let bytes = value.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:ddZ";
    bytes.len() == shape.len()
        && bytes.iter().zip(shape).all(|(byte, expected)| match expected {
            b'd' => byte.is_ascii_digit(),
            other => byte == other,
        })
}

/// True for a lowercase hyphenated UUID.
pub fn is_uuid(value: &str) -> bool {
    uuid::Uuid::parse_str(value).is_ok_and(|parsed| parsed.hyphenated().to_string() == value)
}

fn base64url_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            b'_' => 63,
            other => panic!("not a base64url character: {:?}", other as char),
        }
    };
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, c)| n | (value(*c) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

#[test]
fn redactions_refuse_malformed_values() {
    assert!(is_etag("2022-05-26T14:18:10Z"));
    assert!(!is_etag("\"2022-05-26T14:18:10Z\""));
    assert!(!is_etag("2022-05-26T14:18:10.000Z"));
    assert!(is_uuid("44444444-4444-4444-8444-000000000001"));
    assert!(!is_uuid("44444444-4444-4444-8444-00000000000"));
    assert!(std::panic::catch_unwind(|| timestamp("2022-05-26 14:18:10")).is_err());
    assert_eq!(timestamp("2022-05-26T14:18:10.000Z"), "[timestamp]");
    assert_eq!(base64url_decode("Zm9v"), b"foo");
    assert_eq!(base64url_decode("Zm8"), b"fo");
}
