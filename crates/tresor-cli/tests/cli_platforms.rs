//! The CLI as users of Datatailr and Treasure Data Workflows (Digdag) would drive it, and a check
//! that no value stored through any compatibility surface reaches the server log.

use crate::common;
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
    let (t, out) = pretty_listing("pretty-secret-value");
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

/// A scenario written once for local mode and a server: `run` runs the CLI with stdin, `tty` on
/// a terminal, typing at the hidden prompt.
type Scenario = fn(&dyn Fn(&[&str], &[u8]) -> Run, OnTty<'_>);

/// Runs `scenario` on the local store of `t`.
fn in_local_mode(t: &LocalTresor, scenario: Scenario) {
    let run = |args: &[&str], stdin: &[u8]| t.run_stdin(args, stdin);
    let tty = |args: &[&str], typed: &str| t.run_on_tty(args, "(input hidden):", typed);
    scenario(&run, &tty);
}

/// Runs `scenario` against `s` with its admin token.
fn against_server(s: &Server, scenario: Scenario) {
    let run = |args: &[&str], stdin: &[u8]| s.cli(&s.token, args, stdin);
    let tty = |args: &[&str], typed: &str| {
        run_on_tty(args, &[("TRESOR_ADDR", &s.addr), ("TRESOR_TOKEN", &s.token)], "(input hidden):", typed)
    };
    scenario(&run, &tty);
}

/// A `credentials.yml` holding `content`, in a directory that lives as long as the first value;
/// the second is the `@FILE` argument that names it.
fn credentials_file(content: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials.yml");
    std::fs::write(&file, content).unwrap();
    let arg = format!("@{}", file.display());
    (dir, arg)
}

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
    in_local_mode(&t, td_workflow_secrets);
    // td wf secrets --local --set @credentials.yml: the local store's default vault.
    let (_dir, file) = credentials_file("pg:\n  user: local-user\n  password: local-pw\n");
    t.run(&["set", &file]).ok();
    assert_eq!(t.run(&["get", "pg.password"]).ok(), "local-pw");
}

#[test]
fn treasure_data_style_project_secrets_against_a_server() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    against_server(&s, td_workflow_secrets);
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
    let r = curl_sh(
        &format!(r#"curl -X PUT "$HOST/v0/secrets/tb_one" -H "Authorization: Bearer $TOKEN" -d "value={}""#, values[2]),
        &env,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = curl_sh(
        &format!(
            r#"curl -X POST "$HOST/v0/secrets" -H "Authorization: Bearer $TOKEN" -d "name=tb_one" -d "value={}""#,
            values[2]
        ),
        &env,
    );
    assert_eq!(r.status, 400, "Tinybird answers 400 to a name in use: {}", r.body);
    let r = curl_sh(
        &format!(
            r#"curl -X POST "$HOST/v0/secrets" -H "Authorization: Bearer $TOKEN" -d "name=tb_big" -d "value={}""#,
            values[2].repeat(9)
        ),
        &env,
    );
    assert_eq!(r.status, 403, "Tinybird answers 403 to a limit reached: {}", r.body);
    let r = curl_sh(
        &format!(
            r#"curl -X POST "$HOST/v0/secrets" -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d '{{"name": 1, "value": "{}"}}'"#,
            values[2]
        ),
        &env,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    // Conductor: raw and JSON-string bodies, reads, and an oversize refusal.
    let r = curl_sh(
        &format!(r#"curl -X PUT "$HOST/api/secrets/orkes_raw" -H "X-Authorization: $TOKEN" -d "{}""#, values[3]),
        &env,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = curl_sh(
        &format!(
            r#"curl -X PUT "$HOST/api/secrets/orkes_json" -H "X-Authorization: $TOKEN" -H "Content-Type: application/json" -d '"{}"'"#,
            values[4]
        ),
        &env,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(curl_sh(r#"curl "$HOST/api/secrets/orkes_raw" -H "X-Authorization: $TOKEN""#, &env).body, values[3]);
    assert_eq!(curl_sh(r#"curl "$HOST/api/secrets/orkes_json" -H "X-Authorization: $TOKEN""#, &env).body, values[4]);
    let r = curl_sh(
        &format!(
            r#"curl -X PUT "$HOST/api/secrets/orkes_big" -H "X-Authorization: $TOKEN" -d "{}""#,
            values[4].repeat(9)
        ),
        &env,
    );
    assert_eq!(r.status, 413, "{}", r.body);
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
    // ...and management calls past the limit wait out the 429s instead of failing. The test
    // spends the budget first, so each of the three calls finds it spent: answered one a second,
    // however fast the machine asks, they cannot all be through in less than two seconds.
    let spent = std::time::Instant::now();
    s.call("GET", "/api/v1/envs/default/vaults", Some(&t), None);
    for _ in 0..3 {
        let out = s.cli(&t, &["vault", "ls", "--json"], b"").ok();
        assert!(out.contains("default"), "{out}");
    }
    let took = spent.elapsed();
    assert!(took >= std::time::Duration::from_secs(2), "three calls at 1/s were answered within {took:?}");
    assert!(!s.log_text().contains(value));
}

const CONFLICT: i32 = 6;
/// What the platform verbs print once when a secret value is given as an argument.
const ARGUMENT_WARNING: &str = "visible to other users in `ps`";

/// Stops the server and checks that none of `values` reached its log or, in plaintext, its files.
fn assert_values_stay_out_of_the_log(s: &mut Server, values: &[&str]) {
    assert!(s.stop().success());
    let log = s.log_text();
    assert!(log.contains("DEBUG"), "the log was written at debug level: {log}");
    for v in values {
        assert!(!log.contains(v), "{v} appears in the server log");
        assert_not_in_files(&s.data_dir(), v.as_bytes());
    }
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

/// Datatailr's `dt kv` verbs, by changing the program name: `tresor kv put|get|ls|rm [-s]`, with
/// `-e`, `-g`, `-p` and `--json`, values as arguments (warned about once) or `-` for stdin.
#[test]
fn datatailr_kv_verbs_round_trip_against_a_server() {
    let mut s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let t = s.token.clone();
    let kv = |args: &[&str], stdin: &[u8]| {
        let mut all = vec!["kv"];
        all.extend_from_slice(args);
        s.cli(&t, &all, stdin)
    };
    // dt kv put config/max_retries 5: a variable, no warning.
    let r = kv(&["put", "config/max_retries", "5"], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("set variable config/max_retries (version 1)"), "{}", r.stdout);
    assert!(!r.stderr.contains(ARGUMENT_WARNING), "{}", r.stderr);
    // dt kv put -s db/password my_secret_pass: accepted, with one warning.
    let r = kv(&["put", "-s", "db/password", "dt-secret-PASS-1"], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr.matches(ARGUMENT_WARNING).count(), 1, "{}", r.stderr);
    assert!(r.stdout.contains("set secret db/password (version 1)"), "{}", r.stdout);
    // `-` reads stdin: no warning.
    let r = kv(&["put", "-s", "api/key", "-"], b"dt-stdin-KEY-2\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains(ARGUMENT_WARNING), "{}", r.stderr);
    // tresor's own verb keeps refusing a secret argument.
    s.cli(&t, &["set", "db/other", "dt-refused-3"], b"").fails(USAGE, "never taken from the command line");

    assert_eq!(kv(&["get", "config/max_retries"], b"").ok(), "5");
    assert_eq!(kv(&["get", "-s", "db/password"], b"").ok(), "dt-secret-PASS-1");
    assert_eq!(kv(&["get", "-s", "api/key"], b"").ok(), "dt-stdin-KEY-2");
    // The kind is the one -s says: a forgotten -s is told, with the fix.
    let err = kv(&["get", "db/password"], b"").fails(NOT_FOUND, "there is no variable db/password");
    assert!(err.contains("hint: add -s: `tresor kv get -s db/password`"), "{err}");
    kv(&["get", "-s", "config/max_retries"], b"").fails(NOT_FOUND, "drop -s");
    let doc = kv(&["get", "-s", "db/password", "--json"], b"").json();
    assert_eq!((doc["kind"].as_str(), doc["value"].as_str()), (Some("secret"), Some("dt-secret-PASS-1")));
    let pretty = kv(&["get", "-p", "config/max_retries"], b"").ok();
    assert!(pretty.starts_with('┌') && pretty.contains("│ config/max_retries │ variable │"), "{pretty}");

    // dt kv ls: variables with values; dt kv ls -s: secrets, never values.
    let keys = |doc: serde_json::Value| -> Vec<String> {
        doc.as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap().to_owned()).collect()
    };
    let vars = kv(&["ls", "--json"], b"").json();
    assert_eq!(vars[0]["value"], "5");
    assert_eq!(keys(vars), ["config/max_retries"]);
    let secrets = kv(&["ls", "-s", "--json"], b"").json();
    assert!(!secrets.to_string().contains("dt-secret"), "{secrets}");
    assert_eq!(keys(secrets), ["api/key", "db/password"]);
    let pretty = kv(&["ls", "-s", "-p"], b"").ok();
    assert!(pretty.contains("********") && pretty.contains("2 secrets shown (--secrets)"), "{pretty}");

    // -e ENV and -g GROUP:ACCESS.
    s.cli(&t, &["env", "create", "prod"], b"").ok();
    kv(&["put", "-e", "prod", "config/api_url", "https://api.example.com"], b"").ok();
    assert_eq!(kv(&["get", "-e", "prod", "config/api_url"], b"").ok(), "https://api.example.com");
    kv(&["get", "config/api_url"], b"").fails(NOT_FOUND, "does not exist");
    s.cli(&t, &["principal", "create", "group:readers"], b"").ok();
    let out = kv(&["put", "-s", "-g", "readers:read", "-e", "prod", "db/password", "-"], b"dt-prod-PW-4").ok();
    assert!(out.contains("granted group:readers read on prod/default/db/password"), "{out}");
    kv(&["put", "-g", "ghosts:read", "k", "v"], b"").fails(NOT_FOUND, "group:ghosts does not exist");
    kv(&["put", "-g", "readers:admin", "k", "v"], b"").fails(USAGE, "GROUP:ACCESS");

    // dt kv rm: the kind must match too, so a forgotten -s deletes nothing.
    kv(&["rm", "db/password"], b"").fails(NOT_FOUND, "add -s: `tresor kv rm -s db/password`");
    assert_eq!(kv(&["get", "-s", "db/password"], b"").ok(), "dt-secret-PASS-1");
    assert_eq!(kv(&["rm", "-s", "db/password"], b"").ok(), "deleted db/password\n");
    kv(&["rm", "config/max_retries"], b"").ok();
    assert!(kv(&["ls", "--json"], b"").json().as_array().unwrap().is_empty());
    kv(&["rm", "-s", "db/password"], b"").fails(NOT_FOUND, "does not exist");

    assert_values_stay_out_of_the_log(&mut s, &["dt-secret-PASS-1", "dt-stdin-KEY-2", "dt-refused-3", "dt-prod-PW-4"]);
}

/// Tailor's `tailor-sdk secret` verbs: `tresor secret vault create|list|delete`,
/// `tresor secret create|update|list|delete`.
#[test]
fn tailor_secret_verbs_round_trip_against_a_server() {
    let mut s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let t = s.token.clone();
    let secret = |args: &[&str], stdin: &[u8]| {
        let mut all = vec!["secret"];
        all.extend_from_slice(args);
        s.cli(&t, &all, stdin)
    };
    let get = |key: &str| s.cli(&t, &["get", "--vault", "api-keys", key], b"");
    assert!(secret(&["vault", "create", "--name", "api-keys"], b"").ok().contains("created vault api-keys"));
    let vaults = secret(&["vault", "list", "--json"], b"").json();
    assert!(vaults.as_array().unwrap().iter().any(|v| v["name"] == "api-keys"), "{vaults}");
    secret(&["vault", "create", "--name", "api-keys"], b"").fails(CONFLICT, "");

    // create, with the value as an argument: one warning.
    let create = ["create", "--vault-name", "api-keys", "--name", "stripe-secret-key", "--value", "tl-sk_live-X1"];
    let r = secret(&create, b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr.matches(ARGUMENT_WARNING).count(), 1, "{}", r.stderr);
    assert_eq!(get("stripe-secret-key").ok(), "tl-sk_live-X1");
    // create again: it exists; the hint names update.
    secret(&create, b"").fails(CONFLICT, "hint: to change its value: `tresor secret update");
    // update, the value from stdin with `-`: no warning, a new version.
    let update = ["update", "--vault-name", "api-keys", "--name", "stripe-secret-key", "--value", "-"];
    let r = secret(&update, b"tl-sk_live-Y2\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains(ARGUMENT_WARNING) && r.stdout.contains("(version 2)"), "{} {}", r.stderr, r.stdout);
    assert_eq!(get("stripe-secret-key").ok(), "tl-sk_live-Y2");
    // update of a secret that is not there, or into a vault that is not there: said, with the fix.
    secret(&["update", "--vault-name", "api-keys", "--name", "nope", "--value", "-"], b"x")
        .fails(NOT_FOUND, "`tresor secret create --vault-name api-keys --name nope`");
    secret(&["create", "--vault-name", "nowhere", "--name", "k", "--value", "-"], b"x")
        .fails(NOT_FOUND, "`tresor secret vault create --name nowhere`");

    // list: names, never values.
    let out = secret(&["list", "--vault-name", "api-keys"], b"").ok();
    assert!(out.contains("stripe-secret-key") && !out.contains("tl-sk_live"), "{out}");

    // delete needs --yes; then the secret is gone for good (purged, not recoverable).
    secret(&["delete", "--vault-name", "api-keys", "--name", "stripe-secret-key"], b"")
        .fails(CONFLICT, "hint: add --yes");
    assert_eq!(get("stripe-secret-key").ok(), "tl-sk_live-Y2");
    secret(&["vault", "delete", "--name", "api-keys", "--yes"], b"").fails(CONFLICT, "not empty");
    let out = secret(&["delete", "--vault-name", "api-keys", "--name", "stripe-secret-key", "--yes"], b"").ok();
    assert_eq!(out, "purged stripe-secret-key\n");
    get("stripe-secret-key").fails(NOT_FOUND, "");
    s.cli(&t, &["undelete", "--vault", "api-keys", "stripe-secret-key"], b"").fails(NOT_FOUND, "");
    secret(&["delete", "--vault-name", "api-keys", "--name", "stripe-secret-key", "--yes"], b"")
        .fails(NOT_FOUND, "does not exist");
    // An empty vault is deleted with --yes, not without.
    secret(&["vault", "delete", "--name", "api-keys"], b"").fails(CONFLICT, "--yes");
    secret(&["vault", "delete", "--name", "api-keys", "--yes"], b"").ok();
    assert!(!secret(&["vault", "list"], b"").ok().contains("api-keys"));

    assert_values_stay_out_of_the_log(&mut s, &["tl-sk_live-X1", "tl-sk_live-Y2"]);
}

/// `td wf secrets --project P [--set KEY | --set @FILE | --delete K...]` as `tresor wf secrets`,
/// in local or server mode.
fn td_wf_secrets(run: &dyn Fn(&[&str], &[u8]) -> Run, tty: OnTty<'_>) {
    let wf = |args: &[&str], stdin: &[u8]| {
        let mut all = vec!["wf", "secrets"];
        all.extend_from_slice(args);
        run(&all, stdin)
    };
    // The project's first --set creates its vault (TD projects have their secrets with them).
    let (code, screen) = tty(&["wf", "secrets", "--project", "nasdaq_analysis", "--set", "td.apikey"], "wf-APIKEY-1");
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Value for td.apikey (input hidden):") && !screen.contains("wf-APIKEY-1"), "{screen}");
    assert!(screen.contains("created vault nasdaq_analysis"), "{screen}");
    assert_eq!(run(&["get", "--project", "nasdaq_analysis", "td.apikey"], b"").ok(), "wf-APIKEY-1");
    // Without a terminal, stdin; the vault exists now, so nothing more is created.
    let r = wf(&["--project", "nasdaq_analysis", "--set", "apikey1"], b"wf-key-one-2\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("created vault"), "{}", r.stderr);
    // NAME=VALUE is refused, naming the fix, and sets nothing.
    let err = wf(&["--project", "nasdaq_analysis", "--set", "apikey2=wf-inline-3"], b"").fails(USAGE, "NAME=VALUE");
    assert!(err.contains("--set apikey2` and type the value") && !err.contains("wf-inline-3"), "{err}");

    // --set @credentials.yml into a new project: its vault is created, the file lands whole.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials.yml");
    std::fs::write(&file, "pg:\n  user: wf-pg-user-4\n  password: wf-pg-pw-5\ndb1:\n  password: wf-db1-pw-6\n")
        .unwrap();
    let r = wf(&["--project", "my_project", "--set", &format!("@{}", file.display())], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("created vault my_project"), "{}", r.stderr);
    // Listing: names one a line, never values.
    assert_eq!(wf(&["--project", "my_project"], b"").ok(), "db1.password\npg.password\npg.user\n");
    assert_eq!(wf(&["--project", "nasdaq_analysis"], b"").ok(), "apikey1\ntd.apikey\n");
    let doc = wf(&["--project", "my_project", "--json"], b"").json();
    assert_eq!(doc.as_array().unwrap().len(), 3);
    assert!(!doc.to_string().contains("wf-pg"), "{doc}");
    // --delete several: all or none.
    wf(&["--project", "my_project", "--delete", "pg.user", "nope"], b"").fails(NOT_FOUND, "nothing was deleted");
    assert_eq!(wf(&["--project", "my_project"], b"").ok().lines().count(), 3);
    let out = wf(&["--project", "my_project", "--delete", "pg.user", "pg.password"], b"").ok();
    assert_eq!(out, "deleted pg.user\ndeleted pg.password\n");
    assert_eq!(wf(&["--project", "my_project"], b"").ok(), "db1.password\n");
    // Without --project: the default vault.
    wf(&["--set", "default.key"], b"wf-default-7").ok();
    assert_eq!(run(&["get", "default.key"], b"").ok(), "wf-default-7");
    assert_eq!(wf(&[], b"").ok(), "default.key\n");
    // A project never set: said, with how a project comes to exist.
    wf(&["--project", "never_set"], b"")
        .fails(NOT_FOUND, "created by its first `tresor wf secrets --project never_set");
    wf(&["--set", "x", "--delete", "y"], b"").fails(USAGE, "cannot be used with");
}

#[test]
fn treasure_data_wf_secrets_in_local_mode() {
    let t = LocalTresor::new();
    in_local_mode(&t, td_wf_secrets);
    // td wf secrets --local --set @credentials.yml, the flag where TD has it; a new environment
    // is created with the project's vault, as local mode does.
    let (_dir, file) = credentials_file("pg:\n  password: local-pw\n");
    let out = tresor()
        .args(["wf", "secrets", "--local", "-e", "dev", "--project", "p", "--set", &file])
        .env("TRESOR_HOME", t.home())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(t.run(&["-e", "dev", "get", "--project", "p", "pg.password"]).ok(), "local-pw");
}

#[test]
fn treasure_data_wf_secrets_against_a_server() {
    let mut s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    {
        against_server(&s, td_wf_secrets);
        // A writer without manage cannot create a project's vault: said, with who can.
        let writer = principal(&s, "app:td-writer", &[("default/*", "write")]);
        s.cli(&writer, &["wf", "secrets", "--project", "new_project", "--set", "k"], b"v")
            .fails(DENIED, "ask an admin to run `tresor -e default vault create new_project`");
        // ...but writes into a project that exists.
        s.cli(&writer, &["wf", "secrets", "--project", "nasdaq_analysis", "--set", "apikey3"], b"wf-writer-8").ok();
    }
    let values =
        ["wf-APIKEY-1", "wf-key-one-2", "wf-inline-3", "wf-pg-user-4", "wf-pg-pw-5", "wf-db1-pw-6", "wf-default-7"];
    assert_values_stay_out_of_the_log(&mut s, &values);
}
