//! `tresor --local`: the CLI against the embedded store, driven as a user would, through the binary.

use crate::common;
use common::*;

const USAGE: i32 = 2;
const NOT_FOUND: i32 = 3;
const LIMIT: i32 = 5;
const CONFLICT: i32 = 6;

#[test]
fn the_tour_works_end_to_end() {
    let t = LocalTresor::new();
    t.run(&["vault", "create", "api-keys"]).ok();
    t.run_stdin(&["set", "--vault", "api-keys", "stripe-secret-key"], b"sk_live_123").ok();
    t.run_stdin(&["set", "db/password"], b"hunter2-pw\n").ok();
    t.run(&["set", "--var", "config/max_retries", "5"]).ok();
    let inputs = tempfile::tempdir().unwrap();
    let cred = inputs.path().join("credentials.yml");
    std::fs::write(&cred, "db1:\n  user: bulk-user-1\n  password: bulk-pw-1\n").unwrap();
    t.run(&["set", &format!("@{}", cred.display())]).ok();

    assert_eq!(t.run(&["--vault", "api-keys", "get", "stripe-secret-key"]).ok(), "sk_live_123");
    assert_eq!(t.run(&["get", "db/password"]).ok(), "hunter2-pw", "one trailing newline from stdin is dropped");
    assert_eq!(t.run(&["get", "db1.password"]).ok(), "bulk-pw-1");

    let listed = t.run(&["ls", "--json"]).json();
    let keys: Vec<&str> = listed.as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["config/max_retries", "db/password", "db1.password", "db1.user"]);
    assert_eq!(listed[0]["value"], "5", "variables are listed with their value");
    assert_eq!(listed[0]["kind"], "variable");
    assert!(listed[1].get("value").is_none(), "secrets never are");
    assert_eq!(listed[1]["version"], 1);
    assert!(listed[1]["updated_at"].as_str().unwrap().ends_with('Z'));
    let table = t.run(&["ls"]).ok();
    assert!(table.starts_with("KEY") && table.contains("********") && !table.contains("hunter2"), "{table}");
    let prefixed = t.run(&["ls", "db/", "--json"]).json();
    assert_eq!(prefixed.as_array().unwrap().len(), 1);

    // Versions: set again, read old, restore.
    t.run_stdin(&["set", "db/password"], b"second-pw").ok();
    assert_eq!(t.run(&["get", "db/password", "--version", "1"]).ok(), "hunter2-pw");
    let history = t.run(&["history", "db/password", "--json"]).json();
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert_eq!(history[0]["version"], 2);
    t.run(&["restore", "db/password", "--version", "1"]).ok();
    assert_eq!(t.run(&["get", "db/password"]).ok(), "hunter2-pw");
    assert_eq!(t.run(&["get", "db/password", "--json"]).json()["version"], 3);

    // Environments are separate.
    t.run_stdin(&["-e", "prod", "set", "db/password"], b"prod-pw").ok();
    assert_eq!(t.run(&["-e", "prod", "get", "db/password"]).ok(), "prod-pw");
    assert_eq!(t.run(&["get", "db/password"]).ok(), "hunter2-pw");

    // rm several at once; soft delete is recoverable.
    t.run(&["rm", "db1.user", "db1.password"]).ok();
    t.run(&["get", "db1.user"]).fails(NOT_FOUND, "db1.user does not exist");
    let with_deleted = t.run(&["ls", "--deleted", "--json"]).json();
    assert!(with_deleted.as_array().unwrap().iter().any(|e| e["key"] == "db1.user" && e["deleted_at"].is_string()));
    t.run(&["undelete", "db1.user"]).ok();
    assert_eq!(t.run(&["get", "db1.user"]).ok(), "bulk-user-1");
    t.run(&["rm", "--purge", "db1.user"]).ok();
    t.run(&["undelete", "db1.user"]).fails(NOT_FOUND, "not a deleted entry");

    // No stored value is readable in the data directory.
    for value in ["sk_live_123", "hunter2-pw", "second-pw", "prod-pw", "bulk-pw-1", "bulk-user-1"] {
        assert_not_in_files(t.home(), value.as_bytes());
    }
}

#[test]
fn bulk_files_in_json_and_env_and_as_variables() {
    let t = LocalTresor::new();
    let json = t.home().join("c.json");
    std::fs::write(&json, r#"{"api": {"token": "tok-json"}}"#).unwrap();
    let env = t.home().join("c.env");
    std::fs::write(&env, "FEATURE_X=on\nURL=https://example.com\n").unwrap();
    t.run(&["set", &format!("@{}", json.display())]).ok();
    t.run(&["set", "--var", &format!("@{}", env.display())]).ok();
    assert_eq!(t.run(&["get", "api.token"]).ok(), "tok-json");
    let vars = t.run(&["ls", "--vars", "--json"]).json();
    assert_eq!(vars.as_array().unwrap().len(), 2);
    assert_eq!(t.run(&["ls", "-s", "--json"]).json().as_array().unwrap().len(), 1);
}

#[test]
fn bad_input_gets_clear_errors_and_distinct_exit_codes() {
    let t = LocalTresor::new();
    // A secret on the command line is refused, and the value is not echoed.
    let err = t.run(&["set", "db/password", "cmdline-secret"]).fails(USAGE, "never taken from the command line");
    assert!(!err.contains("cmdline-secret"));
    t.run_stdin(&["set", "bad//key"], b"v").fails(USAGE, "empty segment");
    t.run_stdin(&["set", "../etc"], b"v").fails(USAGE, "'..' is not allowed");
    t.run_stdin(&["--vault", "a/b", "set", "k"], b"v").fails(USAGE, "invalid vault name");
    t.run(&["get", "missing"]).fails(NOT_FOUND, "missing does not exist");
    t.run_stdin(&["--vault", "nope", "set", "k"], b"v").fails(NOT_FOUND, "tresor vault create nope");
    t.run(&["set", "--tag", "novalue", "--var", "k", "v"]).fails(USAGE, "is not KEY=VALUE");
    t.run(&["set", "@/nonexistent/file.yml"]).fails(USAGE, "cannot read /nonexistent/file.yml");

    // Check-and-set conflicts.
    t.run_stdin(&["set", "--cas", "0", "k"], b"v1").ok();
    t.run_stdin(&["set", "--cas", "0", "k"], b"v2").fails(CONFLICT, "entry k already exists (at version 1)");
    t.run_stdin(&["set", "--cas", "3", "k"], b"v2").fails(CONFLICT, "at version 1, not 3");
    assert_eq!(t.run(&["get", "k"]).ok(), "v1", "the refused write changed nothing");

    // A kind change is refused.
    t.run(&["set", "--var", "k", "x"]).fails(USAGE, "is a secret");

    // --json errors are JSON on stderr.
    let r = t.run(&["--json", "get", "missing"]);
    assert_eq!(r.code, NOT_FOUND);
    let doc: serde_json::Value = serde_json::from_str(r.stderr.trim()).unwrap();
    assert_eq!(doc["exit_code"], NOT_FOUND);
    assert!(doc["error"].as_str().unwrap().contains("does not exist"));

    // A vault with entries cannot be deleted; the default vault never.
    t.run(&["vault", "create", "v"]).ok();
    t.run_stdin(&["--vault", "v", "set", "x"], b"1").ok();
    t.run(&["vault", "rm", "v"]).fails(CONFLICT, "not empty");
    t.run(&["vault", "rm", "default"]).fails(USAGE, "default vault");
    t.run(&["--vault", "v", "rm", "--purge", "x"]).ok();
    t.run(&["vault", "rm", "v"]).ok();
}

#[test]
fn limits_are_configurable_and_reported() {
    let t = LocalTresor::new().with_env("TRESOR_MAX_VALUE_BYTES", "8").with_env("TRESOR_MAX_ENTRIES", "2");
    let err = t.run_stdin(&["set", "big"], b"123456789").fails(LIMIT, "value of big is 9 bytes; the limit is 8 bytes");
    assert!(!err.contains("123456789"));
    t.run_stdin(&["set", "a"], b"1").ok();
    t.run_stdin(&["set", "b"], b"1").ok();
    t.run_stdin(&["set", "c"], b"1").fails(LIMIT, "already holds 2 entries");
    let bad = LocalTresor::new().with_env("TRESOR_MAX_VALUE_BYTES", "lots");
    bad.run(&["ls"]).fails(USAGE, "TRESOR_MAX_VALUE_BYTES must be a whole number");
}

#[test]
fn the_store_is_private_and_needs_its_key() {
    let t = LocalTresor::new();
    t.run_stdin(&["set", "k"], b"value-needing-key").ok();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&t.home().join("root.key")), 0o600);
        assert_eq!(mode(&t.home().join("tresor.db")), 0o600);
    }
    std::fs::rename(t.home().join("root.key"), t.home().join("root.key.bak")).unwrap();
    t.run(&["get", "k"]).fails(USAGE, "the store has no root key");
    assert!(!t.home().join("root.key").exists(), "no new key was made over an existing store");
    // The key can also come from the environment.
    let key = std::fs::read_to_string(t.home().join("root.key.bak")).unwrap();
    let with_env = LocalTresor { home: t.home, env: vec![] }.with_env("TRESOR_ROOT_KEY", key.trim());
    let mut cmd = common::tresor();
    cmd.args(["--local", "get", "k"]).env("TRESOR_HOME", with_env.home()).env("TRESOR_ROOT_KEY", key.trim());
    let out = cmd.output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "value-needing-key");
    // A wrong key is refused without revealing anything.
    let mut cmd = common::tresor();
    cmd.args(["--local", "get", "k"])
        .env("TRESOR_HOME", with_env.home())
        .env("TRESOR_ROOT_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a wrong key is the caller's to fix");
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not open the store"));
}

/// Issue #14: `tresor --help` said the binary was "the CLI client, local mode and (soon) the server".
#[test]
fn help_says_what_the_binary_is() {
    let help = LocalTresor::new().run(&["--help"]).ok();
    let about = help.lines().next().unwrap();
    assert!(!help.contains("soon"), "{help}");
    assert!(about.contains("server") && about.contains("client") && about.contains("local"), "{about}");
}

#[test]
fn without_local_or_server_says_what_to_do() {
    let out = common::tresor().args(["ls"]).output().unwrap();
    assert_eq!(out.status.code(), Some(USAGE));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--local"));
}

/// The conventional exit code of a writer whose reader went away: 128 + SIGPIPE, as the shell
/// reports for `yes | head -1`.
const STDOUT_CLOSED: i32 = 141;

/// Issue #14: `tresor ls | head -1` panicked (broken pipe, exit 101). A closed stdout ends every
/// command quietly, whatever it prints and however it prints it.
#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    const VALUE: &str = "closed-pipe-secret-7f3";
    let t = LocalTresor::new();
    t.run_stdin(&["set", "db/password"], VALUE.as_bytes()).ok();
    t.run(&["set", "--var", "config/url", "https://example.com"]).ok();
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("task.sql");
    std::fs::write(&template, "pw=${secret:db/password}\n").unwrap();
    let json_template = dir.path().join("task.json");
    std::fs::write(&json_template, r#"{"pw": "${secret:db/password}"}"#).unwrap();
    let config = dir.path().join("tresor.yaml");
    std::fs::write(&config, "vaults:\n  prod/app:\n    entries:\n      url: { variable: \"https://x\" }\n").unwrap();
    let (template, json_template, config) =
        (template.to_str().unwrap(), json_template.to_str().unwrap(), config.to_str().unwrap());
    let cases: &[&[&str]] = &[
        &["ls"],
        &["ls", "-p"],
        &["ls", "--vars", "-p"],
        &["ls", "-s"],
        &["--json", "ls"],
        &["get", "db/password"],
        &["--json", "get", "db/password"],
        &["history", "db/password"],
        &["--json", "history", "db/password"],
        &["render", template],
        &["render", json_template],
        // (`export` as .env writes nothing here: these keys are no shell names, so it says so.)
        &["export", "--format", "yaml"],
        &["export", "--format", "json"],
        &["export", "--format", "yaml", "--reveal"],
        &["vault", "ls"],
        &["--json", "vault", "ls"],
        &["env", "ls"],
        &["plan", "-f", config],
        &["--json", "plan", "-f", config],
        &["set", "--var", "config/url", "https://example.org"],
        &["--json", "set", "--var", "config/url", "https://example.net"],
        &["vault", "create", "more"],
        &["rm", "config/url"],
        &["undelete", "config/url"],
    ];
    for args in cases {
        let r = t.run_closed_stdout(args, b"");
        assert_eq!(r.code, STDOUT_CLOSED, "{args:?} (stderr: {})", r.stderr);
        assert!(r.stderr.is_empty(), "{args:?} ends quietly, without a panic or a message: {}", r.stderr);
    }
    // A stream: redact reads stdin and writes stdout.
    let r = t.run_closed_stdout(&["redact"], format!("a {VALUE} b\n").as_bytes());
    assert_eq!(r.code, STDOUT_CLOSED, "{}", r.stderr);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    // clap prints help and version itself: quiet too.
    for args in [&["--help"][..], &["--version"], &["ls", "--help"]] {
        let r = t.run_closed_stdout(args, b"");
        assert!(r.code == 0 || r.code == STDOUT_CLOSED, "{args:?}: {} {}", r.code, r.stderr);
        assert!(r.stderr.is_empty(), "{args:?}: {}", r.stderr);
    }

    // Server mode, including the server-only commands and a backup written to stdout.
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let token = s.token.clone();
    s.cli(&token, &["set", "db/password"], VALUE.as_bytes()).ok();
    let data_dir = s.data_dir();
    let cases: &[&[&str]] = &[
        &["ls"],
        &["get", "db/password"],
        &["--json", "get", "db/password"],
        &["render", template],
        &["whoami"],
        &["token", "ls"],
        &["--json", "token", "ls"],
        &["principal", "ls"],
        &["grant", "ls"],
        &["audit", "ls"],
        &["audit", "verify"],
        &["app-key", "ls"],
        &["token", "create", "user:owner"],
        &["backup", "create", "-", "--data-dir", data_dir.to_str().unwrap()],
    ];
    for args in cases {
        let r = s.cli_closed_stdout(&token, args);
        assert_eq!(r.code, STDOUT_CLOSED, "{args:?} (stderr: {})", r.stderr);
        assert!(r.stderr.is_empty(), "{args:?} ends quietly: {}", r.stderr);
    }
    assert!(!s.log_text().contains(VALUE), "the value stays out of the server's log");
}
