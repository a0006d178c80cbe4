//! Vault operations (`uko-semantics.md` §8): create, update, delete-when-empty.

use serde::Deserialize;

use super::error::{Error, ResourceKind, Result};
use super::model::Vault;
use super::types::TemplateState;
use super::{check_if_match, validate, IfMatch, Instance};

/// Body of CreateVault and UpdateVault (every field optional here; required-ness is checked by the operation).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct VaultInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub recovery_key_label: Option<String>,
}

impl Instance {
    /// CreateVault.
    pub fn create_vault(&mut self, input: VaultInput) -> Result<&Vault> {
        let name = validate::required("name", &input.name)?;
        validate::vault_name("name", name)?;
        if let Some(description) = &input.description {
            validate::description("description", description)?;
        }
        let id = self.new_id();
        let now = self.clock.stamp();
        let vault = Vault {
            id: id.clone(),
            name: name.to_owned(),
            description: input.description.unwrap_or_default(),
            recovery_key_label: input.recovery_key_label,
            created_at: now,
            updated_at: now,
            created_by: self.settings.actor.clone(),
            updated_by: self.settings.actor.clone(),
        };
        Ok(self.vaults.entry(id).or_insert(vault))
    }

    /// UpdateVault.
    pub fn update_vault(&mut self, id: &str, if_match: Option<&IfMatch>, input: VaultInput) -> Result<&Vault> {
        let current = self.vault(id)?;
        check_if_match(if_match, current.updated_at, self.settings.if_match_wildcard)?;
        if let Some(name) = &input.name {
            validate::vault_name("name", name)?;
        }
        if let Some(description) = &input.description {
            validate::description("description", description)?;
        }
        let now = self.clock.stamp();
        let actor = self.settings.actor.clone();
        let vault = self.vaults.get_mut(id).ok_or_else(|| Error::not_found(ResourceKind::Vault, id))?;
        if let Some(name) = input.name {
            vault.name = name;
        }
        if let Some(description) = input.description {
            vault.description = description;
        }
        if let Some(label) = input.recovery_key_label {
            vault.recovery_key_label = Some(label);
        }
        vault.updated_at = now;
        vault.updated_by = actor;
        Ok(vault)
    }

    /// DeleteVault: only an empty vault; archived templates go with it, unarchived ones block.
    pub fn delete_vault(&mut self, id: &str, if_match: Option<&IfMatch>) -> Result<()> {
        let vault = self.vault(id)?;
        check_if_match(if_match, vault.updated_at, self.settings.if_match_wildcard)?;
        let blocking_templates =
            self.templates.values().any(|t| t.vault_id == id && t.state == TemplateState::Unarchived);
        if self.vault_keys_count(id) > 0 || self.vault_keystores_count(id) > 0 {
            return Err(Error::Conflict {
                message: format!(
                    "The service was not able to delete vault '{}' because it still contains some keys or keystores.",
                    vault.name
                ),
            });
        }
        if blocking_templates {
            return Err(Error::Conflict {
                message: format!(
                    "The service was not able to delete vault '{}' because it still contains key templates that are not archived.",
                    vault.name
                ),
            });
        }
        self.templates.retain(|_, t| t.vault_id != id);
        self.vaults.remove(id);
        Ok(())
    }
}
