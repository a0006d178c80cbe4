//! Crash safety of `--state-file`: the real binary is killed with SIGKILL at a random moment while eight
//! clients create and update vaults, then restarted on the same file, again and again.
//!
//! The kill comes 0–600 ms after the first acknowledged write of the round. After every kill: the server
//! starts (the file is never corrupt); every acknowledged create and update is there, ETag included; every
//! vault the clients made holds exactly the fields of one request they sent (nothing half-applied), and a
//! change that was never acknowledged is either fully there or absent.
//!
//! Each writer also reads another writer's vault after each update, and every (vault, ETag) seen in an
//! answer, read or write, before or after a kill, is kept: the same ETag for two different descriptions of
//! a vault is an ETag issued twice (a read that saw a change lost in the crash), and fails the test.
//!
//! `CRASH_KILLS` sets the number of kills (default 3).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::binary::Binary;
use crate::helpers::splitmix;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const WRITERS: usize = 8;

/// Every (vault id, ETag) seen in an answer, with the description it came with.
type Seen = Mutex<BTreeMap<(String, String), String>>;

/// Keeps what an answer showed; an ETag seen before with another description was issued twice.
fn saw(seen: &Seen, id: &str, etag: &str, description: &str) {
    let mut seen = seen.lock().unwrap();
    let earlier = seen.entry((id.to_owned(), etag.to_owned())).or_insert_with(|| description.to_owned());
    assert_eq!(earlier, description, "vault {id}: ETag {etag} was issued for two different contents");
}

/// What the clients know of one vault they created.
#[derive(Clone, Debug, Default)]
struct Known {
    name: String,
    /// Descriptions sent for it, in order; the last acknowledged one, with its ETag.
    sent: Vec<String>,
    acknowledged: Option<(String, String)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_at_random_moments_and_nothing_is_half_applied() {
    let kills = std::env::var("CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(3u64);
    let directory = std::env::temp_dir().join(format!("uko-mock-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    let state_file = directory.join("state.json");
    // Vaults by id, and creates sent without an answer (by name).
    let known: Arc<Mutex<BTreeMap<String, Known>>> = Arc::default();
    let unanswered_creates: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen: Arc<Seen> = Arc::default();
    let mut acknowledged_total = 0usize;
    let mut rng = 0x5eed_u64;

    for kill in 0..kills {
        // Arrange: a server on the state file, eight writers at full speed.
        let process = Process::start(&state_file).await;
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (base, known, unanswered, seen) =
                    (process.binary.base_url.clone(), known.clone(), unanswered_creates.clone(), seen.clone());
                tokio::spawn(async move { write_until_killed(kill, writer, &base, &known, &unanswered, &seen).await })
            })
            .collect();

        // Act: SIGKILL at a random moment of the load, once it is under way (a write was acknowledged).
        let known_before = known.lock().unwrap().len();
        let under_way = async {
            while known.lock().unwrap().len() == known_before {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), under_way).await.expect("no write acknowledged in 30 s");
        rng = splitmix(rng);
        tokio::time::sleep(Duration::from_millis(rng % 600)).await;
        process.kill().await;
        let mut acknowledged = 0;
        for writer in writers {
            acknowledged += writer.await.unwrap();
        }
        acknowledged_total += acknowledged;
        assert!(acknowledged > 0, "kill {kill}: no write was acknowledged before the kill; the test proves nothing");

        // Assert: the restarted server holds every acknowledged write and nothing half-applied.
        let process = Process::start(&state_file).await;
        let vaults = process.vaults().await;
        for (id, (_, description, etag)) in &vaults {
            saw(&seen, id, etag, description);
        }
        check(kill, &vaults, &known.lock().unwrap(), &unanswered_creates.lock().unwrap());
        // What survived is the truth from here on: unanswered changes that did land are now known.
        adopt(&vaults, &mut known.lock().unwrap(), &mut unanswered_creates.lock().unwrap());
        process.kill().await;
    }
    let _ = std::fs::remove_dir_all(&directory);
    if std::env::var("TEST_LOG").is_ok() {
        let etags = seen.lock().unwrap().len();
        eprintln!(
            "crash: {kills} SIGKILLs survived, {acknowledged_total} acknowledged writes all kept, {etags} (vault, ETag) pairs seen, 0 issued twice"
        );
    }
}

/// Creates vaults and updates their descriptions until the server dies; returns the writes acknowledged.
async fn write_until_killed(
    kill: u64,
    writer: usize,
    base: &str,
    known: &Mutex<BTreeMap<String, Known>>,
    unanswered: &Mutex<Vec<String>>,
    seen: &Seen,
) -> usize {
    let client = Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut acknowledged = 0;
    for n in 0.. {
        let name = format!("crash {kill} {writer} {n}");
        unanswered.lock().unwrap().push(name.clone());
        let created = client.post(format!("{base}/api/v4/vaults")).json(&json!({"name": name})).send().await;
        let Ok(created) = created else { return acknowledged };
        assert_eq!(created.status(), StatusCode::CREATED, "{name}");
        let mut etag = created.headers()["etag"].to_str().unwrap().to_owned();
        let Ok(body) = created.json::<Value>().await else { return acknowledged };
        let id = body["id"].as_str().unwrap().to_owned();
        saw(seen, &id, &etag, body["description"].as_str().unwrap_or_default());
        unanswered.lock().unwrap().retain(|sent| *sent != name);
        known.lock().unwrap().insert(id.clone(), Known { name: name.clone(), ..Known::default() });
        acknowledged += 1;
        for update in 0..3 {
            let description = format!("{name} update {update}");
            known.lock().unwrap().get_mut(&id).unwrap().sent.push(description.clone());
            let updated = client
                .patch(format!("{base}/api/v4/vaults/{id}"))
                .header("If-Match", &etag)
                .json(&json!({ "description": description }))
                .send()
                .await;
            let Ok(updated) = updated else { return acknowledged };
            assert_eq!(updated.status(), StatusCode::OK, "{description}");
            etag = updated.headers()["etag"].to_str().unwrap().to_owned();
            if updated.bytes().await.is_err() {
                return acknowledged;
            }
            saw(seen, &id, &etag, &description);
            known.lock().unwrap().get_mut(&id).unwrap().acknowledged = Some((description, etag.clone()));
            acknowledged += 1;
            // Read another writer's vault: an answer must never show a change that a crash can still lose.
            let other = {
                let known = known.lock().unwrap();
                known.keys().nth((writer * 7919 + n * 31 + update) % known.len()).cloned()
            };
            if let Some(other) = other {
                let Ok(read) = client.get(format!("{base}/api/v4/vaults/{other}")).send().await else {
                    return acknowledged;
                };
                if read.status() == StatusCode::OK {
                    let read_etag = read.headers()["etag"].to_str().unwrap().to_owned();
                    let Ok(body) = read.json::<Value>().await else { return acknowledged };
                    saw(seen, &other, &read_etag, body["description"].as_str().unwrap_or_default());
                }
            }
        }
    }
    acknowledged
}

/// The assertions after a restart; `vaults` is id → (name, description, ETag) as the server reads them.
fn check(
    kill: u64,
    vaults: &BTreeMap<String, (String, String, String)>,
    known: &BTreeMap<String, Known>,
    unanswered_creates: &[String],
) {
    for (id, vault) in known {
        let Some((name, description, etag)) = vaults.get(id) else {
            panic!("kill {kill}: the acknowledged vault {id} ({}) is gone", vault.name);
        };
        assert_eq!(*name, vault.name, "kill {kill}: vault {id} has another name");
        match &vault.acknowledged {
            None => assert!(
                description.is_empty() || vault.sent.contains(description),
                "kill {kill}: vault {id} holds a description nobody sent: {description:?}"
            ),
            Some((acknowledged, acknowledged_etag)) => {
                let position = vault.sent.iter().position(|sent| sent == acknowledged).unwrap();
                let found = vault.sent.iter().position(|sent| sent == description);
                assert!(
                    found.is_some_and(|found| found >= position),
                    "kill {kill}: vault {id} lost its acknowledged description {acknowledged:?}, holds {description:?}"
                );
                if found == Some(position) {
                    assert_eq!(etag, acknowledged_etag, "kill {kill}: vault {id} has another ETag than acknowledged");
                }
            }
        }
    }
    for (id, (name, description, _)) in vaults {
        if known.contains_key(id) || !name.starts_with("crash ") {
            continue;
        }
        // Created, but the answer was lost: it must be a create that was sent, whole, with no update.
        assert!(unanswered_creates.contains(name), "kill {kill}: vault {id} ({name}) was never sent");
        assert!(description.is_empty(), "kill {kill}: unacknowledged vault {name} has a description {description:?}");
    }
}

/// Takes what survived as known, so the next round checks against it.
fn adopt(
    vaults: &BTreeMap<String, (String, String, String)>,
    known: &mut BTreeMap<String, Known>,
    unanswered_creates: &mut Vec<String>,
) {
    for (id, (name, description, etag)) in vaults {
        if !name.starts_with("crash ") {
            continue;
        }
        let entry = known.entry(id.clone()).or_insert_with(|| Known { name: name.clone(), ..Known::default() });
        if !description.is_empty() {
            entry.sent.retain(|sent| sent == description);
            if entry.sent.is_empty() {
                entry.sent.push(description.clone());
            }
            entry.acknowledged = Some((description.clone(), etag.clone()));
        } else {
            entry.sent.clear();
        }
    }
    unanswered_creates.clear();
}

/// A running `uko-mock` on a free port with a state file.
struct Process {
    binary: Binary,
}

impl Process {
    async fn start(state_file: &Path) -> Process {
        Process { binary: Binary::with_state_file(state_file).await }
    }

    /// SIGKILL.
    async fn kill(self) {
        self.binary.kill().await;
    }

    /// Every vault: id → (name, description, ETag).
    async fn vaults(&self) -> BTreeMap<String, (String, String, String)> {
        let client = Client::new();
        let mut vaults = BTreeMap::new();
        let mut offset = 0;
        loop {
            let url = format!("{}/api/v4/vaults?limit=1000&offset={offset}", self.binary.base_url);
            let page: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            let items = page["vaults"].as_array().unwrap();
            for vault in items {
                let id = vault["id"].as_str().unwrap().to_owned();
                let updated_at = vault["updated_at"].as_str().unwrap();
                let etag = format!("{}Z", &updated_at[..19]);
                let description = vault["description"].as_str().unwrap_or_default().to_owned();
                vaults.insert(id, (vault["name"].as_str().unwrap().to_owned(), description, etag));
            }
            offset += items.len();
            if items.is_empty() || offset >= page["total_count"].as_u64().unwrap() as usize {
                return vaults;
            }
        }
    }
}
