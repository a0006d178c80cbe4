//! Status peeks: what lists, filters and views show about keys and keystores without contacting a
//! keystore (no call is counted against a keystore's reachability budget).

use super::model::{CopyState, Keystore, ManagedKey, Reachability};
use super::types::{AlignmentStatus, HealthStatus, SyncFlag};
use super::Instance;

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
}
