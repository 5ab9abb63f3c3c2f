//! PostgreSQL itself stops and starts again under two running tresor servers: both report
//! not-ready while it is down and recover without a restart of their own.
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
use std::time::Duration;

const ENTRY: &str = "/api/v1/envs/default/vaults/default/entries/db/password";
const VALUE: &str = "/api/v1/envs/default/vaults/default/values/db/password";

fn pg_ctl(action: &str) {
    let ctl = std::env::var("TRESOR_TEST_PG_CTL").unwrap();
    let status = Command::new("sh").arg("-c").arg(format!("{ctl} {action}")).status().unwrap();
    assert!(status.success(), "{ctl} {action} failed");
}

#[test]
fn servers_report_not_ready_while_postgresql_is_down_and_recover_when_it_is_back() {
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

    pg_ctl("stop");
    let outcome = std::panic::catch_unwind(|| {
        for node in nodes {
            wait_for("not ready while PostgreSQL is down", Duration::from_secs(10), || node.ready() == 503);
            assert_eq!(node.call("GET", VALUE, t, None).0, 500, "nothing served while changes cannot be seen");
        }
    });
    pg_ctl("start");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
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
