//! Key management end to end: the root-key providers (key file, passphrase from a file, a file
//! descriptor or a terminal, a command that prints the key, a command that wraps and unwraps it as
//! a KMS would), chosen by `tresor init` and used by `tresor serve`, which refuses a key that does
//! not open the store before it serves anything. Every test greps the server's log and the data
//! directory for what it stored.

use crate::common::{self, assert_not_in_files, LocalTresor, Run, Server};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const VAULT: &str = "/api/v1/envs/default/vaults/default";

/// `tresor init --json --data-dir DIR/data ARGS` with `env`; returns the admin token.
fn init(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = common::tresor();
    cmd.args(["init", "--json", "--data-dir"]).arg(dir.join("data")).args(args).envs(env.iter().copied());
    let out = Run::from(cmd.stdin(Stdio::null()).output().unwrap());
    out.json()["admin_token"].as_str().unwrap().to_owned()
}

/// Runs `tresor serve` expecting it to refuse to start: returns its exit code and log. Panics if
/// it is still running (serving) after 60 s.
fn serve_refused(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let log = dir.join("refused.log");
    let mut cmd = common::tresor();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .args(args)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("serve did not refuse; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("tresor listening"), "a refused server must not listen: {text}");
    (status.code().unwrap_or(-1), text)
}

/// Writes `value` to `db/password` and reads it back through the server.
fn store_and_read(s: &Server, value: &str) {
    let (status, doc) = s.call(
        "PUT",
        &format!("{VAULT}/entries/db/password"),
        Some(&s.token),
        Some(serde_json::json!({ "value": value })),
    );
    assert!(status == 200 || status == 201, "{status} {doc}");
    assert_eq!(read(s), value);
}

fn read(s: &Server) -> String {
    let (status, doc) = s.call("GET", &format!("{VAULT}/values/db/password"), Some(&s.token), None);
    assert_eq!(status, 200, "{doc}");
    doc["value"].as_str().unwrap().to_owned()
}

/// Nothing secret in the log or the data directory: the value, the passphrase, the key.
fn assert_kept_secret(s: &Server, secrets: &[&str]) {
    let log = s.log_text();
    for secret in secrets {
        assert!(!log.contains(secret), "the server log holds a secret: {log}");
        assert_not_in_files(&s.data_dir(), secret.as_bytes());
    }
}

fn write_file(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_passphrase_store_opens_with_its_passphrase_from_a_file_a_descriptor_or_a_terminal_and_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    let passphrase = "correct horse battery staple 4c1d";
    let file = write_file(&dir.path().join("passphrase"), &format!("{passphrase}\n"));
    let token = init(dir.path(), &["--root-key-provider", "passphrase", "--passphrase-file", p(&file)], &[]);
    assert!(!dir.path().join("data/root.key").exists(), "a passphrase store has no key file");

    let s = Server::serve(dir, token, &[], &["--passphrase-file", p(&file)]);
    let value = "pass-value-7e21";
    store_and_read(&s, value);
    assert_kept_secret(&s, &[value, passphrase]);
    let mut s = s;
    s.stop();

    // A wrong passphrase: refused before serving, saying so, exit 2.
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let wrong = write_file(&dir.path().join("wrong"), "not the passphrase at all\n");
    let (code, log) = serve_refused(dir.path(), &["--passphrase-file", p(&wrong)], &[]);
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("the passphrase is wrong") && log.contains("Nothing was served"), "{log}");
    assert!(!log.contains("not the passphrase"), "{log}");
    // No passphrase at all, no terminal: says where to give it.
    let (code, log) = serve_refused(dir.path(), &[], &[]);
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("--passphrase-file") && log.contains("--passphrase-fd"), "{log}");
    // The recorded provider is the store's: another one is not chosen over it.
    let (_, log) = serve_refused(dir.path(), &["--root-key-provider", "file"], &[]);
    assert!(log.contains("comes from the passphrase provider"), "{log}");

    // From a file descriptor the shell opened.
    let log = dir.path().join("fd-server.log");
    let script = format!(
        "exec {} serve --listen 127.0.0.1:0 --data-dir {} --passphrase-fd 3 3<{} 2>{}",
        common::BIN,
        p(&dir.path().join("data")),
        p(&file),
        p(&log)
    );
    let mut sh = std::process::Command::new("sh");
    common::without_tresor_env(&mut sh);
    let mut child = sh.args(["-c", &script]).env("NO_COLOR", "1").stdout(Stdio::null()).spawn().unwrap();
    let addr = common::listening_addr(&log, Duration::from_secs(60));
    let answer = addr.as_ref().map(|addr| {
        ureq::get(&format!("{addr}{VAULT}/values/db/password"))
            .set("Authorization", &format!("Bearer {}", s.token))
            .call()
            .map(|r| r.into_json::<serde_json::Value>().unwrap())
            .map_err(|e| e.to_string())
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answer.expect("serve with --passphrase-fd listens").unwrap()["value"], value);

    // On a terminal, local mode prompts for it (TRESOR_ROOT_KEY_PROVIDER and the sources come
    // from the environment there).
    let local = LocalTresor::new();
    local
        .run_with_env(
            &["set", "--var", "region", "eu-west-1"],
            &[("TRESOR_ROOT_KEY_PROVIDER", "passphrase"), ("TRESOR_PASSPHRASE_FILE", p(&file))],
        )
        .ok();
    let (code, shown) = local.run_on_tty(&["get", "region"], "Root key passphrase", passphrase);
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("eu-west-1") && !shown.contains(passphrase), "{shown}");
    let (code, shown) = local.run_on_tty(&["get", "region"], "Root key passphrase", "twelve chars but wrong");
    assert_eq!(code, 2, "{shown}");
    assert!(shown.contains("the passphrase is wrong"), "{shown}");
}

/// A stand-in for a secret manager's CLI: prints the key kept in `$KEYS/current`.
const GET_SCRIPT: &str = r#"#!/bin/sh
set -e
test "$TRESOR_ROOT_KEY_OP" = get || { echo "unexpected op $TRESOR_ROOT_KEY_OP" >&2; exit 64; }
cat "$KEYS/current"
"#;

#[test]
fn a_command_prints_the_root_key_and_serve_refuses_another_key_or_a_failing_command() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("kms");
    std::fs::create_dir(&keys).unwrap();
    let key = "8d7a1b4c2e3f40516273849506a7b8c9d0e1f20314253647586970a1b2c3d4e5";
    write_file(&keys.join("current"), key);
    let script = write_file(&dir.path().join("get-key.sh"), GET_SCRIPT);
    let command = format!("sh {}", p(&script));
    let env = [("KEYS", p(&keys))];
    let token = init(dir.path(), &["--root-key-command", &command], &env);
    assert!(!dir.path().join("data/root.key").exists(), "a command store has no key file");

    let s = Server::serve(dir, token, &env, &["--root-key-command", &command]);
    let value = "cmd-value-91ab";
    store_and_read(&s, value);
    assert_kept_secret(&s, &[value, key]);
    let mut s = s;
    s.stop();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let keys_env = [("KEYS", p(&keys))];

    // The command now prints another key: refused before serving.
    write_file(&keys.join("current"), "0000000000000000000000000000000000000000000000000000000000000001");
    let (code, log) = serve_refused(dir.path(), &["--root-key-command", &command], &keys_env);
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("printed another key") && log.contains("provider command"), "{log}");
    // The command fails: its own message and its exit status, never its output.
    let (code, log) =
        serve_refused(dir.path(), &["--root-key-command", "echo leaked-0f3e; echo kms down >&2; exit 7"], &[]);
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("kms down") && log.contains("exit status: 7") && !log.contains("leaked-0f3e"), "{log}");
    // No command given.
    let (_, log) = serve_refused(dir.path(), &[], &[]);
    assert!(log.contains("pass --root-key-command"), "{log}");
    // A key file does not stand in for the recorded provider.
    let (_, log) = serve_refused(dir.path(), &[], &[("TRESOR_ROOT_KEY", key)]);
    assert!(log.contains("pass --root-key-command"), "{log}");

    write_file(&keys.join("current"), key);
    let s = Server::serve(dir, s.token.clone(), &keys_env, &["--root-key-command", &command]);
    assert_eq!(read(&s), value);
}

/// A stand-in for a KMS's CLI: `wrap` keeps the key under a fresh id in `$KMS` and prints the
/// id (the "ciphertext"); `unwrap` prints the key kept under the id it is given.
const KMS_SCRIPT: &str = r#"#!/bin/sh
set -e
case "$TRESOR_ROOT_KEY_OP" in
  wrap) read -r key; id="kms-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"; printf '%s' "$key" > "$KMS/$id"; echo "$id" ;;
  unwrap) read -r id; cat "$KMS/$id" ;;
  *) echo "unexpected op $TRESOR_ROOT_KEY_OP" >&2; exit 64 ;;
esac
"#;

#[test]
fn a_kms_command_wraps_the_root_key_at_init_and_unwraps_it_at_every_start() {
    let dir = tempfile::tempdir().unwrap();
    let kms = dir.path().join("kms");
    std::fs::create_dir(&kms).unwrap();
    let script = write_file(&dir.path().join("kms.sh"), KMS_SCRIPT);
    let command = format!("sh {}", p(&script));
    let env = [("KMS", p(&kms))];
    let token = init(dir.path(), &["--root-key-provider", "command-unwrap", "--root-key-command", &command], &env);
    let held: Vec<_> = std::fs::read_dir(&kms).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(held.len(), 1, "init wrapped one key: {held:?}");
    let key = std::fs::read_to_string(&held[0]).unwrap();

    let s = Server::serve(dir, token, &env, &["--root-key-command", &command]);
    let value = "kms-value-3c5d";
    store_and_read(&s, value);
    // The store holds the wrapped key (the id), never the key itself.
    assert_kept_secret(&s, &[value, key.trim()]);
    let mut s = s;
    s.stop();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());

    // The KMS gives back another key for the id: refused.
    std::fs::write(&held[0], "0000000000000000000000000000000000000000000000000000000000000002").unwrap();
    let (code, log) = serve_refused(dir.path(), &["--root-key-command", &command], &env);
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("unwrapped the stored key to another key"), "{log}");
}

#[test]
fn serve_refuses_a_wrong_key_file_before_serving() {
    let s = Server::start(&[]);
    store_and_read(&s, "file-value-55e0");
    let mut s = s;
    s.stop();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let other = "1111111111111111111111111111111111111111111111111111111111111111";
    let (code, log) = serve_refused(dir.path(), &[], &[("TRESOR_ROOT_KEY", other)]);
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("does not open the store") && log.contains("restore the right key file"), "{log}");
    assert!(!log.contains(other), "{log}");
}

/// `tresor ARGS` on the store in `data` with `env`.
fn key_cmd(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = common::tresor();
    cmd.args(args).arg("--data-dir").arg(data).envs(env.iter().copied());
    Run::from(cmd.stdin(Stdio::null()).output().unwrap())
}

#[derive(Default)]
struct Load {
    reads: usize,
    failed_reads: Vec<String>,
    /// (key, value) of writes answered 2xx.
    writes: Vec<(String, String)>,
    failed_writes: Vec<String>,
}

/// Two readers of `db/password` and a writer of new keys (`PREFIX/kN`) against `s` until `stop`.
fn start_load(
    s: &Server,
    prefix: &str,
    expected: &str,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    load: &std::sync::Arc<std::sync::Mutex<Load>>,
) -> Vec<std::thread::JoinHandle<()>> {
    use std::sync::atomic::Ordering;
    let mut threads = Vec::new();
    for reader in 0..2 {
        let (addr, token, stop, load, expected) =
            (s.addr.clone(), s.token.clone(), stop.clone(), load.clone(), expected.to_owned());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let answer = ureq::get(&format!("{addr}{VAULT}/values/db/password"))
                    .set("Authorization", &format!("Bearer {token}"))
                    .call();
                let mut load = load.lock().unwrap();
                load.reads += 1;
                match answer.map(|r| r.into_json::<serde_json::Value>()) {
                    Ok(Ok(doc)) if doc["value"] == expected.as_str() => {}
                    other => load.failed_reads.push(format!("reader {reader}: {other:?}")),
                }
            }
        }));
    }
    let (addr, token, stop, load, prefix) =
        (s.addr.clone(), s.token.clone(), stop.clone(), load.clone(), prefix.to_owned());
    threads.push(std::thread::spawn(move || {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let (key, value) = (format!("{prefix}/k{n}"), format!("{prefix}-value-{n}-e7c1"));
            let answer = ureq::put(&format!("{addr}{VAULT}/entries/{key}"))
                .set("Authorization", &format!("Bearer {token}"))
                .send_json(serde_json::json!({ "value": value }));
            let mut load = load.lock().unwrap();
            match answer {
                Ok(_) => load.writes.push((key, value)),
                Err(e) => load.failed_writes.push(format!("{key}: {e}")),
            }
        }
    }));
    threads
}

/// Waits until the load has made `writes` more acknowledged writes than `since`.
/// Stops the load of [`start_load`], waits for its threads, and checks that no read and no write
/// failed while it ran; returns what it did.
fn finish_load(
    stop: &std::sync::atomic::AtomicBool,
    threads: Vec<std::thread::JoinHandle<()>>,
    load: std::sync::Arc<std::sync::Mutex<Load>>,
) -> Load {
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let load = std::sync::Arc::try_unwrap(load).ok().unwrap().into_inner().unwrap();
    assert!(
        load.failed_reads.is_empty(),
        "{} of {} reads failed: {:?}",
        load.failed_reads.len(),
        load.reads,
        load.failed_reads
    );
    assert!(load.failed_writes.is_empty(), "writes failed: {:?}", load.failed_writes);
    load
}

fn wait_for_writes(load: &std::sync::Mutex<Load>, since: usize, writes: usize) -> usize {
    common::wait_for("writes under load", Duration::from_secs(60), || {
        load.lock().unwrap().writes.len() >= since + writes
    });
    load.lock().unwrap().writes.len()
}

#[test]
fn rotate_root_under_read_and_write_load_loses_nothing_and_the_old_key_opens_nothing() {
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let value = "rotate-value-40d2";
    store_and_read(&s, value);
    let data = s.data_dir();
    let old_key = std::fs::read_to_string(data.join("root.key")).unwrap();

    let (stop, load) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Load::default())));
    let threads = start_load(&s, "load", value, &stop, &load);
    let before = wait_for_writes(&load, 0, 20);
    let out = key_cmd(&data, &["key", "rotate-root", "--json"], &[]).json();
    assert_eq!(out["rotated"], true, "{out}");
    assert_eq!(out["data_keys"], 1, "{out}");
    wait_for_writes(&load, before, 20);
    let load = finish_load(&stop, threads, load);

    let new_key = std::fs::read_to_string(data.join("root.key")).unwrap();
    assert_ne!(new_key, old_key, "the key file holds the new key");
    assert!(!data.join("root.key.new").exists());
    let verify = s.cli(&s.token, &["audit", "verify"], b"").ok();
    assert!(verify.contains("chain verified"), "{verify}");
    let rotations: Vec<_> =
        s.audit(&s.token).into_iter().filter(|r| r["action"] == "key.rotate_root" && r["outcome"] == "ok").collect();
    assert_eq!(rotations.len(), 1, "one record of the rotation");
    let status = key_cmd(&data, &["key", "status", "--json"], &[]).json();
    assert_eq!(status["provider"], "file", "{status}");
    assert_eq!(status["workspaces"][0]["current_generation"], 1, "{status}");
    assert_kept_secret(&s, &[value, "load-value-1-e7c1", old_key.trim()]);
    assert!(!s.log_text().contains(new_key.trim()), "the new key is in no log");

    // The old key opens nothing: the server refuses it before serving.
    let mut s = s;
    s.stop();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let (code, log) = serve_refused(dir.path(), &[], &[("TRESOR_ROOT_KEY", old_key.trim())]);
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("does not open the store"), "{log}");
    // The new one opens every value written before, during and after the rotation.
    let s = Server::serve(dir, s.token.clone(), &[], &[]);
    assert_eq!(read(&s), value);
    for (key, value) in &load.writes {
        let (status, doc) = s.call("GET", &format!("{VAULT}/values/{key}"), Some(&s.token), None);
        assert_eq!((status, doc["value"].as_str()), (200, Some(value.as_str())), "{key}");
    }
    assert!(s.cli(&s.token, &["audit", "verify"], b"").ok().contains("chain verified"));
}

#[test]
fn rotate_root_moves_a_passphrase_store_to_a_kms_command() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir.path().join("passphrase"), "old passphrase of the store 81f0\n");
    let token = init(dir.path(), &["--passphrase-file", p(&file)], &[]);
    let kms = dir.path().join("kms");
    std::fs::create_dir(&kms).unwrap();
    let command = format!("sh {}", p(&write_file(&dir.path().join("kms.sh"), KMS_SCRIPT)));
    let env = [("KMS", p(&kms))];
    let data = dir.path().join("data");
    // The current key is needed: without the passphrase nothing is rotated.
    key_cmd(
        &data,
        &["key", "rotate-root", "--to-provider", "command-unwrap", "--new-root-key-command", &command],
        &env,
    )
    .fails(2, "--passphrase-file");
    let out = key_cmd(
        &data,
        &[
            "key",
            "rotate-root",
            "--passphrase-file",
            p(&file),
            "--to-provider",
            "command-unwrap",
            "--new-root-key-command",
            &command,
        ],
        &env,
    )
    .ok();
    assert!(out.contains("provider command-unwrap") && out.contains("every node unwraps it"), "{out}");
    assert_eq!(key_cmd(&data, &["key", "status", "--json"], &[]).json()["provider"], "command-unwrap");

    // The passphrase opens nothing any more; the command does.
    let (_, log) = serve_refused(dir.path(), &["--passphrase-file", p(&file)], &env);
    assert!(log.contains("pass --root-key-command"), "{log}");
    let s = Server::serve(dir, token, &env, &["--root-key-command", &command]);
    store_and_read(&s, "after-move-0a9c");
    assert!(s.cli(&s.token, &["audit", "verify"], b"").ok().contains("chain verified"));
}

/// Two servers on one PostgreSQL database with the root key wrapped by a KMS command: a rotation
/// while both serve reads and writes loses nothing, both keep serving, and at their next start
/// both unwrap the new wrapped key from the database; the old key opens nothing.
#[test]
fn rotate_root_on_postgresql_reaches_every_node_through_the_store() {
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};
    let Some(db) = common::pg::TestDb::create() else { return };
    let work = tempfile::tempdir().unwrap();
    let kms = work.path().join("kms");
    std::fs::create_dir(&kms).unwrap();
    let command = format!("sh {}", p(&write_file(&work.path().join("kms.sh"), KMS_SCRIPT)));
    let env = [("KMS", p(&kms)), ("TRESOR_RATE_MANAGEMENT", "0")];
    let node_args = ["--storage", db.url.as_str(), "--root-key-command", command.as_str()];
    let init_dir = tempfile::tempdir().unwrap();
    let token = init(init_dir.path(), &[&["--root-key-provider", "command-unwrap"][..], &node_args[..]].concat(), &env);
    let old_id = std::fs::read_dir(&kms).unwrap().next().unwrap().unwrap().path();
    let nodes: Vec<Server> =
        (0..2).map(|_| Server::serve(tempfile::tempdir().unwrap(), token.clone(), &env, &node_args)).collect();
    let value = "pg-rotate-value-6b3e";
    store_and_read(&nodes[0], value);
    assert_eq!(read(&nodes[1]), value);

    let (stop, load) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Load::default())));
    let mut threads = start_load(&nodes[0], "node0", value, &stop, &load);
    threads.extend(start_load(&nodes[1], "node1", value, &stop, &load));
    let before = wait_for_writes(&load, 0, 20);
    let out =
        key_cmd(&work.path().join("cli"), &[&["key", "rotate-root", "--json"][..], &node_args[..]].concat(), &env)
            .json();
    assert_eq!(out["provider"], "command-unwrap", "{out}");
    wait_for_writes(&load, before, 20);
    let load = finish_load(&stop, threads, load);
    assert_eq!(std::fs::read_dir(&kms).unwrap().count(), 2, "the rotation wrapped a new key");
    assert!(nodes[1].cli(&token, &["audit", "verify"], b"").ok().contains("chain verified"));
    for node in &nodes {
        let log = node.log_text();
        for secret in [value, "node0-value-1-e7c1", "node1-value-1-e7c1"] {
            assert!(!log.contains(secret), "a value reached a server log: {log}");
        }
    }

    // Both nodes start again with the same command and no copy of anything: the new wrapped key
    // is in the database.
    let mut nodes = nodes;
    let dirs: Vec<_> = nodes
        .iter_mut()
        .map(|n| {
            n.stop();
            std::mem::replace(&mut n.dir, tempfile::tempdir().unwrap())
        })
        .collect();
    // A KMS that still hands out the old key is refused.
    let old = format!("cat {}", p(&old_id));
    let (code, log) = serve_refused(dirs[0].path(), &["--storage", &db.url, "--root-key-command", &old], &env);
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("unwrapped the stored key to another key"), "{log}");
    let restarted: Vec<Server> = dirs.into_iter().map(|d| Server::serve(d, token.clone(), &env, &node_args)).collect();
    for node in &restarted {
        assert_eq!(read(node), value);
        for (key, value) in &load.writes {
            let (status, doc) = node.call("GET", &format!("{VAULT}/values/{key}"), Some(&token), None);
            assert_eq!((status, doc["value"].as_str()), (200, Some(value.as_str())), "{key}");
        }
    }
}

/// Data-key rotation while a server serves reads and writes: a new generation is current at once,
/// the re-encryption stops part-way (`--stop-after`, as a crash would) and `--resume` finishes it;
/// no read fails, no write is lost, every kept version (old ones too) opens, `key status` counts
/// what remains, and `audit verify` passes.
#[test]
fn rotate_data_under_load_reencrypts_every_kept_version_and_resumes() {
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let value = "data-rotate-value-19fa";
    store_and_read(&s, value);
    let mut kept = Vec::new();
    for i in 0..15 {
        for v in 1..=2 {
            let (key, val) = (format!("pre/k{i}"), format!("pre-{i}-v{v}-c0de"));
            let (status, doc) = s.call(
                "PUT",
                &format!("{VAULT}/entries/{key}"),
                Some(&s.token),
                Some(serde_json::json!({ "value": val })),
            );
            assert_eq!(status, 200, "{doc}");
            kept.push((key, v, val));
        }
    }
    let data = s.data_dir();
    let status = key_cmd(&data, &["key", "status", "--json"], &[]).json();
    let ws = &status["workspaces"][0];
    assert_eq!(
        (ws["current_generation"].as_u64(), ws["remaining_on_old_generations"].as_u64()),
        (Some(1), Some(0)),
        "{status}"
    );
    assert_eq!(ws["values_by_generation"]["1"], 31, "{status}");

    let (stop, load) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Load::default())));
    let threads = start_load(&s, "load", value, &stop, &load);
    let before = wait_for_writes(&load, 0, 10);
    let run = key_cmd(&data, &["key", "rotate-data", "--batch", "5", "--stop-after", "10", "--json"], &[]);
    assert!(run.stderr.contains("generation 2 of workspace default is current"), "{}", run.stderr);
    assert!(
        run.stderr.contains("Re-encrypted 5 versions") && run.stderr.contains("Re-encrypted 10 versions"),
        "{}",
        run.stderr
    );
    let first = run.json();
    assert_eq!((first["generation"].as_u64(), first["reencrypted"].as_u64()), (Some(2), Some(10)), "{first}");
    assert!(first["remaining"].as_u64().unwrap() > 0, "{first}");
    let part = key_cmd(&data, &["key", "status", "--json"], &[]).json();
    assert_eq!(part["workspaces"][0]["current_generation"], 2, "{part}");
    assert!(part["workspaces"][0]["remaining_on_old_generations"].as_u64().unwrap() > 0, "{part}");
    let mid = wait_for_writes(&load, before, 10);
    let rest = key_cmd(&data, &["key", "rotate-data", "--resume", "--json"], &[]).json();
    assert_eq!((rest["generation"].as_u64(), rest["remaining"].as_u64()), (Some(2), Some(0)), "{rest}");
    wait_for_writes(&load, mid, 10);
    let load = finish_load(&stop, threads, load);

    let done = key_cmd(&data, &["key", "status", "--json"], &[]).json();
    let ws = &done["workspaces"][0];
    assert_eq!(ws["remaining_on_old_generations"], 0, "{done}");
    assert_eq!(ws["values_by_generation"].as_object().unwrap().keys().collect::<Vec<_>>(), ["2"], "{done}");
    let actions: Vec<String> = s.audit(&s.token).iter().map(|r| r["action"].as_str().unwrap().to_owned()).collect();
    assert_eq!(actions.iter().filter(|a| *a == "key.rotate_data").count(), 1);
    assert!(actions.iter().filter(|a| *a == "key.reencrypt").count() >= 3, "{actions:?}");
    assert!(s.cli(&s.token, &["audit", "verify"], b"").ok().contains("chain verified"));
    assert_kept_secret(&s, &[value, "pre-0-v1-c0de", "load-value-1-e7c1"]);

    // A new process (which must unwrap generation 2) opens every kept version and every write.
    let mut s = s;
    s.stop();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let s = Server::serve(dir, s.token.clone(), &[], &[]);
    for (key, version, val) in &kept {
        let (status, doc) = s.call("GET", &format!("{VAULT}/values/{key}?version={version}"), Some(&s.token), None);
        assert_eq!((status, doc["value"].as_str()), (200, Some(val.as_str())), "{key} v{version}: {doc}");
    }
    for (key, val) in &load.writes {
        let (status, doc) = s.call("GET", &format!("{VAULT}/values/{key}"), Some(&s.token), None);
        assert_eq!((status, doc["value"].as_str()), (200, Some(val.as_str())), "{key}");
    }
}

/// A backup of a passphrase store carries its salt and parameters (not its key): restored
/// elsewhere, it opens with the same passphrase, and restore says so instead of asking for a key file.
#[test]
fn a_passphrase_store_restored_from_a_backup_opens_with_the_same_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let passphrase = "backup passphrase of the store 2d7b";
    let file = write_file(&dir.path().join("passphrase"), passphrase);
    let token = init(dir.path(), &["--passphrase-file", p(&file)], &[]);
    let s = Server::serve(dir, token, &[], &["--passphrase-file", p(&file)]);
    let value = "restored-value-5e8a";
    store_and_read(&s, value);
    let backup = s.dir.path().join("store.backup");
    key_cmd(&s.data_dir(), &["backup", "create", p(&backup)], &[]).ok();
    let target = tempfile::tempdir().unwrap();
    let out = key_cmd(&target.path().join("data"), &["backup", "restore", p(&backup)], &[]).ok();
    assert!(out.contains("comes from the passphrase provider") && !out.contains("root.key"), "{out}");
    let (_, log) = serve_refused(target.path(), &[], &[]);
    assert!(log.contains("--passphrase-file"), "{log}");
    let restored = Server::serve(target, s.token.clone(), &[], &["--passphrase-file", p(&file)]);
    assert_eq!(read(&restored), value);
    assert!(!std::fs::read_to_string(&backup).unwrap().contains(passphrase));
    assert_kept_secret(&restored, &[value, passphrase]);
}

/// A server started before a root-key rotation follows it: a data-key generation made after the
/// rotation is wrapped by the new root key, and the server reads its root key again from its
/// provider (here the key file the rotation replaced) instead of failing reads and writes.
#[test]
fn a_running_server_follows_a_root_rotation_then_a_data_rotation_under_load() {
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let value = "follow-value-8c3d";
    store_and_read(&s, value);
    let data = s.data_dir();
    let (stop, load) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Load::default())));
    let threads = start_load(&s, "load", value, &stop, &load);
    let mut acked = wait_for_writes(&load, 0, 10);
    key_cmd(&data, &["key", "rotate-root"], &[]).ok();
    acked = wait_for_writes(&load, acked, 10);
    let out = key_cmd(&data, &["key", "rotate-data", "--json"], &[]).json();
    assert_eq!((out["generation"].as_u64(), out["remaining"].as_u64()), (Some(2), Some(0)), "{out}");
    wait_for_writes(&load, acked, 10);
    let load = finish_load(&stop, threads, load);
    assert!(s.log_text().contains("read it again from its provider"), "{}", s.log_text());
    for (key, val) in &load.writes {
        let (status, doc) = s.call("GET", &format!("{VAULT}/values/{key}"), Some(&s.token), None);
        assert_eq!((status, doc["value"].as_str()), (200, Some(val.as_str())), "{key}");
    }
    assert!(s.cli(&s.token, &["audit", "verify"], b"").ok().contains("chain verified"));
    assert_kept_secret(&s, &[value, "load-value-1-e7c1"]);
}
