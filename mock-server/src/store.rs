//! The single shared-state handle: every UKO instance behind its own lock.
//!
//! A std `Mutex` is right here: every critical section is a short, synchronous domain call and never
//! awaits (clippy's `await_holding_lock` is on). One API request takes one instance lock exactly once, so
//! the ETag check, the mutation and the new ETag are atomic — no lost update between concurrent requests.
//! Instances are created on first use by the factory (from the default or a named fixture).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::domain::Instance;

/// Builds a fresh instance for an id (used on first use and on reset).
pub type InstanceFactory = Arc<dyn Fn(&str) -> Instance + Send + Sync>;

/// The id of the instance served under the plain `/api/v4` prefix.
pub const DEFAULT_INSTANCE: &str = "default";

/// Cheaply clonable handle to all instances.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    instances: Mutex<BTreeMap<String, Arc<Mutex<Instance>>>>,
    factory: Mutex<InstanceFactory>,
}

impl Store {
    /// A store whose instances come from `factory`; the default instance is created at once.
    pub fn new(factory: InstanceFactory) -> Store {
        let store =
            Store { shared: Arc::new(Shared { instances: Mutex::new(BTreeMap::new()), factory: Mutex::new(factory) }) };
        store.handle(DEFAULT_INSTANCE);
        store
    }

    /// A store whose default instance is given (already built) and whose other instances come from
    /// `factory` on first use.
    pub fn with_default(default: Instance, factory: InstanceFactory) -> Store {
        let mut instances = BTreeMap::new();
        instances.insert(DEFAULT_INSTANCE.to_owned(), Arc::new(Mutex::new(default)));
        Store { shared: Arc::new(Shared { instances: Mutex::new(instances), factory: Mutex::new(factory) }) }
    }

    /// Runs `operation` on the instance with this id (created on first use) under its lock.
    pub fn with_instance<R>(&self, instance_id: &str, operation: impl FnOnce(&mut Instance) -> R) -> R {
        let handle = self.handle(instance_id);
        let mut instance = lock(&handle);
        operation(&mut instance)
    }

    /// Replaces an instance's whole state (load fixture, reset).
    pub fn replace_instance(&self, instance_id: &str, instance: Instance) {
        let handle = self.handle(instance_id);
        *lock(&handle) = instance;
    }

    /// A fresh instance from the factory, not yet installed.
    pub fn fresh_instance(&self, instance_id: &str) -> Instance {
        let factory = lock(&self.shared.factory).clone();
        factory(instance_id)
    }

    /// Changes how future (and reset) instances are built.
    pub fn set_factory(&self, factory: InstanceFactory) {
        *lock(&self.shared.factory) = factory;
    }

    /// Ids of the instances that exist now.
    pub fn instance_ids(&self) -> Vec<String> {
        lock(&self.shared.instances).keys().cloned().collect()
    }

    /// Removes a non-default instance; returns whether it existed.
    pub fn remove_instance(&self, instance_id: &str) -> bool {
        instance_id != DEFAULT_INSTANCE && lock(&self.shared.instances).remove(instance_id).is_some()
    }

    fn handle(&self, instance_id: &str) -> Arc<Mutex<Instance>> {
        if let Some(handle) = lock(&self.shared.instances).get(instance_id) {
            return handle.clone();
        }
        // Build outside the registry lock: a fixture load can take milliseconds.
        let fresh = self.fresh_instance(instance_id);
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
