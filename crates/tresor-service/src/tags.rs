//! Changing an entry's tags in place, without a new version of its value (Conductor's
//! `/api/secrets/{key}/tags`). Needs `write` on the entry and is audited like a write.

use crate::auth::Ctx;
use crate::{Result, Service, ServiceError};
use tresor_model::{Access, EntryPath, Tag};
use tresor_store::{BatchOp, StoreError};

const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 512;
const MAX_TAGS_PER_CALL: usize = 64;

fn check_tags(tags: &[Tag]) -> Result<()> {
    if tags.len() > MAX_TAGS_PER_CALL {
        return Err(ServiceError::InvalidInput(format!(
            "at most {MAX_TAGS_PER_CALL} tags per call, not {}",
            tags.len()
        )));
    }
    for t in tags {
        if t.key.is_empty() || t.key.chars().count() > MAX_TAG_KEY || t.key.chars().any(char::is_control) {
            return Err(ServiceError::InvalidInput(format!(
                "a tag key must be 1 to {MAX_TAG_KEY} printable characters"
            )));
        }
        if t.value.chars().count() > MAX_TAG_VALUE || t.value.chars().any(char::is_control) {
            return Err(ServiceError::InvalidInput(format!(
                "the value of tag {:?} must be at most {MAX_TAG_VALUE} printable characters",
                t.key
            )));
        }
    }
    Ok(())
}

impl Service {
    /// Removes the tags equal to one of `remove` (key and value), then sets each of `upsert`
    /// (replacing a tag of the same key). The entry's value and version are untouched. Returns the
    /// entry's tags afterwards.
    pub async fn update_tags(&self, ctx: &Ctx, path: &EntryPath, upsert: &[Tag], remove: &[Tag]) -> Result<Vec<Tag>> {
        self.audited_change(ctx, "entry.tags", path, async {
            Self::check_workspace(ctx, path)?;
            Self::require_entry(ctx, Access::Write, path)?;
            self.check_read_only_branch(ctx, path).await?;
            check_tags(upsert)?;
            check_tags(remove)?;
            self.guard_managed(ctx, &path.vault_path()).await?;
            let op = BatchOp::UpdateTags { path: path.clone(), upsert: upsert.to_vec(), remove: remove.to_vec() };
            let r = self.commit(vec![op], vec![Self::change_record(ctx, "entry.tags", path)]).await;
            self.cache.invalidate_entry(path);
            match r {
                Err(StoreError::NotFound(_)) => return Err(Self::not_found(path)),
                other => other?,
            }
            // The tags as stored now (a batch step answers nothing).
            Ok(self.describe_here(path).await?.tags)
        })
        .await
    }
}
