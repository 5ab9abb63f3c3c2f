//! What the CLI's verbs run against: the local embedded store, or (with TRESOR_ADDR) a server.
//! Commands are written once against [`Backend`]; each implementation translates to its side.

use crate::error::Result;
use async_trait::async_trait;
use tresor_model::{EntryMeta, EntryPath, EnvInfo, EnvName, VaultInfo, VaultPath, VersionMeta, WorkspaceName};
use tresor_service::{Actor, Listed, Resolved, Service, SetEntry};
use tresor_store::ListQuery;

#[async_trait]
pub trait Backend: Send + Sync {
    async fn set(&self, req: SetEntry) -> Result<EntryMeta>;
    async fn get(&self, path: &EntryPath, version: Option<u64>) -> Result<Resolved>;
    async fn list(&self, vault: &VaultPath, query: &ListQuery) -> Result<Vec<Listed>>;
    async fn delete(&self, path: &EntryPath) -> Result<()>;
    async fn purge(&self, path: &EntryPath) -> Result<()>;
    async fn undelete(&self, path: &EntryPath) -> Result<EntryMeta>;
    async fn history(&self, path: &EntryPath) -> Result<Vec<VersionMeta>>;
    async fn restore(&self, path: &EntryPath, version: u64) -> Result<EntryMeta>;
    async fn create_vault(&self, vault: &VaultPath) -> Result<()>;
    async fn list_vaults(&self, workspace: &WorkspaceName, env: &EnvName) -> Result<Vec<VaultInfo>>;
    async fn delete_vault(&self, vault: &VaultPath) -> Result<()>;
    async fn create_environment(&self, ws: &WorkspaceName, env: &EnvName, parent: Option<&EnvName>) -> Result<()>;
    async fn list_environments(&self, ws: &WorkspaceName) -> Result<Vec<EnvInfo>>;
}

/// Local mode: the OS user owns the store, so every operation is allowed. Writes create the
/// environment on first use, so `tresor --local -e prod set ...` just works.
pub struct Local {
    pub svc: Service,
    pub actor: Actor,
}

#[async_trait]
impl Backend for Local {
    async fn set(&self, req: SetEntry) -> Result<EntryMeta> {
        self.svc.ensure_environment(&req.path.workspace, &req.path.environment).await?;
        Ok(self.svc.set(&self.actor, req).await?)
    }
    async fn get(&self, path: &EntryPath, version: Option<u64>) -> Result<Resolved> {
        Ok(self.svc.get(path, version).await?)
    }
    async fn list(&self, vault: &VaultPath, query: &ListQuery) -> Result<Vec<Listed>> {
        Ok(self.svc.list(vault, query).await?)
    }
    async fn delete(&self, path: &EntryPath) -> Result<()> {
        Ok(self.svc.delete(path).await?)
    }
    async fn purge(&self, path: &EntryPath) -> Result<()> {
        Ok(self.svc.purge(path).await?)
    }
    async fn undelete(&self, path: &EntryPath) -> Result<EntryMeta> {
        Ok(self.svc.undelete(path).await?)
    }
    async fn history(&self, path: &EntryPath) -> Result<Vec<VersionMeta>> {
        Ok(self.svc.history(path).await?)
    }
    async fn restore(&self, path: &EntryPath, version: u64) -> Result<EntryMeta> {
        Ok(self.svc.restore(&self.actor, path, version).await?)
    }
    async fn create_vault(&self, vault: &VaultPath) -> Result<()> {
        self.svc.ensure_environment(&vault.workspace, &vault.environment).await?;
        Ok(self.svc.create_vault(vault).await?)
    }
    async fn list_vaults(&self, ws: &WorkspaceName, env: &EnvName) -> Result<Vec<VaultInfo>> {
        Ok(self.svc.list_vaults(ws, env).await?)
    }
    async fn delete_vault(&self, vault: &VaultPath) -> Result<()> {
        Ok(self.svc.delete_vault(vault).await?)
    }
    async fn create_environment(&self, ws: &WorkspaceName, env: &EnvName, parent: Option<&EnvName>) -> Result<()> {
        Ok(self.svc.create_environment(ws, env, parent).await?)
    }
    async fn list_environments(&self, ws: &WorkspaceName) -> Result<Vec<EnvInfo>> {
        Ok(self.svc.list_environments(ws).await?)
    }
}
