//! `tresor backup create FILE` and `tresor backup restore FILE`: a whole store to a file and back, on the same
//! storage options as `serve`. The file is a [`Snapshot`] (format in `tresor-store`'s docs):
//! sealed values, wrapped keys, hashes; never the root key. So backing up needs no key, and a
//! restored store is served with the root key of the store it came from.

use crate::args::BackupArgs;
use crate::error::{CliError, Result};
use crate::local::{Storage, KEY_FILE};
use crate::output::outln;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use tresor_crypto::{MacKey, RootKey};
use tresor_service::{ServiceError, AUDIT_KEY_META};
use tresor_store::{Snapshot, StoreError};

fn store_err(e: StoreError) -> CliError {
    CliError::Service(e.into())
}

pub async fn backup(args: BackupArgs, json: bool) -> Result<i32> {
    let (_, storage) = args.location.resolve()?;
    if let Storage::Sqlite(db) = &storage {
        // Opening would create an empty store; backing that up helps no one.
        if !db.exists() {
            return Err(CliError::Service(ServiceError::NotFound(format!(
                "there is no tresor store at {}; pass the server's --data-dir or --storage",
                storage.describe()
            ))));
        }
    }
    let (store, _) = storage.open().await?;
    let snapshot = store.export_snapshot().await.map_err(store_err)?;
    let bytes = snapshot.to_json();
    let to_stdout = args.file == "-";
    if to_stdout {
        crate::output::write_out(&bytes)?;
        crate::output::write_out(b"\n")?;
    } else {
        write_atomically(Path::new(&args.file), &bytes)?;
    }
    let summary = summary(&snapshot);
    if json && !to_stdout {
        let own = Backed {
            backup: &args.file,
            created: &snapshot.header.created,
            schema_version: snapshot.header.schema_version,
        };
        print_report(own, &storage, &snapshot)?;
    } else if !json {
        // With the backup on stdout, the summary goes to stderr.
        let text = format!(
            "Backed up {} to {} ({summary}).\nThe root key is not in the backup: keep {KEY_FILE} (or TRESOR_ROOT_KEY) \
             safe separately; the values cannot be read without it.",
            storage.describe(),
            if to_stdout { "stdout" } else { &args.file },
        );
        if to_stdout {
            eprintln!("{text}");
        } else {
            outln!("{text}")?;
        }
    }
    Ok(0)
}

pub async fn restore(args: BackupArgs, json: bool) -> Result<i32> {
    // Everything that can be checked without touching the target is checked first.
    let text = crate::commands::read_file_or_stdin(&args.file, "backup file")?;
    let snapshot = Snapshot::from_json(text.as_bytes()).map_err(store_err)?;
    drop(text);
    let (dir, storage) = args.location.resolve()?;
    // A store whose root key comes from a passphrase or a command has no key file to check.
    let provider = crate::root_key::provider_in(snapshot.tables.meta.iter().map(|m| (m.key.as_str(), &m.value.0[..])))?;
    let key_found = match &provider {
        crate::root_key::Provider::File => check_root_key(&dir, &snapshot)?,
        _ => false,
    };

    let created = match &storage {
        Storage::Sqlite(db) => (!db.exists()).then(|| db.clone()),
        Storage::Postgres(_) => None,
    };
    let (store, _) = storage.open().await?;
    if let Err(e) = store.import_snapshot(&snapshot).await {
        drop(store);
        // Leave no empty database file behind where there was none.
        if let Some(db) = created {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = db.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(path));
            }
        }
        return Err(store_err(e));
    }

    let summary = summary(&snapshot);
    if json {
        let own = Restored {
            restored: &args.file,
            backup_created: &snapshot.header.created,
            source_backend: &snapshot.header.source_backend,
            root_key_found: key_found,
        };
        print_report(own, &storage, &snapshot)?;
    } else {
        outln!(
            "Restored {} (taken {} from {}) into {} ({summary}).",
            args.file,
            snapshot.header.created,
            snapshot.header.source_backend,
            storage.describe()
        )?;
        if provider != crate::root_key::Provider::File {
            outln!(
                "Its root key comes from the {} provider (recorded in the store): start `tresor serve --data-dir {}` \
                 with the source store's passphrase or --root-key-command.",
                provider.name(),
                dir.display()
            )?;
        } else if key_found {
            outln!("Start the server on it with the same root key: tresor serve --data-dir {}", dir.display())?;
        } else {
            outln!(
                "{} holds no {KEY_FILE} and TRESOR_ROOT_KEY is unset: copy the source store's {KEY_FILE} there (or set \
                 TRESOR_ROOT_KEY) before `tresor serve`; only that key opens these values.",
                dir.display()
            )?;
        }
    }
    Ok(0)
}

/// When a root key is at hand (`TRESOR_ROOT_KEY` or the data directory's key file), checks that it
/// is the one that wrapped the backup's keys, before anything is written: a store restored next to
/// the wrong key would only fail later, at `serve`. Returns whether a key was found.
fn check_root_key(dir: &Path, snapshot: &Snapshot) -> Result<bool> {
    let (root, source) = if let Ok(encoded) = std::env::var("TRESOR_ROOT_KEY") {
        let key = RootKey::from_encoded(&encoded).map_err(|e| CliError::Usage(format!("TRESOR_ROOT_KEY: {e}")))?;
        (key, "TRESOR_ROOT_KEY".to_owned())
    } else {
        let path = dir.join(KEY_FILE);
        if !path.exists() {
            return Ok(false);
        }
        (RootKey::read_file(&path).map_err(|e| CliError::Service(e.into()))?, path.display().to_string())
    };
    let mismatch = || {
        CliError::Usage(format!(
            "the root key in {source} does not open this backup's keys: the backup comes from a store with another \
             root key. Use that store's {KEY_FILE} (restore into a data directory holding it, or set TRESOR_ROOT_KEY)"
        ))
    };
    let tables = &snapshot.tables;
    if let Some(row) = tables.meta.iter().find(|m| m.key == AUDIT_KEY_META) {
        MacKey::unwrap(&root, "audit", &row.value.0).map_err(|_| mismatch())?;
    }
    for row in &tables.data_keys {
        root.unwrap(&row.workspace, &row.wrapped.0).map_err(|_| mismatch())?;
    }
    Ok(true)
}

/// Rows per table, for `--json`.
/// What `--json` reports of either verb: its own fields, the storage, and the rows per table.
#[derive(Serialize)]
struct Report<'a, Own: Serialize> {
    #[serde(flatten)]
    own: Own,
    storage: String,
    rows: BTreeMap<&'a str, usize>,
}

/// `tresor backup --json`'s own fields.
#[derive(Serialize)]
struct Backed<'a> {
    backup: &'a str,
    created: &'a str,
    schema_version: i64,
}

/// `tresor backup restore --json`'s own fields.
#[derive(Serialize)]
struct Restored<'a> {
    restored: &'a str,
    backup_created: &'a str,
    source_backend: &'a str,
    root_key_found: bool,
}

fn print_report<Own: Serialize>(own: Own, storage: &Storage, snapshot: &Snapshot) -> Result<()> {
    let rows = snapshot.tables.counts().into_iter().collect();
    let report = Report { own, storage: storage.describe(), rows };
    let text = serde_json::to_string(&report).expect("a report of strings and numbers serializes");
    outln!("{text}")?;
    Ok(())
}

/// "3 entries, 7 versions, ..." for the tables people recognise.
fn summary(snapshot: &Snapshot) -> String {
    let t = &snapshot.tables;
    format!(
        "{} entries, {} versions, {} principals, {} tokens, {} grants, {} audit records",
        t.entries.len(),
        t.entry_versions.len(),
        t.principals.len(),
        t.tokens.len(),
        t.grants.len(),
        t.audit_log.len()
    )
}

/// Writes `bytes` to `path` through a temporary file in the same directory (mode 0600) renamed over
/// it, so a reader never sees half a backup and an interrupted backup leaves the old file intact.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| CliError::Usage(format!("{} is not a file name", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let io = |what: &str, e: std::io::Error| CliError::Io(format!("{what} {}: {e}", path.display()));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(|e| io("creating the backup file beside", e))?;
        file.write_all(bytes).map_err(|e| io("writing the backup", e))?;
        file.write_all(b"\n").map_err(|e| io("writing the backup", e))?;
        file.sync_all().map_err(|e| io("syncing the backup", e))?;
        std::fs::rename(&tmp, path).map_err(|e| io("renaming the backup into place at", e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    } else if let Ok(d) = std::fs::File::open(dir) {
        // Make the rename itself durable (best effort: not every platform syncs directories).
        let _ = d.sync_all();
    }
    result
}
