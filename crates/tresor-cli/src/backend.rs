//! What the CLI's verbs run against: the local embedded store, or (with TRESOR_ADDR) a server.
//! Commands are written once against [`Backend`]; each implementation translates to its side.

use crate::error::{CliError, Result};
use async_trait::async_trait;
use tresor_model::{
    Access, EntryKey, EntryMeta, EntryPath, EnvInfo, EnvName, OnManaged, SecretValue, VaultInfo, VaultPath, VersionMeta,
};
use tresor_service::{
    ApplyOptions, Ctx, DesiredState, Listed, Plan, RenderRequest, Resolved, Service, SetEntry, WebhookRequest,
    WebhookResponse,
};
use tresor_store::ListQuery;
use zeroize::Zeroizing;

/// The changes that may touch a vault managed by a declarative config take an [`OnManaged`]:
/// whether the user confirmed releasing it (`config_cmd::confirm_managed`). It is part of the
/// request, so one command's confirmation never carries over to another call.
#[async_trait]
pub trait Backend: Send + Sync {
    async fn set(&self, req: SetEntry, on_managed: OnManaged) -> Result<EntryMeta>;
    /// Writes entries of one vault, all or none.
    async fn set_many(&self, reqs: Vec<SetEntry>, on_managed: OnManaged) -> Result<Vec<EntryMeta>>;
    async fn get(&self, path: &EntryPath, version: Option<u64>) -> Result<Resolved>;
    /// An entry's metadata, never its value.
    async fn describe(&self, path: &EntryPath) -> Result<EntryMeta>;
    async fn list(&self, vault: &VaultPath, query: &ListQuery) -> Result<Vec<Listed>>;
    /// Deletes (or purges) keys of one vault, all or none; answers the keys deleted, each once.
    async fn delete_many(&self, req: DeleteMany<'_>) -> Result<Vec<String>>;
    async fn undelete(&self, path: &EntryPath, on_managed: OnManaged) -> Result<EntryMeta>;
    async fn history(&self, path: &EntryPath) -> Result<Vec<VersionMeta>>;
    async fn restore(&self, path: &EntryPath, version: u64, on_managed: OnManaged) -> Result<EntryMeta>;
    async fn create_vault(&self, vault: &VaultPath) -> Result<()>;
    async fn list_vaults(&self, env: &EnvName) -> Result<Vec<VaultInfo>>;
    async fn delete_vault(&self, vault: &VaultPath, on_managed: OnManaged) -> Result<()>;
    async fn create_environment(&self, env: &EnvName, parent: Option<&EnvName>) -> Result<()>;
    async fn list_environments(&self) -> Result<Vec<EnvInfo>>;
    async fn render(&self, req: RenderRequest) -> Result<Zeroizing<String>>;
    /// Checks that these groups exist, before an entry is written for them (`set -g`).
    async fn check_groups(&self, groups: &[String]) -> Result<()>;
    /// Grants `access` to `group:NAME` on exactly one entry, unless it holds that grant already.
    async fn grant_group(&self, group: &str, path: &EntryPath, access: Access) -> Result<()>;
    /// Resolves many keys of one vault in one batch; any missing or refused key fails the call,
    /// naming every such key.
    async fn get_many(&self, vault: &VaultPath, keys: &[String]) -> Result<Vec<(String, SecretValue)>>;
    /// Resolves every entry of a vault the caller may see (`run` and `redact` without `--only`),
    /// in key order; `check` is given the keys before any value is resolved, and its error ends
    /// the call. Any refused or unreadable entry fails the call, naming every such key.
    async fn get_vault(&self, vault: &VaultPath, check: &KeyCheck<'_>) -> Result<Vec<(String, SecretValue)>>;
    async fn send_webhook(&self, req: WebhookRequest) -> Result<WebhookResponse>;
    /// What applying a declarative config would change.
    async fn plan_config(&self, desired: &DesiredState) -> Result<Plan>;
    /// Applies a declarative config; `confirm` allows deletions and take-overs.
    async fn apply_config(&self, desired: &DesiredState, confirm: bool) -> Result<Plan>;
}

/// What [`Backend::get_vault`] asks of the keys before it resolves their values.
pub type KeyCheck<'a> = dyn Fn(&[&str]) -> Result<()> + Send + Sync + 'a;

/// `rm K1 K2 ...`: keys of one vault to delete (or purge) together.
pub struct DeleteMany<'a> {
    pub vault: &'a VaultPath,
    pub keys: &'a [EntryKey],
    pub purge: bool,
    pub on_managed: OnManaged,
}

/// The error for a batch in which some names were missing or refused.
pub fn batch_error(missing: &[String], denied: &[String]) -> Option<CliError> {
    if !denied.is_empty() {
        return Some(CliError::Service(tresor_service::ServiceError::Denied(format!(
            "no read access to {}; ask for a read grant",
            denied.join(", ")
        ))));
    }
    if !missing.is_empty() {
        return Some(CliError::Service(tresor_service::ServiceError::NotFound(format!(
            "no such entries: {}",
            missing.join(", ")
        ))));
    }
    None
}

/// Local mode: the OS user owns the store, so every operation is allowed. Writes create the
/// environment on first use, so `tresor --local -e prod set ...` just works.
pub struct Local {
    svc: Service,
    ctx: Ctx,
}

impl Local {
    pub fn new(svc: Service, ctx: Ctx) -> Self {
        Self { svc, ctx }
    }

    fn ctx(&self) -> Ctx {
        self.ctx.clone()
    }

    /// The context of a change that may touch a managed vault.
    fn change_ctx(&self, on_managed: OnManaged) -> Ctx {
        self.ctx.clone().releasing(on_managed == OnManaged::Release)
    }
}

#[async_trait]
impl Backend for Local {
    async fn set(&self, req: SetEntry, on_managed: OnManaged) -> Result<EntryMeta> {
        self.svc.ensure_environment(&self.ctx(), &req.path.environment).await?;
        Ok(self.svc.set(&self.change_ctx(on_managed), req).await?)
    }
    async fn set_many(&self, reqs: Vec<SetEntry>, on_managed: OnManaged) -> Result<Vec<EntryMeta>> {
        if let Some(first) = reqs.first() {
            self.svc.ensure_environment(&self.ctx(), &first.path.environment).await?;
        }
        Ok(self.svc.set_many(&self.change_ctx(on_managed), reqs).await?)
    }
    async fn get(&self, path: &EntryPath, version: Option<u64>) -> Result<Resolved> {
        Ok(self.svc.get(&self.ctx(), path, version).await?)
    }
    async fn describe(&self, path: &EntryPath) -> Result<EntryMeta> {
        Ok(self.svc.describe(&self.ctx(), path).await?)
    }
    async fn list(&self, vault: &VaultPath, query: &ListQuery) -> Result<Vec<Listed>> {
        Ok(self.svc.list(&self.ctx(), vault, query).await?)
    }
    async fn delete_many(&self, req: DeleteMany<'_>) -> Result<Vec<String>> {
        let deleted = self.svc.delete_many(&self.change_ctx(req.on_managed), req.vault, req.keys, req.purge).await?;
        Ok(deleted.into_iter().map(|k| k.to_string()).collect())
    }
    async fn undelete(&self, path: &EntryPath, on_managed: OnManaged) -> Result<EntryMeta> {
        Ok(self.svc.undelete(&self.change_ctx(on_managed), path).await?)
    }
    async fn history(&self, path: &EntryPath) -> Result<Vec<VersionMeta>> {
        Ok(self.svc.history(&self.ctx(), path).await?)
    }
    async fn restore(&self, path: &EntryPath, version: u64, on_managed: OnManaged) -> Result<EntryMeta> {
        Ok(self.svc.restore(&self.change_ctx(on_managed), path, version).await?)
    }
    async fn create_vault(&self, vault: &VaultPath) -> Result<()> {
        self.svc.ensure_environment(&self.ctx(), &vault.environment).await?;
        Ok(self.svc.create_vault(&self.ctx(), vault).await?)
    }
    async fn list_vaults(&self, env: &EnvName) -> Result<Vec<VaultInfo>> {
        Ok(self.svc.list_vaults(&self.ctx(), env).await?)
    }
    async fn delete_vault(&self, vault: &VaultPath, on_managed: OnManaged) -> Result<()> {
        Ok(self.svc.delete_vault(&self.change_ctx(on_managed), vault).await?)
    }
    async fn create_environment(&self, env: &EnvName, parent: Option<&EnvName>) -> Result<()> {
        Ok(self.svc.create_environment(&self.ctx(), env, parent).await?)
    }
    async fn list_environments(&self) -> Result<Vec<EnvInfo>> {
        Ok(self.svc.list_environments(&self.ctx()).await?)
    }
    async fn render(&self, req: RenderRequest) -> Result<Zeroizing<String>> {
        Ok(self.svc.render(&self.ctx(), &req).await?)
    }
    async fn check_groups(&self, _groups: &[String]) -> Result<()> {
        Err(groups_need_a_server())
    }
    async fn grant_group(&self, _group: &str, _path: &EntryPath, _access: Access) -> Result<()> {
        Err(groups_need_a_server())
    }
    async fn get_many(&self, vault: &VaultPath, keys: &[String]) -> Result<Vec<(String, SecretValue)>> {
        let paths =
            keys.iter().map(|k| Ok((vault.entry(EntryKey::new(k.as_str())?), None))).collect::<Result<Vec<_>>>()?;
        let resolved = self.svc.get_many(&self.ctx(), &paths).await;
        all_or_none(keys.iter().cloned().zip(resolved))
    }
    async fn get_vault(&self, vault: &VaultPath, check: &KeyCheck<'_>) -> Result<Vec<(String, SecretValue)>> {
        all_or_none(self.svc.get_vault(&self.ctx(), vault, check).await??)
    }
    async fn send_webhook(&self, req: WebhookRequest) -> Result<WebhookResponse> {
        Ok(self.svc.send_webhook(&self.ctx(), req).await?)
    }
    async fn plan_config(&self, desired: &DesiredState) -> Result<Plan> {
        Ok(self.svc.plan_config(&self.ctx(), desired).await?)
    }
    async fn apply_config(&self, desired: &DesiredState, confirm: bool) -> Result<Plan> {
        Ok(self.svc.apply_config(&self.ctx(), desired, ApplyOptions { confirmed: confirm }).await?)
    }
}

/// The values of a batch, or an error naming every key missing or refused.
fn all_or_none(
    resolved: impl IntoIterator<Item = (String, tresor_service::Result<Resolved>)>,
) -> Result<Vec<(String, SecretValue)>> {
    let (mut found, mut missing, mut denied) = (Vec::new(), Vec::new(), Vec::new());
    for (key, r) in resolved {
        match r {
            Ok(resolved) => found.push((key, resolved.value)),
            Err(tresor_service::ServiceError::NotFound(_)) => missing.push(key),
            Err(tresor_service::ServiceError::Denied(_)) => denied.push(key),
            Err(e) => return Err(e.into()),
        }
    }
    match batch_error(&missing, &denied) {
        Some(e) => Err(e),
        None => Ok(found),
    }
}

/// `set -g` in local mode: a local store has one owner and no groups to grant to.
fn groups_need_a_server() -> crate::error::CliError {
    crate::error::CliError::Usage(
        "group permissions (-g GROUP:ACCESS) need a server: a local store has a single owner and no groups; \
         set TRESOR_ADDR and TRESOR_TOKEN, or drop -g"
            .into(),
    )
}
