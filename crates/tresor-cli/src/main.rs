//! The `tresor` command: CLI client, local mode and server.

mod admin;
mod args;
mod backend;
mod backup_cmd;
mod codegen;
mod commands;
mod config_cmd;
mod env_names;
mod error;
mod exec;
mod input;
mod key_cmd;
mod local;
mod output;
mod platforms;
mod remote;
mod root_key;
mod server_cmd;
mod target;

use args::Command;
use clap::Parser;
use error::{CliError, Result};
use std::sync::Arc;
use tresor_service::{Caller, Ctx};

/// mimalloc: the server allocates many small, short-lived buffers per request on several threads,
/// where it measured faster than glibc's allocator (chosen with the load benchmark, `bash bench/load.sh`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The umask tresor was started with, before [`make_files_private`].
#[cfg(unix)]
static INHERITED_UMASK: std::sync::OnceLock<libc::mode_t> = std::sync::OnceLock::new();

/// Every file and directory tresor creates is its owner's only: the SQLite database and the
/// `-wal` and `-shm` files SQLite creates beside it (in a data directory that may exist already
/// with looser permissions), the root key file, backups, a restored store. One process-wide umask
/// of 077 covers them all, including files created later by a library (SQLite recreates its
/// `-wal` and `-shm`), which a chmod after each creation would miss. Nothing tresor writes needs
/// to be read by others; what it prints goes to stdout, where the shell's redirection decides.
fn make_files_private() {
    #[cfg(unix)]
    {
        // SAFETY: umask(2) cannot fail and touches no memory; it runs before any other thread.
        let inherited = unsafe { libc::umask(0o077) };
        let _ = INHERITED_UMASK.set(inherited);
    }
}

/// A one-shot command's heap is small and short-lived: with transparent huge pages (which
/// mimalloc asks for), each first touch of its heap faults in and zeroes 2 MiB. Without them
/// `tresor redact` with 10,000 values peaks at about 60 MB instead of 87 (bench/redact.sh). So
/// they are off from the start (before the arguments are parsed, the first allocations), and
/// back on for the server, whose long-lived heap gains from them, and for `tresor run`, whose
/// child would inherit the setting.
fn huge_pages(allowed: bool) {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(2) with PR_SET_THP_DISABLE only sets a flag of this process; it touches no
    // memory of ours. A kernel without it answers EINVAL, which changes nothing.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, libc::c_ulong::from(!allowed), 0, 0, 0);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = allowed;
}

/// The caller's umask, restored for the command `tresor run` starts (its files are its own
/// business).
#[cfg(unix)]
fn inherited_umask() -> Option<libc::mode_t> {
    INHERITED_UMASK.get().copied()
}

/// Huge pages are off before Rust's runtime starts, not only from `main` on: the runtime's first
/// allocation (before `main`) makes mimalloc reserve its first arena and write into it, which with
/// huge pages faulted in and zeroed 2 MiB pages: 6% of the samples of a 10,000-value `tresor
/// redact`'s start-up (perf), about 15 ms. An `.init_array` entry runs before that, as the loader
/// calls it ahead of the runtime's start.
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static HUGE_PAGES_OFF_BEFORE_MAIN: extern "C" fn() = {
    extern "C" fn off() {
        huge_pages(false);
    }
    off
};

fn main() {
    make_files_private();
    // Off since before `main` (`HUGE_PAGES_OFF_BEFORE_MAIN`); elsewhere, from here.
    #[cfg(not(target_os = "linux"))]
    huge_pages(false);
    let cli = args::Cli::parse();
    if matches!(cli.command, Command::Serve(_) | Command::Store(args::StoreCommand::Run(_))) {
        huge_pages(true);
    }
    let json = cli.global.json;
    // Every verb is routed here, once. The server runs on a multi-threaded runtime of its own;
    // the rest on one thread (the CLI makes one request at a time).
    let block_on = |work: std::pin::Pin<Box<dyn std::future::Future<Output = Result<i32>>>>| {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime").block_on(work)
    };
    let local = cli.global.local;
    let outcome = match cli.command {
        Command::Serve(args) => server_cmd::serve(args),
        Command::Init(args) => block_on(Box::pin(server_cmd::init(args, json))),
        Command::Backup(args::BackupCommand::Create(args)) => block_on(Box::pin(backup_cmd::backup(args, json))),
        Command::Backup(args::BackupCommand::Restore(args)) => block_on(Box::pin(backup_cmd::restore(args, json))),
        Command::Key(args::KeyCommand::RotateRoot(args)) => block_on(Box::pin(key_cmd::rotate_root(args, json))),
        Command::Key(args::KeyCommand::RotateData(args)) => {
            let workspace = cli.global.workspace.clone();
            block_on(Box::pin(key_cmd::rotate_data(args, workspace, json)))
        }
        Command::Key(args::KeyCommand::Status(args)) => block_on(Box::pin(key_cmd::status(args, json))),
        Command::Audit(cmd) => server_only(local, "audit").and_then(|c| admin::audit(&c, cmd, json)),
        Command::Token(cmd) => server_only(local, "token").and_then(|c| admin::token(&c, cmd, json)),
        Command::Principal(cmd) => server_only(local, "principal").and_then(|c| admin::principal(&c, cmd, json)),
        Command::Group(cmd) => server_only(local, "group").and_then(|c| admin::group(&c, cmd, json)),
        Command::Grant(cmd) => server_only(local, "grant").and_then(|c| admin::grant(&c, cmd, json)),
        Command::Whoami => server_only(local, "whoami").and_then(|c| admin::whoami(&c, json)),
        Command::AppKey(cmd) => server_only(local, "app-key").and_then(|c| admin::app_key(&c, cmd, json)),
        Command::Codegen(args::CodegenCommand::Typescript(args)) => codegen::typescript(&args, &cli.global.env),
        Command::Store(command) => block_on(Box::pin(run_store(cli.global, command))),
    };
    let code = match outcome {
        Ok(code) => code,
        // Whoever read the output has gone (`tresor ls | head -1`): nobody is left to tell.
        Err(e @ CliError::StdoutClosed) => e.exit_code(),
        Err(e) => {
            if json {
                eprintln!("{}", serde_json::json!({ "error": e.to_string(), "exit_code": e.exit_code() }));
            } else {
                eprintln!("error: {e}");
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}

/// The server named by TRESOR_ADDR and TRESOR_TOKEN.
fn client() -> Result<tresor_client::Client> {
    let addr = std::env::var("TRESOR_ADDR").ok().filter(|a| !a.is_empty());
    let Some(addr) = addr else {
        return Err(CliError::Usage(
            "no server configured: set TRESOR_ADDR (and TRESOR_TOKEN), or pass --local to use the embedded store \
             in your data directory"
                .into(),
        ));
    };
    let token = std::env::var("TRESOR_TOKEN").ok().filter(|t| !t.is_empty()).ok_or_else(|| {
        CliError::Usage("TRESOR_ADDR is set but TRESOR_TOKEN is not: set it to a tresor token (tsr_...)".into())
    })?;
    Ok(tresor_client::Client::new(&addr, &token)?)
}

fn server_only(local: bool, what: &str) -> Result<tresor_client::Client> {
    if local {
        return Err(CliError::Usage(format!(
            "`tresor {what}` needs a server: a local store has a single owner (you) and nothing to delegate"
        )));
    }
    client()
}

/// A verb on entries, vaults or environments: against the server, or the local store with
/// `--local`.
async fn run_store(global: args::Global, command: args::StoreCommand) -> Result<i32> {
    let scope = target::Target::from_global(&global)?;
    if !global.local {
        let backend = remote::Remote { client: client()? };
        return commands::run(&backend, &scope, command).await;
    }
    let home = local::default_home()?;
    let svc = local::open_service(&home).await?;
    svc.bootstrap(&scope.workspace).await?;
    let owner = Caller::owner(scope.workspace.clone(), &local::local_user());
    let backend = backend::Local::new(svc, Ctx::new(Arc::new(owner), "local"));
    commands::run(&backend, &scope, command).await
}
