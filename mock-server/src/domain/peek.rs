//! Status peeks: what lists, filters and views show about keys and keystores without contacting a
//! keystore (no call is counted against a keystore's reachability budget), and [`KeyStatus`], the plain
//! form of a key's status in keystores for readers outside the UKO surface (`Store::key_statuses`).

use super::model::{CopyState, Keystore, ManagedKey, Reachability};
use super::types::{AlignmentStatus, HealthStatus, StatusInKeystoreStatus, SyncFlag, SyncFlagDetail};
use super::Instance;

/// One keystore's entry in a key's status in keystores, with the keystore named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyStatus {
    pub keystore_id: String,
    /// The keystore's name (also of a keystore removed from UKO); its id when it is unknown.
    pub keystore_name: String,
    pub status: StatusInKeystoreStatus,
    pub sync_flag: SyncFlag,
    pub detail: SyncFlagDetail,
    /// The user removed the keystore from UKO: the entry is a tombstone and does not count for "in sync".
    pub removed: bool,
}

impl Instance {
    /// Whether a keystore currently answers, without counting a call (for lists and filters).
    pub fn peek_reachable(&self, keystore: &Keystore) -> bool {
        let now = self.clock.now;
        let reachable = match &keystore.simulation.reachability {
            Reachability::Reachable | Reachability::Flapping { .. } => true,
            Reachability::Unreachable => false,
            Reachability::UnreachableForCalls { remaining } => *remaining == 0,
            Reachability::UnreachableUntil { until } => now >= *until,
        };
        reachable && !keystore.simulation.configuration_error
    }

    /// Sync flags of a key as a list would show them (no keystore contacted).
    pub fn peek_sync_flags(&self, key: &ManagedKey) -> Vec<SyncFlag> {
        self.peek_status_in_keystores(&key.id).into_iter().map(|e| e.sync_flag).collect()
    }

    /// `key_material_present`: always in the repository; in keystores when any copy exists.
    pub fn key_material_present(&self, key: &ManagedKey) -> Vec<&'static str> {
        let in_keystores = key
            .referenced_keystores
            .iter()
            .filter_map(|id| self.keystores.get(id))
            .any(|k| k.simulation.copies.get(&key.id).is_some_and(|c| c.state != CopyState::PendingDestruction));
        if in_keystores {
            vec!["repository", "keystores"]
        } else {
            vec!["repository"]
        }
    }

    /// Whether a key matches its template's current version.
    pub fn alignment_status(&self, key: &ManagedKey) -> AlignmentStatus {
        match self.templates.get(&key.template_id) {
            Some(template) if template.version != key.template_version => AlignmentStatus::Unaligned,
            _ => AlignmentStatus::Aligned,
        }
    }

    /// Health as a list shows it (no call counted).
    pub fn peek_health(&self, keystore: &Keystore) -> HealthStatus {
        self.peek_keystore_health(keystore).health_status
    }

    /// A key's status in keystores as a list shows it (no keystore contacted); `None` for an unknown key.
    pub fn key_statuses(&self, key_id: &str) -> Option<Vec<KeyStatus>> {
        let key = self.managed_keys.get(key_id)?;
        let statuses = self
            .peek_status_in_keystores(key_id)
            .into_iter()
            .map(|entry| KeyStatus {
                keystore_name: self
                    .keystore_or_removed(&entry.keystore_id)
                    .map_or_else(|| entry.keystore_id.clone(), |keystore| keystore.name.clone()),
                status: entry.status,
                sync_flag: entry.sync_flag,
                detail: entry.detail,
                removed: key.removed_keystores.contains(&entry.keystore_id),
                keystore_id: entry.keystore_id,
            })
            .collect();
        Some(statuses)
    }
}
