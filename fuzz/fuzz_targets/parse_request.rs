//! cargo-fuzz target: request parsing (JSON bodies into the domain input types, query parameters into
//! list parameters). Run with `cargo +nightly fuzz run parse_request` from `fuzz/` (see fuzz/README.md).
#![no_main]

#[path = "harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::parse_request(data));
