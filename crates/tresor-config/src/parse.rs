//! `tresor.yaml` → [`DesiredState`]. The file is read by [`crate::yaml`] (saphyr-parser, chosen
//! over serde_yaml 0.9, deprecated, and yaml-rust2, the older API of the same family: see that
//! module), which gives every node its line and column and refuses repeated keys at their line;
//! the schema is walked here by hand over that tree, so every error names the field's path and
//! line. Every name is checked with tresor-model's validators while the file is read, so an
//! invalid name is reported at its line too. A field that takes a string takes any scalar's text
//! as written (`0123`, `yes`, `1.0` stay so). `${env:NAME}` references are resolved
//! afterwards through the caller's lookup; all unset variables are reported, by name, at once.

use crate::yaml::{self, index_path, key_path, Key, Node, Resolved, Value};
use crate::{ConfigValue, DesiredEntry, DesiredGrant, DesiredState, DesiredVault};
use tresor_model::{Access, EntryKey, EnvName, PrincipalRef, Scope, VaultName, WorkspaceName};
use zeroize::Zeroizing;

/// Why a config file was refused: every problem found, each naming where. Never quotes a value.
#[derive(Debug, thiserror::Error)]
#[error("{}", problems.iter().map(|p| format!("{file}: {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub file: String,
    pub problems: Vec<String>,
}

/// The first problem met while reading the file's schema, at its node.
type Read<T> = Result<T, yaml::Error>;

/// A name checked while reading, so a bad one is reported at its line.
type Check = fn(&str) -> Result<(), String>;

fn checked(text: &str, what: &str, check: Check, path: &str, at: yaml::Pos) -> Read<String> {
    check(text).map_err(|e| yaml::Error::new(path, at, format!("invalid {what}: {e}")))?;
    Ok(text.to_owned())
}

fn env_name(s: &str) -> Result<(), String> {
    EnvName::new(s).map(drop).map_err(|e| e.to_string())
}

fn entry_key(s: &str) -> Result<(), String> {
    EntryKey::new(s).map(drop).map_err(|e| e.to_string())
}

fn principal(s: &str) -> Result<(), String> {
    s.parse::<PrincipalRef>().map(drop).map_err(|e| e.to_string())
}

fn scope(s: &str) -> Result<(), String> {
    s.parse::<Scope>().map(drop).map_err(|e| e.to_string())
}

fn access(s: &str) -> Result<(), String> {
    s.parse::<Access>().map(drop).map_err(|e| e.to_string())
}

fn config_name(s: &str) -> Result<(), String> {
    WorkspaceName::new(s)
        .map(drop)
        .map_err(|_| "use 1 to 64 letters, digits, '_' or '-' (it is recorded as the owner of the vaults)".to_string())
}

/// A vault is named `VAULT` (with an `environment` field) or `ENV/VAULT`.
fn vault_key(s: &str) -> Result<(), String> {
    let (env, vault) = s.split_once('/').map_or((None, s), |(e, v)| (Some(e), v));
    if let Some(env) = env {
        env_name(env)?;
    }
    VaultName::new(vault).map(drop).map_err(|e| e.to_string())
}

/// What a node is, for an error that must not quote it.
fn kind_of(node: &Node) -> &'static str {
    match &node.value {
        Value::Mapping(_) => "a map",
        Value::Sequence(_) => "a sequence",
        Value::Scalar(s) => match s.resolve() {
            Resolved::Null => "null",
            Resolved::Bool(_) => "a boolean",
            Resolved::Int(_) => "an integer",
            Resolved::Float(_) => "a number",
            Resolved::Str(_) => "a string",
        },
    }
}

fn invalid_type(node: &Node, expected: &str, path: &str) -> yaml::Error {
    yaml::Error::new(path, node.at, format!("invalid type: {}, expected {expected}", kind_of(node)))
}

/// A mapping's entries; `key:` with nothing after it is an empty one.
fn mapping<'n>(node: &'n Node, expected: &str, path: &str) -> Read<&'n [(Key, Node)]> {
    match &node.value {
        Value::Mapping(entries) => Ok(entries),
        Value::Scalar(s) if s.is_empty_plain() => Ok(&[]),
        _ => Err(invalid_type(node, expected, path)),
    }
}

/// A sequence's items; `key:` with nothing after it is an empty one.
fn sequence<'n>(node: &'n Node, path: &str) -> Read<&'n [Node]> {
    match &node.value {
        Value::Sequence(items) => Ok(items),
        Value::Scalar(s) if s.is_empty_plain() => Ok(&[]),
        _ => Err(invalid_type(node, "a sequence", path)),
    }
}

/// A scalar's text, whatever it looks like (`0123`, `yes` and `1.0` stay as written).
fn string<'n>(node: &'n Node, path: &str) -> Read<&'n str> {
    match &node.value {
        Value::Scalar(s) => Ok(s.text()),
        _ => Err(invalid_type(node, "a string", path)),
    }
}

/// An optional field's text: absent, empty or null (`~`) is none.
fn optional_string<'n>(node: Option<&'n Node>, path: &str) -> Read<Option<&'n str>> {
    match node {
        Some(Node { value: Value::Scalar(s), .. }) if s.resolve() == Resolved::Null => Ok(None),
        Some(node) => string(node, path).map(Some),
        None => Ok(None),
    }
}

/// The fields of a mapping with a fixed set of them: an unknown one is refused at its line.
struct Fields<'n> {
    entries: &'n [(Key, Node)],
    at: yaml::Pos,
    path: String,
}

impl<'n> Fields<'n> {
    fn of(node: &'n Node, expected: &str, known: &[&str], path: &str) -> Read<Self> {
        let entries = mapping(node, expected, path)?;
        if let Some((key, _)) = entries.iter().find(|(k, _)| !known.contains(&k.text())) {
            let expected = match known {
                [] => "there are no fields".to_owned(),
                [one] => format!("expected `{one}`"),
                [a, b] => format!("expected `{a}` or `{b}`"),
                _ => {
                    format!("expected one of {}", known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))
                }
            };
            return Err(yaml::Error::new(path, key.at, format!("unknown field `{}`, {expected}", key.text())));
        }
        Ok(Self { entries, at: node.at, path: path.to_owned() })
    }

    fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(k, _)| k.text() == name).map(|(_, v)| v)
    }

    fn required(&self, name: &str) -> Read<&'n Node> {
        self.get(name).ok_or_else(|| yaml::Error::new(&self.path, self.at, format!("missing field `{name}`")))
    }

    fn path(&self, name: &str) -> String {
        key_path(&self.path, name)
    }
}

struct RawFile {
    name: Option<String>,
    environments: Vec<String>,
    /// `(key as written, vault)`, in file order; the reader has refused repeated keys.
    vaults: Vec<(String, RawVault)>,
    grants: Vec<DesiredGrant>,
}

struct RawVault {
    environment: Option<String>,
    entries: Vec<(String, RawEntry)>,
}

/// `{ secret: "${env:NAME}" }` or `{ variable: "text" }`.
struct RawEntry {
    secret: bool,
    template: Zeroizing<String>,
}

const AN_ENTRY: &str = "an entry is `{ secret: \"${env:NAME}\" }` or `{ variable: VALUE }`";

impl RawFile {
    fn read(root: Option<&Node>) -> Read<Self> {
        let mut file = RawFile { name: None, environments: Vec::new(), vaults: Vec::new(), grants: Vec::new() };
        let Some(root) = root else { return Ok(file) };
        let expected = "a mapping of `name`, `environments`, `vaults` and `grants`";
        let fields = Fields::of(root, expected, &["name", "environments", "vaults", "grants"], "")?;
        if let Some(node) = fields.get("name") {
            let path = fields.path("name");
            file.name = optional_string(Some(node), &path)?
                .map(|n| checked(n, "config name", config_name, &path, node.at))
                .transpose()?;
        }
        if let Some(node) = fields.get("environments") {
            let path = fields.path("environments");
            for (i, item) in sequence(node, &path)?.iter().enumerate() {
                let path = index_path(&path, i);
                file.environments.push(checked(string(item, &path)?, "environment name", env_name, &path, item.at)?);
            }
        }
        if let Some(node) = fields.get("vaults") {
            let path = fields.path("vaults");
            for (key, vault) in mapping(node, "a mapping", &path)? {
                let name = checked(key.text(), "vault", vault_key, &path, key.at)?;
                file.vaults.push((name, RawVault::read(vault, &key_path(&path, key.text()))?));
            }
        }
        if let Some(node) = fields.get("grants") {
            let path = fields.path("grants");
            for (i, grant) in sequence(node, &path)?.iter().enumerate() {
                file.grants.push(read_grant(grant, &index_path(&path, i))?);
            }
        }
        Ok(file)
    }
}

impl RawVault {
    fn read(node: &Node, path: &str) -> Read<Self> {
        let expected = "a vault: a mapping of `environment` and `entries`";
        let fields = Fields::of(node, expected, &["environment", "entries"], path)?;
        let environment = match fields.get("environment") {
            Some(env) => {
                let path = fields.path("environment");
                optional_string(Some(env), &path)?
                    .map(|e| checked(e, "environment name", env_name, &path, env.at))
                    .transpose()?
            }
            None => None,
        };
        let mut entries = Vec::new();
        if let Some(node) = fields.get("entries") {
            let path = fields.path("entries");
            for (key, entry) in mapping(node, "a mapping", &path)? {
                let name = checked(key.text(), "entry key", entry_key, &path, key.at)?;
                entries.push((name, RawEntry::read(key, entry, &key_path(&path, key.text()))?));
            }
        }
        Ok(Self { environment, entries })
    }
}

fn read_grant(node: &Node, path: &str) -> Read<DesiredGrant> {
    let expected = "a grant: `{ principal: ..., scope: ..., access: ... }`";
    let fields = Fields::of(node, expected, &["principal", "scope", "access"], path)?;
    let field = |name: &str, what: &str, check: Check| -> Read<String> {
        let node = fields.required(name)?;
        let path = fields.path(name);
        checked(string(node, &path)?, what, check, &path, node.at)
    };
    let (principal, scope, access) = (
        field("principal", "principal", principal)?,
        field("scope", "scope", scope)?,
        field("access", "access", access)?,
    );
    Ok(DesiredGrant { principal, scope, access })
}

impl RawEntry {
    /// An entry's problems are reported at its key.
    fn read(key: &Key, node: &Node, path: &str) -> Read<Self> {
        let expected = "an entry: `{ secret: \"${env:NAME}\" }` or `{ variable: VALUE }`";
        let fields = Fields::of(node, expected, &["secret", "variable"], path)?;
        let secret = optional_string(fields.get("secret"), &fields.path("secret"))?;
        let variable = optional_string(fields.get("variable"), &fields.path("variable"))?;
        let refuse = |message: String| yaml::Error::new(path, key.at, message);
        let (secret, template) = match (secret, variable) {
            (Some(s), None) => (true, Zeroizing::new(s.to_owned())),
            (None, Some(v)) => (false, Zeroizing::new(v.to_owned())),
            _ => return Err(refuse(AN_ENTRY.to_owned())),
        };
        let refs = references(&template).map_err(refuse)?;
        if secret && refs.is_empty() {
            return Err(refuse(
                "a secret takes its value from the environment, `{ secret: \"${env:NAME}\" }`: \
                 literal secrets do not belong in a file kept in git"
                    .to_owned(),
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
    let root = yaml::read(text).map_err(|e| fail(vec![e.to_string()]))?;
    let raw = RawFile::read(root.as_ref()).map_err(|e| fail(vec![e.to_string()]))?;
    let name = match raw.name {
        Some(n) => n,
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
        if environments.contains(&e) {
            problems.push(format!("environments: {e} is listed twice"));
        } else {
            environments.push(e);
        }
    }
    let mut vaults: Vec<DesiredVault> = Vec::new();
    for (key, v) in raw.vaults {
        let (env, vault) = match (key.split_once('/'), v.environment) {
            (Some((e, n)), None) => (e.to_owned(), n.to_owned()),
            (Some(_), Some(_)) => {
                problems.push(format!(
                    "vaults.{key}: give the environment in the name (ENV/VAULT) or in `environment`, not both"
                ));
                continue;
            }
            (None, Some(e)) => (e, key.clone()),
            (None, None) => (default_env.to_string(), key.clone()),
        };
        if vaults.iter().any(|d| d.environment == env && d.name == vault) {
            problems.push(format!("vaults.{key}: vault {env}/{vault} is declared twice"));
            continue;
        }
        if !environments.contains(&env) {
            environments.push(env.clone());
        }
        let mut entries = Vec::new();
        for (k, e) in v.entries {
            let before = missing.len();
            let value = resolve(&e.template, lookup, &mut missing);
            for m in &missing[before..] {
                problems.push(format!("vaults.{key}.entries.{k}: environment variable {m} is not set"));
            }
            entries.push(DesiredEntry {
                key: k,
                kind: if e.secret { "secret" } else { "variable" }.into(),
                value: ConfigValue::new(std::mem::take(&mut *Zeroizing::new(value.to_string()))),
            });
        }
        vaults.push(DesiredVault { environment: env, name: vault, entries });
    }
    let mut grants: Vec<DesiredGrant> = Vec::new();
    for (i, g) in raw.grants.into_iter().enumerate() {
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

    /// The CLI's end-to-end example, plus a vault named `ENV/VAULT` and a grant.
    const GOOD: &str = concat!(
        include_str!("../testdata/api-keys.yaml"),
        r#"  dev/db:
    entries:
      url: { variable: "postgres://${env:DB_HOST}/app $${not-a-ref}" }
grants:
  - { principal: app:orkes-workers, scope: "prod/api-keys/*", access: read }
"#
    );

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

    /// A refused file: what its problems must say, and what they must not (a value).
    struct Refused {
        text: &'static str,
        says: &'static [&'static str],
        never: &'static [&'static str],
    }

    const REFUSED: &[Refused] = &[
        // Unknown fields name the line and the field's path.
        Refused {
            text: "vaults:\n  api-keys:\n    environment: prod\n    entires: {}\n",
            says: &["unknown field `entires`", "line 4", "vaults"],
            never: &[],
        },
        Refused {
            text: "vaults:\n  v:\n    environment: prod\n    entries:\n      k: { secrt: \"${env:X}\" }\n",
            says: &["unknown field `secrt`", "line 5"],
            never: &[],
        },
        Refused { text: "enviroments: [dev]\n", says: &["unknown field `enviroments`", "line 1"], never: &[] },
        // Wrong types name the line, and never echo the value.
        Refused { text: "environments: prod\n", says: &["environments", "line 1"], never: &[] },
        Refused {
            text: "vaults:\n  v:\n    environment: prod\n    entries:\n      k: { variable: [1, 2] }\n",
            says: &["line 5", "invalid type"],
            never: &[],
        },
        Refused {
            text: "grants:\n  - { principal: app:x, scope: '*' }\n",
            says: &["missing field `access`", "line 2"],
            never: &[],
        },
        Refused {
            text: "vaults:\n  v:\n    environment: prod\n    entries:\n      k: \"sk_live_LEAK1\"\n",
            says: &["invalid type: a string, expected an entry: `{ secret:", "line 5"],
            never: &["sk_live_LEAK1"],
        },
        Refused {
            text: "vaults:\n  v:\n    environment: prod\n    entries:\n      k: { secret: 91827364 }\n",
            says: &["line 5"],
            never: &["91827364"],
        },
        // Invalid names and literal secrets are refused at their line.
        Refused { text: "vaults:\n  prod/bad vault:\n    entries: {}\n", says: &["invalid vault", "line 2"], never: &[] },
        Refused {
            text: "vaults:\n  prod/v:\n    entries:\n      ../up: { variable: x }\n",
            says: &["invalid entry key", "line 4"],
            never: &[],
        },
        Refused {
            text: "environments: [prod, \"no/slash\"]\n",
            says: &["invalid environment name", "line 1"],
            never: &[],
        },
        Refused {
            text: "grants:\n  - { principal: robot:x, scope: '*', access: read }\n",
            says: &["invalid principal", "line 2"],
            never: &[],
        },
        Refused {
            text: "grants:\n  - { principal: app:x, scope: '*', access: root }\n",
            says: &["invalid access", "line 2"],
            never: &[],
        },
        Refused {
            text: "vaults:\n  prod/v:\n    entries:\n      k: { secret: hunter2 }\n",
            says: &["literal secrets", "line 4"],
            never: &["hunter2"],
        },
        Refused {
            text: "vaults:\n  prod/v:\n    entries:\n      k: { secret: \"${env:A}\", variable: b }\n",
            says: &["line 4", "secret"],
            never: &[],
        },
        Refused { text: "vaults:\n  prod/v:\n    entries:\n      k: { secret: \"${env:A\" }\n", says: &["not closed"], never: &[] },
        // Duplicate keys are refused at the second one.
        Refused {
            text: "vaults:\n  prod/v:\n    entries:\n      k: { variable: a }\n      k: { variable: b }\n",
            says: &["vaults.prod/v.entries: duplicate key \"k\" at line 5 column 7"],
            never: &[],
        },
        // Nested mappings, comments, blank lines and quoted keys between the two.
        Refused {
            text: "vaults:\n  prod/v:\n    entries:\n      k: { variable: a }\n      # a comment\n\n      \"j\": { variable: b }\n      'k': { variable: c }\n  prod/w:\n    entries: {}\n",
            says: &["duplicate key \"k\" at line 8 column 7"],
            never: &[],
        },
        // A vault named twice, the second one after another vault's nested lines.
        Refused {
            text: "vaults:\n  prod/v:\n    entries: {}\n  prod/w:\n    entries:\n      prod/v: { variable: x }\n  prod/v:\n    entries: {}\n",
            says: &["duplicate key \"prod/v\" at line 7 column 3"],
            never: &[],
        },
        // A flow mapping: the line holding both.
        Refused {
            text: "vaults:\n  prod/v:\n    entries: { k: { variable: a }, k: { variable: b } }\n",
            says: &["duplicate key \"k\" at line 3"],
            never: &[],
        },
        Refused {
            text: "vaults:\n  prod/v: { entries: {} }\n  v: { environment: prod, entries: {} }\n",
            says: &["declared twice"],
            never: &[],
        },
    ];

    #[test]
    fn refused_files_name_the_line_and_never_a_value() {
        for case in REFUSED {
            let e = problems(case.text);
            for said in case.says {
                assert!(e.contains(said), "{said:?} is not in: {e}");
            }
            for value in case.never {
                assert!(!e.contains(value), "{value:?} leaked: {e}");
            }
        }
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
    fn a_vault_without_environment_is_in_the_default_environment() {
        let text = "vaults:\n  v: { entries: {} }\n  dev/w: { entries: {} }\n  x: { environment: test, entries: {} }\n";
        let staging = EnvName::new("staging").unwrap();
        let d = parse(text, "tresor.yaml", &staging, &env).unwrap();
        let vaults: Vec<_> = d.vaults.iter().map(|v| format!("{}/{}", v.environment, v.name)).collect();
        assert_eq!(vaults, ["staging/v", "dev/w", "test/x"]);
        assert_eq!(d.environments, ["staging", "dev", "test"], "its environment must exist, like the others");
    }

    #[test]
    fn the_desired_state_round_trips_as_json() {
        let d = parse(GOOD, "tresor.yaml", &prod(), &env).unwrap();
        let json = serde_json::to_string(&d).unwrap();
        let back: DesiredState = serde_json::from_str(&json).unwrap();
        assert_eq!(back.vaults[0].entries[0].value.expose(), "sk_live_1");
    }
}
