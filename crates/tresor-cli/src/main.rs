//! The `tresor` command.

mod args;
mod backend;
mod commands;
mod error;
mod input;
mod local;
mod output;

use clap::Parser;
use error::{CliError, Result};
use std::sync::Arc;
use tresor_service::{Caller, Ctx};

fn main() {
    let cli = args::Cli::parse();
    let json = cli.global.json;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
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

async fn run(cli: args::Cli) -> Result<i32> {
    let scope = commands::Scope::from_global(&cli.global)?;
    if !cli.global.local {
        return Err(CliError::Usage(
            "no server configured: pass --local to use the embedded store in your data directory \
             (server mode arrives with `tresor serve`)"
                .into(),
        ));
    }
    let home = local::default_home()?;
    let svc = local::open_service(&home).await?;
    svc.bootstrap(&scope.workspace).await?;
    let owner = Caller::owner(scope.workspace.clone(), &local::local_user());
    let backend = backend::Local { svc, ctx: Ctx::new(Arc::new(owner), "local") };
    commands::run(&backend, &scope, cli.command).await
}
