//! Treasure Data Workflows' `td wf secrets` shape: `tresor wf secrets --project P [--set KEY |
//! --set @FILE | --delete KEY...]`.
//!
//! A project is a vault (`--project` is tresor's global alias of `--vault`; without it, the
//! vault `default`), created by the project's first `--set`, as a TD project's secrets exist with
//! the project. `--set KEY` asks for the value at a hidden prompt on a terminal and reads stdin
//! otherwise: it never takes the value as an argument. `--local` is tresor's local mode.

use crate::args::RmArgs;
use crate::backend::Backend;
use crate::commands;
use crate::error::{exit, CliError, Result};
use crate::target::Target;
use crate::{input, output};
use clap::{Args, Subcommand};
use std::path::Path;
use tresor_model::{EntryKind, ErrorKind, VaultName};
use tresor_service::SetEntry;

#[derive(Debug, Subcommand)]
pub enum WfCommand {
    /// A project's secrets (`td wf secrets`): list them (names only), --set one or a file of
    /// them, --delete some. The project is --project P (the vault P), else the vault `default`.
    Secrets(SecretsArgs),
}

#[derive(Debug, Args)]
pub struct SecretsArgs {
    /// Set a secret: KEY asks for its value at a hidden prompt on a terminal, else reads stdin;
    /// @FILE sets every name of a YAML, JSON or .env file, all or none.
    #[arg(long, value_name = "KEY|@FILE", conflicts_with = "delete")]
    pub set: Option<String>,
    /// Delete these secrets, all or none (recoverable with `tresor undelete` until purged).
    #[arg(long, value_name = "KEY", num_args = 1..)]
    pub delete: Vec<String>,
}

pub async fn run(backend: &dyn Backend, scope: &Target, cmd: WfCommand) -> Result<i32> {
    let WfCommand::Secrets(args) = cmd;
    if let Some(target) = args.set {
        return set(backend, scope, &target).await;
    }
    if !args.delete.is_empty() {
        let scope = &crate::config_cmd::confirm_managed(backend, scope, &scope.vault_path()).await?;
        return commands::rm(backend, scope, RmArgs { keys: args.delete, purge: false }).await;
    }
    list(backend, scope).await
}

async fn set(backend: &dyn Backend, scope: &Target, target: &str) -> Result<i32> {
    let project = &scope.vault;
    if let Some(file) = target.strip_prefix('@') {
        ensure_project(backend, scope).await?;
        let scope = &crate::config_cmd::confirm_managed(backend, scope, &scope.vault_path()).await?;
        return commands::set_bulk(backend, scope, Path::new(file), EntryKind::Secret, None, &[]).await;
    }
    if let Some((name, _)) = target.split_once('=') {
        return Err(CliError::Hinted {
            kind: ErrorKind::Invalid,
            message: "--set takes a secret's name (or @FILE), not NAME=VALUE: a value on the command line stays \
                      in shell history and is visible to `ps`; nothing was set"
                .into(),
            hint: format!(
                "run `tresor wf secrets --project {project} --set {name}` and type the value at the prompt, or pipe \
                 it: `printf '%s' \"$VALUE\" | tresor wf secrets --project {project} --set {name}`"
            ),
        });
    }
    let path = scope.entry(target)?;
    ensure_project(backend, scope).await?;
    let scope = &crate::config_cmd::confirm_managed(backend, scope, &scope.vault_path()).await?;
    let value = input::read_value(target, None)?;
    let req = SetEntry::new(path, EntryKind::Secret, value);
    commands::write_entry(backend, scope, req, &[]).await
}

/// Creates the project's vault if it does not exist yet (and, in local mode, its environment),
/// saying so on stderr.
async fn ensure_project(backend: &dyn Backend, scope: &Target) -> Result<()> {
    if scope.vault == VaultName::default_name() {
        return Ok(());
    }
    let exists = match backend.list_vaults(&scope.env).await {
        Ok(vaults) => vaults.iter().any(|v| v.name == scope.vault.as_str()),
        // No such environment yet: local mode creates it with the vault; a server says so.
        Err(e) if e.kind() == Some(ErrorKind::NotFound) => false,
        Err(e) => return Err(e),
    };
    if exists {
        return Ok(());
    }
    match backend.create_vault(&scope.vault_path()).await {
        Ok(()) => {
            eprintln!("created vault {} in environment {} for project {}", scope.vault, scope.env, scope.vault);
            Ok(())
        }
        // Created by someone else meanwhile.
        Err(e) if e.kind() == Some(ErrorKind::AlreadyExists) => Ok(()),
        Err(e) if e.kind() == Some(ErrorKind::Denied) => Err(e.with_hint(format!(
            "project {p} has no vault yet, and creating it needs manage access; ask an admin to run \
             `tresor -e {env} vault create {p}`",
            p = scope.vault,
            env = scope.env
        ))),
        Err(e) => Err(e),
    }
}

/// `td wf secrets --project P`: the project's secret names, one a line (never values); with
/// --json, the entries' metadata.
async fn list(backend: &dyn Backend, scope: &Target) -> Result<i32> {
    let project_hint = |e: CliError| match e.kind() {
        Some(ErrorKind::NotFound) => e.with_hint(format!(
            "a project's vault is created by its first `tresor wf secrets --project {p} --set KEY`",
            p = scope.vault
        )),
        _ => e,
    };
    let items = commands::list_all(backend, &scope.vault_path(), "", false).await.map_err(project_hint)?;
    if scope.json {
        let docs: Vec<_> = items.iter().map(|(m, _)| output::EntryView::new(m, None)).collect();
        output::print_json(&docs)?;
    } else {
        let names: String = items.iter().map(|(m, _)| format!("{}\n", m.key)).collect();
        output::write_out(names.as_bytes())?;
    }
    Ok(exit::OK)
}
