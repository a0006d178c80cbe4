//! The uko-conformance integration tests: one binary, one module per concern.

mod cli; // the uko-conformance binary: list-properties, run, replay, reference-client, exit codes
mod counterexamples; // committed counterexample files replay with their client and pass with the reference
mod curl_client; // examples/curl-client.sh passes the suite (when curl is installed)
mod fleet; // fleet mode: the reference fleet client passes, every fleet mutant is caught
mod helpers; // suite configuration, temporary directories, environment knobs
mod mutants; // every mutant is caught by its property, with a shrunk counterexample that replays
mod properties; // property checks on hand-written journals
mod reference; // the reference client passes every property, in-process and as a command
mod scenario; // generator, expected outcome and fixture conversion
mod shards; // --shard partitions a run case for case; merged shard reports give the unsharded verdict
