//! Fleet mode: the reference fleet client passes both scopes, in-process and as a command; every fleet
//! mutant is caught by its property with a shrunk counterexample that replays from its file alone (and
//! that the reference fleet client passes).

use std::time::Duration;

use uko_conformance::clients::fleet::FleetMutant;
use uko_conformance::clients::ClientUnderTest;
use uko_conformance::counterexample::CounterexampleFile;
use uko_conformance::fleet::ScopeKind;
use uko_conformance::properties::{Budget, Property};
use uko_conformance::runner::{generate_scenarios, replay_file, run_case, run_suite, SuiteConfig};
use uko_conformance::shard::{merge, Shard};

use crate::helpers::{binary, suite_config, TempDir};

/// Cases of the fleet tests: fleet cases send hundreds of requests, so fewer than the one-key tests.
fn fleet_cases() -> u32 {
    std::env::var("CONFORMANCE_FLEET_CASES").ok().and_then(|value| value.parse().ok()).unwrap_or(48)
}

fn fleet_config(
    cases: u32,
    seed: u64,
    scope: ScopeKind,
    properties: &[Property],
    out: &std::path::Path,
) -> SuiteConfig {
    SuiteConfig { fleet: Some(scope), jobs: 8, max_shrink_runs: 40, ..suite_config(cases, seed, properties, out) }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reference_fleet_client_passes_every_property_in_both_scopes() {
    for (scope, seed) in [(ScopeKind::Keystore, 18), (ScopeKind::Vault, 81)] {
        let out = TempDir::new("reference-fleet");
        let client = ClientUnderTest::from_spec("builtin:reference-fleet").unwrap();
        let report =
            run_suite(&client, &fleet_config(fleet_cases(), seed, scope, &Property::ALL, out.path())).await.unwrap();
        let summary = uko_conformance::report::human_summary(&report);
        assert!(report.passed(), "{scope} scope:\n{summary}");
        // Every property had something to judge, except a 412 which needs a writer at the right moment.
        for verdict in &report.properties {
            assert!(
                verdict.exercised > 0 || verdict.property == Property::FreshEtagAfter412,
                "{} never exercised:\n{summary}",
                verdict.property
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reference_fleet_client_passes_as_a_command() {
    let out = TempDir::new("reference-fleet-command");
    let command = format!("{} reference-fleet-client", binary().display());
    let client = ClientUnderTest::from_spec(&command).unwrap();
    let report = run_suite(&client, &fleet_config(12, 7, ScopeKind::Vault, &Property::ALL, out.path())).await.unwrap();
    assert!(report.passed(), "{}", uko_conformance::report::human_summary(&report));
}

#[tokio::test(flavor = "multi_thread")]
async fn first_page_only_is_caught_by_converges() {
    check(FleetMutant::FirstPageOnly, ScopeKind::Keystore).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn offset_paging_that_skips_a_key_after_a_deletion_is_caught_by_converges() {
    check(FleetMutant::OffsetSkip, ScopeKind::Vault).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn syncing_every_key_without_reading_it_is_caught_by_verify_before_sync() {
    check(FleetMutant::SyncWithoutReading, ScopeKind::Keystore).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_0_after_a_per_key_failure_is_caught_by_honest_exit() {
    check(FleetMutant::ExitZeroAfterFailure, ScopeKind::Vault).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ignoring_retry_after_across_keys_is_caught_by_bounded_retries() {
    check(FleetMutant::IgnoreRetryAfterAcrossKeys, ScopeKind::Keystore).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn syncing_a_key_outside_the_scope_is_caught_by_no_collateral() {
    check(FleetMutant::SyncOutsideScope, ScopeKind::Keystore).await;
}

/// Runs the fleet suite against `mutant` for its property, then replays the counterexample from its
/// file: the mutant breaks the property again, the reference fleet client passes every property.
async fn check(mutant: FleetMutant, scope: ScopeKind) {
    let property = mutant.caught_by();
    let client = ClientUnderTest::from_spec(&format!("builtin:{}", mutant.name())).unwrap();
    let out = TempDir::new(mutant.name());

    let report = run_suite(&client, &fleet_config(fleet_cases(), 2026, scope, &[property], out.path())).await.unwrap();

    let summary = uko_conformance::report::human_summary(&report);
    let verdict = &report.properties[0];
    assert!(verdict.failed > 0, "{} was not caught by {property}:\n{summary}", mutant.name());
    let counterexample = verdict.counterexample.as_ref().expect("a counterexample");
    let file = CounterexampleFile::read(&counterexample.file).unwrap();
    let fleet = file.conformance.fleet.as_ref().expect("a fleet counterexample names its scope");
    assert_eq!(fleet.scope.kind, scope);
    let scenario = fleet.scenario.as_ref().expect("the generated fleet scenario");
    assert!(scenario.http_faults.len() + scenario.writers.len() <= 3, "not shrunk: {summary}");
    assert!(counterexample.shrink_runs > 1, "no shrinking: {summary}");

    let timeout = Duration::from_secs(60);
    let replayed = replay_file(&counterexample.file, &client, timeout, &Budget::default()).await.unwrap();
    assert!(replayed.reproduced(), "{}", uko_conformance::report::replay_summary(&replayed));
    let reference = ClientUnderTest::from_spec("builtin:reference-fleet").unwrap();
    let replayed = replay_file(&counterexample.file, &reference, timeout, &Budget::default()).await.unwrap();
    assert!(
        replayed.verdicts.iter().all(|verdict| verdict.passed()),
        "{}",
        uko_conformance::report::replay_summary(&replayed)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn journal_replay_follows_the_server_in_fleet_cases() {
    // Writers that delete, create and change keys are replayed like the server applied them, so the
    // verify-before-sync judgement knows what every read showed.
    let client = ClientUnderTest::from_spec("builtin:reference-fleet").unwrap();
    let scenarios = generate_scenarios(5, 16, Some(ScopeKind::Vault)).unwrap();
    for (index, scenario) in scenarios.iter().enumerate() {
        let observation = run_case(&scenario.case_setup().unwrap(), &client, Duration::from_secs(60)).await.unwrap();
        assert_eq!(observation.replay.diverged, None, "case {index}: {}", scenario.summary());
        let reads = observation
            .journal
            .iter()
            .filter(|entry| {
                entry.operation.as_deref() == Some("GetKeyDistributionStatusForKeystores") && entry.status == 200
            })
            .count();
        assert!(observation.replay.reads_all_ok.len() >= reads, "case {index}: a status read was not replayed");
    }
}

#[test]
fn every_fleet_property_catches_some_fleet_mutant() {
    for property in [
        Property::Converges,
        Property::HonestExit,
        Property::VerifyBeforeSync,
        Property::BoundedRetries,
        Property::NoCollateral,
    ] {
        assert!(FleetMutant::ALL.iter().any(|mutant| mutant.caught_by() == property), "no fleet mutant for {property}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn careful_concurrent_clients_pass_in_both_contracts() {
    // One-key: the key and its status read at once. Fleet: four keys at once, one Retry-After gate.
    // Before the judge knew about requests in flight, the first failed bounded-retries ("request #2
    // arrived 2 ms after the 429 at #1").
    let out = TempDir::new("concurrent");
    let one_key = ClientUnderTest::from_spec("builtin:reference-concurrent").unwrap();
    let report = run_suite(&one_key, &suite_config(120, 5, &Property::ALL, out.path())).await.unwrap();
    assert!(report.passed(), "{}", uko_conformance::report::human_summary(&report));
    let fleet = ClientUnderTest::from_spec("builtin:reference-fleet-concurrent").unwrap();
    for (scope, seed) in [(ScopeKind::Keystore, 6), (ScopeKind::Vault, 60)] {
        let report = run_suite(&fleet, &fleet_config(32, seed, scope, &Property::ALL, out.path())).await.unwrap();
        assert!(report.passed(), "{scope}: {}", uko_conformance::report::human_summary(&report));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fleet_shards_merge_into_the_unsharded_verdict_and_not_with_one_key_shards() {
    let out = TempDir::new("fleet-shards");
    let client = ClientUnderTest::from_spec("builtin:fleet-first-page-only").unwrap();
    let properties = [Property::Converges, Property::HonestExit];
    let config = |shard| SuiteConfig {
        shard,
        max_shrink_runs: 2,
        ..fleet_config(12, 77, ScopeKind::Keystore, &properties, out.path())
    };
    let whole = run_suite(&client, &config(Shard::WHOLE)).await.unwrap();
    let mut shards = Vec::new();
    for index in 1..=2 {
        let report = run_suite(&client, &config(Shard::new(index, 2).unwrap())).await.unwrap();
        assert_eq!(report.fleet, Some(ScopeKind::Keystore));
        shards.push((out.path().join(format!("report-{index}.json")), report));
    }

    let merged = merge(&shards).unwrap();

    assert_eq!(merged.case_results, whole.case_results);
    assert_eq!(merged.fleet, Some(ScopeKind::Keystore));
    // A one-key shard of the same seed is another run.
    let mut one_key = shards[1].clone();
    one_key.1.fleet = None;
    let refused = merge(&[shards[0].clone(), one_key]).unwrap_err().to_string();
    assert!(refused.contains("the contract is one-key"), "{refused}");
}
