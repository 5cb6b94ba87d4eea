//! Tests that break things on purpose to prove DESIGN §9: SIGKILL at random
//! moments, many writers at once, a full disk, hostile input. Their own
//! test binary, so their load never skews the timing of the CLI tests.
//! Each prints the figures RELIABILITY.md reports (`cargo test --test
//! reliability -- --nocapture` shows them).

#[path = "../cli/harness.rs"]
mod harness;

mod attacker;
mod catalogue;
mod confinement;
mod crash;
mod diskfull;
mod hostile;
mod soak;
mod trail;
mod trees;
