//! Application access keys: a key id and a key secret that an application (a Conductor worker,
//! say) exchanges for a short-lived token, as Orkes Conductor's `POST /api/token` does.
//!
//! The key secret is 256 random bits, shown once at creation and stored only as its SHA-256
//! (compared in constant time), like a token. An exchange mints an ordinary tresor token for the
//! key's application, so everything after it — grants, audit, revocation — is the token path.

use crate::auth::{mint_token, Ctx, MintedToken};
use crate::auth_failures::{with_client_request_id, Credential, Origin};
use crate::{Result, Service, ServiceError};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64URL, Engine};
use tresor_crypto::{ct_eq, random_token_bytes, token_hash};
use tresor_model::{now_millis, Access, EnvName, PrincipalKind, PrincipalRef, WorkspaceName};
use tresor_store::{AppKeyRecord, BatchOp, StoreError, TokenRecord};
use zeroize::Zeroizing;

/// A freshly created application key: its record and its secret, to be shown once.
pub struct NewAppKey {
    pub record: AppKeyRecord,
    pub secret: Zeroizing<String>,
}

impl std::fmt::Debug for NewAppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewAppKey({}, <redacted>)", self.record.id)
    }
}

/// The name given to the tokens an exchange mints; revoking the key revokes them by this name.
fn minted_token_name(key_id: &str) -> String {
    format!("app key {key_id}")
}

/// Key ids look like UUIDs, as Orkes' do: 128 random bits in 8-4-4-4-12 hex groups.
fn new_key_id() -> Result<String> {
    let b = random_token_bytes::<16>()?;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
}

/// A key id as it may appear in the audit log: presented ids are caller input, so anything that
/// is not plainly an id is recorded as malformed.
fn printable_id(id: &str) -> &str {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        id
    } else {
        "(malformed)"
    }
}

impl Service {
    /// Creates an access key for an application (workspace `manage`), creating the application
    /// principal if it does not exist yet. `environment` binds the key: the tokens it is
    /// exchanged for are bound to it. The secret is in the answer and nowhere else.
    pub async fn create_app_key(
        &self,
        ctx: &Ctx,
        app: &PrincipalRef,
        environment: Option<&EnvName>,
    ) -> Result<NewAppKey> {
        self.audited_change(ctx, "app_key.create", format!("app key of {app}"), async {
            self.require_may_bind(ctx, environment, "an application key").await?;
            self.require_workspace(ctx, Access::Manage, "create application keys")?;
            if app.kind != PrincipalKind::App {
                return Err(ServiceError::InvalidInput(format!(
                    "application keys belong to applications (app:NAME), not to {app}"
                )));
            }
            let ws = &ctx.caller.workspace;
            self.require_may_mint_for(ctx, app, "create an application key").await?;
            if !self.store.principal_exists(ws, app).await? {
                match self.create_principal(ctx, app).await {
                    Ok(()) | Err(ServiceError::AlreadyExists(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            let secret = Zeroizing::new(B64URL.encode(*Zeroizing::new(random_token_bytes::<32>()?)));
            let record = AppKeyRecord {
                id: new_key_id()?,
                workspace: ws.clone(),
                principal: app.clone(),
                hash: token_hash(secret.as_bytes()).to_vec(),
                created_at: now_millis(),
                created_by: ctx.caller.label().to_owned(),
                revoked_at: None,
                environment: environment.cloned(),
            };
            let target = match environment {
                Some(env) => format!("app key {} of {app} bound to environment {env}", record.id),
                None => format!("app key {} of {app}", record.id),
            };
            let audit = Self::change_record(ctx, "app_key.create", target);
            self.commit(vec![BatchOp::InsertAppKey(record.clone())], vec![audit]).await?;
            Ok(NewAppKey { record, secret })
        })
        .await
    }

    /// The workspace's application keys (workspace `manage`), without secrets.
    pub async fn list_app_keys(&self, ctx: &Ctx) -> Result<Vec<AppKeyRecord>> {
        self.manage_listing(
            ctx,
            "app_key.list",
            "list application keys",
            self.store.list_app_keys(&ctx.caller.workspace),
        )
        .await
    }

    /// Revokes an application key (workspace `manage`) and the tokens it was exchanged for.
    pub async fn revoke_app_key(&self, ctx: &Ctx, id: &str) -> Result<()> {
        self.audited_change(ctx, "app_key.revoke", format!("app key {}", printable_id(id)), async {
            self.require_workspace(ctx, Access::Manage, "revoke application keys")?;
            // The key and the tokens it was exchanged for, in one step with the record.
            let op = BatchOp::RevokeAppKey {
                workspace: ctx.caller.workspace.clone(),
                id: id.into(),
                now: now_millis(),
                minted_tokens_named: minted_token_name(id),
            };
            let record = Self::change_record(ctx, "app_key.revoke", format!("app key {}", printable_id(id)));
            let r = self.commit_access(op, record).await;
            r.map_err(|e| match e {
                StoreError::NotFound(_) => ServiceError::NotFound(format!(
                    "application key {id} does not exist; list them with `tresor app-key ls`"
                )),
                e => e.into(),
            })
        })
        .await
    }

    /// Exchanges an application key for a token of its application that expires after
    /// `ttl_seconds`. Unknown ids, wrong secrets, revoked keys and keys whose application was
    /// deleted are refused alike (401) and audited like failed token authentications (per
    /// source and interval, in the workspace of the key the id names, if any); the secret is
    /// never recorded.
    pub async fn exchange_app_key(
        &self,
        key_id: &str,
        key_secret: &str,
        ttl_seconds: u64,
        origin: &Origin,
    ) -> Result<MintedToken> {
        let refused = || ServiceError::Unauthenticated("the application key id or secret is not valid".into());
        // The workspace of the key the id names, once found: a refusal is recorded there.
        let mut named: Option<WorkspaceName> = None;
        let out = async {
            if printable_id(key_id) != key_id {
                return Err(refused());
            }
            let record = self.store.get_app_key(key_id).await?.ok_or_else(refused)?;
            named = Some(record.workspace.clone());
            if !ct_eq(&record.hash, &token_hash(key_secret.as_bytes())) {
                return Err(refused());
            }
            if record.revoked_at.is_some() {
                return Err(ServiceError::Unauthenticated("the application key has been revoked".into()));
            }
            if !self.store.principal_exists(&record.workspace, &record.principal).await? {
                return Err(ServiceError::Unauthenticated(format!(
                    "the application key's application {} no longer exists",
                    record.principal
                )));
            }
            let now = now_millis();
            let minted = mint_token()?;
            let token = TokenRecord {
                id: minted.id.clone(),
                workspace: record.workspace.clone(),
                principal: record.principal.clone(),
                name: minted_token_name(&record.id),
                hash: minted.hash.to_vec(),
                created_at: now,
                created_by: minted_token_name(&record.id),
                expires_at: Some(now.saturating_add((ttl_seconds.min(i64::MAX as u64 / 1000) as i64) * 1000)),
                revoked_at: None,
                // The key's binding: an application key bound to an environment yields tokens
                // that act there only.
                environment: record.environment.clone(),
            };
            // The token commits with its record: a minted token never exists unrecorded.
            let audit = crate::audit::new_record(
                record.workspace.to_string(),
                origin.request_id.clone(),
                record.principal.to_string(),
                Credential::AppKey.action(),
                Credential::AppKey.target(&record.id),
                "ok",
                with_client_request_id(
                    Some(match &record.environment {
                        Some(env) => format!("token {} for {ttl_seconds} s bound to environment {env}", minted.id),
                        None => format!("token {} for {ttl_seconds} s", minted.id),
                    }),
                    origin.client_request_id.as_deref(),
                ),
            );
            self.commit(vec![BatchOp::InsertToken(token)], vec![audit]).await?;
            Ok(minted)
        }
        .await;
        if let Err(e) = &out {
            self.audit_auth_failure(origin, Credential::AppKey, printable_id(key_id), named.as_ref(), e).await?;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_uuids_and_odd_ids_are_not_recorded() {
        let id = new_key_id().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_eq!(printable_id(&id), id);
        assert_eq!(printable_id("a b"), "(malformed)");
        assert_eq!(printable_id(""), "(malformed)");
        assert_eq!(printable_id(&"a".repeat(65)), "(malformed)");
    }
}
