//! The shell example client (`examples/curl-client.sh`) passes the suite. Skipped, with a note, when
//! `curl` is not installed; it needs no jq.

use uko_conformance::clients::ClientUnderTest;
use uko_conformance::fleet::ScopeKind;
use uko_conformance::properties::Property;
use uko_conformance::runner::{run_suite, SuiteConfig};

use crate::helpers::{crate_dir, suite_config, TempDir};

#[tokio::test(flavor = "multi_thread")]
async fn curl_example_client_passes_every_property() {
    if !command_exists("curl") {
        eprintln!("curl is not installed; the shell example client cannot run here");
        return;
    }
    let script = crate_dir().join("examples/curl-client.sh");
    let client = ClientUnderTest::from_spec(&format!("sh '{}'", script.display())).unwrap();
    let out_dir = TempDir::new("curl-client");
    let config = suite_config(24, 42, &Property::ALL, out_dir.path());

    let report = run_suite(&client, &config).await.unwrap();

    assert!(report.passed(), "{}", uko_conformance::report::human_summary(&report));
}

fn command_exists(name: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_fleet_example_client_passes_every_property_in_both_scopes() {
    if !command_exists("curl") {
        eprintln!("curl is not installed; the shell fleet example cannot run here");
        return;
    }
    let script = crate_dir().join("examples/curl-fleet-client.sh");
    let client = ClientUnderTest::from_spec(&format!("sh '{}'", script.display())).unwrap();
    for (scope, seed) in [(ScopeKind::Keystore, 11), (ScopeKind::Vault, 12)] {
        let out_dir = TempDir::new("curl-fleet-client");
        let config =
            SuiteConfig { fleet: Some(scope), jobs: 4, ..suite_config(6, seed, &Property::ALL, out_dir.path()) };

        let report = run_suite(&client, &config).await.unwrap();

        assert!(report.passed(), "{scope}: {}", uko_conformance::report::human_summary(&report));
    }
}
