//! The server's edge (issue #13, findings 9 and 12 and the informational items): failed
//! authentications are limited per peer and aggregated, request ids are made by the server,
//! `?token=` is accepted only where the platform documents it, auth-failure records are scoped to
//! the workspace they name, and listings of tokens, grants and keys are audited.

use crate::common::*;
use serde_json::{json, Value};

/// The audit records `token` may read.
fn audit(s: &Server, token: &str) -> Vec<Value> {
    let (status, doc) = s.call("GET", "/api/v1/audit?limit=10000", Some(token), None);
    assert_eq!(status, 200, "{doc}");
    doc["records"].as_array().unwrap().clone()
}

/// Listing tokens, grants, principals, group members and application keys is recorded, allowed
/// or refused.
#[test]
fn listings_of_access_are_audited() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let reader = principal(&s, "app:reader", &[("*", "read")]);
    assert_eq!(s.call("POST", "/api/v1/principals", Some(&s.token), Some(json!({"principal": "group:ops"}))).0, 201);
    for args in
        [&["token", "ls"][..], &["grant", "ls"], &["principal", "ls"], &["group", "ls", "ops"], &["app-key", "ls"]]
    {
        s.cli(&s.token, args, b"").ok();
    }
    s.cli(&reader, &["token", "ls"], b"").fails(4, "lacks manage");
    let records = audit(&s, &s.token);
    let has = |action: &str, outcome: &str| records.iter().any(|r| r["action"] == action && r["outcome"] == outcome);
    for action in ["token.list", "grant.list", "principal.list", "group.members", "app_key.list"] {
        assert!(has(action, "ok"), "no {action} record");
    }
    assert!(has("token.list", "denied"), "a refused listing is recorded");
}
