//! Shared settings for the crate's property tests.
//!
//! Failure persistence is off: a failing case is pinned as a named, fixed
//! test beside the property instead of a `proptest-regressions/` file, so a
//! clean checkout and one where a property once failed run the same tests,
//! and a run never leaves files behind in the checkout.

use proptest::test_runner::Config;

/// The default number of cases a property runs (proptest's own default).
const DEFAULT_CASES: u32 = 256;

/// A property-test configuration that runs `cases` cases at the default
/// level, scaled by `PROPTEST_CASES` / 256 when that is set (so
/// `scripts/flake-hunt` can ask for ten times as many everywhere), and
/// persists no failures.
pub(crate) fn proptest_config(cases: u32) -> Config {
    let asked = Config::default().cases;
    let scaled = if std::env::var_os("PROPTEST_CASES").is_some() {
        (u64::from(cases) * u64::from(asked) / u64::from(DEFAULT_CASES)).max(1)
    } else {
        u64::from(cases)
    };
    Config {
        cases: u32::try_from(scaled).unwrap_or(u32::MAX),
        failure_persistence: None,
        ..Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persistence_is_off_so_a_run_writes_nothing_into_the_checkout() {
        assert!(proptest_config(10).failure_persistence.is_none());
    }
}
