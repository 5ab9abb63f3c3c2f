//! The HashiCorp Vault KV version 2–compatible API under `/v1/`, so that Vault's clients (hvac,
//! the `vault`/`bao` CLI, External Secrets Operator's vault provider) read and write tresor's
//! secrets unchanged, with tresor's grants, audit and environments behind them.
//!
//! The mapping (ARCHITECTURE.md, docs/migrating/vault.md):
//! - a **mount** is a vault of the environment the token is bound to (`default` for an unbound
//!   token), by name: `secret/` is vault `secret` (`tresor vault create secret`);
//! - a **path** is an entry key (`app/db` is key `app/db`; the key grammar applies);
//! - a **secret** (a JSON object of fields) is an entry of kind secret whose value is that object
//!   as JSON text; an entry whose value is not a JSON object reads as `{"value": "..."}` (or
//!   `{"value_base64": "..."}` for bytes that are not UTF-8);
//! - **versions** are the entry's versions; `options.cas` is the write's check-and-set; delete,
//!   undelete and destroy change single versions (`Service::change_versions`: a version's own
//!   state, migration 0008; deleting the current version also soft-deletes the entry, so native
//!   surfaces hide it as after `tresor rm`), deleting the metadata is tresor's purge;
//! - **custom_metadata** is the entry's tags (changed in place, no new version);
//! - the engine's **config** (`max_versions`, `cas_required`) is tresor's server-wide limits.
//!
//! A thin translation onto the service, as the other compatibility surfaces: rights, audit,
//! limits, branches (read-only on this surface) and sealing are the service's. Errors become
//! Vault's `{"errors": [...]}` in one place, [`vault_errors`], from the error's kind.

mod shapes;

use crate::error::{ApiError, ApiResult};
use crate::extract::{query_param, ApiPath};
use crate::{authenticated, App, RouteClass, Surface};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Extension, Router};
use serde_json::{Map, Value};
use shapes::*;
use std::collections::BTreeMap;
use tresor_api::ErrorDoc;
use tresor_model::{EntryKey, EntryKind, EntryMeta, EntryPath, SecretValue, Tag, VaultName, VaultPath, VersionMeta};
use tresor_service::{retry_on_conflict, Attempt, Ctx, ErrorKind, ServiceError, SetEntry, VersionChange, VersionState};

pub fn router(app: &App) -> Router<App> {
    authenticated(app, RouteClass::Entries, Surface::Vault, Router::new().route("/v1/{*path}", any(dispatch)))
}

/// `sys/health` answers without a token, as Vault's does (load balancers and clients probe it).
pub fn open_router() -> Router<App> {
    Router::new().route("/v1/sys/health", get(health))
}

/// Vault's statuses by the kind of failure: a refused or missing token is 403 ("permission
/// denied"), a failed check-and-set or a taken name 400, a limit 400 (Vault has none of tresor's
/// limits; the message names it). The message is tresor's own `ErrorDoc`'s. An answer without a
/// kind is already in Vault's shape (this surface's own 404s) and passes unchanged.
pub(super) async fn vault_errors(resp: Response) -> Response {
    let Some(kind) = resp.extensions().get::<ErrorKind>().copied() else { return resp };
    let status = match kind {
        _ if resp.status() == StatusCode::METHOD_NOT_ALLOWED => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::Invalid | ErrorKind::AlreadyExists | ErrorKind::Conflict | ErrorKind::Limit => {
            StatusCode::BAD_REQUEST
        }
        ErrorKind::Unauthenticated | ErrorKind::Expired | ErrorKind::Denied => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
        ErrorKind::OutOfSpace => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let message = match serde_json::from_slice::<ErrorDoc>(&bytes) {
        Ok(doc) => doc.error,
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    };
    parts.status = status;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let doc = Errors { errors: vec![message] };
    Response::from_parts(parts, Body::from(serde_json::to_vec(&doc).unwrap_or_default()))
}

async fn health() -> Response {
    let doc = HealthDoc {
        initialized: true,
        sealed: false,
        standby: false,
        replication_performance_mode: "disabled",
        replication_dr_mode: "disabled",
        server_time_utc: tresor_model::now_millis() / 1000,
        version: env!("CARGO_PKG_VERSION"),
        cluster_name: "tresor",
        cluster_id: "",
    };
    (StatusCode::OK, axum::Json(doc)).into_response()
}

/// One request under `/v1/`, told apart by its path (Vault's routes are paths inside mounts,
/// and `LIST` is a method of its own, which a router of standard methods cannot name).
async fn dispatch(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    method: Method,
    ApiPath(path): ApiPath<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let query = uri.query().unwrap_or("");
    let listing = method.as_str() == "LIST"
        || (method == Method::GET && query_param(query, "list").is_some_and(|v| v == "true" || v == "1"));
    let req = Req { app: &app, ctx: &ctx };
    if path == "sys/mounts" {
        only(&method, &[Method::GET])?;
        return req.mounts().await;
    }
    if let Some(rest) = path.strip_prefix("sys/internal/ui/mounts/") {
        only(&method, &[Method::GET])?;
        return req.preflight(rest).await;
    }
    if path == "auth/token/lookup-self" {
        return only(&method, &[Method::GET, Method::POST]).map(|()| req.lookup_self());
    }
    if path.starts_with("sys/") || path.starts_with("auth/") {
        return Err(ApiError::Service(ServiceError::NotFound(format!(
            "tresor's Vault-compatible API has no {path}: it answers KV version 2 mounts, sys/health, sys/mounts, \
             sys/internal/ui/mounts and auth/token/lookup-self"
        ))));
    }
    let (mount, rest) = path.split_once('/').unwrap_or((path.as_str(), ""));
    let (op, key) = rest.split_once('/').unwrap_or((rest, ""));
    let kv = Kv { req, mount: mount_path(&ctx, mount)? };
    if op == "config" && !key.is_empty() {
        return Err(ApiError::Service(ServiceError::NotFound(format!(
            "no KV version 2 route {path}: use {mount}/config"
        ))));
    }
    match (op, method.as_str()) {
        ("config", "GET") => kv.config().await,
        ("config", "POST" | "PUT") => kv.set_config(&body).await,
        ("metadata", _) if listing => kv.list(key).await,
        ("data", "GET") => kv.read(key, version_param(query)?).await,
        ("data", "POST" | "PUT") => kv.write(key, &body).await,
        ("data", "PATCH") => kv.patch(key, &headers, &body).await,
        ("data", "DELETE") => kv.change_versions(key, None, VersionChange::Delete).await,
        ("metadata", "GET") => kv.metadata(key).await,
        ("metadata", "POST" | "PUT") => kv.set_metadata(key, &body, false).await,
        ("metadata", "PATCH") => match merge_patch_refusal(&headers) {
            None => kv.set_metadata(key, &body, true).await,
            Some(refused) => Ok(refused),
        },
        ("metadata", "DELETE") => kv.delete_metadata(key).await,
        ("delete", "POST" | "PUT") => {
            kv.change_versions(key, Some(versions_param(&body)?), VersionChange::Delete).await
        }
        ("undelete", "POST" | "PUT") => {
            kv.change_versions(key, Some(versions_param(&body)?), VersionChange::Undelete).await
        }
        ("destroy", "POST" | "PUT") => {
            kv.change_versions(key, Some(versions_param(&body)?), VersionChange::Destroy).await
        }
        ("config" | "data" | "metadata" | "delete" | "undelete" | "destroy", m) => {
            Err(ApiError::MethodNotAllowed(format!("{m} is not an operation of {mount}/{op}")))
        }
        _ => Err(ApiError::Service(ServiceError::NotFound(format!(
            "no KV version 2 route {path}: use {mount}/data/PATH, {mount}/metadata/PATH, {mount}/delete/PATH, \
             {mount}/undelete/PATH, {mount}/destroy/PATH or {mount}/config"
        )))),
    }
}

/// The methods a route takes; any other is 405.
fn only(method: &Method, allowed: &[Method]) -> ApiResult<()> {
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed(format!("{method} is not an operation of this path")))
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// The mount `name`: vault `name` of the caller's environment (its token's binding, else
/// `default`).
fn mount_path(ctx: &Ctx, name: &str) -> ApiResult<VaultPath> {
    Ok(VaultPath {
        workspace: ctx.caller.workspace.clone(),
        environment: ctx.caller.compat_environment(),
        vault: VaultName::new(name)?,
    })
}

/// `?version=N`; 0 (Vault's "the current one") and absence are `None`.
fn version_param(query: &str) -> ApiResult<Option<u64>> {
    match query_param(query, "version") {
        None => Ok(None),
        Some(v) => match v.parse::<u64>() {
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(bad("version must be a version number (1, 2, ...), or 0 for the current version")),
        },
    }
}

/// A JSON body as Vault's clients send it (with or without a content type). An empty body is an
/// empty object. Parse errors name the problem, never the body (it may hold a value).
fn json_body(body: &Bytes) -> ApiResult<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad("the body must be a JSON object")),
        Err(_) => Err(bad("the body is not valid JSON; send a JSON object")),
    }
}

/// The `versions` of a delete, undelete or destroy: a list of numbers (hvac), of numeric
/// strings, or a comma-separated string (the CLI's `-versions=1,2`), as Vault reads it.
fn versions_param(body: &Bytes) -> ApiResult<Vec<u64>> {
    let doc = json_body(body)?;
    let number = |v: &Value| -> Option<u64> {
        match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    };
    let refused = || bad("versions must be a list of version numbers, such as [1, 2]");
    let versions: Vec<u64> = match doc.get("versions") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items.iter().map(|v| number(v).ok_or_else(refused)).collect::<Result<_, _>>()?,
        Some(Value::String(s)) => s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.trim().parse().map_err(|_| refused()))
            .collect::<Result<_, _>>()?,
        Some(v) => vec![number(v).ok_or_else(refused)?],
    };
    if versions.is_empty() {
        return Err(bad("No version number provided"));
    }
    Ok(versions)
}

/// Vault refuses a PATCH that is not a JSON merge patch (RFC 7386): 400 without a media type,
/// 415 with another one, naming what was sent: the refusal in Vault's shape, `None` for a merge
/// patch.
fn merge_patch_refusal(headers: &HeaderMap) -> Option<Response> {
    let Some(sent) = headers.get(header::CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    else {
        return Some(error(StatusCode::BAD_REQUEST, "PATCH requires Content-Type of application/merge-patch+json"));
    };
    if sent.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/merge-patch+json")) {
        return None;
    }
    Some(error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("PATCH requires Content-Type of application/merge-patch+json, provided {sent}"),
    ))
}

/// RFC 7386: an object merges key by key (`null` removes), anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (k, v) in fields {
            if v.is_null() {
                map.remove(k);
            } else {
                merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// A secret's fields from an entry's value: the JSON object it holds, or, for a value written
/// by another surface that is not one, `{"value": TEXT}` (`{"value_base64": ...}` for bytes).
fn fields_of(value: &SecretValue) -> Map<String, Value> {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(value.expose()) {
        return map;
    }
    let mut map = Map::new();
    match tresor_api::encode_value(value.expose()) {
        (Some(text), _) => map.insert("value".into(), Value::String(text)),
        (_, Some(b64)) => map.insert("value_base64".into(), Value::String(b64)),
        _ => None,
    };
    map
}

/// The `data` object of a write or a patch.
fn data_field(doc: &mut Map<String, Value>) -> ApiResult<Map<String, Value>> {
    match doc.remove("data") {
        Some(Value::Object(m)) => Ok(m),
        None | Some(Value::Null) => Err(bad("no data provided")),
        Some(_) => Err(bad("data must be a JSON object of the secret's fields")),
    }
}

/// `options.cas`: the version the secret must be at (0: it must not exist yet).
fn cas_option(doc: &Map<String, Value>) -> ApiResult<Option<u64>> {
    let Some(options) = doc.get("options") else { return Ok(None) };
    let cas = match options {
        Value::Null => return Ok(None),
        Value::Object(o) => o.get("cas"),
        _ => return Err(bad("options must be a JSON object, such as {\"cas\": 1}")),
    };
    match cas {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| bad("options.cas must be a version number")),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| bad("options.cas must be a version number")),
        Some(_) => Err(bad("options.cas must be a version number")),
    }
}

/// The answer's `metadata` for version `version` of `entry`, written or read at `created_at`, in
/// `state`. A version is deleted on its own, or as the current version of a deleted entry.
fn version_doc(entry: &EntryMeta, version: u64, created_at: i64, state: VersionState) -> VersionDoc {
    VersionDoc {
        created_time: vault_time(created_at),
        custom_metadata: custom_metadata(&entry.tags),
        deletion_time: deletion_time(entry, version, state),
        destroyed: state.destroyed_at.is_some(),
        version,
    }
}

/// When a version was deleted ("" when it is not).
fn deletion_time(entry: &EntryMeta, version: u64, state: VersionState) -> String {
    let entry_deleted = entry.deleted_at.filter(|_| version == entry.version);
    state.deleted_at.or(entry_deleted).map(vault_time).unwrap_or_default()
}

struct Req<'a> {
    app: &'a App,
    ctx: &'a Ctx,
}

impl Req<'_> {
    /// The vaults the caller's environment reads (a branch's include its parents') that its
    /// grants reach into, each a KV v2 mount.
    async fn visible_mounts(&self) -> ApiResult<BTreeMap<String, MountDoc>> {
        let env = self.ctx.caller.compat_environment();
        let vaults = self.app.svc.list_vaults_through(self.ctx, &env).await?;
        Ok(vaults.into_iter().map(|v| (format!("{}/", v.name), MountDoc::of(env.as_str(), &v.name))).collect())
    }

    async fn mounts(&self) -> ApiResult<Response> {
        let mounts = self.visible_mounts().await?;
        let envelope = Envelope {
            request_id: self.ctx.request_id.clone(),
            lease_id: "",
            renewable: false,
            lease_duration: 0,
            data: mounts.clone(),
            wrap_info: None,
            warnings: None,
            auth: None,
        };
        Ok((StatusCode::OK, axum::Json(MountsDoc { top: mounts, envelope })).into_response())
    }

    /// The CLI's preflight: which mount a path is in and its KV version.
    async fn preflight(&self, path: &str) -> ApiResult<Response> {
        let mount = path.split('/').next().unwrap_or("");
        match self.visible_mounts().await?.remove(&format!("{mount}/")) {
            Some(doc) => Ok(ok(&self.ctx.request_id, MountDoc { path: Some(format!("{mount}/")), ..doc })),
            // Vault's own words: its CLI shows them.
            None => Ok(error(
                StatusCode::FORBIDDEN,
                format!(
                    "preflight capability check returned 403, please ensure client's policies grant access to path \
                     \"{path}/\" (tresor: no vault {mount} in environment {} that this token may use)",
                    self.ctx.caller.compat_environment()
                ),
            )),
        }
    }

    fn lookup_self(&self) -> Response {
        let caller = &self.ctx.caller;
        let id = caller.token_id.clone().unwrap_or_default();
        let meta = [
            ("principal", caller.principal.to_string()),
            ("workspace", caller.workspace.to_string()),
            ("environment", caller.compat_environment().to_string()),
        ]
        .into();
        let doc = TokenDoc {
            accessor: id.clone(),
            creation_time: 0,
            creation_ttl: 0,
            display_name: caller.token_name.clone().unwrap_or_else(|| caller.principal.to_string()),
            entity_id: "",
            expire_time: None,
            explicit_max_ttl: 0,
            // The token's public id, never the token itself.
            id,
            meta,
            num_uses: 0,
            orphan: true,
            path: "auth/token/create",
            policies: vec!["default"],
            renewable: false,
            ttl: 0,
            kind: "service",
        };
        ok(&self.ctx.request_id, doc)
    }
}

/// A request on one mount.
struct Kv<'a> {
    req: Req<'a>,
    mount: VaultPath,
}

impl Kv<'_> {
    fn path(&self, key: &str) -> ApiResult<EntryPath> {
        if key.is_empty() {
            return Err(bad(format!("name the secret's path: {}/data/PATH", self.mount.vault)));
        }
        Ok(self.mount.entry(EntryKey::new(key)?))
    }

    /// The secret at `path` whether or not it is deleted, with its stored versions (newest
    /// first, no values); `None`: no secret there.
    async fn entry(&self, path: &EntryPath) -> ApiResult<Option<(EntryMeta, Vec<(VersionMeta, VersionState)>)>> {
        match self.req.app.svc.history_with_meta(self.req.ctx, path).await {
            Ok(found) => Ok(Some(found)),
            Err(ServiceError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn read(&self, key: &str, version: Option<u64>) -> ApiResult<Response> {
        let path = self.path(key)?;
        let Some((entry, versions)) = self.entry(&path).await? else { return Ok(nothing_here()) };
        let wanted = version.unwrap_or(entry.version);
        // Not stored (never written, or pruned): nothing there.
        let Some((meta, state)) = versions.iter().find(|(v, _)| v.version == wanted) else {
            return Ok(nothing_here());
        };
        let metadata = version_doc(&entry, wanted, meta.created_at, *state);
        if !metadata.deletion_time.is_empty() || metadata.destroyed {
            // Vault answers a deleted or destroyed version with its metadata and no data, as a 404.
            let mut resp = ok(&self.req.ctx.request_id, DataDoc { data: None, metadata });
            *resp.status_mut() = StatusCode::NOT_FOUND;
            return Ok(resp);
        }
        match self.req.app.svc.get(self.req.ctx, &path, Some(wanted)).await {
            Ok(read) => Ok(ok(&self.req.ctx.request_id, DataDoc { data: Some(fields_of(&read.value)), metadata })),
            Err(ServiceError::NotFound(_)) => Ok(nothing_here()),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes `fields` as the secret's next version, with check-and-set on `cas`.
    async fn put(&self, path: &EntryPath, fields: Map<String, Value>, cas: Option<u64>) -> ApiResult<EntryMeta> {
        let json = serde_json::to_vec(&Value::Object(fields)).map_err(|_| bad("the data could not be stored"))?;
        let req = SetEntry {
            expected_version: cas,
            ..SetEntry::new(path.clone(), EntryKind::Secret, SecretValue::new(json))
        };
        Ok(self.req.app.svc.set(self.req.ctx, req).await?)
    }

    async fn write(&self, key: &str, body: &Bytes) -> ApiResult<Response> {
        let path = self.path(key)?;
        let mut doc = json_body(body)?;
        let cas = cas_option(&doc)?;
        let fields = data_field(&mut doc)?;
        let meta = self.put(&path, fields, cas).await?;
        Ok(ok(&self.req.ctx.request_id, version_doc(&meta, meta.version, meta.updated_at, VersionState::default())))
    }

    /// A JSON merge patch of the current version's fields, written as the next version with
    /// check-and-set on the version read (retried when another writer came first, unless the
    /// client gave its own `cas`).
    async fn patch(&self, key: &str, headers: &HeaderMap, body: &Bytes) -> ApiResult<Response> {
        if let Some(refused) = merge_patch_refusal(headers) {
            return Ok(refused);
        }
        let path = self.path(key)?;
        let mut doc = json_body(body)?;
        let cas = cas_option(&doc)?;
        let patch = Value::Object(data_field(&mut doc)?);
        let (this, path, patch) = (self, &path, &patch);
        let attempt = move || async move {
            let (app, ctx) = (this.req.app, this.req.ctx);
            let current = match app.svc.get(ctx, path, None).await {
                Ok(current) => current,
                Err(ServiceError::NotFound(_)) => return Ok(Attempt::Done(nothing_here())),
                Err(e) => return Err(e.into()),
            };
            let mut fields = Value::Object(fields_of(&current.value));
            merge_patch(&mut fields, patch);
            let Value::Object(fields) = fields else { return Err(bad("data must be a JSON object")) };
            match this.put(path, fields, Some(cas.unwrap_or(current.meta.version))).await {
                Ok(meta) => {
                    let doc = version_doc(&meta, meta.version, meta.updated_at, VersionState::default());
                    Ok(Attempt::Done(ok(&ctx.request_id, doc)))
                }
                Err(ApiError::Service(ServiceError::Conflict(_))) if cas.is_none() => Ok(Attempt::Conflicted),
                Err(e) => Err(e),
            }
        };
        retry_on_conflict(attempt, || bad(format!("secret {key} is being changed by other requests at once; retry")))
            .await
    }

    async fn metadata(&self, key: &str) -> ApiResult<Response> {
        let path = self.path(key)?;
        let Some((entry, versions)) = self.entry(&path).await? else { return Ok(nothing_here()) };
        let versions: BTreeMap<String, VersionStateDoc> = versions
            .iter()
            .map(|(v, state)| {
                let doc = VersionStateDoc {
                    created_time: vault_time(v.created_at),
                    deletion_time: deletion_time(&entry, v.version, *state),
                    destroyed: state.destroyed_at.is_some(),
                };
                (v.version.to_string(), doc)
            })
            .collect();
        Ok(ok(&self.req.ctx.request_id, MetadataDoc::of(&entry, versions)))
    }

    /// `POST metadata/PATH` (`merge: false`: `custom_metadata` replaces the tags) and `PATCH`
    /// (`merge: true`: a merge patch of them). The per-secret settings that tresor keeps
    /// server-wide are taken only at their values.
    async fn set_metadata(&self, key: &str, body: &Bytes, merge: bool) -> ApiResult<Response> {
        let path = self.path(key)?;
        let doc = json_body(body)?;
        self.check_settings(&doc)?;
        let wanted: Option<BTreeMap<String, Value>> = match doc.get("custom_metadata") {
            None => None,
            Some(Value::Null) if !merge => Some(BTreeMap::new()),
            Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            Some(_) => return Err(bad("custom_metadata must be a JSON object of strings")),
        };
        let Some((entry, _)) = self.entry(&path).await?.filter(|(e, _)| e.deleted_at.is_none()) else {
            return Err(ApiError::Service(ServiceError::NotFound(format!(
                "no secret at {key} in mount {}: tresor keeps metadata with a secret, so write its data first",
                self.mount.vault
            ))));
        };
        let Some(wanted) = wanted else { return Ok(no_content()) };
        let mut upsert = Vec::new();
        let mut remove = Vec::new();
        for (k, v) in &wanted {
            match v {
                Value::String(s) => upsert.push(Tag { key: k.clone(), value: s.clone() }),
                Value::Null if merge => {
                    remove.extend(entry.tags.iter().filter(|t| &t.key == k).cloned());
                }
                _ => return Err(bad(format!("custom_metadata.{k} must be a string"))),
            }
        }
        if !merge {
            remove.extend(entry.tags.iter().filter(|t| !wanted.contains_key(&t.key)).cloned());
        }
        self.req.app.svc.update_tags(self.req.ctx, &path, &upsert, &remove).await?;
        Ok(no_content())
    }

    /// Per-secret `max_versions`, `cas_required` and `delete_version_after` are tresor's
    /// server-wide settings: accepted at their values (or Vault's "as the mount"), refused
    /// otherwise, saying where they are set.
    fn check_settings(&self, doc: &Map<String, Value>) -> ApiResult<()> {
        let keep = self.req.app.svc.limits().keep_versions;
        if let Some(v) = doc.get("max_versions").filter(|v| !v.is_null()) {
            let n = v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
            if !matches!(n, Some(n) if n == 0 || n == u64::from(keep)) {
                return Err(bad(format!(
                    "max_versions is tresor's server-wide TRESOR_KEEP_VERSIONS ({keep} here), not a setting per mount \
                     or secret; leave it out, or set TRESOR_KEEP_VERSIONS on the server"
                )));
            }
        }
        for flag in ["cas_required", "metadata_cas_required"] {
            if doc.get(flag).is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true")) {
                return Err(bad(format!(
                    "{flag} cannot be turned on in tresor; send options.cas with each write that needs check-and-set"
                )));
            }
        }
        if let Some(v) = doc.get("delete_version_after").filter(|v| !v.is_null()) {
            if !matches!(v.as_str(), Some("0s" | "0" | "")) && v.as_u64() != Some(0) {
                return Err(bad(
                    "delete_version_after is not supported by tresor (versions do not expire); leave it out or send \"0s\"",
                ));
            }
        }
        Ok(())
    }

    /// Deletes the metadata and every version: tresor's purge. Nothing there is no error.
    async fn delete_metadata(&self, key: &str) -> ApiResult<Response> {
        let path = self.path(key)?;
        match self.req.app.svc.purge(self.req.ctx, &path).await {
            Ok(()) | Err(ServiceError::NotFound(_)) => Ok(no_content()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes, undeletes or destroys versions (`None`: the current one, `DELETE data/PATH`):
    /// the service's `change_versions`, whose mapping onto tresor's entries is Vault's meaning.
    /// A path without a secret is no error, as in Vault.
    async fn change_versions(
        &self,
        key: &str,
        versions: Option<Vec<u64>>,
        change: VersionChange,
    ) -> ApiResult<Response> {
        let path = self.path(key)?;
        let versions = match versions {
            Some(versions) => versions,
            None => match self.entry(&path).await? {
                Some((entry, _)) => vec![entry.version],
                None => return Ok(no_content()),
            },
        };
        match self.req.app.svc.change_versions(self.req.ctx, &path, &versions, change).await {
            Ok(()) | Err(ServiceError::NotFound(_)) => Ok(no_content()),
            Err(e) => Err(e.into()),
        }
    }

    /// `LIST metadata/PREFIX`: the keys and folders (`name/`) right under the prefix, deleted
    /// secrets included (their metadata exists), as Vault lists them.
    async fn list(&self, key: &str) -> ApiResult<Response> {
        let prefix = match key {
            "" => String::new(),
            k if k.ends_with('/') => k.to_owned(),
            k => format!("{k}/"),
        };
        let listed = match self.req.app.svc.list_all(self.req.ctx, &self.mount, &prefix, true).await {
            Ok(listed) => listed,
            Err(ServiceError::NotFound(_)) => return Ok(nothing_here()),
            Err(e) => return Err(e.into()),
        };
        let mut keys: Vec<String> = Vec::new();
        for l in listed {
            let Some(rest) = l.meta.key.strip_prefix(&prefix) else { continue };
            let child = match rest.split_once('/') {
                Some((folder, _)) => format!("{folder}/"),
                None => rest.to_owned(),
            };
            if keys.last() != Some(&child) {
                keys.push(child);
            }
        }
        keys.sort();
        keys.dedup();
        if keys.is_empty() {
            return Ok(nothing_here());
        }
        Ok(ok(&self.req.ctx.request_id, KeysDoc { keys }))
    }

    async fn require_mount(&self) -> ApiResult<()> {
        let name = format!("{}/", self.mount.vault);
        if self.req.visible_mounts().await?.contains_key(&name) {
            return Ok(());
        }
        Err(ApiError::Service(ServiceError::NotFound(format!(
            "no vault {} in environment {} that this token may use",
            self.mount.vault, self.mount.environment
        ))))
    }

    async fn config(&self) -> ApiResult<Response> {
        self.require_mount().await?;
        let doc = ConfigDoc {
            cas_required: false,
            delete_version_after: "0s",
            max_versions: self.req.app.svc.limits().keep_versions,
            metadata_cas_required: false,
        };
        Ok(ok(&self.req.ctx.request_id, doc))
    }

    /// The engine's settings are the server's: a write that keeps them is accepted, one that
    /// would change them is refused, saying where they are set.
    async fn set_config(&self, body: &Bytes) -> ApiResult<Response> {
        self.require_mount().await?;
        self.check_settings(&json_body(body)?)?;
        Ok(no_content())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut doc = json!({"a": "1", "b": {"c": "2", "d": "3"}, "e": "4"});
        merge_patch(&mut doc, &json!({"a": null, "b": {"c": null, "x": "9"}, "f": "5"}));
        assert_eq!(doc, json!({"b": {"d": "3", "x": "9"}, "e": "4", "f": "5"}));
        merge_patch(&mut doc, &json!({"b": "flat"}));
        assert_eq!(doc["b"], "flat");
    }

    #[test]
    fn versions_come_in_each_form_vault_reads() {
        let v = |body: &str| versions_param(&Bytes::from(body.to_owned()));
        assert_eq!(v(r#"{"versions": [1, 2]}"#).unwrap(), vec![1, 2]);
        assert_eq!(v(r#"{"versions": ["3"]}"#).unwrap(), vec![3]);
        assert_eq!(v(r#"{"versions": "1,4"}"#).unwrap(), vec![1, 4]);
        assert_eq!(v(r#"{"versions": 5}"#).unwrap(), vec![5]);
        assert!(v("{}").unwrap_err().message().contains("No version number provided"));
        assert!(v(r#"{"versions": ["x"]}"#).is_err());
    }

    #[test]
    fn values_of_other_surfaces_read_as_one_field() {
        assert_eq!(fields_of(&SecretValue::from("{\"a\":1}".to_owned()))["a"], 1);
        assert_eq!(fields_of(&SecretValue::from("plain".to_owned()))["value"], "plain");
        assert_eq!(fields_of(&SecretValue::new(vec![0xff, 0x00]))["value_base64"], "/wA=");
    }

    #[test]
    fn bodies_are_read_without_echoing_them() {
        let e = json_body(&Bytes::from_static(b"{\"data\": sk_live_123")).unwrap_err();
        assert!(!e.message().contains("sk_live"), "{}", e.message());
        let mut doc = json_body(&Bytes::from_static(b"{\"data\": \"sk_live_123\"}")).unwrap();
        let e = data_field(&mut doc).unwrap_err();
        assert!(!e.message().contains("sk_live"), "{}", e.message());
        let doc = json_body(&Bytes::from_static(b"{\"options\": {\"cas\": 0}}")).unwrap();
        assert_eq!(cas_option(&doc).unwrap(), Some(0));
        assert_eq!(version_param("version=0").unwrap(), None);
        assert_eq!(version_param("version=3&list=true").unwrap(), Some(3));
    }
}
