//! What an answer shows, taken out of the instance under its lock so that it can be rendered after the
//! lock is released: each view owns (or shares, for managed keys) the record and every name and counter
//! the answer carries about related records.
//!
//! Views are built by [`super::command`] at the end of an operation; the HTTP layer renders them into UKO's
//! bytes without touching the instance again. The names of related records (vaults, templates, keystores)
//! are taken once per answer through [`Names`] and shared by every item that shows them: a page of 100 keys
//! names the same few keystores over and over.

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
    pub vault_name: Arc<str>,
    pub keys_count: usize,
}

/// A keystore (without its simulated contents) with its vault's name and its embedded health.
#[derive(Clone, Debug, PartialEq)]
pub struct KeystoreView {
    /// The record; its `simulation` is left empty (the copies of every key are not part of an answer).
    pub keystore: Keystore,
    pub vault_name: Arc<str>,
    pub health: KeystoreHealth,
}

/// A keystore as another record names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeystoreName {
    pub id: String,
    pub name: String,
    pub keystore_type: KeystoreType,
}

/// A key template as a managed key names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateName {
    pub name: String,
    pub types: Vec<TemplateType>,
}

/// One `status_in_keystores` entry with the keystore it is about (`None` when the keystore is unknown).
#[derive(Clone, Debug, PartialEq)]
pub struct StatusView {
    pub entry: StatusEntry,
    pub keystore: Option<Arc<KeystoreName>>,
}

/// A managed key (or one of its versions) with what its answer says about related records.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyView {
    /// Shared with the instance: taking it costs a reference count, not a copy.
    pub key: Arc<ManagedKey>,
    /// The version shown, for an entry of the versions list; `None` for the key itself.
    pub version: Option<u32>,
    pub vault_name: Arc<str>,
    /// The template's name and types, when the template exists.
    pub template: Option<Arc<TemplateName>>,
    pub alignment_status: AlignmentStatus,
    pub key_material_present: Vec<&'static str>,
    /// The referenced keystores that still exist, in distribution order.
    pub referenced_keystores: Vec<Arc<KeystoreName>>,
    pub statuses: Vec<StatusView>,
}

/// An associated resource with its key and keystore as the answer names them.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceView {
    pub resource: AssociatedResource,
    /// The key's id and label, and its vault's id and name, when the key exists.
    pub key: Option<ResourceKey>,
    pub keystore: Option<Arc<KeystoreName>>,
    pub key_id_in_keystore: String,
}

/// The key of an associated resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceKey {
    pub id: String,
    pub label: String,
    pub vault_id: String,
    pub vault_name: Arc<str>,
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
    /// The names of related records, taken once for one answer.
    pub fn names(&self) -> Names<'_> {
        Names { instance: self, vaults: Vec::new(), templates: Vec::new(), keystores: Vec::new() }
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
}

/// The names of the vaults, templates and keystores one answer shows, each taken out of the instance once
/// (a handful per answer, so a list beats a map).
pub struct Names<'i> {
    instance: &'i Instance,
    vaults: Vec<(&'i str, Arc<str>)>,
    templates: Vec<(&'i str, Option<Arc<TemplateName>>)>,
    keystores: Vec<(&'i str, Option<Arc<KeystoreName>>)>,
}

impl<'i> Names<'i> {
    fn vault(&mut self, vault_id: &str) -> Arc<str> {
        if let Some((_, name)) = self.vaults.iter().find(|(id, _)| *id == vault_id) {
            return name.clone();
        }
        let Some((id, vault)) = self.instance.vaults.get_key_value(vault_id) else {
            return Arc::from("");
        };
        let name: Arc<str> = Arc::from(vault.name.as_str());
        self.vaults.push((id.as_str(), name.clone()));
        name
    }

    fn template(&mut self, template_id: &str) -> Option<Arc<TemplateName>> {
        if let Some((_, name)) = self.templates.iter().find(|(id, _)| *id == template_id) {
            return name.clone();
        }
        let (id, template) = self.instance.templates.get_key_value(template_id)?;
        let name = Some(Arc::new(TemplateName { name: template.name.clone(), types: template.types.clone() }));
        self.templates.push((id.as_str(), name.clone()));
        name
    }

    /// A keystore known now or removed earlier (tombstone status entries name removed ones too).
    fn keystore(&mut self, keystore_id: &str) -> Option<Arc<KeystoreName>> {
        if let Some((_, name)) = self.keystores.iter().find(|(id, _)| *id == keystore_id) {
            return name.clone();
        }
        let instance = self.instance;
        let keystore = instance.keystores.get(keystore_id).or_else(|| instance.removed_keystores.get(keystore_id))?;
        let name = Some(Arc::new(KeystoreName {
            id: keystore.id.clone(),
            name: keystore.name.clone(),
            keystore_type: keystore.keystore_type,
        }));
        self.keystores.push((keystore.id.as_str(), name.clone()));
        name
    }

    /// A template as its answer shows it.
    pub fn template_view(&mut self, template: &Template) -> TemplateView {
        TemplateView {
            template: template.clone(),
            vault_name: self.vault(&template.vault_id),
            keys_count: self.instance.template_keys_count(&template.id),
        }
    }

    /// A keystore as its answer shows it, with the given embedded health.
    pub fn keystore_view(&mut self, keystore: &Keystore, health: KeystoreHealth) -> KeystoreView {
        KeystoreView { keystore: keystore.without_simulation(), vault_name: self.vault(&keystore.vault_id), health }
    }

    /// Status entries with the keystores they are about (also removed ones, for tombstone entries).
    pub fn status_views(&mut self, entries: Vec<StatusEntry>) -> Vec<StatusView> {
        entries
            .into_iter()
            .map(|entry| {
                let keystore = self.keystore(&entry.keystore_id);
                StatusView { entry, keystore }
            })
            .collect()
    }

    /// A managed key as its answer shows it, with the given statuses; `version` picks a versions-list entry.
    /// `None` when the key does not exist.
    pub fn key_view(&mut self, id: &str, version: Option<u32>, statuses: Vec<StatusEntry>) -> Option<KeyView> {
        let key = self.instance.managed_keys.shared(id)?;
        Some(self.view_of_key(key, version, statuses))
    }

    /// A managed key with its statuses as of now, without contacting the keystores (the operation that
    /// leads to this answer already did, or a list shows what is known).
    pub fn peeked_key_view(&mut self, id: &str) -> Option<KeyView> {
        let statuses = self.instance.peek_status_in_keystores(id);
        self.key_view(id, None, statuses)
    }

    /// A key record (stored or would-be) as its answer shows it.
    pub fn view_of_key(&mut self, key: Arc<ManagedKey>, version: Option<u32>, statuses: Vec<StatusEntry>) -> KeyView {
        let instance = self.instance;
        let referenced_keystores = key
            .referenced_keystores
            .iter()
            .filter(|id| instance.keystores.contains_key(id.as_str()))
            .filter_map(|id| self.keystore(id))
            .collect();
        KeyView {
            version,
            vault_name: self.vault(&key.vault_id),
            template: self.template(&key.template_id),
            alignment_status: instance.alignment_status(&key),
            key_material_present: instance.key_material_present(&key),
            referenced_keystores,
            statuses: self.status_views(statuses),
            key,
        }
    }

    /// An associated resource as its answer shows it.
    pub fn resource_view(&mut self, resource: &AssociatedResource) -> ResourceView {
        let instance = self.instance;
        let key = instance.managed_keys.get(&resource.managed_key_id);
        let keystore_record = instance.keystore_or_removed(&resource.keystore_id);
        ResourceView {
            resource: resource.clone(),
            key: key.map(|k| ResourceKey {
                id: k.id.clone(),
                label: k.label.clone(),
                vault_id: k.vault_id.clone(),
                vault_name: self.vault(&k.vault_id),
            }),
            key_id_in_keystore: keystore_record
                .and_then(|k| k.simulation.copies.get(&resource.managed_key_id))
                .map(|c| c.key_id_in_keystore.clone())
                .unwrap_or_default(),
            keystore: self.keystore(&resource.keystore_id),
        }
    }
}
