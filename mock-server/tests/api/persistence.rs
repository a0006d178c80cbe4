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

/// A state-file write that really fails (root included): a directory where the temporary file must go.
fn block_saves(path: &Path) -> PathBuf {
    let temporary = path.with_file_name("state.json.tmp");
    std::fs::create_dir(&temporary).unwrap();
    temporary
}

#[tokio::test]
async fn a_change_whose_save_fails_is_not_applied_and_does_not_survive_a_restart() {
    // Arrange: a server whose next saves fail.
    let scratch = Scratch::new("ghost");
    let path = scratch.file("state.json");
    let process = Process::start(&path).await;
    let key_path = format!("/api/v4/managed_keys/{ACTIVE_INTERNAL_KEY}");
    let (_, etag, key) = process.get(&key_path).await;
    let label = key["label"].clone();
    let vaults = process.get("/api/v4/vaults").await.2["total_count"].clone();
    let blocker = block_saves(&path);

    // Act: an update and a create that cannot be saved.
    let patch = json!({"label": "ghost-label"});
    let (patched, _, error) = process.send(reqwest::Method::PATCH, &key_path, Some(&etag), Some(patch)).await;
    let (created, _, _) = process.post("/api/v4/vaults", json!({"name": "Ghost vault"})).await;

    // Assert: the clients were told, and nothing shows either change.
    assert_eq!(patched, StatusCode::INTERNAL_SERVER_ERROR, "{error}");
    assert_eq!(created, StatusCode::INTERNAL_SERVER_ERROR);
    let (_, etag_after, key_after) = process.get(&key_path).await;
    assert_eq!((etag_after.as_str(), &key_after["label"]), (etag.as_str(), &label), "the failed PATCH is served");
    assert_eq!(process.get("/api/v4/vaults").await.2["total_count"], vaults, "the failed create is listed");
    let export = process.get("/__mock/v1/export").await.2.to_string();
    assert!(!export.contains("ghost-label") && !export.contains("Ghost vault"), "the export shows a failed change");
    let journal = process.get("/__mock/v1/journal").await.2;
    let statuses: Vec<(Value, Value, Value)> = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["method"] != "GET")
        .map(|e| (e["method"].clone(), e["status"].clone(), e.get("etag").cloned().unwrap_or(Value::Null)))
        .collect();
    assert_eq!(statuses, [(json!("PATCH"), json!(500), Value::Null), (json!("POST"), json!(500), Value::Null)]);

    // Act: saves work again; a later change is saved; then a crash and a restart.
    std::fs::remove_dir(&blocker).unwrap();
    let (status, _, _) =
        process.send(reqwest::Method::POST, &format!("{key_path}/deactivate"), Some(&etag), None).await;
    assert_eq!(status, StatusCode::OK, "the ETag the failed PATCH would have replaced is still current");
    process.kill().await;
    let process = Process::start(&path).await;

    // Assert: nothing of the failed changes came back.
    let (_, _, key_after) = process.get(&key_path).await;
    assert_eq!((&key_after["label"], &key_after["state"]), (&label, &json!("deactivated")));
    assert_eq!(process.get("/api/v4/vaults").await.2["total_count"], vaults);
    process.kill().await;
}

#[tokio::test]
async fn a_failed_save_leaves_no_temporary_file() {
    // Arrange: the state file's name taken by a non-empty directory, so the rename over it fails.
    let scratch = Scratch::new("temporary");
    let path = scratch.file("state.json");
    let process = Process::start(&path).await;
    std::fs::rename(&path, scratch.file("saved.json")).unwrap();
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("occupied"), b"x").unwrap();

    let (status, _, _) = process.post("/api/v4/vaults", json!({"name": "Not saved"})).await;

    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!scratch.file("state.json.tmp").exists(), "state.json.tmp was left behind");
    process.kill().await;
}

/// Runs `uko-mock` with these arguments until it exits (it must, within 30 s): (success, stderr).
async fn run_to_exit(arguments: &[&str]) -> (bool, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        Command::new(env!("CARGO_BIN_EXE_uko-mock"))
            .args(["--port", "0", "--auth", "none"])
            .args(arguments)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("uko-mock kept running")
    .unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test]
async fn a_second_server_on_the_same_state_file_refuses_to_start_until_the_first_is_gone() {
    let scratch = Scratch::new("lock");
    let path = scratch.file("state.json");
    let state = path.display().to_string();
    let first = Process::start(&path).await;

    let (started, stderr) = run_to_exit(&["--state-file", &state]).await;

    assert!(!started, "a second server started on {state}");
    assert!(stderr.contains(&state), "the message names the file: {stderr}");
    assert!(stderr.contains("in use"), "the message says why: {stderr}");
    assert!(stderr.contains("pid"), "the message names the holder: {stderr}");
    // A crash (SIGKILL) releases the lock: the next server starts.
    first.kill().await;
    let second = Process::start(&path).await;
    assert_eq!(second.get("/__mock/v1/health").await.0, StatusCode::OK);
    second.kill().await;
}

#[tokio::test]
async fn a_state_file_in_a_missing_directory_or_not_a_regular_file_or_too_large_is_refused_at_start() {
    let scratch = Scratch::new("unusable");
    let missing = scratch.file("no-such-directory/state.json").display().to_string();
    let (started, stderr) = run_to_exit(&["--state-file", &missing]).await;
    assert!(!started && stderr.contains(&missing), "{stderr}");

    // /dev/zero would be read until memory runs out: refused before reading.
    let (started, stderr) = run_to_exit(&["--state-file", "/dev/zero"]).await;
    assert!(!started && stderr.contains("not a regular file"), "{stderr}");

    let large = scratch.file("large.json");
    std::fs::write(&large, vec![b' '; 2 * 1024 * 1024]).unwrap();
    let large = large.display().to_string();
    let (started, stderr) = run_to_exit(&["--state-file", &large, "--max-state-file-bytes", "1048576"]).await;
    assert!(!started && stderr.contains("--max-state-file-bytes"), "{stderr}");
}

#[tokio::test]
async fn a_change_not_yet_on_disk_is_not_shown_so_no_etag_is_issued_twice_across_a_crash() {
    // Arrange: a write that blocks (a FIFO where the temporary file goes: opening it waits for a reader).
    let scratch = Scratch::new("reissue");
    let path = scratch.file("state.json");
    let process = Process::start(&path).await;
    let key_url = format!("{}/api/v4/managed_keys/{ACTIVE_INTERNAL_KEY}", process.binary.base_url);
    let etag = process.get(&format!("/api/v4/managed_keys/{ACTIVE_INTERNAL_KEY}")).await.1;
    let fifo = scratch.file("state.json.tmp");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());

    // Act: a PATCH whose write hangs, a reader meanwhile, then a crash.
    let patch = process.client.patch(&key_url).header("If-Match", &etag).json(&json!({"label": "before-crash"}));
    let writer = tokio::spawn(async move { patch.timeout(Duration::from_secs(2)).send().await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = process.client.get(&key_url).timeout(Duration::from_secs(1)).send().await;
    let seen = match seen {
        Ok(response) => {
            let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            Some((etag, response.json::<Value>().await.unwrap()["label"].clone()))
        }
        Err(_) => None,
    };
    assert!(writer.await.unwrap().is_err(), "the PATCH was acknowledged before it was on disk");
    process.kill().await;
    std::fs::remove_file(&fifo).unwrap();
    let process = Process::start(&path).await;
    let (status, new_etag, _) = process
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v4/managed_keys/{ACTIVE_INTERNAL_KEY}"),
            Some(&etag),
            Some(json!({"label": "after-crash"})),
        )
        .await;

    // Assert: the reader saw the old state (or waited); the ETag after the restart was never seen before.
    assert_eq!(status, StatusCode::OK);
    if let Some((seen_etag, seen_label)) = seen {
        assert_ne!(seen_label, json!("before-crash"), "a change not on disk was shown");
        assert_ne!(seen_etag, new_etag, "an ETag was issued twice for different content");
    }
    process.kill().await;
}

#[tokio::test]
async fn control_plane_changes_whose_save_fails_are_taken_back_too() {
    let scratch = Scratch::new("control-ghost");
    let path = scratch.file("state.json");
    let process = Process::start(&path).await;
    process.send(reqwest::Method::PUT, "/__mock/v1/instances/kept", None, None).await;
    let clock = process.get("/__mock/v1/clock").await.2;
    let blocker = block_saves(&path);

    let deleted = process.send(reqwest::Method::DELETE, "/__mock/v1/instances/kept", None, None).await;
    let advanced = process.post("/__mock/v1/clock/advance", json!({"seconds": 600})).await;
    let created = process.send(reqwest::Method::PUT, "/__mock/v1/instances/new", None, None).await;

    assert_eq!(
        (deleted.0, advanced.0, created.0),
        (StatusCode::INTERNAL_SERVER_ERROR, StatusCode::INTERNAL_SERVER_ERROR, StatusCode::INTERNAL_SERVER_ERROR)
    );
    assert_eq!(process.get("/__mock/v1/clock").await.2, clock, "the failed clock advance is in force");
    assert!(
        process.get("/__mock/v1/instances").await.2["instances"].to_string().contains("kept"),
        "the failed delete is in force"
    );
    std::fs::remove_dir(&blocker).unwrap();
    process.kill().await;
    let process = Process::start(&path).await;
    assert_eq!(process.get("/__mock/v1/instances").await.2["instances"], json!(["default", "kept"]));
    process.kill().await;
}
