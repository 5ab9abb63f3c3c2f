//! PostgreSQL itself stops and starts again under running tresor servers: they report not-ready
//! while it is down, refuse with 503 `unavailable`, and recover without a restart of their own.
//! The drill kills it hard (`stop -m immediate`: no shutdown checkpoint, as a crash) under three
//! nodes taking concurrent writes and reads: no acknowledged write is lost.
//!
//! This stops the whole PostgreSQL server, so it lives in its own test binary (cargo runs test
//! binaries one after another) and runs only where it may: `TRESOR_TEST_PG_CTL` names the
//! command that controls the server (`.ci/run` sets it to `pg_ctlcluster ... main`); the test
//! appends `stop` or `start`. Unset, the test is skipped outside CI and fails in CI.

mod common;

use common::pg::Cluster;
use common::wait_for;
use serde_json::json;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const ENTRY: &str = "/api/v1/envs/default/vaults/default/entries/db/password";
const VALUE: &str = "/api/v1/envs/default/vaults/default/values/db/password";

fn pg_ctl(action: &str) {
    let ctl = std::env::var("TRESOR_TEST_PG_CTL").unwrap();
    let status = Command::new("sh").arg("-c").arg(format!("{ctl} {action}")).status().unwrap();
    assert!(status.success(), "{ctl} {action} failed");
}

/// PostgreSQL stopped; started again when this is dropped, whatever happened in between (other
/// tests on this machine share the server: it must never be left down).
struct Stopped;

impl Stopped {
    fn by(action: &str) -> Self {
        pg_ctl(action);
        Stopped
    }

    /// Starts it now, and reports (through the panic) a start that failed.
    fn start(self) {
        std::mem::forget(self);
        pg_ctl("start");
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let ctl = std::env::var("TRESOR_TEST_PG_CTL").unwrap();
        let _ = Command::new("sh").arg("-c").arg(format!("{ctl} start")).status();
    }
}

/// Held by each test for its whole run: both stop the one PostgreSQL server, and cargo runs the
/// tests of a binary in parallel (one test's immediate stop made the other's start fail).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn servers_report_not_ready_while_postgresql_is_down_and_recover_when_it_is_back() {
    let _turn = one_at_a_time();
    if std::env::var_os("TRESOR_TEST_PG_CTL").is_none() {
        common::skip::skip(
            "servers_report_not_ready_while_postgresql_is_down",
            "TRESOR_TEST_PG_CTL (e.g. 'pg_ctlcluster 15 main', to stop and start PostgreSQL)",
        );
        return;
    }
    let Some(cluster) = Cluster::start(2, &[]) else { return };
    let (nodes, token) = (&cluster.nodes, &cluster.token);
    let t = Some(token.as_str());
    assert_eq!(nodes[0].call("PUT", ENTRY, t, Some(json!({"value": "before"}))).0, 200);
    for node in nodes {
        assert_eq!(node.call("GET", VALUE, t, None).1["value"], "before");
    }

    let stopped = Stopped::by("stop");
    for node in nodes {
        wait_for("not ready while PostgreSQL is down", Duration::from_secs(10), || node.ready() == 503);
        let (status, doc) = node.call("GET", VALUE, t, None);
        assert_eq!(
            (status, doc["kind"].as_str()),
            (503, Some("unavailable")),
            "nothing served while changes cannot be seen: {doc}"
        );
    }
    stopped.start();
    for node in nodes {
        wait_for("ready again after PostgreSQL started", Duration::from_secs(30), || node.ready() == 200);
    }
    assert_eq!(nodes[1].call("PUT", ENTRY, t, Some(json!({"value": "after"}))).0, 200);
    for node in nodes {
        assert_eq!(node.call("GET", VALUE, t, None).1["value"], "after");
    }
    let (status, verify) = nodes[0].call("GET", "/api/v1/audit/verify", t, None);
    assert_eq!((status, &verify["ok"]), (200, &json!(true)), "{verify}");
}

/// What one writer saw: the writes the server acknowledged, and the refusals (status and kind).
#[derive(Default)]
struct Seen {
    acknowledged: Vec<(String, String)>,
    refused: Vec<(u16, String)>,
}

/// The drill: three nodes on one database, each taking writes of distinct keys (each one
/// acknowledged is remembered) and reads from its own thread; PostgreSQL is killed (immediate
/// stop: no checkpoint, clients cut off) and started again a few seconds later. While it is down
/// every node is not ready and refuses with 503 `unavailable`; once it is back every node is
/// ready again by itself, every acknowledged write reads back exactly through every node, and the
/// audit log verifies. How long recovery took is printed (a figure, not an assertion).
#[test]
fn postgresql_killed_under_three_writing_nodes_loses_no_acknowledged_write() {
    let _turn = one_at_a_time();
    if std::env::var_os("TRESOR_TEST_PG_CTL").is_none() {
        common::skip::skip(
            "postgresql_killed_under_three_writing_nodes",
            "TRESOR_TEST_PG_CTL (e.g. 'pg_ctlcluster 15 main', to stop and start PostgreSQL)",
        );
        return;
    }
    let Some(cluster) = Cluster::start(3, &[("TRESOR_RATE_ENTRIES", "0")]) else { return };
    let (nodes, token) = (&cluster.nodes, cluster.token.as_str());
    let t = Some(token);
    let running = AtomicBool::new(true);
    let seen: Vec<Mutex<Seen>> = nodes.iter().map(|_| Mutex::default()).collect();
    let acknowledged = |i: usize| seen[i].lock().unwrap().acknowledged.len();

    std::thread::scope(|scope| {
        for (i, node) in nodes.iter().enumerate() {
            let (running, seen) = (&running, &seen[i]);
            scope.spawn(move || {
                let mut n = 0;
                while running.load(Ordering::Relaxed) {
                    let (key, value) = (format!("drill/n{i}/k{n}"), format!("pg-kill-VALUE-{i}-{n}"));
                    let path = format!("/api/v1/envs/default/vaults/default/entries/{key}");
                    let (status, doc) = node.call("PUT", &path, t, Some(json!({ "value": value })));
                    let mut seen = seen.lock().unwrap();
                    if status == 200 {
                        seen.acknowledged.push((key, value));
                    } else {
                        seen.refused.push((status, doc["kind"].as_str().unwrap_or("none").to_owned()));
                    }
                    // A read of an earlier write between writes.
                    if let Some((key, _)) = seen.acknowledged.first().cloned() {
                        drop(seen);
                        let _ = node.call("GET", &format!("/api/v1/envs/default/vaults/default/values/{key}"), t, None);
                    }
                    n += 1;
                }
            });
        }
        let body = || {
            wait_for("every node acknowledged writes", Duration::from_secs(30), || {
                (0..nodes.len()).all(|i| acknowledged(i) >= 10)
            });
            let stopped = Stopped::by("stop -m immediate");
            for node in nodes {
                wait_for("not ready while PostgreSQL is down", Duration::from_secs(10), || node.ready() == 503);
            }
            let (status, doc) = nodes[0].call("PUT", ENTRY, t, Some(json!({"value": "while-down-VALUE"})));
            assert_eq!((status, doc["kind"].as_str()), (503, Some("unavailable")), "{doc}");
            assert!(doc["error"].as_str().unwrap().contains("unavailable"), "{doc}");
            let before = (0..nodes.len()).map(acknowledged).collect::<Vec<_>>();
            let started = Instant::now();
            stopped.start();
            let start_took = started.elapsed();
            for node in nodes {
                wait_for("ready again after PostgreSQL started", Duration::from_secs(30), || node.ready() == 200);
            }
            let ready_after = started.elapsed();
            wait_for("every node acknowledges writes again", Duration::from_secs(30), || {
                (0..nodes.len()).all(|i| acknowledged(i) > before[i] + 5)
            });
            let writing_after = started.elapsed();
            eprintln!(
                "recovery, from the start command: PostgreSQL accepting connections (the command \
                 returned) in {start_took:?}, every node ready in {ready_after:?}, every node \
                 acknowledging writes again in {writing_after:?}"
            );
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        running.store(false, Ordering::Relaxed);
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    });

    let mut total = 0;
    for (i, seen) in seen.iter().enumerate() {
        let seen = seen.lock().unwrap();
        let odd: Vec<_> =
            seen.refused.iter().filter(|(status, kind)| (*status, kind.as_str()) != (503, "unavailable")).collect();
        assert!(odd.is_empty(), "node {i} refused writes otherwise than 503 unavailable: {odd:?}");
        assert!(!seen.refused.is_empty(), "node {i} took no write while PostgreSQL was down: nothing was drilled");
        eprintln!("node {i}: {} writes acknowledged, {} refused with 503", seen.acknowledged.len(), seen.refused.len());
        for (key, value) in &seen.acknowledged {
            for (j, node) in nodes.iter().enumerate() {
                let path = format!("/api/v1/envs/default/vaults/default/values/{key}");
                let (status, doc) = node.call("GET", &path, t, None);
                assert_eq!(
                    (status, &doc["value"]),
                    (200, &json!(value)),
                    "{key} acknowledged by node {i}, read through node {j}"
                );
            }
        }
        total += seen.acknowledged.len();
    }
    eprintln!("acknowledged writes read back through all 3 nodes: {total}");
    let verified = nodes[0].cli(token, &["audit", "verify"], b"").ok();
    assert!(verified.contains("every chain verified"), "{verified}");
    let (status, verify) = nodes[0].call("GET", "/api/v1/audit/verify", t, None);
    assert_eq!((status, &verify["ok"]), (200, &json!(true)), "{verify}");
}
