//! What an answer shows, taken out of the instance under its lock so that it can be rendered after the
//! lock is released: each view owns (or shares, for managed keys) the record and every name and counter
//! the answer carries about related records.
//!
//! Views are built by [`super::command`] at the end of an operation; the HTTP layer renders them into UKO's
//! bytes without touching the instance again.

use std::sync::Arc;

use super::keystores::KeystoreHealth;
use super::query::Page;
use super::simulation::StatusEntry;
use super::{
    AlignmentStatus, AssociatedResource, Instance, Keystore, KeystoreSimulation, KeystoreType, ManagedKey, Template,
    TemplateType, Vault,
};

/// A vault with its counters.
#[derive(Clone, Debug, PartialEq)]
pub struct VaultView {
    pub vault: Vault,
    pub keys_count: usize,
    pub key_templates_count: usize,
    pub keystores_count: usize,
}

/// A key template with its vault's name and its key count.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateView {
    pub template: Template,
    pub vault_name: String,
    pub keys_count: usize,
}

/// A keystore (without its simulated contents) with its vault's name and its embedded health.
#[derive(Clone, Debug, PartialEq)]
pub struct KeystoreView {
    /// The record; its `simulation` is left empty (the copies of every key are not part of an answer).
    pub keystore: Keystore,
    pub vault_name: String,
    pub health: KeystoreHealth,
}

/// A keystore as another record names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeystoreName {
    pub id: String,
    pub name: String,
    pub keystore_type: KeystoreType,
}

/// One `status_in_keystores` entry with the keystore it is about (`None` when the keystore is unknown).
#[derive(Clone, Debug, PartialEq)]
pub struct StatusView {
    pub entry: StatusEntry,
    pub keystore: Option<KeystoreName>,
}

/// A managed key (or one of its versions) with what its answer says about related records.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyView {
    /// Shared with the instance: taking it costs a reference count, not a copy.
    pub key: Arc<ManagedKey>,
    /// The version shown, for an entry of the versions list; `None` for the key itself.
    pub version: Option<u32>,
    pub vault_name: String,
    /// The template's name and types, when the template exists.
    pub template: Option<(String, Vec<TemplateType>)>,
    pub alignment_status: AlignmentStatus,
    pub key_material_present: Vec<&'static str>,
    /// The referenced keystores that still exist, in distribution order.
    pub referenced_keystores: Vec<KeystoreName>,
    pub statuses: Vec<StatusView>,
}

/// An associated resource with its key and keystore as the answer names them.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceView {
    pub resource: AssociatedResource,
    /// The key's id and label, and its vault's id and name, when the key exists.
    pub key: Option<ResourceKey>,
    pub keystore: Option<KeystoreName>,
    pub key_id_in_keystore: String,
}

/// The key of an associated resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceKey {
    pub id: String,
    pub label: String,
    pub vault_id: String,
    pub vault_name: String,
}

/// One page of a list: the items and the paging facts the envelope needs.
#[derive(Clone, Debug, PartialEq)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    pub total_count: usize,
    pub page: Page,
}

impl Keystore {
    /// A copy of the record without its simulated contents.
    pub fn without_simulation(&self) -> Keystore {
        Keystore {
            id: self.id.clone(),
            vault_id: self.vault_id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            groups: self.groups.clone(),
            keystore_type: self.keystore_type,
            location: self.location.clone(),
            tls_proxy: self.tls_proxy.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            created_by: self.created_by.clone(),
            updated_by: self.updated_by.clone(),
            connection: self.connection.clone(),
            simulation: KeystoreSimulation::default(),
        }
    }
}

impl Instance {
    fn vault_name(&self, vault_id: &str) -> String {
        self.vaults.get(vault_id).map(|v| v.name.clone()).unwrap_or_default()
    }

    fn keystore_name(&self, keystore: &Keystore) -> KeystoreName {
        KeystoreName { id: keystore.id.clone(), name: keystore.name.clone(), keystore_type: keystore.keystore_type }
    }

    /// A vault as its answer shows it.
    pub fn vault_view(&self, vault: &Vault) -> VaultView {
        VaultView {
            vault: vault.clone(),
            keys_count: self.vault_keys_count(&vault.id),
            key_templates_count: self.vault_templates_count(&vault.id),
            keystores_count: self.vault_keystores_count(&vault.id),
        }
    }

    /// A template as its answer shows it.
    pub fn template_view(&self, template: &Template) -> TemplateView {
        TemplateView {
            template: template.clone(),
            vault_name: self.vault_name(&template.vault_id),
            keys_count: self.template_keys_count(&template.id),
        }
    }

    /// A keystore as its answer shows it, with the given embedded health.
    pub fn keystore_view(&self, keystore: &Keystore, health: KeystoreHealth) -> KeystoreView {
        KeystoreView {
            keystore: keystore.without_simulation(),
            vault_name: self.vault_name(&keystore.vault_id),
            health,
        }
    }

    /// Status entries with the keystores they are about (also removed ones, for tombstone entries).
    pub fn status_views(&self, entries: Vec<StatusEntry>) -> Vec<StatusView> {
        entries
            .into_iter()
            .map(|entry| {
                let keystore = self.keystore_or_removed(&entry.keystore_id).map(|k| self.keystore_name(k));
                StatusView { entry, keystore }
            })
            .collect()
    }

    /// A managed key as its answer shows it, with the given statuses; `version` picks a versions-list entry.
    /// `None` when the key does not exist.
    pub fn key_view(&self, id: &str, version: Option<u32>, statuses: Vec<StatusEntry>) -> Option<KeyView> {
        Some(self.view_of_key(self.managed_keys.shared(id)?, version, statuses))
    }

    /// A key record (stored or would-be) as its answer shows it.
    pub fn view_of_key(&self, key: Arc<ManagedKey>, version: Option<u32>, statuses: Vec<StatusEntry>) -> KeyView {
        KeyView {
            version,
            vault_name: self.vault_name(&key.vault_id),
            template: self.templates.get(&key.template_id).map(|t| (t.name.clone(), t.types.clone())),
            alignment_status: self.alignment_status(&key),
            key_material_present: self.key_material_present(&key),
            referenced_keystores: key
                .referenced_keystores
                .iter()
                .filter_map(|id| self.keystores.get(id))
                .map(|k| self.keystore_name(k))
                .collect(),
            statuses: self.status_views(statuses),
            key,
        }
    }

    /// A managed key with its statuses as of now, without contacting the keystores (the operation that
    /// leads to this answer already did, or a list shows what is known).
    pub fn peeked_key_view(&self, id: &str) -> Option<KeyView> {
        self.key_view(id, None, self.peek_status_in_keystores(id))
    }

    /// An associated resource as its answer shows it.
    pub fn resource_view(&self, resource: &AssociatedResource) -> ResourceView {
        let key = self.managed_keys.get(&resource.managed_key_id);
        let keystore = self.keystore_or_removed(&resource.keystore_id);
        ResourceView {
            resource: resource.clone(),
            key: key.map(|k| ResourceKey {
                id: k.id.clone(),
                label: k.label.clone(),
                vault_id: k.vault_id.clone(),
                vault_name: self.vault_name(&k.vault_id),
            }),
            key_id_in_keystore: keystore
                .and_then(|k| k.simulation.copies.get(&resource.managed_key_id))
                .map(|c| c.key_id_in_keystore.clone())
                .unwrap_or_default(),
            keystore: keystore.map(|k| self.keystore_name(k)),
        }
    }
}
