//! The managed keys of an instance, by id, with a version that identifies their content.
//!
//! Reads go through `Deref` to the map; every way to change it (`get_mut`, `insert`, `remove`,
//! `values_mut`, building a new table) draws a new version from one process-wide counter, so two tables
//! with the same version hold the same keys. That is what lets a list remember the sorted order of a query
//! (`query::ListCache`) and know, without comparing anything, when the keys changed under it. The type
//! makes the rule hold: there is no `DerefMut`, so a change that does not draw a version does not compile.
//!
//! The table also counts its keys per vault and per template (`keys_count` of a vault or a template), so
//! that a GET of one vault or template does not scan 20,000 keys: the counts are built once, on first use,
//! and kept with every change (a key handed out by `get_mut` is counted again, as it is then, at the next
//! use of the table).
//!
//! Each key is held behind an `Arc`, so an answer can take the keys it renders out of the instance lock
//! for the price of a reference count (`domain::view`); a change copies a key only while such an answer
//! still holds it (`Arc::make_mut`).

use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::model::ManagedKey;

/// Versions drawn so far, across every table of the process.
static VERSIONS: AtomicU64 = AtomicU64::new(0);

fn next_version() -> u64 {
    VERSIONS.fetch_add(1, Ordering::Relaxed) + 1
}

/// Managed keys by id (see the module documentation).
#[derive(Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyTable {
    keys: BTreeMap<String, Arc<ManagedKey>>,
    #[serde(skip, default = "next_version")]
    version: u64,
    /// Keys per vault and per template; behind a lock because reads (`&self`) build it or bring it up to date.
    #[serde(skip)]
    counts: Mutex<Counts>,
}

/// Keys per vault and per template id.
#[derive(Debug, Default)]
struct Counts {
    /// `None` until first asked for (and after `values_mut`, which may change any key).
    by: Option<(HashMap<String, usize>, HashMap<String, usize>)>,
    /// The key last handed out by `get_mut`: withdrawn from the counts then, counted again as it is now at
    /// the next use of the table.
    changed: Option<String>,
}

impl Counts {
    /// Counts again the key handed out by `get_mut`, as it is now.
    fn settle(&mut self, keys: &BTreeMap<String, Arc<ManagedKey>>) {
        let Some(id) = self.changed.take() else {
            return;
        };
        if let Some(key) = keys.get(&id) {
            self.add(key, 1);
        }
    }

    /// Adds (`1`) or withdraws (`-1`) one key from the counts, if they are built.
    fn add(&mut self, key: &ManagedKey, sign: isize) {
        let Some((vaults, templates)) = &mut self.by else {
            return;
        };
        for (counts, id) in [(vaults, &key.vault_id), (templates, &key.template_id)] {
            match counts.get_mut(id.as_str()) {
                Some(count) => *count = count.saturating_add_signed(sign),
                None if sign > 0 => {
                    counts.insert(id.clone(), 1);
                }
                None => {}
            }
        }
    }
}

impl Clone for KeyTable {
    fn clone(&self) -> Self {
        // The copy builds its own counts when first asked.
        KeyTable { keys: self.keys.clone(), version: self.version, counts: Mutex::default() }
    }
}

impl KeyTable {
    /// How many keys the vault holds, without a pass over the keys (but the first).
    pub fn count_in_vault(&self, vault_id: &str) -> usize {
        self.with_counts(|(vaults, _)| vaults.get(vault_id).copied().unwrap_or(0))
    }

    /// How many keys were made from the template, without a pass over the keys (but the first).
    pub fn count_of_template(&self, template_id: &str) -> usize {
        self.with_counts(|(_, templates)| templates.get(template_id).copied().unwrap_or(0))
    }

    fn with_counts<T>(&self, read: impl FnOnce(&(HashMap<String, usize>, HashMap<String, usize>)) -> T) -> T {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.settle(&self.keys);
        if counts.by.is_none() {
            // One pass, copying each vault and template id once (not once per key).
            counts.by = Some((HashMap::new(), HashMap::new()));
            for key in self.keys.values() {
                counts.add(key, 1);
            }
        }
        read(counts.by.get_or_insert_with(Default::default))
    }

    /// The counts, to change them along with the keys (`&mut self`: no lock to wait for).
    fn counts_mut(&mut self) -> &mut Counts {
        let counts = self.counts.get_mut().unwrap_or_else(PoisonError::into_inner);
        counts.settle(&self.keys);
        counts
    }

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
        let counts = self.counts.get_mut().unwrap_or_else(PoisonError::into_inner);
        counts.settle(&self.keys);
        let key = self.keys.get_mut(id)?;
        // Its vault or template might change: counted again at the next use of the table.
        counts.add(key, -1);
        counts.changed = Some(id.to_owned());
        Some(Arc::make_mut(key))
    }

    /// Adds or replaces a key; returns the one replaced.
    pub fn insert(&mut self, id: String, key: ManagedKey) -> Option<ManagedKey> {
        self.version = next_version();
        self.counts_mut().add(&key, 1);
        let replaced = self.keys.insert(id, Arc::new(key)).map(Arc::unwrap_or_clone);
        if let Some(replaced) = &replaced {
            self.counts_mut().add(replaced, -1);
        }
        replaced
    }

    /// Removes a key; returns it.
    pub fn remove(&mut self, id: &str) -> Option<ManagedKey> {
        self.version = next_version();
        // Counted as it is before it goes (it may be the key last handed out by `get_mut`).
        self.counts_mut();
        let removed = self.keys.remove(id).map(Arc::unwrap_or_clone);
        if let Some(removed) = &removed {
            self.counts_mut().add(removed, -1);
        }
        removed
    }

    /// Every key, to change them.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut ManagedKey> {
        self.version = next_version();
        // Any key may change: the counts are built again when next asked for.
        *self.counts.get_mut().unwrap_or_else(PoisonError::into_inner) = Counts::default();
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
        KeyTable { keys, version: next_version(), counts: Mutex::default() }
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
    use proptest::prelude::*;

    use super::*;
    use crate::fixture::Fixture;

    /// A change to the table, on the key at an index (modulo the table's size).
    #[derive(Clone, Debug)]
    enum Change {
        Move { at: usize, vault: u8, template: u8 },
        Touch { at: usize },
        Remove { at: usize },
        Copy { at: usize, vault: u8 },
        Every { template: u8 },
        Read,
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            (any::<usize>(), 0..3u8, 0..3u8).prop_map(|(at, vault, template)| Change::Move { at, vault, template }),
            any::<usize>().prop_map(|at| Change::Touch { at }),
            any::<usize>().prop_map(|at| Change::Remove { at }),
            (any::<usize>(), 0..3u8).prop_map(|(at, vault)| Change::Copy { at, vault }),
            (0..3u8).prop_map(|template| Change::Every { template }),
            Just(Change::Read),
            Just(Change::Read),
        ]
    }

    proptest! {
        /// The kept counts are what a pass over the keys counts, however the keys changed in between.
        #[test]
        fn counts_follow_every_change(changes in prop::collection::vec(change(), 1..40)) {
            let instance = Fixture::default_fixture().unwrap().into_instance("default", None).unwrap();
            let mut table = instance.managed_keys.clone();
            let vaults: Vec<String> =
                table.values().map(|k| k.vault_id.clone()).chain((0..3).map(|n| format!("vault-{n}"))).collect();
            let templates: Vec<String> =
                table.values().map(|k| k.template_id.clone()).chain((0..3).map(|n| format!("template-{n}"))).collect();
            for (serial, change) in changes.iter().enumerate() {
                let pick = |table: &KeyTable, at: usize| table.keys().nth(at % table.len().max(1)).cloned();
                match change {
                    Change::Move { at, vault, template } => {
                        if let Some(key) = pick(&table, *at).and_then(|id| table.get_mut(&id)) {
                            key.vault_id = format!("vault-{vault}");
                            key.template_id = format!("template-{template}");
                        }
                    }
                    Change::Touch { at } => {
                        if let Some(key) = pick(&table, *at).and_then(|id| table.get_mut(&id)) {
                            key.label.push('x');
                        }
                    }
                    Change::Remove { at } => {
                        if let Some(id) = pick(&table, *at) {
                            table.remove(&id);
                        }
                    }
                    Change::Copy { at, vault } => {
                        if let Some(mut key) = pick(&table, *at).and_then(|id| table.get(&id).cloned()) {
                            key.id = format!("copy-{serial}");
                            key.vault_id = format!("vault-{vault}");
                            table.insert(key.id.clone(), key);
                        }
                    }
                    Change::Every { template } => {
                        table.values_mut().for_each(|key| key.template_id = format!("template-{template}"));
                    }
                    Change::Read => {}
                }
                // Counts are read after some changes only, so that several changes can pile up unread.
                if !matches!(change, Change::Read) && serial + 1 != changes.len() {
                    continue;
                }
                for vault in &vaults {
                    let scanned = table.values().filter(|k| &k.vault_id == vault).count();
                    prop_assert_eq!(table.count_in_vault(vault), scanned, "vault {} after {:?}", vault, change);
                }
                for template in &templates {
                    let scanned = table.values().filter(|k| &k.template_id == template).count();
                    prop_assert_eq!(table.count_of_template(template), scanned, "template {} after {:?}", template, change);
                }
            }
        }
    }

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
