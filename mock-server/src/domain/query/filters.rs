//! The predicates a typed query's filters become: one boxed test per filter that was given, AND-ed by
//! the list that applies them.

use time::Date;

use super::{DateRange, KeyFilters, SizeRange};
use crate::domain::model::{ManagedKey, Template};
use crate::domain::{Instance, Timestamp};

/// One filter over records of type `T`, reading the instance for filters that look beyond the record.
pub(super) type Predicate<'p, T> = Box<dyn Fn(&Instance, &T) -> bool + 'p>;

/// Adds the exact / `_min` / `_max` predicates of one date attribute.
pub(super) fn date_range<'p, T: 'p>(
    range: &DateRange,
    extract: fn(&T) -> Option<Date>,
    predicates: &mut Vec<Predicate<'p, T>>,
) {
    if let Some(exact) = range.exact {
        predicates.push(Box::new(move |_, r| extract(r) == Some(exact)));
    }
    if let Some(min) = range.min {
        predicates.push(Box::new(move |_, r| extract(r).is_some_and(|d| d >= min)));
    }
    if let Some(max) = range.max {
        predicates.push(Box::new(move |_, r| extract(r).is_some_and(|d| d <= max)));
    }
}

/// Adds the size predicates: exact as text, `_min` / `_max` numeric (sizes that are not numbers never
/// fall in a range).
pub(super) fn size_range<'p, T: 'p>(
    range: &'p SizeRange,
    extract: fn(&T) -> &str,
    predicates: &mut Vec<Predicate<'p, T>>,
) {
    if let Some(exact) = &range.exact {
        predicates.push(Box::new(move |_, r| extract(r) == exact.as_str()));
    }
    if let Some(min) = range.min {
        predicates.push(Box::new(move |_, r| extract(r).parse::<i64>().is_ok_and(|s| s >= min)));
    }
    if let Some(max) = range.max {
        predicates.push(Box::new(move |_, r| extract(r).parse::<i64>().is_ok_and(|s| s <= max)));
    }
}

pub(super) fn created_date<T: HasTimes>(record: &T) -> Option<Date> {
    Some(record.times().0.date())
}

pub(super) fn updated_date<T: HasTimes>(record: &T) -> Option<Date> {
    Some(record.times().1.date())
}

/// Records with `created_at`/`updated_at`.
pub(super) trait HasTimes {
    fn times(&self) -> (Timestamp, Timestamp);
}

impl HasTimes for ManagedKey {
    fn times(&self) -> (Timestamp, Timestamp) {
        (self.created_at, self.updated_at)
    }
}

impl HasTimes for Template {
    fn times(&self) -> (Timestamp, Timestamp) {
        (self.created_at, self.updated_at)
    }
}

/// The predicates of a managed-key query's filters (the scope's own restrictions are added by the list).
pub(super) fn key_predicates(filters: &KeyFilters) -> Vec<Predicate<'_, ManagedKey>> {
    let mut predicates: Vec<Predicate<'_, ManagedKey>> = Vec::new();
    if let Some(states) = filters.states.as_ref().filter(|states| !states.is_empty()) {
        predicates.push(Box::new(move |_, k| states.contains(&k.state)));
    }
    if !filters.vault_ids.is_empty() {
        predicates.push(Box::new(|_, k| filters.vault_ids.contains(&k.vault_id)));
    }
    if !filters.managing_systems.is_empty() {
        predicates.push(Box::new(|_, k| k.managing_systems.iter().any(|s| filters.managing_systems.contains(s))));
    }
    if !filters.algorithms.is_empty() {
        predicates.push(Box::new(|_, k| filters.algorithms.contains(&k.algorithm)));
    }
    if let Some(label) = &filters.label {
        predicates.push(Box::new(move |_, k| k.label.starts_with(label.as_str())));
    }
    date_range(&filters.activation_date, |k: &ManagedKey| k.activation_date, &mut predicates);
    date_range(&filters.deactivation_date, |k: &ManagedKey| k.expiration_date, &mut predicates);
    date_range(&filters.expiration_date, |k: &ManagedKey| k.expiration_date, &mut predicates);
    date_range(&filters.created_at, created_date::<ManagedKey>, &mut predicates);
    date_range(&filters.updated_at, updated_date::<ManagedKey>, &mut predicates);
    date_range(&filters.rotated_at, |k: &ManagedKey| k.rotated_at.map(|r| r.date()), &mut predicates);
    size_range(&filters.size, |k: &ManagedKey| k.size.as_str(), &mut predicates);
    if !filters.referenced_keystore_types.is_empty() {
        predicates.push(Box::new(|instance, k| {
            k.referenced_keystores
                .iter()
                .filter_map(|id| instance.keystores.get(id))
                .any(|ks| filters.referenced_keystore_types.contains(&ks.keystore_type))
        }));
    }
    if !filters.referenced_keystore_names.is_empty() {
        predicates.push(Box::new(|instance, k| {
            k.referenced_keystores
                .iter()
                .filter_map(|id| instance.keystores.get(id))
                .any(|ks| filters.referenced_keystore_names.contains(&ks.name))
        }));
    }
    if !filters.instance_keystore_types.is_empty() {
        predicates.push(Box::new(|_, k| {
            k.instances.iter().any(|i| filters.instance_keystore_types.contains(&i.keystore.keystore_type))
        }));
    }
    if let Some(prefix) = &filters.template_name {
        predicates.push(Box::new(move |instance, k| {
            instance.templates.get(&k.template_id).is_some_and(|t| t.name.starts_with(prefix.as_str()))
        }));
    }
    if !filters.template_ids.is_empty() {
        predicates.push(Box::new(|_, k| filters.template_ids.contains(&k.template_id)));
    }
    if !filters.template_types.is_empty() {
        predicates.push(Box::new(|instance, k| {
            instance
                .templates
                .get(&k.template_id)
                .is_some_and(|t| t.types.iter().any(|ty| filters.template_types.contains(ty)))
        }));
    }
    if !filters.sync_flags.is_empty() {
        predicates
            .push(Box::new(|instance, k| instance.peek_sync_flags(k).iter().any(|f| filters.sync_flags.contains(f))));
    }
    if let Some(wanted) = filters.alignment {
        predicates.push(Box::new(move |instance, k| instance.alignment_status(k) == wanted));
    }
    if !filters.key_material.is_empty() {
        predicates.push(Box::new(|instance, k| {
            let present = instance.key_material_present(k);
            filters.key_material.iter().any(|m| present.contains(&m.as_str()))
        }));
    }
    predicates
}
