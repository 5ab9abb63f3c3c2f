//! [`crate::Store::apply_batch`] on SQLite: every step runs on the writer's one transaction, with
//! the same SQL as the single-step methods, so a failing step rolls back the steps before it.

use super::{
    access, app_keys, backend, create_environment_tx, create_vault_tx, delete_vault_tx, purge_tx, soft_delete_tx, tags,
    undelete_tx, write_version_tx,
};
use crate::{BatchOp, Result, StoreError};
use rusqlite::{params, Transaction};

pub(super) fn apply_op(tx: &Transaction<'_>, op: &BatchOp) -> Result<()> {
    match op {
        BatchOp::CreateEnvironment { workspace, name, parent, now } => {
            create_environment_tx(tx, workspace, name, parent.as_ref(), *now)
        }
        BatchOp::CreateVault { vault, now } => create_vault_tx(tx, vault, *now),
        BatchOp::SetVaultOwner { vault, managed_by, at } => {
            let n = tx
                .execute(
                    "UPDATE vaults SET managed_by = ?4, managed_at = ?5
                     WHERE workspace = ?1 AND environment = ?2 AND name = ?3",
                    params![vault.workspace.as_str(), vault.environment.as_str(), vault.vault.as_str(), managed_by, at],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("vault {vault}")));
            }
            Ok(())
        }
        BatchOp::DeleteVault { vault } => delete_vault_tx(tx, vault),
        BatchOp::WriteVersion(n) => write_version_tx(tx, n),
        BatchOp::SoftDelete { path, now } => soft_delete_tx(tx, path, *now),
        BatchOp::Undelete { path, now } => undelete_tx(tx, path, *now),
        BatchOp::Purge { path } => purge_tx(tx, path),
        BatchOp::UpdateTags { path, upsert, remove } => tags::update_tags_tx(tx, path, upsert, remove).map(|_| ()),
        BatchOp::CreatePrincipal { workspace, principal, by, now } => {
            access::create_principal_tx(tx, workspace, principal, by, *now)
        }
        BatchOp::DeletePrincipal { workspace, principal } => access::delete_principal_tx(tx, workspace, principal),
        BatchOp::AddMember { workspace, group, member } => access::add_member_tx(tx, workspace, group, member),
        BatchOp::RemoveMember { workspace, group, member } => access::remove_member_tx(tx, workspace, group, member),
        BatchOp::InsertToken(t) => access::insert_token_tx(tx, t),
        BatchOp::RevokeToken { workspace, id, now } => access::revoke_token_tx(tx, workspace, id, *now),
        BatchOp::InsertGrant(g) => access::insert_grant_tx(tx, g),
        BatchOp::DeleteGrant { workspace, id } => access::delete_grant_tx(tx, workspace, id).map(|_| ()),
        BatchOp::InsertAppKey(k) => app_keys::insert_app_key_tx(tx, k),
        BatchOp::RevokeAppKey { workspace, id, now, minted_tokens_named } => {
            app_keys::revoke_app_key_tx(tx, workspace, id, *now)?;
            access::revoke_tokens_named_tx(tx, workspace, minted_tokens_named, *now)
        }
    }
}
