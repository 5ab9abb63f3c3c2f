//! The Conductor-compatible (Orkes) Secrets API end to end: the real server, driven with the curl
//! commands of Orkes' documentation (`../shared/reference/orkes-conductor-secrets.txt`) and with
//! Orkes' own Python client (`conductor-python`).

use crate::common;
use common::*;
use serde_json::json;

fn env(s: &Server, token: &str) -> Vec<(&'static str, String)> {
    vec![("ORKES_HOST", s.addr.clone()), ("ACCESS_TOKEN", token.to_owned())]
}

fn orkes(s: &Server, token: &str, command: &str) -> Http {
    let env = env(s, token);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    curl_sh(command, &env)
}

const EXISTS: &str = r#"curl -X GET "$ORKES_HOST/api/secrets/pinetree/exists" \
-H "accept: application/json" \
-H "X-Authorization: $ACCESS_TOKEN""#;
const PUT: &str = r#"curl -X PUT "$ORKES_HOST/api/secrets/pinetree" \
-H "accept: application/json" \
-H "X-Authorization: $ACCESS_TOKEN" \
-H "Content-Type: application/json" \
-d "needles""#;
const GRANT: &str = r#"curl -X POST "$ORKES_HOST/api/auth/authorization" \
-H "accept: application/json" \
-H "X-Authorization: $ACCESS_TOKEN" \
-H "Content-Type: application/json" \
-d '{"subject": {"type": "APPLICATION", "id": "orkes-workers"}, "target": {"type": "SECRET_NAME", "id": "post_office_username"}, "access": ["READ"]}'"#;

fn get_value(s: &Server, token: &str, key: &str) -> Http {
    orkes(s, token, &format!(r#"curl "$ORKES_HOST/api/secrets/{key}" -H "X-Authorization: $ACCESS_TOKEN""#))
}

/// Exchanges an application key for a token at `POST /api/token`.
fn exchange(s: &Server, id: &str, secret: &str) -> Http {
    orkes(
        s,
        "",
        &format!(
            r#"curl -X POST "$ORKES_HOST/api/token" -H "Content-Type: application/json" -d '{{"keyId": "{id}", "keySecret": "{secret}"}}'"#
        ),
    )
}

/// `tresor app-key create APP --json` through the CLI; returns (key id, key secret).
fn app_key(s: &Server, app: &str) -> (String, String) {
    let doc = s.cli(&s.token, &["app-key", "create", app, "--json"], b"").json();
    (doc["id"].as_str().unwrap().to_owned(), doc["secret"].as_str().unwrap().to_owned())
}

#[test]
fn conductor_documented_curl_calls_work_unchanged() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let t = s.token.clone();

    // Check key usage: the key is free.
    let r = orkes(&s, &t, EXISTS);
    assert_eq!((r.status, r.body.trim()), (200, "false"), "{}", r.body);
    // Create pinetree:needles. The only answer is HTTP 200.
    let r = orkes(&s, &t, PUT);
    assert_eq!((r.status, r.body.as_str()), (200, ""), "{}", r.body);
    assert_eq!(orkes(&s, &t, EXISTS).body.trim(), "true");
    // Read it back: the value as plain text.
    let r = get_value(&s, &t, "pinetree");
    assert_eq!((r.status, r.body.as_str()), (200, "needles"));
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    // SDKs send the value as a JSON string: it is decoded.
    let r = orkes(
        &s,
        &t,
        r#"curl -X PUT "$ORKES_HOST/api/secrets/pinetree" -H "X-Authorization: $ACCESS_TOKEN" -H "Content-Type: application/json" -d '"needles and \"cones\""'"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(get_value(&s, &t, "pinetree").body, r#"needles and "cones""#);
    // It is an ordinary tresor secret in default/default, versioned.
    let (_, native) = s.call("GET", "/api/v1/envs/default/vaults/default/values/pinetree", Some(&t), None);
    assert_eq!((native["value"].as_str(), native["version"].as_u64()), (Some(r#"needles and "cones""#), Some(2)));

    // Names: GET and POST /api/secrets.
    orkes(
        &s,
        &t,
        r#"curl -X PUT "$ORKES_HOST/api/secrets/post_office_username" -H "X-Authorization: $ACCESS_TOKEN" -d "usps-USER-77""#,
    );
    for method in ["GET", "POST"] {
        let r = orkes(
            &s,
            &t,
            &format!(r#"curl -X {method} "$ORKES_HOST/api/secrets" -H "X-Authorization: $ACCESS_TOKEN""#),
        );
        assert_eq!(r.json(), json!(["pinetree", "post_office_username"]), "{method}");
    }

    // Tags: put (add/replace), get, delete; no new value version.
    let tags = |cmd: &str| orkes(&s, &t, cmd);
    let r = tags(
        r#"curl -X PUT "$ORKES_HOST/api/secrets/pinetree/tags" -H "X-Authorization: $ACCESS_TOKEN" -H "Content-Type: application/json" -d '[{"key": "team", "value": "forest", "type": "METADATA"}, {"key": "tier", "value": "1"}]'"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    tags(
        r#"curl -X PUT "$ORKES_HOST/api/secrets/pinetree/tags" -H "X-Authorization: $ACCESS_TOKEN" -H "Content-Type: application/json" -d '[{"key": "team", "value": "woods"}]'"#,
    );
    let r = tags(r#"curl "$ORKES_HOST/api/secrets/pinetree/tags" -H "X-Authorization: $ACCESS_TOKEN""#);
    assert_eq!(
        r.json(),
        json!([{"key": "team", "value": "woods", "type": "METADATA"}, {"key": "tier", "value": "1", "type": "METADATA"}])
    );
    tags(
        r#"curl -X DELETE "$ORKES_HOST/api/secrets/pinetree/tags" -H "X-Authorization: $ACCESS_TOKEN" -H "Content-Type: application/json" -d '[{"key": "tier", "value": "1"}]'"#,
    );
    let (_, meta) = s.call("GET", "/api/v1/envs/default/vaults/default/entries/pinetree", Some(&t), None);
    assert_eq!(meta["tags"], json!([{"key": "team", "value": "woods"}]));
    assert_eq!(meta["version"], 2, "tag changes write no new version");
    let r = orkes(&s, &t, r#"curl -X GET "$ORKES_HOST/api/secrets-v2" -H "X-Authorization: $ACCESS_TOKEN""#);
    assert_eq!(r.json()[0]["tags"][0]["key"], "team");

    // Delete.
    let r = orkes(&s, &t, r#"curl -X DELETE "$ORKES_HOST/api/secrets/pinetree" -H "X-Authorization: $ACCESS_TOKEN""#);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(orkes(&s, &t, EXISTS).body.trim(), "false");
    assert_eq!(get_value(&s, &t, "pinetree").status, 404);

    // Tag changes and grants are audited like writes.
    let audit = s.audit(&t);
    let actions: Vec<&str> = audit.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "entry.tags").count(), 3);
    assert!(!serde_json::to_string(&audit).unwrap().contains("needles"));
}

#[test]
fn conductor_application_keys_and_authorization() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0"), ("TRESOR_APP_TOKEN_TTL", "3")]);
    let t = s.token.clone();
    orkes(
        &s,
        &t,
        r#"curl -X PUT "$ORKES_HOST/api/secrets/post_office_username" -H "X-Authorization: $ACCESS_TOKEN" -d "usps-USER-42""#,
    );
    orkes(
        &s,
        &t,
        r#"curl -X PUT "$ORKES_HOST/api/secrets/other_secret" -H "X-Authorization: $ACCESS_TOKEN" -d "other-value-42""#,
    );

    // An application key, exchanged for a token.
    let (id, secret) = app_key(&s, "app:orkes-workers");
    let r = exchange(&s, &id, &secret);
    assert_eq!(r.status, 200, "{}", r.body);
    let worker = r.json()["token"].as_str().unwrap().to_owned();
    // Denied before the grant.
    let r = get_value(&s, &worker, "post_office_username");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.json()["message"].as_str().unwrap().contains("app:orkes-workers lacks read access"), "{}", r.body);
    // The documented grant call gives the application READ on that secret, and nothing else.
    let r = orkes(&s, &t, GRANT);
    assert_eq!(r.status, 200, "{}", r.body);
    orkes(&s, &t, GRANT); // idempotent: no second grant
    let (_, grants) = s.call("GET", "/api/v1/grants", Some(&t), None);
    let theirs: Vec<_> =
        grants["grants"].as_array().unwrap().iter().filter(|g| g["principal"] == "app:orkes-workers").collect();
    assert_eq!(theirs.len(), 1);
    assert_eq!(
        (&theirs[0]["scope"], &theirs[0]["access"]),
        (&json!("default/default/post_office_username"), &json!("read"))
    );
    let r = exchange(&s, &id, &secret);
    let worker = r.json()["token"].as_str().unwrap().to_owned();
    let r = get_value(&s, &worker, "post_office_username");
    assert_eq!((r.status, r.body.as_str()), (200, "usps-USER-42"));
    assert_eq!(get_value(&s, &worker, "other_secret").status, 403);
    let r = orkes(
        &s,
        &worker,
        r#"curl -X PUT "$ORKES_HOST/api/secrets/post_office_username" -H "X-Authorization: $ACCESS_TOKEN" -d "x""#,
    );
    assert_eq!(r.status, 403);
    assert_eq!(orkes(&s, &worker, GRANT).status, 403, "an application cannot grant itself more");

    // The token expires (3 s here, 1 h by default): 401 EXPIRED_TOKEN, so clients renew.
    // Polled, not slept: the answer turns from 200 to 401 once the lifetime is over.
    wait_for("the token expires", std::time::Duration::from_secs(20), || {
        get_value(&s, &worker, "post_office_username").status == 401
    });
    let r = get_value(&s, &worker, "post_office_username");
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["error"], "EXPIRED_TOKEN");
    let r = get_value(&s, "tsr_000000000000_unknowntokenunknowntokenunknowntokenunknown", "post_office_username");
    assert_eq!((r.status, r.json()["error"].clone()), (401, json!("INVALID_TOKEN")));
    let r = orkes(&s, "", r#"curl "$ORKES_HOST/api/secrets/post_office_username""#);
    assert_eq!((r.status, r.json()["error"].clone()), (401, json!("INVALID_TOKEN")), "no token at all");

    // DELETE /api/auth/authorization with the same body revokes it.
    let revoke = GRANT.replace("-X POST", "-X DELETE");
    assert_eq!(orkes(&s, &t, &revoke).status, 200);
    let worker = exchange(&s, &id, &secret).json()["token"].as_str().unwrap().to_owned();
    assert_eq!(get_value(&s, &worker, "post_office_username").status, 403);

    // Keys: listed without secrets, refused when wrong, revoked with their tokens; in the OpenAPI.
    let (_, openapi) = s.call("GET", "/api/v1/openapi.json", None, None);
    assert!(openapi["paths"]["/api/v1/app-keys"]["post"].is_object());
    let ls = s.cli(&t, &["app-key", "ls", "--json"], b"").json();
    assert_eq!(ls[0]["id"], id.as_str());
    assert!(!ls.to_string().contains(&secret));
    let r = exchange(&s, &id, "wrong-secret");
    assert_eq!((r.status, r.json()["error"].clone()), (401, json!("INVALID_CREDENTIALS")));
    assert_eq!(exchange(&s, "00000000-0000-0000-0000-000000000000", &secret).status, 401);
    assert!(s.cli(&t, &["app-key", "revoke", &id], b"").ok().contains("revoked"));
    let r = get_value(&s, &worker, "post_office_username");
    assert_eq!((r.status, r.json()["error"].clone()), (401, json!("INVALID_TOKEN")), "its tokens are revoked too");
    assert_eq!(exchange(&s, &id, &secret).status, 401);
    s.cli(&t, &["app-key", "create", "user:alice"], b"").fails(2, "applications (app:NAME)");
    s.cli(&t, &["app-key", "revoke", "nope"], b"").fails(3, "does not exist");
    s.cli(&t, &["--local", "app-key", "ls"], b"").fails(2, "needs a server");

    // Exchanges, their failures and grant changes are audited; no key secret anywhere.
    let audit = s.audit(&t);
    let count = |action: &str, outcome: &str| {
        let about_workers = |r: &&serde_json::Value| {
            !r["action"].as_str().unwrap().starts_with("grant.")
                || r["target"].as_str().unwrap().contains("orkes-workers")
        };
        audit.iter().filter(|r| r["action"] == action && r["outcome"] == outcome).filter(about_workers).count()
    };
    assert_eq!(count("app_key.exchange", "ok"), 3);
    // Failed exchanges are recorded per source and interval: at once, the first naming this
    // workspace's key and the first naming no key (server-level); the others are counted.
    assert!(count("app_key.exchange", "unauthenticated") >= 2);
    assert_eq!((count("grant.create", "ok"), count("grant.delete", "ok")), (1, 1));
    assert_eq!(count("app_key.revoke", "ok"), 1);
    assert!(!serde_json::to_string(&audit).unwrap().contains(&secret));
    assert!(!s.log_text().contains(&secret), "the key secret never reaches the server log");
}

#[test]
fn conductor_bad_input_gets_clear_errors() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0"), ("TRESOR_MAX_VALUE_BYTES", "16")]);
    let t = s.token.clone();
    let call = |cmd: &str| orkes(&s, &t, cmd);
    let message = |r: &Http| r.json()["message"].as_str().unwrap_or_default().to_owned();
    let plain = [
        (r#"curl -X PUT "$ORKES_HOST/api/secrets/k" -H "X-Authorization: $ACCESS_TOKEN" -d """#, 400, "empty"),
        (
            r#"curl -X PUT "$ORKES_HOST/api/secrets/k" -H "X-Authorization: $ACCESS_TOKEN" -H "Content-Type: application/json" -d '""'"#,
            400,
            "is empty; a secret needs a value",
        ),
        (
            r#"curl -X PUT "$ORKES_HOST/api/secrets/k" -H "X-Authorization: $ACCESS_TOKEN" -d "0123456789abcdef-too-long""#,
            413,
            "the limit is 16 bytes",
        ),
        (r#"curl -X PUT "$ORKES_HOST/api/secrets/bad..key" -H "X-Authorization: $ACCESS_TOKEN" -d "v""#, 400, ".."),
        (r#"curl "$ORKES_HOST/api/secrets/missing" -H "X-Authorization: $ACCESS_TOKEN""#, 404, "does not exist"),
        (r#"curl -X DELETE "$ORKES_HOST/api/secrets/missing" -H "X-Authorization: $ACCESS_TOKEN""#, 404, "not found"),
        (r#"curl "$ORKES_HOST/api/secrets/missing/tags" -H "X-Authorization: $ACCESS_TOKEN""#, 404, "not found"),
        (
            r#"curl -X PUT "$ORKES_HOST/api/secrets/missing/tags" -H "X-Authorization: $ACCESS_TOKEN" -d '{not json'"#,
            400,
            "JSON list of tags",
        ),
    ];
    let authorize = |body: &str| {
        format!(r#"curl -X POST "$ORKES_HOST/api/auth/authorization" -H "X-Authorization: $ACCESS_TOKEN" -d '{body}'"#)
    };
    // Conductor's authorization call: SUBJECT gets ACCESS on TARGET named `k`.
    let grant = |subject: &str, id: &str, target: &str, access: &str| {
        json!({"subject": {"type": subject, "id": id}, "target": {"type": target, "id": "k"}, "access": [access]})
            .to_string()
    };
    let authorizations = [
        (r#"{"subject": 1}"#.to_owned(), 400, "the body must be"),
        (grant("ROLE", "x", "SECRET_NAME", "READ"), 400, "ROLE"),
        (grant("APPLICATION", "x", "WORKFLOW_DEF", "READ"), 400, "SECRET_NAME"),
        (grant("APPLICATION", "x", "SECRET_NAME", "EXECUTE"), 400, "EXECUTE"),
        (grant("USER", "nobody", "SECRET_NAME", "READ"), 404, "does not exist"),
    ]
    .map(|(body, status, needle)| (authorize(&body), status, needle));
    for (cmd, status, needle) in
        plain.map(|(cmd, status, needle)| (cmd.to_owned(), status, needle)).into_iter().chain(authorizations)
    {
        let cmd = cmd.as_str();
        let r = call(cmd);
        assert_eq!(r.status, status, "{cmd}: {}", r.body);
        assert!(message(&r).contains(needle), "{cmd}: {}", r.body);
        assert_eq!(r.json()["status"], status);
        assert!(!r.body.contains("0123456789abcdef"), "values are never echoed: {}", r.body);
    }
    for (body, needle) in [("", "as JSON"), ("{\"keyId\": \"x\"}", "both required"), ("{not json", "as JSON")] {
        let r = orkes(&s, "", &format!(r#"curl -X POST "$ORKES_HOST/api/token" -d '{body}'"#));
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(message(&r).contains(needle), "{}", r.body);
    }
}

#[test]
fn conductor_python_client_works_against_tresor() {
    if !conductor_python_available() {
        return;
    }
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0"), ("TRESOR_APP_TOKEN_TTL", "2")]);
    let t = s.token.clone();
    // An application that may write and grant (the Conductor admin's role), and the worker.
    s.cli(&t, &["principal", "create", "app:conductor-admin"], b"").ok();
    s.cli(&t, &["grant", "add", "app:conductor-admin", "*", "admin"], b"").ok();
    s.cli(&t, &["grant", "add", "app:conductor-admin", "*", "read"], b"").ok();
    let (admin_id, admin_secret) = app_key(&s, "app:conductor-admin");
    let (worker_id, worker_secret) = app_key(&s, "app:orkes-workers");
    orkes(
        &s,
        &t,
        r#"curl -X PUT "$ORKES_HOST/api/secrets/post_office_username" -H "X-Authorization: $ACCESS_TOKEN" -d "usps-PY-user""#,
    );
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/conductor_client.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .env("CONDUCTOR_SERVER_URL", format!("{}/api", s.addr))
        .env("ADMIN_KEY_ID", &admin_id)
        .env("ADMIN_KEY_SECRET", &admin_secret)
        .env("WORKER_KEY_ID", &worker_id)
        .env("WORKER_KEY_SECRET", &worker_secret)
        .env("USPS_USER", "usps-PY-user")
        .env("TOKEN_TTL", "2")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.trim_end().ends_with("ok"), "stdout: {stdout}\nstderr: {stderr}");
    // The client renewed the worker's token after it expired: more than one exchange.
    let audit = s.audit(&t);
    let exchanges = audit
        .iter()
        .filter(|r| r["action"] == "app_key.exchange" && r["principal"] == "app:orkes-workers" && r["outcome"] == "ok")
        .count();
    assert!(exchanges >= 2, "the worker's token was renewed ({exchanges} exchanges)");
}

/// Whether Orkes' Python client is installed; in CI it must be (`.ci/run` installs it).
fn conductor_python_available() -> bool {
    let probe = std::process::Command::new("python3").args(["-c", "import conductor.client"]).output();
    if matches!(&probe, Ok(o) if o.status.success()) {
        return true;
    }
    let test = std::thread::current().name().unwrap_or("a conductor-python test").to_owned();
    common::skip::skip(&test, "conductor-python (pip install 'conductor-python==2.0.0'; .ci/run installs it)");
    false
}

/// Runs one of the Python scripts in `tests/compat/` against `s` with `env`; returns its stdout,
/// failing the test unless the script ends with "ok".
fn run_python(s: &Server, script: &str, env: &[(&str, &str)]) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat").join(script);
    let out = std::process::Command::new("python3")
        .arg(&path)
        .env("CONDUCTOR_SERVER_URL", format!("{}/api", s.addr))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.trim_end().ends_with("ok"), "stdout: {stdout}\nstderr: {stderr}");
    stdout.into_owned()
}

/// An application that may write, read and grant everything, with its key; returns (id, secret).
fn conductor_admin(s: &Server) -> (String, String) {
    let t = &s.token;
    s.cli(t, &["principal", "create", "app:conductor-admin"], b"").ok();
    s.cli(t, &["grant", "add", "app:conductor-admin", "*", "admin"], b"").ok();
    s.cli(t, &["grant", "add", "app:conductor-admin", "*", "read"], b"").ok();
    app_key(s, "app:conductor-admin")
}

/// Issue #14, item 5: values put by conductor-python (which sends `json.dumps(value).strip('"')`
/// as application/json) come back equal through it and through `tresor get`, whatever they hold;
/// `text/plain` bodies are stored byte for byte; the documented `curl -d "needles"` still stores
/// `needles`; a JSON body that is neither a string nor a document is refused, not guessed at.
#[test]
fn conductor_values_round_trip_through_the_python_client_and_tresor_get() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let t = s.token.clone();
    // key, value, and whether the client's get_secret can give it back as a string (it parses
    // answers that are JSON documents, as it does against Orkes).
    let values: Vec<(&str, &str, bool)> = vec![
        ("plain", "needles-RT-plain", true),
        ("non_ascii", "naïve-ÉTÉ-☃-🔑-RT-1", true),
        ("quotes_inside", r#"say "cheese"-RT-2"#, true),
        ("ends_with_quote", r#"a quote at the end-RT-3""#, true),
        ("only_a_quote", "\"", true),
        ("backslashes", r"C:\temp\new-RT-4\", true),
        ("escapes_look_alike", r"\n is not a newline\u0041-RT-5", true),
        ("control_chars", "tab\there\nnewline-RT-6", true),
        ("quoted_whole", r#""quoted whole-RT-7""#, false),
        ("json_document", r#"{"user": "svc", "pw": "p\"w-RT-8"}"#, false),
    ];
    if conductor_python_available() {
        let (id, secret) = conductor_admin(&s);
        let doc = serde_json::to_string(&values).unwrap();
        run_python(&s, "conductor_values.py", &[("KEY_ID", &id), ("KEY_SECRET", &secret), ("VALUES", &doc)]);
        for (key, value, _) in &values {
            assert_eq!(s.cli(&t, &["get", key], b"").ok(), *value, "tresor get {key}");
            assert_eq!(get_value(&s, &t, key).body, *value, "GET /api/secrets/{key}");
        }
    }
    let put = |content_type: &str, body: &str| {
        orkes(
            &s,
            &t,
            &format!(
                r#"curl -X PUT "$ORKES_HOST/api/secrets/typed" -H "X-Authorization: $ACCESS_TOKEN" -H "Content-Type: {content_type}" --data-binary '{body}'"#
            ),
        )
    };
    // text/plain (and any type that is not JSON): the body as it is, quotes and backslashes included.
    for body in [r#""quoted-PLAIN-1""#, r"back\slash-PLAIN-2\", "two\nlines-PLAIN-3\n"] {
        let r = put("text/plain; charset=utf-8", body);
        assert_eq!(r.status, 200, "{body}: {}", r.body);
        assert_eq!(get_value(&s, &t, "typed").body, body);
    }
    // application/json: a JSON string, quoted or as conductor-python sends it; a JSON document
    // (a service account's key file) is kept as it is.
    for (body, stored) in [
        ("needles", "needles"),
        (r#""needles-JSON-1""#, "needles-JSON-1"),
        (r#"caf\u00e9 \"au lait\"-JSON-2"#, r#"café "au lait"-JSON-2"#),
        (r#"{"type": "service_account", "key": "k\n-JSON-3"}"#, r#"{"type": "service_account", "key": "k\n-JSON-3"}"#),
    ] {
        let r = put("application/json", body);
        assert_eq!(r.status, 200, "{body}: {}", r.body);
        assert_eq!(get_value(&s, &t, "typed").body, stored, "{body}");
    }
    // A body that is none of these is refused with what to do, never echoed.
    for body in [r#"p@ss"word-BAD-1"#, "two\nlines-BAD-2", r"bad \q escape-BAD-3"] {
        let r = put("application/json", body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let message = r.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains("text/plain"), "{message}");
        assert!(!r.body.contains("-BAD-"), "the value is not echoed: {}", r.body);
    }
    // The documentation's call, unchanged.
    assert_eq!(orkes(&s, &t, PUT).status, 200);
    assert_eq!(get_value(&s, &t, "pinetree").body, "needles");
    let log = s.log_text();
    for needle in ["-RT-", "-PLAIN-", "-JSON-", "-BAD-", "needles"] {
        assert!(!log.contains(needle), "{needle} is in the server log");
    }
}

/// Issue #14, item 3: names with `/` are read, changed, tagged and deleted by the plain path,
/// the rest of the path being the name; `/exists` and `/tags` at the end address those routes,
/// and a name that ends in one of those words is reached with its `/` sent as `%2F`.
#[test]
fn conductor_names_with_a_slash_are_reached_by_the_plain_path() {
    let s = Server::start(&[]);
    let t = s.token.clone();
    let call = |cmd: &str| orkes(&s, &t, cmd);
    let r = call(
        r#"curl -X PUT "$ORKES_HOST/api/secrets/db/password" -H "X-Authorization: $ACCESS_TOKEN" -H "Content-Type: application/json" -d "slash-PW-1""#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get_value(&s, &t, "db/password");
    assert_eq!((r.status, r.body.as_str()), (200, "slash-PW-1"));
    assert_eq!(get_value(&s, &t, "db%2Fpassword").body, "slash-PW-1", "the encoded form still works");
    let r = call(r#"curl "$ORKES_HOST/api/secrets/db/password/exists" -H "X-Authorization: $ACCESS_TOKEN""#);
    assert_eq!((r.status, r.body.trim()), (200, "true"), "{}", r.body);
    let r = call(r#"curl "$ORKES_HOST/api/secrets/db/nope/exists" -H "X-Authorization: $ACCESS_TOKEN""#);
    assert_eq!((r.status, r.body.trim()), (200, "false"), "{}", r.body);
    let r = call(
        r#"curl -X PUT "$ORKES_HOST/api/secrets/db/password/tags" -H "X-Authorization: $ACCESS_TOKEN" -H "Content-Type: application/json" -d '[{"key": "team", "value": "db"}]'"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(r#"curl "$ORKES_HOST/api/secrets/db/password/tags" -H "X-Authorization: $ACCESS_TOKEN""#);
    assert_eq!(r.json(), json!([{"key": "team", "value": "db", "type": "METADATA"}]), "{}", r.body);
    let r = call(
        r#"curl -X DELETE "$ORKES_HOST/api/secrets/db/password/tags" -H "X-Authorization: $ACCESS_TOKEN" -H "Content-Type: application/json" -d '[{"key": "team", "value": "db"}]'"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(
        r#"curl -X PUT "$ORKES_HOST/api/secrets/team/pg/replica.password" -H "X-Authorization: $ACCESS_TOKEN" -d "slash-PW-deep""#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(get_value(&s, &t, "team/pg/replica.password").body, "slash-PW-deep");
    let r = call(r#"curl "$ORKES_HOST/api/secrets" -H "X-Authorization: $ACCESS_TOKEN""#);
    assert_eq!(r.json(), json!(["db/password", "team/pg/replica.password"]));
    // A name whose last segment is `exists`: by `%2F`; the plain path asks whether `feature` exists.
    let r = call(
        r#"curl -X PUT "$ORKES_HOST/api/secrets/feature%2Fexists" -H "X-Authorization: $ACCESS_TOKEN" -d "slash-PW-exists""#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(get_value(&s, &t, "feature%2Fexists").body, "slash-PW-exists");
    let r = call(r#"curl "$ORKES_HOST/api/secrets/feature/exists" -H "X-Authorization: $ACCESS_TOKEN""#);
    assert_eq!(r.body.trim(), "false", "{}", r.body);
    let r = call(r#"curl -X PUT "$ORKES_HOST/api/secrets/feature/exists" -H "X-Authorization: $ACCESS_TOKEN" -d "x""#);
    assert_eq!(r.status, 405, "{}", r.body);
    assert!(r.json()["message"].as_str().unwrap().contains("%2F"), "{}", r.body);

    let r = call(r#"curl -X DELETE "$ORKES_HOST/api/secrets/db/password" -H "X-Authorization: $ACCESS_TOKEN""#);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(r#"curl "$ORKES_HOST/api/secrets/db/password/exists" -H "X-Authorization: $ACCESS_TOKEN""#);
    assert_eq!(r.body.trim(), "false");
    assert_eq!(get_value(&s, &t, "db/password").status, 404);
    let log = s.log_text();
    assert!(!log.contains("slash-PW-"), "a value is in the server log");
}

/// Issue #14, item 9: `GET /api/auth/authorization/{type}/{id}`, which conductor-python's
/// `get_permissions` calls, lists who holds which access on a secret (every grant that reaches
/// it), in Orkes' shape; it needs what listing grants needs (manage on the workspace).
#[test]
fn conductor_get_permissions_lists_who_may_do_what_on_a_secret() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let t = s.token.clone();
    orkes(
        &s,
        &t,
        r#"curl -X PUT "$ORKES_HOST/api/secrets/post_office_username" -H "X-Authorization: $ACCESS_TOKEN" -d "usps-PERM-user""#,
    );
    if conductor_python_available() {
        let (id, secret) = conductor_admin(&s);
        let out = run_python(
            &s,
            "conductor_permissions.py",
            &[("KEY_ID", &id), ("KEY_SECRET", &secret), ("SECRET", "post_office_username")],
        );
        assert!(out.contains("app:orkes-workers") && out.contains("app:deployer"), "{out}");
    } else {
        orkes(&s, &t, GRANT);
    }
    s.cli(&t, &["grant", "add", "app:orkes-workers", "default/default/post_office_*", "read"], b"").ok();
    s.cli(&t, &["principal", "create", "group:auditors"], b"").ok();
    s.cli(&t, &["grant", "add", "group:auditors", "default/default/db/*", "read"], b"").ok();
    let r = orkes(
        &s,
        &t,
        r#"curl "$ORKES_HOST/api/auth/authorization/SECRET_NAME/post_office_username" -H "X-Authorization: $ACCESS_TOKEN""#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = r.json();
    let read = doc["READ"].as_array().unwrap();
    assert!(read.contains(&json!({"type": "USER", "id": "app:orkes-workers"})), "a broader grant counts: {doc}");
    assert!(read.contains(&json!({"type": "USER", "id": "owner"})), "the owner reads everything: {doc}");
    assert!(!read.iter().any(|s| s["id"] == "auditors"), "grants elsewhere do not: {doc}");
    // A name with `/`, by the plain path; a group subject.
    let r = orkes(
        &s,
        &t,
        r#"curl "$ORKES_HOST/api/auth/authorization/SECRET_NAME/db/password" -H "X-Authorization: $ACCESS_TOKEN""#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["READ"].as_array().unwrap().contains(&json!({"type": "GROUP", "id": "auditors"})), "{}", r.body);
    // Refusals: an unsupported target type; a caller who may not list grants.
    let r = orkes(
        &s,
        &t,
        r#"curl "$ORKES_HOST/api/auth/authorization/WORKFLOW_DEF/wf" -H "X-Authorization: $ACCESS_TOKEN""#,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["message"].as_str().unwrap().contains("SECRET_NAME"), "{}", r.body);
    let reader = principal(&s, "app:reader", &[("default/default/*", "read")]);
    let r = orkes(
        &s,
        &reader,
        r#"curl "$ORKES_HOST/api/auth/authorization/SECRET_NAME/post_office_username" -H "X-Authorization: $ACCESS_TOKEN""#,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!s.log_text().contains("usps-PERM-user"), "a value is in the server log");
}

/// Issue #14, item 9b: an application key bound to an environment (`tresor app-key create
/// --bind-env`) is exchanged for tokens bound to it, and `/api/secrets` acts there: the same
/// application with one key per environment keeps one value per environment, and no key reaches
/// another environment's secrets. A key bound to a branch reads the parent's secrets through it
/// and changes none: 403 in Conductor's error shape.
#[test]
fn conductor_app_keys_bound_to_an_environment_act_there() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let t = s.token.clone();
    for args in [
        &["env", "create", "staging"][..],
        &["env", "create", "production"],
        &["env", "create", "hotfix", "--parent", "production"],
        &["principal", "create", "app:pipeline"],
        &["grant", "add", "app:pipeline", "*", "read"],
        &["grant", "add", "app:pipeline", "*", "write"],
    ] {
        s.cli(&t, args, b"").ok();
    }
    // One application, one key per environment.
    let key = |env: &str| {
        let doc = s.cli(&t, &["app-key", "create", "app:pipeline", "--bind-env", env, "--json"], b"").json();
        assert_eq!(doc["environment"], env, "{doc}");
        (doc["id"].as_str().unwrap().to_owned(), doc["secret"].as_str().unwrap().to_owned())
    };
    let keys = [("staging", key("staging")), ("production", key("production")), ("hotfix", key("hotfix"))];
    let human = s.cli(&t, &["app-key", "create", "app:pipeline", "--bind-env", "staging"], b"").ok();
    assert!(human.contains("bound to environment staging"), "{human}");
    let listed = s.cli(&t, &["app-key", "ls", "--json"], b"").json();
    for (env, (id, _)) in &keys {
        let row = listed.as_array().unwrap().iter().find(|k| k["id"] == id.as_str()).unwrap();
        assert_eq!(row["environment"], *env, "{listed}");
    }
    s.cli(&t, &["app-key", "create", "app:pipeline", "--bind-env", "nowhere"], b"")
        .fails(3, "environment nowhere does not exist");
    let token_of = |env: &str| {
        let (id, secret) = &keys.iter().find(|(e, _)| *e == env).unwrap().1;
        let r = exchange(&s, id, secret);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["token"].as_str().unwrap().to_owned()
    };
    let (staging, production, hotfix) = (token_of("staging"), token_of("production"), token_of("hotfix"));
    let me = s.cli(&staging, &["whoami", "--json"], b"").json();
    assert_eq!((me["principal"].as_str(), me["environment"].as_str()), (Some("app:pipeline"), Some("staging")));

    let put = |token: &str, key: &str, value: &str| {
        orkes(
            &s,
            token,
            &format!(
                r#"curl -X PUT "$ORKES_HOST/api/secrets/{key}" -H "X-Authorization: $ACCESS_TOKEN" -H "Content-Type: text/plain" -d "{value}""#
            ),
        )
    };
    let names = |token: &str| orkes(&s, token, r#"curl "$ORKES_HOST/api/secrets" -H "X-Authorization: $ACCESS_TOKEN""#);
    let exists = |token: &str, key: &str| {
        orkes(&s, token, &format!(r#"curl "$ORKES_HOST/api/secrets/{key}/exists" -H "X-Authorization: $ACCESS_TOKEN""#))
            .body
            .trim()
            .to_owned()
    };
    for (token, value) in [(&staging, "staging-DB-4417"), (&production, "production-DB-8823")] {
        let r = put(token, "db_password", value);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(put(&staging, "staging_only", "staging-ONLY-2290").status, 200);
    assert_eq!(get_value(&s, &staging, "db_password").body, "staging-DB-4417");
    assert_eq!(get_value(&s, &production, "db_password").body, "production-DB-8823");
    assert_eq!(names(&staging).json(), json!(["db_password", "staging_only"]));
    assert_eq!(names(&production).json(), json!(["db_password"]));
    assert_eq!(exists(&production, "staging_only"), "false");
    assert_eq!(get_value(&s, &production, "staging_only").status, 404);
    // Where the values are: one per environment, nothing in `default`.
    let native = |env: &str, key: &str| {
        s.call("GET", &format!("/api/v1/envs/{env}/vaults/default/values/{key}"), Some(&t), None)
    };
    assert_eq!(native("staging", "db_password").1["value"], "staging-DB-4417");
    assert_eq!(native("production", "db_password").1["value"], "production-DB-8823");
    assert_eq!(native("default", "db_password").0, 404);
    // The binding holds on tresor's own API too, whatever the application's grants say.
    let (status, _) = s.call("GET", "/api/v1/envs/production/vaults/default/values/db_password", Some(&staging), None);
    assert_eq!(status, 403);
    let (status, _) = s.call("GET", "/api/v1/grants", Some(&staging), None);
    assert_eq!(status, 403, "nothing workspace-wide");

    // The hotfix branch reads production's secrets through...
    assert_eq!(get_value(&s, &hotfix, "db_password").body, "production-DB-8823");
    assert_eq!(exists(&hotfix, "db_password"), "true");
    assert_eq!(names(&hotfix).json(), json!(["db_password"]));
    // ...and changes none, in Conductor's error shape.
    let refused = |r: Http| {
        assert_eq!(r.status, 403, "{}", r.body);
        let doc = r.json();
        assert_eq!((doc["status"].as_u64(), doc["retryable"].as_bool()), (Some(403), Some(false)), "{doc}");
        assert!(doc["message"].as_str().unwrap().starts_with("You cannot create a secret in a Branch: "), "{doc}");
        assert!(doc["message"].as_str().unwrap().contains("branch of production"), "{doc}");
    };
    refused(put(&hotfix, "db_password", "hotfix-DB-0001"));
    refused(put(&hotfix, "hotfix_only", "hotfix-NEW-0002"));
    refused(orkes(
        &s,
        &hotfix,
        r#"curl -X DELETE "$ORKES_HOST/api/secrets/db_password" -H "X-Authorization: $ACCESS_TOKEN""#,
    ));
    refused(orkes(
        &s,
        &hotfix,
        r#"curl -X PUT "$ORKES_HOST/api/secrets/db_password/tags" -H "X-Authorization: $ACCESS_TOKEN" -H "Content-Type: application/json" -d '[{"key": "team", "value": "ops"}]'"#,
    ));
    assert_eq!(native("production", "db_password").1["value"], "production-DB-8823", "unchanged");
    assert_eq!(native("hotfix", "hotfix_only").0, 404);

    let audit = s.audit(&t);
    let exchanges: Vec<&str> = audit
        .iter()
        .filter(|r| r["action"] == "app_key.exchange" && r["outcome"] == "ok")
        .filter_map(|r| r["detail"].as_str())
        .collect();
    assert_eq!(exchanges.len(), 3);
    assert!(exchanges.iter().any(|d| d.ends_with("bound to environment hotfix")), "{exchanges:?}");
    let log = s.log_text();
    for v in ["staging-DB-4417", "production-DB-8823", "staging-ONLY-2290", "hotfix-DB-0001", "hotfix-NEW-0002"] {
        assert!(!log.contains(v), "{v} is in the server log");
        assert!(!serde_json::to_string(&audit).unwrap().contains(v), "{v} is in the audit log");
    }
    for (_, (_, secret)) in &keys {
        assert!(!log.contains(secret.as_str()), "a key secret is in the server log");
    }
}
