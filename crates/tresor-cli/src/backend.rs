//! What the CLI's verbs run against: the local embedded store, or (with TRESOR_ADDR) a server.
//! Commands are written once against [`Backend`]; each implementation translates to its side.

use crate::error::Result;
use async_trait::async_trait;
use tresor_model::{EntryMeta, EntryPath, EnvInfo, EnvName, VaultInfo, VaultPath, VersionMeta};
use tresor_service::{Ctx, Listed, Resolved, Service, SetEntry};
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
    async fn list_vaults(&self, env: &EnvName) -> Result<Vec<VaultInfo>>;
    async fn delete_vault(&self, vault: &VaultPath) -> Result<()>;
    async fn create_environment(&self, env: &EnvName, parent: Option<&EnvName>) -> Result<()>;
    async fn list_environments(&self) -> Result<Vec<EnvInfo>>;
}

/// Local mode: the OS user owns the store, so every operation is allowed. Writes create the
/// environment on first use, so `tresor --local -e prod set ...` just works.
pub struct Local {
    pub svc: Service,
    pub ctx: Ctx,
}

#[async_trait]
impl Backend for Local {
    async fn set(&self, req: SetEntry) -> Result<EntryMeta> {
        self.svc.ensure_environment(&self.ctx, &req.path.environment).await?;
        Ok(self.svc.set(&self.ctx, req).await?)
    }
    async fn get(&self, path: &EntryPath, version: Option<u64>) -> Result<Resolved> {
        Ok(self.svc.get(&self.ctx, path, version).await?)
    }
    async fn list(&self, vault: &VaultPath, query: &ListQuery) -> Result<Vec<Listed>> {
        Ok(self.svc.list(&self.ctx, vault, query).await?)
    }
    async fn delete(&self, path: &EntryPath) -> Result<()> {
        Ok(self.svc.delete(&self.ctx, path).await?)
    }
    async fn purge(&self, path: &EntryPath) -> Result<()> {
        Ok(self.svc.purge(&self.ctx, path).await?)
    }
    async fn undelete(&self, path: &EntryPath) -> Result<EntryMeta> {
        Ok(self.svc.undelete(&self.ctx, path).await?)
    }
    async fn history(&self, path: &EntryPath) -> Result<Vec<VersionMeta>> {
        Ok(self.svc.history(&self.ctx, path).await?)
    }
    async fn restore(&self, path: &EntryPath, version: u64) -> Result<EntryMeta> {
        Ok(self.svc.restore(&self.ctx, path, version).await?)
    }
    async fn create_vault(&self, vault: &VaultPath) -> Result<()> {
        self.svc.ensure_environment(&self.ctx, &vault.environment).await?;
        Ok(self.svc.create_vault(&self.ctx, vault).await?)
    }
    async fn list_vaults(&self, env: &EnvName) -> Result<Vec<VaultInfo>> {
        Ok(self.svc.list_vaults(&self.ctx, env).await?)
    }
    async fn delete_vault(&self, vault: &VaultPath) -> Result<()> {
        Ok(self.svc.delete_vault(&self.ctx, vault).await?)
    }
    async fn create_environment(&self, env: &EnvName, parent: Option<&EnvName>) -> Result<()> {
        Ok(self.svc.create_environment(&self.ctx, env, parent).await?)
    }
    async fn list_environments(&self) -> Result<Vec<EnvInfo>> {
        Ok(self.svc.list_environments(&self.ctx).await?)
    }
}
