//! `tresor.yaml` → [`DesiredState`]. Schema errors name the line and the field (serde_yaml's
//! location and path); every name is checked with tresor-model's validators while the file is
//! read, so an invalid name is reported at its line too. `${env:NAME}` references are resolved
//! afterwards through the caller's lookup; all unset variables are reported, by name, at once.

use crate::{ConfigValue, DesiredEntry, DesiredGrant, DesiredState, DesiredVault};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;
use tresor_model::{Access, EntryKey, EnvName, PrincipalRef, Scope, VaultName, WorkspaceName};
use zeroize::Zeroizing;

/// Why a config file was refused: every problem found, each naming where. Never quotes a value.
#[derive(Debug, thiserror::Error)]
#[error("{}", problems.iter().map(|p| format!("{file}: {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub file: String,
    pub problems: Vec<String>,
}

/// A string checked while deserializing, so a bad one is reported at its line.
macro_rules! checked {
    ($name:ident, $what:literal, $check:expr) => {
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
        struct $name(String);
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                let check: fn(&str) -> Result<(), String> = $check;
                check(&s).map_err(|e| de::Error::custom(format!("invalid {}: {e}", $what)))?;
                Ok(Self(s))
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

checked!(EnvField, "environment name", |s| EnvName::new(s).map(drop).map_err(|e| e.to_string()));
checked!(KeyField, "entry key", |s| EntryKey::new(s).map(drop).map_err(|e| e.to_string()));
checked!(PrincipalField, "principal", |s| s.parse::<PrincipalRef>().map(drop).map_err(|e| e.to_string()));
checked!(ScopeField, "scope", |s| s.parse::<Scope>().map(drop).map_err(|e| e.to_string()));
checked!(AccessField, "access", |s| s.parse::<Access>().map(drop).map_err(|e| e.to_string()));
checked!(NameField, "config name", |s| WorkspaceName::new(s).map(drop).map_err(|_| {
    "use 1 to 64 letters, digits, '_' or '-' (it is recorded as the owner of the vaults)".to_string()
}));
// A vault is named `VAULT` (with an `environment` field) or `ENV/VAULT`.
checked!(VaultKey, "vault", |s| {
    let (env, vault) = s.split_once('/').map_or((None, s), |(e, v)| (Some(e), v));
    if let Some(env) = env {
        EnvName::new(env).map_err(|e| e.to_string())?;
    }
    VaultName::new(vault).map(drop).map_err(|e| e.to_string())
});

/// A mapping whose keys must be unique (serde's maps keep the last duplicate silently), in file
/// order.
struct UniqueMap<K, V>(Vec<(K, V)>);

impl<'de, K: Deserialize<'de> + PartialEq + AsRef<str>, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de> + PartialEq + AsRef<str>, V: Deserialize<'de>> Visitor<'de> for V2<K, V> {
            type Value = UniqueMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(K, V)> = Vec::new();
                while let Some(k) = map.next_key::<K>()? {
                    if out.iter().any(|(seen, _)| *seen == k) {
                        return Err(de::Error::custom(format!("duplicate key {:?}", k.as_ref())));
                    }
                    let v = map.next_value()?;
                    out.push((k, v));
                }
                Ok(UniqueMap(out))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

impl<K, V> Default for UniqueMap<K, V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    name: Option<NameField>,
    #[serde(default)]
    environments: Vec<EnvField>,
    #[serde(default)]
    vaults: UniqueMap<VaultKey, RawVault>,
    #[serde(default)]
    grants: Vec<RawGrant>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVault {
    #[serde(default)]
    environment: Option<EnvField>,
    #[serde(default)]
    entries: UniqueMap<KeyField, RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    principal: PrincipalField,
    scope: ScopeField,
    access: AccessField,
}

/// `{ secret: "${env:NAME}" }` or `{ variable: "text" }`.
struct RawEntry {
    secret: bool,
    template: Zeroizing<String>,
}

impl<'de> Deserialize<'de> for RawEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, expecting = "an entry: `{ secret: \"${env:NAME}\" }` or `{ variable: VALUE }`")]
        struct Fields {
            #[serde(default)]
            secret: Option<String>,
            #[serde(default)]
            variable: Option<String>,
        }
        let f = Fields::deserialize(d)?;
        let (secret, template) = match (f.secret, f.variable) {
            (Some(s), None) => (true, Zeroizing::new(s)),
            (None, Some(v)) => (false, Zeroizing::new(v)),
            _ => return Err(de::Error::custom("an entry is `{ secret: \"${env:NAME}\" }` or `{ variable: VALUE }`")),
        };
        let refs = references(&template).map_err(de::Error::custom)?;
        if secret && refs.is_empty() {
            return Err(de::Error::custom(
                "a secret takes its value from the environment, `{ secret: \"${env:NAME}\" }`: \
                 literal secrets do not belong in a file kept in git",
            ));
        }
        Ok(Self { secret, template })
    }
}

/// The variable names referenced by `${env:NAME}` in a value; `$${` is a literal `${`.
fn references(template: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find("${") {
        if rest[..i].ends_with('$') {
            rest = &rest[i + 2..];
            continue;
        }
        let after = &rest[i + 2..];
        let end = after.find('}').ok_or("a `${` is not closed by `}` (write `$${` for a literal `${`)")?;
        let inner = &after[..end];
        let name = inner
            .strip_prefix("env:")
            .ok_or_else(|| format!("`${{{inner}}}` is not a reference: write `${{env:NAME}}`"))?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`${{env:{name}}}` does not name an environment variable (letters, digits, `_`)"));
        }
        out.push(name.to_owned());
        rest = &after[end + 1..];
    }
    Ok(out)
}

/// Replaces every reference with its variable's value; names the unset ones in `missing`.
fn resolve(template: &str, lookup: &dyn Fn(&str) -> Option<String>, missing: &mut Vec<String>) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(template.len()));
    let mut rest = template;
    while let Some(i) = rest.find("${") {
        if rest[..i].ends_with('$') {
            out.push_str(&rest[..i - 1]);
            out.push_str("${");
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('}').expect("checked while parsing");
        let name = &after[4..end];
        match lookup(name).map(Zeroizing::new) {
            Some(v) => out.push_str(&v),
            None => {
                if !missing.iter().any(|m| m == name) {
                    missing.push(name.to_owned());
                }
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// serde_yaml places an error raised while reading a mapping at the mapping's first key, so a
/// duplicate key would be reported where the mapping starts. Moves the position to the line
/// that repeats the key, found among the mapping's keys (the lines indented as its first key,
/// until one is indented less). Left as it is where that is not found (a flow mapping `{...}`).
fn at_the_duplicate(text: &str, msg: String) -> String {
    let Some((before, after)) = msg.split_once("duplicate key ") else { return msg };
    let Some((quoted, position)) = after.split_once(" at line ") else { return msg };
    // Keys are checked names by then, so their debug form is the name in quotes, no escapes.
    let Some(key) = quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"')).filter(|k| !k.contains('\\')) else {
        return msg;
    };
    let Some((line, column)) = position.split_once(" column ") else { return msg };
    let (Ok(line), Ok(column)) = (line.parse::<usize>(), column.parse::<usize>()) else { return msg };
    let indent = column.saturating_sub(1);
    let mut seen = 0;
    for (i, l) in text.lines().enumerate().skip(line.saturating_sub(1)) {
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let this_indent = l.len() - trimmed.len();
        if this_indent < indent {
            break;
        }
        if this_indent > indent {
            continue;
        }
        let name = trimmed.split_once(':').map_or("", |(k, _)| k.trim());
        let name = name.trim_matches(|c| c == '"' || c == '\'');
        if name == key {
            seen += 1;
            if seen == 2 {
                return format!("{before}duplicate key {quoted} at line {} column {column}", i + 1);
            }
        }
    }
    msg
}

/// Parses a config file. `file` names it in errors and, without a `name:` field, gives the
/// config's name (its base name without extension: `deploy/tresor.yaml` is `tresor`).
/// `default_env` is the environment of a vault that names none, neither as `ENV/VAULT` nor with
/// `environment:` (in the CLI: `-e`, else `TRESOR_ENV`, else `default`), so that a config
/// written for a platform without environments (Tailor's) works as it is. `lookup` answers
/// `${env:NAME}` (in the CLI: the process environment).
pub fn parse(
    text: &str,
    file: &str,
    default_env: &EnvName,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<DesiredState, ConfigError> {
    let fail = |problems: Vec<String>| ConfigError { file: file.to_owned(), problems };
    let raw: RawFile = serde_yaml::from_str(text).map_err(|e| {
        let msg = tresor_model::without_values(&e.to_string());
        fail(vec![match e.location() {
            Some(l) if !msg.contains(" at line ") => format!("{msg} at line {} column {}", l.line(), l.column()),
            _ => at_the_duplicate(text, msg),
        }])
    })?;
    let name = match raw.name {
        Some(n) => n.0,
        None => {
            let base = std::path::Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or("tresor");
            WorkspaceName::new(base).map(|n| n.to_string()).map_err(|_| {
                fail(vec![format!(
                    "the file's base name {base:?} cannot name the config; add a `name:` field (letters, digits, '_' or '-')"
                )])
            })?
        }
    };
    let mut problems = Vec::new();
    let mut missing = Vec::new();
    let mut environments: Vec<String> = Vec::new();
    for e in raw.environments {
        if environments.contains(&e.0) {
            problems.push(format!("environments: {} is listed twice", e.0));
        } else {
            environments.push(e.0);
        }
    }
    let mut vaults: Vec<DesiredVault> = Vec::new();
    for (key, v) in raw.vaults.0 {
        let (env, vault) = match (key.0.split_once('/'), v.environment) {
            (Some((e, n)), None) => (e.to_owned(), n.to_owned()),
            (Some(_), Some(_)) => {
                problems.push(format!(
                    "vaults.{}: give the environment in the name (ENV/VAULT) or in `environment`, not both",
                    key.0
                ));
                continue;
            }
            (None, Some(e)) => (e.0, key.0.clone()),
            (None, None) => (default_env.to_string(), key.0.clone()),
        };
        if vaults.iter().any(|d| d.environment == env && d.name == vault) {
            problems.push(format!("vaults.{}: vault {env}/{vault} is declared twice", key.0));
            continue;
        }
        if !environments.contains(&env) {
            environments.push(env.clone());
        }
        let mut entries = Vec::new();
        for (k, e) in v.entries.0 {
            let before = missing.len();
            let value = resolve(&e.template, lookup, &mut missing);
            for m in &missing[before..] {
                problems.push(format!("vaults.{}.entries.{}: environment variable {m} is not set", key.0, k.0));
            }
            entries.push(DesiredEntry {
                key: k.0,
                kind: if e.secret { "secret" } else { "variable" }.into(),
                value: ConfigValue::new(std::mem::take(&mut *Zeroizing::new(value.to_string()))),
            });
        }
        vaults.push(DesiredVault { environment: env, name: vault, entries });
    }
    let mut grants: Vec<DesiredGrant> = Vec::new();
    for (i, g) in raw.grants.into_iter().enumerate() {
        let g = DesiredGrant { principal: g.principal.0, scope: g.scope.0, access: g.access.0 };
        if grants.contains(&g) {
            problems.push(format!("grants[{i}]: the same grant is listed twice"));
        } else {
            grants.push(g);
        }
    }
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    Ok(DesiredState { name, environments, vaults, grants })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"# tresor.yaml
environments: [dev, prod]
vaults:
  api-keys:
    environment: prod
    entries:
      stripe-secret-key: { secret: "${env:STRIPE_SECRET_KEY}" }
      sendgrid-api-key:  { secret: "${env:SENDGRID_API_KEY}" }
      api-url:           { variable: "https://api.example.com" }
  dev/db:
    entries:
      url: { variable: "postgres://${env:DB_HOST}/app $${not-a-ref}" }
grants:
  - { principal: app:orkes-workers, scope: "prod/api-keys/*", access: read }
"#;

    fn env(name: &str) -> Option<String> {
        match name {
            "STRIPE_SECRET_KEY" => Some("sk_live_1".into()),
            "SENDGRID_API_KEY" => Some("SG.2".into()),
            "DB_HOST" => Some("db.internal".into()),
            _ => None,
        }
    }

    /// The environment of vaults that name none, in these tests.
    fn prod() -> EnvName {
        EnvName::new("prod").unwrap()
    }

    fn problems(text: &str) -> String {
        parse(text, "tresor.yaml", &prod(), &env).unwrap_err().to_string()
    }

    #[test]
    fn a_good_file() {
        let d = parse(GOOD, "deploy/tresor.yaml", &prod(), &env).unwrap();
        assert_eq!(d.name, "tresor", "the name defaults to the file's base name");
        assert_eq!(d.environments, ["dev", "prod"]);
        assert_eq!(d.vaults.len(), 2);
        let api = &d.vaults[0];
        assert_eq!((api.environment.as_str(), api.name.as_str()), ("prod", "api-keys"));
        let keys: Vec<_> = api.entries.iter().map(|e| (e.key.as_str(), e.kind.as_str(), e.value.expose())).collect();
        assert_eq!(
            keys,
            [
                ("stripe-secret-key", "secret", "sk_live_1"),
                ("sendgrid-api-key", "secret", "SG.2"),
                ("api-url", "variable", "https://api.example.com")
            ],
            "file order is kept"
        );
        assert_eq!((d.vaults[1].environment.as_str(), d.vaults[1].name.as_str()), ("dev", "db"));
        assert_eq!(d.vaults[1].entries[0].value.expose(), "postgres://db.internal/app ${not-a-ref}");
        assert_eq!(d.grants[0].scope, "prod/api-keys/*");
        assert!(!format!("{d:?}").contains("sk_live_1"), "Debug never shows a value");
        let named = parse("name: payments\n", "tresor.yaml", &prod(), &env).unwrap();
        assert_eq!(named.name, "payments");
    }

    #[test]
    fn unknown_fields_name_the_line_and_the_field() {
        let e = problems("vaults:\n  api-keys:\n    environment: prod\n    entires: {}\n");
        assert!(e.contains("unknown field `entires`") && e.contains("line 4"), "{e}");
        assert!(e.contains("vaults"), "the path is named: {e}");
        let e = problems("vaults:\n  v:\n    environment: prod\n    entries:\n      k: { secrt: \"${env:X}\" }\n");
        assert!(e.contains("unknown field `secrt`") && e.contains("line 5"), "{e}");
        let e = problems("enviroments: [dev]\n");
        assert!(e.contains("unknown field `enviroments`") && e.contains("line 1"), "{e}");
    }

    #[test]
    fn wrong_types_name_the_line() {
        let e = problems("environments: prod\n");
        assert!(e.contains("environments") && e.contains("line 1"), "{e}");
        let e = problems("vaults:\n  v:\n    environment: prod\n    entries:\n      k: { variable: [1, 2] }\n");
        assert!(e.contains("line 5") && e.contains("invalid type"), "{e}");
        let e = problems("grants:\n  - { principal: app:x, scope: '*' }\n");
        assert!(e.contains("missing field `access`") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn type_errors_never_echo_the_value() {
        let e = problems("vaults:\n  v:\n    environment: prod\n    entries:\n      k: \"sk_live_LEAK1\"\n");
        assert!(e.contains("invalid type: a string, expected an entry: `{ secret:") && e.contains("line 5"), "{e}");
        assert!(!e.contains("sk_live_LEAK1"), "{e}");
        let e = problems("vaults:\n  v:\n    environment: prod\n    entries:\n      k: { secret: 91827364 }\n");
        assert!(!e.contains("91827364") && e.contains("line 5"), "{e}");
    }

    #[test]
    fn every_unset_variable_is_named() {
        let text = "vaults:\n  prod/v:\n    entries:\n      a: { secret: \"${env:NOPE_ONE}\" }\n      \
                    b: { secret: \"${env:STRIPE_SECRET_KEY}\" }\n      c: { variable: \"x-${env:NOPE_TWO}\" }\n";
        let e = problems(text);
        assert!(e.contains("vaults.prod/v.entries.a: environment variable NOPE_ONE is not set"), "{e}");
        assert!(e.contains("vaults.prod/v.entries.c: environment variable NOPE_TWO is not set"), "{e}");
        assert!(!e.contains("sk_live_1"), "{e}");
    }

    #[test]
    fn every_access_level_is_accepted() {
        for access in ["read", "write", "manage", "admin", "webhook"] {
            let text = format!("grants:\n  - {{ principal: app:x, scope: prod, access: {access} }}\n");
            let d = parse(&text, "tresor.yaml", &prod(), &env).unwrap();
            assert_eq!(d.grants[0].access, access);
        }
    }

    #[test]
    fn invalid_names_and_literal_secrets_are_refused_at_their_line() {
        let e = problems("vaults:\n  prod/bad vault:\n    entries: {}\n");
        assert!(e.contains("invalid vault") && e.contains("line 2"), "{e}");
        let e = problems("vaults:\n  prod/v:\n    entries:\n      ../up: { variable: x }\n");
        assert!(e.contains("invalid entry key") && e.contains("line 4"), "{e}");
        let e = problems("environments: [prod, \"no/slash\"]\n");
        assert!(e.contains("invalid environment name") && e.contains("line 1"), "{e}");
        let e = problems("grants:\n  - { principal: robot:x, scope: '*', access: read }\n");
        assert!(e.contains("invalid principal") && e.contains("line 2"), "{e}");
        let e = problems("grants:\n  - { principal: app:x, scope: '*', access: root }\n");
        assert!(e.contains("invalid access") && e.contains("line 2"), "{e}");
        let e = problems("vaults:\n  prod/v:\n    entries:\n      k: { secret: hunter2 }\n");
        assert!(e.contains("literal secrets") && e.contains("line 4") && !e.contains("hunter2"), "{e}");
        let e = problems("vaults:\n  prod/v:\n    entries:\n      k: { secret: \"${env:A}\", variable: b }\n");
        assert!(e.contains("line 4") && e.contains("secret"), "{e}");
        let e = problems("vaults:\n  prod/v:\n    entries:\n      k: { secret: \"${env:A\" }\n");
        assert!(e.contains("not closed"), "{e}");
    }

    #[test]
    fn a_vault_without_environment_is_in_the_default_environment() {
        let text = "vaults:\n  v: { entries: {} }\n  dev/w: { entries: {} }\n  x: { environment: test, entries: {} }\n";
        let staging = EnvName::new("staging").unwrap();
        let d = parse(text, "tresor.yaml", &staging, &env).unwrap();
        let vaults: Vec<_> = d.vaults.iter().map(|v| format!("{}/{}", v.environment, v.name)).collect();
        assert_eq!(vaults, ["staging/v", "dev/w", "test/x"]);
        assert_eq!(d.environments, ["staging", "dev", "test"], "its environment must exist, like the others");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let e = problems("vaults:\n  prod/v:\n    entries:\n      k: { variable: a }\n      k: { variable: b }\n");
        assert!(e.contains("vaults.prod/v.entries: duplicate key \"k\" at line 5 column 7"), "{e}");
        // Nested mappings, comments, blank lines and quoted keys between the two.
        let text = "vaults:\n  prod/v:\n    entries:\n      k: { variable: a }\n      # a comment\n\n      \"j\": { variable: b }\n      'k': { variable: c }\n  prod/w:\n    entries: {}\n";
        let e = problems(text);
        assert!(e.contains("duplicate key \"k\" at line 8 column 7"), "{e}");
        // A vault named twice, the second one after another vault's nested lines.
        let text = "vaults:\n  prod/v:\n    entries: {}\n  prod/w:\n    entries:\n      prod/v: { variable: x }\n  prod/v:\n    entries: {}\n";
        let e = problems(text);
        assert!(e.contains("duplicate key \"prod/v\" at line 7 column 3"), "{e}");
        // A flow mapping keeps serde_yaml's position, the line holding both.
        let e = problems("vaults:\n  prod/v:\n    entries: { k: { variable: a }, k: { variable: b } }\n");
        assert!(e.contains("duplicate key \"k\" at line 3"), "{e}");
        let e = problems("vaults:\n  prod/v: { entries: {} }\n  v: { environment: prod, entries: {} }\n");
        assert!(e.contains("declared twice"), "{e}");
    }

    #[test]
    fn the_desired_state_round_trips_as_json() {
        let d = parse(GOOD, "tresor.yaml", &prod(), &env).unwrap();
        let json = serde_json::to_string(&d).unwrap();
        let back: DesiredState = serde_json::from_str(&json).unwrap();
        assert_eq!(back.vaults[0].entries[0].value.expose(), "sk_live_1");
    }
}
