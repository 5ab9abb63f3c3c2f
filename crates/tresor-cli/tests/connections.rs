//! Slow, idle and hostile clients (`--header-timeout-secs`, `--idle-timeout-secs`,
//! `--max-connections`, `--max-header-bytes`): they are closed, refused or answered 431, and a
//! user's commands are answered meanwhile. Plain std sockets play the hostile clients; the
//! timeouts are set short by flags, and every wait has a deadline of many seconds, so nothing
//! here depends on the machine's speed.

use crate::common;
use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What a hostile client must have seen long before this.
const DEADLINE: Duration = Duration::from_secs(30);

/// `tresor init`, then `tresor serve ARGS...`.
fn serve_with(args: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let out = common::tresor().args(["init", "--json", "--data-dir"]).arg(dir.path().join("data")).output().unwrap();
    assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = doc["admin_token"].as_str().unwrap().to_owned();
    Server::serve(dir, token, &[("TRESOR_RATE_MANAGEMENT", "0")], args)
}

fn connect(s: &Server) -> TcpStream {
    let stream = TcpStream::connect(s.addr.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    stream
}

/// What the server did to a connection.
#[derive(Debug, PartialEq)]
enum Ended {
    /// Closed it (end of stream or reset) having answered these bytes (maybe none).
    Closed(String),
    /// It is still open at the deadline.
    Open,
}

/// Waits (up to [`DEADLINE`]) for the server to close `stream`, calling `tick` about once a
/// second meanwhile (a slowloris client sends its next byte there); what it answered before.
fn until_closed(stream: &mut TcpStream, mut tick: impl FnMut(&mut TcpStream) -> std::io::Result<()>) -> Ended {
    let start = Instant::now();
    let mut answered = Vec::new();
    let mut last_tick = Instant::now();
    while start.elapsed() < DEADLINE {
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => return Ended::Closed(String::from_utf8_lossy(&answered).into_owned()),
            Ok(n) => answered.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Ended::Closed(String::from_utf8_lossy(&answered).into_owned()),
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            if tick(stream).is_err() {
                return Ended::Closed(String::from_utf8_lossy(&answered).into_owned());
            }
        }
    }
    Ended::Open
}

/// Connections that send their request a byte a second (slowloris) are closed by the header
/// timeout without an answer, however they keep sending; a user's `set` and `get` are answered
/// while they are open, and the value stays out of the log.
#[test]
fn slowloris_connections_are_closed_and_others_are_answered_meanwhile() {
    let s = serve_with(&["--header-timeout-secs", "2", "--idle-timeout-secs", "60"]);
    let request =
        b"GET /healthz HTTP/1.1\r\nHost: tresor\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let slow: Vec<_> = (0..20)
        .map(|_| {
            let mut stream = connect(&s);
            stream.write_all(&request[..1]).unwrap();
            stream
        })
        .collect();
    // Meanwhile a user's commands are answered.
    s.cli(&s.token, &["set", "db/password"], b"slowloris-meanwhile-value").ok();
    assert_eq!(s.cli(&s.token, &["get", "db/password"], b"").ok().trim(), "slowloris-meanwhile-value");
    let handles: Vec<_> = slow
        .into_iter()
        .map(|mut stream| {
            std::thread::spawn(move || {
                let mut sent = 1;
                until_closed(&mut stream, |stream| {
                    sent = (sent + 1).min(request.len());
                    stream.write_all(&request[sent - 1..sent])
                })
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), Ended::Closed(String::new()), "a slowloris connection is closed unanswered");
    }
    // The server still answers, and never logged the value.
    assert_eq!(s.cli(&s.token, &["get", "db/password"], b"").ok().trim(), "slowloris-meanwhile-value");
    assert!(!s.log_text().contains("slowloris-meanwhile-value"));
}

/// 200 connections that send nothing, against `--max-connections 50`: the first 50 take the
/// slots and are closed by the header timeout; the rest are refused at once with a 429 that
/// says why and when to retry (`Retry-After`), and closed. A user's `get` made while every
/// slot is taken waits out the 429 (as the CLI waits out any 429) and is answered once the
/// silent connections are gone. `/metrics` counts the refusals.
#[test]
fn idle_connections_beyond_the_limit_are_refused_and_a_user_is_answered_once_they_time_out() {
    let s = serve_with(&["--max-connections", "50", "--header-timeout-secs", "3"]);
    s.cli(&s.token, &["set", "db/password"], b"idle-flood-value").ok();
    // Once the server has seen that command's connection end, the only one open is the one
    // asking: all 50 slots are free for the flood.
    wait_for("the CLI's connection to end", DEADLINE, || metric(&s, "tresor_connections_open") == 1);
    let mut idle: Vec<_> = (0..200).map(|_| connect(&s)).collect();
    // A user's command while the slots are taken (or being freed): answered in the end.
    let user = {
        let (addr, token) = (s.addr.clone(), s.token.clone());
        std::thread::spawn(move || {
            common::tresor()
                .args(["get", "db/password"])
                .env("TRESOR_ADDR", addr)
                .env("TRESOR_TOKEN", token)
                .output()
                .unwrap()
        })
    };
    let ended: Vec<Ended> = idle.iter_mut().map(|stream| until_closed(stream, |_| Ok(()))).collect();
    assert!(!ended.contains(&Ended::Open), "every idle connection is closed: {ended:?}");
    let refused: Vec<&String> =
        ended.iter().filter_map(|e| if let Ended::Closed(answer) = e { Some(answer) } else { None }).collect();
    let (refused, timed_out): (Vec<&String>, Vec<&String>) = refused.into_iter().partition(|a| !a.is_empty());
    assert!(timed_out.len() >= 50, "the first 50 are admitted, then closed unanswered: {}", timed_out.len());
    assert!(!refused.is_empty(), "connections beyond the limit are refused");
    for answer in &refused {
        let http = parse_http(answer);
        assert_eq!(http.status, 429, "{answer}");
        assert_eq!(http.header("retry-after"), Some("1"), "{answer}");
        let doc = http.json();
        assert_eq!(doc["kind"], "rate_limited", "{answer}");
        assert!(doc["error"].as_str().unwrap().contains("all its 50 connections"), "{answer}");
    }
    let out = user.join().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "idle-flood-value");
    // The refusals are counted, beside the slots there are.
    assert_eq!(metric(&s, "tresor_connections_max"), 50);
    assert!(metric(&s, "tresor_connections_refused_total") >= refused.len() as u64);
    let log = s.log_text();
    assert!(log.contains("refusing connections: every connection slot is taken"), "{log}");
    assert!(!log.contains("idle-flood-value"));
}

/// The value of an unlabelled metric in `/metrics`.
fn metric(s: &Server, name: &str) -> u64 {
    let text = ureq::get(&format!("{}/metrics", s.addr)).call().unwrap().into_string().unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}: {text}"));
    line[name.len()..].trim().parse().unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// A request whose line and headers pass `--max-header-bytes` is answered 431 and its
/// connection closed; one just within is served, as is the next client.
#[test]
fn oversized_headers_are_answered_431() {
    let s = serve_with(&["--max-header-bytes", "8192"]);
    let request = |padding: usize| {
        let mut stream = connect(&s);
        let head = format!(
            "GET /api/v1/whoami HTTP/1.1\r\nHost: tresor\r\nAuthorization: Bearer {}\r\nX-Padding: {}\r\n\r\n",
            s.token,
            "a".repeat(padding)
        );
        // The server may answer and close before it has read all of a large head.
        let _ = stream.write_all(head.as_bytes());
        until_closed_or_answered(&mut stream)
    };
    let too_large = request(20_000);
    assert!(too_large.starts_with("HTTP/1.1 431 "), "{too_large}");
    let within = request(4_000);
    assert!(within.starts_with("HTTP/1.1 200 "), "{within}");
    assert!(within.contains("user:owner"), "{within}");
}

/// The bytes of the first answer on `stream` (its head and as much body as arrived with it), or
/// what was read when the server closed it.
fn until_closed_or_answered(stream: &mut TcpStream) -> String {
    let start = Instant::now();
    let mut answered = Vec::new();
    while start.elapsed() < DEADLINE {
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answered.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&answered);
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if answered.len() >= head_end + 4 + length {
                        break;
                    }
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&answered).into_owned()
}

/// A connection whose request body stops arriving is cut by the idle timeout (the header
/// timeout is over once the head is in): the handler reading the body (Conductor's token
/// exchange) fails with 400 and the connection is closed.
#[test]
fn a_request_body_that_stops_arriving_is_cut_by_the_idle_timeout() {
    let s = serve_with(&["--idle-timeout-secs", "2", "--header-timeout-secs", "60"]);
    let mut stream = connect(&s);
    let head = "POST /api/token HTTP/1.1\r\nHost: tresor\r\nContent-Type: application/json\r\n\
                Content-Length: 1000\r\n\r\n{\"keyId\":";
    stream.write_all(head.as_bytes()).unwrap();
    let Ended::Closed(answer) = until_closed(&mut stream, |_| Ok(())) else {
        panic!("a stalled body keeps its connection open");
    };
    assert!(answer.starts_with("HTTP/1.1 400 ") && answer.contains("request body"), "{answer}");
    assert_eq!(s.ready(), 200, "the server still answers");
}
