//! Verify and sync through real HTTP: the seed flow of the default fixture (GET key → ETag → status shows
//! `out_of_sync` → sync with `If-Match` → all `ok`), and every divergence fixture of `fixtures/` showing
//! its divergence and then its repair, or why it cannot be repaired.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// `(status, keystore_sync_flag, keystore_sync_flag_detail)` of one status entry.
type Entry = (&'static str, &'static str, &'static str);

const OUT_OF_SYNC: &str = "status_in_keystores[].keystore_sync_flag";

fn entries(body: &Value) -> Vec<(String, String, String)> {
    body["status_in_keystores"]
        .as_array()
        .unwrap_or_else(|| panic!("no status_in_keystores in {body}"))
        .iter()
        .map(|entry| {
            let field = |name: &str| entry[name].as_str().expect("a string").to_owned();
            (field("status"), field("keystore_sync_flag"), field("keystore_sync_flag_detail"))
        })
        .collect()
}

#[track_caller]
fn assert_entries(body: &Value, expected: &[Entry]) {
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(s, f, d)| (s.to_string(), f.to_string(), d.to_string())).collect();
    assert_eq!(entries(body), expected, "status_in_keystores of {body}");
}

#[tokio::test]
async fn seed_flow_finds_the_out_of_sync_key_and_sync_repairs_it() {
    // Arrange
    let app = TestApp::spawn().await;
    let drifted_before = app.list_managed_keys(&[(OUT_OF_SYNC, "out_of_sync")]).await.assert_status(StatusCode::OK);
    assert_eq!(ids(&drifted_before.json(), "managed_keys"), [KEY_OUT_OF_SYNC]);

    // Act: the verify-and-sync sequence of uko-semantics.md §6.
    let key = app.get_managed_key(KEY_OUT_OF_SYNC).await.assert_status(StatusCode::OK);
    let etag = key.etag();
    assert_eq!(key.json()["label"], "A-PAYMENTS-AES256-PROD");
    let before = app.get_key_distribution_status_for_keystores(KEY_OUT_OF_SYNC).await.assert_status(StatusCode::OK);
    let synced = app.sync_managed_key(KEY_OUT_OF_SYNC, Some(&etag)).await.assert_status(StatusCode::OK);
    let after = app.get_key_distribution_status_for_keystores(KEY_OUT_OF_SYNC).await.assert_status(StatusCode::OK);

    // Assert
    assert!(before.header("etag").is_none(), "status_in_keystores carries no ETag");
    assert_entries(&before.json(), &[("not_present", "out_of_sync", "active_key_is_not_active_in_keystore")]);
    assert_entries(&synced.json(), &[("active", "ok", "active_key_is_active_in_keystore")]);
    assert_eq!(after.json(), synced.json(), "the sync answer is the status after the sync");
    assert_eq!(app.managed_key_etag(KEY_OUT_OF_SYNC).await, etag, "sync does not change the key's ETag");
    let drifted_after = app.list_managed_keys(&[(OUT_OF_SYNC, "out_of_sync")]).await.json();
    assert_eq!(drifted_after["total_count"], 0);
    insta::assert_snapshot!(format!(
        "GET status_in_keystores\n{}\nPOST sync_status_in_keystores\n{}",
        before.render(),
        synced.render()
    ));
}

#[tokio::test]
async fn sync_is_idempotent_and_leaves_other_keys_untouched() {
    let app = TestApp::spawn().await;
    let mut others_before = Vec::new();
    for id in ALL_KEYS.iter().filter(|id| **id != KEY_OUT_OF_SYNC) {
        others_before.push(app.get_managed_key(id).await.text);
    }
    let etag = app.managed_key_etag(KEY_OUT_OF_SYNC).await;

    let first = app.sync_managed_key(KEY_OUT_OF_SYNC, Some(&etag)).await.assert_status(StatusCode::OK);
    let second = app.sync_managed_key(KEY_OUT_OF_SYNC, Some(&etag)).await.assert_status(StatusCode::OK);

    assert_eq!(first.text, second.text);
    let mut others_after = Vec::new();
    for id in ALL_KEYS.iter().filter(|id| **id != KEY_OUT_OF_SYNC) {
        others_after.push(app.get_managed_key(id).await.text);
    }
    assert_eq!(others_before, others_after);
}

#[tokio::test]
async fn sync_with_a_stale_etag_returns_412_and_repairs_nothing() {
    let app = TestApp::spawn().await;
    let etag = app.managed_key_etag(KEY_OUT_OF_SYNC).await;
    app.update_managed_key(KEY_OUT_OF_SYNC, Some(&etag), &serde_json::json!({"description": "changed meanwhile"}))
        .await
        .assert_status(StatusCode::OK);

    let response =
        app.sync_managed_key(KEY_OUT_OF_SYNC, Some(&etag)).await.assert_status(StatusCode::PRECONDITION_FAILED);

    assert_eq!(response.error_code(), "precondition_failed");
    let status = app.get_key_distribution_status_for_keystores(KEY_OUT_OF_SYNC).await.json();
    assert_entries(&status, &[("not_present", "out_of_sync", "active_key_is_not_active_in_keystore")]);
}

/// One divergence fixture: what the status shows before, and after a sync.
struct Divergence {
    fixture: &'static str,
    key: &'static str,
    before: &'static [Entry],
    after: &'static [Entry],
}

const KEY_1: &str = "44444444-4444-4444-8444-000000000001";
const KEY_2: &str = "44444444-4444-4444-8444-000000000002";

const DIVERGENCES: &[Divergence] = &[
    Divergence {
        fixture: "key-missing-in-keystore",
        key: KEY_1,
        before: &[("not_present", "out_of_sync", "active_key_is_not_active_in_keystore")],
        after: &[("active", "ok", "active_key_is_active_in_keystore")],
    },
    Divergence {
        fixture: "key-inactive-in-keystore",
        key: KEY_1,
        before: &[("not_active", "out_of_sync", "active_key_is_not_active_in_keystore")],
        after: &[("active", "ok", "active_key_is_active_in_keystore")],
    },
    Divergence {
        fixture: "wrong-key-in-keystore",
        key: KEY_1,
        before: &[("wrong_key", "out_of_sync", "active_key_is_not_active_in_keystore")],
        after: &[("active", "ok", "active_key_is_active_in_keystore")],
    },
    Divergence {
        fixture: "destroy-failed-in-keystore",
        key: KEY_1,
        before: &[
            ("not_present", "ok", "destroyed_key_is_not_present_in_keystore"),
            ("not_active", "out_of_sync", "destroyed_key_is_present_in_keystore"),
        ],
        after: &[
            ("not_present", "ok", "destroyed_key_is_not_present_in_keystore"),
            ("not_present", "ok", "destroyed_key_is_not_present_in_keystore"),
        ],
    },
    Divergence {
        fixture: "pre-active-key-present-in-keystore",
        key: KEY_1,
        before: &[("active", "out_of_sync", "pre_active_key_is_present_in_keystore")],
        after: &[("not_present", "ok", "pre_active_key_is_not_present_in_keystore")],
    },
    Divergence {
        fixture: "deactivated-key-still-active-in-keystore",
        key: KEY_1,
        before: &[("active", "out_of_sync", "deactivated_key_is_not_deactivated_in_keystore")],
        after: &[("not_active", "ok", "deactivated_key_is_deactivated_in_keystore")],
    },
    // Not repairable: the second keystore does not answer, so sync leaves it as it is.
    Divergence {
        fixture: "keystore-unreachable",
        key: KEY_1,
        before: &[("active", "ok", "active_key_is_active_in_keystore"), ("error", "error", "connection_error")],
        after: &[("active", "ok", "active_key_is_active_in_keystore"), ("error", "error", "connection_error")],
    },
    // Not repairable: UKO no longer manages the removed keystore; only its tombstone entry is reported.
    Divergence {
        fixture: "keystore-removed-by-user",
        key: KEY_1,
        before: &[
            ("active", "ok", "active_key_is_active_in_keystore"),
            ("active", "out_of_sync", "target_keystore_removed_by_user_contains_an_active_key"),
        ],
        after: &[
            ("active", "ok", "active_key_is_active_in_keystore"),
            ("active", "out_of_sync", "target_keystore_removed_by_user_contains_an_active_key"),
        ],
    },
    Divergence {
        fixture: "keystore-removed-by-user",
        key: KEY_2,
        before: &[
            ("not_present", "ok", "pre_active_key_is_not_present_in_keystore"),
            ("not_present", "out_of_sync", "target_keystore_removed_by_user"),
        ],
        after: &[
            ("not_present", "ok", "pre_active_key_is_not_present_in_keystore"),
            ("not_present", "out_of_sync", "target_keystore_removed_by_user"),
        ],
    },
];

#[tokio::test]
async fn every_divergence_fixture_shows_its_divergence_then_its_repair() {
    for divergence in DIVERGENCES {
        let Divergence { fixture, key, before, after } = divergence;
        // Arrange
        let app = TestApp::spawn_fixture(fixture).await;
        let etag = app.managed_key_etag(key).await;

        // Act
        let status_before = app.get_key_distribution_status_for_keystores(key).await.assert_status(StatusCode::OK);
        let drifted = app.list_managed_keys(&[(OUT_OF_SYNC, "out_of_sync")]).await.json();
        let synced = app.sync_managed_key(key, Some(&etag)).await.assert_status(StatusCode::OK);
        let status_after = app.get_key_distribution_status_for_keystores(key).await.assert_status(StatusCode::OK);

        // Assert
        assert_entries(&status_before.json(), before);
        assert_entries(&synced.json(), after);
        assert_entries(&status_after.json(), after);
        let out_of_sync_before = before.iter().any(|(_, flag, _)| *flag == "out_of_sync");
        assert_eq!(ids(&drifted, "managed_keys").contains(&key.to_string()), out_of_sync_before, "{fixture}");
        assert_eq!(app.managed_key_etag(key).await, etag, "{fixture}: sync does not change the key's ETag");
        let name = format!("divergence_{fixture}_{}", &key[key.len() - 2..]);
        insta::assert_snapshot!(
            name,
            format!(
                "GET status_in_keystores\n{}\nPOST sync_status_in_keystores\n{}",
                status_before.render(),
                synced.render()
            )
        );
    }
}

#[tokio::test]
async fn keystore_unreachable_for_two_calls_recovers_on_the_third() {
    let app = TestApp::spawn_fixture("keystore-unreachable-for-calls").await;

    let mut flags = Vec::new();
    for _ in 0..3 {
        let status = app.get_key_distribution_status_for_keystores(KEY_1).await.assert_status(StatusCode::OK);
        flags.push(entries(&status.json())[0].2.clone());
    }

    assert_eq!(flags, ["connection_error", "connection_error", "active_key_is_active_in_keystore"]);
    let health = app.get_keystore_status("33333333-3333-4333-8333-000000000001").await.json();
    assert_eq!(health["health_status"], "ok");
}

#[tokio::test]
async fn unreachable_keystore_reports_connection_error_with_an_embedded_api_error() {
    let app = TestApp::spawn_fixture("keystore-unreachable").await;

    let status = app.get_key_distribution_status_for_keystores(KEY_1).await.assert_status(StatusCode::OK);
    let health = app.get_keystore_status("33333333-3333-4333-8333-000000000002").await.assert_status(StatusCode::OK);

    let error = &status.json()["status_in_keystores"][1]["error"];
    assert_eq!(error["trace"], status.header("x-correlation-id").unwrap());
    assert!(!error["errors"].as_array().unwrap().is_empty());
    assert_eq!(health.json()["health_status"], "not_responding");
    insta::assert_snapshot!(format!("{}\n{}", status.render(), health.render()));
}

#[tokio::test]
async fn flapping_keystore_alternates_between_error_and_ok_as_its_seed_decides() {
    let app = TestApp::spawn_fixture("keystore-flapping").await;

    let mut flags = Vec::new();
    for _ in 0..8 {
        let status = app.get_key_distribution_status_for_keystores(KEY_1).await.assert_status(StatusCode::OK);
        flags.push(entries(&status.json())[0].1.clone());
    }

    assert!(flags.iter().any(|f| f == "error") && flags.iter().any(|f| f == "ok"), "{flags:?}");
    insta::assert_snapshot!(flags.join("\n"));
}
