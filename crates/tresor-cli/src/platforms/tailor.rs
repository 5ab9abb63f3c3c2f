//! Tailor Platform's `tailor-sdk secret` shape: `tresor secret vault create|list|delete` and
//! `tresor secret create|update|list|delete`.
//!
//! As on Tailor: `create` writes only a secret that does not exist yet, `update` only one that
//! does, `delete` removes a secret for good (a purge) and, like `vault delete` (of an empty
//! vault), needs `--yes` (or a "y" at the prompt on a terminal). `--value` may be the value
//! (tresor warns once that arguments are not private) or `-` for stdin; without it, a hidden
//! prompt on a terminal, else stdin.

use super::value_from;
use crate::args::{LsArgs, RmArgs};
use crate::backend::Backend;
use crate::commands;
use crate::error::{exit, CliError, Result};
use crate::output;
use crate::target::Target;
use clap::{Args, Subcommand};
use serde_json::json;
use tresor_model::{EntryKind, ErrorKind, VaultName};
use tresor_service::SetEntry;

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Create, list and delete vaults (`tailor-sdk secret vault ...`).
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Create a secret that does not exist yet in a vault.
    Create(WriteArgs),
    /// Change the value of an existing secret (a new version).
    Update(WriteArgs),
    /// List a vault's secrets: names, versions, last update; values never.
    List(VaultNameArg),
    /// Delete a secret for good, with every version; needs --yes.
    Delete(DeleteArgs),
}

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Create a vault.
    Create(NameArg),
    /// List the vaults.
    List,
    /// Delete an empty vault; needs --yes.
    Delete(NameArg),
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// The vault's name.
    #[arg(long)]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct VaultNameArg {
    /// The vault.
    #[arg(long = "vault-name")]
    pub vault_name: String,
}

#[derive(Debug, Args)]
pub struct WriteArgs {
    /// The vault.
    #[arg(long = "vault-name")]
    pub vault_name: String,
    /// The secret's name.
    #[arg(long)]
    pub name: String,
    /// The value; `-` reads it from stdin. A value given here is visible to `ps` and kept in shell
    /// history (tresor warns once); without --value, a hidden prompt on a terminal, else stdin.
    #[arg(long)]
    pub value: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The vault.
    #[arg(long = "vault-name")]
    pub vault_name: String,
    /// The secret's name.
    #[arg(long)]
    pub name: String,
}

/// The scope with `--vault-name` as its vault.
fn in_vault(scope: &Target, vault_name: &str) -> Result<Target> {
    Ok(Target { vault: VaultName::new(vault_name)?, ..scope.clone() })
}

pub async fn run(backend: &dyn Backend, scope: &Target, cmd: SecretCommand) -> Result<i32> {
    match cmd {
        SecretCommand::Vault(VaultCommand::Create(NameArg { name })) => {
            let vault = scope.vault_named(&name)?;
            backend.create_vault(&vault).await?;
            commands::done(scope, json!({"created": "vault", "vault": name, "environment": scope.env}), || {
                format!("created vault {name} in environment {}", scope.env)
            })?;
            Ok(exit::OK)
        }
        SecretCommand::Vault(VaultCommand::List) => {
            let vaults = backend.list_vaults(&scope.env).await?;
            output::vaults(scope.json, &vaults)?;
            Ok(exit::OK)
        }
        SecretCommand::Vault(VaultCommand::Delete(NameArg { name })) => {
            let vault = scope.vault_named(&name)?;
            confirm_delete(scope, &format!("vault {name}"), &format!("tresor secret vault delete --name {name}"))?;
            let scope = &crate::config_cmd::confirm_managed(backend, scope, &vault).await?;
            backend.delete_vault(&vault, scope.on_managed).await?;
            commands::done(scope, json!({"deleted": "vault", "vault": name, "environment": scope.env}), || {
                format!("deleted vault {name} from environment {}", scope.env)
            })?;
            Ok(exit::OK)
        }
        SecretCommand::Create(args) => write(backend, scope, args, true).await,
        SecretCommand::Update(args) => write(backend, scope, args, false).await,
        SecretCommand::List(VaultNameArg { vault_name }) => {
            let scope = in_vault(scope, &vault_name)?;
            let ls = LsArgs { prefix: None, secrets: true, vars: false, deleted: false, pretty: false };
            commands::ls(backend, &scope, ls).await.map_err(|e| vault_hint(e, &vault_name))
        }
        SecretCommand::Delete(DeleteArgs { vault_name, name }) => {
            let scope = in_vault(scope, &vault_name)?;
            scope.entry(&name)?;
            confirm_delete(
                &scope,
                &format!("secret {name} of vault {vault_name}"),
                &format!("tresor secret delete --vault-name {vault_name} --name {name}"),
            )?;
            let scope = crate::config_cmd::confirm_managed(backend, &scope, &scope.vault_path()).await?;
            // Tailor's delete removes the secret: a purge, not tresor's recoverable soft delete.
            commands::rm(backend, &scope, RmArgs { keys: vec![name], purge: true }).await
        }
    }
}

/// `secret create` (only a secret that does not exist yet: check-and-set on version 0) and
/// `secret update` (only one that exists).
async fn write(backend: &dyn Backend, scope: &Target, args: WriteArgs, create: bool) -> Result<i32> {
    let scope = in_vault(scope, &args.vault_name)?;
    let path = scope.entry(&args.name)?;
    let (v, n) = (&args.vault_name, &args.name);
    if !create {
        // Before the value is read: updating a secret that is not there is a mistake to say at once.
        backend.describe(&path).await.map_err(|e| match e.kind() {
            Some(ErrorKind::NotFound) => e.with_hint(format!(
                "`tresor secret create --vault-name {v} --name {n}` creates a secret \
                 (and `tresor secret vault create --name {v}` a vault)"
            )),
            _ => e,
        })?;
    }
    let scope = crate::config_cmd::confirm_managed(backend, &scope, &scope.vault_path()).await?;
    let value = value_from(&args.name, args.value, true)?;
    let req = SetEntry { expected_version: create.then_some(0), ..SetEntry::new(path, EntryKind::Secret, value) };
    commands::write_entry(backend, &scope, req, &[]).await.map_err(|e| match e.kind() {
        Some(ErrorKind::Conflict) if create => {
            e.with_hint(format!("to change its value: `tresor secret update --vault-name {v} --name {n} --value -`"))
        }
        Some(ErrorKind::NotFound) => vault_hint(e, v),
        _ => e,
    })
}

/// A missing vault, said with Tailor's command to create it.
fn vault_hint(e: CliError, vault: &str) -> CliError {
    match e.kind() {
        Some(ErrorKind::NotFound) => {
            e.with_hint(format!("create the vault with `tresor secret vault create --name {vault}`"))
        }
        _ => e,
    }
}

/// Deleting needs `--yes`, as on Tailor, or a "y" typed at the prompt on a terminal.
fn confirm_delete(scope: &Target, what: &str, command: &str) -> Result<()> {
    if scope.yes || crate::config_cmd::ask(&format!("Delete {what}?"))? {
        return Ok(());
    }
    Err(CliError::Hinted {
        kind: ErrorKind::Conflict,
        message: format!("deleting {what} needs confirmation; nothing was deleted"),
        hint: format!("add --yes: `{command} --yes`"),
    })
}
