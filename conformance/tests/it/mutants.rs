//! The suite proves its own teeth: each mutant client is caught by the property it violates, the
//! failure shrinks to a small scenario, and the counterexample file alone replays it — while the
//! reference client passes the same file.

use std::time::Duration;

use uko_conformance::clients::mutants::Mutant;
use uko_conformance::clients::ClientUnderTest;
use uko_conformance::counterexample::CounterexampleFile;
use uko_conformance::properties::{Budget, Property};
use uko_conformance::runner::{replay_file, run_suite};

use crate::helpers::{suite_config, TempDir};

#[tokio::test(flavor = "multi_thread")]
async fn omit_if_match_is_caught_by_conditional_writes() {
    check(Mutant::OmitIfMatch).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wildcard_if_match_is_caught_by_conditional_writes() {
    check(Mutant::WildcardIfMatch).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resend_stale_etag_is_caught_by_fresh_etag_after_412() {
    check(Mutant::ResendStaleEtag).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_without_verifying_is_caught_by_verify_before_sync() {
    check(Mutant::SyncWithoutVerifying).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_0_after_partial_sync_is_caught_by_honest_exit() {
    check(Mutant::ExitZeroAfterPartialSync).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_backoff_is_caught_by_bounded_retries() {
    check(Mutant::NoBackoff).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deactivate_reactivate_is_caught_by_no_collateral() {
    check(Mutant::DeactivateReactivate).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn give_up_on_503_is_caught_by_converges() {
    check(Mutant::GiveUpOn503).await;
}

#[test]
fn every_property_catches_some_mutant() {
    for property in Property::ALL {
        assert!(Mutant::ALL.iter().any(|mutant| mutant.caught_by() == property), "no mutant for {property}");
    }
}

/// Runs the suite against `mutant` for the property that must catch it, then replays the shrunk
/// counterexample from its file alone, with the mutant (broken again) and the reference (holds).
async fn check(mutant: Mutant) {
    // Arrange
    let property = mutant.caught_by();
    let client = ClientUnderTest::from_spec(&format!("builtin:{}", mutant.name())).unwrap();
    let out_dir = TempDir::new(mutant.name());
    let config = suite_config(64, 2026, &[property], out_dir.path());

    // Act
    let report = run_suite(&client, &config).await.unwrap();

    // Assert: caught, with a counterexample file.
    let summary = uko_conformance::report::human_summary(&report);
    let verdict = &report.properties[0];
    assert_eq!(verdict.property, property);
    assert!(verdict.failed > 0, "{} was not caught by {property}:\n{summary}", mutant.name());
    let counterexample = verdict.counterexample.as_ref().expect("a failing property has a counterexample");
    assert!(counterexample.file.starts_with(out_dir.path()));
    assert!(!counterexample.violation.evidence.is_empty(), "{summary}");
    assert!(counterexample.replay.contains("uko-conformance replay"), "{}", counterexample.replay);

    // Shrunk: the scenario is small (shrinking removes keystores and faults that do not matter).
    let file = CounterexampleFile::read(&counterexample.file).unwrap();
    assert_eq!(file.conformance.property, property);
    let scenario = file.conformance.scenario.as_ref().unwrap();
    assert!(scenario.keystores.len() <= 2, "not shrunk: {summary}");
    assert!(scenario.http_faults.len() + scenario.concurrent_writers.len() <= 2, "not shrunk: {summary}");

    // Replays from the file alone with the same outcome.
    let timeout = Duration::from_secs(60);
    let replayed = replay_file(&counterexample.file, &client, timeout, &Budget::default()).await.unwrap();
    assert!(replayed.reproduced(), "{}", uko_conformance::report::replay_summary(&replayed));

    // The scenario is fair: the reference client passes every property on it.
    let reference = ClientUnderTest::from_spec("builtin:reference").unwrap();
    let replayed = replay_file(&counterexample.file, &reference, timeout, &Budget::default()).await.unwrap();
    assert!(
        replayed.verdicts.iter().all(|verdict| verdict.passed()),
        "{}",
        uko_conformance::report::replay_summary(&replayed)
    );
}
