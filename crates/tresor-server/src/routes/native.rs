//! The native JSON API under `/api/v1/`.

use super::bad;
use crate::docs;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{authenticated, App, RouteClass, Surface};
use axum::extract::State;
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use tresor_api::*;
use tresor_model::{Access, EntryKey, EntryKind, EntryPath, EnvName, PrincipalRef, Tag, VaultName, VaultPath};
use tresor_service::{Ctx, ErrorKind, Listed, SetEntry};
use tresor_store::ListQuery;
use utoipa::IntoParams;

/// Who may call a route: a token, counted in a rate-limit class, or anyone (open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    Token(RouteClass),
    Open,
}

/// One route of the native API: who may call it, its method and path, its handler.
pub(crate) struct Route {
    pub guard: Guard,
    /// Read by the OpenAPI test, which walks the table.
    #[cfg_attr(not(test), allow(dead_code))]
    pub method: Method,
    pub path: &'static str,
    handler: MethodRouter<App>,
}

fn route<H, T>(guard: Guard, method: Method, path: &'static str, handler: H) -> Route
where
    H: Handler<T, App>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a method the router routes");
    Route { guard, method, path, handler: on(filter, handler) }
}

/// Every route of `/api/v1`, each method once. The router is built from this table and from
/// nothing else, so the OpenAPI test that walks it walks the router.
pub(crate) fn routes() -> Vec<Route> {
    const ENTRIES: Guard = Guard::Token(RouteClass::Entries);
    const MANAGEMENT: Guard = Guard::Token(RouteClass::Management);
    const ENTRY_LIST: &str = "/api/v1/envs/{env}/vaults/{vault}/entries";
    const ENTRY: &str = "/api/v1/envs/{env}/vaults/{vault}/entries/{*key}";
    let (get, put, post, delete) = (Method::GET, Method::PUT, Method::POST, Method::DELETE);
    vec![
        route(ENTRIES, get.clone(), ENTRY_LIST, list_entries),
        route(ENTRIES, post.clone(), ENTRY_LIST, put_entries),
        route(ENTRIES, get.clone(), ENTRY, describe_entry),
        route(ENTRIES, put, ENTRY, put_entry),
        route(ENTRIES, delete.clone(), ENTRY, delete_entry),
        route(ENTRIES, post.clone(), "/api/v1/envs/{env}/vaults/{vault}/delete-entries", delete_entries),
        route(ENTRIES, get.clone(), "/api/v1/envs/{env}/vaults/{vault}/versions/{*key}", entry_versions),
        route(ENTRIES, post.clone(), "/api/v1/envs/{env}/vaults/{vault}/restore/{*key}", restore_entry),
        route(ENTRIES, post.clone(), "/api/v1/envs/{env}/vaults/{vault}/undelete/{*key}", undelete_entry),
        route(ENTRIES, get.clone(), "/api/v1/envs/{env}/vaults/{vault}/values/{*key}", resolve_one),
        route(ENTRIES, post.clone(), "/api/v1/resolve", resolve_many),
        route(ENTRIES, post.clone(), "/api/v1/render", render),
        route(ENTRIES, post.clone(), "/api/v1/webhooks/send", send_webhook),
        route(ENTRIES, get.clone(), "/api/v1/whoami", whoami),
        route(MANAGEMENT, get.clone(), "/api/v1/envs", list_envs),
        route(MANAGEMENT, post.clone(), "/api/v1/envs", create_env),
        route(MANAGEMENT, get.clone(), "/api/v1/envs/{env}/vaults", list_vaults),
        route(MANAGEMENT, post.clone(), "/api/v1/envs/{env}/vaults", create_vault),
        route(MANAGEMENT, delete.clone(), "/api/v1/envs/{env}/vaults/{vault}", delete_vault),
        route(MANAGEMENT, get.clone(), "/api/v1/principals", list_principals),
        route(MANAGEMENT, post.clone(), "/api/v1/principals", create_principal),
        route(MANAGEMENT, delete.clone(), "/api/v1/principals/{principal}", delete_principal),
        route(MANAGEMENT, get.clone(), "/api/v1/groups/{group}/members", list_members),
        route(MANAGEMENT, post.clone(), "/api/v1/groups/{group}/members", add_member),
        route(MANAGEMENT, delete.clone(), "/api/v1/groups/{group}/members/{member}", remove_member),
        route(MANAGEMENT, get.clone(), "/api/v1/tokens", list_tokens),
        route(MANAGEMENT, post.clone(), "/api/v1/tokens", create_token),
        route(MANAGEMENT, delete.clone(), "/api/v1/tokens/{id}", revoke_token),
        route(MANAGEMENT, get.clone(), "/api/v1/grants", list_grants),
        route(MANAGEMENT, post.clone(), "/api/v1/grants", create_grant),
        route(MANAGEMENT, delete.clone(), "/api/v1/grants/{id}", delete_grant),
        route(MANAGEMENT, get.clone(), "/api/v1/audit", audit_log),
        route(MANAGEMENT, get.clone(), "/api/v1/audit/verify", audit_verify),
        route(MANAGEMENT, get.clone(), "/api/v1/app-keys", list_app_keys),
        route(MANAGEMENT, post.clone(), "/api/v1/app-keys", create_app_key),
        route(MANAGEMENT, delete, "/api/v1/app-keys/{id}", revoke_app_key),
        route(MANAGEMENT, post.clone(), "/api/v1/config/plan", plan_config),
        route(MANAGEMENT, post, "/api/v1/config/apply", apply_config),
        route(Guard::Open, get, "/api/v1/openapi.json", crate::openapi::serve),
    ]
}

/// The native API's router: [`routes`] behind the gate of their class, the open ones observed.
pub fn router(app: &App) -> Router<App> {
    let (mut entries, mut management, mut open) = (Router::new(), Router::new(), Router::new());
    for r in routes() {
        let group = match r.guard {
            Guard::Token(RouteClass::Entries) => &mut entries,
            Guard::Token(RouteClass::Management) => &mut management,
            Guard::Token(other) => unreachable!("no native route is in the {} class", other.name()),
            Guard::Open => &mut open,
        };
        *group = std::mem::take(group).route(r.path, r.handler);
    }
    authenticated(app, RouteClass::Entries, Surface::Native, entries)
        .merge(authenticated(app, RouteClass::Management, Surface::Native, management))
        .merge(crate::observed(app, open))
}

// ----- conversions and parameters -----

/// An entry as listed: where it lives when that is not the environment asked for (read through a
/// branch), and a variable's value.
fn listed_doc(l: Listed, requested_env: &str) -> EntryDoc {
    let mut doc = EntryDoc::from(l.meta);
    if l.environment != requested_env {
        doc.environment = Some(l.environment);
    }
    match &l.variable_value {
        Some(v) => doc.with_value(v),
        None => doc,
    }
}

#[derive(Deserialize, IntoParams)]
pub struct ListParams {
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// Page cursor: keys after this one.
    pub after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Include soft-deleted entries.
    pub deleted: Option<bool>,
}

#[derive(Deserialize, IntoParams)]
pub struct VersionParam {
    pub version: Option<u64>,
}

#[derive(Deserialize, IntoParams)]
pub struct PurgeParam {
    /// Remove for good, with every version.
    pub purge: Option<bool>,
}

#[derive(Deserialize, IntoParams)]
pub struct AuditParams {
    /// Sequence number cursor: records after this one.
    pub after: Option<u64>,
    /// RFC 3339 time: records at or after it.
    pub since: Option<String>,
    pub limit: Option<u32>,
}

// ----- helpers -----

fn entry_path(ctx: &Ctx, env: &str, vault: &str, key: &str) -> ApiResult<EntryPath> {
    Ok(vault_path(ctx, env, vault)?.entry(EntryKey::new(key)?))
}

fn vault_path(ctx: &Ctx, env: &str, vault: &str) -> ApiResult<VaultPath> {
    Ok(VaultPath {
        workspace: ctx.caller.workspace.clone(),
        environment: EnvName::new(env)?,
        vault: VaultName::new(vault)?,
    })
}

fn parse_kind(kind: Option<&str>) -> ApiResult<EntryKind> {
    match kind {
        None => Ok(EntryKind::Secret),
        Some(k) => EntryKind::parse(k).ok_or_else(|| bad(format!("kind must be secret or variable, not {k:?}"))),
    }
}

fn principal(s: &str) -> ApiResult<PrincipalRef> {
    Ok(s.parse::<PrincipalRef>()?)
}

fn parse_time(s: &str) -> ApiResult<i64> {
    let t = tresor_model::parse_rfc3339(s)
        .ok_or_else(|| bad(format!("{s:?} is not an RFC 3339 time such as 2024-06-21T10:27:57Z")))?;
    Ok(t)
}

// ----- entries -----

#[utoipa::path(get, path = "/api/v1/envs/{env}/vaults/{vault}/entries", params(ListParams,
    ("env" = String, Path), ("vault" = String, Path)),
    responses((status = 200, body = EntryList)), tag = "entries")]
pub async fn list_entries(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((env, vault)): ApiPath<(String, String)>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<Json<EntryList>> {
    let vault = vault_path(&ctx, &env, &vault)?;
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(bad(format!("limit must be between 1 and 1000, not {limit}")));
    }
    let query = ListQuery {
        prefix: p.prefix.unwrap_or_default(),
        after: p.after,
        limit,
        include_deleted: p.deleted.unwrap_or(false),
    };
    let listed = app.svc.list(&ctx, &vault, &query).await?;
    let next_after = (listed.len() == limit as usize).then(|| listed.last().map(|l| l.meta.key.clone())).flatten();
    let entries = listed.into_iter().map(|l| listed_doc(l, vault.environment.as_str())).collect();
    Ok(Json(EntryList { entries, next_after }))
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/vaults/{vault}/entries/{key}",
    params(("env" = String, Path), ("vault" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = EntryDoc), (status = 404)), tag = "entries")]
pub async fn describe_entry(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((env, vault, key)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<EntryDoc>> {
    let path = entry_path(&ctx, &env, &vault, &key)?;
    Ok(Json(app.svc.describe(&ctx, &path).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/envs/{env}/vaults/{vault}/entries/{key}", request_body = PutEntry,
    params(("env" = String, Path), ("vault" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = EntryDoc), (status = 400), (status = 403), (status = 409), (status = 413)),
    tag = "entries")]
pub async fn put_entry(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((env, vault, key)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<PutEntry>,
) -> ApiResult<Json<EntryDoc>> {
    let req = set_request(entry_path(&ctx, &env, &vault, &key)?, body)?;
    Ok(Json(app.svc.set(&ctx, req).await?.into()))
}

fn set_request(path: EntryPath, mut body: PutEntry) -> ApiResult<SetEntry> {
    let kind = parse_kind(body.kind.as_deref())?;
    let value = body.take_value().map_err(|e| bad(e.to_string()))?;
    Ok(SetEntry {
        expected_version: body.expected_version,
        description: body.description,
        tags: body.tags.map(|t| t.into_iter().map(Tag::from).collect()),
        ..SetEntry::new(path, kind, value)
    })
}

#[utoipa::path(post, path = "/api/v1/envs/{env}/vaults/{vault}/entries", request_body = PutEntries,
    params(("env" = String, Path), ("vault" = String, Path)),
    responses((status = 200, body = [EntryDoc]), (status = 400), (status = 403), (status = 409), (status = 413)),
    tag = "entries")]
pub async fn put_entries(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((env, vault)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<PutEntries>,
) -> ApiResult<Json<Vec<EntryDoc>>> {
    let mut reqs = Vec::with_capacity(body.entries.len());
    for (key, entry) in body.entries {
        reqs.push(set_request(entry_path(&ctx, &env, &vault, &key)?, entry)?);
    }
    Ok(Json(app.svc.set_many(&ctx, reqs).await?.into_iter().map(EntryDoc::from).collect()))
}

#[utoipa::path(delete, path = "/api/v1/envs/{env}/vaults/{vault}/entries/{key}", params(PurgeParam,
    ("env" = String, Path), ("vault" = String, Path), ("key" = String, Path)),
    responses((status = 204), (status = 404)), tag = "entries")]
pub async fn delete_entry(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((env, vault, key)): ApiPath<(String, String, String)>,
    ApiQuery(p): ApiQuery<PurgeParam>,
) -> ApiResult<StatusCode> {
    let path = entry_path(&ctx, &env, &vault, &key)?;
    if p.purge.unwrap_or(false) {
        app.svc.purge(&ctx, &path).await?;
    } else {
        app.svc.delete(&ctx, &path).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/envs/{env}/vaults/{vault}/delete-entries", request_body = DeleteEntries,
    params(("env" = String, Path), ("vault" = String, Path)),
    responses((status = 200, body = DeletedEntries), (status = 400, body = ErrorDoc), (status = 403, body = ErrorDoc),
        (status = 404, body = ErrorDoc), (status = 409, body = ErrorDoc)),
    tag = "entries")]
pub async fn delete_entries(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((env, vault)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<DeleteEntries>,
) -> ApiResult<Json<DeletedEntries>> {
    let vault = vault_path(&ctx, &env, &vault)?;
    // The service refuses more than MAX_DELETE_BATCH keys, an empty list, and any missing key.
    let keys = body.keys.iter().map(|k| EntryKey::new(k.as_str())).collect::<Result<Vec<_>, _>>()?;
    let deleted = app.svc.delete_many(&ctx, &vault, &keys, body.purge).await?;
    Ok(Json(DeletedEntries { deleted: deleted.into_iter().map(|k| k.to_string()).collect(), purged: body.purge }))
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/vaults/{vault}/versions/{key}",
    params(("env" = String, Path), ("vault" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = VersionList), (status = 404)), tag = "entries")]
pub async fn entry_versions(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((env, vault, key)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<VersionList>> {
    let path = entry_path(&ctx, &env, &vault, &key)?;
    let versions = app.svc.history(&ctx, &path).await?.into_iter().map(VersionDoc::from).collect();
    Ok(Json(VersionList { versions }))
}

#[utoipa::path(post, path = "/api/v1/envs/{env}/vaults/{vault}/restore/{key}", request_body = RestoreBody,
    params(("env" = String, Path), ("vault" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = EntryDoc)), tag = "entries")]
pub async fn restore_entry(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((env, vault, key)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<RestoreBody>,
) -> ApiResult<Json<EntryDoc>> {
    let path = entry_path(&ctx, &env, &vault, &key)?;
    Ok(Json(app.svc.restore(&ctx, &path, body.version).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/envs/{env}/vaults/{vault}/undelete/{key}",
    params(("env" = String, Path), ("vault" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = EntryDoc)), tag = "entries")]
pub async fn undelete_entry(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((env, vault, key)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<EntryDoc>> {
    let path = entry_path(&ctx, &env, &vault, &key)?;
    Ok(Json(app.svc.undelete(&ctx, &path).await?.into()))
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/vaults/{vault}/values/{key}", params(VersionParam,
    ("env" = String, Path), ("vault" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = ValueDoc), (status = 403), (status = 404)), tag = "resolution")]
pub async fn resolve_one(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((env, vault, key)): ApiPath<(String, String, String)>,
    ApiQuery(p): ApiQuery<VersionParam>,
) -> ApiResult<Json<ValueDoc>> {
    let path = entry_path(&ctx, &env, &vault, &key)?;
    let resolved = app.svc.get(&ctx, &path, p.version).await?;
    Ok(Json(ValueDoc::new(key, &resolved.meta, resolved.environment, &resolved.value)))
}

#[utoipa::path(post, path = "/api/v1/resolve", request_body = ResolveRequest,
    responses((status = 200, body = ResolveResponse)), tag = "resolution")]
pub async fn resolve_many(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiJson(body): ApiJson<ResolveRequest>,
) -> ApiResult<Json<ResolveResponse>> {
    let default_env = body.environment.as_deref().unwrap_or("default");
    let default_vault = body.vault.as_deref().unwrap_or("default");
    let mut named = Vec::new();
    for key in &body.keys {
        named.push((key.clone(), entry_path(&ctx, default_env, default_vault, key)?));
    }
    for r in &body.entries {
        let (env, vault) =
            (r.environment.as_deref().unwrap_or(default_env), r.vault.as_deref().unwrap_or(default_vault));
        named.push((format!("{env}/{vault}/{}", r.key), entry_path(&ctx, env, vault, &r.key)?));
    }
    if named.is_empty() {
        return Err(bad("name at least one entry in `keys` or `entries`"));
    }
    if named.len() > 1000 {
        return Err(bad(format!("at most 1000 entries per batch, not {}", named.len())));
    }
    let paths: Vec<(EntryPath, Option<u64>)> = named.iter().map(|(_, p)| (p.clone(), None)).collect();
    let results = app.svc.get_many(&ctx, &paths).await;
    let mut out = ResolveResponse {
        values: Default::default(),
        values_base64: Default::default(),
        missing: vec![],
        denied: vec![],
    };
    for ((name, _), result) in named.into_iter().zip(results) {
        match result {
            Ok(r) => out.insert_value(name, &r.value),
            Err(e) if e.kind() == ErrorKind::NotFound => out.missing.push(name),
            Err(e) if e.kind() == ErrorKind::Denied => out.denied.push(name),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/api/v1/whoami", responses((status = 200, body = WhoAmI)), tag = "access")]
pub async fn whoami(Extension(ctx): Extension<Ctx>) -> Json<WhoAmI> {
    Json(docs::whoami(&ctx.caller))
}

// ----- environments and vaults -----

#[utoipa::path(get, path = "/api/v1/envs", responses((status = 200, body = EnvList)), tag = "environments")]
pub async fn list_envs(State(app): State<App>, Extension(ctx): Extension<Ctx>) -> ApiResult<Json<EnvList>> {
    let environments = app.svc.list_environments(&ctx).await?.into_iter().map(EnvDoc::from).collect();
    Ok(Json(EnvList { environments }))
}

#[utoipa::path(post, path = "/api/v1/envs", request_body = EnvDoc, responses((status = 201)), tag = "environments")]
pub async fn create_env(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiJson(body): ApiJson<EnvDoc>,
) -> ApiResult<StatusCode> {
    let env = EnvName::new(body.name)?;
    let parent = body.parent.map(EnvName::new).transpose()?;
    app.svc.create_environment(&ctx, &env, parent.as_ref()).await?;
    Ok(StatusCode::CREATED)
}

#[utoipa::path(get, path = "/api/v1/envs/{env}/vaults", params(("env" = String, Path)),
    responses((status = 200, body = VaultList)), tag = "vaults")]
pub async fn list_vaults(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(env): ApiPath<String>,
) -> ApiResult<Json<VaultList>> {
    let vaults = app.svc.list_vaults(&ctx, &EnvName::new(env)?).await?.into_iter().map(VaultDoc::from).collect();
    Ok(Json(VaultList { vaults }))
}

#[utoipa::path(post, path = "/api/v1/envs/{env}/vaults", params(("env" = String, Path)), request_body = NameBody,
    responses((status = 201)), tag = "vaults")]
pub async fn create_vault(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(env): ApiPath<String>,
    ApiJson(body): ApiJson<NameBody>,
) -> ApiResult<StatusCode> {
    app.svc.create_vault(&ctx, &vault_path(&ctx, &env, &body.name)?).await?;
    Ok(StatusCode::CREATED)
}

#[utoipa::path(delete, path = "/api/v1/envs/{env}/vaults/{vault}",
    params(("env" = String, Path), ("vault" = String, Path)), responses((status = 204), (status = 409)), tag = "vaults")]
pub async fn delete_vault(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((env, vault)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    app.svc.delete_vault(&ctx, &vault_path(&ctx, &env, &vault)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- principals, groups, tokens, grants -----

#[utoipa::path(get, path = "/api/v1/principals", responses((status = 200, body = PrincipalList)), tag = "access")]
pub async fn list_principals(State(app): State<App>, Extension(ctx): Extension<Ctx>) -> ApiResult<Json<PrincipalList>> {
    let principals = app.svc.list_principals(&ctx).await?.into_iter().map(docs::principal_doc).collect();
    Ok(Json(PrincipalList { principals }))
}

#[utoipa::path(post, path = "/api/v1/principals", request_body = PrincipalBody, responses((status = 201)), tag = "access")]
pub async fn create_principal(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiJson(body): ApiJson<PrincipalBody>,
) -> ApiResult<StatusCode> {
    app.svc.create_principal(&ctx, &principal(&body.principal)?).await?;
    Ok(StatusCode::CREATED)
}

#[utoipa::path(delete, path = "/api/v1/principals/{principal}", params(("principal" = String, Path)),
    responses((status = 204)), tag = "access")]
pub async fn delete_principal(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(p): ApiPath<String>,
) -> ApiResult<StatusCode> {
    app.svc.delete_principal(&ctx, &principal(&p)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/groups/{group}/members", params(("group" = String, Path)),
    responses((status = 200, body = MemberList)), tag = "access")]
pub async fn list_members(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(group): ApiPath<String>,
) -> ApiResult<Json<MemberList>> {
    let members = app.svc.members_of(&ctx, &group).await?.iter().map(ToString::to_string).collect();
    Ok(Json(MemberList { members }))
}

#[utoipa::path(post, path = "/api/v1/groups/{group}/members", params(("group" = String, Path)),
    request_body = MemberBody, responses((status = 201)), tag = "access")]
pub async fn add_member(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(group): ApiPath<String>,
    ApiJson(body): ApiJson<MemberBody>,
) -> ApiResult<StatusCode> {
    app.svc.add_member(&ctx, &group, &principal(&body.member)?).await?;
    Ok(StatusCode::CREATED)
}

#[utoipa::path(delete, path = "/api/v1/groups/{group}/members/{member}",
    params(("group" = String, Path), ("member" = String, Path)), responses((status = 204)), tag = "access")]
pub async fn remove_member(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((group, member)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    app.svc.remove_member(&ctx, &group, &principal(&member)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/tokens", responses((status = 200, body = TokenList)), tag = "access")]
pub async fn list_tokens(State(app): State<App>, Extension(ctx): Extension<Ctx>) -> ApiResult<Json<TokenList>> {
    let tokens = app.svc.list_tokens(&ctx).await?.into_iter().map(docs::token_doc).collect();
    Ok(Json(TokenList { tokens }))
}

#[utoipa::path(post, path = "/api/v1/tokens", request_body = TokenRequest,
    responses((status = 201, body = NewTokenDoc)), tag = "access")]
pub async fn create_token(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiJson(body): ApiJson<TokenRequest>,
) -> ApiResult<(StatusCode, Json<NewTokenDoc>)> {
    let environment = body.environment.map(EnvName::new).transpose()?;
    let (record, minted) = app
        .svc
        .create_token(&ctx, &principal(&body.principal)?, &body.name, body.ttl_seconds, environment.as_ref())
        .await?;
    Ok((StatusCode::CREATED, Json(NewTokenDoc { token: minted.text.to_string(), info: docs::token_doc(record) })))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", params(("id" = String, Path)), responses((status = 204)),
    tag = "access")]
pub async fn revoke_token(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    app.svc.revoke_token(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/grants", responses((status = 200, body = GrantList)), tag = "access")]
pub async fn list_grants(State(app): State<App>, Extension(ctx): Extension<Ctx>) -> ApiResult<Json<GrantList>> {
    let grants = app.svc.list_grants(&ctx).await?.into_iter().map(docs::grant_doc).collect();
    Ok(Json(GrantList { grants }))
}

#[utoipa::path(post, path = "/api/v1/grants", request_body = GrantRequest, responses((status = 201, body = GrantDoc)),
    tag = "access")]
pub async fn create_grant(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiJson(body): ApiJson<GrantRequest>,
) -> ApiResult<(StatusCode, Json<GrantDoc>)> {
    let scope = body.scope.parse()?;
    let access: Access = body.access.parse().map_err(bad)?;
    let grant = app.svc.create_grant(&ctx, &principal(&body.principal)?, &scope, access).await?;
    Ok((StatusCode::CREATED, Json(docs::grant_doc(grant))))
}

#[utoipa::path(delete, path = "/api/v1/grants/{id}", params(("id" = String, Path)), responses((status = 204)),
    tag = "access")]
pub async fn delete_grant(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    app.svc.delete_grant(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- audit -----

#[utoipa::path(get, path = "/api/v1/audit", params(AuditParams), responses((status = 200, body = AuditPage)),
    tag = "audit")]
pub async fn audit_log(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> ApiResult<Json<AuditPage>> {
    let since = p.since.as_deref().map(parse_time).transpose()?;
    let limit = p.limit.unwrap_or(1000).clamp(1, 10_000);
    let records =
        app.svc.audit_log(&ctx, p.after.unwrap_or(0), since, limit).await?.into_iter().map(docs::audit_doc).collect();
    Ok(Json(AuditPage { records }))
}

#[utoipa::path(get, path = "/api/v1/audit/verify", responses((status = 200, body = VerifyDoc)), tag = "audit")]
pub async fn audit_verify(State(app): State<App>, Extension(ctx): Extension<Ctx>) -> ApiResult<Json<VerifyDoc>> {
    Ok(Json(docs::verify_doc(app.svc.audit_verify(&ctx).await?)))
}

// ----- rendering -----

#[utoipa::path(post, path = "/api/v1/render", request_body = RenderBody,
    responses((status = 200, body = RenderResult), (status = 400), (status = 403), (status = 404)), tag = "resolution")]
pub async fn render(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiJson(body): ApiJson<RenderBody>,
) -> ApiResult<Json<RenderResult>> {
    let json = match body.format.as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => return Err(bad(format!("format must be text or json, not {other:?}"))),
    };
    let req = tresor_service::RenderRequest {
        template: body.template,
        json,
        environment: EnvName::new(body.environment.unwrap_or_else(|| "default".into()))?,
        vault: VaultName::new(body.vault.unwrap_or_else(|| "default".into()))?,
        allow: body.allow,
        map: body.map,
    };
    let output = app.svc.render(&ctx, &req).await?;
    Ok(Json(RenderResult { output: output.to_string() }))
}

// ----- application access keys -----

#[utoipa::path(get, path = "/api/v1/app-keys", responses((status = 200, body = AppKeyList)), tag = "access")]
pub async fn list_app_keys(State(app): State<App>, Extension(ctx): Extension<Ctx>) -> ApiResult<Json<AppKeyList>> {
    let app_keys = app.svc.list_app_keys(&ctx).await?.into_iter().map(docs::app_key_doc).collect();
    Ok(Json(AppKeyList { app_keys }))
}

#[utoipa::path(post, path = "/api/v1/app-keys", request_body = AppKeyRequest,
    responses((status = 201, body = NewAppKeyDoc)), tag = "access")]
pub async fn create_app_key(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiJson(body): ApiJson<AppKeyRequest>,
) -> ApiResult<(StatusCode, Json<NewAppKeyDoc>)> {
    let environment = body.environment.map(EnvName::new).transpose()?;
    let key = app.svc.create_app_key(&ctx, &principal(&body.principal)?, environment.as_ref()).await?;
    let secret = key.secret.to_string();
    Ok((StatusCode::CREATED, Json(NewAppKeyDoc { secret, info: docs::app_key_doc(key.record) })))
}

#[utoipa::path(delete, path = "/api/v1/app-keys/{id}", params(("id" = String, Path)), responses((status = 204)),
    tag = "access")]
pub async fn revoke_app_key(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    app.svc.revoke_app_key(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- webhooks -----

#[utoipa::path(post, path = "/api/v1/webhooks/send", request_body = WebhookBody,
    responses((status = 200, body = WebhookAnswer), (status = 403), (status = 502)), tag = "resolution")]
pub async fn send_webhook(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiJson(body): ApiJson<WebhookBody>,
) -> ApiResult<Json<WebhookAnswer>> {
    let req = tresor_service::WebhookRequest {
        method: body.method,
        url: body.url,
        headers: body.headers,
        body: body.body,
        environment: EnvName::new(body.environment.unwrap_or_else(|| "default".into()))?,
    };
    let answer = app.svc.send_webhook(&ctx, req).await?;
    Ok(Json(WebhookAnswer { status: answer.status, headers: answer.headers.into_iter().collect(), body: answer.body }))
}

// ----- declarative config -----

#[utoipa::path(post, path = "/api/v1/config/plan", request_body = ConfigRequest,
    responses((status = 200, body = Plan), (status = 400), (status = 403)), tag = "config")]
pub async fn plan_config(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiJson(body): ApiJson<ConfigRequest>,
) -> ApiResult<Json<Plan>> {
    Ok(Json(app.svc.plan_config(&ctx, &body.config).await?))
}

#[utoipa::path(post, path = "/api/v1/config/apply", request_body = ConfigRequest,
    responses((status = 200, body = Plan), (status = 400), (status = 403), (status = 409)), tag = "config")]
pub async fn apply_config(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    ApiJson(body): ApiJson<ConfigRequest>,
) -> ApiResult<Json<Plan>> {
    let opts = tresor_service::ApplyOptions { confirmed: body.confirm };
    Ok(Json(app.svc.apply_config(&ctx, &body.config, opts).await?))
}
