//! The hostile-input campaign: generated requests over a raw TCP socket to the real server, mixing
//! methods, paths (percent-encoding, `..`, very long ids, unicode, instance prefixes), headers (duplicate,
//! malformed or huge `If-Match`, hostile correlation ids and hosts, invalid bytes) and bodies (malformed
//! JSON, wrong types, unknown fields, deep nesting, huge numbers, invalid UTF-8, empty, ~10 MiB, lying
//! framing).
//!
//! Every answer must be a UKO-shaped 4xx or a well-formed 2xx (JSON, or a page of the web console at `/`
//! and `/ui/`), never a 5xx, a hang or a dropped
//! connection; the one exception is a request the generator marked as broken at the HTTP/1.1 framing
//! level (forbidden bytes, a head over hyper's limit), which hyper refuses with a bare 400/431 or a close
//! before any UKO service sees it. A refused request must leave every instance exactly as it was: the
//! exported state (secrets included) is compared before and after each case.
//!
//! `HOSTILE_CASES` sets the number of cases (default 64); `cargo xtask hostile` runs 100,000 and writes the
//! figures given by `HOSTILE_REPORT` (a JSON file path).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use uko_mock::domain::Instance;
use uko_mock::fixture::Fixture;
use uko_mock::server::Limits;
use uko_mock::MockServer;

use crate::helpers::raw::{self, RawError};
use crate::helpers::*;

/// One generated request.
#[derive(Clone, Debug)]
struct Case {
    method: String,
    target: Vec<u8>,
    headers: Vec<(Vec<u8>, HeaderValueSpec)>,
    body: BodySpec,
    framing: Framing,
    /// True when the request is broken at the HTTP/1.1 level, so hyper may refuse it itself.
    framing_invalid: bool,
}

/// A header value, some resolved against the live state when the case runs.
#[derive(Clone, Debug)]
enum HeaderValueSpec {
    Bytes(Vec<u8>),
    /// The current ETag of this managed key (so some conditional requests really succeed).
    CurrentEtag(&'static str),
}

#[derive(Clone, Debug)]
enum BodySpec {
    None,
    Bytes(Vec<u8>),
    /// This many bytes of JSON-looking filler, built when sent (≈10 MiB bodies).
    Huge(usize),
}

/// How the body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    ContentLength,
    Chunked,
    /// A `Content-Length` larger than the body: the server waits for bytes that never come.
    LengthTooLarge,
}

/// Counts for the report.
#[derive(Default)]
struct Figures {
    cases: AtomicU64,
    success: AtomicU64,
    uko_errors: AtomicU64,
    framing_refusals: AtomicU64,
    by_status: std::sync::Mutex<BTreeMap<u16, u64>>,
}

const KNOWN_IDS: [&str; 12] = [
    VAULT,
    TEMPLATE_INTERNAL,
    TEMPLATE_AWS,
    KEYSTORE_INTERNAL,
    KEYSTORE_AWS,
    KEYSTORE_GOOGLE,
    KEY_ACTIVE,
    KEY_DEACTIVATED,
    KEY_OUT_OF_SYNC,
    KEY_DESTROYED,
    KEY_COS,
    KEY_PRE_ACTIVE,
];

const ETAG_KEYS: [&str; 4] = [KEY_ACTIVE, KEY_DEACTIVATED, KEY_PRE_ACTIVE, KEY_DESTROYED];

fn cases() -> u32 {
    std::env::var("HOSTILE_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(64)
}

#[test]
fn hostile_requests_get_uko_errors_and_leave_the_state_alone() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // Short timeouts, so lying framing costs a fraction of a second per case.
    let limits = Limits {
        header_read_timeout: Duration::from_secs(2),
        body_read_timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    let server = runtime.block_on(MockServer::builder().limits(limits).start()).unwrap();
    let figures = Figures::default();
    let started = Instant::now();
    let config = Config { cases: cases(), failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&arb_case(), |case| runtime.block_on(check(&server, &case, &figures)));
    let elapsed = started.elapsed();
    report(&figures, elapsed);
    if let Err(error) = result {
        panic!("{error}");
    }
    // The server still answers normally after the campaign.
    let after = runtime
        .block_on(raw::send(server.address(), &simple_get("/api/v4/vaults"), Duration::from_secs(10)))
        .expect("the server still answers");
    assert_eq!(after.status, 200);
}

async fn check(server: &MockServer, case: &Case, figures: &Figures) -> Result<(), TestCaseError> {
    let before = state_snapshot(server);
    let request = render(server, case);
    let head = case.method == "HEAD";
    let answer = raw::send(server.address(), &request, Duration::from_secs(20)).await;
    let after = state_snapshot(server);
    figures.cases.fetch_add(1, Ordering::Relaxed);
    let described = || describe(case, &request);
    let response = match answer {
        Ok(response) => response,
        Err(RawError::ClosedWithoutAnswer) if case.framing_invalid => {
            figures.framing_refusals.fetch_add(1, Ordering::Relaxed);
            if let Some(difference) = state_difference(server, &before, &after) {
                return Err(TestCaseError::fail(format!("a refused request changed {difference}: {}", described())));
            }
            return Ok(());
        }
        Err(error) => return Err(TestCaseError::fail(format!("{error:?} for {}", described()))),
    };
    *figures.by_status.lock().unwrap().entry(response.status).or_default() += 1;
    prop_assert!(response.status < 500, "{} for {}: {:?}", response.status, described(), response.body);
    if is_console_path(&case.target) && (200..400).contains(&response.status) {
        // The web console's static files (and its `/ui` → `ui/` redirect): documented, not JSON, and read-only.
        figures.success.fetch_add(1, Ordering::Relaxed);
        if let Some(difference) = state_difference(server, &before, &after) {
            return Err(TestCaseError::fail(format!("a console page changed {difference}: {}", described())));
        }
        return Ok(());
    }
    if (200..300).contains(&response.status) {
        figures.success.fetch_add(1, Ordering::Relaxed);
        if !response.body.is_empty() {
            let content_type = response.header("content-type");
            prop_assert_eq!(content_type.as_deref(), Some("application/json"), "{}", described());
            prop_assert!(response.json().is_some(), "a 2xx body that is not JSON for {}", described());
        }
        return Ok(());
    }
    let bare_refusal = response.header("x-correlation-id").is_none() && response.body.is_empty();
    if case.framing_invalid && bare_refusal && matches!(response.status, 400 | 408 | 414 | 431) {
        figures.framing_refusals.fetch_add(1, Ordering::Relaxed);
    } else {
        if let Some(problem) = response.uko_error_problem(head) {
            return Err(TestCaseError::fail(format!("{problem} for {}", described())));
        }
        figures.uko_errors.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(difference) = state_difference(server, &before, &after) {
        let status = response.status;
        return Err(TestCaseError::fail(format!("a refused request ({status}) changed {difference}: {}", described())));
    }
    Ok(())
}

/// Every instance (secrets included, journal left out), by id. Instances created on first use by a
/// refused request show up as a difference too.
pub fn state_snapshot(server: &MockServer) -> BTreeMap<String, Instance> {
    let store = server.store();
    store.instance_ids().into_iter().map(|id| (id.clone(), store.with_instance(&id, without_journal))).collect()
}

/// A copy of the instance without its journal (which records refused requests too, by design).
fn without_journal(instance: &mut Instance) -> Instance {
    let journal = std::mem::take(&mut instance.journal);
    let copy = instance.clone();
    instance.journal = journal;
    copy
}

/// How `after` differs from `before`, if it does: an instance that existed changed, or one that did not
/// exist appeared in another state than a fresh one (addressing an instance creates it, as documented).
pub fn state_difference(
    server: &MockServer,
    before: &BTreeMap<String, Instance>,
    after: &BTreeMap<String, Instance>,
) -> Option<String> {
    for (id, instance) in after {
        let expected = match before.get(id) {
            Some(instance) => instance.clone(),
            None => without_journal(&mut server.store().fresh_instance(id)),
        };
        if *instance != expected {
            let export = |instance: &Instance| Fixture::from_instance(instance, "snapshot").to_json();
            let (expected, found) = (export(&expected), export(instance));
            let line = expected.lines().zip(found.lines()).position(|(a, b)| a != b).unwrap_or(0);
            let show = |text: &str| text.lines().skip(line.saturating_sub(3)).take(7).collect::<Vec<_>>().join("\n");
            return Some(format!(
                "instance '{id}' (from line {line}: expected\n{}\nfound\n{})",
                show(&expected),
                show(&found)
            ));
        }
    }
    before.keys().find(|id| !after.contains_key(*id)).map(|id| format!("instance '{id}' (it disappeared)"))
}

fn render(server: &MockServer, case: &Case) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(case.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(&case.target);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    out.extend_from_slice(format!("Host: {}\r\nConnection: close\r\n", server.address()).as_bytes());
    for (name, value) in &case.headers {
        let value = match value {
            HeaderValueSpec::Bytes(bytes) => bytes.clone(),
            HeaderValueSpec::CurrentEtag(key) => server
                .store()
                .with_instance("default", |instance| {
                    instance.managed_keys.get(key).map(|k| k.updated_at.etag()).unwrap_or_default()
                })
                .into_bytes(),
        };
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(&value);
        out.extend_from_slice(b"\r\n");
    }
    let body = match &case.body {
        BodySpec::None => None,
        BodySpec::Bytes(bytes) => Some(bytes.clone()),
        BodySpec::Huge(length) => {
            let mut bytes = b"{\"description\": \"".to_vec();
            bytes.resize(*length, b'x');
            bytes.extend_from_slice(b"\"}");
            Some(bytes)
        }
    };
    match (body, case.framing) {
        (None, _) => out.extend_from_slice(b"\r\n"),
        (Some(body), Framing::ContentLength) => {
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            out.extend_from_slice(&body);
        }
        (Some(body), Framing::LengthTooLarge) => {
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len() + 10).as_bytes());
            out.extend_from_slice(&body);
        }
        (Some(body), Framing::Chunked) => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for chunk in body.chunks(4096) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
    }
    out
}

fn describe(case: &Case, request: &[u8]) -> String {
    let shown = &request[..request.len().min(600)];
    format!("{} bytes: {:?} (framing_invalid: {})", request.len(), String::from_utf8_lossy(shown), case.framing_invalid)
}

/// Whether a target is a page of the web console: `/`, `/ui` or `/ui/…`, under an instance prefix or not.
fn is_console_path(target: &[u8]) -> bool {
    let text = String::from_utf8_lossy(target);
    let path = text.split('?').next().unwrap_or_default();
    let path = match path.strip_prefix("/instances/") {
        Some(rest) => rest.split_once('/').map_or("/".to_owned(), |(_, tail)| format!("/{tail}")),
        None => path.to_owned(),
    };
    path == "/" || path == "/ui" || path.starts_with("/ui/")
}

fn simple_get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").into_bytes()
}

fn report(figures: &Figures, elapsed: Duration) {
    let by_status: BTreeMap<String, u64> =
        figures.by_status.lock().unwrap().iter().map(|(status, count)| (status.to_string(), *count)).collect();
    let summary = serde_json::json!({
        "cases": figures.cases.load(Ordering::Relaxed),
        "success_2xx": figures.success.load(Ordering::Relaxed),
        "uko_errors_4xx": figures.uko_errors.load(Ordering::Relaxed),
        "framing_refusals": figures.framing_refusals.load(Ordering::Relaxed),
        "by_status": by_status,
        "seconds": elapsed.as_secs_f64(),
    });
    if let Ok(path) = std::env::var("HOSTILE_REPORT") {
        std::fs::write(&path, serde_json::to_string_pretty(&summary).unwrap()).unwrap();
    }
    if std::env::var("TEST_LOG").is_ok() || std::env::var("HOSTILE_REPORT").is_ok() {
        eprintln!("hostile campaign: {summary}");
    }
}

// Strategies.

fn arb_case() -> impl Strategy<Value = Case> {
    let request_line = prop_oneof![
        4 => arb_route_request(),
        1 => (arb_method(), arb_target()),
    ];
    (request_line, prop::collection::vec(arb_header(), 0..6), arb_body(), arb_framing()).prop_map(
        |(((method, method_invalid), (target, target_invalid)), headers, body, framing)| {
            let headers_invalid = headers.iter().any(|(_, _, invalid)| *invalid);
            let head_bytes: usize = target.len()
                + headers
                    .iter()
                    .map(|(name, value, _)| {
                        name.len() + if let HeaderValueSpec::Bytes(b) = value { b.len() } else { 20 } + 4
                    })
                    .sum::<usize>();
            // What hyper (httparse, then the http crate) refuses before any service sees the request.
            let target_invalid = target_invalid || http::Uri::try_from(&target[..]).is_err();
            let method_invalid = method_invalid || http::Method::from_bytes(method.as_bytes()).is_err();
            let framing_invalid = method_invalid
                || target_invalid
                || headers_invalid
                || head_bytes > uko_mock::server::MAX_HEAD_BYTES - 1024
                || headers.len() + 4 > uko_mock::server::MAX_HEADERS;
            Case {
                method,
                target,
                headers: headers.into_iter().map(|(name, value, _)| (name, value)).collect(),
                body,
                framing,
                framing_invalid,
            }
        },
    )
}

/// The UKO operations as (method, path with `{id}`), so most cases reach a handler.
const ROUTES: [(&str, &str); 35] = [
    ("GET", "/managed_keys"),
    ("POST", "/managed_keys"),
    ("GET", "/managed_keys/{id}"),
    ("PATCH", "/managed_keys/{id}"),
    ("DELETE", "/managed_keys/{id}"),
    ("GET", "/managed_keys/{id}/associated_resources"),
    ("GET", "/managed_keys/{id}/versions"),
    ("GET", "/managed_keys/{id}/status_in_keystores"),
    ("POST", "/managed_keys/{id}/update_from_template"),
    ("POST", "/managed_keys/{id}/activate"),
    ("POST", "/managed_keys/{id}/deactivate"),
    ("POST", "/managed_keys/{id}/destroy"),
    ("POST", "/managed_keys/{id}/sync_status_in_keystores"),
    ("POST", "/managed_keys/{id}/rotate"),
    ("GET", "/templates"),
    ("POST", "/templates"),
    ("GET", "/templates/{id}"),
    ("PATCH", "/templates/{id}"),
    ("DELETE", "/templates/{id}"),
    ("POST", "/templates/{id}/archive"),
    ("POST", "/templates/{id}/unarchive"),
    ("POST", "/templates/{id}/expose"),
    ("GET", "/keystores"),
    ("POST", "/keystores"),
    ("GET", "/keystores/{id}"),
    ("PATCH", "/keystores/{id}"),
    ("DELETE", "/keystores/{id}"),
    ("GET", "/keystores/{id}/associated_resources"),
    ("GET", "/keystores/{id}/status"),
    ("GET", "/keystores/{id}/managed_keys"),
    ("GET", "/vaults"),
    ("POST", "/vaults"),
    ("GET", "/vaults/{id}"),
    ("PATCH", "/vaults/{id}"),
    ("DELETE", "/vaults/{id}"),
];

/// A request line aimed at a real operation: its method (or now and then another), its path with a
/// generated id, under the plain or an instance prefix, with a generated query.
fn arb_route_request() -> impl Strategy<Value = ((String, bool), (Vec<u8>, bool))> {
    let prefix = prop_oneof![
        8 => Just("/api/v4".to_owned()),
        2 => arb_instance_id().prop_map(|id| format!("/instances/{id}/api/v4")),
    ];
    let method = prop::option::weighted(0.15, arb_method());
    (prop::sample::select(&ROUTES[..]), method, prefix, arb_id(), prop::option::weighted(0.4, arb_query())).prop_map(
        |((route_method, template), method, prefix, (id, id_invalid), query)| {
            let method = method.unwrap_or_else(|| (route_method.to_owned(), false));
            let mut target = prefix.into_bytes();
            let mut invalid = false;
            match template.split_once("{id}") {
                Some((before, after)) => {
                    target.extend_from_slice(before.as_bytes());
                    target.extend_from_slice(&id);
                    target.extend_from_slice(after.as_bytes());
                    invalid |= id_invalid;
                }
                None => target.extend_from_slice(template.as_bytes()),
            }
            if let Some((query, query_invalid)) = query {
                target.push(b'?');
                target.extend_from_slice(&query);
                invalid |= query_invalid;
            }
            (method, (target, invalid))
        },
    )
}

/// A request target anywhere, and whether it holds bytes a request line may not.
fn arb_target() -> impl Strategy<Value = (Vec<u8>, bool)> {
    let prefix = prop_oneof![
        8 => Just("/api/v4".to_owned()),
        2 => arb_instance_id().prop_map(|id| format!("/instances/{id}/api/v4")),
        1 => prop_oneof![
            Just("/__mock/v1".to_owned()),
            Just("/identity".to_owned()),
            Just("".to_owned()),
            Just("/api/v3".to_owned()),
            Just("/api/v4/..".to_owned()),
            Just("/instances".to_owned()),
        ],
    ];
    let collection = prop_oneof![
        Just("managed_keys"),
        Just("templates"),
        Just("keystores"),
        Just("vaults"),
        Just("token"),
        Just("health"),
        Just("journal"),
        Just(""),
    ];
    let suffix = prop_oneof![
        6 => Just(""),
        1 => Just("/activate"),
        1 => Just("/status"),
        1 => Just("/../../vaults"),
        1 => Just("//"),
    ];
    (prefix, collection, prop::option::weighted(0.7, arb_id()), suffix, prop::option::weighted(0.4, arb_query()))
        .prop_map(|(prefix, collection, id, suffix, query)| {
            let mut invalid = false;
            let mut target = format!("{prefix}/{collection}").into_bytes();
            if let Some((id, id_invalid)) = id {
                target.push(b'/');
                target.extend_from_slice(&id);
                invalid |= id_invalid;
            }
            target.extend_from_slice(suffix.as_bytes());
            if let Some((query, query_invalid)) = query {
                target.push(b'?');
                target.extend_from_slice(&query);
                invalid |= query_invalid;
            }
            (target, invalid)
        })
}

/// A method and whether it is forbidden by HTTP/1.1's token grammar.
fn arb_method() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        10 => prop_oneof![Just("GET"), Just("POST"), Just("PATCH"), Just("DELETE")].prop_map(|m| (m.to_owned(), false)),
        3 => prop_oneof![Just("PUT"), Just("HEAD"), Just("OPTIONS"), Just("TRACE"), Just("get"), Just("FOO-BAR")]
            .prop_map(|m| (m.to_owned(), false)),
        1 => "[A-Z]{1,12}".prop_map(|m| (m, false)),
        1 => prop_oneof![Just("GE T"), Just("G\u{e9}T"), Just(""), Just("GET\t")].prop_map(|m| (m.to_owned(), true)),
    ]
}

/// Instance ids from a small pool, valid and not: every case compares every instance before and after, so
/// a campaign inventing ids would spend its time snapshotting up to `MAX_INSTANCES` instances (the cap has
/// its own test in `limits.rs`).
fn arb_instance_id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("ci-1".to_owned()),
        2 => Just("default".to_owned()),
        2 => prop::sample::select(&["ci-2", "ci-3", "a.b_c-d", "Z9", "x-y-z-0123456789"][..]).prop_map(str::to_owned),
        1 => Just("..".to_owned()),
        1 => Just("%2e%2e".to_owned()),
        1 => Just("x".repeat(65)),
        1 => prop::sample::select(&[".hidden", "a/b", "a%2Fb", "é", "a b", ""][..]).prop_map(str::to_owned),
    ]
}

/// A path segment and whether it holds bytes a request target may not.
fn arb_id() -> impl Strategy<Value = (Vec<u8>, bool)> {
    prop_oneof![
        6 => prop::sample::select(&KNOWN_IDS[..]).prop_map(|id| (id.as_bytes().to_vec(), false)),
        2 => "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}".prop_map(|id| (id.into_bytes(), false)),
        1 => (1usize..20_000).prop_map(|n| ("a".repeat(n).into_bytes(), false)),
        1 => any::<String>().prop_map(|text| (percent_encode(text.as_bytes()), false)),
        1 => prop::collection::vec(any::<u8>(), 1..40).prop_map(|bytes| (percent_encode(&bytes), false)),
        1 => prop_oneof![
            Just("..".to_owned()),
            Just("%2e%2e".to_owned()),
            Just("%2F..%2F".to_owned()),
            Just("%zz".to_owned()),
            Just("%".to_owned()),
            Just("%ff%fe".to_owned()),
            Just("%00".to_owned()),
            Just(";x=1".to_owned()),
            Just("*".to_owned()),
            Just("44444444-4444-4444-8444-000000000001%20".to_owned()),
            Just("44444444-4444-4444-8444-000000000001/".to_owned()),
            Just("44444444-4444-4444-8444-00000000000%31".to_owned()),
        ]
        .prop_map(|id| (id.into_bytes(), false)),
        1 => "\\PC{1,8}".prop_map(|text| {
            let invalid = !text.is_ascii() || text.bytes().any(|b| b <= b' ' || b == b'#' || b == b'?');
            (text.into_bytes(), invalid)
        }),
    ]
}

/// A query string and whether it holds bytes a request target may not.
fn arb_query() -> impl Strategy<Value = (Vec<u8>, bool)> {
    let name = prop_oneof![
        Just("limit"),
        Just("offset"),
        Just("sort"),
        Just("state"),
        Just("dry_run"),
        Just("force"),
        Just("vault.id"),
        Just("label"),
        Just("name"),
        Just("template.type[]"),
        Just("created_at_min"),
        Just("size_min"),
        Just("mode"),
        Just("include_secrets"),
    ];
    let value = prop_oneof![
        Just("1".to_owned()),
        Just("-1".to_owned()),
        Just("0".to_owned()),
        Just("1000".to_owned()),
        Just("1001".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("99999999999999999999999999".to_owned()),
        Just("true".to_owned()),
        Just("maybe".to_owned()),
        Just("-updated_at".to_owned()),
        Just("active,destroyed,bogus".to_owned()),
        Just("2026-13-45".to_owned()),
        Just("%ff".to_owned()),
        Just("%".to_owned()),
        any::<String>().prop_map(|text| String::from_utf8(percent_encode(text.as_bytes())).unwrap()),
    ];
    prop_oneof![
        8 => prop::collection::vec((name, value), 1..4).prop_map(|pairs| {
            let text: Vec<String> = pairs.into_iter().map(|(n, v)| format!("{n}={v}")).collect();
            (text.join("&").into_bytes(), false)
        }),
        1 => "[ -~]{0,40}".prop_map(|text| {
            let invalid = text.bytes().any(|b| b == b' ' || b == b'#');
            (text.into_bytes(), invalid)
        }),
        1 => (1usize..30_000).prop_map(|n| (format!("label={}", "x".repeat(n)).into_bytes(), false)),
    ]
}

/// A header: name, value, and whether it is forbidden at the HTTP/1.1 level.
fn arb_header() -> impl Strategy<Value = (Vec<u8>, HeaderValueSpec, bool)> {
    let bytes = |name: &str, value: Vec<u8>| (name.as_bytes().to_vec(), HeaderValueSpec::Bytes(value), false);
    prop_oneof![
        16 => arb_if_match(),
        8 => prop_oneof![
            Just("application/json"),
            Just("text/plain"),
            Just("application/json; charset=latin1"),
            Just("multipart/form-data; boundary=x"),
            Just(""),
        ]
        .prop_map(move |value| bytes("Content-Type", value.as_bytes().to_vec())),
        4 => prop_oneof![
            Just("application/vnd.ibm.uko.managed-key-list.v4.1+json"),
            Just("application/vnd.ibm.uko.managed-key-list.v4.1.csv+zip"),
            Just("*/*"),
            Just("text/html"),
        ]
        .prop_map(move |value| bytes("Accept", value.as_bytes().to_vec())),
        4 => prop_oneof![
            Just("x".repeat(200)),
            Just("".to_owned()),
            Just("\u{e9}t\u{e9}".to_owned()),
            "[ -~]{0,40}",
        ]
        .prop_map(move |value| bytes("X-Correlation-ID", value.into_bytes())),
        2 => prop_oneof![Just("Bearer x"), Just("Basic dXNlcjpwYXNz"), Just("Bearer"), Just("")]
            .prop_map(move |value| bytes("Authorization", value.as_bytes().to_vec())),
        1 => prop_oneof![Just("vault-1"), Just("")].prop_map(move |value| bytes("UKO-Vault", value.as_bytes().to_vec())),
        4 => ("[A-Za-z][A-Za-z0-9-]{0,20}", "[ -~]{0,60}")
            .prop_map(|(name, value)| (name.into_bytes(), HeaderValueSpec::Bytes(value.into_bytes()), false)),
        2 => (1usize..80_000).prop_map(move |n| bytes("X-Padding", vec![b'p'; n])),
        2 => prop::collection::vec(0x80u8..=0xff, 1..20).prop_map(move |value| bytes("X-Obs-Text", value)),
        1 => prop_oneof![Just(b"a\x00b".to_vec()), Just(b"a\x01b".to_vec()), Just(b"a\x7fb".to_vec())]
            .prop_map(|value| (b"X-Control".to_vec(), HeaderValueSpec::Bytes(value), true)),
        1 => prop_oneof![Just(b"Bad Name".to_vec()), Just(b"Bad:Name".to_vec()), Just(b"".to_vec())]
            .prop_map(|name| (name, HeaderValueSpec::Bytes(b"x".to_vec()), true)),
    ]
}

fn arb_if_match() -> impl Strategy<Value = (Vec<u8>, HeaderValueSpec, bool)> {
    let value = prop_oneof![
        3 => prop::sample::select(&ETAG_KEYS[..]).prop_map(HeaderValueSpec::CurrentEtag),
        1 => Just(HeaderValueSpec::Bytes(b"*".to_vec())),
        1 => Just(HeaderValueSpec::Bytes(STALE_ETAG.as_bytes().to_vec())),
        1 => Just(HeaderValueSpec::Bytes(b"W/\"2026-01-01T09:00:00Z\"".to_vec())),
        1 => Just(HeaderValueSpec::Bytes(b"\"2026-01-01T09:00:00Z\", \"*\"".to_vec())),
        1 => Just(HeaderValueSpec::Bytes(b"".to_vec())),
        1 => "[ -~]{0,64}".prop_map(|text| HeaderValueSpec::Bytes(text.into_bytes())),
        1 => (1usize..70_000).prop_map(|n| HeaderValueSpec::Bytes(vec![b'9'; n])),
        1 => prop::collection::vec(0x80u8..=0xff, 1..10).prop_map(HeaderValueSpec::Bytes),
    ];
    value.prop_map(|value| (b"If-Match".to_vec(), value, false))
}

fn arb_body() -> impl Strategy<Value = BodySpec> {
    prop_oneof![
        6 => Just(BodySpec::None),
        2 => Just(BodySpec::Bytes(Vec::new())),
        8 => arb_json_body().prop_map(|value| BodySpec::Bytes(value.to_string().into_bytes())),
        2 => prop_oneof![
            Just("{".to_owned()),
            Just("{\"label\": }".to_owned()),
            Just("[]".to_owned()),
            Just("null".to_owned()),
            Just("\"text\"".to_owned()),
            Just("{\"a\":1}{\"b\":2}".to_owned()),
            Just("{\"description\": \"\\ud800\"}".to_owned()),
            Just("{\"limit\": 1e999}".to_owned()),
            Just("{\"description\": 123456789012345678901234567890}".to_owned()),
            Just("\u{feff}{}".to_owned()),
            "\\PC{0,80}",
        ]
        .prop_map(|text| BodySpec::Bytes(text.into_bytes())),
        1 => (1usize..200_000).prop_map(|depth| BodySpec::Bytes([vec![b'['; depth], vec![b']'; depth]].concat())),
        1 => (1usize..50_000).prop_map(|depth| {
            let mut text = "{\"a\":".repeat(depth);
            text.push('1');
            text.push_str(&"}".repeat(depth));
            BodySpec::Bytes(text.into_bytes())
        }),
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(BodySpec::Bytes),
        1 => Just(BodySpec::Bytes(b"{\"description\": \"caf\xe9\"}".to_vec())),
        1 => prop_oneof![
            Just(uko_mock::server::MAX_BODY_BYTES - 100),
            Just(uko_mock::server::MAX_BODY_BYTES + 1),
            Just(10 * 1024 * 1024),
        ]
        .prop_map(BodySpec::Huge),
    ]
}

/// JSON shaped like the bodies of the operations, with values of every kind in every field.
fn arb_json_body() -> impl Strategy<Value = serde_json::Value> {
    let field = prop_oneof![
        Just("label"),
        Just("description"),
        Just("name"),
        Just("template_name"),
        Just("vault"),
        Just("tags"),
        Just("type"),
        Just("key"),
        Just("keystores"),
        Just("groups"),
        Just("activation_date"),
        Just("expiration_date"),
        Just("naming_scheme"),
        Just("aws_region"),
        Just("aws_secret_access_key"),
        Just("google_credentials"),
        Just("state"),
        Just("recovery_key_label"),
        Just("unknown_field"),
    ];
    prop::collection::btree_map(field, arb_json_value(), 0..6).prop_map(|fields| {
        serde_json::Value::Object(fields.into_iter().map(|(name, value)| (name.to_owned(), value)).collect())
    })
}

fn arb_json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        Just(json!(u64::MAX)),
        "\\PC{0,40}".prop_map(Value::String),
        Just(json!("A-PAYMENTS-AES256-PROD")),
        Just(json!("INTERNAL-AES256")),
        Just(json!({"id": VAULT})),
        Just(json!([{"name": "x", "value": "y"}])),
        Just(json!("aws_kms")),
        Just(json!("P1Y")),
        (1usize..6000).prop_map(|n| Value::String("d".repeat(n))),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn arb_framing() -> impl Strategy<Value = Framing> {
    prop_oneof![30 => Just(Framing::ContentLength), 8 => Just(Framing::Chunked), 1 => Just(Framing::LengthTooLarge)]
}

fn percent_encode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte);
        } else {
            out.extend_from_slice(format!("%{byte:02X}").as_bytes());
        }
    }
    out
}
