//! Unit tests of the domain core: lifecycle rules and keystore divergence without any socket.

use super::managed_keys::{KeyAction, ManagedKeyInput};
use super::*;

fn instance() -> Instance {
    let start = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    Instance::new("test", Settings::default(), Clock::new(start, ClockMode::Virtual), 1)
}
