//! The embedded SQLite backend.
//!
//! One writer connection and a few reader connections over one database file in WAL mode. WAL lets
//! readers proceed while a write commits; `synchronous=FULL` makes every commit durable before it
//! returns. Calls are short (indexed point reads and small transactions), so they run inline on the
//! calling task rather than paying a thread hop each.

mod access;
mod audit;
mod backup;
mod batch;
mod migrate;
mod records;
mod reserve;
mod tags;

use crate::backend_prelude::*;
use crate::rows::{self, Columns, Mapper, CURRENT_COLS, ENTRY_AND_CURRENT_COLS, ENTRY_COLS};
use crate::rules::LiveLimits;
use crate::snapshot::Cell;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, ToSql, Transaction};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const READERS: usize = 4;

/// The workspace's live entries, from the counts migration 0008's triggers keep per vault.
const LIVE_ENTRIES_OF_WORKSPACE: &str = "SELECT COALESCE(SUM(live), 0) FROM vault_live_entries WHERE workspace = ?1";

/// The SQLite store. Cheap to share behind an `Arc`.
pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// The write-ahead log (`<database>-wal`), which [`Store::flush`] flushes.
    wal: std::path::PathBuf,
    /// The writer connection's `synchronous` setting is `FULL` (else `NORMAL`).
    synchronous_full: std::sync::atomic::AtomicBool,
    /// The database file.
    path: std::path::PathBuf,
    /// Space set aside for reads' audit records on a full disk (a server's; see [`reserve`]).
    reserve: Option<reserve::DiskReserve>,
}

/// A SQLite error as a store error: a full disk (`SQLITE_FULL`) is [`StoreError::OutOfSpace`],
/// so it is answered as such rather than as a fault of tresor.
fn backend(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => StoreError::OutOfSpace(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| StoreError::Backend(format!("opening {}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(backend)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(backend)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(backend)?;
    Ok(conn)
}

/// Creates the database file, readable and writable by its owner only, if it does not exist yet.
/// SQLite gives the `-wal` and `-shm` files it creates beside a database that database's permission
/// bits (it fchmods them to match), so a private database file keeps them private whatever the
/// process's umask or the directory's permissions; a chmod after opening would come too late for
/// them.
fn create_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::Backend(format!("creating {}: {e}", path.display()))),
        }
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed, owner-only) the database at `path` and applies pending
    /// migrations.
    pub fn open(path: &Path) -> Result<Self> {
        create_private(path)?;
        let mut writer = open_connection(path)?;
        migrate::apply(&mut writer)?;
        let readers = (0..READERS).map(|_| open_connection(path).map(Mutex::new)).collect::<Result<Vec<_>>>()?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            wal: wal.into(),
            synchronous_full: std::sync::atomic::AtomicBool::new(true),
            path: path.to_owned(),
            reserve: None,
        })
    }

    /// Sets `bytes` aside beside the database (`<database>-reserve`) for the audit records of
    /// reads: when the disk fills up, the space is released to them and changes are refused
    /// until it is free again, so that reads go on (see [`reserve`]). For a long-running
    /// server; zero sets nothing aside.
    pub fn with_disk_reserve(mut self, bytes: u64) -> Self {
        self.reserve = (bytes > 0).then(|| reserve::DiskReserve::hold(&self.path, bytes));
        self
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.read_with(|c| f(c).map_err(backend))
    }

    fn read_with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        // Take the first idle reader; block on one only if all are busy.
        for i in 0..self.readers.len() {
            if let Ok(conn) = self.readers[(start + i) % self.readers.len()].try_lock() {
                return f(&conn);
            }
        }
        let conn = self.readers[start % self.readers.len()].lock().map_err(|_| poisoned())?;
        f(&conn)
    }

    /// One write transaction, flushed before it returns: a change, so refused while the disk
    /// reserve is released (see [`reserve`]).
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock().map_err(|_| poisoned())?;
        if let Some(reserve) = &self.reserve {
            reserve.admit_change()?;
        }
        let out = self.transact(&mut conn, Flush::Now, f);
        if let Err(StoreError::OutOfSpace(_)) = &out {
            self.disk_full();
        }
        out
    }

    /// One write transaction on the writer connection, whose commit is flushed as `flush` says:
    /// the connection's `synchronous` is set for it (only when it changes).
    fn transact<T>(
        &self,
        conn: &mut Connection,
        flush: Flush,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let full = flush == Flush::Now;
        if self.synchronous_full.load(Ordering::Relaxed) != full {
            conn.pragma_update(None, "synchronous", if full { "FULL" } else { "NORMAL" }).map_err(backend)?;
            self.synchronous_full.store(full, Ordering::Relaxed);
        }
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(backend)?;
        let out = f(&tx)?;
        tx.commit().map_err(backend)?;
        Ok(out)
    }

    /// SQLite found the disk full: releases the reserve to reads. Whether it was held.
    fn disk_full(&self) -> bool {
        self.reserve.as_ref().is_some_and(|r| r.release())
    }

    /// [`Store::apply_group`], with the disk reserve's rule: while it is released, the group's
    /// changes are refused (each with its own error) and its reads' records committed alone.
    fn apply_group_guarded(&self, group: Group, chain: &ChainWriter) -> Result<Vec<Result<()>>> {
        let mut conn = self.writer.lock().map_err(|_| poisoned())?;
        let Some(reserve) = &self.reserve else {
            return self.commit_group(&mut conn, group, chain);
        };
        if !group.changes.is_empty() {
            if let Err(refused) = reserve.admit_change() {
                let Group { changes, reads, flush } = group;
                return self.refuse_changes_commit_reads(&mut conn, refused, changes.len(), reads, flush, chain);
            }
        }
        // Kept so that, should this group be the one that finds the disk full, its reads can be
        // committed again on the released space (a clone per record; the commit costs far more).
        let (reads_again, flush, changes) = (group.reads.clone(), group.flush, group.changes.len());
        let outcomes = match self.commit_group(&mut conn, group, chain) {
            Err(full @ StoreError::OutOfSpace(_)) if self.disk_full() => {
                return self.refuse_changes_commit_reads(&mut conn, full, changes, reads_again, flush, chain);
            }
            other => other?,
        };
        // A change that found the disk full in its own savepoint failed alone; the rest committed.
        if outcomes.iter().any(|o| matches!(o, Err(StoreError::OutOfSpace(_)))) {
            self.disk_full();
        }
        Ok(outcomes)
    }

    /// The outcomes of `changes` changes all refused with `refused`, after committing `reads`
    /// alone (a group's reads while the disk reserve is released).
    fn refuse_changes_commit_reads(
        &self,
        conn: &mut Connection,
        refused: StoreError,
        changes: usize,
        reads: Vec<AuditRecord>,
        flush: Flush,
        chain: &ChainWriter,
    ) -> Result<Vec<Result<()>>> {
        if !reads.is_empty() {
            self.commit_group(conn, Group { changes: Vec::new(), reads, flush }, chain)?;
        }
        Ok(std::iter::repeat_with(|| Err(refused.clone())).take(changes).collect())
    }

    /// Commits a group and moves the chain on.
    fn commit_group(&self, conn: &mut Connection, group: Group, chain: &ChainWriter) -> Result<Vec<Result<()>>> {
        let (outcomes, at) =
            self.transact(conn, group.flush, |tx| batch::run_ready(crate::batch::apply_group(tx, group, chain)))?;
        chain.advance(at);
        Ok(outcomes)
    }
}

fn poisoned() -> StoreError {
    StoreError::Backend("a database connection lock was poisoned by an earlier panic".into())
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// Maps a unique-key violation to `AlreadyExists(what)`, anything else to a backend error.
fn insert_err(what: String) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| if is_constraint(&e) { StoreError::AlreadyExists(what) } else { backend(e) }
}

/// Runs a statement that must change a row: [`StoreError::NotFound`] naming `what` when it
/// changed none.
fn change(tx: &Transaction<'_>, sql: &str, params: impl rusqlite::Params, what: impl FnOnce() -> String) -> Result<()> {
    let n = tx.execute(sql, params).map_err(backend)?;
    crate::rules::found(n as u64, what)
}

/// The column types the shared row mappers (`crate::rows`) read.
impl Columns for rusqlite::Row<'_> {
    fn int(&self, i: usize) -> Result<Option<i64>> {
        self.get(i).map_err(|e| corrupt(i, e))
    }
    fn text(&self, i: usize) -> Result<Option<String>> {
        self.get(i).map_err(|e| corrupt(i, e))
    }
    fn bytes(&self, i: usize) -> Result<Option<Vec<u8>>> {
        self.get(i).map_err(|e| corrupt(i, e))
    }
}

fn corrupt(i: usize, e: rusqlite::Error) -> StoreError {
    StoreError::Corrupt(format!("column {i}: {e}"))
}

/// Inserts one row into `table`: `values` in the order of `cols` (a column list of `crate::rows`).
fn insert_row(tx: &Transaction<'_>, table: &str, cols: &str, values: &[Cell]) -> rusqlite::Result<usize> {
    let placeholders: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
    tx.prepare_cached(&format!("INSERT INTO {table} ({cols}) VALUES ({})", placeholders.join(", ")))?
        .execute(rusqlite::params_from_iter(values))
}

/// Every row of a query, each mapped by `map` (one of `crate::rows`).
fn query_all<T>(c: &Connection, sql: &str, params: impl rusqlite::Params, map: Mapper<T>) -> Result<Vec<T>> {
    let mut stmt = c.prepare_cached(sql).map_err(backend)?;
    let mut rows = stmt.query(params).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(backend)? {
        out.push(map(r)?);
    }
    Ok(out)
}

/// The first row of a query, if any, mapped by `map`.
fn query_first<T>(c: &Connection, sql: &str, params: impl rusqlite::Params, map: Mapper<T>) -> Result<Option<T>> {
    let mut stmt = c.prepare_cached(sql).map_err(backend)?;
    let mut rows = stmt.query(params).map_err(backend)?;
    rows.next().map_err(backend)?.map(|r| map(r)).transpose()
}

fn vault_info(c: &Connection, ws: &str, env: &str, name: Option<&str>) -> Result<Vec<VaultInfo>> {
    query_all(
        c,
        "SELECT v.name, v.environment, v.created_at, v.managed_by, v.managed_at,
                (SELECT COALESCE(SUM(c.live), 0) FROM vault_live_entries c WHERE c.workspace = v.workspace
                    AND c.environment = v.environment AND c.vault = v.name)
         FROM vaults v WHERE v.workspace = ?1 AND v.environment = ?2 AND (?3 IS NULL OR v.name = ?3)
         ORDER BY v.name",
        params![ws, env, name],
        rows::vault,
    )
}

fn current_entry(tx: &Transaction<'_>, p: &EntryPath) -> Result<Option<(u64, Option<i64>)>> {
    tx.query_row(
        "SELECT version, deleted_at FROM entries WHERE workspace = ?1 AND environment = ?2 AND vault = ?3 AND key = ?4",
        params![p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str()],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Option<i64>>(1)?)),
    )
    .optional()
    .map_err(backend)
}

/// [`Store::write_version`] inside a caller's transaction (also a step of a batch).
fn write_version_tx(tx: &Transaction<'_>, n: &NewVersion) -> Result<()> {
    let p = &n.path;
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    let current = current_entry(tx, p)?;
    let actual = current.map_or(0, |(v, _)| v);
    // The write transaction is the only writer: the counts hold until it commits.
    let limits = LiveLimits::of(n, crate::rules::check_and_set(n, current)?);
    if let Some(limit) = limits.entries {
        let live: i64 = tx.query_row(LIVE_ENTRIES_OF_WORKSPACE, [ws], |r| r.get(0)).map_err(backend)?;
        crate::rules::check_entry_limit(live as u64, limit)?;
    }
    if let Some(limit) = limits.vault_secrets {
        let live: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM entries WHERE workspace = ?1 AND environment = ?2 AND vault = ?3 AND kind = ?4
                     AND deleted_at IS NULL",
                params![ws, env, vault, EntryKind::Secret.as_str()],
                |r| r.get(0),
            )
            .map_err(backend)?;
        crate::rules::check_vault_secret_limit(n, live as u64, limit)?;
    }
    let tags = n.tags.as_ref().map(|t| serde_json::to_string(t).expect("tags serialize"));
    let (kind, version) = (n.kind.as_str(), n.version as i64);
    // The entry row's values, ?1 to ?11 of both the INSERT and the UPDATE.
    let row: [&dyn ToSql; 11] =
        [&ws, &env, &vault, &key, &kind, &version, &n.now, &n.edited_by, &n.description, &tags, &n.expires_at];
    if current.is_none() {
        tx.execute(
            "INSERT INTO entries (workspace, environment, vault, key, kind, version, created_at, updated_at,
                     edited_by, description, tags, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, COALESCE(?10, '[]'), ?11)",
            row,
        )
        .map_err(|e| {
            if is_constraint(&e) {
                StoreError::NotFound(format!("vault {}/{}", p.environment, p.vault))
            } else {
                backend(e)
            }
        })?;
    } else {
        tx.execute(
            "UPDATE entries SET kind = ?5, version = ?6, updated_at = ?7, edited_by = ?8,
                     description = COALESCE(?9, description), tags = COALESCE(?10, tags), expires_at = ?11,
                     deleted_at = NULL
                 WHERE workspace = ?1 AND environment = ?2 AND vault = ?3 AND key = ?4 AND version = ?12",
            &[&row[..], &[&(actual as i64)]].concat()[..],
        )
        .map_err(backend)?;
    }
    tx.execute(
        "INSERT INTO entry_versions (workspace, environment, vault, key, version, kind, sealed, created_at, edited_by,
                 value_mac)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![ws, env, vault, key, n.version as i64, n.kind.as_str(), n.sealed, n.now, n.edited_by, n.value_mac],
    )
    .map_err(backend)?;
    let oldest_kept = crate::rules::oldest_kept(n);
    tx.execute(
        "DELETE FROM entry_versions WHERE workspace = ?1 AND environment = ?2 AND vault = ?3 AND key = ?4
                 AND version < ?5",
        params![ws, env, vault, key, oldest_kept as i64],
    )
    .map_err(backend)?;
    Ok(())
}

/// [`crate::batch::BatchSteps::touch_entry`].
fn touch_entry_tx(tx: &Transaction<'_>, p: &EntryPath, now: i64) -> Result<()> {
    let sql =
        "UPDATE entries SET updated_at = ?5 WHERE workspace = ?1 AND environment = ?2 AND vault = ?3 AND key = ?4";
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    change(tx, sql, params![ws, env, vault, key, now], || format!("entry {p}"))
}

/// [`Store::version_states`] on a connection, or inside a transaction.
fn version_states_of(c: &Connection, p: &EntryPath) -> Result<Vec<(u64, VersionState)>> {
    let sql = "SELECT version, deleted_at, destroyed_at FROM entry_versions
               WHERE workspace = ?1 AND environment = ?2 AND vault = ?3 AND key = ?4 ORDER BY version DESC";
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    query_all(c, sql, params![ws, env, vault, key], rows::version_state)
}

/// [`crate::batch::BatchSteps::put_version_state`].
fn put_version_state_tx(tx: &Transaction<'_>, p: &EntryPath, version: u64, state: &VersionState) -> Result<()> {
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    tx.execute(
        "UPDATE entry_versions SET deleted_at = ?6, destroyed_at = ?7,
             sealed = CASE WHEN ?7 IS NULL THEN sealed ELSE X'' END,
             value_mac = CASE WHEN ?7 IS NULL THEN value_mac ELSE NULL END
         WHERE workspace = ?1 AND environment = ?2 AND vault = ?3 AND key = ?4 AND version = ?5",
        params![ws, env, vault, key, version as i64, state.deleted_at, state.destroyed_at],
    )
    .map_err(backend)?;
    Ok(())
}

/// [`crate::batch::BatchSteps::execute`].
fn execute_tx(tx: &Transaction<'_>, sql: &str) -> Result<()> {
    tx.execute_batch(sql).map_err(backend)
}

/// [`Store::soft_delete`] inside a caller's transaction.
fn soft_delete_tx(tx: &Transaction<'_>, p: &EntryPath, now: i64) -> Result<()> {
    let sql = "UPDATE entries SET deleted_at = ?5, updated_at = ?5
               WHERE workspace = ?1 AND environment = ?2 AND vault = ?3 AND key = ?4 AND deleted_at IS NULL";
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    change(tx, sql, params![ws, env, vault, key, now], || format!("entry {p}"))
}

/// [`Store::create_environment`] inside a caller's transaction.
fn create_environment_tx(tx: &Transaction<'_>, e: &NewEnvironment) -> Result<()> {
    let (ws, parent) = (e.workspace.as_str(), e.parent.as_ref().map(EnvName::as_str));
    if let Some(parent) = parent {
        let exists = tx
            .query_row("SELECT 1 FROM environments WHERE workspace = ?1 AND name = ?2", params![ws, parent], |_| Ok(()))
            .optional()
            .map_err(backend)?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("parent environment {parent}")));
        }
    }
    tx.execute(
        "INSERT INTO environments (workspace, name, parent, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![ws, e.name.as_str(), parent, e.now],
    )
    .map_err(insert_err(format!("environment {}", e.name)))?;
    Ok(())
}

/// [`Store::create_vault`] inside a caller's transaction.
fn create_vault_tx(tx: &Transaction<'_>, vault: &VaultPath, now: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO vaults (workspace, environment, name, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![vault.workspace.as_str(), vault.environment.as_str(), vault.vault.as_str(), now],
    )
    .map_err(insert_err(format!("vault {vault}")))?;
    Ok(())
}

/// [`Store::delete_vault`] inside a caller's transaction.
fn delete_vault_tx(tx: &Transaction<'_>, vault: &VaultPath) -> Result<()> {
    let (ws, env, name) = (vault.workspace.as_str(), vault.environment.as_str(), vault.vault.as_str());
    let (live, deleted): (i64, i64) = tx
        .query_row(
            "SELECT COUNT(*) - COUNT(deleted_at), COUNT(deleted_at) FROM entries
             WHERE workspace = ?1 AND environment = ?2 AND vault = ?3",
            params![ws, env, name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(backend)?;
    crate::rules::check_vault_empty(vault, live as u64, deleted as u64)?;
    let sql = "DELETE FROM vaults WHERE workspace = ?1 AND environment = ?2 AND name = ?3";
    change(tx, sql, params![ws, env, name], || format!("vault {vault}"))
}

/// [`crate::BatchOp::SetVaultOwner`] inside a caller's transaction.
fn set_vault_owner_tx(tx: &Transaction<'_>, vault: &VaultPath, managed_by: Option<&str>, at: i64) -> Result<()> {
    let sql =
        "UPDATE vaults SET managed_by = ?4, managed_at = ?5 WHERE workspace = ?1 AND environment = ?2 AND name = ?3";
    let (ws, env, name) = (vault.workspace.as_str(), vault.environment.as_str(), vault.vault.as_str());
    change(tx, sql, params![ws, env, name, managed_by, at], || format!("vault {vault}"))
}

/// [`Store::undelete`] inside a caller's transaction.
fn undelete_tx(tx: &Transaction<'_>, p: &EntryPath, now: i64) -> Result<()> {
    let sql = "UPDATE entries SET deleted_at = NULL, updated_at = ?5
               WHERE workspace = ?1 AND environment = ?2 AND vault = ?3 AND key = ?4 AND deleted_at IS NOT NULL";
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    change(tx, sql, params![ws, env, vault, key, now], || format!("deleted entry {p}"))
}

/// [`Store::purge`] inside a caller's transaction.
fn purge_tx(tx: &Transaction<'_>, p: &EntryPath) -> Result<()> {
    let sql = "DELETE FROM entries WHERE workspace = ?1 AND environment = ?2 AND vault = ?3 AND key = ?4";
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    change(tx, sql, params![ws, env, vault, key], || format!("entry {p}"))
}

/// [`crate::batch::BatchSteps::replace_data_key`]: the rows changed (0 when the key moved on).
fn replace_data_key_tx(
    tx: &Transaction<'_>,
    ws: &WorkspaceName,
    generation: u32,
    old: &[u8],
    new: &[u8],
) -> Result<u64> {
    let sql = "UPDATE data_keys SET wrapped = ?4 WHERE workspace = ?1 AND generation = ?2 AND wrapped = ?3";
    tx.execute(sql, params![ws.as_str(), generation, old, new]).map(|n| n as u64).map_err(backend)
}

/// [`crate::batch::BatchSteps::replace_meta`]: the rows changed (0 when the value moved on).
fn replace_meta_tx(tx: &Transaction<'_>, key: &str, old: Option<&[u8]>, new: &[u8]) -> Result<u64> {
    let n = match old {
        Some(old) => tx.execute("UPDATE meta SET value = ?3 WHERE key = ?1 AND value = ?2", params![key, old, new]),
        None => {
            tx.execute("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING", params![key, new])
        }
    };
    n.map(|n| n as u64).map_err(backend)
}

/// [`crate::batch::BatchSteps::add_data_key`].
fn add_data_key_tx(tx: &Transaction<'_>, ws: &WorkspaceName, key: &WrappedKey, now: i64) -> Result<u64> {
    let n = tx
        .execute(
            "UPDATE workspaces SET current_key_generation = ?2 WHERE name = ?1 AND current_key_generation = ?2 - 1",
            params![ws.as_str(), key.generation],
        )
        .map_err(backend)?;
    if n == 1 {
        tx.execute(
            "INSERT INTO data_keys (workspace, generation, wrapped, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![ws.as_str(), key.generation, key.wrapped, now],
        )
        .map_err(backend)?;
    }
    Ok(n as u64)
}

/// [`crate::batch::BatchSteps::reseal`].
fn reseal_tx(tx: &Transaction<'_>, p: &EntryPath, version: u64, old: &[u8], new: &[u8]) -> Result<u64> {
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    let sql = "UPDATE entry_versions SET sealed = ?7
               WHERE workspace = ?1 AND environment = ?2 AND vault = ?3 AND key = ?4 AND version = ?5 AND sealed = ?6";
    tx.execute(sql, params![ws, env, vault, key, version as i64, old, new]).map(|n| n as u64).map_err(backend)
}

/// The sealed layout's generation (bytes 2 to 5, 1-based) as SQL, and the shortest sealed value.
const SEALED_GENERATION: &str = "substr(sealed, 2, 4)";
const SEALED_MIN_LEN: i64 = 45;

fn count_data_keys_tx(tx: &Transaction<'_>) -> Result<u64> {
    tx.query_row("SELECT COUNT(*) FROM data_keys", [], |r| r.get::<_, i64>(0)).map(|n| n as u64).map_err(backend)
}

#[async_trait]
impl Store for SqliteStore {
    async fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.read(|c| c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional())
    }

    async fn init_meta(&self, key: &str, value: &[u8]) -> Result<Vec<u8>> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                params![key, value],
            )
            .map_err(backend)?;
            tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).map_err(backend)
        })
    }

    async fn create_workspace(&self, name: &WorkspaceName, first_key: &WrappedKey, now: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO workspaces (name, current_key_generation, created_at) VALUES (?1, ?2, ?3)",
                params![name.as_str(), first_key.generation, now],
            )
            .map_err(insert_err(format!("workspace {name}")))?;
            tx.execute(
                "INSERT INTO data_keys (workspace, generation, wrapped, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![name.as_str(), first_key.generation, first_key.wrapped, now],
            )
            .map_err(backend)?;
            Ok(())
        })
    }

    async fn workspace_exists(&self, name: &WorkspaceName) -> Result<bool> {
        self.read(|c| c.query_row("SELECT 1 FROM workspaces WHERE name = ?1", [name.as_str()], |_| Ok(())).optional())
            .map(|o| o.is_some())
    }

    async fn data_key(&self, workspace: &WorkspaceName, generation: Option<u32>) -> Result<WrappedKey> {
        let found = self.read(|c| {
            c.prepare_cached(
                "SELECT d.generation, d.wrapped FROM data_keys d JOIN workspaces w ON w.name = d.workspace
                 WHERE d.workspace = ?1 AND d.generation = COALESCE(?2, w.current_key_generation)",
            )?
            .query_row(params![workspace.as_str(), generation], |r| {
                Ok(WrappedKey { generation: r.get(0)?, wrapped: r.get(1)? })
            })
            .optional()
        })?;
        found.ok_or_else(|| crate::rules::missing_data_key(workspace, generation))
    }

    async fn list_data_keys(&self) -> Result<Vec<(WorkspaceName, WrappedKey)>> {
        let sql = format!("SELECT {} FROM data_keys ORDER BY workspace, generation", rows::DATA_KEY_COLS);
        self.read_with(|c| query_all(c, &sql, [], rows::data_key))
    }

    async fn versions_not_on(
        &self,
        ws: &WorkspaceName,
        generation: u32,
        limit: u32,
    ) -> Result<Vec<crate::StaleVersion>> {
        let sql = format!(
            "SELECT {} FROM entry_versions
             WHERE workspace = ?1 AND length(sealed) >= ?2 AND {SEALED_GENERATION} <> ?3
             ORDER BY environment, vault, key, version LIMIT ?4",
            rows::STALE_VERSION_COLS
        );
        let params = params![ws.as_str(), SEALED_MIN_LEN, generation.to_be_bytes().to_vec(), limit];
        self.read_with(|c| query_all(c, &sql, params, rows::stale_version))
    }

    async fn count_by_generation(&self, ws: &WorkspaceName) -> Result<Vec<(u32, u64)>> {
        let sql = format!(
            "SELECT {SEALED_GENERATION} AS g, COUNT(*) FROM entry_versions
             WHERE workspace = ?1 AND length(sealed) >= ?2 GROUP BY g ORDER BY g"
        );
        self.read_with(|c| query_all(c, &sql, params![ws.as_str(), SEALED_MIN_LEN], rows::generation_count))
    }

    async fn create_environment(&self, env: &NewEnvironment) -> Result<()> {
        self.write(|tx| create_environment_tx(tx, env))
    }

    async fn get_environment(&self, workspace: &WorkspaceName, name: &EnvName) -> Result<Option<EnvInfo>> {
        let sql = "SELECT name, parent, created_at FROM environments WHERE workspace = ?1 AND name = ?2";
        self.read_with(|c| query_first(c, sql, params![workspace.as_str(), name.as_str()], rows::environment))
    }

    async fn list_environments(&self, workspace: &WorkspaceName) -> Result<Vec<EnvInfo>> {
        let sql = "SELECT name, parent, created_at FROM environments WHERE workspace = ?1 ORDER BY name";
        self.read_with(|c| query_all(c, sql, [workspace.as_str()], rows::environment))
    }

    async fn create_vault(&self, vault: &VaultPath, now: i64) -> Result<()> {
        self.write(|tx| create_vault_tx(tx, vault, now))
    }

    async fn get_vault(&self, vault: &VaultPath) -> Result<Option<VaultInfo>> {
        self.read_with(|c| {
            vault_info(c, vault.workspace.as_str(), vault.environment.as_str(), Some(vault.vault.as_str()))
        })
        .map(|mut v| v.pop())
    }

    async fn list_vaults(&self, workspace: &WorkspaceName, environment: &EnvName) -> Result<Vec<VaultInfo>> {
        self.read_with(|c| vault_info(c, workspace.as_str(), environment.as_str(), None))
    }

    async fn delete_vault(&self, vault: &VaultPath) -> Result<()> {
        self.write(|tx| delete_vault_tx(tx, vault))
    }

    async fn get_entry(&self, p: &EntryPath) -> Result<Option<EntryMeta>> {
        let sql = format!(
            "SELECT {ENTRY_COLS} FROM entries WHERE workspace = ?1 AND environment = ?2 AND vault = ?3 AND key = ?4"
        );
        let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
        self.read_with(|c| query_first(c, &sql, params![ws, env, vault, key], rows::entry))
    }

    async fn read_version(&self, p: &EntryPath, version: Option<u64>) -> Result<Option<SealedVersion>> {
        let sql = "SELECT v.version, v.kind, v.created_at, v.edited_by, v.sealed, v.value_mac, v.deleted_at,
                          v.destroyed_at FROM entry_versions v
                   JOIN entries e ON e.workspace = v.workspace AND e.environment = v.environment
                       AND e.vault = v.vault AND e.key = v.key
                   WHERE v.workspace = ?1 AND v.environment = ?2 AND v.vault = ?3 AND v.key = ?4
                       AND v.version = COALESCE(?5, e.version)";
        let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
        self.read_with(|c| query_first(c, sql, params![ws, env, vault, key, version.map(|v| v as i64)], rows::sealed))
    }

    async fn read_current_many(
        &self,
        vault: &VaultPath,
        keys: &[&str],
    ) -> Result<Vec<Option<(EntryMeta, SealedVersion)>>> {
        // The keys travel as one JSON array parameter (`json_each`, whose `key` is the position in
        // the array), so the statement is the same for any number of them and stays cached. CROSS
        // JOIN keeps the keys the outer loop, one index lookup each: left to itself, SQLite's planner
        // scans the vault's entries and the whole array for each (10,000 keys took seconds).
        let sql = format!(
            "SELECT {CURRENT_COLS} FROM (SELECT key AS position, value AS key FROM json_each(?4)) wanted
             CROSS JOIN entries e ON e.workspace = ?1 AND e.environment = ?2 AND e.vault = ?3 AND e.key = wanted.key
             JOIN entry_versions v ON v.workspace = e.workspace AND v.environment = e.environment
                 AND v.vault = e.vault AND v.key = e.key AND v.version = e.version"
        );
        let wanted = serde_json::to_string(keys).map_err(|e| StoreError::Backend(format!("encoding keys: {e}")))?;
        let (ws, env, name) = (vault.workspace.as_str(), vault.environment.as_str(), vault.vault.as_str());
        let found = self.read_with(|c| query_all(c, &sql, params![ws, env, name, wanted], rows::current))?;
        rows::at_positions(keys.len(), found)
    }

    async fn read_vault_current(&self, vault: &VaultPath) -> Result<Vec<(EntryMeta, SealedVersion)>> {
        // One walk of the entries' primary key in key order, one lookup of each current version.
        let sql = format!(
            "SELECT {ENTRY_AND_CURRENT_COLS} FROM entries e
             JOIN entry_versions v ON v.workspace = e.workspace AND v.environment = e.environment
                 AND v.vault = e.vault AND v.key = e.key AND v.version = e.version
             WHERE e.workspace = ?1 AND e.environment = ?2 AND e.vault = ?3 AND e.deleted_at IS NULL
             ORDER BY e.key"
        );
        let (ws, env, name) = (vault.workspace.as_str(), vault.environment.as_str(), vault.vault.as_str());
        self.read_with(|c| query_all(c, &sql, params![ws, env, name], rows::entry_and_current))
    }

    async fn list_entries(&self, vault: &VaultPath, q: &ListQuery) -> Result<Vec<EntryMeta>> {
        let sql = format!(
            "SELECT {ENTRY_COLS} FROM entries
             WHERE workspace = ?1 AND environment = ?2 AND vault = ?3 AND key LIKE ?4 ESCAPE '\\'
                 AND (?5 IS NULL OR key > ?5) AND (?6 OR deleted_at IS NULL)
             ORDER BY key LIMIT ?7"
        );
        let (ws, env, name) = (vault.workspace.as_str(), vault.environment.as_str(), vault.vault.as_str());
        let params = params![ws, env, name, like_prefix(&q.prefix), q.after, q.include_deleted, q.limit];
        self.read_with(|c| query_all(c, &sql, params, rows::entry))
    }

    async fn list_versions(&self, p: &EntryPath) -> Result<Vec<VersionMeta>> {
        let sql = "SELECT version, kind, created_at, edited_by FROM entry_versions
                   WHERE workspace = ?1 AND environment = ?2 AND vault = ?3 AND key = ?4 ORDER BY version DESC";
        let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
        self.read_with(|c| query_all(c, sql, params![ws, env, vault, key], rows::version))
    }

    async fn version_states(&self, p: &EntryPath) -> Result<Vec<(u64, VersionState)>> {
        self.read_with(|c| version_states_of(c, p))
    }

    async fn write_version(&self, n: NewVersion) -> Result<()> {
        self.write(|tx| write_version_tx(tx, &n))
    }

    async fn soft_delete(&self, p: &EntryPath, now: i64) -> Result<()> {
        self.write(|tx| soft_delete_tx(tx, p, now))
    }

    async fn apply_group(&self, group: Group, chain: &ChainWriter) -> Result<Vec<Result<()>>> {
        self.apply_group_guarded(group, chain)
    }

    fn refusing_changes_for_a_full_disk(&self) -> bool {
        self.reserve.as_ref().is_some_and(|r| !r.is_held())
    }

    async fn flush(&self) -> Result<()> {
        // In WAL mode a commit appends to the log; `synchronous=NORMAL` leaves the log unflushed
        // until a checkpoint, `FULL` flushes it at every commit. Flushing the log file makes every
        // commit in it durable. On Linux, fsync through any descriptor of a file flushes all of
        // its written pages, those SQLite wrote included.
        match std::fs::File::open(&self.wal) {
            Ok(log) => {
                log.sync_data().map_err(|e| StoreError::Backend(format!("flushing {}: {e}", self.wal.display())))
            }
            // No log: every commit has been checkpointed into the database, which SQLite flushes.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Backend(format!("opening {}: {e}", self.wal.display()))),
        }
    }

    async fn undelete(&self, p: &EntryPath, now: i64) -> Result<()> {
        self.write(|tx| undelete_tx(tx, p, now))
    }

    async fn purge(&self, p: &EntryPath) -> Result<()> {
        self.write(|tx| purge_tx(tx, p))
    }

    async fn count_entries(&self, workspace: &WorkspaceName) -> Result<u64> {
        self.read(|c| c.query_row(LIVE_ENTRIES_OF_WORKSPACE, [workspace.as_str()], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
    }

    async fn create_principal(&self, p: &NewPrincipal) -> Result<()> {
        self.write(|tx| access::create_principal_tx(tx, p))
    }
    async fn list_principals(&self, ws: &WorkspaceName) -> Result<Vec<PrincipalRecord>> {
        self.list_principals_impl(ws)
    }
    async fn principal_exists(&self, ws: &WorkspaceName, p: &PrincipalRef) -> Result<bool> {
        self.principal_exists_impl(ws, p)
    }
    async fn delete_principal(&self, ws: &WorkspaceName, p: &PrincipalRef) -> Result<()> {
        self.write(|tx| access::delete_principal_tx(tx, ws, p))
    }
    async fn add_member(&self, m: &Membership) -> Result<()> {
        self.write(|tx| access::add_member_tx(tx, m))
    }
    async fn remove_member(&self, m: &Membership) -> Result<()> {
        self.write(|tx| access::remove_member_tx(tx, m))
    }
    async fn groups_of(&self, ws: &WorkspaceName, p: &PrincipalRef) -> Result<Vec<String>> {
        self.groups_of_impl(ws, p)
    }
    async fn members_of(&self, ws: &WorkspaceName, group: &str) -> Result<Vec<PrincipalRef>> {
        self.members_of_impl(ws, group)
    }
    async fn get_token(&self, id: &str) -> Result<Option<TokenRecord>> {
        self.read_with(|c| records::by_id(c, id))
    }
    async fn list_tokens(&self, ws: &WorkspaceName) -> Result<Vec<TokenRecord>> {
        self.read_with(|c| records::of_workspace(c, ws))
    }
    async fn list_grants(&self, ws: &WorkspaceName) -> Result<Vec<GrantRecord>> {
        self.read_with(|c| records::of_workspace(c, ws))
    }
    async fn grants_for(&self, ws: &WorkspaceName, principals: &[PrincipalRef]) -> Result<Vec<GrantRecord>> {
        self.grants_for_impl(ws, principals)
    }
    async fn delete_grant(&self, ws: &WorkspaceName, id: &str) -> Result<GrantRecord> {
        self.write(|tx| access::delete_grant_tx(tx, ws, id))
    }
    async fn list_audit(&self, after: u64, since: Option<i64>, limit: u32) -> Result<Vec<AuditRecord>> {
        self.list_audit_impl(after, since, limit)
    }
    async fn list_audit_desc(&self, before: Option<u64>, limit: u32) -> Result<Vec<AuditRecord>> {
        self.list_audit_desc_impl(before, limit)
    }
    async fn audit_chains(&self) -> Result<Vec<ChainHead>> {
        self.audit_chains_impl()
    }
    async fn update_tags(&self, path: &EntryPath, upsert: &[Tag], remove: &[Tag]) -> Result<Vec<Tag>> {
        self.write(|tx| tags::update_tags_tx(tx, path, upsert, remove))
    }
    async fn get_app_key(&self, id: &str) -> Result<Option<AppKeyRecord>> {
        self.read_with(|c| records::by_id(c, id))
    }
    async fn list_app_keys(&self, ws: &WorkspaceName) -> Result<Vec<AppKeyRecord>> {
        self.read_with(|c| records::of_workspace(c, ws))
    }
    async fn revoke_app_key(&self, ws: &WorkspaceName, id: &str, now: i64) -> Result<()> {
        self.write(|tx| records::revoke_tx::<AppKeyRecord>(tx, ws, id, now))
    }
    async fn export_snapshot(&self) -> Result<crate::Snapshot> {
        self.export_snapshot_impl()
    }
    async fn import_snapshot(&self, snapshot: &crate::Snapshot) -> Result<()> {
        self.import_snapshot_impl(snapshot)
    }
}

#[cfg(test)]
mod tests;
