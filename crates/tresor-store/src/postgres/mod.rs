//! The PostgreSQL backend, for several tresor servers sharing one database.
//!
//! Connections come from a small fixed pool (`pool.rs`). Every method is one transaction
//! at READ COMMITTED; the invariants that must hold across servers take row locks inside it:
//! check-and-set locks the entry row (`SELECT ... FOR UPDATE`), the entry limit takes a
//! per-workspace advisory transaction lock, vault deletion locks the vault row, and audit appends
//! lock the `audit_head` meta row so the chain stays linear with appenders on other connections.

/// Runs one step (an expression on the transaction `tx`, returning a `Result`) in a transaction
/// of its own on a pooled connection, and commits it if the step succeeded: a `Store` method
/// that is one step of a batch on its own.
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $step:expr) => {{
        let mut conn = $store.conn().await?;
        let $tx = conn.transaction().await.map_err($crate::postgres::backend)?;
        let out = $step?;
        $tx.commit().await.map_err($crate::postgres::backend)?;
        Ok(out)
    }};
}

mod access;
mod audit;
mod backup;
mod batch;
mod feed;
mod migrate;
mod pool;
mod records;
mod tags;
mod tls;

use crate::backend_prelude::*;
use crate::rows::{self, Columns, CURRENT_COLS, ENTRY_AND_CURRENT_COLS, ENTRY_COLS};
use crate::rules::LiveLimits;
use crate::snapshot::Cell;
use async_trait::async_trait;
use pool::PgTx;
use pool::{describe, POOL_SIZE};
use std::sync::atomic::AtomicUsize;
use tokio::sync::Mutex;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::{Config, GenericClient, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Advisory lock class ids (the two-key form of `pg_advisory_xact_lock`), so tresor's locks never
/// collide with another application's one-key locks in the same database.
const LOCK_CLASS_MIGRATIONS: i32 = 0x7472_0001;
const LOCK_CLASS_ENTRY_LIMIT: i32 = 0x7472_0002;

/// The PostgreSQL store. Cheap to share behind an `Arc`.
pub struct PostgresStore {
    config: Config,
    /// `host:port/dbname` for error messages; never holds the password.
    target: String,
    conns: Vec<Mutex<Option<pool::Pooled>>>,
    next: AtomicUsize,
    /// The runtime `connect` ran on. Connection tasks are spawned there, never on the runtime of
    /// whoever happens to open a connection: the audit writer calls in from its own single-thread
    /// runtime, which runs only while that thread waits, and must not end up hosting a connection
    /// the whole server uses.
    runtime: tokio::runtime::Handle,
    /// TLS as the URL's `sslmode` asks (see `tls.rs`).
    tls: MakeRustlsConnect,
}

/// A statement's parameters, `$1` first.
type Params<'a> = [&'a (dyn ToSql + Sync)];

/// The workspace's live entries, from the counts migration 0008's trigger keeps per vault.
const LIVE_ENTRIES_OF_WORKSPACE: &str =
    "SELECT COALESCE(SUM(live), 0)::BIGINT FROM vault_live_entries WHERE workspace = $1";

/// A PostgreSQL error as a store error: a full disk (SQLSTATE 53100) is
/// [`StoreError::OutOfSpace`]; a lost connection, or a server shutting down or starting, is
/// [`StoreError::Unavailable`] (the pool opens a new connection at the next request).
fn backend(e: tokio_postgres::Error) -> StoreError {
    let unavailable = [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW];
    match e.code() {
        Some(code) if *code == SqlState::DISK_FULL => StoreError::OutOfSpace(pg_message(&e)),
        Some(code) if unavailable.contains(code) => StoreError::Unavailable(pg_message(&e)),
        None if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) => {
            StoreError::Unavailable(pg_message(&e))
        }
        _ => StoreError::Backend(pg_message(&e)),
    }
}

/// The server's own message for database errors (tokio-postgres' `Display` says only "db error").
fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({}): {}", db.message(), db.code().code(), detail),
            None => format!("{} ({})", db.message(), db.code().code()),
        },
        None => match std::error::Error::source(e) {
            Some(src) => format!("{e}: {src}"),
            None => e.to_string(),
        },
    }
}

fn is_code(e: &tokio_postgres::Error, code: &SqlState) -> bool {
    e.code() == Some(code)
}

/// Maps a unique-key violation to `AlreadyExists(what)`, a missing referenced row to
/// `NotFound(parent)`, anything else to a backend error.
fn insert_err(what: String, parent: &str) -> impl FnOnce(tokio_postgres::Error) -> StoreError + '_ {
    move |e| {
        if is_code(&e, &SqlState::UNIQUE_VIOLATION) {
            StoreError::AlreadyExists(what)
        } else if is_code(&e, &SqlState::FOREIGN_KEY_VIOLATION) {
            StoreError::NotFound(parent.to_owned())
        } else {
            backend(e)
        }
    }
}

/// Runs a statement that must change a row: [`StoreError::NotFound`] naming `what` when it
/// changed none.
pub(super) async fn change(tx: &PgTx<'_>, sql: &str, params: &Params<'_>, what: impl FnOnce() -> String) -> Result<()> {
    let n = tx.execute(sql, params).await.map_err(backend)?;
    crate::rules::found(n, what)
}

/// Inserts one row into `table`: `values` in the order of `cols` (a column list of `crate::rows`).
pub(super) async fn insert_row(
    tx: &PgTx<'_>,
    table: &str,
    cols: &str,
    values: &[Cell],
) -> std::result::Result<u64, tokio_postgres::Error> {
    let placeholders: Vec<String> = (1..=values.len()).map(|i| format!("${i}")).collect();
    let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
    tx.execute(&format!("INSERT INTO {table} ({cols}) VALUES ({})", placeholders.join(", ")), &params).await
}

/// One column, its type checked.
fn col<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Result<T> {
    row.try_get(i).map_err(|e| StoreError::Corrupt(format!("column {i}: {}", pg_message(&e))))
}

/// The column types the shared row mappers (`crate::rows`) read.
impl Columns for Row {
    fn int(&self, i: usize) -> Result<Option<i64>> {
        col(self, i)
    }
    fn text(&self, i: usize) -> Result<Option<String>> {
        col(self, i)
    }
    fn bytes(&self, i: usize) -> Result<Option<Vec<u8>>> {
        col(self, i)
    }
}

impl PostgresStore {
    /// `host:port/dbname` of a URL, for logs and messages: never its password.
    pub fn describe_url(url: &str) -> String {
        let url = tls::from_url(url).map(|t| t.url).unwrap_or_else(|_| url.to_owned());
        match url.parse::<Config>() {
            Ok(config) => describe(&config),
            Err(_) => "(unparsable PostgreSQL URL)".into(),
        }
    }

    /// Connects to the database at `url` (`postgres://user@host:port/dbname`), applies pending
    /// migrations and opens the pool. Errors name the host and database, never the password.
    pub async fn connect(url: &str) -> Result<Self> {
        let tls = tls::from_url(url)?;
        let mut config: Config = tls
            .url
            .parse()
            .map_err(|e| StoreError::InvalidLocation(format!("invalid PostgreSQL URL: {}", pg_message(&e))))?;
        config.ssl_mode(tls.mode);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        config.application_name("tresor");
        let target = describe(&config);
        let store = Self {
            config,
            target,
            conns: (0..POOL_SIZE).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            runtime: tokio::runtime::Handle::current(),
            tls: tls.connector,
        };
        {
            let mut conn = store.conn().await?;
            migrate::apply(&mut conn).await?;
        }
        Ok(store)
    }

    async fn vault_info(&self, ws: &str, env: &str, name: Option<&str>) -> Result<Vec<VaultInfo>> {
        self.all(
            "SELECT v.name, v.environment, v.created_at, v.managed_by, v.managed_at,
                    (SELECT COALESCE(SUM(c.live), 0)::BIGINT FROM vault_live_entries c WHERE c.workspace = v.workspace
                        AND c.environment = v.environment AND c.vault = v.name)
                 FROM vaults v WHERE v.workspace = $1 AND v.environment = $2 AND ($3::TEXT IS NULL OR v.name = $3)
                 ORDER BY v.name",
            &[&ws, &env, &name],
            rows::vault,
        )
        .await
    }
}

/// The entry's current version and deletion time, its row locked for the rest of the transaction.
async fn lock_entry(tx: &PgTx<'_>, p: &EntryPath) -> Result<Option<(u64, Option<i64>)>> {
    let row = tx
        .query_opt(
            "SELECT version, deleted_at FROM entries
             WHERE workspace = $1 AND environment = $2 AND vault = $3 AND key = $4 FOR UPDATE",
            &[&p.workspace.as_str(), &p.environment.as_str(), &p.vault.as_str(), &p.key.as_str()],
        )
        .await
        .map_err(backend)?;
    row.map(|r| Ok((col::<i64>(&r, 0)? as u64, col(&r, 1)?))).transpose()
}

/// [`Store::write_version`] inside a caller's transaction (also a step of a batch).
async fn write_version_tx(tx: &PgTx<'_>, n: &NewVersion) -> Result<()> {
    let p = &n.path;
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    let current = lock_entry(tx, p).await?;
    let actual = current.map_or(0, |(v, _)| v);
    let limits = LiveLimits::of(n, crate::rules::check_and_set(n, current)?);
    if limits.any() {
        // Serializes the writers that add live entries to this workspace under a limit, so two
        // of them cannot both see room for one more (in the workspace or in the vault).
        tx.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", &[&LOCK_CLASS_ENTRY_LIMIT, &ws])
            .await
            .map_err(backend)?;
    }
    if let Some(limit) = limits.entries {
        let row = tx.query_one(LIVE_ENTRIES_OF_WORKSPACE, &[&ws]).await.map_err(backend)?;
        crate::rules::check_entry_limit(col::<i64>(&row, 0)? as u64, limit)?;
    }
    if let Some(limit) = limits.vault_secrets {
        let row = tx
            .query_one(
                "SELECT COUNT(*) FROM entries WHERE workspace = $1 AND environment = $2 AND vault = $3 AND kind = $4
                     AND deleted_at IS NULL",
                &[&ws, &env, &vault, &EntryKind::Secret.as_str()],
            )
            .await
            .map_err(backend)?;
        crate::rules::check_vault_secret_limit(n, col::<i64>(&row, 0)? as u64, limit)?;
    }
    let tags = n.tags.as_ref().map(|t| serde_json::to_string(t).expect("tags serialize"));
    let version = n.version as i64;
    // The entry row's values, $1 to $11 of both the INSERT and the UPDATE.
    let row: [&(dyn ToSql + Sync); 11] = [
        &ws,
        &env,
        &vault,
        &key,
        &n.kind.as_str(),
        &version,
        &n.now,
        &n.edited_by,
        &n.description,
        &tags,
        &n.expires_at,
    ];
    if current.is_none() {
        let inserted = tx
            .execute(
                "INSERT INTO entries (workspace, environment, vault, key, kind, version, created_at, updated_at,
                     edited_by, description, tags, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, COALESCE($10, '[]'), $11)
                 ON CONFLICT (workspace, environment, vault, key) DO NOTHING",
                &row,
            )
            .await
            .map_err(|e| {
                if is_code(&e, &SqlState::FOREIGN_KEY_VIOLATION) {
                    StoreError::NotFound(format!("vault {}/{}", p.environment, p.vault))
                } else {
                    backend(e)
                }
            })?;
        if inserted == 0 {
            // Another writer created the entry after our lookup and committed first.
            let now_current = lock_entry(tx, p).await?.map_or(1, |(v, _)| v);
            return Err(StoreError::VersionConflict {
                path: p.to_string(),
                expected: n.expected_current,
                actual: now_current,
            });
        }
    } else {
        let updated = tx
            .execute(
                "UPDATE entries SET kind = $5, version = $6, updated_at = $7, edited_by = $8,
                 description = COALESCE($9, description), tags = COALESCE($10, tags), expires_at = $11,
                 deleted_at = NULL
             WHERE workspace = $1 AND environment = $2 AND vault = $3 AND key = $4 AND version = $12",
                &[&row[..], &[&(actual as i64)]].concat(),
            )
            .await
            .map_err(backend)?;
        if updated != 1 {
            // Cannot happen while the row lock is held; checked so a lost update is never silent.
            return Err(StoreError::VersionConflict { path: p.to_string(), expected: n.expected_current, actual });
        }
    }
    tx.execute(
        "INSERT INTO entry_versions (workspace, environment, vault, key, version, kind, sealed, created_at, edited_by,
             value_mac)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[&ws, &env, &vault, &key, &version, &n.kind.as_str(), &n.sealed, &n.now, &n.edited_by, &n.value_mac],
    )
    .await
    .map_err(backend)?;
    let oldest_kept = crate::rules::oldest_kept(n) as i64;
    tx.execute(
        "DELETE FROM entry_versions WHERE workspace = $1 AND environment = $2 AND vault = $3 AND key = $4
             AND version < $5",
        &[&ws, &env, &vault, &key, &oldest_kept],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

/// [`crate::batch::BatchSteps::execute`].
async fn execute_tx(tx: &PgTx<'_>, sql: &str) -> Result<()> {
    tx.batch_execute(sql).await.map_err(backend)
}

/// [`Store::soft_delete`] inside a caller's transaction.
async fn soft_delete_tx(tx: &PgTx<'_>, p: &EntryPath, now: i64) -> Result<()> {
    let sql = "UPDATE entries SET deleted_at = $5, updated_at = $5
               WHERE workspace = $1 AND environment = $2 AND vault = $3 AND key = $4 AND deleted_at IS NULL";
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    change(tx, sql, &[&ws, &env, &vault, &key, &now], || format!("entry {p}")).await
}

/// [`crate::batch::BatchSteps::touch_entry`]: also locks the entry's row against its other
/// writers until the transaction ends.
async fn touch_entry_tx(tx: &PgTx<'_>, p: &EntryPath, now: i64) -> Result<()> {
    let sql =
        "UPDATE entries SET updated_at = $5 WHERE workspace = $1 AND environment = $2 AND vault = $3 AND key = $4";
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    change(tx, sql, &[&ws, &env, &vault, &key, &now], || format!("entry {p}")).await
}

/// [`Store::version_states`] on a pooled connection, or inside a transaction.
/// [`version_states_on`] inside a change's transaction (the batch steps' name for it).
async fn version_states_of(tx: &PgTx<'_>, p: &EntryPath) -> Result<Vec<(u64, VersionState)>> {
    version_states_on(&**tx, p).await
}

async fn version_states_on(c: &impl GenericClient, p: &EntryPath) -> Result<Vec<(u64, VersionState)>> {
    let sql = "SELECT version, deleted_at, destroyed_at FROM entry_versions
               WHERE workspace = $1 AND environment = $2 AND vault = $3 AND key = $4 ORDER BY version DESC";
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    let rows = c.query(sql, &[&ws, &env, &vault, &key]).await.map_err(backend)?;
    rows.iter().map(|r| rows::version_state(r)).collect()
}

/// [`crate::batch::BatchSteps::put_version_state`].
async fn put_version_state_tx(tx: &PgTx<'_>, p: &EntryPath, version: u64, state: &VersionState) -> Result<()> {
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    tx.execute(
        "UPDATE entry_versions SET deleted_at = $6, destroyed_at = $7,
             sealed = CASE WHEN $7::BIGINT IS NULL THEN sealed ELSE ''::BYTEA END,
             value_mac = CASE WHEN $7::BIGINT IS NULL THEN value_mac ELSE NULL END
         WHERE workspace = $1 AND environment = $2 AND vault = $3 AND key = $4 AND version = $5",
        &[&ws, &env, &vault, &key, &(version as i64), &state.deleted_at, &state.destroyed_at],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

/// [`Store::create_environment`] inside a caller's transaction.
async fn create_environment_tx(tx: &PgTx<'_>, e: &NewEnvironment) -> Result<()> {
    let (ws, parent) = (e.workspace.as_str(), e.parent.as_ref().map(EnvName::as_str));
    if let Some(parent) = parent {
        // KEY SHARE keeps the parent from being deleted before this commits.
        let exists = tx
            .query_opt("SELECT 1 FROM environments WHERE workspace = $1 AND name = $2 FOR KEY SHARE", &[&ws, &parent])
            .await
            .map_err(backend)?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("parent environment {parent}")));
        }
    }
    tx.execute(
        "INSERT INTO environments (workspace, name, parent, created_at) VALUES ($1, $2, $3, $4)",
        &[&ws, &e.name.as_str(), &parent, &e.now],
    )
    .await
    .map_err(insert_err(format!("environment {}", e.name), &format!("workspace {ws}")))?;
    Ok(())
}

/// [`Store::create_vault`] inside a caller's transaction.
async fn create_vault_tx(tx: &PgTx<'_>, vault: &VaultPath, now: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO vaults (workspace, environment, name, created_at) VALUES ($1, $2, $3, $4)",
        &[&vault.workspace.as_str(), &vault.environment.as_str(), &vault.vault.as_str(), &now],
    )
    .await
    .map_err(insert_err(format!("vault {vault}"), &format!("environment {}", vault.environment)))?;
    Ok(())
}

/// [`Store::delete_vault`] inside a caller's transaction.
async fn delete_vault_tx(tx: &PgTx<'_>, vault: &VaultPath) -> Result<()> {
    let (ws, env, name) = (vault.workspace.as_str(), vault.environment.as_str(), vault.vault.as_str());
    // Locking the vault row first makes concurrent entry inserts (whose foreign key check
    // share-locks it) wait, so the emptiness seen below still holds at commit.
    let exists = tx
        .query_opt(
            "SELECT 1 FROM vaults WHERE workspace = $1 AND environment = $2 AND name = $3 FOR UPDATE",
            &[&ws, &env, &name],
        )
        .await
        .map_err(backend)?;
    let row = tx
        .query_one(
            "SELECT COUNT(*) - COUNT(deleted_at), COUNT(deleted_at) FROM entries
             WHERE workspace = $1 AND environment = $2 AND vault = $3",
            &[&ws, &env, &name],
        )
        .await
        .map_err(backend)?;
    crate::rules::check_vault_empty(vault, col::<i64>(&row, 0)? as u64, col::<i64>(&row, 1)? as u64)?;
    if exists.is_none() {
        return Err(StoreError::NotFound(format!("vault {vault}")));
    }
    tx.execute("DELETE FROM vaults WHERE workspace = $1 AND environment = $2 AND name = $3", &[&ws, &env, &name])
        .await
        .map_err(backend)?;
    Ok(())
}

/// [`crate::BatchOp::SetVaultOwner`] inside a caller's transaction.
async fn set_vault_owner_tx(tx: &PgTx<'_>, vault: &VaultPath, managed_by: Option<&str>, at: i64) -> Result<()> {
    let sql =
        "UPDATE vaults SET managed_by = $4, managed_at = $5 WHERE workspace = $1 AND environment = $2 AND name = $3";
    let (ws, env, name) = (vault.workspace.as_str(), vault.environment.as_str(), vault.vault.as_str());
    change(tx, sql, &[&ws, &env, &name, &managed_by, &at], || format!("vault {vault}")).await
}

/// [`Store::undelete`] inside a caller's transaction.
async fn undelete_tx(tx: &PgTx<'_>, p: &EntryPath, now: i64) -> Result<()> {
    let sql = "UPDATE entries SET deleted_at = NULL, updated_at = $5
               WHERE workspace = $1 AND environment = $2 AND vault = $3 AND key = $4 AND deleted_at IS NOT NULL";
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    change(tx, sql, &[&ws, &env, &vault, &key, &now], || format!("deleted entry {p}")).await
}

/// [`Store::purge`] inside a caller's transaction: the entry's versions go with it through
/// ON DELETE CASCADE.
async fn purge_tx(tx: &PgTx<'_>, p: &EntryPath) -> Result<()> {
    let sql = "DELETE FROM entries WHERE workspace = $1 AND environment = $2 AND vault = $3 AND key = $4";
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    change(tx, sql, &[&ws, &env, &vault, &key], || format!("entry {p}")).await
}

/// [`crate::batch::BatchSteps::replace_data_key`]: the rows changed (0 when the key moved on).
async fn replace_data_key_tx(
    tx: &PgTx<'_>,
    ws: &WorkspaceName,
    generation: u32,
    old: &[u8],
    new: &[u8],
) -> Result<u64> {
    let sql = "UPDATE data_keys SET wrapped = $4 WHERE workspace = $1 AND generation = $2 AND wrapped = $3";
    tx.execute(sql, &[&ws.as_str(), &i64::from(generation), &old, &new]).await.map_err(backend)
}

/// [`crate::batch::BatchSteps::replace_meta`]: the rows changed (0 when the value moved on).
async fn replace_meta_tx(tx: &PgTx<'_>, key: &str, old: Option<&[u8]>, new: &[u8]) -> Result<u64> {
    let n = match old {
        Some(old) => tx.execute("UPDATE meta SET value = $3 WHERE key = $1 AND value = $2", &[&key, &old, &new]).await,
        None => {
            tx.execute("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", &[&key, &new])
                .await
        }
    };
    n.map_err(backend)
}

/// [`crate::batch::BatchSteps::add_data_key`].
async fn add_data_key_tx(tx: &PgTx<'_>, ws: &WorkspaceName, key: &WrappedKey, now: i64) -> Result<u64> {
    let generation = i64::from(key.generation);
    let n = tx
        .execute(
            "UPDATE workspaces SET current_key_generation = $2::BIGINT WHERE name = $1 AND current_key_generation = $2::BIGINT - 1",
            &[&ws.as_str(), &generation],
        )
        .await
        .map_err(backend)?;
    if n == 1 {
        tx.execute(
            "INSERT INTO data_keys (workspace, generation, wrapped, created_at) VALUES ($1, $2, $3, $4)",
            &[&ws.as_str(), &generation, &key.wrapped, &now],
        )
        .await
        .map_err(backend)?;
    }
    Ok(n)
}

/// [`crate::batch::BatchSteps::reseal`].
async fn reseal_tx(tx: &PgTx<'_>, p: &EntryPath, version: u64, old: &[u8], new: &[u8]) -> Result<u64> {
    let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
    let sql = "UPDATE entry_versions SET sealed = $7
               WHERE workspace = $1 AND environment = $2 AND vault = $3 AND key = $4 AND version = $5 AND sealed = $6";
    tx.execute(sql, &[&ws, &env, &vault, &key, &(version as i64), &old, &new]).await.map_err(backend)
}

/// The sealed layout's generation (bytes 2 to 5, 1-based) as SQL, and the shortest sealed value.
const SEALED_GENERATION: &str = "substring(sealed from 2 for 4)";
const SEALED_MIN_LEN: i32 = 45;

/// The data keys' table is locked against a rotation's concurrent writers (another rotation, a
/// new generation) until the transaction ends, so the count holds at commit.
async fn count_data_keys_tx(tx: &PgTx<'_>) -> Result<u64> {
    tx.batch_execute("LOCK TABLE data_keys IN SHARE ROW EXCLUSIVE MODE").await.map_err(backend)?;
    let row = tx.query_one("SELECT COUNT(*) FROM data_keys", &[]).await.map_err(backend)?;
    Ok(col::<i64>(&row, 0)? as u64)
}

#[async_trait]
impl Store for PostgresStore {
    async fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let row = self.query_opt("SELECT value FROM meta WHERE key = $1", &[&key]).await?;
        row.map(|r| col(&r, 0)).transpose()
    }

    async fn init_meta(&self, key: &str, value: &[u8]) -> Result<Vec<u8>> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(backend)?;
        tx.execute("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", &[&key, &value])
            .await
            .map_err(backend)?;
        let row = tx.query_one("SELECT value FROM meta WHERE key = $1", &[&key]).await.map_err(backend)?;
        let out = col(&row, 0)?;
        tx.commit().await.map_err(backend)?;
        Ok(out)
    }

    async fn create_workspace(&self, name: &WorkspaceName, first_key: &WrappedKey, now: i64) -> Result<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(backend)?;
        let generation = i64::from(first_key.generation);
        tx.execute(
            "INSERT INTO workspaces (name, current_key_generation, created_at) VALUES ($1, $2, $3)",
            &[&name.as_str(), &generation, &now],
        )
        .await
        .map_err(insert_err(format!("workspace {name}"), ""))?;
        tx.execute(
            "INSERT INTO data_keys (workspace, generation, wrapped, created_at) VALUES ($1, $2, $3, $4)",
            &[&name.as_str(), &generation, &first_key.wrapped, &now],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn workspace_exists(&self, name: &WorkspaceName) -> Result<bool> {
        Ok(self.query_opt("SELECT 1 FROM workspaces WHERE name = $1", &[&name.as_str()]).await?.is_some())
    }

    async fn data_key(&self, workspace: &WorkspaceName, generation: Option<u32>) -> Result<WrappedKey> {
        let row = self
            .query_opt(
                "SELECT d.generation, d.wrapped FROM data_keys d JOIN workspaces w ON w.name = d.workspace
                 WHERE d.workspace = $1 AND d.generation = COALESCE($2, w.current_key_generation)",
                &[&workspace.as_str(), &generation.map(i64::from)],
            )
            .await?;
        match row {
            Some(r) => {
                let generation = u32::try_from(col::<i64>(&r, 0)?)
                    .map_err(|_| StoreError::Corrupt(format!("data key generation of workspace {workspace}")))?;
                Ok(WrappedKey { generation, wrapped: col(&r, 1)? })
            }
            None => Err(crate::rules::missing_data_key(workspace, generation)),
        }
    }

    async fn create_environment(&self, env: &NewEnvironment) -> Result<()> {
        in_tx!(self, |tx| create_environment_tx(&tx, env).await)
    }

    async fn get_environment(&self, workspace: &WorkspaceName, name: &EnvName) -> Result<Option<EnvInfo>> {
        self.first(
            "SELECT name, parent, created_at FROM environments WHERE workspace = $1 AND name = $2",
            &[&workspace.as_str(), &name.as_str()],
            rows::environment,
        )
        .await
    }

    async fn list_data_keys(&self) -> Result<Vec<(WorkspaceName, WrappedKey)>> {
        let sql = format!("SELECT {} FROM data_keys ORDER BY workspace, generation", rows::DATA_KEY_COLS);
        self.all(&sql, &[], rows::data_key).await
    }

    async fn versions_not_on(
        &self,
        ws: &WorkspaceName,
        generation: u32,
        limit: u32,
    ) -> Result<Vec<crate::StaleVersion>> {
        let sql = format!(
            "SELECT {} FROM entry_versions
             WHERE workspace = $1 AND length(sealed) >= $2 AND {SEALED_GENERATION} <> $3
             ORDER BY environment, vault, key, version LIMIT $4",
            rows::STALE_VERSION_COLS
        );
        let g = generation.to_be_bytes().to_vec();
        self.all(&sql, &[&ws.as_str(), &SEALED_MIN_LEN, &g, &i64::from(limit)], rows::stale_version).await
    }

    async fn count_by_generation(&self, ws: &WorkspaceName) -> Result<Vec<(u32, u64)>> {
        let sql = format!(
            "SELECT {SEALED_GENERATION} AS g, COUNT(*) FROM entry_versions
             WHERE workspace = $1 AND length(sealed) >= $2 GROUP BY g ORDER BY g"
        );
        self.all(&sql, &[&ws.as_str(), &SEALED_MIN_LEN], rows::generation_count).await
    }

    async fn list_environments(&self, workspace: &WorkspaceName) -> Result<Vec<EnvInfo>> {
        self.all(
            "SELECT name, parent, created_at FROM environments WHERE workspace = $1 ORDER BY name",
            &[&workspace.as_str()],
            rows::environment,
        )
        .await
    }

    async fn create_vault(&self, vault: &VaultPath, now: i64) -> Result<()> {
        in_tx!(self, |tx| create_vault_tx(&tx, vault, now).await)
    }

    async fn get_vault(&self, vault: &VaultPath) -> Result<Option<VaultInfo>> {
        let mut found =
            self.vault_info(vault.workspace.as_str(), vault.environment.as_str(), Some(vault.vault.as_str())).await?;
        Ok(found.pop())
    }

    async fn list_vaults(&self, workspace: &WorkspaceName, environment: &EnvName) -> Result<Vec<VaultInfo>> {
        self.vault_info(workspace.as_str(), environment.as_str(), None).await
    }

    async fn delete_vault(&self, vault: &VaultPath) -> Result<()> {
        in_tx!(self, |tx| delete_vault_tx(&tx, vault).await)
    }

    async fn get_entry(&self, p: &EntryPath) -> Result<Option<EntryMeta>> {
        let sql = format!(
            "SELECT {ENTRY_COLS} FROM entries WHERE workspace = $1 AND environment = $2 AND vault = $3 AND key = $4"
        );
        let (ws, env, vault, key) = (p.workspace.as_str(), p.environment.as_str(), p.vault.as_str(), p.key.as_str());
        self.first(&sql, &[&ws, &env, &vault, &key], rows::entry).await
    }

    async fn read_version(&self, p: &EntryPath, version: Option<u64>) -> Result<Option<SealedVersion>> {
        self.first(
            "SELECT v.version, v.kind, v.created_at, v.edited_by, v.sealed, v.value_mac, v.deleted_at, v.destroyed_at
                 FROM entry_versions v
                 JOIN entries e ON e.workspace = v.workspace AND e.environment = v.environment
                     AND e.vault = v.vault AND e.key = v.key
                 WHERE v.workspace = $1 AND v.environment = $2 AND v.vault = $3 AND v.key = $4
                     AND v.version = COALESCE($5, e.version)",
            &[
                &p.workspace.as_str(),
                &p.environment.as_str(),
                &p.vault.as_str(),
                &p.key.as_str(),
                &version.map(|v| v as i64),
            ],
            rows::sealed,
        )
        .await
    }

    async fn read_current_many(
        &self,
        vault: &VaultPath,
        keys: &[&str],
    ) -> Result<Vec<Option<(EntryMeta, SealedVersion)>>> {
        let found = self
            .all(
                &format!(
                    "SELECT {CURRENT_COLS}
                     FROM (SELECT key, position - 1 AS position
                           FROM unnest($4::TEXT[]) WITH ORDINALITY AS asked(key, position)) wanted
                     JOIN entries e ON e.workspace = $1 AND e.environment = $2 AND e.vault = $3
                         AND e.key = wanted.key
                     JOIN entry_versions v ON v.workspace = e.workspace AND v.environment = e.environment
                         AND v.vault = e.vault AND v.key = e.key AND v.version = e.version"
                ),
                &[&vault.workspace.as_str(), &vault.environment.as_str(), &vault.vault.as_str(), &keys],
                rows::current,
            )
            .await?;
        rows::at_positions(keys.len(), found)
    }

    async fn read_vault_current(&self, vault: &VaultPath) -> Result<Vec<(EntryMeta, SealedVersion)>> {
        self.all(
            &format!(
                "SELECT {ENTRY_AND_CURRENT_COLS} FROM entries e
                     JOIN entry_versions v ON v.workspace = e.workspace AND v.environment = e.environment
                         AND v.vault = e.vault AND v.key = e.key AND v.version = e.version
                     WHERE e.workspace = $1 AND e.environment = $2 AND e.vault = $3 AND e.deleted_at IS NULL
                     ORDER BY e.key"
            ),
            &[&vault.workspace.as_str(), &vault.environment.as_str(), &vault.vault.as_str()],
            rows::entry_and_current,
        )
        .await
    }

    async fn list_entries(&self, vault: &VaultPath, q: &ListQuery) -> Result<Vec<EntryMeta>> {
        self.all(
            &format!(
                "SELECT {ENTRY_COLS} FROM entries
                     WHERE workspace = $1 AND environment = $2 AND vault = $3 AND key LIKE $4 ESCAPE '\\'
                         AND ($5::TEXT IS NULL OR key > $5) AND ($6 OR deleted_at IS NULL)
                     ORDER BY key LIMIT $7"
            ),
            &[
                &vault.workspace.as_str(),
                &vault.environment.as_str(),
                &vault.vault.as_str(),
                &like_prefix(&q.prefix),
                &q.after,
                &q.include_deleted,
                &i64::from(q.limit),
            ],
            rows::entry,
        )
        .await
    }

    async fn list_versions(&self, p: &EntryPath) -> Result<Vec<VersionMeta>> {
        self.all(
            "SELECT version, kind, created_at, edited_by FROM entry_versions
                 WHERE workspace = $1 AND environment = $2 AND vault = $3 AND key = $4 ORDER BY version DESC",
            &[&p.workspace.as_str(), &p.environment.as_str(), &p.vault.as_str(), &p.key.as_str()],
            rows::version,
        )
        .await
    }

    async fn version_states(&self, p: &EntryPath) -> Result<Vec<(u64, VersionState)>> {
        version_states_on(&*self.conn().await?, p).await
    }

    async fn write_version(&self, n: NewVersion) -> Result<()> {
        in_tx!(self, |tx| write_version_tx(&tx, &n).await)
    }

    async fn soft_delete(&self, p: &EntryPath, now: i64) -> Result<()> {
        in_tx!(self, |tx| soft_delete_tx(&tx, p, now).await)
    }

    async fn apply_group(&self, group: Group, chain: &ChainWriter) -> Result<Vec<Result<()>>> {
        if group.changes.is_empty() {
            let mut at = chain.position();
            // Read records only (the audit writer's common group): BEGIN, the one-statement
            // append and COMMIT are pipelined, one round trip in all. If the append fails, the
            // server has aborted the transaction and turns the COMMIT into a rollback.
            let mut conn = self.conn().await?;
            let append = conn.audit_append().await?;
            let begin = match group.flush {
                // The server answers the commit before its WAL writer flushes it.
                Flush::Deferred => "BEGIN; SET LOCAL synchronous_commit = off",
                Flush::Now => "BEGIN",
            };
            let (began, appended, committed) = tokio::join!(
                conn.batch_execute(begin),
                audit::append_prepared(&*conn, &append, group.reads, chain, &mut at),
                conn.batch_execute("COMMIT"),
            );
            began.map_err(backend)?;
            appended?;
            committed.map_err(backend)?;
            chain.advance(at);
            return Ok(Vec::new());
        }
        // An error drops `tx` uncommitted: PostgreSQL rolls the whole group back.
        let (outcomes, at) = in_tx!(self, |tx| {
            if group.flush == Flush::Deferred {
                execute_tx(&tx, "SET LOCAL synchronous_commit = off").await?;
            }
            crate::batch::apply_group(&tx, group, chain).await
        })?;
        chain.advance(at);
        Ok(outcomes)
    }

    async fn flush(&self) -> Result<()> {
        // A synchronous commit flushes the WAL up to its commit record, and so every commit
        // before it. A transaction commits a record only once it has an id: `txid_current()`
        // gives it one.
        in_tx!(self, |tx| execute_tx(&tx, "SELECT txid_current()").await)
    }

    async fn undelete(&self, p: &EntryPath, now: i64) -> Result<()> {
        in_tx!(self, |tx| undelete_tx(&tx, p, now).await)
    }

    async fn purge(&self, p: &EntryPath) -> Result<()> {
        in_tx!(self, |tx| purge_tx(&tx, p).await)
    }

    async fn count_entries(&self, workspace: &WorkspaceName) -> Result<u64> {
        let row = self
            .query_opt(LIVE_ENTRIES_OF_WORKSPACE, &[&workspace.as_str()])
            .await?
            .ok_or_else(|| StoreError::Backend("SUM(live) returned no row".into()))?;
        Ok(col::<i64>(&row, 0)? as u64)
    }

    async fn create_principal(&self, p: &NewPrincipal) -> Result<()> {
        in_tx!(self, |tx| access::create_principal_tx(&tx, p).await)
    }
    async fn list_principals(&self, ws: &WorkspaceName) -> Result<Vec<PrincipalRecord>> {
        self.list_principals_impl(ws).await
    }
    async fn principal_exists(&self, ws: &WorkspaceName, p: &PrincipalRef) -> Result<bool> {
        self.principal_exists_impl(ws, p).await
    }
    async fn delete_principal(&self, ws: &WorkspaceName, p: &PrincipalRef) -> Result<()> {
        in_tx!(self, |tx| access::delete_principal_tx(&tx, ws, p).await)
    }
    async fn add_member(&self, m: &Membership) -> Result<()> {
        in_tx!(self, |tx| access::add_member_tx(&tx, m).await)
    }
    async fn remove_member(&self, m: &Membership) -> Result<()> {
        in_tx!(self, |tx| access::remove_member_tx(&tx, m).await)
    }
    async fn groups_of(&self, ws: &WorkspaceName, p: &PrincipalRef) -> Result<Vec<String>> {
        self.groups_of_impl(ws, p).await
    }
    async fn members_of(&self, ws: &WorkspaceName, group: &str) -> Result<Vec<PrincipalRef>> {
        self.members_of_impl(ws, group).await
    }
    async fn get_token(&self, id: &str) -> Result<Option<TokenRecord>> {
        self.by_id(id).await
    }
    async fn list_tokens(&self, ws: &WorkspaceName) -> Result<Vec<TokenRecord>> {
        self.of_workspace(ws).await
    }
    async fn list_grants(&self, ws: &WorkspaceName) -> Result<Vec<GrantRecord>> {
        self.of_workspace(ws).await
    }
    async fn grants_for(&self, ws: &WorkspaceName, principals: &[PrincipalRef]) -> Result<Vec<GrantRecord>> {
        self.grants_for_impl(ws, principals).await
    }
    async fn delete_grant(&self, ws: &WorkspaceName, id: &str) -> Result<GrantRecord> {
        in_tx!(self, |tx| access::delete_grant_tx(&tx, ws, id).await)
    }
    async fn list_audit(&self, after: u64, since: Option<i64>, limit: u32) -> Result<Vec<AuditRecord>> {
        self.list_audit_impl(after, since, limit).await
    }
    async fn list_audit_desc(&self, before: Option<u64>, limit: u32) -> Result<Vec<AuditRecord>> {
        self.list_audit_desc_impl(before, limit).await
    }
    async fn audit_chains(&self) -> Result<Vec<ChainHead>> {
        self.audit_chains_impl().await
    }
    async fn update_tags(&self, path: &EntryPath, upsert: &[Tag], remove: &[Tag]) -> Result<Vec<Tag>> {
        in_tx!(self, |tx| tags::update_tags_tx(&tx, path, upsert, remove).await)
    }
    async fn get_app_key(&self, id: &str) -> Result<Option<AppKeyRecord>> {
        self.by_id(id).await
    }
    async fn list_app_keys(&self, ws: &WorkspaceName) -> Result<Vec<AppKeyRecord>> {
        self.of_workspace(ws).await
    }
    fn change_feed(&self) -> Option<crate::ChangeFeed> {
        Some(feed::spawn(&self.runtime, self.config.clone(), self.tls.clone(), self.target.clone()))
    }

    async fn change_seq(&self) -> Result<u64> {
        let mut conn = self.conn().await?;
        let read = conn.change_seq().await?;
        read_change_seq(&*conn, &read).await
    }

    async fn export_snapshot(&self) -> Result<crate::Snapshot> {
        self.export_snapshot_impl().await
    }
    async fn import_snapshot(&self, snapshot: &crate::Snapshot) -> Result<()> {
        self.import_snapshot_impl(snapshot).await
    }
    async fn revoke_app_key(&self, ws: &WorkspaceName, id: &str, now: i64) -> Result<()> {
        in_tx!(self, |tx| records::revoke_tx::<AppKeyRecord>(&tx, ws, id, now).await)
    }
}

/// The newest change number (see migration 0004).
const CHANGE_SEQ: &str = "SELECT seq FROM change_seq";

async fn read_change_seq(client: &impl GenericClient, read: &tokio_postgres::Statement) -> Result<u64> {
    let row = client.query_opt(read, &[]).await.map_err(backend)?;
    let row = row.ok_or_else(|| StoreError::Corrupt("change_seq has no row".into()))?;
    Ok(col::<i64>(&row, 0)? as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_described_target_never_holds_the_password() {
        let config: Config = "postgres://tresor:s3cret@db.example:6543/vault".parse().unwrap();
        let d = describe(&config);
        assert_eq!(d, "db.example:6543/vault");
        assert!(!d.contains("s3cret"));
    }
}
