//! tresor's use cases.
//!
//! Every surface (CLI local mode, the native REST API, the compatibility APIs) calls these methods;
//! none of them talks to the store or the keyring directly. Authorization, audit, limits,
//! versioning and encryption therefore happen in one place, and a compatibility surface cannot
//! bypass them.
//!
//! Each public operation takes a [`Ctx`] (the authenticated caller and the request id), checks the
//! caller's grants, does its work, and records one audit record per entry touched — including
//! refusals — before it answers.

mod access;
mod app_keys;
mod audit;
mod auth;
mod auth_failures;
mod cache;
mod coherence;
mod config;
mod entries;
mod entry_locks;
mod environments;
mod error;
mod keys;
mod render;
mod retry;
mod tags;
mod webhook;

pub use access::OWNER;
pub use app_keys::NewAppKey;
pub use audit::VerifyReport;
pub use auth::{mint_token, parse_token, Binding, Caller, Ctx, MintedToken, TOKEN_PREFIX};
pub use auth_failures::Origin;
pub use config::ApplyOptions;
pub use error::ServiceError;
pub use keys::{Reencrypted, RootRotation};
pub use render::RenderRequest;
pub use retry::{retry_on_conflict, Attempt, WRITE_RETRIES};
pub use tresor_config::{DesiredState, Plan};
pub use tresor_model::ErrorKind;
pub use webhook::{WebhookRequest, WebhookResponse};

use audit::Auditor;
use auth_failures::{AuthFailures, Credential, Noted};
use cache::Cache;
use coherence::Coherence;
use std::sync::Arc;
use tresor_crypto::{DataKey, Keyring, MacKey, RootKey};
use tresor_model::{
    now_millis, Access, EntryKind, EntryMeta, EntryPath, EnvName, SecretValue, Tag, VaultName, VaultPath, VersionMeta,
    WorkspaceName,
};
use tresor_store::{AuditRecord, BatchOp, NewEnvironment, Store, StoreError, WrappedKey};

pub use tresor_store::{
    AppKeyRecord, AuditRecord as AuditEntry, GrantRecord, PrincipalRecord, TokenRecord, VersionChange, VersionState,
};

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Limits enforced on every write, each configurable.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest value accepted, in bytes.
    pub max_value_bytes: usize,
    /// Most live entries per workspace; `None` for no limit.
    pub max_entries: Option<u64>,
    /// Versions kept per entry; older ones are pruned on write.
    pub keep_versions: u32,
    /// Most live secrets a vault may hold after a write that asks for this quota
    /// ([`SetEntry::within_vault_secret_quota`]: the Tinybird-compatible API's create, whose
    /// per-workspace limit is one per environment's default vault); `None` for no quota. Checked by
    /// the store in the write's transaction, so servers sharing a database cannot overshoot it.
    /// Set by `TRESOR_TINYBIRD_MAX_SECRETS` (`tresor serve --tinybird-max-secrets`).
    pub vault_secret_quota: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_value_bytes: 8 * 1024, max_entries: Some(10_000), keep_versions: 20, vault_secret_quota: Some(100) }
    }
}

/// A write of one entry.
#[derive(Debug)]
pub struct SetEntry {
    pub path: EntryPath,
    pub kind: EntryKind,
    pub value: SecretValue,
    /// Check-and-set: write only if the entry is at this version (0: only if it does not exist).
    pub expected_version: Option<u64>,
    pub description: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub expires_at: Option<i64>,
    /// Whether this write is held to [`Limits::vault_secret_quota`] when it adds a live secret.
    pub within_vault_secret_quota: bool,
}

impl SetEntry {
    /// A write of `value` with nothing else asked: no check-and-set, description and tags
    /// kept, no expiry, no quota. Set the other fields with struct update syntax.
    pub fn new(path: EntryPath, kind: EntryKind, value: SecretValue) -> Self {
        SetEntry {
            path,
            kind,
            value,
            expected_version: None,
            description: None,
            tags: None,
            expires_at: None,
            within_vault_secret_quota: false,
        }
    }
}

/// An entry as listed: variables carry their value, secrets never do. `environment` is where the
/// entry lives: a parent's name for entries a branch reads through.
#[derive(Debug)]
pub struct Listed {
    pub meta: EntryMeta,
    pub environment: String,
    pub variable_value: Option<SecretValue>,
}

/// A resolved value with the version it came from.
#[derive(Debug)]
pub struct Resolved {
    pub meta: VersionMeta,
    /// Where the value lives (a parent environment when read through a branch).
    pub environment: String,
    pub value: SecretValue,
}

/// Most entries one [`Service::delete_many`] deletes (`tresor rm K1 K2 ...`, `POST .../delete-entries`).
pub const MAX_DELETE_BATCH: usize = 1000;

/// The longest token name, in bytes (names are printable text: no control characters).
pub const MAX_TOKEN_NAME_LEN: usize = 100;

/// The meta row holding the audit chain's MAC key (wrapped by the root key); present once a
/// service has opened the store.
pub const AUDIT_KEY_META: &str = "audit_mac_key";
const CONFIG_KEY_META: &str = "config_mac_key";

/// Reads the root key again from its provider, given the store's provider record (meta
/// [`ROOT_KEY_PROVIDER_META`], `None` when there is none): how a running server follows a root-key
/// rotation made by another process (see [`Service::with_root_reload`]). Never prompts. The error
/// says what went wrong, without key material.
pub type RootReload = Arc<dyn Fn(Option<Vec<u8>>) -> std::result::Result<RootKey, String> + Send + Sync>;

/// The meta row recording where the root key comes from (written by the CLI, not secret).
pub const ROOT_KEY_PROVIDER_META: &str = "root_key_provider";

/// The service: a store, a keyring, the limits, the audit writer and the caches.
pub struct Service {
    store: Arc<dyn Store>,
    keyring: Keyring,
    limits: Limits,
    auditor: Auditor,
    cache: Arc<Cache>,
    /// Writers of one entry take turns (see `entry_locks.rs`).
    entry_locks: entry_locks::EntryLocks,
    /// Set when other servers write the same store: keeps `cache` in step with them.
    coherence: Option<Arc<Coherence>>,
    /// Keys the per-version value hashes that let a declarative config's plan tell whether a
    /// secret changed without opening it (see `config.rs`). Separate from the audit key so that
    /// neither use can forge the other's hashes.
    config_mac: MacKey,
    /// Destinations webhooks may call (`host`, `host:port`, `*.domain`, IP addresses); empty: none.
    webhook_hosts: Vec<webhook::AllowEntry>,
    /// Failed authentications counted per source and interval (see `auth_failures.rs`).
    auth_failures: Arc<AuthFailures>,
    /// Reads the root key again when a data key does not open with the one held (see `keys.rs`).
    root_reload: Option<RootReload>,
    /// One reload at a time: the requests that find the same new generation wait for the first.
    root_reload_turn: tokio::sync::Mutex<()>,
    /// Writes the counts of closed intervals; stopped with the service.
    _auth_failure_flusher: AbortOnDrop,
}

/// Stops a background task when its owner goes away.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Service {
    /// Opens the service over a store: loads (or creates) the audit key and starts the audit writer.
    /// Also loads (or creates) the key of the per-version value hashes.
    pub async fn open(store: Arc<dyn Store>, root: RootKey, limits: Limits) -> Result<Self> {
        let mac = Self::load_mac(store.as_ref(), &root, AUDIT_KEY_META, "audit").await?;
        let config_mac = Self::load_mac(store.as_ref(), &root, CONFIG_KEY_META, "config").await?;
        // Every data key is unwrapped now, so a wrong root key fails here, before anything is
        // served, and a later re-wrap under a new root key (`rotate_root`) does not disturb this
        // process: it never needs to unwrap a data key it already holds.
        let keyring = Keyring::new(root);
        for (workspace, key) in store.list_data_keys().await? {
            keyring.data_key(workspace.as_str(), &key.wrapped)?;
        }
        let auditor = Auditor::start(store.clone(), mac);
        let cache = Arc::new(Cache::default());
        let coherence = store.change_feed().map(|feed| Coherence::follow(feed, cache.clone()));
        let auth_failures = Arc::new(AuthFailures::default());
        let flusher = auth_failures::spawn_flusher(auth_failures.clone(), auditor.clone());
        Ok(Self {
            store,
            keyring,
            limits,
            auditor,
            cache,
            entry_locks: entry_locks::EntryLocks::new(),
            coherence,
            config_mac,
            webhook_hosts: vec![],
            auth_failures,
            root_reload: None,
            root_reload_turn: tokio::sync::Mutex::new(()),
            _auth_failure_flusher: AbortOnDrop(flusher),
        })
    }

    /// A MAC key stored wrapped under `meta_key`, created on first use.
    async fn load_mac(store: &dyn Store, root: &RootKey, meta_key: &str, label: &str) -> Result<MacKey> {
        Ok(match store.get_meta(meta_key).await? {
            Some(wrapped) => MacKey::unwrap(root, label, &wrapped)?,
            None => {
                let (_, wrapped) = MacKey::generate(root, label)?;
                // Another node may have won the race; use whichever key was stored.
                let stored = store.init_meta(meta_key, &wrapped).await?;
                MacKey::unwrap(root, label, &stored)?
            }
        })
    }

    /// The keyed hash stored with every version: over the entry's identity, kind and value (not
    /// its version number, so an unchanged value hashes the same in every version).
    fn value_mac(&self, path: &EntryPath, kind: EntryKind, value: &SecretValue) -> Vec<u8> {
        self.config_mac
            .mac(&[
                path.workspace.as_str().as_bytes(),
                path.environment.as_str().as_bytes(),
                path.vault.as_str().as_bytes(),
                path.key.as_str().as_bytes(),
                kind.as_str().as_bytes(),
                value.expose(),
            ])
            .to_vec()
    }

    /// Allows server-side webhooks to these destinations: `host`, `*.domain` or an IP address
    /// (`[IPv6]` in brackets), each with an optional `:port`. Loopback, private and link-local
    /// addresses are reached only when listed as addresses. An entry that is none of these is an
    /// error naming it.
    pub fn with_webhook_hosts(mut self, hosts: &[String]) -> Result<Self> {
        self.webhook_hosts = webhook::parse_allow_list(hosts)?;
        Ok(self)
    }

    /// Lets the service read the root key again (through `reload`) when a data key it has not
    /// unwrapped yet does not open with the root key it holds: after `tresor key rotate-root` by
    /// another process, a data-key generation made since is wrapped by the new root key.
    pub fn with_root_reload(mut self, reload: RootReload) -> Self {
        self.root_reload = Some(reload);
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Creates the workspace (with its first data key), its `default` environment and that
    /// environment's `default` vault, as far as they do not exist yet. Then checks that the root key
    /// opens the workspace's data key, so a wrong key fails at start-up, not at the first read.
    pub async fn bootstrap(&self, workspace: &WorkspaceName) -> Result<()> {
        if !self.store.workspace_exists(workspace).await? {
            let dk = DataKey::generate(1)?;
            let wrapped = WrappedKey { generation: 1, wrapped: self.keyring.root().wrap(workspace.as_str(), &dk)? };
            match self.store.create_workspace(workspace, &wrapped, now_millis()).await {
                Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let current = self.store.data_key(workspace, None).await?;
        self.keyring.data_key(workspace.as_str(), &current.wrapped)?;
        self.ensure_environment_unchecked(workspace, &EnvName::default_name()).await
    }

    async fn ensure_environment_unchecked(&self, workspace: &WorkspaceName, env: &EnvName) -> Result<()> {
        if self.store.get_environment(workspace, env).await?.is_some() {
            return Ok(());
        }
        let now = now_millis();
        match self
            .store
            .create_environment(&NewEnvironment { workspace: workspace.clone(), name: env.clone(), parent: None, now })
            .await
        {
            Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.create_default_vault(workspace, env, now).await
    }

    async fn create_default_vault(&self, workspace: &WorkspaceName, env: &EnvName, now: i64) -> Result<()> {
        let default_vault =
            VaultPath { workspace: workspace.clone(), environment: env.clone(), vault: VaultName::default_name() };
        match self.store.create_vault(&default_vault, now).await {
            Ok(()) | Err(StoreError::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    // ----- audit -----

    /// A record of the caller's request. A client's own request id goes into the detail, marked
    /// as the client's: the record's `request_id` is always the server's.
    fn audit_record(ctx: &Ctx, action: &str, target: String, outcome: &str, detail: Option<String>) -> AuditRecord {
        audit::new_record(
            ctx.caller.workspace.to_string(),
            ctx.request_id.clone(),
            ctx.caller.label().to_owned(),
            action,
            target,
            outcome,
            auth_failures::with_client_request_id(detail, ctx.client_request_id.as_deref()),
        )
    }

    /// Runs an operation that changes nothing (a read, a listing, a plan) and records its outcome,
    /// then passes the outcome on. If the record cannot be written, the operation's answer is
    /// replaced by that failure (fail-closed): a value is never handed out unrecorded. Every
    /// use case is written `self.audited(ctx, "entry.read", path, async { .. }).await`.
    async fn audited<T>(
        &self,
        ctx: &Ctx,
        action: &str,
        target: impl ToString,
        operation: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let out = operation.await;
        self.record_outcome(ctx, action, target, out).await
    }

    /// A listing of the workspace's access records (principals, tokens, grants, application
    /// keys): workspace `manage` is checked before `list` runs (a future, so the store is not
    /// touched for a caller without it), and the listing is audited as `action`.
    async fn manage_listing<T>(
        &self,
        ctx: &Ctx,
        action: &str,
        doing: &str,
        list: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T> {
        self.audited(ctx, action, &ctx.caller.workspace, async {
            self.require_workspace(ctx, Access::Manage, doing)?;
            Ok(list.await?)
        })
        .await
    }

    /// Records an outcome already at hand (see [`Service::audited`]).
    async fn record_outcome<T>(&self, ctx: &Ctx, action: &str, target: impl ToString, out: Result<T>) -> Result<T> {
        let outcome = match &out {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        };
        self.auditor.record(Self::audit_record(ctx, action, target.to_string(), outcome, None)).await?;
        out
    }

    /// A successful change's record, committed with the change by [`Service::commit`].
    fn change_record(ctx: &Ctx, action: &str, target: impl ToString) -> AuditRecord {
        Self::audit_record(ctx, action, target.to_string(), "ok", None)
    }

    /// Lets read records be acknowledged once handed to the operating system and flushed within
    /// `delay` (changes are always flushed before their answer); zero: every record is flushed
    /// before its answer. See the audit writer in `audit.rs` and docs/security.md.
    pub fn with_read_flush_delay(self, delay: std::time::Duration) -> Self {
        self.auditor.set_read_flush_delay(delay);
        self
    }

    /// Commits a change: its store steps and its audit records in ONE store transaction, so the
    /// change happens with its record or not at all (fail-closed, as DESIGN.md asks). Every
    /// change the service makes goes through here. The audit writer groups it with the other
    /// changes and read records waiting (group commit, [`Store::apply_group`]): one flush for all,
    /// each change in a savepoint of its own, so it still succeeds or fails alone.
    ///
    /// A step that fails (a conflict, a missing row, a limit) returns its store error and keeps no
    /// record: the caller records the failure through [`Service::audited_change`], as any other
    /// refusal. Records that cannot be appended return [`StoreError::AuditAppend`] (a 500 once
    /// converted) with nothing committed. Cache invalidation is the caller's, after this returns.
    pub(crate) async fn commit(&self, ops: Vec<BatchOp>, records: Vec<AuditRecord>) -> Result<(), StoreError> {
        // The audit writer commits it with whatever else is waiting (group commit).
        self.auditor.commit(ops, records).await
    }

    /// Commits one change to tokens, grants, principals, groups or application keys with its
    /// record, then drops every cached caller, whatever the outcome (a failed commit may still
    /// have raced with a change that did land).
    pub(crate) async fn commit_access(&self, op: BatchOp, record: AuditRecord) -> Result<(), StoreError> {
        let outcome = self.commit(vec![op], vec![record]).await;
        self.cache.invalidate_access();
        outcome
    }

    /// Runs a change made through [`Service::commit`] and passes its outcome on. A success was
    /// recorded in the change's own transaction; only a failure (refused, or failed before or at
    /// its commit) is recorded here, through the audit writer. If that record cannot be written
    /// either, the answer is that failure (fail-closed).
    async fn audited_change<T>(
        &self,
        ctx: &Ctx,
        action: &str,
        target: impl ToString,
        change: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let out = change.await;
        if let Err(e) = &out {
            self.auditor.record(Self::audit_record(ctx, action, target.to_string(), e.outcome(), None)).await?;
        }
        out
    }

    /// [`Service::audited_change`] for a change of many entries committed in one batch: a success
    /// was recorded with the batch, a failure is recorded here once per entry (`targets`), so
    /// each entry's history shows the refused or failed change.
    async fn audited_batch<T>(
        &self,
        ctx: &Ctx,
        action: &str,
        targets: impl Iterator<Item = String>,
        change: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let out = change.await;
        if let Err(e) = &out {
            let records = targets.map(|t| Self::audit_record(ctx, action, t, e.outcome(), None)).collect();
            self.auditor.record_many(records).await?;
        }
        out
    }

    /// Records a failed authentication (no caller is known): `presented_id` is the id part of
    /// what was presented (never its secret), `workspace` the workspace of the token or key it
    /// names, if it names one (the failure is then that workspace's; else it is server-level).
    ///
    /// Refusals of a credential are aggregated (see `auth_failures.rs`): the first of its source
    /// in an interval is recorded now, the rest are counted into one record. Anything else that
    /// went wrong (the store failing) is recorded on its own, as any error is.
    async fn audit_auth_failure(
        &self,
        origin: &Origin,
        credential: Credential,
        presented_id: &str,
        workspace: Option<&WorkspaceName>,
        e: &ServiceError,
    ) -> Result<()> {
        let workspace = workspace.map(WorkspaceName::as_str).unwrap_or_default();
        let unauthenticated = e.kind().is_credential_refusal();
        if unauthenticated
            && self.auth_failures.note(origin, credential, workspace, presented_id, now_millis()) == Noted::Counted
        {
            return Ok(());
        }
        let detail = if unauthenticated {
            format!(
                "from {}; further failures from there in the next {} s are counted into one record",
                origin.peer_label(),
                auth_failures::INTERVAL.as_secs()
            )
        } else {
            format!("from {}", origin.peer_label())
        };
        let rec = audit::new_record(
            workspace.to_owned(),
            origin.request_id.clone(),
            "anonymous".into(),
            credential.action(),
            credential.target(presented_id),
            e.outcome(),
            auth_failures::with_client_request_id(Some(detail), origin.client_request_id.as_deref()),
        );
        self.auditor.record(rec).await
    }

    /// Writes the counts of failed authentications still open (the background task writes them
    /// as their intervals close). Call on a graceful shutdown, after the last request.
    pub async fn flush_auth_failures(&self) {
        auth_failures::write(&self.auditor, self.auth_failures.take_due(now_millis(), true)).await;
    }

    /// Lists audit records (manage on the workspace). `after` is a sequence number cursor.
    ///
    /// Server-level records (failed authentications whose credential names nothing known, of
    /// workspace `""`) concern whoever runs the server, not a tenant: they are shown only to an
    /// admin of the whole `default` workspace (the owner that `tresor init` creates), never to
    /// the managers of every workspace.
    pub async fn audit_log(&self, ctx: &Ctx, after: u64, since: Option<i64>, limit: u32) -> Result<Vec<AuditRecord>> {
        self.require_workspace(ctx, Access::Manage, "read the audit log")?;
        let ws = ctx.caller.workspace.as_str();
        let server_level =
            ctx.caller.workspace == WorkspaceName::default_name() && ctx.caller.allows_workspace(Access::Admin);
        let mut out = self.store.list_audit(after, since, limit).await?;
        out.retain(|r| r.workspace == ws || (server_level && r.workspace.is_empty()));
        Ok(out)
    }

    /// Verifies the audit chain (manage on the workspace).
    pub async fn audit_verify(&self, ctx: &Ctx) -> Result<VerifyReport> {
        self.require_workspace(ctx, Access::Manage, "verify the audit log")?;
        self.auditor.verify(self.store.as_ref()).await
    }

    // ----- authorization helpers -----

    fn denied(ctx: &Ctx, need: Access, what: &str) -> ServiceError {
        ServiceError::Denied(format!(
            "{} lacks {need} access to {what}; ask a workspace admin for a grant",
            ctx.caller.principal
        ))
    }

    fn require_workspace(&self, ctx: &Ctx, need: Access, doing: &str) -> Result<()> {
        if ctx.caller.allows_workspace(need) {
            Ok(())
        } else {
            Err(ServiceError::Denied(format!(
                "{} lacks {need} access on the whole workspace, needed to {doing}",
                ctx.caller.principal
            )))
        }
    }

    fn require_entry(ctx: &Ctx, need: Access, path: &EntryPath) -> Result<()> {
        let (env, vault, key) = (path.environment.as_str(), path.vault.as_str(), path.key.as_str());
        if ctx.caller.allows(need, env, Some(vault), Some(key)) {
            Ok(())
        } else {
            Err(Self::denied(ctx, need, &format!("entry {path}")))
        }
    }

    /// For an entry read through a branch: the caller must see it in the parent where it
    /// lives, too, as reading it needs `read` there. Refused as not found, so that a branch
    /// does not tell which of its parent's keys exist.
    fn require_sees_where_it_lives(ctx: &Ctx, asked: &EntryPath, owner: &EntryPath) -> Result<()> {
        if owner.environment == asked.environment
            || ctx.caller.sees_where_it_lives(owner.environment.as_str(), owner.vault.as_str(), owner.key.as_str())
        {
            Ok(())
        } else {
            Err(Self::not_found(asked))
        }
    }

    fn require_sees(ctx: &Ctx, path: &EntryPath) -> Result<()> {
        if ctx.caller.sees(path.environment.as_str(), path.vault.as_str(), path.key.as_str()) {
            Ok(())
        } else {
            Err(ServiceError::Denied(format!("{} has no access to entry {path}", ctx.caller.principal)))
        }
    }
}

#[cfg(test)]
mod tests;
