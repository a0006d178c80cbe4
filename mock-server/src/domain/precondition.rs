//! `If-Match`: the header is read once per request into an [`IfMatch`] (the text as sent, for the journal
//! and messages, and the entity tag it names), and every conditional operation compares that tag with the
//! resource's current ETag through [`check_if_match`].

use super::clock::Timestamp;
use super::error::{Error, Result};

/// An `If-Match` value as a client sent it, parsed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfMatch {
    as_sent: String,
    tag: String,
}

impl IfMatch {
    /// Parses a header value. Surrounding white space and quotes and a weak `W/` prefix are removed from
    /// the tag, since some HTTP stacks add them; the text as sent is kept for the journal and messages.
    pub fn parse(as_sent: impl Into<String>) -> IfMatch {
        let as_sent = as_sent.into();
        let trimmed = as_sent.trim();
        let tag = trimmed.strip_prefix("W/").unwrap_or(trimmed).trim_matches('"').to_owned();
        IfMatch { as_sent, tag }
    }

    /// The header value as the client sent it.
    pub fn as_sent(&self) -> &str {
        &self.as_sent
    }

    /// The entity tag it names (`*` for any).
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

/// Checks `If-Match` against the resource's current ETag. Missing → 428-class error, different →
/// 412-class error; `*` matches any ETag when `allow_wildcard` (RFC 9110).
pub fn check_if_match(if_match: Option<&IfMatch>, updated_at: Timestamp, allow_wildcard: bool) -> Result<()> {
    let given = if_match.ok_or(Error::PreconditionRequired)?;
    let current = updated_at.etag();
    if (allow_wildcard && given.tag == "*") || given.tag == current {
        Ok(())
    } else {
        Err(Error::PreconditionFailed { given: given.as_sent.clone(), current })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_weak_prefix_and_white_space_are_not_part_of_the_tag() {
        for sent in ["2026-01-01T09:00:12Z", "\"2026-01-01T09:00:12Z\"", " W/\"2026-01-01T09:00:12Z\" "] {
            let parsed = IfMatch::parse(sent);
            assert_eq!(parsed.tag(), "2026-01-01T09:00:12Z", "{sent}");
            assert_eq!(parsed.as_sent(), sent);
        }
    }

    #[test]
    fn missing_is_required_and_stale_names_what_was_sent() {
        let now = Timestamp::parse("2026-01-01T09:00:12Z").unwrap();
        assert_eq!(check_if_match(None, now, true), Err(Error::PreconditionRequired));
        assert_eq!(check_if_match(Some(&IfMatch::parse("\"2026-01-01T09:00:12Z\"")), now, false), Ok(()));
        assert_eq!(check_if_match(Some(&IfMatch::parse("*")), now, true), Ok(()));
        assert!(check_if_match(Some(&IfMatch::parse("*")), now, false).is_err());
        let stale = check_if_match(Some(&IfMatch::parse("\"2026-01-01T09:00:11Z\"")), now, true);
        assert_eq!(
            stale,
            Err(Error::PreconditionFailed {
                given: "\"2026-01-01T09:00:11Z\"".to_owned(),
                current: "2026-01-01T09:00:12Z".to_owned()
            })
        );
    }
}
