//! The schema migrations of both backends: one list of versions and names (each backend's SQL
//! under `migrations/<backend>/`), and the decision of which one to apply next. A backend runs
//! each in its own transaction and records it in `schema_migrations`.

use crate::{Result, StoreError};

/// One embedded migration.
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The migrations of the backend whose SQL is under `migrations/$dir/`, in order. Append only:
/// never edit a migration that has shipped. Both backends have the same versions and names.
macro_rules! migrations {
    ($dir:literal) => {
        migrations!($dir:
            1 "entries" "0001_entries.sql",
            2 "access" "0002_access.sql",
            3 "app_keys" "0003_app_keys.sql",
            4 "changes" "0004_changes.sql",
            5 "config" "0005_config.sql",
            6 "audit_rowid" "0006_audit_rowid.sql",
            7 "bound_tokens" "0007_bound_tokens.sql",
            8 "live_counts" "0008_live_counts.sql",
            9 "version_state" "0009_version_state.sql",
            10 "audit_chains" "0010_audit_chains.sql",
        )
    };
    ($dir:literal: $($version:literal $name:literal $file:literal,)+) => {
        &[$($crate::migrate::Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/", $dir, "/", $file)),
        }),+]
    };
}
pub(crate) use migrations;

/// `CREATE TABLE IF NOT EXISTS` of the table recording the applied migrations.
pub(crate) const SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
     name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// The migration to apply to a database at version `applied`, up to version `last`: `None` when
/// there is none left. Refuses a database newer than every migration this tresor knows.
pub(crate) fn next(all: &'static [Migration], applied: i64, last: i64) -> Result<Option<&'static Migration>> {
    let newest = all.last().map_or(0, |m| m.version);
    if applied > newest {
        return Err(StoreError::Backend(format!(
            "the store is at schema version {applied}, newer than this tresor knows (version {newest}): a newer \
             release wrote it, and tresor does not downgrade a store. Run that release (or a newer one), or restore a \
             backup made before the upgrade into an empty store (`tresor backup restore`)"
        )));
    }
    Ok(all.iter().find(|m| m.version > applied && m.version <= last))
}

/// The error of a migration that failed, naming it.
pub(crate) fn failed(m: &Migration, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("migration {} ({}): {e}", m.version, m.name))
}
