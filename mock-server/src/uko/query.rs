//! Reading a UKO list request's query parameters (`uko-api-v4.md` §3.1, §4.1, §5.1, §6.1, §7) into the
//! domain's typed queries.
//!
//! Parameters arrive as name/value pairs with their literal wire names (`vault.id`, `template.type[]`).
//! Multi-valued filters are comma-joined and may also repeat. A refused value is a
//! `domain::Error::Invalid` naming the parameter; parameters are checked in a fixed order per list, so
//! that the first refused one is always the one reported.

use std::sync::atomic::{AtomicU64, Ordering};

use time::Date;

use crate::domain::clock::parse_date;
use crate::domain::query::*;
use crate::domain::types::*;
use crate::domain::{Error, Result};

/// The wire names of each list's sort fields, in the order a refused `sort` lists them, and the field each
/// names; with each list's order when none is asked for.
const KEY_SORT_FIELDS: &[(&str, KeySortField)] = &[
    ("label", KeySortField::Label),
    ("algorithm", KeySortField::Algorithm),
    ("state", KeySortField::State),
    ("activation_date", KeySortField::ActivationDate),
    ("deactivation_date", KeySortField::DeactivationDate),
    ("expiration_date", KeySortField::ExpirationDate),
    ("created_at", KeySortField::CreatedAt),
    ("updated_at", KeySortField::UpdatedAt),
    ("size", KeySortField::Size),
    ("vault.id", KeySortField::VaultId),
    ("rotated_at", KeySortField::RotatedAt),
    ("id", KeySortField::Id),
];
const KEY_DEFAULT_SORT: &str = "-updated_at";
// "-version" is accepted as a field name too (so `sort=--version` is valid), as it always was.
const VERSION_SORT_FIELDS: &[(&str, VersionSortField)] = &[
    ("version", VersionSortField::Version),
    ("-version", VersionSortField::Version),
    ("created_at", VersionSortField::CreatedAt),
    ("updated_at", VersionSortField::UpdatedAt),
    ("state", VersionSortField::State),
];
const VERSION_DEFAULT_SORT: &str = "-version";
const TEMPLATE_SORT_FIELDS: &[(&str, TemplateSortField)] = &[
    ("name", TemplateSortField::Name),
    ("created_at", TemplateSortField::CreatedAt),
    ("updated_at", TemplateSortField::UpdatedAt),
    ("vault.id", TemplateSortField::VaultId),
    ("version", TemplateSortField::Version),
    ("state", TemplateSortField::State),
    ("key.algorithm", TemplateSortField::KeyAlgorithm),
    ("key.size", TemplateSortField::KeySize),
    ("id", TemplateSortField::Id),
];
const TEMPLATE_DEFAULT_SORT: &str = "-updated_at";
const KEYSTORE_SORT_FIELDS: &[(&str, KeystoreSortField)] = &[
    ("name", KeystoreSortField::Name),
    ("created_at", KeystoreSortField::CreatedAt),
    ("updated_at", KeystoreSortField::UpdatedAt),
    ("vault.id", KeystoreSortField::VaultId),
    ("type", KeystoreSortField::Type),
    ("id", KeystoreSortField::Id),
];
const KEYSTORE_DEFAULT_SORT: &str = "-updated_at";
const VAULT_SORT_FIELDS: &[(&str, VaultSortField)] = &[
    ("name", VaultSortField::Name),
    ("created_at", VaultSortField::CreatedAt),
    ("updated_at", VaultSortField::UpdatedAt),
    ("id", VaultSortField::Id),
];
const VAULT_DEFAULT_SORT: &str = "-updated_at";
const RESOURCE_SORT_FIELDS: &[(&str, ResourceSortField)] =
    &[("name", ResourceSortField::Name), ("id", ResourceSortField::Id), ("type", ResourceSortField::Type)];
const RESOURCE_DEFAULT_SORT: &str = "name";

/// Query parameters as received.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
    /// Bit `i` is set once pair `i` was looked up by its name: the pairs never looked up are the parameters
    /// the operation does not know (UKO ignores them, so does the mock, but it says so: [`Params::unread`]).
    /// Pairs past the 64th are not tracked.
    read: AtomicU64,
}

impl Clone for Params {
    fn clone(&self) -> Self {
        Params { pairs: self.pairs.clone(), read: AtomicU64::new(self.read.load(Ordering::Relaxed)) }
    }
}

impl Params {
    /// Wraps decoded pairs.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Params { pairs, read: AtomicU64::new(0) }
    }

    /// All pairs, in request order (used to rebuild paging links).
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// A single-valued parameter (the last occurrence wins).
    pub fn one(&self, name: &str) -> Option<&str> {
        self.mark_read(name);
        self.pairs.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A multi-valued parameter: every occurrence, split on commas, blanks dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.mark_read(name);
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.mark_read(name);
        self.pairs.iter().any(|(n, _)| n == name)
    }

    /// The names of the parameters no lookup asked for: unknown to the operation that served the request.
    pub fn unread(&self) -> impl Iterator<Item = &str> {
        let read = self.read.load(Ordering::Relaxed);
        self.pairs.iter().take(64).enumerate().filter(move |(i, _)| read & (1 << i) == 0).map(|(_, (n, _))| n.as_str())
    }

    fn mark_read(&self, name: &str) {
        // Most requests have no query: nothing to mark.
        if self.pairs.is_empty() {
            return;
        }
        let mut bits = 0u64;
        for (i, (n, _)) in self.pairs.iter().take(64).enumerate() {
            if n == name {
                bits |= 1 << i;
            }
        }
        if bits != 0 {
            self.read.fetch_or(bits, Ordering::Relaxed);
        }
    }

    /// A multi-valued enum parameter; an unknown value is a 400 naming the parameter.
    fn enum_list<T>(&self, name: &str, parse: fn(&str) -> Option<T>, expected: &str) -> Result<Vec<T>> {
        self.list(name)
            .iter()
            .map(|v| {
                parse(v).ok_or_else(|| {
                    Error::invalid_parameter(
                        name,
                        format!("The {name} parameter must be one of {expected}, found '{v}'"),
                    )
                })
            })
            .collect()
    }

    fn date(&self, name: &str) -> Result<Option<Date>> {
        match self.one(name) {
            None => Ok(None),
            Some(text) => parse_date(text).map(Some).ok_or_else(|| {
                Error::invalid_parameter(
                    name,
                    format!("The {name} parameter must be a date YYYY-MM-DD, found '{text}'"),
                )
            }),
        }
    }

    fn integer(&self, name: &str) -> Result<Option<i64>> {
        match self.one(name) {
            None => Ok(None),
            Some(text) => text.trim().parse::<i64>().map(Some).map_err(|_| {
                Error::invalid_parameter(name, format!("The {name} parameter must be an integer, found '{text}'"))
            }),
        }
    }

    /// `limit` (1..=1000, default 20) and `offset` (≥ 0, default 0).
    pub fn page(&self) -> Result<Page> {
        let limit = match self.integer("limit")? {
            None => DEFAULT_LIMIT,
            Some(limit) if (1..=MAX_LIMIT as i64).contains(&limit) => limit as usize,
            Some(limit) => {
                return Err(Error::invalid_parameter(
                    "limit",
                    format!("The limit parameter must be between 1 and {MAX_LIMIT}, found {limit}"),
                ))
            }
        };
        let offset = match self.integer("offset")? {
            None => 0,
            Some(offset) if offset >= 0 => offset as usize,
            Some(offset) => {
                return Err(Error::invalid_parameter(
                    "offset",
                    format!("The offset parameter must be 0 or more, found {offset}"),
                ))
            }
        };
        Ok(Page { limit, offset })
    }

    /// `sort`: comma-separated fields, each optionally prefixed with `-`; `default` when absent.
    fn sort<F: Copy>(&self, allowed: &[(&str, F)], default: &str) -> Result<Vec<SortKey<F>>> {
        let mut items = self.list("sort");
        if items.is_empty() {
            items.push(default.to_owned());
        }
        items
            .into_iter()
            .map(|item| {
                let (descending, name) = match item.strip_prefix('-') {
                    Some(name) => (true, name),
                    None => (false, item.as_str()),
                };
                match allowed.iter().find(|(allowed, _)| *allowed == name) {
                    Some((_, field)) => Ok(SortKey { field: *field, descending }),
                    None => {
                        let names: Vec<&str> = allowed.iter().map(|(name, _)| *name).collect();
                        Err(Error::invalid_parameter(
                            "sort",
                            format!(
                                "The sort parameter accepts {} (optionally prefixed with '-'), found '{item}'",
                                names.join(", ")
                            ),
                        ))
                    }
                }
            })
            .collect()
    }
}

/// ListManagedKeys (`scope` all) and ListManagedKeysFromKeystore: a keystore's list has no `vault.id` or
/// `managing_systems` filter.
pub fn key_query(params: &Params, scope: KeyListScope<'_>) -> Result<KeyQuery> {
    let page = params.page()?;
    let sort = params.sort(KEY_SORT_FIELDS, KEY_DEFAULT_SORT)?;
    let mut filters = key_filters(params, scope)?;
    let states = params.enum_list("state", KeyState::parse, &KeyState::expected())?;
    filters.states = params.has("state").then_some(states);
    Ok(KeyQuery { filters, sort, page })
}

/// ListManagedKeyVersions: `state` filters the versions; the other key filters apply to the key.
pub fn version_query(params: &Params) -> Result<VersionQuery> {
    let page = params.page()?;
    let states = params.enum_list("state", KeyState::parse, &KeyState::expected())?;
    let sort = params.sort(VERSION_SORT_FIELDS, VERSION_DEFAULT_SORT)?;
    let key = key_filters(params, KeyListScope::All)?;
    Ok(VersionQuery { states, key, sort, page })
}

/// The managed-key filters except `state`, which each list reads in its own place.
fn key_filters(params: &Params, scope: KeyListScope<'_>) -> Result<KeyFilters> {
    let mut filters = KeyFilters::default();
    if scope == KeyListScope::All {
        filters.vault_ids = params.list("vault.id");
        filters.managing_systems =
            params.enum_list("managing_systems", ManagingSystem::parse, &ManagingSystem::expected())?;
    }
    filters.algorithms = params.enum_list("algorithm", Algorithm::parse, &Algorithm::expected())?;
    filters.label = params.one("label").map(str::to_owned);
    filters.activation_date = date_range(params, "activation_date")?;
    let deactivation =
        ["deactivation_date", "deactivation_date_min", "deactivation_date_max"].iter().any(|n| params.has(n));
    let expiration = ["expiration_date", "expiration_date_min", "expiration_date_max"].iter().any(|n| params.has(n));
    if deactivation && expiration {
        return Err(Error::invalid_parameter(
            "deactivation_date",
            "The deactivation_date parameters cannot be combined with the expiration_date parameters (they filter the same attribute)",
        ));
    }
    filters.deactivation_date = date_range(params, "deactivation_date")?;
    filters.expiration_date = date_range(params, "expiration_date")?;
    filters.created_at = date_range(params, "created_at")?;
    filters.updated_at = date_range(params, "updated_at")?;
    filters.rotated_at =
        DateRange { exact: None, min: params.date("rotated_at_min")?, max: params.date("rotated_at_max")? };
    filters.size = size_range(params, "size")?;
    let referenced_types =
        params.enum_list("referenced_keystores[].type", KeystoreType::parse, &KeystoreType::expected())?;
    let instance_types =
        params.enum_list("instances[].keystore.type", KeystoreType::parse, &KeystoreType::expected())?;
    if !referenced_types.is_empty() && !instance_types.is_empty() {
        return Err(Error::invalid_parameter(
            "referenced_keystores[].type",
            "The referenced_keystores[].type parameter cannot be combined with instances[].keystore.type",
        ));
    }
    filters.referenced_keystore_types = referenced_types;
    filters.instance_keystore_types = instance_types;
    filters.referenced_keystore_names = params.list("referenced_keystores[].name");
    filters.template_name = params.one("template.name").map(str::to_owned);
    filters.template_ids = params.list("template.id");
    filters.template_types = params.enum_list("template.type[]", TemplateType::parse, &TemplateType::expected())?;
    filters.sync_flags =
        params.enum_list("status_in_keystores[].keystore_sync_flag", SyncFlag::parse, &SyncFlag::expected())?;
    if let Some(alignment) = params.one("template.alignment_status") {
        let wanted = AlignmentStatus::parse(alignment).ok_or_else(|| {
            Error::invalid_parameter(
                "template.alignment_status",
                format!(
                    "The template.alignment_status parameter must be one of {}, found '{alignment}'",
                    AlignmentStatus::expected()
                ),
            )
        })?;
        filters.alignment = Some(wanted);
    }
    filters.key_material = params
        .list("key_material_present")
        .iter()
        .map(|value| match value.as_str() {
            "repository" => Ok(MaterialLocation::Repository),
            "keystores" => Ok(MaterialLocation::Keystores),
            _ => Err(Error::invalid_parameter(
                "key_material_present",
                format!("The key_material_present parameter must be one of repository, keystores, found '{value}'"),
            )),
        })
        .collect::<Result<_>>()?;
    Ok(filters)
}

/// ListKeyTemplates.
pub fn template_query(params: &Params) -> Result<TemplateQuery> {
    let page = params.page()?;
    let sort = params.sort(TEMPLATE_SORT_FIELDS, TEMPLATE_DEFAULT_SORT)?;
    let name = params.one("name").map(str::to_owned);
    let naming_scheme = params.one("naming_scheme").map(str::to_owned);
    let vault_ids = params.list("vault.id");
    let algorithms = params.enum_list("key.algorithm", Algorithm::parse, &Algorithm::expected())?;
    let key_size = size_range(params, "key.size")?;
    let keystore_types = params.enum_list("keystores[].type", KeystoreType::parse, &KeystoreType::expected())?;
    let keystore_groups = params.list("keystores[].group");
    let created_at = date_range(params, "created_at")?;
    let updated_at = date_range(params, "updated_at")?;
    let types = params.enum_list("type[]", TemplateType::parse, &TemplateType::expected())?;
    let states = params.enum_list("state", TemplateState::parse, &TemplateState::expected())?;
    let managing_systems = params.enum_list("managing_systems", ManagingSystem::parse, &ManagingSystem::expected())?;
    Ok(TemplateQuery {
        name,
        naming_scheme,
        vault_ids,
        algorithms,
        key_size,
        keystore_types,
        keystore_groups,
        created_at,
        updated_at,
        types,
        states,
        managing_systems,
        sort,
        page,
    })
}

/// ListKeystores: `group` and `groups[]` are two spellings of one filter and cannot be combined.
pub fn keystore_query(params: &Params) -> Result<KeystoreQuery> {
    let page = params.page()?;
    let sort = params.sort(KEYSTORE_SORT_FIELDS, KEYSTORE_DEFAULT_SORT)?;
    let types = params.enum_list("type", KeystoreType::parse, &KeystoreType::expected())?;
    if params.has("group") && params.has("groups[]") {
        return Err(Error::invalid_parameter("group", "The group parameter cannot be combined with groups[]"));
    }
    let mut groups = params.list("groups[]");
    if let Some(group) = params.one("group") {
        groups.push(group.to_owned());
    }
    let health = params.enum_list("status.health_status", HealthStatus::parse, &HealthStatus::expected())?;
    Ok(KeystoreQuery {
        types,
        name: params.one("name").map(str::to_owned),
        description: params.one("description").map(str::to_owned),
        groups,
        vault_ids: params.list("vault.id"),
        locations: params.list("location"),
        health,
        sort,
        page,
    })
}

/// ListVaults.
pub fn vault_query(params: &Params) -> Result<VaultQuery> {
    let page = params.page()?;
    let sort = params.sort(VAULT_SORT_FIELDS, VAULT_DEFAULT_SORT)?;
    Ok(VaultQuery {
        name: params.one("name").map(str::to_owned),
        description: params.one("description").map(str::to_owned),
        sort,
        page,
    })
}

/// ListAssociatedResourcesForManagedKey / ForTargetKeystore.
pub fn resource_query(params: &Params) -> Result<ResourceQuery> {
    let page = params.page()?;
    let sort = params.sort(RESOURCE_SORT_FIELDS, RESOURCE_DEFAULT_SORT)?;
    Ok(ResourceQuery { sort, page })
}

/// Reads exact / `_min` / `_max` of one date attribute; the exact date excludes the range.
fn date_range(params: &Params, name: &str) -> Result<DateRange> {
    let exact = params.date(name)?;
    let min = params.date(&format!("{name}_min"))?;
    let max = params.date(&format!("{name}_max"))?;
    if exact.is_some() && (min.is_some() || max.is_some()) {
        return Err(Error::invalid_parameter(
            name,
            format!("The {name} parameter cannot be combined with {name}_min or {name}_max"),
        ));
    }
    Ok(DateRange { exact, min, max })
}

/// Reads `size` (as text) and the integers `size_min` / `size_max`; the exact size excludes the range.
fn size_range(params: &Params, name: &str) -> Result<SizeRange> {
    let exact = params.one(name).map(str::to_owned);
    let min = params.integer(&format!("{name}_min"))?;
    let max = params.integer(&format!("{name}_max"))?;
    if exact.is_some() && (min.is_some() || max.is_some()) {
        return Err(Error::invalid_parameter(
            name,
            format!("The {name} parameter cannot be combined with {name}_min or {name}_max"),
        ));
    }
    Ok(SizeRange { exact, min, max })
}
