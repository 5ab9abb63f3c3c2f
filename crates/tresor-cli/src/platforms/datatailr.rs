//! Datatailr's `dt kv` shape: `tresor kv put|get|ls|rm [-s] ...`.
//!
//! `-s` means a secret, without it a variable, as in Datatailr; `-e ENV` is tresor's own global
//! option, `-g GROUP:read|write` grants groups access on the entry put (server mode), `-p`
//! pretty-prints `get` and `ls`. Values may be arguments (`-` reads stdin), see
//! [`super::value_from`].

use super::value_from;
use crate::args::{LsArgs, RmArgs};
use crate::backend::Backend;
use crate::commands;
use crate::error::{exit, CliError, Result};
use crate::output;
use crate::target::Target;
use clap::{Args, Subcommand};
use tresor_model::{EntryKind, ErrorKind};
use tresor_service::SetEntry;

#[derive(Debug, Subcommand)]
pub enum KvCommand {
    /// Store a value (`dt kv put [-s] KEY VALUE`): a variable, or with -s a secret. VALUE `-`
    /// reads stdin; without VALUE, a hidden prompt on a terminal, else stdin.
    Put(PutArgs),
    /// Print a value (`dt kv get [-s] KEY`): a variable's, or with -s a secret's.
    Get(KeyArgs),
    /// List variables (`dt kv ls`), or with -s secrets (names only, values never).
    Ls(LsKvArgs),
    /// Delete variables (`dt kv rm KEY`), or with -s secrets; several at once all or none.
    /// Recoverable with `tresor undelete` until purged.
    Rm(RmKvArgs),
}

/// The flags every `kv` verb takes.
#[derive(Debug, Args)]
pub struct Flags {
    /// A secret; without it, a variable.
    #[arg(short = 's', long = "secret")]
    pub secret: bool,
    /// Pretty-printed output: a boxed table (`get`, `ls`); accepted and without effect on `put`
    /// and `rm`, which list nothing.
    #[arg(short = 'p', long = "pretty")]
    pub pretty: bool,
}

#[derive(Debug, Args)]
pub struct PutArgs {
    #[command(flatten)]
    pub flags: Flags,
    pub key: String,
    /// The value; `-` reads it from stdin. A secret's value given here is visible to `ps` and
    /// kept in shell history (tresor warns once).
    pub value: Option<String>,
    /// Who may read or write the entry, as GROUP:read or GROUP:write (repeatable); needs a server.
    #[arg(short = 'g', long = "group", value_name = "GROUP:ACCESS")]
    pub groups: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(flatten)]
    pub flags: Flags,
    pub key: String,
}

#[derive(Debug, Args)]
pub struct LsKvArgs {
    #[command(flatten)]
    pub flags: Flags,
    /// Only keys starting with this prefix.
    pub prefix: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmKvArgs {
    #[command(flatten)]
    pub flags: Flags,
    /// One or more keys, deleted all or none.
    #[arg(required = true)]
    pub keys: Vec<String>,
}

fn kind_of(flags: &Flags) -> EntryKind {
    if flags.secret {
        EntryKind::Secret
    } else {
        EntryKind::Variable
    }
}

pub async fn run(backend: &dyn Backend, scope: &Target, cmd: KvCommand) -> Result<i32> {
    match cmd {
        KvCommand::Put(args) => {
            let kind = kind_of(&args.flags);
            let path = scope.entry(&args.key)?;
            let scope = &crate::config_cmd::confirm_managed(backend, scope, &scope.vault_path()).await?;
            let groups = commands::checked_groups(backend, &args.groups).await?;
            let value = value_from(&args.key, args.value, kind == EntryKind::Secret)?;
            let req = SetEntry::new(path, kind, value);
            commands::write_entry(backend, scope, req, &groups).await
        }
        KvCommand::Get(args) => {
            let path = scope.entry(&args.key)?;
            let resolved = backend.get(&path, None).await?;
            require_kind(scope, &args.key, resolved.meta.kind, kind_of(&args.flags), "get")?;
            if args.flags.pretty && !scope.json {
                output::value_pretty(&args.key, resolved.meta.kind, resolved.meta.version, &resolved.value)?;
            } else {
                commands::print_value(scope, &path, &resolved)?;
            }
            Ok(exit::OK)
        }
        KvCommand::Ls(args) => {
            let secret = args.flags.secret;
            let ls = LsArgs {
                prefix: args.prefix,
                secrets: secret,
                vars: !secret,
                deleted: false,
                pretty: args.flags.pretty && !scope.json,
            };
            commands::ls(backend, scope, ls).await
        }
        KvCommand::Rm(args) => {
            let scope = &crate::config_cmd::confirm_managed(backend, scope, &scope.vault_path()).await?;
            // Datatailr deletes a secret with -s and a variable without: check each key's kind
            // first, so that a forgotten -s deletes nothing.
            for key in &args.keys {
                let meta = backend.describe(&scope.entry(key)?).await?;
                require_kind(scope, key, meta.kind, kind_of(&args.flags), "rm")?;
            }
            commands::rm(backend, scope, RmArgs { keys: args.keys, purge: false }).await
        }
    }
}

/// Refuses an entry of the other kind than the one `-s` (or its absence) asked for: to Datatailr,
/// secrets and variables are two lists, so a variable named like a secret is not there.
fn require_kind(scope: &Target, key: &str, is: EntryKind, wanted: EntryKind, verb: &str) -> Result<()> {
    if is == wanted {
        return Ok(());
    }
    let (fix, command) = match is {
        EntryKind::Secret => ("add -s", format!("tresor kv {verb} -s {key}")),
        EntryKind::Variable => ("drop -s", format!("tresor kv {verb} {key}")),
    };
    Err(CliError::Hinted {
        kind: ErrorKind::NotFound,
        message: format!("there is no {wanted} {key} in {}/{}: {key} is a {is}", scope.env, scope.vault),
        hint: format!("{fix}: `{command}`"),
    })
}
