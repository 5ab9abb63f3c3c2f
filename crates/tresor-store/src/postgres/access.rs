//! Principals, groups, tokens and grants on PostgreSQL.

use super::pool::PgTx;
use super::{backend, change, insert_err, Params, PostgresStore};
use crate::rows::{self, GRANT_COLS};
use crate::{GrantRecord, Membership, NewPrincipal, PrincipalRecord, Result, StoreError};
use tresor_model::{PrincipalKind, PrincipalRef, WorkspaceName};

impl PostgresStore {
    pub(super) async fn list_principals_impl(&self, ws: &WorkspaceName) -> Result<Vec<PrincipalRecord>> {
        self.all(
            "SELECT kind, name, created_at, created_by FROM principals WHERE workspace = $1 ORDER BY kind, name",
            &[&ws.as_str()],
            rows::principal,
        )
        .await
    }

    pub(super) async fn principal_exists_impl(&self, ws: &WorkspaceName, p: &PrincipalRef) -> Result<bool> {
        let row = self
            .query_opt(
                "SELECT 1 FROM principals WHERE workspace = $1 AND kind = $2 AND name = $3",
                &[&ws.as_str(), &p.kind.as_str(), &p.name],
            )
            .await?;
        Ok(row.is_some())
    }

    pub(super) async fn groups_of_impl(&self, ws: &WorkspaceName, p: &PrincipalRef) -> Result<Vec<String>> {
        self.all(
            "SELECT group_name FROM group_members WHERE workspace = $1 AND member_kind = $2 AND member_name = $3
                 ORDER BY group_name",
            &[&ws.as_str(), &p.kind.as_str(), &p.name],
            rows::single_text,
        )
        .await
    }

    pub(super) async fn members_of_impl(&self, ws: &WorkspaceName, group: &str) -> Result<Vec<PrincipalRef>> {
        self.all(
            "SELECT member_kind, member_name FROM group_members WHERE workspace = $1 AND group_name = $2
                 ORDER BY member_kind, member_name",
            &[&ws.as_str(), &group],
            rows::member,
        )
        .await
    }

    pub(super) async fn grants_for_impl(&self, ws: &WorkspaceName, ps: &[PrincipalRef]) -> Result<Vec<GrantRecord>> {
        // Same order as the SQLite backend: by principal as given, then by creation time and id.
        let conn = self.conn().await?;
        let stmt = conn
            .prepare(&format!(
                "SELECT {GRANT_COLS} FROM grants WHERE workspace = $1 AND principal_kind = $2 AND principal_name = $3
                 ORDER BY created_at, id"
            ))
            .await
            .map_err(backend)?;
        let mut out = Vec::new();
        for p in ps {
            for r in conn.query(&stmt, &[&ws.as_str(), &p.kind.as_str(), &p.name]).await.map_err(backend)? {
                out.push(rows::grant(&r)?);
            }
        }
        Ok(out)
    }
}

/// [`crate::Store::delete_grant`] inside a caller's transaction.
pub(super) async fn delete_grant_tx(tx: &PgTx<'_>, ws: &WorkspaceName, id: &str) -> Result<GrantRecord> {
    let row = tx
        .query_opt(
            &format!("DELETE FROM grants WHERE workspace = $1 AND id = $2 RETURNING {GRANT_COLS}"),
            &[&ws.as_str(), &id],
        )
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::NotFound(format!("grant {id}")))?;
    rows::grant(&row)
}

/// [`crate::Store::create_principal`] inside a caller's transaction (also a step of a batch).
pub(super) async fn create_principal_tx(tx: &PgTx<'_>, p: &NewPrincipal) -> Result<()> {
    let (ws, who) = (&p.workspace, &p.principal);
    tx.execute(
        "INSERT INTO principals (workspace, kind, name, created_at, created_by) VALUES ($1, $2, $3, $4, $5)",
        &[&ws.as_str(), &who.kind.as_str(), &who.name, &p.now, &p.by],
    )
    .await
    .map_err(insert_err(format!("principal {who}"), &format!("workspace {ws}")))?;
    Ok(())
}

/// [`crate::Store::delete_principal`] inside a caller's transaction.
pub(super) async fn delete_principal_tx(tx: &PgTx<'_>, ws: &WorkspaceName, p: &PrincipalRef) -> Result<()> {
    let (w, k, n) = (ws.as_str(), p.kind.as_str(), p.name.as_str());
    let sql = "DELETE FROM principals WHERE workspace = $1 AND kind = $2 AND name = $3";
    change(tx, sql, &[&w, &k, &n], || format!("principal {p}")).await?;
    for sql in [
        "DELETE FROM group_members WHERE workspace = $1 AND member_kind = $2 AND member_name = $3",
        "DELETE FROM grants WHERE workspace = $1 AND principal_kind = $2 AND principal_name = $3",
        "DELETE FROM tokens WHERE workspace = $1 AND principal_kind = $2 AND principal_name = $3",
        "DELETE FROM app_keys WHERE workspace = $1 AND principal_kind = $2 AND principal_name = $3",
    ] {
        tx.execute(sql, &[&w, &k, &n]).await.map_err(backend)?;
    }
    if p.kind == PrincipalKind::Group {
        tx.execute("DELETE FROM group_members WHERE workspace = $1 AND group_name = $2", &[&w, &n])
            .await
            .map_err(backend)?;
    }
    Ok(())
}

/// [`crate::Store::add_member`] inside a caller's transaction.
pub(super) async fn add_member_tx(tx: &PgTx<'_>, m: &Membership) -> Result<()> {
    let (ws, group, member) = (&m.workspace, &m.group, &m.member);
    tx.execute(
        "INSERT INTO group_members (workspace, group_name, member_kind, member_name) VALUES ($1, $2, $3, $4)",
        &[&ws.as_str(), group, &member.kind.as_str(), &member.name],
    )
    .await
    .map_err(insert_err(format!("{member} in group:{group}"), &format!("workspace {ws}")))?;
    Ok(())
}

/// [`crate::Store::remove_member`] inside a caller's transaction.
pub(super) async fn remove_member_tx(tx: &PgTx<'_>, m: &Membership) -> Result<()> {
    let (ws, group, member) = (m.workspace.as_str(), &m.group, &m.member);
    let sql = "DELETE FROM group_members WHERE workspace = $1 AND group_name = $2 AND member_kind = $3
               AND member_name = $4";
    let params: &Params<'_> = &[&ws, group, &member.kind.as_str(), &member.name];
    change(tx, sql, params, || format!("{member} in group:{group}")).await
}

/// Revokes the workspace's unrevoked tokens named `name` (those an application key minted).
pub(super) async fn revoke_tokens_named_tx(tx: &PgTx<'_>, ws: &WorkspaceName, name: &str, now: i64) -> Result<()> {
    tx.execute(
        "UPDATE tokens SET revoked_at = $3 WHERE workspace = $1 AND name = $2 AND revoked_at IS NULL",
        &[&ws.as_str(), &name, &now],
    )
    .await
    .map_err(backend)?;
    Ok(())
}
