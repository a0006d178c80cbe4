//! The 5 vault operations (uko-api-v4.md §6): success status, headers and body of each.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn list_vaults_returns_the_fixture_vault_without_etag() {
    let app = TestApp::spawn().await;

    let response = app.list_vaults(&[]).await.assert_status(StatusCode::OK);

    assert!(response.header("etag").is_none());
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn create_vault_returns_201_with_etag_and_location() {
    let app = TestApp::spawn().await;
    let body = json!({"name": "Card issuing", "description": "Keys of card issuing", "recovery_key_label": "TEKMF.AES.RECOVERY.00002"});

    let response = app.create_vault(&body).await.assert_status(StatusCode::CREATED);

    let id = response.json()["id"].as_str().expect("an id").to_owned();
    assert_eq!(response.header("location"), Some(format!("/api/v4/vaults/{id}").as_str()));
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn create_vault_with_only_a_name_defaults_description_to_empty() {
    let app = TestApp::spawn().await;

    let response = app.create_vault(&json!({"name": "Minimal"})).await.assert_status(StatusCode::CREATED);

    let body = response.json();
    assert_eq!(body["description"], "");
    assert!(body.get("recovery_key_label").is_none(), "optional fields are omitted, not null");
    assert_eq!(
        (body["keys_count"].clone(), body["key_templates_count"].clone(), body["keystores_count"].clone()),
        (json!(0), json!(0), json!(0))
    );
}

#[tokio::test]
async fn get_vault_returns_counters_and_etag() {
    let app = TestApp::spawn().await;

    let response = app.get_vault(VAULT).await.assert_status(StatusCode::OK);

    assert_eq!(response.etag(), "2025-09-01T08:00:00Z");
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn update_vault_returns_200_with_a_new_etag() {
    let app = TestApp::spawn().await;
    let etag = app.get_vault(VAULT).await.etag();

    let response = app
        .update_vault(VAULT, Some(&etag), &json!({"name": "Payments production EU", "description": "Renamed"}))
        .await
        .assert_status(StatusCode::OK);

    assert_ne!(response.etag(), etag);
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn delete_empty_vault_returns_204_without_body() {
    let app = TestApp::spawn().await;
    let created = app.create_vault(&json!({"name": "Short-lived"})).await.assert_status(StatusCode::CREATED);
    let id = created.json()["id"].as_str().expect("an id").to_owned();

    let response = app.delete_vault(&id, Some(&created.etag())).await.assert_status(StatusCode::NO_CONTENT);

    assert!(response.text.is_empty());
    assert!(response.header("etag").is_none());
    assert_response_snapshot!(response);
    app.get_vault(&id).await.assert_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn generated_ids_depend_only_on_the_seed() {
    let create = |seed: u64| async move {
        let app = TestApp::builder().seed(seed).spawn().await;
        let response = app.create_vault(&json!({"name": "Seeded"})).await.assert_status(StatusCode::CREATED);
        response.json()["id"].as_str().expect("an id").to_owned()
    };

    let (first, again, other) = (create(7).await, create(7).await, create(8).await);

    assert_eq!(redact::uuid(&first), "[uuid]", "generated ids are uuids");
    assert_eq!(first, again, "same seed, same requests, same id");
    assert_ne!(first, other);
}
