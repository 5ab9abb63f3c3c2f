//! Human tables and `--json` documents. Every command prints through here, so both forms stay in
//! step. Secret values never pass through this module except in `get`'s explicit value output.
//!
//! # A closed stdout
//!
//! Everything a command writes to stdout goes through [`write_out`] (or the `outln!` and
//! `out!` macros over it), never `println!`: `println!` panics when stdout is a pipe whose
//! reader has gone (`tresor ls | head -1`), because Rust ignores SIGPIPE and the write fails
//! with `BrokenPipe`. Here that failure becomes [`CliError::StdoutClosed`], which `main` turns
//! into a quiet exit 141 (128 + SIGPIPE, what a shell shows for a writer killed by the signal),
//! in this one place for every command and output mode.
//!
//! Restoring SIGPIPE's default action instead would kill the process at the first such write,
//! wherever it happens: `tresor run` would die mid-stream, leaving its child without the process
//! that redacts its stderr and forwards signals to it, and a server writing to a peer that has
//! gone could be killed the same way. So SIGPIPE stays ignored (Rust's default), and the error is
//! handled where output is written.

use crate::error::{CliError, Result};
use serde::Serialize;
use serde_json::{json, Value};
use std::io::Write;
use tresor_model::{format_rfc3339, EntryKind, EntryMeta, EnvInfo, SecretValue, Tag, VaultInfo, VersionMeta};

/// The error for a failed write to stdout: [`CliError::StdoutClosed`] when its reader has gone,
/// an I/O error otherwise.
pub fn stdout_error(e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        CliError::StdoutClosed
    } else {
        CliError::Io(format!("writing to stdout: {e}"))
    }
}

/// Writes `bytes` to stdout and flushes them, so a closed stdout is noticed here and not in a
/// later flush (or at exit, where nobody could report it).
pub fn write_out(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes).and_then(|()| stdout.flush()).map_err(stdout_error)
}

/// `print!` through [`write_out`]: returns a `Result` instead of panicking on a closed stdout.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_out(format!($($arg)*).as_bytes())
    };
}

/// `println!` through [`write_out`]: returns a `Result` instead of panicking on a closed stdout.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write_out(format!("{}\n", format_args!($($arg)*)).as_bytes())
    };
}

pub(crate) use outln;

/// An entry as shown: metadata with readable timestamps; `value` only for variables.
#[derive(Serialize)]
pub struct EntryView<'a> {
    pub key: &'a str,
    pub kind: &'a str,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
    pub edited_by: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    #[serde(skip_serializing_if = "<[Tag]>::is_empty")]
    pub tags: &'a [Tag],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// A variable's value as text, or, when it is not UTF-8, as base64 in `value_base64` (the
    /// API's codec, `tresor_client::encode_value`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
}

impl<'a> EntryView<'a> {
    pub fn new(meta: &'a EntryMeta, variable_value: Option<&SecretValue>) -> Self {
        let (value, value_base64) = variable_value.map_or((None, None), |v| tresor_client::encode_value(v.expose()));
        Self {
            key: &meta.key,
            kind: meta.kind.as_str(),
            version: meta.version,
            created_at: format_rfc3339(meta.created_at),
            updated_at: format_rfc3339(meta.updated_at),
            edited_by: &meta.edited_by,
            description: meta.description.as_deref(),
            tags: &meta.tags,
            deleted_at: meta.deleted_at.map(format_rfc3339),
            value,
            value_base64,
        }
    }
}

pub fn print_json(v: &impl Serialize) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(v).expect("serializable"))
}

/// How many terminal columns `text` takes: a CJK character takes two, a combining accent none.
/// Both table printers measure with it, so columns line up whatever the names hold.
fn columns(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

/// `text` followed by spaces up to `width` columns.
fn padded(text: &str, width: usize) -> String {
    format!("{text}{}", " ".repeat(width.saturating_sub(columns(text))))
}

/// The widest cell of each column, header included.
fn column_widths<'a>(header: &[&str], rows: impl Iterator<Item = &'a [String]>) -> Vec<usize> {
    let mut widths: Vec<usize> = header.iter().map(|h| columns(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(columns(cell));
        }
    }
    widths
}

/// Prints rows as aligned columns under a header. The layouts are two short functions over
/// `unicode-width`; a table crate would bring its own styles to configure back to these.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let widths = column_widths(header, rows.iter().map(Vec::as_slice));
    let mut text = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&padded(cell, *w));
                s.push_str("  ");
            }
        }
        text.push_str(s.trim_end());
        text.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    write_out(text.as_bytes())
}

/// A value in a table cell: printable variables shown, anything with control characters summarised.
fn cell_value(v: &SecretValue) -> String {
    match v.expose_str() {
        Some(s) if !s.chars().any(char::is_control) => s.to_owned(),
        _ => format!("<{} bytes>", v.len()),
    }
}

pub fn entries_table(items: &[(EntryMeta, Option<SecretValue>)]) -> Result<()> {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|(m, v)| {
            let mut updated = format_rfc3339(m.updated_at);
            if m.deleted_at.is_some() {
                updated.push_str(" (deleted)");
            }
            vec![
                m.key.clone(),
                m.kind.to_string(),
                m.version.to_string(),
                updated,
                match v {
                    Some(v) => cell_value(v),
                    None if m.kind == EntryKind::Secret => "********".into(),
                    None => String::new(),
                },
            ]
        })
        .collect();
    print_table(&["KEY", "KIND", "VERSION", "UPDATED", "VALUE"], &rows)
}

pub fn history_table(versions: &[VersionMeta]) -> Result<()> {
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| vec![v.version.to_string(), v.kind.to_string(), format_rfc3339(v.created_at), v.edited_by.clone()])
        .collect();
    print_table(&["VERSION", "KIND", "CREATED", "EDITED_BY"], &rows)
}

pub fn history_json(versions: &[VersionMeta]) -> Value {
    Value::Array(
        versions
            .iter()
            .map(|v| {
                json!({"version": v.version, "kind": v.kind, "created_at": format_rfc3339(v.created_at),
                       "edited_by": v.edited_by})
            })
            .collect(),
    )
}

pub fn vaults(json: bool, vaults: &[VaultInfo]) -> Result<()> {
    if json {
        let docs: Vec<Value> = vaults
            .iter()
            .map(|v| {
                json!({"name": v.name, "environment": v.environment, "entries": v.entries,
                       "created_at": format_rfc3339(v.created_at), "managed_by": v.managed_by})
            })
            .collect();
        return print_json(&docs);
    }
    let rows: Vec<Vec<String>> = vaults
        .iter()
        .map(|v| {
            vec![
                v.name.clone(),
                v.entries.to_string(),
                format_rfc3339(v.created_at),
                v.managed_by.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    print_table(&["VAULT", "ENTRIES", "CREATED", "MANAGED_BY"], &rows)
}

pub fn environments(json: bool, envs: &[EnvInfo]) -> Result<()> {
    if json {
        let docs: Vec<Value> = envs
            .iter()
            .map(|e| json!({"name": e.name, "parent": e.parent, "created_at": format_rfc3339(e.created_at)}))
            .collect();
        return print_json(&docs);
    }
    let rows: Vec<Vec<String>> = envs
        .iter()
        .map(|e| vec![e.name.clone(), e.parent.clone().unwrap_or_else(|| "-".into()), format_rfc3339(e.created_at)])
        .collect();
    print_table(&["ENVIRONMENT", "PARENT", "CREATED"], &rows)
}

/// What an `ls -p` listed, for its footer: where, with which prefix, and how many entries of
/// each kind there were before `--secrets` or `--vars` kept one kind.
pub struct ListingSummary<'a> {
    /// `ENV/VAULT`.
    pub location: &'a str,
    pub prefix: &'a str,
    /// The kind `--secrets` or `--vars` kept, if either was given.
    pub only: Option<EntryKind>,
    pub secrets: usize,
    pub variables: usize,
}

impl ListingSummary<'_> {
    /// `3 entries in prod/app: 2 secrets, 1 variable`; with `--vars`, `1 variable shown (--vars)
    /// of 3 entries in prod/app: ...`, so a filtered listing never reads as the whole vault.
    fn footer(&self, shown: usize) -> String {
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let place = match self.prefix {
            "" => format!("in {}", self.location),
            prefix => format!("under {prefix} in {}", self.location),
        };
        let counts = format!(
            "{} {place}: {}, {}",
            plural(self.secrets + self.variables, "entry", "entries"),
            plural(self.secrets, "secret", "secrets"),
            plural(self.variables, "variable", "variables")
        );
        match self.only {
            None => counts,
            Some(EntryKind::Secret) => format!("{} shown (--secrets) of {counts}", plural(shown, "secret", "secrets")),
            Some(EntryKind::Variable) => {
                format!("{} shown (--vars) of {counts}", plural(shown, "variable", "variables"))
            }
        }
    }
}

/// `ls -p`: a boxed table (Unicode box drawing) with readable UTC times and who last edited each
/// entry, then a one-line summary. Secrets show as `********`, as in the plain table.
pub fn entries_pretty(items: &[(EntryMeta, Option<SecretValue>)], summary: &ListingSummary<'_>) -> Result<()> {
    let header = ["KEY", "KIND", "VERSION", "UPDATED (UTC)", "EDITED BY", "VALUE"];
    let rows: Vec<[String; 6]> = items
        .iter()
        .map(|(m, v)| {
            let mut updated = format_rfc3339(m.updated_at).replace('T', " ").trim_end_matches('Z').to_owned();
            if m.deleted_at.is_some() {
                updated.push_str(" (deleted)");
            }
            let value = match v {
                Some(v) => cell_value(v),
                None if m.kind == EntryKind::Secret => "********".into(),
                None => String::new(),
            };
            [m.key.clone(), m.kind.to_string(), m.version.to_string(), updated, m.edited_by.clone(), value]
        })
        .collect();
    out!("{}{}\n", boxed(&header, &rows), summary.footer(items.len()))
}

/// `kv get -p`: one entry's value in a box with its key, kind and version.
pub fn value_pretty(key: &str, kind: EntryKind, version: u64, value: &SecretValue) -> Result<()> {
    let row = [key.to_owned(), kind.to_string(), version.to_string(), cell_value(value)];
    write_out(boxed(&["KEY", "KIND", "VERSION", "VALUE"], &[row]).as_bytes())
}

/// Draws rows in a box; the VERSION column (index 2) is right-aligned.
fn boxed<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let widths = column_widths(header, rows.iter().map(|r| r.as_slice()));
    let rule = |l: &str, m: &str, r: &str| {
        let parts: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
        format!("{l}{}{r}\n", parts.join(m))
    };
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                let pad = w - columns(c);
                if i == 2 {
                    format!(" {}{c} ", " ".repeat(pad))
                } else {
                    format!(" {c}{} ", " ".repeat(pad))
                }
            })
            .collect();
        format!("│{}│\n", parts.join("│"))
    };
    let mut out = rule("┌", "┬", "┐");
    out.push_str(&line(header.to_vec()));
    out.push_str(&rule("├", "┼", "┤"));
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out.push_str(&rule("└", "┴", "┘"));
    out
}

#[cfg(test)]
mod pretty_tests {
    use super::columns;

    /// Every line of a box takes the same number of terminal columns, also when cells hold
    /// accented letters (one column, two bytes) or CJK characters (two columns, one char).
    #[test]
    fn boxes_align_by_terminal_columns() {
        let rows =
            [["é/a".to_owned(), "x".to_owned(), "10".to_owned()], ["密码".to_owned(), "y".to_owned(), "2".to_owned()]];
        let out = super::boxed(&["KEY", "N", "V"], &rows);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 6);
        assert!(lines.iter().all(|l| columns(l) == columns(lines[0])), "{out}");
        assert!(lines[3].contains("│ 10 │"), "{out}");
        assert!(lines[4].contains("│ 密码 │"), "{out}");
    }

    #[test]
    fn padding_counts_columns_not_bytes_or_chars() {
        assert_eq!(super::padded("é", 3), "é  ");
        assert_eq!(super::padded("密", 3), "密 ");
        assert_eq!(columns("密码"), 4);
    }
}
