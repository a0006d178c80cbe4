//! The state file (`--state-file`): every instance kept across restarts, ETags included.
//!
//! Format: a versioned envelope `{"format":"uko-mock-state","version":1,"instances":{"<id>": <export>}}`
//! where each export is the fixture `GET /__mock/v1/export?include_secrets=true` returns (explicit keystore
//! contents, keystore credentials as they are — a restart must restore them — clock,
//! generator states, fault rules), so loading it gives back equal instances. Journals are not kept: they
//! describe requests, not state.
//!
//! Durability and truth (issue 15): a change is acknowledged only once it is on disk, and a change whose
//! write fails is taken back, so no answer, read, list, export or journal entry ever shows it.
//! - Every change takes a ticket ([`Change`]) in the same critical section (the instance's lock) that made
//!   it. A write locks the instance registry and every instance, reads the last ticket and exports every
//!   instance: an exact cut, so the file holds every change up to that ticket and none after it.
//! - A write rewrites the whole state (write `<file>.tmp`, fsync it, rename it over the file, fsync the
//!   directory); the rename is atomic, so a crash leaves the old or the new state, never a torn file. We
//!   chose this over an append log because it needs one format (the export, tested to round-trip) and no
//!   replay; the price, rewriting everything per write, is small for a mock's state.
//! - Group commit: one write runs at a time, on a blocking thread; requests that changed something meanwhile
//!   wait asynchronously and the next write covers them all.
//! - When a write fails, every instance goes back to the last state on disk (kept in memory as the exports
//!   of the last good write), the failed changes' journal entries say 500, and every change not on disk is
//!   answered 500 `state_not_saved`. An epoch counter tells those changes from later ones.
//! - Reads wait too: a request that ran on an instance whose last change is not yet on disk is answered only
//!   once it is (or with 500 when that change was taken back). So nothing a client saw, ETags included, can
//!   be lost in a crash, and after a restart the clock resumes past every ETag ever handed out: no ETag is
//!   issued twice for different content.
//!
//! Reads that move simulation state (fault-rule counters, `unreachable_for_calls`, heartbeats) are saved
//! with the next change or at shutdown, not on their own.
//!
//! Loading: the file must be a regular file of at most the size limit (checked before reading) and a
//! complete, valid envelope; otherwise the server refuses to start, and the file is never written before it
//! loaded. One server per file: `<file>.lock` holds an OS advisory lock (released by the OS on exit or
//! crash) and the holder's pid.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;

use crate::domain::Instance;
use crate::fixture::{Fixture, FixtureError};

/// The `format` of a state file.
pub const FORMAT: &str = "uko-mock-state";

/// The envelope version this build reads and writes.
pub const VERSION: u64 = 1;

/// Largest state file loaded by default (`--max-state-file-bytes` raises it): a file is read whole, so a
/// bound keeps a wrong path (a disk image, a log) from filling memory. 20,000 keys take about 15 MB.
pub const DEFAULT_MAX_STATE_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// One change as the state file tracks it: its ticket and the epoch (failed writes so far) it was made in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    ticket: u64,
    epoch: usize,
}

/// The store as its state file sees it. A trait, so that `persistence` does not import `store` (which holds
/// the state file and calls it for every change): `store::Store` implements it.
pub trait Persisted: Clone + Send + Sync + 'static {
    /// Puts an instance loaded from the file in place (start).
    fn put_loaded(&self, instance_id: &str, instance: Instance);

    /// Binds the store to its state file (once, at start).
    fn attach_state_file(&self, state_file: Arc<StateFile>);

    /// `view` of every instance, taken under all their locks with `cut()` read under them: an exact cut.
    fn exact_cut<R>(&self, view: impl Fn(&Instance) -> R, cut: impl FnOnce() -> u64) -> (BTreeMap<String, R>, u64);

    /// Puts every instance back to `durable` (the last state on disk); `then` runs under the same locks and
    /// is handed a function that marks a journal entry (instance id, sequence number) as not applied.
    fn roll_back(&self, durable: &BTreeMap<String, Fixture>, then: impl FnOnce(&mut dyn FnMut(&str, u64)));
}

/// A state file bound to a store.
pub struct StateFile {
    path: PathBuf,
    ledger: Mutex<Ledger>,
    /// The exports of the last good write: what a failed write goes back to. The mutex also serialises
    /// writers.
    durable: Mutex<BTreeMap<String, Fixture>>,
    /// Bumped after every write, good or failed, to wake the requests waiting for one.
    written: tokio::sync::watch::Sender<u64>,
    /// Whether a write started by [`StateFile::settle`] is running.
    writing: AtomicBool,
    /// The lock on `<file>.lock`, held while the server runs (the OS releases it on exit or crash).
    _lock: Option<File>,
}

/// Tickets, the durable one, epochs.
#[derive(Default)]
struct Ledger {
    /// Tickets handed out.
    changes: u64,
    /// Every ticket up to this one is on disk (and none after it, see the module doc).
    durable: u64,
    /// Failed writes so far; a change made in an earlier epoch is decided by `epoch_ends`.
    epoch: usize,
    /// For each ended epoch, its durable ticket: the changes of that epoch after it were taken back. Grows
    /// by 8 bytes per failed write, which a waiter of any age must still be able to look up.
    epoch_ends: Vec<u64>,
    /// Each instance's last change, for reads to wait on.
    last_change: HashMap<String, Change>,
    /// Journal entries (instance, seq, ticket) of changes not on disk yet: a failed write amends them.
    unsettled: Vec<(String, u64, u64)>,
    /// Why the last write failed, for the answers of the changes it took back.
    last_error: String,
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
/// every change is written to it. An unusable file is left untouched and reported.
pub fn attach(store: &impl Persisted, path: &Path) -> Result<(), StateFileError> {
    attach_with_limit(store, path, DEFAULT_MAX_STATE_FILE_BYTES)
}

/// [`attach`] with a size limit for the file (`--max-state-file-bytes`).
pub fn attach_with_limit(store: &impl Persisted, path: &Path, max_bytes: u64) -> Result<(), StateFileError> {
    let refuse = |reason: String| StateFileError { path: path.to_owned(), reason };
    let lock = lock_exclusively(path).map_err(refuse)?;
    let mut state_file = StateFile::new(path);
    state_file._lock = Some(lock);
    let state_file = Arc::new(state_file);
    let loaded = state_file.load(max_bytes)?;
    for (instance_id, instance) in loaded.unwrap_or_default() {
        store.put_loaded(&instance_id, instance);
    }
    store.attach_state_file(state_file.clone());
    // Written at once, even over a file just loaded: a directory that cannot be written is found now, not
    // at the first change.
    state_file
        .save(store)
        .map_err(|error| StateFileError { path: path.to_owned(), reason: format!("cannot write it: {}", error.source) })
}

/// Takes the advisory lock of `<path>.lock` and writes this process's id into it; refuses, naming the
/// holder's pid, when another process holds it.
fn lock_exclusively(path: &Path) -> Result<File, String> {
    let lock_path = sibling(path, ".lock").map_err(|error| error.to_string())?;
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|error| format!("cannot create its lock file {}: {error}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() { "another process".to_owned() } else { format!("pid {holder}") };
            return Err(format!(
                "in use by another uko-mock ({who} holds {}); one server per state file",
                lock_path.display()
            ));
        }
        Err(fs::TryLockError::Error(error)) => {
            return Err(format!("cannot lock {}: {error}", lock_path.display()));
        }
    }
    let pid = std::process::id().to_string();
    file.set_len(0)
        .and_then(|()| (&file).write_all(pid.as_bytes()))
        .map_err(|error| format!("cannot write its lock file {}: {error}", lock_path.display()))?;
    Ok(file)
}

impl StateFile {
    /// A state file at `path` (nothing is read, written or locked yet).
    pub fn new(path: &Path) -> StateFile {
        StateFile {
            path: path.to_owned(),
            ledger: Mutex::new(Ledger::default()),
            durable: Mutex::new(BTreeMap::new()),
            written: tokio::sync::watch::Sender::new(0),
            writing: AtomicBool::new(false),
            _lock: None,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and checks the whole file: `None` when it does not exist, the instances it holds otherwise.
    /// Anything but a regular file of at most `max_bytes` is refused before a byte is read.
    pub fn load(&self, max_bytes: u64) -> Result<Option<BTreeMap<String, Instance>>, StateFileError> {
        let refuse = |reason: String| StateFileError { path: self.path.clone(), reason };
        let metadata = match fs::metadata(&self.path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(refuse(format!("cannot read it: {error}"))),
        };
        if !metadata.is_file() {
            return Err(refuse("not a regular file (a state file is a JSON file uko-mock writes)".to_owned()));
        }
        let too_large = |size: u64| {
            format!("{size} bytes, larger than the limit of {max_bytes} bytes (--max-state-file-bytes raises it)")
        };
        if metadata.len() > max_bytes {
            return Err(refuse(too_large(metadata.len())));
        }
        let file = File::open(&self.path).map_err(|error| refuse(format!("cannot read it: {error}")))?;
        // The limit again while reading: the file may grow after the size was checked.
        let mut bytes = Vec::new();
        file.take(max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|error| refuse(format!("cannot read it: {error}")))?;
        if bytes.len() as u64 > max_bytes {
            return Err(refuse(too_large(bytes.len() as u64)));
        }
        let text = String::from_utf8(bytes).map_err(|error| refuse(format!("not valid JSON (not UTF-8): {error}")))?;
        parse(&text).map(Some).map_err(refuse)
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a change to an instance; call it under the instance's lock, in the critical section that
    /// made the change. `journal_seq` is the change's journal entry, amended if the change is taken back.
    pub fn note_change(&self, instance_id: &str, journal_seq: Option<u64>) -> Change {
        let mut ledger = self.ledger();
        ledger.changes += 1;
        let change = Change { ticket: ledger.changes, epoch: ledger.epoch };
        match ledger.last_change.get_mut(instance_id) {
            Some(last) => *last = change,
            None => {
                ledger.last_change.insert(instance_id.to_owned(), change);
            }
        }
        if let Some(seq) = journal_seq {
            ledger.unsettled.push((instance_id.to_owned(), seq, change.ticket));
        }
        change
    }

    /// The instance's last change while it is pending (neither on disk nor taken back): a request that read
    /// the instance waits for it before answering. Call it under the instance's lock.
    pub fn observed(&self, instance_id: &str) -> Option<Change> {
        let ledger = self.ledger();
        let change = *ledger.last_change.get(instance_id)?;
        // A change taken back is not in what the request read (the rollback held every instance lock).
        ledger.verdict(change).is_none().then_some(change)
    }

    /// A change standing for everything done so far (shutdown; the first write).
    fn note_all(&self) -> Change {
        let mut ledger = self.ledger();
        ledger.changes += 1;
        Change { ticket: ledger.changes, epoch: ledger.epoch }
    }

    /// Makes everything done so far durable, on this thread (start).
    pub fn save(&self, store: &impl Persisted) -> Result<(), SaveError> {
        let change = self.note_all();
        self.write(store);
        self.outcome(change).unwrap_or_else(|| Err(self.save_error(io::Error::other("the write did not run"))))
    }

    /// Everything done so far made durable, for the server (shutdown).
    pub async fn save_async(self: Arc<Self>, store: impl Persisted) -> Result<(), SaveError> {
        let change = self.note_all();
        self.settle(store, change).await
    }

    /// Returns once `change` is on disk (`Ok`) or was taken back after a failed write (`Err`): waits for
    /// the running write when there is one, and otherwise writes on a blocking thread.
    pub async fn settle(self: Arc<Self>, store: impl Persisted, change: Change) -> Result<(), SaveError> {
        let mut written = self.written.subscribe();
        loop {
            written.borrow_and_update();
            if let Some(outcome) = self.outcome(change) {
                return outcome;
            }
            if self.writing.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                let writer = self.clone();
                let store = store.clone();
                let _ = tokio::task::spawn_blocking(move || writer.write(&store)).await;
                // Cleared before the waiters are woken: one of them may have to write next.
                self.writing.store(false, Ordering::SeqCst);
                self.written.send_modify(|n| *n = n.wrapping_add(1));
                continue;
            }
            // A write is running; it may not cover this change, so look again once it finished.
            if written.changed().await.is_err() {
                return Err(self.save_error(io::Error::other("the state file was closed")));
            }
        }
    }

    /// `Some(Ok)` once the change is on disk, `Some(Err)` once it was taken back, `None` while pending.
    fn outcome(&self, change: Change) -> Option<Result<(), SaveError>> {
        let ledger = self.ledger();
        match ledger.verdict(change)? {
            true => Some(Ok(())),
            false => Some(Err(self.save_error(io::Error::other(ledger.last_error.clone())))),
        }
    }

    /// Writes the store's state (an exact cut, see the module doc); on failure puts every instance back to
    /// the last state on disk and ends the epoch, so the changes since are answered as not applied.
    fn write(&self, store: &impl Persisted) {
        let mut durable = self.durable.lock().unwrap_or_else(PoisonError::into_inner);
        {
            let ledger = self.ledger();
            if ledger.changes == ledger.durable {
                return;
            }
        }
        let (instances, covered) = store.exact_cut(Fixture::export_with_secrets, || self.ledger().changes);
        let result = serde_json::to_vec_pretty(&Envelope { format: FORMAT, version: VERSION, instances: &instances })
            .map_err(io::Error::from)
            .and_then(|mut bytes| {
                bytes.push(b'\n');
                write_atomically(&self.path, &bytes)
            });
        match result {
            Ok(()) => {
                let mut ledger = self.ledger();
                ledger.durable = covered;
                ledger.unsettled.retain(|(_, _, ticket)| *ticket > covered);
                // Settled changes need no entry: a missing one reads as "nothing pending".
                ledger.last_change.retain(|_, change| change.ticket > covered);
                drop(ledger);
                *durable = instances;
            }
            Err(error) => {
                tracing::error!(path = %self.path.display(), %error, "cannot write the state file; the changes since the last write are taken back");
                store.roll_back(&durable, |amend| {
                    let mut ledger = self.ledger();
                    let ended = ledger.durable;
                    ledger.epoch_ends.push(ended);
                    ledger.epoch += 1;
                    ledger.last_error = error.to_string();
                    for (instance_id, seq, _) in ledger.unsettled.drain(..) {
                        amend(&instance_id, seq);
                    }
                    // Every change not on disk was just taken back: none is pending any more.
                    ledger.last_change.clear();
                });
            }
        }
    }

    fn save_error(&self, source: io::Error) -> SaveError {
        SaveError { path: self.path.clone(), source }
    }
}

impl Ledger {
    fn verdict(&self, change: Change) -> Option<bool> {
        if change.epoch == self.epoch {
            return (change.ticket <= self.durable).then_some(true);
        }
        Some(self.epoch_ends.get(change.epoch).is_some_and(|end| change.ticket <= *end))
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
        if crate::domain::instance_id::InstanceId::parse(instance_id).is_none() {
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
    let temporary = sibling(path, ".tmp")?;
    let mut file = File::create(&temporary)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all()).and_then(|()| {
        drop(file);
        fs::rename(&temporary, path)
    });
    if let Err(error) = written {
        // Ours since `create` succeeded: a failed write leaves no half-written file behind.
        let _ = fs::remove_file(&temporary);
        return Err(error);
    }
    // Once renamed, the file holds the new state whatever follows: reporting a failure now would take back
    // changes that a restart loads. A directory that cannot be synced is logged instead.
    if let Err(error) = sync_directory(path) {
        tracing::warn!(path = %path.display(), %error, "cannot sync the state file's directory");
    }
    Ok(())
}

/// `<path><suffix>` in the same directory.
fn sibling(path: &Path, suffix: &str) -> io::Result<PathBuf> {
    let mut name = path.file_name().ok_or_else(|| io::Error::other("the path names no file"))?.to_owned();
    name.push(suffix);
    Ok(path.with_file_name(name))
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
