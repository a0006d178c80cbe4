//! The state file, against the real `uko-mock` binary: acknowledged changes survive a hard kill and a
//! restart (ETags included), concurrent changes are all kept, and a corrupt, truncated or foreign file
//! stops the server and stays byte-identical.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::process::Command;

use crate::helpers::binary::Binary;

const ACTIVE_INTERNAL_KEY: &str = "44444444-4444-4444-8444-000000000001";
const INTERNAL_KEYSTORE: &str = "33333333-3333-4333-8333-000000000001";

/// A running `uko-mock` process on a free port with a state file.
struct Process {
    binary: Binary,
    client: Client,
}

impl Process {
    async fn start(state_file: &Path) -> Process {
        Process { binary: Binary::with_state_file(state_file).await, client: Client::new() }
    }

    /// SIGKILL: nothing gets a chance to flush, so only what was durable before each answer survives.
    async fn kill(self) {
        self.binary.kill().await;
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        if_match: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, String, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.binary.base_url));
        if let Some(etag) = if_match {
            request = request.header("If-Match", etag);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
        (status, etag, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, String, Value) {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, String, Value) {
        self.send(reqwest::Method::POST, path, None, Some(body)).await
    }
}

/// A fresh, empty directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let directory = std::env::temp_dir().join(format!("uko-mock-persistence-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        Scratch(directory)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_missing_state_file_is_created_at_start() {
    let scratch = Scratch::new("created");
    let path = scratch.file("state.json");

    let process = Process::start(&path).await;

    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!((saved["format"].clone(), saved["version"].clone()), (json!("uko-mock-state"), json!(1)));
    // The state file keeps keystore credentials (a restart must restore them): the export with secrets.
    let export = process.get("/__mock/v1/export?include_secrets=true").await.2;
    assert_eq!(saved["instances"]["default"], export);
    process.kill().await;
}

#[tokio::test]
async fn acknowledged_changes_survive_a_kill_and_restart_with_identical_etags() {
    // Arrange: API mutations and control-plane changes in two instances.
    let scratch = Scratch::new("restart");
    let path = scratch.file("state.json");
    let process = Process::start(&path).await;
    let (status, vault_etag, vault) = process.post("/api/v4/vaults", json!({"name": "Survives"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let vault_path = format!("/api/v4/vaults/{}", vault["id"].as_str().unwrap());
    let key_path = format!("/api/v4/managed_keys/{ACTIVE_INTERNAL_KEY}");
    let etag = process.get(&key_path).await.1;
    let (status, key_etag, _) =
        process.send(reqwest::Method::POST, &format!("{key_path}/deactivate"), Some(&etag), None).await;
    assert_eq!(status, StatusCode::OK);
    let copy_path = format!("/__mock/v1/keystores/{INTERNAL_KEYSTORE}/copies/{ACTIVE_INTERNAL_KEY}");
    process.send(reqwest::Method::PUT, &copy_path, None, Some(json!({"copy": "active"}))).await;
    process
        .post("/__mock/v1/faults", json!({"operation": "ListKeystores", "effect": {"kind": "latency", "millis": 1}}))
        .await;
    process.post("/__mock/v1/clock/advance", json!({"seconds": 600})).await;
    process.send(reqwest::Method::PUT, "/__mock/v1/instances/gone", None, None).await;
    process.send(reqwest::Method::PUT, "/__mock/v1/instances/kept", None, None).await;
    process.post("/instances/kept/api/v4/vaults", json!({"name": "In kept"})).await;
    process.send(reqwest::Method::DELETE, "/__mock/v1/instances/gone", None, None).await;
    let default_before = process.get("/__mock/v1/export").await.2;
    let kept_before = process.get("/__mock/v1/instances/kept/export").await.2;
    let key_before = process.get(&key_path).await;
    let key_body_before = key_before.2.to_string().replace(&process.binary.base_url, "http://mock");

    // Act
    process.kill().await;
    let process = Process::start(&path).await;

    // Assert
    assert_eq!(process.get("/__mock/v1/export").await.2, default_before);
    assert_eq!(process.get("/__mock/v1/instances/kept/export").await.2, kept_before);
    assert_eq!(process.get("/__mock/v1/instances").await.2["instances"], json!(["default", "kept"]));
    let (_, etag_after, vault_after) = process.get(&vault_path).await;
    assert_eq!((etag_after, vault_after["name"].clone()), (vault_etag, json!("Survives")));
    let key_after = process.get(&key_path).await;
    assert_eq!(key_after.1, key_etag);
    assert_eq!(key_after.2.to_string().replace(&process.binary.base_url, "http://mock"), key_body_before);
    assert_eq!(key_after.2["status_in_keystores"][0]["keystore_sync_flag"], "out_of_sync", "the divergence survived");
    process.kill().await;
}

#[tokio::test]
async fn concurrent_changes_are_all_durable() {
    let scratch = Scratch::new("concurrent");
    let path = scratch.file("state.json");
    let process = Process::start(&path).await;

    let mut creates = tokio::task::JoinSet::new();
    for n in 0..16 {
        let request = process
            .client
            .post(format!("{}/api/v4/vaults", process.binary.base_url))
            .json(&json!({"name": format!("Vault {n}")}));
        creates.spawn(async move { request.send().await.unwrap().status() });
    }
    while let Some(status) = creates.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::CREATED);
    }
    let before = process.get("/__mock/v1/export").await.2;
    process.kill().await;
    let process = Process::start(&path).await;

    assert_eq!(process.get("/api/v4/vaults?limit=100").await.2["total_count"], 17);
    assert_eq!(process.get("/__mock/v1/export").await.2, before);
    process.kill().await;
}

#[tokio::test]
async fn a_corrupt_truncated_or_foreign_state_file_is_refused_and_left_untouched() {
    let scratch = Scratch::new("refused");
    let valid = {
        let path = scratch.file("valid.json");
        Process::start(&path).await.kill().await;
        std::fs::read(&path).unwrap()
    };
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("truncated", valid[..valid.len() / 2].to_vec(), "not valid JSON"),
        ("garbage", b"\x00\x01 not json at all".to_vec(), "not valid JSON"),
        ("empty", Vec::new(), "not valid JSON"),
        ("foreign", br#"{"name": "some-package", "version": "1.0.0"}"#.to_vec(), "not a uko-mock state file"),
        ("future", br#"{"format": "uko-mock-state", "version": 9, "instances": {}}"#.to_vec(), "found version 9"),
    ];
    for (name, bytes, reason) in cases {
        let path = scratch.file(&format!("{name}.json"));
        std::fs::write(&path, &bytes).unwrap();

        let output = tokio::time::timeout(
            Duration::from_secs(30),
            Command::new(env!("CARGO_BIN_EXE_uko-mock"))
                .args(["--port", "0", "--auth", "none", "--state-file"])
                .arg(&path)
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("uko-mock kept running on a bad state file")
        .unwrap();

        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}: uko-mock started");
        assert!(stderr.contains(&path.display().to_string()), "{name}: the message names the file: {stderr}");
        assert!(stderr.contains(reason), "{name}: expected '{reason}' in: {stderr}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name}: the file was changed");
        assert!(!String::from_utf8_lossy(&output.stdout).contains("listening on"), "{name}: it served");
    }
}
