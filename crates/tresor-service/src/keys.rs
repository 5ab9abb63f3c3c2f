//! Key management: root-key rotation. Every data key of every workspace and the MAC keys (audit
//! chain, value hashes) are unwrapped with the current root key and wrapped with the new one, and
//! written in ONE transaction with the change of the root key's provider record and the audit
//! record. A running server keeps serving: it holds its data keys unwrapped (loaded at start, see
//! [`Service::open`]), so a re-wrap under a new root key does not disturb it; it needs the new root
//! key only at its next start.

use crate::*;
use tresor_crypto::CryptoError;
use tresor_store::{DataKeyRewrap, MetaRewrap, RootRewrap};

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

impl Service {
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
            if !ctx.caller.is_owner() {
                return Err(ServiceError::Denied(format!(
                    "{} cannot rotate the root key: only the workspace owner can",
                    ctx.caller.principal
                )));
            }
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
                    let new = MacKey::rewrap(old, new_root, label, &wrapped).map_err(Self::not_this_root)?;
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
