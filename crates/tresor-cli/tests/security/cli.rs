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

/// Runs `sh -c` on `script` in `dir` and returns its stdout.
fn sh_in(dir: &Path, script: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(script).current_dir(dir).output().unwrap();
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
    cmd
}

#[test]
fn store_files_are_private_in_a_data_directory_open_to_others() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("server.log");
    let token_file = dir.path().join("token.txt");
    // `serve` initialises the data directory on first start: the store is created by the server.
    let mut server = tresor_under_umask_022(&["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(&data)
        .stdout(std::fs::File::create(&token_file).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for("the server listens", std::time::Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let token = std::fs::read_to_string(&token_file).unwrap();
    let token = token.lines().find(|l| l.starts_with("tsr_")).expect("the first token").to_owned();
    let cli = |args: &[&str], stdin: &str| {
        let mut child = tresor_under_umask_022(args)
            .env("TRESOR_ADDR", &addr)
            .env("TRESOR_TOKEN", &token)
            .env_remove("TRESOR_LOCAL")
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
