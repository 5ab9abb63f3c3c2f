//! Server mode: the CLI's verbs over the native API, through the Rust client crate.

use crate::backend::Backend;
use crate::error::{CliError, Result};
use async_trait::async_trait;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use tresor_client::{Client, EntryDoc, PutEntries, PutEntry, TagDoc};
use tresor_model::{
    parse_rfc3339, Access, EntryKey, EntryKind, EntryMeta, EntryPath, EnvInfo, EnvName, SecretValue, Tag, VaultInfo,
    VaultPath, VersionMeta,
};
use tresor_service::{DesiredState, Listed, Plan, RenderRequest, Resolved, SetEntry, WebhookRequest, WebhookResponse};
use tresor_store::ListQuery;
use zeroize::Zeroizing;

pub struct Remote {
    pub client: Client,
}

/// The API's body for one write.
fn put_body(req: SetEntry) -> PutEntry {
    let (value, value_base64) = match req.value.expose_str() {
        Some(s) => (Some(s.to_owned()), None),
        None => (None, Some(B64.encode(req.value.expose()))),
    };
    PutEntry {
        value,
        value_base64,
        kind: Some(req.kind.as_str().into()),
        expected_version: req.expected_version,
        description: req.description,
        tags: req.tags.map(|t| t.into_iter().map(|t| TagDoc { key: t.key, value: t.value }).collect()),
    }
}

fn decode(what: &str) -> CliError {
    CliError::Io(format!("unexpected answer from the server: {what}"))
}

fn time(s: &str) -> Result<i64> {
    parse_rfc3339(s).ok_or_else(|| decode(&format!("bad time {s:?}")))
}

fn kind(s: &str) -> Result<EntryKind> {
    EntryKind::parse(s).ok_or_else(|| decode(&format!("bad kind {s:?}")))
}

fn value_from(text: Option<String>, b64: Option<String>) -> Result<Option<SecretValue>> {
    match (text, b64) {
        (Some(t), _) => Ok(Some(SecretValue::from(t))),
        (None, Some(b)) => B64.decode(b).map(|v| Some(SecretValue::new(v))).map_err(|_| decode("bad base64")),
        (None, None) => Ok(None),
    }
}

fn meta(doc: EntryDoc) -> Result<(EntryMeta, Option<String>, Option<SecretValue>)> {
    let value = value_from(doc.value, doc.value_base64)?;
    let m = EntryMeta {
        key: doc.key,
        kind: kind(&doc.kind)?,
        version: doc.version,
        created_at: time(&doc.created_at)?,
        updated_at: time(&doc.updated_at)?,
        edited_by: doc.edited_by,
        description: doc.description,
        tags: doc.tags.into_iter().map(|t| Tag { key: t.key, value: t.value }).collect(),
        expires_at: doc.expires_at.as_deref().map(time).transpose()?,
        deleted_at: doc.deleted_at.as_deref().map(time).transpose()?,
    };
    Ok((m, doc.environment, value))
}

fn parts(p: &EntryPath) -> (&str, &str, &str) {
    (p.environment.as_str(), p.vault.as_str(), p.key.as_str())
}

#[async_trait]
impl Backend for Remote {
    async fn set(&self, req: SetEntry) -> Result<EntryMeta> {
        let (env, vault, key) = parts(&req.path);
        let (env, vault, key) = (env.to_owned(), vault.to_owned(), key.to_owned());
        Ok(meta(self.client.put(&env, &vault, &key, &put_body(req))?)?.0)
    }

    async fn set_many(&self, reqs: Vec<SetEntry>) -> Result<Vec<EntryMeta>> {
        let Some(first) = reqs.first() else { return Ok(vec![]) };
        let (env, vault) = (first.path.environment.to_string(), first.path.vault.to_string());
        let mut entries = std::collections::BTreeMap::new();
        for req in reqs {
            if req.path.environment.as_str() != env || req.path.vault.as_str() != vault {
                return Err(CliError::Usage("a bulk write goes into one vault".into()));
            }
            entries.insert(req.path.key.to_string(), put_body(req));
        }
        let docs = self.client.put_many(&env, &vault, &PutEntries { entries })?;
        docs.into_iter().map(|d| Ok(meta(d)?.0)).collect()
    }

    async fn get(&self, path: &EntryPath, version: Option<u64>) -> Result<Resolved> {
        let (env, vault, key) = parts(path);
        let doc = self.client.get_value(env, vault, key, version)?;
        let value = value_from(doc.value, doc.value_base64)?.ok_or_else(|| decode("no value"))?;
        let meta =
            VersionMeta { version: doc.version, kind: kind(&doc.kind)?, created_at: 0, edited_by: String::new() };
        Ok(Resolved { meta, environment: doc.environment, value })
    }

    async fn describe(&self, path: &EntryPath) -> Result<EntryMeta> {
        let (env, vault, key) = parts(path);
        Ok(meta(self.client.describe(env, vault, key)?)?.0)
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
                let (meta, env, variable_value) = meta(doc)?;
                Ok(Listed { meta, environment: env.unwrap_or_else(|| vault.environment.to_string()), variable_value })
            })
            .collect()
    }

    async fn delete_many(&self, vault: &VaultPath, keys: &[EntryKey], purge: bool) -> Result<Vec<String>> {
        let names: Vec<&str> = keys.iter().map(EntryKey::as_str).collect();
        Ok(self.client.rm_many(vault.environment.as_str(), vault.vault.as_str(), &names, purge)?.deleted)
    }

    async fn undelete(&self, path: &EntryPath) -> Result<EntryMeta> {
        let (env, vault, key) = parts(path);
        Ok(meta(self.client.undelete(env, vault, key)?)?.0)
    }

    async fn history(&self, path: &EntryPath) -> Result<Vec<VersionMeta>> {
        let (env, vault, key) = parts(path);
        let doc = self.client.history(env, vault, key)?;
        let versions = doc["versions"].as_array().ok_or_else(|| decode("no versions"))?;
        versions
            .iter()
            .map(|v| {
                Ok(VersionMeta {
                    version: v["version"].as_u64().ok_or_else(|| decode("version"))?,
                    kind: kind(v["kind"].as_str().unwrap_or_default())?,
                    created_at: time(v["created_at"].as_str().unwrap_or_default())?,
                    edited_by: v["edited_by"].as_str().unwrap_or_default().to_owned(),
                })
            })
            .collect()
    }

    async fn restore(&self, path: &EntryPath, version: u64) -> Result<EntryMeta> {
        let (env, vault, key) = parts(path);
        Ok(meta(self.client.restore(env, vault, key, version)?)?.0)
    }

    async fn create_vault(&self, vault: &VaultPath) -> Result<()> {
        Ok(self.client.create_vault(vault.environment.as_str(), vault.vault.as_str())?)
    }

    async fn list_vaults(&self, env: &EnvName) -> Result<Vec<VaultInfo>> {
        let doc = self.client.list_vaults(env.as_str())?;
        let vaults = doc["vaults"].as_array().ok_or_else(|| decode("no vaults"))?;
        vaults
            .iter()
            .map(|v| {
                Ok(VaultInfo {
                    name: v["name"].as_str().unwrap_or_default().into(),
                    environment: v["environment"].as_str().unwrap_or_default().into(),
                    created_at: time(v["created_at"].as_str().unwrap_or_default())?,
                    managed_by: v["managed_by"].as_str().map(Into::into),
                    managed_at: v["managed_at"].as_str().map(time).transpose()?,
                    entries: v["entries"].as_u64().unwrap_or(0),
                })
            })
            .collect()
    }

    async fn delete_vault(&self, vault: &VaultPath) -> Result<()> {
        Ok(self.client.delete_vault(vault.environment.as_str(), vault.vault.as_str())?)
    }

    async fn create_environment(&self, env: &EnvName, parent: Option<&EnvName>) -> Result<()> {
        Ok(self.client.create_env(env.as_str(), parent.map(|p| p.as_str()))?)
    }

    async fn list_environments(&self) -> Result<Vec<EnvInfo>> {
        let doc = self.client.list_envs()?;
        let envs = doc["environments"].as_array().ok_or_else(|| decode("no environments"))?;
        envs.iter()
            .map(|e| {
                Ok(EnvInfo {
                    name: e["name"].as_str().unwrap_or_default().into(),
                    parent: e["parent"].as_str().map(Into::into),
                    created_at: time(e["created_at"].as_str().unwrap_or_default())?,
                })
            })
            .collect()
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
                let text = answer.values.remove(k);
                let b64 = answer.values_base64.remove(k);
                let value = value_from(text, b64)?.ok_or_else(|| decode(&format!("no value for {k}")))?;
                Ok((k.clone(), value))
            })
            .collect()
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
        let doc = self.client.list_principals()?;
        let known: Vec<&str> = doc["principals"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["principal"].as_str()).collect())
            .unwrap_or_default();
        for g in groups {
            if !known.contains(&format!("group:{g}").as_str()) {
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
        let scope = format!("{}/{}/{}", path.environment, path.vault, path.key);
        let grants = self.client.list_grants()?;
        let held = grants["grants"].as_array().into_iter().flatten().any(|g| {
            g["principal"] == principal.as_str() && g["scope"] == scope.as_str() && g["access"] == access.as_str()
        });
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
    fn release_ownership(&self) {
        self.client.set_release_ownership(true);
    }
}
