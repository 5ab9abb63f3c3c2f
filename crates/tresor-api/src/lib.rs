//! The JSON documents of tresor's native API, shared by the server (which serves and documents
//! them) and the client crate (which sends and reads them), so the two cannot drift apart.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod codec;
mod convert;
mod whole;

pub use codec::{decode_optional_value, decode_value, encode_value, ValueError};
pub use convert::{DocError, EntryParts};
pub use tresor_model::SecretValue;

/// The declarative config documents: the desired state a client sends (values resolved from its
/// environment) and the plan the server answers (names and changes, never values).
pub use tresor_config::{
    Change, ChangeOp, ConfigValue, DesiredEntry, DesiredGrant, DesiredState, DesiredVault, Plan, PlanTarget,
};

pub use tresor_model::{ErrorKind, OnManaged};

/// Every error answer of the native API (and of the Tinybird-compatible routes, whose platform
/// answers `{"error": ...}` too).
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ErrorDoc {
    /// What went wrong and what to do about it, in words. Never a value.
    pub error: String,
    /// The kind of failure, for programs to branch on: `invalid`, `too_large`, `not_found`,
    /// `already_exists`, `conflict`, `denied`, `unauthenticated`, `expired`, `limit`,
    /// `rate_limited`, `upstream`, `unavailable` (the database cannot be reached), `out_of_space`
    /// (its disk is full) or `internal`.
    #[schema(value_type = String, example = "not_found")]
    pub kind: ErrorKind,
}

/// `POST /api/v1/config/plan` and `/apply`: a desired state and, for apply, the confirmation of
/// the changes that need one (deletions, taking over unmanaged vaults).
#[derive(Serialize, Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct ConfigRequest {
    pub config: DesiredState,
    #[serde(default)]
    pub confirm: bool,
}

/// An entry's metadata. `value` is present only for variables.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct EntryDoc {
    pub key: String,
    /// `secret` or `variable`.
    pub kind: String,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
    pub edited_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub tags: Vec<TagDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// Where the entry lives, when read through a branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Variables only; secrets never carry their value here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A variable's value that is not UTF-8, as base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct TagDoc {
    pub key: String,
    pub value: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct EntryList {
    pub entries: Vec<EntryDoc>,
    /// Pass as `after` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// A write. Give `value` as text, or `value_base64` for bytes.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutEntry {
    pub value: Option<String>,
    pub value_base64: Option<String>,
    /// `secret` (default) or `variable`.
    pub kind: Option<String>,
    /// Check-and-set: write only if the entry is at this version (0: only if new).
    #[serde(default, deserialize_with = "whole::option_u64")]
    pub expected_version: Option<u64>,
    pub description: Option<String>,
    pub tags: Option<Vec<TagDoc>>,
}

impl PutEntry {
    /// A write of `value` (text or base64, see [`encode_value`]) as a secret, with nothing else
    /// set.
    pub fn new(value: &SecretValue) -> Self {
        let (value, value_base64) = encode_value(value.expose());
        PutEntry { value, value_base64, kind: None, expected_version: None, description: None, tags: None }
    }

    /// The value to write, from `value` or `value_base64` (exactly one; see [`decode_value`]).
    pub fn take_value(&mut self) -> Result<SecretValue, ValueError> {
        decode_value(self.value.take(), self.value_base64.take())
    }
}

/// Many writes into one vault, by key: all of them happen or none (one transaction).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutEntries {
    pub entries: std::collections::BTreeMap<String, PutEntry>,
}

/// `POST /api/v1/envs/{env}/vaults/{vault}/delete-entries`: deletes these keys of the vault, all
/// or none (one transaction). Every key needs `write`; a key that does not exist (or, without
/// `purge`, is already deleted) fails the whole request, naming it. A key given twice counts once;
/// at most 1000 keys.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct DeleteEntries {
    pub keys: Vec<String>,
    /// Remove the entries for good, with every version, instead of a soft delete that
    /// `undelete` recovers.
    #[serde(default)]
    pub purge: bool,
}

/// The answer to `delete-entries`: the keys deleted, each once, in the order given.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct DeletedEntries {
    pub deleted: Vec<String>,
    /// Whether they were purged (gone for good) rather than soft-deleted.
    pub purged: bool,
}

/// One stored version of an entry, without its value.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct VersionDoc {
    pub version: u64,
    /// `secret` or `variable`.
    pub kind: String,
    pub created_at: String,
    pub edited_by: String,
}

/// `GET /api/v1/envs/{env}/vaults/{vault}/versions/{key}`: the kept versions, oldest first.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct VersionList {
    pub versions: Vec<VersionDoc>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct RestoreBody {
    #[serde(deserialize_with = "whole::u64")]
    pub version: u64,
}

/// A resolved value.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ValueDoc {
    pub key: String,
    pub version: u64,
    pub kind: String,
    /// The environment the value lives in (a parent, when read through a branch).
    pub environment: String,
    /// The value, when it is UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The value as base64, when it is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
}

/// A batch resolution: names in one vault (`keys`), or full references (`entries`), or both.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    pub environment: Option<String>,
    pub vault: Option<String>,
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub entries: Vec<EntryRef>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryRef {
    pub environment: Option<String>,
    pub vault: Option<String>,
    pub key: String,
}

/// `values` maps each resolved name to its value; names that do not exist are in `missing`, names
/// the caller may not read in `denied`. Entries given as references are named `ENV/VAULT/KEY`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ResolveResponse {
    pub values: std::collections::BTreeMap<String, String>,
    /// Values that are not UTF-8, as base64.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub values_base64: std::collections::BTreeMap<String, String>,
    pub missing: Vec<String>,
    pub denied: Vec<String>,
}

impl ResolveResponse {
    /// Adds a resolved value under `name`: in `values` when it is text, else in `values_base64`
    /// (see [`encode_value`]).
    pub fn insert_value(&mut self, name: String, value: &SecretValue) {
        match encode_value(value.expose()) {
            (Some(text), _) => self.values.insert(name, text),
            (_, b64) => self.values_base64.insert(name, b64.unwrap_or_default()),
        };
    }

    /// Takes the value resolved under `name` out of the answer; `None` when it has none (missing
    /// or denied).
    pub fn take_value(&mut self, name: &str) -> Option<Result<SecretValue, ValueError>> {
        let (text, b64) = (self.values.remove(name), self.values_base64.remove(name));
        decode_optional_value(text, b64).transpose()
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct EnvDoc {
    pub name: String,
    pub parent: Option<String>,
    /// Set by the server; ignored on creation.
    #[serde(default)]
    pub created_at: String,
}

/// `GET /api/v1/envs`: the environments the caller's grants touch.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct EnvList {
    pub environments: Vec<EnvDoc>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct VaultDoc {
    pub name: String,
    pub environment: String,
    pub entries: u64,
    pub created_at: String,
    /// The declarative config that owns the vault (`tresor apply`); absent when unmanaged.
    pub managed_by: Option<String>,
    /// When the config took the vault over or, when `managed_by` is absent, when a change
    /// outside the config released it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_at: Option<String>,
}

/// `GET /api/v1/envs/{env}/vaults`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct VaultList {
    pub vaults: Vec<VaultDoc>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct NameBody {
    pub name: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PrincipalDoc {
    /// `user:NAME`, `app:NAME` or `group:NAME`.
    pub principal: String,
    pub created_at: String,
    pub created_by: String,
}

/// `GET /api/v1/principals`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PrincipalList {
    pub principals: Vec<PrincipalDoc>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PrincipalBody {
    /// `user:NAME`, `app:NAME` or `group:NAME`.
    pub principal: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct MemberBody {
    /// `user:NAME` or `app:NAME`.
    pub member: String,
}

/// `GET /api/v1/groups/{group}/members`: `user:NAME` and `app:NAME`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenRequest {
    pub principal: String,
    /// 1 to 100 bytes of printable characters.
    pub name: String,
    #[serde(default, deserialize_with = "whole::option_u64")]
    pub ttl_seconds: Option<u64>,
    /// Binds the token to this environment: its grants are narrowed to it, and the Tinybird- and
    /// Conductor-compatible APIs act in it. A bound caller may only mint tokens bound to its own
    /// environment. Absent or null: not bound.
    pub environment: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenDoc {
    pub id: String,
    pub principal: String,
    pub name: String,
    pub created_at: String,
    pub created_by: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    /// The environment the token is bound to; null: not bound.
    pub environment: Option<String>,
}

/// `GET /api/v1/tokens`: the workspace's tokens, never their secrets.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenDoc>,
}

/// A new token. `token` is shown this once and stored only as a hash.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct NewTokenDoc {
    pub token: String,
    #[serde(flatten)]
    pub info: TokenDoc,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct GrantRequest {
    pub principal: String,
    /// `ENV/VAULT/KEY` globs, e.g. `prod/api-keys/*`.
    pub scope: String,
    /// `read`, `write`, `manage`, `admin` or `webhook` (send webhooks from the environments the
    /// scope covers whole; `admin` includes it).
    pub access: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct GrantDoc {
    pub id: String,
    pub principal: String,
    pub scope: String,
    pub access: String,
    pub created_at: String,
    pub created_by: String,
}

/// `GET /api/v1/grants`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct GrantList {
    pub grants: Vec<GrantDoc>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    pub workspace: String,
    pub principal: String,
    pub token_id: Option<String>,
    /// The environment the token is bound to (null: not bound). A bound token's `grants` are
    /// already narrowed to it.
    pub environment: Option<String>,
    /// For a token bound to a branch: the parents it reads through to, nearest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads_through: Vec<String>,
    pub grants: Vec<ScopeAccess>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ScopeAccess {
    pub scope: String,
    pub access: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AuditDoc {
    pub seq: u64,
    pub at: String,
    pub request_id: String,
    pub principal: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: Option<String>,
}

/// `GET /api/v1/audit`: one page of records, in order; pass the last `seq` as `after` for the
/// next page.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    pub records: Vec<AuditDoc>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct VerifyDoc {
    pub ok: bool,
    pub records: u64,
    /// How many chains the records are in: one per server run (see docs/security.md).
    #[serde(default)]
    pub chains: u64,
    pub problems: Vec<String>,
}

/// A request for an application access key.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AppKeyRequest {
    /// `app:NAME`; the application is created if it does not exist.
    pub principal: String,
    /// Binds the key: the tokens it is exchanged for are bound to this environment (see
    /// `TokenRequest.environment`). Absent or null: not bound.
    pub environment: Option<String>,
}

/// An application access key, without its secret.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AppKeyDoc {
    /// The key id (Conductor's `keyId`).
    pub id: String,
    pub principal: String,
    pub created_at: String,
    pub created_by: String,
    pub revoked_at: Option<String>,
    /// The environment the key (and every token it is exchanged for) is bound to; null: not bound.
    pub environment: Option<String>,
}

/// `GET /api/v1/app-keys`: the workspace's application keys, never their secrets.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AppKeyList {
    pub app_keys: Vec<AppKeyDoc>,
}

/// A new application access key. `secret` (Conductor's `keySecret`) is shown this once and
/// stored only as a hash.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct NewAppKeyDoc {
    pub secret: String,
    #[serde(flatten)]
    pub info: AppKeyDoc,
}

impl std::fmt::Debug for PutEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutEntry").field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// A template to render with the caller's grants (`POST /api/v1/render`).
#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct RenderBody {
    pub template: String,
    /// `text` (default) or `json`: a JSON document whose `{"vault", "key"}` objects are
    /// references, and whose strings' references (every syntax) are written JSON-escaped.
    pub format: Option<String>,
    /// Environment of bare names (default `default`).
    pub environment: Option<String>,
    /// Vault of bare names (default `default`).
    pub vault: Option<String>,
    /// Only names matching one of these globs may be used (Digdag's `_secrets`).
    pub allow: Option<Vec<String>>,
    /// Credential sets: `pg=db1` reads `pg.password` from `db1.password`.
    #[serde(default)]
    pub map: Vec<String>,
}

/// The rendered template.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RenderResult {
    pub output: String,
}

/// A webhook for tresor to send (`POST /api/v1/webhooks/send`). Header values and the body may hold
/// `{"vault": V, "key": K}` references, resolved server-side with the caller's grants. Needs the
/// `webhook` access on `environment`, and `read` on each referenced entry.
#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    pub method: String,
    pub url: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub headers: serde_json::Map<String, serde_json::Value>,
    /// A string is sent as is; any other JSON is sent as JSON.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub body: Option<serde_json::Value>,
    /// Environment of the referenced vaults (default `default`).
    pub environment: Option<String>,
}

/// The destination's answer, every resolved value masked.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct WebhookAnswer {
    pub status: u16,
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: String,
}
