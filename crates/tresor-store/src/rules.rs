//! The rules of the store that do not depend on the database: both backends call these inside
//! their transactions, so a write, a prune or a tag change means the same on SQLite and on
//! PostgreSQL (the conformance suite checks that they do).
//!
//! Architecture invariant: a backend file holds SQL and row mapping; any decision about what a
//! write may do is made here, once.

use crate::{NewVersion, Result, StoreError, VersionChange, VersionState};
use tresor_model::{EntryKind, PrincipalKind, Tag, VaultPath, WorkspaceName};

/// The check-and-set of a write, given the entry's current `(version, deleted_at)` if it has a
/// row: the writer must have seen the current version, and writes the next one. Answers whether
/// the write adds a live entry (a new key, or one that was deleted), which is what the
/// workspace's entry limit counts.
pub(crate) fn check_and_set(n: &NewVersion, current: Option<(u64, Option<i64>)>) -> Result<bool> {
    let actual = current.map_or(0, |(v, _)| v);
    if actual != n.expected_current || n.version != actual + 1 {
        return Err(StoreError::VersionConflict { path: n.path.to_string(), expected: n.expected_current, actual });
    }
    Ok(matches!(current, None | Some((_, Some(_)))))
}

/// The state a stored version takes under `change` at `now`, or `None` when the change leaves it
/// as it is: a destroyed version stays destroyed (its value is gone for good), a delete keeps the
/// first deletion's time, an undelete of a version that is not deleted changes nothing.
pub(crate) fn version_state_after(change: VersionChange, now: i64, state: VersionState) -> Option<VersionState> {
    if state.destroyed_at.is_some() {
        return None;
    }
    match change {
        VersionChange::Delete => state.deleted_at.is_none().then_some(VersionState { deleted_at: Some(now), ..state }),
        VersionChange::Undelete => state.deleted_at.is_some().then_some(VersionState { deleted_at: None, ..state }),
        VersionChange::Destroy => Some(VersionState { destroyed_at: Some(now), ..state }),
    }
}

/// Refuses a write that would add a live entry to a workspace already holding `live` of them.
pub(crate) fn check_entry_limit(live: u64, limit: u64) -> Result<()> {
    if live >= limit {
        return Err(StoreError::EntryLimit { limit });
    }
    Ok(())
}

/// The bounds a write must check in its transaction, under the lock that serialises the writers
/// adding live entries to the workspace: none unless it adds a live entry (see [`check_and_set`]).
pub(crate) struct LiveLimits {
    /// The workspace's entry limit.
    pub entries: Option<u64>,
    /// The bound on the live secrets of the entry's vault, when the write asked for one and
    /// writes a secret.
    pub vault_secrets: Option<u64>,
}

impl LiveLimits {
    pub(crate) fn of(n: &NewVersion, adds_live_entry: bool) -> Self {
        if !adds_live_entry {
            return Self { entries: None, vault_secrets: None };
        }
        let vault_secrets = n.max_live_secrets_in_vault.filter(|_| n.kind == EntryKind::Secret);
        Self { entries: n.max_entries, vault_secrets }
    }

    /// Whether any bound is to be checked (and so PostgreSQL's lock taken; SQLite's write
    /// transaction already excludes other writers).
    #[cfg(feature = "postgres")]
    pub(crate) fn any(&self) -> bool {
        self.entries.is_some() || self.vault_secrets.is_some()
    }
}

/// Refuses a write that would add a live secret to a vault already holding `live` of them.
pub(crate) fn check_vault_secret_limit(n: &NewVersion, live: u64, limit: u64) -> Result<()> {
    if live >= limit {
        let p = &n.path;
        return Err(StoreError::VaultSecretLimit { vault: format!("{}/{}", p.environment, p.vault), live, limit });
    }
    Ok(())
}

/// A change that had to touch a row and touched `changed` of them: none means there was nothing
/// to change, [`StoreError::NotFound`] naming `what`.
pub(crate) fn found(changed: u64, what: impl FnOnce() -> String) -> Result<()> {
    if changed == 0 {
        return Err(StoreError::NotFound(what()));
    }
    Ok(())
}

/// Refuses to delete a vault that still holds entries, live or awaiting purge.
pub(crate) fn check_vault_empty(vault: &VaultPath, live: u64, deleted: u64) -> Result<()> {
    if live + deleted > 0 {
        return Err(StoreError::VaultNotEmpty { vault: vault.to_string(), live, deleted });
    }
    Ok(())
}

/// The oldest version a write of `n` keeps: `keep_versions` (at least one, the new one) counting
/// back from it. Older versions are pruned in the write's transaction.
pub(crate) fn oldest_kept(n: &NewVersion) -> u64 {
    n.version.saturating_sub(u64::from(n.keep_versions.max(1)) - 1)
}

/// Applies removals (same key and value), then upserts (same key replaced, else appended).
pub(crate) fn apply_tags(mut tags: Vec<Tag>, upsert: &[Tag], remove: &[Tag]) -> Vec<Tag> {
    tags.retain(|t| !remove.contains(t));
    for new in upsert {
        match tags.iter_mut().find(|t| t.key == new.key) {
            Some(t) => t.value = new.value.clone(),
            None => tags.push(new.clone()),
        }
    }
    tags
}

/// An entry kind as stored; anything else is a corrupt row, described by the message (each
/// backend wraps it in its own row-mapping error).
pub(crate) fn parse_kind(s: &str) -> std::result::Result<EntryKind, String> {
    EntryKind::parse(s).ok_or_else(|| format!("unknown entry kind {s:?}"))
}

/// A principal kind as stored; anything else is a corrupt row (as [`parse_kind`]).
pub(crate) fn parse_principal_kind(s: &str) -> std::result::Result<PrincipalKind, String> {
    match s {
        "user" => Ok(PrincipalKind::User),
        "app" => Ok(PrincipalKind::App),
        "group" => Ok(PrincipalKind::Group),
        _ => Err(format!("unknown principal kind {s:?}")),
    }
}

/// A key rotation's write that changed no row: the key moved since the rotation read it.
pub(crate) fn rewrapped(rows: u64, what: impl FnOnce() -> String) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::KeysChanged(what()))
    }
}

/// What a data key that is not there means: no such generation, or (asked for the current one)
/// no such workspace.
pub(crate) fn missing_data_key(workspace: &WorkspaceName, generation: Option<u32>) -> StoreError {
    match generation {
        Some(g) => StoreError::NotFound(format!("data key generation {g} of workspace {workspace}")),
        None => StoreError::NotFound(format!("workspace {workspace}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_removed_then_upserted_in_place() {
        let tags = vec![tag("team", "a"), tag("env", "prod"), tag("tier", "1")];
        let out = apply_tags(tags, &[tag("team", "b"), tag("new", "x")], &[tag("env", "prod"), tag("tier", "2")]);
        assert_eq!(out, vec![tag("team", "b"), tag("tier", "1"), tag("new", "x")]);
    }

    fn tag(k: &str, v: &str) -> Tag {
        Tag { key: k.into(), value: v.into() }
    }

    #[test]
    fn tags_are_upserted_by_key_and_removed_by_key_and_value() {
        let start = vec![tag("team", "pay"), tag("env", "prod")];
        let out = apply_tags(start.clone(), &[tag("team", "data"), tag("tier", "1")], &[]);
        assert_eq!(out, [tag("team", "data"), tag("env", "prod"), tag("tier", "1")]);
        let out = apply_tags(start.clone(), &[], &[tag("env", "dev")]);
        assert_eq!(out, start, "a removal must match the value too");
        assert_eq!(apply_tags(start, &[], &[tag("env", "prod")]), [tag("team", "pay")]);
    }
}
