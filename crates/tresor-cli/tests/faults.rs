//! Fault drills that need no PostgreSQL: the store's disk fills up under a running server.
//! (PostgreSQL killed under three nodes is `pg_restart.rs`, its own test binary.)

use crate::common::{self, tresor, Server};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const VAULT: &str = "/api/v1/envs/default/vaults/default";

/// A tmpfs of a few MB mounted on a directory, unmounted on drop (even when the test fails).
struct SmallDisk {
    at: PathBuf,
}

impl SmallDisk {
    /// Mounts a `size` tmpfs on `at` (a new directory), or says why it could not (not root, no
    /// mount in this container).
    fn mount(at: &Path, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Self { at: at.to_owned() })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: the server may still hold files open while the test unwinds.
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// Fills the file system holding `dir` with one file, until it refuses another byte.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // The last partial chunk: byte by byte until nothing fits.
    while file.write(&[0]).is_ok_and(|n| n == 1) {}
    path
}

/// The disk under the SQLite store fills up while the server runs: writes are refused with 507
/// `out_of_space` (the CLI exits 7) and nothing acknowledged is lost or damaged; reads keep
/// working, on the space the server set aside for their audit records (`--disk-reserve-mb`),
/// which it released when SQLite first found the disk full; once space is freed, writes work
/// again without a restart, and the audit log verifies.
#[test]
fn a_full_disk_refuses_writes_with_507_reads_go_on_and_writes_work_again_once_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _disk = match SmallDisk::mount(&data, "24m") {
        Ok(disk) => disk,
        Err(why) => {
            common::skip::skip("a_full_disk_refuses_writes", &format!("a tmpfs mount (as root): {why}"));
            return;
        }
    };
    let out = tresor().args(["init", "--json", "--data-dir"]).arg(&data).output().unwrap();
    assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
    let token =
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["admin_token"].as_str().unwrap().to_owned();
    // 6 MiB for reads: more than SQLite's write-ahead log grows to (about 4 MiB) before it is
    // reused, so that reads' records fit in it whatever the log's size when the disk fills.
    let server = Server::serve(dir, token, &[("TRESOR_DISK_RESERVE_MB", "6")], &[]);
    let t = Some(server.token.as_str());
    let entry = |key: &str| format!("{VAULT}/entries/{key}");
    let value_of = |key: &str| server.call("GET", &format!("{VAULT}/values/{key}"), t, None);
    let reserve = data.join("tresor.db-reserve");

    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let (key, value) = (format!("before/{i}"), format!("disk-full-BEFORE-{i}"));
        let (status, doc) = server.call("PUT", &entry(&key), t, Some(json!({ "value": value })));
        assert_eq!(status, 200, "{doc}");
        server.remember(&key, &value);
        acknowledged.push((key, value));
    }
    // The server makes its reserve in the background as it starts; a write after it is made.
    let started = std::time::Instant::now();
    while std::fs::metadata(&reserve).map_or(true, |m| m.len() != 6 << 20) {
        assert!(started.elapsed().as_secs() < 30, "the server set no 6 MiB aside in {}", reserve.display());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let filler = fill(&data);
    // SQLite may still have room in pages it holds already: write until the disk refuses.
    let mut refused = None;
    for i in 0..500 {
        let (key, value) = (format!("full/{i}"), format!("disk-full-DURING-{i}"));
        server.remember(&key, &value);
        let (status, doc) = server.call("PUT", &entry(&key), t, Some(json!({ "value": value })));
        match status {
            200 => acknowledged.push((key, value)),
            _ => {
                refused = Some((key, status, doc));
                break;
            }
        }
    }
    let (refused_key, status, doc) = refused.expect("a write was refused once the disk was full");
    assert_eq!((status, doc["kind"].as_str()), (507, Some("out_of_space")), "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("disk is full"), "{doc}");
    assert!(!reserve.exists(), "the reserve was released to reads");
    let cli = server.cli(&server.token, &["set", "full/cli"], b"disk-full-CLI");
    server.remember("full/cli", "disk-full-CLI");
    cli.fails(7, "disk is full");

    // Reads go on, each answered after its audit record is written, on the released space;
    // writes stay refused (they would eat it).
    for round in 0..20 {
        for (key, value) in &acknowledged {
            let (status, doc) = value_of(key);
            assert_eq!((status, &doc["value"]), (200, &json!(value)), "read {round} of {key} while the disk is full");
        }
    }
    let (status, doc) = server.call("PUT", &entry("still-full"), t, Some(json!({"value": "disk-full-STILL"})));
    server.remember("still-full", "disk-full-STILL");
    assert_eq!((status, doc["kind"].as_str()), (507, Some("out_of_space")), "{doc}");
    assert!(disk_full_gauge(&server).contains("tresor_store_disk_full 1"), "an operator's alert can see it");

    std::fs::remove_file(filler).unwrap();
    assert_eq!(value_of(&refused_key).0, 404, "a refused write left nothing behind");
    // The server looks for free space at most once a second, when a write asks.
    let started = std::time::Instant::now();
    let (status, doc) = loop {
        let (status, doc) = server.call("PUT", &entry("after"), t, Some(json!({"value": "disk-full-AFTER"})));
        if status != 507 || started.elapsed().as_secs() >= 10 {
            break (status, doc);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    server.remember("after", "disk-full-AFTER");
    assert_eq!(status, 200, "writes work again once space is freed, without a restart: {doc}");
    assert_eq!(std::fs::metadata(&reserve).unwrap().len(), 6 << 20, "the reserve is set aside again");
    acknowledged.push(("after".into(), "disk-full-AFTER".into()));
    for (key, value) in &acknowledged {
        let (status, doc) = value_of(key);
        assert_eq!((status, &doc["value"]), (200, &json!(value)), "{key}");
    }
    let (status, verify) = server.call("GET", "/api/v1/audit/verify", t, None);
    assert_eq!((status, &verify["ok"]), (200, &json!(true)), "{verify}");
    assert!(disk_full_gauge(&server).contains("tresor_store_disk_full 0"));
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("the database's disk is full: released"), "the release is logged");
}

/// The `tresor_store_disk_full` line of the server's metrics.
fn disk_full_gauge(server: &Server) -> String {
    let text = server.request("GET", "/metrics", &[], None).into_string().unwrap();
    text.lines().filter(|l| l.starts_with("tresor_store_disk_full")).collect::<Vec<_>>().join("\n")
}

/// The shared leak scan (`common::Stored`, run on every `Server`'s log when it stops or is
/// dropped) finds a value stored through a JSON body ("value", "values") or the CLI's `set`, and
/// names it by where it was stored, never by the value.
#[test]
fn the_leak_scan_names_a_stored_value_found_in_a_log_without_printing_it() {
    let mut stored = common::Stored::default();
    stored.remember_json("PUT /entries/a", &json!({"value": "leak-scan-VALUE-1"}));
    stored.remember_json("POST /entries", &json!({"values": {"b": "leak-scan-VALUE-2"}}));
    stored.remember_cli(&["set", "c/key"], b"leak-scan-VALUE-3\n");
    stored.remember_cli(&["set", "d=leak-scan-VALUE-4"], b"");
    stored.remember_json("PUT /entries/short", &json!({"value": "5"}));
    stored.scan("a log holding no stored value, and a 5", "a clean log");
    for (value, name) in [
        ("leak-scan-VALUE-1", "PUT /entries/a/value"),
        ("leak-scan-VALUE-2", "POST /entries/values/b"),
        ("leak-scan-VALUE-3", "cli set c/key (stdin)"),
        ("leak-scan-VALUE-4", "cli set d"),
    ] {
        let log = format!("INFO request done\nDEBUG body={value}\n");
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stored.scan(&log, "a leaky log")))
            .expect_err("the scan finds the value");
        let message = panic.downcast_ref::<String>().unwrap();
        assert!(message.contains(name), "{message}");
        assert!(!message.contains(value), "the failure must not print the value: {message}");
    }
}
