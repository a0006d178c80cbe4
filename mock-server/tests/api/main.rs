//! API integration tests: the real uko-mock server on a loopback port, called over real HTTP.

// TestApp, one typed method per operation, response invariants and checked redactions.
#[macro_use]
mod helpers;

// IAM token flow, static tokens, the legacy UKO-Vault header.
mod auth;
// Every error class with its UKO error body: 400, 401, 404, 405, 406, 409, 412, 428.
mod errors;
// ETags: presence per operation, new on every mutation, stable on reads, chaining, no lost update.
mod etag;
// List filters with their literal wire names, multi-value encodings and ranges.
mod filters;
// The 8 keystore operations.
mod keystores;
// The 14 managed key operations.
mod managed_keys;
// A proptest model of the key lifecycle and If-Match rules against the server.
mod model;
// Paging: limit/offset, links, filters kept in links, walking every page like the Go SDK pager.
mod paging;
// Verify and sync: the seed flow and every divergence fixture, through real HTTP.
mod sync;
// The 8 key template operations.
mod templates;
// The 5 vault operations.
mod vaults;
// The control plane under /__mock/v1: instances, fixtures, faults, keystore simulation, clock, journal, admin token.
mod control;
// The state file: changes survive a restart of the real binary, and a bad file is refused untouched.
mod persistence;
