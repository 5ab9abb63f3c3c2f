//! `tresor render`: templates resolved in one batch, locally and through the server.

use crate::common;
use common::*;

const TEMPLATE: &str = "-- task\nSELECT * FROM t WHERE key = {{tb_secret('api')}} AND d = {{tb_secret('x', 'fallback')}};\n\
psql -U ${secret:pg.user} -W ${secret:pg.password} # ${workflow.secrets.api}\nurl=tresor://default/default/config/url\n";

#[test]
fn render_locally_with_credential_sets_and_allow_lists() {
    let t = LocalTresor::new();
    t.set_all(&[("db1.user", "alice"), ("db1.password", "s3cr'et"), ("api", "tok-1")]);
    t.run(&["set", "--var", "config/url", "https://x"]).ok();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("task.sql");
    std::fs::write(&file, TEMPLATE).unwrap();
    let out = t.run(&["render", "--map", "pg=db1", file.to_str().unwrap()]).ok();
    assert_eq!(
        out,
        "-- task\nSELECT * FROM t WHERE key = 'tok-1' AND d = 'fallback';\npsql -U alice -W s3cr'et # tok-1\nurl=https://x\n"
    );
    // From stdin; a missing reference names itself with line:column, and nothing is printed.
    t.run_stdin(&["render", "-"], b"a\nb ${secret:nope}\n").fails_quietly(3, "${secret:nope} at 2:3");
    // An allow-list refuses the rest.
    let r = t.run_stdin(&["render", "--allow", "pg.*", "--map", "pg=db1", "-"], b"${secret:pg.user} ${secret:api}");
    assert_eq!(r.code, 4);
    assert!(r.stderr.contains("${secret:api}") && r.stderr.contains("1:19"), "{}", r.stderr);
    // Malformed references are usage errors with positions.
    t.run_stdin(&["render", "-"], b"x {{tb_secret('a'").fails(2, "1:3");
    // JSON documents.
    let out = t.run_stdin(&["render", "--json-doc", "-"], br#"{"h": {"vault": "default", "key": "api"}}"#).ok();
    assert_eq!(out, r#"{"h": "tok-1"}"#);
}

#[test]
fn render_through_the_server_uses_the_callers_grants() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let t = s.token.clone();
    s.set_all(&t, &[("a", "value-a"), ("b", "value-b")]);
    assert_eq!(s.cli(&t, &["render", "-"], b"${secret:a}/${secret:b}").ok(), "value-a/value-b");
    let task = principal(&s, "app:task", &[("default/default/a", "read")]);
    s.cli(&task, &["render", "-"], b"${secret:a}\n${secret:b}").fails_quietly(4, "${secret:b} at 2:1");
    let (status, doc) =
        s.call("POST", "/api/v1/render", Some(&task), Some(serde_json::json!({"template": "x=${secret:a}"})));
    assert_eq!(status, 200);
    assert_eq!(doc["output"], "x=value-a");
    let log = s.log_text();
    assert!(!log.contains("value-a") && !log.contains("value-b"));
}

#[test]
fn tinybird_pipes_and_conductor_task_inputs_render_as_their_platforms_do() {
    let t = LocalTresor::new();
    t.set_all(&[("pg_password", "pg'pass"), ("int_secret", "42"), ("post_office_username", "postmaster")]);
    let pipe = "SELECT * FROM postgresql('host:5432', 'db', 'table', 'user', {{tb_secret('pg_password')}})\n\
                WHERE x > toUInt8({{tb_secret('int_secret')}})";
    assert_eq!(
        t.run_stdin(&["render", "-"], pipe.as_bytes()).ok(),
        "SELECT * FROM postgresql('host:5432', 'db', 'table', 'user', 'pg\\'pass')\nWHERE x > toUInt8('42')"
    );
    let task = br#"{"inputParameters": {"user": "${workflow.secrets.post_office_username}"}}"#;
    assert_eq!(t.run_stdin(&["render", "-"], task).ok(), r#"{"inputParameters": {"user": "postmaster"}}"#);
    // What the task prints goes through the redactor.
    let out = common::tresor()
        .args(["--local", "run", "--only", "post_office_username", "--", "sh", "-c", "echo user=$POST_OFFICE_USERNAME"])
        .env("TRESOR_HOME", t.home())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "user=[REDACTED]\n");
}

/// A value with every character that breaks a JSON string or a SQL literal written raw.
const TRICKY: &str = "p\"a\\ss'w\nrd-json-7c1";
/// TRICKY as the ClickHouse string literal a `tb_secret` renders.
const TRICKY_SQL: &str = "'p\"a\\\\ss\\'w\\nrd-json-7c1'";

/// Every syntax inside the strings of one JSON document (a member name too), and an object.
const JSON_TASK: &str = r#"{
  "password": "${workflow.secrets.pw}",
  "digdag": "pw=${secret:pw};",
  "uri": "tresor://default/pw",
  "sql": "WHERE p = {{tb_secret('pw')}} AND q = {{ tb_secret(\"nope\", 'dflt') }}",
  "object": {"vault": "default", "key": "pw"},
  "${secret:host}": 1
}"#;

fn assert_tricky_document(out: &str) {
    let doc: serde_json::Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    assert_eq!(doc["password"], TRICKY, "{out}");
    assert_eq!(doc["digdag"], format!("pw={TRICKY};"));
    assert_eq!(doc["uri"], TRICKY);
    assert_eq!(doc["sql"], format!("WHERE p = {TRICKY_SQL} AND q = 'dflt'"), "a tb_secret is a SQL literal inside");
    assert_eq!(doc["object"], TRICKY);
    assert_eq!(doc["db.internal"], 1);
}

/// Issue #14: `{"password": "${workflow.secrets.pw}"}` with a value holding `"` or `\` rendered
/// invalid JSON, and `--json-doc` left `${workflow.secrets...}` unresolved and exited 0.
#[test]
fn json_templates_escape_values_and_resolve_every_syntax() {
    let t = LocalTresor::new();
    t.run_stdin(&["set", "pw"], TRICKY.as_bytes()).ok();
    t.run(&["set", "--var", "host", "db.internal"]).ok();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("task.json");
    std::fs::write(&file, JSON_TASK).unwrap();
    let file = file.to_str().unwrap();
    // A .json file is a JSON document; so is any template with --json-doc.
    assert_tricky_document(&t.run(&["render", file]).ok());
    assert_tricky_document(&t.run_stdin(&["render", "--json-doc", "-"], JSON_TASK.as_bytes()).ok());
    // The report's own template; and --text, which renders a .json file as plain text: values
    // as they are (here: no longer JSON).
    let plain = dir.path().join("plain.json");
    std::fs::write(&plain, r#"{"password": "${workflow.secrets.pw}"}"#).unwrap();
    let plain = plain.to_str().unwrap();
    let out = t.run(&["render", plain]).ok();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["password"], TRICKY, "{out}");
    let raw = t.run(&["render", "--text", plain]).ok();
    assert_eq!(raw, format!("{{\"password\": \"{TRICKY}\"}}"));
    t.run(&["render", "--text", "--json-doc", file]).fails(2, "cannot be used with");

    // No reference is silently left in the output.
    let r = t.run_stdin(&["render", "--json-doc", "-"], b"{\n  \"a\": \"${secret:nope}\"}");
    assert_eq!((r.code, r.stdout.as_str()), (3, ""), "{}", r.stderr);
    assert!(r.stderr.contains("${secret:nope} at 2:9"), "the position in the document: {}", r.stderr);
    let r = t.run_stdin(&["render", "--json-doc", "-"], br#"{"port": ${secret:port}}"#);
    assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{}", r.stderr);
    assert!(r.stderr.contains("1:10") && r.stderr.contains("inside a JSON string"), "{}", r.stderr);
    // A {"vault", "key"} object is a reference of JSON documents only: in text it is refused.
    let r = t.run_stdin(&["render", "-"], b"curl -d '{\"vault\": \"default\", \"key\": \"pw\"}' x");
    assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{}", r.stderr);
    assert!(r.stderr.contains("1:10") && r.stderr.contains("--json-doc"), "{}", r.stderr);
    assert!(!r.stderr.contains(TRICKY), "{}", r.stderr);
}

#[test]
fn json_templates_render_through_the_server_too() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let t = s.token.clone();
    s.cli(&t, &["set", "pw"], TRICKY.as_bytes()).ok();
    s.cli(&t, &["set", "--var", "host", "db.internal"], b"").ok();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("task.json");
    std::fs::write(&file, JSON_TASK).unwrap();
    assert_tricky_document(&s.cli(&t, &["render", file.to_str().unwrap()], b"").ok());
    let (status, doc) = s.call(
        "POST",
        "/api/v1/render",
        Some(&t),
        Some(serde_json::json!({"template": "{\"password\": \"${workflow.secrets.pw}\"}", "format": "json"})),
    );
    assert_eq!(status, 200, "{doc}");
    let rendered: serde_json::Value = serde_json::from_str(doc["output"].as_str().unwrap()).unwrap();
    assert_eq!(rendered["password"], TRICKY);
    assert!(!s.log_text().contains("rd-json-7c1"), "the value stays out of the server's log");
}
