//! Entry tags changed in place, without a new version (Conductor's `/api/secrets/{key}/tags`), on
//! PostgreSQL.

use super::pool::PgTx;
use super::{backend, col};
use crate::rules::apply_tags;
use crate::{Result, StoreError};
use tresor_model::{EntryPath, Tag};

/// [`crate::Store::update_tags`] inside a caller's transaction.
pub(super) async fn update_tags_tx(tx: &PgTx<'_>, p: &EntryPath, upsert: &[Tag], remove: &[Tag]) -> Result<Vec<Tag>> {
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
