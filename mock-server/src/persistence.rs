//! The state file (`--state-file`): every instance kept across restarts, ETags included.
//!
//! Format: a versioned envelope `{"format":"uko-mock-state","version":1,"instances":{"<id>": <export>}}`
//! where each export is the fixture `GET /__mock/v1/export?include_secrets=true` returns (explicit keystore
//! contents, keystore credentials as they are — a restart must restore them — clock,
//! generator states, fault rules), so loading it gives back equal instances. Journals are not kept: they
//! describe requests, not state.
//!
//! Durability: a change is on disk before its response is sent. The HTTP layer calls [`Store::persist`]
//! after every API mutation that succeeded and every control-plane change; it rewrites the whole state
//! (write `<file>.tmp`, fsync it, rename it over the file, fsync the directory). The rename is atomic, so a
//! crash leaves the old or the new state, never a torn file. We chose this over an append log because it
//! needs a single format (the export, which is already tested to round-trip) and no replay or compaction;
//! the price, rewriting everything per change, is small for a mock's state.
//!
//! Concurrency: writers are serialised by one mutex. Each change takes a ticket from a counter after the
//! change was made; a writer reads the counter *before* it snapshots the instances (each under its own lock),
//! so its file holds every change up to that ticket, and it records that ticket as durable. A change whose
//! ticket is already durable returns at once (group commit). Since every write snapshots the state as it
//! is after the previous write finished, a newer state is never overwritten by an older snapshot.
//!
//! From the server ([`StateFile::save_async`]) only one write runs at a time, on a blocking thread; the
//! requests that changed something meanwhile wait for it asynchronously (a `watch` of the durable ticket)
//! and the next one to find no write running starts the write that covers them all. Thirty-two concurrent
//! changes thus cost one or two writes, not thirty-two blocking threads queued on the mutex.
//!
//! Reads that move simulation state (fault-rule counters, `unreachable_for_calls`, heartbeats) are saved
//! with the next change or at shutdown, not on their own.
//!
//! Loading: an existing file must be a complete, valid envelope; otherwise the server refuses to start, and
//! the file is never written before it loaded.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use crate::domain::Instance;
use crate::fixture::{Fixture, FixtureError};
use crate::store::Store;

/// The `format` of a state file.
pub const FORMAT: &str = "uko-mock-state";

/// The envelope version this build reads and writes.
pub const VERSION: u64 = 1;

/// A state file bound to a store.
pub struct StateFile {
    path: PathBuf,
    /// Tickets handed out: the number of changes reported so far.
    changes: AtomicU64,
    /// The highest ticket whose state is on disk. The mutex also serialises writers.
    durable: Mutex<u64>,
    /// The durable ticket as published to waiting requests; also bumped after a failed write so that a
    /// waiter retries it.
    written: tokio::sync::watch::Sender<u64>,
    /// Whether a write started by [`StateFile::save_async`] is running.
    writing: AtomicBool,
}

/// Why a state file cannot be used at start.
#[derive(Debug)]
pub struct StateFileError {
    pub path: PathBuf,
    pub reason: String,
}

/// Why a change could not be written.
#[derive(Debug)]
pub struct SaveError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// Loads `path` into `store` when it exists, or creates it from the store's current state; from then on
/// every [`Store::persist`] writes it. An unusable file is left untouched and reported.
pub fn attach(store: &Store, path: &Path) -> Result<(), StateFileError> {
    let state_file = Arc::new(StateFile::new(path));
    let loaded = state_file.load()?;
    let created = loaded.is_none();
    for (instance_id, instance) in loaded.unwrap_or_default() {
        store.put_instance(&instance_id, instance);
    }
    store.attach_state_file(state_file.clone());
    if created {
        state_file.save(store).map_err(|error| StateFileError {
            path: path.to_owned(),
            reason: format!("cannot create it: {}", error.source),
        })?;
    }
    Ok(())
}

impl StateFile {
    /// A state file at `path` (nothing is read or written yet).
    pub fn new(path: &Path) -> StateFile {
        StateFile {
            path: path.to_owned(),
            changes: AtomicU64::new(0),
            durable: Mutex::new(0),
            written: tokio::sync::watch::Sender::new(0),
            writing: AtomicBool::new(false),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and checks the whole file: `None` when it does not exist, the instances it holds otherwise.
    pub fn load(&self) -> Result<Option<BTreeMap<String, Instance>>, StateFileError> {
        let refuse = |reason: String| StateFileError { path: self.path.clone(), reason };
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(refuse(format!("cannot read it: {error}"))),
        };
        parse(&text).map(Some).map_err(refuse)
    }

    /// Makes every change reported before this call durable: writes the store's state unless a write that
    /// started after this call already did.
    pub fn save(&self, store: &Store) -> Result<(), SaveError> {
        let ticket = self.changes.fetch_add(1, Ordering::SeqCst) + 1;
        self.write_covering(ticket, store)
    }

    /// [`StateFile::save`] for the server: waits for the running write when there is one, and otherwise
    /// writes on a blocking thread; either way it returns once a write covering this change is on disk.
    pub async fn save_async(self: Arc<Self>, store: Store) -> Result<(), SaveError> {
        let ticket = self.changes.fetch_add(1, Ordering::SeqCst) + 1;
        let mut written = self.written.subscribe();
        loop {
            if *written.borrow_and_update() >= ticket {
                return Ok(());
            }
            if self.writing.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                let writer = self.clone();
                let store = store.clone();
                let result = tokio::task::spawn_blocking(move || writer.write_covering(ticket, &store)).await;
                // Cleared before the waiters are woken: one of them may have to write next.
                self.writing.store(false, Ordering::SeqCst);
                self.written.send_modify(|_| {});
                return result.map_err(|error| self.save_error(io::Error::other(error)))?;
            }
            // A write is running; it may not cover this ticket, so look again once it finished.
            if written.changed().await.is_err() {
                return Err(self.save_error(io::Error::other("the state file was closed")));
            }
        }
    }

    /// Writes the store's state unless a write already covered `ticket`.
    fn write_covering(&self, ticket: u64, store: &Store) -> Result<(), SaveError> {
        let mut durable = self.durable.lock().unwrap_or_else(PoisonError::into_inner);
        if *durable >= ticket {
            return Ok(());
        }
        // Read before the snapshot: every change with a ticket up to here is visible to it.
        let covered = self.changes.load(Ordering::SeqCst);
        let instances = store.map_instances(Fixture::export_with_secrets);
        let envelope = Envelope { format: FORMAT, version: VERSION, instances: &instances };
        let mut bytes = serde_json::to_vec_pretty(&envelope).map_err(|error| self.save_error(error.into()))?;
        bytes.push(b'\n');
        write_atomically(&self.path, &bytes).map_err(|error| self.save_error(error))?;
        *durable = covered;
        self.written.send_replace(covered);
        Ok(())
    }

    fn save_error(&self, source: io::Error) -> SaveError {
        SaveError { path: self.path.clone(), source }
    }
}

impl fmt::Display for StateFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "state file {}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for StateFileError {}

impl fmt::Display for SaveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write the state file {}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for SaveError {}

#[derive(Serialize)]
struct Envelope<'a> {
    format: &'static str,
    version: u64,
    instances: &'a BTreeMap<String, Fixture>,
}

/// Checks the envelope, then loads each instance as a fixture; errors name the JSON path.
fn parse(text: &str) -> Result<BTreeMap<String, Instance>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|error| format!("not valid JSON (truncated or corrupt?): {error}"))?;
    let Some(envelope) = value.as_object() else {
        return Err(format!("expected a JSON object with \"format\": \"{FORMAT}\", found {}", kind(&value)));
    };
    match envelope.get("format").and_then(|f| f.as_str()) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(format!("not a uko-mock state file: expected format \"{FORMAT}\", found \"{other}\""))
        }
        None => {
            return Err(format!("not a uko-mock state file: expected a \"format\": \"{FORMAT}\" field, found none"))
        }
    }
    match envelope.get("version").and_then(|v| v.as_u64()) {
        Some(VERSION) => {}
        Some(other) => return Err(format!("expected version {VERSION} (this build's), found version {other}")),
        None => return Err(format!("expected a numeric \"version\": {VERSION}, found none")),
    }
    if let Some(unknown) = envelope.keys().find(|k| !["format", "version", "instances"].contains(&k.as_str())) {
        return Err(format!("{unknown}: unknown field"));
    }
    let Some(serde_json::Value::Object(entries)) = envelope.get("instances") else {
        return Err("instances: expected an object of instance id → export".to_owned());
    };
    let mut instances = BTreeMap::new();
    for (instance_id, export) in entries {
        let at = |error: FixtureError| {
            let path = if error.path.is_empty() { String::new() } else { format!(".{}", error.path) };
            format!("instances.{instance_id}{path}: {}", error.reason)
        };
        if crate::store::InstanceId::parse(instance_id).is_none() {
            return Err(format!(
                "instances.{instance_id}: expected an instance id of 1 to 64 letters, digits, '-', '_' or '.'"
            ));
        }
        let fixture = Fixture::from_json(&export.to_string()).map_err(at)?;
        instances.insert(instance_id.clone(), fixture.into_instance(instance_id, None).map_err(at)?);
    }
    Ok(instances)
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Write-to-temporary, fsync, rename, fsync the directory: readers and crashes see the old or the new file.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file_name = path.file_name().ok_or_else(|| io::Error::other("the path names no file"))?;
    let mut temporary_name = file_name.to_owned();
    temporary_name.push(".tmp");
    let temporary = path.with_file_name(temporary_name);
    let mut file = File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, path)?;
    sync_directory(path)
}

#[cfg(unix)]
fn sync_directory(path: &Path) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(directory)?.sync_all()
}

#[cfg(not(unix))]
fn sync_directory(_path: &Path) -> io::Result<()> {
    // Directories cannot be opened for fsync on this platform; the rename itself is still atomic.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_instance() -> Instance {
        Fixture::default_fixture().unwrap().into_instance("default", None).unwrap()
    }

    #[test]
    fn foreign_and_broken_files_are_refused_with_a_reason() {
        let cases = [
            ("", "not valid JSON"),
            ("{\"format\": \"uko-mock-state\", \"version\": 1, \"instances\": {", "not valid JSON"),
            ("[1, 2]", "found an array"),
            ("{\"name\": \"package.json\"}", "not a uko-mock state file"),
            ("{\"format\": \"uko-mock-state\", \"version\": 2, \"instances\": {}}", "found version 2"),
            (
                "{\"format\": \"uko-mock-state\", \"version\": 1, \"instances\": {\"a\": {}}}",
                "instances.a: missing field `description`",
            ),
            (
                "{\"format\": \"uko-mock-state\", \"version\": 1, \"instances\": {\"../x\": {}}}",
                "expected an instance id",
            ),
        ];
        for (text, reason) in cases {
            let error = parse(text).unwrap_err();
            assert!(error.contains(reason), "{text}: expected '{reason}' in '{error}'");
        }
    }

    #[test]
    fn an_envelope_of_exports_loads_equal_instances() {
        let instance = default_instance();
        let mut exports = BTreeMap::new();
        exports.insert("default".to_owned(), Fixture::export_with_secrets(&instance));
        let text = serde_json::to_string(&Envelope { format: FORMAT, version: VERSION, instances: &exports }).unwrap();
        let loaded = parse(&text).unwrap();
        assert_eq!(loaded["default"], instance);
    }
}
