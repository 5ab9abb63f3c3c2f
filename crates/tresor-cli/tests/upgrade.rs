//! Upgrades: a data directory written by the previous release (`tests/fixtures/upgrade-v7`, made
//! as its README says) opens, migrates and serves with this binary; a store that a newer tresor
//! wrote is refused, naming both schema versions and what to do.

use crate::common;
use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/upgrade-v7");

/// The values the fixture holds (test data, see its README).
const VALUES: &[&str] = &["fixture-db-password-v1", "fixture-db-password-v2", "fixture-api-key", "fixture-stripe-key"];

/// A copy of the fixture's data directory (the fixture itself is never written), its admin
/// token and `app:deployer`'s token.
fn fixture_copy() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    for file in ["tresor.db", "root.key"] {
        std::fs::copy(Path::new(FIXTURE).join("data").join(file), data.join(file)).unwrap();
    }
    // As `tresor init` leaves it (git keeps no such mode).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data.join("root.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let read = |name: &str| std::fs::read_to_string(Path::new(FIXTURE).join(name)).unwrap().trim().to_owned();
    (dir, read("admin-token"), read("deployer-token"))
}

fn schema_versions(db: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT version FROM schema_migrations ORDER BY version").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

#[test]
fn a_data_directory_of_the_previous_release_opens_migrates_and_serves() {
    let (dir, admin, deployer) = fixture_copy();
    let db: PathBuf = dir.path().join("data/tresor.db");
    let before = schema_versions(&db);
    assert_eq!(before, (1..=7).collect::<Vec<_>>(), "the fixture is at schema version 7");
    let s = Server::serve(dir, admin.clone(), &[("TRESOR_RATE_MANAGEMENT", "0")], &[]);
    // Migrated: every migration the fixture had, and any newer one, applied once each in order.
    let after = schema_versions(&db);
    assert!(after.starts_with(&before) && after.windows(2).all(|w| w[1] == w[0] + 1), "{after:?}");

    // What the previous release stored reads back: current values, history, variables, vaults.
    assert_eq!(s.cli(&admin, &["get", "db/password"], b"").ok().trim(), "fixture-db-password-v2");
    assert_eq!(s.cli(&admin, &["get", "api/key"], b"").ok().trim(), "fixture-api-key");
    assert_eq!(s.cli(&admin, &["get", "--vault", "payments", "stripe/key"], b"").ok().trim(), "fixture-stripe-key");
    let history = s.cli(&admin, &["history", "db/password", "--json"], b"").json();
    assert_eq!(history.as_array().map(Vec::len), Some(2), "{history}");
    let listing = s.cli(&admin, &["ls"], b"").ok();
    assert!(listing.contains("region") && listing.contains("eu-fixture"), "{listing}");
    // Its tokens and grants still hold: the deployer reads payments and nothing else.
    assert_eq!(s.cli(&deployer, &["get", "--vault", "payments", "stripe/key"], b"").ok().trim(), "fixture-stripe-key");
    s.cli(&deployer, &["get", "db/password"], b"").fails(4, "");

    // Its audit chain verifies, and goes on: a write is recorded and the chain still verifies.
    assert!(s.cli(&admin, &["audit", "verify"], b"").ok().contains("every chain verified"));
    s.cli(&admin, &["set", "db/password"], b"after-upgrade-value").ok();
    assert_eq!(s.cli(&admin, &["get", "db/password"], b"").ok().trim(), "after-upgrade-value");
    let records = s.audit(&admin);
    assert!(records.len() > 13, "the fixture's 13 records and the new ones: {}", records.len());
    assert!(s.cli(&admin, &["audit", "verify"], b"").ok().contains("every chain verified"));

    let log = s.log_text();
    for value in VALUES.iter().chain(&["after-upgrade-value"]) {
        assert!(!log.contains(value), "{value} in the log");
    }
}

/// `tresor serve` with `args`, which must exit by itself: its exit code and stderr.
fn serve_exits(data: &Path) -> (Option<i32>, String) {
    let log = data.with_file_name("serve.log");
    let mut child = common::tresor()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("serve did not refuse the store: {}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.code(), std::fs::read_to_string(&log).unwrap())
}

/// A store whose `schema_migrations` holds a version this binary does not know (a newer
/// release migrated it) is refused before anything is served or changed, with an error that
/// names both versions and what to do.
#[test]
fn a_store_from_a_newer_tresor_is_refused_naming_both_versions() {
    let (dir, _, _) = fixture_copy();
    let db = dir.path().join("data/tresor.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from_the_future', 0)", [])
        .unwrap();
    drop(conn);
    let before = std::fs::read(&db).unwrap();
    let (code, stderr) = serve_exits(&dir.path().join("data"));
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains("schema version 999, newer than this tresor knows (version "), "{stderr}");
    assert!(stderr.contains("does not downgrade") && stderr.contains("backup restore"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
    assert_eq!(schema_versions(&db).last(), Some(&999));
    assert!(std::fs::read(&db).unwrap() == before, "the refused store is left as it was");
}
