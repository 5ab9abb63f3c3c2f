//! What the compatibility surfaces need beyond the native API, on SQLite: entry tags changed in
//! place (Conductor's `/api/secrets/{key}/tags`) and application access keys (Conductor's
//! `POST /api/token`).

use super::{backend, corrupt, insert_err, SqliteStore};
use crate::{AppKeyRecord, Result, StoreError};
use rusqlite::{params, OptionalExtension, Row, Transaction};
use tresor_model::{EntryPath, PrincipalRef, Tag, WorkspaceName};

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

use crate::rules::apply_tags;

impl SqliteStore {
    pub(super) fn update_tags_impl(&self, p: &EntryPath, upsert: &[Tag], remove: &[Tag]) -> Result<Vec<Tag>> {
        self.write(|tx| update_tags_tx(tx, p, upsert, remove))
    }

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

/// [`crate::Store::update_tags`] inside a caller's transaction (also a step of a batch).
pub(super) fn update_tags_tx(tx: &Transaction<'_>, p: &EntryPath, upsert: &[Tag], remove: &[Tag]) -> Result<Vec<Tag>> {
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    let current: Option<String> = tx
        .query_row(
            "SELECT tags FROM entries WHERE workspace = ?1 AND environment = ?2 AND vault = ?3 AND key = ?4
                 AND deleted_at IS NULL",
            params![ws, env, vault, key],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?;
    let current = current.ok_or_else(|| StoreError::NotFound(format!("entry {p}")))?;
    let tags: Vec<Tag> =
        serde_json::from_str(&current).map_err(|e| StoreError::Corrupt(format!("tags of entry {p}: {e}")))?;
    let tags = apply_tags(tags, upsert, remove);
    let text = serde_json::to_string(&tags).map_err(|e| StoreError::Backend(e.to_string()))?;
    tx.execute(
        "UPDATE entries SET tags = ?5 WHERE workspace = ?1 AND environment = ?2 AND vault = ?3 AND key = ?4",
        params![ws, env, vault, key, text],
    )
    .map_err(backend)?;
    Ok(tags)
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
    let n = tx
        .execute(
            "UPDATE app_keys SET revoked_at = COALESCE(revoked_at, ?3) WHERE workspace = ?1 AND id = ?2",
            params![ws.as_str(), id, now],
        )
        .map_err(backend)?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("application key {id}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> Tag {
        Tag { key: k.into(), value: v.into() }
    }

    #[test]
    fn tags_are_upserted_by_key_and_removed_by_key_and_value() {
        let start = vec![tag("team", "pay"), tag("env", "prod")];
        let out = apply_tags(start.clone(), &[tag("team", "data"), tag("tier", "1")], &[]);
        assert_eq!(out, [tag("team", "data"), tag("env", "prod"), tag("tier", "1")]);
        let out = apply_tags(start.clone(), &[], &[tag("env", "dev")]);
        assert_eq!(out, start, "a removal must match the value too");
        assert_eq!(apply_tags(start, &[], &[tag("env", "prod")]), [tag("team", "pay")]);
    }
}
