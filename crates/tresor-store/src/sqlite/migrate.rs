//! Applies the migrations (`src/migrate.rs`, SQL under `migrations/sqlite/`) once each, in order,
//! each in its own transaction, recorded in `schema_migrations`.

use super::backend;
use crate::migrate::{failed, migrations, next, Migration, SCHEMA_MIGRATIONS};
use crate::Result;
use rusqlite::{params, Connection};

const MIGRATIONS: &[Migration] = migrations!("sqlite");

pub(super) fn apply(conn: &mut Connection) -> Result<()> {
    apply_up_to(conn, i64::MAX)
}

/// Applies the migrations up to version `last`: all of them for a store, fewer for a test that
/// builds a store as an older tresor left it.
pub(super) fn apply_up_to(conn: &mut Connection, last: i64) -> Result<()> {
    conn.execute_batch(SCHEMA_MIGRATIONS).map_err(backend)?;
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(backend)?;
        let applied: i64 = tx
            .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))
            .map_err(backend)?;
        let Some(m) = next(MIGRATIONS, applied, last)? else {
            return Ok(());
        };
        tx.execute_batch(m.sql).map_err(|e| failed(m, e))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, tresor_model::now_millis()],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
}
