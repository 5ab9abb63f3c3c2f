//! Tokens, grants and application keys on SQLite: records with an id in a workspace
//! ([`crate::rows::Record`]), read, inserted and revoked by one set of statements.

use super::{change, insert_err, insert_row, query_all, query_first};
use crate::rows::Record;
use crate::Result;
use rusqlite::{params, Connection, Transaction};
use tresor_model::WorkspaceName;

/// The record with this id, if any.
pub(super) fn by_id<T: Record>(c: &Connection, id: &str) -> Result<Option<T>> {
    query_first(c, &format!("SELECT {} FROM {} WHERE id = ?1", T::COLS, T::TABLE), [id], T::from_row)
}

/// A workspace's records, oldest first.
pub(super) fn of_workspace<T: Record>(c: &Connection, ws: &WorkspaceName) -> Result<Vec<T>> {
    let sql = format!("SELECT {} FROM {} WHERE workspace = ?1 ORDER BY created_at, id", T::COLS, T::TABLE);
    query_all(c, &sql, [ws.as_str()], T::from_row)
}

/// Inserts a record inside a caller's transaction (`insert_token`, `insert_grant`,
/// `insert_app_key`, also steps of a batch).
pub(super) fn insert_tx<T: Record>(tx: &Transaction<'_>, r: &T) -> Result<()> {
    insert_row(tx, T::TABLE, T::COLS, &r.values()).map_err(insert_err(format!("{} {}", T::WHAT, r.id())))?;
    Ok(())
}

/// Marks a record revoked inside a caller's transaction, keeping the first revocation time
/// (`revoke_token`, `revoke_app_key`).
pub(super) fn revoke_tx<T: Record>(tx: &Transaction<'_>, ws: &WorkspaceName, id: &str, now: i64) -> Result<()> {
    let sql = format!("UPDATE {} SET revoked_at = COALESCE(revoked_at, ?3) WHERE workspace = ?1 AND id = ?2", T::TABLE);
    change(tx, &sql, params![ws.as_str(), id, now], || format!("{} {id}", T::WHAT))
}
