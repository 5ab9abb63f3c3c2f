//! [`crate::Store::apply_batch`] on PostgreSQL: every step runs in one transaction with the same
//! SQL and row locks as the single-step methods; a failing step drops the transaction uncommitted,
//! so the steps before it are rolled back.

use super::{
    access, app_keys, backend, create_environment_tx, create_vault_tx, delete_vault_tx, purge_tx, soft_delete_tx, tags,
    undelete_tx, write_version_tx,
};
use crate::{BatchOp, Result, StoreError};
use tokio_postgres::Transaction;

pub(super) async fn apply_op(tx: &Transaction<'_>, op: &BatchOp) -> Result<()> {
    match op {
        BatchOp::CreateEnvironment { workspace, name, parent, now } => {
            create_environment_tx(tx, workspace, name, parent.as_ref(), *now).await
        }
        BatchOp::CreateVault { vault, now } => create_vault_tx(tx, vault, *now).await,
        BatchOp::SetVaultOwner { vault, managed_by, at } => {
            let n = tx
                .execute(
                    "UPDATE vaults SET managed_by = $4, managed_at = $5
                     WHERE workspace = $1 AND environment = $2 AND name = $3",
                    &[&vault.workspace.as_str(), &vault.environment.as_str(), &vault.vault.as_str(), managed_by, at],
                )
                .await
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("vault {vault}")));
            }
            Ok(())
        }
        BatchOp::DeleteVault { vault } => delete_vault_tx(tx, vault).await,
        BatchOp::WriteVersion(n) => write_version_tx(tx, n).await,
        BatchOp::SoftDelete { path, now } => soft_delete_tx(tx, path, *now).await,
        BatchOp::Undelete { path, now } => undelete_tx(tx, path, *now).await,
        BatchOp::Purge { path } => purge_tx(tx, path).await,
        BatchOp::UpdateTags { path, upsert, remove } => {
            tags::update_tags_tx(tx, path, upsert, remove).await.map(|_| ())
        }
        BatchOp::CreatePrincipal { workspace, principal, by, now } => {
            access::create_principal_tx(tx, workspace, principal, by, *now).await
        }
        BatchOp::DeletePrincipal { workspace, principal } => {
            access::delete_principal_tx(tx, workspace, principal).await
        }
        BatchOp::AddMember { workspace, group, member } => access::add_member_tx(tx, workspace, group, member).await,
        BatchOp::RemoveMember { workspace, group, member } => {
            access::remove_member_tx(tx, workspace, group, member).await
        }
        BatchOp::InsertToken(t) => access::insert_token_tx(tx, t).await,
        BatchOp::RevokeToken { workspace, id, now } => access::revoke_token_tx(tx, workspace, id, *now).await,
        BatchOp::InsertGrant(g) => access::insert_grant_tx(tx, g).await,
        BatchOp::DeleteGrant { workspace, id } => access::delete_grant_tx(tx, workspace, id).await.map(|_| ()),
        BatchOp::InsertAppKey(k) => app_keys::insert_app_key_tx(tx, k).await,
        BatchOp::RevokeAppKey { workspace, id, now, minted_tokens_named } => {
            app_keys::revoke_app_key_tx(tx, workspace, id, *now).await?;
            access::revoke_tokens_named_tx(tx, workspace, minted_tokens_named, *now).await
        }
    }
}
