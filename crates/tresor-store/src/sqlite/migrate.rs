//! Embedded, versioned migrations. Each file under `migrations/sqlite/` is applied once, in order,
//! in its own transaction, and recorded in `schema_migrations`.

use super::backend;
use crate::{Result, StoreError};
use rusqlite::{params, Connection};

/// (version, name, SQL). Append only: never edit a migration that has shipped.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "entries", include_str!("../../migrations/sqlite/0001_entries.sql")),
    (2, "access", include_str!("../../migrations/sqlite/0002_access.sql")),
    (3, "app_keys", include_str!("../../migrations/sqlite/0003_app_keys.sql")),
    (4, "changes", include_str!("../../migrations/sqlite/0004_changes.sql")),
    (5, "config", include_str!("../../migrations/sqlite/0005_config.sql")),
    (6, "audit_rowid", include_str!("../../migrations/sqlite/0006_audit_rowid.sql")),
    (7, "bound_tokens", include_str!("../../migrations/sqlite/0007_bound_tokens.sql")),
];

pub(super) fn apply(conn: &mut Connection) -> Result<()> {
    apply_up_to(conn, i64::MAX)
}

/// Applies the migrations up to version `last`: all of them for a store, fewer for a test that
/// builds a store as an older tresor left it.
pub(super) fn apply_up_to(conn: &mut Connection, last: i64) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .map_err(backend)?;
    let applied: i64 =
        conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0)).map_err(backend)?;
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if applied > newest {
        return Err(StoreError::Backend(format!(
            "the database is at schema version {applied}, newer than this tresor knows ({newest}); upgrade tresor"
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > applied && m.0 <= last) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(backend)?;
        tx.execute_batch(sql).map_err(|e| StoreError::Backend(format!("migration {version} ({name}): {e}")))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![version, name, tresor_model::now_millis()],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
    Ok(())
}
