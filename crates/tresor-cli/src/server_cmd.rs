//! `tresor init` and `tresor serve`: a server data directory and the server on it.

use crate::args::{ConnectionArgs, InitArgs, ServeArgs, StoreLocation};
use crate::error::{CliError, Result};
use crate::local::{self, Storage};
use crate::output::outln;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tresor_model::{PrincipalRef, WorkspaceName};
use tresor_server::connections::{self, ConnectionLimits};
use tresor_server::ui::{SessionLimits, UiConfig};
use tresor_server::{CompatConfig, RateLimits, ServerConfig};
use tresor_service::{Service, OWNER};

impl StoreLocation {
    /// The data directory (`--data-dir`, `TRESOR_DATA_DIR`, else `<user data dir>/tresor-server`)
    /// and the storage in it or named by `--storage`.
    pub(crate) fn resolve(self) -> Result<(PathBuf, Storage)> {
        let dir = match self.data_dir {
            Some(d) => d,
            None => dirs::data_dir()
                .map(|d| d.join("tresor-server"))
                .ok_or_else(|| CliError::Usage("cannot find the user's data directory; pass --data-dir".into()))?,
        };
        let storage = Storage::parse(self.storage.as_deref(), &dir)?;
        Ok((dir, storage))
    }
}

async fn is_initialized(svc: &Service) -> Result<bool> {
    let owner = PrincipalRef { kind: tresor_model::PrincipalKind::User, name: OWNER.into() };
    svc.store().principal_exists(&WorkspaceName::default_name(), &owner).await.map_err(|e| CliError::Service(e.into()))
}

async fn first_token(svc: &Service) -> Result<String> {
    let minted = svc.init_owner(&WorkspaceName::default_name(), "bootstrap").await?;
    Ok(minted.text.to_string())
}

pub async fn init(args: InitArgs, json: bool) -> Result<i32> {
    let keys = args.location.keys.clone();
    let (dir, storage) = args.location.resolve()?;
    let svc = local::open_service_on(&dir, &storage, &keys).await?;
    if is_initialized(&svc).await? {
        return Err(CliError::Service(tresor_service::ServiceError::AlreadyExists(format!(
            "a tresor store at {} (it is initialised; mint more tokens with `tresor token create`)",
            storage.describe()
        ))));
    }
    let token = first_token(&svc).await?;
    if json {
        outln!("{}", serde_json::json!({ "admin_token": token, "data_dir": dir, "storage": storage.describe() }))?;
    } else {
        print_token(&dir, &storage, &token)?;
    }
    Ok(0)
}

fn print_token(dir: &Path, storage: &Storage, token: &str) -> Result<()> {
    let initialised = match storage {
        Storage::Sqlite(_) => format!("Initialised tresor in {}.", dir.display()),
        Storage::Postgres(_) => {
            format!("Initialised tresor at {} (root key in {}).", storage.describe(), dir.display())
        }
    };
    outln!(
        "{initialised}\nAdmin token for user:owner (shown once; keep it safe, it is stored only as a hash):\n{token}"
    )
}

pub fn serve(args: ServeArgs) -> Result<i32> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRESOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(serve_async(args))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The connection limits the flags ask for, the number of connections fitted under the
/// descriptor limit (a warning when that lowers it).
fn connection_limits(args: &ConnectionArgs) -> ConnectionLimits {
    let (max_connections, note) = connections::fit_descriptor_limit(args.max_connections);
    match note {
        Some(note) if max_connections < args.max_connections => tracing::warn!("{note}"),
        Some(note) => tracing::info!("{note}"),
        None => {}
    }
    let usize_of = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    ConnectionLimits {
        header_timeout: Duration::from_secs(args.header_timeout_secs),
        idle_timeout: Duration::from_secs(args.idle_timeout_secs),
        max_connections: usize_of(max_connections),
        max_header_bytes: usize_of(args.max_header_bytes),
    }
}

async fn serve_async(args: ServeArgs) -> Result<i32> {
    let keys = args.location.keys.clone();
    let (dir, storage) = args.location.resolve()?;
    // The Tinybird-compatible API's limit of secrets per workspace (per environment's default
    // vault) is enforced by the store in the create's transaction.
    let mut limits = local::limits_from_env()?;
    limits.vault_secret_quota = (args.tinybird_max_secrets > 0).then_some(args.tinybird_max_secrets);
    let svc = local::open_service_with(&dir, &storage, limits, &keys, args.disk_reserve_mb << 20)
        .await?
        .with_read_flush_delay(std::time::Duration::from_millis(args.audit_read_flush_ms));
    if !is_initialized(&svc).await? {
        let token = first_token(&svc).await?;
        print_token(&dir, &storage, &token)?;
    }
    svc.bootstrap(&WorkspaceName::default_name()).await?;
    let config = ServerConfig {
        rate_limits: RateLimits {
            management: args.rate_management,
            entries: args.rate_entries,
            tinybird: args.rate_tinybird,
            auth_failures: args.rate_auth_failures,
        },
        tls: args.tls_cert.zip(args.tls_key),
        compat: CompatConfig { app_token_ttl_secs: args.app_token_ttl },
        ui: UiConfig {
            enabled: args.ui,
            sessions: SessionLimits {
                idle: Duration::from_secs(args.ui_idle_minutes * 60),
                absolute: Duration::from_secs(args.ui_max_hours * 3600),
            },
        },
        connections: connection_limits(&args.connections),
    };
    let listener = std::net::TcpListener::bind(&args.listen)
        .map_err(|e| CliError::Usage(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener.local_addr().map_err(|e| CliError::Io(e.to_string()))?;
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    tracing::info!("rate limits: {}", config.rate_limits);
    tracing::info!("connections: {}", config.connections);
    tracing::info!(data_dir = %dir.display(), storage = %storage.describe(), "tresor listening on {scheme}://{addr}");
    let (app, router) = tresor_server::app(svc, &config);
    tresor_server::serve(&app, router, listener, &config, shutdown_signal())
        .await
        .map_err(|e| CliError::Io(format!("server error: {e}")))?;
    tracing::info!("stopped");
    Ok(0)
}
