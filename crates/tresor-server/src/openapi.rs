//! The OpenAPI document, generated from the handlers' annotations and the documents' types.

use crate::routes::native;
use axum::Json;
use tresor_api::*;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "tresor", description = "Secrets and variables for workflow and data platforms."),
    paths(
        native::list_entries, native::describe_entry, native::put_entry, native::put_entries, native::delete_entry,
        native::delete_entries,
        native::entry_versions, native::restore_entry, native::undelete_entry, native::resolve_one,
        native::resolve_many, native::render, native::send_webhook, native::whoami, native::list_envs, native::create_env, native::list_vaults,
        native::create_vault, native::delete_vault, native::list_principals, native::create_principal,
        native::delete_principal, native::list_members, native::add_member, native::remove_member,
        native::list_tokens, native::create_token, native::revoke_token, native::list_grants,
        native::create_grant, native::delete_grant, native::audit_log, native::audit_verify,
        native::list_app_keys, native::create_app_key, native::revoke_app_key,
        native::plan_config, native::apply_config,
        serve,
    ),
    // Every document of the API, requests and answers; `ErrorDoc` is every error answer (the
    // routes' 4xx/5xx responses carry it).
    components(schemas(
        ErrorDoc,
        EntryDoc, TagDoc, EntryList, PutEntry, PutEntries, DeleteEntries, DeletedEntries, RestoreBody,
        VersionDoc, VersionList,
        ValueDoc, ResolveRequest, EntryRef, ResolveResponse, RenderBody, RenderResult, WebhookBody, WebhookAnswer,
        EnvDoc, EnvList, VaultDoc, VaultList, NameBody,
        PrincipalDoc, PrincipalList, PrincipalBody, MemberBody, MemberList,
        TokenRequest, TokenDoc, TokenList, NewTokenDoc,
        GrantRequest, GrantDoc, GrantList, WhoAmI, ScopeAccess,
        AuditDoc, AuditPage, VerifyDoc,
        AppKeyRequest, AppKeyDoc, AppKeyList, NewAppKeyDoc,
        ConfigRequest, Plan,
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("tsr_...").build()),
        );
    }
}

/// This document. Open: no token needed.
#[utoipa::path(get, path = "/api/v1/openapi.json", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of the native API", body = Object)), tag = "meta")]
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
