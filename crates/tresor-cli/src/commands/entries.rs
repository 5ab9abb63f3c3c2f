//! The entry verbs: set (one, or many from a file), get, ls, rm, undelete, history, restore.

use super::{done, print_value, print_written};
use crate::args::{GetArgs, KeyArg, LsArgs, RestoreArgs, RmArgs, SetArgs};
use crate::backend::{Backend, DeleteMany};
use crate::error::exit;
use crate::error::{CliError, Result};
use crate::input;
use crate::output::{self, EntryView};
use crate::target::Target;
use serde_json::json;
use std::path::Path;
use tresor_model::{Access, EntryKey, EntryKind, EntryPath, PrincipalKind, PrincipalRef, SecretValue, Tag, VaultPath};
use tresor_service::SetEntry;
use tresor_store::ListQuery;

/// `get KEY [--version N]`.
pub(crate) async fn get(backend: &dyn Backend, scope: &Target, args: GetArgs) -> Result<i32> {
    let path = scope.entry(&args.key)?;
    let resolved = backend.get(&path, args.version).await?;
    print_value(scope, &path, &resolved)?;
    Ok(exit::OK)
}

/// `undelete KEY`.
pub(crate) async fn undelete(backend: &dyn Backend, scope: &Target, args: KeyArg) -> Result<i32> {
    let meta = backend.undelete(&scope.entry(&args.key)?, scope.on_managed).await?;
    print_written(scope, "restored deleted", &meta)?;
    Ok(exit::OK)
}

/// `history KEY`.
pub(crate) async fn history(backend: &dyn Backend, scope: &Target, args: KeyArg) -> Result<i32> {
    let versions = backend.history(&scope.entry(&args.key)?).await?;
    if scope.json {
        output::print_json(&output::history_json(&versions))?;
    } else {
        output::history_table(&versions)?;
    }
    Ok(exit::OK)
}

/// `restore KEY --version N`.
pub(crate) async fn restore(backend: &dyn Backend, scope: &Target, args: RestoreArgs) -> Result<i32> {
    let version = args.version;
    let meta = backend.restore(&scope.entry(&args.key)?, version, scope.on_managed).await?;
    print_written(scope, &format!("restored version {version} of"), &meta)?;
    Ok(exit::OK)
}

fn parse_tags(raw: &[String]) -> Result<Option<Vec<Tag>>> {
    if raw.is_empty() {
        return Ok(None);
    }
    raw.iter()
        .map(|t| match t.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok(Tag { key: k.to_owned(), value: v.to_owned() }),
            _ => Err(CliError::Usage(format!("tag {t:?} is not KEY=VALUE"))),
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

pub(crate) async fn set(backend: &dyn Backend, scope: &Target, args: SetArgs) -> Result<i32> {
    let kind = if args.variable { EntryKind::Variable } else { EntryKind::Secret };
    let tags = parse_tags(&args.tags)?;
    let groups = checked_groups(backend, &args.groups).await?;
    if let Some(file) = args.key.strip_prefix('@') {
        if args.value.is_some() || args.file.is_some() || args.cas.is_some() {
            return Err(CliError::Usage(
                "a bulk @FILE takes its values from the file; drop VALUE, --file and --cas".into(),
            ));
        }
        return set_bulk(backend, scope, Path::new(file), kind, tags, &groups).await;
    }
    let path = scope.entry(&args.key)?;
    let value = match args.value {
        Some(_) if kind == EntryKind::Secret => {
            return Err(CliError::Usage(format!(
                "a secret's value is never taken from the command line, where shell history and `ps` would keep it; \
                 pipe it on stdin, use --file, or run `tresor set {}` on a terminal to be prompted \
                 (use --var for a plain variable)",
                path.key
            )))
        }
        Some(v) => SecretValue::from(v),
        None => input::read_value(path.key.as_str(), args.file.as_deref())?,
    };
    let req = SetEntry {
        expected_version: args.cas,
        description: args.description,
        tags,
        ..SetEntry::new(path, kind, value)
    };
    write_entry(backend, scope, req, &groups).await
}

/// `-g GROUP:ACCESS` arguments parsed, and the groups checked to exist before anything is read or
/// written (so a missing group, or local mode, fails cleanly).
pub(crate) async fn checked_groups(backend: &dyn Backend, raw: &[String]) -> Result<Vec<(String, Access)>> {
    let groups = parse_groups(raw)?;
    if !groups.is_empty() {
        backend.check_groups(&groups.iter().map(|(g, _)| g.clone()).collect::<Vec<_>>()).await?;
    }
    Ok(groups)
}

/// Writes one entry, grants `groups` their access on it, and prints what was done. `tresor set`
/// and the platforms' write verbs all come through here, whatever rule gave them the value.
pub(crate) async fn write_entry(
    backend: &dyn Backend,
    scope: &Target,
    req: SetEntry,
    groups: &[(String, Access)],
) -> Result<i32> {
    let granted_path = req.path.clone();
    let meta = backend.set(req, scope.on_managed).await?;
    if groups.is_empty() {
        print_written(scope, "set", &meta)?;
        return Ok(exit::OK);
    }
    let granted = grant_groups(backend, &granted_path, groups).await?;
    let mut view = serde_json::to_value(EntryView::new(&meta, None)).expect("serializable");
    view["vault"] = json!(scope.vault);
    view["environment"] = json!(scope.env);
    view["grants"] = granted.iter().map(Granted::json).collect();
    done(scope, view, || {
        let mut out =
            format!("set {} {} (version {}) in {}/{}", meta.kind, meta.key, meta.version, scope.env, scope.vault);
        for g in &granted {
            out.push('\n');
            out.push_str(&g.line());
        }
        out
    })?;
    Ok(exit::OK)
}

/// `-g GROUP:ACCESS` arguments: a group name and `read` or `write`.
fn parse_groups(raw: &[String]) -> Result<Vec<(String, Access)>> {
    raw.iter()
        .map(|g| {
            let usage = || {
                CliError::Usage(format!(
                    "-g {g:?}: write GROUP:ACCESS with ACCESS read or write, e.g. -g readers:read -g ops:write"
                ))
            };
            let (name, access) = g.split_once(':').ok_or_else(usage)?;
            let access = match access.to_ascii_lowercase().as_str() {
                "read" | "r" => Access::Read,
                "write" | "w" => Access::Write,
                _ => return Err(usage()),
            };
            let group = PrincipalRef::new(PrincipalKind::Group, name)?;
            Ok((group.name, access))
        })
        .collect()
}

/// A grant made by `set -g`.
struct Granted {
    group: String,
    access: Access,
    scope: String,
}

impl Granted {
    fn json(&self) -> serde_json::Value {
        json!({"principal": format!("group:{}", self.group), "access": self.access, "scope": self.scope})
    }

    fn line(&self) -> String {
        format!("granted group:{} {} on {}", self.group, self.access, self.scope)
    }
}

/// Grants each group its access on exactly `path` (`ENV/VAULT/KEY`); returns what was granted.
async fn grant_groups(backend: &dyn Backend, path: &EntryPath, groups: &[(String, Access)]) -> Result<Vec<Granted>> {
    let mut granted = Vec::new();
    for (group, access) in groups {
        backend.grant_group(group, path, *access).await?;
        let scope = path.scope_text();
        granted.push(Granted { group: group.clone(), access: *access, scope });
    }
    Ok(granted)
}

pub async fn set_bulk(
    backend: &dyn Backend,
    scope: &Target,
    file: &Path,
    kind: EntryKind,
    tags: Option<Vec<Tag>>,
    groups: &[(String, Access)],
) -> Result<i32> {
    let pairs = input::read_bulk(file)?;
    // Validate every name before writing anything, so a typo on line 40 does not leave 39 written.
    let paths = pairs
        .iter()
        .map(|(k, _)| scope.entry(k).map_err(|e| CliError::Usage(format!("{}: {e}", file.display()))))
        .collect::<Result<Vec<_>>>()?;
    let reqs = paths
        .into_iter()
        .zip(pairs)
        .map(|(path, (_, value))| SetEntry { tags: tags.clone(), ..SetEntry::new(path, kind, value) })
        .collect();
    // All or none: one transaction, so a bad entry on line 40 leaves nothing of the file written.
    let written = match backend.set_many(reqs, scope.on_managed).await {
        Ok(written) => written,
        Err(e @ (CliError::Service(_) | CliError::Remote { .. })) => {
            eprintln!("error: {}: {e}", file.display());
            eprintln!("nothing of the file was written");
            return Ok(e.exit_code());
        }
        Err(e) => return Err(e),
    };
    let mut granted = Vec::new();
    for m in &written {
        granted.extend(grant_groups(backend, &scope.entry(&m.key)?, groups).await?);
    }
    if scope.json {
        let docs: Vec<_> = written.iter().map(|m| EntryView::new(m, None)).collect();
        output::print_json(&docs)?;
    } else {
        let mut lines = String::new();
        for m in &written {
            lines.push_str(&format!(
                "set {} {} (version {}) in {}/{}\n",
                m.kind, m.key, m.version, scope.env, scope.vault
            ));
        }
        for g in &granted {
            lines.push_str(&g.line());
            lines.push('\n');
        }
        output::write_out(lines.as_bytes())?;
    }
    Ok(exit::OK)
}

/// Every entry of a vault under `prefix`, page by page: metadata, and variables' values.
pub(crate) async fn list_all(
    backend: &dyn Backend,
    vault: &VaultPath,
    prefix: &str,
    include_deleted: bool,
) -> Result<Vec<(tresor_model::EntryMeta, Option<SecretValue>)>> {
    const PAGE: u32 = 1000;
    let mut query = ListQuery { prefix: prefix.to_owned(), after: None, limit: PAGE, include_deleted };
    let mut items = Vec::new();
    loop {
        let page = backend.list(vault, &query).await?;
        let full = page.len() == PAGE as usize;
        query.after = page.last().map(|l| l.meta.key.clone());
        items.extend(page.into_iter().map(|l| (l.meta, l.variable_value)));
        if !full {
            break;
        }
    }
    Ok(items)
}

pub(crate) async fn ls(backend: &dyn Backend, scope: &Target, args: LsArgs) -> Result<i32> {
    let prefix = args.prefix.unwrap_or_default();
    let mut items = list_all(backend, &scope.vault_path(), &prefix, args.deleted).await?;
    let secrets = items.iter().filter(|(m, _)| m.kind == EntryKind::Secret).count();
    let summary = output::ListingSummary {
        location: &format!("{}/{}", scope.env, scope.vault),
        prefix: &prefix,
        only: match (args.secrets, args.vars) {
            (true, _) => Some(EntryKind::Secret),
            (_, true) => Some(EntryKind::Variable),
            _ => None,
        },
        secrets,
        variables: items.len() - secrets,
    };
    items.retain(|(m, _)| summary.only.is_none_or(|kind| m.kind == kind));
    if scope.json {
        let docs: Vec<_> = items.iter().map(|(m, v)| EntryView::new(m, v.as_ref())).collect();
        output::print_json(&docs)?;
    } else if args.pretty {
        output::entries_pretty(&items, &summary)?;
    } else {
        output::entries_table(&items)?;
    }
    Ok(exit::OK)
}

pub(crate) async fn rm(backend: &dyn Backend, scope: &Target, args: RmArgs) -> Result<i32> {
    let removed = remove(backend, scope, &args.keys, args.purge).await?;
    let verb = if args.purge { "purged" } else { "deleted" };
    done(scope, json!({ verb: removed }), || {
        removed.iter().map(|k| format!("{verb} {k}")).collect::<Vec<_>>().join("\n")
    })?;
    Ok(exit::OK)
}

/// Deletes (or purges) keys of a vault, all or none: every name is checked first, then one call
/// deletes them in one transaction, or fails naming each key that does not exist. Answers the
/// keys deleted, each once. `tresor rm` (and through it the platforms' delete verbs) comes here.
async fn remove(backend: &dyn Backend, scope: &Target, keys: &[String], purge: bool) -> Result<Vec<String>> {
    let keys = keys.iter().map(|k| EntryKey::new(k.as_str())).collect::<std::result::Result<Vec<_>, _>>()?;
    let vault = scope.vault_path();
    backend.delete_many(DeleteMany { vault: &vault, keys: &keys, purge, on_managed: scope.on_managed }).await
}
