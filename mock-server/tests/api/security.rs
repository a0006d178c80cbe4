//! Security defaults, against the real `uko-mock` binary: loopback unless told otherwise (and a warning
//! when not), the control plane closed beyond loopback without an admin token, keystore credentials never
//! in a response, a log line, the journal or an export (unless `include_secrets=true` asks for them; the
//! state file keeps them), IAM tokens that expire, and fixture files over the size cap refused.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::process::Command;

use crate::helpers::binary::Binary;
use crate::helpers::VAULT;

/// Distinct credential values, so any leak is found by a plain substring search.
const SECRETS: [(&str, &str); 5] = [
    ("aws_access_key_id", "AKIALEAKCHECK0000001"),
    ("aws_secret_access_key", "leak-check-aws-secret-4f1c9e"),
    ("azure_service_principal_password", "leak-check-azure-password-7b2d"),
    ("google_credentials", "bGVhay1jaGVjay1nb29nbGUtY3JlZGVudGlhbHMtOWEzZQ=="),
    ("ibm_api_key", "leak-check-ibm-api-key-1c8f"),
];

/// The URL through loopback (the banner may show an unspecified address).
fn loopback_url(binary: &Binary) -> String {
    let port = binary.base_url.rsplit(':').next().unwrap();
    format!("http://127.0.0.1:{port}")
}

async fn call(
    client: &Client,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, String) {
    let mut request = client.request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn the_default_bind_is_loopback_and_a_wider_bind_warns() {
    let loopback = Binary::start(&["--log", "info"]).await;
    assert!(loopback.base_url.starts_with("http://127.0.0.1:"), "{}", loopback.base_url);
    let printed = loopback.stop().await;
    assert!(!printed.contains("non-loopback"), "{printed}");

    let wide = Binary::start(&["--bind", "0.0.0.0", "--log", "info"]).await;
    let printed = wide.stop().await;
    assert!(printed.contains("listening on a non-loopback address"), "{printed}");
}

#[tokio::test]
async fn beyond_loopback_the_control_plane_needs_the_admin_token() {
    // Arrange: two servers on all interfaces, reached here through loopback only.
    let client = Client::new();
    let without_token = Binary::start(&["--bind", "0.0.0.0", "--auth", "none"]).await;
    let with_token = Binary::start(&["--bind", "0.0.0.0", "--auth", "none", "--admin-token", "admin-s3cret"]).await;

    // Act
    let closed =
        call(&client, Method::GET, &format!("{}/__mock/v1/export", loopback_url(&without_token)), &[], None).await;
    let health =
        call(&client, Method::GET, &format!("{}/__mock/v1/health", loopback_url(&without_token)), &[], None).await;
    let anonymous =
        call(&client, Method::GET, &format!("{}/__mock/v1/export", loopback_url(&with_token)), &[], None).await;
    let wrong = call(
        &client,
        Method::POST,
        &format!("{}/__mock/v1/reset", loopback_url(&with_token)),
        &[("Authorization", "Bearer admin-s3cre")],
        None,
    )
    .await;
    let admin = call(
        &client,
        Method::GET,
        &format!("{}/__mock/v1/export", loopback_url(&with_token)),
        &[("X-Admin-Token", "admin-s3cret")],
        None,
    )
    .await;

    // Assert
    assert_eq!(closed.0, 403, "{}", closed.1);
    assert!(closed.1.contains("control_plane_disabled") && closed.1.contains("--admin-token"), "{}", closed.1);
    assert_eq!(health.0, 200);
    assert_eq!(anonymous.0, 401, "{}", anonymous.1);
    assert_eq!(wrong.0, 401, "{}", wrong.1);
    assert_eq!(admin.0, 200);
    let printed = with_token.stop().await;
    assert!(!printed.contains("admin-s3cret"), "the admin token was printed: {printed}");
    without_token.stop().await;
}

#[tokio::test]
async fn keystore_credentials_never_leave_except_where_asked_for() {
    // Arrange: debug logs and a state file.
    let directory = scratch("secrets");
    let state_file = directory.join("state.json");
    let state_argument = state_file.display().to_string();
    let binary = Binary::start(&["--log", "debug", "--auth", "none", "--state-file", &state_argument]).await;
    let client = Client::new();
    let api = format!("{}/api/v4", binary.base_url);
    let control = format!("{}/__mock/v1", binary.base_url);
    let mut seen = String::new();

    // Act: create a keystore of each type with credentials, refused creates and updates that carry them,
    // then read everything back.
    let mut ids = Vec::new();
    for body in keystore_bodies() {
        let (status, text) = call(&client, Method::POST, &format!("{api}/keystores"), &[], Some(body.clone())).await;
        assert_eq!(status, 201, "{text}");
        ids.push(serde_json::from_str::<Value>(&text).unwrap()["id"].as_str().unwrap().to_owned());
        seen.push_str(&text);
        let mut refused = body.clone();
        refused["name"] = json!("");
        seen.push_str(&call(&client, Method::POST, &format!("{api}/keystores"), &[], Some(refused)).await.1);
        let mut wrong_types = body;
        for (field, _) in SECRETS {
            if wrong_types.get(field).is_some() {
                wrong_types["groups"] = json!(7);
            }
        }
        seen.push_str(
            &call(&client, Method::POST, &format!("{api}/keystores?dry_run=true"), &[], Some(wrong_types)).await.1,
        );
    }
    for id in &ids {
        let url = format!("{api}/keystores/{id}");
        let response = client.get(&url).send().await.unwrap();
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        seen.push_str(&response.text().await.unwrap());
        let update: serde_json::Map<String, Value> = SECRETS.iter().map(|(f, v)| (f.to_string(), json!(v))).collect();
        seen.push_str(
            &call(
                &client,
                Method::PATCH,
                &url,
                &[("If-Match", "2000-01-01T00:00:00Z")],
                Some(Value::Object(update.clone())),
            )
            .await
            .1,
        );
        seen.push_str(&call(&client, Method::PATCH, &url, &[("If-Match", &etag)], Some(Value::Object(update))).await.1);
        seen.push_str(&call(&client, Method::GET, &format!("{url}/status"), &[], None).await.1);
    }
    seen.push_str(&call(&client, Method::GET, &format!("{api}/keystores?limit=100"), &[], None).await.1);
    seen.push_str(&call(&client, Method::GET, &format!("{control}/journal"), &[], None).await.1);
    let export = call(&client, Method::GET, &format!("{control}/export"), &[], None).await.1;
    let with_secrets = call(&client, Method::GET, &format!("{control}/export?include_secrets=true"), &[], None).await.1;
    seen.push_str(&export);
    let printed = binary.stop().await;
    let saved = std::fs::read_to_string(&state_file).unwrap();
    let _ = std::fs::remove_dir_all(&directory);

    // Assert
    for (field, secret) in SECRETS {
        assert!(!seen.contains(secret), "{field} leaked into a response, the journal or the export");
        assert!(!printed.contains(secret), "{field} leaked into the logs");
        assert!(with_secrets.contains(secret), "{field}: include_secrets=true must export it");
        assert!(saved.contains(secret), "{field}: the state file must keep it to restore it");
    }
    assert!(printed.contains("request refused"), "the logs were not captured: {printed}");
    let masked: Value = serde_json::from_str(&export).unwrap();
    let aws = masked["keystores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["type"] == "aws_kms" && k["name"] == "Leak check AWS")
        .unwrap();
    assert_eq!(aws["connection"]["aws_secret_access_key"], "***");
}

#[tokio::test]
async fn refresh_tokens_are_random_never_bearer_tokens_and_expire() {
    let binary = Binary::start(&["--refresh-token-ttl", "1", "--api-key", "ttl-key"]).await;
    let client = Client::new();
    let token_url = format!("{}/identity/token", binary.base_url);
    let grant = |form: Vec<(&'static str, String)>| {
        let request = client.post(&token_url).form(&form);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let apikey =
        || vec![("grant_type", "urn:ibm:params:oauth:grant-type:apikey".to_owned()), ("apikey", "ttl-key".to_owned())];
    let (_, first) = grant(apikey()).await;
    let (_, second) = grant(apikey()).await;
    let refresh = first["refresh_token"].as_str().unwrap().to_owned();
    let vaults = format!("{}/api/v4/vaults", binary.base_url);

    let as_bearer = call(&client, Method::GET, &vaults, &[("Authorization", &format!("Bearer {refresh}"))], None).await;
    let refreshed = grant(vec![("grant_type", "refresh_token".to_owned()), ("refresh_token", refresh.clone())]).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = grant(vec![("grant_type", "refresh_token".to_owned()), ("refresh_token", refresh.clone())]).await;

    assert_eq!(as_bearer.0, StatusCode::UNAUTHORIZED.as_u16(), "a refresh token opened the API");
    assert_ne!(refresh, second["refresh_token"].as_str().unwrap());
    assert!(refresh.len() >= 32 && !refresh.contains("0000000"), "a guessable refresh token: {refresh}");
    assert_eq!(refreshed.0, StatusCode::OK);
    assert_eq!(expired.0, StatusCode::BAD_REQUEST, "an expired refresh token was accepted: {}", expired.1);
    binary.stop().await;
}

#[tokio::test]
async fn iam_tokens_expire_through_the_binary_with_token_ttl() {
    let binary = Binary::start(&["--token-ttl", "1", "--api-key", "ttl-key"]).await;
    let client = Client::new();
    let token: Value = client
        .post(format!("{}/identity/token", binary.base_url))
        .form(&[("grant_type", "urn:ibm:params:oauth:grant-type:apikey"), ("apikey", "ttl-key")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["expires_in"], 1);
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let vaults = format!("{}/api/v4/vaults", binary.base_url);

    let fresh = call(&client, Method::GET, &vaults, &[("Authorization", &bearer)], None).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = call(&client, Method::GET, &vaults, &[("Authorization", &bearer)], None).await;

    assert_eq!(fresh.0, 200);
    assert_eq!(expired.0, StatusCode::UNAUTHORIZED.as_u16());
    assert!(expired.1.contains("expired"), "{}", expired.1);
    binary.stop().await;
}

#[tokio::test]
async fn a_fixture_file_over_the_size_cap_is_refused_with_a_clear_message() {
    let directory = scratch("fixture-size");
    let file = directory.join("huge.json");
    // Sparse: the size is there, the bytes are not.
    std::fs::File::create(&file).unwrap().set_len(uko_mock::fixture::MAX_FIXTURE_BYTES + 1).unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_uko-mock"))
        .args(["--port", "0", "--fixture"])
        .arg(&file)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&directory);

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(stderr.contains("expected a fixture file of at most 134217728 bytes"), "{stderr}");
}

fn keystore_bodies() -> Vec<Value> {
    let secret = |field: &str| SECRETS.iter().find(|(f, _)| *f == field).unwrap().1;
    vec![
        json!({
            "type": "aws_kms", "vault": {"id": VAULT}, "name": "Leak check AWS", "groups": ["G"],
            "aws_region": "eu_west_1",
            "aws_access_key_id": secret("aws_access_key_id"),
            "aws_secret_access_key": secret("aws_secret_access_key")
        }),
        json!({
            "type": "azure_key_vault", "vault": {"id": VAULT}, "name": "Leak check Azure", "groups": ["G"],
            "azure_service_name": "leak-kv", "azure_resource_group": "rg", "azure_location": "europe_north",
            "azure_service_principal_client_id": "0f3c9a52-7d1e-4b8a-9c6d-2e5f8a1b3c4d",
            "azure_service_principal_password": secret("azure_service_principal_password"),
            "azure_tenant": "b5d3e8a1-4c2f-4e6b-8a9d-1f0e2c3b4a5d",
            "azure_subscription_id": "9e7d6c5b-4a3f-4e2d-9c1b-0a9f8e7d6c5b", "azure_environment": "azure"
        }),
        json!({
            "type": "google_kms", "vault": {"id": VAULT}, "name": "Leak check Google", "groups": ["G"],
            "google_credentials": secret("google_credentials"), "google_location": "europe-central2",
            "google_project_id": "leak-check", "google_key_ring": "ring"
        }),
        json!({
            "type": "ibm_cloud_kms", "vault": {"id": VAULT}, "name": "Leak check Key Protect",
            "ibm_variant": "key_protect", "ibm_api_endpoint": "https://eu-de.kms.cloud.ibm.com",
            "ibm_iam_endpoint": "https://iam.cloud.ibm.com", "ibm_api_key": secret("ibm_api_key"),
            "ibm_instance_id": "d1c2b3a4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "ibm_key_ring": "Default"
        }),
    ]
}

fn scratch(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("uko-mock-security-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    directory
}
