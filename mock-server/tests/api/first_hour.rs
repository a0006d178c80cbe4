//! What a new user meets first, through the real binary where it is the binary's job: startup errors on one
//! line with what to do, the banner's console URL, warnings naming the real root, the control plane's index
//! and 404s, the instance-id rule, unknown fields and parameters logged once, `snapshot --apikey` without
//! an IAM URL.

use std::process::Output;

use reqwest::Method;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::binary::Binary;
use crate::helpers::TestApp;

const ACTIVE_KEY: &str = "44444444-4444-4444-8444-000000000001";

/// Runs `uko-mock <arguments>` with RUST_BACKTRACE=1 (as many Rust shells set it) and waits for it to end.
async fn uko_mock(arguments: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_uko-mock"));
    command.args(arguments).env("RUST_BACKTRACE", "1").kill_on_drop(true);
    for variable in ["UKO_URL", "UKO_APIKEY", "UKO_TOKEN", "UKO_IAM_URL", "UKO_MOCK_PORT", "UKO_MOCK_FIXTURE"] {
        command.env_remove(variable);
    }
    tokio::time::timeout(std::time::Duration::from_secs(30), command.output())
        .await
        .expect("uko-mock ends within 30 s")
        .expect("uko-mock runs")
}

/// Checks a refused start: exit code 1, nothing on stdout, one line on stderr saying `expected` (what is
/// wrong and what to do), no backtrace and no multi-line report.
#[track_caller]
fn check_refused_start(output: &Output, expected: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "exit code; stderr:\n{stderr}");
    assert!(output.stdout.is_empty(), "nothing on stdout: {}", String::from_utf8_lossy(&output.stdout));
    let lines: Vec<&str> = stderr.lines().filter(|line| !line.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr:\n{stderr}");
    assert!(lines[0].starts_with("uko-mock: error: "), "{stderr}");
    for part in expected {
        assert!(lines[0].contains(part), "the line says {part:?}:\n{stderr}");
    }
    for noise in ["backtrace", "Caused by", "panicked", "\x1b["] {
        assert!(!stderr.contains(noise), "no {noise:?}:\n{stderr}");
    }
}

/// A request to a path from the server root (the helpers' `request` is relative to the API base).
fn root(app: &TestApp, method: Method, path: &str) -> reqwest::RequestBuilder {
    app.request_url(method, &format!("{}{path}", app.base_url))
}

fn scratch(name: &str) -> std::path::PathBuf {
    let directory =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("first-hour-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    directory
}

#[tokio::test]
async fn a_port_in_use_is_one_line_suggesting_port_0() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();

    let output = uko_mock(&["--port", &port]).await;

    check_refused_start(&output, &[&format!("127.0.0.1:{port}"), "the port is in use", "--port 0"]);
}

#[tokio::test]
async fn fixture_problems_are_one_line_naming_the_file_and_the_fix() {
    let directory = scratch("fixtures");
    let missing = directory.join("missing.json");
    let malformed = directory.join("malformed.json");
    std::fs::write(&malformed, r#"{"description": "cut short", "vaults": ["#).unwrap();
    let typo = directory.join("typo.json");
    std::fs::write(&typo, r#"{"description": "a typo'd field", "valuts": []}"#).unwrap();

    for (file, reason) in [(&missing, "cannot read"), (&malformed, "EOF"), (&typo, "valuts")] {
        let output = uko_mock(&["--port", "0", "--fixture", &file.display().to_string()]).await;
        check_refused_start(&output, &[&file.display().to_string(), reason, "pass another --fixture"]);
    }
}

#[tokio::test]
async fn an_unusable_state_file_is_one_line_and_left_untouched() {
    let directory = scratch("state");
    let state_file = directory.join("state.json");
    std::fs::write(&state_file, "not a state file").unwrap();

    let output = uko_mock(&["--port", "0", "--state-file", &state_file.display().to_string()]).await;

    check_refused_start(&output, &[&state_file.display().to_string(), "left untouched", "--state-file"]);
    assert_eq!(std::fs::read_to_string(&state_file).unwrap(), "not a state file");
}

#[tokio::test]
async fn snapshot_with_an_api_key_needs_an_iam_url_unless_the_source_is_ibm_cloud() {
    let directory = scratch("snapshot");
    let out = directory.join("copy.json").display().to_string();

    let output = uko_mock(&["snapshot", "--from", "http://127.0.0.1:9", "--apikey", "k", "--out", &out]).await;

    check_refused_start(&output, &["--apikey needs --iam-url", "--iam-url http://127.0.0.1:9"]);
    assert!(!directory.join("copy.json").exists());
}

#[tokio::test]
async fn the_banner_prints_the_console_url_and_warnings_name_the_real_root() {
    let binary = Binary::start(&["--auth", "none", "--log", "warn"]).await;
    let root = binary.base_url.clone();
    let client = reqwest::Client::new();
    let doubled = client.get(format!("{root}/api/v4/api/v4/vaults")).send().await.unwrap();
    assert_eq!(doubled.status(), 200);

    let printed = binary.stop().await;

    assert!(printed.contains(&format!("  console:      {root}/  (the web console")), "{printed}");
    assert!(printed.contains(&format!("give them the server root ({root})")), "{printed}");
    assert!(!printed.contains(":9549"), "no hard-coded port: {printed}");
    assert!(!printed.contains('\x1b'), "no colour codes when stderr is not a terminal: {printed:?}");
}

#[tokio::test]
async fn unknown_body_fields_and_query_parameters_are_accepted_and_logged_once_per_name() {
    let binary = Binary::start(&["--auth", "none", "--log", "warn"]).await;
    let api = format!("{}/api/v4", binary.base_url);
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let key = client.get(format!("{api}/managed_keys/{ACTIVE_KEY}")).send().await.unwrap();
        let etag = key.headers()["etag"].to_str().unwrap().to_owned();
        let patched = client
            .patch(format!("{api}/managed_keys/{ACTIVE_KEY}"))
            .header("If-Match", etag)
            .json(&json!({"descripton": "typo", "description": "kept"}))
            .send()
            .await
            .unwrap();
        assert_eq!(patched.status(), 200, "UKO ignores unknown fields, so does the mock");
        let listed = client.get(format!("{api}/managed_keys?lmit=2&limit=3")).send().await.unwrap();
        assert_eq!(listed.status(), 200);
        assert_eq!(listed.json::<Value>().await.unwrap()["limit"], 3);
    }

    let printed = binary.stop().await;

    let field_warnings = printed.lines().filter(|line| line.contains("field=descripton")).count();
    let parameter_warnings = printed.lines().filter(|line| line.contains("parameter=lmit")).count();
    assert_eq!((field_warnings, parameter_warnings), (1, 1), "{printed}");
    assert!(printed.contains("WARN"), "{printed}");
    assert!(!printed.contains("field=description") && !printed.contains("parameter=limit"), "{printed}");
}

#[tokio::test]
async fn invalid_instance_ids_are_400_naming_the_rule() {
    let app = TestApp::spawn().await;
    let long = "a".repeat(65);
    for path in [
        "/instances/bad%20id/api/v4/vaults".to_owned(),
        "/instances/.hidden/api/v4/vaults".to_owned(),
        format!("/instances/{long}/api/v4/vaults"),
        "/__mock/v1/instances/bad%20id/journal".to_owned(),
    ] {
        let response = app.send(root(&app, Method::GET, &path)).await.assert_status(StatusCode::BAD_REQUEST);
        let body = response.json();
        assert_eq!(body["errors"][0]["code"], "invalid_path_parameter", "{path}");
        assert_eq!(body["errors"][0]["target"]["name"], "instance_id", "{path}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("1 to 64 letters, digits, '-', '_' or '.', not starting with '.'"), "{message}");
    }
    app.send(root(&app, Method::GET, "/instances/team-a.run_1/api/v4/vaults")).await.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn the_control_plane_index_lists_every_route_and_each_one_answers() {
    let app = TestApp::spawn().await;
    let index = app.send(root(&app, Method::GET, "/__mock/v1/")).await.assert_status(StatusCode::OK).json();
    let without_slash = app.send(root(&app, Method::GET, "/__mock/v1")).await.assert_status(StatusCode::OK).json();
    assert_eq!(index, without_slash);
    let routes = index["routes"].as_array().unwrap();
    assert!(routes.len() >= 20, "{index}");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let openapi = app.send(root(&app, Method::GET, "/__mock/v1/control-openapi.json")).await.json();

    for route in routes {
        let method = route["method"].as_str().unwrap();
        let path = route["path"].as_str().unwrap();
        assert!(!route["description"].as_str().unwrap().is_empty(), "{route}");
        let relative = path.strip_prefix("/__mock/v1").unwrap();
        assert!(readme.contains(&format!("| `{method} {relative}` |")), "README.md's table names {method} {relative}");
        assert!(
            openapi["paths"][path][method.to_ascii_lowercase()].is_object(),
            "the OpenAPI document has {method} {path}"
        );
        let concrete = relative
            .replace("{instance_id}", "index-test")
            .replace("{keystore_id}", "33333333-3333-4333-8333-000000000002")
            .replace("{managed_key_id}", "44444444-4444-4444-8444-000000000003")
            .replace("{rule_id}", "rule-1");
        let mut request = root(&app, Method::from_bytes(method.as_bytes()).unwrap(), &format!("/__mock/v1{concrete}"));
        if method != "GET" && method != "DELETE" {
            request = request.header("Content-Type", "application/json").body("{}");
        }
        let response = app.send(request).await;
        assert_ne!(response.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {concrete}: {}", response.text);
        assert!(!response.text.contains("no such control route"), "{method} {concrete} is routed: {}", response.text);
        if let Some(scoped) = route["instance_path"].as_str() {
            assert!(openapi["paths"][scoped][method.to_ascii_lowercase()].is_object(), "{scoped}");
        }
    }
}

#[tokio::test]
async fn unknown_control_paths_say_no_such_control_route() {
    let app = TestApp::spawn().await;
    for path in ["/__mock/v1/nope", "/__mock/v1/instances/team-a/nope", "/__mock/v1/clock/rewind"] {
        let response = app.send(root(&app, Method::GET, path)).await.assert_status(StatusCode::NOT_FOUND);
        let message = response.json()["errors"][0]["message"].as_str().unwrap().to_owned();
        assert_eq!(message, format!("no such control route: GET {path}; GET /__mock/v1/ lists them"));
    }
    // The UKO surface keeps UKO's own wording.
    let uko = app.send(root(&app, Method::GET, "/api/v4/nope")).await.assert_status(StatusCode::NOT_FOUND);
    assert!(uko.json()["errors"][0]["message"].as_str().unwrap().contains("does not exist in UKO API v4"));
}

#[tokio::test]
async fn the_serve_line_snapshot_prints_runs_as_printed() {
    let app = TestApp::spawn().await;
    let directory = scratch("serve-line");
    let out = directory.join("copy of tenant.json").display().to_string();
    let output = uko_mock(&["snapshot", "--from", &app.base_url, "--out", &out]).await;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let printed = stderr.lines().find_map(|line| line.strip_prefix("serve it with: ")).expect(&stderr).to_owned();
    assert_eq!(printed, format!("uko-mock --fixture '{out}'"));

    // The printed line, as a shell runs it, with uko-mock on PATH (as `cargo install` puts it).
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_uko-mock")).parent().unwrap().display().to_string();
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap_or_default());
    let mut served = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("exec {printed} --port 0 --log error"))
        .env("PATH", path)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(served.stdout.take().unwrap()));
    let fixture_line = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim_start().starts_with("fixture:") {
                return line;
            }
        }
        String::new()
    })
    .await
    .unwrap();
    assert!(fixture_line.contains("Snapshot of the UKO tenant at"), "{fixture_line}");
    served.kill().await.unwrap();
}
