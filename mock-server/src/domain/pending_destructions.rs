//! The due times of pending destructions, in order, so that settling them costs nothing when none is due.
//!
//! Every GET, status read and sync first completes the pending destructions whose time has come
//! (`simulation::settle_pending_destructions`). Scanning every copy of every keystore for that made a
//! single-key request cost O(keys × keystores): 8–16 times slower with 20,000 keys than with 8. The index
//! holds `(due time, keystore id, managed key id)` for each copy put pending destruction, so a settle looks
//! at the earliest entry and stops.
//!
//! The index is a hint, checked against the copies: an entry is acted on only if its copy is still pending
//! with a due time that has come; a copy that left pending destruction meanwhile (sync, a control-plane
//! edit) leaves a stale entry that is dropped when reached, and one whose due time moved later is filed again
//! under its time. What must hold is only that every pending copy has an entry at or before its due time:
//! the domain notes one wherever it puts a copy pending destruction ([`PendingDestructions::note`]). An
//! instance built or loaded otherwise (fixture, snapshot import, exported state, a test editing copies)
//! starts with no index and builds it from one scan on its first settle.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{CopyState, Keystore};
use super::Timestamp;

/// Pending destructions by due time (see the module documentation). Never part of the visible state.
#[derive(Clone, Default)]
pub struct PendingDestructions {
    /// `None` until the first settle scans the copies (or after [`PendingDestructions::invalidate`]).
    due: Option<BTreeSet<(Timestamp, String, String)>>,
    /// Tests only: settle by the scan of every copy this index replaced, as the oracle it is checked against.
    #[cfg(test)]
    pub by_scan: bool,
}

impl PendingDestructions {
    /// Notes that a copy was put pending destruction until `at`.
    pub fn note(&mut self, at: Timestamp, keystore_id: &str, managed_key_id: &str) {
        if let Some(due) = &mut self.due {
            due.insert((at, keystore_id.to_owned(), managed_key_id.to_owned()));
        }
    }

    /// Forgets the index (copies were edited behind the domain's back); the next settle rebuilds it.
    pub fn invalidate(&mut self) {
        self.due = None;
    }

    /// Removes the copies whose pending destruction is due at `now`, from the live and the removed keystores.
    pub fn settle(
        &mut self,
        now: Timestamp,
        keystores: &mut BTreeMap<String, Keystore>,
        removed_keystores: &mut BTreeMap<String, Keystore>,
    ) {
        #[cfg(test)]
        if self.by_scan {
            settle_by_scan(now, keystores, removed_keystores);
            return;
        }
        let due = self.due.get_or_insert_with(|| scan(keystores.iter().chain(removed_keystores.iter())));
        while due.first().is_some_and(|(at, _, _)| *at <= now) {
            let Some((_, keystore_id, key_id)) = due.pop_first() else {
                break;
            };
            // The same id could name a live and a removed keystore; the scan this replaces settled both.
            for keystore in
                [keystores.get_mut(&keystore_id), removed_keystores.get_mut(&keystore_id)].into_iter().flatten()
            {
                let copies = &mut keystore.simulation.copies;
                let Some(copy) = copies.get(&key_id) else {
                    continue;
                };
                match (copy.state, copy.destruction_at) {
                    (CopyState::PendingDestruction, Some(at)) if at <= now => {
                        copies.remove(&key_id);
                    }
                    // Its due time moved later than this entry: filed again under it.
                    (CopyState::PendingDestruction, Some(at)) => {
                        due.insert((at, keystore_id.clone(), key_id.clone()));
                    }
                    _ => {}
                }
            }
        }
    }

    /// The entries, for tests that check the index against the copies.
    #[cfg(test)]
    pub fn entries(&self) -> Option<&BTreeSet<(Timestamp, String, String)>> {
        self.due.as_ref()
    }
}

/// Every pending copy with a due time, from one pass over the keystores.
fn scan<'k>(keystores: impl Iterator<Item = (&'k String, &'k Keystore)>) -> BTreeSet<(Timestamp, String, String)> {
    let mut due = BTreeSet::new();
    for (keystore_id, keystore) in keystores {
        for (key_id, copy) in &keystore.simulation.copies {
            if let (CopyState::PendingDestruction, Some(at)) = (copy.state, copy.destruction_at) {
                due.insert((at, keystore_id.clone(), key_id.clone()));
            }
        }
    }
    due
}

/// The settle this index replaced, kept as the tests' oracle: every copy of every keystore, per request.
#[cfg(test)]
fn settle_by_scan(
    now: Timestamp,
    keystores: &mut BTreeMap<String, Keystore>,
    removed_keystores: &mut BTreeMap<String, Keystore>,
) {
    for keystore in keystores.values_mut().chain(removed_keystores.values_mut()) {
        keystore.simulation.copies.retain(|_, copy| {
            !(copy.state == CopyState::PendingDestruction && copy.destruction_at.is_some_and(|at| at <= now))
        });
    }
}

/// A cache of the copies: equal whatever it holds.
impl PartialEq for PendingDestructions {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for PendingDestructions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.due {
            Some(due) => write!(f, "PendingDestructions({} due)", due.len()),
            None => f.write_str("PendingDestructions(not built)"),
        }
    }
}
