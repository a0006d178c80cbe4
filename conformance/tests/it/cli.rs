//! The `uko-conformance` binary: subcommands, reports written for CI, and exit codes.

use std::process::{Command, Output};

use crate::helpers::{binary, TempDir};

#[test]
fn list_properties_names_every_property_with_its_rule() {
    let output = run(&["list-properties"]);

    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for name in [
        "converges",
        "honest-exit",
        "conditional-writes",
        "fresh-etag-after-412",
        "verify-before-sync",
        "bounded-retries",
        "no-collateral",
    ] {
        assert!(text.lines().any(|line| line.starts_with(name)), "{name} missing from:\n{text}");
    }
}

#[test]
fn list_clients_names_the_reference_and_every_mutant() {
    let output = run(&["list-clients"]);

    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("builtin:reference"), "{text}");
    for mutant in uko_conformance::clients::mutants::Mutant::ALL {
        assert!(text.contains(&format!("builtin:{}", mutant.name())), "{text}");
    }
    for name in ["builtin:reference-fleet", "builtin:reference-concurrent", "builtin:reference-fleet-concurrent"] {
        assert!(text.contains(name), "{text}");
    }
    for mutant in uko_conformance::clients::fleet::FleetMutant::ALL {
        assert!(text.contains(&format!("builtin:{}", mutant.name())), "{text}");
    }
}

#[test]
fn run_passing_client_writes_junit_and_json_and_exits_0() {
    let directory = TempDir::new("cli-pass");
    let (junit, json) = (directory.path().join("report.xml"), directory.path().join("report.json"));

    let output = run(&[
        "run",
        "--client",
        "builtin:reference",
        "--cases",
        "12",
        "--seed",
        "5",
        "--quiet",
        "--junit",
        &junit.display().to_string(),
        "--json",
        &json.display().to_string(),
        "--out",
        &directory.path().join("out").display().to_string(),
    ]);

    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
    assert!(String::from_utf8_lossy(&output.stdout).contains("all properties hold"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testsuite name=\"uko-conformance\" tests=\"7\" failures=\"0\""), "{xml}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["seed"], 5);
    assert_eq!(report["properties"].as_array().unwrap().len(), 7);
}

#[test]
fn run_failing_client_exits_1_and_its_counterexample_replays() {
    let directory = TempDir::new("cli-fail");
    let junit = directory.path().join("report.xml");
    let out = directory.path().join("out");

    let output = run(&[
        "run",
        "--client",
        "builtin:deactivate-reactivate",
        "--cases",
        "16",
        "--seed",
        "5",
        "--quiet",
        "--property",
        "no-collateral",
        "--junit",
        &junit.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);

    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("FAIL  no-collateral"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure message="), "{xml}");
    let file = out.join("no-collateral-seed5.json");
    assert!(file.exists(), "{stdout}");
    let replay_line = stdout.lines().find(|line| line.trim_start().starts_with("replay: ")).unwrap();
    assert!(replay_line.contains("--client builtin:deactivate-reactivate"), "{replay_line}");

    let replayed = run(&["replay", &file.display().to_string(), "--client", "builtin:deactivate-reactivate"]);
    assert_eq!(replayed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&replayed.stdout).contains("reproduced: no-collateral is broken again"));

    let reference = run(&["replay", &file.display().to_string(), "--client", "builtin:reference"]);
    assert_eq!(reference.status.code(), Some(0), "{}", String::from_utf8_lossy(&reference.stdout));
}

#[test]
fn reference_client_without_environment_is_a_usage_error() {
    let output =
        Command::new(binary()).arg("reference-client").env_remove("UKO_URL").env_remove("UKO_KEY_ID").output().unwrap();

    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("expected UKO_URL and UKO_KEY_ID"));
}

#[test]
fn unknown_builtin_and_property_are_refused() {
    let unknown_client = run(&["run", "--client", "builtin:nope", "--cases", "1"]);
    assert_eq!(unknown_client.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown_client.stderr).contains("builtin:reference"));

    let unknown_property = run(&["run", "--client", "builtin:reference", "--property", "fast"]);
    assert_eq!(unknown_property.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown_property.stderr).contains("expected one of converges"));
}

#[test]
fn bad_shard_values_and_a_shard_without_seed_are_refused() {
    for bad in ["0/4", "5/4", "1/0", "2", "two/four"] {
        let output = run(&["run", "--client", "builtin:reference", "--cases", "4", "--seed", "1", "--shard", bad]);

        assert_eq!(output.status.code(), Some(2), "--shard {bad} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--shard"), "--shard {bad}: {stderr}");
    }

    let unseeded = run(&["run", "--client", "builtin:reference", "--cases", "4", "--shard", "1/2"]);
    assert_eq!(unseeded.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unseeded.stderr);
    assert!(stderr.contains("--shard 1/2 needs --seed") && stderr.contains("same --seed"), "{stderr}");
}

#[test]
fn merged_shards_of_a_failing_mutant_give_the_unsharded_verdict() {
    let directory = TempDir::new("cli-merge-fail");
    let out = path(&directory.path().join("out"));
    let whole_json = directory.path().join("whole.json");
    let run_mutant = |extra: &[&str]| {
        let mut arguments = vec!["run", "--client", "builtin:deactivate-reactivate", "--cases", "16", "--seed", "5"];
        arguments.extend(["--quiet", "--property", "no-collateral", "--max-shrink-runs", "5", "--out", &out]);
        arguments.extend(extra);
        run(&arguments)
    };
    let whole = run_mutant(&["--json", &path(&whole_json)]);
    assert_eq!(whole.status.code(), Some(1), "{}", String::from_utf8_lossy(&whole.stdout));

    let mut shard_files = Vec::new();
    for (index, shard) in [(1, "1/2"), (2, "2/2")] {
        let file = directory.path().join(format!("report-{index}.json"));
        let output = run_mutant(&["--shard", shard, "--json", &path(&file)]);
        assert_ne!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains(&format!("shard {shard}: 8 of 16 cases")), "{stdout}");
        let report = read_json(&file);
        assert_eq!((report["seed"].as_u64(), report["cases"].as_u64()), (Some(5), Some(16)));
        assert_eq!(report["shard"], serde_json::json!({"index": index, "count": 2}));
        assert_eq!(report["case_results"].as_array().unwrap().len(), 8);
        shard_files.push(path(&file));
    }
    let (merged_json, merged_junit) = (directory.path().join("merged.json"), directory.path().join("merged.xml"));
    let merged = run(&[
        "merge",
        &shard_files[1],
        &shard_files[0],
        "--json",
        &path(&merged_json),
        "--junit",
        &path(&merged_junit),
    ]);

    assert_eq!(merged.status.code(), Some(1), "{}", String::from_utf8_lossy(&merged.stderr));
    assert!(String::from_utf8_lossy(&merged.stdout).contains("FAIL  no-collateral"));
    let (merged, whole) = (read_json(&merged_json), read_json(&whole_json));
    assert_eq!(merged["properties"][0]["failed"], whole["properties"][0]["failed"]);
    assert_eq!(merged["properties"][0]["exercised"], whole["properties"][0]["exercised"]);
    assert_eq!(merged["case_results"], whole["case_results"]);
    assert!(std::fs::read_to_string(&merged_junit).unwrap().contains("<failure message="));
}

#[test]
fn merge_refuses_reports_that_are_not_the_shards_of_one_run() {
    let directory = TempDir::new("cli-merge-refuse");
    let shard_report = |shard: &str, seed: &str| {
        let file = directory.path().join(format!("report-{}-seed{seed}.json", shard.replace('/', "of")));
        let json = path(&file);
        let mut arguments = vec!["run", "--client", "builtin:reference", "--cases", "4", "--seed", seed];
        arguments.extend(["--shard", shard, "--quiet", "--json", &json]);
        let output = run(&arguments);
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
        json
    };
    let (first, second, other_seed) = (shard_report("1/2", "3"), shard_report("2/2", "3"), shard_report("2/2", "4"));
    let not_json = directory.path().join("notes.txt");
    std::fs::write(&not_json, "not a report").unwrap();
    let tampered = |name: &str, change: &dyn Fn(&mut serde_json::Value)| {
        let mut report = read_json(std::path::Path::new(&second));
        change(&mut report);
        let file = directory.path().join(name);
        std::fs::write(&file, report.to_string()).unwrap();
        path(&file)
    };
    let more_cases = tampered("more-cases.json", &|report| report["cases"] = 5.into());
    let lost_case = tampered("lost-case.json", &|report| {
        report["case_results"].as_array_mut().unwrap().pop();
    });
    let other_properties = tampered("other-properties.json", &|report| {
        report["properties"].as_array_mut().unwrap().pop();
    });

    let merged = run(&["merge", &first, &second]);
    assert_eq!(merged.status.code(), Some(0), "{}", String::from_utf8_lossy(&merged.stderr));
    assert!(String::from_utf8_lossy(&merged.stdout).contains("4 cases against builtin:reference (seed 3)"));

    for (files, expected) in [
        (vec![&first, &other_seed], format!("{other_seed}: the seed is 4, but in {first} it is 3")),
        (vec![&first], format!("shard 2/2 missing: given only {first} (1/2)")),
        (vec![&first, &second, &first], format!("{first} and {first} are both shard 1/2")),
        (vec![&first, &more_cases], format!("{more_cases}: the case count is 5, but in {first} it is 4")),
        (
            vec![&first, &lost_case],
            format!("{lost_case}: shard 2/2 of a 4-case run has 2 cases, but the report holds 1"),
        ),
        (vec![&first, &other_properties], format!("{other_properties}: the property list is converges")),
        (vec![&first, &path(&not_json)], format!("{} is not a uko-conformance JSON report", path(&not_json))),
        (vec![&first, &path(&directory.path().join("absent.json"))], "absent.json".to_owned()),
    ] {
        let arguments: Vec<&str> = std::iter::once("merge").chain(files.iter().map(|file| file.as_str())).collect();
        let output = run(&arguments);

        assert_eq!(output.status.code(), Some(2), "{arguments:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&expected), "{arguments:?}: expected '{expected}' in {stderr}");
    }
    assert_eq!(run(&["merge"]).status.code(), Some(2), "merge without reports");
}

fn path(file: &std::path::Path) -> String {
    file.display().to_string()
}

fn read_json(file: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

fn run(arguments: &[&str]) -> Output {
    Command::new(binary())
        .args(arguments)
        .env_remove("PROPTEST_CASES")
        .env_remove("PROPTEST_RNG_SEED")
        .output()
        .unwrap()
}

#[test]
fn a_client_that_never_reaches_the_mock_is_an_infrastructure_error() {
    // Not found (127), not executable (126), a missing script: no case sends a request, which says
    // nothing about the properties and everything about --client. Both contracts.
    let not_executable = std::env::temp_dir().join(format!("uko-conformance-not-executable-{}.sh", std::process::id()));
    std::fs::write(&not_executable, "#!/bin/sh\nexit 0\n").unwrap();
    let not_executable = not_executable.display().to_string();
    for client in ["nosuchcmd-uko-conformance", "sh /nonexistent/uko-conformance-client.sh", not_executable.as_str()] {
        for fleet in [None, Some("vault")] {
            let mut arguments = vec!["run", "--client", client, "--cases", "3", "--seed", "1", "--quiet"];
            if let Some(scope) = fleet {
                arguments.extend(["--fleet", scope]);
            }
            let output = run(&arguments);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{client} {fleet:?}: {stderr}");
            assert!(stderr.contains("the client never reached the mock; check --client"), "{stderr}");
        }
    }
    // The CI recipe's `|| test $? -eq 1` lets exit 1 (a broken property, merge's to report) through
    // and fails on exit 2.
    let recipe = format!(
        "{} run --client nosuchcmd-uko-conformance --cases 1 --seed 1 --quiet || test $? -eq 1",
        binary().display()
    );
    let status = Command::new("sh").arg("-c").arg(&recipe).status().unwrap();
    assert!(!status.success());
    // A client that reaches the mock and fails is a property failure (exit 1), not this error.
    let failing = run(&[
        "run",
        "--client",
        "builtin:give-up-on-503",
        "--cases",
        "24",
        "--seed",
        "7",
        "--quiet",
        "--property",
        "converges",
        "--max-shrink-runs",
        "1",
        "--out",
        &std::env::temp_dir().join("uko-conformance-never-reached").display().to_string(),
    ]);
    assert_ne!(failing.status.code(), Some(2), "{}", String::from_utf8_lossy(&failing.stderr));
}
