//! The managed keys of an instance, by id, with a version that identifies their content.
//!
//! Reads go through `Deref` to the map; every way to change it (`get_mut`, `insert`, `remove`,
//! `values_mut`, building a new table) draws a new version from one process-wide counter, so two tables
//! with the same version hold the same keys. That is what lets a list remember the sorted order of a query
//! (`query::ListCache`) and know, without comparing anything, when the keys changed under it. The type
//! makes the rule hold: there is no `DerefMut`, so a change that does not draw a version does not compile.
//!
//! Each key is held behind an `Arc`, so an answer can take the keys it renders out of the instance lock
//! for the price of a reference count (`domain::view`); a change copies a key only while such an answer
//! still holds it (`Arc::make_mut`).

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::model::ManagedKey;

/// Versions drawn so far, across every table of the process.
static VERSIONS: AtomicU64 = AtomicU64::new(0);

fn next_version() -> u64 {
    VERSIONS.fetch_add(1, Ordering::Relaxed) + 1
}

/// Managed keys by id (see the module documentation).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyTable {
    keys: BTreeMap<String, Arc<ManagedKey>>,
    #[serde(skip, default = "next_version")]
    version: u64,
}

impl KeyTable {
    /// The version of the current content; it changes with every change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The key with this id.
    pub fn get(&self, id: &str) -> Option<&ManagedKey> {
        self.keys.get(id).map(|key| &**key)
    }

    /// Every key, in id order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &ManagedKey> + Clone {
        self.keys.values().map(|key| &**key)
    }

    /// Every key with its id, in id order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&String, &ManagedKey)> + Clone {
        self.keys.iter().map(|(id, key)| (id, &**key))
    }

    /// The key with this id, to change it.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut ManagedKey> {
        self.version = next_version();
        self.keys.get_mut(id).map(Arc::make_mut)
    }

    /// Adds or replaces a key; returns the one replaced.
    pub fn insert(&mut self, id: String, key: ManagedKey) -> Option<ManagedKey> {
        self.version = next_version();
        self.keys.insert(id, Arc::new(key)).map(Arc::unwrap_or_clone)
    }

    /// Removes a key; returns it.
    pub fn remove(&mut self, id: &str) -> Option<ManagedKey> {
        self.version = next_version();
        self.keys.remove(id).map(Arc::unwrap_or_clone)
    }

    /// Every key, to change them.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut ManagedKey> {
        self.version = next_version();
        self.keys.values_mut().map(Arc::make_mut)
    }

    /// A shared handle on the key with this id, for an answer rendered after the lock is released.
    pub fn shared(&self, id: &str) -> Option<Arc<ManagedKey>> {
        self.keys.get(id).cloned()
    }
}

impl Default for KeyTable {
    fn default() -> Self {
        BTreeMap::new().into()
    }
}

impl From<BTreeMap<String, ManagedKey>> for KeyTable {
    fn from(keys: BTreeMap<String, ManagedKey>) -> Self {
        let keys = keys.into_iter().map(|(id, key)| (id, Arc::new(key))).collect();
        KeyTable { keys, version: next_version() }
    }
}

impl Deref for KeyTable {
    type Target = BTreeMap<String, Arc<ManagedKey>>;

    fn deref(&self) -> &Self::Target {
        &self.keys
    }
}

/// Equal content, whatever the versions.
impl PartialEq for KeyTable {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::Fixture;

    #[test]
    fn every_change_draws_a_new_version_and_reads_do_not() {
        let instance = Fixture::default_fixture().unwrap().into_instance("default", None).unwrap();
        let mut table = instance.managed_keys.clone();
        let id = table.keys().next().unwrap().clone();
        let mut seen = vec![table.version()];
        let _ = table.get(&id);
        let _ = table.values().count();
        assert_eq!(table.version(), seen[0], "reads keep the version");
        table.get_mut(&id).unwrap().label.push('x');
        seen.push(table.version());
        let key = table.remove(&id).unwrap();
        seen.push(table.version());
        table.insert(id.clone(), key);
        seen.push(table.version());
        table.values_mut().for_each(|k| k.description.clear());
        seen.push(table.version());
        let rebuilt: KeyTable = BTreeMap::new().into();
        seen.push(rebuilt.version());
        let deserialized: KeyTable = serde_json::from_str("{}").unwrap();
        seen.push(deserialized.version());
        let mut unique = seen.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "versions {seen:?}");
    }
}
