//! What the mock accepts without knowing it, said once: request body fields and query parameters that no
//! operation reads are ignored, as the reference says UKO does (`uko-models.md`: IBM's 2024 CLI sends extra
//! fields), and logged at `warn` once per name per process, so a typo (`descripton`) is heard without
//! flooding the log of a client that always sends it.
//!
//! Body fields are found by asking the body type for its field names ([`struct_fields`]): the top level of
//! a plain struct body. Bodies that are enums (keystore variants) or flatten other structs name no fields
//! and are not checked.

use std::collections::HashSet;
use std::sync::Mutex;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// Names already warned about, with their kind; bounded so invented names cannot grow memory.
static WARNED: Mutex<Option<HashSet<(Kind, String)>>> = Mutex::new(None);

/// Most names remembered; past it new names are no longer warned about.
const MAX_WARNED: usize = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    QueryParameter,
    BodyField,
}

/// Warns once per name about query parameters the operation did not read.
pub(crate) fn warn_unknown_query_parameters<'a>(names: impl Iterator<Item = &'a str>) {
    for name in names {
        if first_time(Kind::QueryParameter, name) {
            tracing::warn!(
                parameter = %name,
                "ignored a query parameter this operation does not know (as UKO does); logged once per name"
            );
        }
    }
}

/// The top-level fields of a JSON object body that `T` does not declare (none when `T` names no fields).
pub(crate) fn unknown_body_fields<'v, 'de, T: Deserialize<'de>>(body: &'v serde_json::Value) -> Vec<&'v str> {
    let (Some(object), Some(known)) = (body.as_object(), struct_fields::<T>()) else { return Vec::new() };
    object.keys().map(String::as_str).filter(|name| !known.contains(name)).collect()
}

/// Warns once per name about ignored body fields.
pub(crate) fn warn_unknown_body_fields(names: &[String]) {
    for name in names {
        if first_time(Kind::BodyField, name) {
            tracing::warn!(
                field = %name,
                "ignored a request body field this operation does not know (as UKO does); logged once per name"
            );
        }
    }
}

fn first_time(kind: Kind, name: &str) -> bool {
    let Ok(mut warned) = WARNED.lock() else { return false };
    let warned = warned.get_or_insert_with(HashSet::new);
    if warned.len() >= MAX_WARNED || warned.contains(&(kind, name.to_owned())) {
        return false;
    }
    // Names are cut so a hostile one cannot fill the log line.
    warned.insert((kind, name.chars().take(128).collect()));
    true
}

/// The field names a derived `Deserialize` struct declares, or `None` for anything else (enums, maps,
/// flattened structs). Asks `T` to deserialize from a [`FieldProbe`], which records the names serde passes
/// to `deserialize_struct` and then refuses.
pub(crate) fn struct_fields<'de, T: Deserialize<'de>>() -> Option<&'static [&'static str]> {
    let mut fields = None;
    let _ = T::deserialize(FieldProbe { fields: &mut fields });
    fields
}

struct FieldProbe<'a> {
    fields: &'a mut Option<&'static [&'static str]>,
}

#[derive(Debug)]
struct Probed;

impl std::fmt::Display for Probed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names probed")
    }
}

impl std::error::Error for Probed {}

impl de::Error for Probed {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Probed
    }
}

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = Probed;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Probed> {
        Err(Probed)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Probed> {
        *self.fields = Some(fields);
        Err(Probed)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::struct_fields;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)] // Only its field names are read.
    struct Body {
        label: String,
        #[serde(rename = "description")]
        text: Option<String>,
    }

    #[test]
    fn a_struct_names_its_wire_fields_and_a_map_names_none() {
        assert_eq!(struct_fields::<Body>(), Some(&["label", "description"][..]));
        assert_eq!(struct_fields::<std::collections::HashMap<String, String>>(), None);
    }
}
