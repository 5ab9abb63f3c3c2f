//! The server end to end: `tresor init` and `tresor serve` on a loopback port, driven over HTTP and
//! through the CLI binary, as a platform team would.

use crate::common;
use common::*;
use serde_json::json;

fn entry(key: &str) -> String {
    format!("/api/v1/envs/default/vaults/default/entries/{key}")
}

fn value(key: &str) -> String {
    format!("/api/v1/envs/default/vaults/default/values/{key}")
}

/// PUTs `body` to the entry `key` as the admin, asserting 200; the answer.
fn put_ok(s: &Server, key: &str, body: serde_json::Value) -> serde_json::Value {
    let (status, doc) = s.call("PUT", &entry(key), Some(&s.token), Some(body));
    assert_eq!(status, 200, "{doc}");
    doc
}

#[test]
fn entries_over_http_with_versions_and_batch_resolution() {
    let s = Server::start(&[]);
    let t = Some(s.token.as_str());
    let doc = put_ok(&s, "db/password", json!({"value": "pw-one"}));
    assert_eq!(doc["version"], 1);
    assert!(doc.get("value").is_none(), "a management answer never carries a secret value");
    s.call("PUT", &entry("db/password"), t, Some(json!({"value": "pw-two"})));
    // Check-and-set.
    let (status, doc) = s.call("PUT", &entry("db/password"), t, Some(json!({"value": "x", "expected_version": 1})));
    assert_eq!(status, 409, "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("at version 2, not 1"));
    // Resolution, current and old versions.
    assert_eq!(s.call("GET", &value("db/password"), t, None).1["value"], "pw-two");
    assert_eq!(s.call("GET", &format!("{}?version=1", value("db/password")), t, None).1["value"], "pw-one");
    let (_, versions) = s.call("GET", "/api/v1/envs/default/vaults/default/versions/db/password", t, None);
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);
    let (status, _) =
        s.call("POST", "/api/v1/envs/default/vaults/default/restore/db/password", t, Some(json!({"version": 1})));
    assert_eq!(status, 200);
    assert_eq!(s.call("GET", &value("db/password"), t, None).1["value"], "pw-one");
    // Variables show their value in listings; secrets do not.
    s.call("PUT", &entry("config/url"), t, Some(json!({"value": "https://x", "kind": "variable"})));
    let (_, list) = s.call("GET", "/api/v1/envs/default/vaults/default/entries?limit=1", t, None);
    assert_eq!(list["entries"].as_array().unwrap().len(), 1);
    assert_eq!(list["entries"][0]["value"], "https://x");
    let after = list["next_after"].as_str().unwrap();
    let (_, page2) = s.call("GET", &format!("/api/v1/envs/default/vaults/default/entries?after={after}"), t, None);
    assert_eq!(page2["entries"][0]["key"], "db/password");
    assert!(page2["entries"][0].get("value").is_none());
    // Batch resolution: one call, many names.
    let (status, batch) =
        s.call("POST", "/api/v1/resolve", t, Some(json!({"keys": ["db/password", "config/url", "nope"]})));
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch["values"]["db/password"], "pw-one");
    assert_eq!(batch["values"]["config/url"], "https://x");
    assert_eq!(batch["missing"], json!(["nope"]));
    // Soft delete, undelete, purge.
    assert_eq!(s.call("DELETE", &entry("db/password"), t, None).0, 204);
    assert_eq!(s.call("GET", &value("db/password"), t, None).0, 404);
    assert_eq!(s.call("POST", "/api/v1/envs/default/vaults/default/undelete/db/password", t, None).0, 200);
    assert_eq!(s.call("DELETE", &format!("{}?purge=true", entry("db/password")), t, None).0, 204);
    assert_eq!(s.call("POST", "/api/v1/envs/default/vaults/default/undelete/db/password", t, None).0, 404);
}

#[test]
fn each_access_level_and_its_denied_case() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let admin = Some(s.token.as_str());
    assert_eq!(s.call("POST", "/api/v1/envs/default/vaults", admin, Some(json!({"name": "api-keys"}))).0, 201);
    s.call("PUT", "/api/v1/envs/default/vaults/api-keys/entries/stripe", admin, Some(json!({"value": "sk_live_x"})));
    s.call("PUT", &entry("db/pw"), admin, Some(json!({"value": "db-pw"})));
    let reader = principal(&s, "app:reader", &[("default/api-keys/*", "read")]);
    let writer = principal(&s, "app:writer", &[("default/api-keys/*", "write")]);
    let manager = principal(&s, "user:manager", &[("*", "manage")]);
    let admin2 = principal(&s, "user:admin2", &[("*", "admin")]);
    let prefix = principal(&s, "app:prefix", &[("default/default/db/*", "read")]);
    let stripe = "/api/v1/envs/default/vaults/api-keys/values/stripe";
    let stripe_entry = "/api/v1/envs/default/vaults/api-keys/entries/stripe";

    // read
    assert_eq!(s.call("GET", stripe, Some(&reader), None).1["value"], "sk_live_x");
    let (status, doc) = s.call("GET", &value("db/pw"), Some(&reader), None);
    assert_eq!(status, 403, "a token limited to a vault is denied outside it");
    assert!(doc["error"].as_str().unwrap().contains("lacks read access"), "{doc}");
    assert_eq!(s.call("PUT", stripe_entry, Some(&reader), Some(json!({"value": "x"}))).0, 403);
    // write
    assert_eq!(s.call("PUT", stripe_entry, Some(&writer), Some(json!({"value": "sk_new"}))).0, 200);
    assert_eq!(s.call("GET", stripe, Some(&writer), None).0, 403, "write does not read");
    assert_eq!(s.call("POST", "/api/v1/principals", Some(&writer), Some(json!({"principal": "app:x"}))).0, 403);
    // manage
    assert_eq!(s.call("POST", "/api/v1/principals", Some(&manager), Some(json!({"principal": "app:x"}))).0, 201);
    assert_eq!(s.call("GET", stripe, Some(&manager), None).0, 403, "managing is not reading");
    assert_eq!(s.call("PUT", stripe_entry, Some(&manager), Some(json!({"value": "x"}))).0, 403);
    // admin
    assert_eq!(s.call("PUT", stripe_entry, Some(&admin2), Some(json!({"value": "sk_admin"}))).0, 200);
    assert_eq!(s.call("GET", "/api/v1/grants", Some(&admin2), None).0, 200);
    let (status, doc) = s.call("GET", stripe, Some(&admin2), None);
    assert_eq!(status, 403, "an admin token does not see values without a read grant: {doc}");
    // Listing: a variable's value is visible to whoever may list it, a secret's never.
    let region = json!({"value": "eu-west-1", "kind": "variable"});
    assert_eq!(s.call("PUT", "/api/v1/envs/default/vaults/api-keys/entries/region", admin, Some(region)).0, 200);
    let (_, listed) = s.call("GET", "/api/v1/envs/default/vaults/api-keys/entries", Some(&admin2), None);
    let values: Vec<(&str, Option<&str>)> = listed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["key"].as_str().unwrap(), e.get("value").and_then(|v| v.as_str())))
        .collect();
    assert_eq!(values, [("region", Some("eu-west-1")), ("stripe", None)], "{listed}");
    // key prefix
    assert_eq!(s.call("GET", &value("db/pw"), Some(&prefix), None).1["value"], "db-pw");
    assert_eq!(s.call("GET", stripe, Some(&prefix), None).0, 403);
    // the bootstrap token reads everything
    assert_eq!(s.call("GET", stripe, admin, None).1["value"], "sk_admin");

    // Revocation applies to the very next request.
    let (_, tokens) = s.call("GET", "/api/v1/tokens", admin, None);
    let id = tokens["tokens"].as_array().unwrap().iter().find(|t| t["principal"] == "app:reader").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(s.call("DELETE", &format!("/api/v1/tokens/{id}"), admin, None).0, 204);
    let (status, doc) = s.call("GET", stripe, Some(&reader), None);
    assert_eq!(status, 401);
    assert!(doc["error"].as_str().unwrap().contains("revoked"));
    // Expired and garbage tokens.
    let (_, short) = s.call(
        "POST",
        "/api/v1/tokens",
        admin,
        Some(json!({"principal": "app:writer", "name": "s", "ttl_seconds": 0})),
    );
    assert_eq!(s.call("GET", "/api/v1/whoami", short["token"].as_str(), None).0, 401);
    assert_eq!(s.call("GET", "/api/v1/whoami", Some("tsr_nonsense"), None).0, 401);
    assert_eq!(s.call("GET", "/api/v1/whoami", None, None).0, 401);
}

#[test]
fn bad_input_gets_clear_json_errors_and_nothing_is_echoed() {
    let s = Server::start(&[
        ("TRESOR_MAX_VALUE_BYTES", "16"),
        ("TRESOR_MAX_ENTRIES", "2"),
        // Per hour, so that the budget spent below cannot come back while the test runs.
        ("TRESOR_RATE_MANAGEMENT", "3/h"),
    ]);
    let t = Some(s.token.as_str());
    let (status, doc) = s.call("PUT", &entry("big"), t, Some(json!({"value": "x-secret-too-long-value"})));
    assert_eq!(status, 413);
    let msg = doc["error"].as_str().unwrap();
    assert!(msg.contains("23 bytes; the limit is 16 bytes") && !msg.contains("x-secret"), "{msg}");
    let (status, doc) = s.call("PUT", &entry("bad..key"), t, Some(json!({"value": "v"})));
    assert_eq!(status, 400);
    assert!(doc["error"].as_str().unwrap().contains("'..' is not allowed"));
    let (status, doc) = s.call("PUT", &entry("k"), t, Some(json!({"valu": "typo-secret"})));
    assert_eq!(status, 400, "{doc}");
    assert!(!doc["error"].as_str().unwrap().contains("typo-secret"));
    let (status, doc) = s.call("PUT", &entry("k"), t, Some(json!({})));
    assert_eq!(status, 400);
    assert!(doc["error"].as_str().unwrap().contains("needs a value"));
    // Not JSON at all.
    let resp = ureq::put(&format!("{}{}", s.addr, entry("k")))
        .set("Authorization", &format!("Bearer {}", s.token))
        .set("Content-Type", "application/json")
        .send_string("{not json, my-secret");
    let (status, body) = match resp {
        Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap()),
        other => panic!("{other:?}"),
    };
    assert_eq!(status, 400);
    assert!(body.contains("not valid JSON") && !body.contains("my-secret"), "{body}");
    // Every error names its kind, for programs to branch on rather than on a status or a message.
    let (status, doc) = s.call("GET", &value("missing"), t, None);
    assert_eq!((status, &doc["kind"]), (404, &json!("not_found")), "{doc}");
    assert_eq!(s.call("GET", "/api/v1/no/such/route", t, None).0, 404);
    let (status, doc) = s.call("PUT", &entry("k"), t, Some(json!({})));
    assert_eq!((status, &doc["kind"]), (400, &json!("invalid")), "{doc}");
    // Entry limit: a quota, not a missing right.
    s.call("PUT", &entry("a"), t, Some(json!({"value": "1"})));
    s.call("PUT", &entry("b"), t, Some(json!({"value": "1"})));
    let (status, doc) = s.call("PUT", &entry("c"), t, Some(json!({"value": "1"})));
    assert_eq!((status, &doc["kind"]), (403, &json!("limit")), "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("already holds 2 entries"));
    // Rate limit on management routes: 3/h here, so the fourth management request is refused.
    let mut limited = None;
    for _ in 0..4 {
        let resp =
            ureq::get(&format!("{}/api/v1/grants", s.addr)).set("Authorization", &format!("Bearer {}", s.token)).call();
        if let Err(ureq::Error::Status(429, r)) = resp {
            limited = Some((r.header("retry-after").map(str::to_owned), r.into_string().unwrap()));
            break;
        }
    }
    let (retry_after, body) = limited.expect("the management rate limit was never reached");
    assert!(retry_after.unwrap().parse::<u64>().unwrap() >= 1);
    assert!(body.contains("3 requests/h per token for management routes"), "{body}");
    // Entry routes are unlimited by default.
    for _ in 0..30 {
        assert_eq!(s.call("GET", &value("a"), t, None).0, 200);
    }
}

#[test]
fn the_cli_drives_the_server_and_the_audit_log_catches_tampering() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let t = s.token.clone();
    s.cli(&t, &["vault", "create", "api-keys"], b"").ok();
    s.cli(&t, &["set", "--vault", "api-keys", "stripe-secret-key"], b"sk_live_cli\n").ok();
    s.cli(&t, &["set", "--var", "config/max_retries", "5"], b"").ok();
    assert_eq!(s.cli(&t, &["--vault", "api-keys", "get", "stripe-secret-key"], b"").ok(), "sk_live_cli");
    let ls = s.cli(&t, &["ls", "--json"], b"").json();
    assert_eq!(ls[0]["value"], "5");
    s.cli(&t, &["--vault", "api-keys", "set", "stripe-secret-key"], b"sk_live_2").ok();
    assert_eq!(
        s.cli(&t, &["--vault", "api-keys", "history", "stripe-secret-key", "--json"], b"")
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.cli(&t, &["--vault", "api-keys", "get", "stripe-secret-key", "--version", "1"], b"").ok(),
        "sk_live_cli"
    );
    s.cli(&t, &["get", "nope"], b"").fails(3, "does not exist");
    s.cli(&t, &["set", "a//b"], b"v").fails(2, "empty segment");
    // Principals, grants and tokens from the CLI.
    s.cli(&t, &["principal", "create", "app:orkes-workers"], b"").ok();
    s.cli(&t, &["grant", "add", "app:orkes-workers", "default/api-keys/*", "read"], b"").ok();
    let token = s.cli(&t, &["token", "create", "app:orkes-workers", "--json"], b"").json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(s.cli(&token, &["--vault", "api-keys", "get", "stripe-secret-key"], b"").ok(), "sk_live_2");
    s.cli(&token, &["get", "config/max_retries"], b"").fails(4, "lacks read access");
    s.cli(&token, &["--vault", "api-keys", "set", "x"], b"v").fails(4, "lacks write access");
    assert!(s.cli(&token, &["whoami"], b"").ok().contains("app:orkes-workers"));

    // The audit log has the writes, reads and the denial, and verifies.
    let log = s.cli(&t, &["audit", "ls", "--json", "--since", "1h"], b"").json();
    let actions: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["action"].as_str().unwrap().to_owned(), r["outcome"].as_str().unwrap().to_owned()))
        .collect();
    for want in [
        ("entry.write", "ok"),
        ("entry.read", "ok"),
        ("entry.read", "denied"),
        ("grant.create", "ok"),
        ("token.create", "ok"),
    ] {
        assert!(actions.iter().any(|(a, o)| (a.as_str(), o.as_str()) == want), "missing {want:?} in {actions:?}");
    }
    assert!(!log.to_string().contains("sk_live"), "the audit log never holds values");
    assert!(s.cli(&t, &["audit", "verify"], b"").ok().contains("every chain verified"));

    // Tamper with the store underneath the running server.
    let db = s.data_dir().join("tresor.db");
    let sql = |q: &str| {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()"])
            .arg(&db)
            .arg(q)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    sql("UPDATE audit_log SET outcome = 'ok' WHERE outcome = 'denied'");
    let r = s.cli(&t, &["audit", "verify"], b"");
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("was altered"), "{}", r.stderr);
    sql("DELETE FROM audit_log WHERE seq = 5");
    let r = s.cli(&t, &["audit", "verify", "--json"], b"");
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains(" to ") && r.stdout.contains("of chain") && r.stdout.contains("are missing"),
        "{}",
        r.stdout
    );
    // Wiping the whole log does not restart the chain: the server's records continue its chain
    // from where it stood, so the wiped ones show as missing.
    sql("DELETE FROM audit_log");
    s.cli(&t, &["ls"], b"").ok();
    let r = s.cli(&t, &["audit", "verify", "--json"], b"");
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("are missing"), "{}", r.stdout);
}

#[test]
fn values_never_reach_logs_metrics_or_the_data_dir() {
    let mut s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let t = Some(s.token.as_str());
    let secrets = ["sk_live_LOGCHECK_1", "pg-password-LOGCHECK-2", "tok%2FLOGCHECK+3"];
    for (i, v) in secrets.iter().enumerate() {
        let key = format!("very-unique-key-name-{i}");
        assert_eq!(s.call("PUT", &entry(&key), t, Some(json!({"value": v}))).0, 200);
        assert_eq!(s.call("GET", &value(&key), t, None).1["value"], *v);
        s.cli(&s.token, &["get", &key], b"").ok();
        // The requests that carry values reach their handlers (and are refused there), so the
        // log check below covers the paths that could log them.
        assert_eq!(s.call("PUT", &entry(&key), t, Some(json!({"value": v, "expected_version": 99}))).0, 409);
    }
    let (status, resolved) = s.call("POST", "/api/v1/resolve", t, Some(json!({"keys": ["very-unique-key-name-0"]})));
    assert_eq!((status, &resolved["values"]["very-unique-key-name-0"]), (200, &json!(secrets[0])));
    assert_eq!(s.call("PUT", &entry("too-big"), t, Some(json!({"value": "LOGCHECK".repeat(2000)}))).0, 413);
    // A value of the wrong type is refused without being echoed (serde quotes what it rejects).
    let (status, doc) = s.call("PUT", &entry("numeric"), t, Some(json!({"value": 987_654_321})));
    assert_eq!(status, 400);
    let error = doc["error"].as_str().unwrap();
    assert!(error.contains("invalid type: an integer, expected a string") && !error.contains("987654321"), "{error}");
    let metrics = ureq::get(&format!("{}/metrics", s.addr)).call().unwrap().into_string().unwrap();
    assert!(metrics.contains("tresor_http_requests_total"), "{metrics}");
    assert!(!metrics.contains("very-unique-key-name"), "metrics labels carry route templates, not keys");
    assert_eq!(ureq::get(&format!("{}/healthz", s.addr)).call().unwrap().status(), 200);
    assert_eq!(ureq::get(&format!("{}/readyz", s.addr)).call().unwrap().status(), 200);
    let (_, openapi) = s.call("GET", "/api/v1/openapi.json", None, None);
    assert!(openapi["paths"]["/api/v1/resolve"]["post"].is_object());
    assert!(openapi["paths"]["/api/v1/envs/{env}/vaults/{vault}/values/{key}"]["get"].is_object());

    // Graceful shutdown on SIGTERM.
    assert!(s.stop().success());
    let log = s.log_text();
    assert!(log.contains("DEBUG") && log.contains("answered"), "debug logging was on: {log}");
    assert!(log.contains("shutting down"));
    for v in secrets {
        assert!(!log.contains(v), "a stored value appears in the server log");
        assert_not_in_files(&s.data_dir(), v.as_bytes());
    }
    assert!(!log.contains(&s.token[17..]), "the token's secret appears in the server log");
}

#[test]
fn serve_without_flags_initialises_its_default_data_dir_once() {
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("server.log");
    // Port 0: the address comes from the server's log, so no other process can take the port.
    let start = || {
        let child = common::tresor()
            .arg("serve")
            .env("XDG_DATA_HOME", home.path())
            .env("HOME", home.path())
            .env("TRESOR_LISTEN", "127.0.0.1:0")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let addr = common::listening_addr(&log, std::time::Duration::from_secs(20)).expect("the server listens");
        (child, addr)
    };
    let stop = |child: std::process::Child| {
        std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let (first, _) = start();
    let out = stop(first);
    let token = out.lines().find(|l| l.starts_with("tsr_")).expect("the first start prints a token").to_owned();
    assert!(home.path().join("tresor-server").join("root.key").exists());
    let (second, addr) = start();
    let whoami = ureq::get(&format!("{addr}/api/v1/whoami"))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(whoami.contains("user:owner"));
    assert!(!stop(second).contains("tsr_"), "the token is printed once, on first start only");
}

#[test]
fn init_refuses_an_initialised_directory() {
    let s = Server::start(&[]);
    let out = common::tresor().args(["init", "--data-dir"]).arg(s.data_dir()).output().unwrap();
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

#[test]
fn tls_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (ca, cert, key) = (p("ca.pem"), p("cert.pem"), p("key.pem"));
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    // A private CA, and a server certificate it signs.
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=tresor-test-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-keyout",
        &p("ca.key"),
        "-out",
        &ca,
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &key,
        "-out",
        &p("req.csr"),
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("req.csr"),
        "-CA",
        &ca,
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &p("ext.cnf"),
        "-out",
        &cert,
    ]);
    let data = tempfile::tempdir().unwrap();
    let out = common::tresor().args(["init", "--json", "--data-dir"]).arg(data.path().join("data")).output().unwrap();
    let token =
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["admin_token"].as_str().unwrap().to_owned();
    let s = Server::serve(
        data,
        token.clone(),
        &[],
        &["--tls-cert", &cert, "--tls-key", &key, "--header-timeout-secs", "3"],
    );
    assert!(s.addr.starts_with("https://"));
    // A connection that never starts its handshake is closed by the header timeout (3 s here),
    // as a plain one that sends nothing is (e2e module `connections`).
    let mut silent = std::net::TcpStream::connect(s.addr.trim_start_matches("https://")).unwrap();
    silent.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 16];
    match std::io::Read::read(&mut silent, &mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("the server sent {n} bytes to a client that sent none"),
        Err(e) => assert!(
            !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            "a silent TLS connection is still open after 30 s"
        ),
    }
    // Only HTTP/1.1 is offered (the header timeout is HTTP/1's): a client asking for HTTP/2
    // gets HTTP/1.1.
    let version = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_version}", "--http2", "--cacert", &ca])
        .arg(format!("{}/healthz", s.addr))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&version.stdout), "1.1");
    let run = |extra: &[(&str, &str)]| {
        let mut cmd = common::tresor();
        cmd.args(["whoami"]).env("TRESOR_ADDR", &s.addr).env("TRESOR_TOKEN", &token);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let trusted = run(&[("TRESOR_CACERT", &ca)]);
    assert!(
        String::from_utf8_lossy(&trusted.stdout).contains("user:owner"),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let untrusted = run(&[]);
    // Without the CA the server's certificate is refused, and the error says it is about trust.
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert_eq!(untrusted.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("certificate") && stderr.contains("TRESOR_CACERT"), "an unknown CA is refused: {stderr}");
    // Under TLS the dashboard's session cookie is `Secure` (as well as HttpOnly and SameSite=Strict).
    let out = std::process::Command::new("curl")
        .args(["-s", "-i", "--cacert", &ca, "-H", &format!("Origin: {}", s.addr), "--data-urlencode", "token@-"])
        .arg(format!("{}/ui/login", s.addr))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(token.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    let answer = String::from_utf8_lossy(&out.stdout);
    let cookie = answer.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"));
    let cookie = cookie.unwrap_or_else(|| panic!("no session cookie: {answer}"));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("; Secure"),
        "{cookie}"
    );
}

/// `--storage` takes a postgres:// URL or sqlite:PATH; anything else is a usage error that names
/// the accepted forms and never repeats the value (a mistyped URL may still hold a password).
/// `sqlite:PATH` puts the store where it says.
#[test]
fn the_storage_option_is_checked_and_sqlite_paths_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |storage: &str| {
        common::tresor()
            .args(["init", "--json", "--data-dir"])
            .arg(&data)
            .args(["--storage", storage])
            .output()
            .unwrap()
    };
    for (bad, says) in [
        ("mysql://root:hunter2pw@db/tresor", "must be a postgres://"),
        ("/var/lib/tresor.db", "or sqlite:PATH"),
        ("sqlite:", "needs a file path"),
    ] {
        let out = run(bad);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains(says), "{bad}: {stderr}");
        assert!(!stderr.contains("hunter2pw"), "{stderr}");
    }
    // A malformed PostgreSQL URL or TLS option is a usage error too, before any connection.
    for (bad, says) in [
        ("postgres://u:hunter2pw@db:notaport/x", "invalid PostgreSQL URL"),
        ("postgres://u:hunter2pw@db/x?sslmode=verify-full", "needs sslrootcert"),
    ] {
        let out = run(bad);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains(says) && !stderr.contains("hunter2pw"), "{bad}: {stderr}");
    }
    let db = dir.path().join("elsewhere").join("store.db");
    let out = run(&format!("sqlite:{}", db.display()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["storage"], format!("sqlite:{}", db.display()));
    assert!(db.exists() && !data.join("tresor.db").exists(), "the store is where --storage says");
    assert!(data.join("root.key").exists(), "the root key stays in the data directory");
    let again = run(&format!("sqlite:{}", db.display()));
    assert_eq!(again.status.code(), Some(6), "{}", String::from_utf8_lossy(&again.stderr));
}

#[test]
fn every_answer_carries_its_request_id_into_the_log_the_audit_and_the_metrics() {
    let mut s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let t = Some(s.token.as_str());
    assert_eq!(s.call("PUT", &entry("db/password"), t, Some(json!({"value": "pw-REQID"}))).0, 200);

    // The server makes every request's id; a caller's own id is kept beside it, as the caller's.
    let get = |id: Option<&str>, token: &str| {
        let mut req =
            ureq::get(&format!("{}{}", s.addr, value("db/password"))).set("Authorization", &format!("Bearer {token}"));
        if let Some(id) = id {
            req = req.set("X-Request-Id", id);
        }
        match req.call() {
            Ok(r) | Err(ureq::Error::Status(_, r)) => (r.status(), r.header("x-request-id").map(str::to_owned)),
            Err(e) => panic!("{e}"),
        }
    };
    let (status, own) = get(Some("workflow-run-42"), &s.token);
    let own = own.unwrap();
    assert_eq!(status, 200);
    assert_ne!(own, "workflow-run-42");
    let (_, first) = get(None, &s.token);
    let (_, second) = get(None, &s.token);
    assert!(first.is_some() && second.is_some() && first != second, "{first:?} {second:?}");
    // A refused token is answered with an id too, and the id names its audit record.
    let (status, refused) = get(Some("bad-token-7"), "tsr_nope_nope");
    assert_eq!(status, 401);
    // Routes outside authentication carry one as well.
    let health = ureq::get(&format!("{}/healthz", s.addr)).set("X-Request-Id", "probe-1").call().unwrap();
    assert!(health.header("x-request-id").is_some_and(|id| id != "probe-1"));

    let audit = s.cli(&s.token, &["audit", "ls", "--json"], b"").json();
    let of = |id: &str| {
        audit
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["request_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id}: {audit}"))
    };
    assert_eq!((of(&own)["action"].as_str(), of(&own)["outcome"].as_str()), (Some("entry.read"), Some("ok")));
    assert_eq!(of(&own)["detail"], "client request id: workflow-run-42");
    let refused = of(refused.as_deref().unwrap());
    assert_eq!(refused["action"], "auth.token");
    assert!(refused["detail"].as_str().unwrap().ends_with("client request id: bad-token-7"), "{refused}");
    assert_eq!(of(first.as_deref().unwrap())["action"], "entry.read");

    // Counted by route template, method and status.
    let metrics = ureq::get(&format!("{}/metrics", s.addr)).call().unwrap().into_string().unwrap();
    let route = "/api/v1/envs/{env}/vaults/{vault}/values/{*key}";
    for (status, n) in [(200, 3), (401, 1)] {
        let line = format!(r#"tresor_http_requests_total{{method="GET",route="{route}",status="{status}"}} {n}"#);
        assert!(metrics.contains(&line), "{line} not in {metrics}");
    }

    assert!(s.stop().success());
    let log = s.log_text();
    let answered = log.lines().find(|l| l.contains(&format!("request_id={own} ")) && l.contains("answered"));
    let answered = answered.unwrap_or_else(|| panic!("{log}"));
    assert!(
        answered.contains("status=200") && answered.contains(r#"client_request_id="workflow-run-42""#),
        "{answered}"
    );
}

/// Issue #14: reading from a vault that does not exist said the *entry* does not exist, and a
/// `--cas 0` conflict did not say that the entry already exists.
#[test]
fn a_missing_vault_and_a_create_only_conflict_say_what_they_are() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let t = s.token.clone();
    s.cli(&t, &["set", "k"], b"cas-value-31a").ok();
    // Over REST: the values route, the entries route, the CLI.
    for path in ["/api/v1/envs/default/vaults/nope/values/k", "/api/v1/envs/default/vaults/nope/entries/k"] {
        let (status, doc) = s.call("GET", path, Some(&t), None);
        assert_eq!(status, 404, "{doc}");
        let e = doc["error"].as_str().unwrap();
        assert!(e.contains("vault nope does not exist in environment default"), "{path}: {e}");
        assert!(e.contains("tresor vault create nope"), "what to do: {e}");
    }
    s.cli(&t, &["--vault", "nope", "get", "k"], b"").fails(3, "vault nope does not exist in environment default");
    s.cli(&t, &["--vault", "nope", "history", "k"], b"").fails(3, "vault nope does not exist");
    // In a vault that exists, a missing entry is still the entry.
    s.cli(&t, &["get", "other"], b"").fails(3, "entry other does not exist in vault default/default");
    // --cas 0 creates only: over the CLI and REST, the conflict says the entry exists.
    let e = s.cli(&t, &["set", "--cas", "0", "k"], b"cas-value-other").fails(6, "entry k already exists");
    assert!(e.contains("version 1"), "{e}");
    let (status, doc) =
        s.call("PUT", &entry("k"), Some(&t), Some(json!({"value": "cas-value-other", "expected_version": 0})));
    assert_eq!(status, 409, "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("entry k already exists"), "{doc}");
    assert_eq!(s.cli(&t, &["get", "k"], b"").ok(), "cas-value-31a", "the refused writes changed nothing");
    // A deleted entry still exists until purged: said so.
    s.cli(&t, &["rm", "k"], b"").ok();
    s.cli(&t, &["set", "--cas", "0", "k"], b"cas-value-other").fails(6, "entry k exists, deleted");
    let log = s.log_text();
    assert!(!log.contains("cas-value-31a") && !log.contains("cas-value-other"));
}

/// Issue #14, item 12: one rule on every surface: an empty secret value is refused with the same
/// message (the CLI locally and against a server, bulk files, the native API, the Tinybird and
/// Conductor APIs), and nothing is written. A variable may be empty: it is plain configuration,
/// where an empty setting means something.
#[test]
fn empty_secret_values_are_refused_on_every_surface() {
    const RULE: &str = "is empty; a secret needs a value";
    let s = Server::start(&[("TRESOR_RATE_TINYBIRD", "0")]);
    let t = s.token.clone();
    // The CLI, against the server and locally: an empty stdin.
    s.cli(&t, &["set", "empty_one"], b"").fails(2, RULE);
    let local = LocalTresor::new();
    local.run_stdin(&["set", "empty_one"], b"").fails(2, RULE);
    local.run(&["get", "empty_one"]).fails(3, "entry empty_one does not exist");
    // A bulk file with one empty secret writes nothing of the file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials.yml");
    std::fs::write(&file, "pg:\n  user: svc-EMPTY-1\n  password: \"\"\n").unwrap();
    s.cli(&t, &["set", &format!("@{}", file.display())], b"").fails(2, "pg.password is empty");
    s.cli(&t, &["get", "pg.user"], b"").fails(3, "entry pg.user does not exist");
    // The native API.
    let (status, doc) = s.call("PUT", &entry("empty_one"), Some(&t), Some(json!({"value": ""})));
    assert_eq!(status, 400, "{doc}");
    assert!(doc["error"].as_str().unwrap().contains(RULE), "{doc}");
    // The Tinybird and Conductor APIs, with the same words.
    let env = [("HOST", s.addr.as_str()), ("TOKEN", t.as_str())];
    let r = curl_sh(
        r#"curl -X POST "$HOST/v0/secrets" -H "Authorization: Bearer $TOKEN" -d "name=empty_one" -d "value=""#,
        &env,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains(RULE), "{}", r.body);
    for body in ["", r#""""#] {
        let r = curl_sh(
            &format!(
                r#"curl -X PUT "$HOST/api/secrets/empty_one" -H "X-Authorization: $TOKEN" -H "Content-Type: application/json" -d '{body}'"#
            ),
            &env,
        );
        assert_eq!(r.status, 400, "{body:?}: {}", r.body);
        assert!(r.json()["message"].as_str().unwrap().contains(RULE), "{}", r.body);
    }
    s.cli(&t, &["get", "empty_one"], b"").fails(3, "entry empty_one does not exist");
    // An existing secret cannot be emptied either; its value stays.
    s.cli(&t, &["set", "kept"], b"kept-EMPTY-2").ok();
    let r = curl_sh(r#"curl -X PUT "$HOST/v0/secrets/kept" -H "Authorization: Bearer $TOKEN" -d "value=""#, &env);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(s.cli(&t, &["get", "kept"], b"").ok(), "kept-EMPTY-2");
    // Variables may be empty.
    s.cli(&t, &["set", "--var", "http_proxy", ""], b"").ok();
    let (status, doc) = s.call("PUT", &entry("no_proxy"), Some(&t), Some(json!({"value": "", "kind": "variable"})));
    assert_eq!(status, 200, "{doc}");
    let log = s.log_text();
    assert!(!log.contains("-EMPTY-"), "a value is in the server log");
}

/// SIGTERM stops accepting but lets a request in flight finish: a PUT whose body is still
/// arriving when the signal comes is answered 200 and stored, and the server then exits cleanly.
#[test]
fn graceful_shutdown_finishes_requests_in_flight() {
    use std::io::{Read, Write};
    let mut s = Server::start(&[]);
    let body = br#"{"value": "in-flight-SHUTDOWN-1"}"#;
    let host = s.addr.trim_start_matches("http://").to_owned();
    let mut conn = std::net::TcpStream::connect(&host).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    write!(
        conn,
        "PUT /api/v1/envs/default/vaults/default/entries/in-flight HTTP/1.1\r\nHost: {host}\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        s.token,
        body.len()
    )
    .unwrap();
    conn.write_all(&body[..10]).unwrap();
    conn.flush().unwrap();
    // The request is in a handler once the gate has authenticated it (a debug line).
    wait_for("the request reaches the gate", std::time::Duration::from_secs(20), || {
        s.log_text().contains("authenticated")
    });
    std::process::Command::new("kill").args(["-TERM", &s.child_id().to_string()]).status().unwrap();
    wait_for("the server starts shutting down", std::time::Duration::from_secs(20), || {
        s.log_text().contains("shutting down")
    });
    conn.write_all(&body[10..]).unwrap();
    let mut answer = String::new();
    let mut buf = [0u8; 4096];
    while !answer.contains("\r\n\r\n") {
        let n = conn.read(&mut buf).expect("an answer before the read timeout");
        assert!(n > 0, "the connection closed without an answer: {answer:?}");
        answer.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(s.stop().success(), "the server exits cleanly after finishing the request");
    // Stored: a server started on the same data serves it.
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let again = Server::serve(dir, s.token.clone(), &[], &[]);
    let (status, doc) =
        again.call("GET", "/api/v1/envs/default/vaults/default/values/in-flight", Some(&again.token), None);
    assert_eq!((status, doc["value"].as_str()), (200, Some("in-flight-SHUTDOWN-1")), "{doc}");
    assert!(!s.log_text().contains("in-flight-SHUTDOWN-1") && !again.log_text().contains("in-flight-SHUTDOWN-1"));
}

/// A value that is not UTF-8 travels as `value_base64` on the API and in the CLI's `--json` alike
/// (one codec); nothing is trimmed: text keeps its spaces and newlines, and base64 with anything
/// around it is refused rather than cut down.
#[test]
fn values_that_are_not_text_travel_as_value_base64_everywhere() {
    let s = Server::start(&[]);
    let t = Some(s.token.as_str());
    put_ok(&s, "bin/key", json!({"value_base64": "/wAK"}));
    let (_, doc) = s.call("GET", &value("bin/key"), t, None);
    assert_eq!(doc["value_base64"], "/wAK");
    assert!(doc.get("value").is_none(), "{doc}");
    let (status, doc) = s.call("PUT", &entry("bin/key"), t, Some(json!({"value_base64": "/wAK\n"})));
    assert_eq!(status, 400, "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("not valid base64"), "{doc}");
    s.call("PUT", &entry("padded"), t, Some(json!({"value": " padded \n"})));
    assert_eq!(s.call("GET", &value("padded"), t, None).1["value"], " padded \n");
    s.call("PUT", &entry("bin/var"), t, Some(json!({"value_base64": "/w==", "kind": "variable"})));

    let got = s.cli(&s.token, &["get", "bin/key", "--json"], b"").json();
    assert_eq!(got["value_base64"], "/wAK", "{got}");
    assert!(got.get("value").is_none() && got.get("base64").is_none(), "{got}");
    assert_eq!(s.cli(&s.token, &["get", "padded", "--json"], b"").json()["value"], " padded \n");
    let ls = s.cli(&s.token, &["ls", "bin/", "--json"], b"").json();
    let var = ls.as_array().unwrap().iter().find(|e| e["key"] == "bin/var").expect("bin/var listed");
    assert_eq!(var["value_base64"], "/w==", "{ls}");
}
