//! The journal lists requests in the order they ran: 64 clients update one managed key at once (PATCH with
//! `If-Match: *`, so every update succeeds and issues a new, strictly later ETag), and the journal's
//! successful updates, read in sequence order, must carry strictly increasing ETags. A journal entry appended
//! in a second critical section after the operation could be overtaken by a later request and break this.
//! Reads and syncs run alongside, so the check also covers requests that change nothing.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use uko_mock::MockServer;

use crate::helpers::KEY_ACTIVE;

const CLIENTS: usize = 64;
const ROUNDS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn journal_order_is_execution_order_under_64_concurrent_clients() {
    // Arrange
    let server = MockServer::start().await.unwrap();
    let key_url = format!("{}/managed_keys/{KEY_ACTIVE}", server.api_url());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();

    // Act: every client updates the key (and reads it, and syncs it) several times at once.
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|index| {
            let client = client.clone();
            let key_url = key_url.clone();
            tokio::spawn(async move {
                let mut issued = Vec::new();
                for round in 0..ROUNDS {
                    let body = json!({ "description": format!("client {index} round {round}") });
                    let response = client.patch(&key_url).header("If-Match", "*").json(&body).send().await.unwrap();
                    assert_eq!(response.status(), 200, "a wildcard update always applies");
                    issued.push(response.headers()["etag"].to_str().unwrap().to_owned());
                    let method = if round % 2 == 0 { Method::GET } else { Method::POST };
                    let url =
                        if round % 2 == 0 { key_url.clone() } else { format!("{key_url}/sync_status_in_keystores") };
                    client.request(method, url).header("If-Match", "*").send().await.unwrap();
                }
                issued
            })
        })
        .collect();
    let mut issued = Vec::new();
    for task in tasks {
        issued.extend(task.await.unwrap());
    }
    let journal: Value =
        client.get(format!("{}/__mock/v1/journal", server.base_url())).send().await.unwrap().json().await.unwrap();

    // Assert: the journal holds every request once, and its updates' ETags increase with the sequence.
    let entries = journal["entries"].as_array().unwrap();
    assert_eq!(entries.len(), CLIENTS * ROUNDS * 2, "every request is journaled once");
    let sequence: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(sequence.windows(2).all(|pair| pair[0] < pair[1]), "entries are read in sequence order");
    let journaled: Vec<&str> = entries
        .iter()
        .filter(|e| e["operation"] == "UpdateManagedKey" && e["status"] == 200)
        .map(|e| e["etag"].as_str().unwrap())
        .collect();
    assert_eq!(journaled.len(), CLIENTS * ROUNDS);
    for pair in journaled.windows(2) {
        assert!(pair[0] < pair[1], "ETag {} journaled before {}, but issued after it", pair[0], pair[1]);
    }
    let mut answered: Vec<&str> = issued.iter().map(String::as_str).collect();
    answered.sort_unstable();
    assert_eq!(answered, journaled, "the journal records exactly the ETags the clients were answered");
}
