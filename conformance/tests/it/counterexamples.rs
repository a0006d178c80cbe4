//! Committed counterexample files (`counterexamples/`, written by `uko-conformance run --out`) keep
//! replaying: each breaks its recorded property again with the client that produced it, and the
//! reference client passes it. They pin the file format; paste a new one here to keep it as a regression.

use std::time::Duration;

use uko_conformance::clients::ClientUnderTest;
use uko_conformance::counterexample::CounterexampleFile;
use uko_conformance::properties::Budget;
use uko_conformance::runner::replay_file;

use crate::helpers::crate_dir;

#[tokio::test(flavor = "multi_thread")]
async fn committed_counterexamples_replay_with_their_client_and_pass_with_the_reference() {
    let directory = crate_dir().join("tests/it/counterexamples");
    let mut files: Vec<_> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "json"))
        .collect();
    files.sort();
    assert!(files.iter().any(|file| file.to_string_lossy().contains("fleet-")), "no fleet counterexample");
    assert!(files.len() >= 4, "expected the committed counterexamples in {}", directory.display());
    let reference = ClientUnderTest::from_spec("builtin:reference").unwrap();
    let reference_fleet = ClientUnderTest::from_spec("builtin:reference-fleet").unwrap();
    for file in files {
        let recorded = CounterexampleFile::read(&file).unwrap();
        // A fleet file (its section names the scope) is the fleet contract's: its reference is the fleet one.
        let reference = if recorded.conformance.fleet.is_some() { &reference_fleet } else { &reference };
        assert!(recorded.conformance.replay.contains(&recorded.conformance.client), "{}", file.display());
        let client = ClientUnderTest::from_spec(&recorded.conformance.client).unwrap();

        let replayed = replay_file(&file, &client, Duration::from_secs(60), &Budget::default()).await.unwrap();
        assert!(replayed.reproduced(), "{}:\n{}", file.display(), uko_conformance::report::replay_summary(&replayed));

        let replayed = replay_file(&file, reference, Duration::from_secs(60), &Budget::default()).await.unwrap();
        let all_passed = replayed.verdicts.iter().all(|verdict| verdict.passed());
        assert!(all_passed, "{}:\n{}", file.display(), uko_conformance::report::replay_summary(&replayed));
    }
}
