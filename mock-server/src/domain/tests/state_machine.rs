//! A reference model of §2 and a state machine over it, and determinism (same seed, same instance).

use super::*;

#[path = "../../../tests/shared/lifecycle_model.rs"]
mod lifecycle_model;
use lifecycle_model::{arb_op, IfMatch, Lifecycle, ModelKey, ModelRules, Op, Outcome};

#[derive(Clone, Debug)]
enum Step {
    Call { key: usize, op: Op, if_match: IfMatch },
    Read { key: usize },
    SetReachable { keystore: usize, reachable: bool },
    SetFlapping { keystore: usize, percent: u8 },
    Drift { keystore: usize, key: usize, observed: Observed },
    AdvanceClock { seconds: i64 },
}

fn outcome<T>(result: &Result<T>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(Error::PreconditionRequired) => Outcome::PreconditionRequired,
        Err(Error::PreconditionFailed { .. }) => Outcome::PreconditionFailed,
        Err(Error::InvalidState { .. }) => Outcome::InvalidState,
        Err(Error::NotFound { .. }) => Outcome::NotFound,
        Err(other) => Outcome::Other(format!("{other:?}")),
    }
}

fn lifecycle(state: KeyState) -> Lifecycle {
    match state {
        KeyState::PreActivation => Lifecycle::PreActive,
        KeyState::Active => Lifecycle::Active,
        KeyState::Deactivated | KeyState::Compromised => Lifecycle::Deactivated,
        KeyState::Destroyed | KeyState::DestroyedCompromised => Lifecycle::Destroyed,
    }
}

/// The keystores the state machine plays with: both receive the fixture keys.
const MACHINE_KEYSTORES: [&str; 2] = ["aws_prod_1", "aws_prod_2"];

/// Drives one fixture with steps and remembers what a client would: every ETag it has seen.
struct Harness {
    fx: Fixture,
    keys: Vec<String>,
    /// ETags seen per key, oldest first; the last one is current (or last known, once deleted).
    etags: Vec<Vec<String>>,
    reachable: Vec<bool>,
}

impl Harness {
    fn new(settings: Settings, seed: u64, second_active: bool) -> Self {
        let mut fx = Fixture::with(settings, seed);
        let first = fx.key("AWS-ACTIVE", "first");
        let second = fx.key(if second_active { "AWS-ACTIVE" } else { "AWS-PREACTIVE" }, "second");
        let etags = vec![vec![fx.etag(&first)], vec![fx.etag(&second)]];
        Harness { fx, keys: vec![first, second], etags, reachable: vec![true; MACHINE_KEYSTORES.len()] }
    }

    fn if_match_value(&self, key: usize, if_match: IfMatch) -> Option<String> {
        let seen = &self.etags[key];
        match if_match {
            IfMatch::Current => seen.last().cloned(),
            IfMatch::Stale if seen.len() >= 2 => Some(seen[seen.len() - 2].clone()),
            IfMatch::Stale => Some("2025-12-31T23:59:59Z".to_owned()),
            IfMatch::Missing => None,
            IfMatch::Wildcard => Some("*".to_owned()),
        }
    }

    /// Whether the key still has a copy pending destruction that has not reached its end (guard 2.4c).
    fn pending_destruction(&self, key: usize) -> bool {
        let instance = &self.fx.instance;
        let now = instance.clock.now;
        let Ok(record) = instance.managed_key(&self.keys[key]) else {
            return false;
        };
        record.referenced_keystores.iter().any(|ks| {
            instance
                .keystores
                .get(ks)
                .and_then(|k| k.simulation.copies.get(&record.id))
                .is_some_and(|c| c.state == CopyState::PendingDestruction && c.destruction_at.is_none_or(|at| at > now))
        })
    }

    fn call(&mut self, key: usize, op: Op, if_match: IfMatch, step: usize) -> (Outcome, Option<Vec<StatusEntry>>) {
        let id = self.keys[key].clone();
        let value = self.if_match_value(key, if_match);
        let if_match = value.as_deref();
        let instance = &mut self.fx.instance;
        let (result, entries) = match op {
            Op::Activate => (
                outcome(&instance.change_key_state(
                    &id,
                    if_match.map(super::IfMatch::parse).as_ref(),
                    KeyAction::Activate,
                )),
                None,
            ),
            Op::Deactivate => (
                outcome(&instance.change_key_state(
                    &id,
                    if_match.map(super::IfMatch::parse).as_ref(),
                    KeyAction::Deactivate,
                )),
                None,
            ),
            Op::Destroy => (
                outcome(&instance.change_key_state(
                    &id,
                    if_match.map(super::IfMatch::parse).as_ref(),
                    KeyAction::Destroy,
                )),
                None,
            ),
            Op::Rotate => {
                (outcome(&instance.rotate_managed_key(&id, if_match.map(super::IfMatch::parse).as_ref())), None)
            }
            Op::Update => {
                let input =
                    ManagedKeyUpdate { description: Some(format!("step {step}")), ..ManagedKeyUpdate::default() };
                (outcome(&instance.update_managed_key(&id, if_match.map(super::IfMatch::parse).as_ref(), input)), None)
            }
            Op::Sync => {
                let result = instance.sync_managed_key(&id, if_match.map(super::IfMatch::parse).as_ref());
                (outcome(&result), result.ok())
            }
            Op::Delete { force } => {
                (outcome(&instance.delete_managed_key(&id, if_match.map(super::IfMatch::parse).as_ref(), force)), None)
            }
        };
        if let Ok(record) = self.fx.instance.managed_key(&id) {
            let etag = record.updated_at.etag();
            if self.etags[key].last() != Some(&etag) {
                self.etags[key].push(etag);
            }
        }
        (result, entries)
    }

    fn read(&mut self, key: usize) -> String {
        let id = self.keys[key].clone();
        let statuses = self.fx.instance.status_in_keystores(&id);
        let listed = self.fx.list_keys(&[("status_in_keystores[].keystore_sync_flag", "out_of_sync")]);
        format!("{statuses:?} {listed:?}")
    }

    fn fault(&mut self, step: &Step) {
        match *step {
            Step::SetReachable { keystore, reachable } => {
                let id = self.fx.ks(MACHINE_KEYSTORES[keystore]);
                self.reachable[keystore] = reachable;
                let reachability = if reachable { Reachability::Reachable } else { Reachability::Unreachable };
                self.fx.instance.keystores.get_mut(&id).unwrap().simulation.reachability = reachability;
            }
            Step::SetFlapping { keystore, percent } => {
                let id = self.fx.ks(MACHINE_KEYSTORES[keystore]);
                let probability = f64::from(percent) / 100.0;
                self.fx.instance.keystores.get_mut(&id).unwrap().simulation.reachability =
                    Reachability::Flapping { probability };
            }
            Step::Drift { keystore, key, observed } => {
                let id = self.fx.ks(MACHINE_KEYSTORES[keystore]);
                let key_id = self.keys[key].clone();
                if self.fx.instance.managed_key(&key_id).is_ok() {
                    set_observed(&mut self.fx.instance, &id, &key_id, observed);
                }
            }
            Step::AdvanceClock { seconds } => self.fx.instance.clock.advance(seconds),
            Step::Call { .. } | Step::Read { .. } => {}
        }
    }

    /// Applies any step and describes what the caller saw (for comparing two runs).
    fn apply(&mut self, step: &Step, index: usize) -> String {
        match *step {
            Step::Call { key, op, if_match } => format!("{:?}", self.call(key, op, if_match, index)),
            Step::Read { key } => self.read(key),
            _ => {
                self.fault(step);
                String::new()
            }
        }
    }

    /// The copies of a key that still exist once due destructions are settled.
    fn effective_copies(&self, key: usize) -> Vec<Option<KeyCopy>> {
        let now = self.fx.instance.clock.now;
        self.fx
            .instance
            .keystores
            .values()
            .map(|k| {
                k.simulation.copies.get(&self.keys[key]).cloned().filter(|c| {
                    !(c.state == CopyState::PendingDestruction && c.destruction_at.is_some_and(|at| at <= now))
                })
            })
            .collect()
    }
}

fn arb_if_match() -> impl Strategy<Value = IfMatch> {
    prop_oneof![
        5 => Just(IfMatch::Current),
        2 => Just(IfMatch::Stale),
        1 => Just(IfMatch::Missing),
        1 => Just(IfMatch::Wildcard),
    ]
}

fn arb_step(flapping: bool) -> BoxedStrategy<Step> {
    let keystore = 0..MACHINE_KEYSTORES.len();
    let base = prop_oneof![
        10 => (0..2usize, arb_op(any::<bool>()), arb_if_match())
            .prop_map(|(key, op, if_match)| Step::Call { key, op, if_match }),
        2 => (0..2usize).prop_map(|key| Step::Read { key }),
        2 => (keystore.clone(), any::<bool>()).prop_map(|(keystore, reachable)| Step::SetReachable { keystore, reachable }),
        2 => (keystore.clone(), 0..2usize, arb_observed()).prop_map(|(keystore, key, observed)| Step::Drift { keystore, key, observed }),
        1 => prop_oneof![Just(1i64), Just(DAY), Just(8 * DAY)].prop_map(|seconds| Step::AdvanceClock { seconds }),
    ];
    if flapping {
        prop_oneof![
            8 => base,
            1 => (keystore, 0..=100u8).prop_map(|(keystore, percent)| Step::SetFlapping { keystore, percent }),
        ]
        .boxed()
    } else {
        base.boxed()
    }
}

fn arb_settings() -> impl Strategy<Value = Settings> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(destroy_requires_deactivated, pending_destruction, sync_bumps_etag)| Settings {
            destroy_requires_deactivated,
            pending_destruction,
            sync_bumps_etag,
            ..Settings::default()
        },
    )
}

fn run_model(settings: Settings, second_active: bool, steps: &[Step]) -> std::result::Result<(), TestCaseError> {
    let rules = ModelRules {
        destroy_requires_deactivated: settings.destroy_requires_deactivated,
        sync_bumps_etag: settings.sync_bumps_etag,
    };
    let mut harness = Harness::new(settings, 7, second_active);
    let mut model = [ModelKey::new(true), ModelKey::new(second_active)];
    for (index, step) in steps.iter().enumerate() {
        let records_before: Vec<Option<ManagedKey>> =
            harness.keys.iter().map(|id| harness.fx.instance.managed_key(id).ok().cloned()).collect();
        let copies_before: Vec<_> = (0..2).map(|key| harness.effective_copies(key)).collect();
        match *step {
            Step::Call { key, op, if_match } => {
                let pending = harness.pending_destruction(key);
                let expected = model[key].apply(op, if_match, rules, pending);
                let (actual, entries) = harness.call(key, op, if_match, index);
                prop_assert_eq!(&actual, &expected, "step {}: {:?}", index, step);
                let after = harness.fx.instance.managed_key(&harness.keys[key]).ok().cloned();
                let before = &records_before[key];
                match (&actual, op) {
                    (Outcome::Ok, Op::Delete { .. }) => prop_assert!(after.is_none()),
                    (Outcome::Ok, Op::Sync) => {
                        let (before, after) = (before.as_ref().unwrap(), after.as_ref().unwrap());
                        if rules.sync_bumps_etag {
                            prop_assert!(after.updated_at > before.updated_at);
                        } else {
                            prop_assert_eq!(after.updated_at, before.updated_at, "sync changed the ETag");
                        }
                        prop_assert_eq!(after.state, before.state);
                        prop_assert_eq!(&after.versions, &before.versions);
                        let entries = entries.unwrap();
                        prop_assert_eq!(entries.len(), after.referenced_keystores.len());
                        for entry in &entries {
                            let position = MACHINE_KEYSTORES.iter().position(|n| harness.fx.ks(n) == entry.keystore_id);
                            let reachable = harness.reachable[position.unwrap()];
                            let wanted = if reachable { SyncFlag::Ok } else { SyncFlag::Error };
                            prop_assert_eq!(entry.sync_flag, wanted, "step {}: after sync {:?}", index, entry);
                        }
                    }
                    (Outcome::Ok, _) => {
                        let (before, after) = (before.as_ref().unwrap(), after.as_ref().unwrap());
                        prop_assert!(after.updated_at > before.updated_at, "step {}: {:?} kept the ETag", index, op);
                    }
                    _ => prop_assert_eq!(&after, before, "step {}: a refused {:?} changed the key", index, op),
                }
                let other = 1 - key;
                let other_after = harness.fx.instance.managed_key(&harness.keys[other]).ok().cloned();
                prop_assert_eq!(&other_after, &records_before[other], "step {}: touched the other key", index);
                prop_assert_eq!(
                    harness.effective_copies(other),
                    copies_before[other].clone(),
                    "step {}: touched the other key's copies",
                    index
                );
            }
            Step::Read { key } => {
                harness.read(key);
                for (key, before) in records_before.iter().enumerate() {
                    let after = harness.fx.instance.managed_key(&harness.keys[key]).ok().cloned();
                    prop_assert_eq!(&after, before, "step {}: a read changed a key", index);
                }
            }
            _ => harness.fault(step),
        }
        for (key, model_key) in model.iter().enumerate() {
            let record = harness.fx.instance.managed_key(&harness.keys[key]).ok();
            prop_assert_eq!(record.map(|r| lifecycle(r.state)), model_key.state, "step {}: key {} state", index, key);
            if let Some(record) = record {
                prop_assert_eq!(record.version_number(), model_key.versions);
                prop_assert_eq!(harness.etags[key].len() - 1, model_key.etag_changes, "step {}: ETag changes", index);
            }
        }
    }
    Ok(())
}

proptest! {
    /// Random action sequences agree with the §2 reference model on success and on the error kind;
    /// successful mutations change the ETag, refusals and reads change nothing, and sync leaves every
    /// reachable keystore `ok`.
    #[test]
    fn instance_agrees_with_the_reference_model(
        settings in arb_settings(),
        second_active in any::<bool>(),
        steps in prop::collection::vec(arb_step(false), 1..40),
    ) {
        run_model(settings, second_active, &steps)?;
    }

    /// Same seed and same requests give the same instance, byte for byte.
    #[test]
    fn same_seed_and_operations_give_identical_instances(
        settings in arb_settings(),
        seed in any::<u64>(),
        second_active in any::<bool>(),
        steps in prop::collection::vec(arb_step(true), 1..40),
    ) {
        let mut first = Harness::new(settings.clone(), seed, second_active);
        let mut second = Harness::new(settings, seed, second_active);
        for (index, step) in steps.iter().enumerate() {
            let seen_first = first.apply(step, index);
            let seen_second = second.apply(step, index);
            prop_assert_eq!(seen_first, seen_second, "step {}: {:?}", index, step);
            prop_assert!(first.fx.instance == second.fx.instance, "step {}: instances diverged", index);
        }
        let first_json = serde_json::to_string(&first.fx.instance).unwrap();
        let second_json = serde_json::to_string(&second.fx.instance).unwrap();
        prop_assert_eq!(first_json, second_json);
    }
}

#[test]
fn different_seeds_give_different_ids() {
    let first = Fixture::with(Settings::default(), 1);
    let second = Fixture::with(Settings::default(), 2);
    assert_ne!(first.vault_id, second.vault_id);
    assert_eq!(Fixture::with(Settings::default(), 1).vault_id, first.vault_id);
}
