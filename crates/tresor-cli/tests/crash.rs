//! `kill -9` of a server under concurrent reads and writes. What a client was told succeeded must
//! survive: every acknowledged write reads back exactly, every acknowledged read has its audit
//! record (read records may reach the disk up to `--audit-read-flush-ms` after their answer, but
//! they reach the operating system before it, and a killed process does not take the operating
//! system's buffers with it), and the audit chain verifies. `bench/crash.sh` runs this in a loop.

use crate::common::Server;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const VAULT: &str = "/api/v1/envs/default/vaults/default";

#[derive(Default)]
struct Acknowledged {
    /// The request ids of reads answered 200 with the right value.
    reads: Vec<String>,
    /// (key, value, request id) of writes answered 2xx.
    writes: Vec<(String, String, String)>,
}

/// One request on its own; `None` once the server is gone (a transport error).
fn send(addr: &str, method: &str, path: &str, token: &str, body: Option<serde_json::Value>) -> Option<ureq::Response> {
    let req = ureq::request(method, &format!("{addr}{path}"))
        .set("Authorization", &format!("Bearer {token}"))
        .timeout(Duration::from_secs(10));
    let answer = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match answer {
        Ok(r) => Some(r),
        Err(ureq::Error::Status(code, r)) => panic!("{method} {path}: {code} {}", r.into_string().unwrap_or_default()),
        Err(ureq::Error::Transport(_)) => None,
    }
}

#[test]
fn a_killed_server_keeps_every_acknowledged_write_and_read_record() {
    let env = [("TRESOR_RATE_MANAGEMENT", "0")];
    let s = Server::start(&env);
    let read_value = "crash-read-value-5b1e";
    let (status, doc) = s.call(
        "PUT",
        &format!("{VAULT}/entries/db/password"),
        Some(&s.token),
        Some(serde_json::json!({"value": read_value})),
    );
    assert!(status == 200 || status == 201, "{status} {doc}");

    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for t in 0..3 {
        let (addr, token, reads, stopped) = (s.addr.clone(), s.token.clone(), acked.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let Some(r) = send(&addr, "GET", &format!("{VAULT}/values/db/password"), &token, None) else { return };
                let id = r.header("x-request-id").expect("every answer carries its request id").to_owned();
                let doc: serde_json::Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
                assert_eq!(doc["value"], read_value, "reader {t}");
                reads.lock().unwrap().reads.push(id);
            }
        }));
        let (addr, token, writes, stopped) = (s.addr.clone(), s.token.clone(), acked.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            for n in 0.. {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let (key, value) = (format!("crash/w{t}-{n}"), format!("crash-written-{t}-{n}-c4f2"));
                let body = serde_json::json!({ "value": value });
                let Some(r) = send(&addr, "PUT", &format!("{VAULT}/entries/{key}"), &token, Some(body)) else { return };
                let id = r.header("x-request-id").expect("every answer carries its request id").to_owned();
                writes.lock().unwrap().writes.push((key, value, id));
            }
        }));
    }
    // Kill while both kinds of request are in full flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (reads, writes) = {
            let a = acked.lock().unwrap();
            (a.reads.len(), a.writes.len())
        };
        if reads >= 300 && writes >= 100 {
            break;
        }
        assert!(Instant::now() < deadline, "the load never got going: {reads} reads, {writes} writes");
        std::thread::sleep(Duration::from_millis(20));
    }
    let first_log = s.log_text();
    let s = s.crash_and_restart(&env);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());

    // Every acknowledged write reads back exactly.
    for (key, value, _) in &acked.writes {
        let (status, doc) = s.call("GET", &format!("{VAULT}/values/{key}"), Some(&s.token), None);
        assert_eq!((status, doc["value"].as_str()), (200, Some(value.as_str())), "{key} was acknowledged");
    }
    // Every acknowledged request has its record, and the chain verifies.
    let mut recorded = HashSet::new();
    let mut after = 0u64;
    loop {
        let path = format!("/api/v1/audit?after={after}&limit=1000");
        let (status, doc) = s.call("GET", &path, Some(&s.token), None);
        assert_eq!(status, 200, "{doc}");
        let records = doc["records"].as_array().unwrap();
        let Some(last) = records.last() else { break };
        after = last["seq"].as_u64().unwrap();
        recorded.extend(records.iter().map(|r| r["request_id"].as_str().unwrap().to_owned()));
    }
    let missing_reads = acked.reads.iter().filter(|id| !recorded.contains(*id)).count();
    let missing_writes = acked.writes.iter().filter(|(_, _, id)| !recorded.contains(id)).count();
    assert_eq!(
        (missing_reads, missing_writes),
        (0, 0),
        "of {} acknowledged reads and {} writes, these have no audit record",
        acked.reads.len(),
        acked.writes.len()
    );
    let verify = s.cli(&s.token, &["audit", "verify"], b"").ok();
    assert!(verify.contains("every chain verified"), "{verify}");

    // No value in either server's log.
    for log in [first_log, s.log_text()] {
        assert!(!log.contains(read_value) && !log.contains("c4f2"), "a value reached the server log");
    }
}
