//! The CLI findings: a writer cannot run code in a reader's `tresor run` through the names of the
//! environment variables it plants (finding 4), `export --format env` is safe to source
//! (finding 10), and the store's files are private whatever the data directory's mode (finding 11).

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

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
