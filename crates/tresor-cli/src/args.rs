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
    /// Create a server data directory: store, root key file, workspace `default`; prints the first
    /// admin token once.
    Init(InitArgs),
    /// Run the server (initialising the data directory on first start).
    Serve(ServeArgs),
    /// Read and verify the audit log (server mode).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Create, list and revoke tokens (server mode).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Create, list and delete users, applications and groups (server mode).
    #[command(subcommand)]
    Principal(PrincipalCommand),
    /// Add and remove group members (server mode).
    #[command(subcommand)]
    Group(GroupCommand),
    /// Grant and revoke access (server mode).
    #[command(subcommand)]
    Grant(GrantCommand),
    /// Show the current token's principal and grants (server mode).
    Whoami,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Data directory for the store and the root key file.
    #[arg(long, env = "TRESOR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data directory for the store and the root key file.
    #[arg(long, env = "TRESOR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "TRESOR_LISTEN", default_value = "127.0.0.1:8200")]
    pub listen: String,
    /// PEM certificate chain for HTTPS (with --tls-key).
    #[arg(long, env = "TRESOR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS (with --tls-cert).
    #[arg(long, env = "TRESOR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Requests per second per token on management routes (0: unlimited).
    #[arg(long, env = "TRESOR_RATE_MANAGEMENT", default_value_t = 5)]
    pub rate_management: u32,
    /// Requests per second per token on entry and resolution routes (0: unlimited).
    #[arg(long, env = "TRESOR_RATE_ENTRIES", default_value_t = 0)]
    pub rate_entries: u32,
    /// Requests per second per token on the Tinybird-compatible /v0 routes (0: unlimited).
    #[arg(long, env = "TRESOR_RATE_TINYBIRD", default_value_t = 5)]
    pub rate_tinybird: u32,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit records.
    Ls {
        /// Only records since this time: RFC 3339 (2024-06-21T10:00:00Z) or an age (30m, 2h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// At most this many records.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Check the hash chain: detects edited, removed or reordered records.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a token for a principal; it is printed once.
    Create {
        /// `user:NAME` or `app:NAME`.
        principal: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Lifetime in seconds.
        #[arg(long)]
        ttl: Option<u64>,
    },
    Ls,
    /// Revoke a token by id.
    Revoke {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PrincipalCommand {
    /// `user:NAME`, `app:NAME` or `group:NAME`.
    Create {
        principal: String,
    },
    Ls,
    /// Delete a principal with its grants, tokens and memberships.
    Rm {
        principal: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    Add { group: String, member: String },
    Rm { group: String, member: String },
    Ls { group: String },
}

#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Grant ACCESS (read, write, manage, admin) on SCOPE (ENV/VAULT/KEY globs) to PRINCIPAL.
    Add {
        principal: String,
        scope: String,
        access: String,
    },
    Ls,
    Rm {
        id: String,
    },
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
