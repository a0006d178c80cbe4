//! Sharding: the shards of a run partition its cases (disjoint, together every case), each case gets the
//! same scenario and verdicts as in the unsharded run, and merging the shards' reports gives the
//! unsharded verdict, for a passing client and for a failing mutant.

use std::collections::BTreeSet;
use std::path::PathBuf;

use uko_conformance::clients::ClientUnderTest;
use uko_conformance::properties::Property;
use uko_conformance::runner::{run_suite, SuiteReport};
use uko_conformance::shard::{self, Shard};

use crate::helpers::{suite_config, TempDir};

#[tokio::test(flavor = "multi_thread")]
async fn shards_of_a_passing_run_partition_it_and_merge_to_its_verdict() {
    let unsharded = check_shards("builtin:reference", &Property::ALL, 10, 31, 3).await;

    assert!(unsharded.passed(), "{}", uko_conformance::report::human_summary(&unsharded));
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_of_a_failing_run_partition_it_and_merge_to_its_verdict() {
    let unsharded = check_shards("builtin:deactivate-reactivate", &[Property::NoCollateral], 16, 5, 4).await;

    assert!(!unsharded.passed(), "the mutant was not caught: {}", uko_conformance::report::human_summary(&unsharded));
}

#[test]
fn shard_parse_accepts_k_of_n_and_refuses_the_rest() {
    assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
    assert_eq!(Shard::parse("1/1"), Ok(Shard::WHOLE));
    for bad in ["0/4", "5/4", "1/0", "0/0", "2", "a/b", "-1/4", "1/4/2", ""] {
        assert!(Shard::parse(bad).is_err(), "{bad} was accepted");
    }
}

#[test]
fn every_case_is_in_exactly_one_shard() {
    for count in 1..=5 {
        for case in 0..23 {
            let owners: Vec<u32> = (1..=count).filter(|index| Shard { index: *index, count }.contains(case)).collect();
            assert_eq!(owners.len(), 1, "case {case} of {count} shards is in {owners:?}");
        }
        let total: u32 = (1..=count).map(|index| Shard { index, count }.case_count(23)).sum();
        assert_eq!(total, 23);
    }
}

/// Runs `client` unsharded and as `count` shards, all in-process against real servers, and checks the
/// partition case for case and the merged verdict. Returns the unsharded report.
async fn check_shards(client: &str, properties: &[Property], cases: u32, seed: u64, count: u32) -> SuiteReport {
    let client = ClientUnderTest::from_spec(client).unwrap();
    let out_dir = TempDir::new("shards");
    let mut config = suite_config(cases, seed, properties, &out_dir.path().join("whole"));
    config.max_shrink_runs = 8;
    let unsharded = run_suite(&client, &config).await.unwrap();

    let mut shard_reports = Vec::new();
    for index in 1..=count {
        let mut shard_config = config.clone();
        shard_config.shard = Shard { index, count };
        shard_config.out_dir = out_dir.path().join(format!("shard-{index}"));
        let report = run_suite(&client, &shard_config).await.unwrap();
        // Round-trip through the JSON file, as `merge` reads it.
        let file = out_dir.path().join(format!("report-{index}.json"));
        std::fs::write(&file, uko_conformance::report::json(&report).unwrap()).unwrap();
        shard_reports.push((file.clone(), shard::read_report(&file).unwrap()));
    }

    // Disjoint, and together exactly the unsharded cases with the same scenarios and verdicts.
    let mut seen = BTreeSet::new();
    for (file, report) in &shard_reports {
        assert_eq!(report.cases, cases);
        for result in &report.case_results {
            assert!(report.shard.contains(result.case), "{}: case {} is not its shard's", file.display(), result.case);
            assert!(seen.insert(result.case), "case {} ran in two shards", result.case);
        }
    }
    let mut union: Vec<_> = shard_reports.iter().flat_map(|(_, report)| report.case_results.clone()).collect();
    union.sort_by_key(|result| result.case);
    assert_eq!(union.len(), usize::try_from(cases).unwrap());
    assert_eq!(union, unsharded.case_results);

    // The merged verdict is the unsharded one, property for property.
    let merged = shard::merge(&shard_reports).unwrap();
    assert_eq!(merged.passed(), unsharded.passed());
    assert_eq!(merged.case_results, unsharded.case_results);
    assert_eq!((merged.seed, merged.cases, merged.shard), (seed, cases, Shard::WHOLE));
    for (merged, whole) in merged.properties.iter().zip(&unsharded.properties) {
        assert_eq!(
            (merged.property, merged.cases, merged.exercised, merged.failed),
            (whole.property, whole.cases, whole.exercised, whole.failed)
        );
        assert_eq!(merged.rule, whole.rule);
        // The same first failing case is shrunk, by the shard that ran it.
        assert_eq!(
            merged.counterexample.as_ref().map(|counterexample| counterexample.case),
            whole.counterexample.as_ref().map(|counterexample| counterexample.case),
            "{}",
            merged.property
        );
        if let Some(counterexample) = &merged.counterexample {
            assert!(counterexample.file.exists(), "{}", counterexample.file.display());
            assert!(counterexample.file.display().to_string().contains(&format!("of{count}.json")));
        }
    }

    // Merging is refused when a shard is missing or given twice.
    let missing = shard::merge(&shard_reports[1..]).unwrap_err().to_string();
    assert!(missing.contains(&format!("shard 1/{count} missing")), "{missing}");
    let mut twice: Vec<(PathBuf, SuiteReport)> = shard_reports.clone();
    twice.push(shard_reports[0].clone());
    let duplicated = shard::merge(&twice).unwrap_err().to_string();
    assert!(duplicated.contains(&format!("both shard 1/{count}")), "{duplicated}");
    unsharded
}
