//! Mutant clients: the reference client with one classic mistake each, and the property that must catch
//! it. They exist to prove the suite has teeth: a suite that passes a mutant is broken.
//!
//! Each mutant is [`ReferenceClient`] with one [`Flaws`] switch on, so a mutant differs from the
//! reference in exactly the decision its name says.

use super::reference::{Flaws, ReferenceClient};
use crate::properties::Property;

/// A deliberately wrong verify-and-sync client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mutant {
    OmitIfMatch,
    WildcardIfMatch,
    ResendStaleEtag,
    SyncWithoutVerifying,
    ExitZeroAfterPartialSync,
    NoBackoff,
    DeactivateReactivate,
    GiveUpOn503,
}

impl Mutant {
    /// Every mutant.
    pub const ALL: &'static [Mutant] = &[
        Mutant::OmitIfMatch,
        Mutant::WildcardIfMatch,
        Mutant::ResendStaleEtag,
        Mutant::SyncWithoutVerifying,
        Mutant::ExitZeroAfterPartialSync,
        Mutant::NoBackoff,
        Mutant::DeactivateReactivate,
        Mutant::GiveUpOn503,
    ];

    /// The name after `builtin:`.
    pub fn name(self) -> &'static str {
        match self {
            Mutant::OmitIfMatch => "omit-if-match",
            Mutant::WildcardIfMatch => "wildcard-if-match",
            Mutant::ResendStaleEtag => "resend-stale-etag",
            Mutant::SyncWithoutVerifying => "sync-without-verifying",
            Mutant::ExitZeroAfterPartialSync => "exit-0-after-partial-sync",
            Mutant::NoBackoff => "no-backoff",
            Mutant::DeactivateReactivate => "deactivate-reactivate",
            Mutant::GiveUpOn503 => "give-up-on-503",
        }
    }

    /// Parses a mutant name.
    pub fn parse(name: &str) -> Option<Mutant> {
        Mutant::ALL.iter().copied().find(|mutant| mutant.name() == name)
    }

    /// What the mutant gets wrong.
    pub fn mistake(self) -> &'static str {
        match self {
            Mutant::OmitIfMatch => "syncs without an If-Match header",
            Mutant::WildcardIfMatch => "syncs with If-Match: * instead of the key's ETag",
            Mutant::ResendStaleEtag => "after a 412, resends the sync with the same stale ETag",
            Mutant::SyncWithoutVerifying => {
                "syncs right after reading the key, without checking whether it is out of sync"
            }
            Mutant::ExitZeroAfterPartialSync => {
                "exits 0 as soon as a sync answered 200, even if a keystore stayed in error"
            }
            Mutant::NoBackoff => "retries at once: no backoff after 5xx, ignores Retry-After after 429",
            Mutant::DeactivateReactivate => "\"fixes\" an active key by deactivating and reactivating it",
            Mutant::GiveUpOn503 => "gives up on the first 503",
        }
    }

    /// The property that must catch the mutant.
    pub fn caught_by(self) -> Property {
        match self {
            Mutant::OmitIfMatch | Mutant::WildcardIfMatch => Property::ConditionalWrites,
            Mutant::ResendStaleEtag => Property::FreshEtagAfter412,
            Mutant::SyncWithoutVerifying => Property::VerifyBeforeSync,
            Mutant::ExitZeroAfterPartialSync => Property::HonestExit,
            Mutant::NoBackoff => Property::BoundedRetries,
            Mutant::DeactivateReactivate => Property::NoCollateral,
            Mutant::GiveUpOn503 => Property::Converges,
        }
    }

    /// The mutant as a runnable client.
    pub fn client(self) -> ReferenceClient {
        let mut flaws = Flaws::default();
        match self {
            Mutant::OmitIfMatch => flaws.omit_if_match = true,
            Mutant::WildcardIfMatch => flaws.wildcard_if_match = true,
            Mutant::ResendStaleEtag => flaws.resend_stale_etag = true,
            Mutant::SyncWithoutVerifying => flaws.sync_without_verifying = true,
            Mutant::ExitZeroAfterPartialSync => flaws.exit_zero_after_sync = true,
            Mutant::NoBackoff => flaws.no_backoff = true,
            Mutant::DeactivateReactivate => flaws.reactivate_instead_of_sync = true,
            Mutant::GiveUpOn503 => flaws.give_up_on_503 = true,
        }
        ReferenceClient::with_flaws(flaws)
    }
}
