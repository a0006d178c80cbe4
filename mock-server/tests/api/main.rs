//! API integration tests: the real uko-mock server on a loopback port, called over real HTTP.

// The cargo-fuzz request-parsing harness of fuzz/, fed its corpus and mutations on stable.
mod fuzz_corpus;
// TestApp, one typed method per operation, response invariants and checked redactions.
#[macro_use]
mod helpers;

// Browsers cannot drive the mock: Host allow-list, cross-origin state changes, JSON bodies only as JSON.
mod browser;
// IAM token flow, static tokens, the legacy UKO-Vault header.
mod auth;
// What a new user meets first: startup errors, banner, control-plane index and 404s, instance ids, unknown fields.
mod first_hour;
// SIGKILL of the real binary during a write load, with --state-file: acknowledged writes all survive.
mod crash;
// Every error class with its UKO error body: 400, 401, 404, 405, 406, 409, 412, 428.
mod errors;
// ETags: presence per operation, new on every mutation, stable on reads, chaining, no lost update.
mod etag;
// Hostile input over raw TCP: every answer UKO-shaped, never a 5xx, refused requests change nothing.
mod hostile;
// List filters with their literal wire names, multi-value encodings and ranges.
mod filters;
// The 8 keystore operations.
mod keystores;
// Limits: body 413 and header 431 in UKO's shape, slow bodies 408, slowloris and idle connections closed,
// journal and instance registry bounded.
mod limits;
// A linearizability checker (Wing and Gong search) against a compare-and-set model of one key.
mod linearizability;
// The 14 managed key operations.
mod managed_keys;
// A proptest model of the key lifecycle and If-Match rules against the server.
mod model;
// The OpenAPI document against the routes and the live server; served by the control plane.
mod openapi;
// Paging: limit/offset, links, filters kept in links, walking every page like the Go SDK pager.
mod paging;
// Security defaults through the binary: loopback bind, admin token, masked credentials, token expiry.
mod security;
// 64 concurrent clients writing one key: one ETag per write, no lost update, a linearizable history.
mod races;
// The service URL in the banner, a doubled /api/v4 prefix, the permissive and realistic profiles.
mod front_door;
// The journal lists requests in the order they ran, under 64 concurrent clients.
mod journal_order;
// uko-mock snapshot: every scenario fixture through a snapshot and back, byte for byte; clear failures.
mod snapshot;
// Verify and sync: the seed flow and every divergence fixture, through real HTTP.
mod sync;
// The 8 key template operations.
mod templates;
// The 5 vault operations.
mod vaults;
// The control plane under /__mock/v1: instances, fixtures, faults, keystore simulation, clock, journal, admin token.
mod control;
// Memory stays bounded under hostile input: RSS of the real binary after 10,000 requests with 30 KB fields.
mod memory;
// The state file: changes survive a restart of the real binary, and a bad file is refused untouched.
mod persistence;
// HTTPS: --tls and --https-port with a client trusting only the generated certificate, the plain-port
// warning, bad certificate files, MockServer over TLS.
mod tls;
// Terraform's IBM provider replayed over HTTPS (its SDK generation's headers and bodies, default and
// realistic rules), and the IAM token as an RS256 JWT verified against GET /identity/keys.
mod terraform;
