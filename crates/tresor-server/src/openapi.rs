//! The OpenAPI document, generated from the handlers' annotations and the documents' types.

use crate::error::status_of;
use crate::routes::native;
use axum::Json;
use tresor_api::*;
use tresor_model::{PrincipalKind, PrincipalRef, Scope, IDENT_PATTERN, KEY_PATTERN, MAX_IDENT_LEN, MAX_KEY_LEN};
use tresor_service::{ErrorKind, MAX_DELETE_BATCH, MAX_TOKEN_NAME_LEN};
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::schema::{ArrayItems, Object, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
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
    modifiers(&BearerAuth, &ErrorAnswers, &NameRules, &Links),
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

/// The error answers of every operation, each an [`ErrorDoc`]: the handlers' annotations name the
/// refusals particular to them; the ones every operation of a kind can meet are added here, with
/// the statuses `error.rs` gives their kinds, so no operation forgets one (Schemathesis, sending
/// what the document allows, met each of them undocumented; see `tresor-cli/tests/fuzz.rs`).
///
/// Of 5xx only the store's two answers a client should retry are added (`unavailable` 503: the
/// database is unreachable; `out_of_space` 507: its disk is full), to every guarded operation
/// (each records an audit record, so each can meet them); `upstream` (502) only where a handler
/// names it, and `internal` (500) is a defect, not an answer.
struct ErrorAnswers;

impl ErrorAnswers {
    /// Behind the token gate: the token, the rights check (and a limit), the rate limits.
    const GUARDED: [ErrorKind; 5] =
        [ErrorKind::Unauthenticated, ErrorKind::Expired, ErrorKind::Denied, ErrorKind::Limit, ErrorKind::RateLimited];
    /// With a parameter or a body: a name or body the parser refuses, a name that does not exist,
    /// a name taken or a version changed.
    const WITH_INPUTS: [ErrorKind; 4] =
        [ErrorKind::Invalid, ErrorKind::NotFound, ErrorKind::AlreadyExists, ErrorKind::Conflict];
    /// Behind the token gate too: the store cannot take the request now (see the type's doc).
    const STORE: [ErrorKind; 2] = [ErrorKind::Unavailable, ErrorKind::OutOfSpace];
    /// With a body: over the body limit.
    const WITH_BODY: [ErrorKind; 1] = [ErrorKind::TooLarge];
}

impl Modify for ErrorAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, Ref, RefOr, Response};
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for op in operations.into_iter().flatten() {
                // `security(())` opens an operation; the others inherit the document's bearer.
                let guarded = op.security.is_none();
                let has_inputs = op.parameters.as_ref().is_some_and(|p| !p.is_empty()) || op.request_body.is_some();
                let kinds = [
                    (guarded, &Self::GUARDED[..]),
                    (guarded, &Self::STORE[..]),
                    (has_inputs, &Self::WITH_INPUTS[..]),
                    (op.request_body.is_some(), &Self::WITH_BODY[..]),
                ];
                // Each status with the kinds that answer it, as its description.
                let mut statuses = std::collections::BTreeMap::<u16, Vec<&str>>::new();
                for kind in kinds.into_iter().filter(|(applies, _)| *applies).flat_map(|(_, kinds)| kinds) {
                    statuses.entry(status_of(*kind).as_u16()).or_default().push(kind.as_str());
                }
                for (status, kinds) in statuses {
                    let description = format!("An ErrorDoc of kind {}", kinds.join(" or "));
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| Response::new(description).into());
                }
                // Every refusal answers an ErrorDoc, also those the annotations name without a body.
                for (status, response) in op.responses.responses.iter_mut() {
                    if let (false, RefOr::T(response)) = (status.starts_with('2'), response) {
                        if response.content.is_empty() {
                            let error_doc = Content::new(Some(Ref::from_schema_name("ErrorDoc")));
                            response.content.insert("application/json".into(), error_doc);
                        }
                    }
                }
            }
        }
    }
}

/// The name rules, stated in the document where names are taken (path parameters and request
/// fields), so that a client (and Schemathesis, sending what the document allows) knows what the
/// server accepts. Each rule is tresor-model's own (`IDENT_PATTERN`, `KEY_PATTERN`,
/// `PrincipalRef::pattern`, `Scope::PATTERN`), not written again here; the tests check the
/// document's patterns against the model's parsers.
struct NameRules;

/// What a string in the API must be.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// A workspace, environment, vault or group name.
    Ident,
    /// An entry key.
    Key,
    /// `KIND:NAME` of one of these kinds.
    Principal(&'static [PrincipalKind]),
    /// A grant's `ENV/VAULT/KEY` globs.
    Scope,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// Printable text (no control character) of at most this many bytes. JSON Schema counts
    /// characters, so the document states a quarter of it (four bytes per character at most):
    /// narrower than the server, never wider.
    Printable(usize),
}

const ANY_PRINCIPAL: &[PrincipalKind] = &[PrincipalKind::User, PrincipalKind::App, PrincipalKind::Group];
/// Tokens and group members: users and applications.
const USER_OR_APP: &[PrincipalKind] = &[PrincipalKind::User, PrincipalKind::App];
const APP: &[PrincipalKind] = &[PrincipalKind::App];
const ACCESS: &[&str] = &["read", "write", "manage", "admin", "webhook"];
const ENTRY_KINDS: &[&str] = &["secret", "variable"];

impl NameRules {
    /// Path parameters by name (the same name means the same thing on every route).
    const PARAMETERS: [(&'static str, Rule); 6] = [
        ("env", Rule::Ident),
        ("vault", Rule::Ident),
        ("key", Rule::Key),
        ("group", Rule::Ident),
        ("principal", Rule::Principal(ANY_PRINCIPAL)),
        ("member", Rule::Principal(USER_OR_APP)),
    ];

    /// Request fields: (schema, property, rule). A list of strings gets the rule on its items, a
    /// map on its keys.
    const FIELDS: [(&'static str, &'static str, Rule); 23] = [
        ("EnvDoc", "name", Rule::Ident),
        ("EnvDoc", "parent", Rule::Ident),
        ("NameBody", "name", Rule::Ident),
        ("PrincipalBody", "principal", Rule::Principal(ANY_PRINCIPAL)),
        ("MemberBody", "member", Rule::Principal(USER_OR_APP)),
        ("TokenRequest", "principal", Rule::Principal(USER_OR_APP)),
        ("TokenRequest", "name", Rule::Printable(MAX_TOKEN_NAME_LEN)),
        ("TokenRequest", "environment", Rule::Ident),
        ("GrantRequest", "principal", Rule::Principal(ANY_PRINCIPAL)),
        ("GrantRequest", "scope", Rule::Scope),
        ("GrantRequest", "access", Rule::OneOf(ACCESS)),
        ("AppKeyRequest", "principal", Rule::Principal(APP)),
        ("AppKeyRequest", "environment", Rule::Ident),
        ("ResolveRequest", "environment", Rule::Ident),
        ("ResolveRequest", "vault", Rule::Ident),
        ("ResolveRequest", "keys", Rule::Key),
        ("EntryRef", "environment", Rule::Ident),
        ("EntryRef", "vault", Rule::Ident),
        ("EntryRef", "key", Rule::Key),
        ("DeleteEntries", "keys", Rule::Key),
        ("PutEntries", "entries", Rule::Key),
        ("PutEntry", "kind", Rule::OneOf(ENTRY_KINDS)),
        ("RenderBody", "environment", Rule::Ident),
    ];

    /// A name the rule allows, for the document's readers.
    fn example(rule: Rule) -> &'static str {
        match rule {
            Rule::Ident => "default",
            Rule::Key => "db/password",
            Rule::Principal(kinds) if kinds == APP => "app:orkes-workers",
            Rule::Principal(_) => "user:alice",
            Rule::Scope => "prod/api-keys/*",
            Rule::OneOf(words) => words[0],
            Rule::Printable(_) => "ci",
        }
    }

    /// Writes `rule` into a string schema (one that may also be null, for optional fields).
    fn apply(rule: Rule, schema: &mut Object) {
        let (pattern, max) = match rule {
            Rule::Ident => (IDENT_PATTERN.to_owned(), MAX_IDENT_LEN),
            Rule::Key => (KEY_PATTERN.to_owned(), MAX_KEY_LEN),
            Rule::Principal(kinds) => (PrincipalRef::pattern(kinds), "application:".len() + MAX_IDENT_LEN),
            Rule::Scope => (Scope::PATTERN.to_owned(), Scope::MAX_LEN),
            Rule::Printable(bytes) => (r"^[^\x00-\x1f\x7f-\x9f]+$".to_owned(), bytes / 4),
            Rule::OneOf(words) => {
                let nullable = matches!(&schema.schema_type, SchemaType::Array(types) if types.contains(&Type::Null));
                let mut values: Vec<serde_json::Value> = words.iter().map(|w| (*w).into()).collect();
                if nullable {
                    values.push(serde_json::Value::Null);
                }
                schema.enum_values = Some(values);
                return;
            }
        };
        schema.pattern = Some(pattern);
        schema.min_length = Some(1);
        schema.max_length = Some(max);
    }

    /// Where in a property's schema the rule goes: the string itself, a list's items, a map's keys.
    fn apply_to_property(rule: Rule, property: &mut RefOr<Schema>) -> bool {
        match property {
            RefOr::T(Schema::Object(object)) if object.additional_properties.is_some() => {
                let mut names = Object::with_type(Type::String);
                Self::apply(rule, &mut names);
                object.property_names = Some(Box::new(Schema::Object(names)));
                true
            }
            RefOr::T(Schema::Object(object)) => {
                Self::apply(rule, object);
                true
            }
            RefOr::T(Schema::Array(array)) => match &mut array.items {
                ArrayItems::RefOrSchema(items) => Self::apply_to_property(rule, items),
                ArrayItems::False => false,
            },
            _ => false,
        }
    }
}

impl Modify for NameRules {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for parameter in operations.into_iter().flatten().flat_map(|op| op.parameters.iter_mut().flatten()) {
                let rule = Self::PARAMETERS.iter().find(|(name, _)| *name == parameter.name);
                if let (Some((_, rule)), ParameterIn::Path) = (rule, &parameter.parameter_in) {
                    let mut schema = Object::with_type(Type::String);
                    Self::apply(*rule, &mut schema);
                    // An example with a `/` also tells Schemathesis that the key parameter takes an
                    // encoded slash (it leaves such values out otherwise).
                    schema.examples = vec![Self::example(*rule).into()];
                    parameter.schema = Some(RefOr::T(Schema::Object(schema)));
                }
            }
        }
        let schemas = &mut openapi.components.get_or_insert_with(Default::default).schemas;
        for (schema, field, rule) in Self::FIELDS {
            let property = match schemas.get_mut(schema) {
                Some(RefOr::T(Schema::Object(object))) => object.properties.get_mut(field),
                _ => None,
            };
            // A field renamed or retyped must not lose its rule silently.
            let applied = property.is_some_and(|property| Self::apply_to_property(rule, property));
            assert!(applied, "openapi.rs NameRules: {schema}.{field} is not a string, list or map of strings");
        }
        // The bound on a batch of deletions.
        if let Some(RefOr::T(Schema::Object(object))) = schemas.get_mut("DeleteEntries") {
            if let Some(RefOr::T(Schema::Array(keys))) = object.properties.get_mut("keys") {
                keys.min_items = Some(1);
                keys.max_items = Some(MAX_DELETE_BATCH);
            }
        }
    }
}

/// OpenAPI links from what creates a record to what removes it, so a client (and Schemathesis's
/// stateful phase) knows that the `id` a creation answers is the one its deletion takes.
struct Links;

impl Links {
    /// (created by: method, path, status; removed by: operation id, its description).
    const CREATED_THEN_REMOVED: [(&'static str, &'static str, &'static str, &'static str); 3] = [
        ("/api/v1/tokens", "201", "revoke_token", "RevokeToken"),
        ("/api/v1/grants", "201", "delete_grant", "DeleteGrant"),
        ("/api/v1/app-keys", "201", "revoke_app_key", "RevokeAppKey"),
    ];
}

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, status, target, name) in Self::CREATED_THEN_REMOVED {
            let response = openapi
                .paths
                .paths
                .get_mut(path)
                .and_then(|item| item.post.as_mut())
                .and_then(|op| op.responses.responses.get_mut(status));
            let Some(RefOr::T(response)) = response else {
                panic!("openapi.rs Links: POST {path} has no {status} answer to link from");
            };
            let link = utoipa::openapi::link::Link::builder()
                .operation_id(target)
                .parameter("id", "$response.body#/id")
                .description(format!("The `id` of the answer is the `{{id}}` that {target} takes."))
                .build();
            response.links.insert(name.to_owned(), RefOr::T(link));
        }
    }
}

/// This document. Open: no token needed.
#[utoipa::path(get, path = "/api/v1/openapi.json", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of the native API", body = Object)), tag = "meta")]
pub async fn serve() -> Json<serde_json::Value> {
    Json(document())
}

/// The document as served. utoipa 5.5 writes a link's fields in snake case (`operation_id`);
/// OpenAPI spells them in camel case (`operationId`), so they are renamed here.
pub(crate) fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    let responses = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(|r| r.as_object_mut()))
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        for link in response.get_mut("links").and_then(|l| l.as_object_mut()).into_iter().flat_map(|l| l.values_mut()) {
            let Some(link) = link.as_object_mut() else { continue };
            for (snake, camel) in
                [("operation_id", "operationId"), ("operation_ref", "operationRef"), ("request_body", "requestBody")]
            {
                if let Some(value) = link.remove(snake) {
                    link.insert(camel.to_owned(), value);
                }
            }
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use crate::routes::native::{self, Guard};
    use serde_json::{json, Map, Value};

    /// The routes that answer 201 Created with an empty body (as they always have): the only 2xx
    /// answers besides 204 that carry no document, so the only ones without a schema. A new route
    /// does not join this list: it answers a document.
    const CREATED_WITHOUT_BODY: [(&str, &str); 4] = [
        ("post", "/api/v1/envs"),
        ("post", "/api/v1/envs/{env}/vaults"),
        ("post", "/api/v1/principals"),
        ("post", "/api/v1/groups/{group}/members"),
    ];

    const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

    fn document() -> Value {
        super::document()
    }

    /// The router's routes as OpenAPI names them: lower-case method, `{*key}` as `{key}`.
    fn routed() -> Vec<(String, String)> {
        native::routes().iter().map(|r| (r.method.as_str().to_ascii_lowercase(), r.path.replace("{*", "{"))).collect()
    }

    /// Everything the document fails to say about `routes`, in words; empty when it describes
    /// them all: every route with its success answers, every answer but 204 (and the
    /// [`CREATED_WITHOUT_BODY`]) with a schema, every schema it names registered, and nothing
    /// documented that is not routed.
    fn problems(doc: &Value, routes: &[(String, String)]) -> Vec<String> {
        let mut out = Vec::new();
        let none = Map::new();
        let paths = doc["paths"].as_object().unwrap_or(&none);
        for (method, path) in routes {
            let Some(op) = paths.get(path).and_then(|item| item.get(method)) else {
                out.push(format!("{method} {path} is routed but not in the OpenAPI document (openapi.rs `paths`)"));
                continue;
            };
            let responses = op["responses"].as_object().unwrap_or(&none);
            if !responses.keys().any(|status| status.starts_with('2')) {
                out.push(format!("{method} {path} documents no success answer"));
            }
            for (status, response) in responses.iter().filter(|(s, _)| !s.starts_with('2')) {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                if schema != "#/components/schemas/ErrorDoc" {
                    out.push(format!(
                        "{method} {path} answers {status} without an ErrorDoc (openapi.rs `ErrorAnswers`)"
                    ));
                }
            }
            let guarded = op.get("security").is_none();
            for status in ["401", "429"].into_iter().filter(|s| guarded && !responses.contains_key(*s)) {
                out.push(format!("{method} {path} is behind the token gate but does not document {status}"));
            }
            for (status, response) in responses.iter().filter(|(s, _)| s.starts_with('2') && *s != "204") {
                let described =
                    response["content"].as_object().is_some_and(|c| c.values().any(|m| m.get("schema").is_some()));
                let bodiless = status == "201" && CREATED_WITHOUT_BODY.contains(&(method.as_str(), path.as_str()));
                match (described, bodiless) {
                    (false, false) => out.push(format!(
                        "{method} {path} answers {status} without a schema: name its body type in its \
                         #[utoipa::path] responses"
                    )),
                    (true, true) => out.push(format!(
                        "{method} {path} answers {status} with a body now: take it off CREATED_WITHOUT_BODY"
                    )),
                    _ => {}
                }
            }
        }
        for (path, item) in paths {
            for method in item.as_object().unwrap_or(&none).keys().filter(|m| METHODS.contains(&m.as_str())) {
                if !routes.contains(&(method.clone(), path.clone())) {
                    out.push(format!("{method} {path} is documented but not routed"));
                }
            }
        }
        let mut refs = Vec::new();
        refs_in(doc, &mut refs);
        for r in refs {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
            if doc["components"]["schemas"].get(name).is_none() {
                out.push(format!("schema {r} is named but not registered (openapi.rs `components`)"));
            }
        }
        out
    }

    fn refs_in<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs_in(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs_in(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_route_and_every_answer_is_described() {
        let problems = problems(&document(), &routed());
        assert!(problems.is_empty(), "the OpenAPI document is incomplete:\n{}", problems.join("\n"));
    }

    /// The check fails for each thing it looks for.
    #[test]
    fn the_check_catches_what_is_missing() {
        let routes = routed();
        let found = |doc: &Value, routes: &[(String, String)], needle: &str| {
            let problems = problems(doc, routes);
            assert!(problems.iter().any(|p| p.contains(needle)), "{needle:?} not in {problems:#?}");
        };
        let mut doc = document();
        doc["paths"].as_object_mut().unwrap().remove("/api/v1/tokens");
        found(&doc, &routes, "get /api/v1/tokens is routed but not in the OpenAPI document");
        let mut doc = document();
        doc["paths"]["/api/v1/envs"]["get"]["responses"]["200"] = json!({"description": "no body described"});
        found(&doc, &routes, "get /api/v1/envs answers 200 without a schema");
        let mut doc = document();
        doc["paths"]["/api/v1/envs"]["post"]["responses"]["201"]["content"] =
            json!({"application/json": {"schema": {"type": "object"}}});
        found(&doc, &routes, "take it off CREATED_WITHOUT_BODY");
        let mut doc = document();
        doc["components"]["schemas"].as_object_mut().unwrap().remove("EnvList");
        found(&doc, &routes, "#/components/schemas/EnvList is named but not registered");
        let mut doc = document();
        doc["paths"]["/api/v1/envs"]["get"]["responses"]["403"] = json!({"description": "no body described"});
        found(&doc, &routes, "get /api/v1/envs answers 403 without an ErrorDoc");
        let mut doc = document();
        doc["paths"]["/api/v1/envs"]["get"]["responses"].as_object_mut().unwrap().remove("401");
        found(&doc, &routes, "get /api/v1/envs is behind the token gate but does not document 401");
        let fewer: Vec<_> = routes.iter().filter(|(_, p)| p != "/api/v1/whoami").cloned().collect();
        found(&document(), &fewer, "get /api/v1/whoami is documented but not routed");
    }

    /// A string rule as the document states it: pattern and length bounds.
    struct Stated {
        pattern: regex::Regex,
        min: usize,
        max: usize,
    }

    impl Stated {
        fn read(schema: &Value) -> Stated {
            let pattern = schema["pattern"].as_str().unwrap_or_else(|| panic!("no pattern in {schema}"));
            Stated {
                pattern: regex::Regex::new(pattern).expect("the pattern compiles"),
                min: schema["minLength"].as_u64().unwrap() as usize,
                max: schema["maxLength"].as_u64().unwrap() as usize,
            }
        }

        /// JSON Schema counts characters.
        fn allows(&self, s: &str) -> bool {
            (self.min..=self.max).contains(&s.chars().count()) && self.pattern.is_match(s)
        }
    }

    fn path_parameter(doc: &Value, path: &str, method: &str, name: &str) -> Stated {
        let parameters = doc["paths"][path][method]["parameters"].as_array().unwrap();
        Stated::read(&parameters.iter().find(|p| p["name"] == name).unwrap()["schema"])
    }

    /// Each place a rule is stated, with the model's parser it must agree with.
    /// Where a rule is stated, what the document says, and the model's parser.
    type StatedRule = (&'static str, Stated, fn(&str) -> bool);

    fn stated_rules() -> Vec<StatedRule> {
        use tresor_model::{EntryKey, EnvName, PrincipalRef, Scope, VaultName};
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let entry = "/api/v1/envs/{env}/vaults/{vault}/entries/{key}";
        vec![
            ("path env", path_parameter(&doc, entry, "get", "env"), |s| EnvName::new(s).is_ok()),
            ("path vault", path_parameter(&doc, entry, "get", "vault"), |s| VaultName::new(s).is_ok()),
            ("path key", path_parameter(&doc, entry, "get", "key"), |s| EntryKey::new(s).is_ok()),
            ("EnvDoc.name", Stated::read(&schemas["EnvDoc"]["properties"]["name"]), |s| EnvName::new(s).is_ok()),
            ("DeleteEntries.keys", Stated::read(&schemas["DeleteEntries"]["properties"]["keys"]["items"]), |s| {
                EntryKey::new(s).is_ok()
            }),
            (
                "PutEntries.entries",
                Stated::read(&schemas["PutEntries"]["properties"]["entries"]["propertyNames"]),
                |s| EntryKey::new(s).is_ok(),
            ),
            ("PrincipalBody.principal", Stated::read(&schemas["PrincipalBody"]["properties"]["principal"]), |s| {
                s.parse::<PrincipalRef>().is_ok()
            }),
            ("MemberBody.member", Stated::read(&schemas["MemberBody"]["properties"]["member"]), |s| {
                s.parse::<PrincipalRef>().is_ok_and(|p| ["user", "app"].contains(&p.kind.as_str()))
            }),
            ("AppKeyRequest.principal", Stated::read(&schemas["AppKeyRequest"]["properties"]["principal"]), |s| {
                s.parse::<PrincipalRef>().is_ok_and(|p| p.kind.as_str() == "app")
            }),
            ("GrantRequest.scope", Stated::read(&schemas["GrantRequest"]["properties"]["scope"]), |s| {
                s.parse::<Scope>().is_ok()
            }),
        ]
    }

    /// Samples at the rules' edges, each given to every rule.
    const SAMPLES: &[&str] = &[
        "",
        "a",
        "A-b_c",
        "-a",
        "_a",
        "a.b",
        "a/b",
        "a..b",
        ".",
        "./.",
        "a./b",
        "/a",
        "a/",
        "a//b",
        "db/pg.user",
        "user:alice",
        "app:w-1",
        "application:w",
        "group:g",
        "user:",
        "user:-a",
        "robot:x",
        "user:a:b",
        "prod",
        "prod/api-keys/*",
        "*",
        "*/*/db/*",
        "a//",
        "a/b/",
        "a/*/c//d",
        "p?d/v",
        "é",
        "a b",
        "user:ali ce",
    ];

    #[test]
    fn the_documents_name_rules_agree_with_the_model() {
        let long = |n: usize, c: &str| c.repeat(n);
        let mut samples: Vec<String> = SAMPLES.iter().map(|s| (*s).to_owned()).collect();
        for n in [63, 64, 65, 255, 256, 257, 299, 300, 301] {
            samples.push(long(n, "k"));
            samples.push(format!("user:{}", long(n.min(70), "u")));
        }
        for (place, stated, parser) in stated_rules() {
            for s in &samples {
                assert_eq!(stated.allows(s), parser(s), "{place} on {s:?}");
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn the_documents_name_rules_agree_with_the_model_on_random_strings(
            s in "[a-zA-Z0-9_./:*? -]{0,8}|(user|app|group):[a-z0-9_-]{0,6}|[a-z]{0,3}(/[a-z.]{0,3}){0,3}",
        ) {
            for (place, stated, parser) in stated_rules() {
                proptest::prop_assert_eq!(stated.allows(&s), parser(&s), "{} on {:?}", place, s);
            }
        }
    }

    /// Each link leads from a creation whose answer has an `id` to an operation of the document
    /// that takes an `{id}` path parameter.
    #[test]
    fn links_lead_from_creations_to_removals() {
        let doc = document();
        let operations: Vec<&Value> =
            doc["paths"].as_object().unwrap().values().flat_map(|item| item.as_object().unwrap().values()).collect();
        let mut links = 0;
        for path in ["/api/v1/tokens", "/api/v1/grants", "/api/v1/app-keys"] {
            let created = &doc["paths"][path]["post"]["responses"]["201"];
            // The answer's schema, through `$ref`s and `allOf` (a flattened document).
            let resolve = |s: &Value| match s["$ref"].as_str() {
                Some(r) => doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")].clone(),
                None => s.clone(),
            };
            let schema = resolve(&created["content"]["application/json"]["schema"]);
            let has_id = |s: &Value| s["properties"]["id"].is_object();
            let composed = schema["allOf"].as_array().into_iter().flatten().map(resolve);
            assert!(has_id(&schema) || composed.clone().any(|s| has_id(&s)), "{path}'s answer has no id: {schema}");
            for link in created["links"].as_object().unwrap().values() {
                links += 1;
                assert_eq!(link["parameters"], json!({"id": "$response.body#/id"}));
                assert!(link.get("operation_id").is_none(), "links are written in camel case: {link}");
                let target = operations.iter().find(|op| op["operationId"] == link["operationId"]);
                let target = target.unwrap_or_else(|| panic!("no operation {}", link["operationId"]));
                let takes_id =
                    target["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "id" && p["in"] == "path");
                assert!(takes_id, "{} takes no id", link["operationId"]);
            }
        }
        assert_eq!(links, 3);
    }

    /// The router serves exactly the table: every route of it answers a request without a token,
    /// with 401 behind the gate and 200 when open, never the router's own 404 or 405.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_router_serves_the_table() {
        use std::io::{Read, Write};
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(tresor_store::SqliteStore::open(&dir.path().join("tresor.db")).unwrap());
        let (root, _) = tresor_crypto::RootKey::generate().unwrap();
        let svc = tresor_service::Service::open(store, root, Default::default()).await.unwrap();
        let (_app, router) = crate::app(svc, &crate::ServerConfig::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        for route in native::routes() {
            let path = route.path.replace("{*key}", "db/password").replace(['{', '}'], "");
            let method = route.method.clone();
            let status = tokio::task::spawn_blocking(move || {
                let mut conn = std::net::TcpStream::connect(addr).unwrap();
                let request =
                    format!("{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                conn.write_all(request.as_bytes()).unwrap();
                let mut answer = String::new();
                conn.read_to_string(&mut answer).unwrap();
                answer.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok()).unwrap_or(0)
            })
            .await
            .unwrap();
            let expected = if route.guard == Guard::Open { 200 } else { 401 };
            assert_eq!(status, expected, "{} {}", route.method, route.path);
        }
        server.abort();
    }
}
