//! What one case left behind, in the form the properties judge: the client's claim, the server's
//! journal, the final sync state of the key, and what each of the client's status reads showed.
//!
//! The journal records requests but not answers. To know what a status read showed (has the client
//! synced a key it had just seen in sync?), [`replay_journal`] replays the journal's successful
//! requests against a copy of the instance as it was before the client started, through the domain's
//! entry point `Instance::execute` (the command the server ran for each request): same fixture, same seed
//! and same request order give the same answers. Replay applies the
//! fault decisions the journal recorded, so it needs no fault plan of its own. Operations it does not
//! model mark the replay as diverged from that request on, and the properties then do not rely on it.
//!
//! This module contacts no keystore of the real server: final flags come from `Store::key_statuses`,
//! which counts no call.

use std::collections::BTreeMap;

use uko_mock::domain::command::{Command, Output};
use uko_mock::domain::faults::Effect;
use uko_mock::domain::managed_keys::KeyAction;
use uko_mock::domain::operation::Operation;
use uko_mock::domain::request_journal::JournalEntry;
use uko_mock::domain::simulation::StatusEntry;
use uko_mock::domain::{IfMatch, Instance, SyncFlag};
use uko_mock::store::KeyStatus;

use crate::clients::ClientOutcome;
use crate::fleet::{all_in_sync, Scope, ScopeState};
use crate::scenario::ExpectedOutcome;

/// Everything the properties look at after one case.
#[derive(Clone, Debug)]
pub struct Observation {
    pub managed_key_id: String,
    pub expected: ExpectedOutcome,
    pub outcome: ClientOutcome,
    /// Every UKO request of the run, oldest first.
    pub journal: Vec<JournalEntry>,
    /// The key's status in keystores after the run, derived without contacting keystores.
    pub final_statuses: Vec<FinalStatus>,
    /// What the client's successful reads of the key showed, by journal sequence number.
    pub replay: Replay,
    /// `Retry-After` seconds of each 429 fault rule, by rule id.
    pub retry_after_seconds: BTreeMap<String, u64>,
    /// Fleet contract: the scope and its keys before and after the run.
    pub fleet: Option<FleetObservation>,
}

/// What a fleet case's scope held before and after the client ran.
#[derive(Clone, Debug)]
pub struct FleetObservation {
    pub scope: Scope,
    /// Requests a careful client needs here.
    pub max_requests: usize,
    /// The keys in scope before the run, with their statuses.
    pub start: ScopeState,
    /// The keys in scope after the run, with their statuses.
    pub end: ScopeState,
}

impl FleetObservation {
    /// Keys in scope at the start and at the end that were not in sync at the start: the client must
    /// have synced them (nothing else does), with their final problems when they are not in sync.
    pub fn required_not_in_sync(&self) -> Vec<String> {
        self.start
            .iter()
            .filter(|(_, statuses)| !all_in_sync(statuses))
            .filter_map(|(id, _)| self.end.get(id).map(|statuses| (id, statuses)))
            .filter(|(_, statuses)| !all_in_sync(statuses))
            .map(|(id, statuses)| describe_key(id, statuses))
            .collect()
    }

    /// Keys in scope at the end that are not in sync, in words.
    pub fn end_not_in_sync(&self) -> Vec<String> {
        self.end
            .iter()
            .filter(|(_, statuses)| !all_in_sync(statuses))
            .map(|(id, statuses)| describe_key(id, statuses))
            .collect()
    }

    /// Whether a write to this key is inside the scope (in scope before or after the run).
    pub fn allows(&self, key_id: &str) -> bool {
        self.start.contains_key(key_id) || self.end.contains_key(key_id)
    }
}

fn describe_key(id: &str, statuses: &[FinalStatus]) -> String {
    let problems: Vec<String> = statuses
        .iter()
        .filter(|entry| !entry.removed && entry.flag != SyncFlag::Ok)
        .map(|entry| format!("'{}' {} {}", entry.keystore_name, entry.status, entry.flag))
        .collect();
    format!("key {id} ({})", problems.join(", "))
}

/// One keystore's entry for the key at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalStatus {
    pub keystore_name: String,
    pub status: String,
    pub flag: SyncFlag,
    pub detail: String,
    /// Keystores removed from UKO by the user do not count for "in sync".
    pub removed: bool,
}

/// The journal replayed against the instance as it was before the run.
#[derive(Clone, Debug, Default)]
pub struct Replay {
    /// For each successful GetManagedKey or GetKeyDistributionStatusForKeystores (of any key): whether
    /// every non-removed keystore showed `ok`.
    pub reads_all_ok: BTreeMap<u64, bool>,
    /// The first request the replay could not follow, and why; later reads are not known.
    pub diverged: Option<(u64, String)>,
    /// The key's final statuses in the replayed instance; equal to the server's when the replay kept up.
    pub final_statuses: Vec<FinalStatus>,
}

impl Observation {
    /// Every non-removed keystore shows `ok`.
    pub fn final_in_sync(&self) -> bool {
        self.final_statuses.iter().filter(|entry| !entry.removed).all(|entry| entry.flag == SyncFlag::Ok)
    }

    /// The final entries that are not `ok`, in words.
    pub fn final_problems(&self) -> Vec<String> {
        self.final_statuses
            .iter()
            .filter(|entry| !entry.removed && entry.flag != SyncFlag::Ok)
            .map(|entry| format!("'{}' {} {} ({})", entry.keystore_name, entry.status, entry.flag, entry.detail))
            .collect()
    }

    /// The journal entry with this sequence number.
    pub fn entry(&self, seq: u64) -> Option<&JournalEntry> {
        self.journal.iter().find(|entry| entry.seq == seq)
    }
}

impl From<KeyStatus> for FinalStatus {
    fn from(status: KeyStatus) -> Self {
        FinalStatus {
            keystore_name: status.keystore_name,
            status: status.status.to_string(),
            flag: status.sync_flag,
            detail: status.detail.to_string(),
            removed: status.removed,
        }
    }
}

/// The key's final statuses as [`KeyStatus`]es (from `Store::key_statuses` or the replayed instance);
/// none for an unknown key.
pub fn final_statuses(statuses: Option<Vec<KeyStatus>>) -> Vec<FinalStatus> {
    statuses.unwrap_or_default().into_iter().map(FinalStatus::from).collect()
}

/// `Retry-After` of every 429 rule of the instance's fault plan.
pub fn retry_after_by_rule(instance: &Instance) -> BTreeMap<String, u64> {
    instance
        .faults
        .rules
        .iter()
        .filter_map(|rule| match rule.effect {
            Effect::HttpError { status: 429, retry_after_seconds, .. } => {
                Some((rule.id.clone(), retry_after_seconds.unwrap_or(0)))
            }
            _ => None,
        })
        .collect()
}

/// Replays the journal's successful requests against `initial` (the instance before the run) and records
/// what each read of `key_id` showed.
pub fn replay_journal(initial: &Instance, journal: &[JournalEntry], key_id: &str) -> Replay {
    let mut shadow = initial.clone();
    // Other writers act after the request, on the server as here (`Instance::apply_other_writer`).
    let writers: BTreeMap<String, Effect> = initial
        .faults
        .rules
        .iter()
        .filter(|rule| {
            matches!(
                rule.effect,
                Effect::ConcurrentWriter { .. } | Effect::ConcurrentDelete { .. } | Effect::ConcurrentCreate { .. }
            )
        })
        .map(|rule| (rule.id.clone(), rule.effect.clone()))
        .collect();
    let mut replay = Replay::default();
    for entry in journal {
        // Only successful requests changed anything: errors are decided before any keystore is contacted.
        if !(200..300).contains(&entry.status) {
            continue;
        }
        let operation = entry.operation.as_deref().and_then(Operation::parse);
        let resource = entry.resource_id.clone().unwrap_or_default();
        let if_match = entry.if_match.clone().map(IfMatch::parse);
        let step = match operation.and_then(|operation| command_for(operation, &resource)) {
            Some(command) => match shadow.execute(command, if_match.as_ref()) {
                Err(error) => Err(error.to_string()),
                Ok(answer) if operation == Some(Operation::GetManagedKey) && answer.etag != entry.etag => Err(format!(
                    "the server sent ETag {:?} where the replay has {:?}",
                    entry.etag.as_deref().unwrap_or(""),
                    answer.etag.unwrap_or_default()
                )),
                Ok(answer) => {
                    // A read of the target key: note what it showed.
                    let shown = match &answer.output {
                        Output::ManagedKey(view) => Some(&view.statuses),
                        Output::StatusInKeystores(statuses) => Some(statuses),
                        _ => None,
                    };
                    // Every key's reads: a fleet client verifies each key it syncs.
                    if let Some(statuses) = shown.filter(|_| is_read(operation)) {
                        let entries: Vec<&StatusEntry> = statuses.iter().map(|status| &status.entry).collect();
                        replay.reads_all_ok.insert(entry.seq, all_ok(&shadow, &resource, &entries));
                    }
                    Ok(())
                }
            },
            None => match operation {
                Some(other) if other.mutates() => Err(format!("the replay does not model {other}")),
                // Other reads contact no keystore (lists peek) and change nothing.
                Some(_) | None => Ok(()),
            },
        };
        if let Err(reason) = step {
            replay.diverged = Some((entry.seq, reason));
            return replay;
        }
        for rule_id in fired_rules(entry) {
            if let Some(effect) = writers.get(rule_id) {
                shadow.apply_other_writer(effect);
            }
        }
    }
    replay.final_statuses = final_statuses(shadow.key_statuses(key_id));
    replay
}

/// Fills in a journal entry's `resource_id` from its path when the journal left it out.
///
/// uko-mock's journal middleware runs inside the router nested under `/api/v4`, where it sees the path
/// without that prefix, and its id extraction expects the prefix; so entries carry no `resource_id` and a
/// path like `/managed_keys/{id}/…`. Deriving the id here keeps the properties right with both forms.
pub fn complete_entry(entry: &mut JournalEntry) {
    if entry.resource_id.is_some() {
        return;
    }
    let mut path = entry.path.as_str();
    if let Some(rest) = path.strip_prefix("/instances/") {
        path = rest.find('/').map_or("", |slash| &rest[slash..]);
    }
    let path = path.strip_prefix("/api/v4").unwrap_or(path);
    let mut segments = path.trim_start_matches('/').split('/');
    let collection = segments.next().unwrap_or("");
    let known = ["managed_keys", "templates", "keystores", "vaults"].contains(&collection);
    if let Some(id) = segments.next().filter(|id| known && !id.is_empty()) {
        entry.resource_id = Some(id.to_owned());
    }
}

/// Ids of the fault rules that fired on a request.
pub fn fired_rules(entry: &JournalEntry) -> impl Iterator<Item = &str> {
    entry.fault.as_deref().unwrap_or("").split(',').map(str::trim).filter(|id| !id.is_empty())
}

/// The command the server ran for a request the replay models: the reads that contact keystores and
/// the actions on a key; `None` for the others.
fn command_for(operation: Operation, resource: &str) -> Option<Command> {
    let id = resource.to_owned();
    let command = match operation {
        Operation::GetManagedKey => Command::GetManagedKey { id },
        Operation::GetKeyDistributionStatusForKeystores => Command::GetKeyDistributionStatusForKeystores { id },
        Operation::SyncManagedKey => Command::SyncManagedKey { id },
        Operation::GetKeystoreStatus => Command::GetKeystoreStatus { id },
        Operation::ActivateManagedKey => Command::ChangeKeyState { id, action: KeyAction::Activate },
        Operation::DeactivateManagedKey => Command::ChangeKeyState { id, action: KeyAction::Deactivate },
        Operation::DestroyManagedKey => Command::ChangeKeyState { id, action: KeyAction::Destroy },
        Operation::RotateManagedKey => Command::RotateManagedKey { id },
        _ => return None,
    };
    Some(command)
}

/// The reads whose statuses the properties judge (not the answers of actions, which also show a key).
fn is_read(operation: Option<Operation>) -> bool {
    matches!(operation, Some(Operation::GetManagedKey | Operation::GetKeyDistributionStatusForKeystores))
}

fn all_ok(shadow: &Instance, key_id: &str, entries: &[&StatusEntry]) -> bool {
    let removed: &[String] = shadow.managed_keys.get(key_id).map_or(&[], |key| key.removed_keystores.as_slice());
    entries.iter().filter(|entry| !removed.contains(&entry.keystore_id)).all(|entry| entry.sync_flag == SyncFlag::Ok)
}
