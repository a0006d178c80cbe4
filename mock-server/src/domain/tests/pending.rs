//! Settling pending destructions from the index of due times gives the same answers and the same copies as
//! the scan of every copy it replaced (kept as the oracle, `PendingDestructions::by_scan`), over random
//! operations, out-of-band copy edits, keystore deletions, reloads and virtual clock advances.

use super::*;
use crate::domain::command::Command;
use crate::domain::pending_destructions::PendingDestructions;

#[derive(Clone, Debug)]
enum Step {
    Act {
        key: usize,
        action: KeyAction,
    },
    Rotate {
        key: usize,
    },
    Sync {
        key: usize,
    },
    Get {
        key: usize,
    },
    Status {
        key: usize,
    },
    Patch {
        key: usize,
    },
    Delete {
        key: usize,
        force: bool,
    },
    List,
    SetCopy {
        key: usize,
        keystore: usize,
        observed: ObservedCopy,
    },
    SetReachable {
        keystore: usize,
        reachable: bool,
    },
    DeleteKeystore {
        keystore: usize,
        mode: DeleteKeystoreMode,
    },
    Advance {
        seconds: i64,
    },
    /// Export and import the state (fixture load, snapshot import, `--state-file` restart all build an
    /// instance from its serialized form, without the index).
    Reload,
}

use crate::domain::simulation::ObservedCopy;

fn arb_step() -> impl Strategy<Value = Step> {
    let key = 0..8usize;
    let keystore = 0..KEYSTORES.len();
    let action = prop::sample::select(vec![KeyAction::Activate, KeyAction::Deactivate, KeyAction::Destroy]);
    let observed = prop::sample::select(vec![
        ObservedCopy::Absent,
        ObservedCopy::Active,
        ObservedCopy::Inactive,
        ObservedCopy::PendingDestruction,
        ObservedCopy::WrongKey,
    ]);
    let mode = prop::sample::select(vec![
        DeleteKeystoreMode::Restrict,
        DeleteKeystoreMode::Deactivate,
        DeleteKeystoreMode::Destroy,
        DeleteKeystoreMode::Disconnect,
    ]);
    // Around the periods (CCA 0, AWS 7 days, IBM and Google 30, Azure 90) and the 4-hour destroy rule.
    let seconds = prop_oneof![
        Just(0i64),
        Just(3600),
        Just(4 * 3600 + 1),
        Just(DAY),
        Just(7 * DAY),
        Just(30 * DAY),
        Just(90 * DAY),
        0..40 * DAY,
    ];
    prop_oneof![
        4 => (key.clone(), action).prop_map(|(key, action)| Step::Act { key, action }),
        1 => key.clone().prop_map(|key| Step::Rotate { key }),
        2 => key.clone().prop_map(|key| Step::Sync { key }),
        2 => key.clone().prop_map(|key| Step::Get { key }),
        1 => key.clone().prop_map(|key| Step::Status { key }),
        1 => key.clone().prop_map(|key| Step::Patch { key }),
        1 => (key.clone(), any::<bool>()).prop_map(|(key, force)| Step::Delete { key, force }),
        1 => Just(Step::List),
        2 => (key.clone(), keystore.clone(), observed)
            .prop_map(|(key, keystore, observed)| Step::SetCopy { key, keystore, observed }),
        1 => (keystore.clone(), any::<bool>()).prop_map(|(keystore, reachable)| Step::SetReachable { keystore, reachable }),
        1 => (keystore, mode).prop_map(|(keystore, mode)| Step::DeleteKeystore { keystore, mode }),
        3 => seconds.prop_map(|seconds| Step::Advance { seconds }),
        1 => Just(Step::Reload),
    ]
}

/// The realistic profile with pending destruction on, and keys on keystores of every pending period.
fn tenant(seed: u64) -> (Fixture, Vec<String>, Vec<String>) {
    let settings = Settings { profile: Profile::Realistic, pending_destruction: true, ..Settings::default() };
    let mut fx = Fixture::with(settings, seed);
    for (name, keystore_type) in
        [("AZURE-ACTIVE", KeystoreType::AzureKeyVault), ("GOOGLE-ACTIVE", KeystoreType::GoogleKms)]
    {
        let input = template_input(&fx.vault_id, name, keystore_type, "prod", InitialKeyState::Active);
        fx.instance.create_template(input).unwrap();
    }
    let templates =
        ["AWS-ACTIVE", "AWS-ACTIVE", "AWS-PREACTIVE", "INTERNAL-ACTIVE", "CCA-ACTIVE", "AZURE-ACTIVE", "GOOGLE-ACTIVE"];
    let keys: Vec<String> =
        templates.iter().enumerate().map(|(n, template)| fx.key(template, &format!("key-{n}"))).collect();
    let keystores = KEYSTORES.iter().map(|(name, _, _)| fx.ks(name)).collect();
    (fx, keys, keystores)
}

/// Runs one step; what a client or the control plane would see of it.
fn run(instance: &mut Instance, step: &Step, keys: &[String], keystores: &[String]) -> String {
    // Index 7 is a key that never existed (a 404 must settle nothing and change nothing).
    let key = |index: usize| keys.get(index).cloned().unwrap_or_else(|| "no-such-key".to_owned());
    let etag =
        |instance: &Instance, id: &str| instance.managed_key(id).ok().map(|k| IfMatch::parse(k.updated_at.etag()));
    let execute = |instance: &mut Instance, command: Command, id: &str| {
        let if_match = etag(instance, id);
        format!("{:?}", instance.execute(command, if_match.as_ref()))
    };
    match step {
        Step::Act { key: k, action } => {
            execute(instance, Command::ChangeKeyState { id: key(*k), action: *action }, &key(*k))
        }
        Step::Rotate { key: k } => execute(instance, Command::RotateManagedKey { id: key(*k) }, &key(*k)),
        Step::Sync { key: k } => execute(instance, Command::SyncManagedKey { id: key(*k) }, &key(*k)),
        Step::Get { key: k } => execute(instance, Command::GetManagedKey { id: key(*k) }, &key(*k)),
        Step::Status { key: k } => {
            execute(instance, Command::GetKeyDistributionStatusForKeystores { id: key(*k) }, &key(*k))
        }
        Step::Patch { key: k } => {
            let input = ManagedKeyUpdate { description: Some(format!("patched {k}")), ..ManagedKeyUpdate::default() };
            execute(instance, Command::UpdateManagedKey { id: key(*k), input }, &key(*k))
        }
        Step::Delete { key: k, force } => {
            execute(instance, Command::DeleteManagedKey { id: key(*k), force: *force }, &key(*k))
        }
        Step::List => {
            let listing = instance.list_managed_keys_with(&params(&[("limit", "100")]), KeyListScope::All);
            let statuses: Vec<_> = keys.iter().map(|id| instance.peek_status_in_keystores(id)).collect();
            format!("{listing:?} {statuses:?}")
        }
        Step::SetCopy { key: k, keystore, observed } => {
            format!("{:?}", instance.set_observed_copy(&key(*k), &keystores[*keystore], *observed))
        }
        Step::SetReachable { keystore, reachable } => {
            let reachability = if *reachable { Reachability::Reachable } else { Reachability::Unreachable };
            format!("{:?}", instance.set_keystore_behaviour(&keystores[*keystore], Some(reachability), None).is_ok())
        }
        Step::DeleteKeystore { keystore, mode } => {
            let id = keystores[*keystore].clone();
            let if_match = instance.keystore(&id).ok().map(|k| IfMatch::parse(k.updated_at.etag()));
            format!("{:?}", instance.execute(Command::DeleteKeystore { id, mode: *mode }, if_match.as_ref()))
        }
        Step::Advance { seconds } => format!("{:?}", instance.advance_clock(*seconds)),
        Step::Reload => {
            let by_scan = instance.pending_destructions.by_scan;
            let exported = serde_json::to_string(&*instance).unwrap();
            let journal = std::mem::take(&mut instance.journal);
            *instance = serde_json::from_str(&exported).unwrap();
            instance.journal = journal;
            instance.pending_destructions.by_scan = by_scan;
            String::new()
        }
    }
}

/// Every copy pending destruction has an index entry at or before its due time (when the index is built).
fn check_index(instance: &Instance) -> std::result::Result<(), String> {
    let Some(entries) = instance.pending_destructions.entries() else {
        return Ok(());
    };
    for (keystore_id, keystore) in instance.keystores.iter().chain(&instance.removed_keystores) {
        for (key_id, copy) in &keystore.simulation.copies {
            let (CopyState::PendingDestruction, Some(due)) = (copy.state, copy.destruction_at) else {
                continue;
            };
            if !entries.iter().any(|(at, ks, key)| *at <= due && ks == keystore_id && key == key_id) {
                return Err(format!("copy of {key_id} in {keystore_id}, due {due:?}, has no index entry"));
            }
        }
    }
    Ok(())
}

fn copies(instance: &Instance) -> Vec<(&String, &BTreeMap<String, KeyCopy>)> {
    instance.keystores.iter().chain(&instance.removed_keystores).map(|(id, k)| (id, &k.simulation.copies)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The index settles exactly what the scan settled: same answer to every request, same copies after it.
    #[test]
    fn settling_from_the_index_matches_the_scan(seed in 1u64..1000, steps in prop::collection::vec(arb_step(), 1..60)) {
        let (fx, keys, keystores) = tenant(seed);
        let mut indexed = fx.instance;
        let mut oracle = indexed.clone();
        oracle.pending_destructions.by_scan = true;
        for (index, step) in steps.iter().enumerate() {
            let answer = run(&mut indexed, step, &keys, &keystores);
            let expected = run(&mut oracle, step, &keys, &keystores);
            prop_assert_eq!(&answer, &expected, "step {}: {:?}", index, step);
            prop_assert_eq!(copies(&indexed), copies(&oracle), "step {}: {:?}", index, step);
            prop_assert!(indexed == oracle, "step {}: {:?}", index, step);
            if let Err(problem) = check_index(&indexed) {
                prop_assert!(false, "step {}: {:?}: {}", index, step, problem);
            }
        }
    }
}

/// A destroyed key's copies stay pending until their keystore's period ends, then go, each at its own time;
/// the index holds one entry per pending copy and none once they are settled.
#[test]
fn pending_copies_settle_at_their_due_time_from_the_index() {
    let (mut fx, keys, _) = tenant(7);
    let (aws, azure) = (keys[0].clone(), keys[5].clone());
    for key in [&aws, &azure] {
        fx.act(key, KeyAction::Deactivate).unwrap();
    }
    fx.instance.advance_clock(4 * 3600 + 1).unwrap();
    for key in [&aws, &azure] {
        fx.act(key, KeyAction::Destroy).unwrap();
    }
    let due = |fx: &Fixture| fx.instance.pending_destructions.entries().map_or(0, |entries| entries.len());
    // Two AWS keystores in `prod` hold the AWS key, one Azure keystore the Azure key.
    assert_eq!(due(&fx), 3, "{:?}", fx.instance.pending_destructions);
    let aws_due = fx.copy("aws_prod_1", &aws).and_then(|c| c.destruction_at).unwrap();
    assert_eq!(fx.copy("aws_prod_1", &aws).map(|c| c.state), Some(CopyState::PendingDestruction));
    let until_due = aws_due.unix_seconds() - fx.instance.clock.now.unix_seconds();
    assert!(until_due > 6 * DAY, "AWS waits 7 days, {until_due} s left");
    fx.instance.advance_clock(until_due - 1).unwrap();
    fx.statuses(&aws);
    assert!(fx.copy("aws_prod_1", &aws).is_some(), "a second early, the AWS copy is still pending");
    fx.instance.advance_clock(1).unwrap();
    assert_eq!(fx.copy("aws_prod_1", &aws), None);
    assert_eq!(fx.copy("aws_prod_2", &aws), None);
    assert_eq!(fx.copy("azure_prod", &azure).map(|c| c.state), Some(CopyState::PendingDestruction));
    assert_eq!(due(&fx), 1);
    let azure_due = fx.copy("azure_prod", &azure).and_then(|c| c.destruction_at).unwrap();
    fx.instance.advance_clock(azure_due.unix_seconds() - fx.instance.clock.now.unix_seconds()).unwrap();
    assert_eq!(fx.copy("azure_prod", &azure), None);
    assert_eq!(due(&fx), 0);
}

/// An instance loaded from its serialized form has no index; its first settle builds it from the copies,
/// so a copy that became due while it was stored is settled all the same.
#[test]
fn a_reloaded_instance_rebuilds_the_index_on_its_first_settle() {
    let (mut fx, keys, _) = tenant(3);
    let key = keys[4].clone();
    fx.act(&key, KeyAction::Deactivate).unwrap();
    fx.instance.advance_clock(4 * 3600 + 1).unwrap();
    fx.act(&key, KeyAction::Destroy).unwrap();
    // CCA's period is 0: due at once, settled by the next read.
    assert_eq!(fx.copy("cca_prod", &key).map(|c| c.state), Some(CopyState::PendingDestruction));
    let exported = serde_json::to_string(&fx.instance).unwrap();
    fx.instance = serde_json::from_str(&exported).unwrap();
    assert!(fx.instance.pending_destructions.entries().is_none());
    fx.statuses(&key);
    assert_eq!(fx.copy("cca_prod", &key), None);
    assert!(fx.instance.pending_destructions.entries().is_some_and(|entries| entries.is_empty()));
    assert_eq!(PendingDestructions::default(), fx.instance.pending_destructions, "never part of the state");
}
