//! The web console: its files as served (always), and the seed's UI flow in a real headless Chromium
//! driven over WebDriver (when chromium and chromedriver are installed; required when `CI=true`).
//!
//! The browser test starts the real `uko-mock` binary with its defaults (IAM auth on), so the console signs
//! in through `/identity/token` like any client. Screenshots go to `target/console-screenshots/`.
//!
//! A test binary of its own (`harness = false`): libtest cannot skip a test at run time, and a browser
//! test without a browser must not count as passed. This runner prints libtest's lines, a skipped test as
//! `SKIPPED` with the reason, and a summary `test result: ok. N passed; N failed; N skipped`.

mod webdriver;

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uko_mock::MockServer;
use webdriver::{BrowserInstall, By, Driver, Session};

const OUT_OF_SYNC_KEY: &str = "44444444-4444-4444-8444-000000000003";
const OUT_OF_SYNC_LABEL: &str = "A-PAYMENTS-AES256-PROD";
const ACTIVE_KEY: &str = "44444444-4444-4444-8444-000000000001";
const ACTIVE_LABEL: &str = "payments-dek-internal";

// ---------------------------------------------------------------------------------------------------------
// The runner

/// How a test ended when it did not fail (a failure is a panic, caught by the runtime).
enum Outcome {
    Passed,
    Skipped(String),
}

type TestFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// A test: its name and how to start it.
type Test = (&'static str, fn() -> TestFuture);

/// Every test of this binary, by name.
const TESTS: &[Test] = &[
    ("the_console_page_is_served_at_the_root_and_under_ui", || {
        Box::pin(the_console_page_is_served_at_the_root_and_under_ui())
    }),
    ("assets_have_their_content_type_and_revalidate_with_etags", || {
        Box::pin(assets_have_their_content_type_and_revalidate_with_etags())
    }),
    ("unknown_console_paths_are_404", || Box::pin(unknown_console_paths_are_404())),
    ("seed_flow_in_headless_chromium", || Box::pin(seed_flow_in_headless_chromium())),
];

fn main() -> ExitCode {
    // libtest's arguments that matter here: name filters, --exact, --skip NAME, --list; others are ignored.
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let (mut exact, mut list) = (false, false);
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--exact" => exact = true,
            "--list" => list = true,
            "--skip" => skips.extend(arguments.next()),
            "--test-threads" | "--format" | "--color" | "--logfile" | "-Z" => {
                arguments.next();
            }
            flag if flag.starts_with('-') => {}
            filter => filters.push(filter.to_owned()),
        }
    }
    let matches = |name: &str, pattern: &str| if exact { name == pattern } else { name.contains(pattern) };
    let selected: Vec<_> = TESTS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| matches(name, f)))
        .filter(|(name, _)| !skips.iter().any(|s| matches(name, s)))
        .collect();
    if list {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime");
    println!("\nrunning {} tests", selected.len());
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut reasons = Vec::new();
    for (name, test) in &selected {
        // A spawned task turns a panic (a failed assertion) into an error instead of ending the runner.
        match runtime.block_on(runtime.spawn(test())) {
            Ok(Outcome::Passed) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Ok(Outcome::Skipped(reason)) => {
                skipped += 1;
                println!("test {name} ... SKIPPED: {reason}");
                reasons.push(format!("{name}: {reason}"));
            }
            Err(_panic) => {
                failed += 1;
                println!("test {name} ... FAILED");
            }
        }
    }
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    println!("\ntest result: {verdict}. {passed} passed; {failed} failed; {skipped} skipped");
    for reason in reasons {
        println!("  skipped {reason}");
    }
    println!();
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// ---------------------------------------------------------------------------------------------------------
// The files as served

async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

async fn the_console_page_is_served_at_the_root_and_under_ui() -> Outcome {
    let server = MockServer::start().await.unwrap();
    for path in ["/", "/ui/", "/instances/team-a/"] {
        let response = get(&format!("{}{path}", server.base_url()), &[]).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "content-type"), "text/html; charset=utf-8", "{path}");
        assert_eq!(header(&response, "cache-control"), "no-cache", "{path}");
        assert!(header(&response, "content-security-policy").contains("default-src 'self'"), "{path}");
        let text = response.text().await.unwrap();
        assert!(text.contains(r#"<script type="module" src="/ui/js/app.js">"#), "{path}");
        assert!(!text.contains("http://") && !text.contains("https://"), "the page loads nothing from elsewhere");
    }
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/ui", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(header(&redirect, "location"), "ui/");
    Outcome::Passed
}

async fn assets_have_their_content_type_and_revalidate_with_etags() -> Outcome {
    let server = MockServer::start().await.unwrap();
    for (path, content_type) in [
        ("/ui/js/app.js", "text/javascript; charset=utf-8"),
        ("/ui/js/views/key.js", "text/javascript; charset=utf-8"),
        ("/ui/style.css", "text/css; charset=utf-8"),
        ("/ui/favicon.svg", "image/svg+xml"),
    ] {
        let url = format!("{}{path}", server.base_url());
        let response = get(&url, &[]).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "content-type"), content_type, "{path}");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&response, "cache-control"), "no-cache", "{path}");
        let etag = header(&response, "etag");
        assert!(etag.starts_with('"') && etag.len() == 18, "{path}: {etag}");
        let again = get(&url, &[("if-none-match", &etag)]).await;
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(header(&again, "etag"), etag);
        assert!(again.bytes().await.unwrap().is_empty());
        let other = get(&url, &[("if-none-match", "\"0000000000000000\"")]).await;
        assert_eq!(other.status(), 200, "{path}");
    }
    Outcome::Passed
}

async fn unknown_console_paths_are_404() -> Outcome {
    let server = MockServer::start().await.unwrap();
    for path in ["/ui/nope.js", "/ui/js/", "/ui/js/views/missing.js", "/ui/../Cargo.toml", "/ui/index.htm"] {
        let response = get(&format!("{}{path}", server.base_url()), &[]).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(header(&response, "content-type"), "application/json", "{path}");
    }
    let body: Value = get(&format!("{}/ui/nope.js", server.base_url()), &[]).await.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "not_found");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("/ui/nope.js"));
    // The console does not shadow the API or the control plane.
    assert_eq!(get(&format!("{}/api/v4/vaults", server.base_url()), &[]).await.status(), 200);
    assert_eq!(get(&format!("{}/__mock/v1/health", server.base_url()), &[]).await.status(), 200);
    Outcome::Passed
}

// ---------------------------------------------------------------------------------------------------------
// The browser test

/// The real binary on a free port, with its default authentication (IAM).
struct Binary {
    /// Killed when dropped.
    _process: Child,
    base_url: String,
}

impl Binary {
    async fn start() -> Result<Binary> {
        let mut process = Command::new(env!("CARGO_BIN_EXE_uko-mock"))
            .args(["--port", "0", "--log", "warn"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start uko-mock")?;
        let stdout = process.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let base_url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.split(" listening on ").nth(1) {
                    return Ok::<_, anyhow::Error>(url.trim().to_owned());
                }
            }
            bail!("uko-mock exited before printing its address")
        })
        .await
        .context("uko-mock did not print its address in time")??;
        // Keep draining stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Binary { _process: process, base_url })
    }
}

/// A plain UKO client for the test's own calls (to change a key behind the console's back).
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn sign_in(base_url: &str) -> Result<Api> {
        let http = reqwest::Client::new();
        let body: Value = http
            .post(format!("{base_url}/identity/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=uko-mock-apikey")
            .send()
            .await?
            .json()
            .await?;
        let token = body["access_token"].as_str().ok_or_else(|| anyhow!("no token: {body}"))?.to_owned();
        Ok(Api { http, base: format!("{base_url}/api/v4"), token })
    }

    async fn etag(&self, key: &str) -> Result<String> {
        let response =
            self.http.get(format!("{}/managed_keys/{key}", self.base)).bearer_auth(&self.token).send().await?;
        ensure!(response.status() == 200, "GET key: {}", response.status());
        Ok(response.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned())
    }

    /// `PATCH /__mock/v1/settings` (the control plane is open on loopback).
    async fn settings(&self, settings: Value) -> Result<()> {
        let control = self.base.replace("/api/v4", "/__mock/v1/settings");
        let response = self.http.patch(control).json(&settings).send().await?;
        ensure!(response.status() == 200, "PATCH settings: {}", response.status());
        Ok(())
    }

    /// POSTs a key action with the key's current ETag; returns status and body.
    async fn action(&self, key: &str, action: &str) -> Result<(u16, Value)> {
        let etag = self.etag(key).await?;
        let response = self
            .http
            .post(format!("{}/managed_keys/{key}/{action}", self.base))
            .bearer_auth(&self.token)
            .header("if-match", etag)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or_default()))
    }
}

fn screenshot_folder() -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    target.parent().map(|p| p.join("console-screenshots")).unwrap_or_else(|| target.join("console-screenshots"))
}

/// Prints past the test harness's output capture, so a skip is visible in `cargo test` output.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

async fn seed_flow_in_headless_chromium() -> Outcome {
    let Some(install) = BrowserInstall::find() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true: the console browser test is required, but chromium or chromedriver is missing; run scripts/install-browser.sh");
        }
        return Outcome::Skipped(
            "chromium or chromedriver not found (scripts/install-browser.sh installs them; with CI=true this fails)"
                .to_owned(),
        );
    };
    let server = Binary::start().await.expect("uko-mock starts");
    let driver = Driver::start(&install).await.expect("chromedriver starts");
    let profile = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("console-profile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile).unwrap();
    let shots = screenshot_folder();
    std::fs::create_dir_all(&shots).unwrap();

    let session = driver.new_session(&install, &profile).await.expect("a browser session");
    let outcome = drive(&session, &server.base_url, &shots).await;
    let messages = session.severe_console_messages().await.unwrap_or_default();
    if outcome.is_err() {
        let _ = session.screenshot(shots.join("failure.png")).await;
    }
    session.quit().await;
    driver.stop().await;
    drop(server);
    let _ = std::fs::remove_dir_all(&profile);
    say(&format!("console screenshots: {}", shots.display()));
    if let Err(error) = outcome {
        panic!("{error:#}\n(browser console errors: {messages:?}; see {}/failure.png)", shots.display());
    }
    assert!(messages.is_empty(), "the page logged errors: {messages:#?}");
    Outcome::Passed
}

/// XPath for the row of a key in the Managed keys list.
fn key_row(label: &str) -> String {
    format!("//table[contains(@class,'keys-table')]//tr[th//a[normalize-space()='{label}']]")
}

async fn drive(session: &Session, base_url: &str, shots: &std::path::Path) -> Result<()> {
    let shot = |name: &'static str| session.screenshot(shots.join(format!("{name}.png")));

    // 1. The Managed keys list flags exactly the seed's key as out of sync.
    session.goto(&format!("{base_url}/")).await?;
    // The browser log channel works (so the final check for page errors means something).
    session.execute("console.error('uko-console-test-probe');", serde_json::json!([])).await?;
    let probe = session.severe_console_messages().await?;
    ensure!(probe.iter().any(|m| m.contains("uko-console-test-probe")), "browser log not readable: {probe:?}");
    let flagged_row = key_row(OUT_OF_SYNC_LABEL);
    session.wait(By::XPath(&format!("{flagged_row}//span[contains(@class,'flag-out-of-sync')]"))).await?;
    let flagged = session.find_all(By::Css(".keys-table .flag-out-of-sync")).await?;
    ensure!(flagged.len() == 1, "expected one key flagged Out of sync, found {}", flagged.len());
    let status = session.text_of(By::Css("#session-status")).await?;
    ensure!(status.contains("Signed in"), "the console signed in through IAM: {status}");
    shot("01-managed-keys").await?;

    // Paging follows the API's next/previous links; focus lands on the result summary.
    session.goto(&format!("{base_url}/#/keys?limit=3")).await?;
    session.wait(By::XPath("//p[contains(@class,'results-summary')][.='Showing 1–3 of 8 managed keys']")).await?;
    session.click(By::XPath("//nav[@aria-label='Pages of managed keys']//a[normalize-space()='Next ›']")).await?;
    session.wait(By::XPath("//p[contains(@class,'results-summary')][.='Showing 4–6 of 8 managed keys']")).await?;
    let focused = session.active_element_description().await?;
    ensure!(focused.starts_with("p:Showing 4–6"), "after paging, focus is on the summary, not {focused:?}");
    session.click(By::XPath("//nav[@aria-label='Pages of managed keys']//a[normalize-space()='Last']")).await?;
    session.wait(By::XPath("//p[contains(@class,'results-summary')][.='Showing 7–8 of 8 managed keys']")).await?;
    shot("01b-paging").await?;

    // The filter for out-of-sync keys uses the API's own parameter.
    session.goto(&format!("{base_url}/#/keys?status_in_keystores[].keystore_sync_flag=out_of_sync")).await?;
    session.wait(By::XPath(&format!("{flagged_row}//span[contains(@class,'flag-out-of-sync')]"))).await?;
    let summary = session.text_of(By::Css(".results-summary")).await?;
    ensure!(summary.contains("of 1 managed keys"), "filtered list: {summary}");

    // 2. Key details.
    session.click(By::XPath(&format!("{flagged_row}//a"))).await?;
    session.wait(By::XPath(&format!("//h1[normalize-space()='{OUT_OF_SYNC_LABEL}']"))).await?;
    session.wait(By::XPath("//*[@id='status-in-keystores']//tr[th[normalize-space()='AWS KMS Frankfurt']]")).await?;
    shot("02-key-details").await?;

    // 3. Actions › Verify sync (opened with the keyboard: focus the button, ArrowDown).
    session.send_keys_to(By::Css("#key-actions"), "\u{E015}").await?;
    session.wait(By::Css("[data-action='verify']")).await?;
    let focused = session.active_element_description().await?;
    ensure!(focused == "button:Verify sync", "ArrowDown on Actions focuses the first item, not {focused:?}");
    shot("03-actions-menu").await?;
    session.click(By::Css("[data-action='verify']")).await?;
    let notice = session.text_of(By::Css(".notice-attention")).await?;
    ensure!(notice.contains("out of sync in 1 of 1 keystores"), "verify result: {notice}");
    ensure!(notice.contains("AWS KMS Frankfurt"), "verify names the keystore: {notice}");
    shot("04-verify-sync").await?;

    // 4. Actions › Sync key… asks to confirm the keystores, then syncs.
    session.click(By::Css("#key-actions")).await?;
    session.click(By::Css("[data-action='sync']")).await?;
    let dialog = session.text_of(By::Css("dialog[open]")).await?;
    ensure!(dialog.contains("AWS KMS Frankfurt") && dialog.contains("Confirm the keystores"), "sync dialog: {dialog}");
    let focused = session.active_element_description().await?;
    ensure!(focused == "button:Sync key", "the dialog focuses its confirm button, not {focused:?}");
    shot("05-sync-confirm").await?;
    session.click(By::XPath("//dialog[@open]//button[normalize-space()='Sync key']")).await?;
    session.wait_gone(By::Css("dialog[open]")).await?;
    let notice = session.text_of(By::Css(".notice-success")).await?;
    ensure!(notice.contains("Key synced: in sync in all 1 keystores"), "sync result: {notice}");
    let badges = session.text_of(By::Css(".title-badges")).await?;
    ensure!(badges.contains("In sync"), "header flag after sync: {badges}");
    let focused = session.active_element_description().await?;
    ensure!(focused.starts_with("button:Actions"), "focus returns to the Actions button, not {focused:?}");
    shot("06-synced").await?;

    // 5. The list no longer flags it.
    session.click(By::Css("a[data-section='keys']")).await?;
    session.wait(By::XPath(&format!("{flagged_row}//span[contains(@class,'flag-in-sync')]"))).await?;
    ensure!(
        session.find_all(By::Css(".keys-table .flag-out-of-sync")).await?.is_empty(),
        "no key is out of sync any more"
    );
    shot("07-list-after-sync").await?;

    // 6. The journal shows the conditional POST with its If-Match.
    session.click(By::Css("a[data-section='journal']")).await?;
    let sync_row = "//tr[contains(@class,'journal-row')][td[contains(@class,'journal-method')]='POST'][td[contains(@class,'journal-path')]//code[contains(.,'/sync_status_in_keystores')]]";
    session.wait(By::XPath(sync_row)).await?;
    let if_match = session.text_of(By::XPath(&format!("{sync_row}/td[contains(@class,'journal-if-match')]"))).await?;
    ensure!(is_etag(&if_match), "the sync was sent with If-Match <ETag>, journal shows {if_match:?}");
    let status = session.text_of(By::XPath(&format!("{sync_row}/td[contains(@class,'journal-status')]"))).await?;
    ensure!(status == "200", "sync answered {status}");
    let get_row = format!("//tr[contains(@class,'journal-row')][td[contains(@class,'journal-method')]='GET'][td[contains(@class,'journal-path')]//code[.='/api/v4/managed_keys/{OUT_OF_SYNC_KEY}']][td[contains(@class,'journal-etag')]//code[.='{if_match}']]");
    session.wait(By::XPath(&get_row)).await.context("the If-Match came from the ETag of a GET of the key")?;
    ensure_no_error_notice(session, "journal").await?;
    // Each row shows when it was received (seconds since the server started, to the millisecond), not the
    // instance's clock, which moves only on changes and so read the same on most rows.
    let received = session
        .execute(
            "return [...document.querySelectorAll('.journal-row .journal-received')].map((cell) => cell.textContent);",
            serde_json::json!([]),
        )
        .await?;
    let received: Vec<&str> = received.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let seconds: Vec<f64> = received.iter().filter_map(|t| t.strip_suffix(" s")?.parse().ok()).collect();
    ensure!(seconds.len() == received.len() && seconds.len() > 3, "received times: {received:?}");
    ensure!(seconds.first() > seconds.last(), "rows show their own times: {received:?}");
    shot("08-journal").await?;

    // Typing in the filter narrows the rows, and the summary counts what is shown.
    session.fill(By::Css("input[name='filter']"), "sync_status").await?;
    let rows = session.find_all(By::Css("tr.journal-row")).await?.len();
    let summary = session.text_of(By::Css(".results-summary")).await?;
    let total = session
        .execute(
            "return document.querySelector('.results-summary').textContent.match(/of (\\d+) requests/)[1];",
            serde_json::json!([]),
        )
        .await?;
    let total: usize = total.as_str().and_then(|t| t.parse().ok()).ok_or_else(|| anyhow!("no total in {summary:?}"))?;
    ensure!(rows >= 1 && rows < total, "the filter narrowed {total} requests to {rows} rows");
    ensure!(summary.starts_with(&format!("{rows} of {total} requests shown")), "summary after filtering: {summary:?}");
    ensure!(summary.contains("last poll"), "the summary still shows the last poll: {summary:?}");
    shot("08b-journal-filtered").await?;
    session.fill(By::Css("input[name='filter']"), "").await?;

    // 7. The Actions menu offers only what UKO allows in the key's state: an active key can be deactivated
    //    and rotated, not activated, destroyed or deleted.
    let api = Api::sign_in(base_url).await?;
    session.goto(&format!("{base_url}/#/keys/{ACTIVE_KEY}")).await?;
    session.wait(By::XPath(&format!("//h1[normalize-space()='{ACTIVE_LABEL}']"))).await?;
    session.click(By::Css("#key-actions")).await?;
    let offered = offered_actions(session).await?;
    ensure!(offered == ["verify", "sync", "deactivate", "rotate"], "actions offered for an active key: {offered:?}");
    shot("09-actions-of-an-active-key").await?;
    session.click(By::Css("#key-actions")).await?;

    // 8. A stale page: another client rotates the key; the console's Deactivate gets 412, explained, and
    //    Reload brings the page up to date.
    let (status, rotated) = api.action(ACTIVE_KEY, "rotate").await?;
    ensure!(status == 200, "rotate through the API: {status}");
    let version = rotated["version"].as_u64().ok_or_else(|| anyhow!("no version in {rotated}"))?;
    session.click(By::Css("#key-actions")).await?;
    session.click(By::Css("[data-action='deactivate']")).await?;
    session.click(By::XPath("//dialog[@open]//button[normalize-space()='Deactivate']")).await?;
    let stale = session.text_of(By::Css(".notice-warning")).await?;
    ensure!(stale.contains("This page is out of date") && stale.contains("412"), "stale explanation: {stale}");
    shot("10-stale-page-412").await?;
    session.click(By::XPath("//div[contains(@class,'notice-warning')]//button[normalize-space()='Reload']")).await?;
    session.wait_gone(By::Css(".notice-warning")).await?;
    session
        .wait(By::XPath(&format!("//dl//dt[.='Version']/following-sibling::dd[1][.='{version}']")))
        .await
        .context("the reloaded page shows the rotated version")?;
    session.click(By::Css("#key-actions")).await?;
    session.click(By::Css("[data-action='deactivate']")).await?;
    session.click(By::XPath("//dialog[@open]//button[normalize-space()='Deactivate']")).await?;
    let done = session.text_of(By::Css(".notice-success")).await?;
    ensure!(done.contains("Key deactivated"), "deactivate after reload: {done}");

    // A deactivated key can be reactivated or destroyed. Under the realistic profile the destroy comes too
    // early (4 hours after deactivation): the refusal shows UKO's message.
    session.click(By::Css("#key-actions")).await?;
    let offered = offered_actions(session).await?;
    ensure!(offered == ["verify", "sync", "activate", "destroy"], "actions offered for a deactivated key: {offered:?}");
    session.click(By::Css("#key-actions")).await?;
    api.settings(serde_json::json!({"profile": "realistic"})).await?;
    session.click(By::Css("#key-actions")).await?;
    session.click(By::Css("[data-action='destroy']")).await?;
    let focused = session.active_element_description().await?;
    ensure!(focused == "button:Cancel", "a destructive confirmation focuses Cancel first, not {focused:?}");
    session.click(By::XPath("//dialog[@open]//button[normalize-space()='Destroy']")).await?;
    let refusal = session.text_of(By::Css(".notice-error")).await?;
    let (status, body) = api.action(ACTIVE_KEY, "destroy").await?;
    ensure!(status == 409, "the API refuses the early destroy with 409, got {status}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    ensure!(refusal.contains("Destroy was refused (409 Conflict)"), "refusal title: {refusal}");
    ensure!(
        !message.is_empty() && refusal.contains(message),
        "the console shows errors[0].message {message:?}: {refusal}"
    );
    shot("10b-destroy-refused").await?;
    api.settings(serde_json::json!({"profile": "permissive"})).await?;

    // 9. Mock controls: make a key diverge with a click, make a keystore unreachable, add a fault rule.
    session.goto(&format!("{base_url}/#/mock?key={OUT_OF_SYNC_KEY}")).await?;
    session.wait(By::XPath("//h1[.='Mock controls']")).await?;
    session.click(By::XPath("//label[strong[.='Wrong key']]")).await?;
    session.click(By::XPath("//button[.='Apply to the keystore']")).await?;
    let applied = session
        .text_of(By::XPath(
            "//form[@aria-label='Make a key diverge in a keystore']//div[contains(@class,'notice-success')]",
        ))
        .await?;
    ensure!(applied.contains("Wrong key") && applied.contains("out of sync"), "divergence result: {applied}");
    // The divergence is named for what it is, not by UKO's detail code alone, which reads "Active key is
    // not active in keystore" for a missing, an inactive and a wrong key alike.
    ensure!(
        applied.contains("Wrong key: the keystore holds other key material") && applied.contains("status wrong_key"),
        "the divergence in words: {applied}"
    );
    session
        .click(By::XPath("//form[@aria-label='Keystore reachability']//select/option[.='Azure Key Vault West Europe']"))
        .await?;
    session.click(By::XPath("//form[@aria-label='Keystore reachability']//button[.='Set reachability']")).await?;
    session
        .wait(By::XPath("//form[@aria-label='Keystore reachability']//div[contains(@class,'notice-success')]"))
        .await?;
    session.click(By::XPath("//button[.='Add fault rule']")).await?;
    session.wait(By::XPath("//table[contains(@class,'faults-table')]//td[.='SyncManagedKey']")).await?;
    session.click(By::XPath("//button[.='+4 hours']")).await?;
    session.wait(By::XPath("//p[contains(@class,'notice-title')][starts-with(.,'Clock advanced by 4 hours')]")).await?;
    shot("11-mock-controls").await?;

    session.click(By::Css("a[data-section='keys']")).await?;
    session.wait(By::XPath(&format!("{flagged_row}//span[contains(@class,'flag-out-of-sync')]"))).await?;
    session
        .wait(By::XPath(&format!("{}//span[contains(@class,'flag-error')]", key_row("azure-wrapping-key-prod"))))
        .await?;
    shot("12-list-after-mock-controls").await?;

    session.click(By::Css("a[data-section='keystores']")).await?;
    session.wait(By::XPath("//tr[th//a[.='Azure Key Vault West Europe']]//span[.='Not responding']")).await?;
    ensure_no_error_notice(session, "keystores").await?;
    shot("13-keystores").await?;

    // The injected 503 on the next sync is shown as a refusal with UKO's message.
    session.goto(&format!("{base_url}/#/keys/{OUT_OF_SYNC_KEY}")).await?;
    session.wait(By::XPath(&format!("//h1[normalize-space()='{OUT_OF_SYNC_LABEL}']"))).await?;
    session.click(By::Css("#key-actions")).await?;
    session.click(By::Css("[data-action='sync']")).await?;
    session.click(By::XPath("//dialog[@open]//button[normalize-space()='Sync key']")).await?;
    let injected = session.text_of(By::Css(".notice-error")).await?;
    ensure!(injected.contains("Sync key was refused (503"), "injected fault: {injected}");

    for page in ["vaults", "templates"] {
        session.click(By::Css(&format!("a[data-section='{page}']"))).await?;
        session.wait(By::Css("table.table tbody th a")).await?;
        ensure_no_error_notice(session, page).await?;
    }
    shot("14-templates").await?;

    // Reset makes a fresh instance: the journal starts empty, so the earlier syncs are gone from it.
    session.click(By::Css("a[data-section='mock']")).await?;
    session.click(By::XPath("//button[.='Reset instance…']")).await?;
    let confirm = session.text_of(By::Css("dialog[open]")).await?;
    ensure!(confirm.contains("the journal starts empty"), "the reset dialog says what goes: {confirm}");
    session.click(By::XPath("//dialog[@open]//button[normalize-space()='Reset']")).await?;
    session
        .wait(By::XPath("//p[contains(@class,'notice-title')][.='The instance was reset to the served fixture.']"))
        .await?;
    session.click(By::Css("a[data-section='journal']")).await?;
    session.wait(By::Css(".results-summary")).await?;
    session.wait(By::XPath("//p[contains(@class,'results-summary')][contains(.,'last poll')]")).await?;
    let sync_rows = session.find_all(By::XPath(sync_row)).await?;
    ensure!(sync_rows.is_empty(), "after a reset the journal no longer lists the earlier syncs");
    shot("14b-journal-after-reset").await?;

    // 10. Connection: a wrong API key is refused by IAM with its message; the right one signs in again.
    session.click(By::Css("#connection-button")).await?;
    session.fill(By::Css("dialog[open] input[name='apikey']"), "not-the-key").await?;
    session.click(By::XPath("//dialog[@open]//button[.='Sign in']")).await?;
    let refused = session.text_of(By::Css("dialog[open] .notice-error")).await?;
    ensure!(refused.contains("Provided API key could not be found"), "IAM refusal: {refused}");
    shot("15-connection-refused").await?;
    session.fill(By::Css("dialog[open] input[name='apikey']"), "uko-mock-apikey").await?;
    session.click(By::XPath("//dialog[@open]//button[.='Sign in']")).await?;
    session.wait_gone(By::Css("dialog[open]")).await?;
    session.wait(By::XPath("//*[@id='session-status'][.='Signed in']")).await?;
    Ok(())
}

async fn ensure_no_error_notice(session: &Session, page: &str) -> Result<()> {
    match session.find_all(By::Css(".notice-error")).await?.first() {
        Some(notice) => bail!("the {page} page shows an error: {}", session.text(notice).await?),
        None => Ok(()),
    }
}

/// The `data-action` of every Actions menu item shown (the menu is open).
async fn offered_actions(session: &Session) -> Result<Vec<String>> {
    let value = session
        .execute(
            "return [...document.querySelectorAll('#key-actions ~ .menu [data-action]')].filter((item) => !item.parentElement.hidden).map((item) => item.dataset.action);",
            serde_json::json!([]),
        )
        .await?;
    Ok(value.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect())
}

/// An ETag as uko-mock writes them: `2026-01-01T09:00:12Z`.
fn is_etag(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 20 && bytes[4] == b'-' && bytes[10] == b'T' && text.ends_with('Z')
}
