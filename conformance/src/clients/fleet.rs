//! The reference fleet client: brings every managed key of a keystore or a vault into sync, written the
//! way a careful user would, and the fleet mutants (one classic mistake each).
//!
//! It walks the scope's list by `limit`/`offset` pages ([`PAGE_LIMIT`] keys a page) until `offset`
//! reaches `total_count`, and for each key it has not yet confirmed: reads the key (ETag), reads its
//! status, syncs with `If-Match` if some keystore is `out_of_sync`, and reads the status again. Every
//! request goes through the one-key client's `send` (5 attempts, `Retry-After`, backoff). A key that
//! is still not in sync (a keystore in `error`, a 412, a request that kept failing) is retried in the
//! next walk; a key that answers 404 was deleted by someone else and is dropped.
//!
//! Offset paging shifts when another writer deletes a key the walk has passed, so one walk can skip a
//! key. The client therefore walks again until a walk is *clean*: every key it lists is confirmed in
//! sync and `total_count` did not change during the walk. Only then does it claim success; after
//! [`MAX_WALKS`] walks it exits non-zero and names the keys that are not in sync.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use super::reference::{parse, round_backoff, Failure, Flaws, RateGate, Session, StatusCheck};
use super::{ClientEnv, ClientFuture, InProcessClient, InProcessResult, API_PREFIX};
use crate::fleet::ScopeKind;
use crate::properties::Property;

/// Walks of the list before giving up.
pub const MAX_WALKS: u32 = 6;
/// Keys the concurrent reference fleet client works on at once.
pub const CONCURRENT_KEYS: usize = 4;
/// The page size the reference fleet client asks for (the default page is 20).
pub const PAGE_LIMIT: usize = 10;

/// A fleet client: the reference, or a mutant with one [`FleetFlaws`] switch on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FleetClient {
    flaws: FleetFlaws,
    /// Keys worked on at the same time (each on its own connection); 1 for the reference.
    concurrency: usize,
}

/// Deliberate mistakes of fleet clients, all off in the reference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FleetFlaws {
    /// Read one list page with no `limit` and never follow it (IBM's Terraform provider).
    pub first_page_only: bool,
    /// Walk the list once by offset and trust it: a deletion mid-walk makes it skip a key.
    pub single_walk: bool,
    /// Sync every key right after reading it, without reading its status.
    pub sync_without_reading: bool,
    /// Exit 0 even when some key could not be synced.
    pub exit_zero_after_failure: bool,
    /// After a 429 on a key, go on with the next key at once instead of waiting `Retry-After`.
    pub ignore_retry_after_across_keys: bool,
    /// Walk `GET /managed_keys` (every vault, every state) instead of the scope's list.
    pub walk_every_key: bool,
}

/// The fleet mutants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FleetMutant {
    FirstPageOnly,
    OffsetSkip,
    SyncWithoutReading,
    ExitZeroAfterFailure,
    IgnoreRetryAfterAcrossKeys,
    SyncOutsideScope,
}

/// How one key ended in one walk.
enum KeyOutcome {
    InSync,
    /// Not in sync yet (or not known): try again in the next walk.
    Pending(String),
    /// 404: deleted by someone else.
    Gone,
}

#[derive(Deserialize)]
struct ListBody {
    #[serde(default)]
    managed_keys: Vec<ListedKey>,
    #[serde(default)]
    total_count: usize,
}

#[derive(Deserialize)]
struct ListedKey {
    id: String,
}

impl FleetClient {
    /// The careful fleet client.
    pub fn new() -> Self {
        FleetClient { flaws: FleetFlaws::default(), concurrency: 1 }
    }

    /// The careful client working on [`CONCURRENT_KEYS`] keys at once (`builtin:reference-fleet-concurrent`),
    /// sharing one `Retry-After` gate.
    pub fn concurrent() -> Self {
        FleetClient { flaws: FleetFlaws::default(), concurrency: CONCURRENT_KEYS }
    }

    /// A client with these mistakes.
    pub fn with_flaws(flaws: FleetFlaws) -> Self {
        FleetClient { flaws, concurrency: 1 }
    }

    /// Brings every key of `env.scope` into sync: `Ok(report)` after a clean walk, `Err(reason)` otherwise.
    pub async fn sync_scope(&self, env: &ClientEnv) -> InProcessResult {
        let Some(scope) = env.scope.clone() else {
            return Err("expected UKO_SCOPE (keystore or vault) with UKO_KEYSTORE_ID or UKO_VAULT_ID".to_owned());
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        let per_key_flaws = Flaws {
            sync_without_verifying: self.flaws.sync_without_reading,
            skip_on_429: self.flaws.ignore_retry_after_across_keys,
            ..Flaws::default()
        };
        let mut session = Session {
            http,
            env,
            flaws: per_key_flaws,
            authorization: None,
            key_url: String::new(),
            honour_last_retry_after: true,
            rate_gate: RateGate::default(),
        };
        session.authenticate().await.map_err(|failure| failure.to_string())?;
        let api = format!("{}{API_PREFIX}", env.service_url.trim_end_matches('/'));
        let list_url = if self.flaws.walk_every_key {
            format!("{api}/managed_keys?")
        } else {
            match scope.kind {
                ScopeKind::Keystore => format!("{api}/keystores/{}/managed_keys?", scope.id),
                ScopeKind::Vault => format!("{api}/managed_keys?vault.id={}&", scope.id),
            }
        };
        let mut confirmed: HashSet<String> = HashSet::new();
        let mut pending: BTreeMap<String, String> = BTreeMap::new();
        let walks = if self.flaws.first_page_only || self.flaws.single_walk { 1 } else { MAX_WALKS };
        for walk in 1..=walks {
            if walk > 1 {
                session.pause(round_backoff(walk - 1)).await;
            }
            let (ids, stable) = match self.list(&session, &list_url).await {
                Ok(listed) => listed,
                Err(failure) => {
                    pending.insert("(the list)".to_owned(), failure.to_string());
                    continue;
                }
            };
            pending.remove("(the list)");
            let todo: Vec<&String> = ids.iter().filter(|id| !confirmed.contains(*id)).collect();
            let new_work = !todo.is_empty();
            for chunk in todo.chunks(self.concurrency.max(1)) {
                let one = |slot: usize| {
                    let session = &session;
                    let api = &api;
                    async move {
                        let id = chunk.get(slot)?;
                        Some(((*id).clone(), self.key_rounds(session, api, id).await))
                    }
                };
                let (a, b, c, d) = tokio::join!(one(0), one(1), one(2), one(3));
                for (id, outcome) in [a, b, c, d].into_iter().flatten() {
                    match outcome {
                        KeyOutcome::InSync => {
                            confirmed.insert(id.clone());
                            pending.remove(&id);
                        }
                        KeyOutcome::Gone => {
                            pending.remove(&id);
                        }
                        KeyOutcome::Pending(reason) => {
                            pending.insert(id, reason);
                        }
                    }
                }
            }
            // Keys no longer listed left the scope (deleted, deactivated): not ours any more.
            let listed: HashSet<&String> = ids.iter().collect();
            pending.retain(|id, _| listed.contains(id));
            let clean = !new_work && stable && pending.is_empty();
            let trusted = (self.flaws.first_page_only || self.flaws.single_walk) && pending.is_empty();
            if clean || trusted {
                return Ok(format!("{} key(s) of the {} {} are in sync", confirmed.len(), scope.kind, scope.id));
            }
        }
        if self.flaws.exit_zero_after_failure {
            return Ok(format!("synced what could be synced; {} key(s) not in sync", pending.len()));
        }
        let problems: Vec<String> = pending.iter().map(|(id, reason)| format!("{id}: {reason}")).collect();
        Err(format!(
            "the {} {} is not in sync after {walks} walk(s): {}",
            scope.kind,
            scope.id,
            if problems.is_empty() { "the list kept changing".to_owned() } else { problems.join("; ") }
        ))
    }

    /// One key in this walk: one pass, or (for the mutants that trust one walk) up to [`MAX_WALKS`] passes.
    async fn key_rounds(&self, session: &Session<'_>, api: &str, id: &str) -> KeyOutcome {
        let key_session = Session {
            http: session.http.clone(),
            env: session.env,
            flaws: session.flaws,
            authorization: session.authorization.clone(),
            key_url: format!("{api}/managed_keys/{id}"),
            honour_last_retry_after: session.honour_last_retry_after,
            rate_gate: session.rate_gate.clone(),
        };
        let rounds = if self.flaws.single_walk || self.flaws.first_page_only { MAX_WALKS } else { 1 };
        let mut outcome = KeyOutcome::Pending("not tried".to_owned());
        for round in 1..=rounds {
            outcome = self.sync_key(&key_session).await;
            if !matches!(outcome, KeyOutcome::Pending(_)) {
                break;
            }
            if round < rounds {
                key_session.pause(round_backoff(round)).await;
            }
        }
        outcome
    }

    /// Every id of the list, page by page, and whether `total_count` stayed the same meanwhile.
    async fn list(&self, session: &Session<'_>, list_url: &str) -> Result<(Vec<String>, bool), Failure> {
        const STEP: &str = "ListManagedKeys";
        let mut ids = Vec::new();
        let mut totals = HashSet::new();
        let mut offset = 0;
        loop {
            let url = if self.flaws.first_page_only {
                list_url.trim_end_matches(['?', '&']).to_owned()
            } else {
                format!("{list_url}limit={PAGE_LIMIT}&offset={offset}")
            };
            let answer = session.send(STEP, || session.authorized(session.http.get(&url))).await?;
            let body: ListBody = parse(STEP, &answer.body)?;
            totals.insert(body.total_count);
            let count = body.managed_keys.len();
            // A page shifted by a creation shows a key of the previous page again: once is enough.
            for key in body.managed_keys {
                if !ids.contains(&key.id) {
                    ids.push(key.id);
                }
            }
            offset += count;
            if self.flaws.first_page_only || count == 0 || offset >= body.total_count {
                break;
            }
        }
        Ok((ids, totals.len() <= 1))
    }

    /// One pass over one key: read, verify, sync if out of sync, read again.
    async fn sync_key(&self, session: &Session<'_>) -> KeyOutcome {
        let key = match session.get_managed_key().await {
            Ok(key) => key,
            Err(failure) => return outcome_of(failure),
        };
        if !self.flaws.sync_without_reading {
            let statuses = match session.get_status().await {
                Ok(statuses) => statuses,
                Err(failure) => return outcome_of(failure),
            };
            let check = StatusCheck::of(&statuses);
            if check.in_sync() {
                return KeyOutcome::InSync;
            }
            if !check.any_out_of_sync {
                return KeyOutcome::Pending(check.describe(&statuses));
            }
        }
        if let Err(failure) = session.sync(&key.etag).await {
            return outcome_of(failure);
        }
        match session.get_status().await {
            Ok(statuses) => {
                let check = StatusCheck::of(&statuses);
                if check.in_sync() {
                    KeyOutcome::InSync
                } else {
                    KeyOutcome::Pending(check.describe(&statuses))
                }
            }
            Err(failure) => outcome_of(failure),
        }
    }
}

fn outcome_of(failure: Failure) -> KeyOutcome {
    match failure {
        Failure::Refused { status: 404, .. } => KeyOutcome::Gone,
        other => KeyOutcome::Pending(other.to_string()),
    }
}

impl InProcessClient for FleetClient {
    fn run<'a>(&'a self, env: &'a ClientEnv) -> ClientFuture<'a> {
        Box::pin(self.sync_scope(env))
    }
}

impl FleetMutant {
    /// Every fleet mutant.
    pub const ALL: &'static [FleetMutant] = &[
        FleetMutant::FirstPageOnly,
        FleetMutant::OffsetSkip,
        FleetMutant::SyncWithoutReading,
        FleetMutant::ExitZeroAfterFailure,
        FleetMutant::IgnoreRetryAfterAcrossKeys,
        FleetMutant::SyncOutsideScope,
    ];

    /// The name after `builtin:`.
    pub fn name(self) -> &'static str {
        match self {
            FleetMutant::FirstPageOnly => "fleet-first-page-only",
            FleetMutant::OffsetSkip => "fleet-offset-skip",
            FleetMutant::SyncWithoutReading => "fleet-sync-without-reading",
            FleetMutant::ExitZeroAfterFailure => "fleet-exit-0-after-failure",
            FleetMutant::IgnoreRetryAfterAcrossKeys => "fleet-ignore-retry-after",
            FleetMutant::SyncOutsideScope => "fleet-sync-outside-scope",
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> Option<FleetMutant> {
        FleetMutant::ALL.iter().copied().find(|mutant| mutant.name() == name)
    }

    /// What it gets wrong.
    pub fn mistake(self) -> &'static str {
        match self {
            FleetMutant::FirstPageOnly => "reads the first page of the list only (no limit, never follows it)",
            FleetMutant::OffsetSkip => {
                "walks the list once by offset, so a key deleted mid-walk makes it skip the next one"
            }
            FleetMutant::SyncWithoutReading => "syncs every key right after reading it, without reading its status",
            FleetMutant::ExitZeroAfterFailure => "exits 0 although some key could not be synced",
            FleetMutant::IgnoreRetryAfterAcrossKeys => "after a 429 goes on with the next key at once",
            FleetMutant::SyncOutsideScope => "walks every key of the instance and syncs keys outside the scope",
        }
    }

    /// The property that must catch it.
    pub fn caught_by(self) -> Property {
        match self {
            FleetMutant::FirstPageOnly | FleetMutant::OffsetSkip => Property::Converges,
            FleetMutant::SyncWithoutReading => Property::VerifyBeforeSync,
            FleetMutant::ExitZeroAfterFailure => Property::HonestExit,
            FleetMutant::IgnoreRetryAfterAcrossKeys => Property::BoundedRetries,
            FleetMutant::SyncOutsideScope => Property::NoCollateral,
        }
    }

    /// The mutant as a client.
    pub fn client(self) -> FleetClient {
        let mut flaws = FleetFlaws::default();
        match self {
            FleetMutant::FirstPageOnly => flaws.first_page_only = true,
            FleetMutant::OffsetSkip => flaws.single_walk = true,
            FleetMutant::SyncWithoutReading => flaws.sync_without_reading = true,
            FleetMutant::ExitZeroAfterFailure => flaws.exit_zero_after_failure = true,
            FleetMutant::IgnoreRetryAfterAcrossKeys => flaws.ignore_retry_after_across_keys = true,
            FleetMutant::SyncOutsideScope => flaws.walk_every_key = true,
        }
        FleetClient::with_flaws(flaws)
    }
}
