pub mod conductor;
pub mod native;
pub mod tinybird;
pub mod vault;

use crate::error::ApiError;
use crate::Surface;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use tresor_model::{EntryKey, EntryPath, VaultName, VaultPath};
use tresor_service::{Ctx, ServiceError};

/// An answer in the shape of the surface that was called: tresor's own errors pass unchanged,
/// the compatibility surfaces translate them to what their clients expect.
pub(crate) async fn shape(surface: Surface, resp: Response) -> Response {
    match surface {
        Surface::Native => resp,
        Surface::Tinybird => tinybird::tinybird_codes(resp),
        Surface::Conductor => conductor::conductor_errors(resp).await,
        Surface::Vault => vault::vault_errors(resp).await,
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// The request's media type, parsed once by the `mime` crate (as axum parses it); `None` when
/// there is none or it does not parse (then no body is taken for JSON or a form).
fn media_type(headers: &HeaderMap) -> Option<mime::Mime> {
    headers.get(header::CONTENT_TYPE)?.to_str().ok()?.parse().ok()
}

/// `application/json` or a `+json` type.
fn is_json(media: Option<&mime::Mime>) -> bool {
    media.is_some_and(|m| {
        m.type_() == mime::APPLICATION && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
    })
}

/// Where the compatibility surfaces keep their secrets: vault `default` of the environment the
/// caller's token is bound to (`default` for an unbound token) in the caller's workspace. The
/// platforms they mirror have no such levels; Tinybird's staging and production workspaces are
/// tokens bound to two environments, its branches tokens bound to a branch.
fn compat_vault(ctx: &Ctx) -> VaultPath {
    VaultPath {
        workspace: ctx.caller.workspace.clone(),
        environment: ctx.caller.compat_environment(),
        vault: VaultName::default_name(),
    }
}

fn compat_entry(ctx: &Ctx, name: &str) -> Result<EntryPath, ApiError> {
    Ok(compat_vault(ctx).entry(EntryKey::new(name)?))
}

fn secret_not_found(name: &str) -> ApiError {
    ApiError::Service(ServiceError::NotFound(format!("secret {name} not found")))
}

/// Settings of the compatibility surfaces.
#[derive(Debug, Clone)]
pub struct CompatConfig {
    /// Lifetime, in seconds, of the tokens that Conductor's `POST /api/token` mints for
    /// application keys.
    pub app_token_ttl_secs: u64,
}

impl Default for CompatConfig {
    fn default() -> Self {
        Self { app_token_ttl_secs: 3600 }
    }
}
