//! The scenario generator: every scenario makes a valid, deterministic fixture; the divergence table
//! agrees with the mock's own status derivation; the expected outcome follows the permanent faults.

use proptest::prelude::*;
use uko_conformance::scenario::*;
use uko_mock::domain::SyncFlag;

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn every_scenario_makes_a_valid_deterministic_fixture(scenario in arb_scenario()) {
        let fixture = scenario.to_fixture().unwrap();
        prop_assert_eq!(&fixture, &scenario.to_fixture().unwrap());
        prop_assert!(fixture.managed_keys.iter().any(|key| key.id == TARGET_KEY_ID));
        prop_assert_eq!(fixture.keystores.len(), scenario.keystores.len());
        let instance = fixture.into_instance("default", None).unwrap();
        prop_assert_eq!(instance.managed_keys[TARGET_KEY_ID].referenced_keystores.len(), scenario.keystores.len());
    }

    #[test]
    fn scenarios_respect_their_bounds(scenario in arb_scenario()) {
        prop_assert!((1..=MAX_KEYSTORES).contains(&scenario.keystores.len()));
        prop_assert!(scenario.concurrent_writers.len() <= 2);
        prop_assert!(scenario.http_faults.len() <= 3);
        for persistence in scenario.http_faults.iter().map(|fault| fault.persistence).chain(scenario.concurrent_writers.iter().copied()) {
            match persistence {
                Persistence::Transient { times } => {
                    prop_assert!((1..=MAX_TRANSIENT_FAILURES).contains(&times));
                    prop_assert!(times < ATTEMPTS_PER_STEP, "a transient fault must fit in the retry budget");
                }
                Persistence::Outlasting { times } => prop_assert!(times > ATTEMPTS_PER_STEP),
                Persistence::Permanent => {}
            }
        }
    }

    #[test]
    fn expected_outcome_is_syncable_exactly_when_every_fault_is_transient(scenario in arb_scenario()) {
        let transient = |persistence: Persistence| matches!(persistence, Persistence::Transient { .. });
        let unreachable_too_long = scenario.keystores.iter().any(|k| match k.reachability {
            ReachabilityCase::Reachable => false,
            ReachabilityCase::UnreachableForCalls { calls } => calls > MAX_TRANSIENT_FAILURES,
            ReachabilityCase::Unreachable => true,
        });
        let failing_too_long = scenario.http_faults.iter().any(|f| f.effect.is_failure() && !transient(f.persistence));
        let racing_too_long = scenario.concurrent_writers.iter().any(|writer| !transient(*writer));
        let syncable = !(unreachable_too_long || failing_too_long || racing_too_long);
        prop_assert_eq!(scenario.expected_outcome() == ExpectedOutcome::Syncable, syncable);
        prop_assert_eq!(scenario.obstacles().is_empty(), syncable);
    }
}

#[test]
fn divergence_table_agrees_with_the_mock() {
    let states =
        [KeyStateCase::Active, KeyStateCase::PreActivation, KeyStateCase::Deactivated, KeyStateCase::Destroyed];
    let copies = [CopyCase::InSync, CopyCase::Absent, CopyCase::Inactive, CopyCase::Active, CopyCase::WrongKey];
    for state in states {
        for copy in copies {
            let scenario = single_keystore(state, copy, ReachabilityCase::Reachable);
            let mut instance = scenario.to_fixture().unwrap().into_instance("default", None).unwrap();
            let entries = instance.status_in_keystores(TARGET_KEY_ID);
            assert_eq!(entries.len(), 1);
            let expected = if copy.is_out_of_sync(state) { SyncFlag::OutOfSync } else { SyncFlag::Ok };
            assert_eq!(entries[0].sync_flag, expected, "{state:?} with {copy:?}: {:?}", entries[0]);
        }
    }
}

#[test]
fn unreachable_keystores_show_connection_error() {
    let scenario =
        single_keystore(KeyStateCase::Active, CopyCase::InSync, ReachabilityCase::UnreachableForCalls { calls: 2 });
    let mut instance = scenario.to_fixture().unwrap().into_instance("default", None).unwrap();
    let flags: Vec<SyncFlag> = (0..3).map(|_| instance.status_in_keystores(TARGET_KEY_ID)[0].sync_flag).collect();
    assert_eq!(flags, [SyncFlag::Error, SyncFlag::Error, SyncFlag::Ok]);
}

#[test]
fn fault_rules_name_their_effect_and_target_the_key() {
    let mut scenario = single_keystore(KeyStateCase::Active, CopyCase::Absent, ReachabilityCase::Reachable);
    scenario.http_faults.push(HttpFault {
        operation: ClientOperation::SyncManagedKey,
        effect: HttpFaultEffect::TooManyRequests { retry_after_seconds: 1 },
        persistence: Persistence::Transient { times: 2 },
    });
    scenario.concurrent_writers.push(Persistence::Permanent);
    let fixture = scenario.to_fixture().unwrap();
    let ids: Vec<&str> = fixture.faults.iter().map(|rule| rule.id.as_str()).collect();
    assert_eq!(ids, ["writer-1", "fault-1-429"]);
    assert!(fixture.faults.iter().all(|rule| rule.resource_id.as_deref() == Some(TARGET_KEY_ID)));
    assert_eq!(scenario.expected_outcome(), ExpectedOutcome::NotSyncable);
    assert!(scenario.summary().contains("429 with Retry-After 1 on SyncManagedKey 2 times"), "{}", scenario.summary());
}

#[test]
fn mixed_keystore_types_get_one_key_instance_per_type() {
    let mut scenario = single_keystore(KeyStateCase::Active, CopyCase::InSync, ReachabilityCase::Reachable);
    for kind in [KeystoreKind::AzureKeyVault, KeystoreKind::KeyProtect, KeystoreKind::Internal, KeystoreKind::GoogleKms]
    {
        scenario.keystores.push(KeystoreCase {
            kind,
            copy: CopyCase::InSync,
            reachability: ReachabilityCase::Reachable,
        });
    }
    let fixture = scenario.to_fixture().unwrap();
    let key = fixture.managed_keys.iter().find(|key| key.id == TARGET_KEY_ID).unwrap();
    // Key Protect and internal keystores share the ibm_cloud_kms type.
    assert_eq!(key.instances.len(), 4);
    let mut instance = fixture.into_instance("default", None).unwrap();
    assert!(instance.status_in_keystores(TARGET_KEY_ID).iter().all(|entry| entry.sync_flag == SyncFlag::Ok));
}

fn single_keystore(key_state: KeyStateCase, copy: CopyCase, reachability: ReachabilityCase) -> Scenario {
    Scenario {
        key_state,
        keystores: vec![KeystoreCase { kind: KeystoreKind::AwsKms, copy, reachability }],
        concurrent_writers: Vec::new(),
        http_faults: Vec::new(),
        bystander_out_of_sync: false,
    }
}
