//! Issue #13, findings 7 and 8: the audit log is fail-closed for changes (a change commits in the
//! same transaction as its record, or not at all), and the chain's head carries a MAC, so a
//! truncated tail no longer verifies.

use crate::common::*;
use serde_json::{json, Value};

const OLD_VALUE: &str = "sk_live_AUDITKEPT_old_1";
const NEW_VALUE: &str = "sk_live_AUDITLOST_new_2";
const FRESH_VALUE: &str = "sk_live_AUDITLOST_fresh_3";
const CONDUCTOR_VALUE: &str = "sk_live_AUDITLOST_conductor_4";
const CONFIG_VALUE: &str = "AUDITLOST_config_5";

fn entry(key: &str) -> String {
    format!("/api/v1/envs/default/vaults/default/entries/{key}")
}

fn value(key: &str) -> String {
    format!("/api/v1/envs/default/vaults/default/values/{key}")
}

fn db(s: &Server) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(s.data_dir().join("tresor.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    conn
}

/// Conductor's `PUT /api/secrets/{key}` (token in `X-Authorization`, the raw value as body).
fn conductor_put(s: &Server, key: &str, value: &str) -> u16 {
    let req = ureq::put(&format!("{}/api/secrets/{key}", s.addr)).set("X-Authorization", &s.token);
    match req.send_string(value) {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("PUT /api/secrets/{key}: {e}"),
    }
}

fn conductor_get(s: &Server, key: &str) -> u16 {
    let req = ureq::get(&format!("{}/api/secrets/{key}", s.addr)).set("X-Authorization", &s.token);
    match req.call() {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("GET /api/secrets/{key}: {e}"),
    }
}

fn listed(s: &Server, path: &str) -> String {
    let (status, doc) = s.call("GET", path, Some(&s.token), None);
    assert_eq!(status, 200, "GET {path}: {doc}");
    doc.to_string()
}

/// Finding 8: with every audit append failing (a trigger on the audit table, as a full disk or a
/// broken audit device would), every kind of change answers 5xx and leaves the store as it was.
#[test]
fn a_change_whose_audit_record_cannot_be_written_does_not_happen() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let admin = Some(s.token.as_str());
    assert_eq!(s.call("PUT", &entry("kept"), admin, Some(json!({"value": OLD_VALUE}))).0, 200);
    assert_eq!(s.call("POST", "/api/v1/principals", admin, Some(json!({"principal": "app:grantee"}))).0, 201);
    let config = s.dir.path().join("tresor.yaml");
    std::fs::write(
        &config,
        format!(
            "environments: [cfg-env]\nvaults:\n  cfg-vault:\n    environment: cfg-env\n    entries:\n      \
             cfg-key: {{ secret: \"{CONFIG_VALUE}\" }}\n"
        ),
    )
    .unwrap();

    db(&s)
        .execute_batch(
            "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit device failure'); END;",
        )
        .unwrap();
    let changes: Vec<(&str, String, Option<Value>)> = vec![
        ("PUT", entry("kept"), Some(json!({"value": NEW_VALUE}))),
        ("PUT", entry("fresh"), Some(json!({"value": FRESH_VALUE}))),
        ("DELETE", entry("kept"), None),
        ("POST", "/api/v1/principals".into(), Some(json!({"principal": "app:ghost"}))),
        ("POST", "/api/v1/grants".into(), Some(json!({"principal": "app:grantee", "scope": "*", "access": "read"}))),
        ("POST", "/api/v1/tokens".into(), Some(json!({"principal": "app:grantee", "name": "ghost-token"}))),
        ("POST", "/api/v1/app-keys".into(), Some(json!({"principal": "app:grantee"}))),
        ("POST", "/api/v1/envs".into(), Some(json!({"name": "ghost-env"}))),
    ];
    for (method, path, body) in changes {
        let (status, doc) = s.call(method, &path, admin, body);
        assert!(status >= 500, "{method} {path} answered {status} with its audit record unwritable: {doc}");
        assert!(doc.to_string().contains("audit record could not be written"), "{method} {path}: {doc}");
    }
    let status = conductor_put(&s, "conductor-key", CONDUCTOR_VALUE);
    assert!(status >= 500, "Conductor PUT answered {status} with its audit record unwritable");
    let applied = s.cli(&s.token, &["apply", "-f", config.to_str().unwrap(), "--yes"], b"");
    assert_ne!(applied.code, 0, "config apply succeeded with its audit record unwritable: {}", applied.stdout);
    db(&s).execute_batch("DROP TRIGGER fail_audit;").unwrap();

    // None of the changes happened: the old value is still served, nothing new exists.
    let (status, doc) = s.call("GET", &value("kept"), admin, None);
    assert_eq!((status, doc["value"].as_str()), (200, Some(OLD_VALUE)), "{doc}");
    assert_eq!(s.call("GET", &value("fresh"), admin, None).0, 404);
    assert_eq!(conductor_get(&s, "conductor-key"), 404);
    assert!(!listed(&s, "/api/v1/principals").contains("app:ghost"));
    assert!(!listed(&s, "/api/v1/grants").contains("app:grantee"));
    assert!(!listed(&s, "/api/v1/tokens").contains("ghost-token"));
    assert!(!listed(&s, "/api/v1/app-keys").contains("app:grantee"));
    let envs = listed(&s, "/api/v1/envs");
    assert!(!envs.contains("ghost-env") && !envs.contains("cfg-env"), "{envs}");
    // What was recorded still forms one intact chain.
    let verify = s.cli(&s.token, &["audit", "verify"], b"");
    assert_eq!(verify.code, 0, "{} {}", verify.stdout, verify.stderr);
    let log = s.log_text();
    for v in [OLD_VALUE, NEW_VALUE, FRESH_VALUE, CONDUCTOR_VALUE, CONFIG_VALUE] {
        assert!(!log.contains(v), "a value reached the server log");
    }
}

/// Reads fail closed too: with every audit append failing, no surface hands out a value, warm
/// cache or not, and the answer says why.
#[test]
fn a_read_whose_audit_record_cannot_be_written_returns_no_value() {
    const READ_VALUE: &str = "sk_live_AUDITREAD_secret_6";
    const VARIABLE_VALUE: &str = "AUDITREAD_variable_7";
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let admin = Some(s.token.as_str());
    assert_eq!(s.call("PUT", &entry("db/password"), admin, Some(json!({"value": READ_VALUE}))).0, 200);
    let variable = json!({"value": VARIABLE_VALUE, "kind": "variable"});
    assert_eq!(s.call("PUT", &entry("config/region"), admin, Some(variable)).0, 200);
    // Warm the cache: each value is served once before the audit device fails.
    assert_eq!(s.call("GET", &value("db/password"), admin, None).1["value"], READ_VALUE);
    assert_eq!(conductor_get(&s, "db/password"), 200);

    db(&s)
        .execute_batch(
            "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit device failure'); END;",
        )
        .unwrap();
    let reads: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", value("db/password"), None),
        ("GET", format!("{}?version=1", value("db/password")), None),
        ("POST", "/api/v1/resolve".into(), Some(json!({"keys": ["db/password", "config/region"]}))),
        ("POST", "/api/v1/render".into(), Some(json!({"template": "pw=${secret:db/password}"}))),
        ("GET", "/api/v1/envs/default/vaults/default/entries".into(), None),
    ];
    for (method, path, body) in reads {
        let (status, doc) = s.call(method, &path, admin, body);
        assert!(status >= 500, "{method} {path} answered {status} with its audit record unwritable: {doc}");
        assert!(doc.to_string().contains("audit record could not be written"), "{method} {path}: {doc}");
        let text = doc.to_string();
        assert!(!text.contains(READ_VALUE) && !text.contains(VARIABLE_VALUE), "{method} {path} gave a value: {doc}");
    }
    let conductor = ureq::get(&format!("{}/api/secrets/db/password", s.addr)).set("X-Authorization", &s.token).call();
    let (status, body) = match conductor {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("GET /api/secrets/db/password: {e}"),
    };
    assert!(status >= 500 && !body.contains(READ_VALUE), "Conductor GET answered {status}: {body}");
    let cli = s.cli(&s.token, &["get", "db/password"], b"");
    assert_ne!(cli.code, 0);
    assert!(cli.stdout.is_empty() && cli.stderr.contains("audit record could not be written"), "{}", cli.stderr);

    db(&s).execute_batch("DROP TRIGGER fail_audit;").unwrap();
    assert_eq!(s.call("GET", &value("db/password"), admin, None).1["value"], READ_VALUE, "reads work again");
    let log = s.log_text();
    assert!(!log.contains(READ_VALUE) && !log.contains(VARIABLE_VALUE), "a value reached the server log");
}

/// How a test tampers with the stopped server's audit log. The log holds two chains: the first
/// server run's and the second's (whose first record links the first's head).
#[derive(Debug, Clone, Copy)]
enum Tamper {
    Nothing,
    /// Removes the last records of the newest chain and rewrites its head (place and hash) to
    /// point at the new last record, keeping the head's MAC.
    TruncateAndRewriteHead,
    /// The same, also removing the head's MAC.
    TruncateAndRewriteBareHead,
    /// Removes the last records of the newest chain and its head.
    TruncateAndDeleteHead,
    /// Removes the first chain whole: its records and its head.
    RemoveTheFirstChain,
    /// Exchanges the places of two records in the middle of the newest chain.
    SwapTwo,
}

const REMOVED: i64 = 3;

fn tamper(conn: &rusqlite::Connection, how: Tamper) {
    let newest: String =
        conn.query_row("SELECT chain FROM audit_log ORDER BY seq DESC LIMIT 1", [], |r| r.get(0)).unwrap();
    let first: String = conn.query_row("SELECT chain FROM audit_log ORDER BY seq LIMIT 1", [], |r| r.get(0)).unwrap();
    assert_ne!(newest, first, "two server runs wrote two chains");
    match how {
        Tamper::Nothing => return,
        Tamper::SwapTwo => {
            conn.execute(
                "UPDATE audit_log SET chain_seq = CASE chain_seq WHEN 2 THEN 3 ELSE 2 END \
                 WHERE chain = ?1 AND chain_seq IN (2, 3)",
                [&newest],
            )
            .unwrap();
            return;
        }
        Tamper::RemoveTheFirstChain => {
            conn.execute("DELETE FROM audit_log WHERE chain = ?1", [&first]).unwrap();
            conn.execute("DELETE FROM audit_chains WHERE chain = ?1", [&first]).unwrap();
            return;
        }
        _ => {}
    }
    let last: i64 =
        conn.query_row("SELECT MAX(chain_seq) FROM audit_log WHERE chain = ?1", [&newest], |r| r.get(0)).unwrap();
    assert!(last > REMOVED + 1, "the newest chain has records to remove");
    conn.execute(
        "DELETE FROM audit_log WHERE chain = ?1 AND chain_seq > ?2",
        rusqlite::params![newest, last - REMOVED],
    )
    .unwrap();
    let (place, hash): (i64, Vec<u8>) = conn
        .query_row(
            "SELECT chain_seq, hash FROM audit_log WHERE chain = ?1 ORDER BY chain_seq DESC LIMIT 1",
            [&newest],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let mut head = (place as u64).to_be_bytes().to_vec();
    head.extend_from_slice(&hash);
    let rewrite = "UPDATE audit_chains SET head = ?2 WHERE chain = ?1";
    match how {
        Tamper::TruncateAndRewriteHead => {
            conn.execute(rewrite, rusqlite::params![newest, head]).unwrap();
        }
        Tamper::TruncateAndRewriteBareHead => {
            conn.execute(rewrite, rusqlite::params![newest, head]).unwrap();
            conn.execute("UPDATE audit_chains SET head_mac = NULL WHERE chain = ?1", [&newest]).unwrap();
        }
        Tamper::TruncateAndDeleteHead => {
            conn.execute("DELETE FROM audit_chains WHERE chain = ?1", [&newest]).unwrap();
        }
        Tamper::Nothing | Tamper::SwapTwo | Tamper::RemoveTheFirstChain => unreachable!(),
    }
}

/// Writes some records in two server runs, stops the server, tampers, starts it again on the
/// same data and runs `tresor audit verify --json` against it.
fn verify_after(how: Tamper) -> Run {
    let env = [("TRESOR_RATE_MANAGEMENT", "0")];
    let mut s = Server::start(&env);
    let write_and_read = |s: &Server, keys: std::ops::Range<usize>| {
        for i in keys {
            let admin = Some(s.token.as_str());
            assert_eq!(s.call("PUT", &entry(&format!("k{i}")), admin, Some(json!({"value": OLD_VALUE}))).0, 200);
            assert_eq!(s.call("GET", &value(&format!("k{i}")), admin, None).0, 200);
        }
    };
    write_and_read(&s, 0..4);
    assert!(!s.log_text().contains(OLD_VALUE), "a value reached the server log");
    assert!(s.stop().success());
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let mut second = Server::serve(dir, s.token.clone(), &env, &[]);
    write_and_read(&second, 4..7);
    assert!(!second.log_text().contains(OLD_VALUE), "a value reached the server log");
    assert!(second.stop().success());
    {
        let conn = rusqlite::Connection::open(second.data_dir().join("tresor.db")).unwrap();
        tamper(&conn, how);
    }
    let dir = std::mem::replace(&mut second.dir, tempfile::tempdir().unwrap());
    let restarted = Server::serve(dir, s.token.clone(), &env, &[]);
    let run = restarted.cli(&restarted.token, &["audit", "verify", "--json"], b"");
    assert!(!restarted.log_text().contains(OLD_VALUE), "a value reached the server log");
    run
}

/// Finding 7: removing the last records of a chain and rewriting or deleting its head no longer
/// verifies; nor does removing a whole chain that a later one links, or swapping two records.
#[test]
fn a_truncated_or_reordered_audit_log_is_reported_by_verify() {
    let clean = verify_after(Tamper::Nothing);
    assert_eq!(clean.code, 0, "an untouched log verifies: {} {}", clean.stdout, clean.stderr);
    let doc: Value = serde_json::from_str(&clean.stdout).unwrap();
    assert!(doc["chains"].as_u64().unwrap() >= 3, "a chain per server run: {doc}");
    for (how, needle) in [
        (Tamper::TruncateAndRewriteHead, "does not match its MAC"),
        (Tamper::TruncateAndRewriteBareHead, "carries no MAC"),
        (Tamper::TruncateAndDeleteHead, "no recorded head"),
        (Tamper::RemoveTheFirstChain, "which is missing: the chain was cut or removed"),
        (Tamper::SwapTwo, "was altered"),
    ] {
        let r = verify_after(how);
        assert_eq!(r.code, 1, "{how:?} must fail verification: {} {}", r.stdout, r.stderr);
        let doc: Value = serde_json::from_str(&r.stdout).unwrap();
        let problems = doc["problems"].to_string();
        assert!(problems.contains(needle), "{how:?}: the report names the problem: {problems}");
    }
}

/// Finding 8 on PostgreSQL: a set that overwrites, a grant and a principal, each with its audit
/// record refused by the database, answer 5xx and change nothing.
#[test]
fn on_postgresql_a_change_whose_audit_record_cannot_be_written_does_not_happen() {
    let Some(cluster) = pg::Cluster::start(1, &[("TRESOR_RATE_MANAGEMENT", "0")]) else { return };
    let s = &cluster.nodes[0];
    let admin = Some(cluster.token.as_str());
    assert_eq!(s.call("PUT", &entry("kept"), admin, Some(json!({"value": OLD_VALUE}))).0, 200);
    cluster.db.sql(
        "CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'audit device failure'; END $$;
         CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION fail_audit();",
    );
    let changes: Vec<(&str, String, Value)> = vec![
        ("PUT", entry("kept"), json!({"value": NEW_VALUE})),
        ("POST", "/api/v1/principals".into(), json!({"principal": "app:ghost"})),
        ("POST", "/api/v1/grants".into(), json!({"principal": "user:owner", "scope": "ghost/*", "access": "read"})),
    ];
    for (method, path, body) in changes {
        let (status, doc) = s.call(method, &path, admin, Some(body));
        assert!(status >= 500, "{method} {path} answered {status} with its audit record unwritable: {doc}");
    }
    cluster.db.sql("DROP TRIGGER fail_audit ON audit_log;");
    let (status, doc) = s.call("GET", &value("kept"), admin, None);
    assert_eq!((status, doc["value"].as_str()), (200, Some(OLD_VALUE)), "{doc}");
    assert!(!listed(s, "/api/v1/principals").contains("app:ghost"));
    assert!(!listed(s, "/api/v1/grants").contains("ghost/*"));
    let verify = s.cli(&cluster.token, &["audit", "verify"], b"");
    assert_eq!(verify.code, 0, "{} {}", verify.stdout, verify.stderr);
    let log = s.log_text();
    assert!(!log.contains(OLD_VALUE) && !log.contains(NEW_VALUE), "a value reached the server log");
}
