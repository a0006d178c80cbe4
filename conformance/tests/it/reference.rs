//! The reference client passes every property, in-process and through the command-line contract, and
//! the journal replay that `verify-before-sync` relies on agrees with the real server.

use std::time::{Duration, Instant};

use uko_conformance::clients::ClientUnderTest;
use uko_conformance::properties::Property;
use uko_conformance::runner::{generate_scenarios, run_case, run_suite};

use crate::helpers::{binary, reference_cases, suite_config, TempDir};

#[tokio::test(flavor = "multi_thread")]
async fn reference_client_passes_every_property() {
    // Arrange
    let client = ClientUnderTest::from_spec("builtin:reference").unwrap();
    let cases = reference_cases();
    let out_dir = TempDir::new("reference");
    let config = suite_config(cases, 20_260_101, &Property::ALL, out_dir.path());

    // Act
    let started = Instant::now();
    let report = run_suite(&client, &config).await.unwrap();
    let elapsed = started.elapsed();

    // Assert
    let failed: Vec<_> = report.properties.iter().filter(|property| property.failed > 0).collect();
    assert!(failed.is_empty(), "{}", uko_conformance::report::human_summary(&report));
    for property in &report.properties {
        assert_eq!(property.cases, cases);
        assert!(property.exercised > 0, "{} was never exercised in {cases} cases", property.property);
    }
    if std::env::var_os("TEST_LOG").is_some() {
        eprintln!(
            "{cases} cases in {:.1} s ({:.1} cases/s)",
            elapsed.as_secs_f64(),
            f64::from(cases) / elapsed.as_secs_f64()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reference_client_passes_as_a_command_reading_the_environment() {
    let command_line = format!("'{}' reference-client", binary().display());
    let client = ClientUnderTest::from_spec(&command_line).unwrap();
    let out_dir = TempDir::new("reference-command");
    let config = suite_config(24, 7, &Property::ALL, out_dir.path());

    let report = run_suite(&client, &config).await.unwrap();

    assert!(report.passed(), "{}", uko_conformance::report::human_summary(&report));
}

#[tokio::test(flavor = "multi_thread")]
async fn journal_replay_follows_the_server_for_the_reference_client() {
    let client = ClientUnderTest::from_spec("builtin:reference").unwrap();
    for (index, scenario) in generate_scenarios(99, 40).unwrap().into_iter().enumerate() {
        let observation = run_case(&scenario.case_setup().unwrap(), &client, Duration::from_secs(60)).await.unwrap();

        assert_eq!(observation.replay.diverged, None, "case {index}: {}", scenario.summary());
        assert_eq!(
            observation.replay.final_statuses,
            observation.final_statuses,
            "case {index}: {}",
            scenario.summary()
        );
        let successful_reads = observation
            .journal
            .iter()
            .filter(|entry| entry.method == "GET" && entry.status == 200 && entry.resource_id.is_some())
            .count();
        assert_eq!(observation.replay.reads_all_ok.len(), successful_reads, "case {index}");
    }
}
