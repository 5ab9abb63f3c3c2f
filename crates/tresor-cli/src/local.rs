//! Local mode: an embedded store in the user's data directory, owned by the OS user.
//!
//! Layout of the data directory (0700):
//! - `tresor.db` (+ `-wal`, `-shm`): the SQLite store; values in it are sealed.
//! - `root.key` (0600): the root key, base64. Without it the store cannot be opened; back it up
//!   separately from the database.
//!
//! `TRESOR_ROOT_KEY` (base64 or hex) may supply the root key instead of the file.

use crate::error::{CliError, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tresor_crypto::RootKey;
use tresor_service::{Limits, Service};
use tresor_store::SqliteStore;

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

/// Creates the data directory with owner-only permissions if it is missing.
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

/// Makes a file readable by its owner only. SQLite creates its `-wal` and `-shm` files with the
/// database file's permissions, so restricting the database restricts them too.
pub fn restrict_to_owner(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(path, "restricting permissions of"))?;
    }
    Ok(())
}

/// Loads the root key: `TRESOR_ROOT_KEY` if set, else the key file, created with a fresh key when
/// the store is new. An existing store whose key file is missing is an error, never a new key.
pub fn root_key(dir: &Path) -> Result<RootKey> {
    if let Ok(encoded) = std::env::var("TRESOR_ROOT_KEY") {
        return RootKey::from_encoded(&encoded).map_err(|e| CliError::Usage(format!("TRESOR_ROOT_KEY: {e}")));
    }
    let key_path = dir.join(KEY_FILE);
    if key_path.exists() {
        return RootKey::read_file(&key_path).map_err(|e| CliError::Service(e.into()));
    }
    if dir.join(DB_FILE).exists() {
        return Err(CliError::Usage(format!(
            "the store in {} has no root key file ({KEY_FILE}) and TRESOR_ROOT_KEY is unset; restore the key file \
             from your backup (its values cannot be read without it)",
            dir.display()
        )));
    }
    RootKey::write_new_file(&key_path).map_err(|e| CliError::Service(e.into()))
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

/// Opens (creating on first use) the store in `dir` and returns a ready service.
pub async fn open_service(dir: &Path) -> Result<Service> {
    ensure_dir(dir)?;
    let limits = limits_from_env()?;
    let root = root_key(dir)?;
    let db = dir.join(DB_FILE);
    let store = Arc::new(SqliteStore::open(&db).map_err(|e| CliError::Service(e.into()))?);
    restrict_to_owner(&db)?;
    let hosts: Vec<String> = std::env::var("TRESOR_WEBHOOK_ALLOW_HOSTS")
        .map(|v| v.split(',').map(str::trim).filter(|h| !h.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(Service::open(store, root, limits).await?.with_webhook_hosts(hosts))
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
