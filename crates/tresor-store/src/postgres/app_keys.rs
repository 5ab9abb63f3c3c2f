//! Application access keys (Conductor's `POST /api/token`) on PostgreSQL.

use super::{change, insert_err, insert_row, PostgresStore};
use crate::rows::{self, APP_KEY_COLS};
use crate::{AppKeyRecord, Result};
use tokio_postgres::Transaction;
use tresor_model::WorkspaceName;

impl PostgresStore {
    pub(super) async fn insert_app_key_impl(&self, k: &AppKeyRecord) -> Result<()> {
        in_tx!(self, |tx| insert_app_key_tx(&tx, k).await)
    }

    pub(super) async fn get_app_key_impl(&self, id: &str) -> Result<Option<AppKeyRecord>> {
        self.first(&format!("SELECT {APP_KEY_COLS} FROM app_keys WHERE id = $1"), &[&id], rows::app_key).await
    }

    pub(super) async fn list_app_keys_impl(&self, ws: &WorkspaceName) -> Result<Vec<AppKeyRecord>> {
        self.all(
            &format!("SELECT {APP_KEY_COLS} FROM app_keys WHERE workspace = $1 ORDER BY created_at, id"),
            &[&ws.as_str()],
            rows::app_key,
        )
        .await
    }

    pub(super) async fn revoke_app_key_impl(&self, ws: &WorkspaceName, id: &str, now: i64) -> Result<()> {
        in_tx!(self, |tx| revoke_app_key_tx(&tx, ws, id, now).await)
    }
}

/// [`crate::Store::insert_app_key`] inside a caller's transaction.
pub(super) async fn insert_app_key_tx(tx: &Transaction<'_>, k: &AppKeyRecord) -> Result<()> {
    insert_row(tx, "app_keys", APP_KEY_COLS, &rows::app_key_values(k))
        .await
        .map_err(insert_err(format!("application key {}", k.id), &format!("workspace {}", k.workspace)))?;
    Ok(())
}

/// [`crate::Store::revoke_app_key`] inside a caller's transaction.
pub(super) async fn revoke_app_key_tx(tx: &Transaction<'_>, ws: &WorkspaceName, id: &str, now: i64) -> Result<()> {
    let sql = "UPDATE app_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE workspace = $1 AND id = $2";
    change(tx, sql, &[&ws.as_str(), &id, &now], || format!("application key {id}")).await
}
