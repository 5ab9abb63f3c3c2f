//! Server mode: the CLI's verbs over the native API, through the Rust client crate.

use crate::backend::{Backend, DeleteMany, KeyCheck};
use crate::error::{CliError, Result};
use async_trait::async_trait;
use tresor_client::{Client, DocError, EntryDoc, EntryParts, PutEntries, PutEntry, TagDoc};
use tresor_model::{
    Access, EntryKey, EntryMeta, EntryPath, EnvInfo, EnvName, OnManaged, SecretValue, VaultInfo, VaultPath, VersionMeta,
};
use tresor_service::{DesiredState, Listed, Plan, RenderRequest, Resolved, SetEntry, WebhookRequest, WebhookResponse};
use tresor_store::ListQuery;
use zeroize::Zeroizing;

pub struct Remote {
    pub client: Client,
}

/// The API's body for one write.
fn put_body(req: SetEntry) -> PutEntry {
    PutEntry {
        kind: Some(req.kind.as_str().into()),
        expected_version: req.expected_version,
        description: req.description,
        tags: req.tags.map(|t| t.into_iter().map(TagDoc::from).collect()),
        ..PutEntry::new(&req.value)
    }
}

fn decode(what: &str) -> CliError {
    CliError::Io(format!("unexpected answer from the server: {what}"))
}

fn meta(doc: EntryDoc) -> Result<EntryMeta> {
    Ok(EntryMeta::try_from(doc)?)
}

fn parts(p: &EntryPath) -> (&str, &str, &str) {
    (p.environment.as_str(), p.vault.as_str(), p.key.as_str())
}

#[async_trait]
impl Backend for Remote {
    async fn set(&self, req: SetEntry, on_managed: OnManaged) -> Result<EntryMeta> {
        let (env, vault, key) = parts(&req.path);
        let (env, vault, key) = (env.to_owned(), vault.to_owned(), key.to_owned());
        meta(self.client.put(&env, &vault, &key, &put_body(req), on_managed)?)
    }

    async fn set_many(&self, reqs: Vec<SetEntry>, on_managed: OnManaged) -> Result<Vec<EntryMeta>> {
        let Some(first) = reqs.first() else { return Ok(vec![]) };
        let (env, vault) = (first.path.environment.to_string(), first.path.vault.to_string());
        let mut entries = std::collections::BTreeMap::new();
        for req in reqs {
            if req.path.environment.as_str() != env || req.path.vault.as_str() != vault {
                return Err(CliError::Usage("a bulk write goes into one vault".into()));
            }
            entries.insert(req.path.key.to_string(), put_body(req));
        }
        let docs = self.client.put_many(&env, &vault, &PutEntries { entries }, on_managed)?;
        docs.into_iter().map(meta).collect()
    }

    async fn get(&self, path: &EntryPath, version: Option<u64>) -> Result<Resolved> {
        let (env, vault, key) = parts(path);
        let mut doc = self.client.get_value(env, vault, key, version)?;
        let value = doc.decode().map_err(DocError::from)?;
        let meta =
            VersionMeta { version: doc.version, kind: doc.entry_kind()?, created_at: 0, edited_by: String::new() };
        Ok(Resolved { meta, environment: doc.environment, value })
    }

    async fn describe(&self, path: &EntryPath) -> Result<EntryMeta> {
        let (env, vault, key) = parts(path);
        meta(self.client.describe(env, vault, key)?)
    }

    async fn list(&self, vault: &VaultPath, q: &ListQuery) -> Result<Vec<Listed>> {
        let page = self.client.ls(
            vault.environment.as_str(),
            vault.vault.as_str(),
            &q.prefix,
            q.after.as_deref(),
            q.limit,
            q.include_deleted,
        )?;
        page.entries
            .into_iter()
            .map(|doc| {
                let EntryParts { meta, environment, value } = EntryParts::try_from(doc)?;
                let environment = environment.unwrap_or_else(|| vault.environment.to_string());
                Ok(Listed { meta, environment, variable_value: value })
            })
            .collect()
    }

    async fn delete_many(&self, req: DeleteMany<'_>) -> Result<Vec<String>> {
        let names: Vec<&str> = req.keys.iter().map(EntryKey::as_str).collect();
        let (env, vault) = (req.vault.environment.as_str(), req.vault.vault.as_str());
        Ok(self.client.rm_many(env, vault, &names, req.purge, req.on_managed)?.deleted)
    }

    async fn undelete(&self, path: &EntryPath, on_managed: OnManaged) -> Result<EntryMeta> {
        let (env, vault, key) = parts(path);
        meta(self.client.undelete(env, vault, key, on_managed)?)
    }

    async fn history(&self, path: &EntryPath) -> Result<Vec<VersionMeta>> {
        let (env, vault, key) = parts(path);
        let list = self.client.history(env, vault, key)?;
        Ok(list.versions.into_iter().map(VersionMeta::try_from).collect::<Result<_, DocError>>()?)
    }

    async fn restore(&self, path: &EntryPath, version: u64, on_managed: OnManaged) -> Result<EntryMeta> {
        let (env, vault, key) = parts(path);
        meta(self.client.restore(env, vault, key, version, on_managed)?)
    }

    async fn create_vault(&self, vault: &VaultPath) -> Result<()> {
        Ok(self.client.create_vault(vault.environment.as_str(), vault.vault.as_str())?)
    }

    async fn list_vaults(&self, env: &EnvName) -> Result<Vec<VaultInfo>> {
        let list = self.client.list_vaults(env.as_str())?;
        Ok(list.vaults.into_iter().map(VaultInfo::try_from).collect::<Result<_, DocError>>()?)
    }

    async fn delete_vault(&self, vault: &VaultPath, on_managed: OnManaged) -> Result<()> {
        Ok(self.client.delete_vault(vault.environment.as_str(), vault.vault.as_str(), on_managed)?)
    }

    async fn create_environment(&self, env: &EnvName, parent: Option<&EnvName>) -> Result<()> {
        Ok(self.client.create_env(env.as_str(), parent.map(|p| p.as_str()))?)
    }

    async fn list_environments(&self) -> Result<Vec<EnvInfo>> {
        let list = self.client.list_envs()?;
        Ok(list.environments.into_iter().map(EnvInfo::try_from).collect::<Result<_, DocError>>()?)
    }

    async fn render(&self, req: RenderRequest) -> Result<Zeroizing<String>> {
        let body = tresor_client::RenderBody {
            template: req.template,
            format: Some(if req.json { "json" } else { "text" }.into()),
            environment: Some(req.environment.to_string()),
            vault: Some(req.vault.to_string()),
            allow: req.allow,
            map: req.map,
        };
        Ok(self.client.render(&body)?)
    }

    async fn get_many(&self, vault: &VaultPath, keys: &[String]) -> Result<Vec<(String, SecretValue)>> {
        let names: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut answer = self.client.get_all(vault.environment.as_str(), vault.vault.as_str(), &names)?;
        if let Some(e) = crate::backend::batch_error(&answer.missing, &answer.denied) {
            return Err(e);
        }
        keys.iter()
            .map(|k| {
                let value = answer.take_value(k).ok_or_else(|| decode(&format!("no value for {k}")))?;
                Ok((k.clone(), value.map_err(DocError::from)?))
            })
            .collect()
    }

    async fn get_vault(&self, vault: &VaultPath, check: &KeyCheck<'_>) -> Result<Vec<(String, SecretValue)>> {
        let listed = crate::commands::list_all(self, vault, "", false).await?;
        let keys: Vec<String> = listed.into_iter().map(|(meta, _)| meta.key).collect();
        check(&keys.iter().map(String::as_str).collect::<Vec<_>>())?;
        self.get_many(vault, &keys).await
    }

    async fn send_webhook(&self, req: WebhookRequest) -> Result<WebhookResponse> {
        let body = tresor_client::WebhookBody {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
            environment: Some(req.environment.to_string()),
        };
        let answer = self.client.send_webhook(&body)?;
        Ok(WebhookResponse { status: answer.status, headers: answer.headers.into_iter().collect(), body: answer.body })
    }

    async fn check_groups(&self, groups: &[String]) -> Result<()> {
        let known = self.client.list_principals()?.principals;
        for g in groups {
            let principal = format!("group:{g}");
            if !known.iter().any(|p| p.principal == principal) {
                return Err(CliError::Service(tresor_service::ServiceError::NotFound(format!(
                    "group:{g} does not exist; create it with `tresor principal create group:{g}` \
                     (nothing was written)"
                ))));
            }
        }
        Ok(())
    }

    async fn grant_group(&self, group: &str, path: &EntryPath, access: Access) -> Result<()> {
        let principal = format!("group:{group}");
        let scope = path.scope_text();
        let held = self
            .client
            .list_grants()?
            .grants
            .iter()
            .any(|g| g.principal == principal && g.scope == scope && g.access == access.as_str());
        if !held {
            self.client.create_grant(&principal, &scope, access.as_str())?;
        }
        Ok(())
    }
    async fn plan_config(&self, desired: &DesiredState) -> Result<Plan> {
        Ok(self.client.plan_config(desired)?)
    }
    async fn apply_config(&self, desired: &DesiredState, confirm: bool) -> Result<Plan> {
        Ok(self.client.apply_config(desired, confirm)?)
    }
}
