//! Storage for tresor.
//!
//! [`Store`] is the one interface the service layer is written against. A backend stores rows and
//! enforces the invariants that must hold under concurrency (check-and-set on versions, the entry
//! limit, a vault being empty before it is deleted) inside its own transactions; it never sees a
//! plaintext value or a key, only sealed bytes and wrapped keys.
//!
//! The embedded backend is [`SqliteStore`]. The SQL and the trait avoid SQLite-only assumptions
//! (no rowids, no type affinity tricks, timestamps as BIGINT milliseconds) so that a PostgreSQL
//! backend can implement the same trait and pass the same conformance tests.

mod sqlite;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use sqlite::SqliteStore;

use async_trait::async_trait;
use thiserror::Error;
use tresor_model::{
    EntryKind, EntryMeta, EntryPath, EnvInfo, EnvName, Tag, VaultInfo, VaultPath, VersionMeta, WorkspaceName,
};

/// Errors of the storage layer. Messages name rows by their path, never by value.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{path} is at version {actual}, not {expected}: it was changed concurrently; read it again and retry")]
    VersionConflict { path: String, expected: u64, actual: u64 },
    #[error("vault {vault} is not empty: it holds {live} entries and {deleted} deleted entries awaiting purge")]
    VaultNotEmpty { vault: String, live: u64, deleted: u64 },
    #[error("the workspace already holds {limit} entries, its limit")]
    EntryLimit { limit: u64 },
    #[error("storage error: {0}")]
    Backend(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A sealed version as read back from storage.
#[derive(Debug, Clone)]
pub struct SealedVersion {
    pub meta: VersionMeta,
    pub sealed: Vec<u8>,
}

/// A workspace's wrapped data key.
#[derive(Debug, Clone)]
pub struct WrappedKey {
    pub generation: u32,
    pub wrapped: Vec<u8>,
}

/// Everything a backend needs to write one new version atomically.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub path: EntryPath,
    pub kind: EntryKind,
    /// The version being written; must be `expected_current + 1`.
    pub version: u64,
    /// The version the writer saw (0 when the entry did not exist). The write fails with
    /// [`StoreError::VersionConflict`] if the entry has moved on since: no update is ever lost.
    pub expected_current: u64,
    pub sealed: Vec<u8>,
    pub now: i64,
    pub edited_by: String,
    /// `None` keeps the current description (or none for a new entry).
    pub description: Option<String>,
    /// `None` keeps the current tags.
    pub tags: Option<Vec<Tag>>,
    pub expires_at: Option<i64>,
    /// How many versions to keep; older ones are pruned in the same transaction.
    pub keep_versions: u32,
    /// The workspace's entry limit, checked in the same transaction when this write adds a live entry.
    pub max_entries: Option<u64>,
}

/// Which entries a listing returns.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Only keys sorting after this (pagination cursor).
    pub after: Option<String>,
    pub limit: u32,
    pub include_deleted: bool,
}

/// The storage interface. Every method is one transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ----- process-wide settings (passphrase salt, store id) -----
    async fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Sets a meta value only if it is unset; returns the value now stored.
    async fn init_meta(&self, key: &str, value: &[u8]) -> Result<Vec<u8>>;

    // ----- workspaces and their data keys -----
    async fn create_workspace(&self, name: &WorkspaceName, first_key: &WrappedKey, now: i64) -> Result<()>;
    async fn workspace_exists(&self, name: &WorkspaceName) -> Result<bool>;
    /// The wrapped data key of a generation, or of the current one when `generation` is `None`.
    async fn data_key(&self, workspace: &WorkspaceName, generation: Option<u32>) -> Result<WrappedKey>;

    // ----- environments -----
    async fn create_environment(
        &self,
        workspace: &WorkspaceName,
        name: &EnvName,
        parent: Option<&EnvName>,
        now: i64,
    ) -> Result<()>;
    async fn get_environment(&self, workspace: &WorkspaceName, name: &EnvName) -> Result<Option<EnvInfo>>;
    async fn list_environments(&self, workspace: &WorkspaceName) -> Result<Vec<EnvInfo>>;

    // ----- vaults -----
    async fn create_vault(&self, vault: &VaultPath, now: i64) -> Result<()>;
    async fn get_vault(&self, vault: &VaultPath) -> Result<Option<VaultInfo>>;
    async fn list_vaults(&self, workspace: &WorkspaceName, environment: &EnvName) -> Result<Vec<VaultInfo>>;
    /// Deletes an empty vault; [`StoreError::VaultNotEmpty`] otherwise.
    async fn delete_vault(&self, vault: &VaultPath) -> Result<()>;

    // ----- entries -----
    /// The entry's metadata, including soft-deleted entries.
    async fn get_entry(&self, path: &EntryPath) -> Result<Option<EntryMeta>>;
    /// A sealed version: the entry's current one when `version` is `None`. Soft-deletion is the
    /// caller's to check (through [`Store::get_entry`] or the returned metadata).
    async fn read_version(&self, path: &EntryPath, version: Option<u64>) -> Result<Option<SealedVersion>>;
    async fn list_entries(&self, vault: &VaultPath, query: &ListQuery) -> Result<Vec<EntryMeta>>;
    async fn list_versions(&self, path: &EntryPath) -> Result<Vec<VersionMeta>>;
    /// Writes a new version with check-and-set; also revives a soft-deleted entry.
    async fn write_version(&self, new: NewVersion) -> Result<()>;
    /// Marks an entry deleted. Its versions stay until [`Store::purge`].
    async fn soft_delete(&self, path: &EntryPath, now: i64) -> Result<()>;
    async fn undelete(&self, path: &EntryPath, now: i64) -> Result<()>;
    /// Removes an entry and all its versions for good.
    async fn purge(&self, path: &EntryPath) -> Result<()>;
    /// Live (not soft-deleted) entries in a workspace.
    async fn count_entries(&self, workspace: &WorkspaceName) -> Result<u64>;
}
