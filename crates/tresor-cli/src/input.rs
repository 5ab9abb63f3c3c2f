//! Where values come from: a hidden prompt on a terminal, stdin otherwise, or a file. And bulk files
//! of `name: value` pairs.

use crate::error::{CliError, Result};
use std::io::{IsTerminal, Read};
use std::path::Path;
use tresor_config::yaml::{self, Resolved};
use tresor_model::SecretValue;
use zeroize::Zeroizing;

/// Reads one value for `key`: from `file` byte for byte if given; else from a hidden prompt when
/// stdin is a terminal; else all of stdin, minus one trailing newline (so `echo value |` works).
pub fn read_value(key: &str, file: Option<&Path>) -> Result<SecretValue> {
    if let Some(path) = file {
        let bytes = std::fs::read(path)
            .map_err(|e| CliError::Usage(format!("cannot read value file {}: {e}", path.display())))?;
        return Ok(SecretValue::new(bytes));
    }
    if std::io::stdin().is_terminal() {
        let typed = Zeroizing::new(
            rpassword::prompt_password(format!("Value for {key} (input hidden): "))
                .map_err(|e| CliError::Io(format!("reading the value from the terminal: {e}")))?,
        );
        return Ok(SecretValue::new(typed.as_bytes().to_vec()));
    }
    read_stdin()
}

/// All of stdin as one value, minus one trailing newline (`\n` or `\r\n`), as `echo value |`
/// and a here-string add one. A terminal is read until end of input (Ctrl-D).
pub fn read_stdin() -> Result<SecretValue> {
    let mut buf = Zeroizing::new(Vec::new());
    std::io::stdin().read_to_end(&mut buf).map_err(|e| CliError::Io(format!("reading the value from stdin: {e}")))?;
    if buf.ends_with(b"\n") {
        buf.pop();
        if buf.ends_with(b"\r") {
            buf.pop();
        }
    }
    Ok(SecretValue::new(std::mem::take(&mut *buf)))
}

/// The format of a bulk file, from its extension.
fn format_of(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("yml" | "yaml") => "yaml",
        Some("json") => "json",
        _ => "env",
    }
}

/// Reads a bulk file into `(key, value)` pairs in file order. YAML and JSON nest with `.`
/// (`db1: {user: u}` is `db1.user`), as Digdag's credential files do; `.env` files are `KEY=VALUE`.
/// Errors name the file and the offending key or line, never a value.
pub fn read_bulk(path: &Path) -> Result<Vec<(String, SecretValue)>> {
    let shown = path.display();
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| CliError::Usage(format!("cannot read {shown}: {e}")))?,
    );
    let mut out = Vec::new();
    match format_of(path) {
        "env" => {
            for item in dotenvy::from_read_iter(text.as_bytes()) {
                let (k, v) =
                    item.map_err(|e| CliError::Usage(format!("{shown}: not a valid .env file: {}", env_err(&e))))?;
                out.push((k, SecretValue::from(v)));
            }
        }
        "json" => {
            let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                CliError::Usage(format!("{shown}: invalid JSON at line {} column {}", e.line(), e.column()))
            })?;
            flatten_json(&doc, "", &mut out).map_err(|m| CliError::Usage(format!("{shown}: {m}")))?;
        }
        _ => {
            let doc = yaml::read(&text)
                .map_err(|e| CliError::Usage(format!("{shown}: invalid YAML at {}: {}", e.at, e.detail())))?;
            let Some(doc) = doc else {
                return Err(CliError::Usage(format!("{shown}: the top level must be a mapping of name: value")));
            };
            flatten_yaml(&doc, "", &mut out).map_err(|m| CliError::Usage(format!("{shown}: {m}")))?;
        }
    }
    if out.is_empty() {
        return Err(CliError::Usage(format!("{shown} holds no entries")));
    }
    Ok(out)
}

/// dotenvy's errors may quote the offending line, which may hold a value: keep only the position.
fn env_err(e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(_, index) => format!("parse error at byte {index} of a line"),
        dotenvy::Error::Io(io) => io.to_string(),
        _ => "parse error".into(),
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn flatten_json(v: &serde_json::Value, prefix: &str, out: &mut Vec<(String, SecretValue)>) -> Result<(), String> {
    use serde_json::Value::*;
    match v {
        Object(map) => {
            for (k, v) in map {
                flatten_json(v, &join(prefix, k), out)?;
            }
        }
        String(s) => out.push((prefix.to_owned(), SecretValue::from(s.as_str()))),
        Number(n) => out.push((prefix.to_owned(), SecretValue::from(n.to_string()))),
        Bool(b) => out.push((prefix.to_owned(), SecretValue::from(b.to_string()))),
        Null | Array(_) if prefix.is_empty() => return Err("the top level must be an object of name: value".into()),
        Null => return Err(format!("{prefix} has no value (null)")),
        Array(_) => return Err(format!("{prefix} is a list; values must be strings, numbers or booleans")),
    }
    Ok(())
}

/// A YAML value is read as YAML's core schema reads it (`0x10` is `16`, `True` is `true`, quoted
/// text stays as written); a mapping's keys likewise.
fn flatten_yaml(node: &yaml::Node, prefix: &str, out: &mut Vec<(String, SecretValue)>) -> Result<(), String> {
    match &node.value {
        yaml::Value::Mapping(map) => {
            for (k, v) in map {
                let k = match k.scalar.resolve() {
                    Resolved::Null => return Err(format!("a key under {prefix:?} is not a string")),
                    key => key.to_string(),
                };
                flatten_yaml(v, &join(prefix, &k), out)?;
            }
        }
        yaml::Value::Scalar(s) => match s.resolve() {
            Resolved::Null if prefix.is_empty() => return Err("the top level must be a mapping of name: value".into()),
            Resolved::Null => return Err(format!("{prefix} has no value (null)")),
            value => out.push((prefix.to_owned(), SecretValue::from(value.to_string()))),
        },
        yaml::Value::Sequence(_) if prefix.is_empty() => {
            return Err("the top level must be a mapping of name: value".into())
        }
        yaml::Value::Sequence(_) => {
            return Err(format!("{prefix} is a list; values must be strings, numbers or booleans"))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(name: &str, text: &str) -> Result<Vec<(String, String)>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        read_bulk(&path).map(|v| v.into_iter().map(|(k, v)| (k, v.expose_str().unwrap().to_owned())).collect())
    }

    #[test]
    fn yaml_nests_with_dots() {
        let got = bulk("c.yml", "db1:\n  user: u1\n  password: p1\nport: 5432\nssl: true\n").unwrap();
        assert_eq!(
            got,
            [("db1.user", "u1"), ("db1.password", "p1"), ("port", "5432"), ("ssl", "true")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }

    #[test]
    fn yaml_scalars_are_typed_and_a_repeated_key_is_refused() {
        let got = bulk("c.yaml", "a: 0x10\nb: '0x10'\nc: 1.50\nd: True\ne: 0123\nf: |\n  two\n  lines\n").unwrap();
        let want = [("a", "16"), ("b", "0x10"), ("c", "1.5"), ("d", "true"), ("e", "0123"), ("f", "two\nlines\n")];
        assert_eq!(got, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
        let e = bulk("c.yml", "db:\n  user: u\n  user: v\n").unwrap_err().to_string();
        assert!(
            e.contains("invalid YAML at line 3 column 3: duplicate key \"user\" (first at line 2 column 3)"),
            "{e}"
        );
    }

    #[test]
    fn json_and_env() {
        assert_eq!(bulk("c.json", r#"{"a": {"b": "x"}}"#).unwrap(), [("a.b".to_owned(), "x".to_owned())]);
        assert_eq!(
            bulk("c.env", "# comment\nA=1\nB=\"two words\"\n").unwrap(),
            [("A".to_owned(), "1".to_owned()), ("B".to_owned(), "two words".to_owned())]
        );
    }

    #[test]
    fn bad_files_say_where_without_values() {
        let e = bulk("c.yml", "a: [1, 2]\n").unwrap_err().to_string();
        assert!(e.contains("a is a list"), "{e}");
        let e = bulk("c.yml", "a: b: c: d\n  - x\n").unwrap_err().to_string();
        assert!(e.contains("invalid YAML at line"), "{e}");
        let e = bulk("c.json", "{\"k\": \"supersecret\",}").unwrap_err().to_string();
        assert!(e.contains("invalid JSON at line 1") && !e.contains("supersecret"), "{e}");
        let e = bulk("c.env", "GOOD=1\nthis line is not valid secretvalue\n").unwrap_err().to_string();
        assert!(!e.contains("secretvalue"), "{e}");
        let e = bulk("c.yml", "").unwrap_err().to_string();
        assert!(e.contains("top level") || e.contains("no entries"), "{e}");
    }
}
