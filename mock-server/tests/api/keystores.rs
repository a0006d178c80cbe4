//! The 8 keystore operations (uko-api-v4.md §5): success status, headers and body of each, including
//! one create per keystore type to pin the flat union model and the masking of secrets.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

fn aws_keystore_body() -> Value {
    json!({
        "type": "aws_kms",
        "vault": {"id": VAULT},
        "name": "AWS KMS Ireland",
        "description": "AWS KMS in eu-west-1",
        "groups": ["Production-AWS"],
        "aws_region": "eu_west_1",
        "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    })
}

/// One creation body per keystore type (and IBM variant), each with its secrets set.
fn keystore_bodies() -> Vec<(&'static str, Value)> {
    vec![
        ("aws_kms", aws_keystore_body()),
        (
            "azure_key_vault",
            json!({
                "type": "azure_key_vault",
                "vault": {"id": VAULT},
                "name": "Azure Key Vault North Europe",
                "groups": ["Production-Azure"],
                "azure_service_name": "payments-kv-neu",
                "azure_resource_group": "payments-rg",
                "azure_location": "europe_north",
                "azure_service_principal_client_id": "0f3c9a52-7d1e-4b8a-9c6d-2e5f8a1b3c4d",
                "azure_service_principal_password": "client-secret",
                "azure_tenant": "b5d3e8a1-4c2f-4e6b-8a9d-1f0e2c3b4a5d",
                "azure_subscription_id": "9e7d6c5b-4a3f-4e2d-9c1b-0a9f8e7d6c5b",
                "azure_environment": "azure"
            }),
        ),
        (
            "google_kms",
            json!({
                "type": "google_kms",
                "vault": {"id": VAULT},
                "name": "Google Cloud KMS Warsaw",
                "groups": ["Production-Google"],
                "google_credentials": "eyJ0eXBlIjoic2VydmljZV9hY2NvdW50In0=",
                "google_location": "europe-central2",
                "google_project_id": "payments-mock-4711",
                "google_key_ring": "uko-payments"
            }),
        ),
        (
            "ibm_cloud_kms_key_protect",
            json!({
                "type": "ibm_cloud_kms",
                "vault": {"id": VAULT},
                "name": "Key Protect Frankfurt",
                "ibm_variant": "key_protect",
                "ibm_api_endpoint": "https://eu-de.kms.cloud.ibm.com",
                "ibm_iam_endpoint": "https://iam.cloud.ibm.com",
                "ibm_api_key": "ibmcloud-api-key",
                "ibm_instance_id": "d1c2b3a4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
                "ibm_key_ring": "Default"
            }),
        ),
        (
            "ibm_cloud_kms_internal",
            json!({
                "type": "ibm_cloud_kms",
                "vault": {"id": VAULT},
                "name": "Internal KMS keystore 2",
                "ibm_variant": "internal"
            }),
        ),
        (
            "cca",
            json!({
                "type": "cca",
                "vault": {"id": VAULT},
                "name": "CCA agent Boeblingen",
                "cca_host": "cca.example.com",
                "cca_port": 9443,
                "cca_use_tls": true,
                "cca_public_key_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            }),
        ),
    ]
}

#[tokio::test]
async fn list_keystores_returns_all_five_without_etag() {
    let app = TestApp::spawn().await;

    let response = app.list_keystores(&[]).await.assert_status(StatusCode::OK);

    assert!(response.header("etag").is_none());
    assert_eq!(response.json()["total_count"], 5);
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn create_keystore_returns_201_with_etag_location_and_masked_secrets() {
    let app = TestApp::spawn().await;

    let response = app.create_keystore(&aws_keystore_body(), None).await.assert_status(StatusCode::CREATED);

    let body = response.json();
    let id = body["id"].as_str().expect("an id");
    assert_eq!(response.header("location"), Some(format!("/api/v4/keystores/{id}").as_str()));
    assert_eq!((body["aws_access_key_id"].as_str(), body["aws_secret_access_key"].as_str()), (Some(""), Some("")));
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn create_keystore_of_every_type_masks_its_secrets() {
    for (name, body) in keystore_bodies() {
        // Arrange: a fresh server per type, so every id comes from the same seed position.
        let app = TestApp::spawn().await;

        // Act
        let response = app.create_keystore(&body, None).await.assert_status(StatusCode::CREATED);

        // Assert
        let created = response.json();
        for secret in ["aws_access_key_id", "aws_secret_access_key", "ibm_api_key", "google_credentials"] {
            if let Some(value) = created.get(secret) {
                assert_eq!(value, "", "{name}: {secret} must be masked as \"\"");
            }
        }
        if let Some(password) = created.get("azure_service_principal_password") {
            assert_eq!(password, "***", "{name}: the Azure password is masked as ***");
        }
        assert_response_snapshot!(format!("create_keystore_{name}"), response);
    }
}

#[tokio::test]
async fn create_keystore_dry_run_returns_200_and_stores_nothing() {
    let app = TestApp::spawn().await;

    let response = app.create_keystore(&aws_keystore_body(), Some(true)).await.assert_status(StatusCode::OK);

    assert!(response.header("etag").is_none() && response.header("location").is_none());
    assert_response_snapshot!(response);
    let id = response.json()["id"].as_str().expect("an id").to_owned();
    app.get_keystore(&id).await.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(app.list_keystores(&[]).await.json()["total_count"], 5);
}

#[tokio::test]
async fn get_keystore_returns_etag_and_masked_secrets() {
    let app = TestApp::spawn().await;

    let response = app.get_keystore(KEYSTORE_AZURE).await.assert_status(StatusCode::OK);

    assert_eq!(response.etag(), "2025-09-01T08:07:00Z");
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn update_keystore_returns_200_with_a_new_etag() {
    let app = TestApp::spawn().await;
    let etag = app.get_keystore(KEYSTORE_AWS).await.etag();
    let body = json!({
        "name": "AWS KMS Frankfurt 2",
        "description": "Rotated access key",
        "groups": ["Production-AWS", "Disaster recovery"],
        "aws_access_key_id": "AKIAI44QH8DHBEXAMPLE",
        "aws_secret_access_key": "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
    });

    let response = app.update_keystore(KEYSTORE_AWS, Some(&etag), &body).await.assert_status(StatusCode::OK);

    assert_ne!(response.etag(), etag);
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn delete_keystore_without_keys_returns_204() {
    let app = TestApp::spawn().await;
    let created = app.create_keystore(&aws_keystore_body(), None).await.assert_status(StatusCode::CREATED);
    let id = created.json()["id"].as_str().expect("an id").to_owned();

    let response = app.delete_keystore(&id, Some(&created.etag()), None).await.assert_status(StatusCode::NO_CONTENT);

    assert_response_snapshot!(response);
    app.get_keystore(&id).await.assert_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn delete_keystore_in_disconnect_mode_leaves_tombstone_status_entries() {
    let app = TestApp::spawn().await;
    let etag = app.get_keystore(KEYSTORE_GOOGLE).await.etag();

    app.delete_keystore(KEYSTORE_GOOGLE, Some(&etag), Some("disconnect")).await.assert_status(StatusCode::NO_CONTENT);

    // The active key is still enabled in the keystore UKO no longer manages; the pre-active one is not there.
    let active = app.get_key_distribution_status_for_keystores(KEY_GOOGLE).await.assert_status(StatusCode::OK);
    let pre_active = app.get_key_distribution_status_for_keystores(KEY_PRE_ACTIVE).await.assert_status(StatusCode::OK);
    assert_eq!(
        active.json()["status_in_keystores"][0]["keystore_sync_flag_detail"],
        "target_keystore_removed_by_user_contains_an_active_key"
    );
    assert_eq!(
        pre_active.json()["status_in_keystores"][0]["keystore_sync_flag_detail"],
        "target_keystore_removed_by_user"
    );
    assert_eq!(app.get_managed_key(KEY_GOOGLE).await.json()["referenced_keystores"], json!([]));
    insta::assert_snapshot!(format!("active key:\n{}\npre-active key:\n{}", active.render(), pre_active.render()));
}

#[tokio::test]
async fn list_associated_resources_for_target_keystore_returns_the_cos_bucket() {
    let app = TestApp::spawn().await;

    let response = app
        .list_associated_resources_for_target_keystore(KEYSTORE_KEY_PROTECT, &[])
        .await
        .assert_status(StatusCode::OK);

    assert!(response.header("etag").is_none());
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn get_keystore_status_returns_health_without_etag() {
    let app = TestApp::spawn().await;

    let response = app.get_keystore_status(KEYSTORE_AWS).await.assert_status(StatusCode::OK);

    assert!(response.header("etag").is_none());
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn list_managed_keys_from_keystore_defaults_to_pre_active_and_active_keys() {
    let app = TestApp::spawn().await;

    let response = app.list_managed_keys_from_keystore(KEYSTORE_INTERNAL, &[]).await.assert_status(StatusCode::OK);

    assert!(response.header("etag").is_none());
    assert_eq!(ids(&response.json(), "managed_keys"), [KEY_ACTIVE], "the deactivated key is filtered by default");
    assert_response_snapshot!(response);
    let deactivated = app.list_managed_keys_from_keystore(KEYSTORE_INTERNAL, &[("state", "deactivated")]).await.json();
    assert_eq!(ids(&deactivated, "managed_keys"), [KEY_DEACTIVATED]);
}
