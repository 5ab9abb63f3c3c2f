//! Key management: root-key rotation, and data-key rotation (a new generation, then the
//! re-encryption of every kept version to it, page by page). Every data key of every workspace and the MAC keys (audit
//! chain, value hashes) are unwrapped with the current root key and wrapped with the new one, and
//! written in ONE transaction with the change of the root key's provider record and the audit
//! record. A running server keeps serving: it holds its data keys unwrapped (loaded at start, see
//! [`Service::open`]), so a re-wrap under a new root key does not disturb it; it needs the new root
//! key only at its next start.

use crate::*;
use tresor_crypto::CryptoError;
use tresor_crypto::DataKey;
use tresor_store::{DataKeyRewrap, MetaRewrap, RootRewrap, WrappedKey};

/// The meta rows wrapped by the root key, with the label each is wrapped under.
const ROOT_WRAPPED_META: [(&str, &str); 2] = [(AUDIT_KEY_META, "audit"), (CONFIG_KEY_META, "config")];

/// What a root-key rotation re-wrapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootRotation {
    /// Data keys re-wrapped, all workspaces and generations together.
    pub data_keys: usize,
    /// Workspaces whose keys were re-wrapped.
    pub workspaces: usize,
}

/// What one page of a data-key rotation's re-encryption did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reencrypted {
    /// The generation values are re-encrypted to (the workspace's current one).
    pub generation: u32,
    /// Versions re-encrypted by this page.
    pub done: usize,
    /// Stored values still sealed with an older generation after this page.
    pub remaining: u64,
}

impl Service {
    /// Starts a data-key rotation: a new data-key generation, current at once (every write from
    /// now on is sealed with it), recorded as `key.rotate_data`. The older generations stay, so
    /// every kept version still opens; [`Service::reencrypt_page`] moves them over. Owner only.
    pub async fn rotate_data(&self, ctx: &Ctx, workspace: &WorkspaceName) -> Result<u32> {
        self.audited_change(ctx, "key.rotate_data", workspace, async {
            Self::require_key_owner(ctx, "rotate the data key")?;
            let current = self.store.data_key(workspace, None).await?;
            let generation = current.generation + 1;
            let key = DataKey::generate(generation)?;
            let wrapped = WrappedKey { generation, wrapped: self.keyring.root().wrap(workspace.as_str(), &key)? };
            let mut record = Self::change_record(ctx, "key.rotate_data", workspace);
            record.detail = Some(format!("data-key generation {generation} is current"));
            let op = BatchOp::AddDataKey { workspace: workspace.clone(), key: wrapped, now: now_millis() };
            self.commit(vec![op], vec![record]).await?;
            Ok(generation)
        })
        .await
    }

    /// Re-encrypts up to `limit` kept versions of the workspace still sealed with an older data-key
    /// generation to the current one, in one transaction with its record (`key.reencrypt`). Each
    /// is replaced only if it still holds what was read, so writers are not disturbed. Run it until
    /// `remaining` is 0; a crash loses nothing: the next run finds what is left.
    pub async fn reencrypt_page(&self, ctx: &Ctx, workspace: &WorkspaceName, limit: u32) -> Result<Reencrypted> {
        self.audited_change(ctx, "key.reencrypt", workspace, async {
            Self::require_key_owner(ctx, "re-encrypt values")?;
            let current = self.data_key_for(workspace, None).await?;
            let generation = current.generation();
            let stale = self.store.versions_not_on(workspace, generation, limit).await?;
            let mut ops = Vec::with_capacity(stale.len());
            for v in &stale {
                let old_key = self.data_key_for(workspace, Some(Keyring::sealed_generation(&v.sealed)?)).await?;
                let aad = Self::aad(&v.path, v.version, v.kind);
                let value = old_key.open(&aad, &v.sealed).map_err(|e| {
                    ServiceError::Storage(format!(
                        "version {} of entry {} does not open ({e}); nothing of this page was changed",
                        v.version, v.path
                    ))
                })?;
                let new = current.seal(&aad, value.expose())?;
                ops.push(BatchOp::Reseal { path: v.path.clone(), version: v.version, old: v.sealed.clone(), new });
            }
            let done = ops.len();
            if done > 0 {
                let mut record = Self::change_record(ctx, "key.reencrypt", workspace);
                record.detail = Some(format!("{done} versions re-encrypted to data-key generation {generation}"));
                self.commit(ops, vec![record]).await?;
            }
            let remaining = self.remaining_on_old_generations(workspace, generation).await?;
            Ok(Reencrypted { generation, done, remaining })
        })
        .await
    }

    /// A data key that does not open with the root key held: read the root key again from its
    /// provider (a rotation by another process may have replaced it) and keep the new one if it
    /// opens the data key. One reload at a time; a request that waited finds the key unwrapped.
    pub(crate) async fn reload_root(&self, workspace: &WorkspaceName, wrapped: &[u8]) -> Result<Arc<DataKey>> {
        let _turn = self.root_reload_turn.lock().await;
        if let Ok(dk) = self.keyring.data_key(workspace.as_str(), wrapped) {
            return Ok(dk);
        }
        let reload = self.root_reload.clone().expect("only called with a reload");
        let record = self.store.get_meta(ROOT_KEY_PROVIDER_META).await?;
        let failed = |why: String| {
            ServiceError::Storage(format!(
                "a data key of workspace {workspace} does not open with this server's root key, and reading the root \
                 key again failed: {why}; restart the server with the store's current root key"
            ))
        };
        let root = tokio::task::spawn_blocking(move || reload(record))
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(failed)?;
        root.unwrap(workspace.as_str(), wrapped).map_err(|_| {
            failed(
                "its provider gives a key that does not open it either (the store's keys and its root key differ)"
                    .into(),
            )
        })?;
        tracing::info!("the root key was rotated by another process: read it again from its provider");
        self.keyring.replace_root(root);
        Ok(self.keyring.data_key(workspace.as_str(), wrapped)?)
    }

    /// Stored values of the workspace per data-key generation, and the current generation.
    pub async fn key_generations(&self, workspace: &WorkspaceName) -> Result<(u32, Vec<(u32, u64)>)> {
        let current = self.store.data_key(workspace, None).await?.generation;
        Ok((current, self.store.count_by_generation(workspace).await?))
    }

    async fn remaining_on_old_generations(&self, workspace: &WorkspaceName, current: u32) -> Result<u64> {
        let counts = self.store.count_by_generation(workspace).await?;
        Ok(counts.iter().filter(|(g, _)| *g != current).map(|(_, n)| n).sum())
    }

    fn require_key_owner(ctx: &Ctx, doing: &str) -> Result<()> {
        if ctx.caller.is_owner() {
            Ok(())
        } else {
            Err(ServiceError::Denied(format!("{} cannot {doing}: only the workspace owner can", ctx.caller.principal)))
        }
    }

    /// Re-wraps every key the root key wraps under `new_root`, all or nothing, with `provider`
    /// (the root key's provider record, if it changes) in the same transaction and the record
    /// `key.rotate_root`. Only the workspace owner rotates: the root key is the whole store's.
    /// Refused with a conflict (nothing changed) when a key moved while it was being re-wrapped.
    pub async fn rotate_root(
        &self,
        ctx: &Ctx,
        new_root: &RootKey,
        provider: Option<MetaRewrap>,
    ) -> Result<RootRotation> {
        self.audited_change(ctx, "key.rotate_root", "root-key", async {
            Self::require_key_owner(ctx, "rotate the root key")?;
            let old = self.keyring.root();
            let listed = self.store.list_data_keys().await?;
            let mut data_keys = Vec::with_capacity(listed.len());
            for (workspace, key) in listed {
                let new = old.rewrap(new_root, workspace.as_str(), &key.wrapped).map_err(Self::not_this_root)?;
                data_keys.push(DataKeyRewrap { workspace, generation: key.generation, old: key.wrapped, new });
            }
            let mut meta = Vec::new();
            for (name, label) in ROOT_WRAPPED_META {
                if let Some(wrapped) = self.store.get_meta(name).await? {
                    let new = MacKey::rewrap(&old, new_root, label, &wrapped).map_err(Self::not_this_root)?;
                    meta.push(MetaRewrap { key: name.to_owned(), old: Some(wrapped), new });
                }
            }
            meta.extend(provider);
            let mut workspaces: Vec<&str> = data_keys.iter().map(|k| k.workspace.as_str()).collect();
            workspaces.dedup();
            let rotation = RootRotation { data_keys: data_keys.len(), workspaces: workspaces.len() };
            let mut record = Self::change_record(ctx, "key.rotate_root", "root-key");
            record.detail = Some(format!(
                "{} data keys of {} workspaces and {} MAC keys re-wrapped under a new root key",
                rotation.data_keys,
                rotation.workspaces,
                ROOT_WRAPPED_META.len()
            ));
            self.commit(vec![BatchOp::RewrapRoot(RootRewrap { data_keys, meta })], vec![record]).await?;
            Ok(rotation)
        })
        .await
    }

    /// A stored key that this service's root key does not open: not a key the rotation can carry.
    fn not_this_root(e: CryptoError) -> ServiceError {
        match e {
            CryptoError::OpenFailed => ServiceError::Conflict(
                "a stored key is not wrapped by the current root key (another rotation finished meanwhile?); \
                 nothing was changed"
                    .into(),
            ),
            e => e.into(),
        }
    }
}
