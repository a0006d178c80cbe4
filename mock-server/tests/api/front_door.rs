//! What a client is told and what it may send at the front door: the banner names the server root as the
//! service URL (IBM's SDKs add `/api/v4` themselves) and the active profile; a doubled `/api/v4/api/v4`
//! prefix is served but logged; the realistic profile (`--profile`, `settings.profile` in a fixture or
//! through the control plane) enforces IBM's time rules, which the default permissive profile does not.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::binary::Binary;
use crate::helpers::{default_fixture_json, fixture_from_value, TestApp, KEY_ACTIVE, KEY_AZURE, KEY_PRE_ACTIVE};

#[tokio::test]
async fn banner_gives_the_server_root_as_service_url_and_names_the_profile() {
    // Arrange, Act
    let permissive = Binary::start(&["--auth", "none"]).await;
    let base = permissive.base_url.clone();
    let printed = permissive.stop().await;
    let realistic = Binary::start(&["--auth", "none", "--profile", "realistic"]).await;
    let printed_realistic = realistic.stop().await;

    // Assert
    let service_line = printed.lines().find(|l| l.trim_start().starts_with("service URL:")).unwrap();
    assert_eq!(service_line.split_whitespace().nth(2), Some(base.as_str()), "{printed}");
    assert!(printed.contains(&format!("API base:     {base}/api/v4")), "{printed}");
    assert!(printed.contains("profile:      permissive"), "{printed}");
    assert!(printed_realistic.contains("profile:      realistic"), "{printed_realistic}");
}

#[tokio::test]
async fn an_unknown_profile_is_refused_naming_the_flag_and_the_choices() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_uko-mock"))
        .args(["--port", "0", "--profile", "strict"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("--profile") && stderr.contains("permissive, realistic"), "{stderr}");
}

#[tokio::test]
async fn a_doubled_api_prefix_is_served_like_the_single_one_and_logged_once() {
    // Arrange
    let binary = Binary::start(&["--auth", "none", "--log", "info"]).await;
    let client = reqwest::Client::new();
    let single = format!("{}/api/v4/managed_keys/{KEY_ACTIVE}", binary.base_url);
    let doubled = format!("{}/api/v4/api/v4/managed_keys/{KEY_ACTIVE}", binary.base_url);

    // Act
    let expected = client.get(&single).send().await.unwrap().text().await.unwrap();
    let first = client.get(&doubled).send().await.unwrap();
    let first_status = first.status();
    let first_body = first.text().await.unwrap();
    let second = client.get(&doubled).send().await.unwrap().status();
    let printed = binary.stop().await;

    // Assert: same answer (hrefs keep the single prefix), one warning that says what to change.
    assert_eq!(first_status, StatusCode::OK);
    assert_eq!(second, StatusCode::OK);
    assert_eq!(first_body, expected);
    assert_eq!(printed.matches("give them the server root").count(), 1, "warned once: {printed}");
    assert!(printed.contains("WARN"), "{printed}");
}

async fn act(app: &TestApp, method: Method, path: &str) -> crate::helpers::TestResponse {
    let id = path.split('/').nth(2).unwrap();
    let etag = app.get_managed_key(id).await.assert_status(StatusCode::OK).etag();
    app.send(app.request(method, path).header("If-Match", etag)).await
}

async fn advance(app: &TestApp, seconds: i64) {
    let url = format!("{}/__mock/v1/clock/advance", app.base_url);
    let answer = app.client.post(url).json(&json!({ "seconds": seconds })).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
}

/// Checks IBM's rules on a server whose default instance runs the realistic profile.
async fn assert_realistic_rules(app: &TestApp) {
    // Destroy is allowed from pre_activation (IBM's docs on key states, roles and deleting keys)...
    act(app, Method::POST, &format!("/managed_keys/{KEY_PRE_ACTIVE}/destroy")).await.assert_status(StatusCode::OK);
    // ... and from deactivated only 4 hours after the deactivation.
    act(app, Method::POST, &format!("/managed_keys/{KEY_ACTIVE}/deactivate")).await.assert_status(StatusCode::OK);
    let early = act(app, Method::POST, &format!("/managed_keys/{KEY_ACTIVE}/destroy")).await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.text);
    assert!(early.text.contains("within the last 4 hours"), "{}", early.text);
    advance(app, 4 * 3600).await;
    act(app, Method::POST, &format!("/managed_keys/{KEY_ACTIVE}/destroy")).await.assert_status(StatusCode::OK);
    // The destroyed key's copies are pending destruction for their keystore type's period, and the key
    // cannot be deleted before that ends.
    let statuses = app.send(app.request(Method::GET, &format!("/managed_keys/{KEY_ACTIVE}/status_in_keystores"))).await;
    let statuses = statuses.assert_status(StatusCode::OK).json();
    let entries = statuses["status_in_keystores"].as_array().unwrap();
    assert!(!entries.is_empty());
    for entry in entries {
        assert_eq!(entry["status"], "pending_destruction", "{statuses}");
        assert!(entry["destruction_at"].is_string(), "{entry}");
    }
    let delete = act(app, Method::DELETE, &format!("/managed_keys/{KEY_ACTIVE}")).await;
    assert_eq!(delete.status, StatusCode::CONFLICT, "{}", delete.text);
    // One rotation per hour.
    act(app, Method::POST, &format!("/managed_keys/{KEY_AZURE}/rotate")).await.assert_status(StatusCode::OK);
    let again = act(app, Method::POST, &format!("/managed_keys/{KEY_AZURE}/rotate")).await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS, "{}", again.text);
    assert!(again.header("retry-after").is_some());
    advance(app, 3600).await;
    act(app, Method::POST, &format!("/managed_keys/{KEY_AZURE}/rotate")).await.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn the_default_profile_is_permissive() {
    let app = TestApp::spawn().await;
    act(&app, Method::POST, &format!("/managed_keys/{KEY_PRE_ACTIVE}/destroy")).await.assert_status(StatusCode::OK);
    act(&app, Method::POST, &format!("/managed_keys/{KEY_ACTIVE}/deactivate")).await.assert_status(StatusCode::OK);
    act(&app, Method::POST, &format!("/managed_keys/{KEY_ACTIVE}/destroy")).await.assert_status(StatusCode::OK);
    act(&app, Method::POST, &format!("/managed_keys/{KEY_AZURE}/rotate")).await.assert_status(StatusCode::OK);
    act(&app, Method::POST, &format!("/managed_keys/{KEY_AZURE}/rotate")).await.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn a_fixture_with_the_realistic_profile_enforces_ibm_time_rules() {
    let mut fixture = default_fixture_json();
    fixture["settings"] = json!({ "profile": "realistic" });
    let app = TestApp::builder().fixture_value(fixture_from_value(&fixture)).spawn().await;
    assert_realistic_rules(&app).await;
}

#[tokio::test]
async fn the_control_plane_switches_the_profile_and_refuses_unknown_ones() {
    // Arrange
    let app = TestApp::spawn().await;
    let settings_url = format!("{}/__mock/v1/settings", app.base_url);

    // Act
    let unknown = app.client.patch(&settings_url).json(&json!({ "profile": "strict" })).send().await.unwrap();
    let unknown_status = unknown.status();
    let unknown_body: Value = unknown.json().await.unwrap();
    let switched = app.client.patch(&settings_url).json(&json!({ "profile": "realistic" })).send().await.unwrap();
    let switched_body: Value = switched.json().await.unwrap();

    // Assert
    assert_eq!(unknown_status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown_body["errors"][0]["target"]["name"], "profile", "{unknown_body}");
    assert_eq!(switched_body["profile"], "realistic");
    assert_realistic_rules(&app).await;
}

#[tokio::test]
async fn the_profile_flag_applies_to_every_instance_and_survives_a_reset() {
    // Arrange
    let binary = Binary::start(&["--auth", "none", "--profile", "realistic"]).await;
    let client = reqwest::Client::new();
    let settings = |instance: &str| format!("{}/__mock/v1/instances/{instance}/settings", binary.base_url);

    // Act
    let isolated: Value = client.get(settings("ci-1")).send().await.unwrap().json().await.unwrap();
    let reset = client.post(format!("{}/__mock/v1/reset", binary.base_url)).send().await.unwrap().status();
    let default: Value = client.get(settings("default")).send().await.unwrap().json().await.unwrap();
    binary.stop().await;

    // Assert
    assert_eq!(isolated["profile"], "realistic");
    assert_eq!(reset, StatusCode::OK);
    assert_eq!(default["profile"], "realistic");
}
