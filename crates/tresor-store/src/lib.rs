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

mod batch;
/// What each backend's `mod.rs` implements [`Store`] with: both name the same types, so they are
/// named once.
mod backend_prelude {
    pub(crate) use crate::{
        like_prefix, AppKeyRecord, AuditRecord, ChainHead, ChainWriter, Flush, GrantRecord, Group, ListQuery,
        Membership, NewEnvironment, NewPrincipal, NewVersion, PrincipalRecord, Result, SealedVersion, Store,
        StoreError, TokenRecord, VersionState, WrappedKey,
    };
    pub(crate) use tresor_model::{
        EntryKind, EntryMeta, EntryPath, EnvInfo, EnvName, PrincipalRef, Tag, VaultInfo, VaultPath, VersionMeta,
        WorkspaceName,
    };
}
mod migrate;
mod rows;
mod rules;
mod snapshot;
mod sqlite;

#[cfg(feature = "postgres")]
mod postgres;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use snapshot::{
    AppKeyRow, AuditRow, Bytes, DataKeyRow, EntryRow, EntryVersionRow, EnvironmentRow, GrantRow, GroupMemberRow,
    MetaRow, PrincipalRow, Snapshot, SnapshotHeader, SnapshotTables, TokenRow, VaultRow, WorkspaceRow, SNAPSHOT_FORMAT,
};
pub use sqlite::SqliteStore;

#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;

use async_trait::async_trait;
use thiserror::Error;
use tresor_model::{
    Access, EntryKind, EntryMeta, EntryPath, EnvInfo, EnvName, PrincipalRef, Tag, VaultInfo, VaultPath, VersionMeta,
    WorkspaceName,
};

/// Errors of the storage layer. Messages name rows by their path, never by value.
#[derive(Debug, Clone, Error)]
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
    /// A write that asked for [`NewVersion::max_live_secrets_in_vault`] would pass it.
    #[error("vault {vault} already holds {live} secrets, and the limit this write asked for is {limit}")]
    VaultSecretLimit { vault: String, live: u64, limit: u64 },
    #[error("storage error: {0}")]
    Backend(String),
    /// The database's disk (SQLite's file system, PostgreSQL's data directory) is full
    /// (`SQLITE_FULL`, SQLSTATE 53100), or a SQLite server's disk reserve is released (changes
    /// are refused so that reads' audit records have its space; see `sqlite/reserve.rs`): the
    /// write was rolled back whole. Writes work again once space is freed, without a restart.
    #[error("the database's disk is full, so nothing was written ({0}); free space on it (or grow it) and retry")]
    OutOfSpace(String),
    /// The database cannot be reached (PostgreSQL stopped, restarting or unreachable): nothing
    /// of this request was committed that is not reported. Connections are opened again at the
    /// next request, so this ends by itself once the database is back.
    #[error("the database is unavailable ({0}); retry once it is back")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// An import into a store that already holds data (it would mix two stores' rows).
    #[error("{0}")]
    NotEmpty(String),
    /// A snapshot that cannot be imported: damaged, or from a newer tresor.
    #[error("{0}")]
    InvalidSnapshot(String),
    /// A storage location that cannot be used as given (a malformed URL, a TLS option that does
    /// not fit): the operator's input to fix, not a fault of the store.
    #[error("{0}")]
    InvalidLocation(String),
    /// Stored keys changed between a key rotation's read and its write (another rotation, a new
    /// data-key generation): nothing was written; run the rotation again.
    #[error("{0} changed while it was being rotated; nothing was changed: run the rotation again")]
    KeysChanged(String),
    /// The audit records of a [`Store::apply_batch`] could not be appended, so its changes were
    /// rolled back with them: a change never commits without its record.
    #[error("the audit record could not be written ({0})")]
    AuditAppend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The state of one stored version beyond its metadata (migration 0009): soft-deleted on its
/// own, or destroyed (its sealed value erased). Both `None` for a version written and left alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VersionState {
    pub deleted_at: Option<i64>,
    pub destroyed_at: Option<i64>,
}

/// [`BatchOp::SetVersionState`]: `change` applied to the stored versions among `versions` of
/// the entry at `path`.
#[derive(Debug, Clone)]
pub struct VersionStates {
    pub path: EntryPath,
    pub versions: Vec<u64>,
    pub change: VersionChange,
    pub now: i64,
}

/// A change of the state of single versions ([`BatchOp::SetVersionState`]); what it does to each
/// version is `rules::version_state_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionChange {
    /// Soft-deletes the versions: kept, not readable until undeleted.
    Delete,
    /// Undoes [`VersionChange::Delete`].
    Undelete,
    /// Erases the versions' sealed values for good; their metadata stays.
    Destroy,
}

/// A sealed version as read back from storage.
#[derive(Debug, Clone)]
pub struct SealedVersion {
    pub meta: VersionMeta,
    pub sealed: Vec<u8>,
    /// The keyed hash of the version's identity and value written with it (see
    /// [`NewVersion::value_mac`]); `None` for versions written before it was recorded.
    pub value_mac: Option<Vec<u8>>,
    /// Whether the version was deleted on its own or destroyed.
    pub state: VersionState,
}

/// A workspace's wrapped data key.
#[derive(Debug, Clone)]
pub struct WrappedKey {
    pub generation: u32,
    pub wrapped: Vec<u8>,
}

/// A stored version sealed with a data-key generation other than its workspace's current one
/// ([`Store::versions_not_on`]): what a data-key rotation re-encrypts.
#[derive(Debug, Clone)]
pub struct StaleVersion {
    pub path: EntryPath,
    pub version: u64,
    pub kind: EntryKind,
    pub sealed: Vec<u8>,
}

/// [`BatchOp::RewrapRoot`]: every key wrapped by the root key, re-wrapped under a new one.
#[derive(Debug, Clone)]
pub struct RootRewrap {
    /// Every data key of every workspace, each written only if it still holds `old`.
    pub data_keys: Vec<DataKeyRewrap>,
    /// Meta rows wrapped by the root key (the MAC keys) or describing it (the root key's provider),
    /// each written only if it still holds `old` (`None`: only if absent).
    pub meta: Vec<MetaRewrap>,
}

/// One data key's re-wrapping.
#[derive(Debug, Clone)]
pub struct DataKeyRewrap {
    pub workspace: WorkspaceName,
    pub generation: u32,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
}

/// One meta row's replacement.
#[derive(Debug, Clone)]
pub struct MetaRewrap {
    pub key: String,
    pub old: Option<Vec<u8>>,
    pub new: Vec<u8>,
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
    /// The most live secrets the entry's vault may hold, checked in the same transaction (under the
    /// same lock as `max_entries`) when this write adds a live secret; `None` for no such bound.
    /// Only writes that ask for it carry it (the Tinybird-compatible API's create, whose limit
    /// of secrets per workspace is one per environment's default vault).
    pub max_live_secrets_in_vault: Option<u64>,
    /// A keyed hash of the entry's identity and value, computed by the service, so that a
    /// declarative config's plan can tell whether a value changed without opening it.
    pub value_mac: Option<Vec<u8>>,
}

/// A new environment of a workspace, branched from `parent` if given ([`Store::create_environment`],
/// [`BatchOp::CreateEnvironment`]).
#[derive(Debug, Clone)]
pub struct NewEnvironment {
    pub workspace: WorkspaceName,
    pub name: EnvName,
    pub parent: Option<EnvName>,
    pub now: i64,
}

/// A new principal of a workspace, created by `by` ([`Store::create_principal`],
/// [`BatchOp::CreatePrincipal`]).
#[derive(Debug, Clone)]
pub struct NewPrincipal {
    pub workspace: WorkspaceName,
    pub principal: PrincipalRef,
    pub by: String,
    pub now: i64,
}

/// A principal's membership of a group of its workspace ([`Store::add_member`],
/// [`Store::remove_member`], [`BatchOp::AddMember`], [`BatchOp::RemoveMember`]).
#[derive(Debug, Clone)]
pub struct Membership {
    pub workspace: WorkspaceName,
    /// The group's name (the principal `group:<name>`).
    pub group: String,
    pub member: PrincipalRef,
}

/// The chain of a batch that carries no records (the store's own single-step writes): never asked
/// for a hash.
struct NoRecords;

impl AuditChain for NoRecords {
    fn record_hash(&self, _: &AuditRecord) -> Vec<u8> {
        Vec::new()
    }
    fn head_mac(&self, _: &str, _: u64, _: &[u8]) -> Vec<u8> {
        Vec::new()
    }
}

/// The writer of batches that carry no records: its chain is never appended to.
fn no_records() -> ChainWriter {
    ChainWriter::new("", std::sync::Arc::new(NoRecords))
}

/// When a [`Store::apply_group`]'s commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Before the commit returns (SQLite `synchronous=FULL`, PostgreSQL `synchronous_commit=on`).
    Now,
    /// Written to the operating system before the commit returns, so a killed tresor process
    /// loses nothing, and flushed by a later [`Store::flush`] or [`Flush::Now`] commit: a power
    /// loss in between may lose it (SQLite's `synchronous=NORMAL` in WAL mode; PostgreSQL's
    /// `synchronous_commit=off`, where the database server holds the commit).
    Deferred,
}

/// What one [`Store::apply_group`] commits: changes, then read records, and when it is flushed.
#[derive(Debug, Clone)]
pub struct Group {
    pub changes: Vec<Batch>,
    pub reads: Vec<AuditRecord>,
    pub flush: Flush,
}

/// One change of a [`Store::apply_group`]: its steps and the audit records that commit with them.
#[derive(Debug, Clone)]
pub struct Batch {
    pub ops: Vec<BatchOp>,
    pub audit: Vec<AuditRecord>,
}

/// One step of [`Store::apply_batch`]. Each behaves as the `Store` method of the same name, with
/// the same errors, but all steps of a batch (and the batch's audit records) commit together or
/// not at all. The service makes every change through a batch, so that the change and its audit
/// record share one transaction.
#[derive(Debug, Clone)]
pub enum BatchOp {
    CreateEnvironment(NewEnvironment),
    CreateVault {
        vault: VaultPath,
        now: i64,
    },
    DeleteVault {
        vault: VaultPath,
    },
    /// Records which declarative config owns a vault (`managed_by`) and since when; `None`
    /// releases it (the time then records the release). [`StoreError::NotFound`] without the vault.
    SetVaultOwner {
        vault: VaultPath,
        managed_by: Option<String>,
        at: i64,
    },
    WriteVersion(NewVersion),
    SoftDelete {
        path: EntryPath,
        now: i64,
    },
    Undelete {
        path: EntryPath,
        now: i64,
    },
    Purge {
        path: EntryPath,
    },
    /// Deletes, undeletes or destroys the stored versions among `versions` of an existing entry
    /// (versions not stored are passed over, as Vault does).
    SetVersionState(VersionStates),
    UpdateTags {
        path: EntryPath,
        upsert: Vec<Tag>,
        remove: Vec<Tag>,
    },
    CreatePrincipal(NewPrincipal),
    DeletePrincipal {
        workspace: WorkspaceName,
        principal: PrincipalRef,
    },
    AddMember(Membership),
    RemoveMember(Membership),
    InsertToken(TokenRecord),
    RevokeToken {
        workspace: WorkspaceName,
        id: String,
        now: i64,
    },
    InsertGrant(GrantRecord),
    DeleteGrant {
        workspace: WorkspaceName,
        id: String,
    },
    InsertAppKey(AppKeyRecord),
    /// [`Store::revoke_app_key`], and in the same step every unrevoked token of the workspace
    /// named `minted_tokens_named` (the tokens the key was exchanged for), so that no token of a
    /// revoked key outlives its revocation.
    RevokeAppKey {
        workspace: WorkspaceName,
        id: String,
        now: i64,
        minted_tokens_named: String,
    },
    /// Re-wraps every data key and root-wrapped meta row under a new root key, all of them or
    /// none: [`StoreError::KeysChanged`] if any of them no longer holds what the rotation read, or
    /// if the store holds a data key the rotation did not read (one added meanwhile would stay
    /// wrapped by the old root key).
    RewrapRoot(RootRewrap),
    /// Adds data-key generation `key.generation` to the workspace and makes it current: new
    /// writes are sealed with it at once. [`StoreError::KeysChanged`] unless the current
    /// generation was `key.generation - 1` (another rotation came first).
    AddDataKey {
        workspace: WorkspaceName,
        key: WrappedKey,
        now: i64,
    },
    /// Replaces a stored version's sealed value (the same plaintext sealed under another data-key
    /// generation) if it still holds `old`; a version pruned or destroyed meanwhile is passed over.
    Reseal {
        path: EntryPath,
        version: u64,
        old: Vec<u8>,
        new: Vec<u8>,
    },
}

impl BatchOp {
    /// What the step touches, for error messages.
    pub fn describe(&self) -> String {
        match self {
            BatchOp::CreateEnvironment(e) => format!("create environment {}", e.name),
            BatchOp::CreateVault { vault, .. } => format!("create vault {vault}"),
            BatchOp::DeleteVault { vault } => format!("delete vault {vault}"),
            BatchOp::SetVaultOwner { vault, .. } => format!("set the owner of vault {vault}"),
            BatchOp::WriteVersion(n) => format!("write entry {}", n.path),
            BatchOp::AddDataKey { workspace, key, .. } => {
                format!("add data-key generation {} of workspace {workspace}", key.generation)
            }
            BatchOp::Reseal { path, version, .. } => format!("re-encrypt version {version} of entry {path}"),
            BatchOp::RewrapRoot(r) => format!("re-wrap {} data keys under a new root key", r.data_keys.len()),
            BatchOp::SoftDelete { path, .. } => format!("delete entry {path}"),
            BatchOp::Undelete { path, .. } => format!("undelete entry {path}"),
            BatchOp::Purge { path } => format!("purge entry {path}"),
            BatchOp::SetVersionState(v) => format!("{:?} versions of entry {}", v.change, v.path),
            BatchOp::UpdateTags { path, .. } => format!("update the tags of entry {path}"),
            BatchOp::CreatePrincipal(p) => format!("create principal {}", p.principal),
            BatchOp::DeletePrincipal { principal, .. } => format!("delete principal {principal}"),
            BatchOp::AddMember(m) => format!("add {} to group:{}", m.member, m.group),
            BatchOp::RemoveMember(m) => format!("remove {} from group:{}", m.member, m.group),
            BatchOp::InsertToken(t) => format!("insert token {}", t.id),
            BatchOp::RevokeToken { id, .. } => format!("revoke token {id}"),
            BatchOp::InsertGrant(g) => format!("insert grant {}", g.id),
            BatchOp::DeleteGrant { id, .. } => format!("delete grant {id}"),
            BatchOp::InsertAppKey(k) => format!("insert application key {}", k.id),
            BatchOp::RevokeAppKey { id, .. } => format!("revoke application key {id}"),
        }
    }
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

/// A principal as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalRecord {
    pub principal: PrincipalRef,
    pub created_at: i64,
    pub created_by: String,
}

/// A token as stored: its public id and the hash of its secret part, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub workspace: WorkspaceName,
    pub principal: PrincipalRef,
    pub name: String,
    pub hash: Vec<u8>,
    pub created_at: i64,
    pub created_by: String,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The environment the token is bound to: its grants are narrowed to it, and the
    /// compatibility APIs act in it. `None`: not bound.
    pub environment: Option<EnvName>,
}

/// A grant as stored. The scope is kept as written and parsed by the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    pub id: String,
    pub workspace: WorkspaceName,
    pub principal: PrincipalRef,
    pub scope: String,
    pub access: Access,
    pub created_at: i64,
    pub created_by: String,
}

/// One audit record. `seq`, `chain`, `chain_seq`, `prev_hash` and `hash` are assigned when it is
/// appended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    /// The record's place in the whole log's listing order (not hashed: chains are written side
    /// by side, and their records are numbered as they are inserted).
    pub seq: u64,
    pub at: i64,
    pub workspace: String,
    pub request_id: String,
    pub principal: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: Option<String>,
    /// The chain the record was appended to (`""`: the one chain of a store written before
    /// chains, migration 0010) and its place in that chain, from 1.
    pub chain: String,
    pub chain_seq: u64,
    #[serde(skip)]
    pub prev_hash: Vec<u8>,
    #[serde(skip)]
    pub hash: Vec<u8>,
}

/// A chain's recorded head as the store keeps it (table `audit_chains`): the last record's
/// place in the chain and its hash, and the head's MAC ([`AuditChain::head_mac`]), written with
/// every append to the chain. `head_mac` is `None` only for the chain `""` of a store whose head
/// was written by a tresor before head MACs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub chain: String,
    pub seq: u64,
    pub hash: Vec<u8>,
    pub head_mac: Option<Vec<u8>>,
    /// When the chain was started and last appended to (Unix milliseconds; 0 for the chain `""`).
    pub started_at: i64,
    pub updated_at: i64,
}

/// Encodes a head as `audit_chains.head` stores it: the sequence number, 8 bytes big-endian, then
/// the hash (the layout meta `audit_head` had before migration 0010).
pub fn encode_chain_head(seq: u64, hash: &[u8]) -> Vec<u8> {
    let mut head = seq.to_be_bytes().to_vec();
    head.extend_from_slice(hash);
    head
}

/// Reads a head as [`encode_chain_head`] writes it; `None` if it is too short to be one.
pub fn parse_chain_head(head: &[u8]) -> Option<(u64, &[u8])> {
    match head.split_at_checked(8) {
        Some((seq, hash)) if !hash.is_empty() => Some((u64::from_be_bytes(seq.try_into().ok()?), hash)),
        _ => None,
    }
}

/// The keyed hashes of the audit chains. Supplied by the service, which holds the key; the store
/// only links records in order and records the heads.
pub trait AuditChain: Send + Sync {
    /// A record's chain hash, from its fields (including `chain`, `chain_seq` and `prev_hash`).
    fn record_hash(&self, record: &AuditRecord) -> Vec<u8>;
    /// The MAC of a chain's head: the chain's name, its last record's place and hash. Must be
    /// keyed apart from [`Self::record_hash`] so that neither can stand in for the other.
    fn head_mac(&self, chain: &str, seq: u64, hash: &[u8]) -> Vec<u8>;
}

/// One writer's audit chain: its name, the keyed hashes, and where it stands (its last record's
/// place and hash). Only this writer appends to the chain, so the position is kept here rather
/// than read back (and locked) in every transaction; it moves only when a transaction that
/// appended commits ([`Self::advance`]). Several servers on one database each write their own
/// chain, so none waits for another's commit.
///
/// Architecture invariant: a chain has one writer. A second writer of the same chain is refused
/// by the store (the head it expects is not the one recorded), so it cannot fork the chain.
pub struct ChainWriter {
    name: String,
    keys: std::sync::Arc<dyn AuditChain>,
    position: std::sync::Mutex<(u64, Vec<u8>)>,
}

impl ChainWriter {
    /// A new, empty chain called `name` (unused so far: the first append creates it).
    pub fn new(name: impl Into<String>, keys: std::sync::Arc<dyn AuditChain>) -> Self {
        Self { name: name.into(), keys, position: std::sync::Mutex::new((0, Vec::new())) }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The chain's last committed record: its place (0: none yet) and hash.
    pub fn position(&self) -> (u64, Vec<u8>) {
        self.position.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Called by the store once a transaction that appended up to `to` has committed.
    pub(crate) fn advance(&self, to: (u64, Vec<u8>)) {
        *self.position.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

/// The head rows an append writes: the head it expects to find (where the writer stood; empty for
/// a new chain, which has no row yet), the head it leaves, and that head's MAC.
pub(crate) struct LinkedHead {
    pub expected: Vec<u8>,
    pub head: Vec<u8>,
    pub head_mac: Vec<u8>,
}

/// Links `records` after `at` on `chain` (its last record's place and hash): assigns each its
/// chain, place, previous hash and hash, and moves `at` to the last. Returns the head rows to
/// write. Shared by the backends so that both chain alike.
pub(crate) fn link_audit(records: &mut [AuditRecord], at: &mut (u64, Vec<u8>), chain: &ChainWriter) -> LinkedHead {
    let expected = if at.0 == 0 { Vec::new() } else { encode_chain_head(at.0, &at.1) };
    let (seq, prev) = at;
    for rec in records.iter_mut() {
        *seq += 1;
        rec.chain = chain.name.clone();
        rec.chain_seq = *seq;
        rec.prev_hash = std::mem::take(prev);
        rec.hash = chain.keys.record_hash(rec);
        prev.clone_from(&rec.hash);
    }
    LinkedHead { expected, head: encode_chain_head(*seq, prev), head_mac: chain.keys.head_mac(&chain.name, *seq, prev) }
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
    /// Every wrapped data key of every workspace, by workspace and generation.
    async fn list_data_keys(&self) -> Result<Vec<(WorkspaceName, WrappedKey)>>;
    /// Up to `limit` stored versions of the workspace sealed with another data-key generation than
    /// `generation` (destroyed ones, which hold no value, left out), in key order.
    async fn versions_not_on(
        &self,
        workspace: &WorkspaceName,
        generation: u32,
        limit: u32,
    ) -> Result<Vec<StaleVersion>>;
    /// How many stored values of the workspace each data-key generation sealed, by generation.
    async fn count_by_generation(&self, workspace: &WorkspaceName) -> Result<Vec<(u32, u64)>>;

    // ----- environments -----
    async fn create_environment(&self, env: &NewEnvironment) -> Result<()>;
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
    /// The entries `keys` of one vault with their current sealed version, in one query: what
    /// [`Store::get_entry`] and [`Store::read_version`] (with `None`) answer for each key, read
    /// together, so that resolving a whole vault (`tresor run`, `redact`, `render`) costs one
    /// round trip instead of two per entry. Answers in `keys` order, `None` for a key with no
    /// entry; soft-deleted entries are included (their metadata says so). Keys may repeat.
    async fn read_current_many(
        &self,
        vault: &VaultPath,
        keys: &[&str],
    ) -> Result<Vec<Option<(EntryMeta, SealedVersion)>>>;
    /// Every live (not soft-deleted) entry of one vault with its current sealed version, ordered
    /// by key, in one ordered scan: what [`Store::list_entries`] lists with what
    /// [`Store::read_version`] (with `None`) answers for each, read together. Resolving a whole
    /// vault (`tresor run` and `redact` without `--only`) otherwise takes a listing, then an index
    /// lookup per key in each of two tables. Empty for a vault that does not exist.
    async fn read_vault_current(&self, vault: &VaultPath) -> Result<Vec<(EntryMeta, SealedVersion)>>;
    async fn list_versions(&self, path: &EntryPath) -> Result<Vec<VersionMeta>>;
    /// The state of every stored version of an entry, newest first (see [`VersionState`]).
    async fn version_states(&self, path: &EntryPath) -> Result<Vec<(u64, VersionState)>>;
    /// Writes a new version with check-and-set; also revives a soft-deleted entry.
    async fn write_version(&self, new: NewVersion) -> Result<()>;
    /// Runs the steps in order, then appends `audit` (as [`Store::append_audit`] does, on the same
    /// chain as every other append), all in ONE transaction: if any step fails, nothing is kept
    /// (no step, no record) and the first failure is returned; if the records cannot be appended,
    /// nothing is kept either and the error is [`StoreError::AuditAppend`]. Every change the
    /// service makes goes through here, so a change commits with its audit record or not at all;
    /// a declarative config's apply is one batch, so a failure part-way leaves the store as it was.
    async fn apply_batch(&self, ops: Vec<BatchOp>, audit: Vec<AuditRecord>, chain: &ChainWriter) -> Result<()> {
        let group = Group { changes: vec![Batch { ops, audit }], reads: Vec::new(), flush: Flush::Now };
        let mut outcomes = self.apply_group(group, chain).await?;
        outcomes.pop().expect("one outcome per change")
    }
    /// Group commit: many independent changes, then the records of reads, in ONE transaction and
    /// one commit (one flush for all). Each change runs in a savepoint of its own exactly as
    /// [`Store::apply_batch`] runs it alone (its steps, then its records), so a change that fails
    /// is rolled back alone and its error returned in its place while the others commit; each
    /// change still commits with its own records or not at all, and sees the changes before it in
    /// the group (check-and-set and limits included). The outcomes come in the changes' order.
    /// `Err` only when the transaction as a whole failed (begin, the read records' append, the
    /// commit): then nothing of the group was kept. With [`Flush::Deferred`] (a group of read
    /// records only) the commit is handed to the operating system but not yet flushed to disk;
    /// [`Store::flush`] or the next [`Flush::Now`] commit makes it durable.
    async fn apply_group(&self, group: Group, chain: &ChainWriter) -> Result<Vec<Result<()>>>;
    /// Makes every commit so far durable (those made with [`Flush::Deferred`]).
    async fn flush(&self) -> Result<()>;
    /// Marks an entry deleted. Its versions stay until [`Store::purge`].
    async fn soft_delete(&self, path: &EntryPath, now: i64) -> Result<()>;
    async fn undelete(&self, path: &EntryPath, now: i64) -> Result<()>;
    /// Removes an entry and all its versions for good.
    async fn purge(&self, path: &EntryPath) -> Result<()>;
    /// Live (not soft-deleted) entries in a workspace.
    async fn count_entries(&self, workspace: &WorkspaceName) -> Result<u64>;

    // ----- principals and groups -----
    async fn create_principal(&self, p: &NewPrincipal) -> Result<()>;
    async fn list_principals(&self, workspace: &WorkspaceName) -> Result<Vec<PrincipalRecord>>;
    async fn principal_exists(&self, workspace: &WorkspaceName, p: &PrincipalRef) -> Result<bool>;
    /// Deletes a principal with its memberships, grants and tokens.
    async fn delete_principal(&self, workspace: &WorkspaceName, p: &PrincipalRef) -> Result<()>;
    async fn add_member(&self, m: &Membership) -> Result<()>;
    async fn remove_member(&self, m: &Membership) -> Result<()>;
    /// The names of the groups `p` belongs to.
    async fn groups_of(&self, workspace: &WorkspaceName, p: &PrincipalRef) -> Result<Vec<String>>;
    async fn members_of(&self, workspace: &WorkspaceName, group: &str) -> Result<Vec<PrincipalRef>>;

    // ----- tokens -----
    // The writes of tokens, grants and application keys below are batches of one step without
    // records, written once here: the service makes them through `Service::commit`, with their
    // records; these are for tests and tools.
    async fn insert_token(&self, token: &TokenRecord) -> Result<()> {
        self.apply_batch(vec![BatchOp::InsertToken(token.clone())], Vec::new(), &no_records()).await
    }
    async fn get_token(&self, id: &str) -> Result<Option<TokenRecord>>;
    async fn list_tokens(&self, workspace: &WorkspaceName) -> Result<Vec<TokenRecord>>;
    async fn revoke_token(&self, workspace: &WorkspaceName, id: &str, now: i64) -> Result<()> {
        let op = BatchOp::RevokeToken { workspace: workspace.clone(), id: id.to_owned(), now };
        self.apply_batch(vec![op], Vec::new(), &no_records()).await
    }

    // ----- grants -----
    async fn insert_grant(&self, grant: &GrantRecord) -> Result<()> {
        self.apply_batch(vec![BatchOp::InsertGrant(grant.clone())], Vec::new(), &no_records()).await
    }
    async fn list_grants(&self, workspace: &WorkspaceName) -> Result<Vec<GrantRecord>>;
    /// Grants held directly by any of `principals`.
    async fn grants_for(&self, workspace: &WorkspaceName, principals: &[PrincipalRef]) -> Result<Vec<GrantRecord>>;
    async fn delete_grant(&self, workspace: &WorkspaceName, id: &str) -> Result<GrantRecord>;

    // ----- audit -----
    /// Appends records in order to `chain`, in one transaction, linking each to the one before,
    /// and records the chain's new head and its MAC (table `audit_chains`). Refused
    /// ([`StoreError::AuditAppend`]) when the recorded head is not where `chain` stands: another
    /// writer moved it.
    async fn append_audit(&self, records: Vec<AuditRecord>, chain: &ChainWriter) -> Result<()> {
        let group = Group { changes: Vec::new(), reads: records, flush: Flush::Now };
        self.apply_group(group, chain).await.map(drop)
    }
    /// Every chain's recorded head.
    async fn audit_chains(&self) -> Result<Vec<ChainHead>>;
    /// Records with `seq < before` (all when `None`), newest first, at most `limit`: the order
    /// in which `audit verify` walks the log.
    async fn list_audit_desc(&self, before: Option<u64>, limit: u32) -> Result<Vec<AuditRecord>>;
    /// Records with `seq > after`, oldest first, at most `limit`.
    async fn list_audit(&self, after: u64, since: Option<i64>, limit: u32) -> Result<Vec<AuditRecord>>;

    // ----- entry tags (compatibility surfaces) -----
    /// Changes a live entry's tags without writing a new version, in one transaction: removes
    /// the tags equal to one of `remove` (same key and value), then sets each of `upsert`
    /// (replacing a tag with the same key, else appending). Returns the tags now stored;
    /// [`StoreError::NotFound`] if there is no live entry.
    async fn update_tags(&self, path: &EntryPath, upsert: &[Tag], remove: &[Tag]) -> Result<Vec<Tag>>;

    // ----- application access keys -----
    async fn insert_app_key(&self, key: &AppKeyRecord) -> Result<()> {
        self.apply_batch(vec![BatchOp::InsertAppKey(key.clone())], Vec::new(), &no_records()).await
    }
    async fn get_app_key(&self, id: &str) -> Result<Option<AppKeyRecord>>;
    async fn list_app_keys(&self, workspace: &WorkspaceName) -> Result<Vec<AppKeyRecord>>;
    /// Marks a key revoked (the first revocation time is kept); [`StoreError::NotFound`] if the
    /// workspace has no such key. Tokens it was exchanged for are left as they are (the service
    /// revokes those in the same step, [`BatchOp::RevokeAppKey`]'s `minted_tokens_named`).
    async fn revoke_app_key(&self, workspace: &WorkspaceName, id: &str, now: i64) -> Result<()>;

    // ----- backup and restore -----
    /// Every row of every table that holds data (see [`SnapshotTables`]), read in one read
    /// transaction so that it is consistent while other connections and servers keep writing.
    async fn export_snapshot(&self) -> Result<Snapshot>;
    /// Writes every row of `snapshot` in one transaction, meta rows (the wrapped audit key, the
    /// audit head) included, so the result is the source store row for row. Refuses with
    /// [`StoreError::NotEmpty`] if any of those tables holds a row, and with
    /// [`StoreError::InvalidSnapshot`] if the snapshot is from a newer schema; either way nothing
    /// is written.
    async fn import_snapshot(&self, snapshot: &Snapshot) -> Result<()>;

    // ----- changes made by other processes (several servers on one database) -----
    /// A feed of the changes every process commits, for caches to drop what went stale. `None`
    /// when this process is the store's only writer (SQLite), so its own writes are all there is.
    /// Called once, by the service, when it opens.
    fn change_feed(&self) -> Option<ChangeFeed> {
        None
    }
    /// Whether changes are being refused because the store's disk is full (a SQLite server's
    /// disk reserve is released; see `sqlite/reserve.rs`): reads go on. For `/metrics`.
    fn refusing_changes_for_a_full_disk(&self) -> bool {
        false
    }
    /// The number of the newest committed change (see [`ChangeEvent::Changed`]); 0 for a store
    /// without a feed. A reader compares it with the last number its feed delivered to know
    /// whether its caches may be stale right now.
    async fn change_seq(&self) -> Result<u64> {
        Ok(0)
    }
}

/// What a committed change touched, as far as caches care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An entry (any of its environments): its versions, metadata, deletion.
    Entry { workspace: String, vault: String, key: String },
    /// Principals, group members, tokens or grants.
    Access { workspace: String },
    /// Environments or vaults.
    Structure { workspace: String },
    /// Something this version of tresor does not know (a newer node wrote it): trust no cache.
    Everything,
}

/// One event of a [`ChangeFeed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeEvent {
    /// Change number `seq` was committed. Numbers follow commit order without gaps, so a jump
    /// means notifications were missed.
    Changed { seq: u64, change: Change },
    /// The feed is down (its connection dropped): changes may be missed until [`Self::Resumed`].
    Lost,
    /// The feed listens again; every change after `seq` will be delivered, those before may have
    /// been missed.
    Resumed { seq: u64 },
}

/// Committed changes, in order, as a channel the service drains.
pub type ChangeFeed = tokio::sync::mpsc::UnboundedReceiver<ChangeEvent>;

/// An application access key as stored: a public id and the SHA-256 of its secret, never the
/// secret. Exchanged (Conductor's `POST /api/token`) for a short-lived token of `principal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppKeyRecord {
    pub id: String,
    pub workspace: WorkspaceName,
    pub principal: PrincipalRef,
    pub hash: Vec<u8>,
    pub created_at: i64,
    pub created_by: String,
    pub revoked_at: Option<i64>,
    /// The environment the key is bound to; the tokens it is exchanged for carry it.
    pub environment: Option<EnvName>,
}

/// A `LIKE ... ESCAPE '\'` pattern matching keys that start with `prefix` literally: `%`, `_` and
/// `\` are escaped (keys may contain `_`). Shared by the SQL backends.
pub(crate) fn like_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_prefix_escapes_wildcards() {
        assert_eq!(super::like_prefix("a_b%c"), "a\\_b\\%c%");
        assert_eq!(super::like_prefix(""), "%");
    }
}
