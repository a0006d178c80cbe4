//! ETags (uko-semantics.md §11): every mutation returns a new one, reads never change it, it equals
//! `updated_at` to the second, a mutation's ETag can be used for the next mutation without a GET, and
//! concurrent writers with the same ETag cannot lose an update.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

/// Every resource of the default fixture that has an ETag, by its GET path.
fn resource_paths() -> Vec<String> {
    let mut paths = vec![format!("/vaults/{VAULT}")];
    paths.extend(
        [TEMPLATE_INTERNAL, TEMPLATE_AWS, TEMPLATE_AZURE, TEMPLATE_KEY_PROTECT, TEMPLATE_GOOGLE]
            .map(|id| format!("/templates/{id}")),
    );
    paths.extend(
        [KEYSTORE_INTERNAL, KEYSTORE_AWS, KEYSTORE_AZURE, KEYSTORE_KEY_PROTECT, KEYSTORE_GOOGLE]
            .map(|id| format!("/keystores/{id}")),
    );
    paths.extend(ALL_KEYS.map(|id| format!("/managed_keys/{id}")));
    paths
}

async fn etags(app: &TestApp) -> Vec<(String, String)> {
    let mut etags = Vec::new();
    for path in resource_paths() {
        let response = app.send(app.request(Method::GET, &path)).await.assert_status(StatusCode::OK);
        etags.push((path, response.etag()));
    }
    etags
}

#[tokio::test]
async fn etag_is_updated_at_to_the_second_for_every_resource() {
    let app = TestApp::spawn().await;

    for path in resource_paths() {
        let response = app.send(app.request(Method::GET, &path)).await.assert_status(StatusCode::OK);

        let updated_at = response.json()["updated_at"].as_str().expect("updated_at").to_owned();
        assert_eq!(response.etag(), etag_of(&updated_at), "{path}");
        assert!(redact::is_etag(&response.etag()), "{path}: unquoted YYYY-MM-DDTHH:MM:SSZ");
    }
}

#[tokio::test]
async fn reads_never_change_an_etag() {
    let app = TestApp::spawn().await;
    let before = etags(&app).await;

    for key in ALL_KEYS {
        app.get_managed_key(key).await.assert_status(StatusCode::OK);
        app.get_key_distribution_status_for_keystores(key).await.assert_status(StatusCode::OK);
        app.list_managed_key_versions(key, &[]).await.assert_status(StatusCode::OK);
        app.list_associated_resources_for_managed_key(key, &[]).await.assert_status(StatusCode::OK);
    }
    for keystore in [KEYSTORE_INTERNAL, KEYSTORE_AWS, KEYSTORE_AZURE, KEYSTORE_KEY_PROTECT, KEYSTORE_GOOGLE] {
        app.get_keystore_status(keystore).await.assert_status(StatusCode::OK);
        app.list_managed_keys_from_keystore(keystore, &[]).await.assert_status(StatusCode::OK);
        app.list_associated_resources_for_target_keystore(keystore, &[]).await.assert_status(StatusCode::OK);
    }
    app.list_managed_keys(&[("status_in_keystores[].keystore_sync_flag", "out_of_sync")]).await;
    app.list_key_templates(&[]).await;
    app.list_keystores(&[]).await;
    app.list_vaults(&[]).await;
    app.create_keystore(
        &json!({"type": "ibm_cloud_kms", "ibm_variant": "internal", "vault": {"id": VAULT}, "name": "Dry"}),
        Some(true),
    )
    .await
    .assert_status(StatusCode::OK);
    let key_etag = app.managed_key_etag(KEY_AZURE).await;
    app.update_managed_key_from_template(KEY_AZURE, Some(&key_etag), Some(true)).await.assert_status(StatusCode::OK);

    assert_eq!(etags(&app).await, before);
}

#[tokio::test]
async fn every_mutation_returns_a_new_etag_and_invalidates_the_old_one() {
    let app = TestApp::spawn().await;
    let key_body = internal_key_body("etag-key");
    let created = app.create_managed_key(&key_body).await.assert_status(StatusCode::CREATED);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let mut etag = created.etag();

    // Each step uses the ETag the previous mutation returned (chaining, no GET in between).
    let steps = ["update", "deactivate", "activate", "rotate", "update_from_template", "deactivate", "destroy"];
    for step in steps {
        let response = match step {
            "update" => app.update_managed_key(&id, Some(&etag), &json!({"description": "step"})).await,
            "deactivate" => app.deactivate_managed_key(&id, Some(&etag)).await,
            "activate" => app.activate_managed_key(&id, Some(&etag)).await,
            "rotate" => app.rotate_managed_key(&id, Some(&etag)).await,
            "update_from_template" => app.update_managed_key_from_template(&id, Some(&etag), None).await,
            "destroy" => app.destroy_managed_key(&id, Some(&etag)).await,
            _ => unreachable!(),
        }
        .assert_status(StatusCode::OK);
        response.check_invariants();
        let new_etag = response.etag();
        assert!(new_etag > etag, "{step}: the ETag must move forward ({etag} -> {new_etag})");
        assert_eq!(app.managed_key_etag(&id).await, new_etag, "{step}: GET agrees with the mutation's ETag");
        let stale = app.update_managed_key(&id, Some(&etag), &json!({"description": "late"})).await;
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{step}: the previous ETag is stale");
        etag = new_etag;
    }
    app.delete_managed_key(&id, Some(&etag)).await.assert_status(StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn chained_etags_drive_templates_keystores_and_vaults_without_a_get() {
    let app = TestApp::spawn().await;

    // Vault: create, update, delete.
    let vault = app.create_vault(&json!({"name": "Chained"})).await.assert_status(StatusCode::CREATED);
    let vault_id = vault.json()["id"].as_str().unwrap().to_owned();
    let updated = app.update_vault(&vault_id, Some(&vault.etag()), &json!({"description": "x"})).await;
    let updated = updated.assert_status(StatusCode::OK);
    assert_ne!(updated.etag(), vault.etag());

    // Keystore in that vault: create, update, delete.
    let keystore = app
        .create_keystore(
            &json!({"type": "ibm_cloud_kms", "ibm_variant": "internal", "vault": {"id": vault_id}, "name": "Chained"}),
            None,
        )
        .await
        .assert_status(StatusCode::CREATED);
    let keystore_id = keystore.json()["id"].as_str().unwrap().to_owned();
    let keystore_updated = app
        .update_keystore(&keystore_id, Some(&keystore.etag()), &json!({"description": "x"}))
        .await
        .assert_status(StatusCode::OK);
    app.delete_keystore(&keystore_id, Some(&keystore_updated.etag()), None).await.assert_status(StatusCode::NO_CONTENT);

    // Template in that vault: create, update, archive, unarchive, archive, delete.
    let template = app
        .create_key_template(&json!({
            "vault": {"id": vault_id},
            "name": "CHAINED",
            "key": {"size": "256", "algorithm": "aes", "activation_date": "P1W", "expiration_date": "P1Y", "state": "active"},
            "keystores": [{"type": "ibm_cloud_kms", "group": "Chained"}]
        }))
        .await
        .assert_status(StatusCode::CREATED);
    let template_id = template.json()["id"].as_str().unwrap().to_owned();
    let mut etag = template.etag();
    for step in ["update", "archive", "unarchive", "archive"] {
        let response = match step {
            "update" => app.update_key_template(&template_id, Some(&etag), &json!({"description": "x"})).await,
            "archive" => app.archive_key_template(&template_id, Some(&etag)).await,
            _ => app.unarchive_key_template(&template_id, Some(&etag)).await,
        }
        .assert_status(StatusCode::OK);
        assert!(response.etag() > etag, "{step}");
        etag = response.etag();
    }

    // An archived template goes with its vault (uko-semantics.md §8).
    let vault_etag = app.get_vault(&vault_id).await.etag();
    assert_eq!(vault_etag, updated.etag(), "children do not change the vault's ETag");
    app.delete_vault(&vault_id, Some(&vault_etag)).await.assert_status(StatusCode::NO_CONTENT);
    app.get_key_template(&template_id).await.assert_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sync_keeps_the_etag_unless_the_fixture_says_otherwise() {
    let app = TestApp::spawn().await;
    let etag = app.managed_key_etag(KEY_OUT_OF_SYNC).await;
    let synced = app.sync_managed_key(KEY_OUT_OF_SYNC, Some(&etag)).await.assert_status(StatusCode::OK);
    assert_eq!((synced.etag(), app.managed_key_etag(KEY_OUT_OF_SYNC).await), (etag.clone(), etag.clone()));

    let mut fixture = default_fixture_json();
    fixture["settings"] = json!({"sync_bumps_etag": true});
    let bumping = TestApp::builder().fixture_value(fixture_from_value(&fixture)).spawn().await;
    let synced = bumping.sync_managed_key(KEY_OUT_OF_SYNC, Some(&etag)).await.assert_status(StatusCode::OK);
    assert_ne!(synced.etag(), etag);
    assert_eq!(synced.etag(), bumping.managed_key_etag(KEY_OUT_OF_SYNC).await, "the sync answer carries the new ETag");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_with_the_same_etag_let_exactly_one_win() {
    // Arrange
    let app = Arc::new(TestApp::spawn().await);
    let etag = app.managed_key_etag(KEY_ACTIVE).await;
    let start = Arc::new(tokio::sync::Barrier::new(16));

    // Act
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..16 {
        let (app, etag, start) = (app.clone(), etag.clone(), start.clone());
        writers.spawn(async move {
            let body = json!({"description": format!("writer {writer}")});
            start.wait().await;
            (writer, app.update_managed_key(KEY_ACTIVE, Some(&etag), &body).await)
        });
    }
    let mut winners = Vec::new();
    let mut refused = 0;
    while let Some(result) = writers.join_next().await {
        let (writer, response) = result.expect("the writer task finishes");
        response.check_invariants();
        match response.status {
            StatusCode::OK => winners.push((writer, response)),
            StatusCode::PRECONDITION_FAILED => refused += 1,
            other => panic!("writer {writer} got {other}: {}", response.text),
        }
    }

    // Assert
    assert_eq!((winners.len(), refused), (1, 15), "exactly one 200, the rest 412");
    let (writer, winner) = &winners[0];
    let current = app.get_managed_key(KEY_ACTIVE).await;
    assert_eq!(current.json()["description"], format!("writer {writer}"), "the winner's update is the one kept");
    assert_eq!(current.etag(), winner.etag());
}

#[tokio::test]
async fn wall_clock_instances_keep_the_etag_format() {
    let mut fixture = default_fixture_json();
    fixture["clock"]["mode"] = json!("wall");
    let app = TestApp::builder().fixture_value(fixture_from_value(&fixture)).spawn().await;

    let response = app.create_vault(&json!({"name": "Wall clock"})).await.assert_status(StatusCode::CREATED);

    let etag = response.etag();
    let rendered = response.render_with(|body| {
        for field in ["created_at", "updated_at"] {
            redact::strings_named(body, field, &redact::timestamp);
        }
    });
    insta::assert_snapshot!(rendered.replace(&etag, &redact::etag(&etag)));
}

/// The 35 operations of uko-api-v4.md §2 in table order, with the success status and whether the
/// answer carries an `ETag` (Y/y in the table; SyncManagedKey is unknown there, the mock sends the key's)
/// and a `Location` (creates).
const OPERATIONS: [(&str, u16, bool, bool); 35] = [
    ("ListManagedKeys", 200, false, false),
    ("CreateManagedKey", 201, true, true),
    ("DeleteManagedKey", 204, false, false),
    ("GetManagedKey", 200, true, false),
    ("UpdateManagedKey", 200, true, false),
    ("ListAssociatedResourcesForManagedKey", 200, false, false),
    ("ListManagedKeyVersions", 200, false, false),
    ("GetKeyDistributionStatusForKeystores", 200, false, false),
    ("UpdateManagedKeyFromTemplate", 200, true, false),
    ("ActivateManagedKey", 200, true, false),
    ("DeactivateManagedKey", 200, true, false),
    ("DestroyManagedKey", 200, true, false),
    ("SyncManagedKey", 200, true, false),
    ("RotateManagedKey", 200, true, false),
    ("ListKeyTemplates", 200, false, false),
    ("CreateKeyTemplate", 201, true, true),
    ("DeleteKeyTemplate", 204, false, false),
    ("GetKeyTemplate", 200, true, false),
    ("UpdateKeyTemplate", 200, true, false),
    ("ArchiveKeyTemplate", 200, true, false),
    ("UnarchiveKeyTemplate", 200, true, false),
    ("ExposeKeyTemplate", 200, true, false),
    ("ListKeystores", 200, false, false),
    ("CreateKeystore", 201, true, true),
    ("DeleteKeystore", 204, false, false),
    ("GetKeystore", 200, true, false),
    ("UpdateKeystore", 200, true, false),
    ("ListAssociatedResourcesForTargetKeystore", 200, false, false),
    ("GetKeystoreStatus", 200, false, false),
    ("ListManagedKeysFromKeystore", 200, false, false),
    ("ListVaults", 200, false, false),
    ("CreateVault", 201, true, true),
    ("DeleteVault", 204, false, false),
    ("GetVault", 200, true, false),
    ("UpdateVault", 200, true, false),
];

/// Performs one operation successfully on a fresh default fixture, with whatever it needs first.
async fn perform(app: &TestApp, operation: &str) -> TestResponse {
    let description = json!({"description": "changed"});
    let template_body = |name: &str, types: &[&str]| {
        json!({
            "vault": {"id": VAULT},
            "name": name,
            "type": types,
            "key": {"size": "256", "algorithm": "aes", "activation_date": "P1W", "expiration_date": "P1Y", "state": "active"},
            "keystores": [{"type": "aws_kms", "group": "Production-AWS"}]
        })
    };
    let internal_keystore =
        json!({"type": "ibm_cloud_kms", "ibm_variant": "internal", "vault": {"id": VAULT}, "name": "Extra"});
    match operation {
        "ListManagedKeys" => app.list_managed_keys(&[]).await,
        "CreateManagedKey" => app.create_managed_key(&internal_key_body("table-key")).await,
        "DeleteManagedKey" => {
            app.delete_managed_key(KEY_DESTROYED, Some(&app.managed_key_etag(KEY_DESTROYED).await)).await
        }
        "GetManagedKey" => app.get_managed_key(KEY_ACTIVE).await,
        "UpdateManagedKey" => {
            app.update_managed_key(KEY_ACTIVE, Some(&app.managed_key_etag(KEY_ACTIVE).await), &description).await
        }
        "ListAssociatedResourcesForManagedKey" => app.list_associated_resources_for_managed_key(KEY_COS, &[]).await,
        "ListManagedKeyVersions" => app.list_managed_key_versions(KEY_COS, &[]).await,
        "GetKeyDistributionStatusForKeystores" => app.get_key_distribution_status_for_keystores(KEY_ACTIVE).await,
        "UpdateManagedKeyFromTemplate" => {
            app.update_managed_key_from_template(KEY_ACTIVE, Some(&app.managed_key_etag(KEY_ACTIVE).await), None).await
        }
        "ActivateManagedKey" => {
            app.activate_managed_key(KEY_PRE_ACTIVE, Some(&app.managed_key_etag(KEY_PRE_ACTIVE).await)).await
        }
        "DeactivateManagedKey" => {
            app.deactivate_managed_key(KEY_ACTIVE, Some(&app.managed_key_etag(KEY_ACTIVE).await)).await
        }
        "DestroyManagedKey" => {
            app.destroy_managed_key(KEY_DEACTIVATED, Some(&app.managed_key_etag(KEY_DEACTIVATED).await)).await
        }
        "SyncManagedKey" => {
            app.sync_managed_key(KEY_OUT_OF_SYNC, Some(&app.managed_key_etag(KEY_OUT_OF_SYNC).await)).await
        }
        "RotateManagedKey" => app.rotate_managed_key(KEY_ACTIVE, Some(&app.managed_key_etag(KEY_ACTIVE).await)).await,
        "ListKeyTemplates" => app.list_key_templates(&[]).await,
        "CreateKeyTemplate" => app.create_key_template(&template_body("TABLE", &["user_defined"])).await,
        "DeleteKeyTemplate" | "ExposeKeyTemplate" => {
            let created = app.create_key_template(&template_body("TABLE", &["shadow"])).await;
            let id = created.json()["id"].as_str().unwrap().to_owned();
            match operation {
                "DeleteKeyTemplate" => app.delete_key_template(&id, Some(&created.etag())).await,
                _ => app.expose_key_template(&id, Some(&created.etag())).await,
            }
        }
        "GetKeyTemplate" => app.get_key_template(TEMPLATE_AWS).await,
        "UpdateKeyTemplate" => {
            app.update_key_template(TEMPLATE_AWS, Some(&app.get_key_template(TEMPLATE_AWS).await.etag()), &description)
                .await
        }
        "ArchiveKeyTemplate" => {
            app.archive_key_template(TEMPLATE_AWS, Some(&app.get_key_template(TEMPLATE_AWS).await.etag())).await
        }
        "UnarchiveKeyTemplate" => {
            let archived =
                app.archive_key_template(TEMPLATE_AWS, Some(&app.get_key_template(TEMPLATE_AWS).await.etag())).await;
            app.unarchive_key_template(TEMPLATE_AWS, Some(&archived.etag())).await
        }
        "ListKeystores" => app.list_keystores(&[]).await,
        "CreateKeystore" => app.create_keystore(&internal_keystore, None).await,
        "DeleteKeystore" => {
            let created = app.create_keystore(&internal_keystore, None).await;
            let id = created.json()["id"].as_str().unwrap().to_owned();
            app.delete_keystore(&id, Some(&created.etag()), None).await
        }
        "GetKeystore" => app.get_keystore(KEYSTORE_AWS).await,
        "UpdateKeystore" => {
            app.update_keystore(KEYSTORE_AWS, Some(&app.get_keystore(KEYSTORE_AWS).await.etag()), &description).await
        }
        "ListAssociatedResourcesForTargetKeystore" => {
            app.list_associated_resources_for_target_keystore(KEYSTORE_KEY_PROTECT, &[]).await
        }
        "GetKeystoreStatus" => app.get_keystore_status(KEYSTORE_AWS).await,
        "ListManagedKeysFromKeystore" => app.list_managed_keys_from_keystore(KEYSTORE_INTERNAL, &[]).await,
        "ListVaults" => app.list_vaults(&[]).await,
        "CreateVault" => app.create_vault(&json!({"name": "Table"})).await,
        "DeleteVault" => {
            let created = app.create_vault(&json!({"name": "Table"})).await;
            let id = created.json()["id"].as_str().unwrap().to_owned();
            app.delete_vault(&id, Some(&created.etag())).await
        }
        "GetVault" => app.get_vault(VAULT).await,
        "UpdateVault" => app.update_vault(VAULT, Some(&app.get_vault(VAULT).await.etag()), &description).await,
        other => panic!("no such operation {other}"),
    }
}

#[tokio::test]
async fn every_operation_sends_etag_and_location_exactly_as_the_reference_says() {
    let mut table = String::new();
    for (number, (operation, status, etag, location)) in OPERATIONS.into_iter().enumerate() {
        let app = TestApp::spawn().await;

        let response = perform(&app, operation).await;

        response.check_invariants();
        assert_eq!(response.status.as_u16(), status, "{operation}: {}", response.text);
        assert_eq!(response.header("etag").is_some(), etag, "{operation}: ETag");
        assert_eq!(response.header("location").is_some(), location, "{operation}: Location");
        assert_eq!(response.header("content-type").is_some(), status != 204, "{operation}: Content-Type");
        let mark = |present: bool| if present { "ETag" } else { "-" };
        table.push_str(&format!(
            "{:>2} {operation:<41} {} {:<4} {}\n",
            number + 1,
            response.status.as_u16(),
            mark(etag),
            if location { "Location" } else { "-" }
        ));
    }

    insta::assert_snapshot!(table);
}
