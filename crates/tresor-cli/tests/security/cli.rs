//! The CLI findings: a writer cannot run code in a reader's `tresor run` through the names of the
//! environment variables it plants (finding 4), `export --format env` is safe to source
//! (finding 10), and the store's files are private whatever the data directory's mode (finding 11).

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// A server with a writer (write only) and a reader (read only) on every vault of `default`.
fn server_with_writer_and_reader() -> (Server, String, String) {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let writer = principal(&s, "app:writer", &[("default/*/*", "write")]);
    let reader = principal(&s, "app:reader", &[("default/*/*", "read")]);
    (s, writer, reader)
}

fn set_secret(s: &Server, token: &str, args: &[&str], value: &str) {
    let mut all = vec!["set"];
    all.extend_from_slice(args);
    s.cli(token, &all, value.as_bytes()).ok();
}

/// The names (and their entries) that a hijack needs, each one refused by `tresor run`.
const PLANTED_NAMES: [(&str, &str); 7] = [
    ("SHELLOPTS", "shellopts"),
    ("PS4", "ps4"),
    ("LD_PRELOAD", "ld_preload"),
    ("BASH_ENV", "bash_env"),
    ("PATH", "path"),
    ("NODE_OPTIONS", "node_options"),
    ("GIT_CONFIG_COUNT", "git_config_count"),
];

#[test]
fn run_refuses_names_that_a_writer_plants_to_run_code_in_the_readers_process() {
    let (s, writer, reader) = server_with_writer_and_reader();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned-by-ps4");
    let bash_env_marker = dir.path().join("pwned-by-bash-env");
    let script = dir.path().join("planted.sh");
    std::fs::write(&script, format!("touch {}\n", bash_env_marker.display())).unwrap();
    let ps4 = format!("$(touch {})", marker.display());
    let path = std::env::var("PATH").unwrap();
    // bash runs with xtrace (SHELLOPTS) and expands PS4 before each command it traces, so a
    // command substitution in PS4 runs with every value in the environment; BASH_ENV is sourced
    // by every non-interactive bash. The others load code in other programs.
    let planted: Vec<(&str, String)> = vec![
        ("shellopts", "xtrace".into()),
        ("ps4", ps4.clone()),
        ("ld_preload", "/nonexistent/tresor-planted.so".into()),
        ("bash_env", script.display().to_string()),
        ("path", path),
        ("node_options", "--require /nonexistent/tresor-planted.js".into()),
        ("git_config_count", "1".into()),
    ];
    for (key, value) in &planted {
        set_secret(&s, &writer, &[key], value);
    }
    set_secret(&s, &writer, &["db/password"], "reader-wants-this-password");

    let refused = s.cli(&reader, &["run", "--", "bash", "-c", "echo ok"], b"");
    assert!(!marker.exists() && !bash_env_marker.exists(), "the planted code ran in the reader's process");
    assert!(!refused.stdout.contains("ok"), "the command must not start: {}", refused.stdout);
    let stderr = refused.fails(2, "--allow-env");
    for (name, key) in PLANTED_NAMES {
        assert!(stderr.contains(name) && stderr.contains(key), "{name} (entry {key}) is not named: {stderr}");
    }
    assert!(stderr.contains("--only"), "the message says how to pick entries: {stderr}");
    assert!(!stderr.contains("DB_PASSWORD"), "an ordinary name is not refused: {stderr}");
    assert!(!stderr.contains("touch") && !stderr.contains("nonexistent"), "no value in the message: {stderr}");

    // --only picks entries: a safe one runs, a planted one is still refused.
    let out = s.cli(&reader, &["run", "--only", "db/password", "--", "bash", "-c", "echo ${#DB_PASSWORD}"], b"").ok();
    assert_eq!(out, "26\n");
    s.cli(&reader, &["run", "--only", "ps4", "--", "bash", "-c", "echo ok"], b"").fails(2, "PS4");
    // Allowing some names by name still refuses the others, and names only them.
    let stderr = s
        .cli(&reader, &["run", "--allow-env", "PS4", "--allow-env", "SHELLOPTS", "--", "bash", "-c", "echo ok"], b"")
        .fails(2, "LD_PRELOAD");
    assert!(!stderr.contains("PS4") && !stderr.contains("SHELLOPTS"), "allowed names are not refused: {stderr}");
    assert!(!marker.exists() && !bash_env_marker.exists());

    // Names allowed explicitly pass (harmless values in a vault of their own).
    s.cli(&s.token, &["vault", "create", "tools"], b"").ok();
    set_secret(&s, &writer, &["--vault", "tools", "ps4"], "+traced: ");
    set_secret(&s, &writer, &["--vault", "tools", "shellopts"], "braceexpand");
    let out = s
        .cli(
            &reader,
            &[
                "--vault",
                "tools",
                "run",
                "--allow-env",
                "PS4",
                "--allow-env",
                "SHELLOPTS",
                "--",
                "sh",
                "-c",
                // Lengths, as the values themselves are masked in the output.
                r#"printf '%s|%s' "$(printenv PS4 | wc -c)" "$(printenv SHELLOPTS | wc -c)""#,
            ],
            b"",
        )
        .ok();
    assert_eq!(out, "10|12", "PS4 and SHELLOPTS are set");

    let log = s.log_text();
    for needle in [ps4.as_str(), "reader-wants-this-password", "tresor-planted", "+traced: "] {
        assert!(!log.contains(needle), "the server log holds a stored value: {needle}");
    }
}

#[test]
fn run_refuses_such_names_from_an_env_file_before_resolving_anything() {
    let (s, writer, reader) = server_with_writer_and_reader();
    set_secret(&s, &writer, &["db/password"], "env-file-password-value");
    set_secret(&s, &writer, &["preload"], "/nonexistent/tresor-planted.so");
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("task.env");
    let file = env_file.to_str().unwrap();
    std::fs::write(&env_file, "PGPASSWORD=${secret:db/password}\nLD_PRELOAD=${secret:preload}\n").unwrap();
    let refused = s.cli(&reader, &["run", "--env-file", file, "--", "bash", "-c", "echo ok"], b"");
    assert!(!refused.stdout.contains("ok"), "the command must not start: {}", refused.stdout);
    let stderr = refused.fails(2, "LD_PRELOAD");
    assert!(stderr.contains("--allow-env") && stderr.contains(file), "{stderr}");
    assert!(!stderr.contains("PGPASSWORD") && !stderr.contains("nonexistent"), "{stderr}");
    // `${secret:missing}` does not exist: the refusal comes before any resolution (exit 2, not 3).
    std::fs::write(&env_file, "PGPASSWORD=${secret:db/password}\nLD_PRELOAD=${secret:missing}\n").unwrap();
    s.cli(&reader, &["run", "--env-file", file, "--", "bash", "-c", "echo ok"], b"").fails(2, "LD_PRELOAD");
    // Allowed by name, it is set.
    std::fs::write(&env_file, "PGPASSWORD=${secret:db/password}\nLD_PRELOAD=\n").unwrap();
    let out = s
        .cli(
            &reader,
            &["run", "--allow-env", "LD_PRELOAD", "--env-file", file, "--", "bash", "-c", "echo [${LD_PRELOAD-unset}]"],
            b"",
        )
        .ok();
    assert_eq!(out, "[]\n");

    // A value rendered into the file cannot add a line of its own: the names are the file's.
    let marker = dir.path().join("pwned-by-env-file");
    set_secret(&s, &writer, &["token"], &format!("x\nINJECTED=planted\nPS4=$(touch {})", marker.display()));
    std::fs::write(&env_file, "TOKEN=${secret:token}\n").unwrap();
    let refused = s.cli(
        &reader,
        &["run", "--allow-env", "PS4", "--env-file", file, "--", "bash", "-c", "set -x; echo [$INJECTED]"],
        b"",
    );
    assert!(!marker.exists(), "a value rendered into the env file ran code");
    assert!(!refused.stdout.contains("planted"), "{}", refused.stdout);
    // The message names the file's own names, never what a value holds (INJECTED is in a value).
    let stderr = refused.fails(2, "TOKEN");
    assert!(!stderr.contains("INJECTED") && !stderr.contains("touch"), "{stderr}");

    let log = s.log_text();
    assert!(!log.contains("env-file-password-value") && !log.contains("pwned-by-env-file"));
}

/// Runs `sh -c` on `script` in `dir` and returns its stdout.
fn sh_in(dir: &Path, script: &str) -> String {
    let mut cmd = Command::new("sh");
    without_tresor_env(&mut cmd);
    let out = cmd.arg("-c").arg(script).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "sh failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Values that a shell would run or expand inside double quotes, and one that breaks single quotes.
const BACKTICKS: &str = "`touch PWNED`";
const SUBSTITUTION: &str = "$(touch PWNED2)";
const AWKWARD: &str = "it's \"quoted\"\nsecond line \\ $HOME ${HOME} !x '";

/// Sources an export in an empty directory: no command runs, and every value comes back exactly.
fn assert_sources_safely(exported: &str, names: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("out.env"), exported).unwrap();
    for (name, value) in names {
        let got = sh_in(dir.path(), &format!("set -a; . ./out.env; printf %s \"${name}\""));
        assert!(!dir.path().join("PWNED").exists() && !dir.path().join("PWNED2").exists(), "sourcing ran:\n{exported}");
        assert_eq!(&got, value, "{name} from:\n{exported}");
    }
}

#[test]
fn export_env_is_safe_to_source_in_local_and_server_mode() {
    let t = LocalTresor::new();
    t.run(&["set", "--var", "planted", BACKTICKS]).ok();
    t.run(&["set", "--var", "substituted", SUBSTITUTION]).ok();
    t.run_stdin(&["set", "awkward"], AWKWARD.as_bytes()).ok();
    t.run(&["set", "--var", "db/host", "db.internal"]).ok();
    t.run(&["set", "--var", "LD_PRELOAD", "/nonexistent/x.so"]).ok();
    let run = t.run(&["export", "--reveal"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_sources_safely(&run.stdout, &[("planted", BACKTICKS), ("substituted", SUBSTITUTION), ("awkward", AWKWARD)]);
    // Names a shell does not accept, and names refused as for `run`, are skipped and listed.
    assert!(run.stderr.contains("db/host") && run.stderr.contains("LD_PRELOAD"), "skipped names: {}", run.stderr);
    assert!(!run.stderr.contains("db.internal") && !run.stderr.contains("nonexistent"), "{}", run.stderr);
    assert!(!run.stdout.contains("db/host") && !run.stdout.contains("LD_PRELOAD"), "{}", run.stdout);
    // A refused name is exported when allowed by name.
    let allowed = t.run(&["export", "--allow-env", "LD_PRELOAD"]).ok();
    assert!(allowed.contains("LD_PRELOAD='/nonexistent/x.so'"), "{allowed}");
    // The file reads back through `import` as it was.
    let file = dir_file(t.home(), "out.env", &run.stdout);
    t.run(&["vault", "create", "copy"]).ok();
    t.run(&["--vault", "copy", "import", &file]).ok();
    for (key, value) in [("planted", BACKTICKS), ("substituted", SUBSTITUTION), ("awkward", AWKWARD)] {
        assert_eq!(t.run(&["--vault", "copy", "get", key]).ok(), value);
    }

    let (s, writer, reader) = server_with_writer_and_reader();
    s.cli(&writer, &["set", "--var", "planted", BACKTICKS], b"").ok();
    set_secret(&s, &writer, &["substituted"], SUBSTITUTION);
    set_secret(&s, &writer, &["awkward"], AWKWARD);
    let exported = s.cli(&reader, &["export", "--reveal"], b"").ok();
    assert_sources_safely(&exported, &[("planted", BACKTICKS), ("substituted", SUBSTITUTION), ("awkward", AWKWARD)]);
    let log = s.log_text();
    assert!(!log.contains("touch PWNED") && !log.contains("second line"));
}

fn dir_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `tresor ARGS` started under umask 022, as most login sessions have it.
fn tresor_under_umask_022(args: &[&str]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask 022 && exec \"$0\" \"$@\"", BIN]).args(args);
    without_tresor_env(&mut cmd);
    cmd
}

#[test]
fn store_files_are_private_in_a_data_directory_open_to_others() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = dir.path().join("server.log");
    let token_file = dir.path().join("token.txt");
    // `serve` initialises the data directory on first start: the store is created by the server.
    let mut server = tresor_under_umask_022(&["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("NO_COLOR", "1")
        .stdout(std::fs::File::create(&token_file).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let addr = listening_addr(&log, std::time::Duration::from_secs(20)).expect("the server listens");
    let token = std::fs::read_to_string(&token_file).unwrap();
    let token = token.lines().find(|l| l.starts_with("tsr_")).expect("the first token").to_owned();
    let cli = |args: &[&str], stdin: &str| {
        let mut child = tresor_under_umask_022(args)
            .env("TRESOR_ADDR", &addr)
            .env("TRESOR_TOKEN", &token)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        feed_stdin(&mut child, stdin.as_bytes());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    cli(&["set", "db/password"], "private-files-password");

    let files = files_under(&data);
    for name in ["tresor.db", "tresor.db-wal", "tresor.db-shm", "root.key"] {
        assert!(files.iter().any(|f| f.ends_with(name)), "{name} missing under {}: {files:?}", data.display());
    }
    for file in &files {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}: readable by others", file.display());
    }
    // The command that `tresor run` starts keeps the caller's umask: only tresor's own files are
    // private.
    assert_eq!(cli(&["run", "--", "sh", "-c", "umask"], "").trim(), "0022");
    let _ = server.kill();
    let _ = server.wait();
    assert!(!std::fs::read_to_string(&log).unwrap().contains("private-files-password"));

    // A data directory that tresor creates is the owner's only, parents included.
    let fresh = dir.path().join("new").join("nested");
    let out = tresor_under_umask_022(&["init", "--json", "--data-dir"]).arg(&fresh).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for d in [fresh.as_path(), fresh.parent().unwrap()] {
        let mode = std::fs::metadata(d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} is {mode:o}", d.display());
    }
    for file in files_under(&fresh) {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", file.display());
    }
}
