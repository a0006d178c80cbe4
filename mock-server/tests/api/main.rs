//! API integration tests: the real uko-mock server on a loopback port, called over real HTTP.

// The control plane under /__mock/v1: instances, fixtures, faults, keystore simulation, clock, journal, admin token.
mod control;
// The state file: changes survive a restart of the real binary, and a bad file is refused untouched.
mod persistence;
