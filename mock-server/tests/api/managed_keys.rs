//! The 14 managed key operations (uko-api-v4.md §3): success status, headers and body of each.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn list_managed_keys_returns_all_eight_newest_first_without_etag() {
    let app = TestApp::spawn().await;

    let response = app.list_managed_keys(&[]).await.assert_status(StatusCode::OK);

    assert!(response.header("etag").is_none());
    let body = response.json();
    assert_eq!(body["total_count"], 8);
    let updated: Vec<&str> =
        body["managed_keys"].as_array().unwrap().iter().map(|k| k["updated_at"].as_str().unwrap()).collect();
    assert!(updated.windows(2).all(|pair| pair[0] >= pair[1]), "default sort is -updated_at: {updated:?}");
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn create_managed_key_returns_201_with_etag_and_location() {
    let app = TestApp::spawn().await;

    let response =
        app.create_managed_key(&internal_key_body("ledger-dek-2026")).await.assert_status(StatusCode::CREATED);

    let body = response.json();
    let id = body["id"].as_str().expect("an id");
    assert_eq!(response.header("location"), Some(format!("/api/v4/managed_keys/{id}").as_str()));
    assert_eq!((body["state"].as_str(), body["version"].as_u64()), (Some("active"), Some(1)));
    assert_eq!(body["status_in_keystores"][0]["keystore_sync_flag"], "ok");
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn create_managed_key_from_a_naming_scheme_derives_label_tags() {
    let app = TestApp::spawn().await;
    let body = json!({"template_name": "AWS-AES256", "vault": {"id": VAULT}, "label": "A-CARDS-AES256-TEST"});

    let response = app.create_managed_key(&body).await.assert_status(StatusCode::CREATED);

    assert_eq!(
        response.json()["label_tags"],
        json!([{"name": "APP", "value": "CARDS"}, {"name": "ENV", "value": "TEST"}])
    );
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn create_managed_key_from_a_pre_activation_template_is_not_installed() {
    let app = TestApp::spawn().await;
    let body = json!({"template_name": "GOOGLE-AES256", "vault": {"id": VAULT}, "label": "bigquery-cmek-dev"});

    let response = app.create_managed_key(&body).await.assert_status(StatusCode::CREATED);

    let key = response.json();
    assert_eq!(key["state"], "pre_activation");
    assert_eq!(key["key_material_present"], json!(["repository"]));
    assert_eq!(key["status_in_keystores"][0]["keystore_sync_flag_detail"], "pre_active_key_is_not_present_in_keystore");
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn delete_destroyed_managed_key_returns_204() {
    let app = TestApp::spawn().await;
    let etag = app.managed_key_etag(KEY_DESTROYED).await;

    let response = app.delete_managed_key(KEY_DESTROYED, Some(&etag)).await.assert_status(StatusCode::NO_CONTENT);

    assert_response_snapshot!(response);
    app.get_managed_key(KEY_DESTROYED).await.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(app.get_vault(VAULT).await.json()["keys_count"], 7);
    assert_eq!(app.get_key_template(TEMPLATE_AWS).await.json()["keys_count"], 1);
}

#[tokio::test]
async fn get_managed_key_returns_etag_and_embedded_status() {
    let app = TestApp::spawn().await;

    let response = app.get_managed_key(KEY_OUT_OF_SYNC).await.assert_status(StatusCode::OK);

    assert_eq!(response.etag(), "2025-09-03T11:00:00Z");
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn update_managed_key_returns_200_with_a_new_etag() {
    let app = TestApp::spawn().await;
    let etag = app.managed_key_etag(KEY_ACTIVE).await;
    let body = json!({
        "label": "payments-dek-ledger",
        "description": "Data encryption key of the ledger",
        "activation_date": "2025-10-01",
        "expiration_date": "2028-10-01",
        "tags": [{"name": "team", "value": "ledger"}]
    });

    let response = app.update_managed_key(KEY_ACTIVE, Some(&etag), &body).await.assert_status(StatusCode::OK);

    let key = response.json();
    assert_ne!(response.etag(), etag);
    assert_eq!(key["instances"][0]["label_in_keystore"], "payments-dek-ledger", "a rename reaches the keystores");
    assert_eq!(key["state"], "active", "a PATCH never changes the state");
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn list_associated_resources_for_managed_key_returns_the_cos_bucket() {
    let app = TestApp::spawn().await;

    let response = app.list_associated_resources_for_managed_key(KEY_COS, &[]).await.assert_status(StatusCode::OK);

    assert!(response.header("etag").is_none());
    assert_eq!(response.json()["total_count"], 1);
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn list_managed_key_versions_returns_newest_version_first() {
    let app = TestApp::spawn().await;

    let response = app.list_managed_key_versions(KEY_COS, &[]).await.assert_status(StatusCode::OK);

    assert!(response.header("etag").is_none());
    let versions: Vec<u64> =
        response.json()["managed_keys"].as_array().unwrap().iter().map(|k| k["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, [2, 1]);
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn rotated_managed_key_keeps_its_creation_time_in_lists_and_filters() {
    let app = TestApp::spawn().await;

    let key = app.get_managed_key(KEY_COS).await.assert_status(StatusCode::OK).json();
    let filtered = app.list_managed_keys(&[("created_at", "2025-09-05")]).await.assert_status(StatusCode::OK).json();

    assert_eq!(key["created_at"], "2025-09-05T08:30:00.000Z", "version 2 is newer, the key is not");
    assert_eq!(ids(&filtered, "managed_keys"), [KEY_COS]);
    assert_eq!(filtered["managed_keys"][0]["created_at"], key["created_at"]);
}

#[tokio::test]
async fn get_key_distribution_status_for_keystores_has_no_etag() {
    let app = TestApp::spawn().await;

    let response = app.get_key_distribution_status_for_keystores(KEY_OUT_OF_SYNC).await.assert_status(StatusCode::OK);

    assert!(response.header("etag").is_none(), "clients must take the ETag from GetManagedKey");
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn update_managed_key_from_template_realigns_an_unaligned_key() {
    // Arrange: a template update makes its key unaligned.
    let app = TestApp::spawn().await;
    let template_etag = app.get_key_template(TEMPLATE_AZURE).await.etag();
    app.update_key_template(TEMPLATE_AZURE, Some(&template_etag), &json!({"key": {"deactivate_on_rotation": true}}))
        .await
        .assert_status(StatusCode::OK);
    let before = app.get_managed_key(KEY_AZURE).await;
    assert_eq!(before.json()["template"]["alignment_status"], "unaligned");

    // Act
    let response =
        app.update_managed_key_from_template(KEY_AZURE, Some(&before.etag()), None).await.assert_status(StatusCode::OK);

    // Assert
    let key = response.json();
    assert_eq!(key["template"]["alignment_status"], "aligned");
    assert_eq!(key["deactivate_on_rotation"], true);
    assert_ne!(response.etag(), before.etag());
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn update_managed_key_from_template_dry_run_changes_nothing() {
    let app = TestApp::spawn().await;
    let template_etag = app.get_key_template(TEMPLATE_AZURE).await.etag();
    app.update_key_template(TEMPLATE_AZURE, Some(&template_etag), &json!({"key": {"deactivate_on_rotation": true}}))
        .await
        .assert_status(StatusCode::OK);
    let etag = app.managed_key_etag(KEY_AZURE).await;

    let response =
        app.update_managed_key_from_template(KEY_AZURE, Some(&etag), Some(true)).await.assert_status(StatusCode::OK);

    assert_eq!(response.json()["template"]["alignment_status"], "aligned", "the answer shows the would-be key");
    assert_eq!(response.etag(), etag);
    let after = app.get_managed_key(KEY_AZURE).await;
    assert_eq!(after.etag(), etag);
    assert_eq!(after.json()["template"]["alignment_status"], "unaligned");
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn activate_pre_active_managed_key_installs_it() {
    let app = TestApp::spawn().await;
    let etag = app.managed_key_etag(KEY_PRE_ACTIVE).await;

    let response = app.activate_managed_key(KEY_PRE_ACTIVE, Some(&etag)).await.assert_status(StatusCode::OK);

    let key = response.json();
    assert_eq!(key["state"], "active");
    assert_eq!(key["status_in_keystores"][0]["keystore_sync_flag_detail"], "active_key_is_active_in_keystore");
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn deactivate_active_managed_key_disables_it_in_its_keystore() {
    let app = TestApp::spawn().await;
    let etag = app.managed_key_etag(KEY_ACTIVE).await;

    let response = app.deactivate_managed_key(KEY_ACTIVE, Some(&etag)).await.assert_status(StatusCode::OK);

    let key = response.json();
    assert_eq!(key["state"], "deactivated");
    assert_eq!(
        key["status_in_keystores"][0]["keystore_sync_flag_detail"],
        "deactivated_key_is_deactivated_in_keystore"
    );
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn destroy_deactivated_managed_key_removes_it_from_its_keystore() {
    let app = TestApp::spawn().await;
    let etag = app.managed_key_etag(KEY_DEACTIVATED).await;

    let response = app.destroy_managed_key(KEY_DEACTIVATED, Some(&etag)).await.assert_status(StatusCode::OK);

    let key = response.json();
    assert_eq!(key["state"], "destroyed");
    assert_eq!(key["status_in_keystores"][0]["keystore_sync_flag_detail"], "destroyed_key_is_not_present_in_keystore");
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn sync_managed_key_returns_status_in_keystores_and_the_unchanged_etag() {
    let app = TestApp::spawn().await;
    let etag = app.managed_key_etag(KEY_OUT_OF_SYNC).await;

    let response = app.sync_managed_key(KEY_OUT_OF_SYNC, Some(&etag)).await.assert_status(StatusCode::OK);

    assert_eq!(response.etag(), etag, "a sync changes no field of the key");
    assert_eq!(response.json()["status_in_keystores"][0]["keystore_sync_flag"], "ok");
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn rotate_active_managed_key_returns_200_with_version_2() {
    let app = TestApp::spawn().await;
    let before = app.get_managed_key(KEY_ACTIVE).await;

    let response = app.rotate_managed_key(KEY_ACTIVE, Some(&before.etag())).await.assert_status(StatusCode::OK);

    let key = response.json();
    assert_eq!(key["version"], 2);
    assert_ne!(key["verification_patterns"], before.json()["verification_patterns"], "new key material");
    assert_eq!(key["rotated_at"], key["updated_at"]);
    assert_eq!(key["created_at"], before.json()["created_at"], "created_at is the key's, not the new version's");
    assert_eq!(
        key["status_in_keystores"][0]["key_id_in_keystore"],
        before.json()["status_in_keystores"][0]["key_id_in_keystore"],
        "IBM Cloud KMS rotates in place and keeps the key id (uko-semantics.md §3)"
    );
    assert_response_snapshot!(response);
    let versions = app.list_managed_key_versions(KEY_ACTIVE, &[]).await.json();
    assert_eq!(versions["total_count"], 2);
}

#[tokio::test]
async fn action_posts_need_no_body_and_tolerate_an_empty_json_object() {
    let app = TestApp::spawn().await;
    let etag = app.managed_key_etag(KEY_ACTIVE).await;

    // The Go SDK sends action POSTs without body and Content-Type; other clients send `{}`.
    let request = app
        .request(reqwest::Method::POST, &format!("/managed_keys/{KEY_ACTIVE}/deactivate"))
        .header("If-Match", &etag)
        .json(&json!({}));
    let response = app.send(request).await.assert_status(StatusCode::OK);

    assert_eq!(response.json()["state"], "deactivated");
}
