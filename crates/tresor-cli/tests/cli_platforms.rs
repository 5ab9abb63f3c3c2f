//! The CLI as users of Datatailr and Treasure Data Workflows (Digdag) would drive it, and a check
//! that no value stored through any compatibility surface reaches the server log.

mod common;
use common::*;
use serde_json::json;

const USAGE: i32 = 2;
const NOT_FOUND: i32 = 3;
const DENIED: i32 = 4;

/// A principal with a token, as an admin would set it up.
fn token_for(s: &Server, principal: &str) -> String {
    s.cli(&s.token, &["token", "create", principal, "--json"], b"").json()["token"].as_str().unwrap().to_owned()
}

#[test]
fn datatailr_group_permissions_on_set() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let t = s.token.clone();
    for p in ["group:readers", "group:ops", "user:rita", "user:otto"] {
        s.cli(&t, &["principal", "create", p], b"").ok();
    }
    s.cli(&t, &["group", "add", "readers", "user:rita"], b"").ok();
    s.cli(&t, &["group", "add", "ops", "user:otto"], b"").ok();
    let (rita, otto) = (token_for(&s, "user:rita"), token_for(&s, "user:otto"));

    // dt kv put -s -g readers:read -g ops:write db/password
    let out = s.cli(&t, &["set", "-g", "readers:read", "-g", "ops:write", "db/password"], b"dt-pass-1\n").ok();
    assert!(out.contains("granted group:readers read on default/default/db/password"), "{out}");
    assert!(out.contains("granted group:ops write on default/default/db/password"), "{out}");
    let grants = s.cli(&t, &["grant", "ls", "--json"], b"").json();
    let mut on_entry: Vec<[&str; 3]> = grants
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["principal"].as_str().unwrap().starts_with("group:"))
        .map(|g| [&g["principal"], &g["access"], &g["scope"]].map(|v| v.as_str().unwrap()))
        .collect();
    on_entry.sort();
    assert_eq!(
        on_entry,
        [
            ["group:ops", "write", "default/default/db/password"],
            ["group:readers", "read", "default/default/db/password"]
        ],
        "exactly the entry's scope"
    );
    // Setting it again with the same groups adds no duplicate grants; --json shows them.
    let doc =
        s.cli(&t, &["set", "--json", "-g", "readers:read", "-g", "ops:write", "db/password"], b"dt-pass-2").json();
    assert_eq!(
        doc["grants"][0],
        json!({"principal": "group:readers", "access": "read", "scope": "default/default/db/password"})
    );
    assert_eq!(
        s.cli(&t, &["grant", "ls", "--json"], b"").json().as_array().unwrap().len(),
        grants.as_array().unwrap().len()
    );

    // Members of readers read and cannot write; members of ops write and cannot read.
    assert_eq!(s.cli(&rita, &["get", "db/password"], b"").ok(), "dt-pass-2");
    s.cli(&rita, &["set", "db/password"], b"x").fails(DENIED, "lacks write access");
    s.cli(&otto, &["set", "db/password"], b"dt-pass-3").ok();
    s.cli(&otto, &["get", "db/password"], b"").fails(DENIED, "lacks read access");
    // Other entries are not covered.
    s.cli(&t, &["set", "db/other"], b"other").ok();
    s.cli(&rita, &["get", "db/other"], b"").fails(DENIED, "lacks read access");

    // Bad input: a missing group, a bad ACCESS, a missing ACCESS — nothing is written.
    s.cli(&t, &["set", "-g", "ghosts:read", "db/new"], b"v").fails(NOT_FOUND, "group:ghosts does not exist");
    s.cli(&t, &["get", "db/new"], b"").fails(NOT_FOUND, "does not exist");
    s.cli(&t, &["set", "-g", "readers:admin", "db/new"], b"v").fails(USAGE, "GROUP:ACCESS");
    s.cli(&t, &["set", "-g", "readers", "db/new"], b"v").fails(USAGE, "GROUP:ACCESS");
    s.cli(&t, &["set", "-g", "bad group:read", "db/new"], b"v").fails(USAGE, "");

    // Bulk files take -g too: every key of the file gets the grants.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bulk.yml");
    std::fs::write(&file, "svc:\n  a: va\n  b: vb\n").unwrap();
    let out = s.cli(&t, &["set", "-g", "readers:read", &format!("@{}", file.display())], b"").ok();
    assert!(out.contains("granted group:readers read on default/default/svc.a"), "{out}");
    assert_eq!(s.cli(&rita, &["get", "svc.b"], b"").ok(), "vb");

    // Local mode says clearly that groups need a server, before writing anything.
    let local = LocalTresor::new();
    local.run_stdin(&["set", "-g", "readers:read", "k"], b"v").fails(USAGE, "need a server");
    local.run(&["get", "k"]).fails(NOT_FOUND, "does not exist");
}

#[test]
fn ls_pretty_prints_a_box() {
    let t = LocalTresor::new();
    t.run_stdin(&["set", "db/password"], b"pretty-secret-value").ok();
    t.run(&["set", "--var", "config/max_retries", "5"]).ok();
    let out = t.run(&["ls", "-p"]).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with('┌') && lines[0].ends_with('┐'), "{out}");
    assert!(lines[1].starts_with("│ KEY") && lines[1].contains("EDITED BY"), "{out}");
    assert!(lines[lines.len() - 2].starts_with('└'), "{out}");
    let width = lines[0].chars().count();
    assert!(lines[..lines.len() - 1].iter().all(|l| l.chars().count() == width), "aligned:\n{out}");
    assert!(out.contains("********") && out.contains("│ 5 ") && !out.contains("pretty-secret-value"), "{out}");
    assert!(out.contains("user:"), "who last edited: {out}");
    assert_eq!(lines[lines.len() - 1], "2 entries in default/default: 1 secret, 1 variable");
    t.run(&["ls", "-p", "--json"]).fails(USAGE, "cannot be used with");

    // Issue #14: a filtered listing's footer counted the kind shown as if it were the vault.
    t.run_stdin(&["set", "db/user"], b"pretty-user-value").ok();
    let last = |args: &[&str]| t.run(args).ok().lines().last().unwrap().to_owned();
    assert_eq!(
        last(&["ls", "--vars", "-p"]),
        "1 variable shown (--vars) of 3 entries in default/default: 2 secrets, 1 variable"
    );
    assert_eq!(
        last(&["ls", "-s", "-p"]),
        "2 secrets shown (--secrets) of 3 entries in default/default: 2 secrets, 1 variable"
    );
    assert_eq!(last(&["ls", "-p", "db/"]), "2 entries under db/ in default/default: 2 secrets, 0 variables");
    assert_eq!(
        last(&["ls", "--vars", "-p", "db/"]),
        "0 variables shown (--vars) of 2 entries under db/ in default/default: 2 secrets, 0 variables"
    );
}

/// `td wf secrets --project P ...` as tresor commands, in local or server mode.
/// Runs `tresor ARGS` on a terminal, typing a value at the prompt: (exit code, screen).
type OnTty<'a> = &'a dyn Fn(&[&str], &str) -> (i32, String);

fn td_workflow_secrets(run: &dyn Fn(&[&str], &[u8]) -> Run, tty: OnTty<'_>) {
    run(&["vault", "create", "nasdaq_analysis"], b"").ok();
    // td wf secrets --project nasdaq_analysis --set td.apikey (hidden prompt)
    let (code, screen) = tty(&["set", "--project", "nasdaq_analysis", "td.apikey"], "td-APIKEY-typed-1");
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Value for td.apikey (input hidden):"), "{screen}");
    assert!(!screen.contains("td-APIKEY-typed-1"), "the typed value is not echoed: {screen}");
    assert_eq!(run(&["get", "--project", "nasdaq_analysis", "td.apikey"], b"").ok(), "td-APIKEY-typed-1");
    // Setting it again changes it (a new version); apikey1 and apikey2 for two tasks.
    run(&["set", "--project", "nasdaq_analysis", "td.apikey"], b"td-APIKEY-2\n").ok();
    run(&["set", "--project", "nasdaq_analysis", "apikey1"], b"td-key-one\n").ok();
    run(&["set", "--project", "nasdaq_analysis", "apikey2"], b"td-key-two\n").ok();
    let doc = run(&["get", "--project", "nasdaq_analysis", "td.apikey", "--json"], b"").json();
    assert_eq!((doc["value"].as_str(), doc["version"].as_u64()), (Some("td-APIKEY-2"), Some(2)));

    // td wf secrets --project my_project --set @credentials.yml (pg credentials, pg: db1/db2 sets)
    run(&["vault", "create", "my_project"], b"").ok();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials.yml");
    std::fs::write(
        &file,
        "pg:\n  user: td-pg-user\n  password: td-pg-pw\ndb1:\n  host: db1.internal\n  user: db1-user\n  password: db1-pw\n\
         db2:\n  host: db2.internal\n  user: db2-user\n  password: db2-pw\n",
    )
    .unwrap();
    run(&["set", "--project", "my_project", &format!("@{}", file.display())], b"").ok();
    // td wf secrets --project my_project (list: names, never values)
    let names = |project: &str| -> Vec<String> {
        let doc = run(&["ls", "--project", project, "--json"], b"").json();
        assert!(!doc.to_string().contains("-pw"), "no values in listings: {doc}");
        doc.as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(
        names("my_project"),
        ["db1.host", "db1.password", "db1.user", "db2.host", "db2.password", "db2.user", "pg.password", "pg.user"]
    );
    assert_eq!(names("nasdaq_analysis"), ["apikey1", "apikey2", "td.apikey"]);
    // td wf secrets --project my_project --delete pg.user pg.password (several at once)
    let out = run(&["rm", "--project", "my_project", "pg.user", "pg.password"], b"").ok();
    assert!(out.contains("deleted pg.user") && out.contains("deleted pg.password"), "{out}");
    assert_eq!(names("my_project").len(), 6);
    // td wf secrets --project nasdaq_analysis --delete td.apikey
    run(&["rm", "--project", "nasdaq_analysis", "td.apikey"], b"").ok();
    run(&["get", "--project", "nasdaq_analysis", "td.apikey"], b"").fails(NOT_FOUND, "does not exist");
    // Projects are separate vaults.
    run(&["get", "--project", "nasdaq_analysis", "db1.user"], b"").fails(NOT_FOUND, "does not exist");
    // A project that was never created is named in the error.
    run(&["set", "--project", "no_such_project", "k"], b"v").fails(NOT_FOUND, "tresor vault create no_such_project");
}

#[test]
fn treasure_data_style_project_secrets_in_local_mode() {
    let t = LocalTresor::new();
    let home = t.home().to_str().unwrap().to_owned();
    let run = |args: &[&str], stdin: &[u8]| t.run_stdin(args, stdin);
    let tty = |args: &[&str], typed: &str| {
        let mut all = vec!["--local"];
        all.extend_from_slice(args);
        run_on_tty(&all, &[("TRESOR_HOME", &home)], "(input hidden):", typed)
    };
    td_workflow_secrets(&run, &tty);
    // td wf secrets --local --set @credentials.yml: the local store's default vault.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials.yml");
    std::fs::write(&file, "pg:\n  user: local-user\n  password: local-pw\n").unwrap();
    t.run(&["set", &format!("@{}", file.display())]).ok();
    assert_eq!(t.run(&["get", "pg.password"]).ok(), "local-pw");
}

#[test]
fn treasure_data_style_project_secrets_against_a_server() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let run = |args: &[&str], stdin: &[u8]| s.cli(&s.token, args, stdin);
    let tty = |args: &[&str], typed: &str| {
        run_on_tty(args, &[("TRESOR_ADDR", &s.addr), ("TRESOR_TOKEN", &s.token)], "(input hidden):", typed)
    };
    td_workflow_secrets(&run, &tty);
    // "It is not possible to download secrets": a worker token without read cannot.
    s.cli(&s.token, &["principal", "create", "app:td-worker"], b"").ok();
    s.cli(&s.token, &["grant", "add", "app:td-worker", "default/my_project/*", "write"], b"").ok();
    let worker = token_for(&s, "app:td-worker");
    s.cli(&worker, &["get", "--project", "my_project", "db1.password"], b"").fails(DENIED, "lacks read access");
}

#[test]
fn values_stored_through_the_compatibility_surfaces_stay_out_of_the_log() {
    let mut s = Server::start(&[
        ("TRESOR_RATE_MANAGEMENT", "0"),
        ("TRESOR_RATE_TINYBIRD", "0"),
        ("TRESOR_MAX_VALUE_BYTES", "64"),
    ]);
    let t = s.token.clone();
    let env = [("HOST", s.addr.as_str()), ("TOKEN", t.as_str())];
    let values = [
        "tb-form-LOGCHECK-1",
        "tb-json-LOGCHECK-2",
        "tb-put-LOGCHECK-3",
        "orkes-raw-LOGCHECK-4",
        "orkes-json-LOGCHECK-5",
        "cli-group-LOGCHECK-6",
        "td-bulk-LOGCHECK-7",
    ];
    // Tinybird: form create, JSON create, update, plus refusals that carry a value.
    let r = curl_sh(
        &format!(
            r#"curl -X POST "$HOST/v0/secrets" -H "Authorization: Bearer $TOKEN" -d "name=tb_one" -d "value={}""#,
            values[0]
        ),
        &env,
    );
    assert_eq!(r.status, 200);
    let r = curl_sh(
        &format!(
            r#"curl -X POST "$HOST/v0/secrets" -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d '{{"name": "tb_two", "value": "{}"}}'"#,
            values[1]
        ),
        &env,
    );
    assert_eq!(r.status, 200);
    curl_sh(
        &format!(r#"curl -X PUT "$HOST/v0/secrets/tb_one" -H "Authorization: Bearer $TOKEN" -d "value={}""#, values[2]),
        &env,
    );
    curl_sh(
        &format!(
            r#"curl -X POST "$HOST/v0/secrets" -H "Authorization: Bearer $TOKEN" -d "name=tb_one" -d "value={}""#,
            values[2]
        ),
        &env,
    );
    curl_sh(
        &format!(
            r#"curl -X POST "$HOST/v0/secrets" -H "Authorization: Bearer $TOKEN" -d "name=tb_big" -d "value={}""#,
            values[2].repeat(9)
        ),
        &env,
    );
    curl_sh(
        &format!(
            r#"curl -X POST "$HOST/v0/secrets" -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d '{{"name": 1, "value": "{}"}}'"#,
            values[2]
        ),
        &env,
    );
    // Conductor: raw and JSON-string bodies, reads, and an oversize refusal.
    curl_sh(
        &format!(r#"curl -X PUT "$HOST/api/secrets/orkes_raw" -H "X-Authorization: $TOKEN" -d "{}""#, values[3]),
        &env,
    );
    curl_sh(
        &format!(
            r#"curl -X PUT "$HOST/api/secrets/orkes_json" -H "X-Authorization: $TOKEN" -H "Content-Type: application/json" -d '"{}"'"#,
            values[4]
        ),
        &env,
    );
    assert_eq!(curl_sh(r#"curl "$HOST/api/secrets/orkes_raw" -H "X-Authorization: $TOKEN""#, &env).body, values[3]);
    assert_eq!(curl_sh(r#"curl "$HOST/api/secrets/orkes_json" -H "X-Authorization: $TOKEN""#, &env).body, values[4]);
    curl_sh(
        &format!(
            r#"curl -X PUT "$HOST/api/secrets/orkes_big" -H "X-Authorization: $TOKEN" -d "{}""#,
            values[4].repeat(9)
        ),
        &env,
    );
    // The CLI: set -g, and a TD-style bulk file.
    s.cli(&t, &["principal", "create", "group:readers"], b"").ok();
    s.cli(&t, &["set", "-g", "readers:read", "dt/key"], values[5].as_bytes()).ok();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials.yml");
    std::fs::write(&file, format!("pg:\n  password: {}\n", values[6])).unwrap();
    s.cli(&t, &["set", &format!("@{}", file.display())], b"").ok();
    assert_eq!(s.cli(&t, &["get", "pg.password"], b"").ok(), values[6]);
    assert_eq!(s.cli(&t, &["get", "tb_one"], b"").ok(), values[2]);

    assert!(s.stop().success());
    let log = s.log_text();
    assert!(log.contains("DEBUG") && log.contains("/v0/secrets") && log.contains("/api/secrets/{*path}"), "{log}");
    for v in values {
        assert!(!log.contains(v), "{v} appears in the server log");
        assert_not_in_files(&s.data_dir(), v.as_bytes());
    }
}

/// A bulk `set @FILE` (and `import`) is all or none: a value over the size limit on the last line
/// leaves nothing of the file written, locally and through the server (one POST, one
/// transaction), and says so.
#[test]
fn a_bulk_file_is_written_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bulk.env");
    std::fs::write(&file, format!("FIRST=one\nSECOND=two\nTOO_BIG={}\n", "x".repeat(64))).unwrap();
    let arg = format!("@{}", file.display());

    let t = LocalTresor::new().with_env("TRESOR_MAX_VALUE_BYTES", "32");
    let r = t.run(&["set", &arg]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("TOO_BIG") && r.stderr.contains("nothing of the file was written"), "{}", r.stderr);
    t.run(&["get", "FIRST"]).fails(3, "");
    t.run(&["import", &file.display().to_string()]).fails(5, "nothing of the file was written");
    assert!(t.run(&["ls", "--json"]).json().as_array().unwrap().is_empty());

    let s = Server::start(&[("TRESOR_MAX_VALUE_BYTES", "32")]);
    let r = s.cli(&s.token, &["set", &arg], b"");
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("nothing of the file was written"), "{}", r.stderr);
    assert_eq!(s.cli(&s.token, &["get", "FIRST"], b"").code, 3);
    // Within the limit the same file lands whole, each entry at version 1.
    std::fs::write(&file, "FIRST=one\nSECOND=two\n").unwrap();
    let out = s.cli(&s.token, &["set", &arg, "--json"], b"").json();
    assert_eq!(out.as_array().unwrap().len(), 2, "{out}");
    assert_eq!(s.cli(&s.token, &["get", "SECOND"], b"").ok(), "two");
    let (_, audit) = s.call("GET", "/api/v1/audit", Some(&s.token), None);
    let writes = audit["records"].as_array().unwrap().iter().filter(|r| r["action"] == "entry.write").count();
    assert!(writes >= 5, "one record per entry of each attempt: {audit}");
}

#[test]
fn an_ordinary_script_never_fails_for_the_management_rate_limit() {
    // A limit far below the default, so that the script below goes past it for sure.
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "1")]);
    let t = s.token.clone();
    let value = "script-value-5521";
    // Writing entries makes no hidden management call (it used to list the vaults first)...
    for i in 0..5 {
        s.cli(&t, &["set", &format!("k{i}")], value.as_bytes()).ok();
    }
    let metrics = ureq::get(&format!("{}/metrics", s.addr)).call().unwrap().into_string().unwrap();
    assert!(!metrics.contains(r#"route="/api/v1/envs/{env}/vaults""#), "a set listed vaults: {metrics}");
    // ...and management calls past the limit wait out the 429s instead of failing.
    for _ in 0..3 {
        let out = s.cli(&t, &["vault", "ls", "--json"], b"").ok();
        assert!(out.contains("default"), "{out}");
    }
    let metrics = ureq::get(&format!("{}/metrics", s.addr)).call().unwrap().into_string().unwrap();
    assert!(metrics.contains(r#"status="429""#), "the limit was never reached, so nothing was tested: {metrics}");
    assert!(!s.log_text().contains(value));
}

/// Issue 14, item 13: `rm K1 K2 ...` deletes all of them or none, locally and through the server
/// (one `POST .../delete-entries`, one transaction).
#[test]
fn rm_of_several_keys_is_all_or_nothing() {
    let check = |run: &dyn Fn(&[&str], &[u8]) -> Run| {
        for k in ["a", "b", "c"] {
            run(&["set", k], b"value-of-rm-test").ok();
        }
        let err = run(&["rm", "a", "missing", "b", "also-missing"], b"").fails(NOT_FOUND, "nothing was deleted");
        assert!(err.contains("entries missing, also-missing do not exist in vault default/default"), "{err}");
        for k in ["a", "b", "c"] {
            assert_eq!(run(&["get", k], b"").ok(), "value-of-rm-test", "{k} survived the refused rm");
        }
        // A key given twice counts once; the rest go together.
        let doc = run(&["rm", "a", "b", "a", "--json"], b"").json();
        assert_eq!(doc, json!({"deleted": ["a", "b"]}));
        run(&["get", "a"], b"").fails(NOT_FOUND, "does not exist");
        // Deleted keys are missing for another rm, present for a purge.
        run(&["rm", "a", "c"], b"").fails(NOT_FOUND, "entry a does not exist");
        let out = run(&["rm", "--purge", "a", "c"], b"").ok();
        assert_eq!(out, "purged a\npurged c\n");
        run(&["undelete", "a"], b"").fails(NOT_FOUND, "");
    };
    let local = LocalTresor::new();
    check(&|args, stdin| local.run_stdin(args, stdin));

    let s = Server::start(&[]);
    check(&|args, stdin| s.cli(&s.token, args, stdin));
    // The native route: documented, capped, and refusing a missing key as a whole.
    let t = Some(s.token.as_str());
    let route = "/api/v1/envs/default/vaults/default/delete-entries";
    let (_, doc) = s.call("GET", "/api/v1/openapi.json", None, None);
    let documented = &doc["paths"]["/api/v1/envs/{env}/vaults/{vault}/delete-entries"]["post"];
    assert!(documented.is_object(), "delete-entries is in the OpenAPI document");
    for schema in ["DeleteEntries", "DeletedEntries"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema} is in the OpenAPI document");
    }
    let keys: Vec<String> = (0..1001).map(|i| format!("k{i}")).collect();
    let (status, doc) = s.call("POST", route, t, Some(json!({"keys": keys, "purge": false})));
    assert_eq!((status, doc["kind"].as_str()), (400, Some("invalid")), "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("at most 1000 entries"), "{doc}");
    s.cli(&s.token, &["set", "x"], b"vx").ok();
    let (status, doc) = s.call("POST", route, t, Some(json!({"keys": ["x", "nope"]})));
    assert_eq!((status, doc["kind"].as_str()), (404, Some("not_found")), "{doc}");
    let (status, doc) = s.call("POST", route, t, Some(json!({"keys": ["x", "x"], "purge": true})));
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc, json!({"deleted": ["x"], "purged": true}));
    let (status, doc) = s.call("POST", route, t, Some(json!({"keys": []})));
    assert_eq!(status, 400, "{doc}");
}
