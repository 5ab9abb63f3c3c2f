//! Rendering templates: one batch resolution per render, every reference checked against the
//! caller's grants, and either the whole output or an error naming each missing or refused
//! reference with its line:column — never a half-written result.

use crate::{Ctx, Result, Service, ServiceError};
use std::collections::{HashMap, HashSet};
use tresor_model::{EntryPath, EnvName, SecretValue, VaultName};
use tresor_template::{AllowList, CredentialMap, Lookup, Options, Template, TemplateError};
use zeroize::Zeroizing;

/// A render: the template text and how to read its references.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub template: String,
    /// The template is a JSON document: its `{"vault": V, "key": K}` objects are references, and
    /// references inside its strings are rendered JSON-escaped.
    pub json: bool,
    /// Where bare names (`${secret:NAME}`) and `tresor://VAULT/KEY` live.
    pub environment: EnvName,
    pub vault: VaultName,
    /// Digdag's `_secrets`: only names matching one of these globs may be used.
    pub allow: Option<Vec<String>>,
    /// Credential sets, `pg=db1`: `pg.password` is read from `db1.password`.
    pub map: Vec<String>,
}

fn template_error(e: TemplateError) -> ServiceError {
    match e {
        TemplateError::Missing { .. } => ServiceError::NotFound(e.to_string()),
        TemplateError::NotAllowed { .. } => ServiceError::Denied(e.to_string()),
        other => ServiceError::InvalidInput(other.to_string()),
    }
}

impl Service {
    /// Renders a template with the caller's grants.
    pub async fn render(&self, ctx: &Ctx, req: &RenderRequest) -> Result<Zeroizing<String>> {
        Ok(self.render_with_values(ctx, req).await?.0)
    }

    /// Renders, and also returns the values it put in (to mask them in whatever comes back).
    pub(crate) async fn render_with_values(
        &self,
        ctx: &Ctx,
        req: &RenderRequest,
    ) -> Result<(Zeroizing<String>, Vec<SecretValue>)> {
        let template = if req.json { Template::parse_json(&req.template) } else { Template::parse(&req.template) }
            .map_err(template_error)?;
        self.render_template(ctx, req, &template).await
    }

    /// Renders a webhook's headers and body (`req.template`, a JSON document) whose only
    /// references are `{"vault", "key"}` objects: they carry data (a message forwarded from
    /// elsewhere, say), where a `${secret:…}` written by someone else must stay text rather than
    /// become a value sent out.
    pub(crate) async fn render_objects_with_values(
        &self,
        ctx: &Ctx,
        req: &RenderRequest,
    ) -> Result<(Zeroizing<String>, Vec<SecretValue>)> {
        let template = Template::parse_json_objects(&req.template).map_err(template_error)?;
        self.render_template(ctx, req, &template).await
    }

    async fn render_template(
        &self,
        ctx: &Ctx,
        req: &RenderRequest,
        template: &Template<'_>,
    ) -> Result<(Zeroizing<String>, Vec<SecretValue>)> {
        let ws = &ctx.caller.workspace;
        let envs: HashSet<String> = self.store.list_environments(ws).await?.into_iter().map(|e| e.name).collect();
        let map = CredentialMap::from_specs(&req.map).map_err(|e| ServiceError::InvalidInput(e.to_string()))?;
        // `Options` holds a non-`Send` closure: keep it out of the awaits below.
        let planned = {
            let mut options = Options::new().map(map).environments(|name| envs.contains(name));
            if let Some(allow) = &req.allow {
                options = options.allow(AllowList::new(allow.iter().cloned()));
            }
            template.plan(&options)
        };
        let plan = match planned {
            Ok(plan) => plan,
            Err(e @ TemplateError::NotAllowed { .. }) => {
                // Refusals are audited like any denied read.
                for site in e.references() {
                    self.record_outcome::<()>(
                        ctx,
                        "entry.read",
                        &site.reference,
                        Err(ServiceError::Denied(String::new())),
                    )
                    .await
                    .ok();
                }
                return Err(template_error(e));
            }
            Err(e) => return Err(template_error(e)),
        };
        let paths: Vec<(EntryPath, Option<u64>)> = plan
            .lookups()
            .iter()
            .map(|l| {
                let path = EntryPath {
                    workspace: ws.clone(),
                    environment: l.env.clone().unwrap_or_else(|| req.environment.clone()),
                    vault: l.vault.clone().unwrap_or_else(|| req.vault.clone()),
                    key: l.key.clone(),
                };
                (path, l.version)
            })
            .collect();
        let results = self.get_many(ctx, &paths).await;
        let mut values: Vec<Option<SecretValue>> = Vec::with_capacity(results.len());
        let mut denied = Vec::new();
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(resolved) => values.push(Some(resolved.value)),
                Err(ServiceError::NotFound(_)) => values.push(None),
                Err(ServiceError::Denied(_)) => {
                    denied.push(i);
                    values.push(None);
                }
                Err(e) => return Err(e),
            }
        }
        let lookups = plan.lookups();
        if !denied.is_empty() {
            let denied: Vec<_> = denied.iter().map(|&i| &lookups[i]).collect();
            let sites: Vec<String> = template
                .references()
                .iter()
                .enumerate()
                .filter(|(ri, _)| plan.lookup_of(*ri).is_some_and(|l| denied.contains(&l)))
                .map(|(_, r)| format!("{r} at {}", r.position))
                .collect();
            return Err(ServiceError::Denied(format!(
                "{} may not read {}; ask for a read grant",
                ctx.caller.principal,
                sites.join(", ")
            )));
        }
        // Lookup -> its value's index: a template with 10,000 references renders in linear time.
        let index: HashMap<&Lookup, usize> = lookups.iter().enumerate().map(|(i, l)| (l, i)).collect();
        let out = plan
            .render(|lookup| {
                let i = *index.get(lookup)?;
                values[i].as_ref().map(|v| v.expose())
            })
            .map_err(template_error)?;
        Ok((Zeroizing::new(out), values.into_iter().flatten().collect()))
    }
}
