//! Vault's protocol documents, private to this surface: the response envelope, a version's and a
//! secret's metadata, mounts, the token lookup, health, and `{"errors": [...]}`. Field names,
//! order and empty values follow what OpenBao's KV v2 engine answers (checked field by field by
//! the differential test `compat_vault::answers_match_openbao`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use tresor_model::{format_rfc3339, EntryMeta, Tag};

/// Every successful answer of Vault's API: the endpoint's document in `data`, and the lease and
/// wrapping fields that a KV secret never has.
#[derive(Serialize)]
pub struct Envelope<T> {
    pub request_id: String,
    pub lease_id: &'static str,
    pub renewable: bool,
    pub lease_duration: u64,
    pub data: T,
    pub wrap_info: Option<()>,
    pub warnings: Option<()>,
    pub auth: Option<()>,
}

/// 200 with `data` in the envelope.
pub fn ok<T: Serialize>(request_id: &str, data: T) -> Response {
    let doc = Envelope {
        request_id: request_id.to_owned(),
        lease_id: "",
        renewable: false,
        lease_duration: 0,
        data,
        wrap_info: None,
        warnings: None,
        auth: None,
    };
    (StatusCode::OK, axum::Json(doc)).into_response()
}

/// Vault's answer to a change that returns nothing.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// `{"errors": [...]}`.
#[derive(Serialize)]
pub struct Errors {
    pub errors: Vec<String>,
}

/// Vault's "nothing here": 404 with an empty error list (what a read or list of a path without a
/// secret answers; its clients raise their not-found error on the status alone).
pub fn nothing_here() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(Errors { errors: vec![] })).into_response()
}

/// An error in Vault's shape with the status given.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(Errors { errors: vec![message.into()] })).into_response()
}

/// Vault's timestamps: RFC 3339 in UTC with a fraction (tresor keeps milliseconds).
pub fn vault_time(millis: i64) -> String {
    let seconds = format_rfc3339(millis);
    match seconds.strip_suffix('Z') {
        Some(s) => format!("{s}.{:03}Z", millis.rem_euclid(1000)),
        None => seconds,
    }
}

/// An entry's tags as Vault's `custom_metadata`: `null` when there are none.
pub fn custom_metadata(tags: &[Tag]) -> Option<BTreeMap<String, String>> {
    (!tags.is_empty()).then(|| tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect())
}

/// The metadata of one version, as a read or a write answers it.
#[derive(Serialize)]
pub struct VersionDoc {
    pub created_time: String,
    pub custom_metadata: Option<BTreeMap<String, String>>,
    pub deletion_time: String,
    pub destroyed: bool,
    pub version: u64,
}

/// A read of `data/PATH`: the secret's fields, `null` when its version is deleted.
#[derive(Serialize)]
pub struct DataDoc {
    pub data: Option<serde_json::Map<String, serde_json::Value>>,
    pub metadata: VersionDoc,
}

/// One version in a secret's metadata.
#[derive(Serialize)]
pub struct VersionStateDoc {
    pub created_time: String,
    pub deletion_time: String,
    pub destroyed: bool,
}

/// A read of `metadata/PATH`.
#[derive(Serialize)]
pub struct MetadataDoc {
    pub cas_required: bool,
    pub created_time: String,
    pub current_metadata_version: u64,
    pub current_version: u64,
    pub custom_metadata: Option<BTreeMap<String, String>>,
    pub delete_version_after: &'static str,
    pub max_versions: u32,
    pub metadata_cas_required: bool,
    pub oldest_version: u64,
    pub updated_time: String,
    pub versions: BTreeMap<String, VersionStateDoc>,
}

impl MetadataDoc {
    /// The metadata of `entry` with its stored versions (by number).
    pub fn of(entry: &EntryMeta, versions: BTreeMap<String, VersionStateDoc>) -> Self {
        let oldest = versions.keys().filter_map(|v| v.parse::<u64>().ok()).min().unwrap_or(0);
        MetadataDoc {
            cas_required: false,
            created_time: vault_time(entry.created_at),
            current_metadata_version: 0,
            current_version: entry.version,
            custom_metadata: custom_metadata(&entry.tags),
            delete_version_after: "0s",
            max_versions: 0,
            metadata_cas_required: false,
            // Vault names the oldest version it still keeps once older ones were pruned, else 0.
            oldest_version: if oldest > 1 { oldest } else { 0 },
            updated_time: vault_time(entry.updated_at),
            versions,
        }
    }
}

/// `LIST metadata/PREFIX`.
#[derive(Serialize)]
pub struct KeysDoc {
    pub keys: Vec<String>,
}

/// `GET config`: the engine's settings, which are tresor's server-wide ones.
#[derive(Serialize)]
pub struct ConfigDoc {
    pub cas_required: bool,
    pub delete_version_after: &'static str,
    pub max_versions: u32,
    pub metadata_cas_required: bool,
}

/// A mount's settings (every mount has none of its own).
#[derive(Serialize, Clone)]
pub struct MountConfig {
    pub default_lease_ttl: u64,
    pub force_no_cache: bool,
    pub max_lease_ttl: u64,
}

/// `{"version": "2"}`: what tells a client a mount speaks KV version 2.
#[derive(Serialize, Clone)]
pub struct MountOptions {
    pub version: &'static str,
}

/// A mount as `sys/mounts` and the CLI's preflight describe it.
#[derive(Serialize, Clone)]
pub struct MountDoc {
    pub accessor: String,
    pub config: MountConfig,
    pub deprecation_status: &'static str,
    pub description: String,
    pub external_entropy_access: bool,
    pub local: bool,
    pub options: MountOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub plugin_version: &'static str,
    pub running_plugin_version: &'static str,
    pub running_sha256: &'static str,
    pub seal_wrap: bool,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub uuid: String,
}

impl MountDoc {
    /// The mount of vault `vault` in `environment`.
    pub fn of(environment: &str, vault: &str) -> Self {
        MountDoc {
            accessor: format!("kv_{vault}"),
            config: MountConfig { default_lease_ttl: 0, force_no_cache: false, max_lease_ttl: 0 },
            deprecation_status: "supported",
            description: format!("tresor vault {vault} of environment {environment}"),
            external_entropy_access: false,
            local: false,
            options: MountOptions { version: "2" },
            path: None,
            plugin_version: "",
            running_plugin_version: "",
            running_sha256: "",
            seal_wrap: false,
            kind: "kv",
            uuid: String::new(),
        }
    }
}

/// `GET sys/mounts`: the mounts both at the top level and in `data`, as Vault answers.
#[derive(Serialize)]
pub struct MountsDoc {
    #[serde(flatten)]
    pub top: BTreeMap<String, MountDoc>,
    #[serde(flatten)]
    pub envelope: Envelope<BTreeMap<String, MountDoc>>,
}

/// `GET auth/token/lookup-self`.
#[derive(Serialize)]
pub struct TokenDoc {
    pub accessor: String,
    pub creation_time: u64,
    pub creation_ttl: u64,
    pub display_name: String,
    pub entity_id: &'static str,
    pub expire_time: Option<()>,
    pub explicit_max_ttl: u64,
    pub id: String,
    pub meta: BTreeMap<&'static str, String>,
    pub num_uses: u64,
    pub orphan: bool,
    pub path: &'static str,
    pub policies: Vec<&'static str>,
    pub renewable: bool,
    pub ttl: u64,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// `GET sys/health`.
#[derive(Serialize)]
pub struct HealthDoc {
    pub initialized: bool,
    pub sealed: bool,
    pub standby: bool,
    pub replication_performance_mode: &'static str,
    pub replication_dr_mode: &'static str,
    pub server_time_utc: i64,
    pub version: &'static str,
    pub cluster_name: &'static str,
    pub cluster_id: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_carry_milliseconds() {
        assert_eq!(vault_time(1_718_965_677_123), "2024-06-21T10:27:57.123Z");
        assert_eq!(vault_time(1_718_965_677_004), "2024-06-21T10:27:57.004Z");
    }

    #[test]
    fn mounts_are_listed_twice_as_vault_does() {
        let mounts: BTreeMap<_, _> = [("secret/".to_owned(), MountDoc::of("default", "secret"))].into();
        let doc = MountsDoc {
            top: mounts.clone(),
            envelope: Envelope {
                request_id: "r".into(),
                lease_id: "",
                renewable: false,
                lease_duration: 0,
                data: mounts,
                wrap_info: None,
                warnings: None,
                auth: None,
            },
        };
        let v = serde_json::to_value(doc).unwrap();
        assert_eq!(v["secret/"]["options"]["version"], "2");
        assert_eq!(v["data"]["secret/"]["type"], "kv");
        assert!(v["secret/"].get("path").is_none());
    }
}
