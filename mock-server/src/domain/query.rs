//! List filtering, sorting and paging (`uko-api-v4.md` §3.1, §4.1, §5.1, §6.1, §7).
//!
//! Query parameters arrive as name/value pairs with their literal wire names (`vault.id`,
//! `template.type[]`). Multi-valued filters are comma-joined and may also repeat; values in one filter are
//! OR-ed, filters are AND-ed. Lists never contact keystores: status-based filters use the keystores'
//! current reachability without counting a call.

use std::cmp::Ordering;

use time::Date;

use super::clock::parse_date;
use super::error::{Error, Result};
use super::model::{Keystore, ManagedKey, Template, Vault};
use super::types::*;
use super::Instance;

/// Default and maximum page sizes (§7.1).
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 1000;

/// Query parameters as received.
#[derive(Clone, Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// `limit` and `offset` after validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub limit: usize,
    pub offset: usize,
}

/// One page of ids plus the number of matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    pub total_count: usize,
    pub page: Page,
    pub ids: Vec<String>,
}

/// One sort criterion.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SortKey {
    field: String,
    descending: bool,
}

/// A comparable value of a sort field, borrowed from the record (sorting 20,000 keys must not allocate
/// per comparison).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SortValue<'a> {
    Missing,
    Number(i64),
    Text(&'a str),
}

type Predicate<'p, T> = Box<dyn Fn(&Instance, &T) -> bool + 'p>;

impl Params {
    /// Wraps decoded pairs.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Params { pairs }
    }

    /// All pairs, in request order (used to rebuild paging links).
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// A single-valued parameter (the last occurrence wins).
    pub fn one(&self, name: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A multi-valued parameter: every occurrence, split on commas, blanks dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
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

    fn sort(&self, allowed: &[&str], default: &str) -> Result<Vec<SortKey>> {
        let mut items = self.list("sort");
        if items.is_empty() {
            items.push(default.to_owned());
        }
        items
            .into_iter()
            .map(|item| {
                let (descending, field) = match item.strip_prefix('-') {
                    Some(field) => (true, field.to_owned()),
                    None => (false, item.clone()),
                };
                if allowed.contains(&field.as_str()) {
                    Ok(SortKey { field, descending })
                } else {
                    Err(Error::invalid_parameter(
                        "sort",
                        format!(
                            "The sort parameter accepts {} (optionally prefixed with '-'), found '{item}'",
                            allowed.join(", ")
                        ),
                    ))
                }
            })
            .collect()
    }
}

/// Reads one sort field of a record; chosen once per sort criterion, not per record.
type SortField<T> = for<'a> fn(&'a T) -> SortValue<'a>;

/// A sort value folded into two integers whose unsigned order is [`SortValue`]'s order, so that most
/// comparisons are integer comparisons on a contiguous array. Big-endian bytes: the kind (missing, number,
/// text), then a number with its sign bit flipped, or a text's first [`TEXT_HEAD`] bytes zero-padded
/// followed by its length (capped at `TEXT_HEAD + 1`). Equal keys mean equal values, except for two texts
/// longer than the head that share it ([`key_is_exact`]). Descending order is ascending order of the
/// complemented key ([`directed`]).
type FoldedKey = (u128, u128);

fn sort_key(value: SortValue<'_>) -> FoldedKey {
    let mut bytes = [0u8; 32];
    match value {
        SortValue::Missing => {}
        SortValue::Number(number) => {
            bytes[0] = 1;
            bytes[1..9].copy_from_slice(&((number as u64) ^ (1 << 63)).to_be_bytes());
        }
        SortValue::Text(text) => {
            bytes[0] = 2;
            let head = &text.as_bytes()[..text.len().min(TEXT_HEAD)];
            bytes[1..1 + head.len()].copy_from_slice(head);
            // Zero padding ties "a" with "a\0"; the length orders them as their bytes do.
            bytes[31] = text.len().min(TEXT_HEAD + 1) as u8;
        }
    }
    let (high, low) = bytes.split_at(16);
    (u128::from_be_bytes(high.try_into().unwrap_or_default()), u128::from_be_bytes(low.try_into().unwrap_or_default()))
}

/// Text bytes kept in a [`sort_key`] (labels and names up to this length sort without reading the text).
const TEXT_HEAD: usize = 30;

/// Whether two values with this (equal, undirected) key are equal: false only for texts longer than the head.
fn key_is_exact((high, low): FoldedKey) -> bool {
    !(high >> 120 == 2 && low & 0xff == TEXT_HEAD as u128 + 1)
}

/// The key of a value for an ascending or descending criterion.
fn directed((high, low): FoldedKey, descending: bool) -> FoldedKey {
    if descending {
        (!high, !low)
    } else {
        (high, low)
    }
}

/// Sorts, counts and pages records that passed the filters. `matched` must be in ascending id order
/// (the order of the instance's maps), so the id tie-break is a comparison of positions.
///
/// Only the requested page is sorted: two selection steps first find the records of ranks
/// `offset..offset + limit` (a page of 100 out of 20,000 keys must not pay for sorting all 20,000, nor
/// for sorting every record before it). Each record's sort values are folded once into [`sort_key`]s: the
/// first criterion's next to its position, so most comparisons read one contiguous array, the later ones
/// in a second array read when the first ties. A record itself is read only when two long texts tie.
fn finish<T>(
    matched: Vec<&T>,
    sort: &[SortKey],
    field: impl Fn(&str) -> SortField<T>,
    id: impl Fn(&T) -> &str,
    page: Page,
) -> Listing {
    debug_assert!(matched.windows(2).all(|pair| id(pair[0]) < id(pair[1])), "records must come in id order");
    let total_count = matched.len();
    let readers: Vec<(SortField<T>, bool)> = sort.iter().map(|key| (field(&key.field), key.descending)).collect();
    let Some(((first, first_descending), later)) = readers.split_first() else {
        return page_of(matched, (0..total_count).collect(), &id, page);
    };
    let mut entries: Vec<(FoldedKey, usize)> = matched
        .iter()
        .enumerate()
        .map(|(index, record)| (directed(sort_key(first(record)), *first_descending), index))
        .collect();
    let mut later_keys: Vec<FoldedKey> = Vec::with_capacity(total_count * later.len());
    for record in &matched {
        later_keys.extend(later.iter().map(|(read, descending)| directed(sort_key(read(record)), *descending)));
    }
    // Two values whose keys tie and are not exact: compare the texts themselves.
    let values = |read: &SortField<T>, descending: bool, a: usize, b: usize| {
        let ordering = read(matched[a]).cmp(&read(matched[b]));
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    };
    let compare = |(key_a, a): &(FoldedKey, usize), (key_b, b): &(FoldedKey, usize)| {
        key_a.cmp(key_b).then_with(|| {
            let (a, b) = (*a, *b);
            if !key_is_exact(directed(*key_a, *first_descending)) {
                let ordering = values(first, *first_descending, a, b);
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            let stride = later.len();
            for (position, (read, descending)) in later.iter().enumerate() {
                let (key_a, key_b) = (later_keys[a * stride + position], later_keys[b * stride + position]);
                let ordering = key_a.cmp(&key_b).then_with(|| {
                    if key_is_exact(directed(key_a, *descending)) {
                        Ordering::Equal
                    } else {
                        values(read, *descending, a, b)
                    }
                });
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            a.cmp(&b)
        })
    };
    // With one criterion and no long texts, the entries' own order (key, then position) is the order.
    let plain = later.is_empty() && entries.iter().all(|(key, _)| key_is_exact(directed(*key, *first_descending)));
    let end = page.offset.saturating_add(page.limit).min(total_count);
    let start = page.offset.min(end);
    if end < total_count {
        if plain {
            entries.select_nth_unstable(end);
        } else {
            entries.select_nth_unstable_by(end, compare);
        }
    }
    let before_page = &mut entries[..end];
    if start > 0 && start < end {
        if plain {
            before_page.select_nth_unstable(start);
        } else {
            before_page.select_nth_unstable_by(start, compare);
        }
    }
    let on_page = &mut before_page[start..];
    if plain {
        on_page.sort_unstable();
    } else {
        on_page.sort_unstable_by(compare);
    }
    let order = on_page.iter().map(|(_, index)| *index).collect();
    page_of(matched, order, &id, Page { offset: 0, ..page }).with_page(page, total_count)
}

/// The ids of `order`'s records from `page.offset` on, at most `page.limit` of them.
fn page_of<T>(matched: Vec<&T>, order: Vec<usize>, id: &impl Fn(&T) -> &str, page: Page) -> Listing {
    let ids = order.iter().skip(page.offset).take(page.limit).map(|index| id(matched[*index]).to_owned()).collect();
    Listing { total_count: matched.len(), page, ids }
}

impl Listing {
    fn with_page(self, page: Page, total_count: usize) -> Listing {
        Listing { total_count, page, ..self }
    }
}

fn text(value: &str) -> SortValue<'_> {
    SortValue::Text(value)
}

fn timestamp_value(value: super::Timestamp) -> SortValue<'static> {
    SortValue::Number(value.unix_seconds())
}

fn date_value(value: Option<Date>) -> SortValue<'static> {
    value.map(|d| SortValue::Number(d.to_julian_day() as i64)).unwrap_or(SortValue::Missing)
}

fn size_value(size: &str) -> SortValue<'_> {
    size.parse::<i64>().map(SortValue::Number).unwrap_or(SortValue::Text(size))
}

/// Adds exact / `_min` / `_max` date predicates for one attribute.
fn date_range<'p, T: 'p>(
    params: &Params,
    name: &str,
    extract: fn(&T) -> Option<Date>,
    predicates: &mut Vec<Predicate<'p, T>>,
) -> Result<()> {
    let exact = params.date(name)?;
    let min = params.date(&format!("{name}_min"))?;
    let max = params.date(&format!("{name}_max"))?;
    if exact.is_some() && (min.is_some() || max.is_some()) {
        return Err(Error::invalid_parameter(
            name,
            format!("The {name} parameter cannot be combined with {name}_min or {name}_max"),
        ));
    }
    if let Some(exact) = exact {
        predicates.push(Box::new(move |_, r| extract(r) == Some(exact)));
    }
    if let Some(min) = min {
        predicates.push(Box::new(move |_, r| extract(r).is_some_and(|d| d >= min)));
    }
    if let Some(max) = max {
        predicates.push(Box::new(move |_, r| extract(r).is_some_and(|d| d <= max)));
    }
    Ok(())
}

/// Adds `size` / `size_min` / `size_max` predicates (numeric when both sides are numbers).
fn size_range<'p, T: 'p>(
    params: &Params,
    name: &str,
    extract: fn(&T) -> &str,
    predicates: &mut Vec<Predicate<'p, T>>,
) -> Result<()> {
    let parse = |suffix: &str| -> Result<Option<i64>> {
        let full = format!("{name}{suffix}");
        params.integer(&full)
    };
    let exact = params.one(name).map(str::to_owned);
    let (min, max) = (parse("_min")?, parse("_max")?);
    if exact.is_some() && (min.is_some() || max.is_some()) {
        return Err(Error::invalid_parameter(
            name,
            format!("The {name} parameter cannot be combined with {name}_min or {name}_max"),
        ));
    }
    if let Some(exact) = exact {
        predicates.push(Box::new(move |_, r| extract(r) == exact));
    }
    if let Some(min) = min {
        predicates.push(Box::new(move |_, r| extract(r).parse::<i64>().is_ok_and(|s| s >= min)));
    }
    if let Some(max) = max {
        predicates.push(Box::new(move |_, r| extract(r).parse::<i64>().is_ok_and(|s| s <= max)));
    }
    Ok(())
}

fn created_date<T: HasTimes>(record: &T) -> Option<Date> {
    Some(record.times().0.date())
}

fn updated_date<T: HasTimes>(record: &T) -> Option<Date> {
    Some(record.times().1.date())
}

/// Records with `created_at`/`updated_at`.
trait HasTimes {
    fn times(&self) -> (super::Timestamp, super::Timestamp);
}

impl HasTimes for ManagedKey {
    fn times(&self) -> (super::Timestamp, super::Timestamp) {
        (self.created_at, self.updated_at)
    }
}
impl HasTimes for Template {
    fn times(&self) -> (super::Timestamp, super::Timestamp) {
        (self.created_at, self.updated_at)
    }
}

/// Which managed-key list is being served; each accepts a slightly different parameter set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyListScope<'a> {
    /// `GET /managed_keys`.
    All,
    /// `GET /keystores/{id}/managed_keys` (default state filter `pre_activation,active`).
    Keystore(&'a str),
}

/// The managed-key list parameters whose filters read only the keys' own fields (not keystores, statuses
/// or the clock): a query made of these alone gives the same answer while the keys' version is the same.
const KEY_ONLY_PARAMETERS: &[&str] = &[
    "limit",
    "offset",
    "sort",
    "state",
    "vault.id",
    "managing_systems",
    "algorithm",
    "label",
    "activation_date",
    "activation_date_min",
    "activation_date_max",
    "deactivation_date",
    "deactivation_date_min",
    "deactivation_date_max",
    "expiration_date",
    "expiration_date_min",
    "expiration_date_max",
    "created_at",
    "created_at_min",
    "created_at_max",
    "updated_at",
    "updated_at_min",
    "updated_at_max",
    "rotated_at_min",
    "rotated_at_max",
    "size",
    "size_min",
    "size_max",
];

/// The last managed-key query asked, and its full order once it was asked a second time, for its next
/// pages: a client walking 20,000 keys 100 at a time asks the same query 200 times, and the keys rarely
/// change meanwhile. Valid only for the keys' version it was computed on ([`super::key_table::KeyTable`]).
#[derive(Default)]
pub struct ListCache(std::sync::Mutex<Option<RememberedQuery>>);

struct RememberedQuery {
    keys_version: u64,
    /// The query's parameters without `limit` and `offset`, as received.
    query: Vec<(String, String)>,
    /// Every matching id, in the query's order; `None` while the query was asked only once.
    ids: Option<Vec<String>>,
}

impl ListCache {
    /// The page of a remembered order, if this query's order was remembered for this version of the keys.
    fn page(&self, keys_version: u64, query: &[(String, String)], page: Page) -> Option<Listing> {
        let remembered = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let ids = remembered.as_ref().filter(|r| r.keys_version == keys_version && r.query == query)?.ids.as_ref()?;
        let page_ids = ids.iter().skip(page.offset).take(page.limit).cloned().collect();
        Some(Listing { total_count: ids.len(), page, ids: page_ids })
    }

    /// Whether this query was the last one asked, on this version of the keys.
    fn was_asked(&self, keys_version: u64, query: &[(String, String)]) -> bool {
        let remembered = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        remembered.as_ref().is_some_and(|r| r.keys_version == keys_version && r.query == query)
    }

    /// Notes that this query was asked (replacing the query remembered before), without its order.
    fn note(&self, keys_version: u64, query: Vec<(String, String)>) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(RememberedQuery { keys_version, query, ids: None });
    }

    /// Remembers a query's full order (replacing the query remembered before) and returns its page.
    fn remember(&self, keys_version: u64, query: Vec<(String, String)>, ids: Vec<String>, page: Page) -> Listing {
        let listing = Listing {
            total_count: ids.len(),
            page,
            ids: ids.iter().skip(page.offset).take(page.limit).cloned().collect(),
        };
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(RememberedQuery { keys_version, query, ids: Some(ids) });
        listing
    }
}

/// A copy starts empty: what it remembers belongs to the instance it was taken from.
impl Clone for ListCache {
    fn clone(&self) -> Self {
        ListCache::default()
    }
}

/// Never part of an instance's visible state.
impl PartialEq for ListCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for ListCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListCache")
    }
}

const KEY_SORT_FIELDS: &[&str] = &[
    "label",
    "algorithm",
    "state",
    "activation_date",
    "deactivation_date",
    "expiration_date",
    "created_at",
    "updated_at",
    "size",
    "vault.id",
    "rotated_at",
    "id",
];

impl Instance {
    /// ListManagedKeys and ListManagedKeysFromKeystore.
    pub fn list_managed_keys(&self, params: &Params, scope: KeyListScope<'_>) -> Result<Listing> {
        let page = params.page()?;
        let sort = params.sort(KEY_SORT_FIELDS, "-updated_at")?;
        let mut predicates = self.managed_key_predicates(params, scope)?;
        if let KeyListScope::Keystore(keystore_id) = scope {
            let keystore_id = keystore_id.to_owned();
            self.keystore(&keystore_id)?;
            predicates.push(Box::new(move |_, k: &ManagedKey| k.referenced_keystores.contains(&keystore_id)));
            if !params.has("state") {
                predicates
                    .push(Box::new(|_, k: &ManagedKey| matches!(k.state, KeyState::PreActivation | KeyState::Active)));
            }
        }
        // Only queries that read nothing but the keys themselves can be remembered against the keys' version.
        let remembered = (scope == KeyListScope::All
            && params.pairs().iter().all(|(name, _)| KEY_ONLY_PARAMETERS.contains(&name.as_str())))
        .then(|| {
            params.pairs().iter().filter(|(name, _)| name != "limit" && name != "offset").cloned().collect::<Vec<_>>()
        });
        if let Some(query) = &remembered {
            if let Some(listing) = self.list_cache.page(self.managed_keys.version(), query, page) {
                return Ok(listing);
            }
        }
        let matched: Vec<&ManagedKey> =
            self.managed_keys.values().filter(|k| predicates.iter().all(|p| p(self, k))).collect();
        let version = self.managed_keys.version();
        match remembered {
            // Asked before with another page: a client is walking the list, so sort it all once for the
            // next pages. A query asked once is only noted: sorting everything for it would be wasted.
            Some(query) if self.list_cache.was_asked(version, &query) => {
                let everything = Page { offset: 0, limit: usize::MAX };
                let order = finish(matched, &sort, managed_key_sort_field, |k| &k.id, everything).ids;
                Ok(self.list_cache.remember(version, query, order, page))
            }
            Some(query) => {
                self.list_cache.note(version, query);
                Ok(finish(matched, &sort, managed_key_sort_field, |k| &k.id, page))
            }
            None => Ok(finish(matched, &sort, managed_key_sort_field, |k| &k.id, page)),
        }
    }

    /// ListManagedKeyVersions: one entry per version, newest first by default. Returns version numbers.
    pub fn list_key_versions(&self, id: &str, params: &Params) -> Result<(usize, Page, Vec<u32>)> {
        let key = self.managed_key(id)?;
        let page = params.page()?;
        let states = params.enum_list("state", KeyState::parse, &KeyState::expected())?;
        let sort = params.sort(&["version", "-version", "created_at", "updated_at", "state"], "-version")?;
        let key_predicates = self.managed_key_predicates_without_state(params, KeyListScope::All)?;
        let key_matches = key_predicates.iter().all(|p| p(self, key));
        let mut versions: Vec<(u32, KeyState, i64)> = key
            .versions
            .iter()
            .map(|v| (v.version, v.state.unwrap_or(key.state), v.created_at.unix_seconds()))
            .filter(|(_, state, _)| key_matches && (states.is_empty() || states.contains(state)))
            .collect();
        versions.sort_by(|a, b| {
            for criterion in &sort {
                let ordering = match criterion.field.as_str() {
                    "state" => a.1.ordinal().cmp(&b.1.ordinal()),
                    "created_at" | "updated_at" => a.2.cmp(&b.2),
                    _ => a.0.cmp(&b.0),
                };
                let ordering = if criterion.descending { ordering.reverse() } else { ordering };
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            a.0.cmp(&b.0)
        });
        let total = versions.len();
        let numbers = versions.into_iter().skip(page.offset).take(page.limit).map(|v| v.0).collect();
        Ok((total, page, numbers))
    }

    fn managed_key_predicates<'p>(
        &self,
        params: &'p Params,
        scope: KeyListScope<'_>,
    ) -> Result<Vec<Predicate<'p, ManagedKey>>> {
        let mut predicates = self.managed_key_predicates_without_state(params, scope)?;
        let states = params.enum_list("state", KeyState::parse, &KeyState::expected())?;
        if !states.is_empty() {
            predicates.push(Box::new(move |_, k| states.contains(&k.state)));
        }
        Ok(predicates)
    }

    fn managed_key_predicates_without_state<'p>(
        &self,
        params: &'p Params,
        scope: KeyListScope<'_>,
    ) -> Result<Vec<Predicate<'p, ManagedKey>>> {
        let mut predicates: Vec<Predicate<'p, ManagedKey>> = Vec::new();
        if scope == KeyListScope::All {
            let vault_ids = params.list("vault.id");
            if !vault_ids.is_empty() {
                predicates.push(Box::new(move |_, k| vault_ids.contains(&k.vault_id)));
            }
            let systems = params.enum_list("managing_systems", ManagingSystem::parse, &ManagingSystem::expected())?;
            if !systems.is_empty() {
                predicates.push(Box::new(move |_, k| k.managing_systems.iter().any(|s| systems.contains(s))));
            }
        }
        let algorithms = params.enum_list("algorithm", Algorithm::parse, &Algorithm::expected())?;
        if !algorithms.is_empty() {
            predicates.push(Box::new(move |_, k| algorithms.contains(&k.algorithm)));
        }
        if let Some(label) = params.one("label") {
            predicates.push(Box::new(move |_, k| k.label.starts_with(label)));
        }
        date_range(params, "activation_date", |k: &ManagedKey| k.activation_date, &mut predicates)?;
        let deactivation =
            ["deactivation_date", "deactivation_date_min", "deactivation_date_max"].iter().any(|n| params.has(n));
        let expiration =
            ["expiration_date", "expiration_date_min", "expiration_date_max"].iter().any(|n| params.has(n));
        if deactivation && expiration {
            return Err(Error::invalid_parameter(
                "deactivation_date",
                "The deactivation_date parameters cannot be combined with the expiration_date parameters (they filter the same attribute)",
            ));
        }
        date_range(params, "deactivation_date", |k: &ManagedKey| k.expiration_date, &mut predicates)?;
        date_range(params, "expiration_date", |k: &ManagedKey| k.expiration_date, &mut predicates)?;
        date_range(params, "created_at", created_date::<ManagedKey>, &mut predicates)?;
        date_range(params, "updated_at", updated_date::<ManagedKey>, &mut predicates)?;
        if let Some(min) = params.date("rotated_at_min")? {
            predicates.push(Box::new(move |_, k| k.rotated_at.is_some_and(|r| r.date() >= min)));
        }
        if let Some(max) = params.date("rotated_at_max")? {
            predicates.push(Box::new(move |_, k| k.rotated_at.is_some_and(|r| r.date() <= max)));
        }
        size_range(params, "size", |k: &ManagedKey| k.size.as_str(), &mut predicates)?;
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
        if !referenced_types.is_empty() {
            predicates.push(Box::new(move |instance, k| {
                k.referenced_keystores
                    .iter()
                    .filter_map(|id| instance.keystores.get(id))
                    .any(|ks| referenced_types.contains(&ks.keystore_type))
            }));
        }
        let referenced_names = params.list("referenced_keystores[].name");
        if !referenced_names.is_empty() {
            predicates.push(Box::new(move |instance, k| {
                k.referenced_keystores
                    .iter()
                    .filter_map(|id| instance.keystores.get(id))
                    .any(|ks| referenced_names.contains(&ks.name))
            }));
        }
        if !instance_types.is_empty() {
            predicates.push(Box::new(move |_, k| {
                k.instances.iter().any(|i| instance_types.contains(&i.keystore.keystore_type))
            }));
        }
        if let Some(prefix) = params.one("template.name") {
            predicates.push(Box::new(move |instance, k| {
                instance.templates.get(&k.template_id).is_some_and(|t| t.name.starts_with(prefix))
            }));
        }
        let template_ids = params.list("template.id");
        if !template_ids.is_empty() {
            predicates.push(Box::new(move |_, k| template_ids.contains(&k.template_id)));
        }
        let template_types = params.enum_list("template.type[]", TemplateType::parse, &TemplateType::expected())?;
        if !template_types.is_empty() {
            predicates.push(Box::new(move |instance, k| {
                instance
                    .templates
                    .get(&k.template_id)
                    .is_some_and(|t| t.types.iter().any(|ty| template_types.contains(ty)))
            }));
        }
        let flags =
            params.enum_list("status_in_keystores[].keystore_sync_flag", SyncFlag::parse, &SyncFlag::expected())?;
        if !flags.is_empty() {
            predicates.push(Box::new(move |instance, k| instance.peek_sync_flags(k).iter().any(|f| flags.contains(f))));
        }
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
            predicates.push(Box::new(move |instance, k| instance.alignment_status(k) == wanted));
        }
        let material = params.list("key_material_present");
        for value in &material {
            if value != "repository" && value != "keystores" {
                return Err(Error::invalid_parameter(
                    "key_material_present",
                    format!("The key_material_present parameter must be one of repository, keystores, found '{value}'"),
                ));
            }
        }
        if !material.is_empty() {
            predicates.push(Box::new(move |instance, k| {
                let present = instance.key_material_present(k);
                material.iter().any(|m| present.contains(&m.as_str()))
            }));
        }
        Ok(predicates)
    }

    /// ListKeyTemplates.
    pub fn list_templates(&self, params: &Params) -> Result<Listing> {
        let page = params.page()?;
        let sort = params.sort(
            &["name", "created_at", "updated_at", "vault.id", "version", "state", "key.algorithm", "key.size", "id"],
            "-updated_at",
        )?;
        let mut predicates: Vec<Predicate<'_, Template>> = Vec::new();
        if let Some(prefix) = params.one("name") {
            predicates.push(Box::new(move |_, t| t.name.starts_with(prefix)));
        }
        if let Some(fragment) = params.one("naming_scheme") {
            predicates.push(Box::new(move |_, t| t.naming_scheme.as_deref().is_some_and(|s| s.contains(fragment))));
        }
        let vault_ids = params.list("vault.id");
        if !vault_ids.is_empty() {
            predicates.push(Box::new(move |_, t| vault_ids.contains(&t.vault_id)));
        }
        let algorithms = params.enum_list("key.algorithm", Algorithm::parse, &Algorithm::expected())?;
        if !algorithms.is_empty() {
            predicates.push(Box::new(move |_, t| algorithms.contains(&t.key.algorithm)));
        }
        size_range(params, "key.size", |t: &Template| t.key.size.as_str(), &mut predicates)?;
        let keystore_types = params.enum_list("keystores[].type", KeystoreType::parse, &KeystoreType::expected())?;
        if !keystore_types.is_empty() {
            predicates
                .push(Box::new(move |_, t| t.keystores.iter().any(|k| keystore_types.contains(&k.keystore_type))));
        }
        let groups = params.list("keystores[].group");
        if !groups.is_empty() {
            predicates.push(Box::new(move |_, t| t.keystores.iter().any(|k| groups.contains(&k.group))));
        }
        date_range(params, "created_at", created_date::<Template>, &mut predicates)?;
        date_range(params, "updated_at", updated_date::<Template>, &mut predicates)?;
        let types = params.enum_list("type[]", TemplateType::parse, &TemplateType::expected())?;
        if !types.is_empty() {
            predicates.push(Box::new(move |_, t| t.types.iter().any(|ty| types.contains(ty))));
        }
        let states = params.enum_list("state", TemplateState::parse, &TemplateState::expected())?;
        if !states.is_empty() {
            predicates.push(Box::new(move |_, t| states.contains(&t.state)));
        }
        let systems = params.enum_list("managing_systems", ManagingSystem::parse, &ManagingSystem::expected())?;
        if !systems.is_empty() {
            predicates.push(Box::new(move |_, t| t.managing_systems.iter().any(|s| systems.contains(s))));
        }
        let matched: Vec<&Template> =
            self.templates.values().filter(|t| predicates.iter().all(|p| p(self, t))).collect();
        Ok(finish(
            matched,
            &sort,
            |field| -> SortField<Template> {
                match field {
                    "name" => |t| text(&t.name),
                    "created_at" => |t| timestamp_value(t.created_at),
                    "updated_at" => |t| timestamp_value(t.updated_at),
                    "vault.id" => |t| text(&t.vault_id),
                    "version" => |t| SortValue::Number(t.version as i64),
                    "state" => |t| text(t.state.as_str()),
                    "key.algorithm" => |t| text(t.key.algorithm.as_str()),
                    "key.size" => |t| size_value(&t.key.size),
                    _ => |t| text(&t.id),
                }
            },
            |t| &t.id,
            page,
        ))
    }

    /// ListKeystores.
    pub fn list_keystores(&self, params: &Params) -> Result<Listing> {
        let page = params.page()?;
        let sort = params.sort(&["name", "created_at", "updated_at", "vault.id", "type", "id"], "-updated_at")?;
        let mut predicates: Vec<Predicate<'_, Keystore>> = Vec::new();
        let types = params.enum_list("type", KeystoreType::parse, &KeystoreType::expected())?;
        if !types.is_empty() {
            predicates.push(Box::new(move |_, k| types.contains(&k.keystore_type)));
        }
        if let Some(fragment) = params.one("name") {
            predicates.push(Box::new(move |_, k| k.name.contains(fragment)));
        }
        if let Some(fragment) = params.one("description") {
            predicates.push(Box::new(move |_, k| k.description.contains(fragment)));
        }
        if params.has("group") && params.has("groups[]") {
            return Err(Error::invalid_parameter("group", "The group parameter cannot be combined with groups[]"));
        }
        let mut groups = params.list("groups[]");
        if let Some(group) = params.one("group") {
            groups.push(group.to_owned());
        }
        if !groups.is_empty() {
            predicates.push(Box::new(move |_, k| k.groups.iter().any(|g| groups.contains(g))));
        }
        let vault_ids = params.list("vault.id");
        if !vault_ids.is_empty() {
            predicates.push(Box::new(move |_, k| vault_ids.contains(&k.vault_id)));
        }
        let locations = params.list("location");
        if !locations.is_empty() {
            predicates.push(Box::new(move |_, k| locations.contains(&k.location)));
        }
        let health = params.enum_list("status.health_status", HealthStatus::parse, &HealthStatus::expected())?;
        if !health.is_empty() {
            predicates.push(Box::new(move |instance, k| health.contains(&instance.peek_health(k))));
        }
        let matched: Vec<&Keystore> =
            self.keystores.values().filter(|k| predicates.iter().all(|p| p(self, k))).collect();
        Ok(finish(
            matched,
            &sort,
            |field| -> SortField<Keystore> {
                match field {
                    "name" => |k| text(&k.name),
                    "created_at" => |k| timestamp_value(k.created_at),
                    "updated_at" => |k| timestamp_value(k.updated_at),
                    "vault.id" => |k| text(&k.vault_id),
                    "type" => |k| text(k.keystore_type.as_str()),
                    _ => |k| text(&k.id),
                }
            },
            |k| &k.id,
            page,
        ))
    }

    /// ListVaults.
    pub fn list_vaults(&self, params: &Params) -> Result<Listing> {
        let page = params.page()?;
        let sort = params.sort(&["name", "created_at", "updated_at", "id"], "-updated_at")?;
        let name = params.one("name");
        let description = params.one("description");
        let matched: Vec<&Vault> = self
            .vaults
            .values()
            .filter(|v| name.is_none_or(|n| v.name.starts_with(n)))
            .filter(|v| description.is_none_or(|d| v.description.contains(d)))
            .collect();
        Ok(finish(
            matched,
            &sort,
            |field| -> SortField<Vault> {
                match field {
                    "name" => |v| text(&v.name),
                    "created_at" => |v| timestamp_value(v.created_at),
                    "updated_at" => |v| timestamp_value(v.updated_at),
                    _ => |v| text(&v.id),
                }
            },
            |v| &v.id,
            page,
        ))
    }

    /// ListAssociatedResourcesForManagedKey / ForTargetKeystore. Returns indexes into
    /// `associated_resources`.
    pub fn list_associated_resources(
        &self,
        params: &Params,
        key_id: Option<&str>,
        keystore_id: Option<&str>,
    ) -> Result<(usize, Page, Vec<usize>)> {
        if let Some(id) = key_id {
            self.managed_key(id)?;
        }
        if let Some(id) = keystore_id {
            self.keystore(id)?;
        }
        let page = params.page()?;
        let sort = params.sort(&["name", "id", "type"], "name")?;
        let mut matched: Vec<(usize, &super::model::AssociatedResource)> = self
            .associated_resources
            .iter()
            .enumerate()
            .filter(|(_, r)| key_id.is_none_or(|id| r.managed_key_id == id))
            .filter(|(_, r)| keystore_id.is_none_or(|id| r.keystore_id == id))
            .collect();
        matched.sort_by(|(_, a), (_, b)| {
            for criterion in &sort {
                let ordering = match criterion.field.as_str() {
                    "id" => a.id.cmp(&b.id),
                    "type" => a.resource_type.cmp(&b.resource_type),
                    _ => a.name.cmp(&b.name),
                };
                let ordering = if criterion.descending { ordering.reverse() } else { ordering };
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            a.id.cmp(&b.id)
        });
        let total = matched.len();
        let indexes = matched.into_iter().skip(page.offset).take(page.limit).map(|(i, _)| i).collect();
        Ok((total, page, indexes))
    }
}

fn managed_key_sort_field(field: &str) -> SortField<ManagedKey> {
    match field {
        "label" => |k| text(&k.label),
        "algorithm" => |k| text(k.algorithm.as_str()),
        "state" => |k| SortValue::Number(k.state.ordinal() as i64),
        "activation_date" => |k| date_value(k.activation_date),
        "deactivation_date" | "expiration_date" => |k| date_value(k.expiration_date),
        "created_at" => |k| timestamp_value(k.created_at),
        "updated_at" => |k| timestamp_value(k.updated_at),
        "rotated_at" => |k| k.rotated_at.map(timestamp_value).unwrap_or(SortValue::Missing),
        "size" => |k| size_value(&k.size),
        "vault.id" => |k| text(&k.vault_id),
        _ => |k| text(&k.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A record with one field of each sort-value kind.
    #[derive(Debug)]
    struct Row {
        id: String,
        text: String,
        number: Option<i64>,
    }

    fn field(name: &str) -> SortField<Row> {
        match name {
            "text" => |r| text(&r.text),
            "number" => |r| r.number.map(SortValue::Number).unwrap_or(SortValue::Missing),
            _ => |r| text(&r.id),
        }
    }

    /// A change to the keys between two lists.
    #[derive(Clone, Debug)]
    enum Change {
        Relabel(usize, String),
        Deactivate(usize),
        Remove(usize),
        Copy(usize),
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            (any::<usize>(), "[a-c]{1,3}").prop_map(|(at, label)| Change::Relabel(at, label)),
            any::<usize>().prop_map(Change::Deactivate),
            any::<usize>().prop_map(Change::Remove),
            any::<usize>().prop_map(Change::Copy),
        ]
    }

    fn apply(instance: &mut Instance, change: &Change, serial: usize) {
        let (Change::Relabel(at, _) | Change::Deactivate(at) | Change::Remove(at) | Change::Copy(at)) = change;
        let Some(pick) = instance.managed_keys.keys().nth(at % instance.managed_keys.len().max(1)).cloned() else {
            return;
        };
        match change {
            Change::Relabel(_, label) => instance.managed_keys.get_mut(&pick).unwrap().label = label.clone(),
            Change::Deactivate(_) => instance.managed_keys.get_mut(&pick).unwrap().state = KeyState::Deactivated,
            Change::Remove(_) => {
                instance.managed_keys.remove(&pick);
            }
            Change::Copy(_) => {
                let mut copy = (*instance.managed_keys[&pick]).clone();
                copy.id = format!("copy-{serial:04}");
                instance.managed_keys.insert(copy.id.clone(), copy);
            }
        }
    }

    proptest! {
        /// Pages served from the remembered order of a list are the pages a fresh computation gives, however
        /// the keys changed between the requests.
        #[test]
        fn remembered_list_orders_never_outlive_a_change_of_the_keys(
            steps in prop::collection::vec(
                (prop::option::of(change()), 0usize..3, 1usize..4, 0usize..12),
                1..40,
            ),
        ) {
            let queries: [&[(&str, &str)]; 3] = [
                &[("sort", "label,-created_at")],
                &[("state", "active,deactivated"), ("sort", "-label")],
                &[("label", "b"), ("sort", "state,label")],
            ];
            let mut instance = crate::fixture::Fixture::default_fixture().unwrap().into_instance("default", None).unwrap();
            for (serial, (change, query, limit, offset)) in steps.into_iter().enumerate() {
                if let Some(change) = change {
                    apply(&mut instance, &change, serial);
                }
                let mut pairs: Vec<(String, String)> =
                    queries[query].iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
                pairs.push(("limit".to_owned(), limit.to_string()));
                pairs.push(("offset".to_owned(), offset.to_string()));
                let params = Params::new(pairs);
                let served = instance.list_managed_keys(&params, KeyListScope::All).unwrap();
                let fresh = instance.clone().list_managed_keys(&params, KeyListScope::All).unwrap();
                prop_assert_eq!(served, fresh);
            }
        }
    }

    /// Texts that tie on their first 30 bytes (the folded head), reach just past it, differ only by
    /// trailing NULs, or are empty.
    fn sort_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ab]{0,3}".prop_map(|tail| format!("a-prefix-shared-by-more-than-the-head-{tail}")),
            "[ab]{0,3}".prop_map(|tail| format!("the-head-is-30-bytes-long-{tail}")),
            "[ab\u{0}]{0,18}",
            "a[\u{0}]{0,2}",
            Just(String::new()),
            "\\PC{0,40}",
        ]
    }

    proptest! {
        /// The page chosen by selection and compared through inline heads is the page a plain full sort
        /// of the values (ties by id) gives.
        #[test]
        fn a_page_is_the_slice_of_the_fully_sorted_records(
            rows in prop::collection::vec((sort_text(), prop::option::of(-3i64..3)), 0..60),
            criteria in prop::collection::vec((prop::sample::select(vec!["text", "number", "id"]), any::<bool>()), 1..3),
            limit in 1usize..15,
            offset in 0usize..70,
        ) {
            let records: Vec<Row> = rows
                .into_iter()
                .enumerate()
                .map(|(index, (text, number))| Row { id: format!("id-{index:04}"), text, number })
                .collect();
            let sort: Vec<SortKey> =
                criteria.iter().map(|(name, descending)| SortKey { field: (*name).to_owned(), descending: *descending }).collect();
            let listing = finish(records.iter().collect(), &sort, field, |r| &r.id, Page { limit, offset });

            let mut expected: Vec<&Row> = records.iter().collect();
            expected.sort_by(|a, b| {
                for key in &sort {
                    let read = field(&key.field);
                    let ordering = read(a).cmp(&read(b));
                    let ordering = if key.descending { ordering.reverse() } else { ordering };
                    if ordering != Ordering::Equal {
                        return ordering;
                    }
                }
                a.id.cmp(&b.id)
            });
            let expected: Vec<String> = expected.iter().skip(offset).take(limit).map(|r| r.id.clone()).collect();
            prop_assert_eq!(listing.total_count, records.len());
            prop_assert_eq!(listing.ids, expected);
        }
    }
}
