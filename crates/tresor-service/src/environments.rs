//! Environments (and their branches) and the vaults in them: creating, listing, deleting, and the
//! lookups every entry use case starts with (an environment's chain of parents, a vault that must
//! exist).

use crate::*;
use tresor_model::{now_millis, Access, EntryPath, EnvInfo, EnvName, VaultInfo, VaultName, VaultPath, WorkspaceName};
use tresor_store::{BatchOp, NewEnvironment};

impl Service {
    /// The environment and its ancestors, nearest first. Branch environments read through to them.
    pub(crate) async fn env_chain(&self, workspace: &WorkspaceName, env: &EnvName) -> Result<Arc<Vec<EnvName>>> {
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

    pub(crate) async fn require_environment(&self, workspace: &WorkspaceName, env: &EnvName) -> Result<EnvInfo> {
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
        self.audited_change(ctx, "env.create", env, async {
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
                BatchOp::CreateEnvironment(NewEnvironment {
                    workspace: ws.clone(),
                    name: env.clone(),
                    parent: parent.cloned(),
                    now,
                }),
                BatchOp::CreateVault { vault: default_vault, now },
            ];
            Ok(self.commit(ops, vec![Self::change_record(ctx, "env.create", env)]).await?)
        })
        .await
    }

    /// Environments in which the caller holds some grant.
    pub async fn list_environments(&self, ctx: &Ctx) -> Result<Vec<EnvInfo>> {
        let mut envs = self.store.list_environments(&ctx.caller.workspace).await?;
        envs.retain(|e| ctx.caller.grants().iter().any(|(s, _)| s.touches_env(&e.name)));
        Ok(envs)
    }

    pub async fn create_vault(&self, ctx: &Ctx, vault: &VaultPath) -> Result<()> {
        self.audited_change(ctx, "vault.create", vault, async {
            if !ctx.caller.allows(Access::Manage, vault.environment.as_str(), Some(vault.vault.as_str()), None) {
                return Err(Self::denied(ctx, Access::Manage, &format!("vault {vault}")));
            }
            self.require_environment(&vault.workspace, &vault.environment).await?;
            let op = BatchOp::CreateVault { vault: vault.clone(), now: now_millis() };
            Ok(self.commit(vec![op], vec![Self::change_record(ctx, "vault.create", vault)]).await?)
        })
        .await
    }

    /// Vaults of an environment that the caller's grants reach into.
    pub async fn list_vaults(&self, ctx: &Ctx, env: &EnvName) -> Result<Vec<VaultInfo>> {
        let ws = &ctx.caller.workspace;
        self.require_environment(ws, env).await?;
        let mut vaults = self.store.list_vaults(ws, env).await?;
        vaults.retain(|v| ctx.caller.touches_vault(env.as_str(), &v.name));
        Ok(vaults)
    }

    /// The vaults that `env` reads: its own and, for a branch, its parents' (whose entries it
    /// reads through), each name once, nearest first, that the caller's grants reach into in
    /// `env` (the Vault-compatible API's mounts).
    pub async fn list_vaults_through(&self, ctx: &Ctx, env: &EnvName) -> Result<Vec<VaultInfo>> {
        let ws = &ctx.caller.workspace;
        self.require_environment(ws, env).await?;
        let mut seen = std::collections::BTreeMap::new();
        for e in self.env_chain(ws, env).await?.iter() {
            for v in self.store.list_vaults(ws, e).await? {
                if ctx.caller.touches_vault(env.as_str(), &v.name) {
                    seen.entry(v.name.clone()).or_insert(v);
                }
            }
        }
        Ok(seen.into_values().collect())
    }

    /// Deletes an empty vault. The `default` vault is part of every environment and stays.
    pub async fn delete_vault(&self, ctx: &Ctx, vault: &VaultPath) -> Result<()> {
        self.audited_change(ctx, "vault.delete", vault, async {
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
        })
        .await
    }

    pub(crate) async fn require_vault(&self, vault: &VaultPath) -> Result<VaultInfo> {
        if let Some(info) = self.store.get_vault(vault).await? {
            return Ok(info);
        }
        self.require_environment(&vault.workspace, &vault.environment).await?;
        Err(Self::vault_not_found(vault))
    }

    pub(crate) fn vault_not_found(vault: &VaultPath) -> ServiceError {
        ServiceError::NotFound(format!(
            "vault {} does not exist in environment {}; create it with `tresor vault create {}`",
            vault.vault, vault.environment, vault.vault
        ))
    }

    // ----- entries -----

    pub(crate) fn no_version(path: &EntryPath, version: u64, current: u64) -> ServiceError {
        ServiceError::NotFound(format!(
            "entry {} has no version {version} (it is at version {current}; older versions may have been pruned)",
            path.key
        ))
    }

    pub(crate) fn not_found(path: &EntryPath) -> ServiceError {
        ServiceError::NotFound(format!(
            "entry {} does not exist in vault {}/{}",
            path.key, path.environment, path.vault
        ))
    }
}
