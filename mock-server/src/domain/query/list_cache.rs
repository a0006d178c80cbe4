//! The remembered order of the managed-key list being paged through: a client walking 20,000 keys 100 at
//! a time asks the same query 200 times, and the keys rarely change meanwhile.

use super::{KeyFilters, KeyQuery, KeySortField, Listing, Page, SortKey};

/// A managed-key query without its page: what decides a list's full order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct OrderedQuery {
    filters: KeyFilters,
    sort: Vec<SortKey<KeySortField>>,
}

impl OrderedQuery {
    /// The order of this query, if it can be remembered against the keys' version: only queries whose
    /// filters read nothing but the keys themselves can (a keystore's reachability or the clock may
    /// change their answer while the keys do not).
    pub(super) fn of(query: &KeyQuery) -> Option<OrderedQuery> {
        query
            .filters
            .read_only_the_keys()
            .then(|| OrderedQuery { filters: query.filters.clone(), sort: query.sort.clone() })
    }
}

/// The last managed-key query asked, and its full order once it was asked a second time, for its next
/// pages: a client walking 20,000 keys 100 at a time asks the same query 200 times, and the keys rarely
/// change meanwhile. Valid only for the keys' version it was computed on ([`super::key_table::KeyTable`]).
#[derive(Default)]
pub struct ListCache(std::sync::Mutex<Option<RememberedQuery>>);

struct RememberedQuery {
    keys_version: u64,
    /// The query without its page.
    query: OrderedQuery,
    /// Every matching id, in the query's order; `None` while the query was asked only once.
    ids: Option<Vec<String>>,
}

impl ListCache {
    /// The page of a remembered order, if this query's order was remembered for this version of the keys.
    pub(super) fn page(&self, keys_version: u64, query: &OrderedQuery, page: Page) -> Option<Listing> {
        let remembered = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let ids = remembered.as_ref().filter(|r| r.keys_version == keys_version && &r.query == query)?.ids.as_ref()?;
        let page_ids = ids.iter().skip(page.offset).take(page.limit).cloned().collect();
        Some(Listing { total_count: ids.len(), page, ids: page_ids })
    }

    /// Whether this query was the last one asked, on this version of the keys.
    pub(super) fn was_asked(&self, keys_version: u64, query: &OrderedQuery) -> bool {
        let remembered = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        remembered.as_ref().is_some_and(|r| r.keys_version == keys_version && &r.query == query)
    }

    /// Notes that this query was asked (replacing the query remembered before), without its order.
    pub(super) fn note(&self, keys_version: u64, query: OrderedQuery) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(RememberedQuery { keys_version, query, ids: None });
    }

    /// Remembers a query's full order (replacing the query remembered before) and returns its page.
    pub(super) fn remember(&self, keys_version: u64, query: OrderedQuery, ids: Vec<String>, page: Page) -> Listing {
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::domain::query::KeyListScope;
    use crate::domain::{Instance, KeyState};
    use crate::uko::query::{key_query, Params};

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
                // Parsed as the HTTP side parses them, so the test speaks the clients' wire names.
                let query = key_query(&Params::new(pairs), KeyListScope::All).unwrap();
                let served = instance.list_managed_keys(&query, KeyListScope::All).unwrap();
                let fresh = instance.clone().list_managed_keys(&query, KeyListScope::All).unwrap();
                prop_assert_eq!(served, fresh);
            }
        }
    }
}
