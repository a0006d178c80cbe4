//! The properties a verify-and-sync client must have, judged from an [`Observation`]: the server's
//! journal, the final state of the key and the client's exit.
//!
//! Each property has a stable name (used by `--property`, reports and counterexample files), a one-line
//! rule, and a check that either passes or returns a [`Violation`] whose evidence is the journal excerpt
//! that broke it. Checks never contact the server; they are pure functions of the observation.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uko_mock::domain::request_journal::JournalEntry;

use crate::clients::ClientExit;
use crate::observation::{fired_rules, Observation};
use crate::scenario::{ExpectedOutcome, ATTEMPTS_PER_STEP};

/// A rule the client under test must follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Property {
    Converges,
    HonestExit,
    ConditionalWrites,
    #[serde(rename = "fresh-etag-after-412")]
    FreshEtagAfter412,
    VerifyBeforeSync,
    BoundedRetries,
    NoCollateral,
}

/// Extra run time a fleet client gets per request of its budget (on top of [`Budget::max_duration`]).
pub const FLEET_TIME_PER_REQUEST: Duration = Duration::from_millis(50);

/// The extra time a fleet case with this request budget allows (also added to the case timeout).
pub fn fleet_extra_time(max_requests: usize) -> Duration {
    FLEET_TIME_PER_REQUEST * u32::try_from(max_requests).unwrap_or(u32::MAX)
}

/// Limits for `bounded-retries`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Most UKO requests a client may send in one case.
    pub max_requests: usize,
    /// Longest a client may run in one case.
    pub max_duration: Duration,
    /// Clock granularity allowed when checking that a request came after `Retry-After`.
    pub timing_slack: Duration,
    /// How long after a 429 a request on another connection may still have been in flight (sent before
    /// the 429 reached the client); see [`in_flight`].
    pub concurrency_margin: Duration,
}

/// The outcome of one property on one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub property: Property,
    /// Whether the case gave the property something to judge (a syncable scenario for `converges`, a
    /// 412 for `fresh-etag-after-412`, …). A property that is never exercised proves nothing.
    pub exercised: bool,
    pub violation: Option<Violation>,
}

/// A broken rule and the requests that broke it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub message: String,
    /// Journal lines around the offending requests (offending ones marked `>>`), then facts such as the
    /// final status or the client's output.
    pub evidence: Vec<String>,
}

impl Property {
    /// Every property, in report order.
    pub const ALL: [Property; 7] = [
        Property::Converges,
        Property::HonestExit,
        Property::ConditionalWrites,
        Property::FreshEtagAfter412,
        Property::VerifyBeforeSync,
        Property::BoundedRetries,
        Property::NoCollateral,
    ];

    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            Property::Converges => "converges",
            Property::HonestExit => "honest-exit",
            Property::ConditionalWrites => "conditional-writes",
            Property::FreshEtagAfter412 => "fresh-etag-after-412",
            Property::VerifyBeforeSync => "verify-before-sync",
            Property::BoundedRetries => "bounded-retries",
            Property::NoCollateral => "no-collateral",
        }
    }

    /// The rule in one line.
    pub fn rule(self) -> &'static str {
        match self {
            Property::Converges => {
                "when every fault is transient within 5 attempts per step, the client exits 0 and every keystore ends ok (fleet: every key in scope that was out of sync for the whole run ends in sync; a key skipped by paging counts)"
            }
            Property::HonestExit => {
                "exit 0 only if the key really ends in sync everywhere (fleet: every key still in scope at the end); a permanently unreachable keystore means non-zero"
            }
            Property::ConditionalWrites => {
                "every mutating request carries If-Match equal to an ETag the server issued for that resource (never missing, fabricated or *)"
            }
            Property::FreshEtagAfter412 => {
                "after a 412 the client re-reads the key before writing again and never resends the stale ETag"
            }
            Property::VerifyBeforeSync => {
                "the client reads the key's status before each sync and does not sync a key it just saw in sync (fleet: per key)"
            }
            Property::BoundedRetries => {
                "at most 60 requests and 30 s per case (fleet: scaled with keys and pages), no hang, and no request before Retry-After has elapsed after a 429, across the whole run"
            }
            Property::NoCollateral => {
                "the only write is a sync of the target key (fleet: of keys in scope): no activate, deactivate, destroy, rotate, update or delete, no other key, keystore or vault"
            }
        }
    }

    /// Parses a stable name.
    pub fn parse(name: &str) -> Option<Property> {
        Property::ALL.into_iter().find(|property| property.name() == name)
    }
}

impl std::fmt::Display for Property {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_requests: 60,
            max_duration: Duration::from_secs(30),
            timing_slack: Duration::from_millis(10),
            concurrency_margin: Duration::from_millis(500),
        }
    }
}

impl Verdict {
    /// True when the property held.
    pub fn passed(&self) -> bool {
        self.violation.is_none()
    }
}

/// Judges `observation` against each of `properties`.
pub fn judge(observation: &Observation, properties: &[Property], budget: &Budget) -> Vec<Verdict> {
    properties.iter().map(|property| check(*property, observation, budget)).collect()
}

/// Judges one property.
pub fn check(property: Property, observation: &Observation, budget: &Budget) -> Verdict {
    let (exercised, violation) = match property {
        Property::Converges => converges(observation),
        Property::HonestExit => honest_exit(observation),
        Property::ConditionalWrites => conditional_writes(observation),
        Property::FreshEtagAfter412 => fresh_etag_after_412(observation),
        Property::VerifyBeforeSync => verify_before_sync(observation),
        Property::BoundedRetries => bounded_retries(observation, budget),
        Property::NoCollateral => no_collateral(observation),
    };
    Verdict { property, exercised, violation }
}

/// One journal entry as a line: `#4 +203ms POST /api/v4/… If-Match: … → 412 [fault-1-503]`.
pub fn describe_entry(entry: &JournalEntry, first_received_ms: u64) -> String {
    let mut line = format!(
        "#{} +{}ms {} {}",
        entry.seq,
        entry.received_ms.saturating_sub(first_received_ms),
        entry.method,
        entry.path
    );
    if let Some(if_match) = &entry.if_match {
        line.push_str(&format!(" If-Match: {if_match}"));
    }
    if entry.status == 0 {
        line.push_str(" → connection dropped");
    } else {
        line.push_str(&format!(" → {}", entry.status));
    }
    if let Some(etag) = &entry.etag {
        line.push_str(&format!(" ETag: {etag}"));
    }
    if let Some(fault) = &entry.fault {
        line.push_str(&format!(" [fault: {fault}]"));
    }
    if let Some(connection) = entry.connection {
        line.push_str(&format!(" (connection :{connection})"));
    }
    line
}

/// The whole journal as lines.
pub fn describe_journal(journal: &[JournalEntry]) -> Vec<String> {
    let first = journal.first().map_or(0, |entry| entry.received_ms);
    journal.iter().map(|entry| describe_entry(entry, first)).collect()
}

fn converges(observation: &Observation) -> (bool, Option<Violation>) {
    if observation.expected != ExpectedOutcome::Syncable {
        return (false, None);
    }
    let premise =
        format!("the scenario is syncable (every fault is transient within {ATTEMPTS_PER_STEP} attempts per step)");
    if let Some(fleet) = &observation.fleet {
        let left = fleet.required_not_in_sync();
        let message = match &observation.outcome.exit {
            ClientExit::Code(0) if left.is_empty() => return (true, None),
            ClientExit::Code(0) => format!(
                "{premise}, the client exited 0, but {} key(s) in scope that were out of sync for the whole run still are (skipped by paging?): {}",
                left.len(),
                left.join("; ")
            ),
            other => format!(
                "{premise} but the client did not sync the {} {}: {other}{}",
                fleet.scope.kind,
                fleet.scope.id,
                first_line(&observation.outcome.stderr)
            ),
        };
        return (true, Some(Violation { message, evidence: tail_evidence(observation) }));
    }
    let message = match &observation.outcome.exit {
        ClientExit::Code(0) if observation.final_in_sync() => return (true, None),
        ClientExit::Code(0) => format!(
            "{premise}, the client exited 0, but the key is not in sync: {}",
            observation.final_problems().join(", ")
        ),
        other => {
            format!("{premise} but the client did not sync it: {other}{}", first_line(&observation.outcome.stderr))
        }
    };
    (true, Some(Violation { message, evidence: tail_evidence(observation) }))
}

fn honest_exit(observation: &Observation) -> (bool, Option<Violation>) {
    if let Some(fleet) = &observation.fleet {
        let left = fleet.end_not_in_sync();
        if left.is_empty() || !observation.outcome.exit.claims_in_sync() {
            return (!left.is_empty(), None);
        }
        let message = format!(
            "the client exited 0 (\"every key of the {} is in sync\") but {} key(s) still in scope are not: {}",
            fleet.scope.kind,
            left.len(),
            left.join("; ")
        );
        return (true, Some(Violation { message, evidence: tail_evidence(observation) }));
    }
    let in_sync = observation.final_in_sync();
    if in_sync || !observation.outcome.exit.claims_in_sync() {
        return (!in_sync, None);
    }
    let message = format!(
        "the client exited 0 (\"in sync in every keystore\") but the key is not: {}",
        observation.final_problems().join(", ")
    );
    (true, Some(Violation { message, evidence: tail_evidence(observation) }))
}

fn conditional_writes(observation: &Observation) -> (bool, Option<Violation>) {
    let mut issued: HashMap<&str, HashSet<String>> = HashMap::new();
    let mut exercised = false;
    for entry in &observation.journal {
        if is_write(entry) {
            if let Some(resource) = entry.resource_id.as_deref() {
                exercised = true;
                let known = issued.get(resource);
                let problem = match entry.if_match.as_deref().map(normalize_etag) {
                    None => Some("without If-Match".to_owned()),
                    Some(value) if value == "*" => Some("with If-Match: * instead of the resource's ETag".to_owned()),
                    Some(value) if !known.is_some_and(|values| values.contains(&value)) => Some(format!(
                        "with If-Match: {value}, which the server never issued as an ETag of {resource} (issued before: {})",
                        known.map_or_else(|| "none".to_owned(), |values| sorted(values).join(", "))
                    )),
                    Some(_) => None,
                };
                if let Some(problem) = problem {
                    let message =
                        format!("request #{} ({} {}) was sent {problem}", entry.seq, entry.method, entry.path);
                    return (true, Some(Violation { message, evidence: excerpt(observation, &[entry.seq]) }));
                }
            }
        }
        if let (Some(resource), Some(etag)) = (entry.resource_id.as_deref(), entry.etag.as_deref()) {
            issued.entry(resource).or_default().insert(normalize_etag(etag));
        }
    }
    (exercised, None)
}

fn fresh_etag_after_412(observation: &Observation) -> (bool, Option<Violation>) {
    let journal = &observation.journal;
    let mut exercised = false;
    for (index, failed) in journal.iter().enumerate() {
        if failed.status != 412 {
            continue;
        }
        exercised = true;
        let (Some(resource), Some(stale)) = (failed.resource_id.as_deref(), failed.if_match.as_deref()) else {
            continue;
        };
        let stale = normalize_etag(stale);
        let mut reread = false;
        let mut first_write_after = true;
        for later in &journal[index + 1..] {
            if later.resource_id.as_deref() != Some(resource) {
                continue;
            }
            if later.method == "GET" && later.status == 200 && later.etag.is_some() {
                reread = true;
            }
            if !is_write(later) {
                continue;
            }
            let resent = later.if_match.as_deref().map(normalize_etag).as_deref() == Some(stale.as_str());
            let message = if resent {
                Some(format!(
                    "request #{} resent the ETag {stale} that the server had refused with 412 at #{}",
                    later.seq, failed.seq
                ))
            } else if first_write_after && !reread {
                Some(format!(
                    "request #{} wrote to {resource} again after the 412 at #{} without re-reading it first",
                    later.seq, failed.seq
                ))
            } else {
                None
            };
            if let Some(message) = message {
                return (true, Some(Violation { message, evidence: excerpt(observation, &[failed.seq, later.seq]) }));
            }
            first_write_after = false;
        }
    }
    (exercised, None)
}

fn verify_before_sync(observation: &Observation) -> (bool, Option<Violation>) {
    let known_until = observation.replay.diverged.as_ref().map_or(u64::MAX, |(seq, _)| *seq);
    let first_read_all_ok = observation.replay.reads_all_ok.values().next().copied().unwrap_or(false);
    let mut exercised = first_read_all_ok;
    // Per key: its latest successful read since its last sync, and its last sync.
    let mut latest_read: HashMap<&str, u64> = HashMap::new();
    let mut previous_sync: HashMap<&str, u64> = HashMap::new();
    for entry in &observation.journal {
        let Some(key) = entry.resource_id.as_deref() else {
            continue;
        };
        let operation = entry.operation.as_deref();
        let is_read = matches!(operation, Some("GetManagedKey" | "GetKeyDistributionStatusForKeystores"));
        if is_read && entry.status == 200 {
            latest_read.insert(key, entry.seq);
        }
        if operation != Some("SyncManagedKey") {
            continue;
        }
        exercised = true;
        let Some(read) = latest_read.get(key).copied() else {
            let since = previous_sync.get(key).map_or_else(String::new, |seq| format!(" since the sync at #{seq}"));
            let message = format!("request #{} synced key {key} without reading its status{since}", entry.seq);
            return (true, Some(Violation { message, evidence: excerpt(observation, &[entry.seq]) }));
        };
        let read_all_ok = (read < known_until).then(|| observation.replay.reads_all_ok.get(&read).copied()).flatten();
        if read_all_ok == Some(true) {
            let message = format!(
                "request #{} synced key {key} although the read at #{read} showed it in sync in every keystore",
                entry.seq
            );
            return (true, Some(Violation { message, evidence: excerpt(observation, &[read, entry.seq]) }));
        }
        if entry.status == 200 {
            // The sync changed the keystores: what was read before it no longer says anything.
            latest_read.remove(key);
            previous_sync.insert(key, entry.seq);
        }
    }
    (exercised, None)
}

fn bounded_retries(observation: &Observation, budget: &Budget) -> (bool, Option<Violation>) {
    let journal = &observation.journal;
    let outcome = &observation.outcome;
    let exercised =
        outcome.exit == ClientExit::Hung || journal.iter().any(|entry| matches!(entry.status, 0 | 429 | 500..=599));
    if outcome.exit == ClientExit::Hung {
        let message =
            format!("the client was still running after {:.1} s and was killed", outcome.duration.as_secs_f64());
        return (true, Some(Violation { message, evidence: tail_evidence(observation) }));
    }
    let (max_requests, max_duration) = match &observation.fleet {
        // A fleet client's budget scales with the keys and pages of its scope.
        Some(fleet) => (fleet.max_requests, budget.max_duration + fleet_extra_time(fleet.max_requests)),
        None => (budget.max_requests, budget.max_duration),
    };
    if journal.len() > max_requests {
        let message = format!("the client sent {} requests; the budget is {max_requests}", journal.len());
        return (true, Some(Violation { message, evidence: tail_evidence(observation) }));
    }
    if outcome.duration > max_duration {
        let message = format!(
            "the client ran {:.1} s; the budget is {:.1} s",
            outcome.duration.as_secs_f64(),
            max_duration.as_secs_f64()
        );
        return (true, Some(Violation { message, evidence: tail_evidence(observation) }));
    }
    for (index, limited) in journal.iter().enumerate() {
        if limited.status != 429 {
            continue;
        }
        let seconds = fired_rules(limited)
            .filter_map(|rule| observation.retry_after_seconds.get(rule))
            .copied()
            .max()
            .unwrap_or(1);
        let wait_ms = u64::try_from((Duration::from_secs(seconds).saturating_sub(budget.timing_slack)).as_millis())
            .unwrap_or(u64::MAX);
        let earliest = limited.received_ms.saturating_add(wait_ms);
        // Only requests the client sent after the 429 reached it are held to it (see `in_flight`).
        let early = journal[index + 1..]
            .iter()
            .find(|later| later.received_ms < earliest && !in_flight(limited, later, budget.concurrency_margin));
        if let Some(early) = early {
            let message = format!(
                "request #{} arrived {} ms after the 429 at #{}, which said Retry-After: {seconds}",
                early.seq,
                early.received_ms.saturating_sub(limited.received_ms),
                limited.seq
            );
            return (true, Some(Violation { message, evidence: excerpt(observation, &[limited.seq, early.seq]) }));
        }
    }
    (exercised, None)
}

/// Whether `later` may have been sent before the answer to `limited` (a 429) reached the client, so that
/// answer's `Retry-After` does not bind it: it arrived within `margin` of the 429 and does not repeat the
/// limited request (same method and path: a retry is always a reaction to the answer). Connections do not
/// decide it: a client's pool sends a request it queued before the 429 on the connection the 429 freed,
/// and one task of a concurrent client sends its next request before another task has read the 429.
/// Entries without a connection (journals from before it was recorded) are never in flight: the strict
/// rule for one request at a time.
pub fn in_flight(limited: &JournalEntry, later: &JournalEntry, margin: Duration) -> bool {
    let retry = later.method == limited.method && later.path == limited.path;
    let margin_ms = u64::try_from(margin.as_millis()).unwrap_or(u64::MAX);
    limited.connection.is_some()
        && later.connection.is_some()
        && !retry
        && later.received_ms <= limited.received_ms.saturating_add(margin_ms)
}

fn no_collateral(observation: &Observation) -> (bool, Option<Violation>) {
    let key_id = observation.managed_key_id.as_str();
    for entry in &observation.journal {
        if !is_write(entry) {
            continue;
        }
        let synced = entry.resource_id.as_deref().filter(|_| entry.operation.as_deref() == Some("SyncManagedKey"));
        let is_target_sync = match &observation.fleet {
            // Fleet: a sync of a key in scope before or after the run.
            Some(fleet) => synced.is_some_and(|id| fleet.allows(id)),
            None => synced == Some(key_id),
        };
        if !is_target_sync && observation.fleet.is_some() {
            let what = entry.operation.as_deref().unwrap_or("an unknown operation");
            let message = format!(
                "request #{} ({what}: {} {}) writes outside the scope: only syncs of keys in scope are allowed",
                entry.seq, entry.method, entry.path
            );
            return (true, Some(Violation { message, evidence: excerpt(observation, &[entry.seq]) }));
        }
        if !is_target_sync {
            let what = entry.operation.as_deref().unwrap_or("an unknown operation");
            let message = format!(
                "request #{} ({what}: {} {}) writes something other than the target key's sync",
                entry.seq, entry.method, entry.path
            );
            return (true, Some(Violation { message, evidence: excerpt(observation, &[entry.seq]) }));
        }
    }
    (true, None)
}

/// Any request that is not a read.
fn is_write(entry: &JournalEntry) -> bool {
    !matches!(entry.method.as_str(), "GET" | "HEAD" | "OPTIONS")
}

/// ETags compare as the server compares them: surrounding quotes and a weak `W/` prefix do not count.
fn normalize_etag(value: &str) -> String {
    let trimmed = value.trim();
    trimmed.strip_prefix("W/").unwrap_or(trimmed).trim_matches('"').to_owned()
}

fn sorted(values: &HashSet<String>) -> Vec<String> {
    let mut values: Vec<String> = values.iter().cloned().collect();
    values.sort();
    values
}

fn first_line(text: &str) -> String {
    match text.lines().find(|line| !line.trim().is_empty()) {
        Some(line) => format!(": {}", line.chars().take(300).collect::<String>()),
        None => String::new(),
    }
}

/// Up to 12 journal lines ending at the last offending request, offending ones marked `>>`.
fn excerpt(observation: &Observation, offending: &[u64]) -> Vec<String> {
    const CONTEXT: usize = 12;
    let journal = &observation.journal;
    let last = offending.iter().copied().max().unwrap_or(0);
    let end = journal.iter().position(|entry| entry.seq == last).map_or(journal.len(), |index| index + 1);
    let start = end.saturating_sub(CONTEXT);
    let first = journal.first().map_or(0, |entry| entry.received_ms);
    let mut lines = Vec::new();
    if start > 0 {
        lines.push(format!("   … {start} earlier request(s)"));
    }
    for entry in &journal[start..end] {
        let marker = if offending.contains(&entry.seq) { ">> " } else { "   " };
        lines.push(format!("{marker}{}", describe_entry(entry, first)));
    }
    lines
}

/// The end of the journal, then the final state and the client's exit.
fn tail_evidence(observation: &Observation) -> Vec<String> {
    // Without offending requests the excerpt is the last lines of the journal, unmarked.
    let mut lines = excerpt(observation, &[]);
    if lines.is_empty() {
        lines.push("   (the client sent no UKO request)".to_owned());
    }
    for entry in &observation.final_statuses {
        lines.push(format!(
            "final: '{}' {} {} ({}){}",
            entry.keystore_name,
            entry.status,
            entry.flag,
            entry.detail,
            if entry.removed { " [removed keystore]" } else { "" }
        ));
    }
    lines.push(format!(
        "client: {} after {:.2} s",
        observation.outcome.exit,
        observation.outcome.duration.as_secs_f64()
    ));
    for (stream, text) in [("stdout", &observation.outcome.stdout), ("stderr", &observation.outcome.stderr)] {
        let text = text.trim();
        if !text.is_empty() {
            let shown: String = text.chars().take(500).collect();
            lines.push(format!("client {stream}: {shown}"));
        }
    }
    lines
}
