//! tresor's use cases.
//!
//! Every surface (CLI local mode, the native REST API, the compatibility APIs) calls these methods;
//! none of them talks to the store or the keyring directly. That keeps versioning, limits and
//! encryption in one place, so a compatibility surface cannot bypass them.

mod error;

pub use error::{exit, ServiceError};

use std::sync::Arc;
use tresor_crypto::{DataKey, EntryAad, Keyring, RootKey};
use tresor_model::{
    now_millis, EntryKey, EntryKind, EntryMeta, EntryPath, EnvInfo, EnvName, SecretValue, Tag, VaultInfo, VaultName,
    VaultPath, VersionMeta, WorkspaceName,
};
use tresor_store::{ListQuery, NewVersion, Store, StoreError, WrappedKey};

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

/// Who is acting. Recorded as `edited_by` on every version they write.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
}

impl Actor {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
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

/// An entry as listed: variables carry their value, secrets never do.
#[derive(Debug)]
pub struct Listed {
    pub meta: EntryMeta,
    pub variable_value: Option<SecretValue>,
}

/// A resolved value with the version it came from.
#[derive(Debug)]
pub struct Resolved {
    pub meta: VersionMeta,
    pub value: SecretValue,
}

/// How many times a write without check-and-set retries when another writer got there first.
const WRITE_RETRIES: usize = 16;

/// The service: a store, a keyring and the limits.
pub struct Service {
    store: Arc<dyn Store>,
    keyring: Keyring,
    limits: Limits,
}

impl Service {
    pub fn new(store: Arc<dyn Store>, root: RootKey, limits: Limits) -> Self {
        Self { store, keyring: Keyring::new(root), limits }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
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
        self.ensure_environment(workspace, &EnvName::default_name()).await
    }

    /// Creates an environment (and its `default` vault) unless it exists.
    pub async fn ensure_environment(&self, workspace: &WorkspaceName, env: &EnvName) -> Result<()> {
        if self.store.get_environment(workspace, env).await?.is_none() {
            match self.create_environment(workspace, env, None).await {
                Ok(()) | Err(ServiceError::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Creates an environment with its `default` vault. A branch environment names a parent it
    /// reads through to.
    pub async fn create_environment(
        &self,
        workspace: &WorkspaceName,
        env: &EnvName,
        parent: Option<&EnvName>,
    ) -> Result<()> {
        let now = now_millis();
        self.store.create_environment(workspace, env, parent, now).await?;
        let default_vault =
            VaultPath { workspace: workspace.clone(), environment: env.clone(), vault: VaultName::default_name() };
        match self.store.create_vault(&default_vault, now).await {
            Ok(()) | Err(StoreError::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_environments(&self, workspace: &WorkspaceName) -> Result<Vec<EnvInfo>> {
        Ok(self.store.list_environments(workspace).await?)
    }

    async fn require_environment(&self, workspace: &WorkspaceName, env: &EnvName) -> Result<EnvInfo> {
        self.store.get_environment(workspace, env).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "environment {env} does not exist; create it with `tresor env create {env}`"
            ))
        })
    }

    pub async fn create_vault(&self, vault: &VaultPath) -> Result<()> {
        self.require_environment(&vault.workspace, &vault.environment).await?;
        Ok(self.store.create_vault(vault, now_millis()).await?)
    }

    pub async fn list_vaults(&self, workspace: &WorkspaceName, env: &EnvName) -> Result<Vec<VaultInfo>> {
        self.require_environment(workspace, env).await?;
        Ok(self.store.list_vaults(workspace, env).await?)
    }

    /// Deletes an empty vault. The `default` vault is part of every environment and stays.
    pub async fn delete_vault(&self, vault: &VaultPath) -> Result<()> {
        if vault.vault == VaultName::default_name() {
            return Err(ServiceError::InvalidInput(format!(
                "vault {vault} is the environment's default vault and cannot be deleted"
            )));
        }
        Ok(self.store.delete_vault(vault).await?)
    }

    async fn require_vault(&self, vault: &VaultPath) -> Result<VaultInfo> {
        if let Some(info) = self.store.get_vault(vault).await? {
            return Ok(info);
        }
        self.require_environment(&vault.workspace, &vault.environment).await?;
        Err(ServiceError::NotFound(format!(
            "vault {} does not exist in environment {}; create it with `tresor vault create {}`",
            vault.vault, vault.environment, vault.vault
        )))
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

    /// Writes a new version of an entry, creating it if needed.
    pub async fn set(&self, actor: &Actor, req: SetEntry) -> Result<EntryMeta> {
        let path = &req.path;
        if req.value.len() > self.limits.max_value_bytes {
            return Err(ServiceError::ValueTooLarge {
                key: path.key.to_string(),
                size: req.value.len(),
                limit: self.limits.max_value_bytes,
            });
        }
        self.require_vault(&path.vault_path()).await?;
        let dk = self.data_key_for(&path.workspace, None).await?;
        for _ in 0..WRITE_RETRIES {
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
                if expected != actual {
                    return Err(ServiceError::Conflict(format!(
                        "entry {} is at version {actual}, not {expected}; read it again and retry",
                        path.key
                    )));
                }
            }
            let version = actual + 1;
            let sealed = dk.seal(&Self::aad(path, version, req.kind), req.value.expose())?;
            let write = NewVersion {
                path: path.clone(),
                kind: req.kind,
                version,
                expected_current: actual,
                sealed,
                now: now_millis(),
                edited_by: actor.name.clone(),
                description: req.description.clone(),
                tags: req.tags.clone(),
                expires_at: req.expires_at,
                keep_versions: self.limits.keep_versions,
                max_entries: self.limits.max_entries,
            };
            match self.store.write_version(write).await {
                Ok(()) => return self.describe(path).await,
                Err(StoreError::VersionConflict { .. }) if req.expected_version.is_none() => continue,
                Err(StoreError::EntryLimit { limit }) => {
                    return Err(ServiceError::EntryLimit { workspace: path.workspace.to_string(), limit })
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Conflict(format!("entry {} is being written by many writers at once; retry", path.key)))
    }

    /// An entry's metadata, never its value. Soft-deleted entries are reported as missing.
    pub async fn describe(&self, path: &EntryPath) -> Result<EntryMeta> {
        match self.store.get_entry(path).await? {
            Some(meta) if meta.deleted_at.is_none() => Ok(meta),
            _ => Err(Self::not_found(path)),
        }
    }

    /// Opens an entry's value: the current version, or the one given.
    pub async fn get(&self, path: &EntryPath, version: Option<u64>) -> Result<Resolved> {
        let meta = self.describe(path).await?;
        let sealed = self.store.read_version(path, version).await?.ok_or_else(|| match version {
            Some(v) => ServiceError::NotFound(format!(
                "entry {} has no version {v} (it is at version {}; older versions may have been pruned)",
                path.key, meta.version
            )),
            None => Self::not_found(path),
        })?;
        let generation = Keyring::sealed_generation(&sealed.sealed)?;
        let dk = self.data_key_for(&path.workspace, Some(generation)).await?;
        let value = dk.open(&Self::aad(path, sealed.meta.version, sealed.meta.kind), &sealed.sealed)?;
        Ok(Resolved { meta: sealed.meta, value })
    }

    /// Lists a vault's entries. Variables come with their value; secrets never do.
    pub async fn list(&self, vault: &VaultPath, query: &ListQuery) -> Result<Vec<Listed>> {
        self.require_vault(vault).await?;
        let entries = self.store.list_entries(vault, query).await?;
        let mut out = Vec::with_capacity(entries.len());
        for meta in entries {
            let variable_value = if meta.kind == EntryKind::Variable && meta.deleted_at.is_none() {
                let path = vault.entry(EntryKey::new(meta.key.clone())?);
                Some(self.get(&path, None).await?.value)
            } else {
                None
            };
            out.push(Listed { meta, variable_value });
        }
        Ok(out)
    }

    /// Every stored version of an entry, newest first, without values.
    pub async fn history(&self, path: &EntryPath) -> Result<Vec<VersionMeta>> {
        self.describe(path).await?;
        Ok(self.store.list_versions(path).await?)
    }

    /// Makes an old version current again by writing its value as a new version.
    pub async fn restore(&self, actor: &Actor, path: &EntryPath, version: u64) -> Result<EntryMeta> {
        let old = self.get(path, Some(version)).await?;
        let current = self.describe(path).await?;
        self.set(
            actor,
            SetEntry {
                path: path.clone(),
                kind: old.meta.kind,
                value: old.value,
                expected_version: Some(current.version),
                description: None,
                tags: None,
                expires_at: current.expires_at,
            },
        )
        .await
    }

    /// Soft-deletes an entry: hidden from reads and listings, recoverable with [`Service::undelete`].
    pub async fn delete(&self, path: &EntryPath) -> Result<()> {
        match self.store.soft_delete(path, now_millis()).await {
            Err(StoreError::NotFound(_)) => Err(Self::not_found(path)),
            other => Ok(other?),
        }
    }

    pub async fn undelete(&self, path: &EntryPath) -> Result<EntryMeta> {
        match self.store.undelete(path, now_millis()).await {
            Err(StoreError::NotFound(_)) => {
                return Err(ServiceError::NotFound(format!(
                    "entry {} is not a deleted entry of vault {}/{}",
                    path.key, path.environment, path.vault
                )))
            }
            other => other?,
        }
        self.describe(path).await
    }

    /// Removes an entry, live or soft-deleted, with all its versions. Not recoverable.
    pub async fn purge(&self, path: &EntryPath) -> Result<()> {
        match self.store.purge(path).await {
            Err(StoreError::NotFound(_)) => Err(Self::not_found(path)),
            other => Ok(other?),
        }
    }
}

#[cfg(test)]
mod tests;
