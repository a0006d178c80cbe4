//! The control plane under `/__mock/v1` against a real in-process server: every endpoint, the keystore
//! simulation seen through the UKO API, the fault rules as a client meets them, isolation of instances,
//! the admin token, and replay determinism.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{TestApp, TestAppBuilder, TestResponse};

const ACTIVE_INTERNAL_KEY: &str = "44444444-4444-4444-8444-000000000001";
const DEACTIVATED_INTERNAL_KEY: &str = "44444444-4444-4444-8444-000000000002";
const OUT_OF_SYNC_AWS_KEY: &str = "44444444-4444-4444-8444-000000000003";
const PRE_ACTIVE_GOOGLE_KEY: &str = "44444444-4444-4444-8444-000000000008";
const INTERNAL_KEYSTORE: &str = "33333333-3333-4333-8333-000000000001";
const AWS_KEYSTORE: &str = "33333333-3333-4333-8333-000000000002";
const GOOGLE_KEYSTORE: &str = "33333333-3333-4333-8333-000000000005";
const VAULT: &str = "11111111-1111-4111-8111-111111111111";

const CONCURRENT_WRITER_FIXTURE: &str = include_str!("../../../fixtures/concurrent-writer-after-read.json");
const UNREACHABLE_FIXTURE: &str = include_str!("../../../fixtures/keystore-unreachable.json");

// Arrange helpers: the API tests' server and client, with answers read as JSON, and paths that name the
// control plane or the UKO surface in full (`/__mock/v1/...`, `/instances/{id}/api/v4/...`).

struct Mock {
    app: TestApp,
}

/// One answer, read whole.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl From<TestResponse> for Answer {
    fn from(response: TestResponse) -> Answer {
        let body = serde_json::from_str(&response.text).unwrap_or(Value::Null);
        Answer { status: response.status, headers: response.headers, body }
    }
}

impl Answer {
    fn etag(&self) -> String {
        self.headers.get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }

    fn error_code(&self) -> &str {
        self.body["errors"][0]["code"].as_str().unwrap_or_default()
    }

    fn error_message(&self) -> &str {
        self.body["errors"][0]["message"].as_str().unwrap_or_default()
    }

    fn error_target(&self) -> &str {
        self.body["errors"][0]["target"]["name"].as_str().unwrap_or_default()
    }

    #[track_caller]
    fn assert_api_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["status_code"], status.as_u16(), "{}", self.body);
        assert_eq!(self.error_code(), code, "{}", self.body);
        assert!(self.body["trace"].is_string() && !self.error_message().is_empty(), "{}", self.body);
    }
}

impl Mock {
    async fn start() -> Mock {
        Mock { app: TestApp::spawn().await }
    }

    async fn on(builder: TestAppBuilder) -> Mock {
        Mock { app: builder.spawn().await }
    }

    /// A request to a full path (`/__mock/v1/...` or `/api/v4/...`).
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.app.request_url(method, &format!("{}{path}", self.app.base_url))
    }

    async fn call(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Answer {
        let mut request = self.request(method, path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.app.send(request).await.into()
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, &[], None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        self.call(Method::POST, path, &[], Some(body)).await
    }

    async fn put(&self, path: &str, body: &Value) -> Answer {
        self.call(Method::PUT, path, &[], Some(body)).await
    }

    async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, &[], None).await
    }

    /// Posts raw text (fixture bodies) to a control path.
    async fn post_text(&self, path: &str, text: &str) -> Answer {
        let request = self.request(Method::POST, path).header("content-type", "application/json").body(text.to_owned());
        self.app.send(request).await.into()
    }

    async fn put_text(&self, path: &str, text: &str) -> Answer {
        let request = self.request(Method::PUT, path).header("Content-Type", "application/json");
        self.app.send(request.body(text.to_owned())).await.into()
    }

    /// The current ETag of a managed key (prefix `""` or `/instances/{id}`).
    async fn key_etag(&self, prefix: &str, key_id: &str) -> String {
        let answer = self.get(&format!("{prefix}/api/v4/managed_keys/{key_id}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.etag()
    }

    /// A key action (`activate`, `sync_status_in_keystores`, …) with `If-Match`.
    async fn key_action(&self, key_id: &str, action: &str, etag: &str) -> Answer {
        let path = format!("/api/v4/managed_keys/{key_id}/{action}");
        self.call(Method::POST, &path, &[("If-Match", etag)], None).await
    }

    /// Reads the key's ETag, then runs the action with it.
    async fn key_action_fresh(&self, key_id: &str, action: &str) -> Answer {
        let etag = self.key_etag("", key_id).await;
        self.key_action(key_id, action, &etag).await
    }

    /// The status entry of one keystore for one key, from GetKeyDistributionStatusForKeystores.
    async fn status_entry(&self, prefix: &str, key_id: &str, keystore_id: &str) -> Value {
        let answer = self.get(&format!("{prefix}/api/v4/managed_keys/{key_id}/status_in_keystores")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let entries = answer.body["status_in_keystores"].as_array().unwrap().clone();
        entries.into_iter().find(|e| e["keystore"]["id"] == keystore_id).unwrap()
    }

    async fn add_fault(&self, rule: Value) -> String {
        let answer = self.post("/__mock/v1/faults", &rule).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body["id"].as_str().unwrap().to_owned()
    }

    async fn journal(&self, query: &str) -> Value {
        let answer = self.get(&format!("/__mock/v1/journal{query}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body
    }
}

#[track_caller]
fn flags(entry: &Value) -> (String, String, String) {
    let text = |name: &str| entry[name].as_str().unwrap_or_default().to_owned();
    (text("status"), text("keystore_sync_flag"), text("keystore_sync_flag_detail"))
}

fn triple(status: &str, flag: &str, detail: &str) -> (String, String, String) {
    (status.to_owned(), flag.to_owned(), detail.to_owned())
}

// Instances.

#[tokio::test]
async fn health_is_ready_and_lists_the_instances() {
    let mock = Mock::start().await;
    let health = mock.get("/__mock/v1/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    assert_eq!(health.body["instances"], json!(["default"]));
    let listed = mock.get("/__mock/v1/instances").await;
    assert_eq!(listed.body, json!({"instances": ["default"]}));
}

#[tokio::test]
async fn control_routes_are_unreachable_under_the_api_prefix() {
    let mock = Mock::start().await;
    mock.get("/api/v4/__mock/v1/health").await.assert_api_error(StatusCode::NOT_FOUND, "not_found");
    mock.get("/__mock/v1/no_such_route").await.assert_api_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn instances_are_created_from_a_fixture_replaced_and_deleted() {
    let mock = Mock::start().await;

    let created = mock.put_text("/__mock/v1/instances/ci-1", "").await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["managed_keys"], 8, "an empty body serves the served fixture");
    let listed = mock.get("/__mock/v1/instances").await;
    assert_eq!(listed.body["instances"], json!(["ci-1", "default"]));

    let replaced = mock.put_text("/__mock/v1/instances/ci-1", UNREACHABLE_FIXTURE).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    let keys = mock.get("/instances/ci-1/api/v4/managed_keys").await;
    assert_eq!(keys.body["total_count"], 1);

    let broken = mock.put_text("/__mock/v1/instances/ci-2", "{\"description\": \"x\", \"vaults\": 3}").await;
    broken.assert_api_error(StatusCode::BAD_REQUEST, "invalid_fixture");
    assert_eq!(broken.error_target(), "vaults");

    assert_eq!(mock.delete("/__mock/v1/instances/ci-1").await.status, StatusCode::NO_CONTENT);
    mock.delete("/__mock/v1/instances/ci-1").await.assert_api_error(StatusCode::NOT_FOUND, "not_found");
    mock.delete("/__mock/v1/instances/default").await.assert_api_error(StatusCode::CONFLICT, "conflict");
    mock.get("/__mock/v1/instances/.hidden/journal")
        .await
        .assert_api_error(StatusCode::BAD_REQUEST, "invalid_path_parameter");
    assert_eq!(mock.get("/__mock/v1/instances").await.body["instances"], json!(["default"]));
}

#[tokio::test]
async fn isolated_instances_do_not_see_each_others_state_faults_or_journal() {
    let mock = Mock::start().await;

    // Act: a vault and a fault rule in instance a, a divergence in instance b.
    let vault = mock.post("/instances/a/api/v4/vaults", &json!({"name": "Only in a"})).await;
    assert_eq!(vault.status, StatusCode::CREATED);
    let rule = json!({"operation": "ListKeystores", "effect": {"kind": "http_error", "status": 503}});
    assert_eq!(mock.post("/__mock/v1/instances/a/faults", &rule).await.status, StatusCode::CREATED);
    let copy = json!({"copy": "absent"});
    let path = format!("/__mock/v1/instances/b/keystores/{INTERNAL_KEYSTORE}/copies/{ACTIVE_INTERNAL_KEY}");
    assert_eq!(mock.put(&path, &copy).await.status, StatusCode::OK);

    // Assert
    assert_eq!(mock.get("/instances/a/api/v4/vaults").await.body["total_count"], 2);
    assert_eq!(mock.get("/instances/b/api/v4/vaults").await.body["total_count"], 1);
    assert_eq!(mock.get("/api/v4/vaults").await.body["total_count"], 1);
    assert_eq!(mock.get("/instances/a/api/v4/keystores").await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(mock.get("/instances/b/api/v4/keystores").await.status, StatusCode::OK);
    assert_eq!(mock.get("/__mock/v1/instances/b/faults").await.body["rules"], json!([]));
    let in_b = mock.status_entry("/instances/b", ACTIVE_INTERNAL_KEY, INTERNAL_KEYSTORE).await;
    let in_a = mock.status_entry("/instances/a", ACTIVE_INTERNAL_KEY, INTERNAL_KEYSTORE).await;
    assert_eq!(in_b["keystore_sync_flag"], "out_of_sync");
    assert_eq!(in_a["keystore_sync_flag"], "ok");
    let operations = |instance: &str| {
        let prefix = if instance == "default" { String::new() } else { format!("/instances/{instance}") };
        let url = format!("{}/__mock/v1{prefix}/journal", mock.app.base_url);
        let client = mock.app.client.clone();
        async move {
            let journal: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            journal["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["operation"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let distribution = "GetKeyDistributionStatusForKeystores";
    assert_eq!(operations("a").await, ["CreateVault", "ListVaults", "ListKeystores", distribution]);
    assert_eq!(operations("b").await, ["ListVaults", "ListKeystores", distribution]);
    assert_eq!(operations("default").await, ["ListVaults"]);
}

// Whole state: reset, fixture, export, settings, associated resources.

#[tokio::test]
async fn reset_brings_the_instance_back_to_the_served_fixture() {
    let mock = Mock::start().await;
    mock.post("/api/v4/vaults", &json!({"name": "Temporary"})).await;
    mock.add_fault(json!({"operation": "ListVaults", "effect": {"kind": "latency", "millis": 1}})).await;
    mock.post("/__mock/v1/clock/advance", &json!({"seconds": 3600})).await;
    let before = mock.get("/__mock/v1/journal").await.body;
    assert_eq!(before["entries"].as_array().unwrap().len(), 1, "{before}");

    let reset = mock.post("/__mock/v1/reset", &json!({})).await;

    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert_eq!(reset.body["vaults"], 1);
    assert_eq!(reset.body["fault_rules"], 0);
    assert_eq!(reset.body["now"], "2026-01-01T09:00:00.000Z");
    // A reset is a fresh instance: the journal starts empty, and its sequence numbers go on (a reader
    // polling with `since` sees only what follows the reset).
    let after = mock.get("/__mock/v1/journal").await.body;
    assert_eq!(after["entries"], json!([]), "{after}");
    assert_eq!(after["next_seq"], before["next_seq"], "{after}");
    assert_eq!(mock.get("/api/v4/vaults").await.body["total_count"], 1);
    let journal = mock.get("/__mock/v1/journal").await.body;
    assert_eq!(journal["entries"][0]["seq"], before["next_seq"], "{journal}");
}

#[tokio::test]
async fn fixture_replace_loads_a_scenario_and_merge_adds_and_overwrites_by_id() {
    let mock = Mock::start().await;

    let replaced = mock.post_text("/__mock/v1/fixture?mode=replace", UNREACHABLE_FIXTURE).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(replaced.body["keystores"], 2);
    assert_eq!(mock.get("/api/v4/managed_keys").await.body["total_count"], 1);

    // Merge: one more vault, a renamed existing vault, a settings field; the rest stays.
    let merge = json!({
        "description": "a second vault and a renamed first one",
        "vaults": [
            {"id": VAULT, "name": "Renamed", "created_at": "2025-09-01T08:00:00Z", "updated_at": "2025-09-01T08:00:00Z"},
            {"id": "11111111-1111-4111-8111-222222222222", "name": "Second", "created_at": "2025-09-01T08:00:00Z", "updated_at": "2025-09-01T08:00:00Z"}
        ],
        "settings": {"sync_bumps_etag": true}
    });
    let merged = mock.post_text("/__mock/v1/fixture?mode=merge", &merge.to_string()).await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);
    assert_eq!(merged.body["vaults"], 2);
    assert_eq!(merged.body["keystores"], 2);
    assert_eq!(mock.get(&format!("/api/v4/vaults/{VAULT}")).await.body["name"], "Renamed");
    let settings = mock.get("/__mock/v1/settings").await.body;
    assert_eq!(settings["sync_bumps_etag"], true);
    assert_eq!(settings["if_match_wildcard"], true, "fields the merge does not name stay");
    let frankfurt = mock.status_entry("", "44444444-4444-4444-8444-000000000001", INTERNAL_KEYSTORE).await;
    assert_eq!(flags(&frankfurt).1, "ok", "the scenario's first AWS keystore still holds the key");
    let ireland = mock.status_entry("", "44444444-4444-4444-8444-000000000001", AWS_KEYSTORE).await;
    assert_eq!(flags(&ireland).1, "error", "the scenario's second AWS keystore is still unreachable");
}

#[tokio::test]
async fn bad_fixture_is_refused_with_its_json_path_and_changes_nothing() {
    let mock = Mock::start().await;
    let before = mock.get("/__mock/v1/export").await.body;
    let mut replacement: Value = serde_json::from_str(UNREACHABLE_FIXTURE).unwrap();
    replacement["managed_keys"][0]["template_id"] = json!("99999999-9999-4999-8999-999999999999");
    let mut key = replacement["managed_keys"][0].clone();
    key["id"] = json!("44444444-4444-4444-8444-000000000099");
    let addition = json!({"description": "a key of an unknown template", "managed_keys": [key]});

    for (mode, fixture) in [("replace", replacement), ("merge", addition)] {
        let refused = mock.post_text(&format!("/__mock/v1/fixture?mode={mode}"), &fixture.to_string()).await;
        refused.assert_api_error(StatusCode::BAD_REQUEST, "invalid_fixture");
        assert_eq!(refused.error_target(), "managed_keys[0].template_id", "{mode}");
        assert!(refused.error_message().contains("managed_keys[0].template_id"), "{}", refused.error_message());
    }
    let truncated = &UNREACHABLE_FIXTURE[..UNREACHABLE_FIXTURE.len() / 2];
    mock.post_text("/__mock/v1/fixture", truncated).await.assert_api_error(StatusCode::BAD_REQUEST, "invalid_fixture");
    let bad_mode = mock.post_text("/__mock/v1/fixture?mode=append", UNREACHABLE_FIXTURE).await;
    bad_mode.assert_api_error(StatusCode::BAD_REQUEST, "invalid_query_parameter");

    assert_eq!(mock.get("/__mock/v1/export").await.body, before);
}

#[tokio::test]
async fn export_loads_back_into_an_equal_instance() {
    // Arrange: state moved by the API and by the control plane.
    let mock = Mock::start().await;
    mock.post("/api/v4/vaults", &json!({"name": "Exported"})).await;
    let deactivated = mock.key_action_fresh(ACTIVE_INTERNAL_KEY, "deactivate").await;
    assert_eq!(deactivated.status, StatusCode::OK);
    let path = format!("/__mock/v1/keystores/{GOOGLE_KEYSTORE}/copies/{PRE_ACTIVE_GOOGLE_KEY}");
    mock.put(&path, &json!({"copy": "wrong_key"})).await;
    mock.add_fault(json!({"operation": "GetVault", "trigger": {"kind": "probability", "probability": 0.5}, "effect": {"kind": "http_error", "status": 500}})).await;
    mock.post("/__mock/v1/clock/advance", &json!({"seconds": 90})).await;
    let key_before = mock.get(&format!("/api/v4/managed_keys/{ACTIVE_INTERNAL_KEY}")).await;

    // Act
    let exported = mock.get("/__mock/v1/export").await;
    assert_eq!(exported.status, StatusCode::OK);
    assert_eq!(exported.body["keystore_contents"], "explicit");
    let loaded = mock.post_text("/__mock/v1/fixture?mode=replace", &exported.body.to_string()).await;
    assert_eq!(loaded.status, StatusCode::OK, "{}", loaded.body);

    // Assert
    assert_eq!(mock.get("/__mock/v1/export").await.body, exported.body);
    let key_after = mock.get(&format!("/api/v4/managed_keys/{ACTIVE_INTERNAL_KEY}")).await;
    assert_eq!(key_after.etag(), key_before.etag());
    assert_eq!(key_after.body, key_before.body);
}

#[tokio::test]
async fn settings_are_read_and_patched_field_by_field() {
    let mock = Mock::start().await;
    let settings = mock.get("/__mock/v1/settings").await;
    assert_eq!(settings.body["sync_bumps_etag"], false);
    assert_eq!(settings.body["min_deactivated_before_destroy_seconds"], 0);

    let patched = mock.call(Method::PATCH, "/__mock/v1/settings", &[], Some(&json!({"sync_bumps_etag": true}))).await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(patched.body["sync_bumps_etag"], true);
    assert_eq!(patched.body["region"], "us-south");

    // With sync_bumps_etag, a sync returns a new ETag.
    let etag = mock.key_etag("", OUT_OF_SYNC_AWS_KEY).await;
    let synced = mock.key_action(OUT_OF_SYNC_AWS_KEY, "sync_status_in_keystores", &etag).await;
    assert_eq!(synced.status, StatusCode::OK);
    assert_ne!(synced.etag(), etag);

    let unknown = mock.call(Method::PATCH, "/__mock/v1/settings", &[], Some(&json!({"sync_bumps": true}))).await;
    unknown.assert_api_error(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(unknown.error_target(), "sync_bumps");
    let wrong_type =
        mock.call(Method::PATCH, "/__mock/v1/settings", &[], Some(&json!({"pending_destruction": 1}))).await;
    assert_eq!(wrong_type.error_target(), "pending_destruction");
}

#[tokio::test]
async fn associated_resources_are_seeded_for_existing_keys_and_keystores() {
    let mock = Mock::start().await;
    let resource = json!({
        "id": "crn%3Av1%3Abluemix%3Apublic%3Acloud-object-storage%3Aglobal%3Aa%2F1%3Ab%3Abucket%3Aseeded",
        "managed_key_id": ACTIVE_INTERNAL_KEY,
        "keystore_id": INTERNAL_KEYSTORE,
        "name": "seeded-bucket",
        "registration": {"crn": "crn:v1:bluemix:public:cloud-object-storage:global:a/1:b:bucket:seeded", "prevents_key_deletion": true}
    });

    let created = mock.post("/__mock/v1/associated_resources", &resource).await;

    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let listed = mock.get(&format!("/api/v4/managed_keys/{ACTIVE_INTERNAL_KEY}/associated_resources")).await;
    assert_eq!(listed.body["total_count"], 1, "{}", listed.body);
    mock.post("/__mock/v1/associated_resources", &resource).await.assert_api_error(StatusCode::CONFLICT, "conflict");
    let mut unknown_key = resource.clone();
    unknown_key["managed_key_id"] = json!("44444444-4444-4444-8444-999999999999");
    mock.post("/__mock/v1/associated_resources", &unknown_key)
        .await
        .assert_api_error(StatusCode::NOT_FOUND, "not_found");
    let mut unknown_keystore = resource;
    unknown_keystore["keystore_id"] = json!("33333333-3333-4333-8333-999999999999");
    mock.post("/__mock/v1/associated_resources", &unknown_keystore)
        .await
        .assert_api_error(StatusCode::NOT_FOUND, "not_found");
}

// Keystore simulation through the API.

#[tokio::test]
async fn divergence_set_through_control_shows_in_status_and_sync_repairs_it() {
    let mock = Mock::start().await;
    let path = format!("/__mock/v1/keystores/{INTERNAL_KEYSTORE}/copies/{ACTIVE_INTERNAL_KEY}");

    let set = mock.put(&path, &json!({"copy": "inactive"})).await;

    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["copy"], "inactive");
    let entry = mock.status_entry("", ACTIVE_INTERNAL_KEY, INTERNAL_KEYSTORE).await;
    assert_eq!(flags(&entry), triple("not_active", "out_of_sync", "active_key_is_not_active_in_keystore"));
    let key = mock.get(&format!("/api/v4/managed_keys/{ACTIVE_INTERNAL_KEY}")).await;
    assert_eq!(key.body["status_in_keystores"][0]["keystore_sync_flag"], "out_of_sync", "embedded entries agree");

    let synced = mock.key_action(ACTIVE_INTERNAL_KEY, "sync_status_in_keystores", &key.etag()).await;
    assert_eq!(synced.status, StatusCode::OK, "{}", synced.body);
    let entry = mock.status_entry("", ACTIVE_INTERNAL_KEY, INTERNAL_KEYSTORE).await;
    assert_eq!(flags(&entry), triple("active", "ok", "active_key_is_active_in_keystore"));

    mock.put(&path, &json!({"copy": "wrong_key"})).await;
    let entry = mock.status_entry("", ACTIVE_INTERNAL_KEY, INTERNAL_KEYSTORE).await;
    assert_eq!(flags(&entry).0, "wrong_key");
    let copies = mock.get(&format!("/__mock/v1/keystores/{INTERNAL_KEYSTORE}/copies")).await;
    let listed: Vec<(String, String)> = copies.body["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["managed_key_id"].as_str().unwrap().to_owned(), c["copy"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        listed,
        [
            (ACTIVE_INTERNAL_KEY.to_owned(), "wrong_key".to_owned()),
            (DEACTIVATED_INTERNAL_KEY.to_owned(), "inactive".to_owned())
        ]
    );
}

#[tokio::test]
async fn copies_are_refused_for_unknown_values_and_keystores_the_key_is_not_in() {
    let mock = Mock::start().await;
    let path = format!("/__mock/v1/keystores/{INTERNAL_KEYSTORE}/copies/{ACTIVE_INTERNAL_KEY}");
    let bad = mock.put(&path, &json!({"copy": "enabled"})).await;
    bad.assert_api_error(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(bad.error_target(), "copy");
    let elsewhere = format!("/__mock/v1/keystores/{AWS_KEYSTORE}/copies/{ACTIVE_INTERNAL_KEY}");
    mock.put(&elsewhere, &json!({"copy": "active"})).await.assert_api_error(StatusCode::CONFLICT, "invalid_state");
    let unknown = format!("/__mock/v1/keystores/{AWS_KEYSTORE}/copies/44444444-4444-4444-8444-999999999999");
    mock.put(&unknown, &json!({"copy": "active"})).await.assert_api_error(StatusCode::NOT_FOUND, "not_found");
    mock.get("/__mock/v1/keystores/33333333-3333-4333-8333-999999999999/copies")
        .await
        .assert_api_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn unreachable_keystore_reports_connection_error_and_sync_leaves_it_alone() {
    // Arrange: the AWS keystore, where the default fixture's key is missing, stops answering.
    let mock = Mock::start().await;
    let path = format!("/__mock/v1/keystores/{AWS_KEYSTORE}/reachability");
    let set = mock.put(&path, &json!({"mode": "unreachable"})).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["reachability"], json!({"mode": "unreachable"}));

    // Act
    let entry = mock.status_entry("", OUT_OF_SYNC_AWS_KEY, AWS_KEYSTORE).await;
    let synced = mock.key_action_fresh(OUT_OF_SYNC_AWS_KEY, "sync_status_in_keystores").await;

    // Assert
    assert_eq!(flags(&entry), triple("error", "error", "connection_error"));
    assert_eq!(entry["error"]["status_code"], 503);
    assert_eq!(entry["error"]["errors"][0]["code"], "keystore_connection_error");
    assert!(entry["error"]["trace"].is_string());
    assert_eq!(synced.status, StatusCode::OK, "the whole call stays 200: {}", synced.body);
    assert_eq!(flags(&synced.body["status_in_keystores"][0]).0, "error");
    let health = mock.get(&format!("/api/v4/keystores/{AWS_KEYSTORE}/status")).await;
    assert_eq!(health.body["health_status"], "not_responding", "{}", health.body);
    let copies = mock.get(&format!("/__mock/v1/keystores/{AWS_KEYSTORE}/copies")).await;
    let copy =
        copies.body["copies"].as_array().unwrap().iter().find(|c| c["managed_key_id"] == OUT_OF_SYNC_AWS_KEY).cloned();
    assert_eq!(copy.unwrap()["copy"], "absent", "sync did not touch the unreachable keystore");

    // Reachable again, the next sync repairs it.
    mock.put(&path, &json!({"mode": "reachable"})).await;
    let synced = mock.key_action_fresh(OUT_OF_SYNC_AWS_KEY, "sync_status_in_keystores").await;
    assert_eq!(
        flags(&synced.body["status_in_keystores"][0]),
        triple("active", "ok", "active_key_is_active_in_keystore")
    );
}

#[tokio::test]
async fn reachability_modes_and_configuration_error_are_set_through_control() {
    let mock = Mock::start().await;
    let path = format!("/__mock/v1/keystores/{INTERNAL_KEYSTORE}/reachability");

    let counted = mock.put(&path, &json!({"mode": "unreachable_for_calls", "remaining": 1})).await;
    assert_eq!(counted.body["reachability"], json!({"mode": "unreachable_for_calls", "remaining": 1}));
    let first = mock.status_entry("", ACTIVE_INTERNAL_KEY, INTERNAL_KEYSTORE).await;
    let second = mock.status_entry("", ACTIVE_INTERNAL_KEY, INTERNAL_KEYSTORE).await;
    assert_eq!((flags(&first).1, flags(&second).1), ("error".to_owned(), "ok".to_owned()));

    let until = json!({"mode": "unreachable_until", "until": "2026-01-01T10:00:00Z"});
    assert_eq!(mock.put(&path, &until).await.status, StatusCode::OK);
    assert_eq!(flags(&mock.status_entry("", ACTIVE_INTERNAL_KEY, INTERNAL_KEYSTORE).await).1, "error");
    mock.post("/__mock/v1/clock/advance", &json!({"seconds": 3600})).await;
    assert_eq!(flags(&mock.status_entry("", ACTIVE_INTERNAL_KEY, INTERNAL_KEYSTORE).await).1, "ok");

    let flapping = mock.put(&path, &json!({"mode": "flapping", "probability": 0.5})).await;
    assert_eq!(flapping.status, StatusCode::OK);
    mock.put(&path, &json!({"mode": "flapping", "probability": 1.5}))
        .await
        .assert_api_error(StatusCode::BAD_REQUEST, "invalid_field");

    let misconfigured = mock.put(&path, &json!({"mode": "reachable", "configuration_error": true})).await;
    assert_eq!(misconfigured.body["configuration_error"], true);
    let health = mock.get(&format!("/api/v4/keystores/{INTERNAL_KEYSTORE}/status")).await;
    assert_eq!(health.body["health_status"], "configuration_error");
    let fixed = mock.put(&path, &json!({"configuration_error": false})).await;
    assert_eq!(
        fixed.body,
        json!({"keystore_id": INTERNAL_KEYSTORE, "reachability": {"mode": "reachable"}, "configuration_error": false})
    );

    mock.put(&path, &json!({"mode": "sometimes"})).await.assert_api_error(StatusCode::BAD_REQUEST, "invalid_field");
    mock.put(&path, &json!({})).await.assert_api_error(StatusCode::BAD_REQUEST, "invalid_json");
}

// Fault rules as a client meets them.

#[tokio::test]
async fn fault_rules_are_listed_added_and_removed() {
    let mock = Mock::start().await;
    let rule = json!({"operation": "ListVaults", "trigger": {"kind": "next_n", "count": 1}, "effect": {"kind": "http_error", "status": 503}});

    let created = mock.post("/__mock/v1/faults", &rule).await;

    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["id"], "rule-1");
    assert_eq!(created.body["operation"], "ListVaults");
    assert_eq!(mock.get("/__mock/v1/faults").await.body["rules"][0]["id"], "rule-1");
    assert_eq!(mock.delete("/__mock/v1/faults/rule-1").await.status, StatusCode::NO_CONTENT);
    mock.delete("/__mock/v1/faults/rule-1").await.assert_api_error(StatusCode::NOT_FOUND, "not_found");
    mock.add_fault(rule.clone()).await;
    mock.add_fault(json!({"id": "mine", "effect": {"kind": "drop_connection"}, "operation": "GetVault"})).await;
    assert_eq!(mock.get("/__mock/v1/faults").await.body["rules"].as_array().unwrap().len(), 2);
    assert_eq!(mock.delete("/__mock/v1/faults").await.status, StatusCode::NO_CONTENT);
    assert_eq!(mock.get("/__mock/v1/faults").await.body["rules"], json!([]));

    let invalid = mock.post("/__mock/v1/faults", &json!({"effect": {"kind": "http_error", "status": 200}})).await;
    invalid.assert_api_error(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(invalid.error_target(), "effect.status");
    let malformed = mock.post("/__mock/v1/faults", &json!({"effect": {"kind": "explode"}})).await;
    malformed.assert_api_error(StatusCode::BAD_REQUEST, "invalid_field");
}

#[tokio::test]
async fn injected_503_answers_the_next_n_matching_requests_only() {
    let mock = Mock::start().await;
    mock.add_fault(json!({"operation": "ListVaults", "trigger": {"kind": "next_n", "count": 2}, "effect": {"kind": "http_error", "status": 503}})).await;

    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(mock.get("/api/v4/vaults").await.status);
    }

    assert_eq!(statuses, [StatusCode::SERVICE_UNAVAILABLE, StatusCode::SERVICE_UNAVAILABLE, StatusCode::OK]);
    assert_eq!(mock.get("/api/v4/keystores").await.status, StatusCode::OK, "other operations are not matched");
    let faults = mock.get("/__mock/v1/faults").await.body;
    assert_eq!((faults["rules"][0]["matched"].clone(), faults["rules"][0]["fired"].clone()), (json!(3), json!(2)));
}

#[tokio::test]
async fn injected_429_carries_retry_after() {
    let mock = Mock::start().await;
    mock.add_fault(json!({"operation": "GetManagedKey", "effect": {"kind": "http_error", "status": 429, "retry_after_seconds": 7}})).await;

    let answer = mock.get(&format!("/api/v4/managed_keys/{ACTIVE_INTERNAL_KEY}")).await;

    answer.assert_api_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    assert_eq!(answer.headers.get("retry-after").unwrap(), "7");
}

#[tokio::test]
async fn injected_latency_delays_the_answer() {
    let mock = Mock::start().await;
    mock.add_fault(json!({"operation": "ListKeystores", "effect": {"kind": "latency", "millis": 300}})).await;

    let started = Instant::now();
    let answer = mock.get("/api/v4/keystores").await;

    assert_eq!(answer.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
}

#[tokio::test]
async fn dropped_connection_gives_the_client_a_connection_error_not_a_response() {
    let mock = Mock::start().await;
    mock.add_fault(json!({"operation": "GetVault", "trigger": {"kind": "next_n", "count": 1}, "effect": {"kind": "drop_connection"}})).await;
    let url = format!("{}/api/v4/vaults/{VAULT}", mock.app.base_url);

    let outcome = mock.app.client.get(&url).send().await;

    assert!(outcome.is_err(), "the client got a status line and headers");
    assert_eq!(mock.app.client.get(&url).send().await.unwrap().status(), StatusCode::OK, "the next call is served");
    let journal = mock.journal("").await;
    assert_eq!(journal["entries"][0]["status"], 0, "{journal}");
}

#[tokio::test]
async fn keystore_failure_during_activate_leaves_that_keystore_out_of_sync() {
    let mock = Mock::start().await;
    mock.add_fault(json!({
        "operation": "ActivateManagedKey",
        "resource_id": PRE_ACTIVE_GOOGLE_KEY,
        "effect": {"kind": "keystore_failure", "keystore_id": GOOGLE_KEYSTORE}
    }))
    .await;

    let activated = mock.key_action_fresh(PRE_ACTIVE_GOOGLE_KEY, "activate").await;

    assert_eq!(activated.status, StatusCode::OK, "{}", activated.body);
    assert_eq!(activated.body["state"], "active");
    let entry = mock.status_entry("", PRE_ACTIVE_GOOGLE_KEY, GOOGLE_KEYSTORE).await;
    assert_eq!(flags(&entry), triple("not_present", "out_of_sync", "active_key_is_not_active_in_keystore"));
}

#[tokio::test]
async fn concurrent_writer_after_a_read_makes_the_next_sync_412() {
    // Arrange: the race fixture.
    let mock = Mock::start().await;
    let loaded = mock.post_text("/__mock/v1/fixture", CONCURRENT_WRITER_FIXTURE).await;
    assert_eq!(loaded.status, StatusCode::OK, "{}", loaded.body);
    let key_id = "44444444-4444-4444-8444-000000000001";

    // Act: read, sync with the ETag just read.
    let stale = mock.key_etag("", key_id).await;
    let refused = mock.key_action(key_id, "sync_status_in_keystores", &stale).await;

    // Assert: 412; reading again gives the current ETag and the sync succeeds.
    refused.assert_api_error(StatusCode::PRECONDITION_FAILED, "precondition_failed");
    let fresh = mock.key_etag("", key_id).await;
    assert_ne!(fresh, stale);
    let synced = mock.key_action(key_id, "sync_status_in_keystores", &fresh).await;
    assert_eq!(synced.status, StatusCode::OK, "{}", synced.body);
    assert_eq!(synced.body["status_in_keystores"][0]["keystore_sync_flag"], "ok");
}

// Clock.

#[tokio::test]
async fn clock_advance_drives_the_four_hour_destroy_rule() {
    let mock = Mock::start().await;
    let patch = json!({"min_deactivated_before_destroy_seconds": 14400});
    assert_eq!(mock.call(Method::PATCH, "/__mock/v1/settings", &[], Some(&patch)).await.status, StatusCode::OK);
    let deactivated = mock.key_action_fresh(ACTIVE_INTERNAL_KEY, "deactivate").await;
    assert_eq!(deactivated.status, StatusCode::OK);

    let too_early = mock.key_action(ACTIVE_INTERNAL_KEY, "destroy", &deactivated.etag()).await;
    mock.post("/__mock/v1/clock/advance", &json!({"seconds": 14399})).await;
    let still_early = mock.key_action(ACTIVE_INTERNAL_KEY, "destroy", &deactivated.etag()).await;
    let clock = mock.post("/__mock/v1/clock/advance", &json!({"seconds": 1})).await;
    let destroyed = mock.key_action(ACTIVE_INTERNAL_KEY, "destroy", &deactivated.etag()).await;

    too_early.assert_api_error(StatusCode::CONFLICT, "invalid_state");
    assert!(too_early.error_message().contains("4 hours"), "{}", too_early.error_message());
    assert_eq!(still_early.status, StatusCode::CONFLICT);
    assert_eq!(clock.status, StatusCode::OK);
    assert_eq!(destroyed.status, StatusCode::OK, "{}", destroyed.body);
    assert_eq!(destroyed.body["state"], "destroyed");
    let now = mock.get("/__mock/v1/clock").await.body;
    assert_eq!(now["mode"], "virtual");
    mock.post("/__mock/v1/clock/advance", &json!({"seconds": -1}))
        .await
        .assert_api_error(StatusCode::BAD_REQUEST, "invalid_field");
}

#[tokio::test]
async fn clock_advance_drives_rotation_interval_and_pending_destruction_from_fixture_settings() {
    // Arrange: IBM's one-rotation-per-hour rule and pending destruction, set by a fixture.
    let mock = Mock::start().await;
    let settings = json!({
        "description": "IBM's rotation interval and pending destruction",
        "settings": {"min_rotation_interval_seconds": 3600, "pending_destruction": true}
    });
    let merged = mock.post_text("/__mock/v1/fixture?mode=merge", &settings.to_string()).await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);

    // Rotation: once, refused within the hour, allowed after it.
    let rotated = mock.key_action_fresh(ACTIVE_INTERNAL_KEY, "rotate").await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let again = mock.key_action(ACTIVE_INTERNAL_KEY, "rotate", &rotated.etag()).await;
    again.assert_api_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    assert!(again.headers.get("retry-after").is_some());
    mock.post("/__mock/v1/clock/advance", &json!({"seconds": 3600})).await;
    let later = mock.key_action(ACTIVE_INTERNAL_KEY, "rotate", &rotated.etag()).await;
    assert_eq!(later.status, StatusCode::OK, "{}", later.body);

    // Pending destruction: the internal keystore keeps the copy for 30 days.
    let destroyed = mock.key_action_fresh(DEACTIVATED_INTERNAL_KEY, "destroy").await;
    assert_eq!(destroyed.status, StatusCode::OK, "{}", destroyed.body);
    let pending = mock.status_entry("", DEACTIVATED_INTERNAL_KEY, INTERNAL_KEYSTORE).await;
    assert_eq!(flags(&pending).2, "destroyed_pending_key_is_pending_destruction_in_keystore");
    assert_eq!(pending["destruction_policy_duration"], "PT720H");
    mock.post("/__mock/v1/clock/advance", &json!({"seconds": 30 * 86_400})).await;
    let gone = mock.status_entry("", DEACTIVATED_INTERNAL_KEY, INTERNAL_KEYSTORE).await;
    assert_eq!(flags(&gone), triple("not_present", "ok", "destroyed_key_is_not_present_in_keystore"));
}

// Journal.

#[tokio::test]
async fn journal_records_each_request_and_since_continues_after_what_was_read() {
    let mock = Mock::start().await;
    let empty = mock.journal("").await;
    assert_eq!(empty, json!({"next_seq": 1, "entries": []}));
    let rule =
        mock.add_fault(json!({"operation": "ListVaults", "effect": {"kind": "http_error", "status": 503}})).await;

    // Act: a read with an ETag, a sync with a stale If-Match, a faulted list.
    let read = mock.get(&format!("/api/v4/managed_keys/{ACTIVE_INTERNAL_KEY}")).await;
    mock.call(
        Method::POST,
        &format!("/api/v4/managed_keys/{ACTIVE_INTERNAL_KEY}/sync_status_in_keystores"),
        &[("If-Match", "2020-01-01T00:00:00Z"), ("Authorization", "Bearer secret-token")],
        None,
    )
    .await;
    mock.get("/api/v4/vaults").await;

    // Assert
    let journal = mock.journal("").await;
    let entries = journal["entries"].as_array().unwrap();
    assert_eq!(journal["next_seq"], 4);
    assert_eq!(entries.len(), 3);
    let get = &entries[0];
    assert_eq!(
        (get["seq"].clone(), get["method"].clone(), get["operation"].clone()),
        (json!(1), json!("GET"), json!("GetManagedKey"))
    );
    assert_eq!(get["path"], format!("/api/v4/managed_keys/{ACTIVE_INTERNAL_KEY}"));
    assert_eq!(get["resource_id"], ACTIVE_INTERNAL_KEY);
    assert_eq!(get["status"], 200);
    assert_eq!(get["etag"], read.etag());
    assert_eq!(get["time"], "2026-01-01T09:00:00.000Z");
    let sync = &entries[1];
    assert_eq!(sync["operation"], "SyncManagedKey");
    assert_eq!(sync["if_match"], "2020-01-01T00:00:00Z");
    assert_eq!(sync["status"], 412);
    let faulted = &entries[2];
    assert_eq!((faulted["status"].clone(), faulted["fault"].clone()), (json!(503), json!(rule)));
    assert!(!journal.to_string().contains("secret-token"), "credentials never enter the journal");

    let after = mock.journal("?since=2").await;
    assert_eq!(
        after["entries"].as_array().unwrap().iter().map(|e| e["seq"].clone()).collect::<Vec<_>>(),
        [json!(2), json!(3)]
    );
    let page = mock.journal("?since=1&limit=1").await;
    assert_eq!((page["entries"].as_array().unwrap().len(), page["next_seq"].clone()), (1, json!(2)));
    let caught_up = mock.journal("?since=4").await;
    assert_eq!(caught_up, json!({"next_seq": 4, "entries": []}));
    mock.get("/__mock/v1/journal?limit=0").await.assert_api_error(StatusCode::BAD_REQUEST, "invalid_query_parameter");
    mock.get("/__mock/v1/journal?since=x").await.assert_api_error(StatusCode::BAD_REQUEST, "invalid_query_parameter");
}

#[tokio::test]
async fn journal_size_bounds_each_journal() {
    let mock = Mock::on(TestApp::builder().journal_size(2)).await;
    for _ in 0..5 {
        mock.get("/api/v4/vaults").await;
    }
    let journal = mock.journal("").await;
    let seqs: Vec<Value> = journal["entries"].as_array().unwrap().iter().map(|e| e["seq"].clone()).collect();
    assert_eq!(seqs, [json!(4), json!(5)]);
}

// Admin token.

#[tokio::test]
async fn admin_token_guards_the_control_plane_but_not_health_or_the_api() {
    let mock = Mock::on(TestApp::builder().admin_token("s3cret")).await;

    let anonymous = mock.get("/__mock/v1/instances").await;
    let wrong = mock.call(Method::GET, "/__mock/v1/instances", &[("Authorization", "Bearer nope")], None).await;
    let bearer = mock.call(Method::GET, "/__mock/v1/instances", &[("Authorization", "Bearer s3cret")], None).await;
    let header = mock.call(Method::POST, "/__mock/v1/reset", &[("X-Admin-Token", "s3cret")], None).await;
    let scoped = mock.call(Method::GET, "/__mock/v1/instances/x/clock", &[], None).await;

    anonymous.assert_api_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(anonymous.error_message().contains("admin token"), "{}", anonymous.error_message());
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bearer.status, StatusCode::OK);
    assert_eq!(header.status, StatusCode::OK);
    assert_eq!(scoped.status, StatusCode::UNAUTHORIZED);
    assert_eq!(mock.get("/__mock/v1/health").await.status, StatusCode::OK);
    assert_eq!(mock.get("/api/v4/vaults").await.status, StatusCode::OK);
}

#[tokio::test]
async fn non_loopback_server_without_admin_token_refuses_the_control_plane() {
    // Arrange: the state a server bound to 0.0.0.0 without --admin-token gets, served on loopback.
    let fixture = uko_mock::fixture::Fixture::default_fixture().unwrap();
    let store = uko_mock::server::store_from_fixture(fixture, None).unwrap();
    let admin = uko_mock::web::access::AdminAccess::new(None, "0.0.0.0".parse().unwrap());
    let auth = uko_mock::web::auth::Auth::disabled();
    let state = uko_mock::web::AppState::new(store, auth, None, admin);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(uko_mock::serve(listener, state, std::future::pending()));
    let client = reqwest::Client::new();

    let refused = client.post(format!("{base}/__mock/v1/reset")).send().await.unwrap();
    let health = client.get(format!("{base}/__mock/v1/health")).send().await.unwrap();

    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "control_plane_disabled");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("--admin-token"), "{body}");
    assert_eq!(health.status(), StatusCode::OK);
}

// Determinism.

/// One scripted session: creates, actions, reads and a seeded probabilistic fault; returns every body (with
/// the server's address replaced) and the journal without its wall-clock field.
async fn scripted_session(seed: u64) -> (Vec<String>, Value) {
    let mock = Mock::on(TestApp::builder().seed(seed)).await;
    mock.add_fault(json!({"operation": "GetManagedKey", "trigger": {"kind": "probability", "probability": 0.5}, "effect": {"kind": "http_error", "status": 503}})).await;
    let path = format!("/__mock/v1/keystores/{GOOGLE_KEYSTORE}/reachability");
    mock.put(&path, &json!({"mode": "flapping", "probability": 0.5})).await;
    let correlation = |n: usize| format!("session-{n}");
    let mut steps: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, "/api/v4/vaults".into(), Some(json!({"name": "Replayed"}))),
        (
            Method::POST,
            "/api/v4/managed_keys".into(),
            Some(json!({"template_name": "GOOGLE-AES256", "vault": {"id": VAULT}, "label": "replayed-key"})),
        ),
        (Method::GET, "/api/v4/managed_keys?limit=50".into(), None),
    ];
    for _ in 0..6 {
        steps.push((Method::GET, format!("/api/v4/managed_keys/{PRE_ACTIVE_GOOGLE_KEY}"), None));
    }
    steps.push((Method::POST, format!("/api/v4/managed_keys/{PRE_ACTIVE_GOOGLE_KEY}/activate"), None));
    let mut bodies = Vec::new();
    let mut etag = String::new();
    for (index, (method, path, body)) in steps.into_iter().enumerate() {
        let trace = correlation(index);
        let mut headers = vec![("X-Correlation-Id", trace.as_str())];
        if path.ends_with("/activate") {
            headers.push(("If-Match", etag.as_str()));
        }
        let answer = mock.call(method, &path, &headers, body.as_ref()).await;
        if answer.status == StatusCode::OK && path.ends_with(PRE_ACTIVE_GOOGLE_KEY) {
            etag = answer.etag();
        }
        bodies.push(
            format!("{} {} {}", answer.status, answer.etag(), answer.body).replace(&mock.app.base_url, "http://mock"),
        );
    }
    let mut journal = mock.journal("").await;
    for entry in journal["entries"].as_array_mut().unwrap() {
        entry.as_object_mut().unwrap().remove("received_ms");
        entry.as_object_mut().unwrap().remove("connection");
    }
    (bodies, journal)
}

#[tokio::test]
async fn same_seed_and_requests_give_identical_journals_and_bodies() {
    let (first_bodies, first_journal) = scripted_session(7).await;
    let (second_bodies, second_journal) = scripted_session(7).await;

    assert_eq!(first_bodies, second_bodies);
    assert_eq!(first_journal, second_journal);
    let statuses: Vec<Value> =
        first_journal["entries"].as_array().unwrap().iter().map(|e| e["status"].clone()).collect();
    assert!(
        statuses.contains(&json!(503)) && statuses.contains(&json!(200)),
        "the seeded fault fired sometimes: {statuses:?}"
    );
}
