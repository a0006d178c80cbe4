//! uko-mock: a stateful, byte-compatible fake of IBM Unified Key Orchestrator (UKO) API v4.
//!
//! Crate map (details in ARCHITECTURE.md):
//! - [`domain`]: one UKO instance's state and rules, with the keystore simulation; no HTTP.
//! - [`store`]: the shared handle to all instances, one lock per instance.
//! - [`persistence`]: the state file that keeps every instance across restarts (`--state-file`).
//! - [`web`]: the shell every HTTP surface shares: `AppState`, `ApiError`, extractors, the gateway (limits,
//!   instance prefix, error bodies), bearer tokens and the IAM endpoint, control-plane access.
//! - [`uko`]: the UKO v4 surface under `/api/v4` (routes, handlers, wire types).
//! - `control`: the mock's control plane under `/__mock/v1` (private: reached over HTTP only).
//! - `console`: the web console at `/` (static files embedded in the binary; private).
//! - [`fixture`]: the scenario file format, shared with uko-conformance.
//! - [`server`]: assembling the app, `serve`, and [`MockServer`] for in-process tests.
//! - [`tls`]: HTTPS (`--tls`, `--https-port`): the generated or given certificate as a rustls configuration.
//! - [`config`]: the command line of the `uko-mock` binary.
//! - [`snapshot`]: `uko-mock snapshot`, a UKO tenant read through its public API into a fixture.
//!
//! `uko` and `control` both build on `web` and never on each other; `domain` knows no HTTP.
//!
//! The public surface is what the `uko-mock` binary, [`MockServer`] users and uko-conformance need
//! (`unreachable_pub` keeps everything else crate-private): the fixture format and the domain types it is
//! made of, `Store`'s read API (`journal`, `key_statuses`), the UKO routes and query reading (for the
//! OpenAPI check and the fuzz harness).
#![warn(clippy::unwrap_used)]
#![warn(unreachable_pub)]

pub mod config;
mod console;
mod control;
pub mod domain;
pub mod fixture;
pub mod persistence;
pub mod server;
pub mod snapshot;
pub mod store;
pub mod tls;
pub mod uko;
pub mod web;

pub use server::{app, serve, MockServer, MockServerBuilder};
