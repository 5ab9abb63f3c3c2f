//! Who is calling and what they may do: tokens, callers and grant checks.
//!
//! A token reads `tsr_<id>_<secret>`: `id` (12 hex digits) finds the stored record, `secret`
//! (256 random bits, base64url) is checked against the stored SHA-256 in constant time. The token
//! itself is shown once, at creation, and never stored.

use crate::{Result, ServiceError};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64URL, Engine};
use std::sync::Arc;
use tresor_crypto::{random_token_bytes, token_hash};
use tresor_model::{Access, EnvName, PrincipalKind, PrincipalRef, Scope, WorkspaceName};
use zeroize::Zeroizing;

pub const TOKEN_PREFIX: &str = "tsr_";
const ID_BYTES: usize = 6;

/// A freshly minted token: the text to hand to the user once, and what to store.
pub struct MintedToken {
    pub id: String,
    pub text: Zeroizing<String>,
    pub hash: [u8; 32],
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MintedToken({}, <redacted>)", self.id)
    }
}

pub fn mint_token() -> Result<MintedToken> {
    let id: String = random_token_bytes::<ID_BYTES>()?.iter().map(|b| format!("{b:02x}")).collect();
    let secret = Zeroizing::new(random_token_bytes::<32>()?);
    let encoded = Zeroizing::new(B64URL.encode(*secret));
    let hash = token_hash(encoded.as_bytes());
    Ok(MintedToken { text: Zeroizing::new(format!("{TOKEN_PREFIX}{id}_{}", encoded.as_str())), id, hash })
}

/// Splits a presented token into its id and the hash of its secret. Anything malformed is an
/// authentication failure that does not echo the token.
pub fn parse_token(text: &str) -> Result<(String, [u8; 32])> {
    let bad =
        || ServiceError::Unauthenticated("the token is malformed: tresor tokens look like tsr_<id>_<secret>".into());
    let rest = text.trim().strip_prefix(TOKEN_PREFIX).ok_or_else(bad)?;
    let (id, secret) = rest.split_once('_').ok_or_else(bad)?;
    if id.len() != ID_BYTES * 2 || !id.bytes().all(|b| b.is_ascii_hexdigit()) || secret.len() != 43 {
        return Err(bad());
    }
    Ok((id.to_owned(), token_hash(secret.as_bytes())))
}

/// The environment a token (or the application key it was exchanged for) is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub environment: EnvName,
    /// The environment's parents, nearest first: empty unless it is a branch, which reads its
    /// parents' entries through.
    pub parents: Vec<EnvName>,
}

impl Binding {
    /// The parent a branch reads through to first; `None` for an environment that is no branch.
    pub fn parent(&self) -> Option<&EnvName> {
        self.parents.first()
    }
}

/// An authenticated caller: a principal in a workspace with its effective grants (its own and its
/// groups'). Cheap to share; cached per token.
///
/// A caller whose token is bound to an environment ([`Caller::bound_to`]) keeps of each grant only
/// the part inside that environment: it acts nowhere else, and since no narrowed scope covers the
/// whole workspace, it administers nothing workspace-wide (principals, grants, tokens, keys, the
/// audit log) and can hand out nothing beyond its environment.
#[derive(Debug, Clone)]
pub struct Caller {
    pub workspace: WorkspaceName,
    pub principal: PrincipalRef,
    pub token_id: Option<String>,
    pub token_name: Option<String>,
    grants: Vec<(Scope, Access)>,
    /// Bound callers only: the principal's grants inside the bound environment's parents, used
    /// for nothing but reading an entry through the branch where it lives (the parent's grants
    /// decide that read, as for any caller). Never consulted for a request naming a parent.
    through: Vec<(Scope, Access)>,
    binding: Option<Binding>,
    label: String,
    /// The workspace owner (the bootstrap principal `user:owner`, or the user of a local store):
    /// the one principal that may mint tokens for other users.
    owner: bool,
}

impl Caller {
    pub fn new(
        workspace: WorkspaceName,
        principal: PrincipalRef,
        token_id: Option<String>,
        token_name: Option<String>,
        grants: Vec<(Scope, Access)>,
    ) -> Self {
        let label = match &token_name {
            Some(name) => format!("{principal} (token '{name}')"),
            None => principal.to_string(),
        };
        let owner = principal.kind == PrincipalKind::User && principal.name == crate::OWNER;
        Self { workspace, principal, token_id, token_name, grants, through: Vec::new(), binding: None, label, owner }
    }

    /// The same caller bound to an environment: each grant narrowed to the part inside it
    /// ([`Scope::within_env`]), the parents' parts kept apart for reading through a branch.
    /// A bound caller is never the workspace owner: the owner's powers are workspace-wide.
    pub fn bound_to(mut self, binding: Binding) -> Self {
        let narrow = |env: &EnvName, grants: &[(Scope, Access)]| -> Vec<(Scope, Access)> {
            grants.iter().filter_map(|(scope, access)| Some((scope.within_env(env.as_str())?, *access))).collect()
        };
        self.through = binding.parents.iter().flat_map(|parent| narrow(parent, &self.grants)).collect();
        self.grants = narrow(&binding.environment, &self.grants);
        self.binding = Some(binding);
        self.owner = false;
        self
    }

    /// The environment the caller's token is bound to, if any.
    pub fn binding(&self) -> Option<&Binding> {
        self.binding.as_ref()
    }

    /// The environment the compatibility APIs (Tinybird's `/v0`, Conductor's `/api/secrets`)
    /// act in for this caller: its binding's, else `default`.
    pub fn compat_environment(&self) -> EnvName {
        self.binding.as_ref().map_or_else(EnvName::default_name, |b| b.environment.clone())
    }

    /// The owner of a local store: admin and read on everything, like the bootstrap token.
    pub fn owner(workspace: WorkspaceName, name: &str) -> Self {
        let principal = PrincipalRef { kind: PrincipalKind::User, name: name.to_owned() };
        let grants = vec![(Scope::all(), Access::Admin), (Scope::all(), Access::Read)];
        Self { owner: true, ..Self::new(workspace, principal, None, None, grants) }
    }

    /// Whether this is the workspace owner (see the field).
    pub fn is_owner(&self) -> bool {
        self.owner
    }

    /// Whether the caller holds `access` on everything `scope` covers: the bound on delegation.
    /// A grant of `access` on `scope`, a membership in a group holding it, a token or key of a
    /// principal holding it, may be given only by a caller for whom this is true, so that
    /// `manage` never turns into `read`.
    pub fn holds(&self, access: Access, scope: &Scope) -> bool {
        self.grants.iter().any(|(mine, have)| have.satisfies(access) && mine.contains(scope))
    }

    /// The first of `grants` the caller does not hold, if any.
    pub fn lacks_any<'a>(&self, grants: &'a [(Scope, Access)]) -> Option<&'a (Scope, Access)> {
        grants.iter().find(|(scope, access)| !self.holds(*access, scope))
    }

    /// How the caller appears in `edited_by` and the audit log.
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn grants(&self) -> &[(Scope, Access)] {
        &self.grants
    }

    /// Whether some grant gives `need` over the entry, vault (`key = None`) or environment
    /// (`vault = None`).
    pub fn allows(&self, need: Access, env: &str, vault: Option<&str>, key: Option<&str>) -> bool {
        self.grants.iter().any(|(scope, access)| access.satisfies(need) && scope.covers(env, vault, key))
    }

    /// Whether some grant gives `need` over the whole workspace (principals, tokens, grants).
    pub fn allows_workspace(&self, need: Access) -> bool {
        self.grants.iter().any(|(scope, access)| access.satisfies(need) && scope.covers_everything())
    }

    /// Whether the caller holds any access over an entry other than `webhook`: enough to see its
    /// metadata (and a variable's value).
    pub fn sees(&self, env: &str, vault: &str, key: &str) -> bool {
        self.entry_grants().any(|scope| scope.covers(env, Some(vault), Some(key)))
    }

    /// [`Self::allows`] for an entry where it lives, when it was asked for through a branch the
    /// caller may read: a caller bound to the branch is judged by its grants in the parent too.
    /// Only for the second check of a read through a branch, after the entry's path in the
    /// branch passed [`Self::allows`] or [`Self::sees`].
    pub fn allows_where_it_lives(&self, need: Access, env: &str, vault: &str, key: &str) -> bool {
        self.allows(need, env, Some(vault), Some(key))
            || self
                .through
                .iter()
                .any(|(scope, access)| access.satisfies(need) && scope.covers(env, Some(vault), Some(key)))
    }

    /// [`Self::sees`] for an entry where it lives, read through a branch (see
    /// [`Self::allows_where_it_lives`]).
    pub fn sees_where_it_lives(&self, env: &str, vault: &str, key: &str) -> bool {
        self.sees(env, vault, key)
            || self
                .through
                .iter()
                .any(|(scope, access)| *access != Access::Webhook && scope.covers(env, Some(vault), Some(key)))
    }

    /// Whether any of the caller's grants other than `webhook` reaches into a vault.
    pub fn touches_vault(&self, env: &str, vault: &str) -> bool {
        self.entry_grants().any(|scope| scope.touches_vault(env, vault))
    }

    /// The scopes of grants that concern entries. A `webhook` grant is the right to have the server
    /// send requests, nothing more: it shows no entry, not even a variable, so granting it to a
    /// notifier does not also let it list a vault.
    fn entry_grants(&self) -> impl Iterator<Item = &Scope> {
        self.grants.iter().filter(|(_, access)| *access != Access::Webhook).map(|(scope, _)| scope)
    }
}

/// One request: who, its id for the audit log and the logs, and whether it may release a vault
/// from its declarative config.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub caller: Arc<Caller>,
    /// Made by the server (or the local tool): unique, never chosen by the client.
    pub request_id: String,
    /// The `X-Request-Id` the client sent, bounded and sanitised by the server; recorded beside
    /// `request_id` and marked as the client's.
    pub client_request_id: Option<String>,
    /// The caller confirmed that a change to a vault managed by a declarative config should go
    /// ahead and release the vault from the config (CLI `--yes` or a y/N prompt; API
    /// `?release_ownership=true`). Without it such a change is refused with
    /// [`crate::ServiceError::Managed`].
    pub release_ownership: bool,
    /// Whether the request's surface has a way to confirm a release at all (the CLI's `--yes`,
    /// the native API's `?release_ownership=true`). The Tinybird- and Conductor-compatible APIs
    /// have none (their clients send no such flag), so their refusal says what to do instead.
    pub can_confirm_release: bool,
    /// Whether a branch environment's entries are read-only on the request's surface: on the
    /// Tinybird- and Conductor-compatible APIs a branch reads its parent's secrets and changes
    /// none (Tinybird: "You cannot create a secret in a Branch"); tresor's own surfaces write
    /// a branch's own keys.
    pub read_only_branches: bool,
}

impl Ctx {
    pub fn new(caller: Arc<Caller>, request_id: impl Into<String>) -> Self {
        Self {
            caller,
            request_id: request_id.into(),
            client_request_id: None,
            release_ownership: false,
            can_confirm_release: true,
            read_only_branches: false,
        }
    }

    /// The same request, from a surface on which branches are read-only (see the field).
    pub fn with_read_only_branches(mut self) -> Self {
        self.read_only_branches = true;
        self
    }

    /// The same request, with the id the client gave it.
    pub fn with_client_request_id(mut self, client_request_id: Option<String>) -> Self {
        self.client_request_id = client_request_id;
        self
    }

    /// The same request, allowed (or not) to release managed vaults.
    pub fn releasing(mut self, release: bool) -> Self {
        self.release_ownership = release;
        self
    }

    /// The same request, from a surface that cannot confirm releasing a managed vault.
    pub fn without_release_confirmation(mut self) -> Self {
        self.release_ownership = false;
        self.can_confirm_release = false;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tresor_model::ErrorKind;

    /// A caller of the default workspace, not from a token, holding `grants` (scope globs).
    fn caller(principal: &str, grants: &[(&str, Access)]) -> Caller {
        let grants = grants.iter().map(|(scope, access)| (scope.parse().unwrap(), *access)).collect();
        Caller::new(WorkspaceName::default_name(), principal.parse().unwrap(), None, None, grants)
    }

    #[test]
    fn tokens_roundtrip_and_reject_garbage() {
        let t = mint_token().unwrap();
        assert!(t.text.starts_with("tsr_"));
        let (id, hash) = parse_token(&t.text).unwrap();
        assert_eq!(id, t.id);
        assert_eq!(hash, t.hash);
        assert!(!format!("{t:?}").contains(&t.text[17..]));
        for bad in ["", "tsr_", "Bearer x", "tsr_zzzzzzzzzzzz_abc", &t.text[..t.text.len() - 1]] {
            let e = parse_token(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{bad:?}");
        }
    }

    #[test]
    fn grants_decide() {
        let app = caller("app:worker", &[("prod/api-keys/*", Access::Read)]);
        assert!(app.allows(Access::Read, "prod", Some("api-keys"), Some("stripe")));
        assert!(!app.allows(Access::Write, "prod", Some("api-keys"), Some("stripe")));
        assert!(!app.allows(Access::Read, "prod", Some("database"), Some("pw")));
        assert!(!app.allows_workspace(Access::Manage));
        let owner = Caller::owner(WorkspaceName::default_name(), "owner");
        assert!(owner.allows_workspace(Access::Manage));
        assert!(owner.allows(Access::Read, "any", Some("v"), Some("k")));
        assert!(owner.allows(Access::Webhook, "any", None, None));
    }

    fn binding(env: &str, parents: &[&str]) -> Binding {
        Binding {
            environment: EnvName::new(env).unwrap(),
            parents: parents.iter().map(|p| EnvName::new(*p).unwrap()).collect(),
        }
    }

    #[test]
    fn a_bound_caller_keeps_only_its_environment() {
        let grants = vec![
            (Scope::all(), Access::Admin),
            (Scope::all(), Access::Read),
            ("production/api-keys/*".parse().unwrap(), Access::Read),
            ("*".parse().unwrap(), Access::Webhook),
        ];
        let owner = Caller::new(WorkspaceName::default_name(), "user:owner".parse().unwrap(), None, None, grants);
        assert!(owner.is_owner() && owner.allows_workspace(Access::Manage));
        let staging = owner.clone().bound_to(binding("staging", &[]));
        assert!(!staging.is_owner(), "a bound token of the owner is no owner");
        assert_eq!(staging.compat_environment().as_str(), "staging");
        assert!(staging.allows(Access::Read, "staging", Some("default"), Some("pw")));
        assert!(staging.allows(Access::Write, "staging", Some("default"), Some("pw")));
        assert!(staging.allows(Access::Manage, "staging", None, None));
        assert!(staging.allows(Access::Webhook, "staging", None, None));
        for other in ["production", "default", "staging-2"] {
            assert!(!staging.allows(Access::Read, other, Some("default"), Some("pw")), "{other}");
            assert!(!staging.sees(other, "default", "pw"), "{other}");
            assert!(!staging.allows(Access::Webhook, other, None, None), "{other}");
            assert!(!staging.allows_where_it_lives(Access::Read, other, "default", "pw"), "{other}: not a parent");
        }
        for access in [Access::Manage, Access::Admin, Access::Read] {
            assert!(!staging.allows_workspace(access), "no workspace-wide {access}");
            assert!(!staging.holds(access, &Scope::all()), "cannot hand out {access} on everything");
        }
        assert!(staging.holds(Access::Read, &"staging/default/*".parse().unwrap()));
        assert!(!staging.holds(Access::Read, &"production/api-keys/*".parse().unwrap()));
        let shown: Vec<String> = staging.grants().iter().map(|(s, a)| format!("{a} {s}")).collect();
        assert_eq!(shown, ["admin staging/*/*", "read staging/*/*", "webhook staging/*/*"]);
        assert_eq!(owner.compat_environment().as_str(), "default", "unbound: environment default");
    }

    #[test]
    fn a_caller_bound_to_a_branch_reads_through_to_its_parents_only() {
        let dev = caller("app:ci", &[("prod/*", Access::Read), ("feature-x", Access::Write)])
            .bound_to(binding("feature-x", &["prod"]));
        assert_eq!(dev.binding().unwrap().parent().map(EnvName::as_str), Some("prod"));
        assert!(dev.allows(Access::Write, "feature-x", Some("default"), Some("pw")));
        assert!(!dev.allows(Access::Read, "feature-x", Some("default"), Some("pw")), "no read grant on the branch");
        assert!(!dev.allows(Access::Read, "prod", Some("default"), Some("pw")), "a request naming prod is refused");
        assert!(!dev.sees("prod", "default", "pw"));
        assert!(dev.allows_where_it_lives(Access::Read, "prod", "default", "pw"), "read through the branch");
        assert!(dev.sees_where_it_lives("prod", "default", "pw"));
        assert!(!dev.allows_where_it_lives(Access::Write, "prod", "default", "pw"), "the parent's grants decide");
    }

    #[test]
    fn a_webhook_grant_sends_and_shows_nothing() {
        let notifier = caller("app:notifier", &[("prod", Access::Webhook)]);
        assert!(notifier.allows(Access::Webhook, "prod", None, None));
        assert!(!notifier.allows(Access::Webhook, "dev", None, None));
        assert!(!notifier.allows(Access::Read, "prod", Some("api-keys"), Some("stripe")));
        assert!(!notifier.allows(Access::Write, "prod", Some("api-keys"), Some("stripe")));
        assert!(!notifier.sees("prod", "api-keys", "stripe"));
        assert!(!notifier.touches_vault("prod", "api-keys"));
        let narrow = caller("app:narrow", &[("prod/api-keys/*", Access::Webhook)]);
        assert!(!narrow.allows(Access::Webhook, "prod", None, None), "the grant must cover the environment");
    }
}
