//! The command line, as clap sees it.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// tresor: secrets and variables for workflow and data platforms.
///
/// Against a server set TRESOR_ADDR and TRESOR_TOKEN; with --local the commands use an embedded store
/// under the user's data directory (TRESOR_HOME overrides it).
#[derive(Debug, Parser)]
#[command(name = "tresor", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Use the embedded local store instead of a server.
    #[arg(long, global = true, env = "TRESOR_LOCAL", value_parser = clap::builder::FalseyValueParser::new())]
    pub local: bool,
    /// Environment to act in.
    #[arg(short = 'e', long = "env", global = true, env = "TRESOR_ENV", default_value = "default")]
    pub env: String,
    /// Vault to act in (a Digdag/TD project maps to a vault: --project is accepted too).
    #[arg(long, visible_alias = "project", global = true, default_value = "default")]
    pub vault: String,
    /// Workspace (tenant) to act in.
    #[arg(long, global = true, env = "TRESOR_WORKSPACE", default_value = "default", hide = true)]
    pub workspace: String,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Store a value: a secret (default) or, with --var, a variable. `@FILE` sets many from a
    /// YAML, JSON or .env file.
    #[command(visible_alias = "put")]
    Set(SetArgs),
    /// Print an entry's value.
    Get(GetArgs),
    /// List entries: names, kind, version, last update; variables with their values, secrets never.
    Ls(LsArgs),
    /// Delete entries (recoverable with `undelete` until purged).
    Rm(RmArgs),
    /// Recover a deleted entry.
    Undelete(KeyArg),
    /// List an entry's versions.
    History(KeyArg),
    /// Make an older version current again (as a new version).
    Restore(RestoreArgs),
    /// Manage vaults.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Manage environments.
    #[command(subcommand, name = "env")]
    Environment(EnvCommand),
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Entry key (`db/password`, `pg.user`) or `@FILE` for a bulk file.
    pub key: String,
    /// The value, for variables only: secret values are read from a hidden prompt, stdin or --file.
    pub value: Option<String>,
    /// Store a variable (plain configuration) rather than a secret.
    #[arg(long = "var", visible_alias = "variable")]
    pub variable: bool,
    /// Store a secret (the default; accepted for symmetry with --var).
    #[arg(short = 's', long, conflicts_with = "variable")]
    pub secret: bool,
    /// Read the value from this file, byte for byte.
    #[arg(long, conflicts_with = "value")]
    pub file: Option<PathBuf>,
    /// A description stored with the entry.
    #[arg(long)]
    pub description: Option<String>,
    /// A tag `KEY=VALUE` (repeatable). Replaces the entry's tags.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// Write only if the entry is at this version (0: only if it does not exist yet).
    #[arg(long, value_name = "VERSION")]
    pub cas: Option<u64>,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    pub key: String,
    /// A specific version instead of the current one.
    #[arg(long)]
    pub version: Option<u64>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only keys starting with this prefix.
    pub prefix: Option<String>,
    /// Only secrets.
    #[arg(short = 's', long, conflicts_with = "vars")]
    pub secrets: bool,
    /// Only variables.
    #[arg(long)]
    pub vars: bool,
    /// Include deleted entries (not yet purged).
    #[arg(long)]
    pub deleted: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// One or more entry keys.
    #[arg(required = true)]
    pub keys: Vec<String>,
    /// Remove for good, with every version: not recoverable.
    #[arg(long)]
    pub purge: bool,
}

#[derive(Debug, Args)]
pub struct KeyArg {
    pub key: String,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    pub key: String,
    /// The version to make current again.
    #[arg(long)]
    pub version: u64,
}

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Create a vault in the environment.
    Create { name: String },
    /// List the environment's vaults.
    Ls,
    /// Delete an empty vault.
    Rm { name: String },
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Create an environment; with --parent, a branch that reads through to its parent.
    Create {
        name: String,
        #[arg(long)]
        parent: Option<String>,
    },
    /// List environments.
    Ls,
}
