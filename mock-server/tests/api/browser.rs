//! A web page in a developer's browser cannot drive the mock (issue 15), through the real binary: a `Host`
//! that does not name the server (DNS rebinding) is refused, a state change from another origin is
//! refused, a body that is not `application/json` (what a page can send cross-site without a preflight) is
//! refused; each refusal in UKO's error shape and changing nothing.

use reqwest::{Client, Method, RequestBuilder};
use serde_json::Value;

use crate::helpers::binary::Binary;

async fn answer(request: RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[track_caller]
fn assert_refused(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["status_code"], status, "not UKO's error shape: {}", answer.1);
    assert_eq!(answer.1["errors"][0]["code"], code, "{}", answer.1);
}

#[tokio::test]
async fn a_host_that_does_not_name_the_server_is_refused() {
    let binary = Binary::start(&["--auth", "none", "--allowed-host", "mock.test"]).await;
    let client = Client::new();
    let export = format!("{}/__mock/v1/export?include_secrets=true", binary.base_url);
    let with_host = |host: &str| client.get(&export).header("Host", host);

    let rebound = answer(with_host("evil.example")).await;
    let rebound_with_port = answer(with_host("evil.example:9549")).await;
    let localhost = answer(with_host("localhost:4321")).await;
    let allowed = answer(with_host("mock.test")).await;
    let keys =
        answer(client.get(format!("{}/api/v4/managed_keys", binary.base_url)).header("Host", "mock.test:1")).await;

    assert_refused(&rebound, 403, "host_not_allowed");
    assert_refused(&rebound_with_port, 403, "host_not_allowed");
    assert_eq!((localhost.0, allowed.0), (200, 200));
    let href = keys.1["managed_keys"][0]["href"].as_str().unwrap_or_default().to_owned();
    assert!(href.starts_with("http://mock.test:1/api/v4/"), "{href}");
    binary.stop().await;
}

#[tokio::test]
async fn state_changes_from_another_origin_are_refused_and_change_nothing() {
    let binary = Binary::start(&["--auth", "none"]).await;
    let client = Client::new();
    let url = |path: &str| format!("{}{path}", binary.base_url);
    let clock_before = answer(client.get(url("/__mock/v1/clock"))).await.1;
    let vaults_before = answer(client.get(url("/api/v4/vaults"))).await.1["total_count"].clone();
    let evil = |method: Method, path: &str, body: &str| {
        client
            .request(method, url(path))
            .header("Origin", "http://evil.example")
            .header("Content-Type", "text/plain")
            .body(body.to_owned())
    };

    let attempts = [
        answer(evil(Method::POST, "/__mock/v1/clock/advance", r#"{"seconds": 600}"#)).await,
        answer(evil(Method::POST, "/__mock/v1/reset", "")).await,
        answer(evil(Method::POST, "/__mock/v1/faults", r#"{"effect": {"kind": "error", "status": 503}}"#)).await,
        answer(evil(Method::POST, "/__mock/v1/fixture", "{}")).await,
        answer(evil(Method::POST, "/api/v4/vaults", r#"{"name": "Evil"}"#)).await,
        answer(evil(Method::POST, "/api/v4/vaults", r#"{"name": "Evil"}"#).header("Content-Type", "application/json"))
            .await,
    ];
    let own_origin = answer(
        client
            .post(url("/api/v4/vaults"))
            .header("Origin", binary.base_url.as_str())
            .header("Content-Type", "application/json")
            .body(r#"{"name": "Mine"}"#),
    )
    .await;

    for attempt in &attempts {
        assert_refused(attempt, 403, "origin_not_allowed");
    }
    assert_eq!(own_origin.0, 201, "{}", own_origin.1);
    assert_eq!(answer(client.get(url("/__mock/v1/clock"))).await.1["now"], clock_before["now"], "the clock moved");
    assert_eq!(answer(client.get(url("/__mock/v1/faults"))).await.1["rules"], serde_json::json!([]));
    let vaults_after = answer(client.get(url("/api/v4/vaults"))).await.1["total_count"].as_u64().unwrap();
    assert_eq!(vaults_after, vaults_before.as_u64().unwrap() + 1, "only the same-origin create happened");
    binary.stop().await;
}

#[tokio::test]
async fn a_body_is_read_only_when_sent_as_application_json() {
    let binary = Binary::start(&["--auth", "none"]).await;
    let client = Client::new();
    let vaults = format!("{}/api/v4/vaults", binary.base_url);
    let typed =
        |content_type: &str| client.post(&vaults).header("Content-Type", content_type).body(r#"{"name": "Typed"}"#);

    let plain = answer(typed("text/plain")).await;
    let form = answer(typed("application/x-www-form-urlencoded")).await;
    let untyped = answer(client.post(&vaults).body(r#"{"name": "Untyped"}"#)).await;
    let json = answer(typed("application/json; charset=utf-8")).await;
    let empty = answer(client.post(format!("{}/__mock/v1/reset", binary.base_url))).await;
    let iam = answer(
        client
            .post(format!("{}/identity/token", binary.base_url))
            .form(&[("grant_type", "urn:ibm:params:oauth:grant-type:apikey"), ("apikey", "any")]),
    )
    .await;

    assert_refused(&plain, 415, "unsupported_media_type");
    assert_refused(&form, 415, "unsupported_media_type");
    assert_refused(&untyped, 415, "unsupported_media_type");
    assert_eq!(json.0, 201, "{}", json.1);
    assert_eq!(empty.0, 200, "an empty body needs no type: {}", empty.1);
    assert_eq!(iam.0, 200, "IAM's form-encoded token request: {}", iam.1);
    binary.stop().await;
}
