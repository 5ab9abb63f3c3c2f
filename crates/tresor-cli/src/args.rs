//! The command line, as clap sees it.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use tresor_server::connections;
use tresor_server::Rate;

/// tresor: secrets and variables for workflow and data platforms.
///
/// Against a server set TRESOR_ADDR and TRESOR_TOKEN; with --local the commands use an embedded store
/// under the user's data directory (TRESOR_HOME overrides it).
#[derive(Debug, Parser)]
#[command(
    name = "tresor",
    version,
    about,
    long_about = None,
    after_help = "Against a server (TRESOR_ADDR), a request refused by a rate limit (429) is retried after \
                  the server's Retry-After, for up to 30 s in all, before the command fails with exit code 5."
)]
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
    /// Confirm without asking: `apply`'s deletions and take-overs, and changes to a vault managed
    /// by a declarative config (which release it from the config).
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
}

/// What `tresor` does. The verbs that work on a store's entries, through the local store or a
/// server alike, are a group of their own ([`StoreCommand`]), flattened into this one on the
/// command line; the rest set up or administer a server.
#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Store(StoreCommand),
    /// Create a server data directory: store, root key file, workspace `default`; prints the first
    /// admin token once.
    Init(InitArgs),
    /// Run the server (initialising the data directory on first start).
    Serve(ServeArgs),
    /// Back up the whole store to a file, or restore one into an empty store.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Root-key rotation and the state of the keys, on the store itself (--data-dir, --storage),
    /// while servers keep serving it.
    #[command(subcommand)]
    Key(KeyCommand),
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
    /// Create, list and revoke application access keys: the key id and key secret that
    /// Conductor clients exchange for a token at POST /api/token (server mode).
    #[command(subcommand, name = "app-key")]
    AppKey(AppKeyCommand),
    /// Generate code from a declarative config: `codegen typescript -f tresor.yaml > secrets.d.ts`
    /// declares its vault and key names for @tresor/sdk (names only; no server, no values).
    #[command(subcommand)]
    Codegen(CodegenCommand),
}

#[derive(Debug, Subcommand)]
pub enum CodegenCommand {
    /// Print a .d.ts whose `interface SecretNames` maps each vault to its key names; use it as
    /// `createClient<SecretNames>()` so that a misspelt vault or key fails to compile.
    Typescript(ConfigArgs),
}

/// The verbs that work on entries, vaults and environments through a [`crate::backend::Backend`]:
/// the same code against the local store (`--local`) or a server.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
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
    /// Make an older version of an entry current again, as a new version
    /// (`restore KEY --version N`).
    Restore(RestoreArgs),
    /// Manage vaults.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Manage environments.
    #[command(subcommand, name = "env")]
    Environment(EnvCommand),
    /// Render a template, resolving its references in one batch: `${secret:NAME}`,
    /// `${workflow.secrets.NAME}`, `{{tb_secret('NAME'[, 'default'])}}`, `tresor://[ENV/]VAULT/KEY[#v]`,
    /// and in a JSON document (*.json, or --json-doc) `{"vault": V, "key": K}` objects.
    Render(RenderArgs),
    /// Run a command with the vault's entries (or --only, or an --env-file of templates) as
    /// environment variables, masking their values in its stdout and stderr.
    Run(RunArgs),
    /// Copy stdin to stdout, masking the vault's values (or --only's) and their encodings.
    Redact(RedactArgs),
    /// Server-side webhooks whose headers and body reference `{"vault": V, "key": K}`.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Show what `apply` would change (+ create, ~ update, - delete), never a value. Exits 0 when
    /// nothing would change, 10 when changes are pending.
    Plan(ConfigArgs),
    /// Make the store match a declarative config (tresor.yaml) in one transaction. Asks before
    /// deleting or taking over a vault (or --yes).
    Apply(ConfigArgs),
    /// Datatailr's `dt kv` shape: `kv put [-s] KEY VALUE`, `kv get [-s] KEY`, `kv ls [-s]`,
    /// `kv rm [-s] KEY` (-s: a secret; without it, a variable), with -e ENV, -g GROUP:read|write, -p.
    #[command(subcommand)]
    Kv(crate::platforms::datatailr::KvCommand),
    /// Tailor Platform's `tailor-sdk secret` shape: `secret vault create|list|delete --name N`,
    /// `secret create|update --vault-name V --name N --value X`, `secret list --vault-name V`,
    /// `secret delete --vault-name V --name N --yes`.
    #[command(subcommand)]
    Secret(crate::platforms::tailor::SecretCommand),
    /// Treasure Data's `td wf` shape: `wf secrets --project P [--set KEY | --set @FILE |
    /// --delete KEY...]`; without --set or --delete, lists the project's secrets.
    #[command(subcommand)]
    Wf(crate::platforms::treasure_data::WfCommand),
    /// Write the entries of a .env, YAML or JSON file into the vault (secrets, or --var variables).
    Import(ImportArgs),
    /// Print the vault's entries as .env, YAML or JSON: variables with their values, secrets by
    /// name only unless --reveal (needs read; audited).
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The config file.
    #[arg(short = 'f', long = "file", default_value = "tresor.yaml")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A .env, .yaml/.yml or .json file (the format follows the extension).
    pub file: PathBuf,
    /// Import as variables instead of secrets.
    #[arg(long = "var")]
    pub variable: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_parser = ["env", "yaml", "json"], default_value = "env")]
    pub format: String,
    /// Include secret values (needs a read grant on each; every read is audited).
    #[arg(long)]
    pub reveal: bool,
    /// With --format env: export this entry although its name changes how programs load or run
    /// (as `tresor run --allow-env`). The exact name, repeatable.
    #[arg(long = "allow-env", value_name = "NAME")]
    pub allow_env: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Re-wrap every data key (and the audit and value-hash keys) under a new root key, in one
    /// transaction, online: running servers keep serving and need the new key at their next start.
    /// Afterwards the old root key opens nothing in the store (backups taken before still need it).
    RotateRoot(RotateRootArgs),
    /// Start a new data-key generation for the workspace (--workspace, default `default`): every
    /// write from now on is sealed with it. Then re-encrypt every kept version to it, page by page,
    /// with progress on stderr, while servers serve. Interrupted (a crash, Ctrl-C, --stop-after),
    /// `rotate-data --resume` goes on where it stopped.
    RotateData(RotateDataArgs),
    /// The root key's provider and each workspace's data-key generations, with how many stored
    /// values each generation sealed (those on older ones remain to re-encrypt).
    Status(KeyStatusArgs),
}

#[derive(Debug, Args)]
pub struct RotateDataArgs {
    #[command(flatten)]
    pub location: StoreLocation,
    /// Only re-encrypt what is left on older generations; start no new generation.
    #[arg(long)]
    pub resume: bool,
    /// Versions re-encrypted per transaction.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch: u32,
    /// Stop after re-encrypting about this many versions (whole batches): spreads the work over
    /// several runs; `--resume` goes on.
    #[arg(long)]
    pub stop_after: Option<u64>,
}

#[derive(Debug, Args)]
pub struct RotateRootArgs {
    /// Where the store is and how to get its CURRENT root key.
    #[command(flatten)]
    pub location: StoreLocation,
    /// The new root key's provider; default: the current one.
    #[arg(long, value_enum)]
    pub to_provider: Option<RootKeyProvider>,
    /// The new passphrase (provider passphrase) from this file; without it or --new-passphrase-fd,
    /// a terminal is prompted twice.
    #[arg(long, conflicts_with = "new_passphrase_fd")]
    pub new_passphrase_file: Option<PathBuf>,
    /// The new passphrase from this open file descriptor.
    #[arg(long)]
    pub new_passphrase_fd: Option<u32>,
    /// The command that prints (provider command) or wraps and unwraps (provider
    /// command-unwrap) the new key; command-unwrap defaults to the current --root-key-command.
    #[arg(long)]
    pub new_root_key_command: Option<String>,
}

#[derive(Debug, Args)]
pub struct KeyStatusArgs {
    #[command(flatten)]
    pub location: StoreLocation,
}

/// Where a server's store and root key live: `init`, `serve` and `backup` take the same two
/// options (resolved by `server_cmd::StoreLocation::resolve`).
#[derive(Debug, Args)]
pub struct StoreLocation {
    /// Data directory for the store and the root key file.
    #[arg(long, env = "TRESOR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the store lives: a postgres://user@host:port/dbname URL (several servers may share
    /// one database) or sqlite:PATH; unset: tresor.db in the data directory. The root key file
    /// stays in the data directory either way (or set TRESOR_ROOT_KEY).
    #[arg(long, env = "TRESOR_STORAGE")]
    pub storage: Option<String>,
    #[command(flatten)]
    pub keys: RootKeyArgs,
}

/// Where the root key comes from (docs/operations.md, "Key management"). A new store records
/// its provider; later starts use the recorded one and need only its source.
#[derive(Debug, Args, Clone, Default)]
pub struct RootKeyArgs {
    /// For a new store: where its root key comes from. Default: `command` with --root-key-command,
    /// `passphrase` with --passphrase-file or --passphrase-fd, else `file` (root.key or
    /// TRESOR_ROOT_KEY).
    #[arg(long, env = "TRESOR_ROOT_KEY_PROVIDER", value_enum)]
    pub root_key_provider: Option<RootKeyProvider>,
    /// Read the passphrase of a passphrase store from this file (one trailing newline is dropped).
    #[arg(long, env = "TRESOR_PASSPHRASE_FILE", conflicts_with = "passphrase_fd")]
    pub passphrase_file: Option<PathBuf>,
    /// Read the passphrase from this open file descriptor (`--passphrase-fd 3 3<file`). Without
    /// either, a terminal is prompted; the passphrase is never an argument.
    #[arg(long, env = "TRESOR_PASSPHRASE_FD")]
    pub passphrase_fd: Option<u32>,
    /// Shell command that prints the root key on stdout (provider `command`), or wraps and
    /// unwraps it (provider `command-unwrap`): run by `sh -c` with TRESOR_ROOT_KEY_OP set to
    /// `get`, `wrap` or `unwrap`, the key or wrapped key on stdin for the last two.
    #[arg(long, env = "TRESOR_ROOT_KEY_COMMAND")]
    pub root_key_command: Option<String>,
    /// Seconds the root-key command may take (a KMS that does not answer, a prompt nobody
    /// answers); then it is killed and nothing is served.
    #[arg(long, env = "TRESOR_ROOT_KEY_COMMAND_TIMEOUT", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub root_key_command_timeout: u64,
}

impl RootKeyArgs {
    /// The same options from the environment alone, for local mode (which takes no flags of its own).
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let root_key_provider = match var("TRESOR_ROOT_KEY_PROVIDER") {
            Some(v) => Some(<RootKeyProvider as clap::ValueEnum>::from_str(v.trim(), true).map_err(|_| {
                format!("TRESOR_ROOT_KEY_PROVIDER must be file, passphrase, command or command-unwrap, found {v:?}")
            })?),
            None => None,
        };
        let passphrase_fd = match var("TRESOR_PASSPHRASE_FD") {
            Some(v) => Some(
                v.trim()
                    .parse()
                    .map_err(|_| format!("TRESOR_PASSPHRASE_FD must be a file descriptor number, found {v:?}"))?,
            ),
            None => None,
        };
        Ok(Self {
            root_key_provider,
            passphrase_file: var("TRESOR_PASSPHRASE_FILE").map(PathBuf::from),
            passphrase_fd,
            root_key_command: var("TRESOR_ROOT_KEY_COMMAND"),
            root_key_command_timeout: match var("TRESOR_ROOT_KEY_COMMAND_TIMEOUT") {
                Some(v) => v.trim().parse().ok().filter(|s| (1..=3600).contains(s)).ok_or_else(|| {
                    format!("TRESOR_ROOT_KEY_COMMAND_TIMEOUT must be a number of seconds from 1 to 3600, found {v:?}")
                })?,
                None => 60,
            },
        })
    }
}

/// The root-key providers a new store may choose (see `root_key.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RootKeyProvider {
    /// root.key in the data directory, or TRESOR_ROOT_KEY.
    File,
    /// Argon2id over a passphrase; salt and parameters stored with the store.
    Passphrase,
    /// --root-key-command prints the key.
    Command,
    /// --root-key-command wraps a new key at init and unwraps it at every start (a KMS).
    CommandUnwrap,
}

impl RootKeyProvider {
    pub fn name(self) -> &'static str {
        match self {
            RootKeyProvider::File => "file",
            RootKeyProvider::Passphrase => "passphrase",
            RootKeyProvider::Command => "command",
            RootKeyProvider::CommandUnwrap => "command-unwrap",
        }
    }
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub location: StoreLocation,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub location: StoreLocation,
    /// Address to listen on.
    #[arg(long, env = "TRESOR_LISTEN", default_value = "127.0.0.1:8200")]
    pub listen: String,
    /// PEM certificate chain for HTTPS (with --tls-key).
    #[arg(long, env = "TRESOR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS (with --tls-cert).
    #[arg(long, env = "TRESOR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Requests per token on management routes: N (per second), N/s, N/min or N/h (0: unlimited).
    #[arg(long, env = "TRESOR_RATE_MANAGEMENT", default_value = "20/s")]
    pub rate_management: Rate,
    /// Requests per token on entry and resolution routes: N, N/s, N/min or N/h (0: unlimited).
    #[arg(long, env = "TRESOR_RATE_ENTRIES", default_value = "0")]
    pub rate_entries: Rate,
    /// Requests per token on the Tinybird-compatible /v0 routes: N, N/s, N/min or N/h (0: unlimited).
    #[arg(long, env = "TRESOR_RATE_TINYBIRD", default_value = "5/s")]
    pub rate_tinybird: Rate,
    /// Failed authentications (bad tokens, bad application keys) per client address (IPv6: per
    /// /64) before they are answered 429: N (per second), N/s, N/min or N/h (0: unlimited). Valid
    /// tokens are never refused by it.
    #[arg(long, env = "TRESOR_RATE_AUTH_FAILURES", default_value = "10/s")]
    pub rate_auth_failures: Rate,
    /// Most secrets per workspace through the Tinybird-compatible /v0 routes (0: no limit of their own).
    #[arg(long, env = "TRESOR_TINYBIRD_MAX_SECRETS", default_value_t = 100)]
    pub tinybird_max_secrets: u64,
    /// Milliseconds within which the audit records of reads reach the disk. A read's record is
    /// always written to the operating system before the read is answered (a killed server loses
    /// none), and flushed to disk within this delay; records of changes are always flushed before
    /// their answer. 0: every read's record is flushed before its answer (slower reads).
    #[arg(long, env = "TRESOR_AUDIT_READ_FLUSH_MS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub audit_read_flush_ms: u64,
    /// Mebibytes set aside beside a SQLite database (file `tresor.db-reserve`) for the audit
    /// records of reads: when the disk fills up they are released to reads, which go on, and
    /// changes are refused (507) until twice as much is free again. 0: none (reads are refused
    /// too on a full disk). Ignored on PostgreSQL, whose disk is the database server's.
    #[arg(long, env = "TRESOR_DISK_RESERVE_MB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(0..=1 << 20))]
    pub disk_reserve_mb: u64,
    /// Lifetime in seconds of the tokens that Conductor's POST /api/token mints for application keys.
    #[arg(long, env = "TRESOR_APP_TOKEN_TTL", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub app_token_ttl: u64,
    /// Serve the web dashboard at /ui (`--ui=false` or TRESOR_UI=0 turns it off).
    #[arg(long, env = "TRESOR_UI", default_value = "true", value_parser = clap::builder::BoolishValueParser::new(),
          action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub ui: bool,
    /// Minutes a dashboard session lasts without a request.
    #[arg(long, env = "TRESOR_UI_IDLE_MINUTES", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub ui_idle_minutes: u64,
    /// Hours a dashboard session lasts at the most, however active.
    #[arg(long, env = "TRESOR_UI_MAX_HOURS", default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..))]
    pub ui_max_hours: u64,
    #[command(flatten)]
    pub connections: ConnectionArgs,
}

/// What one connection may take of the server (docs/operations.md, "Connections").
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Seconds a request's line and headers may take to arrive, from when the server waits for
    /// them: on a new connection from its acceptance (under TLS the handshake gets as long
    /// again first), on a kept-alive one from the previous answer. A connection that sends
    /// nothing, or its headers slowly, is closed after it.
    #[arg(long, env = "TRESOR_HEADER_TIMEOUT_SECS", default_value_t = connections::DEFAULT_HEADER_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_secs: u64,
    /// Seconds a connection may go without a byte read or written (a request body that stops
    /// arriving, a client that stops reading its answer) before it is closed.
    #[arg(long, env = "TRESOR_IDLE_TIMEOUT_SECS", default_value_t = connections::DEFAULT_IDLE_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,
    /// Most connections open at once. Beyond it a new connection is refused at once (plain
    /// HTTP: 429 with Retry-After; TLS: closed). Lowered, with a warning, to fit the descriptor
    /// limit (raised towards its hard limit first) less 192 kept for the store, the process and refusals.
    #[arg(long, env = "TRESOR_MAX_CONNECTIONS", default_value_t = connections::DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// Most bytes of a request's line and headers; a larger head is answered 431.
    #[arg(long, env = "TRESOR_MAX_HEADER_BYTES", default_value_t = connections::DEFAULT_MAX_HEADER_BYTES,
          value_parser = clap::value_parser!(u64).range(connections::MIN_MAX_HEADER_BYTES..))]
    pub max_header_bytes: u64,
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
        /// Bind the token to this environment: its grants are narrowed to it (nothing elsewhere,
        /// nothing workspace-wide), and the Tinybird and Conductor APIs act in it. A token bound
        /// to a branch reads the parent's secrets through it.
        #[arg(long, value_name = "ENV")]
        bind_env: Option<String>,
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
    /// Grant ACCESS (read, write, manage, admin, webhook) on SCOPE (ENV/VAULT/KEY globs) to PRINCIPAL.
    /// `webhook` lets PRINCIPAL have the server send webhooks from the environments SCOPE covers
    /// whole (`prod` or `*`); their references still need read. `admin` includes it.
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
    /// Who may read or write the entry, as GROUP:ACCESS with ACCESS `read` or `write`
    /// (repeatable): `-g readers:read -g ops:write` grants group:readers read and group:ops write
    /// on exactly this entry (ENV/VAULT/KEY) after it is written. The groups must exist
    /// (`tresor principal create group:NAME`). Needs a server: a local store has no groups.
    #[arg(short = 'g', long = "group", value_name = "GROUP:ACCESS")]
    pub groups: Vec<String>,
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
    /// Pretty-print: a boxed table with readable times and who last edited each entry.
    #[arg(short = 'p', long, conflicts_with = "json")]
    pub pretty: bool,
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

/// `restore KEY --version N`: an entry's older version made current again. Restoring a backup
/// file is `backup restore FILE`, a verb of its own.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The entry's key.
    pub key: String,
    /// The version of KEY to make current again.
    #[arg(long)]
    pub version: u64,
}

/// `backup create FILE` and `backup restore FILE`.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Write a consistent snapshot of the whole store to FILE (`-`: stdout), also while servers
    /// run on it. Values stay sealed; the root key is not in it: keep root.key separately.
    Create(BackupArgs),
    /// Restore a backup FILE (`-`: stdin) into an empty store (SQLite or PostgreSQL).
    Restore(BackupArgs),
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file: written atomically with mode 0600 by `create`, read by `restore`; `-` for
    /// stdout or stdin.
    pub file: String,
    #[command(flatten)]
    pub location: StoreLocation,
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

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The template file, or `-` for stdin.
    pub file: String,
    /// Only these names or globs may be referenced (repeatable; Digdag's `_secrets`).
    #[arg(long = "allow", value_name = "PATTERN")]
    pub allow: Vec<String>,
    /// A credential set: `pg=db1` reads `pg.user`, `pg.password`, ... from `db1.user`, ... (repeatable).
    #[arg(long = "map", value_name = "FROM=TO")]
    pub map: Vec<String>,
    /// The template is a JSON document (the default for a file named *.json): references inside
    /// its strings are written JSON-escaped, and `{"vault": V, "key": K}` objects are references.
    #[arg(long = "json-doc")]
    pub json_doc: bool,
    /// Render as plain text even a file named *.json: values are written as they are.
    #[arg(long, conflicts_with = "json_doc")]
    pub text: bool,
}

#[derive(Debug, Subcommand)]
pub enum AppKeyCommand {
    /// Create an access key for an application (created if missing); the secret is printed once.
    Create {
        /// `app:NAME`.
        principal: String,
        /// Bind the key to this environment: every token it is exchanged for is bound to it
        /// (see `tresor token create --bind-env`).
        #[arg(long, value_name = "ENV")]
        bind_env: Option<String>,
    },
    /// List access keys (ids, applications, bindings, revocation), never secrets.
    Ls,
    /// Revoke an access key by id, and the tokens it was exchanged for.
    Revoke { id: String },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Only these entries (repeatable); default: every entry of the vault. `db/password` becomes
    /// `DB_PASSWORD`.
    #[arg(long = "only", value_name = "KEY", conflicts_with = "env_file")]
    pub only: Vec<String>,
    /// A file of `NAME=TEMPLATE` lines (`PGPASSWORD=${secret:db/password}`) rendered in one batch.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Option<String>,
    /// Set this variable although its name changes how programs load or run (PATH, LD_*,
    /// BASH_ENV, SHELLOPTS, PS4, NODE_OPTIONS, GIT_*, ...: tresor refuses those, as whoever may
    /// write the vault could plant them to run code in the command). The exact name, repeatable.
    #[arg(long = "allow-env", value_name = "NAME")]
    pub allow_env: Vec<String>,
    /// Values shorter than this many bytes are not masked (tresor says so once on stderr).
    #[arg(long, default_value_t = 4)]
    pub min_length: usize,
    /// Replacement for masked values.
    #[arg(long, default_value = "[REDACTED]")]
    pub mask: String,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RedactArgs {
    /// Only these entries' values (repeatable); default: every entry of the vault.
    #[arg(long = "only", visible_alias = "names", value_name = "KEY")]
    pub only: Vec<String>,
    #[arg(long, default_value_t = 4)]
    pub min_length: usize,
    #[arg(long, default_value = "[REDACTED]")]
    pub mask: String,
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Send a webhook described by a JSON file (`-` for stdin):
    /// `{"method": "POST", "url": "https://...", "headers": {"Authorization": {"vault": "v", "key": "k"}}, "body": ...}`.
    /// The references are resolved where tresor runs; the answer comes back with the values masked.
    Send { file: String },
}
