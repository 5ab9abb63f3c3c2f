//! Embedded, versioned migrations. Each file under `migrations/postgres/` is applied once, in order,
//! in its own transaction, and recorded in `schema_migrations`. Every transaction first takes a
//! transaction-scoped advisory lock, so servers starting at the same time apply each migration
//! exactly once: the others wait, then see it recorded.

use super::{backend, LOCK_CLASS_MIGRATIONS};
use crate::{Result, StoreError};
use tokio_postgres::Client;

/// (version, name, SQL). Append only: never edit a migration that has shipped. Versions and names
/// match the SQLite backend's.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "entries", include_str!("../../migrations/postgres/0001_entries.sql")),
    (2, "access", include_str!("../../migrations/postgres/0002_access.sql")),
    (3, "app_keys", include_str!("../../migrations/postgres/0003_app_keys.sql")),
    (4, "changes", include_str!("../../migrations/postgres/0004_changes.sql")),
    (5, "config", include_str!("../../migrations/postgres/0005_config.sql")),
    (6, "audit_rowid", include_str!("../../migrations/postgres/0006_audit_rowid.sql")),
    (7, "bound_tokens", include_str!("../../migrations/postgres/0007_bound_tokens.sql")),
];

pub(super) async fn apply(conn: &mut Client) -> Result<()> {
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    loop {
        let tx = conn.transaction().await.map_err(backend)?;
        tx.execute("SELECT pg_advisory_xact_lock($1, 0)", &[&LOCK_CLASS_MIGRATIONS]).await.map_err(backend)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .await
        .map_err(backend)?;
        let row =
            tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await.map_err(backend)?;
        let applied: i64 = row.try_get(0).map_err(backend)?;
        if applied > newest {
            return Err(StoreError::Backend(format!(
                "the database is at schema version {applied}, newer than this tresor knows ({newest}); upgrade tresor"
            )));
        }
        let Some((version, name, sql)) = MIGRATIONS.iter().find(|m| m.0 > applied) else {
            return tx.commit().await.map_err(backend);
        };
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Backend(format!("migration {version} ({name}): {}", super::pg_message(&e))))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[version, name, &tresor_model::now_millis()],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
    }
}
