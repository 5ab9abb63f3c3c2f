//! The verbs. Each one parses its arguments into model types, calls the backend and prints.

use crate::args::{Command, EnvCommand, Global, LsArgs, RmArgs, SetArgs, VaultCommand};
use crate::backend::Backend;
use crate::error::exit;
use crate::error::{CliError, Result};
use crate::input;
use crate::output::{self, outln, EntryView};
use serde_json::json;
use std::io::IsTerminal;
use std::path::Path;
use tresor_model::{
    Access, EntryKey, EntryKind, EntryPath, EnvName, PrincipalKind, PrincipalRef, SecretValue, Tag, VaultName,
    VaultPath, WorkspaceName,
};
use tresor_service::SetEntry;
use tresor_store::ListQuery;

/// The resolved global options: where commands act.
#[derive(Clone)]
pub struct Scope {
    pub workspace: WorkspaceName,
    pub env: EnvName,
    pub vault: VaultName,
    pub json: bool,
    /// `--yes`: confirm without asking.
    pub yes: bool,
}

impl Scope {
    pub fn from_global(g: &Global) -> Result<Self> {
        Ok(Self {
            workspace: WorkspaceName::new(g.workspace.as_str())?,
            env: EnvName::new(g.env.as_str())?,
            vault: VaultName::new(g.vault.as_str())?,
            json: g.json,
            yes: g.yes,
        })
    }

    pub fn vault_path(&self) -> VaultPath {
        VaultPath { workspace: self.workspace.clone(), environment: self.env.clone(), vault: self.vault.clone() }
    }

    pub(crate) fn vault_named(&self, name: &str) -> Result<VaultPath> {
        Ok(VaultPath { vault: VaultName::new(name)?, ..self.vault_path() })
    }

    pub(crate) fn entry(&self, key: &str) -> Result<EntryPath> {
        Ok(self.vault_path().entry(EntryKey::new(key)?))
    }
}

/// Runs one command; returns the exit code for outcomes that are not errors but not success either
/// (a bulk `set @FILE` that wrote nothing, a webhook answered with an error status).
pub async fn run(backend: &dyn Backend, scope: &Scope, command: Command) -> Result<i32> {
    // A change to a vault that a declarative config manages: warn, and release it if confirmed.
    match &command {
        Command::Set(_) | Command::Rm(_) | Command::Undelete(_) | Command::Restore(_) => {
            crate::config_cmd::confirm_managed(backend, scope, &scope.vault_path()).await?
        }
        Command::Vault(VaultCommand::Rm { name }) => {
            crate::config_cmd::confirm_managed(backend, scope, &scope.vault_named(name)?).await?
        }
        _ => {}
    }
    match command {
        Command::Plan(args) => crate::config_cmd::plan(backend, scope, args).await,
        Command::Apply(args) => crate::config_cmd::apply(backend, scope, args).await,
        Command::Import(args) => crate::config_cmd::import(backend, scope, args).await,
        Command::Export(args) => crate::config_cmd::export(backend, scope, args).await,
        Command::Set(args) => set(backend, scope, args).await,
        Command::Get(args) => {
            let path = scope.entry(&args.key)?;
            let resolved = backend.get(&path, args.version).await?;
            print_value(scope, &path, &resolved)?;
            Ok(exit::OK)
        }
        Command::Kv(cmd) => crate::platforms::datatailr::run(backend, scope, cmd).await,
        Command::Secret(cmd) => crate::platforms::tailor::run(backend, scope, cmd).await,
        Command::Wf(cmd) => crate::platforms::treasure_data::run(backend, scope, cmd).await,
        Command::Ls(args) => ls(backend, scope, args).await,
        Command::Rm(args) => rm(backend, scope, args).await,
        Command::Undelete(args) => {
            let meta = backend.undelete(&scope.entry(&args.key)?).await?;
            print_written(scope, "restored deleted", &meta)?;
            Ok(exit::OK)
        }
        Command::History(args) => {
            let versions = backend.history(&scope.entry(&args.key)?).await?;
            if scope.json {
                output::print_json(&output::history_json(&versions))?;
            } else {
                output::history_table(&versions)?;
            }
            Ok(exit::OK)
        }
        Command::Restore(args) => {
            let version = args.version;
            let meta = backend.restore(&scope.entry(&args.key)?, version).await?;
            print_written(scope, &format!("restored version {version} of"), &meta)?;
            Ok(exit::OK)
        }
        Command::Vault(cmd) => {
            match cmd {
                VaultCommand::Create { name } => {
                    let vault = scope.vault_named(&name)?;
                    backend.create_vault(&vault).await?;
                    done(scope, json!({"created": "vault", "vault": name, "environment": scope.env}), || {
                        format!("created vault {name} in environment {}", scope.env)
                    })?;
                }
                VaultCommand::Ls => {
                    let vaults = backend.list_vaults(&scope.env).await?;
                    output::vaults(scope.json, &vaults)?;
                }
                VaultCommand::Rm { name } => {
                    backend.delete_vault(&scope.vault_named(&name)?).await?;
                    done(scope, json!({"deleted": "vault", "vault": name, "environment": scope.env}), || {
                        format!("deleted vault {name} from environment {}", scope.env)
                    })?;
                }
            }
            Ok(exit::OK)
        }
        Command::Init(_)
        | Command::Serve(_)
        | Command::Backup(_)
        | Command::Audit(_)
        | Command::Token(_)
        | Command::Principal(_)
        | Command::Group(_)
        | Command::Grant(_)
        | Command::Whoami
        | Command::AppKey(_) => unreachable!("dispatched in main"),
        Command::Run(args) => crate::exec::run(backend, scope, args).await,
        Command::Webhook(crate::args::WebhookCommand::Send { file }) => {
            let text = read_file_or_stdin(&file, "the webhook request")?;
            let doc: tresor_client::WebhookBody = serde_json::from_str(&text).map_err(|e| {
                CliError::Usage(format!(
                    "{file} is not a webhook request with method, url, headers and body (line {} column {})",
                    e.line(),
                    e.column()
                ))
            })?;
            let req = tresor_service::WebhookRequest {
                method: doc.method,
                url: doc.url,
                headers: doc.headers,
                body: doc.body,
                environment: match doc.environment {
                    Some(e) => EnvName::new(e)?,
                    None => scope.env.clone(),
                },
            };
            let answer = backend.send_webhook(req).await?;
            if scope.json {
                output::print_json(
                    &json!({"status": answer.status, "headers": answer.headers.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(), "body": answer.body}),
                )?;
            } else {
                outln!("HTTP {}\n{}", answer.status, answer.body)?;
            }
            Ok(if (200..300).contains(&answer.status) { exit::OK } else { exit::INTERNAL })
        }
        Command::Redact(args) => crate::exec::redact(backend, scope, args).await,
        Command::Render(args) => {
            let template = read_file_or_stdin(&args.file, "the template")?;
            // A .json file is a JSON document: values inside its strings must be JSON-escaped, or
            // a value holding `"` or `\` would break it.
            let named_json = Path::new(&args.file).extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
            let req = tresor_service::RenderRequest {
                template,
                json: args.json_doc || (named_json && !args.text),
                environment: scope.env.clone(),
                vault: scope.vault.clone(),
                allow: (!args.allow.is_empty()).then_some(args.allow),
                map: args.map,
            };
            let out = backend.render(req).await?;
            output::write_out(out.as_bytes())?;
            Ok(exit::OK)
        }
        Command::Environment(cmd) => {
            match cmd {
                EnvCommand::Create { name, parent } => {
                    let env = EnvName::new(name.as_str())?;
                    let parent = parent.map(EnvName::new).transpose()?;
                    backend.create_environment(&env, parent.as_ref()).await?;
                    done(scope, json!({"created": "environment", "environment": env, "parent": parent}), || {
                        match &parent {
                            Some(p) => format!("created environment {env} (branch of {p})"),
                            None => format!("created environment {env}"),
                        }
                    })?;
                }
                EnvCommand::Ls => {
                    let envs = backend.list_environments().await?;
                    output::environments(scope.json, &envs)?;
                }
            }
            Ok(exit::OK)
        }
    }
}

/// `get`'s output: the value as it is (a newline added on a terminal), or with `--json` a
/// document with its key, version and kind, and the value as the API gives it: `value` when it
/// is text, `value_base64` when it is not.
pub(crate) fn print_value(scope: &Scope, path: &EntryPath, resolved: &tresor_service::Resolved) -> Result<()> {
    if scope.json {
        let mut doc = json!({"key": path.key, "version": resolved.meta.version, "kind": resolved.meta.kind});
        match tresor_client::encode_value(resolved.value.expose()) {
            (Some(text), _) => doc["value"] = json!(text),
            (_, b64) => doc["value_base64"] = json!(b64),
        }
        output::print_json(&doc)
    } else {
        output::write_out(resolved.value.expose())?;
        if std::io::stdout().is_terminal() {
            output::write_out(b"\n")?;
        }
        Ok(())
    }
}

/// The text of `path`, or of stdin when `path` is `-`.
pub(crate) fn read_file_or_stdin(path: &str, what: &str) -> Result<String> {
    if path == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| CliError::Usage(format!("reading {what} from stdin: {e}")))?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).map_err(|e| CliError::Usage(format!("cannot read {what} {path}: {e}")))
    }
}

pub(crate) fn done(scope: &Scope, doc: serde_json::Value, human: impl FnOnce() -> String) -> Result<()> {
    if scope.json {
        output::print_json(&doc)
    } else {
        outln!("{}", human())
    }
}

fn print_written(scope: &Scope, verb: &str, meta: &tresor_model::EntryMeta) -> Result<()> {
    let mut view = serde_json::to_value(EntryView::new(meta, None)).expect("serializable");
    view["vault"] = json!(scope.vault);
    view["environment"] = json!(scope.env);
    done(scope, view, || {
        format!("{verb} {} {} (version {}) in {}/{}", meta.kind, meta.key, meta.version, scope.env, scope.vault)
    })
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

async fn set(backend: &dyn Backend, scope: &Scope, args: SetArgs) -> Result<i32> {
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
        path,
        kind,
        value,
        expected_version: args.cas,
        description: args.description,
        tags,
        expires_at: None,
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
    scope: &Scope,
    req: SetEntry,
    groups: &[(String, Access)],
) -> Result<i32> {
    let granted_path = req.path.clone();
    let meta = backend.set(req).await?;
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
        let scope = format!("{}/{}/{}", path.environment, path.vault, path.key);
        granted.push(Granted { group: group.clone(), access: *access, scope });
    }
    Ok(granted)
}

pub async fn set_bulk(
    backend: &dyn Backend,
    scope: &Scope,
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
        .map(|(path, (_, value))| SetEntry {
            path,
            kind,
            value,
            expected_version: None,
            description: None,
            tags: tags.clone(),
            expires_at: None,
        })
        .collect();
    // All or none: one transaction, so a bad entry on line 40 leaves nothing of the file written.
    let written = match backend.set_many(reqs).await {
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

pub(crate) async fn ls(backend: &dyn Backend, scope: &Scope, args: LsArgs) -> Result<i32> {
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

pub(crate) async fn rm(backend: &dyn Backend, scope: &Scope, args: RmArgs) -> Result<i32> {
    let removed = remove(backend, &scope.vault_path(), &args.keys, args.purge).await?;
    let verb = if args.purge { "purged" } else { "deleted" };
    done(scope, json!({ verb: removed }), || {
        removed.iter().map(|k| format!("{verb} {k}")).collect::<Vec<_>>().join("\n")
    })?;
    Ok(exit::OK)
}

/// Deletes (or purges) keys of a vault, all or none: every name is checked first, then one call
/// deletes them in one transaction, or fails naming each key that does not exist. Answers the
/// keys deleted, each once. `tresor rm` (and through it the platforms' delete verbs) comes here.
async fn remove(backend: &dyn Backend, vault: &VaultPath, keys: &[String], purge: bool) -> Result<Vec<String>> {
    let keys = keys.iter().map(|k| EntryKey::new(k.as_str())).collect::<std::result::Result<Vec<_>, _>>()?;
    backend.delete_many(vault, &keys, purge).await
}
