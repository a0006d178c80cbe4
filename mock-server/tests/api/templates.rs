//! The 8 key template operations (uko-api-v4.md §4): success status, headers and body of each.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// A template for HMAC keys in the AWS group of the default fixture.
fn hmac_template_body(name: &str) -> Value {
    json!({
        "vault": {"id": VAULT},
        "name": name,
        "description": "HMAC keys for request signing",
        "key": {
            "size": "256",
            "algorithm": "hmac",
            "activation_date": "P1W",
            "expiration_date": "P1Y",
            "state": "pre_activation",
            "deactivate_on_rotation": true
        },
        "keystores": [{"type": "aws_kms", "group": "Production-AWS"}],
        "type": ["user_defined"]
    })
}

#[tokio::test]
async fn list_key_templates_returns_all_five_without_etag() {
    let app = TestApp::spawn().await;

    let response = app.list_key_templates(&[]).await.assert_status(StatusCode::OK);

    assert!(response.header("etag").is_none());
    assert_eq!(response.json()["total_count"], 5);
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn create_key_template_returns_201_version_0_with_etag_and_location() {
    let app = TestApp::spawn().await;

    let response =
        app.create_key_template(&hmac_template_body("HMAC-SIGNING")).await.assert_status(StatusCode::CREATED);

    let body = response.json();
    assert_eq!(body["version"], 0);
    let id = body["id"].as_str().expect("an id");
    assert_eq!(response.header("location"), Some(format!("/api/v4/templates/{id}").as_str()));
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn get_key_template_returns_etag() {
    let app = TestApp::spawn().await;

    let response = app.get_key_template(TEMPLATE_AZURE).await.assert_status(StatusCode::OK);

    assert_eq!(response.etag(), "2025-09-01T08:17:00Z");
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn update_key_template_bumps_version_and_etag() {
    let app = TestApp::spawn().await;
    let etag = app.get_key_template(TEMPLATE_GOOGLE).await.etag();
    let body = json!({
        "description": "CMEK keys for Google Cloud; software protected",
        "key": {"expiration_date": "P3Y"},
        "keystores": [{"group": "Production-Google", "google_key_protection_level": "software"}]
    });

    let response = app.update_key_template(TEMPLATE_GOOGLE, Some(&etag), &body).await.assert_status(StatusCode::OK);

    assert_eq!(response.json()["version"], 1);
    assert_ne!(response.etag(), etag);
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn delete_unused_key_template_returns_204() {
    let app = TestApp::spawn().await;
    let created = app.create_key_template(&hmac_template_body("UNUSED")).await.assert_status(StatusCode::CREATED);
    let id = created.json()["id"].as_str().expect("an id").to_owned();

    let response = app.delete_key_template(&id, Some(&created.etag())).await.assert_status(StatusCode::NO_CONTENT);

    assert_response_snapshot!(response);
    app.get_key_template(&id).await.assert_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn archive_key_template_returns_archived_template_with_new_etag() {
    let app = TestApp::spawn().await;
    let etag = app.get_key_template(TEMPLATE_AZURE).await.etag();

    let response = app.archive_key_template(TEMPLATE_AZURE, Some(&etag)).await.assert_status(StatusCode::OK);

    assert_eq!(response.json()["state"], "archived");
    assert_ne!(response.etag(), etag);
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn unarchive_key_template_returns_unarchived_template_with_new_etag() {
    let app = TestApp::spawn().await;
    let etag = app.get_key_template(TEMPLATE_AZURE).await.etag();
    let archived = app.archive_key_template(TEMPLATE_AZURE, Some(&etag)).await.assert_status(StatusCode::OK);

    let response =
        app.unarchive_key_template(TEMPLATE_AZURE, Some(&archived.etag())).await.assert_status(StatusCode::OK);

    assert_eq!(response.json()["state"], "unarchived");
    assert_ne!(response.etag(), archived.etag());
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn expose_shadow_key_template_makes_it_user_defined() {
    let app = TestApp::spawn().await;
    let mut body = hmac_template_body("SHADOW-HMAC");
    body["type"] = json!(["shadow"]);
    let created = app.create_key_template(&body).await.assert_status(StatusCode::CREATED);
    let id = created.json()["id"].as_str().expect("an id").to_owned();

    let response = app.expose_key_template(&id, Some(&created.etag())).await.assert_status(StatusCode::OK);

    assert_eq!(response.json()["type"], json!(["user_defined"]));
    assert_response_snapshot!(response);
}
