//! A client for tresor's native API.
//!
//! ```no_run
//! let client = tresor_client::Client::new("http://127.0.0.1:8200", "tsr_...")?;
//! let password = client.get("prod", "database", "db/password")?;
//! let many = client.get_all("prod", "api-keys", &["stripe", "sendgrid"])?;
//! # Ok::<(), tresor_client::ClientError>(())
//! ```
//!
//! Blocking (ureq): workers and CLIs resolve a handful of values at start-up, and a blocking client
//! needs no runtime. There is no async variant: the CLI, its one user in this repository, needs
//! none; an async program calls it through `tokio::task::spawn_blocking`, or uses the Python or
//! TypeScript SDK. `get_all` resolves many names in one request. For HTTPS with a private CA, set
//! `TRESOR_CACERT` to its PEM file.

pub use tresor_api::*;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use thiserror::Error;
use zeroize::Zeroizing;

#[derive(Debug, Error)]
pub enum ClientError {
    /// The server answered with an error: its status, the kind of failure its `ErrorDoc` named
    /// (absent when the answer was not tresor's, say a proxy's), and its message.
    #[error("{message}")]
    Api { status: u16, kind: Option<tresor_api::ErrorKind>, message: String },
    /// The server could not be reached.
    #[error("cannot reach the tresor server at {addr}: {detail}")]
    Transport { addr: String, detail: String },
    #[error("unexpected answer from the server: {0}")]
    Decode(String),
    #[error("{0}")]
    Config(String),
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// The body of a call that takes none but is sent as JSON: `{}`.
#[derive(Serialize)]
struct NoFields {}

/// A connection to one tresor server with one token.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Zeroizing<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).finish_non_exhaustive()
    }
}

/// Percent-encodes one path segment; `/` inside keys is kept, as the API's key routes take the
/// rest of the path.
/// Everything but RFC 3986's unreserved characters is escaped in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// The same, with `/` kept: an entry key spans path segments (`values/{*key}`).
const KEY_PATH: &AsciiSet = &SEGMENT.remove(b'/');

fn seg(s: &str, keep_slash: bool) -> String {
    utf8_percent_encode(s, if keep_slash { KEY_PATH } else { SEGMENT }).to_string()
}

fn tls_config() -> Result<Option<Arc<rustls::ClientConfig>>> {
    let Ok(path) = std::env::var("TRESOR_CACERT") else { return Ok(None) };
    let pem = std::fs::read(&path).map_err(|e| ClientError::Config(format!("TRESOR_CACERT {path}: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| ClientError::Config(format!("TRESOR_CACERT {path}: {e}")))?;
        roots.add(cert).map_err(|e| ClientError::Config(format!("TRESOR_CACERT {path}: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(Arc::new(config)))
}

/// How long a call waits out rate limits (429) in all before it reports the limit.
pub const RATE_LIMIT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// The wait a 429 asks for: its `Retry-After` in seconds (bounded), else one second.
fn retry_after(header: Option<&str>) -> std::time::Duration {
    let secs = header.and_then(|h| h.trim().parse::<u64>().ok()).unwrap_or(1);
    std::time::Duration::from_secs(secs.clamp(1, 30))
}

impl Client {
    pub fn new(addr: &str, token: &str) -> Result<Self> {
        let base = addr.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Config(format!(
                "TRESOR_ADDR must start with http:// or https://, like http://127.0.0.1:8200 (found {base:?})"
            )));
        }
        let mut builder = ureq::AgentBuilder::new().timeout(std::time::Duration::from_secs(30));
        if let Some(tls) = tls_config()? {
            builder = builder.tls_config(tls);
        }
        Ok(Self { agent: builder.build(), base, token: Zeroizing::new(token.to_owned()) })
    }

    /// One API call. A 429 (a per-token rate limit) is waited out and retried, honouring the
    /// server's `Retry-After`, for up to [`RATE_LIMIT_PATIENCE`] in all: a script of ordinary
    /// commands never fails for a limit meant to stop runaway loops. Retrying is safe: a 429 is
    /// answered before the request does anything.
    fn call<T: DeserializeOwned>(&self, method: &str, path: &str, body: Option<&impl Serialize>) -> Result<Option<T>> {
        let url = format!("{}{path}", self.base);
        let body = body.map(|b| serde_json::to_value(b).map_err(|e| ClientError::Decode(e.to_string()))).transpose()?;
        let started = std::time::Instant::now();
        loop {
            let req = self.agent.request(method, &url).set("Authorization", &format!("Bearer {}", self.token.as_str()));
            let answer = match &body {
                Some(b) => req.send_json(b),
                None => req.call(),
            };
            if let Err(ureq::Error::Status(429, resp)) = &answer {
                let wait = retry_after(resp.header("Retry-After"));
                if started.elapsed() + wait <= RATE_LIMIT_PATIENCE {
                    std::thread::sleep(wait);
                    continue;
                }
            }
            return self.answer(answer);
        }
    }

    fn answer<T: DeserializeOwned>(&self, answer: Result<ureq::Response, ureq::Error>) -> Result<Option<T>> {
        match answer {
            Ok(resp) => {
                let text = Zeroizing::new(resp.into_string().map_err(|e| ClientError::Decode(e.to_string()))?);
                if text.trim().is_empty() {
                    return Ok(None);
                }
                serde_json::from_str::<T>(&text).map(Some).map_err(|e| ClientError::Decode(e.to_string()))
            }
            Err(ureq::Error::Status(status, resp)) => {
                let (kind, message) = match resp.into_json::<tresor_api::ErrorDoc>() {
                    Ok(doc) => (Some(doc.kind), doc.error),
                    Err(_) => (None, format!("the server answered {status}")),
                };
                Err(ClientError::Api { status, kind, message })
            }
            Err(e) => {
                let mut detail = e.to_string();
                // The usual cause of a refused certificate is a server whose CA the system does not
                // know: say how to trust it.
                if self.base.starts_with("https://") && detail.to_ascii_lowercase().contains("certificate") {
                    detail.push_str(" (for a server with a private CA, set TRESOR_CACERT to the CA's PEM file)");
                }
                Err(ClientError::Transport { addr: self.base.clone(), detail })
            }
        }
    }

    fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call::<T>("GET", path, None::<&()>)?.ok_or_else(|| ClientError::Decode("empty answer".into()))
    }

    fn send<T: DeserializeOwned>(&self, method: &str, path: &str, body: &impl Serialize) -> Result<T> {
        self.call::<T>(method, path, Some(body))?.ok_or_else(|| ClientError::Decode("empty answer".into()))
    }

    fn send_empty(&self, method: &str, path: &str, body: Option<&impl Serialize>) -> Result<()> {
        self.call::<serde::de::IgnoredAny>(method, path, body).map(|_| ())
    }

    /// A change's path, with `?release_ownership=true` when the user confirmed releasing a
    /// vault that a declarative config manages (see [`OnManaged`]).
    fn change_url(path: String, on_managed: OnManaged) -> String {
        match on_managed {
            OnManaged::Refuse => path,
            OnManaged::Release => format!("{path}{}release_ownership=true", if path.contains('?') { '&' } else { '?' }),
        }
    }

    fn entry_url(env: &str, vault: &str, what: &str, key: &str) -> String {
        format!("/api/v1/envs/{}/vaults/{}/{what}/{}", seg(env, false), seg(vault, false), seg(key, true))
    }

    // ----- declarative config -----

    /// What applying `config` would change (never values).
    pub fn plan_config(&self, config: &DesiredState) -> Result<Plan> {
        self.send("POST", "/api/v1/config/plan", &ConfigRequest { config: config.clone(), confirm: false })
    }

    /// Applies `config` in one transaction; `confirm` allows deletions and taking over vaults.
    pub fn apply_config(&self, config: &DesiredState, confirm: bool) -> Result<Plan> {
        self.send("POST", "/api/v1/config/apply", &ConfigRequest { config: config.clone(), confirm })
    }

    // ----- resolution -----

    /// Resolves one value (needs `read`).
    pub fn get(&self, env: &str, vault: &str, key: &str) -> Result<Zeroizing<String>> {
        let doc = self.get_value(env, vault, key, None)?;
        doc.value.map(Zeroizing::new).ok_or_else(|| {
            ClientError::Decode(format!("{key} is not UTF-8 text; read it with get_value (value_base64)"))
        })
    }

    /// Resolves one value as bytes, whether it is text (`value`) or not (`value_base64`).
    pub fn get_bytes(&self, env: &str, vault: &str, key: &str) -> Result<SecretValue> {
        let mut doc = self.get_value(env, vault, key, None)?;
        doc.decode().map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Resolves one value with its metadata, optionally at a version.
    pub fn get_value(&self, env: &str, vault: &str, key: &str, version: Option<u64>) -> Result<ValueDoc> {
        let mut url = Self::entry_url(env, vault, "values", key);
        if let Some(v) = version {
            url.push_str(&format!("?version={v}"));
        }
        self.get_json(&url)
    }

    /// Resolves many names of one vault in a single call. Missing and denied names are listed in the
    /// answer rather than failing the call.
    pub fn get_all(&self, env: &str, vault: &str, keys: &[&str]) -> Result<ResolveResponse> {
        let req = ResolveRequest {
            environment: Some(env.into()),
            vault: Some(vault.into()),
            keys: keys.iter().map(|k| k.to_string()).collect(),
            entries: vec![],
        };
        self.resolve(&req)
    }

    pub fn resolve(&self, req: &ResolveRequest) -> Result<ResolveResponse> {
        self.send("POST", "/api/v1/resolve", req)
    }

    /// Renders a template server-side with this token's grants (one batch resolution).
    pub fn render(&self, body: &RenderBody) -> Result<Zeroizing<String>> {
        let out: RenderResult = self.send("POST", "/api/v1/render", body)?;
        Ok(Zeroizing::new(out.output))
    }

    /// Has the server send a webhook, resolving its `{"vault", "key"}` references with this token's
    /// grants; the answer comes back with those values masked.
    pub fn send_webhook(&self, body: &WebhookBody) -> Result<WebhookAnswer> {
        self.send("POST", "/api/v1/webhooks/send", body)
    }

    // ----- entries -----

    pub fn put(&self, env: &str, vault: &str, key: &str, body: &PutEntry, on_managed: OnManaged) -> Result<EntryDoc> {
        self.send("PUT", &Self::change_url(Self::entry_url(env, vault, "entries", key), on_managed), body)
    }

    /// Writes many entries of one vault, all or none.
    pub fn put_many(&self, env: &str, vault: &str, body: &PutEntries, on_managed: OnManaged) -> Result<Vec<EntryDoc>> {
        let url = format!("/api/v1/envs/{}/vaults/{}/entries", seg(env, false), seg(vault, false));
        self.send("POST", &Self::change_url(url, on_managed), body)
    }

    pub fn describe(&self, env: &str, vault: &str, key: &str) -> Result<EntryDoc> {
        self.get_json(&Self::entry_url(env, vault, "entries", key))
    }

    /// One page of a vault's entries; pass the answer's `next_after` as `after` for the next one.
    pub fn ls(
        &self,
        env: &str,
        vault: &str,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
        deleted: bool,
    ) -> Result<EntryList> {
        let mut url = format!(
            "/api/v1/envs/{}/vaults/{}/entries?limit={limit}&deleted={deleted}&prefix={}",
            seg(env, false),
            seg(vault, false),
            seg(prefix, false)
        );
        if let Some(a) = after {
            url.push_str(&format!("&after={}", seg(a, false)));
        }
        self.get_json(&url)
    }

    pub fn rm(&self, env: &str, vault: &str, key: &str, purge: bool, on_managed: OnManaged) -> Result<()> {
        let url = format!("{}?purge={purge}", Self::entry_url(env, vault, "entries", key));
        self.send_empty("DELETE", &Self::change_url(url, on_managed), None::<&()>)
    }

    /// Deletes many keys of one vault, all or none: a key that does not exist fails the call,
    /// naming it, and nothing is deleted. At most 1000 keys; a key given twice counts once.
    pub fn rm_many(
        &self,
        env: &str,
        vault: &str,
        keys: &[&str],
        purge: bool,
        on_managed: OnManaged,
    ) -> Result<DeletedEntries> {
        let url = format!("/api/v1/envs/{}/vaults/{}/delete-entries", seg(env, false), seg(vault, false));
        self.send(
            "POST",
            &Self::change_url(url, on_managed),
            &DeleteEntries { keys: keys.iter().map(|k| k.to_string()).collect(), purge },
        )
    }

    pub fn undelete(&self, env: &str, vault: &str, key: &str, on_managed: OnManaged) -> Result<EntryDoc> {
        self.send("POST", &Self::change_url(Self::entry_url(env, vault, "undelete", key), on_managed), &NoFields {})
    }

    /// The kept versions of an entry, without values.
    pub fn history(&self, env: &str, vault: &str, key: &str) -> Result<VersionList> {
        self.get_json(&Self::entry_url(env, vault, "versions", key))
    }

    pub fn restore(&self, env: &str, vault: &str, key: &str, version: u64, on_managed: OnManaged) -> Result<EntryDoc> {
        let url = Self::change_url(Self::entry_url(env, vault, "restore", key), on_managed);
        self.send("POST", &url, &RestoreBody { version })
    }

    // ----- environments, vaults -----

    pub fn list_envs(&self) -> Result<EnvList> {
        self.get_json("/api/v1/envs")
    }

    pub fn create_env(&self, name: &str, parent: Option<&str>) -> Result<()> {
        let body = EnvDoc { name: name.into(), parent: parent.map(Into::into), created_at: String::new() };
        self.send_empty("POST", "/api/v1/envs", Some(&body))
    }

    pub fn list_vaults(&self, env: &str) -> Result<VaultList> {
        self.get_json(&format!("/api/v1/envs/{}/vaults", seg(env, false)))
    }

    pub fn create_vault(&self, env: &str, name: &str) -> Result<()> {
        self.send_empty(
            "POST",
            &format!("/api/v1/envs/{}/vaults", seg(env, false)),
            Some(&NameBody { name: name.into() }),
        )
    }

    pub fn delete_vault(&self, env: &str, name: &str, on_managed: OnManaged) -> Result<()> {
        let url = format!("/api/v1/envs/{}/vaults/{}", seg(env, false), seg(name, false));
        self.send_empty("DELETE", &Self::change_url(url, on_managed), None::<&()>)
    }

    // ----- access -----

    pub fn whoami(&self) -> Result<WhoAmI> {
        self.get_json("/api/v1/whoami")
    }

    pub fn create_principal(&self, principal: &str) -> Result<()> {
        self.send_empty("POST", "/api/v1/principals", Some(&PrincipalBody { principal: principal.into() }))
    }

    pub fn list_principals(&self) -> Result<PrincipalList> {
        self.get_json("/api/v1/principals")
    }

    pub fn delete_principal(&self, principal: &str) -> Result<()> {
        self.send_empty("DELETE", &format!("/api/v1/principals/{}", seg(principal, false)), None::<&()>)
    }

    pub fn add_member(&self, group: &str, member: &str) -> Result<()> {
        let url = format!("/api/v1/groups/{}/members", seg(group, false));
        self.send_empty("POST", &url, Some(&MemberBody { member: member.into() }))
    }

    pub fn list_members(&self, group: &str) -> Result<MemberList> {
        self.get_json(&format!("/api/v1/groups/{}/members", seg(group, false)))
    }

    pub fn remove_member(&self, group: &str, member: &str) -> Result<()> {
        let url = format!("/api/v1/groups/{}/members/{}", seg(group, false), seg(member, false));
        self.send_empty("DELETE", &url, None::<&()>)
    }

    /// Mints a token; `environment` binds it (its grants narrowed to that environment).
    pub fn create_token(
        &self,
        principal: &str,
        name: &str,
        ttl_seconds: Option<u64>,
        environment: Option<&str>,
    ) -> Result<NewTokenDoc> {
        let body = TokenRequest {
            principal: principal.into(),
            name: name.into(),
            ttl_seconds,
            environment: environment.map(str::to_owned),
        };
        self.send("POST", "/api/v1/tokens", &body)
    }

    pub fn list_tokens(&self) -> Result<TokenList> {
        self.get_json("/api/v1/tokens")
    }

    pub fn revoke_token(&self, id: &str) -> Result<()> {
        self.send_empty("DELETE", &format!("/api/v1/tokens/{}", seg(id, false)), None::<&()>)
    }

    pub fn create_grant(&self, principal: &str, scope: &str, access: &str) -> Result<GrantDoc> {
        let body = GrantRequest { principal: principal.into(), scope: scope.into(), access: access.into() };
        self.send("POST", "/api/v1/grants", &body)
    }

    pub fn list_grants(&self) -> Result<GrantList> {
        self.get_json("/api/v1/grants")
    }

    pub fn delete_grant(&self, id: &str) -> Result<()> {
        self.send_empty("DELETE", &format!("/api/v1/grants/{}", seg(id, false)), None::<&()>)
    }

    // ----- audit -----

    /// One page of the audit log: records after sequence number `after`, at or after `since`.
    pub fn audit(&self, after: u64, since: Option<&str>, limit: u32) -> Result<AuditPage> {
        let mut url = format!("/api/v1/audit?after={after}&limit={limit}");
        if let Some(s) = since {
            url.push_str(&format!("&since={}", seg(s, false)));
        }
        self.get_json(&url)
    }

    pub fn audit_verify(&self) -> Result<VerifyDoc> {
        self.get_json("/api/v1/audit/verify")
    }

    // ----- application access keys -----

    /// Creates an access key (key id and secret, for Conductor's `POST /api/token`) for `app:NAME`;
    /// `environment` binds it, and so every token it is exchanged for.
    pub fn create_app_key(&self, principal: &str, environment: Option<&str>) -> Result<NewAppKeyDoc> {
        let body = AppKeyRequest { principal: principal.into(), environment: environment.map(str::to_owned) };
        self.send("POST", "/api/v1/app-keys", &body)
    }

    pub fn list_app_keys(&self) -> Result<AppKeyList> {
        self.get_json("/api/v1/app-keys")
    }

    /// Revokes an access key and the tokens it was exchanged for.
    pub fn revoke_app_key(&self, id: &str) -> Result<()> {
        self.send_empty("DELETE", &format!("/api/v1/app-keys/{}", seg(id, false)), None::<&()>)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments_are_encoded() {
        assert_eq!(super::seg("db/pass word", true), "db/pass%20word");
        assert_eq!(super::seg("app:x", false), "app%3Ax");
    }

    #[test]
    fn bad_addresses_are_refused_clearly() {
        let e = super::Client::new("127.0.0.1:8200", "t").unwrap_err().to_string();
        assert!(e.contains("must start with http://"), "{e}");
    }
}
