//! `cargo xtask bench`: the performance figures of BENCHMARKS.md, measured as ratios against a bare
//! axum baseline in the same run so machine noise cancels, each run several times (median, min, max).
//!
//! The mock and the baseline run as separate release processes on loopback; the load generator is
//! a reqwest client with a fixed number of keep-alive connections. Results go to stdout as a table and
//! to `target/bench/results.json`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::process::ServerProcess;
use crate::{cargo, project_root};

const KEY_ID: &str = "44444444-4444-4444-8444-000000000001";
const CONNECTIONS: usize = 32;

/// Tells the release build of xtask that `cargo xtask bench` already built the binaries.
const BUILT_VARIABLE: &str = "UKO_BENCH_BINARIES_BUILT";

/// The groups of figures `--only` can pick.
const GROUPS: [&str; 7] = ["start", "memory", "throughput", "scale", "list", "durable", "conformance"];

/// How long and how often each figure is measured.
struct Plan {
    quick: bool,
    repetitions: usize,
    load_duration: Duration,
    cold_starts: usize,
}

/// One reported figure.
struct Figure {
    name: std::borrow::Cow<'static, str>,
    unit: &'static str,
    samples: Vec<f64>,
    target: String,
    met: Option<bool>,
    note: String,
}

impl Figure {
    fn median(&self) -> f64 {
        let mut sorted = self.samples.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
    }
    fn min(&self) -> f64 {
        self.samples.iter().copied().fold(f64::INFINITY, f64::min)
    }
    fn max(&self) -> f64 {
        self.samples.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }
}

/// Entry point of `cargo xtask bench`.
pub fn run(arguments: &[String]) -> anyhow::Result<()> {
    let quick = arguments.iter().any(|a| a == "--quick");
    let only: Option<&str> =
        arguments.iter().position(|a| a == "--only").and_then(|i| arguments.get(i + 1)).map(String::as_str);
    if let Some(group) = only.filter(|group| !GROUPS.contains(group)) {
        bail!("unknown group '{group}' for --only; the groups are {}", GROUPS.join(", "));
    }
    let wanted = |group: &str| only.is_none_or(|only| only == group);
    let plan = if quick {
        Plan { quick, repetitions: 1, load_duration: Duration::from_millis(500), cold_starts: 2 }
    } else {
        Plan { quick, repetitions: 3, load_duration: Duration::from_secs(5), cold_starts: 10 }
    };
    let release = project_root().join("target/release");
    let mock = release.join("uko-mock");
    let xtask = release.join("xtask");
    // Set for the release build of xtask this process hands the measuring to: the binaries are built.
    let built = std::env::var_os(BUILT_VARIABLE).is_some();
    if !built {
        println!("== building release binaries");
        let status = cargo().args(["build", "--release", "--quiet", "-p", "uko-mock", "-p", "xtask"]).status()?;
        if !status.success() {
            bail!("cargo build --release failed");
        }
        let conformance = cargo().args(["build", "--release", "--quiet", "-p", "uko-conformance"]).status()?;
        if !conformance.success() {
            bail!("cargo build --release -p uko-conformance failed");
        }
    }
    if cfg!(debug_assertions) {
        // `cargo xtask` builds this process unoptimized; the load generator must not be the bottleneck
        // (a debug reqwest client reading a 190 KB list page adds milliseconds), so the measuring is
        // handed to the release build of xtask just built.
        let status = Command::new(&xtask)
            .arg("bench")
            .args(arguments)
            .env(BUILT_VARIABLE, "1")
            .status()
            .context("cannot run release xtask")?;
        if !status.success() {
            bail!("the benchmarks failed");
        }
        return Ok(());
    }
    let out_dir = project_root().join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    let big_fixture = out_dir.join("fixture-20k.json");
    write_big_fixture(&big_fixture, 20_000)?;

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut figures = Vec::new();

    if wanted("start") {
        println!("== cold start");
        figures.push(cold_start(&mock, &plan, None)?);
        println!("== start with a 20,000-key fixture");
        figures.push(cold_start(&mock, &plan, Some(&big_fixture))?);
    }
    if wanted("memory") {
        println!("== memory");
        figures.extend(memory(&mock, &big_fixture)?);
    }
    if wanted("throughput") {
        println!("== GET managed key and POST sync under load, against the baseline");
        figures.extend(runtime.block_on(throughput(&mock, &xtask, &plan))?);
    }
    if wanted("scale") {
        println!("== single-key requests and a list at 8, 1,000 and 20,000 keys");
        figures.extend(runtime.block_on(scale(&mock, &plan, &out_dir))?);
    }
    if wanted("list") {
        println!("== list with filter, sort and page over 20,000 keys");
        figures.extend(runtime.block_on(list_latency(&mock, &big_fixture, &plan))?);
    }
    if wanted("durable") {
        println!("== durable writes (--state-file)");
        figures.push(runtime.block_on(durable_writes(&mock, &plan, &out_dir))?);
    }
    if wanted("conformance") {
        println!("== conformance suite with the in-process reference client");
        figures.push(conformance_rate(&release.join("uko-conformance"), &plan)?);
    }

    if plan.quick {
        // One short sample per figure proves the measuring works, not what the figures are.
        for figure in &mut figures {
            figure.met = None;
        }
    }
    print_table(&figures);
    if plan.quick {
        println!("quick run: one short sample per figure; targets are judged only by a full `cargo xtask bench`");
    }
    let json = json!({
        "quick": plan.quick,
        "figures": figures.iter().map(|f| json!({
            "name": f.name, "unit": f.unit, "median": f.median(), "min": f.min(), "max": f.max(),
            "samples": f.samples, "target": f.target, "met": f.met, "note": f.note,
        })).collect::<Vec<_>>(),
    });
    let results = out_dir.join("results.json");
    std::fs::write(&results, serde_json::to_vec_pretty(&json)?)?;
    println!("results written to {}", results.display());
    let missed: Vec<&str> = figures.iter().filter(|f| f.met == Some(false)).map(|f| f.name.as_ref()).collect();
    if !missed.is_empty() {
        println!("targets missed: {}", missed.join(", "));
    }
    Ok(())
}

/// Starts `uko-mock --port 0` (no auth, quiet) with `extra` arguments; also returns when it was started.
fn start_mock(mock: &Path, extra: &[&str]) -> anyhow::Result<(ServerProcess, Instant)> {
    let started = Instant::now();
    let arguments: Vec<&str> =
        ["--port", "0", "--auth", "none", "--log", "warn"].into_iter().chain(extra.iter().copied()).collect();
    Ok((ServerProcess::start(mock, &arguments)?, started))
}

fn blocking_get_until_ok(url: &str, deadline: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < deadline {
        if raw_get_status(url) == Some(200) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    bail!("{url} did not answer 200 within {deadline:?}")
}

/// A minimal HTTP/1.1 GET over a fresh connection (no client start-up cost in the cold-start figure).
fn raw_get_status(url: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, "/".to_owned()));
    let mut stream = std::net::TcpStream::connect(authority).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn cold_start(mock: &Path, plan: &Plan, fixture: Option<&Path>) -> anyhow::Result<Figure> {
    let mut samples = Vec::new();
    let fixture_arguments: Vec<String> = match fixture {
        Some(path) => vec!["--fixture".into(), path.display().to_string()],
        None => Vec::new(),
    };
    let extra: Vec<&str> = fixture_arguments.iter().map(String::as_str).collect();
    for _ in 0..plan.cold_starts {
        let (server, started) = start_mock(mock, &extra)?;
        blocking_get_until_ok(&format!("{}/api/v4/managed_keys/{KEY_ID}", server.base_url), Duration::from_secs(30))?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let (name, limit) =
        if fixture.is_some() { ("start with 20,000 keys", 300.0) } else { ("cold start to first 200", 20.0) };
    let median = median(&samples);
    Ok(Figure {
        name: name.into(),
        unit: "ms",
        samples,
        target: format!("< {limit} ms median"),
        met: Some(median < limit),
        note: String::new(),
    })
}

fn memory(mock: &Path, big_fixture: &Path) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for (name, fixture, limit) in [("RSS idle", None, 15.0), ("RSS with 20,000 keys", Some(big_fixture), 60.0)] {
        let arguments: Vec<String> =
            fixture.map(|p| vec!["--fixture".into(), p.display().to_string()]).unwrap_or_default();
        let extra: Vec<&str> = arguments.iter().map(String::as_str).collect();
        let (server, _) = start_mock(mock, &extra)?;
        blocking_get_until_ok(&format!("{}/api/v4/managed_keys/{KEY_ID}", server.base_url), Duration::from_secs(30))?;
        std::thread::sleep(Duration::from_millis(200));
        let rss = rss_mib(server.pid())?;
        figures.push(Figure {
            name: name.into(),
            unit: "MiB",
            samples: vec![rss],
            target: format!("< {limit} MiB"),
            met: Some(rss < limit),
            note: String::new(),
        });
    }
    Ok(figures)
}

fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS in /proc status")?;
    Ok(kib / 1024.0)
}

/// Result of one load run.
struct Load {
    requests_per_second: f64,
    p99_ms: f64,
    errors: u64,
}

async fn load(
    url: &str,
    method: reqwest::Method,
    headers: &[(&str, &str)],
    body: Option<&str>,
    duration: Duration,
) -> anyhow::Result<Load> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(CONNECTIONS).build()?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let client = client.clone();
        let stop = stop.clone();
        let url = url.to_owned();
        let method = method.clone();
        let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let body = body.map(str::to_owned);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let mut request = client.request(method.clone(), &url);
                for (name, value) in &headers {
                    request = request.header(name, value);
                }
                if let Some(body) = &body {
                    request = request.header("Content-Type", "application/json").body(body.clone());
                }
                match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        latencies.push(started.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (task_latencies, task_errors) = task.await?;
        latencies.extend(task_latencies);
        errors += task_errors;
    }
    latencies.sort();
    let p99 = latencies.get(latencies.len().saturating_sub(1) * 99 / 100).copied().unwrap_or_default();
    Ok(Load {
        requests_per_second: latencies.len() as f64 / duration.as_secs_f64(),
        p99_ms: p99.as_secs_f64() * 1000.0,
        errors,
    })
}

async fn throughput(mock: &Path, xtask: &Path, plan: &Plan) -> anyhow::Result<Vec<Figure>> {
    let (server, _) = start_mock(mock, &[])?;
    let key_url = format!("{}/api/v4/managed_keys/{KEY_ID}", server.base_url);
    let sync_url = format!("{key_url}/sync_status_in_keystores");
    let client = reqwest::Client::new();
    let response = client.get(&key_url).send().await?;
    let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).context("no ETag on GET key")?.to_owned();
    let key_body = response.bytes().await?;
    let sync_body = client.post(&sync_url).header("If-Match", &etag).send().await?.bytes().await?;
    let bodies = project_root().join("target/bench");
    std::fs::write(bodies.join("key.json"), &key_body)?;
    std::fs::write(bodies.join("sync.json"), &sync_body)?;
    let key_file = bodies.join("key.json").display().to_string();
    let sync_file = bodies.join("sync.json").display().to_string();
    let baseline = ServerProcess::start(xtask, &["baseline-server", &key_file, &sync_file])?;
    let baseline_key = format!("{}/api/v4/managed_keys/{KEY_ID}", baseline.base_url);
    let baseline_sync = format!("{baseline_key}/sync_status_in_keystores");

    let mut get_ratio = Vec::new();
    let mut sync_ratio = Vec::new();
    let mut get_p99 = Vec::new();
    let mut sync_p99 = Vec::new();
    let (mut get_notes, mut sync_notes) = (Vec::new(), Vec::new());
    // A run with failed requests measures something else than the figure: it does not meet the target.
    let (mut get_errors, mut sync_errors) = (0, 0);
    for _ in 0..plan.repetitions {
        let base_get = load(&baseline_key, reqwest::Method::GET, &[], None, plan.load_duration).await?;
        let mock_get = load(&key_url, reqwest::Method::GET, &[], None, plan.load_duration).await?;
        let base_sync =
            load(&baseline_sync, reqwest::Method::POST, &[("If-Match", &etag)], None, plan.load_duration).await?;
        let mock_sync =
            load(&sync_url, reqwest::Method::POST, &[("If-Match", &etag)], None, plan.load_duration).await?;
        get_errors += mock_get.errors;
        sync_errors += mock_sync.errors;
        get_ratio.push(100.0 * mock_get.requests_per_second / base_get.requests_per_second.max(1.0));
        sync_ratio.push(100.0 * mock_sync.requests_per_second / base_sync.requests_per_second.max(1.0));
        get_p99.push(mock_get.p99_ms);
        sync_p99.push(mock_sync.p99_ms);
        get_notes.push(format!(
            "{:.0} vs {:.0} req/s, {} errors",
            mock_get.requests_per_second, base_get.requests_per_second, mock_get.errors
        ));
        sync_notes.push(format!(
            "{:.0} vs {:.0} req/s, {} errors",
            mock_sync.requests_per_second, base_sync.requests_per_second, mock_sync.errors
        ));
    }
    drop(server);
    Ok(vec![
        Figure {
            name: "GET managed key, 32 conns (% of baseline)".into(),
            unit: "%",
            met: Some(median(&get_ratio) >= 70.0 && get_errors == 0),
            samples: get_ratio,
            target: ">= 70 % of baseline".into(),
            note: format!("mock vs baseline per run: {}", get_notes.join("; ")),
        },
        Figure {
            name: "GET managed key p99".into(),
            unit: "ms",
            samples: get_p99,
            target: "reported".into(),
            met: None,
            note: String::new(),
        },
        Figure {
            name: "POST sync, 32 conns (% of baseline)".into(),
            unit: "%",
            met: Some(median(&sync_ratio) >= 50.0 && sync_errors == 0),
            samples: sync_ratio,
            target: ">= 50 % of baseline".into(),
            note: format!("mock vs baseline per run: {}", sync_notes.join("; ")),
        },
        Figure {
            name: "POST sync p99".into(),
            unit: "ms",
            samples: sync_p99,
            target: "reported".into(),
            met: None,
            note: String::new(),
        },
    ])
}

/// Tenant sizes of the scale figures: the default fixture's 8 keys, then generated fixtures.
const SCALE_SIZES: [usize; 3] = [8, 1_000, 20_000];

/// Least share of its 8-key throughput a single-key request keeps in a larger tenant.
const SCALE_TARGET: f64 = 0.9;

/// The single-key requests of the scale figures: name, method, path after the key's URL, body.
const SCALE_REQUESTS: [(&str, &str, &str, Option<&str>); 4] = [
    ("GET managed key", "GET", "", None),
    ("GET status_in_keystores", "GET", "/status_in_keystores", None),
    ("POST sync (If-Match)", "POST", "/sync_status_in_keystores", None),
    ("PATCH managed key (If-Match: *)", "PATCH", "", Some(r#"{"description":"bench"}"#)),
];

/// Whether a request costs the same in a full tenant: each single-key request, and a list query no remembered
/// order serves, at 8, 1,000 and 20,000 keys, as a ratio to its 8-key throughput measured in the same run
/// (the three servers run side by side and are loaded one after the other, so machine noise mostly cancels).
async fn scale(mock: &Path, plan: &Plan, out_dir: &Path) -> anyhow::Result<Vec<Figure>> {
    let mut servers = Vec::new();
    for size in SCALE_SIZES {
        let fixture = out_dir.join(format!("fixture-{size}.json"));
        let arguments = if size > 8 {
            write_big_fixture(&fixture.to_path_buf(), size)?;
            vec!["--fixture".to_owned(), fixture.display().to_string()]
        } else {
            Vec::new()
        };
        let extra: Vec<&str> = arguments.iter().map(String::as_str).collect();
        let (server, _) = start_mock(mock, &extra)?;
        let key_url = format!("{}/api/v4/managed_keys/{KEY_ID}", server.base_url);
        blocking_get_until_ok(&key_url, Duration::from_secs(30))?;
        let etag = reqwest::get(&key_url).await?.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        servers.push((server, key_url, etag.context("no ETag on GET key")?));
    }
    // Each run loads the sizes in the order 8, 1,000, 20,000, 20,000, 1,000, 8 (a second each) and averages the
    // two windows of each size: a burst of load from elsewhere on the host then weighs on every size alike.
    let duration = if plan.quick { plan.load_duration } else { Duration::from_secs(1) };
    let order: Vec<usize> = (0..SCALE_SIZES.len()).chain((0..SCALE_SIZES.len()).rev()).collect();
    let mut figures = Vec::new();
    for (name, method, suffix, body) in SCALE_REQUESTS {
        // rates[size][run]
        let mut rates = vec![Vec::new(); SCALE_SIZES.len()];
        let mut p99s = vec![Vec::new(); SCALE_SIZES.len()];
        let mut errors = 0;
        for _ in 0..plan.repetitions {
            let mut run_rates = vec![0.0; SCALE_SIZES.len()];
            let mut run_p99s = vec![0.0f64; SCALE_SIZES.len()];
            for &index in &order {
                let (_, key_url, etag) = &servers[index];
                let if_match = if method == "PATCH" { "*" } else { etag.as_str() };
                let headers: &[(&str, &str)] = if method == "GET" { &[] } else { &[("If-Match", if_match)] };
                let url = format!("{key_url}{suffix}");
                let result = load(&url, method.parse()?, headers, body, duration).await?;
                errors += result.errors;
                run_rates[index] += result.requests_per_second / 2.0;
                run_p99s[index] = run_p99s[index].max(result.p99_ms);
            }
            for index in 0..SCALE_SIZES.len() {
                rates[index].push(run_rates[index]);
                p99s[index].push(run_p99s[index]);
            }
        }
        figures.extend(scale_figures(name, &rates, &p99s, Some(SCALE_TARGET), errors));
    }
    // A list query that no remembered order serves: one client, the sort alternating between two orders.
    let requests = if plan.quick { 20 } else { 400 };
    let client = reqwest::Client::new();
    let mut rates = vec![Vec::new(); SCALE_SIZES.len()];
    let mut p99s = vec![Vec::new(); SCALE_SIZES.len()];
    for _ in 0..plan.repetitions {
        let mut latencies = vec![Vec::new(); SCALE_SIZES.len()];
        for &index in &order {
            let (server, _, _) = &servers[index];
            let latencies = &mut latencies[index];
            for request in 0..requests / 2 {
                let sort = if request % 2 == 0 { "label,-created_at" } else { "-created_at,label" };
                let url = format!(
                    "{}/api/v4/managed_keys?state=active,deactivated&algorithm=aes&sort={sort}&limit=20",
                    server.base_url
                );
                let started = Instant::now();
                let response = client.get(&url).send().await?;
                if !response.status().is_success() {
                    bail!("list answered {}", response.status());
                }
                let _ = response.bytes().await?;
                latencies.push(started.elapsed().as_secs_f64());
            }
        }
        for (index, latencies) in latencies.iter_mut().enumerate() {
            latencies.sort_by(|a, b| a.total_cmp(b));
            rates[index].push(latencies.len() as f64 / latencies.iter().sum::<f64>().max(f64::EPSILON));
            p99s[index]
                .push(latencies.get(latencies.len().saturating_sub(1) * 99 / 100).copied().unwrap_or(0.0) * 1000.0);
        }
    }
    figures.extend(scale_figures("list, a new query each request (limit=20)", &rates, &p99s, None, 0));
    Ok(figures)
}

/// The figures of one request at each tenant size above 8 keys: its throughput there over its throughput at 8
/// keys in the same run.
fn scale_figures(
    request: &str,
    rates: &[Vec<f64>],
    p99s: &[Vec<f64>],
    target: Option<f64>,
    errors: u64,
) -> Vec<Figure> {
    let base = &rates[0];
    let describe = |index: usize| {
        let runs: Vec<String> = rates[index]
            .iter()
            .zip(&p99s[index])
            .map(|(rate, p99)| format!("{rate:.0} req/s p99 {p99:.2} ms"))
            .collect();
        format!("{} keys: {}", thousands(SCALE_SIZES[index]), runs.join(", "))
    };
    (1..SCALE_SIZES.len())
        .map(|index| {
            let samples: Vec<f64> = rates[index].iter().zip(base).map(|(rate, base)| rate / base.max(1.0)).collect();
            let met = target.map(|target| median(&samples) >= target && errors == 0);
            Figure {
                name: format!("{request} at {} keys (ratio to 8 keys)", thousands(SCALE_SIZES[index])).into(),
                unit: "x",
                samples,
                target: target.map_or_else(|| "reported".to_owned(), |target| format!(">= {target}")),
                met,
                note: format!("{}; {}; {errors} errors", describe(0), describe(index)),
            }
        })
        .collect()
}

/// `20000` as `20,000`.
fn thousands(number: usize) -> String {
    let digits = number.to_string();
    let mut text = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// The list figures: a client walking the pages of one query (as the Go SDK's pager does), and requests
/// that each ask a query other than the one before, so no remembered order serves them.
async fn list_latency(mock: &Path, big_fixture: &Path, plan: &Plan) -> anyhow::Result<Vec<Figure>> {
    let fixture = big_fixture.display().to_string();
    let (server, _) = start_mock(mock, &["--fixture", &fixture])?;
    let walk = |index: usize| {
        let offset = (index * 100) % 10_000;
        format!("state=active,deactivated&algorithm=aes&sort=label,-created_at&limit=100&offset={offset}")
    };
    let fresh = |index: usize| {
        let offset = (index * 100) % 10_000;
        let sort = if index.is_multiple_of(2) { "label,-created_at" } else { "-created_at,label" };
        format!("state=active,deactivated&algorithm=aes&sort={sort}&limit=100&offset={offset}")
    };
    let walked = list_figure(&server.base_url, plan, "list filter+sort+page over 20,000 keys, p99", walk).await?;
    let mut unremembered =
        list_figure(&server.base_url, plan, "list over 20,000 keys, a new query each request, p99", fresh).await?;
    // Reported beside the target figure: what a page costs when no remembered order can serve it.
    unremembered.met = None;
    unremembered.target = "reported".into();
    Ok(vec![walked, unremembered])
}

async fn list_figure(
    base_url: &str,
    plan: &Plan,
    name: &'static str,
    query: impl Fn(usize) -> String,
) -> anyhow::Result<Figure> {
    let client = reqwest::Client::new();
    let requests = if plan.quick { 50 } else { 500 };
    let mut samples = Vec::new();
    let mut medians = Vec::new();
    let mut distributions = Vec::new();
    // A p99 moves with every stall of a shared machine; more runs (each under a second) steady its median.
    let repetitions = if plan.quick { plan.repetitions } else { plan.repetitions.max(5) };
    for _ in 0..repetitions {
        let mut latencies = Vec::new();
        for index in 0..requests {
            let url = format!("{base_url}/api/v4/managed_keys?{}", query(index));
            let started = Instant::now();
            let response = client.get(&url).send().await?;
            if !response.status().is_success() {
                bail!("list answered {}", response.status());
            }
            let _ = response.bytes().await?;
            latencies.push(started.elapsed());
        }
        latencies.sort();
        let at = |fraction: f64| latencies[((latencies.len() - 1) as f64 * fraction) as usize].as_secs_f64() * 1000.0;
        samples.push(at(0.99));
        medians.push(at(0.5));
        distributions.push(format!("{:.2}/{:.2}/{:.2}/{:.2}", at(0.5), at(0.9), at(0.99), at(1.0)));
    }
    let met = median(&samples) < 5.0;
    let note = format!(
        "median latency {:.2} ms; p50/p90/p99/max per run: {} ms; p99 is sensitive to other load on the machine",
        median(&medians),
        distributions.join(", ")
    );
    Ok(Figure { name: name.into(), unit: "ms", samples, target: "< 5 ms".into(), met: Some(met), note })
}

async fn durable_writes(mock: &Path, plan: &Plan, out_dir: &Path) -> anyhow::Result<Figure> {
    let state_file = out_dir.join("bench-state.json");
    let _ = std::fs::remove_file(&state_file);
    let mut ratios = Vec::new();
    for _ in 0..plan.repetitions {
        let memory_rate = sync_rate(mock, &[], plan.load_duration).await?;
        let state = state_file.display().to_string();
        let durable_rate = sync_rate(mock, &["--state-file", &state], plan.load_duration).await?;
        let _ = std::fs::remove_file(&state_file);
        ratios.push(100.0 * durable_rate / memory_rate.max(1.0));
    }
    let met = median(&ratios) >= 30.0;
    Ok(Figure {
        name: "--state-file write throughput (% of in-memory)".into(),
        unit: "%",
        samples: ratios,
        target: ">= 30 % of in-memory".into(),
        met: Some(met),
        note: "POST sync (a journaled mutation), 32 connections".into(),
    })
}

async fn sync_rate(mock: &Path, extra: &[&str], duration: Duration) -> anyhow::Result<f64> {
    let (server, _) = start_mock(mock, extra)?;
    let key_url = format!("{}/api/v4/managed_keys/{KEY_ID}", server.base_url);
    let response = reqwest::get(&key_url).await?;
    let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).context("no ETag")?.to_owned();
    let sync_url = format!("{key_url}/sync_status_in_keystores");
    let result = load(&sync_url, reqwest::Method::POST, &[("If-Match", &etag)], None, duration).await?;
    if result.errors > 0 {
        bail!("POST sync failed {} times against uko-mock {extra:?}", result.errors);
    }
    Ok(result.requests_per_second)
}

fn conformance_rate(binary: &Path, plan: &Plan) -> anyhow::Result<Figure> {
    let cases = if plan.quick { 50 } else { 1000 };
    let started = Instant::now();
    let output = Command::new(binary)
        .args(["run", "--client", "builtin:reference", "--cases", &cases.to_string(), "--seed", "1"])
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    let rate = cases as f64 / started.elapsed().as_secs_f64();
    let passed = output.status.success();
    let note = if passed {
        format!("{cases} cases, wall time; cases wait out real Retry-After and backoff delays, so the rate depends on how many run at once")
    } else {
        "the reference client failed some cases (a failed run does not meet the target)".to_owned()
    };
    Ok(Figure {
        name: "conformance cases/s (in-process reference client)".into(),
        unit: "cases/s",
        samples: vec![rate],
        target: ">= 100 cases/s".into(),
        met: Some(passed && rate >= 100.0),
        note,
    })
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn print_table(figures: &[Figure]) {
    println!();
    println!("| figure | median | min | max | target | met |");
    println!("|---|---|---|---|---|---|");
    for figure in figures {
        let met = match figure.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        println!(
            "| {} | {:.2} {} | {:.2} | {:.2} | {} | {met} |",
            figure.name,
            figure.median(),
            figure.unit,
            figure.min(),
            figure.max(),
            figure.target
        );
    }
    for figure in figures.iter().filter(|f| !f.note.is_empty()) {
        println!("  {}: {}", figure.name, figure.note);
    }
}

/// Writes the default fixture plus `count` extra active/deactivated AES keys spread over the
/// internal keystore, as a fixture for the list, load and memory figures.
fn write_big_fixture(path: &PathBuf, count: usize) -> anyhow::Result<()> {
    let default = std::fs::read_to_string(project_root().join("fixtures/default.json"))?;
    let mut fixture: Value = serde_json::from_str(&default)?;
    let template = fixture["managed_keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["id"] == KEY_ID))
        .cloned()
        .context("default fixture lacks the benchmark key")?;
    let keys = fixture["managed_keys"].as_array_mut().context("managed_keys is not an array")?;
    let existing = keys.len();
    for index in 0..count.saturating_sub(existing) {
        let mut key = template.clone();
        key["id"] = json!(format!("99999999-9999-4999-8999-{index:012}"));
        let label = json!(format!("bench-key-{:05}", (index * 7919) % count));
        key["label"] = label.clone();
        key["state"] = json!(if index % 3 == 0 { "deactivated" } else { "active" });
        if let Some(instances) = key["instances"].as_array_mut() {
            for (n, instance) in instances.iter_mut().enumerate() {
                instance["id"] = json!(format!("98888888-9999-4999-8999-{:010}{n:02}", index));
                instance["label_in_keystore"] = label.clone();
            }
        }
        keys.push(key);
    }
    fixture["description"] = json!(format!("Benchmark fixture: the default fixture plus keys up to {count} in total"));
    std::fs::write(path, serde_json::to_vec(&fixture)?)?;
    Ok(())
}

/// `cargo xtask baseline-server KEY_BODY SYNC_BODY`: a bare axum server answering the benchmark paths
/// with the same bytes as uko-mock, from constants. Prints its base URL on the first stdout line.
pub fn baseline_server(arguments: &[String]) -> anyhow::Result<()> {
    let [key_file, sync_file] = arguments else { bail!("usage: xtask baseline-server KEY_BODY SYNC_BODY") };
    let key_body: &'static [u8] = Vec::leak(std::fs::read(key_file)?);
    let sync_body: &'static [u8] = Vec::leak(std::fs::read(sync_file)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        use axum::http::header;
        let app = axum::Router::new()
            .route(
                "/api/v4/managed_keys/{id}",
                axum::routing::get(move || async move { ([(header::CONTENT_TYPE, "application/json")], key_body) }),
            )
            .route(
                "/api/v4/managed_keys/{id}/sync_status_in_keystores",
                axum::routing::post(move || async move { ([(header::CONTENT_TYPE, "application/json")], sync_body) }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        anyhow::Ok(())
    })
}

/// `xtask load URL [--seconds N] [--method M] [--header NAME:VALUE]... [--body JSON]`: the benchmarks' load generator
/// on its own (32 keep-alive connections), for profiling a running server, e.g. under `perf record`.
/// Run it as `target/release/xtask load …`: the unoptimized build is too slow to load the server.
pub fn load_command(arguments: &[String]) -> anyhow::Result<()> {
    let mut url = None;
    let mut seconds = 5.0;
    let mut method = reqwest::Method::GET;
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut body = None;
    let mut rest = arguments.iter();
    while let Some(argument) = rest.next() {
        match argument.as_str() {
            "--seconds" => seconds = rest.next().context("--seconds needs a value")?.parse()?,
            "--method" => method = rest.next().context("--method needs a value")?.parse()?,
            "--body" => body = Some(rest.next().context("--body needs a JSON text")?.to_owned()),
            "--header" => {
                let header = rest.next().context("--header needs NAME:VALUE")?;
                let (name, value) = header.split_once(':').context("--header needs NAME:VALUE")?;
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            other if url.is_none() && !other.starts_with("--") => url = Some(other.to_owned()),
            other => bail!(
                "unexpected argument '{other}'; usage: xtask load URL [--seconds N] [--method M] [--header NAME:VALUE] [--body JSON]"
            ),
        }
    }
    let url = url.context("usage: xtask load URL [--seconds N] [--method M] [--header NAME:VALUE] [--body JSON]")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let borrowed: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let result = runtime.block_on(load(&url, method, &borrowed, body.as_deref(), Duration::from_secs_f64(seconds)))?;
    println!(
        "{:.0} req/s, p99 {:.2} ms, {} errors ({CONNECTIONS} connections, {seconds} s)",
        result.requests_per_second, result.p99_ms, result.errors
    );
    Ok(())
}
