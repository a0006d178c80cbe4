//! Typed list queries and how lists select, sort and page (`uko-api-v4.md` §3.1, §4.1, §5.1, §6.1, §7).
//!
//! A query arrives here already parsed (`uko::query` reads the wire names such as `vault.id` or
//! `template.type[]`): values in one filter are OR-ed, filters are AND-ed, and an empty filter selects
//! everything. Lists never contact keystores: status-based filters use the keystores' current
//! reachability without counting a call.
//!
//! - `lists`: the per-resource list operations.
//! - `filters`: the predicates a query's filters become.
//! - `sort`: folded sort keys and the selection of one page.
//! - `list_cache`: the remembered order of a managed-key list being paged through.

mod filters;
mod list_cache;
mod lists;
mod sort;

use time::Date;

use super::error::Error;
use super::types::{
    Algorithm, AlignmentStatus, HealthStatus, KeyState, KeystoreType, ManagingSystem, SyncFlag, TemplateState,
    TemplateType,
};

pub use list_cache::ListCache;

/// Default and maximum page sizes (§7.1).
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 1000;

/// A query whose parameters were read at the HTTP side, or the 400 they earned. The error is raised by
/// the operation itself, so that it comes after the fault plan and in the operation's own check order
/// (some lists look up their path resource first, others last).
pub type Parsed<T> = Result<T, Error>;

/// `limit` and `offset` after validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Page {
    pub limit: usize,
    pub offset: usize,
}

impl Default for Page {
    fn default() -> Self {
        Page { limit: DEFAULT_LIMIT, offset: 0 }
    }
}

/// One page of ids plus the number of matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    pub total_count: usize,
    pub page: Page,
    pub ids: Vec<String>,
}

/// One sort criterion: a field of the list (`F`, one of the `*SortField` enums below) and the direction.
/// The wire names (`sort=-updated_at`) are `uko::query`'s; the domain sees only the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SortKey<F> {
    pub field: F,
    pub descending: bool,
}

/// What ListManagedKeys and ListManagedKeysFromKeystore sort by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeySortField {
    Label,
    Algorithm,
    State,
    ActivationDate,
    /// A key's deactivation date is its expiration date (the reference names both).
    DeactivationDate,
    ExpirationDate,
    CreatedAt,
    UpdatedAt,
    Size,
    VaultId,
    RotatedAt,
    Id,
}

/// What ListManagedKeyVersions sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VersionSortField {
    Version,
    /// A version is never updated: its update time is its creation time.
    CreatedAt,
    UpdatedAt,
    State,
}

/// What ListKeyTemplates sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TemplateSortField {
    Name,
    CreatedAt,
    UpdatedAt,
    VaultId,
    Version,
    State,
    KeyAlgorithm,
    KeySize,
    Id,
}

/// What ListKeystores sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeystoreSortField {
    Name,
    CreatedAt,
    UpdatedAt,
    VaultId,
    Type,
    Id,
}

/// What ListVaults sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VaultSortField {
    Name,
    CreatedAt,
    UpdatedAt,
    Id,
}

/// What the associated-resource lists sort by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceSortField {
    Name,
    Id,
    Type,
}

/// An exact date or an inclusive range (`created_at`, `created_at_min`, `created_at_max`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DateRange {
    pub exact: Option<Date>,
    pub min: Option<Date>,
    pub max: Option<Date>,
}

/// An exact size (compared as text) or an inclusive numeric range.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SizeRange {
    pub exact: Option<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

/// Where key material can be present (`key_material_present`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MaterialLocation {
    Repository,
    Keystores,
}

impl MaterialLocation {
    /// The wire spelling, as `key_material_present` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            MaterialLocation::Repository => "repository",
            MaterialLocation::Keystores => "keystores",
        }
    }
}

/// The filters of a managed-key list (and of a key's versions, which filter the key itself).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeyFilters {
    /// `None`: no `state` parameter (a keystore's key list then shows pre-active and active keys only).
    pub states: Option<Vec<KeyState>>,
    pub vault_ids: Vec<String>,
    pub managing_systems: Vec<ManagingSystem>,
    pub algorithms: Vec<Algorithm>,
    /// A label prefix.
    pub label: Option<String>,
    pub activation_date: DateRange,
    /// `deactivation_date` and `expiration_date` both filter the expiration date (at most one is given).
    pub deactivation_date: DateRange,
    pub expiration_date: DateRange,
    pub created_at: DateRange,
    pub updated_at: DateRange,
    /// Only `min` and `max` exist for the rotation date.
    pub rotated_at: DateRange,
    pub size: SizeRange,
    pub referenced_keystore_types: Vec<KeystoreType>,
    pub referenced_keystore_names: Vec<String>,
    pub instance_keystore_types: Vec<KeystoreType>,
    /// A template name prefix.
    pub template_name: Option<String>,
    pub template_ids: Vec<String>,
    pub template_types: Vec<TemplateType>,
    pub sync_flags: Vec<SyncFlag>,
    pub alignment: Option<AlignmentStatus>,
    pub key_material: Vec<MaterialLocation>,
}

impl KeyFilters {
    /// Whether these filters read nothing but the keys' own fields (not keystores, templates, statuses
    /// or the clock), so that their answer stays the same while the keys' version does.
    pub fn read_only_the_keys(&self) -> bool {
        self.referenced_keystore_types.is_empty()
            && self.referenced_keystore_names.is_empty()
            && self.instance_keystore_types.is_empty()
            && self.template_name.is_none()
            && self.template_ids.is_empty()
            && self.template_types.is_empty()
            && self.sync_flags.is_empty()
            && self.alignment.is_none()
            && self.key_material.is_empty()
    }
}

/// ListManagedKeys and ListManagedKeysFromKeystore.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyQuery {
    pub filters: KeyFilters,
    pub sort: Vec<SortKey<KeySortField>>,
    pub page: Page,
}

/// ListManagedKeyVersions: the versions' states, and filters on the key itself (their `states` unused).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionQuery {
    pub states: Vec<KeyState>,
    pub key: KeyFilters,
    pub sort: Vec<SortKey<VersionSortField>>,
    pub page: Page,
}

/// ListKeyTemplates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateQuery {
    /// A name prefix.
    pub name: Option<String>,
    /// A fragment of the naming scheme.
    pub naming_scheme: Option<String>,
    pub vault_ids: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    pub key_size: SizeRange,
    pub keystore_types: Vec<KeystoreType>,
    pub keystore_groups: Vec<String>,
    pub created_at: DateRange,
    pub updated_at: DateRange,
    pub types: Vec<TemplateType>,
    pub states: Vec<TemplateState>,
    pub managing_systems: Vec<ManagingSystem>,
    pub sort: Vec<SortKey<TemplateSortField>>,
    pub page: Page,
}

/// ListKeystores.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeystoreQuery {
    pub types: Vec<KeystoreType>,
    /// A fragment of the name.
    pub name: Option<String>,
    /// A fragment of the description.
    pub description: Option<String>,
    pub groups: Vec<String>,
    pub vault_ids: Vec<String>,
    pub locations: Vec<String>,
    pub health: Vec<HealthStatus>,
    pub sort: Vec<SortKey<KeystoreSortField>>,
    pub page: Page,
}

/// ListVaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VaultQuery {
    /// A name prefix.
    pub name: Option<String>,
    /// A fragment of the description.
    pub description: Option<String>,
    pub sort: Vec<SortKey<VaultSortField>>,
    pub page: Page,
}

/// ListAssociatedResourcesForManagedKey / ForTargetKeystore.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceQuery {
    pub sort: Vec<SortKey<ResourceSortField>>,
    pub page: Page,
}

/// Which managed-key list is being served; each accepts a slightly different parameter set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyListScope<'a> {
    /// `GET /managed_keys`.
    All,
    /// `GET /keystores/{id}/managed_keys` (default state filter `pre_activation,active`).
    Keystore(&'a str),
}
