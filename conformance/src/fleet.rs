//! Fleet scenarios: a keystore's or a vault's many keys, some out of sync on any page, faults on list
//! pages and per-key calls, and other writers that create, delete and change keys while the client walks
//! the list (so offset paging shifts under it). The fleet contract's counterpart of `scenario`.
//!
//! The building blocks are the one-key generator's ([`KeyStateCase`], [`CopyCase`],
//! [`ReachabilityCase`], [`HttpFaultEffect`], [`Persistence`]), so "out of sync" and "transient" mean the
//! same in both contracts. Strategies put the simplest alternative first, so a counterexample shrinks
//! towards one key, one page and no faults.
//!
//! "In scope" is decided from the server state with the mock's own list code ([`keys_in_scope`]):
//! for a keystore the keys `GET /keystores/{id}/managed_keys` lists (by default only `pre_activation`
//! and `active` keys that reference it), for a vault every key whose vault it is.

use std::collections::BTreeMap;
use std::fmt;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uko_mock::domain::query::{KeyListScope, KeyQuery, Page, DEFAULT_LIMIT};
use uko_mock::domain::{Instance, SyncFlag};
use uko_mock::fixture::{Fixture, FixtureError};

use crate::observation::{final_statuses, FinalStatus};
use crate::scenario::{
    arb_divergence, arb_http_fault_effect, arb_keystore_fault, arb_keystore_kind, arb_persistence, keystore_id,
    CopyCase, ExpectedOutcome, HttpFaultEffect, KeyStateCase, KeystoreCase, KeystoreKind, Persistence,
    ReachabilityCase, KEYSTORE_GROUP, TEMPLATE_ID, VAULT_ID,
};

/// The most keys a fleet scenario generates in its vault.
pub const MAX_FLEET_KEYS: usize = 240;
/// The most keystores of the fleet's vault.
pub const MAX_FLEET_KEYSTORES: usize = 3;
/// The vault of the keys outside the scope.
pub const OTHER_VAULT_ID: &str = "11111111-1111-4111-8111-111111111112";
/// Its template and keystore.
pub const OTHER_TEMPLATE_ID: &str = "22222222-2222-4222-8222-000000000002";
pub const OTHER_KEYSTORE_ID: &str = "33333333-3333-4333-8333-000000000099";
/// Name of the fleet vault's template (a concurrent create uses it).
pub const TEMPLATE_NAME: &str = "Conformance-AES256";

/// What the client is asked to bring into sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// The keys `GET /keystores/{id}/managed_keys` lists (`UKO_KEYSTORE_ID`).
    Keystore,
    /// The keys of a vault (`UKO_VAULT_ID`).
    Vault,
}

/// A scope with its id, as the client receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub kind: ScopeKind,
    pub id: String,
}

/// One generated fleet situation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetScenario {
    pub scope: ScopeKind,
    /// The keystores of the fleet's vault; the keystore scope is the first one. Every key is distributed
    /// to all of them.
    pub keystores: Vec<KeystoreCase>,
    /// The keys of the fleet's vault, in id (and so list) order.
    pub keys: Vec<FleetKey>,
    /// Keys of another vault, out of sync or not: never in scope.
    pub outsiders: Vec<FleetKey>,
    /// HTTP faults on list pages and per-key calls.
    pub http_faults: Vec<FleetFault>,
    /// Other writers acting while the client walks the list.
    pub writers: Vec<FleetWriter>,
}

/// One key: its state and, if any, the keystore where it diverges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetKey {
    pub state: KeyStateCase,
    /// Index of the keystore holding something else than the state calls for, and what it holds.
    pub divergence: Option<(usize, CopyCase)>,
}

/// Where an HTTP fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultTarget {
    /// The scope's list (`ListManagedKeysFromKeystore` or `ListManagedKeys`), from its `page`-th request
    /// on (counting from 0).
    ListPage { page: u32 },
    /// A per-key call on the key at `key` (index into `keys`).
    Key { key: usize, operation: crate::scenario::ClientOperation },
}

/// An HTTP fault of a fleet scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetFault {
    pub target: FaultTarget,
    pub effect: HttpFaultEffect,
    pub persistence: Persistence,
}

/// What another writer does right after the scope's list answered its `after_page`-th request (from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetWriter {
    pub after_page: u32,
    pub action: WriterAction,
}

/// Another writer's change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WriterAction {
    /// Destroys and deletes the key at this index: every later key moves one place up the list.
    Delete { key: usize },
    /// Creates a key from the vault's template (in scope, in sync).
    Create,
    /// Changes the key at this index, so an ETag read before is stale.
    Touch { key: usize },
}

/// What the runner needs to run and judge a fleet case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetCase {
    pub scope: Scope,
    /// Most requests a careful client needs here (`bounded-retries`).
    pub max_requests: usize,
    /// The scenario, when the case came from the generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<FleetScenario>,
}

/// The keys of a scope in one state of the server, with their statuses.
pub type ScopeState = BTreeMap<String, Vec<FinalStatus>>;

prop_compose! {
    /// A fleet scenario for `scope`: 1–3 keystores, 1–240 keys (mostly few, sometimes hundreds), any
    /// subset out of sync, outsiders, faults and writers. Faults and writers pick their key as a fraction
    /// of the key count, so they stay on a key while the keys shrink.
    pub fn arb_fleet_scenario(scope: ScopeKind)(
        keystores in proptest::collection::vec(arb_fleet_keystore(), 1..=MAX_FLEET_KEYSTORES),
        keys in prop_oneof![
            4 => proptest::collection::vec(arb_fleet_key(), 1..=30),
            2 => proptest::collection::vec(arb_fleet_key(), 31..=70),
            1 => proptest::collection::vec(arb_fleet_key(), 71..=MAX_FLEET_KEYS),
        ],
        outsiders in proptest::collection::vec(arb_fleet_key(), 0..=3),
        fault_seeds in prop_oneof![2 => Just(Vec::new()), 3 => proptest::collection::vec(arb_fault_seed(), 1..=3)],
        writer_seeds in prop_oneof![2 => Just(Vec::new()), 3 => proptest::collection::vec(arb_writer_seed(), 1..=2)],
    ) -> FleetScenario {
        let keys: Vec<FleetKey> = keys
            .into_iter()
            .map(|key| FleetKey { divergence: key.divergence.map(|(at, copy)| (at % keystores.len().max(1), copy)), ..key })
            .collect();
        let http_faults = fault_seeds.into_iter().map(|seed| seed.place(keys.len())).collect();
        let writers = writer_seeds.into_iter().map(|seed| seed.place(keys.len())).collect();
        FleetScenario { scope, keystores, keys, outsiders, http_faults, writers }
    }
}

/// A keystore of the fleet: a type and a reachability fault (what it holds is per key).
fn arb_fleet_keystore() -> impl Strategy<Value = KeystoreCase> {
    (arb_keystore_kind(), arb_keystore_fault()).prop_map(|(kind, reachability)| KeystoreCase {
        kind,
        copy: CopyCase::InSync,
        reachability,
    })
}

/// A key: mostly active and in sync (the keystore index is taken modulo the keystore count).
fn arb_fleet_key() -> impl Strategy<Value = FleetKey> {
    (
        prop_oneof![6 => Just(KeyStateCase::Active), 1 => Just(KeyStateCase::PreActivation), 1 => Just(KeyStateCase::Deactivated), 1 => Just(KeyStateCase::Destroyed)],
        prop_oneof![3 => Just(None), 1 => (0..MAX_FLEET_KEYSTORES, arb_divergence()).prop_map(Some)],
    )
        .prop_map(|(state, divergence)| FleetKey { state, divergence: divergence.filter(|(_, copy)| *copy != CopyCase::InSync) })
}

/// A fault before it is placed on a key: `key_fraction` picks the key among however many there are.
#[derive(Clone, Copy, Debug)]
struct FaultSeed {
    on_list: bool,
    page: u32,
    key_fraction: f64,
    operation: crate::scenario::ClientOperation,
    effect: HttpFaultEffect,
    persistence: Persistence,
}

fn arb_fault_seed() -> impl Strategy<Value = FaultSeed> {
    (
        proptest::bool::weighted(0.4),
        0..4u32,
        0.0..1.0f64,
        crate::scenario::arb_client_operation(),
        arb_http_fault_effect(),
        arb_persistence(),
    )
        .prop_map(|(on_list, page, key_fraction, operation, effect, persistence)| FaultSeed {
            on_list,
            page,
            key_fraction,
            operation,
            effect,
            persistence,
        })
}

impl FaultSeed {
    fn place(self, keys: usize) -> FleetFault {
        let target = if self.on_list {
            FaultTarget::ListPage { page: self.page }
        } else {
            FaultTarget::Key { key: pick(self.key_fraction, keys), operation: self.operation }
        };
        FleetFault { target, effect: self.effect, persistence: self.persistence }
    }
}

#[derive(Clone, Copy, Debug)]
struct WriterSeed {
    after_page: u32,
    kind: u8,
    key_fraction: f64,
}

fn arb_writer_seed() -> impl Strategy<Value = WriterSeed> {
    (0..3u32, prop_oneof![3 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)], 0.0..1.0f64)
        .prop_map(|(after_page, kind, key_fraction)| WriterSeed { after_page, kind, key_fraction })
}

impl WriterSeed {
    fn place(self, keys: usize) -> FleetWriter {
        // A key on a page the walk has already passed (pages of 10, the smallest common limit): that is
        // the deletion that shifts offset paging.
        let passed = usize::try_from(self.after_page + 1).unwrap_or(1) * 10;
        let key = pick(self.key_fraction, keys.min(passed));
        let action = match self.kind {
            0 => WriterAction::Delete { key },
            1 => WriterAction::Create,
            _ => WriterAction::Touch { key },
        };
        FleetWriter { after_page: self.after_page, action }
    }
}

fn pick(fraction: f64, count: usize) -> usize {
    // Truncation is the point: a fraction in [0, 1) picks one of `count` slots.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let index = (fraction * count as f64) as usize;
    index.min(count.saturating_sub(1))
}

/// The id of the fleet key at `index`; ids sort in index order, so the list's default order is this one.
pub fn fleet_key_id(index: usize) -> String {
    format!("44444444-4444-4444-8444-{:012}", index + 1)
}

/// The id of the outsider key at `index`.
pub fn outsider_key_id(index: usize) -> String {
    format!("44444444-4444-4444-9444-{:012}", index + 1)
}

impl FleetScenario {
    /// The scope the client receives.
    pub fn scope(&self) -> Scope {
        match self.scope {
            ScopeKind::Keystore => Scope { kind: ScopeKind::Keystore, id: keystore_id(0) },
            ScopeKind::Vault => Scope { kind: ScopeKind::Vault, id: VAULT_ID.to_owned() },
        }
    }

    /// Whether a key of the fleet's vault is in scope at the start.
    pub fn in_scope(&self, key: &FleetKey) -> bool {
        match self.scope {
            ScopeKind::Vault => true,
            ScopeKind::Keystore => matches!(key.state, KeyStateCase::Active | KeyStateCase::PreActivation),
        }
    }

    /// Keys in scope at the start.
    pub fn keys_in_scope(&self) -> usize {
        self.keys.iter().filter(|key| self.in_scope(key)).count()
    }

    /// Syncable when every fault is transient; otherwise the obstacles in words.
    pub fn obstacles(&self) -> Vec<String> {
        let mut obstacles = Vec::new();
        for (index, keystore) in self.keystores.iter().enumerate() {
            match keystore.reachability {
                ReachabilityCase::UnreachableForCalls { calls } if calls > crate::scenario::MAX_TRANSIENT_FAILURES => {
                    obstacles.push(format!("keystore {} is unreachable for {calls} calls", index + 1));
                }
                ReachabilityCase::Unreachable => obstacles.push(format!("keystore {} is never reachable", index + 1)),
                _ => {}
            }
        }
        for fault in &self.http_faults {
            if fault.persistence.outlasts_the_budget() && fault.effect.is_failure() {
                obstacles.push(format!("{} fails with {} {}", fault.target, fault.effect, fault.persistence));
            }
        }
        obstacles
    }

    /// What a correct client must achieve.
    pub fn expected_outcome(&self) -> ExpectedOutcome {
        if self.obstacles().is_empty() {
            ExpectedOutcome::Syncable
        } else {
            ExpectedOutcome::NotSyncable
        }
    }

    /// Requests a careful client may need: six walks of two reads per key, a sync and a re-read per key,
    /// and the pages (of 10, the smallest common `limit`); `bounded-retries` holds the client to it.
    pub fn request_budget(&self) -> usize {
        let keys = self.keys.len() + self.writers.len();
        let pages = keys.div_ceil(DEFAULT_LIMIT.min(10)).max(1);
        60 + 14 * keys + 8 * pages
    }

    /// A one-line summary, used as the fixture's description.
    pub fn summary(&self) -> String {
        let out_of_sync: Vec<String> = self
            .keys
            .iter()
            .enumerate()
            .filter(|(_, key)| key.divergence.is_some_and(|(_, copy)| copy.is_out_of_sync(key.state)))
            .map(|(index, key)| {
                let (keystore, copy) = key.divergence.unwrap_or((0, CopyCase::InSync));
                format!(
                    "#{} {} ({} in keystore {}){}",
                    index + 1,
                    key.state.as_str(),
                    copy.describe(key.state),
                    keystore + 1,
                    if self.in_scope(key) { "" } else { " [out of scope]" }
                )
            })
            .collect();
        let keystores: Vec<String> = self
            .keystores
            .iter()
            .map(|keystore| format!("{}{}", keystore.kind.keystore_type(), keystore.reachability.describe_suffix()))
            .collect();
        let mut summary = format!(
            "Fleet scenario ({} scope): {} key(s), {} in scope, in keystores {}; out of sync: {}",
            match self.scope {
                ScopeKind::Keystore => "keystore",
                ScopeKind::Vault => "vault",
            },
            self.keys.len(),
            self.keys_in_scope(),
            keystores.join(", "),
            if out_of_sync.is_empty() { "none".to_owned() } else { out_of_sync.join(", ") }
        );
        let outsiders = self.outsiders.iter().filter(|key| key.divergence.is_some()).count();
        if outsiders > 0 {
            summary.push_str(&format!("; {outsiders} key(s) of another vault out of sync"));
        }
        for fault in &self.http_faults {
            summary.push_str(&format!("; {} on {} {}", fault.effect, fault.target, fault.persistence));
        }
        for writer in &self.writers {
            summary.push_str(&format!("; {writer}"));
        }
        summary.push_str(match self.expected_outcome() {
            ExpectedOutcome::Syncable => ". Expected: syncable",
            ExpectedOutcome::NotSyncable => ". Expected: not syncable",
        });
        summary
    }

    /// The case this scenario runs as.
    pub fn case_setup(&self) -> Result<crate::scenario::CaseSetup, FixtureError> {
        Ok(crate::scenario::CaseSetup {
            fixture: self.to_fixture()?,
            managed_key_id: String::new(),
            vault_id: VAULT_ID.to_owned(),
            expected: self.expected_outcome(),
            scenario: None,
            fleet: Some(FleetCase {
                scope: self.scope(),
                max_requests: self.request_budget(),
                scenario: Some(self.clone()),
            }),
        })
    }

    /// The uko-mock fixture for this scenario (deterministic).
    pub fn to_fixture(&self) -> Result<Fixture, FixtureError> {
        let fixture = Fixture::from_json(&self.to_fixture_json().to_string())?;
        fixture.validate()?;
        Ok(fixture)
    }

    fn to_fixture_json(&self) -> Value {
        let mut keystores: Vec<Value> = self
            .keystores
            .iter()
            .enumerate()
            .map(|(index, keystore)| crate::scenario::keystore_fixture_json(index, keystore))
            .collect();
        let other_keystore = KeystoreCase {
            kind: KeystoreKind::AwsKms,
            copy: CopyCase::InSync,
            reachability: ReachabilityCase::Reachable,
        };
        let mut other = crate::scenario::keystore_fixture_json(98, &other_keystore);
        other["id"] = json!(OTHER_KEYSTORE_ID);
        other["vault_id"] = json!(OTHER_VAULT_ID);
        other["groups"] = json!(["Other"]);
        keystores.push(other);
        let mut kinds: Vec<&'static str> = Vec::new();
        for keystore in &self.keystores {
            if !kinds.contains(&keystore.kind.keystore_type()) {
                kinds.push(keystore.kind.keystore_type());
            }
        }
        let keystore_kinds: Vec<&'static str> = self.keystores.iter().map(|k| k.kind.keystore_type()).collect();
        let all_keystores: Vec<String> = (0..self.keystores.len()).map(keystore_id).collect();
        let mut managed_keys = Vec::new();
        let mut divergences = Vec::new();
        for (index, key) in self.keys.iter().enumerate() {
            let id = fleet_key_id(index);
            managed_keys.push(key_json(
                &id,
                VAULT_ID,
                TEMPLATE_ID,
                key.state,
                &all_keystores,
                &keystore_kinds,
                KEYSTORE_GROUP,
                index,
            ));
            if let Some((keystore, copy)) = key.divergence {
                if let Some(observed) = copy.observed_copy() {
                    divergences.push(json!({"managed_key": id, "keystore": keystore_id(keystore.min(self.keystores.len().saturating_sub(1))), "copy": observed}));
                }
            }
        }
        for (index, key) in self.outsiders.iter().enumerate() {
            let id = outsider_key_id(index);
            managed_keys.push(key_json(
                &id,
                OTHER_VAULT_ID,
                OTHER_TEMPLATE_ID,
                key.state,
                &[OTHER_KEYSTORE_ID.to_owned()],
                &["aws_kms"],
                "Other",
                500 + index,
            ));
            if let Some((_, copy)) = key.divergence {
                if let Some(observed) = copy.observed_copy() {
                    divergences.push(json!({"managed_key": id, "keystore": OTHER_KEYSTORE_ID, "copy": observed}));
                }
            }
        }
        json!({
            "description": self.summary(),
            "seed": 1,
            "clock": {"start": "2026-01-01T09:00:00Z", "mode": "virtual"},
            "vaults": [
                {"id": VAULT_ID, "name": "Conformance", "description": "Generated by uko-conformance", "created_at": "2025-09-01T08:00:00Z", "updated_at": "2025-09-01T08:00:00Z"},
                {"id": OTHER_VAULT_ID, "name": "Other", "description": "Keys outside the scope", "created_at": "2025-09-01T08:00:00Z", "updated_at": "2025-09-01T08:00:00Z"},
            ],
            "templates": [
                template_json(TEMPLATE_ID, VAULT_ID, TEMPLATE_NAME, kinds.first().copied().unwrap_or("aws_kms"), KEYSTORE_GROUP),
                template_json(OTHER_TEMPLATE_ID, OTHER_VAULT_ID, "Other-AES256", "aws_kms", "Other"),
            ],
            "keystores": keystores,
            "managed_keys": managed_keys,
            "divergences": divergences,
            "faults": self.fault_rules_json(),
        })
    }

    fn list_operation(&self) -> &'static str {
        match self.scope {
            ScopeKind::Keystore => "ListManagedKeysFromKeystore",
            ScopeKind::Vault => "ListManagedKeys",
        }
    }

    fn list_resource(&self) -> Value {
        match self.scope {
            ScopeKind::Keystore => json!(keystore_id(0)),
            ScopeKind::Vault => Value::Null,
        }
    }

    fn fault_rules_json(&self) -> Vec<Value> {
        let mut rules = Vec::new();
        for (index, writer) in self.writers.iter().enumerate() {
            let effect = match writer.action {
                WriterAction::Delete { key } => {
                    json!({"kind": "concurrent_delete", "managed_key_id": fleet_key_id(key)})
                }
                WriterAction::Touch { key } => {
                    json!({"kind": "concurrent_writer", "managed_key_id": fleet_key_id(key)})
                }
                WriterAction::Create => json!({
                    "kind": "concurrent_create",
                    "vault_id": VAULT_ID,
                    "template_name": TEMPLATE_NAME,
                    "label": format!("created-by-writer-{}", index + 1),
                }),
            };
            let mut rule = json!({
                "id": format!("writer-{}", index + 1),
                "operation": self.list_operation(),
                "trigger": {"kind": "range", "skip": writer.after_page, "count": 1},
                "effect": effect,
            });
            if !self.list_resource().is_null() {
                rule["resource_id"] = self.list_resource();
            }
            if let WriterAction::Touch { key } = writer.action {
                // Right after the client read the key: the ETag it just got is stale.
                rule["operation"] = json!("GetManagedKey");
                rule["resource_id"] = json!(fleet_key_id(key));
                rule["trigger"] = json!({"kind": "next_n", "count": 1 + writer.after_page % 2});
            }
            rules.push(rule);
        }
        for (index, fault) in self.http_faults.iter().enumerate() {
            let (operation, resource, skip) = match fault.target {
                FaultTarget::ListPage { page } => (self.list_operation(), self.list_resource(), page),
                FaultTarget::Key { key, operation } => (operation.name(), json!(fleet_key_id(key)), 0),
            };
            let trigger = match fault.persistence {
                Persistence::Transient { times } | Persistence::Outlasting { times } => {
                    json!({"kind": "range", "skip": skip, "count": times})
                }
                Persistence::Permanent => json!({"kind": "after_n", "count": skip}),
            };
            let mut rule = json!({
                "id": format!("fault-{}-{}", index + 1, fault.effect.short_name()),
                "operation": operation,
                "trigger": trigger,
                "effect": crate::scenario::effect_json(fault.effect),
            });
            if !resource.is_null() {
                rule["resource_id"] = resource;
            }
            rules.push(rule);
        }
        rules
    }
}

fn template_json(id: &str, vault: &str, name: &str, keystore_type: &str, group: &str) -> Value {
    json!({
        "id": id,
        "vault_id": vault,
        "name": name,
        "key": {"size": "256", "algorithm": "aes", "activation_date": "P1W", "expiration_date": "P2Y", "state": "active"},
        "description": "Template of the conformance keys",
        "keystores": [{"type": keystore_type, "group": group}],
        "created_at": "2025-09-01T08:10:00Z",
        "updated_at": "2025-09-01T08:10:00Z",
    })
}

#[allow(clippy::too_many_arguments)]
fn key_json(
    id: &str,
    vault: &str,
    template: &str,
    state: KeyStateCase,
    keystores: &[String],
    kinds: &[&str],
    group: &str,
    number: usize,
) -> Value {
    let instances: Vec<Value> = kinds
        .iter()
        .enumerate()
        .map(|(index, kind)| {
            json!({
                "id": format!("55555555-5555-4555-8555-{:08}{:04}", number + 1, index + 1),
                "label_in_keystore": format!("fleet-key-{}", number + 1),
                "type": "secret_key",
                "keystore": {"type": kind, "group": group},
            })
        })
        .collect();
    let mut key = json!({
        "id": id,
        "vault_id": vault,
        "template_id": template,
        "label": format!("fleet-key-{}", number + 1),
        "description": "",
        "state": state.as_str(),
        "algorithm": "aes",
        "size": "256",
        "created_at": "2025-10-01T10:00:00Z",
        "updated_at": "2025-10-01T10:00:00Z",
        "referenced_keystores": keystores,
        "instances": instances,
        "versions": [{"version": 1, "material": format!("{:032X}", number + 1), "created_at": "2025-10-01T10:00:00Z"}],
    });
    if matches!(state, KeyStateCase::Deactivated | KeyStateCase::Destroyed) {
        key["updated_at"] = json!("2025-11-01T10:00:00Z");
        key["deactivated_at"] = json!("2025-11-01T10:00:00Z");
    }
    key
}

/// The keys in `scope` in this state of the server, with their statuses (computed without contacting
/// keystores): for a keystore, what `GET /keystores/{id}/managed_keys` lists with no parameters but
/// every page; for a vault, every key whose vault it is.
pub fn keys_in_scope(instance: &Instance, scope: &Scope) -> ScopeState {
    let ids: Vec<String> = match scope.kind {
        ScopeKind::Keystore => {
            let query = KeyQuery { page: Page { offset: 0, limit: usize::MAX }, ..KeyQuery::default() };
            instance
                .list_managed_keys(&query, KeyListScope::Keystore(&scope.id))
                .map(|listing| listing.ids)
                .unwrap_or_default()
        }
        ScopeKind::Vault => {
            instance.managed_keys.values().filter(|key| key.vault_id == scope.id).map(|key| key.id.clone()).collect()
        }
    };
    ids.into_iter()
        .map(|id| {
            let statuses = final_statuses(instance.key_statuses(&id));
            (id, statuses)
        })
        .collect()
}

/// Every non-removed keystore of these statuses shows `ok`.
pub fn all_in_sync(statuses: &[FinalStatus]) -> bool {
    statuses.iter().filter(|entry| !entry.removed).all(|entry| entry.flag == SyncFlag::Ok)
}

impl fmt::Display for FaultTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultTarget::ListPage { page } => write!(f, "the list from request {}", page + 1),
            FaultTarget::Key { key, operation } => write!(f, "{} of key #{}", operation.name(), key + 1),
        }
    }
}

impl fmt::Display for FleetWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = format!("after list request {}", self.after_page + 1);
        match self.action {
            WriterAction::Delete { key } => write!(f, "another writer deletes key #{} {when}", key + 1),
            WriterAction::Create => write!(f, "another writer creates a key {when}"),
            WriterAction::Touch { key } => write!(
                f,
                "another writer changes key #{} right after the client reads it, {} time(s)",
                key + 1,
                1 + self.after_page % 2
            ),
        }
    }
}

impl fmt::Display for ScopeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScopeKind::Keystore => "keystore",
            ScopeKind::Vault => "vault",
        })
    }
}
