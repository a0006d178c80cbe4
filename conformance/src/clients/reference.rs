//! The reference client: verify-and-sync written the way a careful user of the UKO API would write it.
//!
//! Per round: read the managed key (for its ETag), read its status in keystores, and if some keystore is
//! `out_of_sync`, sync with `If-Match: <ETag>`; then start the next round to re-check. A 412 means
//! someone else changed the key, so the next round re-reads it for a fresh ETag. Every request is retried
//! up to [`ATTEMPTS_PER_STEP`] times: after a 429 it waits `Retry-After`; after a 5xx or a broken
//! connection it backs off exponentially. Keystores showing `error` get a few more rounds to come back.
//! It claims success only when a status read shows every (non-removed) keystore `ok`.
//! It reads `UKO_URL` as IBM's Go SDK does: the server root, with every path beginning `/api/v4`.
//!
//! The same code also builds the mutant clients: each [`Flaws`] switch turns one careful decision into
//! a classic mistake (`mutants.rs` names them). With all switches off this is the reference, which must
//! pass every property.

use std::time::Duration;

use serde::Deserialize;

use super::{ClientEnv, ClientFuture, InProcessClient, InProcessResult, API_PREFIX};
use crate::scenario::ATTEMPTS_PER_STEP;

/// Rounds of read, verify and sync before giving up.
pub const MAX_ROUNDS: u32 = 6;

/// Per-request timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// First backoff after a 5xx or a broken connection; doubles per attempt up to [`BACKOFF_CAP`].
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_millis(1600);
/// First wait before re-reading a status with `error` entries; doubles per round up to the cap.
const ROUND_BACKOFF_BASE: Duration = Duration::from_millis(100);
const ROUND_BACKOFF_CAP: Duration = Duration::from_millis(400);
/// Added to `Retry-After`, because the server counts from when the request arrived and our clock from
/// when the answer did: waiting exactly the header's value could come a few milliseconds early.
const RETRY_AFTER_MARGIN: Duration = Duration::from_millis(50);
/// The grant type of IBM IAM for API keys.
const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";

/// The verify-and-sync client; [`ReferenceClient::new`] is the careful one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReferenceClient {
    flaws: Flaws,
    /// Read the key and its status at the same time (two connections), as many SDK users do.
    concurrent_reads: bool,
}

/// Deliberate mistakes, all off in the reference client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flaws {
    /// Sync without an `If-Match` header.
    pub omit_if_match: bool,
    /// Sync with `If-Match: *` instead of the key's ETag.
    pub wildcard_if_match: bool,
    /// After a 412, send the same request with the same stale ETag again.
    pub resend_stale_etag: bool,
    /// In the first round, sync right after reading the key, without looking at its status.
    pub sync_without_verifying: bool,
    /// Claim success as soon as a sync answered 200, without re-checking the status.
    pub exit_zero_after_sync: bool,
    /// Retry at once: no backoff, no waiting for `Retry-After`.
    pub no_backoff: bool,
    /// Repair an active key by deactivating and reactivating it instead of syncing.
    pub reactivate_instead_of_sync: bool,
    /// Treat the first 503 as final.
    pub give_up_on_503: bool,
    /// Return a 429 at once instead of waiting `Retry-After` (a fleet client then moves on to the next key).
    pub skip_on_429: bool,
}

impl ReferenceClient {
    /// The careful client.
    pub fn new() -> Self {
        ReferenceClient { flaws: Flaws::default(), concurrent_reads: false }
    }

    /// The careful client reading the key and its status concurrently (`builtin:reference-concurrent`):
    /// proves the judge holds a client only to the answers that had reached it.
    pub fn concurrent() -> Self {
        ReferenceClient { flaws: Flaws::default(), concurrent_reads: true }
    }

    /// The client with these mistakes (see `mutants.rs`).
    pub fn with_flaws(flaws: Flaws) -> Self {
        ReferenceClient { flaws, concurrent_reads: false }
    }

    /// Makes the key consistent in every keystore: `Ok(report)` when a status read shows it in sync
    /// everywhere, `Err(reason)` when that could not be achieved.
    pub async fn verify_and_sync(&self, env: &ClientEnv) -> InProcessResult {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        // Like IBM's SDK: the service URL is the server root and every path begins with /api/v4.
        let key_url =
            format!("{}{API_PREFIX}/managed_keys/{}", env.service_url.trim_end_matches('/'), env.managed_key_id);
        let mut session = Session {
            http,
            env,
            flaws: self.flaws,
            authorization: None,
            key_url,
            honour_last_retry_after: false,
            rate_gate: RateGate::default(),
        };
        session.authenticate().await.map_err(|failure| failure.to_string())?;
        let mut last_problem = String::from("no round completed");
        for round in 1..=MAX_ROUNDS {
            let mut concurrent_statuses = None;
            let key = if self.concurrent_reads {
                let (key, statuses) = tokio::join!(session.get_managed_key(), session.get_status());
                concurrent_statuses = Some(statuses);
                key
            } else {
                session.get_managed_key().await
            }
            .map_err(|failure| failure.to_string())?;
            if self.flaws.sync_without_verifying && round == 1 {
                match session.sync(&key.etag).await {
                    Ok(()) | Err(Failure::PreconditionFailed) => continue,
                    Err(failure) => return Err(failure.to_string()),
                }
            }
            // With concurrent reads the status was read with the key (the status of a key that failed
            // to read is not used).
            let statuses = match concurrent_statuses.take() {
                Some(statuses) => statuses,
                None => session.get_status().await,
            }
            .map_err(|failure| failure.to_string())?;
            let check = StatusCheck::of(&statuses);
            if check.in_sync() {
                return Ok(format!(
                    "managed key {} is in sync in every keystore: {}",
                    env.managed_key_id,
                    check.describe(&statuses)
                ));
            }
            last_problem = check.describe(&statuses);
            if !check.any_out_of_sync {
                // Only `error` (or `verifying_sync`) entries: a keystore that does not answer may come back.
                session.pause(round_backoff(round)).await;
                continue;
            }
            let repaired = if self.flaws.reactivate_instead_of_sync && key.state == "active" {
                session.deactivate_and_reactivate(&key.etag).await
            } else {
                session.sync(&key.etag).await
            };
            match repaired {
                Ok(()) if self.flaws.exit_zero_after_sync => {
                    return Ok(format!("synced managed key {}", env.managed_key_id));
                }
                // Re-check in the next round; after a 412 that round also brings a fresh ETag.
                Ok(()) | Err(Failure::PreconditionFailed) => {}
                Err(failure) => return Err(failure.to_string()),
            }
        }
        Err(format!("managed key {} is not in sync after {MAX_ROUNDS} rounds: {last_problem}", env.managed_key_id))
    }
}

impl InProcessClient for ReferenceClient {
    fn run<'a>(&'a self, env: &'a ClientEnv) -> ClientFuture<'a> {
        Box::pin(self.verify_and_sync(env))
    }
}

/// One run's HTTP state.
pub(super) struct Session<'a> {
    pub(super) http: reqwest::Client,
    pub(super) env: &'a ClientEnv,
    pub(super) flaws: Flaws,
    pub(super) authorization: Option<String>,
    pub(super) key_url: String,
    /// Also wait out a `Retry-After` after the last attempt: a fleet client goes on with other keys,
    /// and the rate limit holds for those too.
    pub(super) honour_last_retry_after: bool,
    /// Shared by every request of the run: no request goes out before a `Retry-After` has elapsed.
    pub(super) rate_gate: RateGate,
}

/// The instant before which no request may be sent (the latest `Retry-After` heard), shared by the
/// concurrent requests of one client run.
#[derive(Clone, Debug, Default)]
pub(super) struct RateGate(std::sync::Arc<std::sync::Mutex<Option<tokio::time::Instant>>>);

impl RateGate {
    /// Waits until the gate is open.
    async fn wait(&self) {
        let until = *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }

    /// Closes the gate for `wait` from now (or longer, if it already is).
    fn close_for(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        let mut gate = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if gate.is_none_or(|current| current < until) {
            *gate = Some(until);
        }
    }
}

/// The parts of a managed key the client needs.
pub(super) struct KeyRead {
    pub(super) etag: String,
    state: String,
}

/// A successful (2xx) answer.
pub(super) struct Answer {
    etag: Option<String>,
    pub(super) body: Vec<u8>,
}

/// Why a step did not succeed.
#[derive(Debug)]
pub(super) enum Failure {
    /// 412: the ETag is stale.
    PreconditionFailed,
    /// An answer that retrying cannot change (401, 404, 409, 428, …).
    Refused { step: &'static str, status: u16, message: String },
    /// Every attempt failed with a retryable error.
    Exhausted { step: &'static str, last: String },
    /// The `give_up_on_503` flaw.
    GaveUp { step: &'static str },
    /// The answer was not what the API documents.
    Protocol { step: &'static str, message: String },
}

#[derive(Deserialize)]
struct ManagedKeyBody {
    #[serde(default)]
    state: String,
}

#[derive(Deserialize)]
struct StatusInKeystoresBody {
    #[serde(default)]
    status_in_keystores: Vec<StatusEntryBody>,
}

#[derive(Deserialize)]
pub(super) struct StatusEntryBody {
    #[serde(default)]
    keystore: KeystoreReference,
    #[serde(default)]
    status: String,
    #[serde(default)]
    keystore_sync_flag: String,
    #[serde(default)]
    keystore_sync_flag_detail: String,
}

#[derive(Default, Deserialize)]
struct KeystoreReference {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
}

/// What a status read says, ignoring keystores the user removed from UKO (sync cannot change those).
pub(super) struct StatusCheck {
    pub(super) any_out_of_sync: bool,
    any_not_ok: bool,
}

impl Session<'_> {
    pub(super) async fn authenticate(&mut self) -> Result<(), Failure> {
        let env = self.env;
        if !env.api_key.is_empty() && !env.iam_url.is_empty() {
            let url = format!("{}/identity/token", env.iam_url.trim_end_matches('/'));
            let form = format!("grant_type={}&apikey={}", form_encode(APIKEY_GRANT), form_encode(&env.api_key));
            let answer = self
                .send("POST /identity/token", || {
                    self.http
                        .post(&url)
                        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .header(reqwest::header::ACCEPT, "application/json")
                        .body(form.clone())
                })
                .await?;
            let token: TokenBody = parse("POST /identity/token", &answer.body)?;
            self.authorization = Some(format!("Bearer {}", token.access_token));
        } else if !env.token.is_empty() {
            self.authorization = Some(format!("Bearer {}", env.token));
        }
        Ok(())
    }

    pub(super) async fn get_managed_key(&self) -> Result<KeyRead, Failure> {
        const STEP: &str = "GetManagedKey";
        let answer = self.send(STEP, || self.authorized(self.http.get(&self.key_url))).await?;
        let body: ManagedKeyBody = parse(STEP, &answer.body)?;
        let etag = answer.etag.ok_or_else(|| Failure::Protocol {
            step: STEP,
            message: "expected an ETag header, found none".to_owned(),
        })?;
        Ok(KeyRead { etag, state: body.state })
    }

    pub(super) async fn get_status(&self) -> Result<Vec<StatusEntryBody>, Failure> {
        const STEP: &str = "GetKeyDistributionStatusForKeystores";
        let url = format!("{}/status_in_keystores", self.key_url);
        let answer = self.send(STEP, || self.authorized(self.http.get(&url))).await?;
        let body: StatusInKeystoresBody = parse(STEP, &answer.body)?;
        Ok(body.status_in_keystores)
    }

    pub(super) async fn sync(&self, etag: &str) -> Result<(), Failure> {
        const STEP: &str = "SyncManagedKey";
        let url = format!("{}/sync_status_in_keystores", self.key_url);
        let attempts = if self.flaws.resend_stale_etag { ATTEMPTS_PER_STEP } else { 1 };
        let mut result = Err(Failure::PreconditionFailed);
        for _ in 0..attempts {
            result = self.send(STEP, || self.conditional(self.http.post(&url), etag)).await.map(drop);
            if !matches!(result, Err(Failure::PreconditionFailed)) {
                break;
            }
        }
        result
    }

    async fn deactivate_and_reactivate(&self, etag: &str) -> Result<(), Failure> {
        let deactivate_url = format!("{}/deactivate", self.key_url);
        let answer =
            self.send("DeactivateManagedKey", || self.conditional(self.http.post(&deactivate_url), etag)).await?;
        let fresh_etag = answer.etag.unwrap_or_else(|| etag.to_owned());
        let activate_url = format!("{}/activate", self.key_url);
        self.send("ActivateManagedKey", || self.conditional(self.http.post(&activate_url), &fresh_etag)).await.map(drop)
    }

    pub(super) fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.authorization {
            Some(value) => request.header(reqwest::header::AUTHORIZATION, value),
            None => request,
        }
        .header(reqwest::header::ACCEPT, "application/json")
    }

    fn conditional(&self, request: reqwest::RequestBuilder, etag: &str) -> reqwest::RequestBuilder {
        let request = self.authorized(request);
        if self.flaws.omit_if_match {
            request
        } else if self.flaws.wildcard_if_match {
            request.header(reqwest::header::IF_MATCH, "*")
        } else {
            request.header(reqwest::header::IF_MATCH, etag)
        }
    }

    /// Sends one step's request, retrying 429, 5xx and broken connections up to [`ATTEMPTS_PER_STEP`]
    /// times. A 2xx answer is returned, a 412 is [`Failure::PreconditionFailed`], any other answer ends
    /// the step at once.
    pub(super) async fn send(
        &self,
        step: &'static str,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, Failure> {
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS_PER_STEP {
            let mut rate_limited = false;
            if !self.flaws.no_backoff && !self.flaws.skip_on_429 {
                self.rate_gate.wait().await;
            }
            let wait = match request().send().await {
                Err(error) => {
                    last = format!("no answer ({})", error_chain(&error));
                    backoff(attempt)
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = header_text(&response, reqwest::header::RETRY_AFTER)
                        .and_then(|value| value.trim().parse::<u64>().ok());
                    let etag = header_text(&response, reqwest::header::ETAG);
                    match response.bytes().await {
                        Err(error) => {
                            last = format!("the connection broke while reading the answer ({})", error_chain(&error));
                            backoff(attempt)
                        }
                        Ok(body) => match status {
                            200..=299 => return Ok(Answer { etag, body: body.to_vec() }),
                            412 => return Err(Failure::PreconditionFailed),
                            429 if self.flaws.skip_on_429 => {
                                return Err(Failure::Refused { step, status, message: error_message(&body) })
                            }
                            429 => {
                                rate_limited = true;
                                last = format!("429 {}", error_message(&body));
                                let wait = Duration::from_secs(retry_after.unwrap_or(1)) + RETRY_AFTER_MARGIN;
                                if !self.flaws.no_backoff {
                                    self.rate_gate.close_for(wait);
                                }
                                wait
                            }
                            503 if self.flaws.give_up_on_503 => return Err(Failure::GaveUp { step }),
                            500 | 502 | 503 | 504 => {
                                last = format!("{status} {}", error_message(&body));
                                backoff(attempt)
                            }
                            _ => return Err(Failure::Refused { step, status, message: error_message(&body) }),
                        },
                    }
                }
            };
            if attempt < ATTEMPTS_PER_STEP || (rate_limited && self.honour_last_retry_after) {
                self.pause(wait).await;
            }
        }
        Err(Failure::Exhausted { step, last })
    }

    pub(super) async fn pause(&self, wait: Duration) {
        if !self.flaws.no_backoff {
            tokio::time::sleep(wait).await;
        }
    }
}

impl StatusCheck {
    pub(super) fn of(statuses: &[StatusEntryBody]) -> StatusCheck {
        let managed = statuses.iter().filter(|entry| !is_removed_keystore(entry));
        let mut check = StatusCheck { any_out_of_sync: false, any_not_ok: false };
        for entry in managed {
            check.any_out_of_sync |= entry.keystore_sync_flag == "out_of_sync";
            check.any_not_ok |= entry.keystore_sync_flag != "ok";
        }
        check
    }

    pub(super) fn in_sync(&self) -> bool {
        !self.any_not_ok
    }

    pub(super) fn describe(&self, statuses: &[StatusEntryBody]) -> String {
        if statuses.is_empty() {
            return "no keystores".to_owned();
        }
        statuses
            .iter()
            .map(|entry| {
                format!(
                    "'{}' {} {} ({})",
                    entry.keystore.name, entry.status, entry.keystore_sync_flag, entry.keystore_sync_flag_detail
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::PreconditionFailed => f.write_str("the key changed while we synced it (412) too many times"),
            Failure::Refused { step, status, message } => write!(f, "{step} was refused with {status}: {message}"),
            Failure::Exhausted { step, last } => {
                write!(f, "{step} failed {ATTEMPTS_PER_STEP} times; last failure: {last}")
            }
            Failure::GaveUp { step } => write!(f, "{step} answered 503; giving up"),
            Failure::Protocol { step, message } => write!(f, "{step}: {message}"),
        }
    }
}

fn is_removed_keystore(entry: &StatusEntryBody) -> bool {
    entry.keystore_sync_flag_detail.starts_with("target_keystore_removed_by_user")
}

fn backoff(attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(8);
    (BACKOFF_BASE * factor).min(BACKOFF_CAP)
}

pub(super) fn round_backoff(round: u32) -> Duration {
    let factor = 1u32 << round.saturating_sub(1).min(8);
    (ROUND_BACKOFF_BASE * factor).min(ROUND_BACKOFF_CAP)
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(step: &'static str, body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|error| Failure::Protocol {
        step,
        message: format!("expected the documented JSON body, found one that does not parse ({error})"),
    })
}

fn header_text(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    response.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
}

/// The first `errors[].message` of a UKO error body, or the body itself.
fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        errors: Vec<ErrorItem>,
    }
    #[derive(Deserialize)]
    struct ErrorItem {
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { errors }) if !errors.is_empty() => errors[0].message.clone(),
        _ => String::from_utf8_lossy(body).chars().take(200).collect(),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
