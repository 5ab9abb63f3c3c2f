//! The end-to-end tests of the `tresor` binary: the real server over HTTP, the real CLI, the
//! platforms' documented calls and published clients. One test binary with one module per area,
//! as ripgrep keeps them: each integration-test file would otherwise be its own binary linking
//! the whole dependency tree again.
//!
//! `pg_restart.rs` is the one exception: it stops and starts the PostgreSQL server, so it must
//! not run beside the PostgreSQL tests here (cargo runs test binaries one after the other).

mod common;

mod airflow;
mod backup;
mod cli_platforms;
mod compat_conductor;
mod compat_tinybird;
mod compat_vault;
mod config;
mod connections;
mod crash;
mod faults;
mod fuzz;
mod keys;
mod local_cli;
mod migrating;
mod multinode;
mod render;
mod run_redact;
mod sdk_python;
mod sdk_typescript;
#[path = "security/main.rs"]
mod security;
mod server;
mod ui;
mod upgrade;
mod webhooks;
