//! Managed key operations and the lifecycle of `uko-semantics.md` §2: create from a template,
//! activate, deactivate, destroy, rotate, update, update from template, sync, delete.
//!
//! Every state action checks `If-Match` first, then the state rule, then changes the record (new
//! `updated_at`, so a new ETag) and propagates the new state to the keystores that answer.

use serde::Deserialize;

use super::clock::{parse_date, Period};
use super::error::{Error, ResourceKind, Result};
use super::model::{KeyInstance, KeyVersion, ManagedKey, Tag};
use super::naming::NamingScheme;
use super::simulation::StatusEntry;
use super::templates::VaultReferenceInput;
use super::types::*;
use super::{check_if_match, validate, IfMatch, Instance};

/// Body of CreateManagedKey.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ManagedKeyInput {
    pub template_name: Option<String>,
    pub vault: Option<VaultReferenceInput>,
    pub label: Option<String>,
    pub description: Option<String>,
    /// Legacy (≤ 4.9) free tags; accepted and stored.
    pub tags: Option<Vec<Tag>>,
}

/// Body of UpdateManagedKey.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ManagedKeyUpdate {
    pub label: Option<String>,
    pub activation_date: Option<String>,
    pub expiration_date: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

/// The state actions with a lifecycle rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAction {
    Activate,
    Deactivate,
    Destroy,
}

impl KeyAction {
    fn verb(self) -> &'static str {
        match self {
            KeyAction::Activate => "activate",
            KeyAction::Deactivate => "deactivate",
            KeyAction::Destroy => "destroy",
        }
    }
}

impl Instance {
    /// CreateManagedKey: from an unarchived template, into the vault, distributed to every keystore of
    /// the template's type and group in that vault.
    pub fn create_managed_key(&mut self, input: ManagedKeyInput) -> Result<&ManagedKey> {
        let template_name = validate::required("template_name", &input.template_name)?.to_owned();
        let vault_id = input.vault.as_ref().ok_or_else(|| Error::missing_field("vault"))?;
        let vault_id = validate::required("vault.id", &vault_id.id)?.to_owned();
        if let Some(description) = &input.description {
            validate::description("description", description)?;
        }
        if let Some(label) = &input.label {
            validate::key_label("label", label)?;
        }
        self.vault(&vault_id)?;
        let template = self.template_by_name(&template_name)?.clone();
        if template.vault_id != vault_id {
            return Err(Error::NotFound {
                kind: ResourceKind::Template,
                id: format!("{template_name} (in vault {vault_id})"),
            });
        }
        if template.state == TemplateState::Archived {
            return Err(Error::InvalidState {
                message: format!("The key template '{template_name}' is archived and cannot be used to create keys"),
            });
        }
        if self.managed_keys.len() >= self.settings.managed_key_limit {
            return Err(Error::Conflict {
                message: format!(
                    "The instance already holds the maximum of {} managed keys",
                    self.settings.managed_key_limit
                ),
            });
        }
        // The record's timestamp is taken only once every check passed, so a refused create leaves the clock alone.
        let today = self.clock.now().date();
        let activation_date = Period::parse(&template.key.activation_date).and_then(|p| p.add_to(today));
        let expiration_date =
            activation_date.and_then(|a| Period::parse(&template.key.expiration_date).and_then(|p| p.add_to(a)));
        let scheme = template.naming_scheme.as_deref().map(|s| NamingScheme::parse("naming_scheme", s)).transpose()?;
        let (label, label_tags) = match (&scheme, input.label) {
            (Some(scheme), Some(label)) => {
                let tags = scheme.match_label(&label, today, expiration_date)?;
                (label, tags)
            }
            (None, Some(label)) => (label, Vec::new()),
            (_, None) => return Err(Error::missing_field("label")),
        };
        let now = self.clock.stamp();
        let key_id = self.new_id();
        let instances: Vec<KeyInstance> = template
            .keystores
            .iter()
            .map(|entry| KeyInstance {
                id: self.rng.uuid(),
                label_in_keystore: label.clone(),
                instance_type: instance_type(template.key.algorithm),
                keystore: entry.clone(),
            })
            .collect();
        let referenced_keystores = self.keystores_for_template(&template.vault_id, &template.keystores);
        let material = self.rng.hex(32);
        let key = ManagedKey {
            id: key_id.clone(),
            vault_id,
            template_id: template.id.clone(),
            template_version: template.version,
            label,
            description: input.description.unwrap_or_default(),
            state: template.key.state.into(),
            algorithm: template.key.algorithm,
            size: template.key.size.clone(),
            activation_date,
            expiration_date,
            label_tags,
            tags: input.tags.unwrap_or_default(),
            is_rotatable: !scheme.as_ref().is_some_and(NamingScheme::has_system_placeholder),
            created_at: now,
            updated_at: now,
            created_by: self.settings.actor.clone(),
            updated_by: self.settings.actor.clone(),
            rotated_at: None,
            deactivated_at: None,
            referenced_keystores,
            removed_keystores: Vec::new(),
            instances,
            versions: vec![KeyVersion { version: 1, material, created_at: now, state: None }],
            deactivate_on_rotation: template.key.deactivate_on_rotation.unwrap_or(false),
            managing_systems: vec![ManagingSystem::Web],
        };
        self.managed_keys.insert(key_id.clone(), key);
        self.propagate_key(&key_id);
        self.managed_key(&key_id)
    }

    /// UpdateManagedKey: label, planned dates, description, legacy tags.
    pub fn update_managed_key(
        &mut self,
        id: &str,
        if_match: Option<&IfMatch>,
        input: ManagedKeyUpdate,
    ) -> Result<&ManagedKey> {
        let key = self.managed_key(id)?;
        check_if_match(if_match, key.updated_at, self.settings.if_match_wildcard)?;
        let date = |field: &str, text: &Option<String>| -> Result<Option<time::Date>> {
            text.as_deref()
                .map(|t| {
                    parse_date(t).ok_or_else(|| {
                        Error::invalid_field(field, format!("The {field} field must be a date YYYY-MM-DD, found '{t}'"))
                    })
                })
                .transpose()
        };
        let activation_date = date("activation_date", &input.activation_date)?;
        let expiration_date = date("expiration_date", &input.expiration_date)?;
        if let Some(label) = &input.label {
            validate::key_label("label", label)?;
        }
        if let Some(description) = &input.description {
            validate::description("description", description)?;
        }
        if matches!(key.state, KeyState::Destroyed | KeyState::DestroyedCompromised) {
            return Err(Error::InvalidState {
                message: format!("The service was not able to update key '{id}' because it is destroyed."),
            });
        }
        // A scheme without placeholders yields no label_tags but still fixes the label.
        let scheme_based = !key.label_tags.is_empty()
            || self.templates.get(&key.template_id).is_some_and(|t| t.naming_scheme.is_some());
        if input.label.as_ref().is_some_and(|l| *l != key.label) && scheme_based {
            return Err(Error::InvalidState {
                message: format!("The label of key '{id}' follows its template's naming scheme and cannot be changed."),
            });
        }
        let planned_activation = activation_date.or(key.activation_date);
        let planned_expiration = expiration_date.or(key.expiration_date);
        if let (Some(activation), Some(expiration)) = (planned_activation, planned_expiration) {
            if expiration < activation {
                return Err(Error::invalid_field(
                    "expiration_date",
                    "The expiration_date must not be earlier than the activation_date",
                ));
            }
        }
        let label_changed = input.label.is_some();
        let now = self.clock.stamp();
        let actor = self.settings.actor.clone();
        let key = self.managed_keys.get_mut(id).ok_or_else(|| Error::not_found(ResourceKind::ManagedKey, id))?;
        if let Some(label) = input.label {
            for instance in &mut key.instances {
                instance.label_in_keystore = label.clone();
            }
            key.label = label;
        }
        if activation_date.is_some() {
            key.activation_date = activation_date;
        }
        if expiration_date.is_some() {
            key.expiration_date = expiration_date;
        }
        if let Some(description) = input.description {
            key.description = description;
        }
        if let Some(tags) = input.tags {
            key.tags = tags;
        }
        key.updated_at = now;
        key.updated_by = actor;
        if label_changed {
            // A rename reaches the keystores like any other change; unreachable ones keep the old name.
            self.propagate_key(id);
        }
        self.managed_key(id)
    }

    /// ActivateManagedKey, DeactivateManagedKey, DestroyManagedKey.
    pub fn change_key_state(&mut self, id: &str, if_match: Option<&IfMatch>, action: KeyAction) -> Result<&ManagedKey> {
        let now = self.clock.now();
        let key = self.managed_key(id)?;
        check_if_match(if_match, key.updated_at, self.settings.if_match_wildcard)?;
        let allowed = match (action, key.state) {
            (KeyAction::Activate, KeyState::PreActivation | KeyState::Deactivated) => true,
            (KeyAction::Deactivate, KeyState::Active) => true,
            (KeyAction::Destroy, KeyState::Deactivated) => true,
            (KeyAction::Destroy, KeyState::PreActivation) => !self.settings.destroy_needs_deactivation(),
            _ => false,
        };
        if !allowed {
            return Err(Error::InvalidState {
                message: format!(
                    "The service was not able to {} key '{id}' because it is in state '{}'.",
                    action.verb(),
                    key.state
                ),
            });
        }
        if action == KeyAction::Destroy && key.state == KeyState::Deactivated {
            let minimum = self.settings.deactivated_before_destroy_seconds();
            let deactivated_at = key.deactivated_at.unwrap_or(key.updated_at);
            if minimum > 0 && now < deactivated_at.plus_seconds(minimum) {
                return Err(Error::InvalidState {
                    message: format!(
                        "The service was not able to destroy key '{id}'. The requested key has been deactivated within the last {} hours.",
                        minimum / 3600
                    ),
                });
            }
            if let Some(resource) = self
                .associated_resources
                .iter()
                .find(|r| r.managed_key_id == id && r.registration.prevents_key_deletion)
            {
                return Err(Error::Conflict {
                    message: format!(
                        "The service was not able to destroy key '{id}' because the associated resource '{}' has a retention policy that prevents key deletion.",
                        resource.name
                    ),
                });
            }
        }
        let stamp = self.clock.stamp();
        let actor = self.settings.actor.clone();
        let key = self.managed_keys.get_mut(id).ok_or_else(|| Error::not_found(ResourceKind::ManagedKey, id))?;
        key.state = match action {
            KeyAction::Activate => KeyState::Active,
            KeyAction::Deactivate => KeyState::Deactivated,
            KeyAction::Destroy => KeyState::Destroyed,
        };
        if action == KeyAction::Deactivate {
            key.deactivated_at = Some(stamp);
        }
        key.updated_at = stamp;
        key.updated_by = actor;
        self.propagate_key(id);
        self.managed_key(id)
    }

    /// RotateManagedKey: new key material as version n+1, installed where the keystores answer.
    pub fn rotate_managed_key(&mut self, id: &str, if_match: Option<&IfMatch>) -> Result<&ManagedKey> {
        let now = self.clock.now();
        let key = self.managed_key(id)?;
        check_if_match(if_match, key.updated_at, self.settings.if_match_wildcard)?;
        let external_types = [KeystoreType::AwsKms, KeystoreType::AzureKeyVault, KeystoreType::GoogleKms];
        let deactivated_rotatable = self.settings.rotate_deactivated_external
            && key.instances.iter().all(|i| external_types.contains(&i.keystore.keystore_type));
        let state_ok = key.state == KeyState::Active || (key.state == KeyState::Deactivated && deactivated_rotatable);
        if !state_ok {
            return Err(Error::InvalidState {
                message: format!(
                    "The service was not able to rotate key '{id}' because it is in state '{}'.",
                    key.state
                ),
            });
        }
        if !key.is_rotatable {
            return Err(Error::InvalidState {
                message: format!(
                    "The key '{id}' cannot be rotated because its name uses system placeholders of the naming scheme."
                ),
            });
        }
        let minimum = self.settings.rotation_interval_seconds();
        if let Some(rotated_at) = key.rotated_at {
            let next_allowed = rotated_at.plus_seconds(minimum);
            if minimum > 0 && now < next_allowed {
                return Err(Error::TooManyRequests {
                    message: format!("The key '{id}' was rotated less than {} minutes ago; a key can be rotated at most once per hour.", minimum / 60),
                    retry_after_seconds: (next_allowed.unix_seconds() - now.unix_seconds()).max(1) as u64,
                });
            }
        }
        // IBM Cloud KMS / Key Protect and Google AES deactivate older versions themselves (§9).
        let deactivates_old = key.deactivate_on_rotation
            || key.instances.iter().any(|i| {
                i.keystore.keystore_type == KeystoreType::IbmCloudKms
                    || (i.keystore.keystore_type == KeystoreType::GoogleKms && key.algorithm == Algorithm::Aes)
            });
        let material = self.rng.hex(32);
        let stamp = self.clock.stamp();
        let actor = self.settings.actor.clone();
        let key = self.managed_keys.get_mut(id).ok_or_else(|| Error::not_found(ResourceKind::ManagedKey, id))?;
        let current_state = key.state;
        if let Some(previous) = key.versions.last_mut() {
            previous.state = Some(if deactivates_old { KeyState::Deactivated } else { current_state });
        }
        let next_version = key.version_number().saturating_add(1);
        key.versions.push(KeyVersion { version: next_version, material, created_at: stamp, state: None });
        key.rotated_at = Some(stamp);
        key.updated_at = stamp;
        key.updated_by = actor;
        self.propagate_key(id);
        self.managed_key(id)
    }

    /// UpdateManagedKeyFromTemplate: realign with the template's current version and keystore group.
    /// With `dry_run` nothing changes and the would-be key is returned.
    pub fn update_managed_key_from_template(
        &mut self,
        id: &str,
        if_match: Option<&IfMatch>,
        dry_run: bool,
    ) -> Result<ManagedKey> {
        let key = self.managed_key(id)?.clone();
        check_if_match(if_match, key.updated_at, self.settings.if_match_wildcard)?;
        if matches!(key.state, KeyState::Destroyed | KeyState::DestroyedCompromised) {
            return Err(Error::InvalidState {
                message: format!(
                    "The service was not able to update key '{id}' from its template because the key is destroyed."
                ),
            });
        }
        let template = self.template(&key.template_id)?.clone();
        if template.state == TemplateState::Archived {
            return Err(Error::InvalidState {
                message: format!("The key template '{}' is archived; keys cannot be aligned to it.", template.name),
            });
        }
        let wanted = self.keystores_for_template(&template.vault_id, &template.keystores);
        let mut updated = key.clone();
        let dropped: Vec<String> = key.referenced_keystores.iter().filter(|id| !wanted.contains(id)).cloned().collect();
        updated.referenced_keystores = wanted;
        updated.template_version = template.version;
        updated.deactivate_on_rotation = template.key.deactivate_on_rotation.unwrap_or(key.deactivate_on_rotation);
        for instance in &mut updated.instances {
            if let Some(entry) = template.keystores.iter().find(|e| e.keystore_type == instance.keystore.keystore_type)
            {
                instance.keystore = entry.clone();
            }
        }
        if dry_run {
            return Ok(updated);
        }
        updated.updated_at = self.clock.stamp();
        updated.updated_by = self.settings.actor.clone();
        self.managed_keys.insert(id.to_owned(), updated);
        // Keystores that left the group: the key is deactivated there (if they answer).
        for keystore_id in dropped {
            if self.probe_keystore(&keystore_id) {
                if let Some(copy) = self.keystores.get_mut(&keystore_id).and_then(|k| k.simulation.copies.get_mut(id)) {
                    copy.state = super::model::CopyState::Inactive;
                }
            }
        }
        self.propagate_key(id);
        self.managed_key(id).cloned()
    }

    /// SyncManagedKey: `If-Match` is the key's ETag; repairs reachable out-of-sync keystores.
    pub fn sync_managed_key(&mut self, id: &str, if_match: Option<&IfMatch>) -> Result<Vec<StatusEntry>> {
        let key = self.managed_key(id)?;
        check_if_match(if_match, key.updated_at, self.settings.if_match_wildcard)?;
        let entries = self.sync_keystores(id);
        if self.settings.sync_bumps_etag {
            let stamp = self.clock.stamp();
            if let Some(key) = self.managed_keys.get_mut(id) {
                key.updated_at = stamp;
            }
        }
        Ok(entries)
    }

    /// DeleteManagedKey: only destroyed keys; not while pending destruction somewhere (unless `force`)
    /// or protected by a retention policy.
    pub fn delete_managed_key(&mut self, id: &str, if_match: Option<&IfMatch>, force: bool) -> Result<()> {
        let key = self.managed_key(id)?;
        check_if_match(if_match, key.updated_at, self.settings.if_match_wildcard)?;
        if !matches!(key.state, KeyState::Destroyed | KeyState::DestroyedCompromised) {
            return Err(Error::InvalidState {
                message: format!("The service was not able to delete key '{id}' because it is in state '{}'; it must be in a 'destroyed' state.", key.state),
            });
        }
        // Copies whose destruction period has ended are gone (reads settle them too); they must not block.
        self.settle_pending_destructions();
        let key = self.managed_key(id)?;
        let pending = key.referenced_keystores.iter().any(|ks| {
            self.keystores
                .get(ks)
                .and_then(|k| k.simulation.copies.get(id))
                .is_some_and(|c| c.state == super::model::CopyState::PendingDestruction)
        });
        if pending && !force {
            return Err(Error::InvalidState {
                message: format!(
                    "The key '{id}' is still pending destruction in a keystore; retry later or delete with force=true."
                ),
            });
        }
        if self.associated_resources.iter().any(|r| r.managed_key_id == id && r.registration.prevents_key_deletion) {
            return Err(Error::Conflict {
                message: format!("The key '{id}' protects a resource whose retention policy prevents key deletion."),
            });
        }
        self.managed_keys.remove(id);
        self.associated_resources.retain(|r| r.managed_key_id != id);
        Ok(())
    }

    /// The keystores a key from this template entry goes to: same vault, same type, group member.
    pub fn keystores_for_template(&self, vault_id: &str, entries: &[super::model::TemplateKeystore]) -> Vec<String> {
        let mut matching: Vec<&super::model::Keystore> = self
            .keystores
            .values()
            .filter(|k| k.vault_id == vault_id)
            .filter(|k| entries.iter().any(|e| e.keystore_type == k.keystore_type && k.groups.contains(&e.group)))
            .collect();
        matching.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        matching.into_iter().map(|k| k.id.clone()).collect()
    }
}

fn instance_type(algorithm: Algorithm) -> KeyInstanceType {
    match algorithm {
        Algorithm::Rsa | Algorithm::Ec | Algorithm::Dilithium => KeyInstanceType::KeyPair,
        Algorithm::Aes | Algorithm::Des | Algorithm::Hmac => KeyInstanceType::SecretKey,
    }
}
