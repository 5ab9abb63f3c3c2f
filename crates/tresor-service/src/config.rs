//! Declarative config: plan and apply a [`DesiredState`], and the ownership of managed vaults.
//!
//! A vault declared in a config is *managed* by it (`vaults.managed_by` = the config's name,
//! `managed_at` = when): apply makes it match the file exactly, soft-deleting entries the file
//! does not list. Vaults not in the file are left alone.
//!
//! Comparing secrets needs no `read` grant and never opens a value outside the service: each
//! version stores a keyed hash of its identity and value (`value_mac`, see `Service::value_mac`),
//! compared in constant time with the hash of the desired value. Versions written before hashes
//! were stored are opened and compared inside the service.
//!
//! Grants: a grant in the file is created when no grant with the same principal, scope and access
//! exists. A grant the file does not list is deleted only when its scope lies entirely inside a
//! vault the file declares (`ENV/VAULT/...` with literal ENV and VAULT): the config manages those
//! vaults, so it manages who may reach into them. Grants on other scopes are never touched.
//!
//! Apply computes the plan, seals the values (deciding version numbers: current *v*, seal for
//! *v+1*, check-and-set on *v*) and submits ONE [`Store::apply_batch`] with one audit record per
//! change (never a value): a failure part-way (the entry limit, a concurrent write, an audit record
//! that cannot be written) leaves the store as it was. Then it invalidates the caches of
//! everything touched.

use crate::auth::Ctx;
use crate::{access::new_id, Result, Service, ServiceError};
use std::collections::BTreeMap;
use tresor_config::{Change, ChangeOp, DesiredGrant, DesiredState, Plan, PlanTarget};
use tresor_crypto::{ct_eq, Keyring};
use tresor_model::{
    format_rfc3339, now_millis, Access, EntryKey, EntryKind, EntryMeta, EntryPath, EnvName, PrincipalRef, Scope,
    SecretValue, VaultName, VaultPath,
};
use tresor_store::{BatchOp, GrantRecord, ListQuery, NewEnvironment, NewVersion, StoreError};

/// How apply may proceed.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// The caller confirmed the changes that need it: deletions, and taking over vaults that are
    /// unmanaged or owned by another config. Without it such a plan is refused, nothing applied.
    pub confirmed: bool,
}

/// A plan with the batch that carries it out.
struct Planned {
    plan: Plan,
    ops: Vec<BatchOp>,
    touched: Vec<EntryPath>,
    grants_changed: bool,
}

impl Planned {
    fn change(&mut self, op: ChangeOp, target: PlanTarget, name: String, detail: Option<String>, confirm: bool) {
        self.plan.changes.push(Change { op, target, name, detail, confirm });
    }
}

/// How a plan shows a secret the caller may write but not read: it is written on apply, since
/// telling whether it changed would tell whether the file's value is the stored one.
pub const NOT_COMPARED: &str = "secret: will be written, not compared: no read access";

fn invalid(msg: String) -> ServiceError {
    ServiceError::InvalidInput(msg)
}

impl Service {
    /// Refuses a change to a vault owned by a declarative config unless the request confirms it;
    /// a confirmed change releases the vault first (audited as `vault.release`).
    pub(crate) async fn guard_managed(&self, ctx: &Ctx, vault: &VaultPath) -> Result<()> {
        let Some(info) = self.store.get_vault(vault).await? else { return Ok(()) };
        let Some(config) = info.managed_by else { return Ok(()) };
        if !ctx.release_ownership {
            return Err(ServiceError::Managed {
                vault: vault.to_string(),
                config,
                confirmable: ctx.can_confirm_release,
            });
        }
        let release = BatchOp::SetVaultOwner { vault: vault.clone(), managed_by: None, at: now_millis() };
        let detail = Some(format!("released from config {config}"));
        let record = Self::audit_record(ctx, "vault.release", vault.to_string(), "ok", detail.clone());
        let out = self.commit(vec![release], vec![record]).await.map_err(ServiceError::from);
        if out.is_err() {
            self.auditor.record(Self::audit_record(ctx, "vault.release", vault.to_string(), "error", detail)).await?;
        }
        out
    }

    /// What applying `desired` would change. Needs the rights apply needs (manage on the vaults
    /// and environments it creates or takes over, write on the entries it changes, manage on the
    /// workspace when grants change), never `read`.
    pub async fn plan_config(&self, ctx: &Ctx, desired: &DesiredState) -> Result<Plan> {
        let out = self.compute(ctx, desired, false).await.map(|p| p.plan);
        self.record_outcome(ctx, "config.plan", format!("config {}", desired.name), out).await
    }

    /// Makes the store match `desired` in one transaction and answers the plan it applied.
    pub async fn apply_config(&self, ctx: &Ctx, desired: &DesiredState, opts: ApplyOptions) -> Result<Plan> {
        let target = format!("config {}", desired.name);
        let planned = match self.compute(ctx, desired, true).await {
            Ok(p) => p,
            Err(e) => return self.record_outcome(ctx, "config.apply", target, Err(e)).await,
        };
        let unconfirmed: Vec<String> =
            planned.plan.to_confirm().map(|c| format!("{} {} {}", c.op.symbol(), c.target, c.name)).collect();
        if !opts.confirmed && !unconfirmed.is_empty() {
            let e = ServiceError::Conflict(format!(
                "applying config {} needs confirmation for: {}; review `tresor plan`, then confirm \
                 (CLI: --yes or answer the prompt; API: \"confirm\": true)",
                desired.name,
                unconfirmed.join(", ")
            ));
            return self.record_outcome(ctx, "config.apply", target, Err(e)).await;
        }
        let Planned { mut plan, ops, touched, grants_changed } = planned;
        // One record for the apply and one per change, committed with the changes.
        let detail = || Some(format!("config {}", desired.name));
        let mut records = vec![Self::audit_record(ctx, "config.apply", target.clone(), "ok", detail())];
        for c in &plan.changes {
            let verb = match c.op {
                ChangeOp::Create => "create",
                ChangeOp::Update => "update",
                ChangeOp::Delete => "delete",
            };
            let action = format!("config.{}.{verb}", c.target);
            records.push(Self::audit_record(ctx, &action, c.name.clone(), "ok", detail()));
        }
        let result = self.commit(ops, records).await;
        for path in &touched {
            self.cache.invalidate_entry(path);
        }
        if grants_changed {
            self.cache.invalidate_access();
        }
        if let Err(e) = result {
            let source = Box::new(match e {
                StoreError::EntryLimit { limit } => {
                    ServiceError::EntryLimit { workspace: ctx.caller.workspace.to_string(), limit }
                }
                e @ StoreError::VersionConflict { .. } => ServiceError::Conflict(format!(
                    "{e}; another writer changed the store during the apply, run it again"
                )),
                other => other.into(),
            });
            let e = ServiceError::ApplyFailed { config: desired.name.clone(), source };
            return self.record_outcome(ctx, "config.apply", target, Err(e)).await;
        }
        plan.applied = true;
        Ok(plan)
    }

    async fn compute(&self, ctx: &Ctx, desired: &DesiredState, build: bool) -> Result<Planned> {
        let ws = ctx.caller.workspace.clone();
        let name = tresor_model::WorkspaceName::new(desired.name.as_str())
            .map_err(|_| invalid(format!("config name {:?}: use 1 to 64 letters, digits, '_' or '-'", desired.name)))?
            .to_string();
        let now = now_millis();
        let mut p = Planned {
            plan: Plan { config: name.clone(), changes: vec![], applied: false },
            ops: vec![],
            touched: vec![],
            grants_changed: false,
        };
        let need = |ok: bool, access: Access, what: String| -> Result<()> {
            if ok {
                Ok(())
            } else {
                Err(Self::denied(ctx, access, &what))
            }
        };

        // Every right the request needs is checked before anything stored is compared or listed,
        // so that a refusal (or a plan) says nothing about values or entries the caller may not
        // see: see `require_config_rights`.
        self.require_config_rights(ctx, desired)?;

        // Environments.
        let existing_envs: Vec<String> = self.store.list_environments(&ws).await?.into_iter().map(|e| e.name).collect();
        let mut new_envs = Vec::new();
        for env in &desired.environments {
            let env = EnvName::new(env.as_str())?;
            if existing_envs.iter().any(|e| e == env.as_str()) || new_envs.contains(&env) {
                continue;
            }
            need(
                ctx.caller.allows(Access::Manage, env.as_str(), None, None),
                Access::Manage,
                format!("environment {env}"),
            )?;
            p.change(ChangeOp::Create, PlanTarget::Environment, env.to_string(), None, false);
            p.ops.push(BatchOp::CreateEnvironment(NewEnvironment {
                workspace: ws.clone(),
                name: env.clone(),
                parent: None,
                now,
            }));
            let default =
                VaultPath { workspace: ws.clone(), environment: env.clone(), vault: VaultName::default_name() };
            p.ops.push(BatchOp::CreateVault { vault: default, now });
            new_envs.push(env);
        }

        // Vaults and their entries.
        let dk = if build { Some(self.data_key_for(&ws, None).await?) } else { None };
        let mut declared: Vec<(String, String)> = Vec::new();
        for v in &desired.vaults {
            let vp = VaultPath {
                workspace: ws.clone(),
                environment: EnvName::new(v.environment.as_str())?,
                vault: VaultName::new(v.name.as_str())?,
            };
            let (env, vname) = (vp.environment.as_str(), vp.vault.as_str());
            if !new_envs.contains(&vp.environment) && !existing_envs.iter().any(|e| e == env) {
                return Err(invalid(format!(
                    "vault {vp}: environment {env} is neither listed under `environments` nor existing"
                )));
            }
            declared.push((env.to_owned(), vname.to_owned()));
            let manage_ok = ctx.caller.allows(Access::Manage, env, Some(vname), None);
            let info = if new_envs.contains(&vp.environment) { None } else { self.store.get_vault(&vp).await? };
            let default_of_new_env = new_envs.contains(&vp.environment) && vp.vault == VaultName::default_name();
            let owner = BatchOp::SetVaultOwner { vault: vp.clone(), managed_by: Some(name.clone()), at: now };
            match &info {
                None => {
                    need(manage_ok, Access::Manage, format!("vault {vp}"))?;
                    p.change(
                        ChangeOp::Create,
                        PlanTarget::Vault,
                        vp.to_string(),
                        Some(format!("managed by {name}")),
                        false,
                    );
                    if !default_of_new_env {
                        p.ops.push(BatchOp::CreateVault { vault: vp.clone(), now });
                    }
                    p.ops.push(owner);
                }
                Some(i) if i.managed_by.as_deref() == Some(name.as_str()) => {}
                Some(i) => {
                    need(manage_ok, Access::Manage, format!("vault {vp}"))?;
                    let detail = match (&i.managed_by, i.managed_at) {
                        (Some(other), _) => format!("managed by config {other}; take it over"),
                        (None, Some(at)) => format!("unmanaged (released {}); take ownership", format_rfc3339(at)),
                        (None, None) => "unmanaged; take ownership".to_owned(),
                    };
                    p.change(ChangeOp::Update, PlanTarget::Vault, vp.to_string(), Some(detail), true);
                    p.ops.push(owner);
                }
            }
            let existing: BTreeMap<String, EntryMeta> = match &info {
                Some(_) => self.all_entries(&vp).await?.into_iter().map(|m| (m.key.clone(), m)).collect(),
                None => BTreeMap::new(),
            };
            let mut listed = Vec::new();
            for e in &v.entries {
                let key = EntryKey::new(e.key.as_str())?;
                let kind = EntryKind::parse(&e.kind).ok_or_else(|| {
                    invalid(format!("entry {vp}/{key}: kind must be secret or variable, not {:?}", e.kind))
                })?;
                if listed.contains(&key) {
                    return Err(invalid(format!("entry {vp}/{key} is declared twice")));
                }
                listed.push(key.clone());
                let path = vp.entry(key);
                let value = SecretValue::from(e.value.expose());
                self.check_value(&path, kind, &value)?;
                let current = existing.get(path.key.as_str());
                // A secret is compared only for a caller who may read it: for anyone else "equal"
                // and "different" would answer whether a guessed value is right.
                let comparable = kind == EntryKind::Variable
                    || ctx.caller.allows(Access::Read, env, Some(vname), Some(path.key.as_str()));
                let change = match current {
                    None => Some((ChangeOp::Create, kind.as_str().to_owned())),
                    Some(m) if m.deleted_at.is_some() => {
                        Some((ChangeOp::Create, format!("{}, revives a deleted entry", kind.as_str())))
                    }
                    Some(m) if m.kind != kind => {
                        Some((ChangeOp::Update, format!("{} -> {}", m.kind.as_str(), kind.as_str())))
                    }
                    Some(_) if !comparable => Some((ChangeOp::Update, NOT_COMPARED.to_owned())),
                    Some(_) if self.same_value(&path, kind, &value).await? => None,
                    Some(_) => Some((ChangeOp::Update, format!("{}: value changed", kind.as_str()))),
                };
                let Some((op, detail)) = change else { continue };
                if !new_envs.contains(&vp.environment) {
                    self.check_branch_rule(&path).await?;
                }
                p.change(op, PlanTarget::Entry, path.to_string(), Some(detail), false);
                if let Some(dk) = &dk {
                    let actual = current.map_or(0, |m| m.version);
                    let version = actual + 1;
                    let sealed = dk.seal(&Self::aad(&path, version, kind), value.expose())?;
                    p.ops.push(BatchOp::WriteVersion(NewVersion {
                        path: path.clone(),
                        kind,
                        version,
                        expected_current: actual,
                        sealed,
                        now,
                        edited_by: ctx.caller.label().to_owned(),
                        description: None,
                        tags: None,
                        expires_at: None,
                        keep_versions: self.limits.keep_versions,
                        max_entries: self.limits.max_entries,
                        max_live_secrets_in_vault: None,
                        value_mac: Some(self.value_mac(&path, kind, &value)),
                    }));
                }
                p.touched.push(path);
            }
            for (key, m) in &existing {
                if m.deleted_at.is_some() || listed.iter().any(|k| k.as_str() == key) {
                    continue;
                }
                let path = vp.entry(EntryKey::new(key.as_str())?);
                p.change(ChangeOp::Delete, PlanTarget::Entry, path.to_string(), Some("not in the file".into()), true);
                p.ops.push(BatchOp::SoftDelete { path: path.clone(), now });
                p.touched.push(path);
            }
        }

        // Grants.
        let existing = self.store.list_grants(&ws).await?;
        let same = |g: &GrantRecord, d: &DesiredGrant| {
            g.principal.to_string() == d.principal && g.scope == d.scope && g.access.as_str() == d.access
        };
        let grant_name = |principal: &str, access: &str, scope: &str| format!("{principal} {access} on {scope}");
        for d in &desired.grants {
            let principal: PrincipalRef = d.principal.parse()?;
            let scope: Scope = d.scope.parse()?;
            let access: Access = d.access.parse().map_err(|e: String| invalid(format!("grant on {}: {e}", d.scope)))?;
            if existing.iter().any(|g| same(g, d)) {
                continue;
            }
            Self::require_may_grant(ctx, access, &scope)?;
            if !self.store.principal_exists(&ws, &principal).await? {
                return Err(invalid(format!(
                    "grant {}: principal {principal} does not exist; create it first with `tresor principal create {principal}`",
                    grant_name(&d.principal, &d.access, &d.scope)
                )));
            }
            p.change(ChangeOp::Create, PlanTarget::Grant, grant_name(&d.principal, &d.access, &d.scope), None, false);
            p.grants_changed = true;
            if build {
                p.ops.push(BatchOp::InsertGrant(GrantRecord {
                    id: new_id()?,
                    workspace: ws.clone(),
                    principal,
                    scope: scope.to_string(),
                    access,
                    created_at: now,
                    created_by: ctx.caller.label().to_owned(),
                }));
            }
        }
        for g in &existing {
            let managed = DesiredGrant::scope_vault(&g.scope)
                .is_some_and(|(e, v)| declared.iter().any(|(de, dv)| de == e && dv == v));
            if !managed || desired.grants.iter().any(|d| same(g, d)) {
                continue;
            }
            self.require_workspace(ctx, Access::Manage, "change grants")?;
            let name = grant_name(&g.principal.to_string(), g.access.as_str(), &g.scope);
            p.change(ChangeOp::Delete, PlanTarget::Grant, name, Some("not in the file".into()), true);
            p.grants_changed = true;
            p.ops.push(BatchOp::DeleteGrant { workspace: ws.clone(), id: g.id.clone() });
        }
        Ok(p)
    }

    /// The rights a config needs, all checked before the store is consulted about entries or
    /// values: some access to every environment it lists; `write` on the whole of every vault it
    /// declares (apply makes the vault match the file, so it may write or delete any entry of
    /// it); `manage` on the whole workspace when it declares grants. Rights that depend on what
    /// exists (`manage` to create or take over a vault or an environment) are checked later, on
    /// names the caller wrote itself and holds access to.
    fn require_config_rights(&self, ctx: &Ctx, desired: &DesiredState) -> Result<()> {
        for env in &desired.environments {
            let env = EnvName::new(env.as_str())?;
            if !ctx.caller.grants().iter().any(|(scope, _)| scope.touches_env(env.as_str())) {
                return Err(Self::denied(ctx, Access::Manage, &format!("environment {env}")));
            }
        }
        for v in &desired.vaults {
            let (env, vault) = (EnvName::new(v.environment.as_str())?, VaultName::new(v.name.as_str())?);
            if !ctx.caller.allows(Access::Write, env.as_str(), Some(vault.as_str()), None) {
                return Err(ServiceError::Denied(format!(
                    "{} lacks write access to all of vault {env}/{vault}: a declarative config makes the vault \
                     match the file, writing or deleting any of its entries; ask for write on {env}/{vault}/*",
                    ctx.caller.principal
                )));
            }
        }
        if !desired.grants.is_empty() {
            self.require_workspace(ctx, Access::Manage, "declare grants in a config")?;
        }
        Ok(())
    }

    /// Whether the entry's current value equals `value`: by its stored keyed hash, or (for
    /// versions written before hashes were stored) by opening it here. Constant time either way.
    async fn same_value(&self, path: &EntryPath, kind: EntryKind, value: &SecretValue) -> Result<bool> {
        let Some(sealed) = self.store.read_version(path, None).await? else { return Ok(false) };
        if sealed.state != tresor_store::VersionState::default() {
            // Deleted or destroyed on its own (the Vault-compatible API): not the value to keep.
            return Ok(false);
        }
        if let Some(stored) = &sealed.value_mac {
            return Ok(ct_eq(stored, &self.value_mac(path, kind, value)));
        }
        let generation = Keyring::sealed_generation(&sealed.sealed)?;
        let dk = self.data_key_for(&path.workspace, Some(generation)).await?;
        let current = dk.open(&Self::aad(path, sealed.meta.version, sealed.meta.kind), &sealed.sealed)?;
        Ok(ct_eq(current.expose(), value.expose()))
    }

    /// Every entry of a vault, deleted ones included (a write must continue their versions).
    async fn all_entries(&self, vault: &VaultPath) -> Result<Vec<EntryMeta>> {
        const PAGE: u32 = 1000;
        let mut q = ListQuery { prefix: String::new(), after: None, limit: PAGE, include_deleted: true };
        let mut out = Vec::new();
        loop {
            let page = self.store.list_entries(vault, &q).await?;
            let full = page.len() == PAGE as usize;
            q.after = page.last().map(|m| m.key.clone());
            out.extend(page);
            if !full {
                return Ok(out);
            }
        }
    }
}
