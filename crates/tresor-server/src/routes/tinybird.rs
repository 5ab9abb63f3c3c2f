//! The Tinybird-compatible Secrets API: `/v0/secrets` and its newer name `/v0/variables`.
//!
//! A thin translation onto the service, as Tinybird documents the API: secrets live in vault
//! `default` of the token's environment (`default` for an unbound token; a token bound to
//! `staging` or `production` is Tinybird's token of that workspace), as entries of kind secret.
//! A token bound to a branch reads the parent's secrets through the branch and changes none:
//! POST, PUT and DELETE answer 403 "You cannot create a secret in a Branch", as Tinybird's do.
//! The name is the rest of the path (`/v0/secrets/db/password` is secret `db/password`).
//! Bodies are form fields (`curl -d name=... -d value=...`) or JSON; answers carry `name`,
//! `created_at`, `updated_at` and `edited_by`, never the value. Tinybird's codes: 400 for invalid
//! or missing parameters (a name that is taken included), 403 for a limit reached or an invalid
//! token, 404 for an unknown secret. Its limits: 5 requests/s per token (the `Tinybird` route
//! class), 100 secrets per workspace, counted per environment (the secrets of its default vault,
//! `TRESOR_TINYBIRD_MAX_SECRETS`: `tresor_service::Limits::vault_secret_quota`, which a create
//! asks the store to check in its write's transaction), and the service's value size limit (8 KB
//! by default).

use super::{bad, compat_entry as entry, compat_vault as vault, is_json, media_type, secret_not_found as not_found};
use crate::error::{ApiError, ApiResult};
use crate::{authenticated, App, RouteClass, Surface};
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use tresor_model::{format_rfc3339, EntryKind, EntryMeta, EntryPath, SecretValue};
use tresor_service::{retry_on_conflict, Attempt, Ctx, ErrorKind, ServiceError, SetEntry};
use tresor_store::ListQuery;

pub fn router(app: &App) -> Router<App> {
    let mut routes = Router::new();
    for base in ["/v0/secrets", "/v0/variables"] {
        // Tinybird documents these routes as `/v0/secrets/(.+)`: the rest of the path is the name,
        // so a name with `/` (`db/password`) is reached as it was created; `%2F` works too.
        routes = routes
            .route(base, get(list).post(create))
            .route(&format!("{base}/"), get(list).post(create))
            .route(&format!("{base}/{{*name}}"), get(describe).put(update).delete(remove));
    }
    authenticated(app, RouteClass::Tinybird, Surface::Tinybird, routes)
}

/// Tinybird's codes: an invalid or missing token and a limit reached are 403; a taken name, a
/// conflicting write and a body of the wrong type are 400 ("invalid or missing parameters").
/// Decided by the error's [`ErrorKind`] (in the response's extensions); an answer without one (a
/// rejection by the HTTP layer itself: 415, 422) by its status.
pub(super) fn tinybird_codes(mut resp: Response) -> Response {
    let status = match resp.extensions().get::<ErrorKind>() {
        Some(ErrorKind::Unauthenticated | ErrorKind::Expired | ErrorKind::TooLarge) => StatusCode::FORBIDDEN,
        Some(ErrorKind::AlreadyExists | ErrorKind::Conflict) => StatusCode::BAD_REQUEST,
        Some(_) => return resp,
        None => match resp.status().as_u16() {
            413 => StatusCode::FORBIDDEN,
            415 | 422 => StatusCode::BAD_REQUEST,
            _ => return resp,
        },
    };
    *resp.status_mut() = status;
    resp
}

/// `name` and `value`, from form fields or a JSON body. Unknown fields are ignored, as are query
/// parameters (the token may come as `?token=`).
#[derive(Deserialize, Default)]
pub struct TbParams {
    name: Option<String>,
    value: Option<String>,
}

impl<S: Send + Sync> FromRequest<S> for TbParams {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let media = media_type(req.headers());
        if is_json(media.as_ref()) {
            return match axum::Json::<TbParams>::from_request(req, state).await {
                Ok(axum::Json(p)) => Ok(p),
                Err(axum::extract::rejection::JsonRejection::JsonSyntaxError(_)) => {
                    Err(bad("the body is not valid JSON; send name and value as JSON strings or as form fields"))
                }
                Err(_) => Err(bad("the JSON body must be an object whose name and value are strings")),
            };
        }
        if media.as_ref().is_some_and(|m| m.essence_str() == mime::APPLICATION_WWW_FORM_URLENCODED.essence_str()) {
            return axum::Form::<TbParams>::from_request(req, state)
                .await
                .map(|f| f.0)
                .map_err(|_| bad("the form body could not be read; send name=...&value=... (URL-encoded UTF-8)"));
        }
        let body = axum::body::Bytes::from_request(req, state).await.map_err(|_| bad("the body could not be read"))?;
        if body.is_empty() {
            return Ok(TbParams::default());
        }
        Err(bad("send name and value as form fields (curl -d name=... -d value=...) or as a JSON object"))
    }
}

/// A secret as Tinybird shows it: metadata only.
#[derive(Serialize)]
pub struct TbSecret {
    name: String,
    created_at: String,
    updated_at: String,
    edited_by: String,
}

/// Tinybird's timestamps: UTC, second precision, no zone suffix (`2024-06-21T10:27:57`).
fn tb_time(millis: i64) -> String {
    let mut s = format_rfc3339(millis);
    if s.ends_with('Z') {
        s.pop();
    }
    s
}

/// Tinybird names the editor by token (`token: 'admin token'`); tresor records
/// `PRINCIPAL (token 'NAME')`, and plain `PRINCIPAL` when no token was involved.
fn tb_editor(edited_by: &str) -> String {
    match edited_by.split_once(" (token '") {
        Some((_, rest)) if rest.ends_with("')") => format!("token: '{}'", &rest[..rest.len() - 2]),
        _ => edited_by.to_owned(),
    }
}

fn tb_secret(m: &EntryMeta) -> TbSecret {
    TbSecret {
        name: m.key.clone(),
        created_at: tb_time(m.created_at),
        updated_at: tb_time(m.updated_at),
        edited_by: tb_editor(&m.edited_by),
    }
}

/// Tinybird's list: `{"secrets": [...]}`, or `{"variables": [...]}` under the newer name.
#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum TbList {
    Secrets(Vec<TbSecret>),
    Variables(Vec<TbSecret>),
}

impl TbList {
    /// The list under the name the route was called by.
    fn of(uri: &Uri, all: Vec<TbSecret>) -> Self {
        if uri.path().starts_with("/v0/variables") {
            TbList::Variables(all)
        } else {
            TbList::Secrets(all)
        }
    }
}

/// Tinybird's answer to a delete: `{"ok": true}`.
#[derive(Serialize)]
struct TbDeleted {
    ok: bool,
}

/// The secrets the environment's default vault reads: a branch's include its parents'.
async fn secrets(app: &App, ctx: &Ctx) -> ApiResult<Vec<EntryMeta>> {
    let listed = app.svc.list_all(ctx, &vault(ctx), "", false).await?;
    Ok(listed.into_iter().map(|l| l.meta).filter(|m| m.kind == EntryKind::Secret).collect())
}

/// The entry named `name` in the default vault, of either kind, deleted or not.
async fn entry_named(app: &App, ctx: &Ctx, name: &str) -> ApiResult<Option<EntryMeta>> {
    // Keys sort by bytes, so the first key with `name` as a prefix is `name` itself if it exists.
    let query = ListQuery { prefix: name.to_owned(), after: None, limit: 1, include_deleted: true };
    let first = app.svc.list(ctx, &vault(ctx), &query).await?.into_iter().next();
    Ok(first.map(|l| l.meta).filter(|m| m.key == name))
}

/// The secret's metadata; a variable of the same name is not a Tinybird secret.
async fn secret_meta(app: &App, ctx: &Ctx, name: &str) -> ApiResult<(EntryPath, EntryMeta)> {
    let path = entry(ctx, name)?;
    match app.svc.describe(ctx, &path).await {
        Ok(meta) if meta.kind == EntryKind::Secret => Ok((path, meta)),
        Ok(_) => Err(not_found(name)),
        Err(ServiceError::NotFound(_)) => Err(not_found(name)),
        Err(e) => Err(e.into()),
    }
}

fn required(v: Option<String>, what: &str) -> ApiResult<String> {
    v.filter(|s| !s.is_empty()).ok_or_else(|| bad(format!("the {what} parameter is missing or empty")))
}

/// The `value` parameter, which must be present; whether an empty one may be stored is the
/// service's rule, the same on every surface.
fn value_param(v: Option<String>) -> ApiResult<SecretValue> {
    v.map(SecretValue::from).ok_or_else(|| bad("the value parameter is missing; send it as value=..."))
}

async fn create(State(app): State<App>, Extension(ctx): Extension<Ctx>, p: TbParams) -> ApiResult<Json<TbSecret>> {
    let name = required(p.name, "name")?;
    let value = value_param(p.value)?;
    let path = entry(&ctx, &name)?;
    // A branch reads its parent's secrets and creates none: say so before looking the name up
    // (it may well be the parent's).
    app.svc.check_writable(&ctx, &path).await?;
    // Names are unique per workspace. A deleted entry's name may be taken again, and to a
    // Tinybird user that makes a new secret (Tinybird has no undelete): the deleted entry is
    // purged with its versions first, so the new secret starts at version 1 with its own
    // created_at and none of the old values stays readable. Until then the delete stays
    // recoverable, as everywhere in tresor (`tresor undelete NAME`).
    let existing = entry_named(&app, &ctx, &name).await?;
    match &existing {
        Some(m) if m.deleted_at.is_none() && m.kind == EntryKind::Secret => {
            return Err(bad(format!(
                "a secret named {name} already exists in this workspace; change its value with PUT /v0/secrets/{name}"
            )))
        }
        Some(m) if m.deleted_at.is_none() => {
            return Err(bad(format!(
                "{name} is a variable in environment {}, vault default; a secret cannot take its name: \
                 choose another name or delete the variable first",
                path.environment
            )))
        }
        _ => {}
    }
    if existing.is_some() {
        // Purging is final: when the create that follows would be refused for the limit, refuse
        // it before purging, so the deleted secret stays recoverable. (The store's check in the
        // write's transaction stays the one that counts under concurrency.)
        if let Some(limit) = app.svc.limits().vault_secret_quota {
            let vault = vault(&ctx);
            let listed = app.svc.list_all(&ctx, &vault, "", false).await?;
            let held = listed
                .iter()
                .filter(|l| l.meta.kind == EntryKind::Secret && l.environment == vault.environment.as_str())
                .count() as u64;
            if held >= limit {
                return Err(limit_reached(&ctx, held, limit));
            }
        }
        match app.svc.purge(&ctx, &path).await {
            Ok(()) | Err(ServiceError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let req = SetEntry {
        expected_version: Some(0),
        within_vault_secret_quota: true,
        ..SetEntry::new(path, EntryKind::Secret, value)
    };
    // The limit of secrets per workspace (Limits::vault_secret_quota) is checked by the store in
    // the write's transaction, so concurrent creates, on this server or another one sharing the
    // database, cannot overshoot it.
    match app.svc.set(&ctx, req).await {
        Ok(meta) => Ok(Json(tb_secret(&meta))),
        Err(ServiceError::Conflict(_)) => Err(bad(format!("a secret named {name} already exists in this workspace"))),
        Err(ServiceError::VaultSecretLimit { held, limit, .. }) => Err(limit_reached(&ctx, held, limit)),
        Err(e) => Err(e.into()),
    }
}

fn limit_reached(ctx: &Ctx, held: u64, limit: u64) -> ApiError {
    ApiError::LimitReached(format!(
        "limit reached: the workspace (environment {}) already holds {held} secrets and the limit is {limit} \
         (TRESOR_TINYBIRD_MAX_SECRETS); delete a secret or raise the limit",
        vault(ctx).environment
    ))
}

async fn update(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    axum::extract::Path(name): axum::extract::Path<String>,
    p: TbParams,
) -> ApiResult<Json<TbSecret>> {
    let value = value_param(p.value)?;
    // In a branch: 403 whether or not the parent holds the name.
    app.svc.check_writable(&ctx, &entry(&ctx, &name)?).await?;
    // Update only what exists (404 otherwise), with check-and-set against the version seen, so an
    // update never recreates a secret deleted in between.
    let (app, ctx, name, value) = (&app, &ctx, &name, &value);
    let attempt = move || async move {
        let (path, meta) = secret_meta(app, ctx, name).await?;
        let req = SetEntry {
            expected_version: Some(meta.version),
            ..SetEntry::new(path, EntryKind::Secret, SecretValue::new(value.expose().to_vec()))
        };
        match app.svc.set(ctx, req).await {
            Ok(meta) => Ok(Attempt::Done(Json(tb_secret(&meta)))),
            Err(ServiceError::Conflict(_)) => Ok(Attempt::Conflicted),
            Err(e) => Err(e.into()),
        }
    };
    retry_on_conflict(attempt, || {
        bad(format!("secret {name} is being changed by other requests at the same time; retry"))
    })
    .await
}

async fn list(State(app): State<App>, Extension(ctx): Extension<Ctx>, uri: Uri) -> ApiResult<Json<TbList>> {
    let all: Vec<TbSecret> = secrets(&app, &ctx).await?.iter().map(tb_secret).collect();
    Ok(Json(TbList::of(&uri, all)))
}

async fn describe(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> ApiResult<Json<TbSecret>> {
    Ok(Json(tb_secret(&secret_meta(&app, &ctx, &name).await?.1)))
}

async fn remove(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> ApiResult<Json<TbDeleted>> {
    app.svc.check_deletable(&ctx, &entry(&ctx, &name)?).await?;
    let (path, _) = secret_meta(&app, &ctx, &name).await?;
    match app.svc.delete(&ctx, &path).await {
        Ok(()) => Ok(Json(TbDeleted { ok: true })),
        Err(ServiceError::NotFound(_)) => Err(not_found(&name)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_follow_tinybird() {
        assert_eq!(tb_time(1_718_965_677_123), "2024-06-21T10:27:57");
        assert_eq!(tb_editor("user:owner (token 'admin token')"), "token: 'admin token'");
        assert_eq!(tb_editor("user:alice"), "user:alice");
        let list = |path: &str| serde_json::to_value(TbList::of(&path.parse().unwrap(), vec![])).unwrap();
        assert_eq!(list("/v0/variables/x"), serde_json::json!({"variables": []}));
        assert_eq!(list("/v0/secrets"), serde_json::json!({"secrets": []}));
        assert_eq!(serde_json::to_value(TbDeleted { ok: true }).unwrap(), serde_json::json!({"ok": true}));
    }
}
