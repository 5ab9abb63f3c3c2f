//! Application access keys (Conductor's `POST /api/token`) on SQLite.

use super::{change, insert_err, insert_row, query_all, query_first, SqliteStore};
use crate::rows::{self, APP_KEY_COLS};
use crate::{AppKeyRecord, Result};
use rusqlite::{params, Transaction};
use tresor_model::WorkspaceName;

impl SqliteStore {
    pub(super) fn insert_app_key_impl(&self, k: &AppKeyRecord) -> Result<()> {
        self.write(|tx| insert_app_key_tx(tx, k))
    }

    pub(super) fn get_app_key_impl(&self, id: &str) -> Result<Option<AppKeyRecord>> {
        self.read_with(|c| {
            query_first(c, &format!("SELECT {APP_KEY_COLS} FROM app_keys WHERE id = ?1"), [id], rows::app_key)
        })
    }

    pub(super) fn list_app_keys_impl(&self, ws: &WorkspaceName) -> Result<Vec<AppKeyRecord>> {
        let sql = format!("SELECT {APP_KEY_COLS} FROM app_keys WHERE workspace = ?1 ORDER BY created_at, id");
        self.read_with(|c| query_all(c, &sql, [ws.as_str()], rows::app_key))
    }

    pub(super) fn revoke_app_key_impl(&self, ws: &WorkspaceName, id: &str, now: i64) -> Result<()> {
        self.write(|tx| revoke_app_key_tx(tx, ws, id, now))
    }
}

/// [`crate::Store::insert_app_key`] inside a caller's transaction.
pub(super) fn insert_app_key_tx(tx: &Transaction<'_>, k: &AppKeyRecord) -> Result<()> {
    insert_row(tx, "app_keys", APP_KEY_COLS, &rows::app_key_values(k))
        .map_err(insert_err(format!("application key {}", k.id)))?;
    Ok(())
}

/// [`crate::Store::revoke_app_key`] inside a caller's transaction.
pub(super) fn revoke_app_key_tx(tx: &Transaction<'_>, ws: &WorkspaceName, id: &str, now: i64) -> Result<()> {
    let sql = "UPDATE app_keys SET revoked_at = COALESCE(revoked_at, ?3) WHERE workspace = ?1 AND id = ?2";
    change(tx, sql, params![ws.as_str(), id, now], || format!("application key {id}"))
}
