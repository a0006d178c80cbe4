//! uko-mock: a stateful, byte-compatible fake of IBM Unified Key Orchestrator (UKO) API v4.
#![warn(clippy::unwrap_used)]

pub mod domain;
pub mod fixture;
