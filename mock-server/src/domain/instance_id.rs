//! [`InstanceId`]: the name of one mock UKO instance, the key of the store on both surfaces. Pure (no HTTP),
//! so the store, its state file and the web shell all validate it the same way.

use std::sync::{Arc, OnceLock};

/// The id of the instance served under the plain `/api/v4` prefix.
pub const DEFAULT_INSTANCE: &str = "default";

/// The id of an instance: 1 to 64 characters from `A-Z a-z 0-9 - _ .`, not starting with a dot, so that it
/// is safe in a URL path and in a file name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId(Arc<str>);

impl InstanceId {
    /// The id, if the text is a valid one.
    pub fn parse(text: &str) -> Option<InstanceId> {
        let valid = (1..=64).contains(&text.len())
            && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && !text.starts_with('.');
        valid.then(|| InstanceId(Arc::from(text)))
    }

    /// The instance served under the plain `/api/v4` prefix.
    pub fn default_instance() -> InstanceId {
        // Shared, so the plain `/api/v4` surface does not allocate its instance id per request.
        static DEFAULT: OnceLock<InstanceId> = OnceLock::new();
        DEFAULT.get_or_init(|| InstanceId(Arc::from(DEFAULT_INSTANCE))).clone()
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for InstanceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
