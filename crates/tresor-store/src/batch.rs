//! [`crate::Store::apply_batch`], written once: what each [`BatchOp`] means, the order of its
//! steps, and the audit append that closes the batch. A backend provides the primitive steps
//! ([`BatchSteps`], implemented on its open write transaction: SQL only) and runs [`apply`] inside
//! that transaction, so a failing step or append leaves nothing behind.

use crate::{
    AppKeyRecord, AuditRecord, BatchOp, ChainWriter, GrantRecord, Group, Membership, NewEnvironment, NewPrincipal,
    NewVersion, Result, RootRewrap, StoreError, TokenRecord, VersionState, VersionStates,
};
use tresor_model::{EntryPath, PrincipalRef, Tag, VaultPath, WorkspaceName};

/// The steps of a batch as one backend runs them inside its open write transaction. Each behaves
/// as the `Store` method of the same name (same SQL, same locks, same errors).
pub(crate) trait BatchSteps {
    async fn create_environment(&self, env: &NewEnvironment) -> Result<()>;
    async fn create_vault(&self, vault: &VaultPath, now: i64) -> Result<()>;
    async fn delete_vault(&self, vault: &VaultPath) -> Result<()>;
    /// [`BatchOp::SetVaultOwner`].
    async fn set_vault_owner(&self, vault: &VaultPath, managed_by: Option<&str>, at: i64) -> Result<()>;
    async fn write_version(&self, n: &NewVersion) -> Result<()>;
    async fn soft_delete(&self, path: &EntryPath, now: i64) -> Result<()>;
    async fn undelete(&self, path: &EntryPath, now: i64) -> Result<()>;
    async fn purge(&self, path: &EntryPath) -> Result<()>;
    /// Sets the entry's `updated_at`; [`StoreError::NotFound`] when there is no such entry.
    async fn touch_entry(&self, path: &EntryPath, now: i64) -> Result<()>;
    /// [`crate::Store::version_states`] inside the transaction: every stored version's state.
    async fn version_states(&self, path: &EntryPath) -> Result<Vec<(u64, VersionState)>>;
    /// Writes a version's state; a destroyed one loses its sealed value (and value hash).
    async fn put_version_state(&self, path: &EntryPath, version: u64, state: &VersionState) -> Result<()>;
    async fn update_tags(&self, path: &EntryPath, upsert: &[Tag], remove: &[Tag]) -> Result<Vec<Tag>>;
    async fn create_principal(&self, p: &NewPrincipal) -> Result<()>;
    async fn delete_principal(&self, ws: &WorkspaceName, p: &PrincipalRef) -> Result<()>;
    async fn add_member(&self, m: &Membership) -> Result<()>;
    async fn remove_member(&self, m: &Membership) -> Result<()>;
    async fn insert_token(&self, token: &TokenRecord) -> Result<()>;
    async fn revoke_token(&self, ws: &WorkspaceName, id: &str, now: i64) -> Result<()>;
    /// Revokes the workspace's unrevoked tokens named `name`.
    async fn revoke_tokens_named(&self, ws: &WorkspaceName, name: &str, now: i64) -> Result<()>;
    async fn insert_grant(&self, grant: &GrantRecord) -> Result<()>;
    async fn delete_grant(&self, ws: &WorkspaceName, id: &str) -> Result<GrantRecord>;
    async fn insert_app_key(&self, key: &AppKeyRecord) -> Result<()>;
    async fn revoke_app_key(&self, ws: &WorkspaceName, id: &str, now: i64) -> Result<()>;
    /// Replaces a data key's wrapped bytes if they are still `old`; 0 or 1 rows changed.
    async fn replace_data_key(&self, ws: &WorkspaceName, generation: u32, old: &[u8], new: &[u8]) -> Result<u64>;
    /// Replaces a meta row's value if it is still `old` (`None`: inserts it if absent); 0 or 1 rows changed.
    async fn replace_meta(&self, key: &str, old: Option<&[u8]>, new: &[u8]) -> Result<u64>;
    /// Inserts a data key of a new generation and makes it current if the current one is the
    /// generation before it; 0 or 1 rows changed.
    async fn add_data_key(&self, ws: &WorkspaceName, key: &crate::WrappedKey, now: i64) -> Result<u64>;
    /// Replaces a version's sealed value if it is still `old`; 0 or 1 rows changed.
    async fn reseal(&self, path: &EntryPath, version: u64, old: &[u8], new: &[u8]) -> Result<u64>;
    /// How many data keys the store holds, all workspaces together.
    async fn count_data_keys(&self) -> Result<u64>;
    /// The backend's one chain append ([`crate::Store::append_audit`] inside the transaction):
    /// links `records` after `at` (see [`crate::link_audit`]), which it moves on, inserts them and
    /// records the chain's new head, refusing when the recorded head is not `at`.
    async fn append_audit(&self, records: Vec<AuditRecord>, chain: &ChainWriter, at: &mut (u64, Vec<u8>))
        -> Result<()>;
    /// Runs SQL that both backends spell alike and that returns no rows (the savepoints).
    async fn execute(&self, sql: &'static str) -> Result<()>;
}

/// Runs a group of changes on `tx` ([`crate::Store::apply_group`]): each change in a savepoint,
/// released when it succeeds and rolled back to when it fails (the others go on), then the read
/// records. The caller commits when this returns `Ok` and drops the transaction otherwise; once
/// the commit succeeded it moves `chain` to the returned position ([`ChainWriter::advance`]).
/// SQLite and PostgreSQL both keep a savepoint on their stack after `ROLLBACK TO`, so it is
/// released too: the next change reuses the name at the same depth; the chain's position is
/// rolled back with it.
pub(crate) async fn apply_group<S: BatchSteps>(
    tx: &S,
    group: Group,
    chain: &ChainWriter,
) -> Result<(Vec<Result<()>>, (u64, Vec<u8>))> {
    let Group { changes, reads, .. } = group;
    let mut at = chain.position();
    let mut outcomes = Vec::with_capacity(changes.len());
    for change in changes {
        tx.execute("SAVEPOINT change").await?;
        let before = at.clone();
        let outcome = apply(tx, &change.ops, change.audit, chain, &mut at).await;
        tx.execute(match outcome {
            Ok(()) => "RELEASE SAVEPOINT change",
            Err(_) => "ROLLBACK TO SAVEPOINT change; RELEASE SAVEPOINT change",
        })
        .await?;
        if outcome.is_err() {
            at = before;
        }
        outcomes.push(outcome);
    }
    if !reads.is_empty() {
        tx.append_audit(reads, chain, &mut at).await.map_err(audit_append_failed)?;
    }
    Ok((outcomes, at))
}

/// Runs the steps in order, then appends the batch's audit records, on `tx`. The caller commits
/// when this succeeds and drops the transaction uncommitted (rolling everything back) when it
/// fails. The records are appended last, after the steps they record.
pub(crate) async fn apply<S: BatchSteps>(
    tx: &S,
    ops: &[BatchOp],
    audit: Vec<AuditRecord>,
    chain: &ChainWriter,
    at: &mut (u64, Vec<u8>),
) -> Result<()> {
    for op in ops {
        step(tx, op).await?;
    }
    if !audit.is_empty() {
        tx.append_audit(audit, chain, at).await.map_err(audit_append_failed)?;
    }
    Ok(())
}

async fn step<S: BatchSteps>(tx: &S, op: &BatchOp) -> Result<()> {
    match op {
        BatchOp::CreateEnvironment(env) => tx.create_environment(env).await,
        BatchOp::CreateVault { vault, now } => tx.create_vault(vault, *now).await,
        BatchOp::DeleteVault { vault } => tx.delete_vault(vault).await,
        BatchOp::SetVaultOwner { vault, managed_by, at } => tx.set_vault_owner(vault, managed_by.as_deref(), *at).await,
        BatchOp::WriteVersion(n) => tx.write_version(n).await,
        BatchOp::SoftDelete { path, now } => tx.soft_delete(path, *now).await,
        BatchOp::Undelete { path, now } => tx.undelete(path, *now).await,
        BatchOp::Purge { path } => tx.purge(path).await,
        BatchOp::SetVersionState(states) => set_version_state(tx, states).await,
        BatchOp::UpdateTags { path, upsert, remove } => tx.update_tags(path, upsert, remove).await.map(|_| ()),
        BatchOp::CreatePrincipal(p) => tx.create_principal(p).await,
        BatchOp::DeletePrincipal { workspace, principal } => tx.delete_principal(workspace, principal).await,
        BatchOp::AddMember(m) => tx.add_member(m).await,
        BatchOp::RemoveMember(m) => tx.remove_member(m).await,
        BatchOp::InsertToken(t) => tx.insert_token(t).await,
        BatchOp::RevokeToken { workspace, id, now } => tx.revoke_token(workspace, id, *now).await,
        BatchOp::InsertGrant(g) => tx.insert_grant(g).await,
        BatchOp::DeleteGrant { workspace, id } => tx.delete_grant(workspace, id).await.map(|_| ()),
        BatchOp::InsertAppKey(k) => tx.insert_app_key(k).await,
        // No token of a revoked key outlives its revocation: the tokens it was exchanged for go
        // in the same step.
        BatchOp::RevokeAppKey { workspace, id, now, minted_tokens_named } => {
            tx.revoke_app_key(workspace, id, *now).await?;
            tx.revoke_tokens_named(workspace, minted_tokens_named, *now).await
        }
        BatchOp::RewrapRoot(rewrap) => rewrap_root(tx, rewrap).await,
        BatchOp::AddDataKey { workspace, key, now } => {
            let changed = tx.add_data_key(workspace, key, *now).await?;
            crate::rules::rewrapped(changed, || format!("the current data-key generation of workspace {workspace}"))
        }
        // A version pruned or destroyed since it was read needs no re-encryption.
        BatchOp::Reseal { path, version, old, new } => tx.reseal(path, *version, old, new).await.map(|_| ()),
    }
}

/// What [`BatchOp::RewrapRoot`] means on either backend: each key replaced only if it still holds
/// what the rotation read, and no data key left out, so no key stays wrapped by the old root.
async fn rewrap_root<S: BatchSteps>(tx: &S, rewrap: &RootRewrap) -> Result<()> {
    for k in &rewrap.data_keys {
        let changed = tx.replace_data_key(&k.workspace, k.generation, &k.old, &k.new).await?;
        crate::rules::rewrapped(changed, || {
            format!("data key generation {} of workspace {}", k.generation, k.workspace)
        })?;
    }
    for m in &rewrap.meta {
        let changed = tx.replace_meta(&m.key, m.old.as_deref(), &m.new).await?;
        crate::rules::rewrapped(changed, || format!("meta row {}", m.key))?;
    }
    let stored = tx.count_data_keys().await?;
    crate::rules::rewrapped(u64::from(stored == rewrap.data_keys.len() as u64), || "the set of data keys".to_owned())
}

/// What [`BatchOp::SetVersionState`] means on either backend: the entry must exist (its row is
/// touched, so the change is numbered like any change of an entry and, on PostgreSQL, the row is
/// locked against the entry's other writers); each stored version among `versions` takes the
/// state `rules::version_state_after` gives it, and versions not stored are passed over, as
/// Vault does.
async fn set_version_state<S: BatchSteps>(tx: &S, states: &VersionStates) -> Result<()> {
    let VersionStates { path, versions, change, now } = states;
    tx.touch_entry(path, *now).await?;
    for (version, current) in tx.version_states(path).await? {
        if !versions.contains(&version) {
            continue;
        }
        if let Some(next) = crate::rules::version_state_after(*change, *now, current) {
            tx.put_version_state(path, version, &next).await?;
        }
    }
    Ok(())
}

/// Implements [`BatchSteps`] on a backend's transaction type by calling the backend's step
/// functions (`create_vault_tx`, `records::insert_tx`, ...), resolved in
/// the module that invokes it (the backend's `batch.rs`, so `super::` is the backend). Written
/// once for both backends: `batch_steps!(rusqlite::Transaction<'_>)` for SQLite's synchronous
/// functions, `batch_steps!(tokio_postgres::Transaction<'_>, await)` for PostgreSQL's async ones.
macro_rules! batch_steps {
    ($tx:ty $(, $wait:tt)?) => {
        const _: () = {
            use $crate::{
                AppKeyRecord, AuditRecord, GrantRecord, Membership, NewEnvironment, NewPrincipal, NewVersion, Result,
                TokenRecord,
            };
            use tresor_model::{EntryPath, PrincipalRef, Tag, VaultPath, WorkspaceName};

            impl $crate::batch::BatchSteps for $tx {
                async fn create_environment(&self, env: &NewEnvironment) -> Result<()> {
                    super::create_environment_tx(self, env)$(.$wait)?
                }
                async fn create_vault(&self, vault: &VaultPath, now: i64) -> Result<()> {
                    super::create_vault_tx(self, vault, now)$(.$wait)?
                }
                async fn delete_vault(&self, vault: &VaultPath) -> Result<()> {
                    super::delete_vault_tx(self, vault)$(.$wait)?
                }
                async fn set_vault_owner(&self, vault: &VaultPath, managed_by: Option<&str>, at: i64) -> Result<()> {
                    super::set_vault_owner_tx(self, vault, managed_by, at)$(.$wait)?
                }
                async fn write_version(&self, n: &NewVersion) -> Result<()> {
                    super::write_version_tx(self, n)$(.$wait)?
                }
                async fn soft_delete(&self, path: &EntryPath, now: i64) -> Result<()> {
                    super::soft_delete_tx(self, path, now)$(.$wait)?
                }
                async fn undelete(&self, path: &EntryPath, now: i64) -> Result<()> {
                    super::undelete_tx(self, path, now)$(.$wait)?
                }
                async fn purge(&self, path: &EntryPath) -> Result<()> {
                    super::purge_tx(self, path)$(.$wait)?
                }
                async fn touch_entry(&self, path: &EntryPath, now: i64) -> Result<()> {
                    super::touch_entry_tx(self, path, now)$(.$wait)?
                }
                async fn version_states(&self, path: &EntryPath) -> Result<Vec<(u64, $crate::VersionState)>> {
                    super::version_states_of(self, path)$(.$wait)?
                }
                async fn put_version_state(&self, path: &EntryPath, version: u64, state: &$crate::VersionState) -> Result<()> {
                    super::put_version_state_tx(self, path, version, state)$(.$wait)?
                }
                async fn update_tags(&self, path: &EntryPath, upsert: &[Tag], remove: &[Tag]) -> Result<Vec<Tag>> {
                    super::tags::update_tags_tx(self, path, upsert, remove)$(.$wait)?
                }
                async fn create_principal(&self, p: &NewPrincipal) -> Result<()> {
                    super::access::create_principal_tx(self, p)$(.$wait)?
                }
                async fn delete_principal(&self, ws: &WorkspaceName, p: &PrincipalRef) -> Result<()> {
                    super::access::delete_principal_tx(self, ws, p)$(.$wait)?
                }
                async fn add_member(&self, m: &Membership) -> Result<()> {
                    super::access::add_member_tx(self, m)$(.$wait)?
                }
                async fn remove_member(&self, m: &Membership) -> Result<()> {
                    super::access::remove_member_tx(self, m)$(.$wait)?
                }
                async fn insert_token(&self, token: &TokenRecord) -> Result<()> {
                    super::records::insert_tx(self, token)$(.$wait)?
                }
                async fn revoke_token(&self, ws: &WorkspaceName, id: &str, now: i64) -> Result<()> {
                    super::records::revoke_tx::<TokenRecord>(self, ws, id, now)$(.$wait)?
                }
                async fn revoke_tokens_named(&self, ws: &WorkspaceName, name: &str, now: i64) -> Result<()> {
                    super::access::revoke_tokens_named_tx(self, ws, name, now)$(.$wait)?
                }
                async fn insert_grant(&self, grant: &GrantRecord) -> Result<()> {
                    super::records::insert_tx(self, grant)$(.$wait)?
                }
                async fn delete_grant(&self, ws: &WorkspaceName, id: &str) -> Result<GrantRecord> {
                    super::access::delete_grant_tx(self, ws, id)$(.$wait)?
                }
                async fn insert_app_key(&self, key: &AppKeyRecord) -> Result<()> {
                    super::records::insert_tx(self, key)$(.$wait)?
                }
                async fn revoke_app_key(&self, ws: &WorkspaceName, id: &str, now: i64) -> Result<()> {
                    super::records::revoke_tx::<AppKeyRecord>(self, ws, id, now)$(.$wait)?
                }
                async fn replace_data_key(&self, ws: &WorkspaceName, generation: u32, old: &[u8], new: &[u8]) -> Result<u64> {
                    super::replace_data_key_tx(self, ws, generation, old, new)$(.$wait)?
                }
                async fn replace_meta(&self, key: &str, old: Option<&[u8]>, new: &[u8]) -> Result<u64> {
                    super::replace_meta_tx(self, key, old, new)$(.$wait)?
                }
                async fn add_data_key(&self, ws: &WorkspaceName, key: &$crate::WrappedKey, now: i64) -> Result<u64> {
                    super::add_data_key_tx(self, ws, key, now)$(.$wait)?
                }
                async fn reseal(&self, path: &EntryPath, version: u64, old: &[u8], new: &[u8]) -> Result<u64> {
                    super::reseal_tx(self, path, version, old, new)$(.$wait)?
                }
                async fn count_data_keys(&self) -> Result<u64> {
                    super::count_data_keys_tx(self)$(.$wait)?
                }
                async fn append_audit(
                    &self,
                    records: Vec<AuditRecord>,
                    chain: &$crate::ChainWriter,
                    at: &mut (u64, Vec<u8>),
                ) -> Result<()> {
                    super::audit::append_audit_tx(self, records, chain, at)$(.$wait)?
                }
                async fn execute(&self, sql: &'static str) -> Result<()> {
                    super::execute_tx(self, sql)$(.$wait)?
                }
            }
        };
    };
}
pub(crate) use batch_steps;

/// A failed chain append refuses its change (`AuditAppend`), except when the database itself
/// refused every write (a full disk, a lost connection): that kind is kept, so the surface answers
/// it (507, 503) instead of a generic failure.
fn audit_append_failed(e: StoreError) -> StoreError {
    match e {
        e @ (StoreError::OutOfSpace(_) | StoreError::Unavailable(_)) => e,
        e => StoreError::AuditAppend(e.to_string()),
    }
}
