//! `tresor render`: templates resolved in one batch, locally and through the server.

mod common;
use common::*;

const TEMPLATE: &str = "-- task\nSELECT * FROM t WHERE key = {{tb_secret('api')}} AND d = {{tb_secret('x', 'fallback')}};\n\
psql -U ${secret:pg.user} -W ${secret:pg.password} # ${workflow.secrets.api}\nurl=tresor://default/default/config/url\n";

#[test]
fn render_locally_with_credential_sets_and_allow_lists() {
    let t = LocalTresor::new();
    t.run_stdin(&["set", "db1.user"], b"alice").ok();
    t.run_stdin(&["set", "db1.password"], b"s3cr'et").ok();
    t.run_stdin(&["set", "api"], b"tok-1").ok();
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
    let r = t.run_stdin(&["render", "-"], b"a\nb ${secret:nope}\n");
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("${secret:nope} at 2:3"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
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
    s.cli(&t, &["set", "a"], b"value-a").ok();
    s.cli(&t, &["set", "b"], b"value-b").ok();
    assert_eq!(s.cli(&t, &["render", "-"], b"${secret:a}/${secret:b}").ok(), "value-a/value-b");
    s.cli(&t, &["principal", "create", "app:task"], b"").ok();
    s.cli(&t, &["grant", "add", "app:task", "default/default/a", "read"], b"").ok();
    let task = s.cli(&t, &["token", "create", "app:task", "--json"], b"").json()["token"].as_str().unwrap().to_owned();
    let r = s.cli(&task, &["render", "-"], b"${secret:a}\n${secret:b}");
    assert_eq!(r.code, 4);
    assert!(r.stderr.contains("${secret:b} at 2:1") && r.stdout.is_empty(), "{}", r.stderr);
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
    t.run_stdin(&["set", "pg_password"], b"pg'pass").ok();
    t.run_stdin(&["set", "int_secret"], b"42").ok();
    t.run_stdin(&["set", "post_office_username"], b"postmaster").ok();
    let pipe = "SELECT * FROM postgresql('host:5432', 'db', 'table', 'user', {{tb_secret('pg_password')}})\n\
                WHERE x > toUInt8({{tb_secret('int_secret')}})";
    assert_eq!(
        t.run_stdin(&["render", "-"], pipe.as_bytes()).ok(),
        "SELECT * FROM postgresql('host:5432', 'db', 'table', 'user', 'pg\\'pass')\nWHERE x > toUInt8('42')"
    );
    let task = br#"{"inputParameters": {"user": "${workflow.secrets.post_office_username}"}}"#;
    assert_eq!(t.run_stdin(&["render", "-"], task).ok(), r#"{"inputParameters": {"user": "postmaster"}}"#);
    // What the task prints goes through the redactor.
    let out = std::process::Command::new(BIN)
        .args(["--local", "run", "--only", "post_office_username", "--", "sh", "-c", "echo user=$POST_OFFICE_USERNAME"])
        .env("TRESOR_HOME", t.home())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "user=[REDACTED]\n");
}
