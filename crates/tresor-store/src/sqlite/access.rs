//! Principals, groups, tokens and grants on SQLite.

use super::{backend, change, insert_err, query_all, query_first, SqliteStore};
use crate::rows::{self, GRANT_COLS};
use crate::{GrantRecord, Membership, NewPrincipal, PrincipalRecord, Result, StoreError};
use rusqlite::{params, OptionalExtension, Transaction};
use tresor_model::{PrincipalKind, PrincipalRef, WorkspaceName};

impl SqliteStore {
    pub(super) fn list_principals_impl(&self, ws: &WorkspaceName) -> Result<Vec<PrincipalRecord>> {
        let sql = "SELECT kind, name, created_at, created_by FROM principals WHERE workspace = ?1 ORDER BY kind, name";
        self.read_with(|c| query_all(c, sql, [ws.as_str()], rows::principal))
    }

    pub(super) fn principal_exists_impl(&self, ws: &WorkspaceName, p: &PrincipalRef) -> Result<bool> {
        self.read(|c| {
            c.prepare_cached("SELECT 1 FROM principals WHERE workspace = ?1 AND kind = ?2 AND name = ?3")?
                .query_row(params![ws.as_str(), p.kind.as_str(), p.name], |_| Ok(()))
                .optional()
        })
        .map(|o| o.is_some())
    }

    pub(super) fn groups_of_impl(&self, ws: &WorkspaceName, p: &PrincipalRef) -> Result<Vec<String>> {
        let sql = "SELECT group_name FROM group_members WHERE workspace = ?1 AND member_kind = ?2 AND member_name = ?3
                   ORDER BY group_name";
        self.read_with(|c| query_all(c, sql, params![ws.as_str(), p.kind.as_str(), p.name], rows::single_text))
    }

    pub(super) fn members_of_impl(&self, ws: &WorkspaceName, group: &str) -> Result<Vec<PrincipalRef>> {
        let sql = "SELECT member_kind, member_name FROM group_members WHERE workspace = ?1 AND group_name = ?2
                   ORDER BY member_kind, member_name";
        self.read_with(|c| query_all(c, sql, params![ws.as_str(), group], rows::member))
    }

    pub(super) fn grants_for_impl(&self, ws: &WorkspaceName, ps: &[PrincipalRef]) -> Result<Vec<GrantRecord>> {
        let sql = format!(
            "SELECT {GRANT_COLS} FROM grants WHERE workspace = ?1 AND principal_kind = ?2 AND principal_name = ?3
             ORDER BY created_at, id"
        );
        self.read_with(|c| {
            let mut out = Vec::new();
            for p in ps {
                out.extend(query_all(c, &sql, params![ws.as_str(), p.kind.as_str(), p.name], rows::grant)?);
            }
            Ok(out)
        })
    }
}

/// [`crate::Store::delete_grant`] inside a caller's transaction.
pub(super) fn delete_grant_tx(tx: &Transaction<'_>, ws: &WorkspaceName, id: &str) -> Result<GrantRecord> {
    let sql = format!("SELECT {GRANT_COLS} FROM grants WHERE workspace = ?1 AND id = ?2");
    let grant = query_first(tx, &sql, params![ws.as_str(), id], rows::grant)?
        .ok_or_else(|| StoreError::NotFound(format!("grant {id}")))?;
    tx.execute("DELETE FROM grants WHERE workspace = ?1 AND id = ?2", params![ws.as_str(), id]).map_err(backend)?;
    Ok(grant)
}

/// [`crate::Store::create_principal`] inside a caller's transaction (also a step of a batch).
pub(super) fn create_principal_tx(tx: &Transaction<'_>, p: &NewPrincipal) -> Result<()> {
    let who = &p.principal;
    tx.execute(
        "INSERT INTO principals (workspace, kind, name, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![p.workspace.as_str(), who.kind.as_str(), who.name, p.now, p.by],
    )
    .map_err(insert_err(format!("principal {who}")))?;
    Ok(())
}

/// [`crate::Store::delete_principal`] inside a caller's transaction.
pub(super) fn delete_principal_tx(tx: &Transaction<'_>, ws: &WorkspaceName, p: &PrincipalRef) -> Result<()> {
    let (w, k, n) = (ws.as_str(), p.kind.as_str(), p.name.as_str());
    let sql = "DELETE FROM principals WHERE workspace = ?1 AND kind = ?2 AND name = ?3";
    change(tx, sql, params![w, k, n], || format!("principal {p}"))?;
    for sql in [
        "DELETE FROM group_members WHERE workspace = ?1 AND member_kind = ?2 AND member_name = ?3",
        "DELETE FROM grants WHERE workspace = ?1 AND principal_kind = ?2 AND principal_name = ?3",
        "DELETE FROM tokens WHERE workspace = ?1 AND principal_kind = ?2 AND principal_name = ?3",
        "DELETE FROM app_keys WHERE workspace = ?1 AND principal_kind = ?2 AND principal_name = ?3",
    ] {
        tx.execute(sql, params![w, k, n]).map_err(backend)?;
    }
    if p.kind == PrincipalKind::Group {
        tx.execute("DELETE FROM group_members WHERE workspace = ?1 AND group_name = ?2", params![w, n])
            .map_err(backend)?;
    }
    Ok(())
}

/// [`crate::Store::add_member`] inside a caller's transaction.
pub(super) fn add_member_tx(tx: &Transaction<'_>, m: &Membership) -> Result<()> {
    let (group, member) = (&m.group, &m.member);
    tx.execute(
        "INSERT INTO group_members (workspace, group_name, member_kind, member_name) VALUES (?1, ?2, ?3, ?4)",
        params![m.workspace.as_str(), group, member.kind.as_str(), member.name],
    )
    .map_err(insert_err(format!("{member} in group:{group}")))?;
    Ok(())
}

/// [`crate::Store::remove_member`] inside a caller's transaction.
pub(super) fn remove_member_tx(tx: &Transaction<'_>, m: &Membership) -> Result<()> {
    let (group, member) = (&m.group, &m.member);
    let sql = "DELETE FROM group_members WHERE workspace = ?1 AND group_name = ?2 AND member_kind = ?3
               AND member_name = ?4";
    let params = params![m.workspace.as_str(), group, member.kind.as_str(), member.name];
    change(tx, sql, params, || format!("{member} in group:{group}"))
}

/// Revokes the workspace's unrevoked tokens named `name` (those an application key minted).
pub(super) fn revoke_tokens_named_tx(tx: &Transaction<'_>, ws: &WorkspaceName, name: &str, now: i64) -> Result<()> {
    tx.execute(
        "UPDATE tokens SET revoked_at = ?3 WHERE workspace = ?1 AND name = ?2 AND revoked_at IS NULL",
        params![ws.as_str(), name, now],
    )
    .map_err(backend)?;
    Ok(())
}
