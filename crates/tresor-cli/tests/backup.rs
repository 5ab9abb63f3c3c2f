//! `tresor backup` and `tresor restore` end to end: a backup taken while a server runs and writes
//! restores into a new SQLite data directory and into PostgreSQL (the migration path), where a
//! server with the same root key resolves every value and version, honours the old tokens and
//! grants, and verifies the audit chain; bad inputs are refused without changing anything; the file
//! holds no plaintext value and no root key.

use crate::common;
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Runs `tresor` with `args`, none of the storage variables inherited, plus `env`.
fn tresor(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = common::tresor();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

const VAULT: &str = "/api/v1/envs/default/vaults";

/// What the source server holds, to compare the restored one against.
struct Fixture {
    /// (vault, key, [value of version 1, 2, ...]) of live entries.
    entries: Vec<(&'static str, &'static str, Vec<&'static str>)>,
    reader: String,
    grants: Value,
    tokens: Value,
}

/// Entries with several versions (variables too), a deleted entry, a vault, a branch environment,
/// a principal with a grant and a token that has been used, a revoked token.
fn fill(s: &Server) -> Fixture {
    let admin = Some(s.token.as_str());
    assert_eq!(s.call("POST", VAULT, admin, Some(json!({"name": "api-keys"}))).0, 201);
    assert_eq!(s.call("POST", "/api/v1/envs", admin, Some(json!({"name": "feature-x", "parent": "default"}))).0, 201);
    let entries = vec![
        ("default", "db/password", vec!["pw-first-5f1d", "pw-second-8a2c", "pw-third-c3e7"]),
        ("default", "config/url", vec!["https://first.example", "https://second.example"]),
        ("api-keys", "stripe", vec!["sk_live_9b8e7d6c"]),
    ];
    for (vault, key, values) in &entries {
        let kind = if key.starts_with("config/") { "variable" } else { "secret" };
        for v in values {
            let (status, doc) = s.call(
                "PUT",
                &format!("{VAULT}/{vault}/entries/{key}"),
                admin,
                Some(json!({"value": v, "kind": kind})),
            );
            assert_eq!(status, 200, "{doc}");
        }
    }
    assert_eq!(
        s.call("PUT", &format!("{VAULT}/default/entries/old"), admin, Some(json!({"value": "old-value-77aa"}))).0,
        200
    );
    assert_eq!(s.call("DELETE", &format!("{VAULT}/default/entries/old"), admin, None).0, 204);

    assert_eq!(s.call("POST", "/api/v1/principals", admin, Some(json!({"principal": "app:reader"}))).0, 201);
    let (status, doc) = s.call(
        "POST",
        "/api/v1/grants",
        admin,
        Some(json!({"principal": "app:reader", "scope": "default/api-keys/*", "access": "read"})),
    );
    assert_eq!(status, 201, "{doc}");
    let (_, doc) = s.call("POST", "/api/v1/tokens", admin, Some(json!({"principal": "app:reader", "name": "r"})));
    let reader = doc["token"].as_str().unwrap().to_owned();
    let (_, doc) = s.call("POST", "/api/v1/tokens", admin, Some(json!({"principal": "app:reader", "name": "gone"})));
    let revoked = doc["token"].as_str().unwrap().to_owned();
    let revoked_id = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(s.call("DELETE", &format!("/api/v1/tokens/{revoked_id}"), admin, None).0, 204);
    // Use the tokens, so that reads and denials are in the audit log.
    assert_eq!(s.call("GET", &format!("{VAULT}/api-keys/values/stripe"), Some(&reader), None).0, 200);
    assert_eq!(s.call("GET", &format!("{VAULT}/default/values/db/password"), Some(&reader), None).0, 403);
    assert_eq!(s.call("GET", &format!("{VAULT}/api-keys/values/stripe"), Some(&revoked), None).0, 401);
    let grants = s.call("GET", "/api/v1/grants", admin, None).1;
    let tokens = s.call("GET", "/api/v1/tokens", admin, None).1;
    Fixture { entries, reader, grants, tokens }
}

/// Keeps writing new versions of `load/counter` (version N holds `count-N`) until stopped.
fn start_writer(s: &Server) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (addr, token, flag) = (s.addr.clone(), s.token.clone(), stop.clone());
    let handle = std::thread::spawn(move || {
        let mut written = 0;
        while !flag.load(Ordering::Relaxed) {
            let body = json!({"value": format!("count-{}", written + 1), "expected_version": written});
            let resp = ureq::put(&format!("{addr}{VAULT}/default/entries/load/counter"))
                .set("Authorization", &format!("Bearer {token}"))
                .send_json(body);
            assert!(resp.is_ok(), "write {}: {resp:?}", written + 1);
            written += 1;
        }
        written
    });
    (stop, handle)
}

/// Checks a server restored from `fill`'s store (plus the writer's counter) from `backup`.
fn check_restored(r: &Server, fixture: &Fixture, backup: &Path) {
    let admin = Some(r.token.as_str());
    // The old admin token works; every live entry resolves at every version.
    for (vault, key, values) in &fixture.entries {
        let (status, doc) = r.call("GET", &format!("{VAULT}/{vault}/values/{key}"), admin, None);
        assert_eq!(status, 200, "{vault}/{key}: {doc}");
        assert_eq!(doc["value"], *values.last().unwrap());
        for (i, v) in values.iter().enumerate() {
            let (_, doc) = r.call("GET", &format!("{VAULT}/{vault}/values/{key}?version={}", i + 1), admin, None);
            assert_eq!(doc["value"], *v, "{vault}/{key} version {}", i + 1);
        }
        let (_, versions) = r.call("GET", &format!("{VAULT}/{vault}/versions/{key}"), admin, None);
        assert_eq!(versions["versions"].as_array().unwrap().len(), values.len(), "{vault}/{key}");
    }
    // The deleted entry is still deleted, and still recoverable.
    assert_eq!(r.call("GET", &format!("{VAULT}/default/values/old"), admin, None).0, 404);
    assert_eq!(r.call("POST", &format!("{VAULT}/default/undelete/old"), admin, None).0, 200);
    assert_eq!(r.call("GET", &format!("{VAULT}/default/values/old"), admin, None).1["value"], "old-value-77aa");
    // The branch environment reads through to its parent.
    let (_, doc) = r.call("GET", "/api/v1/envs/feature-x/vaults/api-keys/values/stripe", admin, None);
    assert_eq!(doc["value"], "sk_live_9b8e7d6c");
    // The counter the writer was bumping: whatever version the backup caught, every kept version
    // holds what was written at it (a torn copy would show a version without its value, or the
    // reverse).
    let (status, current) = r.call("GET", &format!("{VAULT}/default/values/load/counter"), admin, None);
    assert_eq!(status, 200, "{current}");
    let version = current["version"].as_u64().unwrap();
    assert_eq!(current["value"], format!("count-{version}"));
    let (_, versions) = r.call("GET", &format!("{VAULT}/default/versions/load/counter"), admin, None);
    for v in versions["versions"].as_array().unwrap() {
        let n = v["version"].as_u64().unwrap();
        let (_, doc) = r.call("GET", &format!("{VAULT}/default/values/load/counter?version={n}"), admin, None);
        assert_eq!(doc["value"], format!("count-{n}"));
    }
    // Grants and tokens as they were; the reader's token works within its grant only; revoked stays revoked.
    assert_eq!(r.call("GET", "/api/v1/grants", admin, None).1, fixture.grants);
    assert_eq!(r.call("GET", "/api/v1/tokens", admin, None).1, fixture.tokens);
    let reader = Some(fixture.reader.as_str());
    assert_eq!(r.call("GET", &format!("{VAULT}/api-keys/values/stripe"), reader, None).1["value"], "sk_live_9b8e7d6c");
    assert_eq!(r.call("GET", &format!("{VAULT}/default/values/db/password"), reader, None).0, 403);
    // The restored log starts with every record of the backup, as it was (the calls above have
    // appended more), and the whole chain verifies, through the CLI as an operator would run it.
    let doc: Value = serde_json::from_slice(&std::fs::read(backup).unwrap()).unwrap();
    let saved = doc["tables"]["audit_log"].as_array().unwrap();
    assert!(saved.iter().any(|rec| rec["outcome"] == "denied"), "the backup holds the source's denial");
    let (_, log) = r.call("GET", "/api/v1/audit?limit=100000", admin, None);
    let records = log["records"].as_array().unwrap_or_else(|| panic!("{log}"));
    assert!(records.len() > saved.len(), "{} records restored, {} in the backup", records.len(), saved.len());
    for (restored, saved) in records.iter().zip(saved) {
        for field in ["seq", "request_id", "principal", "action", "target", "outcome"] {
            assert_eq!(restored[field], saved[field], "audit record {}: {field}", saved["seq"]);
        }
    }
    let out = r.cli(&r.token, &["audit", "verify"], b"").ok();
    assert!(out.contains("audit log intact"), "{out}");
}

/// The backup file holds no stored value, in plaintext or base64, and not the root key.
fn assert_no_plaintext(backup: &[u8], fixture: &Fixture, root_key_file: &Path) {
    let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
    let contains = |needle: &[u8]| backup.windows(needle.len()).any(|w| w == needle);
    let mut values: Vec<&str> = fixture.entries.iter().flat_map(|(_, _, v)| v.iter().copied()).collect();
    values.push("old-value-77aa");
    values.push("count-1");
    for v in values {
        assert!(!contains(v.as_bytes()), "the backup holds the value {v:?} in plaintext");
        assert!(!contains(b64(v.as_bytes()).trim_end_matches('=').as_bytes()), "the backup holds {v:?} as base64");
    }
    let key_text = std::fs::read_to_string(root_key_file).unwrap();
    let key_text = key_text.trim();
    assert!(key_text.len() >= 40, "the key file holds a key: {}", key_text.len());
    assert!(!contains(key_text.as_bytes()), "the backup holds the root key file's text");
    let raw = base64::engine::general_purpose::STANDARD.decode(key_text).unwrap();
    assert!(!contains(&raw), "the backup holds the raw root key");
    assert!(!contains(b64(&raw).trim_end_matches('=').as_bytes()));
}

#[test]
fn a_backup_taken_while_serving_and_writing_restores_into_sqlite() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let fixture = fill(&s);
    let (stop, writer) = start_writer(&s);
    // Let the writer get going, then back up under its load.
    while s.call("GET", &format!("{VAULT}/default/entries/load/counter"), Some(&s.token), None).0 != 200 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("tresor-backup.json");
    let out = tresor(&["backup", "create", p(&file), "--data-dir", p(&s.data_dir())], &[]).ok();
    assert!(out.contains("Backed up") && out.contains("root key is not in the backup"), "{out}");
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written >= 2, "the writer kept writing during the backup ({written} writes)");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let backup = std::fs::read(&file).unwrap();
    let doc: Value = serde_json::from_slice(&backup).unwrap();
    assert_eq!(doc["header"]["format"], 3);
    assert_eq!(doc["header"]["source_backend"], "sqlite");
    assert_no_plaintext(&backup, &fixture, &s.data_dir().join("root.key"));
    // The same to stdout.
    let streamed = tresor(&["backup", "create", "-", "--data-dir", p(&s.data_dir())], &[]);
    let streamed_doc: Value = serde_json::from_str(&streamed.stdout).unwrap();
    assert!(streamed.stderr.contains("Backed up"), "{}", streamed.stderr);
    assert!(streamed_doc["tables"]["audit_log"].as_array().unwrap().len() > 1);

    // `--json` reports both verbs as documents: the file, the storage and the rows per table.
    let second = work.path().join("second.json");
    let out = tresor(&["--json", "backup", "create", p(&second), "--data-dir", p(&s.data_dir())], &[]).ok();
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["backup"], p(&second), "{report}");
    assert!(report["storage"].as_str().unwrap().contains("tresor.db"), "{report}");
    assert!(report["schema_version"].as_i64().unwrap() >= 7, "{report}");
    assert!(report["rows"]["entries"].as_u64().unwrap() >= fixture.entries.len() as u64, "{report}");
    let keyless = tempfile::tempdir().unwrap();
    let out = tresor(&["--json", "backup", "restore", p(&second), "--data-dir", p(keyless.path())], &[]).ok();
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((report["restored"].as_str(), report["source_backend"].as_str()), (Some(p(&second)), Some("sqlite")));
    assert_eq!(report["root_key_found"], false, "no key file and no TRESOR_ROOT_KEY: {report}");
    assert!(report["rows"]["audit_log"].as_u64().unwrap() > 1, "{report}");

    // A fresh data directory with the source's key file.
    let target = tempfile::tempdir().unwrap();
    let data = target.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::copy(s.data_dir().join("root.key"), data.join("root.key")).unwrap();
    let out = tresor(&["backup", "restore", p(&file), "--data-dir", p(&data)], &[]).ok();
    assert!(out.contains("Restored") && out.contains("tresor serve"), "{out}");
    let r = Server::serve(target, s.token.clone(), &[("TRESOR_RATE_MANAGEMENT", "0")], &[]);
    check_restored(&r, &fixture, &file);
    assert!(!r.log_text().contains("Admin token"), "the restored store is initialised: no new owner token");
}

/// Moving from SQLite to PostgreSQL as docs/operations.md describes it: back up the SQLite server,
/// restore into an empty database, serve from it with the same root key.
#[test]
fn a_sqlite_backup_restores_into_postgresql() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let fixture = fill(&s);
    let counter = json!({"value": "count-1"});
    assert_eq!(s.call("PUT", &format!("{VAULT}/default/entries/load/counter"), Some(&s.token), Some(counter)).0, 200);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("backup.json");
    tresor(&["backup", "create", p(&file), "--data-dir", p(&s.data_dir())], &[]).ok();

    let Some(db) = common::pg::TestDb::create() else { return };
    let url = db.url.clone();
    let target = tempfile::tempdir().unwrap();
    let data = target.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let key = std::fs::read_to_string(s.data_dir().join("root.key")).unwrap();
    // The key through the environment this time; the data directory holds no key file.
    let env = [("TRESOR_ROOT_KEY", key.trim()), ("TRESOR_RATE_MANAGEMENT", "0")];
    let out = tresor(&["backup", "restore", p(&file), "--data-dir", p(&data), "--storage", &url], &env).ok();
    assert!(out.contains("Restored") && out.contains("postgres://"), "{out}");
    assert!(!out.contains("postgres:postgres@"), "messages never show the password: {out}");
    let r = Server::serve(target, s.token.clone(), &env, &["--storage", &url]);
    check_restored(&r, &fixture, &file);

    // And back out of PostgreSQL: a backup of the restored database equals the SQLite one, row for
    // row, but for what the checks above added (an undelete and their audit records).
    let again = work.path().join("again.json");
    tresor(&["backup", "create", p(&again), "--storage", &url, "--data-dir", p(&data)], &[]).ok();
    let first: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let second: Value = serde_json::from_slice(&std::fs::read(&again).unwrap()).unwrap();
    assert_eq!(second["header"]["source_backend"], "postgres");
    for table in
        ["workspaces", "data_keys", "environments", "vaults", "entry_versions", "principals", "tokens", "grants"]
    {
        assert_eq!(first["tables"][table], second["tables"][table], "{table}");
    }
    let (a, b) = (first["tables"]["audit_log"].as_array().unwrap(), second["tables"]["audit_log"].as_array().unwrap());
    assert_eq!(a[..], b[..a.len()], "the source's audit records, then the new ones");
    drop(r);
}

/// A fresh data directory holding `source`'s root key, restored from `file`, served.
fn restored(source: &Server, file: &Path) -> Server {
    let target = tempfile::tempdir().unwrap();
    let data = target.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::copy(source.data_dir().join("root.key"), data.join("root.key")).unwrap();
    tresor(&["backup", "restore", p(file), "--data-dir", p(&data)], &[]).ok();
    Server::serve(target, source.token.clone(), &[("TRESOR_RATE_MANAGEMENT", "0")], &[])
}

/// Backup format 2 carries the environment tokens and application keys are bound to, and a
/// restored bound token is still bound. A format 1 file (as a tresor before bindings wrote it:
/// no `environment` column, schema 6) still restores, every credential in it unbound and working
/// as before.
#[test]
fn bindings_survive_a_backup_and_a_format_1_backup_still_restores() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let fixture = fill(&s);
    s.call("PUT", &format!("{VAULT}/default/entries/load/counter"), Some(&s.token), Some(json!({"value": "count-1"})));
    let work = tempfile::tempdir().unwrap();

    // Format 1: this store's backup as the older tresor wrote it.
    let before = work.path().join("before.json");
    tresor(&["backup", "create", p(&before), "--data-dir", p(&s.data_dir())], &[]).ok();
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&before).unwrap()).unwrap();
    assert_eq!(doc["header"]["format"], 3);
    for table in ["tokens", "app_keys"] {
        for row in doc["tables"][table].as_array_mut().unwrap() {
            let row = row.as_object_mut().unwrap();
            assert_eq!(row.remove("environment"), Some(Value::Null), "{table}: unbound so far");
        }
    }
    doc["header"]["format"] = json!(1);
    doc["header"]["schema_version"] = json!(6);
    let format_1 = work.path().join("format-1.json");
    std::fs::write(&format_1, doc.to_string()).unwrap();
    let r1 = restored(&s, &format_1);
    check_restored(&r1, &fixture, &format_1);
    let (_, me) = r1.call("GET", "/api/v1/whoami", Some(&fixture.reader), None);
    assert_eq!(me["environment"], Value::Null, "{me}");

    // Format 2 with bound credentials.
    s.cli(&s.token, &["env", "create", "staging"], b"").ok();
    let bound = s.cli(&s.token, &["token", "create", "app:reader", "--bind-env", "staging", "--json"], b"").json();
    let bound_token = bound["token"].as_str().unwrap().to_owned();
    let key = s.cli(&s.token, &["app-key", "create", "app:reader", "--bind-env", "staging", "--json"], b"").json();
    s.cli(&s.token, &["-e", "staging", "set", "staging/pw"], b"staging-PW-6610").ok();
    let after = work.path().join("after.json");
    tresor(&["backup", "create", p(&after), "--data-dir", p(&s.data_dir())], &[]).ok();
    let doc: Value = serde_json::from_slice(&std::fs::read(&after).unwrap()).unwrap();
    let bound_rows = |table: &str| -> Vec<Value> {
        doc["tables"][table].as_array().unwrap().iter().filter(|r| !r["environment"].is_null()).cloned().collect()
    };
    assert_eq!(bound_rows("tokens").len(), 1);
    assert_eq!(
        (bound_rows("tokens")[0]["id"].clone(), bound_rows("tokens")[0]["environment"].clone()),
        (bound["id"].clone(), json!("staging"))
    );
    assert_eq!(bound_rows("app_keys")[0]["id"], key["id"]);
    let r2 = restored(&s, &after);
    let (_, me) = r2.call("GET", "/api/v1/whoami", Some(&bound_token), None);
    assert_eq!(me["environment"], "staging", "{me}");
    let (status, _) = r2.call("GET", &format!("{VAULT}/api-keys/values/stripe"), Some(&bound_token), None);
    assert_eq!(status, 403, "the restored token is still narrowed to staging");
    let (_, keys) = r2.call("GET", "/api/v1/app-keys", Some(&s.token), None);
    let restored_key = keys["app_keys"].as_array().unwrap().iter().find(|k| k["id"] == key["id"]).unwrap().clone();
    assert_eq!(restored_key["environment"], "staging");
    for log in [s.log_text(), r1.log_text(), r2.log_text()] {
        for v in ["staging-PW-6610", "sk_live_9b8e7d6c", "pw-third-c3e7"] {
            assert!(!log.contains(v), "{v} is in a server log");
        }
    }
}

#[test]
fn bad_inputs_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    tresor(&["init", "--json", "--data-dir", p(&source)], &[]).ok();
    let file = dir.path().join("backup.json");
    tresor(&["backup", "create", p(&file), "--data-dir", p(&source)], &[]).ok();
    let good = std::fs::read_to_string(&file).unwrap();
    let snapshot_of_source = || {
        let out = tresor(&["backup", "create", "-", "--data-dir", p(&source)], &[]).ok();
        serde_json::from_str::<Value>(&out).unwrap()["tables"].clone()
    };
    let before = snapshot_of_source();

    // Into a store that holds data (here the source itself): refused, exit 6, nothing changed.
    let err = tresor(&["backup", "restore", p(&file), "--data-dir", p(&source)], &[])
        .fails(6, "restore needs an empty store");
    assert!(err.contains("workspaces") && err.contains("new database or data directory"), "{err}");
    assert_eq!(snapshot_of_source(), before);

    // Each bad file into a fresh data directory: a clear error, exit 2, no store created.
    let fresh = dir.path().join("fresh");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let truncated = write("truncated.json", &good[..good.len() / 2]);
    tresor(&["backup", "restore", p(&truncated), "--data-dir", p(&fresh)], &[]).fails(2, "truncated or damaged");
    let garbled = write("garbled.json", "this is not a tresor backup\n");
    tresor(&["backup", "restore", p(&garbled), "--data-dir", p(&fresh)], &[]).fails(2, "not a complete tresor backup");
    let mut doc: Value = serde_json::from_str(&good).unwrap();
    doc["header"]["format"] = json!(99);
    let newer = write("newer.json", &doc.to_string());
    let err = tresor(&["backup", "restore", p(&newer), "--data-dir", p(&fresh)], &[]).fails(2, "format 99");
    assert!(err.contains("newer"), "{err}");
    let mut doc: Value = serde_json::from_str(&good).unwrap();
    doc["header"]["schema_version"] = json!(999);
    let newer_schema = write("newer-schema.json", &doc.to_string());
    let err =
        tresor(&["backup", "restore", p(&newer_schema), "--data-dir", p(&fresh)], &[]).fails(2, "schema version 999");
    assert!(err.contains("upgrade tresor"), "{err}");
    let missing = dir.path().join("missing.json");
    let err =
        tresor(&["backup", "restore", p(&missing), "--data-dir", p(&fresh)], &[]).fails(2, "cannot read backup file");
    assert!(err.contains("missing.json") && err.contains("No such file"), "names the file and why: {err}");
    // With another store's root key at hand: refused before anything is written.
    let other = dir.path().join("other");
    tresor(&["init", "--json", "--data-dir", p(&other)], &[]).ok();
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::copy(other.join("root.key"), fresh.join("root.key")).unwrap();
    tresor(&["backup", "restore", p(&file), "--data-dir", p(&fresh)], &[]).fails(2, "does not open this backup");
    assert!(!fresh.join("tresor.db").exists(), "no store was created by a refused restore");

    // Without a root key at hand the restore proceeds, and says which key the store needs.
    let keyless = dir.path().join("keyless");
    let out = tresor(&["backup", "restore", p(&file), "--data-dir", p(&keyless)], &[]).ok();
    assert!(out.contains("holds no root.key") && out.contains("copy the source store's root.key"), "{out}");
    assert!(!keyless.join("root.key").exists(), "restore never makes a key");

    // A backup of a store that does not exist.
    let nowhere = dir.path().join("nowhere");
    tresor(&["backup", "create", p(&dir.path().join("x.json")), "--data-dir", p(&nowhere)], &[])
        .fails(3, "no tresor store");
    assert!(!nowhere.exists());

    // `restore` is the entry verb only: a backup file is restored with `backup restore`.
    let local = LocalTresor::new();
    local.run_stdin(&["set", "k"], b"one").ok();
    local.run_stdin(&["set", "k"], b"two").ok();
    local.run(&["restore", "k", "--version", "1"]).ok();
    assert_eq!(local.run(&["get", "k"]).ok(), "one");
    local.run(&["restore", "k"]).fails(2, "--version");
}
