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
//! With a state file attached (`persistence`), [`Store::persist`] makes every change durable; callers
//! invoke it after a change and before answering.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use crate::domain::command::{Answer, Command};
use crate::domain::faults::FaultDecision;
pub use crate::domain::peek::KeyStatus;
use crate::domain::request_journal::{JournalEntry, DEFAULT_CAPACITY};
use crate::domain::{IfMatch, Instance, Result};
use crate::persistence::{SaveError, StateFile};

/// Builds a fresh instance for an id (used on first use and on reset).
pub type InstanceFactory = Arc<dyn Fn(&str) -> Instance + Send + Sync>;

/// Most instances a store holds. Addressing an unknown instance creates it, so without a bound a client
/// inventing ids (`/instances/<random>/api/v4/...`) would grow memory without end; past it, requests for a
/// new instance are refused with 409 until one is deleted (`DELETE /__mock/v1/instances/{id}`).
pub const MAX_INSTANCES: usize = 1024;

/// The id of the instance served under the plain `/api/v4` prefix.
pub const DEFAULT_INSTANCE: &str = "default";

/// The id of an instance: 1 to 64 characters from `A-Z a-z 0-9 - _ .`, not starting with a dot, so that it
/// is safe in a URL path and in a file name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId(Arc<str>);

impl InstanceId {
    /// The id, if the text is a valid one.
    pub fn parse(text: &str) -> Option<InstanceId> {
        let valid = (1..=64).contains(&text.len())
            && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && !text.starts_with('.');
        valid.then(|| InstanceId(Arc::from(text)))
    }

    /// The instance served under the plain `/api/v4` prefix.
    pub fn default_instance() -> InstanceId {
        // Shared, so the plain `/api/v4` surface does not allocate its instance id per request.
        static DEFAULT: OnceLock<InstanceId> = OnceLock::new();
        DEFAULT.get_or_init(|| InstanceId(Arc::from(DEFAULT_INSTANCE))).clone()
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for InstanceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

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

    /// Runs one UKO request on an instance in one pass through its lock: the fault plan decides, the
    /// command runs (its `If-Match` check first), the views of its answer are taken, and its journal entry is
    /// appended, in execution order.
    pub fn apply(&self, instance_id: &InstanceId, call: ApiCall<'_>) -> Outcome {
        let handle = self.handle(instance_id.as_str());
        let mut instance = lock(&handle);
        let mutates = call.command.operation().mutates();
        let (result, faults) = instance.run_command(call.command, call.if_match);
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
            instance.journal.record(entry);
        }
        let changed = (mutates && matches!(result, Some(Ok(_))))
            || !faults.concurrent_writes.is_empty()
            || !faults.concurrent_changes.is_empty();
        Outcome { result, faults, changed }
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

    /// Replaces an instance's whole state (load fixture, reset); its journal stays.
    pub fn replace_instance(&self, instance_id: &str, instance: Instance) {
        let handle = self.handle(instance_id);
        lock(&handle).replace_state(instance);
    }

    /// Installs `instance` under `instance_id`, replacing the state of an existing one (whose journal stays);
    /// returns whether it was created.
    pub fn put_instance(&self, instance_id: &str, mut instance: Instance) -> bool {
        let mut instances = lock(&self.shared.instances);
        match instances.get(instance_id) {
            Some(handle) => {
                lock(handle).replace_state(instance);
                false
            }
            None => {
                instance.journal.set_capacity(self.journal_capacity());
                instances.insert(instance_id.to_owned(), Arc::new(Mutex::new(instance)));
                true
            }
        }
    }

    /// Sets how many entries each journal keeps, for existing and future instances.
    pub fn set_journal_capacity(&self, capacity: usize) {
        self.shared.journal_capacity.store(capacity.max(1), Ordering::SeqCst);
        for handle in self.handles() {
            lock(&handle).journal.set_capacity(capacity);
        }
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

    /// Makes every change made before this call durable (a no-op without a state file). Call it after a
    /// change and before acknowledging it. The write runs on the blocking pool.
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

    /// Removes a non-default instance; returns whether it existed.
    pub fn remove_instance(&self, instance_id: &str) -> bool {
        instance_id != DEFAULT_INSTANCE && lock(&self.shared.instances).remove(instance_id).is_some()
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
        fresh.journal.set_capacity(self.journal_capacity());
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
