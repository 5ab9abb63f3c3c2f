//! `tresor run` and `tresor redact`: values go into the process, and never out of its output.

use crate::common;
use common::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn local_with_secrets() -> LocalTresor {
    let t = LocalTresor::new();
    t.set_all(&[("db/password", "hunter2-secret"), ("api.token", "tok/en+with&chars"), ("pin", "123")]);
    t
}

fn tresor(t: &LocalTresor, args: &[&str]) -> Command {
    let mut cmd = common::tresor();
    cmd.arg("--local").args(args).env("TRESOR_HOME", t.home());
    cmd
}

#[test]
fn run_injects_values_masks_every_encoding_and_passes_the_exit_code() {
    let t = local_with_secrets();
    let script = r#"echo "pw=$DB_PASSWORD tok=$API_TOKEN pin=$PIN"
printf '%s' "$DB_PASSWORD" | base64 >&2
printf 'x%s' "$DB_PASSWORD" | base64
python3 -c 'import json,os,urllib.parse; print(json.dumps(os.environ["API_TOKEN"]), urllib.parse.quote(os.environ["API_TOKEN"], safe=""))'
exit 7"#;
    let out = tresor(&t, &["run", "--", "sh", "-c", script]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(7), "the command's exit code is tresor's");
    assert!(stdout.contains("pw=[REDACTED] tok=[REDACTED] pin=123"), "{stdout}");
    for leak in ["hunter2-secret", "aHVudGVyMi1zZWNyZXQ", "tok/en+with&chars", "tok%2Fen", "dG9rL2Vu"] {
        assert!(!stdout.contains(leak) && !stderr.contains(leak), "{leak} leaked:\n{stdout}\n{stderr}");
    }
    assert!(stderr.contains("not masking 1 value(s) shorter than 4 bytes") && stderr.contains("PIN"), "{stderr}");
    assert_eq!(stderr.matches("not masking").count(), 1, "said once");
}

#[test]
fn run_with_an_env_file_and_only() {
    let t = local_with_secrets();
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("task.env");
    std::fs::write(&env, "PGPASSWORD=${secret:db/password}\nDSN=postgres://app:${secret:db/password}@db/x\n").unwrap();
    let out =
        tresor(&t, &["run", "--env-file", env.to_str().unwrap(), "--", "sh", "-c", "echo ${#PGPASSWORD}; echo $DSN"])
            .output()
            .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("14\n"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
    let out = tresor(&t, &["run", "--only", "api.token", "--", "sh", "-c", "echo [$DB_PASSWORD] ${#API_TOKEN}"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[] 17\n");
    let out = tresor(&t, &["run", "--only", "nope", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such entries: nope"));
}

/// Every signal a terminal or a supervisor sends to stop a job reaches the command, which can
/// then shut down its own way; its output on the way out is still redacted.
#[test]
fn run_forwards_signals_to_the_command() {
    let t = local_with_secrets();
    for signal in ["INT", "TERM", "HUP", "QUIT"] {
        let script = format!(
            "trap 'echo got-{signal} $DB_PASSWORD; exit 3' {signal}; echo ready; while true; do sleep 0.05; done"
        );
        let mut child = tresor(&t, &["run", "--", "sh", "-c", &script]).stdout(Stdio::piped()).spawn().unwrap();
        let lines = LinesWithin::new(child.stdout.take().unwrap());
        assert_eq!(lines.next(), "ready");
        Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
        assert_eq!(lines.next(), format!("got-{signal} [REDACTED]"));
        assert_eq!(child.wait().unwrap().code(), Some(3), "SIG{signal}");
    }
}

#[test]
fn redact_masks_values_split_across_reads_and_does_not_wait_for_eof() {
    let t = local_with_secrets();
    let mut child = tresor(&t, &["redact"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines = LinesWithin::new(child.stdout.take().unwrap());
    // A line that cannot be part of a value comes out before EOF.
    stdin.write_all(b"starting up\n").unwrap();
    stdin.flush().unwrap();
    assert_eq!(lines.next(), "starting up");
    // A value written a byte at a time, across a newline-free run.
    for b in b"connecting with hunter2-secret now\n" {
        stdin.write_all(&[*b]).unwrap();
        stdin.flush().unwrap();
        // A pause so that the bytes most likely arrive in separate reads. The outcome does not
        // depend on it (a slow machine merely tests fewer splits; the unit tests cover every one).
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(lines.next(), "connecting with [REDACTED] now");
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

/// Issue #18: a value percent-encoded byte by byte, in either case or a mix, with `+` for a space,
/// is masked; with `--min-length 1`, a one-byte value masks itself, not the short encodings that
/// ordinary text is full of (`e`, `eA`, `78`).
#[test]
fn redact_masks_every_percent_encoding_and_a_one_byte_value_masks_only_itself() {
    let t = LocalTresor::new();
    t.set_all(&[("db/password", "p@ss w/Rd"), ("flag", "x")]);
    let input = "a=%70%40%73%73%20%77%2f%52%64 b=%70%40%73%73+%77%2F%52%64&c=p%40ss+w%2fRd d=P%40ss\n\
                 idea eleven 78 eA x\n";
    let mut child = tresor(&t, &["redact", "--min-length", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a=[REDACTED] b=[REDACTED]&c=[REDACTED] d=P%40ss\nidea eleven 78 eA [REDACTED]\n"
    );
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn run_against_a_server_needs_read_on_every_entry() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let t = s.token.clone();
    s.set_all(&t, &[("a", "value-of-a"), ("b", "value-of-b")]);
    let job = principal(&s, "app:job", &[("default/default/a", "read")]);
    let r = s.cli(&job, &["run", "--only", "a", "--", "sh", "-c", "echo $A"], b"");
    assert_eq!(r.stdout, "[REDACTED]\n");
    let r = s.cli(&job, &["run", "--only", "a", "--only", "b", "--", "true"], b"");
    assert_eq!(r.code, 4);
    assert!(r.stderr.contains("no read access to b"), "{}", r.stderr);
}

/// Issue #14: two entries that become the same variable were named by the variable
/// (`entries TD_APIKEY and td/apikey`), not by their keys.
#[test]
fn run_names_colliding_entries_by_their_keys() {
    let t = LocalTresor::new();
    t.set_all(&[("td.apikey", "collide-one-5e"), ("td/apikey", "collide-two-5e")]);
    let e = t
        .run(&["run", "--", "true"])
        .fails(2, "entries td.apikey and td/apikey both become environment variable TD_APIKEY");
    assert!(!e.contains("collide-"), "{e}");
}

/// Local mode reads a whole vault in one store scan (`Service::get_vault`, whose unit tests check
/// its audit records): `run` still refuses a planted variable name, naming its entry and not its
/// value, and `redact` masks every entry of the vault.
#[test]
fn whole_vault_reads_refuse_planted_names_and_mask_every_entry() {
    let t = LocalTresor::new();
    t.set_all(&[("ld_preload", "/nonexistent/planted.so"), ("db/password", "hunter2-secret")]);
    let e = t.run(&["run", "--", "true"]).fails(2, "LD_PRELOAD");
    assert!(e.contains("entry ld_preload") && !e.contains("planted.so"), "{e}");

    let out = tresor(&t, &["redact"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(b"pw=hunter2-secret lib=/nonexistent/planted.so\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pw=[REDACTED] lib=[REDACTED]\n");
}
