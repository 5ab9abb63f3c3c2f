//! Applies the migrations (`src/migrate.rs`, SQL under `migrations/postgres/`) once each, in
//! order, each in its own transaction, recorded in `schema_migrations`. Every transaction first
//! takes a transaction-scoped advisory lock, so servers starting at the same time apply each
//! migration exactly once: the others wait, then see it recorded.

use super::{backend, LOCK_CLASS_MIGRATIONS};
use crate::migrate::{failed, migrations, next, Migration, SCHEMA_MIGRATIONS};
use crate::Result;
use tokio_postgres::Client;

const MIGRATIONS: &[Migration] = migrations!("postgres");

pub(super) async fn apply(conn: &mut Client) -> Result<()> {
    loop {
        let tx = conn.transaction().await.map_err(backend)?;
        tx.execute("SELECT pg_advisory_xact_lock($1, 0)", &[&LOCK_CLASS_MIGRATIONS]).await.map_err(backend)?;
        tx.batch_execute(SCHEMA_MIGRATIONS).await.map_err(backend)?;
        let row =
            tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await.map_err(backend)?;
        let applied: i64 = row.try_get(0).map_err(backend)?;
        let Some(m) = next(MIGRATIONS, applied, i64::MAX)? else {
            return tx.commit().await.map_err(backend);
        };
        tx.batch_execute(m.sql).await.map_err(|e| failed(m, super::pg_message(&e)))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &tresor_model::now_millis()],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
    }
}
