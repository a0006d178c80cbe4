//! The single shared-state handle: every UKO instance behind its own lock.
//!
//! A std `Mutex` is right here: every critical section is a short, synchronous domain call and never
//! awaits (clippy's `await_holding_lock` is on). One API request takes its instance's lock exactly once,
//! in [`Store::apply`] (or [`Store::record`] for a request refused before any operation ran): the fault
//! plan, the `If-Match` check, the operation, the views of its answer and its journal entry happen in that
//! one critical section, so no lost update is possible between concurrent requests and the journal lists
//! requests in the order they ran. Rendering happens after the lock is released.
//! Instances are created on first use by the factory (from the default or a named fixture).
//!
//! With a state file attached (`persistence`), every change takes a ticket in the critical section that
//! made it, and every request notes the last change it could see; callers wait for [`Store::settle`]
//! before answering (see `persistence` for why a client is never shown a change that is not on disk).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use crate::domain::command::{Answer, Command};
use crate::domain::faults::FaultDecision;
pub use crate::domain::peek::KeyStatus;
use crate::domain::request_journal::{Journal, JournalEntry, DEFAULT_CAPACITY, DEFAULT_MAX_BYTES};
use crate::domain::{IfMatch, Instance, Result};
use crate::fixture::Fixture;
use crate::persistence::{Change, Persisted, SaveError, StateFile};
// In the domain, so `persistence` can check the ids of a state file without importing the store.
pub use crate::domain::instance_id::{InstanceId, DEFAULT_INSTANCE};

/// Builds a fresh instance for an id (used on first use and on reset).
pub type InstanceFactory = Arc<dyn Fn(&str) -> Instance + Send + Sync>;

/// Most instances a store holds. Addressing an unknown instance creates it, so without a bound a client
/// inventing ids (`/instances/<random>/api/v4/...`) would grow memory without end; past it, requests for a
/// new instance are refused with 409 until one is deleted (`DELETE /__mock/v1/instances/{id}`).
pub const MAX_INSTANCES: usize = 1024;

/// One UKO API request as the store runs it.
pub struct ApiCall<'a> {
    pub command: Command,
    pub if_match: Option<&'a IfMatch>,
    /// The request's journal entry, without its outcome (status, ETag, fault, time), which `apply` fills in;
    /// `None` records nothing.
    pub entry: Option<JournalEntry>,
    /// The status the answer to a result will have: the HTTP layer's mapping, used for the journal.
    pub status_of: fn(&Result<Answer>) -> u16,
}

/// What one request did, for the HTTP layer to render after the lock was released.
#[derive(Debug)]
pub struct Outcome {
    /// The operation's result; `None` when an injected error or a dropped connection replaced it.
    pub result: Option<Result<Answer>>,
    /// What the fault plan decided (the injected error, latency to sleep, a connection to drop).
    pub faults: FaultDecision,
    /// Whether the instance changed (a mutation succeeded, or a concurrent writer acted): the change must be
    /// made durable before the answer.
    pub changed: bool,
    /// With a state file: this request's change, or the change it read that is not on disk yet; the
    /// answer waits for it ([`Store::settle`]).
    pub pending: Option<Change>,
    /// The request's journal entry, if one was recorded.
    pub journal_seq: Option<u64>,
}

/// Cheaply clonable handle to all instances.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    instances: Mutex<BTreeMap<String, Arc<Mutex<Instance>>>>,
    factory: Mutex<InstanceFactory>,
    /// Entries each instance's journal keeps (`--journal-size`).
    journal_capacity: AtomicUsize,
    /// Memory each instance's journal may hold (`--journal-max-bytes`).
    journal_max_bytes: AtomicUsize,
    /// Where changes are saved; set once at start, never for a store without `--state-file`.
    state_file: OnceLock<Arc<StateFile>>,
}

impl Store {
    /// A store whose instances come from `factory`; the default instance is created at once.
    pub fn new(factory: InstanceFactory) -> Store {
        let store = Store::empty(factory, BTreeMap::new());
        store.handle(DEFAULT_INSTANCE);
        store
    }

    /// A store whose default instance is given (already built) and whose other instances come from
    /// `factory` on first use.
    pub fn with_default(default: Instance, factory: InstanceFactory) -> Store {
        let mut instances = BTreeMap::new();
        instances.insert(DEFAULT_INSTANCE.to_owned(), Arc::new(Mutex::new(default)));
        Store::empty(factory, instances)
    }

    fn empty(factory: InstanceFactory, instances: BTreeMap<String, Arc<Mutex<Instance>>>) -> Store {
        let shared = Shared {
            instances: Mutex::new(instances),
            factory: Mutex::new(factory),
            journal_capacity: AtomicUsize::new(DEFAULT_CAPACITY),
            journal_max_bytes: AtomicUsize::new(DEFAULT_MAX_BYTES),
            state_file: OnceLock::new(),
        };
        Store { shared: Arc::new(shared) }
    }

    /// Runs `operation` on the instance with this id (created on first use) under its lock.
    pub fn with_instance<R>(&self, instance_id: &str, operation: impl FnOnce(&mut Instance) -> R) -> R {
        let handle = self.handle(instance_id);
        let mut instance = lock(&handle);
        operation(&mut instance)
    }

    /// Runs a control-plane change on the instance under its lock; the change's ticket is taken in the same
    /// critical section (`None` without a state file). Pass it to [`Store::settle`] before answering.
    pub fn change<R>(&self, instance_id: &str, operation: impl FnOnce(&mut Instance) -> R) -> (R, Option<Change>) {
        let handle = self.handle(instance_id);
        let mut instance = lock(&handle);
        let value = operation(&mut instance);
        let change = self.state_file().map(|state_file| state_file.note_change(instance_id, None));
        (value, change)
    }

    /// Runs a read on the instance under its lock, with the instance's last change not yet on disk (if
    /// any): pass it to [`Store::settle`] before answering.
    pub fn read<R>(&self, instance_id: &str, operation: impl FnOnce(&mut Instance) -> R) -> (R, Option<Change>) {
        let handle = self.handle(instance_id);
        let mut instance = lock(&handle);
        let value = operation(&mut instance);
        let observed = self.state_file().and_then(|state_file| state_file.observed(instance_id));
        (value, observed)
    }

    /// Waits until `change` is on disk; `Err` when its write failed and it was taken back (a no-op for
    /// `None`).
    pub async fn settle(&self, change: Option<Change>) -> Result<(), SaveError> {
        match (change, self.state_file().cloned()) {
            (Some(change), Some(state_file)) => state_file.settle(self.clone(), change).await,
            _ => Ok(()),
        }
    }

    /// Rewrites the status of a journal entry whose answer changed after it was recorded (a change that
    /// could not be saved).
    pub fn amend_journal(&self, instance_id: &InstanceId, seq: u64, status: u16) {
        if let Some(handle) = self.existing(instance_id.as_str()) {
            lock(&handle).journal.amend(seq, status);
        }
    }

    /// Runs one UKO request on an instance in one pass through its lock: the fault plan decides, the
    /// command runs (its `If-Match` check first), the views of its answer are taken, and its journal entry is
    /// appended, in execution order.
    pub fn apply(&self, instance_id: &InstanceId, call: ApiCall<'_>) -> Outcome {
        let handle = self.handle(instance_id.as_str());
        let mut instance = lock(&handle);
        let mutates = call.command.operation().mutates();
        let (result, faults) = instance.run_command(call.command, call.if_match);
        let mut journal_seq = None;
        if let Some(mut entry) = call.entry {
            entry.time = instance.clock.now().to_rfc3339_millis();
            entry.status = match (&result, &faults.error) {
                _ if faults.drop_connection => 0,
                (Some(result), _) => (call.status_of)(result),
                (None, Some(injected)) => injected.status,
                (None, None) => 503,
            };
            entry.etag = match &result {
                Some(Ok(answer)) => answer.etag.clone(),
                _ => None,
            };
            entry.fault = faults.summary();
            journal_seq = Some(instance.journal.record(entry));
        }
        let changed = (mutates && matches!(result, Some(Ok(_))))
            || !faults.concurrent_writes.is_empty()
            || !faults.concurrent_changes.is_empty();
        let pending = self.state_file().and_then(|state_file| match changed {
            true => Some(state_file.note_change(instance_id.as_str(), journal_seq)),
            false => state_file.observed(instance_id.as_str()),
        });
        Outcome { result, faults, changed, pending, journal_seq }
    }

    /// Journals a UKO request that was answered before any operation ran (refused token, undecodable body,
    /// bad flag); `entry` is complete but for its time. Nothing is recorded for an instance that does not
    /// exist and has no room to be created.
    pub fn record(&self, instance_id: &InstanceId, mut entry: JournalEntry) {
        if !self.admits(instance_id.as_str()) {
            return;
        }
        let handle = self.handle(instance_id.as_str());
        let mut instance = lock(&handle);
        entry.time = instance.clock.now().to_rfc3339_millis();
        instance.journal.record(entry);
    }

    /// An instance's journal, oldest first; empty for an instance that does not exist (none is created).
    pub fn journal(&self, instance_id: &str) -> Vec<JournalEntry> {
        self.existing(instance_id).map(|handle| lock(&handle).journal.since(0)).unwrap_or_default()
    }

    /// A key's status in keystores, derived without contacting any keystore (a read through this API
    /// must not spend a keystore's "unreachable for N calls"); `None` when the instance or key does not
    /// exist.
    pub fn key_statuses(&self, instance_id: &str, key_id: &str) -> Option<Vec<KeyStatus>> {
        self.existing(instance_id).and_then(|handle| lock(&handle).key_statuses(key_id))
    }

    /// Replaces an instance's whole state (a fixture load); its journal stays (the control plane's reset empties it).
    pub fn replace_instance(&self, instance_id: &str, instance: Instance) {
        let handle = self.handle(instance_id);
        lock(&handle).replace_state(instance);
    }

    /// Installs `instance` under `instance_id`, replacing the state of an existing one (whose journal stays);
    /// returns whether it was created, and the change to settle.
    pub fn put_instance(&self, instance_id: &str, mut instance: Instance) -> (bool, Option<Change>) {
        let mut instances = lock(&self.shared.instances);
        let created = match instances.get(instance_id) {
            Some(handle) => {
                lock(handle).replace_state(instance);
                false
            }
            None => {
                self.limit_journal(&mut instance.journal);
                instances.insert(instance_id.to_owned(), Arc::new(Mutex::new(instance)));
                true
            }
        };
        // Under the registry lock, which a write holds for its cut.
        let change = self.state_file().map(|state_file| state_file.note_change(instance_id, None));
        (created, change)
    }

    /// Sets how many entries each journal keeps, for existing and future instances.
    pub fn set_journal_capacity(&self, capacity: usize) {
        self.shared.journal_capacity.store(capacity.max(1), Ordering::SeqCst);
        for handle in self.handles() {
            lock(&handle).journal.set_capacity(capacity);
        }
    }

    /// Sets how much memory each journal may hold, for existing and future instances.
    pub fn set_journal_max_bytes(&self, max_bytes: usize) {
        self.shared.journal_max_bytes.store(max_bytes.max(1), Ordering::SeqCst);
        for handle in self.handles() {
            lock(&handle).journal.set_max_bytes(max_bytes);
        }
    }

    /// Applies the journal limits to a new instance's journal.
    fn limit_journal(&self, journal: &mut Journal) {
        journal.set_capacity(self.journal_capacity());
        journal.set_max_bytes(self.shared.journal_max_bytes.load(Ordering::SeqCst));
    }

    /// Entries each instance's journal keeps.
    pub fn journal_capacity(&self) -> usize {
        self.shared.journal_capacity.load(Ordering::SeqCst)
    }

    /// `view` of every instance, by id; each instance is locked only while it is viewed.
    pub fn map_instances<R>(&self, view: impl Fn(&Instance) -> R) -> BTreeMap<String, R> {
        let handles: Vec<(String, Arc<Mutex<Instance>>)> =
            lock(&self.shared.instances).iter().map(|(id, handle)| (id.clone(), handle.clone())).collect();
        handles.into_iter().map(|(id, handle)| (id, view(&lock(&handle)))).collect()
    }

    /// Binds the store to a state file (once, at start; `persistence::attach`).
    pub fn attach_state_file(&self, state_file: Arc<StateFile>) {
        if self.shared.state_file.set(state_file).is_err() {
            tracing::warn!("a state file was already attached; keeping the first one");
        }
    }

    /// The attached state file, if any.
    pub fn state_file(&self) -> Option<&Arc<StateFile>> {
        self.shared.state_file.get()
    }

    /// Makes everything done before this call durable (a no-op without a state file): shutdown. Changes
    /// are settled one by one with [`Store::settle`]. The write runs on the blocking pool.
    pub async fn persist(&self) -> Result<(), SaveError> {
        let Some(state_file) = self.state_file().cloned() else {
            return Ok(());
        };
        state_file.save_async(self.clone()).await
    }

    /// A fresh instance from the factory, not yet installed.
    pub fn fresh_instance(&self, instance_id: &str) -> Instance {
        let factory = lock(&self.shared.factory).clone();
        factory(instance_id)
    }

    /// Puts every instance, existing and future (reset included), under a profile of time rules
    /// (`--profile`).
    pub fn set_profile(&self, profile: crate::domain::Profile) {
        for handle in self.handles() {
            lock(&handle).settings.profile = profile;
        }
        let built = lock(&self.shared.factory).clone();
        self.set_factory(Arc::new(move |instance_id: &str| {
            let mut instance = built(instance_id);
            instance.settings.profile = profile;
            instance
        }));
    }

    /// Changes how future (and reset) instances are built.
    pub fn set_factory(&self, factory: InstanceFactory) {
        *lock(&self.shared.factory) = factory;
    }

    /// Whether a request may address this instance: it exists, or there is room to create it.
    pub fn admits(&self, instance_id: &str) -> bool {
        let instances = lock(&self.shared.instances);
        instances.contains_key(instance_id) || instances.len() < MAX_INSTANCES
    }

    /// Ids of the instances that exist now.
    pub fn instance_ids(&self) -> Vec<String> {
        lock(&self.shared.instances).keys().cloned().collect()
    }

    /// Removes a non-default instance; returns the change to settle, `None` when it did not exist.
    pub fn remove_instance(&self, instance_id: &str) -> Option<Option<Change>> {
        if instance_id == DEFAULT_INSTANCE {
            return None;
        }
        let mut instances = lock(&self.shared.instances);
        instances.remove(instance_id)?;
        Some(self.state_file().map(|state_file| state_file.note_change(instance_id, None)))
    }

    /// `view` of every instance, all locked at once together with the registry, and `cut()` read under
    /// those locks: every change whose ticket `cut` counts is in the views, and no other (`persistence`).
    pub fn exact_cut<R>(&self, view: impl Fn(&Instance) -> R, cut: impl FnOnce() -> u64) -> (BTreeMap<String, R>, u64) {
        let instances = lock(&self.shared.instances);
        let handles: Vec<(String, Arc<Mutex<Instance>>)> =
            instances.iter().map(|(id, handle)| (id.clone(), handle.clone())).collect();
        // One lock at a time takes only these locks in registry order; `apply` holds one instance lock.
        let guards: Vec<(String, MutexGuard<'_, Instance>)> =
            handles.iter().map(|(id, handle)| (id.clone(), lock(handle))).collect();
        let covered = cut();
        drop(instances);
        let views = guards.iter().map(|(id, instance)| (id.clone(), view(instance))).collect();
        (views, covered)
    }

    /// Puts every instance back to `durable` (the exports of the last good write): instances created since
    /// are reset to what their first use builds, removed ones come back, journals stay. `then` runs while
    /// every instance is still locked, with a function that amends a journal entry to 500.
    pub fn roll_back(&self, durable: &BTreeMap<String, Fixture>, then: impl FnOnce(&mut dyn FnMut(&str, u64))) {
        let mut instances = lock(&self.shared.instances);
        for (instance_id, fixture) in durable {
            if !instances.contains_key(instance_id) {
                if let Ok(mut instance) = fixture.clone().into_instance(instance_id, None) {
                    self.limit_journal(&mut instance.journal);
                    instances.insert(instance_id.clone(), Arc::new(Mutex::new(instance)));
                }
            }
        }
        let handles: Vec<(String, Arc<Mutex<Instance>>)> =
            instances.iter().map(|(id, handle)| (id.clone(), handle.clone())).collect();
        let mut guards: BTreeMap<String, MutexGuard<'_, Instance>> =
            handles.iter().map(|(id, handle)| (id.clone(), lock(handle))).collect();
        for (instance_id, instance) in guards.iter_mut() {
            // An instance created since the last good write goes back to what its first use would build
            // (kept in the registry: a request may hold its handle already).
            let restored = match durable.get(instance_id) {
                Some(fixture) => fixture.clone().into_instance(instance_id, None).ok(),
                None => Some(self.fresh_instance(instance_id)),
            };
            if let Some(restored) = restored {
                instance.replace_state(restored);
            }
        }
        then(&mut |instance_id: &str, seq: u64| {
            if let Some(instance) = guards.get_mut(instance_id) {
                instance.journal.amend(seq, 500);
            }
        });
    }

    fn existing(&self, instance_id: &str) -> Option<Arc<Mutex<Instance>>> {
        lock(&self.shared.instances).get(instance_id).cloned()
    }

    fn handles(&self) -> Vec<Arc<Mutex<Instance>>> {
        lock(&self.shared.instances).values().cloned().collect()
    }

    fn handle(&self, instance_id: &str) -> Arc<Mutex<Instance>> {
        if let Some(handle) = lock(&self.shared.instances).get(instance_id) {
            return handle.clone();
        }
        // Build outside the registry lock: a fixture load can take milliseconds.
        let mut fresh = self.fresh_instance(instance_id);
        self.limit_journal(&mut fresh.journal);
        lock(&self.shared.instances)
            .entry(instance_id.to_owned())
            .or_insert_with(|| Arc::new(Mutex::new(fresh)))
            .clone()
    }
}

/// Locks, recovering from poisoning: the domain never panics on input, and a poisoned lock must not turn
/// every later request into a 500.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Persisted for Store {
    fn put_loaded(&self, instance_id: &str, instance: Instance) {
        self.put_instance(instance_id, instance);
    }

    fn attach_state_file(&self, state_file: Arc<StateFile>) {
        Store::attach_state_file(self, state_file);
    }

    fn exact_cut<R>(&self, view: impl Fn(&Instance) -> R, cut: impl FnOnce() -> u64) -> (BTreeMap<String, R>, u64) {
        Store::exact_cut(self, view, cut)
    }

    fn roll_back(&self, durable: &BTreeMap<String, Fixture>, then: impl FnOnce(&mut dyn FnMut(&str, u64))) {
        Store::roll_back(self, durable, then);
    }
}
