//! The simulated target keystores: what each managed-key operation does to every keystore's copy
//! (`uko-semantics.md` §3), how `status_in_keystores` is derived by comparing the managed key with
//! each copy (§4), and what sync repairs (§6).
//!
//! A keystore is contacted through [`Instance::probe_keystore`], once per keystore per API request;
//! an unreachable keystore keeps its old copy, which is how divergence arises naturally. Divergence can
//! also be set out of band ([`Instance::set_observed_copy`], [`Instance::set_keystore_behaviour`]): fixture
//! divergences and the control plane both go through them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::error::{Error, ResourceKind, Result};
use super::model::{CopyState, KeyCopy, Keystore, KeystoreSimulation, ManagedKey, Reachability};
use super::types::*;
use super::{keystores::pending_destruction_seconds, Instance, Timestamp};

/// One entry of `status_in_keystores`, before rendering.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusEntry {
    pub keystore_id: String,
    pub instance_id: Option<String>,
    pub status: StatusInKeystoreStatus,
    pub sync_flag: SyncFlag,
    pub detail: SyncFlagDetail,
    pub error: Option<KeystoreFailure>,
    pub key_id_in_keystore: Option<String>,
    pub destruction_policy_duration: Option<String>,
    pub destruction_at: Option<Timestamp>,
}

/// Why a keystore could not be checked (rendered as the entry's `error` ApiError).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeystoreFailure {
    pub status_code: u16,
    pub code: &'static str,
    pub message: String,
}

/// What a keystore's copy should be for a key in `state` (the "expected O" of the reference).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedCopy {
    Absent,
    Active,
    Inactive,
    PendingDestruction,
}

/// What a keystore holds for a key: the "observed state O" of `uko-semantics.md` §3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObservedCopy {
    Absent,
    Active,
    Inactive,
    PendingDestruction,
    /// Active, but with key material other than the managed key's current version.
    WrongKey,
}

/// One keystore's copy of one managed key, as the control plane reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedCopyEntry {
    pub managed_key_id: String,
    pub copy: ObservedCopy,
    pub key_id_in_keystore: Option<String>,
    pub destruction_at: Option<Timestamp>,
}

impl Instance {
    /// One call to a keystore: decides (and records) whether it got through.
    pub fn probe_keystore(&mut self, keystore_id: &str) -> bool {
        let now = self.clock.now();
        if self.failing_keystores.iter().any(|k| k == keystore_id) {
            return false;
        }
        let Some(keystore) = self.keystores.get_mut(keystore_id) else {
            return false;
        };
        let simulation = &mut keystore.simulation;
        let reachable = match &mut simulation.reachability {
            Reachability::Reachable => true,
            Reachability::Unreachable => false,
            Reachability::UnreachableForCalls { remaining } => {
                if *remaining == 0 {
                    simulation.reachability = Reachability::Reachable;
                    true
                } else {
                    *remaining -= 1;
                    false
                }
            }
            Reachability::UnreachableUntil { until } => {
                if now >= *until {
                    simulation.reachability = Reachability::Reachable;
                    true
                } else {
                    false
                }
            }
            Reachability::Flapping { probability } => {
                let probability = *probability;
                self.rng.next_f64() >= probability
            }
        };
        if reachable {
            if let Some(keystore) = self.keystores.get_mut(keystore_id) {
                keystore.simulation.last_heartbeat = Some(now);
            }
        }
        reachable && !self.keystores.get(keystore_id).is_some_and(|k| k.simulation.configuration_error)
    }

    /// The copy every keystore should hold for this key's state.
    pub fn expected_copy(&self, state: KeyState) -> ExpectedCopy {
        match state {
            KeyState::PreActivation => ExpectedCopy::Absent,
            KeyState::Active => ExpectedCopy::Active,
            KeyState::Deactivated | KeyState::Compromised => ExpectedCopy::Inactive,
            KeyState::Destroyed | KeyState::DestroyedCompromised if self.settings.pending_destruction_in_force() => {
                ExpectedCopy::PendingDestruction
            }
            KeyState::Destroyed | KeyState::DestroyedCompromised => ExpectedCopy::Absent,
        }
    }

    /// Pushes the key's state to every referenced keystore that answers; the others keep their old copy.
    /// Returns the ids of the keystores that could not be reached.
    pub fn propagate_key(&mut self, key_id: &str) -> Vec<String> {
        let Some(referenced) = self.managed_keys.get(key_id).map(|k| k.referenced_keystores.clone()) else {
            return Vec::new();
        };
        let mut failed = Vec::new();
        for keystore_id in referenced {
            if self.probe_keystore(&keystore_id) {
                self.apply_expected_copy(key_id, &keystore_id);
            } else {
                failed.push(keystore_id);
            }
        }
        failed
    }

    /// Makes one keystore's copy match the managed key (used by propagation and sync).
    pub fn apply_expected_copy(&mut self, key_id: &str, keystore_id: &str) {
        let Some(key) = self.managed_keys.get(key_id) else {
            return;
        };
        let expected = self.expected_copy(key.state);
        let material = key.current_material().to_owned();
        let version = key.version_number();
        let label = key.label.clone();
        let now = self.clock.now();
        let Some(keystore) = self.keystores.get(keystore_id) else {
            return;
        };
        let native_id = native_key_id(keystore, &label, version, &mut self.rng);
        let period = pending_destruction_seconds(keystore.keystore_type);
        // IBM Cloud KMS and Key Protect rotate a key in place under the same id; the other types create a
        // new native key (version) for new material (uko-semantics.md §3, rotate).
        let keeps_id_on_new_material = keystore.keystore_type == KeystoreType::IbmCloudKms;
        let Some(keystore) = self.keystores.get_mut(keystore_id) else {
            return;
        };
        let copies = &mut keystore.simulation.copies;
        match expected {
            ExpectedCopy::Absent => {
                copies.remove(key_id);
            }
            ExpectedCopy::Active => {
                let copy = copies.entry(key_id.to_owned()).or_insert_with(|| KeyCopy {
                    state: CopyState::Active,
                    material: material.clone(),
                    key_id_in_keystore: native_id.clone(),
                    destruction_at: None,
                });
                if copy.material != material {
                    copy.material = material;
                    if !keeps_id_on_new_material {
                        copy.key_id_in_keystore = native_id;
                    }
                }
                copy.state = CopyState::Active;
                copy.destruction_at = None;
            }
            ExpectedCopy::Inactive => {
                if let Some(copy) = copies.get_mut(key_id) {
                    copy.state = CopyState::Inactive;
                    copy.destruction_at = None;
                }
            }
            ExpectedCopy::PendingDestruction => {
                if let Some(copy) = copies.get_mut(key_id) {
                    if copy.state != CopyState::PendingDestruction {
                        let at = now.plus_seconds(period);
                        copy.state = CopyState::PendingDestruction;
                        copy.destruction_at = Some(at);
                        self.pending_destructions.note(at, keystore_id, key_id);
                    }
                }
            }
        }
    }

    /// Completes pending destructions whose time has come (the copies disappear). Reads the due times in
    /// order (`pending_destructions`), so it costs nothing when none is due, whatever the tenant's size.
    pub fn settle_pending_destructions(&mut self) {
        let now = self.clock.now();
        self.pending_destructions.settle(now, &mut self.keystores, &mut self.removed_keystores);
    }

    /// GetKeyDistributionStatusForKeystores (also embedded in every ManagedKey): probes each referenced
    /// keystore once and compares its copy with the key.
    pub fn status_in_keystores(&mut self, key_id: &str) -> Vec<StatusEntry> {
        let reachability = self.probe_referenced_keystores(key_id);
        self.derive_status(key_id, &reachability)
    }

    /// Statuses as a list or a mutation's answer shows them: no keystore is contacted (no call is
    /// counted); reachability is read as it stands.
    pub fn peek_status_in_keystores(&self, key_id: &str) -> Vec<StatusEntry> {
        let Some(key) = self.managed_keys.get(key_id) else {
            return Vec::new();
        };
        let reachability: Vec<(String, bool)> = key
            .referenced_keystores
            .iter()
            .filter_map(|id| self.keystores.get(id).map(|keystore| (id.clone(), self.peek_reachable(keystore))))
            .collect();
        self.derive_status(key_id, &reachability)
    }

    /// Completes due pending destructions, then probes every keystore the key references, once each.
    fn probe_referenced_keystores(&mut self, key_id: &str) -> Vec<(String, bool)> {
        self.settle_pending_destructions();
        let Some(key) = self.managed_keys.get(key_id) else {
            return Vec::new();
        };
        let referenced = key.referenced_keystores.clone();
        referenced.into_iter().map(|id| (id.clone(), self.probe_keystore(&id))).collect()
    }

    /// SyncManagedKey's repair step: every reachable keystore that is out of sync is forced to the
    /// expected copy; unreachable and removed keystores are left alone. Returns the resulting statuses.
    pub fn sync_keystores(&mut self, key_id: &str) -> Vec<StatusEntry> {
        let reachability = self.probe_referenced_keystores(key_id);
        for entry in self.derive_status(key_id, &reachability) {
            if entry.sync_flag == SyncFlag::OutOfSync && self.keystores.contains_key(&entry.keystore_id) {
                self.apply_expected_copy(key_id, &entry.keystore_id);
            }
        }
        self.derive_status(key_id, &reachability)
    }

    /// Sets one keystore's copy of a key out of band (fixture divergences, control plane). The keystore must
    /// be one the key is distributed to (live or removed). A copy that has to be created gets the key's
    /// current material and a fresh native id; `wrong_key` gets other material.
    pub fn set_observed_copy(&mut self, managed_key_id: &str, keystore_id: &str, copy: ObservedCopy) -> Result<()> {
        let managed_key = self.managed_key(managed_key_id)?;
        if self.keystore_or_removed(keystore_id).is_none() {
            return Err(Error::not_found(ResourceKind::Keystore, keystore_id));
        }
        let mut linked = managed_key.referenced_keystores.iter().chain(&managed_key.removed_keystores);
        if !linked.clone().any(|id| id == keystore_id) {
            return Err(Error::InvalidState {
                message: format!(
                    "The managed key '{managed_key_id}' is not distributed to keystore '{keystore_id}': expected one of its referenced_keystores or removed_keystores ({})",
                    linked.by_ref().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        let material = managed_key.current_material().to_owned();
        let (label, version) = (managed_key.label.clone(), managed_key.version_number());
        let now = self.clock.now();
        let Instance { keystores, removed_keystores, rng, pending_destructions, .. } = self;
        let Some(keystore) = keystores.get_mut(keystore_id).or_else(|| removed_keystores.get_mut(keystore_id)) else {
            return Err(Error::not_found(ResourceKind::Keystore, keystore_id));
        };
        let state = match copy {
            ObservedCopy::Absent => {
                keystore.simulation.copies.remove(managed_key_id);
                return Ok(());
            }
            ObservedCopy::Active | ObservedCopy::WrongKey => CopyState::Active,
            ObservedCopy::Inactive => CopyState::Inactive,
            ObservedCopy::PendingDestruction => CopyState::PendingDestruction,
        };
        if !keystore.simulation.copies.contains_key(managed_key_id) {
            let key_id_in_keystore = native_key_id(keystore, &label, version, rng);
            let new_copy = KeyCopy { state, material: material.clone(), key_id_in_keystore, destruction_at: None };
            keystore.simulation.copies.insert(managed_key_id.to_owned(), new_copy);
        }
        let period = pending_destruction_seconds(keystore.keystore_type);
        let Some(held) = keystore.simulation.copies.get_mut(managed_key_id) else {
            return Ok(());
        };
        held.state = state;
        held.destruction_at = (state == CopyState::PendingDestruction).then(|| now.plus_seconds(period));
        if let Some(at) = held.destruction_at {
            pending_destructions.note(at, keystore_id, managed_key_id);
        }
        if copy == ObservedCopy::WrongKey {
            // Someone replaced the material out of band: any fingerprint but the current one.
            held.material = rng.hex(32);
            if held.material == material {
                held.material = rng.hex(32);
            }
        } else {
            held.material = material;
        }
        Ok(())
    }

    /// What a keystore (live or removed) holds: one entry per key it has a copy of or the key is
    /// distributed to (`absent` when it has none), by managed key id. Contacts no keystore.
    pub fn observed_copies(&self, keystore_id: &str) -> Result<Vec<ObservedCopyEntry>> {
        let keystore = self
            .keystore_or_removed(keystore_id)
            .ok_or_else(|| Error::not_found(ResourceKind::Keystore, keystore_id))?;
        let copies = &keystore.simulation.copies;
        let mut key_ids: BTreeSet<&str> = copies.keys().map(String::as_str).collect();
        key_ids.extend(
            self.managed_keys
                .values()
                .filter(|k| k.referenced_keystores.iter().chain(&k.removed_keystores).any(|id| id == keystore_id))
                .map(|k| k.id.as_str()),
        );
        let entries = key_ids
            .into_iter()
            .map(|key_id| {
                let copy = copies.get(key_id);
                let observed = match copy.map(|c| c.state) {
                    None => ObservedCopy::Absent,
                    Some(CopyState::Active) => {
                        let other_material = self
                            .managed_keys
                            .get(key_id)
                            .zip(copy)
                            .is_some_and(|(key, copy)| key.current_material() != copy.material);
                        if other_material {
                            ObservedCopy::WrongKey
                        } else {
                            ObservedCopy::Active
                        }
                    }
                    Some(CopyState::Inactive) => ObservedCopy::Inactive,
                    Some(CopyState::PendingDestruction) => ObservedCopy::PendingDestruction,
                };
                ObservedCopyEntry {
                    managed_key_id: key_id.to_owned(),
                    copy: observed,
                    key_id_in_keystore: copy.map(|c| c.key_id_in_keystore.clone()),
                    destruction_at: copy.and_then(|c| c.destruction_at),
                }
            })
            .collect();
        Ok(entries)
    }

    /// Changes how a live keystore answers (control plane): its reachability, its configuration error, or
    /// both; what is not given stays.
    pub fn set_keystore_behaviour(
        &mut self,
        keystore_id: &str,
        reachability: Option<Reachability>,
        configuration_error: Option<bool>,
    ) -> Result<&KeystoreSimulation> {
        self.keystore(keystore_id)?;
        if let Some(Reachability::Flapping { probability }) = reachability {
            if !(0.0..=1.0).contains(&probability) {
                return Err(Error::invalid_field(
                    "probability",
                    format!("expected a probability within 0 and 1, found {probability}"),
                ));
            }
        }
        let keystore =
            self.keystores.get_mut(keystore_id).ok_or_else(|| Error::not_found(ResourceKind::Keystore, keystore_id))?;
        if let Some(reachability) = reachability {
            keystore.simulation.reachability = reachability;
        }
        if let Some(configuration_error) = configuration_error {
            keystore.simulation.configuration_error = configuration_error;
        }
        Ok(&keystore.simulation)
    }

    /// Pure derivation from the current copies and the given reachability (no keystore is contacted).
    pub fn derive_status(&self, key_id: &str, reachability: &[(String, bool)]) -> Vec<StatusEntry> {
        let Some(key) = self.managed_keys.get(key_id) else {
            return Vec::new();
        };
        let mut entries = Vec::with_capacity(reachability.len() + key.removed_keystores.len());
        let still_pending_somewhere = key.referenced_keystores.iter().any(|id| {
            self.keystores
                .get(id)
                .and_then(|k| k.simulation.copies.get(key_id))
                .is_some_and(|c| c.state == CopyState::PendingDestruction)
        });
        for (keystore_id, reachable) in reachability {
            let Some(keystore) = self.keystores.get(keystore_id) else {
                continue;
            };
            entries.push(derive_entry(key, keystore, *reachable, still_pending_somewhere, false));
        }
        for keystore_id in &key.removed_keystores {
            if let Some(keystore) = self.removed_keystores.get(keystore_id) {
                entries.push(derive_entry(key, keystore, true, still_pending_somewhere, true));
            }
        }
        entries
    }
}

/// The §4 table: one keystore's entry for one key.
pub fn derive_entry(
    key: &ManagedKey,
    keystore: &Keystore,
    reachable: bool,
    pending_elsewhere: bool,
    removed: bool,
) -> StatusEntry {
    use StatusInKeystoreStatus as S;
    use SyncFlag as F;
    use SyncFlagDetail as D;
    let copy = keystore.simulation.copies.get(&key.id);
    let instance_id = key
        .instances
        .iter()
        .find(|i| i.keystore.keystore_type == keystore.keystore_type && keystore.groups.contains(&i.keystore.group))
        .or(key.instances.first())
        .map(|i| i.id.clone());
    let mut entry = StatusEntry {
        keystore_id: keystore.id.clone(),
        instance_id,
        status: S::NotPresent,
        sync_flag: F::Ok,
        detail: D::PreActiveKeyIsNotPresentInKeystore,
        error: None,
        key_id_in_keystore: copy.map(|c| c.key_id_in_keystore.clone()),
        destruction_policy_duration: None,
        destruction_at: copy.and_then(|c| c.destruction_at),
    };
    if copy.is_some_and(|c| c.state == CopyState::PendingDestruction) {
        entry.destruction_policy_duration =
            Some(format!("PT{}H", pending_destruction_seconds(keystore.keystore_type) / 3600));
    }
    let present_status = |copy: &KeyCopy| match copy.state {
        CopyState::Active => S::Active,
        CopyState::Inactive => S::NotActive,
        CopyState::PendingDestruction => S::PendingDestruction,
    };
    if removed {
        let active = copy.is_some_and(|c| c.state == CopyState::Active);
        (entry.status, entry.sync_flag, entry.detail) = if active {
            (S::Active, F::OutOfSync, D::TargetKeystoreRemovedByUserContainsAnActiveKey)
        } else {
            (S::NotPresent, F::OutOfSync, D::TargetKeystoreRemovedByUser)
        };
        return entry;
    }
    if !reachable {
        let message = if keystore.simulation.configuration_error {
            format!(
                "The keystore '{}' rejected the connection data; check its credentials and configuration.",
                keystore.name
            )
        } else {
            format!("The keystore '{}' could not be reached. Try again later.", keystore.name)
        };
        (entry.status, entry.sync_flag, entry.detail) = (S::Error, F::Error, D::ConnectionError);
        entry.error = Some(KeystoreFailure { status_code: 503, code: "keystore_connection_error", message });
        return entry;
    }
    let state = match key.state {
        KeyState::Compromised => KeyState::Deactivated,
        KeyState::DestroyedCompromised => KeyState::Destroyed,
        other => other,
    };
    (entry.status, entry.sync_flag, entry.detail) = match (state, copy) {
        (KeyState::PreActivation, None) => (S::NotPresent, F::Ok, D::PreActiveKeyIsNotPresentInKeystore),
        (KeyState::PreActivation, Some(copy)) => {
            (present_status(copy), F::OutOfSync, D::PreActiveKeyIsPresentInKeystore)
        }
        (KeyState::Active, Some(copy))
            if copy.state == CopyState::Active && copy.material == key.current_material() =>
        {
            (S::Active, F::Ok, D::ActiveKeyIsActiveInKeystore)
        }
        (KeyState::Active, Some(copy)) if copy.state == CopyState::Active => {
            (S::WrongKey, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore)
        }
        (KeyState::Active, Some(copy)) => (present_status(copy), F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore),
        (KeyState::Active, None) => (S::NotPresent, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore),
        (KeyState::Deactivated, None) => (S::NotPresent, F::Ok, D::DeactivatedKeyIsDeactivatedInKeystore),
        (KeyState::Deactivated, Some(copy)) if copy.state == CopyState::Active => {
            (S::Active, F::OutOfSync, D::DeactivatedKeyIsNotDeactivatedInKeystore)
        }
        (KeyState::Deactivated, Some(copy)) => (present_status(copy), F::Ok, D::DeactivatedKeyIsDeactivatedInKeystore),
        (KeyState::Destroyed, Some(copy)) if copy.state == CopyState::PendingDestruction => {
            (S::PendingDestruction, F::Ok, D::DestroyedPendingKeyIsPendingDestructionInKeystore)
        }
        (KeyState::Destroyed, Some(copy)) => (present_status(copy), F::OutOfSync, D::DestroyedKeyIsPresentInKeystore),
        (KeyState::Destroyed, None) if pending_elsewhere => {
            (S::NotPresent, F::Ok, D::DestroyedPendingKeyIsNotPresentInKeystore)
        }
        (KeyState::Destroyed, None) => (S::NotPresent, F::Ok, D::DestroyedKeyIsNotPresentInKeystore),
        (KeyState::Compromised | KeyState::DestroyedCompromised, _) => (S::Unknown, F::VerifyingSync, D::Unknown),
    };
    entry
}

/// A native key id in the style each keystore type uses (`uko-models.md` §5.4).
pub fn native_key_id(keystore: &Keystore, label: &str, version: u32, rng: &mut super::Rng) -> String {
    let native_uuid = rng.uuid();
    match keystore.keystore_type {
        KeystoreType::AwsKms => {
            let region = keystore.connection.aws_region.as_deref().unwrap_or("us_east_1").replace('_', "-");
            format!("arn:aws:kms:{region}:000000000000:key/{native_uuid}")
        }
        KeystoreType::AzureKeyVault => {
            let vault = keystore.connection.azure_service_name.as_deref().unwrap_or("vault");
            format!("https://{vault}.vault.azure.net/keys/{label}/{}", native_uuid.replace('-', ""))
        }
        KeystoreType::GoogleKms => {
            format!(
                "projects/{}/locations/{}/keyRings/{}/cryptoKeys/{label}/cryptoKeyVersions/{version}",
                keystore.connection.google_project_id.as_deref().unwrap_or("project"),
                keystore.connection.google_location.as_deref().unwrap_or("global"),
                keystore.connection.google_key_ring.as_deref().unwrap_or("ring"),
            )
        }
        KeystoreType::IbmCloudKms => {
            let instance = keystore.connection.ibm_instance_id.as_deref().unwrap_or("instance");
            format!("{instance}/{native_uuid}")
        }
        KeystoreType::Cca => format!("{label}.{version}"),
    }
}
