//! The connection pool: a small fixed set of `tokio_postgres::Client`s, each behind its own async
//! mutex. A call takes the first idle connection (or waits for one), and a connection found closed
//! (the server restarted, the network dropped) is replaced on its next use.

use super::{backend, pg_message, Params, PostgresStore};
use crate::rows::Mapper;
use crate::{Result, StoreError};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;
use tokio::sync::MutexGuard;
use tokio_postgres::{Client, Config, Row, Statement};

/// Connections per store (per server process).
pub(super) const POOL_SIZE: usize = 4;

/// A pooled connection (held for the length of one call) and the statements prepared on it.
pub(super) struct Pooled {
    client: Client,
    /// The audit append of read records ([`super::audit::APPEND`]), prepared on first use: it
    /// runs for every group of reads, and planning its statement each time cost about as much
    /// database time as running it.
    audit_append: Option<Statement>,
    /// The change-number read ([`super::CHANGE_SEQ`]), prepared on first use: a server sharing
    /// its database runs it for (nearly) every group of requests.
    change_seq: Option<Statement>,
    /// The statements of transactions ([`PgTx`]), by their SQL, prepared on first use.
    statements: StatementCache,
}

/// Statements prepared on one connection, by their SQL. A statement sent as text is parsed and
/// planned by the server and described to the client before it runs: two round trips where a
/// prepared one takes one. A change runs about a dozen (its steps, its limits, its savepoint),
/// so its round trips halve. At most [`StatementCache::MOST`] are kept, so SQL built with a
/// varying shape cannot grow it without bound (the rest are sent as text, as before).
#[derive(Default)]
pub(super) struct StatementCache(std::sync::Mutex<std::collections::HashMap<String, Statement>>);

impl StatementCache {
    const MOST: usize = 256;
}

/// A transaction on a pooled connection whose `execute`, `query_one` and `query_opt`
/// run statements prepared once per connection ([`StatementCache`]); everything else is the
/// `tokio_postgres::Transaction` it derefs to.
pub(crate) struct PgTx<'a> {
    tx: tokio_postgres::Transaction<'a>,
    statements: &'a StatementCache,
}

impl<'a> Deref for PgTx<'a> {
    type Target = tokio_postgres::Transaction<'a>;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

type Sql<'p> = &'p [&'p (dyn tokio_postgres::types::ToSql + Sync)];

impl PgTx<'_> {
    async fn statement(&self, sql: &str) -> std::result::Result<Statement, tokio_postgres::Error> {
        if let Some(statement) = self.statements.0.lock().unwrap_or_else(|p| p.into_inner()).get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(sql).await?;
        let mut cache = self.statements.0.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() < StatementCache::MOST {
            cache.insert(sql.to_owned(), statement.clone());
        }
        Ok(statement)
    }

    pub(super) async fn execute(&self, sql: &str, params: Sql<'_>) -> std::result::Result<u64, tokio_postgres::Error> {
        let statement = self.statement(sql).await?;
        self.tx.execute(&statement, params).await
    }

    pub(super) async fn query_one(
        &self,
        sql: &str,
        params: Sql<'_>,
    ) -> std::result::Result<Row, tokio_postgres::Error> {
        let statement = self.statement(sql).await?;
        self.tx.query_one(&statement, params).await
    }

    pub(super) async fn query_opt(
        &self,
        sql: &str,
        params: Sql<'_>,
    ) -> std::result::Result<Option<Row>, tokio_postgres::Error> {
        let statement = self.statement(sql).await?;
        self.tx.query_opt(&statement, params).await
    }

    pub(super) async fn commit(self) -> std::result::Result<(), tokio_postgres::Error> {
        self.tx.commit().await
    }
}

pub(super) struct Conn<'a>(MutexGuard<'a, Option<Pooled>>);

impl Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.0.as_ref().expect("a pooled connection is opened before it is handed out").client
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.0.as_mut().expect("a pooled connection is opened before it is handed out").client
    }
}

impl Conn<'_> {
    /// A transaction whose statements are prepared once on this connection ([`PgTx`]).
    pub(super) async fn transaction(&mut self) -> std::result::Result<PgTx<'_>, tokio_postgres::Error> {
        let Pooled { client, statements, .. } =
            self.0.as_mut().expect("a pooled connection is opened before it is handed out");
        Ok(PgTx { tx: client.transaction().await?, statements })
    }

    /// The audit append, prepared on this connection (once).
    pub(super) async fn audit_append(&mut self) -> Result<Statement> {
        self.prepared(|p| &mut p.audit_append, super::audit::APPEND, super::audit::APPEND_TYPES).await
    }

    /// The change-number read, prepared on this connection (once).
    pub(super) async fn change_seq(&mut self) -> Result<Statement> {
        self.prepared(|p| &mut p.change_seq, super::CHANGE_SEQ, &[]).await
    }

    async fn prepared(
        &mut self,
        slot: fn(&mut Pooled) -> &mut Option<Statement>,
        sql: &str,
        types: &[tokio_postgres::types::Type],
    ) -> Result<Statement> {
        let pooled = self.0.as_mut().expect("a pooled connection is opened before it is handed out");
        if let Some(statement) = slot(pooled) {
            return Ok(statement.clone());
        }
        let statement = pooled.client.prepare_typed(sql, types).await.map_err(backend)?;
        *slot(pooled) = Some(statement.clone());
        Ok(statement)
    }
}

/// Describes where a configuration points, without its password.
pub(super) fn describe(config: &Config) -> String {
    use tokio_postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = config.get_ports().get(i).or(config.get_ports().first()).copied().unwrap_or(5432);
            match h {
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let hosts = if hosts.is_empty() { "localhost:5432".to_owned() } else { hosts.join(",") };
    format!("{hosts}/{}", config.get_dbname().or(config.get_user()).unwrap_or("postgres"))
}

impl PostgresStore {
    /// Opens a connection on the runtime `connect` ran on, whoever asks. A socket belongs to the
    /// reactor of the runtime it is made on, and the audit writer calls in from a runtime of its
    /// own that runs only while the writer waits on a call: a connection the writer opened there
    /// would stall every request that used it while the writer sat idle, waiting for those very
    /// requests (seen as a PUT hanging after PostgreSQL came back).
    async fn open(&self) -> Result<Client> {
        let (config, tls, target) = (self.config.clone(), self.tls.clone(), self.target.clone());
        let opening = self.runtime.spawn(async move {
            let (client, connection) = config.connect(tls).await.map_err(|e| connect_failed(&e, &target))?;
            // The connection task ends when the client is dropped or the server goes away; the
            // pool notices through `Client::is_closed` and reconnects.
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(client)
        });
        opening.await.map_err(|e| StoreError::Backend(format!("opening a PostgreSQL connection failed: {e}")))?
    }

    /// Takes the first idle connection, or waits for one if all are busy.
    pub(super) async fn conn(&self) -> Result<Conn<'_>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.conns.len();
        let mut guard = None;
        for i in 0..n {
            if let Ok(g) = self.conns[(start + i) % n].try_lock() {
                guard = Some(g);
                break;
            }
        }
        let mut guard = match guard {
            Some(g) => g,
            None => self.conns[start % n].lock().await,
        };
        if guard.as_ref().is_none_or(|c| c.client.is_closed()) {
            *guard = Some(Pooled {
                client: self.open().await?,
                audit_append: None,
                change_seq: None,
                statements: StatementCache::default(),
            });
        }
        Ok(Conn(guard))
    }

    pub(super) async fn query_opt(&self, sql: &str, params: &Params<'_>) -> Result<Option<Row>> {
        self.conn().await?.query_opt(sql, params).await.map_err(backend)
    }

    /// Every row of a query on a pooled connection, each mapped by `map` (one of `crate::rows`).
    pub(super) async fn all<T>(&self, sql: &str, params: &Params<'_>, map: Mapper<T>) -> Result<Vec<T>> {
        let rows = self.conn().await?.query(sql, params).await.map_err(backend)?;
        rows.iter().map(|r| map(r)).collect()
    }

    /// The row of a query that returns at most one, mapped by `map`.
    pub(super) async fn first<T>(&self, sql: &str, params: &Params<'_>, map: Mapper<T>) -> Result<Option<T>> {
        self.query_opt(sql, params).await?.as_ref().map(|r| map(r)).transpose()
    }
}

/// A connection that could not be opened: refused credentials or a database that does not exist
/// are the operator's to fix ([`StoreError::Backend`]); anything else (nothing listening, the
/// server starting or shutting down, the database closed to connections) ends by itself once the
/// server is back ([`StoreError::Unavailable`]).
fn connect_failed(e: &tokio_postgres::Error, target: &str) -> StoreError {
    use tokio_postgres::error::SqlState;
    let message = format!("connecting to PostgreSQL at {target}: {}", pg_message(e));
    let operators =
        [SqlState::INVALID_PASSWORD, SqlState::INVALID_AUTHORIZATION_SPECIFICATION, SqlState::INVALID_CATALOG_NAME];
    match e.code() {
        Some(code) if operators.contains(code) => StoreError::Backend(message),
        _ => StoreError::Unavailable(message),
    }
}
