//! The domain core: one UKO instance's state and every rule of `uko-semantics.md`.
//!
//! Nothing here knows HTTP: operations take plain inputs (ids, the `If-Match` value, request
//! structs) and return records or a [`Error`]. Time and randomness enter only through the instance's
//! [`Clock`] and [`Rng`], so the same fixture, seed and requests give the same results.
//!
//! Operations are grouped by resource: `vaults`, `templates`, `keystores`, `managed_keys`; the
//! keystore simulation (propagation, `status_in_keystores`, sync) is in `simulation`, list filtering and
//! paging in `query`, status peeks that contact no keystore in `peek`, the due times of pending destructions
//! in `pending_destructions`.

pub mod clock;
pub mod command;
pub mod error;
pub mod faults;
pub mod instance_id;
pub mod key_table;
pub mod keystores;
pub mod managed_keys;
pub mod model;
pub mod naming;
pub mod operation;
pub mod peek;
pub mod pending_destructions;
pub mod precondition;
pub mod query;
pub mod request_journal;
pub mod simulation;
pub mod templates;
pub mod types;
pub mod validate;
pub mod vaults;
pub mod view;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use clock::{Clock, ClockMode, Rng, Timestamp};
pub use error::{Error, ResourceKind, Result, Target};
pub use model::*;
pub use precondition::{check_if_match, IfMatch};
pub use types::*;

/// The largest single clock advance (100 years): beyond it dates stop being meaningful.
pub const MAX_CLOCK_ADVANCE_SECONDS: i64 = 100 * 366 * 86_400;

/// A named set of UKO's time and lifecycle rules (`--profile`, `settings.profile`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Only the switches below apply: no waiting, destroy from `pre_activation` allowed. For quick tests.
    #[default]
    Permissive,
    /// IBM's rules on top of the switches: destroy a deactivated key only 4 hours after its deactivation,
    /// at most one rotation per hour, destroyed keys' copies pending destruction for their keystore's period.
    Realistic,
}

impl Profile {
    /// Every profile, by name.
    pub const ALL: [Profile; 2] = [Profile::Permissive, Profile::Realistic];

    /// The name on the command line and in fixtures.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Permissive => "permissive",
            Profile::Realistic => "realistic",
        }
    }

    /// The profile with this name.
    pub fn parse(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// What the profile means, for `--help` and the banner.
    pub fn summary(self) -> &'static str {
        match self {
            Profile::Permissive => "no waiting rules; destroy also from pre_activation",
            Profile::Realistic => {
                "destroy 4 h after deactivation (or from pre_activation); one rotation per hour; copies pending destruction"
            }
        }
    }
}

/// IBM's minimum time between deactivation and destroy (4 hours).
pub const REALISTIC_DEACTIVATED_BEFORE_DESTROY_SECONDS: i64 = 4 * 3600;

/// IBM's minimum time between two rotations of a key (1 hour).
pub const REALISTIC_ROTATION_INTERVAL_SECONDS: i64 = 3600;

/// Behaviour switches for every place where the reference says *inferred* or documents a
/// contradiction. Defaults are the choices listed under "Decisions" in ARCHITECTURE.md.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The time and lifecycle rules in force; `realistic` adds IBM's rules to the switches below.
    pub profile: Profile,
    /// SDK text: destroy only from `deactivated`. Docs allow `pre_activation` too (default).
    pub destroy_requires_deactivated: bool,
    /// Rotation doc: AWS, Azure and Google keys may rotate while deactivated. Default: active only.
    pub rotate_deactivated_external: bool,
    /// Minimum seconds a key must have been deactivated before destroy (IBM: 4 h = 14400). Default 0.
    pub min_deactivated_before_destroy_seconds: i64,
    /// Minimum seconds between two rotations of a key (IBM: 1 h = 3600). Default 0.
    pub min_rotation_interval_seconds: i64,
    /// Whether a sync bumps the key's `updated_at`/ETag. Default false (sync changes no key field).
    pub sync_bumps_etag: bool,
    /// Whether `If-Match: *` matches any ETag (RFC 9110). Default true.
    pub if_match_wildcard: bool,
    /// Whether destroy leaves copies pending destruction for the keystore's period (4.13+ behaviour)
    /// instead of removing them at once. Default false.
    pub pending_destruction: bool,
    /// Internal KMS keystores allowed per instance (IBM: 50).
    pub internal_keystore_limit: usize,
    /// Managed keys allowed per instance (IBM: 20,000).
    pub managed_key_limit: usize,
    /// Region reported as `location` of internal keystores.
    pub region: String,
    /// IAM id written to `created_by`/`updated_by`.
    pub actor: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            profile: Profile::Permissive,
            destroy_requires_deactivated: false,
            rotate_deactivated_external: false,
            min_deactivated_before_destroy_seconds: 0,
            min_rotation_interval_seconds: 0,
            sync_bumps_etag: false,
            if_match_wildcard: true,
            pending_destruction: false,
            internal_keystore_limit: 50,
            managed_key_limit: 20_000,
            region: "us-south".to_owned(),
            actor: model::DEFAULT_ACTOR.to_owned(),
        }
    }
}

impl Settings {
    /// Whether destroy needs a deactivated key: the switch only. IBM's docs (key states, roles, deleting
    /// keys) and Terraform's provider allow destroy from `pre_activation`, so the realistic profile does not
    /// forbid it; only its 4-hour wait applies, and only to deactivated keys.
    pub fn destroy_needs_deactivation(&self) -> bool {
        self.destroy_requires_deactivated
    }

    /// Whether destroyed keys' copies stay pending destruction for their keystore type's period (the
    /// switch, or the realistic profile: IBM's docs give each type its period).
    pub fn pending_destruction_in_force(&self) -> bool {
        self.pending_destruction || self.profile == Profile::Realistic
    }

    /// Seconds a key must have been deactivated before destroy: the switch, at least IBM's 4 hours under the
    /// realistic profile.
    pub fn deactivated_before_destroy_seconds(&self) -> i64 {
        match self.profile {
            Profile::Realistic => {
                self.min_deactivated_before_destroy_seconds.max(REALISTIC_DEACTIVATED_BEFORE_DESTROY_SECONDS)
            }
            Profile::Permissive => self.min_deactivated_before_destroy_seconds,
        }
    }

    /// Seconds between two rotations: the switch, at least IBM's hour under the realistic profile.
    pub fn rotation_interval_seconds(&self) -> i64 {
        match self.profile {
            Profile::Realistic => self.min_rotation_interval_seconds.max(REALISTIC_ROTATION_INTERVAL_SECONDS),
            Profile::Permissive => self.min_rotation_interval_seconds,
        }
    }
}

/// One UKO service instance: everything a client can see and change, plus the simulation behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// The instance id (`default` for the plain `/api/v4` surface).
    pub id: String,
    pub settings: Settings,
    pub clock: Clock,
    pub rng: Rng,
    pub vaults: BTreeMap<String, Vault>,
    pub templates: BTreeMap<String, Template>,
    pub keystores: BTreeMap<String, Keystore>,
    /// Keystores deleted from UKO, kept so keys can show `target_keystore_removed_by_user` entries.
    pub removed_keystores: BTreeMap<String, Keystore>,
    pub managed_keys: key_table::KeyTable,
    pub associated_resources: Vec<AssociatedResource>,
    /// Fault rules (part of the state: fixtures can ship them, exports keep them).
    #[serde(default)]
    pub faults: faults::FaultPlan,
    /// Served requests; not part of exported state.
    #[serde(skip)]
    pub journal: request_journal::Journal,
    /// Keystores that fail during the current request (set by a fired `KeystoreFailure` rule).
    #[serde(skip)]
    pub failing_keystores: Vec<String>,
    /// The order of the managed-key list being paged through (a cache; never visible state).
    #[serde(skip)]
    pub list_cache: query::ListCache,
    /// Due times of pending destructions, so that settling them is not a scan per request (a cache;
    /// never visible state).
    #[serde(skip)]
    pub pending_destructions: pending_destructions::PendingDestructions,
}

impl Instance {
    /// An empty instance.
    pub fn new(id: impl Into<String>, settings: Settings, clock: Clock, seed: u64) -> Self {
        Instance {
            id: id.into(),
            settings,
            clock,
            rng: Rng::new(seed),
            vaults: BTreeMap::new(),
            templates: BTreeMap::new(),
            keystores: BTreeMap::new(),
            removed_keystores: BTreeMap::new(),
            managed_keys: key_table::KeyTable::default(),
            associated_resources: Vec::new(),
            faults: faults::FaultPlan::seeded(seed),
            journal: request_journal::Journal::default(),
            failing_keystores: Vec::new(),
            list_cache: query::ListCache::default(),
            pending_destructions: pending_destructions::PendingDestructions::default(),
        }
    }

    /// A fresh id from the instance's seeded generator.
    pub fn new_id(&mut self) -> String {
        self.rng.uuid()
    }

    /// The vault with this id, or 404.
    pub fn vault(&self, id: &str) -> Result<&Vault> {
        self.vaults.get(id).ok_or_else(|| Error::not_found(ResourceKind::Vault, id))
    }

    /// The template with this id, or 404.
    pub fn template(&self, id: &str) -> Result<&Template> {
        self.templates.get(id).ok_or_else(|| Error::not_found(ResourceKind::Template, id))
    }

    /// The keystore with this id, or 404.
    pub fn keystore(&self, id: &str) -> Result<&Keystore> {
        self.keystores.get(id).ok_or_else(|| Error::not_found(ResourceKind::Keystore, id))
    }

    /// The managed key with this id, or 404.
    pub fn managed_key(&self, id: &str) -> Result<&ManagedKey> {
        self.managed_keys.get(id).ok_or_else(|| Error::not_found(ResourceKind::ManagedKey, id))
    }

    /// A keystore known now or removed earlier (for rendering tombstone status entries).
    pub fn keystore_or_removed(&self, id: &str) -> Option<&Keystore> {
        self.keystores.get(id).or_else(|| self.removed_keystores.get(id))
    }

    /// Another writer changes the managed key (concurrent-writer fault): only `updated_at`/`updated_by`
    /// move, which is enough to make every ETag a client holds stale.
    pub fn touch_managed_key_as_other_writer(&mut self, id: &str) {
        if !self.managed_keys.contains_key(id) {
            return;
        }
        let stamp = self.clock.stamp();
        if let Some(key) = self.managed_keys.get_mut(id) {
            key.updated_at = stamp;
            key.updated_by = "IBMid-OTHER-WRITER".to_owned();
        }
    }

    /// Replaces every record, setting and the clock with `other`'s (reset, fixture load) but keeps the
    /// journal, whose sequence numbers are never reused for an instance id.
    pub fn replace_state(&mut self, other: Instance) {
        let journal = std::mem::take(&mut self.journal);
        *self = other;
        self.journal = journal;
    }

    /// Moves the instance clock forward (control plane), so that time rules (4-hour destroy rule, one
    /// rotation per hour, pending destruction periods, `unreachable_until`) see the new instant.
    pub fn advance_clock(&mut self, seconds: i64) -> Result<Timestamp> {
        if !(0..=MAX_CLOCK_ADVANCE_SECONDS).contains(&seconds) {
            return Err(Error::invalid_field(
                "seconds",
                format!(
                    "expected seconds within 0 and {MAX_CLOCK_ADVANCE_SECONDS} (the clock never goes back), found {seconds}"
                ),
            ));
        }
        self.clock.advance(seconds);
        self.settle_pending_destructions();
        Ok(self.clock.now())
    }

    /// Registers a resource against a key (UKO has no API for it; fixtures and the control plane seed
    /// them). The key and the keystore must exist; a resource appears once per key.
    pub fn add_associated_resource(&mut self, resource: AssociatedResource) -> Result<&AssociatedResource> {
        if resource.id.is_empty() {
            return Err(Error::invalid_field("id", "expected the URL-encoded CRN of the resource, found ''"));
        }
        self.managed_key(&resource.managed_key_id)?;
        self.keystore(&resource.keystore_id)?;
        let duplicate = self
            .associated_resources
            .iter()
            .any(|r| r.id == resource.id && r.managed_key_id == resource.managed_key_id);
        if duplicate {
            return Err(Error::Conflict {
                message: format!(
                    "The resource '{}' is already associated with managed key '{}'",
                    resource.id, resource.managed_key_id
                ),
            });
        }
        let index = self.associated_resources.len();
        self.associated_resources.push(resource);
        Ok(&self.associated_resources[index])
    }

    /// `keys_count` of a vault.
    pub fn vault_keys_count(&self, vault_id: &str) -> usize {
        self.managed_keys.count_in_vault(vault_id)
    }

    /// `key_templates_count` of a vault.
    pub fn vault_templates_count(&self, vault_id: &str) -> usize {
        self.templates.values().filter(|t| t.vault_id == vault_id).count()
    }

    /// `keystores_count` of a vault.
    pub fn vault_keystores_count(&self, vault_id: &str) -> usize {
        self.keystores.values().filter(|k| k.vault_id == vault_id).count()
    }

    /// `keys_count` of a template.
    pub fn template_keys_count(&self, template_id: &str) -> usize {
        self.managed_keys.count_of_template(template_id)
    }
}
