//! Local mode: an embedded store in the user's data directory, owned by the OS user.
//!
//! Layout of the data directory (0700):
//! - `tresor.db` (+ `-wal`, `-shm`): the SQLite store; values in it are sealed.
//! - `root.key` (0600): the root key, base64. Without it the store cannot be opened; back it up
//!   separately from the database.
//!
//! `TRESOR_ROOT_KEY` (base64 or hex) may supply the root key instead of the file, and a store may
//! take its key from a passphrase or a command instead (`root_key.rs`).

use crate::args::RootKeyArgs;
use crate::error::{CliError, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tresor_crypto::CryptoError;
use tresor_service::{Limits, Service, ServiceError, AUDIT_KEY_META};
use tresor_store::{PostgresStore, SqliteStore, Store};

pub const DB_FILE: &str = "tresor.db";
pub const KEY_FILE: &str = "root.key";

/// `TRESOR_HOME`, else `$XDG_DATA_HOME/tresor` (or the platform's equivalent).
pub fn default_home() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("TRESOR_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    dirs::data_dir()
        .map(|d| d.join("tresor"))
        .ok_or_else(|| CliError::Usage("cannot find the user's data directory; set TRESOR_HOME".into()))
}

fn io_err<'a>(path: &'a Path, what: &str) -> impl FnOnce(std::io::Error) -> CliError + 'a {
    let what = what.to_owned();
    move |e| CliError::Io(format!("{what} {}: {e}", path.display()))
}

/// Creates the data directory (and any missing parent) with owner-only permissions if it is
/// missing. An existing directory keeps its permissions (its owner chose them, e.g. systemd's
/// StateDirectory); the files tresor creates in it are private anyway (umask 077, see `main`).
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir).map_err(io_err(dir, "creating data directory"))?;
    }
    Ok(())
}

/// Makes a file readable by its owner only.
pub fn restrict_to_owner(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(path, "restricting permissions of"))?;
    }
    Ok(())
}

/// Limits from the environment: `TRESOR_MAX_VALUE_BYTES`, `TRESOR_MAX_ENTRIES` (0: unlimited),
/// `TRESOR_KEEP_VERSIONS`.
pub fn limits_from_env() -> Result<Limits> {
    fn var(name: &str) -> Result<Option<u64>> {
        match std::env::var(name) {
            Ok(v) => v
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| CliError::Usage(format!("{name} must be a whole number, found {v:?}"))),
            Err(_) => Ok(None),
        }
    }
    let mut limits = Limits::default();
    if let Some(v) = var("TRESOR_MAX_VALUE_BYTES")? {
        limits.max_value_bytes = v as usize;
    }
    if let Some(v) = var("TRESOR_MAX_ENTRIES")? {
        limits.max_entries = (v > 0).then_some(v);
    }
    if let Some(v) = var("TRESOR_KEEP_VERSIONS")? {
        if v == 0 {
            return Err(CliError::Usage("TRESOR_KEEP_VERSIONS must be at least 1".into()));
        }
        limits.keep_versions = v.min(u32::MAX as u64) as u32;
    }
    Ok(limits)
}

/// Where the store lives: the SQLite file in the data directory (the default), or a PostgreSQL
/// database shared by several servers (`--storage postgres://...`, `TRESOR_STORAGE`). The data
/// directory holds the root key file in both cases (unless `TRESOR_ROOT_KEY` is set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Storage {
    /// `postgres://` / `postgresql://` URLs, `sqlite:PATH`, or nothing for `DIR/tresor.db`.
    pub fn parse(given: Option<&str>, dir: &Path) -> Result<Self> {
        let Some(given) = given.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(Storage::Sqlite(dir.join(DB_FILE)));
        };
        if given.starts_with("postgres://") || given.starts_with("postgresql://") {
            return Ok(Storage::Postgres(given.to_owned()));
        }
        if let Some(path) = given.strip_prefix("sqlite://").or_else(|| given.strip_prefix("sqlite:")) {
            if path.is_empty() {
                return Err(CliError::Usage(
                    "--storage sqlite: needs a file path, e.g. sqlite:/var/lib/tresor/tresor.db".into(),
                ));
            }
            return Ok(Storage::Sqlite(PathBuf::from(path)));
        }
        // Never echo the value: a URL with a typo may still carry a password.
        Err(CliError::Usage(
            "--storage (TRESOR_STORAGE) must be a postgres://user@host:port/dbname URL or sqlite:PATH; leave it unset \
             for the SQLite file in the data directory"
                .into(),
        ))
    }

    /// Where the store is, for logs and messages: never a password.
    pub fn describe(&self) -> String {
        match self {
            Storage::Sqlite(path) => format!("sqlite:{}", path.display()),
            Storage::Postgres(url) => format!("postgres://{}", PostgresStore::describe_url(url)),
        }
    }

    /// Opens the store (creating the SQLite file, or applying migrations to the database) and
    /// tells whether it was in use already (and so needs its existing root key).
    pub async fn open(&self) -> Result<(Arc<dyn Store>, bool)> {
        self.open_reserving(0).await
    }

    /// [`Storage::open`], setting `disk_reserve` bytes aside beside a SQLite database for the
    /// audit records of reads on a full disk (`serve`; see `SqliteStore::with_disk_reserve`).
    pub async fn open_reserving(&self, disk_reserve: u64) -> Result<(Arc<dyn Store>, bool)> {
        let store: Arc<dyn Store> = match self {
            Storage::Sqlite(db) => {
                if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
                    ensure_dir(parent)?;
                }
                let existed = db.exists();
                // A new database is created private (and SQLite gives its -wal and -shm the same
                // mode). One made before that, or by someone else, is restricted before SQLite
                // opens it, with the -wal and -shm an unclean stop may have left, which SQLite
                // reuses as they are.
                for file in [db.clone(), sqlite_sibling(db, "-wal"), sqlite_sibling(db, "-shm")] {
                    if file.exists() {
                        restrict_to_owner(&file)?;
                    }
                }
                let store = SqliteStore::open(db).map_err(|e| CliError::Service(e.into()))?;
                let store = Arc::new(store.with_disk_reserve(disk_reserve));
                return Ok((store, existed));
            }
            Storage::Postgres(url) => {
                Arc::new(PostgresStore::connect(url).await.map_err(|e| CliError::Service(e.into()))?)
            }
        };
        // A database that a server has opened holds the audit key, wrapped by the root key.
        let used = store.get_meta(AUDIT_KEY_META).await.map_err(|e| CliError::Service(e.into()))?.is_some();
        Ok((store, used))
    }
}

/// `tresor.db` → `tresor.db-wal`: the files SQLite keeps beside a database.
fn sqlite_sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Opens (creating on first use) the store in `dir` and returns a ready service; the root key's
/// sources come from the environment (local mode takes no flags for them).
pub async fn open_service(dir: &Path) -> Result<Service> {
    let keys = RootKeyArgs::from_env().map_err(CliError::Usage)?;
    open_service_with(dir, &Storage::Sqlite(dir.join(DB_FILE)), limits_from_env()?, &keys, 0).await
}

/// Opens the service on `storage`, with the root key from its provider (`keys` says where the
/// passphrase or the command is; the key file is in `dir`).
pub async fn open_service_on(dir: &Path, storage: &Storage, keys: &RootKeyArgs) -> Result<Service> {
    open_service_with(dir, storage, limits_from_env()?, keys, 0).await
}

/// [`open_service_on`] with the given limits (`serve` adds its own to the environment's) and
/// disk reserve ([`Storage::open_reserving`]). A root key that does not open the store is
/// refused here, before anything is served, with what to do.
pub async fn open_service_with(
    dir: &Path,
    storage: &Storage,
    limits: Limits,
    keys: &RootKeyArgs,
    disk_reserve: u64,
) -> Result<Service> {
    ensure_dir(dir)?;
    let (store, exists) = storage.open_reserving(disk_reserve).await?;
    let (root, provider) = crate::root_key::load(dir, store.as_ref(), exists, keys).await?;
    let hosts: Vec<String> = std::env::var("TRESOR_WEBHOOK_ALLOW_HOSTS")
        .map(|v| v.split(',').map(str::trim).filter(|h| !h.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let svc = Service::open(store, root, limits).await.map_err(|e| match e {
        ServiceError::Crypto(CryptoError::OpenFailed) => CliError::Usage(format!(
            "the root key (provider {}) does not open the store at {}: {}. Nothing was served or changed",
            provider.name(),
            storage.describe(),
            crate::root_key::wrong_key_hint(&provider)
        )),
        e => e.into(),
    })?;
    Ok(svc.with_webhook_hosts(&hosts)?.with_root_reload(crate::root_key::reload(dir, keys)))
}

/// The OS user, recorded as `edited_by` (`user:NAME`) for local writes.
pub fn local_user() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_default();
    // Keep only what a principal name allows; fall back to "owner".
    let clean: String = user.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
    if clean.is_empty() || !clean.as_bytes()[0].is_ascii_alphanumeric() {
        "owner".into()
    } else {
        clean
    }
}
