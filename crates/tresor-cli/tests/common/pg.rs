//! A fresh PostgreSQL database per test, dropped afterwards even when the test fails.
//!
//! The server is `$TRESOR_TEST_PG` (default `postgres://postgres@127.0.0.1:5432`). Without CI a
//! missing server skips the test with a notice (a developer's machine may have none); with
//! `CI=true` it fails, so CI can never pass by skipping.

use std::sync::atomic::{AtomicU32, Ordering};

pub fn server() -> String {
    std::env::var("TRESOR_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
        .trim_end_matches('/')
        .to_owned()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

enum SqlError {
    /// The server could not be reached.
    Unreachable(String),
    /// A statement failed.
    Failed(String),
}

/// Runs SQL statements one by one (each in its own implicit transaction, as `CREATE DATABASE`
/// needs) on the server's `postgres` database. `Err` only when the server cannot be reached; a
/// failing statement panics.
pub fn admin_sql(statements: &[&str]) -> Result<(), String> {
    sql_on(&format!("{}/postgres", server()), statements)
}

fn sql_on(url: &str, statements: &[&str]) -> Result<(), String> {
    match try_sql(url, statements) {
        Ok(()) => Ok(()),
        Err(SqlError::Unreachable(e)) => Err(e),
        Err(SqlError::Failed(e)) => panic!("{e}"),
    }
}

fn try_sql(url: &str, statements: &[&str]) -> Result<(), SqlError> {
    runtime().block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(|e| SqlError::Unreachable(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        for sql in statements {
            if let Err(e) = client.simple_query(sql).await {
                let why = e.as_db_error().map_or(e.to_string(), |d| d.message().to_owned());
                return Err(SqlError::Failed(format!("{sql}: {why}")));
            }
        }
        Ok(())
    })
}

pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// Creates an empty database, or returns `None` (after saying why) when there is no server
    /// outside CI.
    pub fn create() -> Option<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!("tresor_cli_test_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        match admin_sql(&[&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &format!("CREATE DATABASE {name}")])
        {
            Ok(()) => Some(Self { url: format!("{}/{name}", server()), name }),
            Err(e) => {
                let missing = format!("a PostgreSQL server at TRESOR_TEST_PG={} ({e})", server());
                super::skip::skip(std::thread::current().name().unwrap_or("a test"), &missing);
                None
            }
        }
    }

    /// Refuses new connections to this database and ends the open ones: to tresor, the database
    /// is gone until [`Self::allow_connections`].
    pub fn cut_off(&self) {
        admin_sql(&[
            &format!("ALTER DATABASE {} ALLOW_CONNECTIONS false", self.name),
            &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'", self.name),
        ])
        .unwrap();
    }

    /// Runs statements (as one simple query: one transaction) on this database.
    pub fn sql(&self, statements: &str) {
        sql_on(&self.url, &[statements]).unwrap();
    }

    pub fn allow_connections(&self) {
        admin_sql(&[&format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", self.name)]).unwrap();
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Never panics (it may run while a failed test unwinds); a failure leaves a database behind.
        let url = format!("{}/postgres", server());
        let _ = try_sql(&url, &[&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)]);
    }
}

/// Several tresor servers on one fresh database, as behind a load balancer.
pub struct Cluster {
    pub nodes: Vec<super::Server>,
    pub token: String,
    pub db: TestDb,
}

impl Cluster {
    /// `tresor init --storage` once, then `n` servers on the database, each with its own data
    /// directory holding a copy of the root key (as separate machines would). `None` when the
    /// test is skipped (see [`TestDb::create`]).
    pub fn start(n: usize, env: &[(&str, &str)]) -> Option<Self> {
        let db = TestDb::create()?;
        let first = tempfile::tempdir().unwrap();
        let out = super::tresor()
            .args(["init", "--json", "--storage", &db.url, "--data-dir"])
            .arg(first.path().join("data"))
            .output()
            .unwrap();
        assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let token = doc["admin_token"].as_str().unwrap().to_owned();
        assert!(doc["storage"].as_str().unwrap().starts_with("postgres://"), "{doc}");
        assert!(!first.path().join("data/tresor.db").exists(), "no SQLite file when the store is PostgreSQL");
        let key = std::fs::read(first.path().join("data/root.key")).unwrap();
        let mut nodes: Vec<super::Server> = (0..n)
            .map(|_| {
                let dir = tempfile::tempdir().unwrap();
                std::fs::create_dir(dir.path().join("data")).unwrap();
                std::fs::write(dir.path().join("data/root.key"), &key).unwrap();
                super::Server::serve(dir, token.clone(), env, &["--storage", &db.url])
            })
            .collect();
        // Every node's log is scanned for what was stored through any of them.
        if let Some((first, rest)) = nodes.split_first_mut() {
            for node in rest {
                node.share_stored_with(first);
            }
        }
        Some(Self { nodes, token, db })
    }
}
