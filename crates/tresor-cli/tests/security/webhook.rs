//! Issue #13, findings 2, 5 and 13: server-side webhooks.
//! - The allow-list is checked on the URL as the `url` crate parses it, the same value that is
//!   sent, and on the addresses its host resolves to (loopback, private and link-local ones only
//!   when listed literally); tricks that made the check and the HTTP client disagree are refused.
//! - Sending a webhook needs the `webhook` access on its environment, with or without references.
//! - Header values are validated before sending; errors name the header, never the value.
//! - Answers are masked in hex too, as `tresor redact` output is.

use crate::common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};

/// `tresor`'s exit code for a refusal (README, exit codes).
const DENIED: i32 = 4;

fn send(s: &Server, token: &str, request: &Value) -> (u16, Value) {
    s.call("POST", "/api/v1/webhooks/send", Some(token), Some(request.clone()))
}

fn hex(bytes: &[u8], upper: bool) -> String {
    bytes.iter().map(|b| if upper { format!("{b:02X}") } else { format!("{b:02x}") }).collect()
}

#[test]
fn webhook_destinations_are_checked_on_the_parsed_url_and_its_resolved_addresses() {
    let hook = Receiver::start();
    let literal = Receiver::start();
    let allow = format!("*.example.com,localhost:{},127.0.0.1:{}", hook.port, literal.port);
    let s = Server::start(&[("TRESOR_WEBHOOK_ALLOW_HOSTS", &allow)]);
    let port = hook.port;
    let refused = [
        // The hand-written check saw a host under example.com; the HTTP client read 127.0.0.1.
        format!(r"http://127.0.0.1\.example.com:{port}/x"),
        format!(r"http://127.0.0.1:{port}\]:x.example.com/x"),
        "http://user:pw@a.example.com/".to_owned(),
        "ftp://a.example.com/".to_owned(),
        "file:///etc/passwd".to_owned(),
        // Other spellings of loopback, none of them on the list.
        format!("http://[::1]:{port}/x"),
        format!("http://2130706433:{port}/x"),
        format!("http://0x7f.1:{port}/x"),
        // Allowed by name, but the name resolves to a loopback address not listed literally.
        format!("http://localhost:{port}/x"),
    ];
    for url in &refused {
        for method in ["GET", "POST", "DELETE"] {
            let (status, doc) = send(&s, &s.token, &json!({"method": method, "url": url, "body": "ping"}));
            assert!(status == 400 || status == 403, "{method} {url}: {status} {doc}");
            assert!(!doc["error"].as_str().unwrap_or_default().is_empty(), "{url}: {doc}");
        }
    }
    assert!(hook.seen.lock().unwrap().is_empty(), "a refused destination was called: {:?}", hook.seen.lock().unwrap());
    // The refusals say what is wrong and what to do.
    let error = |url: &str| send(&s, &s.token, &json!({"method": "GET", "url": url})).1["error"].to_string();
    let e = error(&refused[0]);
    assert!(e.contains("backslash"), "{e}");
    let e = error(&refused[2]);
    assert!(e.contains("user name or password") && !e.contains("pw@"), "{e}");
    let e = error(&refused[3]);
    assert!(e.contains("http") && e.contains("ftp"), "{e}");
    let e = error(&refused[8]);
    assert!(e.contains("loopback") && e.contains("localhost") && e.contains("TRESOR_WEBHOOK_ALLOW_HOSTS"), "{e}");

    // An address listed literally is still reachable, and gets exactly the request.
    let (status, doc) =
        send(&s, &s.token, &json!({"method": "POST", "url": format!("http://127.0.0.1:{}/ok", literal.port)}));
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["status"], 201);
    let seen = literal.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].starts_with("POST /ok HTTP/1.1"), "{}", seen[0]);

    // Every attempt is audited, without the URL's credentials.
    let records: Vec<Value> = s.audit(&s.token).into_iter().filter(|r| r["action"] == "webhook.send").collect();
    assert!(records.len() > refused.len() * 3, "{records:?}");
    assert!(records.iter().all(|r| !r["target"].as_str().unwrap().contains("pw")), "{records:?}");
}

#[test]
fn a_bad_allow_list_entry_is_refused_by_name() {
    let t = LocalTresor::new().with_env("TRESOR_WEBHOOK_ALLOW_HOSTS", "hooks.example.com, http://x.example.com/");
    let request = json!({"method": "GET", "url": "https://hooks.example.com/"}).to_string();
    let err = t.run_stdin(&["webhook", "send", "-"], request.as_bytes()).fails(2, "TRESOR_WEBHOOK_ALLOW_HOSTS");
    assert!(err.contains("\"http://x.example.com/\"") && err.contains("HOST:PORT"), "{err}");
}

#[test]
fn sending_a_webhook_needs_the_webhook_grant_on_its_environment() {
    let hook = Receiver::start();
    let s = Server::allowing_webhooks_to(hook.port);
    let admin = s.token.clone();
    let (status, doc) = s.call(
        "PUT",
        "/api/v1/envs/default/vaults/default/entries/hook-token",
        Some(&admin),
        Some(json!({"value": "Bearer grant-secret-5150"})),
    );
    assert!(status == 200 || status == 201, "{doc}");
    let url = format!("http://127.0.0.1:{}/notify", hook.port);
    let plain = json!({"method": "POST", "url": url, "body": "ping"});
    let with_ref =
        json!({"method": "POST", "url": url, "headers": {"Authorization": {"vault": "default", "key": "hook-token"}}});

    let nobody = principal(&s, "app:nobody", &[]);
    let reader = principal(&s, "app:reader", &[("*", "read")]);
    let manager = principal(&s, "user:manager", &[("*", "manage"), ("*", "write")]);
    let elsewhere = principal(&s, "app:elsewhere", &[("prod", "webhook"), ("*", "read")]);
    let narrow = principal(&s, "app:narrow", &[("default/default/*", "webhook"), ("*", "read")]);
    for (who, token) in [
        ("nobody", &nobody),
        ("reader", &reader),
        ("manager", &manager),
        ("elsewhere", &elsewhere),
        ("narrow", &narrow),
    ] {
        for request in [&plain, &with_ref] {
            let (status, doc) = send(&s, token, request);
            assert_eq!(status, 403, "{who}: {doc}");
            let e = doc["error"].as_str().unwrap();
            assert!(e.contains("webhook access") && e.contains("environment default"), "{who}: {e}");
        }
    }
    // Through the CLI: the refusal's exit code.
    s.cli(&reader, &["webhook", "send", "-"], plain.to_string().as_bytes()).fails(DENIED, "webhook access");
    assert!(hook.seen.lock().unwrap().is_empty(), "refused calls never left tresor");

    // `webhook` on the environment sends; references still need read.
    let sender = principal(&s, "app:sender", &[("default", "webhook")]);
    let (status, doc) = send(&s, &sender, &plain);
    assert_eq!(status, 200, "{doc}");
    let (status, doc) = send(&s, &sender, &with_ref);
    assert_eq!(status, 403, "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("may not read"), "{doc}");
    let both = principal(&s, "app:both", &[("*", "webhook"), ("default/default/hook-token", "read")]);
    let (status, doc) = send(&s, &both, &with_ref);
    assert_eq!(status, 200, "{doc}");
    assert!(!doc.to_string().contains("grant-secret-5150"), "{doc}");
    // Admin is everything but read: it sends, but does not resolve references.
    let ops = principal(&s, "user:ops", &[("*", "admin")]);
    assert_eq!(send(&s, &ops, &plain).0, 200);
    assert_eq!(send(&s, &ops, &with_ref).0, 403);
    assert_eq!(hook.seen.lock().unwrap().len(), 3);

    // The CLI and the declarative config know the access level.
    s.cli(&admin, &["principal", "create", "app:cli"], b"").ok();
    let out = s.cli(&admin, &["grant", "add", "app:cli", "default", "webhook"], b"").ok();
    assert!(out.contains("webhook"), "{out}");
    let help = s.cli(&admin, &["grant", "add", "--help"], b"").ok();
    assert!(help.contains("webhook"), "{help}");

    // The refusals are audited.
    let denied: Vec<String> = s
        .audit(&s.token)
        .into_iter()
        .filter(|r| r["action"] == "webhook.send" && r["outcome"] == "denied")
        .map(|r| r["principal"].as_str().unwrap().to_owned())
        .collect();
    // Two API calls each, and the reader's CLI call.
    for (who, count) in
        [("app:nobody", 2), ("app:reader", 3), ("user:manager", 2), ("app:elsewhere", 2), ("app:narrow", 2)]
    {
        let by = |p: &&String| p.starts_with(&format!("{who} "));
        assert_eq!(denied.iter().filter(by).count(), count, "{who}: {denied:?}");
    }
    assert!(!s.log_text().contains("grant-secret-5150"));
}

#[test]
fn webhook_header_values_are_checked_and_never_echoed() {
    let hook = Receiver::start();
    let s = Server::allowing_webhooks_to(hook.port);
    let t = s.token.clone();
    let values = [
        ("multi-line", "nl-secret-4242\r\nX-Forged: tresor-log-forgery"),
        ("control", "ctl-secret-\u{1}-7777"),
        ("non-ascii", "nonascii-secret-\u{e9}-3131"),
        ("nul", "nul-secret-\u{0}-9090"),
    ];
    for (key, value) in values {
        let (status, doc) = s.call(
            "PUT",
            &format!("/api/v1/envs/default/vaults/default/entries/{key}"),
            Some(&t),
            Some(json!({"value": value})),
        );
        assert!(status == 200 || status == 201, "{doc}");
    }
    let url = format!("http://127.0.0.1:{}/h", hook.port);
    let mut answers = String::new();
    for (key, _) in values {
        let request = json!({"method": "POST", "url": url, "headers": {"X-Api-Key": {"vault": "default", "key": key}}});
        let (status, doc) = send(&s, &t, &request);
        assert_eq!(status, 400, "{key}: {doc}");
        let e = doc["error"].as_str().unwrap();
        assert!(e.contains("X-Api-Key") && e.contains(&format!("default/{key}")), "{key}: {e}");
        answers.push_str(&doc.to_string());
        // The CLI says the same, and exits as for a usage error.
        let r = s.cli(&t, &["webhook", "send", "-"], request.to_string().as_bytes());
        assert_eq!(r.code, 2, "{key}: {}", r.stderr);
        answers.push_str(&r.stderr);
        answers.push_str(&r.stdout);
    }
    // A literal value and a header name are checked too.
    let (status, doc) = send(&s, &t, &json!({"method": "GET", "url": url, "headers": {"X-Plain": "a\nb"}}));
    assert_eq!(status, 400, "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("X-Plain"), "{doc}");
    let (status, doc) = send(&s, &t, &json!({"method": "GET", "url": url, "headers": {"Bad Name": "x"}}));
    assert_eq!(status, 400, "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("header name"), "{doc}");
    assert!(hook.seen.lock().unwrap().is_empty(), "nothing was sent: {:?}", hook.seen.lock().unwrap());

    let log = s.log_text();
    for (_, value) in values {
        let marker = &value[..value.find('-').unwrap() + 8];
        assert!(!answers.contains(marker), "{marker} answered: {answers}");
        assert!(!log.contains(marker), "{marker} logged: {log}");
    }
    assert!(!log.contains("tresor-log-forgery") && !answers.contains("tresor-log-forgery"));
}

/// A destination that answers with the Authorization header it got, hex-encoded in lower case in
/// the body and in upper case in the body and an `X-Hex` header.
struct HexEcho {
    port: u16,
    calls: Arc<Mutex<usize>>,
}

impl HexEcho {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let calls = Arc::new(Mutex::new(0));
        let counter = calls.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut auth = String::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("authorization") {
                            auth = value.trim().to_owned();
                        }
                    }
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                }
                *counter.lock().unwrap() += 1;
                let (lower, upper) = (hex(auth.as_bytes(), false), hex(auth.as_bytes(), true));
                let body = format!("lower={lower}\nupper={upper}\n");
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Hex: {upper}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
        });
        Self { port, calls }
    }
}

#[test]
fn hex_encoded_values_are_masked_in_webhook_answers_and_by_tresor_redact() {
    let hook = HexEcho::start();
    let s = Server::allowing_webhooks_to(hook.port);
    let t = s.token.clone();
    let value = "hex-secret-Zk81";
    let (status, doc) =
        s.call("PUT", "/api/v1/envs/default/vaults/default/entries/api-key", Some(&t), Some(json!({"value": value})));
    assert!(status == 200 || status == 201, "{doc}");
    let (lower, upper) = (hex(value.as_bytes(), false), hex(value.as_bytes(), true));
    let request = json!({
        "method": "GET",
        "url": format!("http://127.0.0.1:{}/", hook.port),
        "headers": {"Authorization": {"vault": "default", "key": "api-key"}}
    });
    let (status, doc) = send(&s, &t, &request);
    assert_eq!(status, 200, "{doc}");
    assert_eq!(*hook.calls.lock().unwrap(), 1);
    let body = doc["body"].as_str().unwrap();
    assert!(body.contains("lower=[REDACTED]\nupper=[REDACTED]\n"), "{body}");
    assert_eq!(doc["headers"]["x-hex"], "[REDACTED]", "{doc}");
    let text = doc.to_string();
    assert!(!text.contains(&lower) && !text.contains(&upper) && !text.contains(value), "{text}");

    // `tresor redact` masks hex too.
    let input = format!("a {lower} b {upper} c {value}\n");
    let out = s.cli(&t, &["redact"], input.as_bytes()).ok();
    assert_eq!(out, "a [REDACTED] b [REDACTED] c [REDACTED]\n");
    let log = s.log_text();
    assert!(!log.contains(value) && !log.contains(&lower) && !log.contains(&upper));
}

/// A destination that answers with a redirect does not get tresor to send the request (and the
/// resolved header values) somewhere else: the 3xx is handed back as the answer.
#[test]
fn webhook_redirects_are_not_followed() {
    let hook = Receiver::start();
    let redirector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let redirector_port = redirector.local_addr().unwrap().port();
    let target = format!("http://127.0.0.1:{}/stolen", hook.port);
    let redirects = Arc::new(Mutex::new(0));
    let counted = redirects.clone();
    std::thread::spawn(move || {
        for stream in redirector.incoming() {
            let mut stream = stream.unwrap();
            stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            *counted.lock().unwrap() += 1;
            write!(stream, "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
        }
    });
    let allow = format!("127.0.0.1:{},127.0.0.1:{redirector_port}", hook.port);
    let s = Server::start(&[("TRESOR_WEBHOOK_ALLOW_HOSTS", &allow)]);
    let t = s.token.clone();
    let stored = json!({"value": "Bearer redirect-SECRET-9"});
    assert_eq!(s.call("PUT", "/api/v1/envs/default/vaults/default/entries/hook-token", Some(&t), Some(stored)).0, 200);
    let request = json!({
        "method": "POST",
        "url": format!("http://127.0.0.1:{redirector_port}/notify"),
        "headers": {"Authorization": {"vault": "default", "key": "hook-token"}},
        "body": "ping",
    });
    let (status, doc) = send(&s, &t, &request);
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["status"], 307, "the redirect is the answer: {doc}");
    assert_eq!(*redirects.lock().unwrap(), 1, "the destination was called once");
    assert!(hook.seen.lock().unwrap().is_empty(), "the redirect was followed: {:?}", hook.seen.lock().unwrap());
    assert!(!s.log_text().contains("redirect-SECRET-9"), "a value reached the server log");
}
