//! Tokens, grants and application keys on PostgreSQL: records with an id in a workspace
//! ([`crate::rows::Record`]), read, inserted and revoked by one set of statements.

use super::pool::PgTx;
use super::{change, insert_err, insert_row, PostgresStore};
use crate::rows::Record;
use crate::Result;
use tresor_model::WorkspaceName;

impl PostgresStore {
    /// The record with this id, if any.
    pub(super) async fn by_id<T: Record>(&self, id: &str) -> Result<Option<T>> {
        self.first(&format!("SELECT {} FROM {} WHERE id = $1", T::COLS, T::TABLE), &[&id], T::from_row).await
    }

    /// A workspace's records, oldest first.
    pub(super) async fn of_workspace<T: Record>(&self, ws: &WorkspaceName) -> Result<Vec<T>> {
        let sql = format!("SELECT {} FROM {} WHERE workspace = $1 ORDER BY created_at, id", T::COLS, T::TABLE);
        self.all(&sql, &[&ws.as_str()], T::from_row).await
    }
}

/// Inserts a record inside a caller's transaction (`insert_token`, `insert_grant`,
/// `insert_app_key`, also steps of a batch).
pub(super) async fn insert_tx<T: Record>(tx: &PgTx<'_>, r: &T) -> Result<()> {
    let (what, parent) = (format!("{} {}", T::WHAT, r.id()), format!("workspace {}", r.workspace()));
    insert_row(tx, T::TABLE, T::COLS, &r.values()).await.map_err(insert_err(what, &parent))?;
    Ok(())
}

/// Marks a record revoked inside a caller's transaction, keeping the first revocation time
/// (`revoke_token`, `revoke_app_key`).
pub(super) async fn revoke_tx<T: Record>(tx: &PgTx<'_>, ws: &WorkspaceName, id: &str, now: i64) -> Result<()> {
    let sql = format!("UPDATE {} SET revoked_at = COALESCE(revoked_at, $3) WHERE workspace = $1 AND id = $2", T::TABLE);
    change(tx, &sql, &[&ws.as_str(), &id, &now], || format!("{} {id}", T::WHAT)).await
}
