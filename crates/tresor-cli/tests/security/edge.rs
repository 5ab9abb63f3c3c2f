//! The server's edge (issue #13, findings 9 and 12 and the informational items): failed
//! authentications are limited per peer and aggregated, request ids are made by the server,
//! `?token=` is accepted only where the platform documents it, auth-failure records are scoped to
//! the workspace they name, and listings of tokens, grants and keys are audited.

use crate::common::*;
use serde_json::{json, Value};

/// An answer with the headers these tests look at.
struct Answer {
    status: u16,
    body: Value,
}

fn send(s: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> Answer {
    let mut req = ureq::request(method, &format!("{}{path}", s.addr));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let resp = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap();
    Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The audit records `token` may read.
fn audit(s: &Server, token: &str) -> Vec<Value> {
    let (status, doc) = s.call("GET", "/api/v1/audit?limit=10000", Some(token), None);
    assert_eq!(status, 200, "{doc}");
    doc["records"].as_array().unwrap().clone()
}

/// `?token=` is Tinybird's (its clients send it); the native API and Conductor's refuse a token in
/// the URL with a 401 that says to use the header, and the token never reaches the log.
#[test]
fn query_tokens_only_on_the_tinybird_surface() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let query = format!("token={}", s.token);

    let native = send(&s, "GET", &format!("/api/v1/whoami?{query}"), &[], None);
    assert_eq!(native.status, 401, "{}", native.body);
    let message = native.body["error"].as_str().unwrap();
    assert!(message.contains("Authorization: Bearer") && message.contains("?token="), "{message}");
    // A token in the URL is refused even beside a header: the URL has already leaked it.
    let both = send(&s, "GET", &format!("/api/v1/whoami?{query}"), &[("authorization", &bearer(&s.token))], None);
    assert_eq!(both.status, 401);

    let conductor = send(&s, "GET", &format!("/api/secrets?{query}"), &[], None);
    assert_eq!(conductor.status, 401, "{}", conductor.body);
    assert_eq!(conductor.body["status"], 401);
    assert!(conductor.body["message"].as_str().unwrap().contains("X-Authorization"), "{}", conductor.body);

    let tinybird = send(&s, "GET", &format!("/v0/secrets?{query}&cli_version=5.0"), &[], None);
    assert_eq!(tinybird.status, 200, "{}", tinybird.body);
    let percent_encoded = s.token.replace('_', "%5F");
    assert_eq!(send(&s, "GET", &format!("/v0/secrets?token={percent_encoded}"), &[], None).status, 200);

    let secret = &s.token[17..];
    assert!(!s.log_text().contains(secret), "the token reached the server log");
    let records = serde_json::to_string(&audit(&s, &s.token)).unwrap();
    assert!(!records.contains(secret), "the token reached the audit log");
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
