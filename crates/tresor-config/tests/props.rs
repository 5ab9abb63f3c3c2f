//! Property tests of the config parser: a desired state written out as `tresor.yaml` text reads
//! back as the same state, and no text makes the parser panic.

use proptest::prelude::*;
use tresor_config::{parse, DesiredState};
use tresor_model::{EntryKey, EnvName};

/// A JSON string is a YAML double-quoted scalar: every generated string goes in this way.
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn ident() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9_-]{0,8}"
}

fn key() -> impl Strategy<Value = String> {
    "[a-z0-9_-]{1,5}(\\.[a-z0-9_-]{1,4})?(/[a-z0-9_.-]{1,5}){0,2}"
        .prop_filter("a valid key", |k| EntryKey::new(k.as_str()).is_ok())
}

/// A value: text without `$`, with or without a `${env:VALUE_VAR}` between its two parts (the
/// lookup answers it with the document's `from_env`).
#[derive(Debug, Clone)]
struct Value {
    before: String,
    reference: bool,
    after: String,
}

impl Value {
    fn written(&self) -> String {
        let reference = if self.reference { "${env:VALUE_VAR}" } else { "" };
        format!("{}{reference}{}", self.before, self.after)
    }

    fn resolved(&self, from_env: &str) -> String {
        format!("{}{}{}", self.before, if self.reference { from_env } else { "" }, self.after)
    }
}

fn value() -> impl Strategy<Value = Value> {
    ("[^$]{0,20}", any::<bool>(), "[^$]{0,10}").prop_map(|(before, reference, after)| Value {
        before,
        reference,
        after,
    })
}

#[derive(Debug, Clone)]
struct Vault {
    env: String,
    name: String,
    /// Written as `ENV/VAULT:` (true) or `VAULT:` with `environment: ENV`.
    env_in_key: bool,
    entries: Vec<(String, bool, Value)>,
}

#[derive(Debug, Clone)]
struct Doc {
    name: String,
    vaults: Vec<Vault>,
    grants: Vec<(String, String, String)>,
    from_env: String,
}

fn doc() -> impl Strategy<Value = Doc> {
    let entry = (key(), any::<bool>(), value());
    let vault = (ident(), ident(), any::<bool>(), prop::collection::vec(entry, 0..4));
    let grant = (
        prop::sample::select(vec!["user", "app", "group"]),
        ident(),
        prop::sample::select(vec!["*", "prod", "prod/api-keys/*", "*/v/db/*"]),
        prop::sample::select(vec!["read", "write", "manage", "admin", "webhook"]),
    );
    (ident(), prop::collection::vec(vault, 0..4), prop::collection::vec(grant, 0..4), "\\PC{0,12}").prop_map(
        |(name, vaults, grants, from_env)| {
            let mut seen_vaults = std::collections::HashSet::new();
            let vaults = vaults
                .into_iter()
                .filter(|(env, name, _, _)| seen_vaults.insert((env.clone(), name.clone())))
                .map(|(env, name, env_in_key, entries)| {
                    let mut seen = std::collections::HashSet::new();
                    // A secret's value comes from the environment: the parser refuses a literal one.
                    let entries = entries
                        .into_iter()
                        .filter(|(k, _, _)| seen.insert(k.clone()))
                        .map(|(k, secret, mut value)| {
                            value.reference |= secret;
                            (k, secret, value)
                        })
                        .collect();
                    Vault { env, name, env_in_key, entries }
                })
                .collect();
            let mut seen_grants = std::collections::HashSet::new();
            let grants = grants
                .into_iter()
                .map(|(kind, who, scope, access)| (format!("{kind}:{who}"), scope.to_owned(), access.to_owned()))
                .filter(|g| seen_grants.insert(g.clone()))
                .collect();
            Doc { name, vaults, grants, from_env }
        },
    )
}

impl Doc {
    /// The file: block style for the structure, flow style for entries and grants.
    fn yaml(&self) -> String {
        let mut out = format!("name: {}\n", q(&self.name));
        let envs: Vec<String> = self.environments().iter().map(|e| q(e)).collect();
        out.push_str(&format!("environments: [{}]\n", envs.join(", ")));
        out.push_str("vaults:\n");
        for v in &self.vaults {
            if v.env_in_key {
                out.push_str(&format!("  {}:\n", q(&format!("{}/{}", v.env, v.name))));
            } else {
                out.push_str(&format!("  {}:\n    environment: {}\n", q(&v.name), q(&v.env)));
            }
            out.push_str("    entries:\n");
            for (k, secret, value) in &v.entries {
                let kind = if *secret { "secret" } else { "variable" };
                out.push_str(&format!("      {}: {{ {kind}: {} }}\n", q(k), q(&value.written())));
            }
        }
        out.push_str("grants:\n");
        for (principal, scope, access) in &self.grants {
            out.push_str(&format!(
                "  - {{ principal: {}, scope: {}, access: {} }}\n",
                q(principal),
                q(scope),
                q(access)
            ));
        }
        out
    }

    /// Each vault's environment, once, in order of first use.
    fn environments(&self) -> Vec<String> {
        let mut envs: Vec<String> = Vec::new();
        for v in &self.vaults {
            if !envs.contains(&v.env) {
                envs.push(v.env.clone());
            }
        }
        envs
    }

    /// The state the file declares, as JSON (the desired state's own document).
    fn expected(&self) -> serde_json::Value {
        let vaults: Vec<serde_json::Value> = self
            .vaults
            .iter()
            .map(|v| {
                let entries: Vec<serde_json::Value> = v
                    .entries
                    .iter()
                    .map(|(k, secret, value)| {
                        let kind = if *secret { "secret" } else { "variable" };
                        serde_json::json!({"key": k, "kind": kind, "value": value.resolved(&self.from_env)})
                    })
                    .collect();
                serde_json::json!({"environment": v.env, "name": v.name, "entries": entries})
            })
            .collect();
        let grants: Vec<serde_json::Value> =
            self.grants.iter().map(|(p, s, a)| serde_json::json!({"principal": p, "scope": s, "access": a})).collect();
        serde_json::json!({"name": self.name, "environments": self.environments(), "vaults": vaults, "grants": grants})
    }
}

fn read(text: &str, from_env: &str) -> Result<DesiredState, tresor_config::ConfigError> {
    let lookup = |name: &str| (name == "VALUE_VAR").then(|| from_env.to_owned());
    parse(text, "tresor.yaml", &EnvName::default_name(), &lookup)
}

/// Text near the file's syntax: keys, indentation, flow collections, quotes, references.
fn yaml_soup() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "name:",
        "environments:",
        "vaults:",
        "entries:",
        "grants:",
        "environment:",
        "secret:",
        "variable:",
        "principal:",
        "scope:",
        "access:",
        " ",
        "  ",
        "\n",
        "- ",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "'",
        "#",
        "${env:",
        "${env:X}",
        "$${",
        "}",
        "prod",
        "a/b",
        "user:x",
        "*",
        "&a",
        "*a",
        "!!str",
        "|",
        ">",
        "---",
        "~",
        "\t",
        "\\",
        "é",
    ];
    let piece = prop_oneof![6 => prop::sample::select(PIECES).prop_map(str::to_owned), 1 => any::<char>().prop_map(String::from)];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_written_state_reads_back_the_same(doc in doc()) {
        let text = doc.yaml();
        let state = read(&text, &doc.from_env).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(serde_json::to_value(&state).unwrap(), doc.expected(), "{}", text);
    }

    /// Any text: a state or an error naming the file, never a panic.
    #[test]
    fn random_documents_never_panic(text in prop_oneof![yaml_soup(), any::<String>()]) {
        if let Err(e) = read(&text, "v") {
            prop_assert!(!e.problems.is_empty());
            prop_assert!(e.to_string().starts_with("tresor.yaml: "), "{}", e);
        }
    }
}
