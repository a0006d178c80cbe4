//! Naming schemes (`uko-semantics.md` §5.2): `A-<APP>-AES256-<ENV>` with custom and system placeholders.
//!
//! How placeholder values reach the API is not established; the mock's choice (ARCHITECTURE.md,
//! Decisions): the client sends the full `label`, which must match the scheme; the placeholder values
//! become the key's `label_tags`, and system placeholders must equal their computed values.

use time::Date;

use super::error::{Error, Result};
use super::model::Tag;

/// A parsed scheme: literal text and placeholders, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamingScheme {
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Placeholder(String),
}

const RESERVED: &[&str] = &[
    "SEQUENCENUMBER",
    "seqno",
    "sqn",
    "sequenceNumber",
    "SEQNO",
    "SQN",
    "hierarchy",
    "h",
    "hier",
    "keyType",
    "kt",
    "institutionId",
    "iid",
];

const SYSTEM: &[&str] = &[
    "lastActiveYear",
    "lay",
    "lastActiveYear/yyyy",
    "lay/yyyy",
    "lastActiveYear/4",
    "lay/4",
    "lastActiveYear/yy",
    "lay/2",
    "lastActiveYear/2",
    "lay/yy",
    "lastActiveMonth",
    "lam",
    "yy",
    "yyyy",
    "mm",
];

impl NamingScheme {
    /// Parses and validates a scheme; `field` names it in errors.
    pub fn parse(field: &str, text: &str) -> Result<NamingScheme> {
        let mut segments = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match rest.find('<') {
                Some(0) => {
                    let end = rest.find('>').ok_or_else(|| {
                        Error::invalid_field(
                            field,
                            format!("The {field} field has a '<' without a closing '>' in '{text}'"),
                        )
                    })?;
                    let name = &rest[1..end];
                    check_placeholder(field, name)?;
                    segments.push(Segment::Placeholder(name.to_owned()));
                    rest = &rest[end + 1..];
                }
                Some(start) => {
                    segments.push(Segment::Literal(rest[..start].to_owned()));
                    rest = &rest[start..];
                }
                None => {
                    segments.push(Segment::Literal(rest.to_owned()));
                    rest = "";
                }
            }
        }
        if segments.iter().any(|s| matches!(s, Segment::Literal(l) if l.contains('>'))) {
            return Err(Error::invalid_field(
                field,
                format!("The {field} field has a '>' without an opening '<' in '{text}'"),
            ));
        }
        Ok(NamingScheme { segments })
    }

    /// True when the scheme uses a system placeholder (such keys are not rotatable).
    pub fn has_system_placeholder(&self) -> bool {
        self.segments.iter().any(|s| matches!(s, Segment::Placeholder(p) if SYSTEM.contains(&p.as_str())))
    }

    /// Matches `label` against the scheme and returns one tag per placeholder. System placeholders must
    /// equal their values computed from the creation and expiration dates.
    pub fn match_label(&self, label: &str, created: Date, expiration: Option<Date>) -> Result<Vec<Tag>> {
        let mut values = Vec::new();
        if !match_segments(&self.segments, label, &mut values) {
            return Err(Error::invalid_field(
                "label",
                format!("The label '{label}' does not follow the template's naming scheme '{}'", self.render()),
            ));
        }
        let tags: Vec<Tag> = self
            .segments
            .iter()
            .filter_map(|s| match s {
                Segment::Placeholder(name) => Some(name.clone()),
                Segment::Literal(_) => None,
            })
            .zip(values)
            .map(|(name, value)| Tag { name, value })
            .collect();
        for tag in &tags {
            if let Some(expected) = system_value(&tag.name, created, expiration) {
                if tag.value != expected {
                    return Err(Error::invalid_field(
                        "label",
                        format!(
                            "The placeholder <{}> of the naming scheme must be '{expected}', found '{}'",
                            tag.name, tag.value
                        ),
                    ));
                }
            }
        }
        Ok(tags)
    }

    fn render(&self) -> String {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(text) => text.clone(),
                Segment::Placeholder(name) => format!("<{name}>"),
            })
            .collect()
    }
}

fn check_placeholder(field: &str, name: &str) -> Result<()> {
    if RESERVED.contains(&name) {
        return Err(Error::invalid_field(
            field,
            format!("The placeholder <{name}> is reserved and cannot be used in {field}"),
        ));
    }
    if SYSTEM.contains(&name) {
        return Ok(());
    }
    let valid = (1..=20).contains(&name.chars().count()) && name.chars().all(|c| c.is_ascii_alphanumeric());
    if !valid {
        return Err(Error::invalid_field(
            field,
            format!("The placeholder <{name}> in {field} must be 1 to 20 letters or digits"),
        ));
    }
    Ok(())
}

/// Backtracking match; each placeholder takes at least one character.
fn match_segments(segments: &[Segment], text: &str, values: &mut Vec<String>) -> bool {
    match segments.split_first() {
        None => text.is_empty(),
        Some((Segment::Literal(literal), rest)) => {
            text.strip_prefix(literal.as_str()).is_some_and(|remaining| match_segments(rest, remaining, values))
        }
        Some((Segment::Placeholder(_), rest)) => {
            for (index, _) in text.char_indices().skip(1).chain(std::iter::once((text.len(), ' '))) {
                if index == 0 {
                    continue;
                }
                values.push(text[..index].to_owned());
                if match_segments(rest, &text[index..], values) {
                    return true;
                }
                values.pop();
            }
            false
        }
    }
}

fn system_value(name: &str, created: Date, expiration: Option<Date>) -> Option<String> {
    let last = expiration.unwrap_or(created);
    Some(match name {
        "lastActiveYear" | "lay" | "lastActiveYear/yyyy" | "lay/yyyy" | "lastActiveYear/4" | "lay/4" => {
            format!("{:04}", last.year())
        }
        "lastActiveYear/yy" | "lay/2" | "lastActiveYear/2" | "lay/yy" => {
            format!("{:02}", last.year().rem_euclid(100))
        }
        "lastActiveMonth" | "lam" => format!("{:02}", last.month() as u8),
        "yyyy" => format!("{:04}", created.year()),
        "yy" => format!("{:02}", created.year().rem_euclid(100)),
        "mm" => format!("{:02}", created.month() as u8),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::parse_date;

    #[test]
    fn label_tags_come_from_the_scheme() {
        let scheme = NamingScheme::parse("naming_scheme", "<APP>-<ENV>-<lay>").unwrap();
        let created = parse_date("2023-06-05").unwrap();
        let expiration = parse_date("2029-09-25");
        let tags = scheme.match_label("AWS-production-2029", created, expiration).unwrap();
        let pairs: Vec<_> = tags.iter().map(|t| (t.name.as_str(), t.value.as_str())).collect();
        assert_eq!(pairs, [("APP", "AWS"), ("ENV", "production"), ("lay", "2029")]);
        assert!(scheme.has_system_placeholder());
        assert!(scheme.match_label("AWS-production-2030", created, expiration).is_err());
        assert!(scheme.match_label("nodash", created, expiration).is_err());
    }

    #[test]
    fn reserved_and_malformed_placeholders_are_refused() {
        assert!(NamingScheme::parse("naming_scheme", "A-<seqno>").is_err());
        assert!(NamingScheme::parse("naming_scheme", "A-<APP").is_err());
        assert!(NamingScheme::parse("naming_scheme", "A->").is_err());
        assert!(NamingScheme::parse("naming_scheme", "A-<>").is_err());
    }
}
