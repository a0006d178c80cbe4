//! `uko-mock snapshot` through the real binary: every scenario fixture is served by a mock with
//! authentication, snapshotted over real HTTP into a real file, the file is served by a second real
//! `uko-mock --fixture FILE`, and every GET answer of the two must be equal: bodies (with the host
//! normalised, and the same `X-Correlation-ID` sent to both, since it is the `trace` of embedded keystore
//! errors) and ETags. A tenant larger than a page is read page by page; a tenant changed through the API
//! round-trips, and the next change gets the same, later ETag on both. Also: a refused token or API key,
//! an unreachable URL and a wrong service URL fail clearly and write no file, and `--include-keys-limit`
//! cuts the keys.
//!
//! What the public API cannot see is handled, and compared, as the snapshot records it: fault rules
//! (`concurrent-writer-after-read`) are not in the snapshot, so they are deleted from the source through
//! the control plane before comparing; a keystore with intermittent reachability (`flapping`,
//! `unreachable_for_calls`) is frozen as the walk's live status call saw it, so the source's keystore is
//! set to that same reachability before comparing (and `unreachable_for_calls`, whose first call fails,
//! must have been seen unreachable).

use std::path::{Path, PathBuf};
use std::process::Output;

use reqwest::header::ETAG;
use serde_json::{json, Value};
use uko_mock::fixture::Fixture;
use uko_mock::web::auth::{Auth, AuthMode};

use crate::helpers::binary::Binary;
use crate::helpers::{
    default_fixture_json, fixture_from_value, fixture_path, load_fixture, TestApp, TEST_API_KEY, TEST_STATIC_TOKEN,
};

/// Every scenario of `fixtures/`.
const FIXTURES: [&str; 12] = [
    "default",
    "concurrent-writer-after-read",
    "deactivated-key-still-active-in-keystore",
    "destroy-failed-in-keystore",
    "key-inactive-in-keystore",
    "key-missing-in-keystore",
    "keystore-flapping",
    "keystore-removed-by-user",
    "keystore-unreachable-for-calls",
    "keystore-unreachable",
    "pre-active-key-present-in-keystore",
    "wrong-key-in-keystore",
];

fn test_auth() -> Auth {
    Auth::new(AuthMode::Iam, vec![TEST_API_KEY.to_owned()], vec![TEST_STATIC_TOKEN.to_owned()], 3600)
}

/// A source mock that requires tokens, serving `fixtures/<name>.json`.
async fn source(name: &str) -> TestApp {
    let mut app = TestApp::builder().fixture(name).auth(test_auth()).spawn().await;
    app.bearer = Some(TEST_STATIC_TOKEN.to_owned());
    app
}

/// An empty scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("uko-mock-snapshot-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("a scratch directory");
    directory
}

/// Runs `uko-mock snapshot <arguments>` with no UKO_* variables from the environment.
async fn snapshot(arguments: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_uko-mock"));
    command.arg("snapshot").args(arguments);
    for variable in ["UKO_URL", "UKO_APIKEY", "UKO_TOKEN", "UKO_IAM_URL"] {
        command.env_remove(variable);
    }
    command.output().await.expect("uko-mock snapshot runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Files in `directory` (a failed snapshot must leave none, not even a temporary one).
fn files_in(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .expect("a readable directory")
        .filter_map(|entry| entry.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

/// One GET: status, ETag and the body with the server's own root replaced by `http://HOST`.
async fn get(client: &reqwest::Client, base_url: &str, path: &str) -> (u16, Option<String>, Value) {
    let url = format!("{base_url}/api/v4{path}");
    // The same correlation id on both servers: it is the `trace` of embedded keystore errors.
    let request = client.get(&url).bearer_auth(TEST_STATIC_TOKEN).header("X-Correlation-ID", "snapshot-compare");
    let response = request.send().await.expect("the mock answers");
    let status = response.status().as_u16();
    let etag = response.headers().get(ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let text = response.text().await.expect("a body").replace(base_url, "http://HOST");
    (status, etag, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn ids(list: &Value, items: &str) -> Vec<String> {
    list[items].as_array().into_iter().flatten().filter_map(|i| i["id"].as_str().map(str::to_owned)).collect()
}

/// Every GET of the UKO surface, on both servers, in the same order (reads that contact a keystore change
/// its heartbeat, so both must see the same sequence). Returns how many answers were compared.
async fn compare_everything(source: &str, replica: &str, context: &str) -> usize {
    let client = reqwest::Client::new();
    let mut compared = 0;
    let mut paths: Vec<String> =
        ["/vaults", "/templates", "/keystores", "/managed_keys"].iter().map(|p| format!("{p}?limit=1000")).collect();
    let (_, _, vaults) = get(&client, source, "/vaults?limit=1000").await;
    let (_, _, templates) = get(&client, source, "/templates?limit=1000").await;
    let (_, _, keystores) = get(&client, source, "/keystores?limit=1000").await;
    let (_, _, keys) = get(&client, source, "/managed_keys?limit=1000").await;
    paths.extend(ids(&vaults, "vaults").into_iter().map(|id| format!("/vaults/{id}")));
    paths.extend(ids(&templates, "templates").into_iter().map(|id| format!("/templates/{id}")));
    for id in ids(&keystores, "keystores") {
        for suffix in ["", "/status", "/managed_keys?limit=1000", "/associated_resources?limit=1000"] {
            paths.push(format!("/keystores/{id}{suffix}"));
        }
    }
    let key_ids = ids(&keys, "managed_keys");
    assert!(!key_ids.is_empty(), "{context}: the source has managed keys");
    for id in key_ids {
        for suffix in ["", "/versions?limit=1000", "/status_in_keystores", "/associated_resources?limit=1000"] {
            paths.push(format!("/managed_keys/{id}{suffix}"));
        }
    }
    // The lists once more, after the single reads contacted the keystores.
    paths.extend(["/keystores?limit=1000", "/managed_keys?limit=1000"].map(str::to_owned));
    for path in paths {
        let expected = get(&client, source, &path).await;
        let actual = get(&client, replica, &path).await;
        assert_eq!(expected.0, 200, "{context}: GET {path} on the source: {}", expected.2);
        assert_eq!(actual.0, expected.0, "{context}: status of GET {path}: {}", actual.2);
        assert_eq!(actual.1, expected.1, "{context}: ETag of GET {path}");
        assert_eq!(
            actual.2,
            expected.2,
            "{context}: body of GET {path}\nreplica: {}\nsource:  {}",
            serde_json::to_string_pretty(&actual.2).unwrap_or_default(),
            serde_json::to_string_pretty(&expected.2).unwrap_or_default()
        );
        compared += 1;
    }
    compared
}

/// Makes the source show what the snapshot recorded where the public API cannot see the cause: its fault
/// rules go, and keystores with intermittent reachability get the reachability the walk observed.
async fn align_invisible_state(app: &TestApp, name: &str, snapshot: &Fixture) {
    let original = load_fixture(name);
    let client = reqwest::Client::new();
    let control = format!("{}/__mock/v1", app.base_url);
    for rule in &original.faults {
        let response = client.delete(format!("{control}/faults/{}", rule.id)).send().await.expect("control plane");
        assert!(response.status().is_success(), "{name}: deleting fault rule {}", rule.id);
    }
    let text = std::fs::read_to_string(fixture_path(name)).expect("the fixture file");
    let raw: Value = serde_json::from_str(&text).expect("fixture JSON");
    for keystore in raw["keystores"].as_array().into_iter().flatten() {
        let mode = keystore["simulation"]["reachability"]["mode"].as_str().unwrap_or("reachable");
        if matches!(mode, "reachable" | "unreachable") {
            continue;
        }
        let id = keystore["id"].as_str().unwrap_or_default();
        let recorded = snapshot.keystores.iter().find(|k| k.id == id).expect("the keystore is in the snapshot");
        let recorded = serde_json::to_value(&recorded.simulation.reachability).expect("reachability JSON");
        if mode == "unreachable_for_calls" {
            // Its first call fails, and the walk's live status call is that first call.
            assert_eq!(recorded["mode"], "unreachable", "{name}: a keystore seen unreachable stays unreachable");
            assert!(snapshot.description.contains("unreachable here"), "{name}: {}", snapshot.description);
        }
        let response = client
            .put(format!("{control}/keystores/{id}/reachability"))
            .json(&recorded)
            .send()
            .await
            .expect("control plane");
        assert!(response.status().is_success(), "{name}: setting reachability of {id}");
    }
}

#[tokio::test]
async fn every_scenario_fixture_round_trips_through_a_snapshot() {
    let directory = scratch("round-trip");
    for (index, name) in FIXTURES.into_iter().enumerate() {
        let app = source(name).await;
        let out = directory.join(format!("{name}.json"));
        let out_text = out.display().to_string();
        // Both ways to authenticate: an API key exchanged at the mock's IAM endpoint, and a token as given.
        let output = if index % 2 == 0 {
            snapshot(&[
                "--from",
                &app.api_url,
                "--apikey",
                TEST_API_KEY,
                "--iam-url",
                &app.base_url,
                "--out",
                &out_text,
            ])
            .await
        } else {
            snapshot(&["--from", &app.base_url, "--token", TEST_STATIC_TOKEN, "--out", &out_text]).await
        };
        assert!(output.status.success(), "{name}: snapshot failed:\n{}", stderr(&output));
        assert!(stderr(&output).contains("managed keys: "), "{name}: progress on stderr:\n{}", stderr(&output));
        let snapshot = Fixture::load(&out).unwrap_or_else(|error| panic!("{name}: the snapshot loads: {error:?}"));
        assert!(snapshot.description.starts_with("Snapshot of the UKO tenant at"), "{name}");
        let original = load_fixture(name);
        assert_eq!(snapshot.managed_keys.len(), original.managed_keys.len(), "{name}: every key");
        if snapshot.keystores.iter().any(|k| !k.is_internal()) {
            assert!(snapshot.description.contains(uko_mock::snapshot::PLACEHOLDER_SECRET), "{name}");
            assert!(stderr(&output).contains("placeholder"), "{name}: the placeholders are said on stderr");
        }
        align_invisible_state(&app, name, &snapshot).await;
        let replica = Binary::start(&["--fixture", &out_text, "--token", TEST_STATIC_TOKEN, "--log", "error"]).await;
        // Without a token the replica refuses, like the source: authentication is the server's, not the fixture's.
        let refused = reqwest::get(format!("{}/api/v4/vaults", replica.base_url)).await.expect("the replica answers");
        assert_eq!(refused.status().as_u16(), 401, "{name}");
        let compared = compare_everything(&app.base_url, &replica.base_url, name).await;
        assert!(compared >= 16, "{name}: only {compared} answers compared");
        replica.stop().await;
    }
    let _ = std::fs::remove_dir_all(&directory);
}

#[tokio::test]
async fn a_refused_token_fails_clearly_and_writes_no_file() {
    let directory = scratch("refused");
    let app = source("default").await;
    let out = directory.join("snapshot.json");
    let output =
        snapshot(&["--from", &app.base_url, "--token", "not-a-token", "--out", &out.display().to_string()]).await;
    let text = stderr(&output);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("refused") && text.contains("401") && text.contains(&app.base_url), "{text}");
    assert_eq!(files_in(&directory), Vec::<String>::new(), "{text}");

    let output = snapshot(&[
        "--from",
        &app.base_url,
        "--apikey",
        "not-a-key",
        "--iam-url",
        &app.base_url,
        "--out",
        &out.display().to_string(),
    ])
    .await;
    let text = stderr(&output);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("refused the API key") && text.contains("/identity/token"), "{text}");
    assert_eq!(files_in(&directory), Vec::<String>::new(), "{text}");
    let _ = std::fs::remove_dir_all(&directory);
}

#[tokio::test]
async fn an_unreachable_or_wrong_url_fails_clearly_and_writes_no_file() {
    let directory = scratch("unreachable");
    let out = directory.join("snapshot.json").display().to_string();
    // A loopback port with nothing listening: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let url = format!("http://127.0.0.1:{port}");
    let output = snapshot(&["--from", &url, "--token", "t", "--out", &out]).await;
    let text = stderr(&output);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("cannot reach") && text.contains(&url) && text.contains("refused"), "{text}");
    assert_eq!(files_in(&directory), Vec::<String>::new(), "{text}");

    // A URL that is not the server root: the 404 is explained.
    let app = source("default").await;
    let output =
        snapshot(&["--from", &format!("{}/uko", app.base_url), "--token", TEST_STATIC_TOKEN, "--out", &out]).await;
    let text = stderr(&output);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("server root") && text.contains("404"), "{text}");
    assert_eq!(files_in(&directory), Vec::<String>::new(), "{text}");
    let _ = std::fs::remove_dir_all(&directory);
}

#[tokio::test]
async fn include_keys_limit_stops_after_n_keys_and_says_so() {
    let directory = scratch("limit");
    let app = source("default").await;
    let out = directory.join("snapshot.json");
    let out_text = out.display().to_string();
    let output = snapshot(&[
        "--from",
        &app.base_url,
        "--token",
        TEST_STATIC_TOKEN,
        "--include-keys-limit",
        "3",
        "--out",
        &out_text,
    ])
    .await;
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("stopped after 3 of 8 managed keys"), "{text}");
    let snapshot = Fixture::load(&out).expect("the snapshot loads");
    assert_eq!(snapshot.managed_keys.len(), 3);
    assert!(snapshot.description.contains("Only the first 3 managed keys"), "{}", snapshot.description);
    // The included keys are served as the source serves them (the newest three: the list's default order).
    let replica = Binary::start(&["--fixture", &out_text, "--token", TEST_STATIC_TOKEN, "--log", "error"]).await;
    let client = reqwest::Client::new();
    let (_, _, listed) = get(&client, &app.base_url, "/managed_keys?limit=3").await;
    let newest = ids(&listed, "managed_keys");
    assert_eq!(newest, snapshot.managed_keys.iter().map(|k| k.id.clone()).collect::<Vec<_>>());
    for id in newest {
        let path = format!("/managed_keys/{id}");
        let expected = get(&client, &app.base_url, &path).await;
        let actual = get(&client, &replica.base_url, &path).await;
        assert_eq!((actual.1, actual.2), (expected.1, expected.2), "GET {path}");
    }
    replica.stop().await;
    let _ = std::fs::remove_dir_all(&directory);
}

#[tokio::test]
async fn a_tenant_with_more_keys_than_a_page_is_read_page_by_page() {
    const KEYS: usize = 1_200;
    let mut fixture = default_fixture_json();
    let template = fixture["managed_keys"][0].clone();
    let keys = fixture["managed_keys"].as_array_mut().expect("managed_keys");
    for index in 0..KEYS - keys.len() {
        let mut key = template.clone();
        key["id"] = json!(format!("44444444-4444-4444-8444-{:012}", 100_000 + index));
        key["label"] = json!(format!("bulk-key-{index}"));
        key["instances"][0]["id"] = json!(format!("55555555-5555-4555-8555-{:012}", 100_000 + index));
        // Distinct updated_at values, so the default order (-updated_at) is the same on both servers.
        key["updated_at"] =
            json!(format!("2025-11-{:02}T{:02}:{:02}:00Z", 1 + index / 1440, index / 60 % 24, index % 60));
        keys.push(key);
    }
    let mut app = TestApp::builder().fixture_value(fixture_from_value(&fixture)).auth(test_auth()).spawn().await;
    app.bearer = Some(TEST_STATIC_TOKEN.to_owned());
    let directory = scratch("paging");
    let out = directory.join("snapshot.json");
    let out_text = out.display().to_string();
    let output = snapshot(&["--from", &app.base_url, "--token", TEST_STATIC_TOKEN, "--out", &out_text]).await;
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains(&format!("managed keys: 1000/{KEYS}")), "progress after the first page:\n{text}");
    assert!(text.contains(&format!("managed keys: {KEYS}/{KEYS}")), "{text}");
    let snapshot = Fixture::load(&out).expect("the snapshot loads");
    assert_eq!(snapshot.managed_keys.len(), KEYS);
    let replica = Binary::start(&["--fixture", &out_text, "--token", TEST_STATIC_TOKEN, "--log", "error"]).await;
    let client = reqwest::Client::new();
    for path in ["/managed_keys?limit=1000", "/managed_keys?limit=1000&offset=1000", "/vaults?limit=10"] {
        let expected = get(&client, &app.base_url, path).await;
        let actual = get(&client, &replica.base_url, path).await;
        assert_eq!(expected.0, 200, "GET {path}");
        assert!(actual == expected, "GET {path} differs");
    }
    replica.stop().await;
    let _ = std::fs::remove_dir_all(&directory);
}

/// A POST or PATCH with `If-Match` set to the resource's current ETag; returns status, ETag and body.
async fn change(
    client: &reqwest::Client,
    base_url: &str,
    method: reqwest::Method,
    path: &str,
    resource: &str,
    body: Value,
) -> (u16, Option<String>, Value) {
    let (_, etag, _) = get(client, base_url, resource).await;
    let response = client
        .request(method, format!("{base_url}/api/v4{path}"))
        .bearer_auth(TEST_STATIC_TOKEN)
        .header("If-Match", etag.unwrap_or_default())
        .header("X-Correlation-ID", "snapshot-compare")
        .json(&body)
        .send()
        .await
        .expect("the mock answers");
    let status = response.status().as_u16();
    let etag = response.headers().get(ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let text = response.text().await.expect("a body").replace(base_url, "http://HOST");
    (status, etag, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn a_changed_tenant_round_trips_and_the_next_change_gets_the_same_later_etag() {
    use crate::helpers::{KEY_ACTIVE, KEY_PRE_ACTIVE, VAULT};
    let app = source("default").await;
    let client = reqwest::Client::new();
    // Changes through the API first: a rotation (a second version) and an activation (new copies).
    let rotate = format!("/managed_keys/{KEY_ACTIVE}/rotate");
    let rotated = change(
        &client,
        &app.base_url,
        reqwest::Method::POST,
        &rotate,
        &format!("/managed_keys/{KEY_ACTIVE}"),
        json!({}),
    )
    .await;
    assert_eq!(rotated.0, 200, "{}", rotated.2);
    let activate = format!("/managed_keys/{KEY_PRE_ACTIVE}/activate");
    let activated = change(
        &client,
        &app.base_url,
        reqwest::Method::POST,
        &activate,
        &format!("/managed_keys/{KEY_PRE_ACTIVE}"),
        json!({}),
    )
    .await;
    assert_eq!(activated.0, 200, "{}", activated.2);
    let newest = activated.1.clone().expect("an ETag");

    let directory = scratch("changed");
    let out = directory.join("snapshot.json");
    let out_text = out.display().to_string();
    let output = snapshot(&["--from", &app.base_url, "--token", TEST_STATIC_TOKEN, "--out", &out_text]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let replica = Binary::start(&["--fixture", &out_text, "--token", TEST_STATIC_TOKEN, "--log", "error"]).await;
    compare_everything(&app.base_url, &replica.base_url, "default after changes").await;

    // The clock carried over: the same change on both gets the same ETag, later than every earlier one.
    let vault = format!("/vaults/{VAULT}");
    let body = json!({"description": "Changed after the snapshot"});
    let expected = change(&client, &app.base_url, reqwest::Method::PATCH, &vault, &vault, body.clone()).await;
    let actual = change(&client, &replica.base_url, reqwest::Method::PATCH, &vault, &vault, body).await;
    assert_eq!(expected.0, 200, "{}", expected.2);
    assert_eq!(actual, expected);
    let etag = actual.1.expect("an ETag");
    assert!(etag > newest, "the next change's ETag {etag} comes after {newest}");
    replica.stop().await;
    let _ = std::fs::remove_dir_all(&directory);
}
