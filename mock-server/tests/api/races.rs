//! Races on one managed key: 64 concurrent clients each read the key, then send a conditional update
//! (PATCH description, activate or deactivate) or a sync with the ETag they read, several rounds each.
//!
//! Checked after every run: every successful write issued a new ETag (successful writes = distinct ETags
//! issued, none reused, none equal to the starting one), and the recorded history (invoke, answer or
//! timeout per operation) is linearizable against the compare-and-set model of `linearizability.rs`,
//! a final read included, so no update was lost and no stale state was ever served.
//!
//! `RACE_RUNS` sets the number of runs (default 2), `RACE_ROUNDS` the rounds per client (default 4).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uko_mock::MockServer;

use crate::helpers::{splitmix, KEY_ACTIVE};
use crate::linearizability::{check, Call, KeyState, Model, Operation, Outcome};

/// Concurrent clients (`RACE_CLIENTS` overrides, for narrowing down a failure).
fn clients() -> usize {
    env_or("RACE_CLIENTS", 64)
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_conditional_writes_on_one_key_are_linearizable_and_lose_nothing() {
    let runs = env_or("RACE_RUNS", 2);
    let rounds = env_or("RACE_ROUNDS", 4);
    let mut total_operations = 0;
    let mut total_writes = 0;
    for run in 0..runs {
        let (operations, writes) = race(run as u64, rounds).await;
        total_operations += operations;
        total_writes += writes;
    }
    if std::env::var("TEST_LOG").is_ok() {
        eprintln!("races: {runs} runs of {} clients x {rounds} rounds: {total_operations} operations, {total_writes} successful writes, all linearizable", clients());
    }
}

/// One run on a fresh server; returns (operations checked, successful writes).
async fn race(seed: u64, rounds: usize) -> (usize, usize) {
    // Arrange
    let server = MockServer::start().await.unwrap();
    let base = format!("{}/managed_keys/{KEY_ACTIVE}", server.api_url());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let initial = read_key(&client, &base).await;
    let model = Model { etag: Some(initial.0.clone()), state: initial.1, description: initial.2.clone() };
    let started = Instant::now();

    // Act: every client runs its rounds at once.
    let tasks: Vec<_> = (0..clients())
        .map(|index| {
            let client = client.clone();
            let base = base.clone();
            tokio::spawn(async move { run_client(seed, index, rounds, &client, &base, started).await })
        })
        .collect();
    let mut history: Vec<Operation> = Vec::new();
    for task in tasks {
        history.extend(task.await.unwrap());
    }
    let invoked = nanos(started);
    let last = read_key(&client, &base).await;
    history.push(Operation {
        client: clients(),
        call: Call::Read,
        outcome: Outcome::Ok { etag: last.0.clone(), state: Some(last.1), description: Some(last.2.clone()) },
        invoked,
        returned: Some(nanos(started)),
    });

    // Assert: one new ETag per successful write, never reused.
    let write_etags: Vec<&String> = history
        .iter()
        .filter(|op| !matches!(op.call, Call::Read | Call::Sync { .. }))
        .filter_map(|op| match &op.outcome {
            Outcome::Ok { etag, .. } => Some(etag),
            _ => None,
        })
        .collect();
    let distinct: HashSet<&String> = write_etags.iter().copied().collect();
    assert_eq!(write_etags.len(), distinct.len(), "run {seed}: two successful writes share an ETag");
    assert!(!distinct.contains(&initial.0), "run {seed}: a write reissued the starting ETag");
    assert!(!write_etags.is_empty(), "run {seed}: no write succeeded, the race proves nothing");
    let unknown = history.iter().filter(|op| op.outcome == Outcome::Unknown).count();
    assert_eq!(unknown, 0, "run {seed}: {unknown} requests got no answer on loopback");

    // Assert: linearizable against the compare-and-set model.
    let order = check(&history, model).unwrap_or_else(|violation| panic!("run {seed}: {}", violation.0));
    assert_eq!(order.len(), history.len());
    (history.len(), write_etags.len())
}

async fn run_client(
    seed: u64,
    index: usize,
    rounds: usize,
    client: &reqwest::Client,
    base: &str,
    started: Instant,
) -> Vec<Operation> {
    let mut history = Vec::new();
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (index as u64 + 1);
    for round in 0..rounds {
        // Read.
        let invoked = nanos(started);
        let read = client.get(base).send().await;
        let (outcome, observed) = match read {
            Ok(response) if response.status() == StatusCode::OK => {
                let etag = etag_of(&response);
                let body: Value = response.json().await.unwrap();
                let state = key_state(&body);
                let description = body["description"].as_str().unwrap().to_owned();
                (
                    Outcome::Ok { etag: etag.clone(), state: Some(state), description: Some(description.clone()) },
                    Some((etag, state)),
                )
            }
            Ok(response) => panic!("client {index}: GET answered {}", response.status()),
            Err(_) => (Outcome::Unknown, None),
        };
        history.push(Operation {
            client: index,
            call: Call::Read,
            outcome: outcome.clone(),
            invoked,
            returned: (outcome != Outcome::Unknown).then(|| nanos(started)),
        });
        let Some((etag, state)) = observed else { continue };

        // A conditional write or a sync with the ETag just read.
        rng = splitmix(rng);
        let call = match rng % 4 {
            0 | 1 => {
                Call::UpdateDescription { if_match: etag.clone(), description: format!("client {index} round {round}") }
            }
            2 if state == KeyState::Active => Call::Deactivate { if_match: etag.clone() },
            2 => Call::Activate { if_match: etag.clone() },
            _ => Call::Sync { if_match: etag.clone() },
        };
        let invoked = nanos(started);
        let outcome = send(client, base, &call).await;
        history.push(Operation {
            client: index,
            call,
            returned: (outcome != Outcome::Unknown).then(|| nanos(started)),
            outcome,
            invoked,
        });
    }
    history
}

async fn send(client: &reqwest::Client, base: &str, call: &Call) -> Outcome {
    let (method, url, if_match, body) = match call {
        Call::Read => unreachable!("reads are sent by run_client"),
        Call::UpdateDescription { if_match, description } => {
            (Method::PATCH, base.to_owned(), if_match, Some(json!({ "description": description })))
        }
        Call::Activate { if_match } => (Method::POST, format!("{base}/activate"), if_match, None),
        Call::Deactivate { if_match } => (Method::POST, format!("{base}/deactivate"), if_match, None),
        Call::Sync { if_match } => (Method::POST, format!("{base}/sync_status_in_keystores"), if_match, None),
    };
    let mut request = client.request(method, url).header("If-Match", if_match);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(_) => return Outcome::Unknown,
    };
    match response.status() {
        StatusCode::OK => {
            let etag = etag_of(&response);
            let body: Value = response.json().await.unwrap();
            if matches!(call, Call::Sync { .. }) {
                Outcome::Ok { etag, state: None, description: None }
            } else {
                let description = body["description"].as_str().map(str::to_owned);
                Outcome::Ok { etag, state: Some(key_state(&body)), description }
            }
        }
        StatusCode::PRECONDITION_FAILED => Outcome::PreconditionFailed,
        StatusCode::CONFLICT => Outcome::Conflict,
        other => panic!("{call:?} answered {other}: {}", response.text().await.unwrap_or_default()),
    }
}

async fn read_key(client: &reqwest::Client, base: &str) -> (String, KeyState, String) {
    let response = client.get(base).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let etag = etag_of(&response);
    let body: Value = response.json().await.unwrap();
    (etag, key_state(&body), body["description"].as_str().unwrap().to_owned())
}

fn etag_of(response: &reqwest::Response) -> String {
    response.headers().get("etag").expect("an ETag").to_str().unwrap().to_owned()
}

fn key_state(body: &Value) -> KeyState {
    match body["state"].as_str() {
        Some("active") => KeyState::Active,
        Some("deactivated") => KeyState::Deactivated,
        other => panic!("unexpected state {other:?}"),
    }
}

fn nanos(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
