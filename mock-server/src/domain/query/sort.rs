//! Sorting and paging of the records that passed a list's filters: sort values are folded once per record
//! into 32-byte integer keys, and only the requested page is selected and sorted.

use std::cmp::Ordering;

use time::Date;

use super::{Listing, Page, SortKey};

/// A comparable value of a sort field, borrowed from the record (sorting 20,000 keys must not allocate
/// per comparison).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum SortValue<'a> {
    Missing,
    Number(i64),
    Text(&'a str),
}

/// Reads one sort field of a record; chosen once per sort criterion, not per record.
pub(super) type SortField<T> = for<'a> fn(&'a T) -> SortValue<'a>;

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
pub(super) fn finish<T, F: Copy>(
    matched: Vec<&T>,
    sort: &[SortKey<F>],
    field: impl Fn(F) -> SortField<T>,
    id: impl Fn(&T) -> &str,
    page: Page,
) -> Listing {
    debug_assert!(matched.windows(2).all(|pair| id(pair[0]) < id(pair[1])), "records must come in id order");
    let total_count = matched.len();
    let readers: Vec<(SortField<T>, bool)> = sort.iter().map(|key| (field(key.field), key.descending)).collect();
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

pub(super) fn text(value: &str) -> SortValue<'_> {
    SortValue::Text(value)
}

pub(super) fn timestamp_value(value: crate::domain::Timestamp) -> SortValue<'static> {
    SortValue::Number(value.unix_seconds())
}

pub(super) fn date_value(value: Option<Date>) -> SortValue<'static> {
    value.map(|d| SortValue::Number(d.to_julian_day() as i64)).unwrap_or(SortValue::Missing)
}

pub(super) fn size_value(size: &str) -> SortValue<'_> {
    size.parse::<i64>().map(SortValue::Number).unwrap_or(SortValue::Text(size))
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
            let sort: Vec<SortKey<&str>> =
                criteria.iter().map(|(name, descending)| SortKey { field: *name, descending: *descending }).collect();
            let listing = finish(records.iter().collect(), &sort, field, |r| &r.id, Page { limit, offset });

            let mut expected: Vec<&Row> = records.iter().collect();
            expected.sort_by(|a, b| {
                for key in &sort {
                    let read = field(key.field);
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
