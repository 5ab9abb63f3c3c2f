//! The Tinybird-compatible Secrets API end to end: the real server, driven with the curl commands
//! of Tinybird's documentation (`../shared/reference/tinybird-secrets-api.txt`), verbatim but for
//! the scheme of `$TB_HOST`.

use crate::common;
use common::*;
use serde_json::json;

/// The documentation's examples, with `<ADMIN token>` written as `$TB_TOKEN`.
const CREATE: &str = r#"curl \
  -X POST "$TB_HOST/v0/secrets" \
  -H "Authorization: Bearer $TB_TOKEN" \
  -d "name=test_secret" \
  -d "value=test""#;
const UPDATE: &str = r#"curl \
  -X PUT "$TB_HOST/v0/secrets/test_secret" \
  -H "Authorization: Bearer $TB_TOKEN" \
  -d "value=new_value""#;
const LIST: &str = r#"curl \
  -X GET "$TB_HOST/v0/secrets" \
  -H "Authorization: Bearer $TB_TOKEN""#;
const GET: &str = r#"curl \
  -X GET "$TB_HOST/v0/secrets/test_secret" \
  -H "Authorization: Bearer $TB_TOKEN""#;
const DELETE: &str = r#"curl \
  -X DELETE "$TB_HOST/v0/secrets/test_secret" \
  -H "Authorization: Bearer $TB_TOKEN""#;

fn tb(s: &Server, token: &str, command: &str) -> Http {
    curl_sh(command, &[("TB_HOST", &s.addr), ("TB_TOKEN", token)])
}

fn is_tinybird_time(v: &serde_json::Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    let b = s.as_bytes();
    s.len() == 19 && b[4] == b'-' && b[10] == b'T' && b[13] == b':' && !s.ends_with('Z')
}

/// Asserts the documented metadata shape: exactly name, created_at, updated_at, edited_by.
fn assert_secret_doc(doc: &serde_json::Value, name: &str) {
    let obj = doc.as_object().unwrap_or_else(|| panic!("not an object: {doc}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "edited_by", "name", "updated_at"], "{doc}");
    assert_eq!(doc["name"], name);
    assert!(is_tinybird_time(&doc["created_at"]) && is_tinybird_time(&doc["updated_at"]), "{doc}");
    assert_eq!(doc["edited_by"], "token: 'bootstrap'", "the token that last edited it, by name");
}

fn native_value(s: &Server, key: &str) -> (u16, serde_json::Value) {
    s.call("GET", &format!("/api/v1/envs/default/vaults/default/values/{key}"), Some(&s.token), None)
}

#[test]
fn tinybird_documented_curl_calls_work_unchanged() {
    let s = Server::start(&[("TRESOR_RATE_TINYBIRD", "0")]);
    let t = s.token.clone();

    // POST /v0/secrets with form fields.
    let r = tb(&s, &t, CREATE);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_secret_doc(&r.json(), "test_secret");
    assert!(!r.body.contains("\"value\""), "the value is never returned");
    // It is an ordinary tresor secret in default/default: same storage, same access control.
    assert_eq!(native_value(&s, "test_secret").1["value"], "test");

    // GET /v0/secrets and GET /v0/secrets/{name}: metadata only.
    let r = tb(&s, &t, LIST);
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.json();
    assert_eq!(list["secrets"].as_array().unwrap().len(), 1);
    assert_secret_doc(&list["secrets"][0], "test_secret");
    let r = tb(&s, &t, GET);
    assert_eq!(r.status, 200);
    assert_secret_doc(&r.json(), "test_secret");

    // PUT /v0/secrets/{name} changes the value (a new version).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = tb(&s, &t, UPDATE);
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = r.json();
    assert_secret_doc(&doc, "test_secret");
    assert!(doc["updated_at"].as_str() > doc["created_at"].as_str(), "{doc}");
    let (_, v) = native_value(&s, "test_secret");
    assert_eq!((v["value"].as_str(), v["version"].as_u64()), (Some("new_value"), Some(2)));

    // DELETE /v0/secrets/{name}.
    let r = tb(&s, &t, DELETE);
    assert_eq!((r.status, r.json()), (200, json!({"ok": true})));
    assert_eq!(tb(&s, &t, GET).status, 404);
    assert!(tb(&s, &t, LIST).json()["secrets"].as_array().unwrap().is_empty());
    // The name may be used again after a delete.
    assert_eq!(tb(&s, &t, CREATE).status, 200);

    // JSON bodies, the `token` query parameter, unknown query parameters, trailing slashes.
    let r = curl_sh(
        r#"curl -X POST "$TB_HOST/v0/secrets/?token=$TB_TOKEN&cli_version=5.0" -H "Content-Type: application/json" -d '{"name": "pg_password", "value": "pg-Pw-1"}'"#,
        &[("TB_HOST", &s.addr), ("TB_TOKEN", &t)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(native_value(&s, "pg_password").1["value"], "pg-Pw-1");

    // The same API under its newer name, /v0/variables, listing under `variables`.
    let r = curl_sh(
        r#"curl -X POST "$TB_HOST/v0/variables" -H "Authorization: Bearer $TB_TOKEN" -d "name=int_secret" -d "value=42""#,
        &[("TB_HOST", &s.addr), ("TB_TOKEN", &t)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = curl_sh(
        r#"curl "$TB_HOST/v0/variables" -H "Authorization: Bearer $TB_TOKEN""#,
        &[("TB_HOST", &s.addr), ("TB_TOKEN", &t)],
    );
    let doc = r.json();
    let names: Vec<&str> = doc["variables"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["int_secret", "pg_password", "test_secret"]);

    // Writes are audited as entry writes of the token's principal, like native writes.
    let audit = s.audit(&t);
    let writes =
        audit.iter().filter(|r| r["action"] == "entry.write" && r["target"] == "default/default/test_secret").count();
    assert_eq!(writes, 3, "create, update, create again");
    assert!(!serde_json::to_string(&audit).unwrap().contains("new_value"));
}

#[test]
fn tinybird_error_codes_are_the_documented_ones() {
    let s = Server::start(&[
        ("TRESOR_RATE_TINYBIRD", "0"),
        ("TRESOR_RATE_MANAGEMENT", "0"),
        ("TRESOR_TINYBIRD_MAX_SECRETS", "3"),
        ("TRESOR_MAX_VALUE_BYTES", "16"),
    ]);
    let t = s.token.clone();
    let env = [("TB_HOST", s.addr.as_str()), ("TB_TOKEN", t.as_str())];
    let call = |cmd: &str| curl_sh(cmd, &env);
    let error_of = |r: &Http| r.json()["error"].as_str().unwrap_or_default().to_owned();

    // 400: invalid or missing parameters.
    for (cmd, needle) in [
        (r#"curl -X POST "$TB_HOST/v0/secrets" -H "Authorization: Bearer $TB_TOKEN" -d "value=orphan-value""#, "name"),
        (r#"curl -X POST "$TB_HOST/v0/secrets" -H "Authorization: Bearer $TB_TOKEN" -d "name=no_value""#, "value"),
        (r#"curl -X POST "$TB_HOST/v0/secrets" -H "Authorization: Bearer $TB_TOKEN""#, "name"),
        (
            r#"curl -X POST "$TB_HOST/v0/secrets" -H "Authorization: Bearer $TB_TOKEN" -H "Content-Type: application/json" -d '{"name": "x", "value": "bad-json-secret"'"#,
            "not valid JSON",
        ),
        (
            r#"curl -X POST "$TB_HOST/v0/secrets" -H "Authorization: Bearer $TB_TOKEN" -H "Content-Type: application/json" -d '{"name": "x", "value": 5}'"#,
            "strings",
        ),
        (
            r#"curl -X POST "$TB_HOST/v0/secrets" -H "Authorization: Bearer $TB_TOKEN" -H "Content-Type: text/plain" -d "whatever""#,
            "form fields",
        ),
        (
            r#"curl -X POST "$TB_HOST/v0/secrets" -H "Authorization: Bearer $TB_TOKEN" -d "name=bad..name" -d "value=v""#,
            "..",
        ),
        (r#"curl -X PUT "$TB_HOST/v0/secrets/x" -H "Authorization: Bearer $TB_TOKEN""#, "value"),
    ] {
        let r = call(cmd);
        assert_eq!(r.status, 400, "{cmd}: {}", r.body);
        assert!(error_of(&r).contains(needle), "{cmd}: {}", r.body);
        assert!(!r.body.contains("bad-json-secret") && !r.body.contains("orphan-value"), "{}", r.body);
    }
    // Names are unique per workspace: creating an existing one is refused.
    let create = |name: &str, value: &str| {
        call(&format!(
            r#"curl -X POST "$TB_HOST/v0/secrets" -H "Authorization: Bearer $TB_TOKEN" -d "name={name}" -d "value={value}""#
        ))
    };
    assert_eq!(create("one", "v1").status, 200);
    let r = create("one", "v1-again");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(error_of(&r).contains("already exists"), "{}", r.body);
    assert_eq!(native_value(&s, "one").1["value"], "v1", "the first value is kept");

    // 403: limit reached. Values above the value limit (16 bytes here, 8 KB by default)...
    let r = create("big", "0123456789abcdefX");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(error_of(&r).contains("17 bytes; the limit is 16 bytes") && !r.body.contains("0123456789"), "{}", r.body);
    // ...and more secrets than the workspace may hold (3 here, 100 by default).
    assert_eq!(create("two", "v2").status, 200);
    assert_eq!(create("three", "v3").status, 200);
    let r = create("four", "v4");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        error_of(&r).contains("limit reached") && error_of(&r).contains("TRESOR_TINYBIRD_MAX_SECRETS"),
        "{r:?}",
        r = r.body
    );
    // Deleting one makes room again.
    assert_eq!(call(r#"curl -X DELETE "$TB_HOST/v0/secrets/three" -H "Authorization: Bearer $TB_TOKEN""#).status, 200);
    assert_eq!(create("four", "v4").status, 200);

    // 403: invalid token, missing token, expired token, and a token without write access.
    let r = curl_sh(r#"curl "$TB_HOST/v0/secrets" -H "Authorization: Bearer tsr_000000000000_nonsense""#, &env);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(error_of(&r).contains("token"), "{}", r.body);
    assert_eq!(curl_sh(r#"curl "$TB_HOST/v0/secrets""#, &env).status, 403);
    let (_, short) = s.call(
        "POST",
        "/api/v1/tokens",
        Some(&t),
        Some(json!({"principal": "user:owner", "name": "short", "ttl_seconds": 0})),
    );
    let expired = short["token"].as_str().unwrap();
    let r = curl_sh(&format!(r#"curl "$TB_HOST/v0/secrets" -H "Authorization: Bearer {expired}""#), &env);
    assert_eq!(r.status, 403, "{}", r.body);
    s.call("POST", "/api/v1/principals", Some(&t), Some(json!({"principal": "app:reader"})));
    s.call(
        "POST",
        "/api/v1/grants",
        Some(&t),
        Some(json!({"principal": "app:reader", "scope": "default/default/*", "access": "read"})),
    );
    let (_, rt) = s.call("POST", "/api/v1/tokens", Some(&t), Some(json!({"principal": "app:reader", "name": "r"})));
    let reader = rt["token"].as_str().unwrap();
    let r = curl_sh(
        &format!(r#"curl -X PUT "$TB_HOST/v0/secrets/one" -H "Authorization: Bearer {reader}" -d "value=x""#),
        &env,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(error_of(&r).contains("lacks write access"), "{}", r.body);
    assert_eq!(native_value(&s, "one").1["value"], "v1");

    // 404: secret not found, for GET, PUT and DELETE.
    for cmd in [
        r#"curl "$TB_HOST/v0/secrets/nope" -H "Authorization: Bearer $TB_TOKEN""#,
        r#"curl -X PUT "$TB_HOST/v0/secrets/nope" -H "Authorization: Bearer $TB_TOKEN" -d "value=v""#,
        r#"curl -X DELETE "$TB_HOST/v0/secrets/nope" -H "Authorization: Bearer $TB_TOKEN""#,
    ] {
        let r = call(cmd);
        assert_eq!(r.status, 404, "{cmd}: {}", r.body);
        assert!(error_of(&r).contains("not found"), "{}", r.body);
    }
    // A variable of the same name in default/default is not a Tinybird secret.
    s.call(
        "PUT",
        "/api/v1/envs/default/vaults/default/entries/a_variable",
        Some(&t),
        Some(json!({"value": "x", "kind": "variable"})),
    );
    assert_eq!(call(r#"curl "$TB_HOST/v0/secrets/a_variable" -H "Authorization: Bearer $TB_TOKEN""#).status, 404);
}

/// The status codes of `n` requests for `/v0/secrets` with `token`, sent by one curl process on
/// one connection (each URL with its own `-o /dev/null`), and how long they took.
fn curl_secrets(s: &Server, token: &str, n: usize) -> (Vec<String>, std::time::Duration) {
    let url = format!("{}/v0/secrets", s.addr);
    let urls: Vec<&str> = (0..n).flat_map(|_| ["-o", "/dev/null", url.as_str()]).collect();
    let started = std::time::Instant::now();
    let out = std::process::Command::new("curl")
        .args(["--silent", "--write-out", "%{http_code}\n", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .args(&urls)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let codes: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(codes.len(), n);
    (codes, elapsed)
}

#[test]
fn tinybird_rate_limit_is_five_requests_per_second_per_token() {
    // Tinybird's Secrets API documents 5 requests/s; tresor answers beyond it with 429 and
    // Retry-After (Tinybird's documented answer to a rate limit), per token.
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let log = s.log_text();
    assert!(log.contains("Tinybird-compatible /v0 5/s per token"), "not the default limit: {log}");
    // At the default rate, the first five pass, and no more pass than 5/s allows in the time the
    // twelve took, however fast or slow this machine sends them.
    let (codes, elapsed) = curl_secrets(&s, &s.token, 12);
    assert!(codes[..5].iter().all(|c| c == "200"), "the first five pass: {codes:?}");
    let passed = codes.iter().filter(|c| *c == "200").count();
    let within = common::most_allowed(5, std::time::Duration::from_secs(1), elapsed);
    assert!(passed <= within, "{passed} of 12 passed in {elapsed:?}, more than 5/s: {codes:?}");

    // The same limit counted per hour, so that the spent budget cannot come back during the test:
    // exactly the first five pass.
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0"), ("TRESOR_RATE_TINYBIRD", "5/h")]);
    let (codes, _) = curl_secrets(&s, &s.token, 12);
    assert_eq!(codes, [["200"; 5].as_slice(), &["429"; 7]].concat(), "beyond 5 the token is limited");
    // The documented curl call, while the budget is spent.
    let r = curl_sh(
        r#"curl "$TB_HOST/v0/secrets" -H "Authorization: Bearer $TB_TOKEN""#,
        &[("TB_HOST", &s.addr), ("TB_TOKEN", &s.token)],
    );
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert!(r.json()["error"].as_str().unwrap().contains("5 requests/h per token"), "{}", r.body);
    // Another token has its own budget.
    let (_, other) =
        s.call("POST", "/api/v1/tokens", Some(&s.token), Some(json!({"principal": "user:owner", "name": "b"})));
    let other = other["token"].as_str().unwrap();
    let r =
        curl_sh(&format!(r#"curl "$TB_HOST/v0/secrets" -H "Authorization: Bearer {other}""#), &[("TB_HOST", &s.addr)]);
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn tinybird_branches_and_staging_production_map_to_environments() {
    let s = Server::start(&[("TRESOR_RATE_TINYBIRD", "0"), ("TRESOR_RATE_MANAGEMENT", "0")]);
    let t = s.token.clone();
    let env = [("TB_HOST", s.addr.as_str()), ("TB_TOKEN", t.as_str())];
    let r = curl_sh(
        r#"curl -X POST "$TB_HOST/v0/secrets" -H "Authorization: Bearer $TB_TOKEN" -d "name=pg_password" -d "value=main-pg-pw""#,
        &env,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // A branch reads the main secrets with the same value, and cannot create its own version of
    // one that main owns.
    s.cli(&t, &["env", "create", "feature_x", "--parent", "default"], b"").ok();
    assert_eq!(s.cli(&t, &["-e", "feature_x", "get", "pg_password"], b"").ok(), "main-pg-pw");
    s.cli(&t, &["-e", "feature_x", "set", "pg_password"], b"branch-pw")
        .fails(6, "belongs to parent environment default");
    // Staging and production: the same names with different values, one environment each.
    for (e, v) in [("staging", "staging-pg-pw"), ("production", "production-pg-pw")] {
        s.cli(&t, &["env", "create", e], b"").ok();
        s.cli(&t, &["-e", e, "set", "pg_password"], v.as_bytes()).ok();
    }
    assert_eq!(s.cli(&t, &["-e", "staging", "get", "pg_password"], b"").ok(), "staging-pg-pw");
    assert_eq!(s.cli(&t, &["-e", "production", "get", "pg_password"], b"").ok(), "production-pg-pw");
    let log = s.log_text();
    for v in ["main-pg-pw", "branch-pw", "staging-pg-pw", "production-pg-pw"] {
        assert!(!log.contains(v), "{v} is in the server log");
    }
}

/// Issue #14, item 9b: Tinybird's staging and production workspaces are reached with different
/// tokens through the same `/v0` API. In tresor they are tokens bound to two environments
/// (`tresor token create --bind-env`): each creates, reads and lists its own secrets (the same
/// name with its own value), sees none of the other's, and the limit of secrets counts per
/// environment. A token bound to a branch reads the parent's secrets through it and creates
/// none: 403 "You cannot create a secret in a Branch", in Tinybird's error shape.
#[test]
fn tinybird_tokens_bound_to_environments_are_separate_workspaces() {
    let s = Server::start(&[
        ("TRESOR_RATE_TINYBIRD", "0"),
        ("TRESOR_RATE_MANAGEMENT", "0"),
        ("TRESOR_TINYBIRD_MAX_SECRETS", "2"),
    ]);
    let owner = s.token.clone();
    for args in [
        &["env", "create", "staging"][..],
        &["env", "create", "production"],
        &["env", "create", "feature-x", "--parent", "production"],
    ] {
        s.cli(&owner, args, b"").ok();
    }
    // Tinybird's admin token of each workspace: the owner's token bound to the environment.
    let mint = |env: &str| {
        let doc = s
            .cli(
                &owner,
                &["token", "create", "user:owner", "--name", &format!("{env} admin"), "--bind-env", env, "--json"],
                b"",
            )
            .json();
        assert_eq!(doc["environment"], env, "{doc}");
        doc["token"].as_str().unwrap().to_owned()
    };
    let (staging, production, branch) = (mint("staging"), mint("production"), mint("feature-x"));
    let human = s.cli(&owner, &["token", "create", "user:owner", "--bind-env", "staging"], b"").ok();
    assert!(human.contains("bound to environment staging"), "{human}");
    let tokens = s.cli(&owner, &["token", "ls"], b"").ok();
    assert!(tokens.contains("ENVIRONMENT") && tokens.contains("production"), "{tokens}");
    let me = s.cli(&staging, &["whoami", "--json"], b"").json();
    assert_eq!(me["environment"], "staging");
    assert!(me["grants"].as_array().unwrap().iter().all(|g| g["scope"] == "staging/*/*"), "narrowed: {me}");
    let me = s.cli(&branch, &["whoami"], b"").ok();
    assert!(me.contains("bound to environment feature-x") && me.contains("reads through to production"), "{me}");

    let tb = |token: &str, cmd: &str| curl_sh(cmd, &[("TB_HOST", s.addr.as_str()), ("TB_TOKEN", token)]);
    let create = |token: &str, name: &str, value: &str| {
        tb(
            token,
            &format!(
                r#"curl -X POST "$TB_HOST/v0/secrets" -H "Authorization: Bearer $TB_TOKEN" -d "name={name}" -d "value={value}""#
            ),
        )
    };
    let names = |token: &str| -> Vec<String> {
        let r = tb(token, r#"curl "$TB_HOST/v0/secrets" -H "Authorization: Bearer $TB_TOKEN""#);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["secrets"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_owned()).collect()
    };
    let describe = |token: &str, name: &str| {
        tb(token, &format!(r#"curl "$TB_HOST/v0/secrets/{name}" -H "Authorization: Bearer $TB_TOKEN""#))
    };
    let value_in = |env: &str, name: &str| {
        s.call("GET", &format!("/api/v1/envs/{env}/vaults/default/values/{name}"), Some(&owner), None)
    };

    // The documentation's advice: the same name in both workspaces, each with its own value.
    for (token, value) in [(&staging, "staging-PG-7781"), (&production, "production-PG-9902")] {
        let r = create(token, "pg_password", value);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_secret_doc_named(&r.json(), "pg_password");
    }
    assert_eq!(create(&staging, "staging_only", "staging-ONLY-3141").status, 200);
    assert_eq!(names(&staging), ["pg_password", "staging_only"]);
    assert_eq!(names(&production), ["pg_password"]);
    assert_eq!(value_in("staging", "pg_password").1["value"], "staging-PG-7781");
    assert_eq!(value_in("production", "pg_password").1["value"], "production-PG-9902");
    assert_eq!(value_in("default", "pg_password").0, 404, "an unbound token's environment is untouched");
    // Neither sees the other's secrets, by any route.
    assert_eq!(describe(&production, "staging_only").status, 404);
    let put = |token: &str, name: &str, value: &str| {
        tb(
            token,
            &format!(
                r#"curl -X PUT "$TB_HOST/v0/secrets/{name}" -H "Authorization: Bearer $TB_TOKEN" -d "value={value}""#
            ),
        )
    };
    assert_eq!(put(&production, "staging_only", "prod-OVERWRITE-1").status, 404);
    let r =
        tb(&production, r#"curl -X DELETE "$TB_HOST/v0/secrets/staging_only" -H "Authorization: Bearer $TB_TOKEN""#);
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(value_in("staging", "staging_only").1["value"], "staging-ONLY-3141");
    // The binding narrows the token on tresor's own API and CLI too.
    let (status, _) = s.call("GET", "/api/v1/envs/staging/vaults/default/values/pg_password", Some(&production), None);
    assert_eq!(status, 403);
    s.cli(&production, &["-e", "staging", "get", "pg_password"], b"").fails(4, "lacks read access");
    assert_eq!(s.cli(&production, &["-e", "production", "get", "pg_password"], b"").ok(), "production-PG-9902");
    // ...and it is delegation-bounded: a bound token mints no unbound token.
    s.cli(&staging, &["token", "create", "user:owner", "--name", "escape"], b"")
        .fails(4, "bound to environment staging");

    // The limit of secrets (2 here, 100 by default) counts per environment.
    let r = create(&staging, "third", "staging-THIRD-1");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("environment staging) already holds 2"), "{}", r.body);
    assert_eq!(create(&production, "second", "production-SECOND-2").status, 200);

    // A branch of production reads production's secrets through...
    assert_eq!(names(&branch), ["pg_password", "second"]);
    let r = describe(&branch, "pg_password");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "pg_password");
    let (status, through) =
        s.call("GET", "/api/v1/envs/feature-x/vaults/default/values/pg_password", Some(&branch), None);
    assert_eq!((status, through["value"].as_str()), (200, Some("production-PG-9902")), "{through}");
    assert_eq!(s.cli(&branch, &["-e", "feature-x", "get", "pg_password"], b"").ok(), "production-PG-9902");
    // ...and creates, changes and deletes none: 403 with Tinybird's message, in its shape.
    let refused = |r: &Http| {
        assert_eq!(r.status, 403, "{}", r.body);
        let doc = r.json();
        let error = doc["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("You cannot create a secret in a Branch: "), "{}", r.body);
        assert!(error.contains("branch of production"), "{}", r.body);
    };
    refused(&create(&branch, "branch_secret", "branch-NEW-5"));
    refused(&create(&branch, "pg_password", "branch-SHADOW-6"));
    refused(&put(&branch, "pg_password", "branch-CHANGE-7"));
    refused(&tb(&branch, r#"curl -X DELETE "$TB_HOST/v0/secrets/pg_password" -H "Authorization: Bearer $TB_TOKEN""#));
    assert_eq!(value_in("production", "pg_password").1["value"], "production-PG-9902", "unchanged");
    assert_eq!(value_in("feature-x", "branch_secret").0, 404);
    let audit = s.audit(&owner);
    let refusals: Vec<&str> = audit
        .iter()
        .filter(|r| r["outcome"] == "denied" && r["target"].as_str().unwrap().starts_with("feature-x/default/"))
        .map(|r| r["action"].as_str().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(refusals, ["entry.write", "entry.write", "entry.write", "entry.delete"], "each refusal is audited");

    let log = s.log_text();
    for v in [
        "staging-PG-7781",
        "production-PG-9902",
        "staging-ONLY-3141",
        "prod-OVERWRITE-1",
        "staging-THIRD-1",
        "production-SECOND-2",
        "branch-NEW-5",
        "branch-SHADOW-6",
        "branch-CHANGE-7",
    ] {
        assert!(!log.contains(v), "{v} is in the server log");
        assert!(!serde_json::to_string(&audit).unwrap().contains(v), "{v} is in the audit log");
    }
}

/// The documented metadata shape, for a secret edited by any token.
fn assert_secret_doc_named(doc: &serde_json::Value, name: &str) {
    let mut keys: Vec<&str> = doc.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "edited_by", "name", "updated_at"], "{doc}");
    assert_eq!(doc["name"], name);
}

/// Issue #14, item 3: Tinybird documents its routes as `/v0/secrets/(.+)`, the rest of the path
/// being the name, so a name with `/` (tresor's hierarchy) is read, changed and deleted by the
/// plain path, as it is created; the percent-encoded form keeps working.
#[test]
fn tinybird_names_with_a_slash_are_reached_by_the_plain_path() {
    let s = Server::start(&[("TRESOR_RATE_TINYBIRD", "0")]);
    let env = [("TB_HOST", s.addr.as_str()), ("TB_TOKEN", s.token.as_str())];
    let call = |cmd: &str| curl_sh(cmd, &env);
    let r = call(
        r#"curl -X POST "$TB_HOST/v0/secrets" -H "Authorization: Bearer $TB_TOKEN" -d "name=db/password" -d "value=slash-PW-first""#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_secret_doc(&r.json(), "db/password");
    for path in ["/v0/secrets/db/password", "/v0/variables/db/password", "/v0/secrets/db%2Fpassword"] {
        let r = call(&format!(r#"curl "$TB_HOST{path}" -H "Authorization: Bearer $TB_TOKEN""#));
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_secret_doc(&r.json(), "db/password");
    }
    let r = call(
        r#"curl -X PUT "$TB_HOST/v0/secrets/db/password" -H "Authorization: Bearer $TB_TOKEN" -d "value=slash-PW-second""#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(native_value(&s, "db/password").1["value"], "slash-PW-second");
    // Deeper names, and a name that does not exist under a prefix that does.
    let r = call(
        r#"curl -X POST "$TB_HOST/v0/secrets" -H "Authorization: Bearer $TB_TOKEN" -d "name=team/pg/replica.password" -d "value=slash-PW-deep""#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(r#"curl "$TB_HOST/v0/secrets/team/pg/replica.password" -H "Authorization: Bearer $TB_TOKEN""#);
    assert_eq!((r.status, r.json()["name"].clone()), (200, json!("team/pg/replica.password")), "{}", r.body);
    let r = call(r#"curl "$TB_HOST/v0/secrets/db/nope" -H "Authorization: Bearer $TB_TOKEN""#);
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("secret db/nope not found"), "{}", r.body);
    let r = call(r#"curl -X DELETE "$TB_HOST/v0/secrets/db/password" -H "Authorization: Bearer $TB_TOKEN""#);
    assert_eq!((r.status, r.json()), (200, json!({"ok": true})));
    assert_eq!(call(r#"curl "$TB_HOST/v0/secrets/db/password" -H "Authorization: Bearer $TB_TOKEN""#).status, 404);
    let log = s.log_text();
    for v in ["slash-PW-first", "slash-PW-second", "slash-PW-deep"] {
        assert!(!log.contains(v), "{v} is in the server log");
    }
}

/// Issue #14, item 10: to a Tinybird user a secret deleted and created again is a new secret: it
/// starts at version 1 with a new `created_at`, and the values it had before are gone (the
/// deleted secret is purged when its name is taken again; until then it can be undeleted).
#[test]
fn tinybird_a_secret_created_again_after_delete_is_a_new_secret() {
    let s = Server::start(&[("TRESOR_RATE_TINYBIRD", "0")]);
    let t = s.token.clone();
    let env = [("TB_HOST", s.addr.as_str()), ("TB_TOKEN", t.as_str())];
    let call = |cmd: &str| curl_sh(cmd, &env);
    let create = |value: &str| {
        call(&format!(
            r#"curl -X POST "$TB_HOST/v0/secrets" -H "Authorization: Bearer $TB_TOKEN" -d "name=test_secret" -d "value={value}""#
        ))
    };
    let first = create("old-LIFE-v1");
    assert_eq!(first.status, 200, "{}", first.body);
    let r = call(
        r#"curl -X PUT "$TB_HOST/v0/secrets/test_secret" -H "Authorization: Bearer $TB_TOKEN" -d "value=old-LIFE-v2""#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(call(DELETE).status, 200);
    // Until the name is taken again, a delete is recoverable, as everywhere in tresor.
    assert_eq!(s.cli(&t, &["undelete", "test_secret"], b"").code, 0);
    assert_eq!(call(DELETE).status, 200);

    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = create("new-LIFE-v1");
    assert_eq!(second.status, 200, "{}", second.body);
    let (old, new) = (first.json(), second.json());
    assert!(new["created_at"].as_str() > old["created_at"].as_str(), "a new created_at: {old} then {new}");
    assert_eq!(new["created_at"], new["updated_at"], "{new}");
    let (_, v) = native_value(&s, "test_secret");
    assert_eq!((v["value"].as_str(), v["version"].as_u64()), (Some("new-LIFE-v1"), Some(1)), "{v}");
    let (_, versions) = s.call("GET", "/api/v1/envs/default/vaults/default/versions/test_secret", Some(&t), None);
    assert_eq!(versions["versions"].as_array().unwrap().len(), 1, "the old versions are gone: {versions}");
    s.cli(&t, &["get", "test_secret", "--version", "2"], b"").fails(3, "no version 2");
    assert_eq!(s.cli(&t, &["get", "test_secret", "--version", "1"], b"").ok(), "new-LIFE-v1");
    // The purge is on the record.
    let audit = s.audit(&t);
    let purges = audit
        .iter()
        .filter(|r| {
            r["action"] == "entry.purge" && r["target"] == "default/default/test_secret" && r["outcome"] == "ok"
        })
        .count();
    assert_eq!(purges, 1, "{audit:?}");
    let log = s.log_text();
    for v in ["old-LIFE-v1", "old-LIFE-v2", "new-LIFE-v1"] {
        assert!(!log.contains(v), "{v} is in the server log");
    }
}
