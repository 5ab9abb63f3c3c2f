//! Application access keys (Conductor's `POST /api/token`) on SQLite.

use super::{change, corrupt, insert_err, SqliteStore};
use crate::{AppKeyRecord, Result};
use rusqlite::{params, OptionalExtension, Row, Transaction};
use tresor_model::{PrincipalRef, WorkspaceName};

const APP_KEY_COLS: &str =
    "id, workspace, principal_kind, principal_name, hash, created_at, created_by, revoked_at, environment";

fn app_key_from_row(r: &Row<'_>) -> rusqlite::Result<AppKeyRecord> {
    let ws: String = r.get(1)?;
    let (kind, name): (String, String) = (r.get(2)?, r.get(3)?);
    Ok(AppKeyRecord {
        id: r.get(0)?,
        workspace: WorkspaceName::new(ws).map_err(|e| corrupt(e.to_string()))?,
        principal: format!("{kind}:{name}").parse::<PrincipalRef>().map_err(|e| corrupt(e.to_string()))?,
        hash: r.get(4)?,
        created_at: r.get(5)?,
        created_by: r.get(6)?,
        revoked_at: r.get(7)?,
        environment: super::env_at(r, 8)?,
    })
}

impl SqliteStore {
    pub(super) fn insert_app_key_impl(&self, k: &AppKeyRecord) -> Result<()> {
        self.write(|tx| insert_app_key_tx(tx, k))
    }

    pub(super) fn get_app_key_impl(&self, id: &str) -> Result<Option<AppKeyRecord>> {
        self.read(|c| {
            c.prepare_cached(&format!("SELECT {APP_KEY_COLS} FROM app_keys WHERE id = ?1"))?
                .query_row([id], app_key_from_row)
                .optional()
        })
    }

    pub(super) fn list_app_keys_impl(&self, ws: &WorkspaceName) -> Result<Vec<AppKeyRecord>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {APP_KEY_COLS} FROM app_keys WHERE workspace = ?1 ORDER BY created_at, id"
            ))?
            .query_map([ws.as_str()], app_key_from_row)?
            .collect()
        })
    }

    pub(super) fn revoke_app_key_impl(&self, ws: &WorkspaceName, id: &str, now: i64) -> Result<()> {
        self.write(|tx| revoke_app_key_tx(tx, ws, id, now))
    }
}

/// [`crate::Store::insert_app_key`] inside a caller's transaction.
pub(super) fn insert_app_key_tx(tx: &Transaction<'_>, k: &AppKeyRecord) -> Result<()> {
    tx.execute(
        &format!("INSERT INTO app_keys ({APP_KEY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            k.id,
            k.workspace.as_str(),
            k.principal.kind.as_str(),
            k.principal.name,
            k.hash,
            k.created_at,
            k.created_by,
            k.revoked_at,
            k.environment.as_ref().map(|e| e.as_str())
        ],
    )
    .map_err(insert_err(format!("application key {}", k.id)))?;
    Ok(())
}

/// [`crate::Store::revoke_app_key`] inside a caller's transaction.
pub(super) fn revoke_app_key_tx(tx: &Transaction<'_>, ws: &WorkspaceName, id: &str, now: i64) -> Result<()> {
    let sql = "UPDATE app_keys SET revoked_at = COALESCE(revoked_at, ?3) WHERE workspace = ?1 AND id = ?2";
    change(tx, sql, params![ws.as_str(), id, now], || format!("application key {id}"))
}
