//! The entry use cases: set (one or many, all-or-nothing), read (one, many, a variable through a
//! listing), list, history, restore, delete, undelete, purge. Each checks the caller's rights
//! before it touches a value, and commits with its audit record or not at all.

use crate::*;
use tresor_crypto::{DataKey, EntryAad};
use tresor_model::{
    now_millis, Access, EntryKey, EntryKind, EntryMeta, EntryPath, EnvName, SecretValue, VaultPath, VersionMeta,
    WorkspaceName,
};
use tresor_store::{BatchOp, ListQuery, NewVersion, StoreError, VersionChange, VersionState, VersionStates};

impl Service {
    pub(crate) async fn data_key_for(
        &self,
        workspace: &WorkspaceName,
        generation: Option<u32>,
    ) -> Result<Arc<DataKey>> {
        if let Some(g) = generation {
            if let Some(dk) = self.keyring.cached(workspace.as_str(), g) {
                return Ok(dk);
            }
        }
        let wrapped = self.store.data_key(workspace, generation).await?;
        match self.keyring.data_key(workspace.as_str(), &wrapped.wrapped) {
            Err(tresor_crypto::CryptoError::OpenFailed) if self.root_reload.is_some() => {
                self.reload_root(workspace, &wrapped.wrapped).await
            }
            found => Ok(found?),
        }
    }

    pub(crate) fn aad<'a>(path: &'a EntryPath, version: u64, kind: EntryKind) -> EntryAad<'a> {
        EntryAad {
            workspace: path.workspace.as_str(),
            environment: path.environment.as_str(),
            vault: path.vault.as_str(),
            key: path.key.as_str(),
            version,
            kind,
        }
    }

    pub(crate) fn check_workspace(ctx: &Ctx, path: &EntryPath) -> Result<()> {
        if path.workspace == ctx.caller.workspace {
            Ok(())
        } else {
            Err(ServiceError::Denied(format!("{} belongs to workspace {}", ctx.caller.principal, ctx.caller.workspace)))
        }
    }

    /// Writes a new version of an entry, creating it if needed. Needs `write` on the entry.
    pub async fn set(&self, ctx: &Ctx, req: SetEntry) -> Result<EntryMeta> {
        let target = req.path.to_string();
        self.audited_change(ctx, "entry.write", target, self.set_inner(ctx, req, "entry.write")).await
    }

    /// Writes the new version, committed with its audit record under `action`.
    pub(crate) async fn set_inner(&self, ctx: &Ctx, req: SetEntry, action: &str) -> Result<EntryMeta> {
        let path = &req.path;
        self.check_write(ctx, &req).await?;
        self.check_vault_write(ctx, &path.vault_path()).await?;
        let dk = self.data_key_for(&path.workspace, None).await?;
        let (req, dk) = (&req, &dk);
        let attempt = move || async move {
            let new = self.next_version(ctx, req, dk).await?;
            let written = Written::of(&new);
            let outcome =
                self.commit(vec![BatchOp::WriteVersion(new)], vec![Self::change_record(ctx, action, path)]).await;
            self.cache.invalidate_entry(path);
            match outcome {
                Ok(()) => Ok(Attempt::Done(self.as_written(path, written).await?)),
                Err(StoreError::VersionConflict { .. }) if req.expected_version.is_none() => Ok(Attempt::Conflicted),
                Err(e) => Err(Self::write_error(path, e)),
            }
        };
        let _turn = self.entry_locks.turn([path]).await;
        retry_on_conflict(attempt, || {
            ServiceError::Conflict(format!("entry {} is being written by many writers at once; retry", path.key))
        })
        .await
    }

    /// Writes many entries at once, all or none, in one store transaction: a bulk `set @FILE`
    /// or an `import` lands whole or leaves the store as it was. Needs `write` on each entry;
    /// one audit record per entry, all with the batch's outcome.
    pub async fn set_many(&self, ctx: &Ctx, reqs: Vec<SetEntry>) -> Result<Vec<EntryMeta>> {
        let targets = reqs.iter().map(|r| r.path.to_string());
        self.audited_batch(ctx, "entry.write", targets, self.set_many_inner(ctx, &reqs)).await
    }

    pub(crate) async fn set_many_inner(&self, ctx: &Ctx, reqs: &[SetEntry]) -> Result<Vec<EntryMeta>> {
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
        let dk = &dk;
        let attempt = move || async move {
            let (mut ops, mut written) = (Vec::with_capacity(reqs.len()), Vec::with_capacity(reqs.len()));
            for req in reqs {
                let new = self.next_version(ctx, req, dk).await?;
                written.push(Written::of(&new));
                ops.push(BatchOp::WriteVersion(new));
            }
            let records = reqs.iter().map(|r| Self::change_record(ctx, "entry.write", &r.path)).collect();
            let outcome = self.commit(ops, records).await;
            for req in reqs {
                self.cache.invalidate_entry(&req.path);
            }
            match outcome {
                Ok(()) => {
                    let mut metas = Vec::with_capacity(reqs.len());
                    for (req, written) in reqs.iter().zip(written) {
                        metas.push(self.as_written(&req.path, written).await?);
                    }
                    Ok(Attempt::Done(metas))
                }
                Err(StoreError::VersionConflict { .. }) if reqs.iter().all(|r| r.expected_version.is_none()) => {
                    Ok(Attempt::Conflicted)
                }
                Err(e) => Err(Self::write_error(&first.path, e)),
            }
        };
        let _turn = self.entry_locks.turn(reqs.iter().map(|r| &r.path)).await;
        retry_on_conflict(attempt, || {
            ServiceError::Conflict("these entries are being written by many writers at once; retry".into())
        })
        .await
    }

    /// What a write into a vault must pass once, however many entries it writes: the vault
    /// exists, and a managed vault's owner is confirmed away (see `guard_managed`).
    pub(crate) async fn check_vault_write(&self, ctx: &Ctx, vault: &VaultPath) -> Result<()> {
        self.require_vault(vault).await?;
        self.guard_managed(ctx, vault).await
    }

    /// What each entry of a write must pass before anything is sealed: the caller's `write`, the
    /// value's size, and the branch rules (a key of a parent is changed there; on some surfaces
    /// a branch is read-only).
    pub(crate) async fn check_write(&self, ctx: &Ctx, req: &SetEntry) -> Result<()> {
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

    pub(crate) async fn check_changeable(&self, ctx: &Ctx, path: &EntryPath, action: &str) -> Result<()> {
        self.audited_change(ctx, action, path, async {
            Self::check_workspace(ctx, path)?;
            self.check_read_only_branch(ctx, path).await
        })
        .await
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
    pub(crate) async fn next_version(&self, ctx: &Ctx, req: &SetEntry, dk: &DataKey) -> Result<NewVersion> {
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
            max_live_secrets_in_vault: self.limits.vault_secret_quota.filter(|_| req.within_vault_secret_quota),
            value_mac: Some(self.value_mac(path, req.kind, &req.value)),
        })
    }

    pub(crate) fn write_error(path: &EntryPath, e: StoreError) -> ServiceError {
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
    pub(crate) fn exists_for_create_only(path: &EntryPath, version: u64, deleted: bool) -> ServiceError {
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

    /// The metadata of a version just committed, as it was written: another writer (on this
    /// node or another sharing the database) may have written a newer version or deleted the
    /// entry since, and a caller must be told the version it wrote, not theirs.
    pub(crate) async fn as_written(&self, path: &EntryPath, w: Written) -> Result<EntryMeta> {
        let now = self.store.get_entry(path).await?;
        if let Some(meta) = now.as_ref().filter(|m| m.version == w.version && m.deleted_at.is_none()) {
            return Ok(meta.clone());
        }
        let created_at = now.as_ref().map_or(w.at, |m| m.created_at);
        Ok(EntryMeta {
            key: path.key.to_string(),
            kind: w.kind,
            version: w.version,
            created_at,
            updated_at: w.at,
            edited_by: w.edited_by,
            description: w.description.or_else(|| now.as_ref().and_then(|m| m.description.clone())),
            tags: w.tags.or_else(|| now.map(|m| m.tags)).unwrap_or_default(),
            expires_at: w.expires_at,
            deleted_at: None,
        })
    }

    pub(crate) async fn describe_here(&self, path: &EntryPath) -> Result<EntryMeta> {
        match self.store.get_entry(path).await? {
            Some(meta) if meta.deleted_at.is_none() => Ok(meta),
            _ => Err(Self::not_found(path)),
        }
    }

    /// Finds where an entry lives: the environment itself or, for a branch, the nearest ancestor
    /// holding it. Returns the entry's path there with its metadata.
    pub(crate) async fn locate(&self, path: &EntryPath) -> Result<(EntryPath, EntryMeta)> {
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
        self.audited(ctx, "entry.describe", path, async {
            Self::check_workspace(ctx, path)?;
            Self::require_sees(ctx, path)?;
            let (owner, meta) = self.locate(path).await?;
            Self::require_sees_where_it_lives(ctx, path, &owner)?;
            Ok(meta)
        })
        .await
    }

    /// Opens an entry's value: the current version, or the one given. Needs `read` on the entry
    /// (and, read through a branch, on the entry where it lives).
    pub async fn get(&self, ctx: &Ctx, path: &EntryPath, version: Option<u64>) -> Result<Resolved> {
        self.audited(ctx, "entry.read", path, self.get_inner(ctx, path, version)).await
    }

    pub(crate) async fn get_inner(&self, ctx: &Ctx, path: &EntryPath, version: Option<u64>) -> Result<Resolved> {
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
    pub(crate) async fn get_variable(&self, ctx: &Ctx, path: &EntryPath, version: Option<u64>) -> Result<Resolved> {
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
    pub(crate) async fn open_value(&self, ctx: &Ctx, path: &EntryPath, version: Option<u64>) -> Result<Resolved> {
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

    pub(crate) async fn open_sealed(
        &self,
        owner: &EntryPath,
        sealed: &tresor_store::SealedVersion,
    ) -> Result<Resolved> {
        Self::check_readable(owner, sealed)?;
        let generation = Keyring::sealed_generation(&sealed.sealed)?;
        let dk = self.data_key_for(&owner.workspace, Some(generation)).await?;
        let value = dk.open(&Self::aad(owner, sealed.meta.version, sealed.meta.kind), &sealed.sealed)?;
        Ok(Resolved { meta: sealed.meta.clone(), environment: owner.environment.to_string(), value })
    }

    /// A version deleted on its own or destroyed (the Vault-compatible API's per-version state)
    /// is not opened: a deleted one until it is undeleted, a destroyed one ever again.
    pub(crate) fn check_readable(path: &EntryPath, sealed: &tresor_store::SealedVersion) -> Result<()> {
        let version = sealed.meta.version;
        if sealed.state.destroyed_at.is_some() {
            return Err(ServiceError::NotFound(format!("version {version} of entry {} was destroyed", path.key)));
        }
        if sealed.state.deleted_at.is_some() {
            return Err(ServiceError::NotFound(format!(
                "version {version} of entry {} is deleted; undelete it to read it (Vault API: POST \
                 /v1/MOUNT/undelete/{})",
                path.key, path.key
            )));
        }
        Ok(())
    }

    /// Resolves many entries in one call (`get_all`). Each entry needs `read`; entries that are
    /// missing or refused are reported per entry, not as a failure of the batch. Every entry
    /// read is audited, one record each, written together in one `record_many`.
    ///
    /// The current versions of the entries the caller may read where they were asked for are read
    /// in one store query per vault ([`Store::read_current_many`]): resolving a vault of 10,000
    /// entries (`tresor run`, `redact`, `render`) was 20,000 queries. The rest (a given version,
    /// an entry read through a branch, a variable read without `read`, a missing entry) go the
    /// one-by-one way of [`Service::get`], which also says why one cannot be read.
    pub async fn get_many(&self, ctx: &Ctx, paths: &[(EntryPath, Option<u64>)]) -> Vec<Result<Resolved>> {
        let (generation, mut current) = self.read_current_many(ctx, paths).await;
        let mut out = Vec::with_capacity(paths.len());
        let mut records = Vec::with_capacity(paths.len());
        for ((path, version), current) in paths.iter().zip(current.iter_mut()) {
            let r = match current.take() {
                Some((meta, sealed)) => self.open_current(path, meta, sealed, generation).await,
                None => self.get_inner(ctx, path, *version).await,
            };
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

    /// Every live entry of a vault that the caller may see, each with its value or why it cannot
    /// be read, in key order: what listing the vault ([`Service::list_all`]) and then resolving
    /// every key listed ([`Service::get_many`]) answer, for `tresor run` and `redact` without
    /// `--only`. `check` is given the keys before any value is opened (`run` refuses dangerous
    /// environment variable names there); its error ends the call with nothing opened. Audited as
    /// the listing and the batch are: one `entry.list` record for the vault (the listing's pages
    /// took one each) and one `entry.read` record per entry opened, written together.
    ///
    /// A caller holding `read` on the whole vault, in an environment with no parent, gets it in
    /// one store scan ([`Store::read_vault_current`]), its right checked before the store is
    /// touched: a vault of 10,000 entries otherwise took ten listed pages and a batched lookup of
    /// 10,000 keys in two tables. The values read are not cached: the next whole-vault read scans
    /// again, and a one-shot command would spend time and memory on 10,000 cache entries. Anyone
    /// else (grants on some keys only, a branch reading through its parent) goes the listing's way,
    /// which decides per key what is seen and read.
    pub async fn get_vault<E>(
        &self,
        ctx: &Ctx,
        vault: &VaultPath,
        check: impl FnOnce(&[&str]) -> std::result::Result<(), E>,
    ) -> Result<std::result::Result<Vec<(String, Result<Resolved>)>, E>> {
        let (env, name) = (vault.environment.as_str(), vault.vault.as_str());
        if vault.workspace != ctx.caller.workspace || !ctx.caller.allows(Access::Read, env, Some(name), None) {
            return self.get_vault_listed(ctx, vault, check).await;
        }
        let scanned = async {
            let chain = self.env_chain(&vault.workspace, &vault.environment).await?;
            if chain.len() > 1 {
                return Ok(None);
            }
            self.require_vault(vault).await?;
            let rows = self.store.read_vault_current(vault).await?;
            let paths = rows
                .iter()
                .map(|(meta, _)| Ok(vault.entry(EntryKey::new(meta.key.as_str())?)))
                .collect::<Result<_>>()?;
            Ok(Some((rows, paths)))
        };
        let (rows, paths): (Vec<_>, Vec<EntryPath>) = match scanned.await {
            Ok(Some(scanned)) => scanned,
            Ok(None) => return self.get_vault_listed(ctx, vault, check).await,
            Err(e) => return self.record_outcome(ctx, "entry.list", vault, Err(e)).await,
        };
        let keys: Vec<&str> = rows.iter().map(|(meta, _)| meta.key.as_str()).collect();
        if let Err(e) = check(&keys) {
            return self.record_outcome(ctx, "entry.list", vault, Ok(Err(e))).await;
        }
        let mut records = Vec::with_capacity(rows.len() + 1);
        records.push(Self::audit_record(ctx, "entry.list", vault.to_string(), "ok", None));
        let mut out = Vec::with_capacity(rows.len());
        for ((meta, sealed), path) in rows.into_iter().zip(paths) {
            let r = self.open_sealed(&path, &sealed).await;
            let outcome = match &r {
                Ok(_) => "ok",
                Err(e) => e.outcome(),
            };
            records.push(Self::audit_record(ctx, "entry.read", path.to_string(), outcome, Some("batch".into())));
            out.push((meta.key, r));
        }
        // Fail-closed: no value is handed out unless every record was written.
        self.auditor.record_many(records).await?;
        Ok(Ok(out))
    }

    /// [`Service::get_vault`] for a caller without `read` on the whole vault, or through a branch.
    async fn get_vault_listed<E>(
        &self,
        ctx: &Ctx,
        vault: &VaultPath,
        check: impl FnOnce(&[&str]) -> std::result::Result<(), E>,
    ) -> Result<std::result::Result<Vec<(String, Result<Resolved>)>, E>> {
        let listed = self.list_all(ctx, vault, "", false).await?;
        let keys: Vec<&str> = listed.iter().map(|l| l.meta.key.as_str()).collect();
        if let Err(e) = check(&keys) {
            return Ok(Err(e));
        }
        let paths = keys.iter().map(|key| Ok((vault.entry(EntryKey::new(*key)?), None))).collect::<Result<Vec<_>>>()?;
        let resolved = self.get_many(ctx, &paths).await;
        Ok(Ok(listed.into_iter().map(|l| l.meta.key).zip(resolved).collect()))
    }

    /// For [`Service::get_many`]: the entry and current sealed version of each of `paths` that
    /// asks for the current version of an entry the caller may `read` there, read by vault in one
    /// query each; `None` for the others, and for entries not live there (a branch reads them from
    /// its parent). Nothing is opened here. Also answers the cache generation seen before the
    /// reads, for [`Service::open_current`].
    async fn read_current_many(
        &self,
        ctx: &Ctx,
        paths: &[(EntryPath, Option<u64>)],
    ) -> (u64, Vec<Option<(EntryMeta, tresor_store::SealedVersion)>>) {
        let generation = self.cache.generation();
        let mut current: Vec<Option<_>> = paths.iter().map(|_| None).collect();
        let mut by_vault: std::collections::HashMap<VaultPath, Vec<usize>> = Default::default();
        for (i, (path, version)) in paths.iter().enumerate() {
            let (env, vault, key) = (path.environment.as_str(), path.vault.as_str(), path.key.as_str());
            if version.is_none()
                && path.workspace == ctx.caller.workspace
                && ctx.caller.allows(Access::Read, env, Some(vault), Some(key))
            {
                by_vault.entry(path.vault_path()).or_default().push(i);
            }
        }
        for (vault, indices) in by_vault {
            let keys: Vec<&str> = indices.iter().map(|&i| paths[i].0.key.as_str()).collect();
            // If the read fails, these entries go the one-by-one way, which reports the failure
            // for each of them.
            let Ok(rows) = self.store.read_current_many(&vault, &keys).await else { continue };
            for (i, row) in indices.into_iter().zip(rows) {
                current[i] = row.filter(|(meta, _)| meta.deleted_at.is_none());
            }
        }
        (generation, current)
    }

    /// Opens the current version of an entry live at `path`, read by
    /// [`Service::read_current_many`], and caches it as [`Service::open_value`] does.
    async fn open_current(
        &self,
        path: &EntryPath,
        meta: EntryMeta,
        sealed: tresor_store::SealedVersion,
        generation: u64,
    ) -> Result<Resolved> {
        let resolved = self.open_sealed(path, &sealed).await?;
        self.cache.put_entry(path, meta, sealed, generation);
        Ok(resolved)
    }

    /// Every entry of a vault under `prefix` that the caller may see, page by page (each page a
    /// [`Service::list`], audited as such): the one pager of the surfaces that need a whole vault.
    /// With `include_deleted`, soft-deleted entries too.
    pub async fn list_all(
        &self,
        ctx: &Ctx,
        vault: &VaultPath,
        prefix: &str,
        include_deleted: bool,
    ) -> Result<Vec<Listed>> {
        const PAGE: u32 = 1000;
        let mut query = ListQuery { prefix: prefix.to_owned(), after: None, limit: PAGE, include_deleted };
        let mut out = Vec::new();
        loop {
            let page = self.list(ctx, vault, &query).await?;
            let full = page.len() == PAGE as usize;
            query.after = page.last().map(|l| l.meta.key.clone());
            out.extend(page);
            if !full {
                return Ok(out);
            }
        }
    }

    /// Lists a vault's entries that the caller may see. Variables come with their value; secrets
    /// never do. A branch lists its own entries and those it reads through.
    pub async fn list(&self, ctx: &Ctx, vault: &VaultPath, query: &ListQuery) -> Result<Vec<Listed>> {
        self.audited(ctx, "entry.list", vault, self.list_inner(ctx, vault, query)).await
    }

    pub(crate) async fn list_inner(&self, ctx: &Ctx, vault: &VaultPath, query: &ListQuery) -> Result<Vec<Listed>> {
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
                match self.open_value(ctx, &path, None).await {
                    Ok(resolved) => Some(resolved.value),
                    // Its current version deleted or destroyed on its own: listed without it.
                    Err(ServiceError::NotFound(_)) => None,
                    Err(e) => return Err(e),
                }
            } else {
                None
            };
            out.push(Listed { meta, environment: env.to_string(), variable_value });
        }
        Ok(out)
    }

    /// Every stored version of an entry, newest first, without values.
    pub async fn history(&self, ctx: &Ctx, path: &EntryPath) -> Result<Vec<VersionMeta>> {
        self.audited(ctx, "entry.history", path, async {
            Self::check_workspace(ctx, path)?;
            Self::require_sees(ctx, path)?;
            let (owner, _) = self.locate(path).await?;
            Self::require_sees_where_it_lives(ctx, path, &owner)?;
            Ok(self.store.list_versions(&owner).await?)
        })
        .await
    }

    /// An entry's metadata and every stored version (newest first, without values), whether or
    /// not it is soft-deleted: the Vault-compatible API shows a deleted secret's metadata and
    /// versions, as Vault does. Needs some access to the entry, as [`Service::history`].
    pub async fn history_with_meta(
        &self,
        ctx: &Ctx,
        path: &EntryPath,
    ) -> Result<(EntryMeta, Vec<(VersionMeta, VersionState)>)> {
        self.audited(ctx, "entry.history", path, async {
            Self::check_workspace(ctx, path)?;
            Self::require_sees(ctx, path)?;
            let (owner, meta) = match self.locate(path).await {
                Ok(found) => found,
                // Not live anywhere in the chain: deleted here, or not there at all.
                Err(ServiceError::NotFound(_)) => match self.store.get_entry(path).await? {
                    Some(meta) => (path.clone(), meta),
                    None => return Err(Self::not_found(path)),
                },
                Err(e) => return Err(e),
            };
            Self::require_sees_where_it_lives(ctx, path, &owner)?;
            let states: std::collections::HashMap<u64, VersionState> =
                self.store.version_states(&owner).await?.into_iter().collect();
            let versions = self.store.list_versions(&owner).await?;
            let with_states = versions
                .into_iter()
                .map(|v| {
                    let state = states.get(&v.version).copied().unwrap_or_default();
                    (v, state)
                })
                .collect();
            Ok((meta, with_states))
        })
        .await
    }

    /// Deletes, undeletes or destroys single versions of an entry, in one commit with its record
    /// (the Vault KV v2 API's `delete`, `undelete` and `destroy`). Each stored version named
    /// changes on its own (`tresor_store::VersionState`); besides, deleting the current version
    /// of a live entry soft-deletes the entry (hidden, as `tresor rm` hides it), and undeleting
    /// the current version of a deleted entry undeletes it. A version deleted this way stays
    /// deleted when a newer one is written; a destroyed one is gone for good. Versions not stored
    /// are passed over. Needs `write` on the entry.
    pub async fn change_versions(
        &self,
        ctx: &Ctx,
        path: &EntryPath,
        versions: &[u64],
        change: VersionChange,
    ) -> Result<()> {
        let action = match change {
            VersionChange::Delete => "entry.delete_versions",
            VersionChange::Undelete => "entry.undelete_versions",
            VersionChange::Destroy => "entry.destroy_versions",
        };
        self.audited_change(ctx, action, path, async {
            if versions.is_empty() {
                return Err(ServiceError::InvalidInput("name at least one version".into()));
            }
            Self::check_workspace(ctx, path)?;
            Self::require_entry(ctx, Access::Write, path)?;
            let entry = self.store.get_entry(path).await?.ok_or_else(|| Self::not_found(path))?;
            let now = now_millis();
            let mut ops = vec![BatchOp::SetVersionState(VersionStates {
                path: path.clone(),
                versions: versions.to_vec(),
                change,
                now,
            })];
            let current = versions.contains(&entry.version);
            match change {
                VersionChange::Delete if current && entry.deleted_at.is_none() => {
                    ops.push(BatchOp::SoftDelete { path: path.clone(), now })
                }
                VersionChange::Undelete if current && entry.deleted_at.is_some() => {
                    ops.push(BatchOp::Undelete { path: path.clone(), now })
                }
                _ => {}
            }
            self.change_entry_with(ctx, path, action, ops, || Self::not_found(path)).await
        })
        .await
    }

    /// Makes an old version current again by writing its value as a new version. Needs `write`;
    /// the value is re-sealed inside the service and never leaves it.
    pub async fn restore(&self, ctx: &Ctx, path: &EntryPath, version: u64) -> Result<EntryMeta> {
        self.audited_change(ctx, "entry.restore", path, async {
            Self::check_workspace(ctx, path)?;
            Self::require_entry(ctx, Access::Write, path)?;
            let current = self.describe_here(path).await?;
            let sealed = self
                .store
                .read_version(path, Some(version))
                .await?
                .ok_or_else(|| Self::no_version(path, version, current.version))?;
            Self::check_readable(path, &sealed)?;
            let generation = Keyring::sealed_generation(&sealed.sealed)?;
            let dk = self.data_key_for(&path.workspace, Some(generation)).await?;
            let value = dk.open(&Self::aad(path, sealed.meta.version, sealed.meta.kind), &sealed.sealed)?;
            let req = SetEntry {
                expected_version: Some(current.version),
                expires_at: current.expires_at,
                ..SetEntry::new(path.clone(), sealed.meta.kind, value)
            };
            self.set_inner(ctx, req, "entry.restore").await
        })
        .await
    }

    /// Soft-deletes an entry: hidden from reads and listings, recoverable with [`Service::undelete`].
    pub async fn delete(&self, ctx: &Ctx, path: &EntryPath) -> Result<()> {
        self.audited_change(ctx, "entry.delete", path, async {
            let op = BatchOp::SoftDelete { path: path.clone(), now: now_millis() };
            self.change_entry(ctx, path, "entry.delete", op, || Self::not_found(path)).await
        })
        .await
    }

    /// Undeletes a soft-deleted entry. Its current version comes back with it even when the
    /// Vault-compatible API deleted that version on its own (`change_versions`): undeleting the
    /// entry means reading its value again, on every surface.
    pub async fn undelete(&self, ctx: &Ctx, path: &EntryPath) -> Result<EntryMeta> {
        self.audited_change(ctx, "entry.undelete", path, async {
            Self::check_workspace(ctx, path)?;
            Self::require_entry(ctx, Access::Write, path)?;
            let now = now_millis();
            let mut ops = vec![BatchOp::Undelete { path: path.clone(), now }];
            if let Some(entry) = self.store.get_entry(path).await? {
                let versions = vec![entry.version];
                ops.push(BatchOp::SetVersionState(VersionStates {
                    path: path.clone(),
                    versions,
                    change: VersionChange::Undelete,
                    now,
                }));
            }
            self.change_entry_with(ctx, path, "entry.undelete", ops, || {
                ServiceError::NotFound(format!(
                    "entry {} is not a deleted entry of vault {}/{}",
                    path.key, path.environment, path.vault
                ))
            })
            .await?;
            self.describe_here(path).await
        })
        .await
    }

    /// Removes an entry, live or soft-deleted, with all its versions. Not recoverable.
    pub async fn purge(&self, ctx: &Ctx, path: &EntryPath) -> Result<()> {
        self.audited_change(ctx, "entry.purge", path, async {
            let op = BatchOp::Purge { path: path.clone() };
            self.change_entry(ctx, path, "entry.purge", op, || Self::not_found(path)).await
        })
        .await
    }

    /// What delete, undelete and purge share: the caller may write the entry, the branch rule
    /// and a managed vault allow the change; then `op` commits with its record under `action`
    /// and the entry's caches are dropped. The store's "not found" becomes `not_found()`.
    async fn change_entry(
        &self,
        ctx: &Ctx,
        path: &EntryPath,
        action: &str,
        op: BatchOp,
        not_found: impl FnOnce() -> ServiceError,
    ) -> Result<()> {
        self.change_entry_with(ctx, path, action, vec![op], not_found).await
    }

    /// [`Service::change_entry`] with several ops on the entry, committed together.
    async fn change_entry_with(
        &self,
        ctx: &Ctx,
        path: &EntryPath,
        action: &str,
        ops: Vec<BatchOp>,
        not_found: impl FnOnce() -> ServiceError,
    ) -> Result<()> {
        Self::check_workspace(ctx, path)?;
        Self::require_entry(ctx, Access::Write, path)?;
        self.check_read_only_branch(ctx, path).await?;
        self.guard_managed(ctx, &path.vault_path()).await?;
        let outcome = self.commit(ops, vec![Self::change_record(ctx, action, path)]).await;
        self.cache.invalidate_entry(path);
        match outcome {
            Err(StoreError::NotFound(_)) => Err(not_found()),
            other => Ok(other?),
        }
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
        let targets = paths.iter().map(|p| p.to_string());
        self.audited_batch(ctx, action, targets, self.delete_many_inner(ctx, vault, &paths, purge, action)).await?;
        Ok(keys)
    }

    pub(crate) async fn delete_many_inner(
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
        // Every key is in the one vault, so one branch check covers them all (as `delete` and
        // `purge` check each change).
        self.check_read_only_branch(ctx, &paths[0]).await?;
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

/// What a write committed, to answer with even when the entry has moved on since
/// ([`Service::as_written`]).
pub(crate) struct Written {
    version: u64,
    kind: EntryKind,
    at: i64,
    edited_by: String,
    description: Option<String>,
    tags: Option<Vec<tresor_model::Tag>>,
    expires_at: Option<i64>,
}

impl Written {
    fn of(new: &NewVersion) -> Self {
        Written {
            version: new.version,
            kind: new.kind,
            at: new.now,
            edited_by: new.edited_by.clone(),
            description: new.description.clone(),
            tags: new.tags.clone(),
            expires_at: new.expires_at,
        }
    }
}
