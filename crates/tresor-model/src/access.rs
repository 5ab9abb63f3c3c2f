//! Principals, access levels and scope patterns: the vocabulary of grants.
//!
//! A grant says: this principal has this access on everything its scope pattern matches.
//! A scope pattern is up to three `/`-separated globs, `ENV/VAULT/KEY`, inside the token's workspace;
//! missing parts match everything (`prod` is `prod/*/*`). In globs `*` matches any run of characters
//! and `?` one character; the key glob's `*` crosses `/`, so `prod/api-keys/db/*` covers
//! `db/password` and `db/replica/password`.

use crate::names::{validate_ident, NameError, NameKind};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a principal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    User,
    /// A worker or service.
    App,
    /// A set of users and applications; grants to a group apply to its members.
    Group,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::App => "app",
            PrincipalKind::Group => "group",
        }
    }
}

/// A principal named as `user:alice`, `app:orkes-workers` or `group:readers`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrincipalRef {
    pub kind: PrincipalKind,
    pub name: String,
}

impl PrincipalRef {
    pub fn new(kind: PrincipalKind, name: &str) -> Result<Self, NameError> {
        validate_ident(NameKind::Principal, name)?;
        Ok(Self { kind, name: name.to_owned() })
    }
}

impl PrincipalRef {
    /// What [`PrincipalRef::from_str`] accepts of the given kinds, as a regular expression (for
    /// the OpenAPI document: `kinds` narrows it where a request takes only some kinds, such as a
    /// group's members). The tests check it accepts exactly what the parser accepts.
    pub fn pattern(kinds: &[PrincipalKind]) -> String {
        let spellings: Vec<&str> = kinds
            .iter()
            .map(|kind| match kind {
                PrincipalKind::App => "app|application",
                other => other.as_str(),
            })
            .collect();
        format!("^(?:{}):{}$", spellings.join("|"), crate::names::ident_regex!())
    }
}

impl fmt::Display for PrincipalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.name)
    }
}

impl FromStr for PrincipalRef {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        let bad = |reason: &str| crate::names::err(NameKind::Principal, s, reason);
        let (kind, name) = s.split_once(':').ok_or_else(|| bad("write it as user:NAME, app:NAME or group:NAME"))?;
        let kind = match kind {
            "user" => PrincipalKind::User,
            "app" | "application" => PrincipalKind::App,
            "group" => PrincipalKind::Group,
            _ => return Err(bad("the kind must be user, app or group")),
        };
        Self::new(kind, name)
    }
}

impl Serialize for PrincipalRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PrincipalRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Access levels. They do not nest into each other except through `admin`, and even `admin` does not
/// include `read`: managing is not reading.
///
/// `webhook` is its own level because sending a webhook makes the server open a connection on the
/// caller's behalf, to any destination the operator's allow-list names: a capability of the server's
/// network position that neither reading nor writing entries implies. It is checked on the
/// environment the webhook's references resolve in; `admin` includes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Resolve values.
    Read,
    /// Create, update and delete entries.
    Write,
    /// Vaults, environments, principals, grants and tokens.
    Manage,
    /// Write and manage everywhere the scope covers (but not read), and send webhooks.
    Admin,
    /// Have the server send webhooks (`POST /api/v1/webhooks/send`) from the environments the scope
    /// covers; their `{"vault", "key"}` references still need `read`.
    Webhook,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Manage => "manage",
            Access::Admin => "admin",
            Access::Webhook => "webhook",
        }
    }

    /// Whether holding `self` satisfies a need for `needed`.
    pub fn satisfies(self, needed: Access) -> bool {
        self == needed || (self == Access::Admin && needed != Access::Read)
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Access {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "read" => Ok(Access::Read),
            "write" => Ok(Access::Write),
            "manage" => Ok(Access::Manage),
            "admin" => Ok(Access::Admin),
            "webhook" => Ok(Access::Webhook),
            _ => Err(format!("unknown access {s:?}: use read, write, manage, admin or webhook")),
        }
    }
}

/// A parsed scope pattern `ENV/VAULT/KEY` of globs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    raw: String,
    env: String,
    vault: String,
    key: String,
}

impl Scope {
    /// Everything in the workspace.
    pub fn all() -> Self {
        "*".parse().expect("valid")
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether the scope covers an entry (or, with `key = None`, a whole vault; with
    /// `vault = None` too, a whole environment). A container is covered only if the scope covers
    /// all of it, so `prod/api-keys/db/*` does not cover vault `prod/api-keys`.
    pub fn covers(&self, env: &str, vault: Option<&str>, key: Option<&str>) -> bool {
        if !glob_match(&self.env, env) {
            return false;
        }
        match vault {
            None => self.vault == "*" && self.key == "*",
            Some(v) if !glob_match(&self.vault, v) => false,
            Some(_) => match key {
                None => self.key == "*",
                Some(k) => glob_match(&self.key, k),
            },
        }
    }

    /// Whether the scope reaches into an environment at all.
    pub fn touches_env(&self, env: &str) -> bool {
        glob_match(&self.env, env)
    }

    /// Whether the scope is the whole workspace (`*`, `*/*`, `*/*/*`).
    pub fn covers_everything(&self) -> bool {
        self.env == "*" && self.vault == "*" && self.key == "*"
    }

    /// Whether the scope may cover any entry of the vault (used to decide whether a listing
    /// shows anything at all).
    pub fn touches_vault(&self, env: &str, vault: &str) -> bool {
        glob_match(&self.env, env) && glob_match(&self.vault, vault)
    }

    /// The part of the scope inside environment `env`: `None` when the scope does not reach into
    /// it, else the scope with its environment glob replaced by `env` (`*/api-keys/*` within
    /// `staging` is `staging/api-keys/*`). Environment names hold no glob characters, so this is
    /// the exact intersection of the scope with `env/*/*`: what a token bound to `env` keeps of a
    /// grant.
    pub fn within_env(&self, env: &str) -> Option<Scope> {
        if !glob_match(&self.env, env) {
            return None;
        }
        Some(Scope {
            raw: format!("{env}/{}/{}", self.vault, self.key),
            env: env.to_owned(),
            vault: self.vault.clone(),
            key: self.key.clone(),
        })
    }

    /// Whether everything `other` covers is covered by `self`: what bounds delegation (a grant
    /// on `other` may be given only by someone holding the access on a scope that contains it).
    ///
    /// Conservative: `false` whenever containment cannot be shown part by part with
    /// [`glob_contains`], so a doubtful delegation is refused rather than allowed.
    pub fn contains(&self, other: &Scope) -> bool {
        glob_contains(&self.env, &other.env)
            && glob_contains(&self.vault, &other.vault)
            && glob_contains(&self.key, &other.key)
    }
}

/// Whether every text matching glob `inner` also matches glob `outer`, shown by one of three
/// cases: the globs are equal; `inner` has no wildcard and `outer` matches it; or `outer` is a
/// literal prefix followed by one `*` and `inner`'s literal prefix (up to its first wildcard)
/// starts with it. Deciding containment of arbitrary globs is possible but needs an automaton
/// construction; these cases are the ones grants are written in (`*`, `prod`, `api-keys/*`,
/// `db/*`), and every other pair answers `false`, which refuses the delegation.
pub fn glob_contains(outer: &str, inner: &str) -> bool {
    let is_wild = |c: char| c == '*' || c == '?';
    if outer == inner {
        return true;
    }
    if !inner.contains(is_wild) {
        return glob_match(outer, inner);
    }
    match outer.strip_suffix('*') {
        Some(prefix) if !prefix.contains(is_wild) => {
            let inner_literal = inner.split(is_wild).next().unwrap_or_default();
            inner_literal.starts_with(prefix)
        }
        _ => false,
    }
}

impl Scope {
    /// The longest scope pattern accepted.
    pub const MAX_LEN: usize = 300;

    /// What [`Scope::from_str`] accepts, as a regular expression, but for the length
    /// ([`Scope::MAX_LEN`]): `ENV[/VAULT[/KEY]]`, no part empty, only the key glob holding `/`.
    pub const PATTERN: &'static str = r"^[A-Za-z0-9_.*?-]+(?:/[A-Za-z0-9_.*?-]+(?:/[A-Za-z0-9_.*?/-]+)?)?$";
}

impl FromStr for Scope {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        let bad = |reason: &str| crate::names::err(NameKind::Scope, s, reason);
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(bad("use 1 to 300 characters such as prod/api-keys/* or *"));
        }
        if let Some(c) =
            s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '*' | '?')))
        {
            return Err(bad(&format!("character {c:?} is not allowed in a scope")));
        }
        let mut parts = s.splitn(3, '/');
        let env = parts.next().unwrap_or("*").to_owned();
        let vault = parts.next().unwrap_or("*").to_owned();
        let key = parts.next().unwrap_or("*").to_owned();
        if env.is_empty() || vault.is_empty() || key.is_empty() {
            return Err(bad("it has an empty part; write ENV/VAULT/KEY with * for any"));
        }
        Ok(Self { raw: s.to_owned(), env, vault, key })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

/// Glob matching with `*` (any run, including empty) and `?` (one character). Iterative with
/// single-star backtracking: linear in practice, no recursion.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        return glob_match_units(pattern.as_bytes(), text.as_bytes());
    }
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    glob_match_units(&p, &t)
}

fn glob_match_units<T: Copy + PartialEq + From<u8>>(p: &[T], t: &[T]) -> bool {
    let (star_unit, any_unit) = (T::from(b'*'), T::from(b'?'));
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == any_unit || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == star_unit {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == star_unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The glob rules, for grant scopes and template allow-lists alike: `*` any run (empty,
    /// `/` and `.` included), `?` one character (not byte), literals case-sensitive, whole-name.
    #[test]
    fn globs() {
        let cases: &[(&str, &str, bool)] = &[
            ("pg.user", "pg.user", true),
            ("pg.user", "pg.users", false),
            ("pg.user", "pg.use", false),
            ("PG.user", "pg.user", false),
            ("prod", "production", false),
            ("", "", true),
            ("", "a", false),
            ("*", "", true),
            ("*", "db/password", true),
            ("*", "a/b.c", true),
            ("db/*", "db/replica/password", true),
            ("*/pw", "prod/db/pw", true),
            ("pg.*", "pg.", true),
            ("pg.*", "pg.user", true),
            ("pg.*", "pgx.user", false),
            ("*-key", "stripe-secret-key", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "aXXbYYbZc", true),
            ("a*b*c", "axxbyy", false),
            ("**x", "abx", true),
            ("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaab", true),
            ("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaa", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("k?", "ké", true),
            ("k?", "k", false),
            ("k?", "k12", false),
            ("?/?", "a/b", true),
        ];
        for &(pattern, text, expected) in cases {
            assert_eq!(glob_match(pattern, text), expected, "glob_match({pattern:?}, {text:?})");
        }
    }

    #[test]
    fn scopes_cover_what_they_say() {
        let s: Scope = "prod/api-keys/*".parse().unwrap();
        assert!(s.covers("prod", Some("api-keys"), Some("stripe")));
        assert!(s.covers("prod", Some("api-keys"), None));
        assert!(!s.covers("prod", None, None));
        assert!(!s.covers("dev", Some("api-keys"), Some("stripe")));
        let narrow: Scope = "prod/api-keys/db/*".parse().unwrap();
        assert!(narrow.covers("prod", Some("api-keys"), Some("db/password")));
        assert!(!narrow.covers("prod", Some("api-keys"), Some("stripe")));
        assert!(!narrow.covers("prod", Some("api-keys"), None), "a key prefix does not cover its vault");
        assert!(narrow.touches_vault("prod", "api-keys"));
        let env_only: Scope = "prod".parse().unwrap();
        assert!(env_only.covers("prod", None, None));
        assert!(Scope::all().covers("x", Some("y"), Some("z/w")));
        for bad in ["", "prod//x", "prod/a b", "/x"] {
            assert!(bad.parse::<Scope>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scopes_narrow_to_one_environment() {
        let s = |t: &str| t.parse::<Scope>().unwrap();
        let all = Scope::all().within_env("staging").unwrap();
        assert_eq!(all.as_str(), "staging/*/*");
        assert!(all.covers("staging", None, None));
        assert!(!all.covers("production", None, None));
        assert!(!all.covers_everything(), "a narrowed scope is never the whole workspace");
        assert_eq!(s("*/api-keys/db/*").within_env("prod").unwrap(), s("prod/api-keys/db/*"));
        assert_eq!(s("prod").within_env("prod").unwrap(), s("prod/*/*"));
        assert_eq!(s("pr*").within_env("prod").unwrap(), s("prod/*/*"));
        assert!(s("prod").within_env("production").is_none());
        assert!(s("dev/*").within_env("prod").is_none());
        assert!(Scope::all().contains(&all) && !all.contains(&Scope::all()));
    }

    #[test]
    fn scopes_contain_what_they_cover() {
        let s = |t: &str| t.parse::<Scope>().unwrap();
        assert!(Scope::all().contains(&s("prod/api-keys/*")));
        assert!(s("prod").contains(&s("prod/api-keys/db/*")));
        assert!(s("prod/*").contains(&s("prod/api-keys")));
        assert!(s("prod/api-keys/db/*").contains(&s("prod/api-keys/db/pass*")));
        assert!(s("prod/api-keys/db/*").contains(&s("prod/api-keys/db/password")));
        assert!(!s("prod/api-keys/db/*").contains(&s("prod/api-keys/*")), "narrower does not contain wider");
        assert!(!s("prod/api-keys/*").contains(&Scope::all()));
        assert!(!s("prod").contains(&s("*")));
        assert!(!s("prod").contains(&s("pro?")));
        assert!(!s("dev").contains(&s("prod/api-keys/x")));
        assert!(!s("*/api-keys/*").contains(&s("*/*/*")));
        assert!(!s("p*d").contains(&s("p*")), "not shown, so refused");
    }

    #[test]
    fn glob_containment_never_claims_what_matching_denies() {
        // Whenever containment is claimed, every sample text matching the inner glob matches the
        // outer one: the conservative cases are sound.
        let globs = ["*", "a*", "ab*", "a?", "a", "ab", "abc", "*b", "a*c", "?", "??", "b*", "a/*", "a/b"];
        let texts = ["", "a", "ab", "abc", "abd", "b", "bc", "a/b", "a/bc", "ac", "aXc", "xb"];
        for outer in globs {
            for inner in globs {
                if glob_contains(outer, inner) {
                    for t in texts {
                        assert!(!glob_match(inner, t) || glob_match(outer, t), "{outer} claims {inner}, but {t:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn access_levels() {
        assert!(Access::Admin.satisfies(Access::Manage));
        assert!(Access::Admin.satisfies(Access::Write));
        assert!(!Access::Admin.satisfies(Access::Read), "managing is not reading");
        assert!(!Access::Write.satisfies(Access::Read));
        assert!(!Access::Manage.satisfies(Access::Write));
        assert!(Access::Admin.satisfies(Access::Webhook), "admin is everything but read");
        for other in [Access::Read, Access::Write, Access::Manage] {
            assert!(!other.satisfies(Access::Webhook), "{other}");
            assert!(!Access::Webhook.satisfies(other), "{other}");
        }
        assert_eq!("READ".parse::<Access>().unwrap(), Access::Read);
        assert_eq!("webhook".parse::<Access>().unwrap(), Access::Webhook);
        assert_eq!(Access::Webhook.to_string(), "webhook");
        assert!("owner".parse::<Access>().unwrap_err().contains("read, write, manage, admin or webhook"));
    }

    #[test]
    fn principal_refs() {
        let p: PrincipalRef = "app:orkes-workers".parse().unwrap();
        assert_eq!((p.kind, p.name.as_str()), (PrincipalKind::App, "orkes-workers"));
        assert_eq!(p.to_string(), "app:orkes-workers");
        assert!("alice".parse::<PrincipalRef>().unwrap_err().to_string().contains("user:NAME"));
        assert!("robot:x".parse::<PrincipalRef>().is_err());
        assert!("user:a/b".parse::<PrincipalRef>().is_err());
    }
}
