//! Server-side webhooks: references resolved where tresor runs, the answer masked, destinations
//! limited to an allow-list.

use crate::common;
use common::*;
use serde_json::json;

#[test]
fn webhooks_resolve_references_server_side_and_mask_the_answer() {
    let hook = Receiver::start();
    let s = Server::allowing_webhooks_to(hook.port);
    let t = Some(s.token.as_str());
    let hook_token = json!({"value": "Bearer sk_hook_123"});
    assert_eq!(s.call("PUT", "/api/v1/envs/default/vaults/default/entries/hook-token", t, Some(hook_token)).0, 200);
    let db_pw = json!({"value": "pg-secret-456"});
    assert_eq!(s.call("PUT", "/api/v1/envs/default/vaults/default/entries/db-pw", t, Some(db_pw)).0, 200);
    let request = json!({
        "method": "POST",
        "url": format!("http://127.0.0.1:{}/notify?x=1", hook.port),
        "headers": {"Authorization": {"vault": "default", "key": "hook-token"}, "X-Plain": "hello"},
        "body": {"password": {"vault": "default", "key": "db-pw"}, "n": 1, "note": "forwarded ${secret:db-pw}"}
    });
    let (status, answer) = s.call("POST", "/api/v1/webhooks/send", t, Some(request.clone()));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], 201);
    // The destination got the real values ...
    let seen = hook.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].contains("authorization: Bearer sk_hook_123") || seen[0].contains("Authorization: Bearer sk_hook_123"),
        "{}",
        seen[0]
    );
    assert!(seen[0].contains(r#""password":"pg-secret-456""#), "{}", seen[0]);
    // A body is data: only its {"vault", "key"} objects are references, text in it stays text.
    assert!(seen[0].contains(r#""note":"forwarded ${secret:db-pw}""#), "{}", seen[0]);
    assert!(seen[0].to_ascii_lowercase().contains("content-type: application/json"), "{}", seen[0]);
    assert!(seen[0].contains("x-plain: hello") || seen[0].contains("X-Plain: hello"));
    // ... and the caller gets them masked, in the body and in headers.
    let text = answer.to_string();
    assert!(!text.contains("sk_hook_123") && !text.contains("pg-secret-456"), "{text}");
    assert!(answer["body"].as_str().unwrap().contains("[REDACTED]"));
    assert!(answer["headers"]["x-echo"].as_str().unwrap_or_default().contains("[REDACTED]"), "{answer}");

    // Through the CLI as well.
    let r = s.cli(&s.token, &["webhook", "send", "-"], request.to_string().as_bytes());
    assert!(r.stdout.starts_with("HTTP 201") && !r.stdout.contains("pg-secret"), "{}", r.stdout);

    // Refusals: a host off the list, a caller without read; neither reaches the destination.
    let mut elsewhere = request.clone();
    // Any port but the receiver's is off the allow-list; the request is refused before it connects.
    elsewhere["url"] = json!("http://127.0.0.1:1/");
    let (status, doc) = s.call("POST", "/api/v1/webhooks/send", t, Some(elsewhere));
    assert_eq!(status, 403);
    assert!(doc["error"].as_str().unwrap().contains("not on the webhook allow-list"), "{doc}");
    s.cli(&s.token, &["principal", "create", "app:caller"], b"").ok();
    s.cli(&s.token, &["grant", "add", "app:caller", "default/default/hook-token", "read"], b"").ok();
    let caller =
        s.cli(&s.token, &["token", "create", "app:caller", "--json"], b"").json()["token"].as_str().unwrap().to_owned();
    let (status, doc) = s.call("POST", "/api/v1/webhooks/send", Some(&caller), Some(request));
    assert_eq!(status, 403, "{doc}");
    assert_eq!(hook.seen.lock().unwrap().len(), 2, "refused calls never left tresor");
    let log = s.log_text();
    assert!(!log.contains("sk_hook_123") && !log.contains("pg-secret-456"));
}

#[test]
fn webhooks_are_off_until_hosts_are_allowed() {
    let s = Server::start(&[]);
    // Any destination is refused, naming the setting; a URL that is not http(s) is invalid first.
    for (url, code, says) in
        [("http://127.0.0.1:9/", 403, "TRESOR_WEBHOOK_ALLOW_HOSTS"), ("file:///etc/passwd", 400, "")]
    {
        let request = json!({"method": "GET", "url": url});
        let (status, doc) = s.call("POST", "/api/v1/webhooks/send", Some(&s.token), Some(request));
        assert_eq!(status, code, "{url}: {doc}");
        assert!(doc["error"].as_str().unwrap().contains(says), "{url}: {doc}");
    }
}
