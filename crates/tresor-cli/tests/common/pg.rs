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

/// Runs SQL statements one by one (each in its own implicit transaction, as `CREATE DATABASE`
/// needs) on the server's `postgres` database. `Err` only when the server cannot be reached; a
/// failing statement panics.
pub fn admin_sql(statements: &[&str]) -> Result<(), String> {
    sql_on(&format!("{}/postgres", server()), statements)
}

fn sql_on(url: &str, statements: &[&str]) -> Result<(), String> {
    runtime().block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        for sql in statements {
            if let Err(e) = client.simple_query(sql).await {
                panic!("{sql}: {}", e.as_db_error().map_or(e.to_string(), |d| d.message().to_owned()));
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
            Err(e) if std::env::var("CI").map_or(true, |v| v.is_empty() || v == "false") => {
                eprintln!("SKIPPED: no PostgreSQL server for this test at {} ({e}); set TRESOR_TEST_PG", server());
                None
            }
            Err(e) => panic!("CI must provide PostgreSQL (TRESOR_TEST_PG={}): {e}", server()),
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
        if !std::thread::panicking() {
            let _ = admin_sql(&[&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)]);
        } else {
            // Dropping must not panic again mid-unwind; a failure here only leaves a database behind.
            let name = self.name.clone();
            let _ =
                std::panic::catch_unwind(move || admin_sql(&[&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")]));
        }
    }
}
