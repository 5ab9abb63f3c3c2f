//! Declarative config (`plan`, `apply`), `import`/`export`, and the confirmation that a change to
//! a managed vault releases it. Written once against [`Backend`]: local and server mode run the
//! same service methods.

use crate::args::{ConfigArgs, ExportArgs, ImportArgs};
use crate::backend::Backend;
use crate::env_names;
use crate::error::exit;
use crate::error::{CliError, Result};
use crate::output;
use crate::target::Target;
use std::io::{IsTerminal, Write};
use tresor_model::{EntryKind, EnvName, OnManaged, SecretValue, VaultPath};
use tresor_service::{DesiredState, Plan, ServiceError};

/// Reads and parses a config file, resolving `${env:NAME}` from the process environment. A vault
/// that names no environment is in `-e`'s (or `TRESOR_ENV`'s, else `default`).
fn load(args: &ConfigArgs, scope: &Target) -> Result<DesiredState> {
    parse_file(args, &scope.env, &|name| std::env::var(name).ok())
}

/// Reads and parses `args.file`, resolving `${env:NAME}` through `lookup`.
pub(crate) fn parse_file(
    args: &ConfigArgs,
    env: &EnvName,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<DesiredState> {
    let shown = args.file.display().to_string();
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(&args.file).map_err(|e| CliError::Usage(format!("cannot read {shown}: {e}")))?,
    );
    tresor_config::parse(&text, &shown, env, lookup).map_err(|e| CliError::Usage(e.to_string()))
}

fn print_plan(scope: &Target, plan: &Plan) -> Result<()> {
    if scope.json {
        output::print_json(plan)
    } else {
        output::write_out(plan.render().as_bytes())
    }
}

/// Asks y/N on the terminal; `false` when stdin is not a terminal.
pub(crate) fn ask(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| CliError::Io(format!("reading the answer: {e}")))?;
    Ok(matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// `tresor plan`: exit 0 when nothing would change, [`exit::CHANGES_PENDING`] otherwise.
pub async fn plan(backend: &dyn Backend, scope: &Target, args: ConfigArgs) -> Result<i32> {
    let desired = load(&args, scope)?;
    let plan = backend.plan_config(&desired).await?;
    print_plan(scope, &plan)?;
    Ok(if plan.is_empty() { exit::OK } else { exit::CHANGES_PENDING })
}

/// `tresor apply`: prints the plan, asks before deletions and take-overs (or `--yes`), applies.
pub async fn apply(backend: &dyn Backend, scope: &Target, args: ConfigArgs) -> Result<i32> {
    let desired = load(&args, scope)?;
    let plan = backend.plan_config(&desired).await?;
    if plan.is_empty() {
        print_plan(scope, &plan)?;
        return Ok(exit::OK);
    }
    let to_confirm = plan.to_confirm().count();
    let mut confirm = scope.yes;
    if to_confirm > 0 && !confirm {
        if !scope.json {
            output::write_out(plan.render().as_bytes())?;
        }
        if !std::io::stdin().is_terminal() {
            return Err(CliError::Service(ServiceError::Conflict(format!(
                "the plan has {to_confirm} change(s) that delete something or take over a vault; \
                 nothing was applied. Review it with `tresor plan`, then run `tresor apply --yes`"
            ))));
        }
        if !ask(&format!("Apply, including {to_confirm} change(s) marked [needs confirmation]?"))? {
            return Err(CliError::Usage("apply cancelled; nothing was applied".into()));
        }
        confirm = true;
    }
    let applied = backend.apply_config(&desired, confirm).await?;
    print_plan(scope, &applied)?;
    Ok(exit::OK)
}

/// Before a change to `vault`: when a declarative config manages it, warn, and with `--yes` or a
/// "y" on the terminal let the change release it. Otherwise the service refuses the change and
/// says how to proceed.
///
/// The check costs a vault listing (a management call), so it is made only when it can change
/// something: with `--yes` (to warn) or on a terminal (to ask). A script without `--yes` makes
/// no hidden call; the service refuses a change to a managed vault itself, saying to use `--yes`.
pub async fn confirm_managed(backend: &dyn Backend, scope: &Target, vault: &VaultPath) -> Result<Target> {
    let refused = scope.clone();
    if !scope.yes && !std::io::stdin().is_terminal() {
        return Ok(refused);
    }
    let Ok(vaults) = backend.list_vaults(&vault.environment).await else { return Ok(refused) };
    let Some(config) = vaults.into_iter().find(|v| v.name == vault.vault.as_str()).and_then(|v| v.managed_by) else {
        return Ok(refused);
    };
    eprintln!(
        "warning: vault {vault} is managed by config {config}; changing it here releases it from the config \
         (the next `tresor apply` asks before taking it back)"
    );
    if scope.yes || ask("Change it and release the vault?")? {
        return Ok(Target { on_managed: OnManaged::Release, ..refused });
    }
    Ok(refused)
}

/// `tresor import FILE`: the bulk parser of `set @FILE`.
pub async fn import(backend: &dyn Backend, scope: &Target, args: ImportArgs) -> Result<i32> {
    let scope = &confirm_managed(backend, scope, &scope.vault_path()).await?;
    let kind = if args.variable { EntryKind::Variable } else { EntryKind::Secret };
    crate::commands::set_bulk(backend, scope, &args.file, kind, None, &[]).await
}

/// `tresor export`: variables with values; secrets by name only unless `--reveal`, whose reads go
/// through the normal (granted, audited) resolution path.
pub async fn export(backend: &dyn Backend, scope: &Target, args: ExportArgs) -> Result<i32> {
    let vault = scope.vault_path();
    let mut items: Vec<(String, EntryKind, Option<SecretValue>)> =
        crate::commands::list_all(backend, &vault, "", false)
            .await?
            .into_iter()
            .map(|(meta, value)| (meta.key, meta.kind, value))
            .collect();
    if args.reveal {
        let secrets: Vec<String> =
            items.iter().filter(|(_, k, _)| *k == EntryKind::Secret).map(|(key, _, _)| key.clone()).collect();
        if !secrets.is_empty() {
            let mut values: std::collections::HashMap<String, SecretValue> =
                backend.get_many(&vault, &secrets).await?.into_iter().collect();
            for (key, _, value) in items.iter_mut() {
                if let Some(v) = values.remove(key.as_str()) {
                    *value = Some(v);
                }
            }
        }
    }
    let allowed = env_names::Allowed::new(&args.allow_env).map_err(CliError::Usage)?;
    let (text, skipped) = render_export(&args.format, &items, &allowed)?;
    if !skipped.not_shell_names.is_empty() {
        eprintln!(
            "tresor: not exported, as a shell does not accept these names (use --format yaml or json for them, \
             or `tresor run`, which turns db/password into DB_PASSWORD): {}",
            skipped.not_shell_names.join(", ")
        );
    }
    if !skipped.refused.is_empty() {
        eprintln!(
            "tresor: not exported, as these names change how programs load or run and whoever may write the vault \
             could plant them to run code where the file is sourced; allow each one you trust with \
             --allow-env NAME:\n{}",
            skipped.refused.join("\n")
        );
    }
    output::write_out(text.as_bytes())?;
    Ok(exit::OK)
}

const HIDDEN: &str = "secret: value not exported (use --reveal)";

fn text_of(key: &str, v: &SecretValue) -> Result<String> {
    v.expose_str()
        .map(str::to_owned)
        .ok_or_else(|| CliError::Usage(format!("{key}: its value is not UTF-8 text and cannot be exported")))
}

/// What `--format env` left out, by name.
#[derive(Default)]
struct Skipped {
    /// Keys that are not `[A-Za-z_][A-Za-z0-9_]*`: a shell would read `db/password=...` as a command.
    not_shell_names: Vec<String>,
    /// Names refused as for `tresor run` (with why), and not allowed with `--allow-env`.
    refused: Vec<String>,
}

/// Appends the value single-quoted: `'…'`, with each `'` written `'\''`. Inside single quotes a
/// POSIX shell expands nothing (no `$`, backquote, backslash or `!`), so sourcing the file gives
/// back the value byte for byte, line breaks included. Each backslash is also written outside the
/// quotes, as `'\\'`: a shell reads that as one backslash too, and dotenvy (`tresor import`,
/// `run --env-file`), whose line reader takes `\'` inside single quotes for an escaped quote
/// although its value parser does not, then reads the same value as the shell. Written straight
/// into the (zeroizing) output rather than through a temporary copy of the value.
fn push_shell_quoted(out: &mut String, value: &str) {
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("'\\''"),
            '\\' => out.push_str("'\\\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

fn render_export(
    format: &str,
    items: &[(String, EntryKind, Option<SecretValue>)],
    allowed: &env_names::Allowed<'_>,
) -> Result<(zeroize::Zeroizing<String>, Skipped)> {
    let mut out = zeroize::Zeroizing::new(String::new());
    let mut skipped = Skipped::default();
    match format {
        "json" => {
            let mut map = serde_json::Map::new();
            for (key, _, value) in items {
                let v = match value {
                    Some(v) => serde_json::Value::String(text_of(key, v)?),
                    None => serde_json::Value::Null,
                };
                map.insert(key.clone(), v);
            }
            out.push_str(&serde_json::to_string_pretty(&map).expect("serializable"));
            out.push('\n');
        }
        "yaml" => {
            for (key, _, value) in items {
                // JSON strings are valid YAML double-quoted scalars.
                let k = serde_json::to_string(key).expect("serializable");
                match value {
                    Some(v) => out.push_str(&format!(
                        "{k}: {}\n",
                        serde_json::to_string(&text_of(key, v)?).expect("serializable")
                    )),
                    None => out.push_str(&format!("{k}: null  # {HIDDEN}\n")),
                }
            }
        }
        // A file meant to be sourced (`set -a; . ./file`) or read as a .env: only names a shell
        // accepts, never one refused as for `tresor run` unless allowed, and every value single-quoted.
        _ => {
            for (key, _, value) in items {
                if !env_names::is_shell_name(key) {
                    skipped.not_shell_names.push(key.clone());
                    continue;
                }
                if let Err(refusal) = allowed.check(key) {
                    skipped.refused.push(format!("  {key}: {refusal}"));
                    continue;
                }
                match value {
                    Some(v) => {
                        let text = zeroize::Zeroizing::new(text_of(key, v)?);
                        if text.contains('\0') {
                            return Err(CliError::Usage(format!(
                                "{key}: its value holds a NUL byte, which a shell variable cannot hold; export it \
                                 with --format json"
                            )));
                        }
                        out.push_str(key);
                        out.push('=');
                        push_shell_quoted(&mut out, &text);
                        out.push('\n');
                    }
                    None => out.push_str(&format!("# {key}: {HIDDEN}\n{key}=\n")),
                }
            }
        }
    }
    Ok((out, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn export_env(items: &[(&str, &str)]) -> (String, Skipped) {
        let items: Vec<_> =
            items.iter().map(|(k, v)| (k.to_string(), EntryKind::Variable, Some(SecretValue::from(*v)))).collect();
        let (out, skipped) = render_export("env", &items, &env_names::Allowed::new(&[]).unwrap()).unwrap();
        (out.to_string(), skipped)
    }

    #[test]
    fn env_values_are_single_quoted_and_names_filtered() {
        let (out, skipped) = export_env(&[
            ("planted", "`touch PWNED`"),
            ("quote", "it's"),
            ("db/password", "x"),
            ("LD_PRELOAD", "/x.so"),
            ("_1", "$(id)"),
        ]);
        assert_eq!(out, "planted='`touch PWNED`'\nquote='it'\\''s'\n_1='$(id)'\n");
        assert_eq!(skipped.not_shell_names, ["db/password"]);
        assert_eq!(skipped.refused.len(), 1);
        assert!(skipped.refused[0].starts_with("  LD_PRELOAD: "));
    }

    proptest! {
        /// Whatever the value, dotenvy (the parser of `tresor import` and `--env-file`) reads the
        /// exported line back as exactly one variable with exactly that value.
        #[test]
        fn dotenvy_reads_back_every_value(value in "[^\\x00]{0,40}|[\\\\'\"`$#= a\n\r\t{}()]{0,16}") {
            let (out, _) = export_env(&[("NAME", &value)]);
            let read: Vec<(String, String)> =
                dotenvy::from_read_iter(out.as_bytes()).collect::<std::result::Result<_, _>>().unwrap();
            prop_assert_eq!(read, vec![("NAME".to_owned(), value)]);
        }
    }
}
