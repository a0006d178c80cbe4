//! Generated failure scenarios: the proptest strategies, the outcome a correct client must reach, and
//! the conversion of a scenario into a uko-mock [`Fixture`].
//!
//! A [`Scenario`] is small plain data (one managed key, 1–6 keystores, fault rules) so that proptest can
//! shrink it: every strategy here is built from `prop_compose!` and weighted `prop_oneof!`, with the
//! simplest alternative first, so a counterexample shrinks towards "in sync, reachable, no faults".
//! Whether a scenario is syncable is decided from the scenario alone ([`Scenario::expected_outcome`]),
//! never from a client run.
//!
//! This module does not run anything: starting servers and clients is `runner`'s job.

use std::fmt;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uko_mock::fixture::{Fixture, FixtureError};

/// Attempts a careful client makes per step (read the key, read the status, sync) before giving up.
pub const ATTEMPTS_PER_STEP: u32 = 5;

/// The most consecutive failures a transient fault causes. It stays below [`ATTEMPTS_PER_STEP`], so a
/// client with that budget always gets through.
pub const MAX_TRANSIENT_FAILURES: u32 = 3;

/// Consecutive failures of an outlasting fault: more than [`ATTEMPTS_PER_STEP`] attempts absorb, yet
/// finite, so a client with a larger budget may still get through (and then may claim success).
pub const OUTLASTING_FAILURES: std::ops::RangeInclusive<u32> = 6..=9;

/// The most keystores a scenario distributes its key to.
pub const MAX_KEYSTORES: usize = 6;

/// The vault of every scenario.
pub const VAULT_ID: &str = "11111111-1111-4111-8111-111111111111";
/// The key template of every scenario.
pub const TEMPLATE_ID: &str = "22222222-2222-4222-8222-000000000001";
/// The managed key the client must verify and sync.
pub const TARGET_KEY_ID: &str = "44444444-4444-4444-8444-000000000001";
/// Another key in the same vault that the client must leave alone.
pub const BYSTANDER_KEY_ID: &str = "44444444-4444-4444-8444-000000000002";
/// The keystore group of the template.
pub const KEYSTORE_GROUP: &str = "Conformance";

/// One generated situation: a managed key, what its keystores hold, and the faults on the way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    pub key_state: KeyStateCase,
    /// The keystores of the template's group, in distribution order (1 to [`MAX_KEYSTORES`]).
    pub keystores: Vec<KeystoreCase>,
    /// ConcurrentWriter rules on GetManagedKey of the target key: each makes the ETag the client just
    /// read stale.
    pub concurrent_writers: Vec<Persistence>,
    /// HTTP faults on the operations a verify-and-sync client uses.
    pub http_faults: Vec<HttpFault>,
    /// Whether the other key of the vault is out of sync too (a client must not sync it).
    pub bystander_out_of_sync: bool,
}

/// The state of the target key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStateCase {
    Active,
    PreActivation,
    Deactivated,
    Destroyed,
}

/// One keystore of the group: its type, what it holds for the target key, whether it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeystoreCase {
    pub kind: KeystoreKind,
    pub copy: CopyCase,
    pub reachability: ReachabilityCase,
}

/// Keystore types (and IBM variants) a scenario mixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeystoreKind {
    AwsKms,
    AzureKeyVault,
    KeyProtect,
    Internal,
    GoogleKms,
}

/// What a keystore holds for the target key, relative to the copy the key's state calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyCase {
    /// The copy the key's state calls for.
    InSync,
    /// Nothing (deleted out of band, or never installed).
    Absent,
    /// The key, disabled.
    Inactive,
    /// The key, enabled (for a deactivated key: still active after deactivate; for a destroyed key:
    /// the destroy failed; for a pre-active key: present too early).
    Active,
    /// An enabled key under that name with other key material.
    WrongKey,
}

/// Whether a keystore answers the calls UKO makes to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ReachabilityCase {
    Reachable,
    /// The next `calls` requests touching the keystore see `connection_error`, then it recovers
    /// (transient up to [`MAX_TRANSIENT_FAILURES`] calls, outlasting the retry budget above).
    UnreachableForCalls {
        calls: u32,
    },
    /// Never reachable during the run.
    Unreachable,
}

impl ReachabilityCase {
    /// What a summary adds after the keystore's name: nothing when it answers.
    pub fn describe_suffix(self) -> String {
        match self {
            ReachabilityCase::Reachable => String::new(),
            ReachabilityCase::UnreachableForCalls { calls } => format!(" (unreachable for {calls} calls)"),
            ReachabilityCase::Unreachable => " (never reachable)".to_owned(),
        }
    }
}

/// How long a fault lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Persistence {
    /// Fires on the next `times` matching requests (at most [`MAX_TRANSIENT_FAILURES`]).
    Transient { times: u32 },
    /// Fires on the next `times` matching requests, more than a retry budget absorbs
    /// ([`OUTLASTING_FAILURES`]).
    Outlasting { times: u32 },
    /// Fires on every matching request.
    Permanent,
}

/// An HTTP-level fault on one operation of the target key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpFault {
    pub operation: ClientOperation,
    pub effect: HttpFaultEffect,
    pub persistence: Persistence,
}

/// The UKO operations of the verify-and-sync flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientOperation {
    GetManagedKey,
    GetKeyDistributionStatusForKeystores,
    SyncManagedKey,
}

/// What an HTTP fault does to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HttpFaultEffect {
    TooManyRequests {
        retry_after_seconds: u64,
    },
    InternalServerError,
    ServiceUnavailable,
    DropConnection,
    /// Slows the answer down; never a failure.
    Latency {
        millis: u64,
    },
}

/// What a correct client must achieve in a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedOutcome {
    /// Every fault is transient within [`ATTEMPTS_PER_STEP`] attempts per step: the key must end in sync
    /// in every keystore and the client must exit 0.
    Syncable,
    /// Some fault outlasts a 5-attempt retry budget (a keystore unreachable for 6 or more calls or for
    /// good, an HTTP fault or writer race repeated 6 or more times or forever): the client may only
    /// claim success if the key really ends in sync.
    NotSyncable,
}

/// Everything a case needs to run, whether generated or read back from a counterexample file.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseSetup {
    pub fixture: Fixture,
    pub managed_key_id: String,
    pub vault_id: String,
    pub expected: ExpectedOutcome,
    /// The generated scenario, when the case came from the generator.
    pub scenario: Option<Scenario>,
    /// Fleet contract: the scope the client must sync (then `managed_key_id` is empty).
    pub fleet: Option<crate::fleet::FleetCase>,
}

prop_compose! {
    /// A whole scenario: key state, 1–6 keystores, concurrent writers, HTTP faults and the bystander key.
    pub fn arb_scenario()(
        key_state in arb_key_state(),
        keystores in proptest::collection::vec(arb_keystore(), 1..=MAX_KEYSTORES),
        concurrent_writers in arb_concurrent_writers(),
        http_faults in arb_http_faults(),
        bystander_out_of_sync in proptest::bool::weighted(0.3),
    ) -> Scenario {
        Scenario { key_state, keystores, concurrent_writers, http_faults, bystander_out_of_sync }
    }
}

prop_compose! {
    /// One keystore: a type, a divergence and a reachability fault.
    pub fn arb_keystore()(
        kind in arb_keystore_kind(),
        copy in arb_divergence(),
        reachability in arb_keystore_fault(),
    ) -> KeystoreCase {
        KeystoreCase { kind, copy, reachability }
    }
}

prop_compose! {
    /// An HTTP fault on one operation of the verify-and-sync flow.
    pub fn arb_http_fault()(
        operation in arb_client_operation(),
        effect in arb_http_fault_effect(),
        persistence in arb_persistence(),
    ) -> HttpFault {
        HttpFault { operation, effect, persistence }
    }
}

/// Key states, mostly active.
pub fn arb_key_state() -> impl Strategy<Value = KeyStateCase> {
    prop_oneof![
        3 => Just(KeyStateCase::Active),
        1 => Just(KeyStateCase::PreActivation),
        1 => Just(KeyStateCase::Deactivated),
        1 => Just(KeyStateCase::Destroyed),
    ]
}

/// Keystore types, uniformly.
pub fn arb_keystore_kind() -> impl Strategy<Value = KeystoreKind> {
    prop_oneof![
        Just(KeystoreKind::AwsKms),
        Just(KeystoreKind::AzureKeyVault),
        Just(KeystoreKind::KeyProtect),
        Just(KeystoreKind::Internal),
        Just(KeystoreKind::GoogleKms),
    ]
}

/// What a keystore holds; in sync half of the time.
pub fn arb_divergence() -> impl Strategy<Value = CopyCase> {
    prop_oneof![
        4 => Just(CopyCase::InSync),
        1 => Just(CopyCase::Absent),
        1 => Just(CopyCase::Inactive),
        1 => Just(CopyCase::Active),
        1 => Just(CopyCase::WrongKey),
    ]
}

/// Keystore reachability: mostly reachable, sometimes unreachable for a few calls, rarely for more calls
/// than a retry budget absorbs, or for good.
pub fn arb_keystore_fault() -> impl Strategy<Value = ReachabilityCase> {
    prop_oneof![
        16 => Just(ReachabilityCase::Reachable),
        4 => (1..=MAX_TRANSIENT_FAILURES).prop_map(|calls| ReachabilityCase::UnreachableForCalls { calls }),
        1 => OUTLASTING_FAILURES.prop_map(|calls| ReachabilityCase::UnreachableForCalls { calls }),
        1 => Just(ReachabilityCase::Unreachable),
    ]
}

/// How long a fault lasts: transient (1–3 times) eight times as often as outlasting (6–9 times) or
/// permanent.
pub fn arb_persistence() -> impl Strategy<Value = Persistence> {
    prop_oneof![
        8 => (1..=MAX_TRANSIENT_FAILURES).prop_map(|times| Persistence::Transient { times }),
        1 => OUTLASTING_FAILURES.prop_map(|times| Persistence::Outlasting { times }),
        1 => Just(Persistence::Permanent),
    ]
}

/// 0–2 concurrent-writer rules on GetManagedKey, none most of the time.
pub fn arb_concurrent_writers() -> impl Strategy<Value = Vec<Persistence>> {
    prop_oneof![
        3 => Just(Vec::new()),
        2 => proptest::collection::vec(arb_persistence(), 1..=2),
    ]
}

/// 0–3 HTTP faults.
pub fn arb_http_faults() -> impl Strategy<Value = Vec<HttpFault>> {
    prop_oneof![
        2 => Just(Vec::new()),
        3 => proptest::collection::vec(arb_http_fault(), 1..=3),
    ]
}

/// The operations of the verify-and-sync flow, uniformly.
pub fn arb_client_operation() -> impl Strategy<Value = ClientOperation> {
    prop_oneof![
        Just(ClientOperation::GetManagedKey),
        Just(ClientOperation::GetKeyDistributionStatusForKeystores),
        Just(ClientOperation::SyncManagedKey),
    ]
}

/// HTTP fault effects. 429 is rare because honouring its `Retry-After: 1` costs real seconds.
pub fn arb_http_fault_effect() -> impl Strategy<Value = HttpFaultEffect> {
    prop_oneof![
        3 => Just(HttpFaultEffect::ServiceUnavailable),
        2 => Just(HttpFaultEffect::InternalServerError),
        2 => Just(HttpFaultEffect::DropConnection),
        2 => (10..=150u64).prop_map(|millis| HttpFaultEffect::Latency { millis }),
        1 => Just(HttpFaultEffect::TooManyRequests { retry_after_seconds: 1 }),
    ]
}

impl Scenario {
    /// Syncable when every fault is transient within the retry budget, otherwise not.
    pub fn expected_outcome(&self) -> ExpectedOutcome {
        if self.obstacles().is_empty() {
            ExpectedOutcome::Syncable
        } else {
            ExpectedOutcome::NotSyncable
        }
    }

    /// The faults that outlast the retry budget and so make the scenario not syncable, in words (empty
    /// when syncable).
    pub fn obstacles(&self) -> Vec<String> {
        let mut obstacles = Vec::new();
        for (index, keystore) in self.keystores.iter().enumerate() {
            let name = keystore_name(index, keystore.kind);
            match keystore.reachability {
                ReachabilityCase::Reachable => {}
                ReachabilityCase::UnreachableForCalls { calls } if calls <= MAX_TRANSIENT_FAILURES => {}
                ReachabilityCase::UnreachableForCalls { calls } => {
                    obstacles.push(format!("keystore '{name}' is unreachable for {calls} calls"));
                }
                ReachabilityCase::Unreachable => obstacles.push(format!("keystore '{name}' is never reachable")),
            }
        }
        for fault in &self.http_faults {
            if fault.persistence.outlasts_the_budget() && fault.effect.is_failure() {
                obstacles.push(format!("{} fails with {} {}", fault.operation.name(), fault.effect, fault.persistence));
            }
        }
        for writer in &self.concurrent_writers {
            if writer.outlasts_the_budget() {
                obstacles.push(format!("another writer changes the key after GetManagedKey {writer}"));
            }
        }
        obstacles
    }

    /// Whether some keystore starts out of sync (ignoring reachability).
    pub fn starts_out_of_sync(&self) -> bool {
        self.keystores.iter().any(|keystore| keystore.copy.is_out_of_sync(self.key_state))
    }

    /// The case this scenario runs as.
    pub fn case_setup(&self) -> Result<CaseSetup, FixtureError> {
        Ok(CaseSetup {
            fixture: self.to_fixture()?,
            managed_key_id: TARGET_KEY_ID.to_owned(),
            vault_id: VAULT_ID.to_owned(),
            expected: self.expected_outcome(),
            scenario: Some(self.clone()),
            fleet: None,
        })
    }

    /// The uko-mock fixture for this scenario. Deterministic: the same scenario gives the same fixture,
    /// ids and seed.
    pub fn to_fixture(&self) -> Result<Fixture, FixtureError> {
        let fixture = Fixture::from_json(&self.to_fixture_json().to_string())?;
        fixture.validate()?;
        Ok(fixture)
    }

    /// A one-line summary, used as the fixture's description.
    pub fn summary(&self) -> String {
        let keystores: Vec<String> = self
            .keystores
            .iter()
            .map(|keystore| {
                format!(
                    "{} {}{}",
                    keystore.kind.keystore_type(),
                    keystore.copy.describe(self.key_state),
                    keystore.reachability.describe_suffix()
                )
            })
            .collect();
        let mut summary = format!(
            "Conformance scenario: a key in state {} distributed to {} keystore(s): {}",
            self.key_state.as_str(),
            self.keystores.len(),
            keystores.join("; ")
        );
        for fault in &self.http_faults {
            summary.push_str(&format!("; {} on {} {}", fault.effect, fault.operation.name(), fault.persistence));
        }
        for writer in &self.concurrent_writers {
            summary.push_str(&format!("; a concurrent writer after GetManagedKey {writer}"));
        }
        if self.bystander_out_of_sync {
            summary.push_str("; another key of the vault is out of sync too");
        }
        summary.push_str(match self.expected_outcome() {
            ExpectedOutcome::Syncable => ". Expected: syncable",
            ExpectedOutcome::NotSyncable => ". Expected: not syncable",
        });
        summary
    }

    fn to_fixture_json(&self) -> Value {
        let keystores: Vec<Value> =
            self.keystores.iter().enumerate().map(|(index, keystore)| keystore_fixture_json(index, keystore)).collect();
        let keystore_ids: Vec<String> = (0..self.keystores.len()).map(keystore_id).collect();
        let mut kinds_in_order: Vec<&'static str> = Vec::new();
        for keystore in &self.keystores {
            let keystore_type = keystore.kind.keystore_type();
            if !kinds_in_order.contains(&keystore_type) {
                kinds_in_order.push(keystore_type);
            }
        }
        let instances: Vec<Value> = kinds_in_order
            .iter()
            .enumerate()
            .map(|(index, keystore_type)| {
                json!({
                    "id": format!("55555555-5555-4555-8555-{:012}", index + 1),
                    "label_in_keystore": "conformance-key",
                    "type": "secret_key",
                    "keystore": {"type": keystore_type, "group": KEYSTORE_GROUP},
                })
            })
            .collect();
        let mut target_key = json!({
            "id": TARGET_KEY_ID,
            "vault_id": VAULT_ID,
            "template_id": TEMPLATE_ID,
            "label": "conformance-key",
            "description": "The key the client under test verifies and syncs",
            "state": self.key_state.as_str(),
            "algorithm": "aes",
            "size": "256",
            "created_at": "2025-10-01T10:00:00Z",
            "updated_at": "2025-10-01T10:00:00Z",
            "referenced_keystores": keystore_ids,
            "instances": instances,
            "versions": [{"version": 1, "material": "1F3C9A2E5B8D14760A3C6E9B2D5F8041", "created_at": "2025-10-01T10:00:00Z"}],
        });
        if matches!(self.key_state, KeyStateCase::Deactivated | KeyStateCase::Destroyed) {
            target_key["updated_at"] = json!("2025-11-01T10:00:00Z");
            target_key["deactivated_at"] = json!("2025-11-01T10:00:00Z");
        }
        let bystander_key = json!({
            "id": BYSTANDER_KEY_ID,
            "vault_id": VAULT_ID,
            "template_id": TEMPLATE_ID,
            "label": "bystander-key",
            "description": "Another key of the vault; the client must leave it alone",
            "state": "active",
            "algorithm": "aes",
            "size": "256",
            "created_at": "2025-10-02T10:00:00Z",
            "updated_at": "2025-10-02T10:00:00Z",
            "referenced_keystores": [keystore_id(0)],
            "instances": [{
                "id": "55555555-5555-4555-8555-000000000011",
                "label_in_keystore": "bystander-key",
                "type": "secret_key",
                "keystore": {"type": self.keystores.first().map_or("aws_kms", |k| k.kind.keystore_type()), "group": KEYSTORE_GROUP},
            }],
            "versions": [{"version": 1, "material": "7A0B3C9D2E5F60718293A4B5C6D7E8F9", "created_at": "2025-10-02T10:00:00Z"}],
        });
        let mut divergences: Vec<Value> = self
            .keystores
            .iter()
            .enumerate()
            .filter_map(|(index, keystore)| {
                keystore
                    .copy
                    .observed_copy()
                    .map(|copy| json!({"managed_key": TARGET_KEY_ID, "keystore": keystore_id(index), "copy": copy}))
            })
            .collect();
        if self.bystander_out_of_sync {
            divergences.push(json!({"managed_key": BYSTANDER_KEY_ID, "keystore": keystore_id(0), "copy": "absent"}));
        }
        json!({
            "description": self.summary(),
            "seed": 1,
            "clock": {"start": "2026-01-01T09:00:00Z", "mode": "virtual"},
            "vaults": [{
                "id": VAULT_ID,
                "name": "Conformance",
                "description": "Generated by uko-conformance",
                "created_at": "2025-09-01T08:00:00Z",
                "updated_at": "2025-09-01T08:00:00Z",
            }],
            "templates": [{
                "id": TEMPLATE_ID,
                "vault_id": VAULT_ID,
                "name": "Conformance-AES256",
                "key": {
                    "size": "256",
                    "algorithm": "aes",
                    "activation_date": "P1W",
                    "expiration_date": "P2Y",
                    "state": if self.key_state == KeyStateCase::PreActivation { "pre_activation" } else { "active" },
                },
                "description": "Template of the conformance keys",
                "keystores": [{"type": kinds_in_order.first().copied().unwrap_or("aws_kms"), "group": KEYSTORE_GROUP}],
                "created_at": "2025-09-01T08:10:00Z",
                "updated_at": "2025-09-01T08:10:00Z",
            }],
            "keystores": keystores,
            "managed_keys": [target_key, bystander_key],
            "divergences": divergences,
            "faults": self.fault_rules_json(),
        })
    }

    fn fault_rules_json(&self) -> Vec<Value> {
        let mut rules = Vec::new();
        for (index, writer) in self.concurrent_writers.iter().enumerate() {
            rules.push(json!({
                "id": format!("writer-{}", index + 1),
                "operation": "GetManagedKey",
                "resource_id": TARGET_KEY_ID,
                "trigger": writer.trigger_json(),
                "effect": {"kind": "concurrent_writer", "managed_key_id": TARGET_KEY_ID},
            }));
        }
        for (index, fault) in self.http_faults.iter().enumerate() {
            let effect = effect_json(fault.effect);
            rules.push(json!({
                "id": format!("fault-{}-{}", index + 1, fault.effect.short_name()),
                "operation": fault.operation.name(),
                "resource_id": TARGET_KEY_ID,
                "trigger": fault.persistence.trigger_json(),
                "effect": effect,
            }));
        }
        rules
    }
}

impl KeyStateCase {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStateCase::Active => "active",
            KeyStateCase::PreActivation => "pre_activation",
            KeyStateCase::Deactivated => "deactivated",
            KeyStateCase::Destroyed => "destroyed",
        }
    }
}

impl KeystoreKind {
    /// The keystore `type` on the wire.
    pub fn keystore_type(self) -> &'static str {
        match self {
            KeystoreKind::AwsKms => "aws_kms",
            KeystoreKind::AzureKeyVault => "azure_key_vault",
            KeystoreKind::KeyProtect | KeystoreKind::Internal => "ibm_cloud_kms",
            KeystoreKind::GoogleKms => "google_kms",
        }
    }

    fn display_name(self) -> &'static str {
        match self {
            KeystoreKind::AwsKms => "AWS KMS",
            KeystoreKind::AzureKeyVault => "Azure Key Vault",
            KeystoreKind::KeyProtect => "Key Protect",
            KeystoreKind::Internal => "Internal KMS",
            KeystoreKind::GoogleKms => "Google KMS",
        }
    }
}

impl CopyCase {
    /// Whether a keystore holding this shows `out_of_sync` for a key in `state` (`uko-semantics.md` §4).
    pub fn is_out_of_sync(self, state: KeyStateCase) -> bool {
        use KeyStateCase as S;
        match self {
            CopyCase::InSync => false,
            CopyCase::Absent => state == S::Active,
            CopyCase::Inactive => state != S::Deactivated,
            CopyCase::Active => state != S::Active,
            CopyCase::WrongKey => true,
        }
    }

    /// The situation in UKO's words, for summaries.
    pub fn describe(self, state: KeyStateCase) -> &'static str {
        use KeyStateCase as S;
        match (self, state) {
            (CopyCase::InSync, _) => "in sync",
            (CopyCase::Absent, S::Active) => "key missing",
            (CopyCase::Absent, _) => "key absent (in sync)",
            (CopyCase::Inactive, S::Active) => "key inactive",
            (CopyCase::Inactive, S::PreActivation) => "pre-active key present (inactive)",
            (CopyCase::Inactive, S::Deactivated) => "key inactive (in sync)",
            (CopyCase::Inactive, S::Destroyed) => "destroy failed (key still present, inactive)",
            (CopyCase::Active, S::Active) => "key active (in sync)",
            (CopyCase::Active, S::PreActivation) => "pre-active key present (active)",
            (CopyCase::Active, S::Deactivated) => "still active after deactivate",
            (CopyCase::Active, S::Destroyed) => "destroy failed (key still active)",
            (CopyCase::WrongKey, _) => "wrong key material",
        }
    }

    /// The fixture divergence (`None`: the derived, in-sync copy).
    pub fn observed_copy(self) -> Option<&'static str> {
        match self {
            CopyCase::InSync => None,
            CopyCase::Absent => Some("absent"),
            CopyCase::Inactive => Some("inactive"),
            CopyCase::Active => Some("active"),
            CopyCase::WrongKey => Some("wrong_key"),
        }
    }
}

impl Persistence {
    /// True when the fault fails more often than [`ATTEMPTS_PER_STEP`] attempts absorb.
    pub fn outlasts_the_budget(self) -> bool {
        !matches!(self, Persistence::Transient { .. })
    }

    fn trigger_json(self) -> Value {
        match self {
            Persistence::Transient { times } | Persistence::Outlasting { times } => {
                json!({"kind": "next_n", "count": times})
            }
            Persistence::Permanent => json!({"kind": "always"}),
        }
    }
}

impl fmt::Display for Persistence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Persistence::Transient { times: 1 } => f.write_str("once"),
            Persistence::Transient { times } | Persistence::Outlasting { times } => write!(f, "{times} times"),
            Persistence::Permanent => f.write_str("always"),
        }
    }
}

impl ClientOperation {
    /// The SDK operation name, as in the journal and fault rules.
    pub fn name(self) -> &'static str {
        match self {
            ClientOperation::GetManagedKey => "GetManagedKey",
            ClientOperation::GetKeyDistributionStatusForKeystores => "GetKeyDistributionStatusForKeystores",
            ClientOperation::SyncManagedKey => "SyncManagedKey",
        }
    }
}

impl HttpFaultEffect {
    /// False only for latency, which slows a request down without failing it.
    pub fn is_failure(self) -> bool {
        !matches!(self, HttpFaultEffect::Latency { .. })
    }

    /// The effect in a fault rule id (`429`, `drop`, …).
    pub fn short_name(self) -> &'static str {
        match self {
            HttpFaultEffect::TooManyRequests { .. } => "429",
            HttpFaultEffect::InternalServerError => "500",
            HttpFaultEffect::ServiceUnavailable => "503",
            HttpFaultEffect::DropConnection => "drop",
            HttpFaultEffect::Latency { .. } => "latency",
        }
    }
}

impl fmt::Display for HttpFaultEffect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpFaultEffect::TooManyRequests { retry_after_seconds } => {
                write!(f, "429 with Retry-After {retry_after_seconds}")
            }
            HttpFaultEffect::InternalServerError => f.write_str("500"),
            HttpFaultEffect::ServiceUnavailable => f.write_str("503"),
            HttpFaultEffect::DropConnection => f.write_str("a dropped connection"),
            HttpFaultEffect::Latency { millis } => write!(f, "{millis} ms latency"),
        }
    }
}

impl fmt::Display for ExpectedOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExpectedOutcome::Syncable => "syncable",
            ExpectedOutcome::NotSyncable => "not syncable",
        })
    }
}

/// The fault rule effect of an HTTP fault.
pub fn effect_json(effect: HttpFaultEffect) -> Value {
    match effect {
        HttpFaultEffect::TooManyRequests { retry_after_seconds } => {
            json!({"kind": "http_error", "status": 429, "retry_after_seconds": retry_after_seconds})
        }
        HttpFaultEffect::InternalServerError => json!({"kind": "http_error", "status": 500}),
        HttpFaultEffect::ServiceUnavailable => json!({"kind": "http_error", "status": 503}),
        HttpFaultEffect::DropConnection => json!({"kind": "drop_connection"}),
        HttpFaultEffect::Latency { millis } => json!({"kind": "latency", "millis": millis}),
    }
}

/// The id of the keystore at `index` (0-based) in a scenario.
pub fn keystore_id(index: usize) -> String {
    format!("33333333-3333-4333-8333-{:012}", index + 1)
}

fn keystore_name(index: usize, kind: KeystoreKind) -> String {
    format!("{} {}", kind.display_name(), index + 1)
}

/// A keystore of a fixture: the one at `index` with this type and reachability.
pub fn keystore_fixture_json(index: usize, keystore: &KeystoreCase) -> Value {
    let number = index + 1;
    let (location, connection) = match keystore.kind {
        KeystoreKind::AwsKms => (
            "eu_central_1",
            json!({
                "aws_region": "eu_central_1",
                "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
                "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            }),
        ),
        KeystoreKind::AzureKeyVault => (
            "europe_west",
            json!({
                "azure_service_name": format!("conformance-vault-{number}"),
                "azure_resource_group": "conformance",
                "azure_location": "europe_west",
                "azure_service_principal_client_id": "00000000-0000-4000-8000-000000000001",
                "azure_service_principal_password": "example-password",
                "azure_tenant": "00000000-0000-4000-8000-000000000002",
                "azure_subscription_id": "00000000-0000-4000-8000-000000000003",
                "azure_environment": "azure",
            }),
        ),
        KeystoreKind::KeyProtect => (
            "us-south",
            json!({
                "ibm_variant": "key_protect",
                "ibm_api_endpoint": "https://us-south.kms.cloud.ibm.com",
                "ibm_iam_endpoint": "https://iam.cloud.ibm.com",
                "ibm_api_key": "example-api-key",
                "ibm_instance_id": "00000000-0000-4000-8000-000000000004",
                "ibm_key_ring": "Default",
            }),
        ),
        KeystoreKind::Internal => ("us-south", json!({"ibm_variant": "internal"})),
        KeystoreKind::GoogleKms => (
            "europe-west3",
            json!({
                "google_credentials": "e30=",
                "google_location": "europe-west3",
                "google_project_id": "conformance-project",
                "google_private_key_id": "0123456789abcdef",
                "google_key_ring": "conformance-ring",
            }),
        ),
    };
    let reachability = match keystore.reachability {
        ReachabilityCase::Reachable => json!({"mode": "reachable"}),
        ReachabilityCase::UnreachableForCalls { calls } => json!({"mode": "unreachable_for_calls", "remaining": calls}),
        ReachabilityCase::Unreachable => json!({"mode": "unreachable"}),
    };
    json!({
        "id": keystore_id(index),
        "vault_id": VAULT_ID,
        "name": keystore_name(index, keystore.kind),
        "description": "",
        "groups": [KEYSTORE_GROUP],
        "type": keystore.kind.keystore_type(),
        "location": location,
        "created_at": "2025-09-01T08:05:00Z",
        "updated_at": "2025-09-01T08:05:00Z",
        "connection": connection,
        "simulation": {"reachability": reachability},
    })
}
