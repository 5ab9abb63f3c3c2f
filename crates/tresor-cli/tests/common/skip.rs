//! The one rule for tests that need something a developer's machine may lack (PostgreSQL, a
//! pg_ctl command, a Python client): with `CI` set (to anything but empty or `false`) a missing
//! dependency fails the test, so CI can never pass by skipping; without it the test is skipped
//! with a line that `cargo test` shows.
//!
//! Used by the CLI's end-to-end tests (as `common::skip`) and, through `#[path]`, by the store's
//! PostgreSQL tests, so both follow the same rule.

/// Whether this runs in CI.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// Says that `test` is skipped and why, or fails it in CI. The notice is written to the process's
/// stderr directly: `eprintln!` inside a test is captured and shown only on failure, so a skip
/// would pass unseen.
#[track_caller]
pub fn skip(test: &str, missing: &str) {
    assert!(!in_ci(), "{test}: CI must provide {missing}");
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {missing} is missing");
}
