//! The reliability jobs too long for CI (RELIABILITY.md records their last figures):
//! - `hostile`: the hostile-input campaign of `mock-server/tests/api/hostile.rs` at 100,000 cases;
//! - `soak`: mixed load on loopback against the real `uko-mock` binary for N minutes, sampling its RSS;
//! - `schemathesis`: `scripts/schemathesis.sh` (schemathesis against the live mock and its OpenAPI document).
//!
//! Everything runs on this machine only: the mock binds 127.0.0.1, the load goes to it, each job stops by
//! itself.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::process::ServerProcess;
use crate::{cargo, project_root};

/// `cargo xtask hostile [--cases N]`.
pub fn hostile(arguments: &[String]) -> anyhow::Result<()> {
    let cases = option(arguments, "--cases")?.unwrap_or(100_000);
    let out_dir = project_root().join("target/hostile");
    std::fs::create_dir_all(&out_dir)?;
    let report = out_dir.join("results.json");
    println!("== hostile-input campaign: {cases} cases against the real server (debug build)");
    let status = cargo()
        .args(["test", "-p", "uko-mock", "--test", "api", "hostile::hostile_requests", "--", "--nocapture"])
        .env("HOSTILE_CASES", cases.to_string())
        .env("HOSTILE_REPORT", &report)
        .status()
        .context("cannot run cargo test")?;
    if !status.success() {
        bail!("the hostile-input campaign failed (see above); partial figures in {}", report.display());
    }
    let figures = std::fs::read_to_string(&report).context("the campaign wrote no figures")?;
    println!("{figures}");
    println!("figures written to {}", report.display());
    Ok(())
}

/// `cargo xtask schemathesis`.
pub fn schemathesis() -> anyhow::Result<()> {
    let status = Command::new("bash")
        .arg(project_root().join("scripts/schemathesis.sh"))
        .current_dir(project_root())
        .status()
        .context("cannot run scripts/schemathesis.sh")?;
    if !status.success() {
        bail!("schemathesis found problems (see above)");
    }
    Ok(())
}

/// Concurrent clients of the soak.
const SOAK_CLIENTS: usize = 16;
/// The share of the run, from its start, left out of the flatness check (journals and pools fill up).
const WARMUP_SHARE: f64 = 0.25;
/// Largest RSS growth after warm-up accepted as flat.
const MAX_GROWTH_KIB: u64 = 16 * 1024;

/// `cargo xtask soak [--minutes N] [--release]`.
pub fn soak(arguments: &[String]) -> anyhow::Result<()> {
    let minutes = option(arguments, "--minutes")?.unwrap_or(10);
    let release = arguments.iter().any(|a| a == "--release");
    let profile = if release { "release" } else { "debug" };
    println!("== building uko-mock ({profile})");
    let mut build = cargo();
    build.args(["build", "--quiet", "-p", "uko-mock"]);
    if release {
        build.arg("--release");
    }
    if !build.status()?.success() {
        bail!("cargo build failed");
    }
    let binary = project_root().join("target").join(profile).join("uko-mock");
    let server = ServerProcess::start(
        &binary,
        &[
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--log",
            "warn",
            "--api-key",
            "soak-key",
            "--token",
            "soak-token",
            "--token-ttl",
            "60",
        ],
    )?;
    println!("== soak: {minutes} min of mixed load from {SOAK_CLIENTS} clients against pid {}", server.pid());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let duration = Duration::from_secs(minutes * 60);
    let result = runtime.block_on(drive(&server, duration));
    drop(server);
    let (samples, counters) = result?;

    let warmup = (samples.len() as f64 * WARMUP_SHARE).ceil() as usize;
    let after_warmup: Vec<u64> = samples.iter().skip(warmup.max(1) - 1).map(|(_, kib)| *kib).collect();
    let baseline = after_warmup.first().copied().unwrap_or(0);
    let peak = after_warmup.iter().copied().max().unwrap_or(0);
    let last = after_warmup.last().copied().unwrap_or(0);
    let growth = peak.saturating_sub(baseline);
    let flat = growth <= MAX_GROWTH_KIB;
    let figures = json!({
        "minutes": minutes,
        "profile": profile,
        "clients": SOAK_CLIENTS,
        "requests": counters.requests.load(Ordering::Relaxed),
        "server_errors_5xx": counters.server_errors.load(Ordering::Relaxed),
        "transport_errors": counters.transport_errors.load(Ordering::Relaxed),
        "rss_kib_first": samples.first().map(|(_, kib)| *kib),
        "rss_kib_after_warmup": baseline,
        "rss_kib_peak_after_warmup": peak,
        "rss_kib_last": last,
        "rss_growth_after_warmup_kib": growth,
        "max_growth_kib": MAX_GROWTH_KIB,
        "flat": flat,
        "samples": samples.iter().map(|(second, kib)| json!([second, kib])).collect::<Vec<_>>(),
    });
    let out_dir = project_root().join("target/soak");
    std::fs::create_dir_all(&out_dir)?;
    let path = out_dir.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&figures)?)?;
    println!(
        "requests {}, 5xx {}, transport errors {}; RSS {} KiB after warm-up, peak {} KiB, last {} KiB, growth {} KiB",
        figures["requests"], figures["server_errors_5xx"], figures["transport_errors"], baseline, peak, last, growth
    );
    println!("figures written to {}", path.display());
    if figures["server_errors_5xx"] != 0 {
        bail!("the mock answered 5xx during the soak");
    }
    if !flat {
        bail!("RSS grew by {growth} KiB after warm-up (limit {MAX_GROWTH_KIB} KiB)");
    }
    Ok(())
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
}

/// Runs the load for `duration`, sampling RSS every 5 s; returns (second, RSS KiB) samples.
async fn drive(server: &ServerProcess, duration: Duration) -> anyhow::Result<(Vec<(u64, u64)>, Arc<Counters>)> {
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let workers: Vec<_> = (0..SOAK_CLIENTS)
        .map(|worker| {
            let (client, base, counters, stop) =
                (client.clone(), server.base_url.clone(), counters.clone(), stop.clone());
            tokio::spawn(async move { worker_loop(worker, &client, &base, &counters, &stop).await })
        })
        .collect();
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < duration {
        samples.push((started.elapsed().as_secs(), rss_kib(server.pid())?));
        tokio::time::sleep(Duration::from_secs(5).min(duration.saturating_sub(started.elapsed()))).await;
    }
    samples.push((started.elapsed().as_secs(), rss_kib(server.pid())?));
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.await;
    }
    Ok((samples, counters))
}

/// One client's mixed load: reads, conditional writes, syncs, created and deleted vaults, refused requests
/// (404, 400, 413), IAM tokens, isolated instances created and deleted.
async fn worker_loop(worker: usize, client: &reqwest::Client, base: &str, counters: &Counters, stop: &AtomicBool) {
    const KEYS: [&str; 3] = [
        "44444444-4444-4444-8444-000000000001",
        "44444444-4444-4444-8444-000000000005",
        "44444444-4444-4444-8444-000000000007",
    ];
    let api = format!("{base}/api/v4");
    let big_body = "x".repeat(1_200_000);
    let mut iteration = 0u64;
    while !stop.load(Ordering::Relaxed) {
        iteration += 1;
        let key = KEYS[(iteration as usize + worker) % KEYS.len()];
        let auth = |request: reqwest::RequestBuilder| request.bearer_auth("soak-token");
        let requests: Vec<reqwest::RequestBuilder> = match iteration % 10 {
            0 => vec![auth(client.get(format!("{api}/managed_keys?limit=5&sort=-updated_at")))],
            1 => vec![auth(client.get(format!("{api}/managed_keys/{key}")))],
            2 => vec![auth(client.get(format!("{api}/managed_keys/{key}/status_in_keystores")))],
            3 => {
                // Read, then a conditional update with the ETag just read (it may lose a race: 412).
                let etag = match send(auth(client.get(format!("{api}/managed_keys/{key}"))), counters).await {
                    Some(response) => response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned),
                    None => None,
                };
                let Some(etag) = etag else { continue };
                vec![auth(client.patch(format!("{api}/managed_keys/{key}")))
                    .header("If-Match", etag)
                    .json(&json!({"description": format!("soak {worker} {iteration}")}))]
            }
            4 => {
                vec![auth(client.post(format!("{api}/managed_keys/{key}/sync_status_in_keystores")))
                    .header("If-Match", "*")]
            }
            5 => {
                let created = send(
                    auth(client.post(format!("{api}/vaults")))
                        .json(&json!({"name": format!("soak-{worker}-{iteration}")})),
                    counters,
                )
                .await;
                let Some(created) = created else { continue };
                let etag = created.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let body: Value = created.json().await.unwrap_or_default();
                match (body["id"].as_str(), etag) {
                    (Some(id), Some(etag)) => {
                        vec![auth(client.delete(format!("{api}/vaults/{id}"))).header("If-Match", etag)]
                    }
                    _ => continue,
                }
            }
            6 => vec![
                auth(client.get(format!("{api}/managed_keys/{}", "0".repeat(36)))),
                auth(client.post(format!("{api}/vaults"))).header("content-type", "application/json").body("{"),
            ],
            7 if iteration % 100 == 7 => {
                vec![auth(client.post(format!("{api}/vaults"))).body(big_body.clone())]
            }
            7 => vec![client
                .post(format!("{base}/identity/token"))
                .form(&[("grant_type", "urn:ibm:params:oauth:grant-type:apikey"), ("apikey", "soak-key")])],
            8 => {
                let instance = format!("soak-{}", (iteration / 10 + worker as u64) % 8);
                vec![auth(client.get(format!("{base}/instances/{instance}/api/v4/vaults")))]
            }
            _ => {
                let instance = format!("soak-{}", (iteration / 10 + worker as u64) % 8);
                vec![client.delete(format!("{base}/__mock/v1/instances/{instance}"))]
            }
        };
        for request in requests {
            send(request, counters).await;
        }
    }
}

async fn send(request: reqwest::RequestBuilder, counters: &Counters) -> Option<reqwest::Response> {
    counters.requests.fetch_add(1, Ordering::Relaxed);
    match request.send().await {
        Ok(response) => {
            if response.status().is_server_error() {
                counters.server_errors.fetch_add(1, Ordering::Relaxed);
            }
            Some(response)
        }
        Err(_) => {
            counters.transport_errors.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Resident set size of a process, from /proc.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("cannot read /proc/<pid>/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}

fn option(arguments: &[String], name: &str) -> anyhow::Result<Option<u64>> {
    match arguments.iter().position(|a| a == name) {
        None => Ok(None),
        Some(index) => {
            let value = arguments.get(index + 1).with_context(|| format!("{name} needs a number"))?;
            value.parse().map(Some).with_context(|| format!("{name} must be a number, found '{value}'"))
        }
    }
}
