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
mod error;
mod render;
mod tags;
mod webhook;

pub use access::OWNER;
pub use app_keys::NewAppKey;
pub use audit::VerifyReport;
pub use auth::{mint_token, parse_token, Binding, Caller, Ctx, MintedToken, TOKEN_PREFIX};
pub use auth_failures::Origin;
pub use config::ApplyOptions;
pub use error::ServiceError;
pub use render::RenderRequest;
pub use tresor_config::{DesiredState, Plan};
pub use tresor_model::ErrorKind;
pub use webhook::{WebhookRequest, WebhookResponse};

use audit::Auditor;
use auth_failures::{AuthFailures, Credential, Noted};
use cache::Cache;
use coherence::Coherence;
use std::sync::Arc;
use tresor_crypto::{DataKey, EntryAad, Keyring, MacKey, RootKey};
use tresor_model::{
    now_millis, Access, EntryKey, EntryKind, EntryMeta, EntryPath, EnvInfo, EnvName, SecretValue, Tag, VaultInfo,
    VaultName, VaultPath, VersionMeta, WorkspaceName,
};
use tresor_store::{AuditRecord, BatchOp, ListQuery, NewVersion, Store, StoreError, WrappedKey};

pub use tresor_store::{AppKeyRecord, AuditRecord as AuditEntry, GrantRecord, PrincipalRecord, TokenRecord};

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
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_value_bytes: 8 * 1024, max_entries: Some(10_000), keep_versions: 20 }
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

/// How many times a write without check-and-set retries when another writer got there first.
const WRITE_RETRIES: usize = 16;
/// The meta row holding the audit chain's MAC key (wrapped by the root key); present once a
/// service has opened the store.
pub const AUDIT_KEY_META: &str = "audit_mac_key";
const CONFIG_KEY_META: &str = "config_mac_key";

/// The service: a store, a keyring, the limits, the audit writer and the caches.
pub struct Service {
    store: Arc<dyn Store>,
    keyring: Keyring,
    limits: Limits,
    auditor: Auditor,
    cache: Arc<Cache>,
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
        let auditor = Auditor::start(store.clone(), mac);
        let cache = Arc::new(Cache::default());
        let coherence = store.change_feed().map(|feed| Coherence::follow(feed, cache.clone()));
        let auth_failures = Arc::new(AuthFailures::default());
        let flusher = auth_failures::spawn_flusher(auth_failures.clone(), auditor.clone());
        Ok(Self {
            store,
            keyring: Keyring::new(root),
            limits,
            auditor,
            cache,
            coherence,
            config_mac,
            webhook_hosts: vec![],
            auth_failures,
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
        match self.store.create_environment(workspace, env, None, now).await {
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

    /// Records the outcome of an operation, then passes the outcome on. If the record cannot be
    /// written, the operation's answer is replaced by that failure (fail-closed).
    async fn audited<T>(&self, ctx: &Ctx, action: &str, target: impl ToString, out: Result<T>) -> Result<T> {
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

    /// Commits a change: its store steps and its audit records in ONE store transaction, so the
    /// change happens with its record or not at all (fail-closed, as DESIGN.md asks). Every
    /// change the service makes goes through here; reads keep the group-committing audit writer.
    ///
    /// A step that fails (a conflict, a missing row, a limit) returns its store error and keeps no
    /// record: the caller records the failure through [`Service::audited_change`], as any other
    /// refusal. Records that cannot be appended return [`StoreError::AuditAppend`] (a 500 once
    /// converted) with nothing committed. Cache invalidation is the caller's, after this returns.
    pub(crate) async fn commit(&self, ops: Vec<BatchOp>, records: Vec<AuditRecord>) -> Result<(), StoreError> {
        self.store.apply_batch(ops, records, self.auditor.chain()).await
    }

    /// Records the outcome of a change made through [`Service::commit`], then passes it on. A
    /// success was recorded in the change's own transaction; only a failure (refused, or failed
    /// before or at its commit) is recorded here, through the audit writer. If that record cannot
    /// be written either, the answer is that failure (fail-closed).
    async fn audited_change<T>(&self, ctx: &Ctx, action: &str, target: impl ToString, out: Result<T>) -> Result<T> {
        if let Err(e) = &out {
            self.auditor.record(Self::audit_record(ctx, action, target.to_string(), e.outcome(), None)).await?;
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

    // ----- environments and vaults -----

    /// The environment and its ancestors, nearest first. Branch environments read through to them.
    async fn env_chain(&self, workspace: &WorkspaceName, env: &EnvName) -> Result<Arc<Vec<EnvName>>> {
        if let Some(chain) = self.cache.env_chain(workspace, env) {
            return Ok(chain);
        }
        let mut chain = vec![env.clone()];
        let mut info = self.require_environment(workspace, env).await?;
        while let Some(parent) = info.parent.as_deref() {
            let parent = EnvName::new(parent)?;
            if chain.contains(&parent) || chain.len() > 16 {
                return Err(ServiceError::Storage(format!("environment {env} has a cyclic or too deep parent chain")));
            }
            info = self.require_environment(workspace, &parent).await?;
            chain.push(parent);
        }
        Ok(self.cache.put_env_chain(workspace, env, chain))
    }

    async fn require_environment(&self, workspace: &WorkspaceName, env: &EnvName) -> Result<EnvInfo> {
        self.store.get_environment(workspace, env).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "environment {env} does not exist; create it with `tresor env create {env}`"
            ))
        })
    }

    /// Creates an environment unless it exists (local mode's implicit creation). Needs manage on it.
    pub async fn ensure_environment(&self, ctx: &Ctx, env: &EnvName) -> Result<()> {
        if self.store.get_environment(&ctx.caller.workspace, env).await?.is_some() {
            return Ok(());
        }
        match self.create_environment(ctx, env, None).await {
            Ok(()) | Err(ServiceError::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Creates an environment with its `default` vault. A branch names a parent it reads through to.
    pub async fn create_environment(&self, ctx: &Ctx, env: &EnvName, parent: Option<&EnvName>) -> Result<()> {
        let out = async {
            if !ctx.caller.allows(Access::Manage, env.as_str(), None, None) {
                return Err(Self::denied(ctx, Access::Manage, &format!("environment {env}")));
            }
            // A branch reads its parent's entries through. Reads check the grants where an entry
            // lives, but a branch still exposes the parent's structure to whoever manages the
            // branch, so branching is the parent's managers' decision.
            if let Some(parent) = parent {
                if !ctx.caller.allows(Access::Manage, parent.as_str(), None, None) {
                    return Err(ServiceError::Denied(format!(
                        "{} lacks manage access to environment {parent}, needed to create a branch of it; \
                         ask a workspace admin for a grant on {parent}",
                        ctx.caller.principal
                    )));
                }
            }
            let ws = &ctx.caller.workspace;
            let now = now_millis();
            let default_vault =
                VaultPath { workspace: ws.clone(), environment: env.clone(), vault: VaultName::default_name() };
            let ops = vec![
                BatchOp::CreateEnvironment { workspace: ws.clone(), name: env.clone(), parent: parent.cloned(), now },
                BatchOp::CreateVault { vault: default_vault, now },
            ];
            Ok(self.commit(ops, vec![Self::change_record(ctx, "env.create", env)]).await?)
        }
        .await;
        self.audited_change(ctx, "env.create", env, out).await
    }

    /// Environments in which the caller holds some grant.
    pub async fn list_environments(&self, ctx: &Ctx) -> Result<Vec<EnvInfo>> {
        let mut envs = self.store.list_environments(&ctx.caller.workspace).await?;
        envs.retain(|e| ctx.caller.grants().iter().any(|(s, _)| s.touches_env(&e.name)));
        Ok(envs)
    }

    pub async fn create_vault(&self, ctx: &Ctx, vault: &VaultPath) -> Result<()> {
        let out = async {
            if !ctx.caller.allows(Access::Manage, vault.environment.as_str(), Some(vault.vault.as_str()), None) {
                return Err(Self::denied(ctx, Access::Manage, &format!("vault {vault}")));
            }
            self.require_environment(&vault.workspace, &vault.environment).await?;
            let op = BatchOp::CreateVault { vault: vault.clone(), now: now_millis() };
            Ok(self.commit(vec![op], vec![Self::change_record(ctx, "vault.create", vault)]).await?)
        }
        .await;
        self.audited_change(ctx, "vault.create", vault, out).await
    }

    /// Vaults of an environment that the caller's grants reach into.
    pub async fn list_vaults(&self, ctx: &Ctx, env: &EnvName) -> Result<Vec<VaultInfo>> {
        let ws = &ctx.caller.workspace;
        self.require_environment(ws, env).await?;
        let mut vaults = self.store.list_vaults(ws, env).await?;
        vaults.retain(|v| ctx.caller.touches_vault(env.as_str(), &v.name));
        Ok(vaults)
    }

    /// Deletes an empty vault. The `default` vault is part of every environment and stays.
    pub async fn delete_vault(&self, ctx: &Ctx, vault: &VaultPath) -> Result<()> {
        let out = async {
            if !ctx.caller.allows(Access::Manage, vault.environment.as_str(), Some(vault.vault.as_str()), None) {
                return Err(Self::denied(ctx, Access::Manage, &format!("vault {vault}")));
            }
            if vault.vault == VaultName::default_name() {
                return Err(ServiceError::InvalidInput(format!(
                    "vault {vault} is the environment's default vault and cannot be deleted"
                )));
            }
            self.guard_managed(ctx, vault).await?;
            let op = BatchOp::DeleteVault { vault: vault.clone() };
            Ok(self.commit(vec![op], vec![Self::change_record(ctx, "vault.delete", vault)]).await?)
        }
        .await;
        self.audited_change(ctx, "vault.delete", vault, out).await
    }

    async fn require_vault(&self, vault: &VaultPath) -> Result<VaultInfo> {
        if let Some(info) = self.store.get_vault(vault).await? {
            return Ok(info);
        }
        self.require_environment(&vault.workspace, &vault.environment).await?;
        Err(Self::vault_not_found(vault))
    }

    fn vault_not_found(vault: &VaultPath) -> ServiceError {
        ServiceError::NotFound(format!(
            "vault {} does not exist in environment {}; create it with `tresor vault create {}`",
            vault.vault, vault.environment, vault.vault
        ))
    }

    // ----- entries -----

    fn no_version(path: &EntryPath, version: u64, current: u64) -> ServiceError {
        ServiceError::NotFound(format!(
            "entry {} has no version {version} (it is at version {current}; older versions may have been pruned)",
            path.key
        ))
    }

    fn not_found(path: &EntryPath) -> ServiceError {
        ServiceError::NotFound(format!(
            "entry {} does not exist in vault {}/{}",
            path.key, path.environment, path.vault
        ))
    }

    async fn data_key_for(&self, workspace: &WorkspaceName, generation: Option<u32>) -> Result<Arc<DataKey>> {
        if let Some(g) = generation {
            if let Some(dk) = self.keyring.cached(workspace.as_str(), g) {
                return Ok(dk);
            }
        }
        let wrapped = self.store.data_key(workspace, generation).await?;
        Ok(self.keyring.data_key(workspace.as_str(), &wrapped.wrapped)?)
    }

    fn aad<'a>(path: &'a EntryPath, version: u64, kind: EntryKind) -> EntryAad<'a> {
        EntryAad {
            workspace: path.workspace.as_str(),
            environment: path.environment.as_str(),
            vault: path.vault.as_str(),
            key: path.key.as_str(),
            version,
            kind,
        }
    }

    fn check_workspace(ctx: &Ctx, path: &EntryPath) -> Result<()> {
        if path.workspace == ctx.caller.workspace {
            Ok(())
        } else {
            Err(ServiceError::Denied(format!("{} belongs to workspace {}", ctx.caller.principal, ctx.caller.workspace)))
        }
    }

    /// Writes a new version of an entry, creating it if needed. Needs `write` on the entry.
    pub async fn set(&self, ctx: &Ctx, req: SetEntry) -> Result<EntryMeta> {
        let target = req.path.to_string();
        let out = self.set_inner(ctx, req, "entry.write").await;
        self.audited_change(ctx, "entry.write", target, out).await
    }

    /// Writes the new version, committed with its audit record under `action`.
    async fn set_inner(&self, ctx: &Ctx, req: SetEntry, action: &str) -> Result<EntryMeta> {
        let path = &req.path;
        self.check_write(ctx, &req).await?;
        self.check_vault_write(ctx, &path.vault_path()).await?;
        let dk = self.data_key_for(&path.workspace, None).await?;
        for _ in 0..WRITE_RETRIES {
            let write = BatchOp::WriteVersion(self.next_version(ctx, &req, &dk).await?);
            let outcome = self.commit(vec![write], vec![Self::change_record(ctx, action, path)]).await;
            self.cache.invalidate_entry(path);
            match outcome {
                Ok(()) => return self.describe_here(path).await,
                Err(StoreError::VersionConflict { .. }) if req.expected_version.is_none() => continue,
                Err(e) => return Err(Self::write_error(path, e)),
            }
        }
        Err(ServiceError::Conflict(format!("entry {} is being written by many writers at once; retry", path.key)))
    }

    /// Writes many entries at once, all or none, in one store transaction: a bulk `set @FILE`
    /// or an `import` lands whole or leaves the store as it was. Needs `write` on each entry;
    /// one audit record per entry, all with the batch's outcome.
    pub async fn set_many(&self, ctx: &Ctx, reqs: Vec<SetEntry>) -> Result<Vec<EntryMeta>> {
        let out = self.set_many_inner(ctx, &reqs).await;
        // A success was recorded with the batch; a failure is recorded here, per entry.
        if let Err(e) = &out {
            let records =
                reqs.iter().map(|r| Self::audit_record(ctx, "entry.write", r.path.to_string(), e.outcome(), None));
            self.auditor.record_many(records.collect()).await?;
        }
        out
    }

    async fn set_many_inner(&self, ctx: &Ctx, reqs: &[SetEntry]) -> Result<Vec<EntryMeta>> {
        let mut seen = std::collections::HashSet::new();
        let mut vaults = std::collections::HashSet::new();
        for req in reqs {
            if !seen.insert(&req.path) {
                return Err(ServiceError::InvalidInput(format!("entry {} is given twice", req.path.key)));
            }
            self.check_write(ctx, req).await?;
            let vault = req.path.vault_path();
            if !vaults.contains(&vault) {
                self.check_vault_write(ctx, &vault).await?;
                vaults.insert(vault);
            }
        }
        let Some(first) = reqs.first() else { return Ok(vec![]) };
        let dk = self.data_key_for(&first.path.workspace, None).await?;
        for _ in 0..WRITE_RETRIES {
            let mut ops = Vec::with_capacity(reqs.len());
            for req in reqs {
                ops.push(BatchOp::WriteVersion(self.next_version(ctx, req, &dk).await?));
            }
            let records = reqs.iter().map(|r| Self::change_record(ctx, "entry.write", &r.path)).collect();
            let outcome = self.commit(ops, records).await;
            for req in reqs {
                self.cache.invalidate_entry(&req.path);
            }
            match outcome {
                Ok(()) => {
                    let mut written = Vec::with_capacity(reqs.len());
                    for req in reqs {
                        written.push(self.describe_here(&req.path).await?);
                    }
                    return Ok(written);
                }
                Err(StoreError::VersionConflict { .. }) if reqs.iter().all(|r| r.expected_version.is_none()) => {
                    continue
                }
                Err(e) => return Err(Self::write_error(&first.path, e)),
            }
        }
        Err(ServiceError::Conflict("these entries are being written by many writers at once; retry".into()))
    }

    /// What a write into a vault must pass once, however many entries it writes: the vault
    /// exists, and a managed vault's owner is confirmed away (see `guard_managed`).
    async fn check_vault_write(&self, ctx: &Ctx, vault: &VaultPath) -> Result<()> {
        self.require_vault(vault).await?;
        self.guard_managed(ctx, vault).await
    }

    /// What each entry of a write must pass before anything is sealed: the caller's `write`, the
    /// value's size, and the branch rules (a key of a parent is changed there; on some surfaces
    /// a branch is read-only).
    async fn check_write(&self, ctx: &Ctx, req: &SetEntry) -> Result<()> {
        let path = &req.path;
        Self::check_workspace(ctx, path)?;
        Self::require_entry(ctx, Access::Write, path)?;
        self.check_read_only_branch(ctx, path).await?;
        self.check_value(path, req.kind, &req.value)?;
        self.check_branch_rule(path).await
    }

    /// The refusal a write of `path` would meet on a surface where branches are read-only
    /// (`Ctx::read_only_branches`), before the write itself: for a surface that reads first (the
    /// Tinybird-compatible create looks the name up and counts the secrets) and should answer
    /// this refusal rather than what those reads find. A refusal is audited as the write's.
    pub async fn check_writable(&self, ctx: &Ctx, path: &EntryPath) -> Result<()> {
        self.check_changeable(ctx, path, "entry.write").await
    }

    /// [`Service::check_writable`] for a delete (audited as the delete's refusal).
    pub async fn check_deletable(&self, ctx: &Ctx, path: &EntryPath) -> Result<()> {
        self.check_changeable(ctx, path, "entry.delete").await
    }

    async fn check_changeable(&self, ctx: &Ctx, path: &EntryPath, action: &str) -> Result<()> {
        let out = async {
            Self::check_workspace(ctx, path)?;
            self.check_read_only_branch(ctx, path).await
        }
        .await;
        self.audited_change(ctx, action, path, out).await
    }

    /// On a surface where branches are read-only (`Ctx::read_only_branches`: the compatibility
    /// APIs), refuses every change in a branch environment. Checked by every change of an entry:
    /// writes, restores, deletes, undeletes, purges and tag changes.
    pub(crate) async fn check_read_only_branch(&self, ctx: &Ctx, path: &EntryPath) -> Result<()> {
        if !ctx.read_only_branches {
            return Ok(());
        }
        let chain = self.env_chain(&path.workspace, &path.environment).await?;
        match chain.get(1) {
            Some(parent) => {
                Err(ServiceError::BranchReadOnly { branch: path.environment.to_string(), parent: parent.to_string() })
            }
            None => Ok(()),
        }
    }

    /// The rules every value written obeys, whatever the surface (CLI, native API, bulk files,
    /// the compatibility APIs, a declarative config): at most `max_value_bytes`, and a secret is
    /// never empty. An empty secret is almost always a mistake made upstream (an empty stdin, an
    /// unset variable, a form field left blank) that would otherwise surface later, far away, as
    /// a failed login; refusing it at the write names the entry while the cause is at hand. A
    /// variable is plain configuration, where an empty setting is meaningful (`HTTP_PROXY=`).
    pub(crate) fn check_value(&self, path: &EntryPath, kind: EntryKind, value: &SecretValue) -> Result<()> {
        if value.len() > self.limits.max_value_bytes {
            return Err(ServiceError::ValueTooLarge {
                key: path.key.to_string(),
                size: value.len(),
                limit: self.limits.max_value_bytes,
            });
        }
        if kind == EntryKind::Secret && value.is_empty() {
            return Err(ServiceError::InvalidInput(format!(
                "the value of secret {} is empty; a secret needs a value (an empty one usually comes from an \
                 empty stdin, an unset variable or a blank field): give it its value, or delete the entry if \
                 it is no longer needed",
                path.key
            )));
        }
        Ok(())
    }

    /// A branch environment reads its parents' entries through; a key that a parent holds is
    /// changed in that parent, never shadowed in the branch. Every write path checks this: `set`,
    /// bulk writes and a declarative config's apply.
    pub(crate) async fn check_branch_rule(&self, path: &EntryPath) -> Result<()> {
        let chain = self.env_chain(&path.workspace, &path.environment).await?;
        for parent in chain.iter().skip(1) {
            let in_parent = EntryPath { environment: parent.clone(), ..path.clone() };
            if matches!(self.store.get_entry(&in_parent).await?, Some(m) if m.deleted_at.is_none()) {
                return Err(ServiceError::Conflict(format!(
                    "entry {} belongs to parent environment {parent}, which branch {} reads through; \
                     change it in {parent}",
                    path.key, path.environment
                )));
            }
        }
        Ok(())
    }

    /// Reads the entry's current version *v* and seals the value for *v+1*, to be written with
    /// check-and-set on *v*.
    async fn next_version(&self, ctx: &Ctx, req: &SetEntry, dk: &DataKey) -> Result<NewVersion> {
        let path = &req.path;
        let current = self.store.get_entry(path).await?;
        if let Some(cur) = current.as_ref().filter(|c| c.deleted_at.is_none() && c.kind != req.kind) {
            return Err(ServiceError::KindMismatch {
                what: format!("entry {}", path.key),
                kind_is: if cur.kind == EntryKind::Secret { "a secret" } else { "a variable" },
                hint: "delete it first to store the other kind under this key",
            });
        }
        let actual = current.as_ref().map_or(0, |c| c.version);
        if let Some(expected) = req.expected_version {
            if expected == 0 && actual != 0 {
                let deleted = current.as_ref().is_some_and(|c| c.deleted_at.is_some());
                return Err(Self::exists_for_create_only(path, actual, deleted));
            }
            if expected != actual {
                return Err(ServiceError::Conflict(format!(
                    "entry {} is at version {actual}, not {expected}; read it again and retry",
                    path.key
                )));
            }
        }
        let version = actual + 1;
        Ok(NewVersion {
            path: path.clone(),
            kind: req.kind,
            version,
            expected_current: actual,
            sealed: dk.seal(&Self::aad(path, version, req.kind), req.value.expose())?,
            now: now_millis(),
            edited_by: ctx.caller.label().to_owned(),
            description: req.description.clone(),
            tags: req.tags.clone(),
            expires_at: req.expires_at,
            keep_versions: self.limits.keep_versions,
            max_entries: self.limits.max_entries,
            value_mac: Some(self.value_mac(path, req.kind, &req.value)),
        })
    }

    fn write_error(path: &EntryPath, e: StoreError) -> ServiceError {
        match e {
            StoreError::EntryLimit { limit } => {
                ServiceError::EntryLimit { workspace: path.workspace.to_string(), limit }
            }
            // A create-only write of this entry that lost the race to another writer.
            StoreError::VersionConflict { expected: 0, actual, path: ref conflicting }
                if *conflicting == path.to_string() =>
            {
                Self::exists_for_create_only(path, actual, false)
            }
            e => e.into(),
        }
    }

    /// A check-and-set on version 0 (create only: `--cas 0`, Tailor's `secret create`) refused
    /// because the entry exists; a deleted one exists until purged.
    fn exists_for_create_only(path: &EntryPath, version: u64, deleted: bool) -> ServiceError {
        let state = if deleted {
            format!(
                "exists, deleted (at version {version}; `tresor undelete` recovers it, `tresor rm --purge` removes it)"
            )
        } else {
            format!("already exists (at version {version})")
        };
        ServiceError::Conflict(format!(
            "entry {} {state}: check-and-set version 0 writes only an entry that does not exist yet; to replace \
             it, write without check-and-set or with its current version",
            path.key
        ))
    }

    async fn describe_here(&self, path: &EntryPath) -> Result<EntryMeta> {
        match self.store.get_entry(path).await? {
            Some(meta) if meta.deleted_at.is_none() => Ok(meta),
            _ => Err(Self::not_found(path)),
        }
    }

    /// Finds where an entry lives: the environment itself or, for a branch, the nearest ancestor
    /// holding it. Returns the entry's path there with its metadata.
    async fn locate(&self, path: &EntryPath) -> Result<(EntryPath, EntryMeta)> {
        if let Some(hit) = self.cache.entry(path) {
            return Ok((path.clone(), hit.meta.clone()));
        }
        let chain = self.env_chain(&path.workspace, &path.environment).await?;
        for env in chain.iter() {
            let here = EntryPath { environment: env.clone(), ..path.clone() };
            if let Some(meta) = self.store.get_entry(&here).await? {
                if meta.deleted_at.is_none() {
                    return Ok((here, meta));
                }
            }
        }
        // Not found: say whether the vault itself is missing (a typo in --vault), which `ls`
        // on that vault would tell this caller anyway. Checked only on this path, so a hit costs
        // nothing more.
        for env in chain.iter() {
            if self.store.get_vault(&VaultPath { environment: env.clone(), ..path.vault_path() }).await?.is_some() {
                return Err(Self::not_found(path));
            }
        }
        Err(Self::vault_not_found(&path.vault_path()))
    }

    /// An entry's metadata, never its value. Needs some access to the entry.
    pub async fn describe(&self, ctx: &Ctx, path: &EntryPath) -> Result<EntryMeta> {
        let out = async {
            Self::check_workspace(ctx, path)?;
            Self::require_sees(ctx, path)?;
            let (owner, meta) = self.locate(path).await?;
            Self::require_sees_where_it_lives(ctx, path, &owner)?;
            Ok(meta)
        }
        .await;
        self.audited(ctx, "entry.describe", path, out).await
    }

    /// Opens an entry's value: the current version, or the one given. Needs `read` on the entry
    /// (and, read through a branch, on the entry where it lives).
    pub async fn get(&self, ctx: &Ctx, path: &EntryPath, version: Option<u64>) -> Result<Resolved> {
        let out = self.get_inner(ctx, path, version).await;
        self.audited(ctx, "entry.read", path, out).await
    }

    async fn get_inner(&self, ctx: &Ctx, path: &EntryPath, version: Option<u64>) -> Result<Resolved> {
        Self::check_workspace(ctx, path)?;
        let (env, vault, key) = (path.environment.as_str(), path.vault.as_str(), path.key.as_str());
        if ctx.caller.allows(Access::Read, env, Some(vault), Some(key)) || !ctx.caller.sees(env, vault, key) {
            Self::require_entry(ctx, Access::Read, path)?;
            return self.open_value(ctx, path, version).await;
        }
        self.get_variable(ctx, path, version).await
    }

    /// `get` without `read`: a variable's value is shown to whoever may list it (DESIGN.md: plain
    /// configuration), so every surface that resolves a value answers it too, and `ls` and `get`
    /// agree. A secret is refused before any value is opened: the kind is checked on the stored
    /// version's metadata first.
    async fn get_variable(&self, ctx: &Ctx, path: &EntryPath, version: Option<u64>) -> Result<Resolved> {
        let (owner, meta) = self.locate(path).await?;
        Self::require_sees_where_it_lives(ctx, path, &owner)?;
        let refused = || Self::denied(ctx, Access::Read, &format!("entry {path} (a secret)"));
        if meta.kind != EntryKind::Variable {
            return Err(refused());
        }
        let sealed = self.store.read_version(&owner, version).await?.ok_or_else(|| match version {
            Some(v) => Self::no_version(path, v, meta.version),
            None => Self::not_found(path),
        })?;
        if sealed.meta.kind != EntryKind::Variable {
            return Err(refused());
        }
        self.open_sealed(&owner, &sealed).await
    }

    /// Locates and opens a value; the caller's `read` on the requested path is already checked.
    async fn open_value(&self, ctx: &Ctx, path: &EntryPath, version: Option<u64>) -> Result<Resolved> {
        if version.is_none() {
            // The hot path: the current version of an entry that lives where it was asked for.
            if let Some(hit) = self.cache.entry(path) {
                return self.open_sealed(path, &hit.sealed).await;
            }
        }
        let (owner, meta) = self.locate(path).await?;
        if owner.environment != path.environment
            && !ctx.caller.allows_where_it_lives(
                Access::Read,
                owner.environment.as_str(),
                owner.vault.as_str(),
                owner.key.as_str(),
            )
        {
            return Err(Self::denied(ctx, Access::Read, &format!("entry {owner}")));
        }
        if version.is_none() {
            if let Some(hit) = self.cache.entry(&owner) {
                return self.open_sealed(&owner, &hit.sealed).await;
            }
        }
        let generation = self.cache.generation();
        let sealed = self.store.read_version(&owner, version).await?.ok_or_else(|| match version {
            Some(v) => Self::no_version(path, v, meta.version),
            None => Self::not_found(path),
        })?;
        let resolved = self.open_sealed(&owner, &sealed).await?;
        if version.is_none() {
            self.cache.put_entry(&owner, meta, sealed, generation);
        }
        Ok(resolved)
    }

    async fn open_sealed(&self, owner: &EntryPath, sealed: &tresor_store::SealedVersion) -> Result<Resolved> {
        let generation = Keyring::sealed_generation(&sealed.sealed)?;
        let dk = self.data_key_for(&owner.workspace, Some(generation)).await?;
        let value = dk.open(&Self::aad(owner, sealed.meta.version, sealed.meta.kind), &sealed.sealed)?;
        Ok(Resolved { meta: sealed.meta.clone(), environment: owner.environment.to_string(), value })
    }

    /// Resolves many entries in one call (`get_all`). Each entry needs `read`; entries that are
    /// missing or refused are reported per entry, not as a failure of the batch.
    pub async fn get_many(&self, ctx: &Ctx, paths: &[(EntryPath, Option<u64>)]) -> Vec<Result<Resolved>> {
        let mut out = Vec::with_capacity(paths.len());
        let mut records = Vec::with_capacity(paths.len());
        for (path, version) in paths {
            let r = self.get_inner(ctx, path, *version).await;
            let outcome = match &r {
                Ok(_) => "ok",
                Err(e) => e.outcome(),
            };
            records.push(Self::audit_record(ctx, "entry.read", path.to_string(), outcome, Some("batch".into())));
            out.push(r);
        }
        if let Err(e) = self.auditor.record_many(records).await {
            let msg = e.to_string();
            return paths.iter().map(|_| Err(ServiceError::Storage(msg.clone()))).collect();
        }
        out
    }

    /// Lists a vault's entries that the caller may see. Variables come with their value; secrets
    /// never do. A branch lists its own entries and those it reads through.
    pub async fn list(&self, ctx: &Ctx, vault: &VaultPath, query: &ListQuery) -> Result<Vec<Listed>> {
        let out = self.list_inner(ctx, vault, query).await;
        self.audited(ctx, "entry.list", vault, out).await
    }

    async fn list_inner(&self, ctx: &Ctx, vault: &VaultPath, query: &ListQuery) -> Result<Vec<Listed>> {
        if vault.workspace != ctx.caller.workspace
            || !ctx.caller.touches_vault(vault.environment.as_str(), vault.vault.as_str())
        {
            return Err(ServiceError::Denied(format!("{} has no access to vault {vault}", ctx.caller.principal)));
        }
        let chain = self.env_chain(&vault.workspace, &vault.environment).await?;
        let mut merged: std::collections::BTreeMap<String, (EntryMeta, EnvName)> = Default::default();
        let mut found_vault = false;
        for env in chain.iter() {
            let here = VaultPath { environment: env.clone(), ..vault.clone() };
            if self.store.get_vault(&here).await?.is_none() {
                continue;
            }
            found_vault = true;
            for meta in self.store.list_entries(&here, query).await? {
                merged.entry(meta.key.clone()).or_insert((meta, env.clone()));
            }
        }
        if !found_vault {
            self.require_vault(vault).await?;
        }
        let mut out = Vec::new();
        for (key, (meta, env)) in merged.into_iter().take(query.limit as usize) {
            // Seen where it is listed and where it lives (a parent, read through a branch).
            if !ctx.caller.sees(vault.environment.as_str(), vault.vault.as_str(), &key)
                || !ctx.caller.sees_where_it_lives(env.as_str(), vault.vault.as_str(), &key)
            {
                continue;
            }
            let variable_value = if meta.kind == EntryKind::Variable && meta.deleted_at.is_none() {
                let path = VaultPath { environment: env.clone(), ..vault.clone() }.entry(EntryKey::new(key)?);
                Some(self.open_value(ctx, &path, None).await?.value)
            } else {
                None
            };
            out.push(Listed { meta, environment: env.to_string(), variable_value });
        }
        Ok(out)
    }

    /// Every stored version of an entry, newest first, without values.
    pub async fn history(&self, ctx: &Ctx, path: &EntryPath) -> Result<Vec<VersionMeta>> {
        let out = async {
            Self::check_workspace(ctx, path)?;
            Self::require_sees(ctx, path)?;
            let (owner, _) = self.locate(path).await?;
            Self::require_sees_where_it_lives(ctx, path, &owner)?;
            Ok(self.store.list_versions(&owner).await?)
        }
        .await;
        self.audited(ctx, "entry.history", path, out).await
    }

    /// Makes an old version current again by writing its value as a new version. Needs `write`;
    /// the value is re-sealed inside the service and never leaves it.
    pub async fn restore(&self, ctx: &Ctx, path: &EntryPath, version: u64) -> Result<EntryMeta> {
        let out = async {
            Self::check_workspace(ctx, path)?;
            Self::require_entry(ctx, Access::Write, path)?;
            let current = self.describe_here(path).await?;
            let sealed = self
                .store
                .read_version(path, Some(version))
                .await?
                .ok_or_else(|| Self::no_version(path, version, current.version))?;
            let generation = Keyring::sealed_generation(&sealed.sealed)?;
            let dk = self.data_key_for(&path.workspace, Some(generation)).await?;
            let value = dk.open(&Self::aad(path, sealed.meta.version, sealed.meta.kind), &sealed.sealed)?;
            let req = SetEntry {
                path: path.clone(),
                kind: sealed.meta.kind,
                value,
                expected_version: Some(current.version),
                description: None,
                tags: None,
                expires_at: current.expires_at,
            };
            self.set_inner(ctx, req, "entry.restore").await
        }
        .await;
        self.audited_change(ctx, "entry.restore", path, out).await
    }

    /// Soft-deletes an entry: hidden from reads and listings, recoverable with [`Service::undelete`].
    pub async fn delete(&self, ctx: &Ctx, path: &EntryPath) -> Result<()> {
        let out = async {
            Self::check_workspace(ctx, path)?;
            Self::require_entry(ctx, Access::Write, path)?;
            self.check_read_only_branch(ctx, path).await?;
            self.guard_managed(ctx, &path.vault_path()).await?;
            let op = BatchOp::SoftDelete { path: path.clone(), now: now_millis() };
            let r = self.commit(vec![op], vec![Self::change_record(ctx, "entry.delete", path)]).await;
            self.cache.invalidate_entry(path);
            match r {
                Err(StoreError::NotFound(_)) => Err(Self::not_found(path)),
                other => Ok(other?),
            }
        }
        .await;
        self.audited_change(ctx, "entry.delete", path, out).await
    }

    pub async fn undelete(&self, ctx: &Ctx, path: &EntryPath) -> Result<EntryMeta> {
        let out = async {
            Self::check_workspace(ctx, path)?;
            Self::require_entry(ctx, Access::Write, path)?;
            self.check_read_only_branch(ctx, path).await?;
            self.guard_managed(ctx, &path.vault_path()).await?;
            let op = BatchOp::Undelete { path: path.clone(), now: now_millis() };
            let r = self.commit(vec![op], vec![Self::change_record(ctx, "entry.undelete", path)]).await;
            self.cache.invalidate_entry(path);
            match r {
                Err(StoreError::NotFound(_)) => {
                    return Err(ServiceError::NotFound(format!(
                        "entry {} is not a deleted entry of vault {}/{}",
                        path.key, path.environment, path.vault
                    )))
                }
                other => other?,
            }
            self.describe_here(path).await
        }
        .await;
        self.audited_change(ctx, "entry.undelete", path, out).await
    }

    /// Removes an entry, live or soft-deleted, with all its versions. Not recoverable.
    pub async fn purge(&self, ctx: &Ctx, path: &EntryPath) -> Result<()> {
        let out = async {
            Self::check_workspace(ctx, path)?;
            Self::require_entry(ctx, Access::Write, path)?;
            self.check_read_only_branch(ctx, path).await?;
            self.guard_managed(ctx, &path.vault_path()).await?;
            let op = BatchOp::Purge { path: path.clone() };
            let r = self.commit(vec![op], vec![Self::change_record(ctx, "entry.purge", path)]).await;
            self.cache.invalidate_entry(path);
            match r {
                Err(StoreError::NotFound(_)) => Err(Self::not_found(path)),
                other => Ok(other?),
            }
        }
        .await;
        self.audited_change(ctx, "entry.purge", path, out).await
    }

    /// Deletes many entries of one vault, all or none: soft deletes (recoverable with
    /// [`Service::undelete`]) or, with `purge`, removals with every version. A key given twice
    /// counts once. Every key's `write` is checked first (so a caller learns nothing about keys
    /// it may not write), then that every key exists (live, or for a purge deleted too), and only
    /// then are all of them deleted in ONE store transaction with their audit records. A missing
    /// key fails the call naming every missing key, and nothing is deleted. Answers the keys
    /// deleted, in the order given.
    pub async fn delete_many(
        &self,
        ctx: &Ctx,
        vault: &VaultPath,
        keys: &[EntryKey],
        purge: bool,
    ) -> Result<Vec<EntryKey>> {
        let mut seen = std::collections::HashSet::new();
        let keys: Vec<EntryKey> = keys.iter().filter(|k| seen.insert(*k)).cloned().collect();
        let paths: Vec<EntryPath> = keys.iter().map(|k| vault.entry(k.clone())).collect();
        let action = if purge { "entry.purge" } else { "entry.delete" };
        let out = self.delete_many_inner(ctx, vault, &paths, purge, action).await;
        // A success was recorded with the batch; a failure is recorded here, per entry.
        if let Err(e) = &out {
            let records = paths.iter().map(|p| Self::audit_record(ctx, action, p.to_string(), e.outcome(), None));
            self.auditor.record_many(records.collect()).await?;
        }
        out.map(|()| keys)
    }

    async fn delete_many_inner(
        &self,
        ctx: &Ctx,
        vault: &VaultPath,
        paths: &[EntryPath],
        purge: bool,
        action: &str,
    ) -> Result<()> {
        if paths.is_empty() {
            return Err(ServiceError::InvalidInput("name at least one entry to delete".into()));
        }
        if paths.len() > MAX_DELETE_BATCH {
            return Err(ServiceError::InvalidInput(format!(
                "at most {MAX_DELETE_BATCH} entries can be deleted at once, not {}; delete them in several calls",
                paths.len()
            )));
        }
        // Rights first, every one of them: whether a key exists is nobody's business who may not
        // write it.
        for path in paths {
            Self::check_workspace(ctx, path)?;
            Self::require_entry(ctx, Access::Write, path)?;
        }
        self.require_vault(vault).await?;
        let mut missing = Vec::new();
        for path in paths {
            let exists = match self.store.get_entry(path).await? {
                Some(meta) => purge || meta.deleted_at.is_none(),
                None => false,
            };
            if !exists {
                missing.push(path.key.as_str());
            }
        }
        if !missing.is_empty() {
            let (what, verb) = if missing.len() == 1 { ("entry", "does") } else { ("entries", "do") };
            return Err(ServiceError::NotFound(format!(
                "{what} {} {verb} not exist in vault {}/{}; nothing was deleted",
                missing.join(", "),
                vault.environment,
                vault.vault
            )));
        }
        self.guard_managed(ctx, vault).await?;
        let now = now_millis();
        let ops =
            paths
                .iter()
                .map(|p| {
                    if purge {
                        BatchOp::Purge { path: p.clone() }
                    } else {
                        BatchOp::SoftDelete { path: p.clone(), now }
                    }
                })
                .collect();
        let records = paths.iter().map(|p| Self::change_record(ctx, action, p)).collect();
        let r = self.commit(ops, records).await;
        for path in paths {
            self.cache.invalidate_entry(path);
        }
        match r {
            // Deleted by another writer since the check above: nothing of this batch was.
            Err(StoreError::NotFound(what)) => Err(ServiceError::NotFound(format!(
                "{what} was deleted by another request meanwhile; nothing was deleted"
            ))),
            other => Ok(other?),
        }
    }
}

#[cfg(test)]
mod tests;
