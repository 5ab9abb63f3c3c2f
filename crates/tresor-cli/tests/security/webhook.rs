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

fn send(s: &Server, token: &str, request: &Value) -> (u16, Value) {
    s.call("POST", "/api/v1/webhooks/send", Some(token), Some(request.clone()))
}

fn hex(bytes: &[u8], upper: bool) -> String {
    bytes.iter().map(|b| if upper { format!("{b:02X}") } else { format!("{b:02x}") }).collect()
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
    let allow = format!("127.0.0.1:{}", hook.port);
    let s = Server::start(&[("TRESOR_WEBHOOK_ALLOW_HOSTS", &allow)]);
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
