//! uko-conformance: a property-based suite that treats the *client* as the system under test.
//!
//! For each generated scenario the suite starts a fresh uko-mock server that fails on purpose (keys
//! diverged in their keystores, unreachable keystores, HTTP faults, concurrent writers), runs the client
//! against it, and judges the client's behaviour from the server's journal and final state. A failing
//! client gets a minimal, replayable scenario.
//!
//! Crate map:
//! - [`scenario`]: scenarios, their proptest strategies, expected outcome, conversion to a fixture.
//! - [`fleet`]: fleet scenarios (a keystore's or vault's many keys), their scope, their fixture.
//! - [`clients`]: the client contract, external and in-process clients, the reference and mutant clients.
//! - [`observation`]: what a case left behind (journal, final state, replayed reads).
//! - [`properties`]: the rules and their checks.
//! - [`runner`]: servers per case, parallel cases, shrinking.
//! - [`shard`]: splitting a run into shards for CI fan-out, merging the shards' reports.
//! - [`counterexample`]: the counterexample file format.
//! - [`report`]: human, JUnit and JSON output.
//!
//! Dependency direction: uko-conformance uses uko-mock (fixtures, in-process servers, the domain for
//! replay); uko-mock never depends on uko-conformance.
#![warn(clippy::unwrap_used)]

pub mod clients;
pub mod counterexample;
pub mod fleet;
pub mod observation;
pub mod properties;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod shard;
