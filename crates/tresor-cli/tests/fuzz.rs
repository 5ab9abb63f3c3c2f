//! Schemathesis fuzzes the native API (`/api/v1`) of a real `tresor serve` from the OpenAPI
//! document it serves: every answer must be documented (status, content type, headers, body
//! schema), none a 5xx, and the server must log no panic, no `ERROR` line and none of the values
//! stored before the run. Schemathesis comes from `.ci/run` (pinned); without it the test is
//! skipped, except in CI.
//!
//! Reproduce a failure by hand: the run is seeded, so the command in the assertion message, run
//! against a fresh `tresor serve` with the same rate limits off and an admin token, finds the same
//! cases again.

use crate::common;
use std::process::Command;

/// The pinned release (`.ci/run` installs it).
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The values stored before the run; none may reach the server's log.
const SEEDED: [(&str, &str); 3] =
    [("db/password", "fuzz-seed-value-db"), ("api/key", "fuzz-seed-value-api"), ("app/cert", "fuzz-seed-value-cert")];

fn schemathesis_available() -> bool {
    match Command::new("schemathesis").arg("--version").output() {
        Ok(out) if out.status.success() => true,
        _ => {
            let missing = format!("schemathesis (python3 -m pip install '{SCHEMATHESIS}'; .ci/run does it)");
            common::skip::skip("fuzz::the_native_api_answers_only_what_its_document_says", &missing);
            false
        }
    }
}

/// The operations that take the run's own rights away: revoking a token, deleting a grant or a
/// principal. Schemathesis feeds ids from earlier answers (`GET /tokens`) into them, so run among
/// the others they revoke the run's token and leave the rest of it to 401s: they get a pass of
/// their own, after the rest.
const TAKES_RIGHTS_AWAY: &str = r"^/api/v1/(tokens|grants|principals)/\{";

/// Schemathesis's configuration (`schemathesis.toml`): every check, but these.
///
/// - `negative_data_rejection`, everywhere: the "invalid" values it makes for optional query
///   parameters (`deleted`, `limit`) are encoded as no parameter at all (the request line it sent
///   has no query), so it counts a valid request answered 200 as a schema-violating one accepted.
/// - `positive_data_acceptance` (a request the document allows must not be refused as invalid)
///   holds wherever the document states the rules: names, keys, principals, scopes and access
///   levels carry tresor-model's patterns (openapi.rs `NameRules`). It is off where a rule is
///   still beyond what the document says:
///   - writes of entries: exactly one of `value` and `value_base64`, a secret not empty;
///   - resolve: at least one of `keys` and `entries`;
///   - render, webhooks, config plan and apply: a template's syntax, a webhook's method and
///     allowed destination, a config document's own rules;
///   - deleting a vault or a principal: the `default` vault and `user:owner` stay (JSON Schema
///     says "any name but this one" with `not`, which utoipa does not write).
const CONFIG: &str = r#"
[checks.negative_data_rejection]
enabled = false

[[operations]]
include-path-regex = "^/api/v1/(resolve|render|webhooks/send|config/plan|config/apply)$"
checks.positive_data_acceptance.enabled = false

[[operations]]
include-path-regex = "^/api/v1/envs/\\{env\\}/vaults/\\{vault\\}/entries(/\\{key\\})?$"
include-method = ["PUT", "POST"]
checks.positive_data_acceptance.enabled = false

[[operations]]
include-path-regex = "^/api/v1/(envs/\\{env\\}/vaults/\\{vault\\}|principals/\\{principal\\})$"
include-method = "DELETE"
checks.positive_data_acceptance.enabled = false
"#;

/// Runs the pinned Schemathesis against `server` with `filter` (an `--include-…`/`--exclude-…`
/// pair) and asserts that it found nothing and tested every operation it selected; answers how
/// many it selected.
fn fuzz(server: &common::Server, filter: [&str; 2], phases: &str) -> u32 {
    let workdir = tempfile::tempdir().unwrap();
    let schema = format!("{}/api/v1/openapi.json", server.addr);
    let args = [
        "run",
        &schema,
        filter[0],
        filter[1],
        // Every check but those CONFIG turns off.
        "--phases",
        phases,
        "--max-examples",
        "100",
        "--seed",
        "20",
        // One worker: with two threads, Hypothesis (under CPython 3.11) parses a lambda's source in
        // both at once for the group-member routes' pattern filters and fails with "AST
        // constructor recursion depth mismatch", a runtime error of the run, not of the API.
        "--workers",
        "1",
    ];
    let bearer = format!("Authorization: Bearer {}", server.token);
    std::fs::write(workdir.path().join("schemathesis.toml"), CONFIG).unwrap();
    let out = Command::new("schemathesis")
        .args(["--config-file", "schemathesis.toml"])
        .args(args)
        .args(["-H", &bearer])
        .env("NO_COLOR", "1")
        // Its example database (`.schemathesis/`) goes there, not into the crate: each run starts
        // from the seed alone.
        .current_dir(workdir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // The token is the test server's, gone with it: the command shows where one goes.
    let command = format!(
        "schemathesis --config-file schemathesis.toml {} -H 'Authorization: Bearer TOKEN' (schemathesis.toml: fuzz.rs CONFIG)",
        args.join(" ")
    );
    assert!(out.status.success(), "schemathesis found failures ({command}):\n{stdout}\n{stderr}");
    // Every selected operation was exercised.
    let count = |label: &str| {
        let after = stdout.split(label).nth(1).unwrap_or_else(|| panic!("no {label:?} in:\n{stdout}"));
        after.trim_start().split(|c: char| !c.is_ascii_digit()).next().unwrap_or_default().to_owned()
    };
    let selected = count("Selected:");
    assert_eq!(count("Tested:"), selected, "not every operation was tested ({command}):\n{stdout}");
    selected.parse().unwrap_or_else(|_| panic!("no operation count in:\n{stdout}"))
}

#[test]
fn the_native_api_answers_only_what_its_document_says() {
    if !schemathesis_available() {
        return;
    }
    // Rate limits off: the fuzzer sends hundreds of requests a second with one token (a 429 would
    // be documented, but would hide the answers behind it).
    let server = common::Server::start(&[
        ("TRESOR_RATE_MANAGEMENT", "0"),
        ("TRESOR_RATE_ENTRIES", "0"),
        ("TRESOR_RATE_AUTH_FAILURES", "0"),
    ]);
    server.set_all(&server.token, &SEEDED);

    let rest = fuzz(&server, ["--exclude-path-regex", TAKES_RIGHTS_AWAY], "examples,coverage,fuzzing,stateful");
    assert!(rest > 30, "only {rest} operations were fuzzed");
    // The token kept its rights through that pass, so the answers were the API's, not 401s.
    let (status, whoami) = server.call("GET", "/api/v1/whoami", Some(&server.token), None);
    assert_eq!(status, 200, "the run's token lost its rights: {whoami}");
    let last = fuzz(&server, ["--include-path-regex", TAKES_RIGHTS_AWAY], "examples,coverage,fuzzing");
    assert_eq!(last, 3, "revoking a token, deleting a grant and a principal");

    let log = server.log_text();
    assert!(log.contains("tresor listening on"), "not the server's log:\n{log}");
    for line in log.lines() {
        assert!(!line.contains("panicked") && !line.contains(" ERROR "), "the server logged a failure: {line}");
    }
    for (key, value) in SEEDED {
        assert!(!log.contains(value), "the server logged the value of {key}");
    }
}
