//! The list operations of each resource: filter with the query's predicates, then sort and page.

use std::cmp::Ordering;

use super::filters::{created_date, date_range, key_predicates, size_range, updated_date, Predicate};
use super::list_cache::OrderedQuery;
use super::sort::{date_value, finish, size_value, text, timestamp_value, SortField, SortValue};
use super::{
    KeyListScope, KeyQuery, KeySortField, KeystoreQuery, KeystoreSortField, Listing, Page, ResourceQuery,
    ResourceSortField, TemplateQuery, TemplateSortField, VaultQuery, VaultSortField, VersionQuery, VersionSortField,
};
use crate::domain::error::Result;
use crate::domain::model::{AssociatedResource, Keystore, ManagedKey, Template, Vault};
use crate::domain::types::KeyState;
use crate::domain::Instance;

impl Instance {
    /// ListManagedKeys and ListManagedKeysFromKeystore (404 when the keystore is unknown).
    pub fn list_managed_keys(&self, query: &KeyQuery, scope: KeyListScope<'_>) -> Result<Listing> {
        let mut predicates = key_predicates(&query.filters);
        if let KeyListScope::Keystore(keystore_id) = scope {
            self.keystore(keystore_id)?;
            predicates
                .push(Box::new(move |_, k: &ManagedKey| k.referenced_keystores.iter().any(|id| id == keystore_id)));
            if query.filters.states.is_none() {
                predicates
                    .push(Box::new(|_, k: &ManagedKey| matches!(k.state, KeyState::PreActivation | KeyState::Active)));
            }
        }
        // A keystore's list is not remembered: the cache holds the one list clients walk, all keys.
        let remembered = if scope == KeyListScope::All { OrderedQuery::of(query) } else { None };
        let page = query.page;
        if let Some(ordered) = &remembered {
            if let Some(listing) = self.list_cache.page(self.managed_keys.version(), ordered, page) {
                return Ok(listing);
            }
        }
        let matched: Vec<&ManagedKey> =
            self.managed_keys.values().filter(|k| predicates.iter().all(|p| p(self, k))).collect();
        let version = self.managed_keys.version();
        let sort = &query.sort;
        match remembered {
            // Asked before with another page: a client is walking the list, so sort it all once for the
            // next pages. A query asked once is only noted: sorting everything for it would be wasted.
            Some(ordered) if self.list_cache.was_asked(version, &ordered) => {
                let everything = Page { offset: 0, limit: usize::MAX };
                let order = finish(matched, sort, managed_key_sort_field, |k| &k.id, everything).ids;
                Ok(self.list_cache.remember(version, ordered, order, page))
            }
            Some(ordered) => {
                self.list_cache.note(version, ordered);
                Ok(finish(matched, sort, managed_key_sort_field, |k| &k.id, page))
            }
            None => Ok(finish(matched, sort, managed_key_sort_field, |k| &k.id, page)),
        }
    }

    /// ListManagedKeyVersions: one entry per version, newest first by default. Returns version numbers.
    pub fn list_key_versions(&self, id: &str, query: &VersionQuery) -> Result<(usize, Page, Vec<u32>)> {
        let key = self.managed_key(id)?;
        let key_matches = key_predicates(&query.key).iter().all(|p| p(self, key));
        let states = &query.states;
        let mut versions: Vec<(u32, KeyState, i64)> = key
            .versions
            .iter()
            .map(|v| (v.version, v.state.unwrap_or(key.state), v.created_at.unix_seconds()))
            .filter(|(_, state, _)| key_matches && (states.is_empty() || states.contains(state)))
            .collect();
        versions.sort_by(|a, b| {
            for criterion in &query.sort {
                let ordering = match criterion.field {
                    VersionSortField::State => a.1.ordinal().cmp(&b.1.ordinal()),
                    VersionSortField::CreatedAt | VersionSortField::UpdatedAt => a.2.cmp(&b.2),
                    VersionSortField::Version => a.0.cmp(&b.0),
                };
                let ordering = if criterion.descending { ordering.reverse() } else { ordering };
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            a.0.cmp(&b.0)
        });
        let total = versions.len();
        let page = query.page;
        let numbers = versions.into_iter().skip(page.offset).take(page.limit).map(|v| v.0).collect();
        Ok((total, page, numbers))
    }

    /// ListKeyTemplates.
    pub fn list_templates(&self, query: &TemplateQuery) -> Listing {
        let mut predicates: Vec<Predicate<'_, Template>> = Vec::new();
        if let Some(prefix) = &query.name {
            predicates.push(Box::new(move |_, t| t.name.starts_with(prefix.as_str())));
        }
        if let Some(fragment) = &query.naming_scheme {
            predicates
                .push(Box::new(move |_, t| t.naming_scheme.as_deref().is_some_and(|s| s.contains(fragment.as_str()))));
        }
        if !query.vault_ids.is_empty() {
            predicates.push(Box::new(|_, t| query.vault_ids.contains(&t.vault_id)));
        }
        if !query.algorithms.is_empty() {
            predicates.push(Box::new(|_, t| query.algorithms.contains(&t.key.algorithm)));
        }
        size_range(&query.key_size, |t: &Template| t.key.size.as_str(), &mut predicates);
        if !query.keystore_types.is_empty() {
            predicates
                .push(Box::new(|_, t| t.keystores.iter().any(|k| query.keystore_types.contains(&k.keystore_type))));
        }
        if !query.keystore_groups.is_empty() {
            predicates.push(Box::new(|_, t| t.keystores.iter().any(|k| query.keystore_groups.contains(&k.group))));
        }
        date_range(&query.created_at, created_date::<Template>, &mut predicates);
        date_range(&query.updated_at, updated_date::<Template>, &mut predicates);
        if !query.types.is_empty() {
            predicates.push(Box::new(|_, t| t.types.iter().any(|ty| query.types.contains(ty))));
        }
        if !query.states.is_empty() {
            predicates.push(Box::new(|_, t| query.states.contains(&t.state)));
        }
        if !query.managing_systems.is_empty() {
            predicates.push(Box::new(|_, t| t.managing_systems.iter().any(|s| query.managing_systems.contains(s))));
        }
        let matched: Vec<&Template> =
            self.templates.values().filter(|t| predicates.iter().all(|p| p(self, t))).collect();
        finish(
            matched,
            &query.sort,
            |field| -> SortField<Template> {
                match field {
                    TemplateSortField::Name => |t| text(&t.name),
                    TemplateSortField::CreatedAt => |t| timestamp_value(t.created_at),
                    TemplateSortField::UpdatedAt => |t| timestamp_value(t.updated_at),
                    TemplateSortField::VaultId => |t| text(&t.vault_id),
                    TemplateSortField::Version => |t| SortValue::Number(t.version as i64),
                    TemplateSortField::State => |t| text(t.state.as_str()),
                    TemplateSortField::KeyAlgorithm => |t| text(t.key.algorithm.as_str()),
                    TemplateSortField::KeySize => |t| size_value(&t.key.size),
                    TemplateSortField::Id => |t| text(&t.id),
                }
            },
            |t| &t.id,
            query.page,
        )
    }

    /// ListKeystores.
    pub fn list_keystores(&self, query: &KeystoreQuery) -> Listing {
        let mut predicates: Vec<Predicate<'_, Keystore>> = Vec::new();
        if !query.types.is_empty() {
            predicates.push(Box::new(|_, k| query.types.contains(&k.keystore_type)));
        }
        if let Some(fragment) = &query.name {
            predicates.push(Box::new(move |_, k| k.name.contains(fragment.as_str())));
        }
        if let Some(fragment) = &query.description {
            predicates.push(Box::new(move |_, k| k.description.contains(fragment.as_str())));
        }
        if !query.groups.is_empty() {
            predicates.push(Box::new(|_, k| k.groups.iter().any(|g| query.groups.contains(g))));
        }
        if !query.vault_ids.is_empty() {
            predicates.push(Box::new(|_, k| query.vault_ids.contains(&k.vault_id)));
        }
        if !query.locations.is_empty() {
            predicates.push(Box::new(|_, k| query.locations.contains(&k.location)));
        }
        if !query.health.is_empty() {
            predicates.push(Box::new(|instance, k| query.health.contains(&instance.peek_health(k))));
        }
        let matched: Vec<&Keystore> =
            self.keystores.values().filter(|k| predicates.iter().all(|p| p(self, k))).collect();
        finish(
            matched,
            &query.sort,
            |field| -> SortField<Keystore> {
                match field {
                    KeystoreSortField::Name => |k| text(&k.name),
                    KeystoreSortField::CreatedAt => |k| timestamp_value(k.created_at),
                    KeystoreSortField::UpdatedAt => |k| timestamp_value(k.updated_at),
                    KeystoreSortField::VaultId => |k| text(&k.vault_id),
                    KeystoreSortField::Type => |k| text(k.keystore_type.as_str()),
                    KeystoreSortField::Id => |k| text(&k.id),
                }
            },
            |k| &k.id,
            query.page,
        )
    }

    /// ListVaults.
    pub fn list_vaults(&self, query: &VaultQuery) -> Listing {
        let name = query.name.as_deref();
        let description = query.description.as_deref();
        let matched: Vec<&Vault> = self
            .vaults
            .values()
            .filter(|v| name.is_none_or(|n| v.name.starts_with(n)))
            .filter(|v| description.is_none_or(|d| v.description.contains(d)))
            .collect();
        finish(
            matched,
            &query.sort,
            |field| -> SortField<Vault> {
                match field {
                    VaultSortField::Name => |v| text(&v.name),
                    VaultSortField::CreatedAt => |v| timestamp_value(v.created_at),
                    VaultSortField::UpdatedAt => |v| timestamp_value(v.updated_at),
                    VaultSortField::Id => |v| text(&v.id),
                }
            },
            |v| &v.id,
            query.page,
        )
    }

    /// ListAssociatedResourcesForManagedKey / ForTargetKeystore (404 when the key or keystore is
    /// unknown). Returns indexes into `associated_resources`.
    pub fn list_associated_resources(
        &self,
        query: &ResourceQuery,
        key_id: Option<&str>,
        keystore_id: Option<&str>,
    ) -> Result<(usize, Page, Vec<usize>)> {
        if let Some(id) = key_id {
            self.managed_key(id)?;
        }
        if let Some(id) = keystore_id {
            self.keystore(id)?;
        }
        let mut matched: Vec<(usize, &AssociatedResource)> = self
            .associated_resources
            .iter()
            .enumerate()
            .filter(|(_, r)| key_id.is_none_or(|id| r.managed_key_id == id))
            .filter(|(_, r)| keystore_id.is_none_or(|id| r.keystore_id == id))
            .collect();
        matched.sort_by(|(_, a), (_, b)| {
            for criterion in &query.sort {
                let ordering = match criterion.field {
                    ResourceSortField::Id => a.id.cmp(&b.id),
                    ResourceSortField::Type => a.resource_type.cmp(&b.resource_type),
                    ResourceSortField::Name => a.name.cmp(&b.name),
                };
                let ordering = if criterion.descending { ordering.reverse() } else { ordering };
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            a.id.cmp(&b.id)
        });
        let total = matched.len();
        let page = query.page;
        let indexes = matched.into_iter().skip(page.offset).take(page.limit).map(|(i, _)| i).collect();
        Ok((total, page, indexes))
    }
}

fn managed_key_sort_field(field: KeySortField) -> SortField<ManagedKey> {
    match field {
        KeySortField::Label => |k| text(&k.label),
        KeySortField::Algorithm => |k| text(k.algorithm.as_str()),
        KeySortField::State => |k| SortValue::Number(k.state.ordinal() as i64),
        KeySortField::ActivationDate => |k| date_value(k.activation_date),
        KeySortField::DeactivationDate | KeySortField::ExpirationDate => |k| date_value(k.expiration_date),
        KeySortField::CreatedAt => |k| timestamp_value(k.created_at),
        KeySortField::UpdatedAt => |k| timestamp_value(k.updated_at),
        KeySortField::RotatedAt => |k| k.rotated_at.map(timestamp_value).unwrap_or(SortValue::Missing),
        KeySortField::Size => |k| size_value(&k.size),
        KeySortField::VaultId => |k| text(&k.vault_id),
        KeySortField::Id => |k| text(&k.id),
    }
}
