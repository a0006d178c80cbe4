//! Authentication as IBM Cloud clients do it: an IAM token from `POST /identity/token` (form body, API-key
//! grant) used as `Authorization: Bearer`, refresh, static tokens, and the legacy `UKO-Vault` header that
//! the mock accepts and ignores.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";

/// Hides the wall-clock parts of an IAM token answer after checking them.
fn redact_token(body: &mut Value) {
    redact::strings_named(body, "access_token", &redact::jwt);
    let refresh = body["refresh_token"].as_str().unwrap_or_default();
    assert!(refresh.len() == 64 && refresh.bytes().all(|b| b.is_ascii_hexdigit()), "refresh token {refresh}");
    body["refresh_token"] = serde_json::json!("[random]");
    let expiration = body["expiration"].clone();
    body["expiration"] = redact::unix_time(&expiration);
}

#[tokio::test]
async fn iam_token_for_an_api_key_returns_a_bearer_token() {
    let app = TestApp::with_auth(3600).await;
    let unix_now = || time::OffsetDateTime::now_utc().unix_timestamp() as u64;

    let before = unix_now();
    let response =
        app.iam_token(&[("grant_type", APIKEY_GRANT), ("apikey", TEST_API_KEY)]).await.assert_status(StatusCode::OK);
    let after = unix_now();

    let token = response.json();
    assert_eq!((token["token_type"].as_str(), token["expires_in"].as_u64()), (Some("Bearer"), Some(3600)));
    let expiration = token["expiration"].as_u64().expect("expiration in Unix seconds");
    assert!((before + 3600..=after + 3600).contains(&expiration), "expiration = issue time + expires_in");
    assert_eq!(response.header("content-type"), Some("application/json"));
    insta::assert_snapshot!(response.render_without_invariants(redact_token));
}

#[tokio::test]
async fn issued_token_opens_the_uko_api() {
    let mut app = TestApp::with_auth(3600).await;
    let token = app.iam_token(&[("grant_type", APIKEY_GRANT), ("apikey", TEST_API_KEY)]).await.json();
    app.bearer = Some(token["access_token"].as_str().unwrap().to_owned());

    let vaults = app.list_vaults(&[]).await.assert_status(StatusCode::OK);
    let etag = app.managed_key_etag(KEY_OUT_OF_SYNC).await;
    let synced = app.sync_managed_key(KEY_OUT_OF_SYNC, Some(&etag)).await;

    assert_eq!(vaults.json()["total_count"], 1);
    synced.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn refresh_token_grant_issues_a_new_working_token() {
    let mut app = TestApp::with_auth(3600).await;
    let first = app.iam_token(&[("grant_type", APIKEY_GRANT), ("apikey", TEST_API_KEY)]).await.json();

    let refreshed = app
        .iam_token(&[("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().unwrap())])
        .await
        .assert_status(StatusCode::OK)
        .json();

    assert_ne!(refreshed["access_token"], first["access_token"]);
    app.bearer = Some(refreshed["access_token"].as_str().unwrap().to_owned());
    app.list_vaults(&[]).await.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn wrong_api_key_is_refused_in_iam_shape() {
    let app = TestApp::with_auth(3600).await;

    let response = app
        .iam_token(&[("grant_type", APIKEY_GRANT), ("apikey", "not-the-api-key")])
        .await
        .assert_status(StatusCode::BAD_REQUEST);

    assert_eq!(response.json()["errorCode"], "BXNIM0415E");
    insta::assert_snapshot!(response.render_without_invariants(|_| {}));
}

#[tokio::test]
async fn malformed_token_requests_are_refused() {
    let app = TestApp::with_auth(3600).await;
    let cases: [(&str, &[(&str, &str)]); 3] = [
        ("no apikey", &[("grant_type", APIKEY_GRANT)]),
        ("unknown grant type", &[("grant_type", "password"), ("apikey", TEST_API_KEY)]),
        ("unknown refresh token", &[("grant_type", "refresh_token"), ("refresh_token", "mock-refresh-ffff")]),
    ];

    let mut table = String::new();
    for (case, form) in cases {
        let response = app.iam_token(form).await.assert_status(StatusCode::BAD_REQUEST);
        let body = response.json();
        table.push_str(&format!(
            "{case}\n  {} {}\n",
            body["errorCode"].as_str().unwrap(),
            body["errorMessage"].as_str().unwrap()
        ));
    }

    insta::assert_snapshot!(table);
}

#[tokio::test]
async fn static_token_opens_the_uko_api() {
    let mut app = TestApp::with_auth(3600).await;
    app.bearer = Some(TEST_STATIC_TOKEN.to_owned());

    app.get_managed_key(KEY_ACTIVE).await.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn lowercase_bearer_scheme_is_accepted() {
    let app = TestApp::with_auth(3600).await;

    let response = app
        .send(app.request(Method::GET, "/vaults").header("Authorization", format!("bearer {TEST_STATIC_TOKEN}")))
        .await;

    response.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn uko_vault_header_is_accepted_and_ignored() {
    let mut app = TestApp::with_auth(3600).await;
    app.bearer = Some(TEST_STATIC_TOKEN.to_owned());
    let plain = app.get_managed_key(KEY_ACTIVE).await.assert_status(StatusCode::OK);

    let mut answers = Vec::new();
    for vault in [VAULT, "00000000-0000-4000-8000-000000000000", "not-a-uuid"] {
        let with_header = app.request(Method::GET, &format!("/managed_keys/{KEY_ACTIVE}")).header("UKO-Vault", vault);
        answers.push(app.send(with_header).await.assert_status(StatusCode::OK));
    }
    let etag = plain.etag();
    let patch = app
        .request(Method::PATCH, &format!("/managed_keys/{KEY_ACTIVE}"))
        .header("UKO-Vault", "00000000-0000-4000-8000-000000000000")
        .header("If-Match", &etag)
        .json(&serde_json::json!({"description": "legacy client"}));
    let patched = app.send(patch).await.assert_status(StatusCode::OK);

    for answer in &answers {
        assert_eq!(answer.text, plain.text, "UKO-Vault changes nothing in the answer");
    }
    assert_eq!(patched.json()["description"], "legacy client");
}

#[tokio::test]
async fn without_auth_the_iam_endpoint_accepts_any_api_key_and_no_token_is_needed() {
    let app = TestApp::spawn().await;

    let token = app.iam_token(&[("grant_type", APIKEY_GRANT), ("apikey", "anything")]).await;
    let vaults = app.list_vaults(&[]).await;

    token.assert_status(StatusCode::OK);
    vaults.assert_status(StatusCode::OK);
}
