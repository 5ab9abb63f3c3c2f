//! The Conductor-compatible (Orkes) Secrets API, as Orkes documents it and its clients call it.
//!
//! A thin translation onto the service: secrets live in vault `default` of the token's
//! environment (`default` for an unbound token; an application key bound to an environment
//! yields tokens bound to it), as entries of kind secret. In a branch environment secrets are
//! read through from the parent and not changed here: PUT and DELETE answer 403. The token comes
//! in `X-Authorization`.
//!
//! - Names may hold `/`: the name is the rest of the path (`/api/secrets/db/password`), with
//!   `/exists` and `/tags` at its end naming those routes; a `/` sent as `%2F` stays in the name.
//! - `PUT /api/secrets/{key}`: the body is the value: byte for byte unless the Content-Type is
//!   JSON; with JSON, a JSON string, quoted (`"needles"`) or without its quotes as conductor-python
//!   sends it (`needles`, `caf\u00e9`), or a JSON document kept as it is (see [`value_of`]). `GET /api/secrets/{key}`: the value as plain text (needs
//!   `read`). `GET .../exists`: `true`/`false`. `GET`/`POST /api/secrets`: the names.
//!   `DELETE /api/secrets/{key}`. Tags under `/api/secrets/{key}/tags` (no new value version).
//! - `POST /api/token` exchanges an application key (`keyId`, `keySecret`) for a short-lived
//!   token; an expired or unknown token answers 401 with `"error": "EXPIRED_TOKEN"` or
//!   `"INVALID_TOKEN"`, which is what makes Conductor's clients fetch a new one.
//! - `POST`/`DELETE /api/auth/authorization` grant and revoke an application's access to one
//!   secret, through the service's grants; `GET /api/auth/authorization/SECRET_NAME/{name}` lists
//!   who holds which access on it.

use super::{bad, compat_entry as entry, compat_vault as vault, is_json, media_type, secret_not_found as not_found};
use crate::error::{ApiError, ApiResult};
use crate::{authenticated, App, Peer, Rate, RouteClass, Surface};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use tresor_api::ErrorDoc;
use tresor_model::{Access, EntryKind, EntryMeta, EntryPath, PrincipalKind, PrincipalRef, SecretValue, Tag, VaultName};
use tresor_service::{Ctx, ErrorKind, Origin, ServiceError, SetEntry};
use zeroize::Zeroizing;

pub fn router(app: &App) -> Router<App> {
    // Conductor's routes take the name as one segment; tresor's names may hold `/`, so the name
    // is the rest of the path (as on Tinybird's `/v0/secrets/(.+)`), with `/exists` and `/tags` at
    // its end naming those routes. The router cannot hold `{key}` or `{key}/exists` beside a
    // catch-all, so the catch-all takes every path and tells them apart (see [`SecretPath`]).
    let entries = Router::new()
        .route("/api/secrets", get(list_names).post(list_names))
        .route("/api/secrets-v2", get(list_with_tags))
        .route("/api/secrets/{*path}", get(get_at).put(put_at).delete(delete_at));
    let management = Router::new()
        .route("/api/auth/authorization", post(grant).delete(revoke))
        .route("/api/auth/authorization/{type}/{*id}", get(permissions));
    authenticated(app, RouteClass::Entries, Surface::Conductor, entries).merge(authenticated(
        app,
        RouteClass::Management,
        Surface::Conductor,
        management,
    ))
}

/// The one Conductor route outside the gate: how a client exchanges its application key for a
/// token.
pub fn open_router() -> Router<App> {
    Router::new().route("/api/token", post(token))
}

/// Conductor's error shape: `status`, `message`, and `error` — for a token that is refused,
/// `EXPIRED_TOKEN` or `INVALID_TOKEN`, which Conductor's clients answer by fetching a new token
/// with their application key and retrying. Which of the two comes from the error's
/// [`ErrorKind`], carried in the response's extensions by `ApiError`; the message is our own
/// `ErrorDoc`'s. An answer without a kind (the router's own 404 and 405) keeps its status.
pub(super) async fn conductor_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let kind = resp.extensions().get::<ErrorKind>().copied();
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let message = match serde_json::from_slice::<ErrorDoc>(&bytes) {
        Ok(doc) => doc.error,
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    };
    let error = match kind {
        Some(ErrorKind::Expired) => "EXPIRED_TOKEN".to_owned(),
        Some(ErrorKind::Unauthenticated) => "INVALID_TOKEN".to_owned(),
        _ => message.clone(),
    };
    let doc = ConductorError {
        status: status.as_u16(),
        error,
        message,
        retryable: status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(serde_json::to_vec(&doc).unwrap_or_default()))
}

/// Conductor's error document.
#[derive(Serialize)]
struct ConductorError {
    status: u16,
    error: String,
    message: String,
    retryable: bool,
}

// ----- helpers -----

/// The secret's metadata; an entry of kind variable is not a Conductor secret.
async fn secret_meta(app: &App, ctx: &Ctx, key: &str) -> ApiResult<(EntryPath, EntryMeta)> {
    let path = entry(ctx, key)?;
    match app.svc.describe(ctx, &path).await {
        Ok(meta) if meta.kind == EntryKind::Secret => Ok((path, meta)),
        Ok(_) | Err(ServiceError::NotFound(_)) => Err(not_found(key)),
        Err(e) => Err(e.into()),
    }
}

async fn all_secrets(app: &App, ctx: &Ctx) -> ApiResult<Vec<EntryMeta>> {
    let listed = app.svc.list_all(ctx, &vault(ctx), "", false).await?;
    Ok(listed.into_iter().map(|l| l.meta).filter(|m| m.kind == EntryKind::Secret).collect())
}

/// Why a JSON body was refused as a value, and what to send instead. Never quotes the body.
const NOT_A_JSON_VALUE: &str = "with Content-Type: application/json the body is the value as a JSON string, \
     quoted (\"...\") or with its quotes left off as conductor-python sends it (\\\" and \\\\ escaped), or a \
     JSON object or array; this body is none of these. To store the bytes exactly as sent, use Content-Type: \
     text/plain";

/// The value of a `PUT`, by the body's Content-Type.
///
/// - Not JSON (`text/plain`, `application/octet-stream`, curl's default form type, none): the
///   body byte for byte.
/// - JSON: the value as a JSON string, in either of the forms clients send: quoted
///   (`"needles"`, as the Java SDK and `curl -d '"needles"'` send it), or without its quotes, as
///   conductor-python sends it (`json.dumps(value).strip('"')`: non-ASCII as `\uXXXX`, `"` and
///   `\` escaped). Python's `strip('"')` also takes the `"` of an escaped quote at the very end,
///   which leaves an odd run of backslashes there; that quote is put back. A plain word
///   (`curl -d needles`, the documentation's call) reads the same in both forms. A body that is
///   neither but is a JSON document (an object or an array, such as a service account's key
///   file) is kept as it is. Anything else is refused rather than guessed at: a `"` or a control
///   character that is not escaped cannot be told apart from a broken client.
///
/// The forms cannot overlap: conductor-python's body never starts with an unescaped `"`, and an
/// object or array holds unescaped `"`, which its unquoted form never does.
fn value_of(media: Option<&mime::Mime>, body: &[u8]) -> ApiResult<SecretValue> {
    if !is_json(media) {
        return Ok(SecretValue::new(body.to_vec()));
    }
    if let Ok(quoted) = serde_json::from_slice::<String>(body) {
        return Ok(SecretValue::from(quoted));
    }
    let trailing_backslashes = body.iter().rev().take_while(|&&b| b == b'\\').count();
    let mut requoted = Zeroizing::new(Vec::with_capacity(body.len() + 3));
    requoted.push(b'"');
    requoted.extend_from_slice(body);
    if trailing_backslashes % 2 == 1 {
        requoted.push(b'"');
    }
    requoted.push(b'"');
    if let Ok(unquoted) = serde_json::from_slice::<String>(&requoted) {
        return Ok(SecretValue::from(unquoted));
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        return Ok(SecretValue::new(body.to_vec()));
    }
    Err(bad(NOT_A_JSON_VALUE))
}

/// A tag as Conductor sends it; its `type` (`METADATA`) is accepted and not stored.
#[derive(Deserialize, Serialize)]
pub struct TagBody {
    key: String,
    #[serde(default)]
    value: String,
    #[serde(rename = "type", default, skip_deserializing)]
    kind: Option<String>,
}

/// A secret's name with its tags (`GET /api/secrets-v2`).
#[derive(Serialize)]
struct NamedTags {
    name: String,
    tags: Vec<TagBody>,
}

/// A token for an application key (`POST /api/token`).
#[derive(Serialize)]
struct MintedToken<'a> {
    token: &'a str,
}

/// The empty object Conductor answers a change of authorization with.
#[derive(Serialize)]
struct Empty {}

/// A subject as Orkes names it: `{"type": "USER", "id": "app:x"}`.
#[derive(Serialize, PartialEq, Debug)]
struct OrkesSubject {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
}

fn tag_docs(tags: Vec<Tag>) -> Vec<TagBody> {
    tags.into_iter().map(|t| TagBody { key: t.key, value: t.value, kind: Some("METADATA".into()) }).collect()
}

fn tags_of(body: &[u8]) -> ApiResult<Vec<Tag>> {
    let list: Vec<TagBody> = serde_json::from_slice(body)
        .map_err(|_| bad(r#"the body must be a JSON list of tags such as [{"key": "team", "value": "payments"}]"#))?;
    Ok(list.into_iter().map(|t| Tag { key: t.key, value: t.value }).collect())
}

// ----- secrets -----

async fn list_names(State(app): State<App>, Extension(ctx): Extension<Ctx>) -> ApiResult<Json<Vec<String>>> {
    Ok(Json(all_secrets(&app, &ctx).await?.into_iter().map(|m| m.key).collect()))
}

async fn list_with_tags(State(app): State<App>, Extension(ctx): Extension<Ctx>) -> ApiResult<Json<Vec<NamedTags>>> {
    let docs = all_secrets(&app, &ctx).await?.into_iter().map(|m| NamedTags { name: m.key, tags: tag_docs(m.tags) });
    Ok(Json(docs.collect()))
}

async fn value_answer(app: &App, ctx: &Ctx, key: &str) -> ApiResult<Response> {
    let resolved = app.svc.get(ctx, &entry(ctx, key)?, None).await?;
    if resolved.meta.kind != EntryKind::Secret {
        return Err(not_found(key));
    }
    let content_type = match resolved.value.expose_str() {
        Some(_) => "text/plain; charset=utf-8",
        None => "application/octet-stream",
    };
    let body = Body::from(resolved.value.expose().to_vec());
    Ok(([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-store")], body).into_response())
}

async fn store_value(app: &App, ctx: &Ctx, key: &str, headers: &HeaderMap, body: &[u8]) -> ApiResult<StatusCode> {
    let req = SetEntry::new(entry(ctx, key)?, EntryKind::Secret, value_of(media_type(headers).as_ref(), body)?);
    app.svc.set(ctx, req).await?;
    Ok(StatusCode::OK)
}

async fn exists_answer(app: &App, ctx: &Ctx, key: &str) -> ApiResult<Json<bool>> {
    match secret_meta(app, ctx, key).await {
        Ok(_) => Ok(Json(true)),
        Err(ApiError::Service(ServiceError::NotFound(_))) => Ok(Json(false)),
        Err(e) => Err(e),
    }
}

/// `PUT` or `DELETE` on `NAME/exists`: most likely meant for a secret whose name ends in
/// `/exists`, which the plain path cannot name (it asks about `NAME`).
fn exists_is_read_only() -> ApiError {
    ApiError::MethodNotAllowed(
        "NAME/exists only answers GET (whether NAME exists); to write or delete a secret whose name ends in \
         /exists, send that last / as %2F (/api/secrets/feature%2Fexists)"
            .into(),
    )
}

async fn remove_secret(app: &App, ctx: &Ctx, key: &str) -> ApiResult<StatusCode> {
    let (path, _) = secret_meta(app, ctx, key).await?;
    app.svc.delete(ctx, &path).await?;
    Ok(StatusCode::OK)
}

// ----- paths -----

/// What a path under `/api/secrets/` addresses: `NAME/exists`, `NAME/tags`, or else the secret
/// whose name is the whole rest of the path (`db/password` included).
///
/// Split on the path as sent, before percent-decoding, so that a `/` sent as `%2F` stays inside
/// the name: `a/b/exists` asks whether `a/b` exists, `a/b%2Fexists` is the secret `a/b/exists`.
/// (axum's `Path` hands the catch-all over decoded, which would lose that difference.)
#[derive(Debug, PartialEq)]
enum SecretPath {
    Value(String),
    Exists(String),
    Tags(String),
}

impl SecretPath {
    fn of(uri: &Uri) -> ApiResult<Self> {
        let raw = uri.path().strip_prefix("/api/secrets/").unwrap_or_default();
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|name| name.into_owned())
                .map_err(|_| bad("the secret's name in the path is not UTF-8 once percent-decoded"))
        };
        Ok(match raw.rsplit_once('/') {
            Some((name, "exists")) => SecretPath::Exists(decode(name)?),
            Some((name, "tags")) => SecretPath::Tags(decode(name)?),
            _ => SecretPath::Value(decode(raw)?),
        })
    }
}

async fn get_at(State(app): State<App>, Extension(ctx): Extension<Ctx>, uri: Uri) -> ApiResult<Response> {
    match SecretPath::of(&uri)? {
        SecretPath::Value(key) => value_answer(&app, &ctx, &key).await,
        SecretPath::Exists(key) => Ok(exists_answer(&app, &ctx, &key).await?.into_response()),
        SecretPath::Tags(key) => Ok(tags_answer(&app, &ctx, &key).await?.into_response()),
    }
}

async fn put_at(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let target = SecretPath::of(&uri)?;
    if let SecretPath::Value(key) | SecretPath::Tags(key) = &target {
        // In a branch: 403 whether or not the parent holds the name.
        app.svc.check_writable(&ctx, &entry(&ctx, key)?).await?;
    }
    match target {
        SecretPath::Value(key) => store_value(&app, &ctx, &key, &headers, &body).await,
        SecretPath::Tags(key) => change_tags(&app, &ctx, &key, &body, TagChange::Add).await,
        SecretPath::Exists(_) => Err(exists_is_read_only()),
    }
}

async fn delete_at(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    uri: Uri,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let target = SecretPath::of(&uri)?;
    match &target {
        SecretPath::Value(key) => app.svc.check_deletable(&ctx, &entry(&ctx, key)?).await?,
        SecretPath::Tags(key) => app.svc.check_writable(&ctx, &entry(&ctx, key)?).await?,
        SecretPath::Exists(_) => {}
    }
    match target {
        SecretPath::Value(key) => remove_secret(&app, &ctx, &key).await,
        SecretPath::Tags(key) => change_tags(&app, &ctx, &key, &body, TagChange::Remove).await,
        SecretPath::Exists(_) => Err(exists_is_read_only()),
    }
}

// ----- tags -----

async fn tags_answer(app: &App, ctx: &Ctx, key: &str) -> ApiResult<Json<Vec<TagBody>>> {
    Ok(Json(tag_docs(secret_meta(app, ctx, key).await?.1.tags)))
}

enum TagChange {
    Add,
    Remove,
}

async fn change_tags(app: &App, ctx: &Ctx, key: &str, body: &[u8], change: TagChange) -> ApiResult<StatusCode> {
    let tags = tags_of(body)?;
    let (path, _) = secret_meta(app, ctx, key).await?;
    match change {
        TagChange::Add => app.svc.update_tags(ctx, &path, &tags, &[]).await?,
        TagChange::Remove => app.svc.update_tags(ctx, &path, &[], &tags).await?,
    };
    Ok(StatusCode::OK)
}

// ----- application keys -----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequest {
    key_id: Option<String>,
    key_secret: Option<String>,
}

/// `POST /api/token`: an application key for a token. Not behind token authentication (it is how
/// a client gets one). Limited per peer address, not per key id (which the caller chooses, so a
/// limiter keyed by it would give each made-up id a fresh budget and grow without bound): every
/// exchange at the management rate (an exchange mints a token: a write), and the failed ones
/// also by the per-peer limit of failed authentications, like bad tokens. Its errors are
/// Conductor's shape with `INVALID_CREDENTIALS`, so a client does not take them for an expired
/// token.
async fn token(
    State(app): State<App>,
    origin: Option<Extension<Origin>>,
    peer: Option<Extension<Peer>>,
    body: Bytes,
) -> Response {
    let refuse = |status: StatusCode, error: &str, message: String| {
        let doc = ConductorError { status: status.as_u16(), error: error.into(), message, retryable: false };
        (status, Json(doc)).into_response()
    };
    let too_many = |message: String, retry_after_secs: u64| {
        let status = StatusCode::TOO_MANY_REQUESTS;
        let doc =
            ConductorError { status: status.as_u16(), error: "TOO_MANY_REQUESTS".into(), message, retryable: true };
        let mut resp = (status, Json(doc)).into_response();
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        resp
    };
    let req: TokenRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                r#"send {"keyId": "...", "keySecret": "..."} as JSON"#.into(),
            )
        }
    };
    let (Some(id), Some(secret)) = (req.key_id.filter(|s| !s.is_empty()), req.key_secret.filter(|s| !s.is_empty()))
    else {
        return refuse(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "keyId and keySecret are both required".into());
    };
    let origin = origin.map(|Extension(o)| o).unwrap_or_default();
    let peer = peer.and_then(|Extension(Peer(p))| p);
    let limiter = app.limiters.of(RouteClass::Management);
    let peer_label = origin.peer.as_deref().unwrap_or("an unknown peer");
    if let Err(retry_after_secs) = limiter.check(&format!("app-key exchange from {peer_label}")) {
        let Rate { count, per } = limiter.rate();
        let message = format!(
            "rate limit reached: {count} token requests/{} per client address; retry after {retry_after_secs} s",
            per.unit()
        );
        return too_many(message, retry_after_secs);
    }
    match app.svc.exchange_app_key(&id, &secret, app.compat.app_token_ttl_secs, &origin).await {
        Ok(minted) => Json(MintedToken { token: minted.text.as_str() }).into_response(),
        Err(e) if e.kind().is_credential_refusal() => match app.peer_failed(peer) {
            Ok(()) => refuse(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS", e.to_string()),
            Err(too_many_failures @ ApiError::TooManyFailures { retry_after_secs, .. }) => {
                too_many(too_many_failures.message(), retry_after_secs)
            }
            Err(other) => other.into_response(),
        },
        Err(e) => ApiError::from(e).into_response(),
    }
}

// ----- authorization -----

#[derive(Deserialize)]
struct RefBody {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Deserialize)]
struct AuthorizationBody {
    subject: RefBody,
    target: RefBody,
    access: Vec<String>,
}

/// The grants an authorization request stands for: one principal, one entry scope, the access
/// levels. Applications are `APPLICATION` subjects, or `USER` subjects whose id starts with
/// `app:` (how Orkes names an application's user).
fn grants_of(ctx: &Ctx, body: &AuthorizationBody) -> ApiResult<(PrincipalRef, tresor_model::Scope, Vec<Access>)> {
    let id = body.subject.id.as_str();
    let principal = match body.subject.kind.to_ascii_uppercase().as_str() {
        "APPLICATION" => PrincipalRef::new(PrincipalKind::App, id.strip_prefix("app:").unwrap_or(id))?,
        "USER" => match id.strip_prefix("app:") {
            Some(app) => PrincipalRef::new(PrincipalKind::App, app)?,
            None => PrincipalRef::new(PrincipalKind::User, id)?,
        },
        "GROUP" => PrincipalRef::new(PrincipalKind::Group, id)?,
        other => return Err(bad(format!("subject type {other:?} is not supported: use APPLICATION, USER or GROUP"))),
    };
    let key = secret_target(ctx, &body.target.kind, &body.target.id)?;
    let scope: tresor_model::Scope =
        format!("{}/{}/{key}", ctx.caller.compat_environment(), VaultName::default_name()).parse()?;
    let mut levels = Vec::new();
    for a in &body.access {
        let level = match a.to_ascii_uppercase().as_str() {
            "READ" => Access::Read,
            "CREATE" | "UPDATE" | "DELETE" => Access::Write,
            other => {
                return Err(bad(format!(
                    "access {other:?} does not apply to secrets: use READ, CREATE, UPDATE or DELETE"
                )))
            }
        };
        if !levels.contains(&level) {
            levels.push(level);
        }
    }
    if levels.is_empty() {
        return Err(bad("access is empty: name at least one of READ, CREATE, UPDATE, DELETE"));
    }
    Ok((principal, scope, levels))
}

/// The secret an authorization target names: tresor's grants reach secrets only.
fn secret_target(ctx: &Ctx, kind: &str, id: &str) -> ApiResult<tresor_model::EntryKey> {
    match kind.to_ascii_uppercase().as_str() {
        "SECRET_NAME" | "SECRET" => Ok(entry(ctx, id)?.key),
        other => Err(bad(format!("target type {other:?} is not supported: tresor grants access to SECRET_NAME"))),
    }
}

/// A principal as Orkes names a subject: applications are users whose id is `app:NAME` (as
/// Orkes' SDKs name them, and as `grant` accepts them back).
fn orkes_subject(p: &PrincipalRef) -> OrkesSubject {
    match p.kind {
        PrincipalKind::User => OrkesSubject { kind: "USER", id: p.name.clone() },
        PrincipalKind::App => OrkesSubject { kind: "USER", id: format!("app:{}", p.name) },
        PrincipalKind::Group => OrkesSubject { kind: "GROUP", id: p.name.clone() },
    }
}

/// The Orkes access types a tresor access gives on a secret: `write` (and `admin`, which
/// includes it) is CREATE, UPDATE and DELETE, as `grant` maps them; `admin` does not read, and
/// `manage` and `webhook` give nothing on a secret's value.
fn orkes_accesses(access: Access) -> &'static [&'static str] {
    match access {
        Access::Read => &["READ"],
        Access::Write | Access::Admin => &["CREATE", "UPDATE", "DELETE"],
        Access::Manage | Access::Webhook => &[],
    }
}

/// `GET /api/auth/authorization/{type}/{id}` (conductor-python's `get_permissions`): who holds
/// which access on a secret, in Orkes' shape (`{"READ": [{"type": "USER", "id": "app:x"}]}`).
/// Every grant whose scope reaches the secret counts, broader ones (`default/default/*`, `*`)
/// included, so the answer says who can actually read it; a group is listed as the group.
/// Needs what listing grants needs: manage on the workspace (the call is audited as
/// `grant.list`).
async fn permissions(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    Path((kind, id)): Path<(String, String)>,
) -> ApiResult<Json<std::collections::BTreeMap<&'static str, Vec<OrkesSubject>>>> {
    let key = secret_target(&ctx, &kind, &id)?;
    let (env, vault) = (ctx.caller.compat_environment(), VaultName::default_name());
    let mut by_access: std::collections::BTreeMap<&'static str, Vec<OrkesSubject>> = Default::default();
    for g in app.svc.list_grants(&ctx).await? {
        // A stored scope always parses; one that would not reaches nothing.
        let reaches = g
            .scope
            .parse::<tresor_model::Scope>()
            .is_ok_and(|scope| scope.covers(env.as_str(), Some(vault.as_str()), Some(key.as_str())));
        if !reaches {
            continue;
        }
        for access in orkes_accesses(g.access) {
            let subjects = by_access.entry(access).or_default();
            let subject = orkes_subject(&g.principal);
            if !subjects.contains(&subject) {
                subjects.push(subject);
            }
        }
    }
    Ok(Json(by_access))
}

fn authorization_body(body: &[u8]) -> ApiResult<AuthorizationBody> {
    serde_json::from_slice(body).map_err(|_| {
        bad(r#"the body must be {"subject": {"type": "APPLICATION", "id": "..."}, "target": {"type": "SECRET_NAME", "id": "..."}, "access": ["READ"]}"#)
    })
}

async fn grant(State(app): State<App>, Extension(ctx): Extension<Ctx>, body: Bytes) -> ApiResult<Json<Empty>> {
    let body = authorization_body(&body)?;
    let (principal, scope, levels) = grants_of(&ctx, &body)?;
    if principal.kind == PrincipalKind::App {
        match app.svc.create_principal(&ctx, &principal).await {
            Ok(()) | Err(ServiceError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let existing = app.svc.list_grants(&ctx).await?;
    for level in levels {
        let held = existing.iter().any(|g| g.principal == principal && g.scope == scope.as_str() && g.access == level);
        if !held {
            app.svc.create_grant(&ctx, &principal, &scope, level).await?;
        }
    }
    Ok(Json(Empty {}))
}

async fn revoke(State(app): State<App>, Extension(ctx): Extension<Ctx>, body: Bytes) -> ApiResult<Json<Empty>> {
    let body = authorization_body(&body)?;
    let (principal, scope, levels) = grants_of(&ctx, &body)?;
    for g in app.svc.list_grants(&ctx).await? {
        if g.principal == principal && g.scope == scope.as_str() && levels.contains(&g.access) {
            app.svc.delete_grant(&ctx, &g.id).await?;
        }
    }
    Ok(Json(Empty {}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json() -> Option<mime::Mime> {
        Some(mime::APPLICATION_JSON)
    }

    fn stored(media: Option<mime::Mime>, body: &[u8]) -> Vec<u8> {
        value_of(media.as_ref(), body).unwrap().expose().to_vec()
    }

    #[test]
    fn put_bodies_follow_their_content_type() {
        // JSON: a string, quoted or as conductor-python sends it; a plain word either way.
        assert_eq!(stored(json(), b"needles"), b"needles");
        assert_eq!(stored(json(), br#""needles""#), b"needles");
        assert_eq!(stored(json(), br#""a \"quoted\" value""#), br#"a "quoted" value"#);
        assert_eq!(stored(json(), br#"caf\u00e9 \"au lait\""#), "café \"au lait\"".as_bytes());
        assert_eq!(stored(json(), br#"ends with a quote\"#), br#"ends with a quote""#, "strip('\"') took it");
        assert_eq!(stored(json(), br#"two backslashes\\"#), br#"two backslashes\"#);
        assert_eq!(stored(json(), b"12345"), b"12345");
        assert_eq!(stored(json(), b"{\"a\": 1}"), b"{\"a\": 1}", "a JSON document as it is");
        assert_eq!(stored("application/vnd.api+json; charset=utf-8".parse().ok(), b"caf\\u00e9"), "café".as_bytes());
        for refused in [&b"p@ss\"word"[..], b"two\nlines", br"bad \q escape", b"\xff\xfe"] {
            let e = value_of(json().as_ref(), refused).unwrap_err();
            assert!(e.message().contains("text/plain"), "{}", e.message());
        }
        // Anything else: byte for byte.
        for media in [Some(mime::TEXT_PLAIN_UTF_8), Some(mime::APPLICATION_WWW_FORM_URLENCODED), None] {
            for body in [&br#""quoted""#[..], br"back\slash\", b"\xff binary", b"two\nlines\n"] {
                assert_eq!(stored(media.clone(), body), body, "{media:?}");
            }
        }
        assert!(value_of(json().as_ref(), b"").unwrap().is_empty(), "an empty value is the service's to refuse");
        assert!(value_of(json().as_ref(), b"\"\"").unwrap().is_empty());
    }

    /// What conductor-python 2.0.0 sends for a string value (`rest.py`):
    /// `json.dumps(value).strip('"')`, with `json.dumps`' default `ensure_ascii=True`.
    fn python_client_body(value: &str) -> String {
        let mut dumped = String::from("\"");
        for c in value.chars() {
            match c {
                '"' => dumped.push_str("\\\""),
                '\\' => dumped.push_str("\\\\"),
                '\n' => dumped.push_str("\\n"),
                '\r' => dumped.push_str("\\r"),
                '\t' => dumped.push_str("\\t"),
                '\u{8}' => dumped.push_str("\\b"),
                '\u{c}' => dumped.push_str("\\f"),
                c if u32::from(c) < 0x20 => dumped.push_str(&format!("\\u{:04x}", u32::from(c))),
                c if c.is_ascii() => dumped.push(c),
                c => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        dumped.push_str(&format!("\\u{unit:04x}"));
                    }
                }
            }
        }
        dumped.push('"');
        dumped.trim_matches('"').to_owned()
    }

    proptest::proptest! {
        /// Every value conductor-python can send comes back as it was put.
        #[test]
        fn python_client_values_round_trip(value in "\\PC*|[\"\\\\a\u{e9}\u{1F511}\u{1}\u{7f}\n\t ]{0,12}") {
            let body = python_client_body(&value);
            proptest::prop_assert_eq!(stored(json(), body.as_bytes()), value.as_bytes());
        }

        /// A quoted JSON string (the Java SDK, `curl -d '"..."'`) comes back as it was put.
        #[test]
        fn quoted_json_strings_round_trip(value in "\\PC*") {
            let body = serde_json::to_string(&value).unwrap();
            proptest::prop_assert_eq!(stored(json(), body.as_bytes()), value.as_bytes());
        }
    }

    #[test]
    fn permissions_speak_orkes() {
        let app = PrincipalRef::new(PrincipalKind::App, "orkes-workers").unwrap();
        let subject = |p: &PrincipalRef| serde_json::to_value(orkes_subject(p)).unwrap();
        assert_eq!(subject(&app), serde_json::json!({"type": "USER", "id": "app:orkes-workers"}));
        let group = PrincipalRef::new(PrincipalKind::Group, "auditors").unwrap();
        assert_eq!(subject(&group), serde_json::json!({"type": "GROUP", "id": "auditors"}));
        assert_eq!(serde_json::to_string(&Empty {}).unwrap(), "{}");
        assert_eq!(orkes_accesses(Access::Read), ["READ"]);
        assert_eq!(orkes_accesses(Access::Admin), ["CREATE", "UPDATE", "DELETE"], "admin writes but does not read");
        assert!(orkes_accesses(Access::Manage).is_empty() && orkes_accesses(Access::Webhook).is_empty());
    }

    #[test]
    fn paths_split_before_decoding() {
        let of = |p: &str| SecretPath::of(&p.parse().unwrap()).unwrap();
        assert_eq!(of("/api/secrets/pinetree"), SecretPath::Value("pinetree".into()));
        assert_eq!(of("/api/secrets/pinetree/exists"), SecretPath::Exists("pinetree".into()));
        assert_eq!(of("/api/secrets/exists"), SecretPath::Value("exists".into()), "a secret named exists");
        assert_eq!(of("/api/secrets/db/password"), SecretPath::Value("db/password".into()));
        assert_eq!(of("/api/secrets/db/password/exists"), SecretPath::Exists("db/password".into()));
        assert_eq!(of("/api/secrets/db%2Fpassword/tags"), SecretPath::Tags("db/password".into()));
        assert_eq!(of("/api/secrets/a/b%2Fexists"), SecretPath::Value("a/b/exists".into()), "%2F stays in the name");
        assert_eq!(of("/api/secrets/a/exists/x"), SecretPath::Value("a/exists/x".into()));
        assert_eq!(of("/api/secrets/caf%C3%A9/x"), SecretPath::Value("café/x".into()));
        assert!(SecretPath::of(&"/api/secrets/a/%FF".parse().unwrap()).is_err(), "not UTF-8");
    }
}
