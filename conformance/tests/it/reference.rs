//! The reference client passes every property, in-process and through the command-line contract, and
//! the journal replay that `verify-before-sync` relies on agrees with the real server.

use std::time::{Duration, Instant};

use uko_conformance::clients::{ClientEnv, ClientUnderTest};
use uko_conformance::properties::{judge, Budget, Property};
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
async fn clients_get_the_server_root_as_uko_url_and_the_api_base_as_uko_api_url() {
    // A client that checks the shapes of the two URLs before doing its job.
    let command_line = format!(
        "case \"$UKO_URL\" in */api/v4) echo \"UKO_URL is $UKO_URL\" >&2; exit 3;; esac; \
         [ \"$UKO_API_URL\" = \"$UKO_URL/api/v4\" ] || {{ echo \"UKO_API_URL is $UKO_API_URL\" >&2; exit 4; }}; \
         exec '{}' reference-client",
        binary().display()
    );
    let client = ClientUnderTest::from_spec(&command_line).unwrap();
    let out_dir = TempDir::new("reference-urls");
    let config = suite_config(6, 8, &Property::ALL, out_dir.path());

    let report = run_suite(&client, &config).await.unwrap();

    assert!(report.passed(), "{}", uko_conformance::report::human_summary(&report));
}

#[tokio::test(flavor = "multi_thread")]
async fn reference_client_still_accepts_an_api_v4_uko_url_with_a_warning() {
    // The contract before UKO_URL became the server root: UKO_URL=.../api/v4 and no UKO_API_URL.
    let command_line =
        format!("UKO_URL=\"$UKO_API_URL\" exec env -u UKO_API_URL '{}' reference-client", binary().display());
    let client = ClientUnderTest::from_spec(&command_line).unwrap();
    for (index, scenario) in generate_scenarios(12, 4, None).unwrap().into_iter().enumerate() {
        let observation = run_case(&scenario.case_setup().unwrap(), &client, Duration::from_secs(60)).await.unwrap();

        let stderr = &observation.outcome.stderr;
        assert!(stderr.contains("UKO_URL is now the server root"), "case {index}: {stderr}");
        for verdict in judge(&observation, &Property::ALL, &Budget::default()) {
            assert!(verdict.passed(), "case {index}: {} broken: {:?}", verdict.property, verdict.violation);
        }
        assert!(observation.journal.iter().any(|entry| entry.operation.as_deref() == Some("GetManagedKey")));
    }
}

#[test]
fn client_env_derives_the_api_base_from_the_root_and_mends_an_api_v4_uko_url() {
    let lookup = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned())
    };

    let (env, warning) =
        ClientEnv::from_lookup(lookup(&[("UKO_URL", "http://127.0.0.1:9/"), ("UKO_KEY_ID", "k")])).unwrap();
    assert_eq!((env.service_url.as_str(), env.api_url.as_str()), ("http://127.0.0.1:9", "http://127.0.0.1:9/api/v4"));
    assert_eq!(warning, None);

    let (env, warning) = ClientEnv::from_lookup(lookup(&[
        ("UKO_URL", "http://127.0.0.1:9"),
        ("UKO_API_URL", "http://proxy:1/uko/api/v4"),
        ("UKO_KEY_ID", "k"),
    ]))
    .unwrap();
    assert_eq!((env.service_url.as_str(), env.api_url.as_str()), ("http://127.0.0.1:9", "http://proxy:1/uko/api/v4"));
    assert_eq!(warning, None);

    let (env, warning) =
        ClientEnv::from_lookup(lookup(&[("UKO_URL", "http://127.0.0.1:9/api/v4/"), ("UKO_KEY_ID", "k")])).unwrap();
    assert_eq!((env.service_url.as_str(), env.api_url.as_str()), ("http://127.0.0.1:9", "http://127.0.0.1:9/api/v4"));
    assert!(warning.is_some_and(|text| text.contains("UKO_URL is now the server root")));

    let missing = ClientEnv::from_lookup(lookup(&[("UKO_URL", "http://127.0.0.1:9")])).unwrap_err();
    assert!(missing.to_string().contains("expected UKO_URL and UKO_KEY_ID"), "{missing}");
}

#[tokio::test(flavor = "multi_thread")]
async fn journal_replay_follows_the_server_for_the_reference_client() {
    let client = ClientUnderTest::from_spec("builtin:reference").unwrap();
    for (index, scenario) in generate_scenarios(99, 40, None).unwrap().into_iter().enumerate() {
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
