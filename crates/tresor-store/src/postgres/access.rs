//! Principals, groups, tokens, grants, the audit log, entry tags and application keys on PostgreSQL.

use super::{backend, col, insert_err, PostgresStore};
use crate::{
    link_audit, may_seal, parse_audit_head, AppKeyRecord, AuditChain, AuditRecord, GrantRecord, PrincipalRecord,
    Result, StoreError, TokenRecord, AUDIT_HEAD_MAC_META, AUDIT_HEAD_META,
};
use tokio_postgres::types::Type;
use tokio_postgres::{Row, Transaction};
use tresor_model::{Access, EntryPath, EnvName, PrincipalKind, PrincipalRef, Tag, WorkspaceName};

fn kind_of(s: &str) -> Result<PrincipalKind> {
    match s {
        "user" => Ok(PrincipalKind::User),
        "app" => Ok(PrincipalKind::App),
        "group" => Ok(PrincipalKind::Group),
        _ => Err(StoreError::Corrupt(format!("unknown principal kind {s:?}"))),
    }
}

fn principal_at(row: &Row, kind: usize, name: usize) -> Result<PrincipalRef> {
    Ok(PrincipalRef { kind: kind_of(col(row, kind)?)?, name: col(row, name)? })
}

fn workspace_at(row: &Row, i: usize) -> Result<WorkspaceName> {
    WorkspaceName::new(col::<String>(row, i)?).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A nullable environment column (a token's or an application key's binding).
fn env_at(row: &Row, i: usize) -> Result<Option<EnvName>> {
    col::<Option<String>>(row, i)?.map(|e| EnvName::new(e).map_err(|e| StoreError::Corrupt(e.to_string()))).transpose()
}

const TOKEN_COLS: &str = "id, workspace, principal_kind, principal_name, name, hash, created_at, created_by, \
     expires_at, revoked_at, environment";

fn token_from_row(r: &Row) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: col(r, 0)?,
        workspace: workspace_at(r, 1)?,
        principal: principal_at(r, 2, 3)?,
        name: col(r, 4)?,
        hash: col(r, 5)?,
        created_at: col(r, 6)?,
        created_by: col(r, 7)?,
        expires_at: col(r, 8)?,
        revoked_at: col(r, 9)?,
        environment: env_at(r, 10)?,
    })
}

const GRANT_COLS: &str = "id, workspace, principal_kind, principal_name, scope, access, created_at, created_by";

fn grant_from_row(r: &Row) -> Result<GrantRecord> {
    Ok(GrantRecord {
        id: col(r, 0)?,
        workspace: workspace_at(r, 1)?,
        principal: principal_at(r, 2, 3)?,
        scope: col(r, 4)?,
        access: col::<&str>(r, 5)?.parse::<Access>().map_err(StoreError::Corrupt)?,
        created_at: col(r, 6)?,
        created_by: col(r, 7)?,
    })
}

const AUDIT_COLS: &str = "seq, at, workspace, request_id, principal, action, target, outcome, detail, prev_hash, hash";

fn audit_from_row(r: &Row) -> Result<AuditRecord> {
    Ok(AuditRecord {
        seq: col::<i64>(r, 0)? as u64,
        at: col(r, 1)?,
        workspace: col(r, 2)?,
        request_id: col(r, 3)?,
        principal: col(r, 4)?,
        action: col(r, 5)?,
        target: col(r, 6)?,
        outcome: col(r, 7)?,
        detail: col(r, 8)?,
        prev_hash: col(r, 9)?,
        hash: col(r, 10)?,
    })
}

const APP_KEY_COLS: &str =
    "id, workspace, principal_kind, principal_name, hash, created_at, created_by, revoked_at, environment";

fn app_key_from_row(r: &Row) -> Result<AppKeyRecord> {
    Ok(AppKeyRecord {
        id: col(r, 0)?,
        workspace: workspace_at(r, 1)?,
        principal: principal_at(r, 2, 3)?,
        hash: col(r, 4)?,
        created_at: col(r, 5)?,
        created_by: col(r, 6)?,
        revoked_at: col(r, 7)?,
        environment: env_at(r, 8)?,
    })
}

use crate::rules::apply_tags;

impl PostgresStore {
    pub(super) async fn create_principal_impl(
        &self,
        ws: &WorkspaceName,
        p: &PrincipalRef,
        by: &str,
        now: i64,
    ) -> Result<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(backend)?;
        create_principal_tx(&tx, ws, p, by, now).await?;
        tx.commit().await.map_err(backend)
    }

    pub(super) async fn list_principals_impl(&self, ws: &WorkspaceName) -> Result<Vec<PrincipalRecord>> {
        let rows = self
            .query(
                "SELECT kind, name, created_at, created_by FROM principals WHERE workspace = $1 ORDER BY kind, name",
                &[&ws.as_str()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PrincipalRecord {
                    principal: principal_at(r, 0, 1)?,
                    created_at: col(r, 2)?,
                    created_by: col(r, 3)?,
                })
            })
            .collect()
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

    pub(super) async fn delete_principal_impl(&self, ws: &WorkspaceName, p: &PrincipalRef) -> Result<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(backend)?;
        delete_principal_tx(&tx, ws, p).await?;
        tx.commit().await.map_err(backend)
    }

    pub(super) async fn add_member_impl(&self, ws: &WorkspaceName, group: &str, m: &PrincipalRef) -> Result<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(backend)?;
        add_member_tx(&tx, ws, group, m).await?;
        tx.commit().await.map_err(backend)
    }

    pub(super) async fn remove_member_impl(&self, ws: &WorkspaceName, group: &str, m: &PrincipalRef) -> Result<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(backend)?;
        remove_member_tx(&tx, ws, group, m).await?;
        tx.commit().await.map_err(backend)
    }

    pub(super) async fn groups_of_impl(&self, ws: &WorkspaceName, p: &PrincipalRef) -> Result<Vec<String>> {
        let rows = self
            .query(
                "SELECT group_name FROM group_members WHERE workspace = $1 AND member_kind = $2 AND member_name = $3
                 ORDER BY group_name",
                &[&ws.as_str(), &p.kind.as_str(), &p.name],
            )
            .await?;
        rows.iter().map(|r| col(r, 0)).collect()
    }

    pub(super) async fn members_of_impl(&self, ws: &WorkspaceName, group: &str) -> Result<Vec<PrincipalRef>> {
        let rows = self
            .query(
                "SELECT member_kind, member_name FROM group_members WHERE workspace = $1 AND group_name = $2
                 ORDER BY member_kind, member_name",
                &[&ws.as_str(), &group],
            )
            .await?;
        rows.iter().map(|r| principal_at(r, 0, 1)).collect()
    }

    pub(super) async fn insert_token_impl(&self, t: &TokenRecord) -> Result<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(backend)?;
        insert_token_tx(&tx, t).await?;
        tx.commit().await.map_err(backend)
    }

    pub(super) async fn get_token_impl(&self, id: &str) -> Result<Option<TokenRecord>> {
        let row = self.query_opt(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE id = $1"), &[&id]).await?;
        row.as_ref().map(token_from_row).transpose()
    }

    pub(super) async fn list_tokens_impl(&self, ws: &WorkspaceName) -> Result<Vec<TokenRecord>> {
        let rows = self
            .query(
                &format!("SELECT {TOKEN_COLS} FROM tokens WHERE workspace = $1 ORDER BY created_at, id"),
                &[&ws.as_str()],
            )
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    pub(super) async fn revoke_token_impl(&self, ws: &WorkspaceName, id: &str, now: i64) -> Result<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(backend)?;
        revoke_token_tx(&tx, ws, id, now).await?;
        tx.commit().await.map_err(backend)
    }

    pub(super) async fn insert_grant_impl(&self, g: &GrantRecord) -> Result<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(backend)?;
        insert_grant_tx(&tx, g).await?;
        tx.commit().await.map_err(backend)
    }

    pub(super) async fn list_grants_impl(&self, ws: &WorkspaceName) -> Result<Vec<GrantRecord>> {
        let rows = self
            .query(
                &format!("SELECT {GRANT_COLS} FROM grants WHERE workspace = $1 ORDER BY created_at, id"),
                &[&ws.as_str()],
            )
            .await?;
        rows.iter().map(grant_from_row).collect()
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
                out.push(grant_from_row(&r)?);
            }
        }
        Ok(out)
    }

    pub(super) async fn delete_grant_impl(&self, ws: &WorkspaceName, id: &str) -> Result<GrantRecord> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(backend)?;
        let grant = delete_grant_tx(&tx, ws, id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(grant)
    }

    pub(super) async fn append_audit_impl(
        &self,
        records: Vec<AuditRecord>,
        chain: &dyn AuditChain,
    ) -> Result<Vec<u64>> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(backend)?;
        let seqs = append_audit_tx(&tx, records, chain).await?;
        tx.commit().await.map_err(backend)?;
        Ok(seqs)
    }

    pub(super) async fn list_audit_impl(&self, after: u64, since: Option<i64>, limit: u32) -> Result<Vec<AuditRecord>> {
        let rows = self
            .query(
                &format!(
                    "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 AND ($2::BIGINT IS NULL OR at >= $2)
                     ORDER BY seq LIMIT $3"
                ),
                &[&(after as i64), &since, &i64::from(limit)],
            )
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    pub(super) async fn update_tags_impl(&self, p: &EntryPath, upsert: &[Tag], remove: &[Tag]) -> Result<Vec<Tag>> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(backend)?;
        let tags = update_tags_tx(&tx, p, upsert, remove).await?;
        tx.commit().await.map_err(backend)?;
        Ok(tags)
    }

    pub(super) async fn insert_app_key_impl(&self, k: &AppKeyRecord) -> Result<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(backend)?;
        insert_app_key_tx(&tx, k).await?;
        tx.commit().await.map_err(backend)
    }

    pub(super) async fn get_app_key_impl(&self, id: &str) -> Result<Option<AppKeyRecord>> {
        let row = self.query_opt(&format!("SELECT {APP_KEY_COLS} FROM app_keys WHERE id = $1"), &[&id]).await?;
        row.as_ref().map(app_key_from_row).transpose()
    }

    pub(super) async fn list_app_keys_impl(&self, ws: &WorkspaceName) -> Result<Vec<AppKeyRecord>> {
        let rows = self
            .query(
                &format!("SELECT {APP_KEY_COLS} FROM app_keys WHERE workspace = $1 ORDER BY created_at, id"),
                &[&ws.as_str()],
            )
            .await?;
        rows.iter().map(app_key_from_row).collect()
    }

    pub(super) async fn revoke_app_key_impl(&self, ws: &WorkspaceName, id: &str, now: i64) -> Result<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(backend)?;
        revoke_app_key_tx(&tx, ws, id, now).await?;
        tx.commit().await.map_err(backend)
    }
}

/// A batch of audit records as one array per column, for `INSERT ... SELECT * FROM UNNEST(...)`.
#[derive(Default)]
struct AuditColumns {
    seq: Vec<i64>,
    at: Vec<i64>,
    workspace: Vec<String>,
    request_id: Vec<String>,
    principal: Vec<String>,
    action: Vec<String>,
    target: Vec<String>,
    outcome: Vec<String>,
    detail: Vec<Option<String>>,
    prev_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
}

impl AuditColumns {
    fn with_capacity(n: usize) -> Self {
        Self {
            seq: Vec::with_capacity(n),
            at: Vec::with_capacity(n),
            workspace: Vec::with_capacity(n),
            request_id: Vec::with_capacity(n),
            principal: Vec::with_capacity(n),
            action: Vec::with_capacity(n),
            target: Vec::with_capacity(n),
            outcome: Vec::with_capacity(n),
            detail: Vec::with_capacity(n),
            prev_hash: Vec::with_capacity(n),
            hash: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, r: AuditRecord) {
        self.seq.push(r.seq as i64);
        self.at.push(r.at);
        self.workspace.push(r.workspace);
        self.request_id.push(r.request_id);
        self.principal.push(r.principal);
        self.action.push(r.action);
        self.target.push(r.target);
        self.outcome.push(r.outcome);
        self.detail.push(r.detail);
        self.prev_hash.push(r.prev_hash);
        self.hash.push(r.hash);
    }
}

/// [`crate::Store::insert_grant`] inside a caller's transaction (also a step of a batch).
pub(super) async fn insert_grant_tx(tx: &Transaction<'_>, g: &GrantRecord) -> Result<()> {
    tx.execute(
        &format!("INSERT INTO grants ({GRANT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
        &[
            &g.id,
            &g.workspace.as_str(),
            &g.principal.kind.as_str(),
            &g.principal.name,
            &g.scope,
            &g.access.as_str(),
            &g.created_at,
            &g.created_by,
        ],
    )
    .await
    .map_err(insert_err(format!("grant {}", g.id), &format!("workspace {}", g.workspace)))?;
    Ok(())
}

/// [`crate::Store::delete_grant`] inside a caller's transaction.
pub(super) async fn delete_grant_tx(tx: &Transaction<'_>, ws: &WorkspaceName, id: &str) -> Result<GrantRecord> {
    let row = tx
        .query_opt(
            &format!("DELETE FROM grants WHERE workspace = $1 AND id = $2 RETURNING {GRANT_COLS}"),
            &[&ws.as_str(), &id],
        )
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::NotFound(format!("grant {id}")))?;
    grant_from_row(&row)
}

/// [`crate::Store::create_principal`] inside a caller's transaction (also a step of a batch).
pub(super) async fn create_principal_tx(
    tx: &Transaction<'_>,
    ws: &WorkspaceName,
    p: &PrincipalRef,
    by: &str,
    now: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO principals (workspace, kind, name, created_at, created_by) VALUES ($1, $2, $3, $4, $5)",
        &[&ws.as_str(), &p.kind.as_str(), &p.name, &now, &by],
    )
    .await
    .map_err(insert_err(format!("principal {p}"), &format!("workspace {ws}")))?;
    Ok(())
}

/// [`crate::Store::delete_principal`] inside a caller's transaction.
pub(super) async fn delete_principal_tx(tx: &Transaction<'_>, ws: &WorkspaceName, p: &PrincipalRef) -> Result<()> {
    let (w, k, n) = (ws.as_str(), p.kind.as_str(), p.name.as_str());
    let gone = tx
        .execute("DELETE FROM principals WHERE workspace = $1 AND kind = $2 AND name = $3", &[&w, &k, &n])
        .await
        .map_err(backend)?;
    if gone == 0 {
        return Err(StoreError::NotFound(format!("principal {p}")));
    }
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
pub(super) async fn add_member_tx(
    tx: &Transaction<'_>,
    ws: &WorkspaceName,
    group: &str,
    m: &PrincipalRef,
) -> Result<()> {
    tx.execute(
        "INSERT INTO group_members (workspace, group_name, member_kind, member_name) VALUES ($1, $2, $3, $4)",
        &[&ws.as_str(), &group, &m.kind.as_str(), &m.name],
    )
    .await
    .map_err(insert_err(format!("{m} in group:{group}"), &format!("workspace {ws}")))?;
    Ok(())
}

/// [`crate::Store::remove_member`] inside a caller's transaction.
pub(super) async fn remove_member_tx(
    tx: &Transaction<'_>,
    ws: &WorkspaceName,
    group: &str,
    m: &PrincipalRef,
) -> Result<()> {
    let n = tx
        .execute(
            "DELETE FROM group_members WHERE workspace = $1 AND group_name = $2 AND member_kind = $3
             AND member_name = $4",
            &[&ws.as_str(), &group, &m.kind.as_str(), &m.name],
        )
        .await
        .map_err(backend)?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("{m} in group:{group}")));
    }
    Ok(())
}

/// [`crate::Store::insert_token`] inside a caller's transaction.
pub(super) async fn insert_token_tx(tx: &Transaction<'_>, t: &TokenRecord) -> Result<()> {
    tx.execute(
        &format!("INSERT INTO tokens ({TOKEN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
        &[
            &t.id,
            &t.workspace.as_str(),
            &t.principal.kind.as_str(),
            &t.principal.name,
            &t.name,
            &t.hash,
            &t.created_at,
            &t.created_by,
            &t.expires_at,
            &t.revoked_at,
            &t.environment.as_ref().map(|e| e.as_str()),
        ],
    )
    .await
    .map_err(insert_err(format!("token {}", t.id), &format!("workspace {}", t.workspace)))?;
    Ok(())
}

/// [`crate::Store::revoke_token`] inside a caller's transaction.
pub(super) async fn revoke_token_tx(tx: &Transaction<'_>, ws: &WorkspaceName, id: &str, now: i64) -> Result<()> {
    let n = tx
        .execute(
            "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $3) WHERE workspace = $1 AND id = $2",
            &[&ws.as_str(), &id, &now],
        )
        .await
        .map_err(backend)?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("token {id}")));
    }
    Ok(())
}

/// Revokes the workspace's unrevoked tokens named `name` (those an application key minted).
pub(super) async fn revoke_tokens_named_tx(
    tx: &Transaction<'_>,
    ws: &WorkspaceName,
    name: &str,
    now: i64,
) -> Result<()> {
    tx.execute(
        "UPDATE tokens SET revoked_at = $3 WHERE workspace = $1 AND name = $2 AND revoked_at IS NULL",
        &[&ws.as_str(), &name, &now],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

/// [`crate::Store::update_tags`] inside a caller's transaction.
pub(super) async fn update_tags_tx(
    tx: &Transaction<'_>,
    p: &EntryPath,
    upsert: &[Tag],
    remove: &[Tag],
) -> Result<Vec<Tag>> {
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    let current = tx
        .query_opt(
            "SELECT tags FROM entries WHERE workspace = $1 AND environment = $2 AND vault = $3 AND key = $4
                 AND deleted_at IS NULL FOR UPDATE",
            &[&ws, &env, &vault, &key],
        )
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::NotFound(format!("entry {p}")))?;
    let tags: Vec<Tag> =
        serde_json::from_str(col(&current, 0)?).map_err(|e| StoreError::Corrupt(format!("tags of entry {p}: {e}")))?;
    let tags = apply_tags(tags, upsert, remove);
    let text = serde_json::to_string(&tags).map_err(|e| StoreError::Backend(e.to_string()))?;
    tx.execute(
        "UPDATE entries SET tags = $5 WHERE workspace = $1 AND environment = $2 AND vault = $3 AND key = $4",
        &[&ws, &env, &vault, &key, &text],
    )
    .await
    .map_err(backend)?;
    Ok(tags)
}

/// [`crate::Store::insert_app_key`] inside a caller's transaction.
pub(super) async fn insert_app_key_tx(tx: &Transaction<'_>, k: &AppKeyRecord) -> Result<()> {
    tx.execute(
        &format!("INSERT INTO app_keys ({APP_KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
        &[
            &k.id,
            &k.workspace.as_str(),
            &k.principal.kind.as_str(),
            &k.principal.name,
            &k.hash,
            &k.created_at,
            &k.created_by,
            &k.revoked_at,
            &k.environment.as_ref().map(|e| e.as_str()),
        ],
    )
    .await
    .map_err(insert_err(format!("application key {}", k.id), &format!("workspace {}", k.workspace)))?;
    Ok(())
}

/// [`crate::Store::revoke_app_key`] inside a caller's transaction.
pub(super) async fn revoke_app_key_tx(tx: &Transaction<'_>, ws: &WorkspaceName, id: &str, now: i64) -> Result<()> {
    let n = tx
        .execute(
            "UPDATE app_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE workspace = $1 AND id = $2",
            &[&ws.as_str(), &id, &now],
        )
        .await
        .map_err(backend)?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("application key {id}")));
    }
    Ok(())
}

/// [`crate::Store::append_audit`] inside a caller's transaction: the one chain append of this
/// backend, used by the audit writer's appends and by batches alike.
///
/// The `audit_head` meta row (sequence number, 8 bytes big-endian, then hash) is the chain's lock
/// and its head at once: appenders on other connections (the audit writer, a batch, another
/// server) wait on this row lock until this transaction commits, then read the head it left, so
/// the chain stays one line. The first append creates the row (an empty placeholder until this
/// transaction overwrites it). The statements are typed, so each is one round trip (no separate
/// prepare) while the lock is held.
pub(super) async fn append_audit_tx(
    tx: &Transaction<'_>,
    mut records: Vec<AuditRecord>,
    chain: &dyn AuditChain,
) -> Result<Vec<u64>> {
    let lock = "SELECT value FROM meta WHERE key = $1 FOR UPDATE";
    let mut locked = tx.query_typed_opt(lock, &[(&AUDIT_HEAD_META, Type::TEXT)]).await.map_err(backend)?;
    if locked.is_none() {
        tx.execute_typed(
            "INSERT INTO meta (key, value) VALUES ($1, '') ON CONFLICT (key) DO NOTHING",
            &[(&AUDIT_HEAD_META, Type::TEXT)],
        )
        .await
        .map_err(backend)?;
        locked = tx.query_typed_opt(lock, &[(&AUDIT_HEAD_META, Type::TEXT)]).await.map_err(backend)?;
    }
    let stored: Vec<u8> = match &locked {
        Some(row) => col(row, 0)?,
        None => return Err(StoreError::Corrupt("the audit_head row vanished under its lock".into())),
    };
    // Read after the head's lock is held (a statement of its own, so it sees what the last
    // holder committed): only holders of that lock write the MAC.
    let mac = tx
        .query_typed_opt("SELECT value FROM meta WHERE key = $1", &[(&AUDIT_HEAD_MAC_META, Type::TEXT)])
        .await
        .map_err(backend)?
        .map(|row| col::<Vec<u8>>(&row, 0))
        .transpose()?;
    let sealable = may_seal(parse_audit_head(&stored), mac.as_deref(), chain);
    // Continue from the recorded head, not from the log's last row: if records were removed
    // from the end, new ones must not paper over the gap (verify reports it).
    let (seq, prev) = match parse_audit_head(&stored) {
        Some((seq, hash)) => (seq, hash.to_vec()),
        None => {
            // No head recorded yet: start from the log itself (empty for a new store).
            let head = tx
                .query_typed_opt("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", &[])
                .await
                .map_err(backend)?;
            match head {
                Some(r) => (col::<i64>(&r, 0)? as u64, col::<Vec<u8>>(&r, 1)?),
                None => (0, Vec::new()),
            }
        }
    };
    let (head, head_mac) = link_audit(&mut records, seq, prev, chain);
    let seqs = records.iter().map(|r| r.seq).collect();
    let mut cols = AuditColumns::with_capacity(records.len());
    for rec in records {
        cols.push(rec);
    }
    // One multi-row INSERT for the whole batch.
    tx.execute_typed(
        &format!(
            "INSERT INTO audit_log ({AUDIT_COLS}) SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], \
             $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::BYTEA[], $11::BYTEA[])"
        ),
        &[
            (&cols.seq, Type::INT8_ARRAY),
            (&cols.at, Type::INT8_ARRAY),
            (&cols.workspace, Type::TEXT_ARRAY),
            (&cols.request_id, Type::TEXT_ARRAY),
            (&cols.principal, Type::TEXT_ARRAY),
            (&cols.action, Type::TEXT_ARRAY),
            (&cols.target, Type::TEXT_ARRAY),
            (&cols.outcome, Type::TEXT_ARRAY),
            (&cols.detail, Type::TEXT_ARRAY),
            (&cols.prev_hash, Type::BYTEA_ARRAY),
            (&cols.hash, Type::BYTEA_ARRAY),
        ],
    )
    .await
    .map_err(backend)?;
    // The head and its MAC in one statement (the head row is already locked); a broken seal is
    // left broken (see `may_seal`), the head moves on.
    if sealable {
        tx.execute_typed(
            "INSERT INTO meta (key, value) VALUES ($1, $2), ($3, $4) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[
                (&AUDIT_HEAD_META, Type::TEXT),
                (&head, Type::BYTEA),
                (&AUDIT_HEAD_MAC_META, Type::TEXT),
                (&head_mac, Type::BYTEA),
            ],
        )
        .await
        .map_err(backend)?;
    } else {
        tx.execute_typed(
            "UPDATE meta SET value = $2 WHERE key = $1",
            &[(&AUDIT_HEAD_META, Type::TEXT), (&head, Type::BYTEA)],
        )
        .await
        .map_err(backend)?;
    }
    Ok(seqs)
}
