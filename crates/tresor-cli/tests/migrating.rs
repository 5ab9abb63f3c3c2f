//! The commands of `docs/migrating/` (Treasure Data Workflows, Datatailr, Tailor Platform), run as
//! the pages show them: each test is named beside the equivalent it proves.

use crate::common;
use common::*;
use serde_json::json;
use std::process::Stdio;

const USAGE: i32 = 2;
const NOT_FOUND: i32 = 3;
const DENIED: i32 = 4;
const CONFLICT: i32 = 6;

// ----- helpers -----

/// The pages' set-up: `tresor init --data-dir DIR` (the token is printed once, on its own line),
/// then `tresor serve --data-dir DIR`. Management routes are not rate limited here, since a test
/// makes many calls a second.
fn start_server(env: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let out = common::tresor().args(["init", "--data-dir"]).arg(dir.path().join("data")).output().unwrap();
    assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("shown once"), "{stdout}");
    let token = stdout.lines().find(|l| l.starts_with("tsr_")).expect("init prints the admin token").to_owned();
    let mut all = vec![("TRESOR_RATE_MANAGEMENT", "0")];
    all.extend_from_slice(env);
    Server::serve(dir, token, &all, &[])
}

/// [`start_server`], then `tresor vault create V` for each of `vaults`; the server and its admin
/// token.
fn server_with_vaults(vaults: &[&str]) -> (Server, String) {
    let s = start_server(&[]);
    let t = s.token.clone();
    for vault in vaults {
        s.cli(&t, &["vault", "create", vault], b"").ok();
    }
    (s, t)
}

/// `tresor render --project PROJECT ARGS...` against `s`.
fn render(s: &Server, token: &str, project: &str, args: &[&str]) -> Run {
    s.cli(token, &[&["render", "--project", project], args].concat(), b"")
}

/// `tresor token create PRINCIPAL --name NAME --json`, returning the token.
fn token_for(s: &Server, principal: &str, name: &str) -> String {
    let doc = s.cli(&s.token, &["token", "create", principal, "--name", name, "--json"], b"").json();
    doc["token"].as_str().unwrap().to_owned()
}

/// Runs the CLI against `s` with extra environment variables (`TRESOR_ENV=prod tresor ...`).
fn cli_with_env(s: &Server, token: &str, env: &[(&str, &str)], args: &[&str], stdin: &[u8]) -> Run {
    let mut cmd = common::tresor();
    cmd.args(args)
        .env("TRESOR_ADDR", &s.addr)
        .env("TRESOR_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    feed_stdin(&mut child, stdin);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes `content` to `dir/name` and returns the path.
fn write(dir: &tempfile::TempDir, name: &str, content: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The keys of an `ls --json` listing, asserting that no secret value is in it.
fn keys_of(listing: &serde_json::Value) -> Vec<String> {
    let entries = listing.as_array().unwrap();
    assert!(entries.iter().all(|e| e["kind"] != "secret" || e.get("value").is_none()), "{listing}");
    entries.iter().map(|e| e["key"].as_str().unwrap().to_owned()).collect()
}

/// The environment a page's curl commands see.
fn curl_env(s: &Server, token: &str) -> Vec<(&'static str, String)> {
    vec![("TRESOR_ADDR", s.addr.clone()), ("TRESOR_TOKEN", token.to_owned())]
}

fn curl(command: &str, env: &[(&'static str, String)]) -> Http {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    curl_sh(command, &env)
}

// ----- set-up (all pages) -----

#[test]
fn setup_init_serve_and_local_mode() {
    // tresor init --data-dir ./tresor-data ; tresor serve --data-dir ./tresor-data
    let s = start_server(&[]);
    // export TRESOR_ADDR=http://127.0.0.1:8200 TRESOR_TOKEN=tsr_... ; tresor whoami
    let out = s.cli(&s.token, &["whoami"], b"").ok();
    assert!(out.contains("user:owner") && out.contains("admin on *") && out.contains("read on *"), "{out}");

    // printf '%s' "$DB_PASSWORD" | tresor --local set db/password ; tresor --local get db/password
    let t = LocalTresor::new();
    t.run_stdin(&["set", "db/password"], b"local-pw-1").ok();
    assert_eq!(t.run(&["get", "db/password"]).ok(), "local-pw-1");
    // export TRESOR_LOCAL=1 ; tresor get db/password
    let out = common::tresor()
        .args(["get", "db/password"])
        .env("TRESOR_LOCAL", "1")
        .env("TRESOR_HOME", t.home())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "local-pw-1");
    assert_not_in_files(t.home(), b"local-pw-1");
}

// ----- Treasure Data Workflows (docs/migrating/treasure-data-workflows.md) -----

#[test]
fn td_set_prompts_for_a_hidden_value() {
    let s = start_server(&[]);
    let t = s.token.clone();
    // tresor vault create nasdaq_analysis
    s.cli(&t, &["vault", "create", "nasdaq_analysis"], b"").ok();
    // tresor set --project nasdaq_analysis td.apikey   (typed at a hidden prompt)
    let env = [("TRESOR_ADDR", s.addr.as_str()), ("TRESOR_TOKEN", t.as_str())];
    let (code, screen) =
        run_on_tty(&["set", "--project", "nasdaq_analysis", "td.apikey"], &env, "(input hidden):", "td-typed-KEY-1");
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Value for td.apikey (input hidden):"), "{screen}");
    assert!(!screen.contains("td-typed-KEY-1"), "the typed value is not echoed: {screen}");
    assert_eq!(s.cli(&t, &["get", "--project", "nasdaq_analysis", "td.apikey"], b"").ok(), "td-typed-KEY-1");
    // Setting it again replaces it with a new version; the old one stays in the history.
    s.cli(&t, &["set", "--project", "nasdaq_analysis", "td.apikey"], b"td-second-KEY\n").ok();
    let history = s.cli(&t, &["history", "--project", "nasdaq_analysis", "td.apikey", "--json"], b"").json();
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert_eq!(s.cli(&t, &["get", "--project", "nasdaq_analysis", "td.apikey"], b"").ok(), "td-second-KEY");
    // tresor rm --project nasdaq_analysis td.apikey   (back to the default key)
    s.cli(&t, &["rm", "--project", "nasdaq_analysis", "td.apikey"], b"").ok();
    s.cli(&t, &["get", "--project", "nasdaq_analysis", "td.apikey"], b"").fails(NOT_FOUND, "does not exist");
}

#[test]
fn td_project_secrets_map_to_a_vault() {
    let (s, t) = server_with_vaults(&["nasdaq_analysis", "my_project"]);
    // printf '%s' "$APIKEY1" | tresor set --project nasdaq_analysis apikey1 (and apikey2)
    s.cli(&t, &["set", "--project", "nasdaq_analysis", "apikey1"], b"td-key-one").ok();
    s.cli(&t, &["set", "--project", "nasdaq_analysis", "apikey2"], b"td-key-two").ok();
    s.cli(&t, &["set", "--project", "my_project", "pg.password"], b"td-pg-pw").ok();
    // tresor ls --project nasdaq_analysis
    let table = s.cli(&t, &["ls", "--project", "nasdaq_analysis"], b"").ok();
    assert!(table.starts_with("KEY") && table.contains("apikey1") && table.contains("********"), "{table}");
    assert!(!table.contains("td-key"), "{table}");
    let listing = s.cli(&t, &["ls", "--project", "nasdaq_analysis", "--json"], b"").json();
    assert_eq!(keys_of(&listing), ["apikey1", "apikey2"]);
    // --project is --vault.
    assert_eq!(s.cli(&t, &["get", "--vault", "nasdaq_analysis", "apikey2"], b"").ok(), "td-key-two");
    // Projects are separate.
    s.cli(&t, &["get", "--project", "nasdaq_analysis", "pg.password"], b"").fails(NOT_FOUND, "does not exist");
    // A project that was never created is named, with the command that creates it.
    s.cli(&t, &["set", "--project", "no_such_project", "k"], b"v")
        .fails(NOT_FOUND, "tresor vault create no_such_project");
}

#[test]
fn td_per_task_apikeys_in_task_config() {
    let (s, t) = server_with_vaults(&["nasdaq_analysis"]);
    s.cli(&t, &["set", "--project", "nasdaq_analysis", "apikey1"], b"td-key-one").ok();
    s.cli(&t, &["set", "--project", "nasdaq_analysis", "apikey2"], b"td-key-two").ok();
    let dir = tempfile::tempdir().unwrap();
    let daily =
        write(&dir, "daily_open.dig", "+daily_open:\n  td>: queries/daily_open.sql\n  apikey: ${secret:apikey1}\n");
    let monthly = write(
        &dir,
        "monthly_open.dig",
        "+monthly_open:\n  td>: queries/monthly_open.sql\n  apikey: ${secret:apikey2}\n",
    );
    // tresor render --project nasdaq_analysis daily_open.dig
    assert_eq!(
        render(&s, &t, "nasdaq_analysis", &[&daily]).ok(),
        "+daily_open:\n  td>: queries/daily_open.sql\n  apikey: td-key-one\n"
    );
    assert_eq!(
        render(&s, &t, "nasdaq_analysis", &[&monthly]).ok(),
        "+monthly_open:\n  td>: queries/monthly_open.sql\n  apikey: td-key-two\n"
    );
    // tresor run --project nasdaq_analysis --only apikey1 -- sh -c 'echo "using ${#APIKEY1} characters: $APIKEY1"'
    let r = s.cli(
        &t,
        &[
            "run",
            "--project",
            "nasdaq_analysis",
            "--only",
            "apikey1",
            "--",
            "sh",
            "-c",
            "echo \"using ${#APIKEY1} characters: $APIKEY1\"",
        ],
        b"",
    );
    assert_eq!(r.ok(), "using 10 characters: [REDACTED]\n");
}

#[test]
fn td_pg_operator_credentials_and_credential_sets() {
    let (s, t) = server_with_vaults(&["my_project"]);
    // tresor set --project my_project pg.user ; tresor set --project my_project pg.password
    s.cli(&t, &["set", "--project", "my_project", "pg.user"], b"analyst\n").ok();
    s.cli(&t, &["set", "--project", "my_project", "pg.password"], b"pg-pw-main\n").ok();
    // tresor set --project my_project --var pg.host db.internal
    s.cli(&t, &["set", "--project", "my_project", "--var", "pg.host", "db.internal"], b"").ok();
    let dir = tempfile::tempdir().unwrap();
    let task = "+task1:\n  pg>: query1.sql\n  host: ${secret:pg.host}\n  user: ${secret:pg.user}\n  \
                password: ${secret:pg.password}\n";
    let task1 = write(&dir, "task1.dig", task);
    // tresor render --project my_project task1.dig
    assert_eq!(
        render(&s, &t, "my_project", &[&task1]).ok(),
        "+task1:\n  pg>: query1.sql\n  host: db.internal\n  user: analyst\n  password: pg-pw-main\n"
    );
    // tresor set --project my_project @credentials.yml   (db1.* and db2.*)
    let creds = write(
        &dir,
        "credentials.yml",
        "db1:\n  host: db1.internal\n  user: db1-user\n  password: db1-pw\n\
         db2:\n  host: db2.internal\n  user: db2-user\n  password: db2-pw\n",
    );
    s.cli(&t, &["set", "--project", "my_project", &format!("@{creds}")], b"").ok();
    // tresor render --project my_project --map pg=db1 task1.dig   (task2: --map pg=db2)
    for db in ["db1", "db2"] {
        assert_eq!(
            render(&s, &t, "my_project", &["--map", &format!("pg={db}"), &task1]).ok(),
            format!("+task1:\n  pg>: query1.sql\n  host: {db}.internal\n  user: {db}-user\n  password: {db}-pw\n")
        );
    }
    // A missing credential names the reference and its position; nothing is printed.
    render(&s, &t, "my_project", &["--map", "pg=db3", &task1]).fails_quietly(NOT_FOUND, "${secret:pg.host} at 3:9");
}

#[test]
fn td_bulk_upload_flattens_nested_yaml() {
    let (s, t) = server_with_vaults(&["my_project"]);
    let dir = tempfile::tempdir().unwrap();
    let creds = write(
        &dir,
        "credentials.yml",
        "db1:\n  user: user1\n  password: pw1\ndb2:\n  user: user2\n  password: pw2\npg:\n  ssl: \"true\"\n",
    );
    // tresor set --project my_project @credentials.yml
    let out = s.cli(&t, &["set", "--project", "my_project", &format!("@{creds}")], b"").ok();
    assert!(out.contains("set secret db1.user (version 1) in default/my_project"), "{out}");
    assert!(!out.contains("pw1"), "{out}");
    // tresor ls --project my_project
    let listing = s.cli(&t, &["ls", "--project", "my_project", "--json"], b"").json();
    assert_eq!(keys_of(&listing), ["db1.password", "db1.user", "db2.password", "db2.user", "pg.ssl"]);
    assert_eq!(s.cli(&t, &["get", "--project", "my_project", "db2.password"], b"").ok(), "pw2");
    // JSON and .env files work the same way.
    let json_file = write(&dir, "credentials.json", r#"{"db3": {"user": "user3", "password": "pw3"}}"#);
    s.cli(&t, &["set", "--project", "my_project", &format!("@{json_file}")], b"").ok();
    let env_file = write(&dir, "credentials.env", "TD_APIKEY=td-env-key\n");
    s.cli(&t, &["set", "--project", "my_project", &format!("@{env_file}")], b"").ok();
    assert_eq!(s.cli(&t, &["get", "--project", "my_project", "db3.password"], b"").ok(), "pw3");
    assert_eq!(s.cli(&t, &["get", "--project", "my_project", "TD_APIKEY"], b"").ok(), "td-env-key");
}

#[test]
fn td_delete_several_secrets_at_once() {
    let (s, t) = server_with_vaults(&["my_project"]);
    for (k, v) in [("db2.user", "user2"), ("db2.password", "pw2"), ("db1.user", "user1")] {
        s.cli(&t, &["set", "--project", "my_project", k], v.as_bytes()).ok();
    }
    // tresor rm --project my_project db2.user db2.password
    let out = s.cli(&t, &["rm", "--project", "my_project", "db2.user", "db2.password"], b"").ok();
    assert!(out.contains("deleted db2.user") && out.contains("deleted db2.password"), "{out}");
    let listing = s.cli(&t, &["ls", "--project", "my_project", "--json"], b"").json();
    assert_eq!(keys_of(&listing), ["db1.user"]);
    // tresor ls --project my_project --deleted ; tresor undelete --project my_project db2.user
    let deleted = s.cli(&t, &["ls", "--project", "my_project", "--deleted"], b"").ok();
    assert!(deleted.contains("db2.password"), "{deleted}");
    s.cli(&t, &["undelete", "--project", "my_project", "db2.user"], b"").ok();
    assert_eq!(s.cli(&t, &["get", "--project", "my_project", "db2.user"], b"").ok(), "user2");
    // tresor rm --purge --project my_project db2.password
    s.cli(&t, &["rm", "--purge", "--project", "my_project", "db2.password"], b"").ok();
    s.cli(&t, &["undelete", "--project", "my_project", "db2.password"], b"").fails(NOT_FOUND, "not a deleted entry");
}

#[test]
fn td_local_mode_uses_the_same_commands() {
    let t = LocalTresor::new();
    let home = t.home().to_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let creds = write(&dir, "credentials.yml", "pg:\n  user: local-user\n  password: local-pw\n");
    // tresor --local set @credentials.yml
    t.run(&["set", &format!("@{creds}")]).ok();
    // tresor --local ls
    let listing = t.run(&["ls", "--json"]).json();
    assert_eq!(keys_of(&listing), ["pg.password", "pg.user"]);
    // tresor --local set td.apikey   (hidden prompt)
    let (code, screen) = run_on_tty(
        &["--local", "set", "td.apikey"],
        &[("TRESOR_HOME", home.as_str())],
        "(input hidden):",
        "local-typed-KEY",
    );
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("local-typed-KEY"), "{screen}");
    // tresor --local render task1.dig
    let task1 = write(&dir, "task1.dig", "+task1:\n  pg>: query1.sql\n  password: ${secret:pg.password}\n");
    assert_eq!(t.run(&["render", &task1]).ok(), "+task1:\n  pg>: query1.sql\n  password: local-pw\n");
    // Projects work locally too: tresor --local vault create my_project
    t.run(&["vault", "create", "my_project"]).ok();
    t.run(&["set", "--project", "my_project", &format!("@{creds}")]).ok();
    assert_eq!(t.run(&["get", "--project", "my_project", "pg.user"]).ok(), "local-user");
    assert_eq!(t.run(&["get", "td.apikey"]).ok(), "local-typed-KEY");
    for v in ["local-pw", "local-typed-KEY"] {
        assert_not_in_files(t.home(), v.as_bytes());
    }
}

#[test]
fn td_secrets_allow_list_limits_a_task() {
    let (s, t) = server_with_vaults(&["my_project"]);
    for (k, v) in [("pg.user", "analyst"), ("pg.password", "pg-pw"), ("apikey1", "td-key-one")] {
        s.cli(&t, &["set", "--project", "my_project", k], v.as_bytes()).ok();
    }
    let dir = tempfile::tempdir().unwrap();
    let task1 = write(&dir, "task1.dig", "+task1:\n  pg>: query1.sql\n  user: ${secret:pg.user}\n");
    let greedy =
        write(&dir, "greedy.dig", "+task1:\n  pg>: query1.sql\n  user: ${secret:pg.user}\n  k: ${secret:apikey1}\n");
    // tresor render --project my_project --allow 'pg.*' task1.dig
    assert_eq!(
        render(&s, &t, "my_project", &["--allow", "pg.*", &task1]).ok(),
        "+task1:\n  pg>: query1.sql\n  user: analyst\n"
    );
    render(&s, &t, "my_project", &["--allow", "pg.*", &greedy]).fails_quietly(DENIED, "${secret:apikey1} at 4:6");
}

#[test]
fn td_secrets_are_not_downloadable_without_a_read_grant() {
    let (s, t) = server_with_vaults(&["my_project", "nasdaq_analysis"]);
    s.cli(&t, &["set", "--project", "my_project", "pg.password"], b"pg-pw-NODOWNLOAD").ok();
    s.cli(&t, &["set", "--project", "nasdaq_analysis", "apikey1"], b"td-key-NODOWNLOAD").ok();
    // tresor principal create user:ada ; tresor grant add user:ada '*' admin ; tresor token create user:ada
    s.cli(&t, &["principal", "create", "user:ada"], b"").ok();
    s.cli(&t, &["grant", "add", "user:ada", "*", "admin"], b"").ok();
    let ada = token_for(&s, "user:ada", "ada");
    // Ada manages the project, and still cannot read a value.
    s.cli(&ada, &["set", "--project", "my_project", "pg.user"], b"analyst").ok();
    let names = s.cli(&ada, &["ls", "--project", "my_project", "--json"], b"").json();
    assert_eq!(keys_of(&names), ["pg.password", "pg.user"]);
    s.cli(&ada, &["get", "--project", "my_project", "pg.password"], b"").fails(DENIED, "lacks read access");
    let http = curl(
        r#"curl -s -H "Authorization: Bearer $TRESOR_TOKEN" "$TRESOR_ADDR/api/v1/envs/default/vaults/my_project/values/pg.password""#,
        &curl_env(&s, &ada),
    );
    assert_eq!(http.status, 403, "{}", http.body);
    assert!(http.body.contains("lacks read access") && !http.body.contains("NODOWNLOAD"), "{}", http.body);
    // tresor principal create app:td-worker ; tresor grant add app:td-worker 'default/my_project/*' read
    s.cli(&t, &["principal", "create", "app:td-worker"], b"").ok();
    s.cli(&t, &["grant", "add", "app:td-worker", "default/my_project/*", "read"], b"").ok();
    let worker = token_for(&s, "app:td-worker", "td-worker");
    assert_eq!(s.cli(&worker, &["get", "--project", "my_project", "pg.password"], b"").ok(), "pg-pw-NODOWNLOAD");
    s.cli(&worker, &["get", "--project", "nasdaq_analysis", "apikey1"], b"").fails(DENIED, "lacks read access");
    s.cli(&worker, &["set", "--project", "my_project", "pg.password"], b"x").fails(DENIED, "lacks write access");
    // The audit log records the denials, never a value.
    let audit = s.cli(&t, &["audit", "ls", "--json"], b"").json();
    assert!(audit.as_array().unwrap().iter().any(|r| r["action"] == "entry.read" && r["outcome"] == "denied"));
    assert!(!audit.to_string().contains("NODOWNLOAD"));
}

#[test]
fn td_values_stay_out_of_task_logs() {
    let (s, t) = server_with_vaults(&["nasdaq_analysis"]);
    s.cli(&t, &["set", "--project", "nasdaq_analysis", "td.apikey"], b"td-LOG-key-123").ok();
    // tresor run --project nasdaq_analysis -- sh -c 'echo "apikey is $TD_APIKEY"'
    let r = s.cli(&t, &["run", "--project", "nasdaq_analysis", "--", "sh", "-c", "echo \"apikey is $TD_APIKEY\""], b"");
    assert_eq!(r.ok(), "apikey is [REDACTED]\n");
    // some-task 2>&1 | tresor redact --project nasdaq_analysis
    let out = s.cli(&t, &["redact", "--project", "nasdaq_analysis"], b"login with td-LOG-key-123\n").ok();
    assert_eq!(out, "login with [REDACTED]\n");
    assert!(!s.log_text().contains("td-LOG-key-123"));
}

// ----- Datatailr (docs/migrating/datatailr.md) -----

#[test]
fn dt_secrets_and_variables() {
    let s = start_server(&[]);
    let t = s.token.clone();
    // tresor set db/password   (prompt) ; printf '%s' "$DB_PASSWORD" | tresor set db/password
    s.cli(&t, &["set", "db/password"], b"my_secret_pass").ok();
    // tresor set db/password my_secret_pass   -> refused, exit 2
    let r = s.cli(&t, &["set", "db/password", "my_secret_pass"], b"");
    let err = r.fails(USAGE, "never taken from the command line");
    assert!(!err.contains("my_secret_pass"), "the refusal does not echo the value: {err}");
    // tresor set --file ./db-password.txt db/password
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "db-password.txt", "from-a-file\n");
    s.cli(&t, &["set", "--file", &file, "db/password"], b"").ok();
    assert_eq!(s.cli(&t, &["get", "db/password"], b"").ok(), "from-a-file\n", "--file is byte for byte");
    s.cli(&t, &["set", "-s", "db/password"], b"my_secret_pass\n").ok();
    // tresor set --var config/max_retries 5
    s.cli(&t, &["set", "--var", "config/max_retries", "5"], b"").ok();
    // tresor get config/max_retries ; tresor get db/password
    assert_eq!(s.cli(&t, &["get", "config/max_retries"], b"").ok(), "5");
    assert_eq!(s.cli(&t, &["get", "db/password"], b"").ok(), "my_secret_pass");
    // tresor ls --vars ; tresor ls -s ; tresor ls
    let vars = s.cli(&t, &["ls", "--vars"], b"").ok();
    assert!(vars.contains("config/max_retries") && vars.contains(" 5") && !vars.contains("db/password"), "{vars}");
    let secrets = s.cli(&t, &["ls", "-s"], b"").ok();
    assert!(secrets.contains("db/password") && secrets.contains("********"), "{secrets}");
    assert!(!secrets.contains("config/max_retries") && !secrets.contains("my_secret_pass"), "{secrets}");
    let all = s.cli(&t, &["ls", "--json"], b"").json();
    assert_eq!(keys_of(&all), ["config/max_retries", "db/password"]);
    assert_eq!(all[0]["value"], "5");
    // tresor rm config/max_retries ; tresor rm db/password
    s.cli(&t, &["rm", "config/max_retries"], b"").ok();
    s.cli(&t, &["rm", "db/password"], b"").ok();
    assert!(s.cli(&t, &["ls", "--json"], b"").json().as_array().unwrap().is_empty());
}

#[test]
fn dt_hierarchy_and_prefix_listing() {
    let t = LocalTresor::new();
    t.run_stdin(&["set", "db/password"], b"hier-pw").ok();
    t.run_stdin(&["set", "db/replica/password"], b"hier-replica-pw").ok();
    t.run(&["set", "--var", "config/enable_cache", "true"]).ok();
    // tresor ls db/
    let listing = t.run(&["ls", "db/", "--json"]).json();
    assert_eq!(keys_of(&listing), ["db/password", "db/replica/password"]);
    // Invalid names are refused with the rule.
    t.run_stdin(&["set", "db//password"], b"x").fails(USAGE, "empty segment");
}

#[test]
fn dt_environments_dev_pre_prod() {
    let s = start_server(&[]);
    let t = s.token.clone();
    // tresor env create dev ; tresor env create pre ; tresor env create prod
    for env in ["dev", "pre", "prod"] {
        s.cli(&t, &["env", "create", env], b"").ok();
    }
    let envs = s.cli(&t, &["env", "ls"], b"").ok();
    assert!(["default", "dev", "pre", "prod"].iter().all(|e| envs.contains(e)), "{envs}");
    // tresor -e prod set --var config/api_url https://api.example.com
    s.cli(&t, &["-e", "prod", "set", "--var", "config/api_url", "https://api.example.com"], b"").ok();
    s.cli(&t, &["-e", "dev", "set", "--var", "config/api_url", "https://dev.example.com"], b"").ok();
    // tresor -e prod set db/password
    s.cli(&t, &["-e", "prod", "set", "db/password"], b"prod-pw").ok();
    assert_eq!(s.cli(&t, &["-e", "prod", "get", "config/api_url"], b"").ok(), "https://api.example.com");
    assert_eq!(s.cli(&t, &["-e", "dev", "get", "config/api_url"], b"").ok(), "https://dev.example.com");
    s.cli(&t, &["-e", "dev", "get", "db/password"], b"").fails(NOT_FOUND, "does not exist");
    // TRESOR_ENV=prod tresor get config/api_url
    let r = cli_with_env(&s, &t, &[("TRESOR_ENV", "prod")], &["get", "config/api_url"], b"");
    assert_eq!(r.ok(), "https://api.example.com");
    // A server refuses an environment nobody created, naming the fix.
    s.cli(&t, &["-e", "qa", "set", "--var", "x", "1"], b"").fails(NOT_FOUND, "tresor env create qa");
    // Local mode creates environments on first use.
    let local = LocalTresor::new();
    local.run(&["-e", "prod", "set", "--var", "config/api_url", "https://api.example.com"]).ok();
    assert_eq!(local.run(&["-e", "prod", "get", "config/api_url"]).ok(), "https://api.example.com");
}

#[test]
fn dt_group_permissions_with_set_g() {
    let s = start_server(&[]);
    let t = s.token.clone();
    s.cli(&t, &["env", "create", "prod"], b"").ok();
    // tresor principal create group:readers ; ... group:ops, user:rita, user:otto
    for p in ["group:readers", "group:ops", "user:rita", "user:otto"] {
        s.cli(&t, &["principal", "create", p], b"").ok();
    }
    // tresor group add readers user:rita ; tresor group add ops user:otto
    s.cli(&t, &["group", "add", "readers", "user:rita"], b"").ok();
    s.cli(&t, &["group", "add", "ops", "user:otto"], b"").ok();
    let (rita, otto) = (token_for(&s, "user:rita", "rita"), token_for(&s, "user:otto", "otto"));
    // tresor -e prod set -g readers:read -g ops:write db/password
    let out =
        s.cli(&t, &["-e", "prod", "set", "-g", "readers:read", "-g", "ops:write", "db/password"], b"dt-pw-1").ok();
    assert!(out.starts_with("set secret db/password (version 1) in prod/default\n"), "{out}");
    assert!(out.contains("granted group:readers read on prod/default/db/password"), "{out}");
    assert!(out.contains("granted group:ops write on prod/default/db/password"), "{out}");
    // A group that does not exist fails before anything is written.
    s.cli(&t, &["-e", "prod", "set", "-g", "ghosts:read", "db/new"], b"v").fails(NOT_FOUND, "group:ghosts");
    s.cli(&t, &["-e", "prod", "get", "db/new"], b"").fails(NOT_FOUND, "does not exist");
    assert_eq!(s.cli(&rita, &["-e", "prod", "get", "db/password"], b"").ok(), "dt-pw-1");
    s.cli(&rita, &["-e", "prod", "set", "db/password"], b"x").fails(DENIED, "lacks write access");
    s.cli(&otto, &["-e", "prod", "set", "db/password"], b"dt-pw-2").ok();
    s.cli(&otto, &["-e", "prod", "get", "db/password"], b"").fails(DENIED, "lacks read access");
    // A whole branch of the hierarchy: tresor grant add group:readers 'prod/default/db/*' read
    s.cli(&t, &["-e", "prod", "set", "db/replica/password"], b"dt-replica").ok();
    s.cli(&rita, &["-e", "prod", "get", "db/replica/password"], b"").fails(DENIED, "lacks read access");
    s.cli(&t, &["grant", "add", "group:readers", "prod/default/db/*", "read"], b"").ok();
    assert_eq!(s.cli(&rita, &["-e", "prod", "get", "db/replica/password"], b"").ok(), "dt-replica");
    // Changing permissions: tresor grant ls ; tresor grant rm ID
    let grants = s.cli(&t, &["grant", "ls", "--json"], b"").json();
    let ops_grant = grants
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["principal"] == "group:ops" && g["scope"] == "prod/default/db/password")
        .expect("the -g grant is listed");
    let id = ops_grant["id"].as_str().unwrap();
    assert!(s.cli(&t, &["grant", "ls"], b"").ok().contains(id));
    s.cli(&t, &["grant", "rm", id], b"").ok();
    s.cli(&otto, &["-e", "prod", "set", "db/password"], b"x").fails(DENIED, "lacks write access");
    // Write does not include read: tresor -e prod set -g ops:read -g ops:write db/password
    s.cli(&t, &["-e", "prod", "set", "-g", "ops:read", "-g", "ops:write", "db/password"], b"dt-pw-3").ok();
    s.cli(&otto, &["-e", "prod", "set", "db/password"], b"dt-pw-4").ok();
    assert_eq!(s.cli(&otto, &["-e", "prod", "get", "db/password"], b"").ok(), "dt-pw-4");
    // Groups need a server: local mode says so and writes nothing.
    let local = LocalTresor::new();
    local.run_stdin(&["set", "-g", "readers:read", "db/password"], b"v").fails(USAGE, "need a server");
}

#[test]
fn dt_ls_pretty_prints_a_table() {
    // tresor ls -p
    let (_, out) = pretty_listing("pretty-pw-value");
    assert!(out.starts_with('┌') && out.contains("EDITED BY") && out.contains("********"), "{out}");
    assert!(!out.contains("pretty-pw-value"), "{out}");
    assert!(out.trim_end().ends_with("2 entries in default/default: 1 secret, 1 variable"), "{out}");
}

#[test]
fn dt_edit_keeps_the_key_and_its_versions() {
    let t = LocalTresor::new();
    t.run_stdin(&["set", "db/password"], b"first-pw").ok();
    // Edit: tresor set db/password (again)
    t.run_stdin(&["set", "db/password"], b"second-pw").ok();
    // tresor history db/password ; tresor get db/password --version 1 ; tresor restore db/password --version 1
    let history = t.run(&["history", "db/password"]).ok();
    assert!(!history.contains("first-pw") && !history.contains("second-pw"), "{history}");
    let versions = t.run(&["history", "db/password", "--json"]).json();
    let mut numbers: Vec<u64> =
        versions.as_array().unwrap().iter().map(|v| v["version"].as_u64().expect("a version number")).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, [1, 2], "{versions}");
    assert_eq!(t.run(&["get", "db/password", "--version", "1"]).ok(), "first-pw");
    t.run(&["restore", "db/password", "--version", "1"]).ok();
    assert_eq!(t.run(&["get", "db/password"]).ok(), "first-pw");
    assert_eq!(t.run(&["get", "db/password", "--json"]).json()["version"], 3);
}

#[test]
fn dt_python_sdk_calls_over_rest() {
    let s = start_server(&[]);
    let t = s.token.clone();
    s.cli(&t, &["env", "create", "prod"], b"").ok();
    s.cli(&t, &["-e", "prod", "set", "api/key"], b"sk-abc123").ok();
    let env = curl_env(&s, &t);
    // dt.kv.put("config/threshold", "0.95")
    let http = curl(
        r#"curl -s -X PUT -H "Authorization: Bearer $TRESOR_TOKEN" -H "Content-Type: application/json" -d '{"value": "0.95", "kind": "variable"}' "$TRESOR_ADDR/api/v1/envs/prod/vaults/default/entries/config/threshold""#,
        &env,
    );
    assert_eq!(http.status, 200, "{}", http.body);
    assert_eq!(http.json()["version"], 1);
    // dt.kv.put("api/key", "sk-abc123", secure=True), the value from the environment
    let env_with_key = [env.clone(), vec![("API_KEY", "sk-abc456".to_owned())]].concat();
    let http = curl(
        r#"printf '{"value": "%s"}' "$API_KEY" | curl -s -X PUT -H "Authorization: Bearer $TRESOR_TOKEN" -H "Content-Type: application/json" --data-binary @- "$TRESOR_ADDR/api/v1/envs/prod/vaults/default/entries/api/key""#,
        &env_with_key,
    );
    assert_eq!(http.status, 200, "{}", http.body);
    assert!(!http.body.contains("sk-abc456"), "{}", http.body);
    // dt.kv.get("api/key", secure=True)
    let http = curl(
        r#"curl -s -H "Authorization: Bearer $TRESOR_TOKEN" "$TRESOR_ADDR/api/v1/envs/prod/vaults/default/values/api/key""#,
        &env,
    );
    assert_eq!(http.status, 200, "{}", http.body);
    let doc = http.json();
    assert_eq!(
        (doc["key"].as_str(), doc["value"].as_str(), doc["kind"].as_str()),
        (Some("api/key"), Some("sk-abc456"), Some("secret"))
    );
    // dt.kv.get("config/threshold")
    let http = curl(
        r#"curl -s -H "Authorization: Bearer $TRESOR_TOKEN" "$TRESOR_ADDR/api/v1/envs/prod/vaults/default/values/config/threshold""#,
        &env,
    );
    assert_eq!(http.json()["value"], "0.95");
    // dt.kv.ls() / dt.kv.ls(secure=True): one listing, each entry with its kind
    let http = curl(
        r#"curl -s -H "Authorization: Bearer $TRESOR_TOKEN" "$TRESOR_ADDR/api/v1/envs/prod/vaults/default/entries""#,
        &env,
    );
    let entries = http.json()["entries"].clone();
    let kinds: Vec<(&str, &str)> =
        entries.as_array().unwrap().iter().map(|e| (e["key"].as_str().unwrap(), e["kind"].as_str().unwrap())).collect();
    assert_eq!(kinds, [("api/key", "secret"), ("config/threshold", "variable")]);
    assert_eq!(entries[1]["value"], "0.95");
    assert!(entries[0].get("value").is_none() && !http.body.contains("sk-abc"), "{}", http.body);
    // Several values in one call: POST /api/v1/resolve
    let http = curl(
        r#"curl -s -X POST -H "Authorization: Bearer $TRESOR_TOKEN" -H "Content-Type: application/json" -d '{"environment": "prod", "keys": ["api/key", "config/threshold"]}' "$TRESOR_ADDR/api/v1/resolve""#,
        &env,
    );
    assert_eq!(http.json()["values"], json!({"api/key": "sk-abc456", "config/threshold": "0.95"}));
    // dt.kv.rm("config/threshold")
    let http = curl(
        r#"curl -s -X DELETE -H "Authorization: Bearer $TRESOR_TOKEN" "$TRESOR_ADDR/api/v1/envs/prod/vaults/default/entries/config/threshold""#,
        &env,
    );
    assert_eq!(http.status, 204);
    // A missing key is a 404 with a JSON error.
    let http = curl(
        r#"curl -s -H "Authorization: Bearer $TRESOR_TOKEN" "$TRESOR_ADDR/api/v1/envs/prod/vaults/default/values/config/threshold""#,
        &env,
    );
    assert_eq!(http.status, 404);
    assert!(http.json()["error"].as_str().unwrap().contains("does not exist"), "{}", http.body);
}

/// The page's job.py.
const JOB_PY: &str = r#"import os
cache = "cache" if "CONFIG_ENABLE_CACHE" in os.environ else "no cache"
print("connecting with", os.environ["DB_PASSWORD"], cache)
"#;

#[test]
fn dt_jobs_read_values_at_runtime() {
    let s = start_server(&[]);
    let t = s.token.clone();
    s.cli(&t, &["env", "create", "prod"], b"").ok();
    s.cli(&t, &["-e", "prod", "set", "db/password"], b"job-pw-secret").ok();
    s.cli(&t, &["-e", "prod", "set", "--var", "config/enable_cache", "true"], b"").ok();
    // tresor -e prod run -- sh -c 'test "$CONFIG_ENABLE_CACHE" = true && echo "cache on, password $DB_PASSWORD"'
    let script = "test \"$CONFIG_ENABLE_CACHE\" = true && echo \"cache on, password $DB_PASSWORD\"";
    let r = s.cli(&t, &["-e", "prod", "run", "--", "sh", "-c", script], b"");
    assert_eq!(r.ok(), "cache on, password [REDACTED]\n");
    // Variables of 4 bytes or more are masked too.
    let r = s.cli(&t, &["-e", "prod", "run", "--", "sh", "-c", "echo \"cache=$CONFIG_ENABLE_CACHE\""], b"");
    assert_eq!(r.ok(), "cache=[REDACTED]\n");
    // tresor -e prod run --only db/password -- python3 job.py
    let dir = tempfile::tempdir().unwrap();
    let job = write(&dir, "job.py", JOB_PY);
    let r = s.cli(&t, &["-e", "prod", "run", "--only", "db/password", "--", "python3", &job], b"");
    assert_eq!(r.ok(), "connecting with [REDACTED] no cache\n");
}

// ----- Tailor Platform (docs/migrating/tailor-platform.md) -----

#[test]
fn tailor_vaults_and_secrets_lifecycle() {
    let s = start_server(&[]);
    let t = s.token.clone();
    // tresor vault create api-keys ; tresor vault create database
    s.cli(&t, &["vault", "create", "api-keys"], b"").ok();
    s.cli(&t, &["vault", "create", "database"], b"").ok();
    s.cli(&t, &["vault", "create", "api-keys"], b"").fails(CONFLICT, "already exists");
    // printf '%s' "$STRIPE_SECRET_KEY" | tresor set --vault api-keys --cas 0 stripe-secret-key
    s.cli(&t, &["set", "--vault", "api-keys", "--cas", "0", "stripe-secret-key"], b"sk_live_xxxxx").ok();
    s.cli(&t, &["set", "--vault", "api-keys", "--cas", "0", "stripe-secret-key"], b"sk_live_again")
        .fails(CONFLICT, "already exists");
    // printf '%s' "$STRIPE_SECRET_KEY" | tresor set --vault api-keys stripe-secret-key   (update)
    s.cli(&t, &["set", "--vault", "api-keys", "stripe-secret-key"], b"sk_live_yyyyy").ok();
    assert_eq!(s.cli(&t, &["get", "--vault", "api-keys", "stripe-secret-key"], b"").ok(), "sk_live_yyyyy");
    // tresor history --vault api-keys stripe-secret-key ; tresor set --cas N writes only at version N
    let history = s.cli(&t, &["history", "--vault", "api-keys", "stripe-secret-key", "--json"], b"").json();
    assert_eq!(history.as_array().unwrap().len(), 2);
    s.cli(&t, &["set", "--vault", "api-keys", "--cas", "1", "stripe-secret-key"], b"stale").fails(CONFLICT, "not 1");
    s.cli(&t, &["set", "--vault", "api-keys", "--cas", "2", "stripe-secret-key"], b"sk_live_yyyyy").ok();
    s.cli(&t, &["set", "--vault", "api-keys", "old-key"], b"old-value").ok();
    // tresor vault ls
    let vaults = s.cli(&t, &["vault", "ls"], b"").ok();
    assert!(vaults.contains("api-keys") && vaults.contains("database") && vaults.contains("default"), "{vaults}");
    // tresor ls --vault api-keys   (values hidden)
    let listing = s.cli(&t, &["ls", "--vault", "api-keys"], b"").ok();
    assert!(listing.contains("stripe-secret-key") && listing.contains("old-key"), "{listing}");
    assert!(!listing.contains("sk_live") && !listing.contains("old-value"), "{listing}");
    // tresor rm --vault api-keys old-key
    s.cli(&t, &["rm", "--vault", "api-keys", "old-key"], b"").ok();
    let listing = s.cli(&t, &["ls", "--vault", "api-keys", "--json"], b"").json();
    assert_eq!(keys_of(&listing), ["stripe-secret-key"]);
}

#[test]
fn tailor_vault_must_be_empty_to_delete() {
    let (s, t) = server_with_vaults(&["old-vault"]);
    s.cli(&t, &["set", "--vault", "old-vault", "old-key"], b"v").ok();
    // tresor vault rm old-vault   -> refused while it holds entries (exit 6)
    s.cli(&t, &["vault", "rm", "old-vault"], b"").fails(CONFLICT, "is not empty");
    // Soft-deleted entries still count until purged.
    s.cli(&t, &["rm", "--vault", "old-vault", "old-key"], b"").ok();
    s.cli(&t, &["vault", "rm", "old-vault"], b"").fails(CONFLICT, "tresor rm --purge");
    // tresor rm --purge --vault old-vault old-key ; tresor vault rm old-vault
    s.cli(&t, &["rm", "--purge", "--vault", "old-vault", "old-key"], b"").ok();
    s.cli(&t, &["vault", "rm", "old-vault"], b"").ok();
    assert!(!s.cli(&t, &["vault", "ls"], b"").ok().contains("old-vault"));
    s.cli(&t, &["vault", "rm", "old-vault"], b"").fails(NOT_FOUND, "vault default/old-vault does not exist");
}

#[test]
fn tailor_get_and_get_all_over_rest() {
    let (s, t) = server_with_vaults(&["api-keys"]);
    s.cli(&t, &["set", "--vault", "api-keys", "stripe-secret-key"], b"sk_live_get").ok();
    s.cli(&t, &["set", "--vault", "api-keys", "sendgrid-api-key"], b"SG.get-all").ok();
    let env = curl_env(&s, &t);
    // secrets.get("api-keys", "stripe-secret-key")
    let http = curl(
        r#"curl -s -H "Authorization: Bearer $TRESOR_TOKEN" "$TRESOR_ADDR/api/v1/envs/default/vaults/api-keys/values/stripe-secret-key""#,
        &env,
    );
    assert_eq!(http.status, 200, "{}", http.body);
    assert_eq!(http.json()["value"], "sk_live_get");
    // A missing secret: 404 where the SDK returns undefined.
    let http = curl(
        r#"curl -s -H "Authorization: Bearer $TRESOR_TOKEN" "$TRESOR_ADDR/api/v1/envs/default/vaults/api-keys/values/no-such-key""#,
        &env,
    );
    assert_eq!(http.status, 404);
    // secrets.getAll("api-keys", ["sendgrid-api-key", "stripe-secret-key", "no-such-key"])
    let http = curl(
        r#"curl -s -X POST -H "Authorization: Bearer $TRESOR_TOKEN" -H "Content-Type: application/json" -d '{"vault": "api-keys", "keys": ["sendgrid-api-key", "stripe-secret-key", "no-such-key"]}' "$TRESOR_ADDR/api/v1/resolve""#,
        &env,
    );
    assert_eq!(http.status, 200, "{}", http.body);
    assert_eq!(
        http.json(),
        json!({
            "values": {"sendgrid-api-key": "SG.get-all", "stripe-secret-key": "sk_live_get"},
            "missing": ["no-such-key"],
            "denied": []
        })
    );
    // tresor get --vault api-keys stripe-secret-key ; a missing key exits 3
    assert_eq!(s.cli(&t, &["get", "--vault", "api-keys", "stripe-secret-key"], b"").ok(), "sk_live_get");
    s.cli(&t, &["get", "--vault", "api-keys", "no-such-key"], b"").fails(NOT_FOUND, "does not exist");
}

#[test]
fn tailor_services_read_only_what_they_are_granted() {
    let (s, t) = server_with_vaults(&["api-keys", "database"]);
    s.cli(&t, &["set", "--vault", "api-keys", "sendgrid-api-key"], b"SG.granted").ok();
    s.cli(&t, &["set", "--vault", "database", "read-replica-password"], b"replica-pw").ok();
    // tresor principal create app:notifier ; tresor grant add app:notifier 'default/api-keys/*' read
    // tresor token create app:notifier --name notifier
    s.cli(&t, &["principal", "create", "app:notifier"], b"").ok();
    s.cli(&t, &["grant", "add", "app:notifier", "default/api-keys/*", "read"], b"").ok();
    let out = s.cli(&t, &["token", "create", "app:notifier", "--name", "notifier"], b"").ok();
    let notifier = out.lines().find(|l| l.starts_with("tsr_")).unwrap().to_owned();
    assert_eq!(s.cli(&notifier, &["get", "--vault", "api-keys", "sendgrid-api-key"], b"").ok(), "SG.granted");
    s.cli(&notifier, &["get", "--vault", "database", "read-replica-password"], b"").fails(DENIED, "lacks read access");
    let http = curl(
        r#"curl -s -X POST -H "Authorization: Bearer $TRESOR_TOKEN" -H "Content-Type: application/json" -d '{"entries": [{"vault": "api-keys", "key": "sendgrid-api-key"}, {"vault": "database", "key": "read-replica-password"}]}' "$TRESOR_ADDR/api/v1/resolve""#,
        &curl_env(&s, &notifier),
    );
    assert_eq!(
        http.json(),
        json!({
            "values": {"default/api-keys/sendgrid-api-key": "SG.granted"},
            "missing": [],
            "denied": ["default/database/read-replica-password"]
        })
    );
    // tresor grant add app:notifier '*/database/read-replica-*' read
    s.cli(&t, &["grant", "add", "app:notifier", "*/database/read-replica-*", "read"], b"").ok();
    assert_eq!(s.cli(&notifier, &["get", "--vault", "database", "read-replica-password"], b"").ok(), "replica-pw");
}

#[test]
fn tailor_webhook_headers_resolved_server_side() {
    let hook = Receiver::start();
    let allow = format!("127.0.0.1:{}", hook.port);
    // TRESOR_WEBHOOK_ALLOW_HOSTS=api.example.com tresor serve --data-dir ./tresor-data
    let s = start_server(&[("TRESOR_WEBHOOK_ALLOW_HOSTS", &allow)]);
    let t = s.token.clone();
    s.cli(&t, &["vault", "create", "api-keys"], b"").ok();
    s.cli(&t, &["set", "--vault", "api-keys", "external-api-token"], b"Bearer ext-TOKEN-1").ok();
    s.cli(&t, &["set", "--vault", "api-keys", "api-secret"], b"api-SECRET-2").ok();
    let dir = tempfile::tempdir().unwrap();
    // The page's hook.json, with the receiver's address instead of https://api.example.com.
    let hook_json = format!(
        r#"{{
  "method": "POST",
  "url": "http://127.0.0.1:{}/orders",
  "headers": {{
    "Content-Type": "application/json",
    "Authorization": {{"vault": "api-keys", "key": "external-api-token"}},
    "X-API-Key": {{"vault": "api-keys", "key": "api-secret"}}
  }},
  "body": {{"orderId": "ord_42", "amount": 99.5}}
}}
"#,
        hook.port
    );
    let file = write(&dir, "hook.json", &hook_json);
    // tresor webhook send hook.json
    let r = s.cli(&t, &["webhook", "send", &file], b"");
    let out = r.ok();
    assert!(out.starts_with("HTTP 201"), "{out}");
    assert!(!out.contains("ext-TOKEN-1") && !out.contains("api-SECRET-2") && out.contains("[REDACTED]"), "{out}");
    let seen = hook.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let got = seen[0].to_ascii_lowercase();
    assert!(got.contains("authorization: bearer ext-token-1"), "{}", seen[0]);
    assert!(got.contains("x-api-key: api-secret-2"), "{}", seen[0]);
    assert!(seen[0].contains(r#""orderId":"ord_42""#), "{}", seen[0]);
    // curl -s -X POST ... -d @hook.json "$TRESOR_ADDR/api/v1/webhooks/send"
    let http = curl(
        &format!(
            r#"curl -s -X POST -H "Authorization: Bearer $TRESOR_TOKEN" -H "Content-Type: application/json" -d @{file} "$TRESOR_ADDR/api/v1/webhooks/send""#
        ),
        &curl_env(&s, &t),
    );
    assert_eq!(http.status, 200, "{}", http.body);
    assert_eq!(http.json()["status"], 201);
    assert!(!http.body.contains("ext-TOKEN-1") && !http.body.contains("api-SECRET-2"), "{}", http.body);
    assert_eq!(hook.seen.lock().unwrap().len(), 2);
    // A caller without the webhook grant is refused before anything is sent; so is one that has
    // it but may not read the values the headers name.
    s.cli(&t, &["principal", "create", "app:executor"], b"").ok();
    let executor = token_for(&s, "app:executor", "executor");
    s.cli(&executor, &["webhook", "send", &file], b"").fails(DENIED, "app:executor lacks webhook access");
    s.cli(&t, &["grant", "add", "app:executor", "default", "webhook"], b"").ok();
    s.cli(&executor, &["webhook", "send", &file], b"")
        .fails(DENIED, "app:executor may not read {\"vault\": \"api-keys\"");
    // A destination off the allow-list is refused too.
    let elsewhere = write(&dir, "elsewhere.json", &hook_json.replace("127.0.0.1", "localhost"));
    s.cli(&t, &["webhook", "send", &elsewhere], b"").fails(DENIED, "not on the webhook allow-list");
    assert_eq!(hook.seen.lock().unwrap().len(), 2, "refused calls never left tresor");
    assert!(!s.log_text().contains("ext-TOKEN-1"));
}
