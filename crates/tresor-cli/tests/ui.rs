//! The web dashboard at `/ui`, in a real browser: `tests/ui/dashboard.mjs` drives Debian's
//! Chromium (through playwright-core, installed by `.ci/run` with `npm ci` in `tests/ui`)
//! against a real server. This side sets the server up, runs the script, then checks what only
//! the server can tell: the group permission set in the form applies to a second user's token,
//! and no secret value the browser typed reached the server's log.

use crate::common::{self, Server};
use std::path::Path;
use std::process::Command;

const SECRETS: [&str; 4] =
    ["dev-db-pw-7f3a91c2e5", "dev-db-pw-edited-0b44d2a9", "prod-db-pw-58e1c7d3aa", "managed-token-c9d2e17f06"];

/// Whether Chromium and playwright-core are at hand; in CI they must be.
fn browser_available(ui: &Path) -> bool {
    let missing = if !Path::new("/usr/bin/chromium").exists() {
        Some("Chromium (apt-get install chromium chromium-driver; .ci/run installs it)")
    } else if !ui.join("node_modules/playwright-core").exists() {
        Some("playwright-core (npm ci in crates/tresor-cli/tests/ui; .ci/run does it)")
    } else if Command::new("node").arg("--version").output().is_err() {
        Some("Node.js")
    } else {
        None
    };
    match missing {
        None => true,
        Some(what) => {
            common::skip::skip("ui::the_dashboard_in_a_real_browser", what);
            false
        }
    }
}

#[test]
fn the_dashboard_in_a_real_browser() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    if !browser_available(&ui) {
        return;
    }
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let admin = s.token.clone();
    // Two environments, a group whose member only ever gets rights through the form, and a
    // vault that a declarative config (named `platform`) manages.
    let config = s.dir.path().join("platform.yaml");
    std::fs::write(
        &config,
        "environments: [dev, prod]\nvaults:\n  managed:\n    environment: dev\n    entries:\n      region: { variable: \"eu-west-1\" }\n",
    )
    .unwrap();
    s.cli(&admin, &["apply", "-f", config.to_str().unwrap(), "--yes"], b"").ok();
    let (status, doc) =
        s.call("POST", "/api/v1/envs", Some(&admin), Some(serde_json::json!({"name": "feature-x", "parent": "dev"})));
    assert_eq!(status, 201, "{doc}");
    let reader = common::principal(&s, "user:reader", &[]);
    assert_eq!(
        s.call("POST", "/api/v1/principals", Some(&admin), Some(serde_json::json!({"principal": "group:analysts"}))).0,
        201
    );
    let (status, doc) = s.call(
        "POST",
        "/api/v1/groups/analysts/members",
        Some(&admin),
        Some(serde_json::json!({"member": "user:reader"})),
    );
    assert!(status == 201 || status == 204, "{status} {doc}");

    let shots = std::env::var("TRESOR_UI_SCREENSHOTS").unwrap_or_default();
    let out = Command::new("node")
        .arg(ui.join("dashboard.mjs"))
        .current_dir(&ui)
        .env("TRESOR_ADDR", &s.addr)
        .env("ADMIN_TOKEN", &admin)
        .env("SECRETS", serde_json::to_string(&SECRETS).unwrap())
        .env("SCREENSHOTS", &shots)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.trim_end().ends_with("ok"), "dashboard.mjs failed:\n{stdout}\n{stderr}");

    // The group permission given in Add New applies: the reader (a member of `analysts`, with
    // no grant of its own) reads the dev secret, which the restore put back to its first value,
    // and nothing else.
    let (status, doc) = s.call("GET", "/api/v1/envs/dev/vaults/default/values/db%2Fpassword", Some(&reader), None);
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["value"], SECRETS[0]);
    assert_eq!(s.call("GET", "/api/v1/envs/prod/vaults/default/values/db%2Fpassword", Some(&reader), None).0, 403);

    // What the browser typed never reached the log.
    let log = s.log_text();
    for value in SECRETS {
        assert!(!log.contains(value), "a secret value is in the server log");
    }
    assert!(log.contains("/ui/entries/new"), "the browser's requests reached the server");
}

/// Signs in to the dashboard over plain HTTP (as a browser's form would) and answers the
/// session cookie.
fn sign_in(s: &Server, token: &str) -> String {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let resp = match agent.post(&format!("{}/ui/login", s.addr)).set("Origin", &s.addr).send_form(&[("token", token)]) {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("signing in: {e}"),
    };
    assert_eq!(resp.status(), 303);
    let cookie = resp.header("set-cookie").unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

fn page(s: &Server, cookie: &str, path: &str) -> String {
    ureq::get(&format!("{}{path}", s.addr)).set("Cookie", cookie).call().unwrap().into_string().unwrap()
}

/// Ten thousand entries: the listing pages them (100 rows a page, folders first), the last page
/// is reachable, and a search finds one entry among them.
#[test]
fn the_dashboard_pages_ten_thousand_entries() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0"), ("TRESOR_MAX_ENTRIES", "20000")]);
    for batch in 0..10 {
        let entries: serde_json::Map<String, serde_json::Value> = (0..1000)
            .map(|i| (format!("svc-{batch}/key-{i:04}"), serde_json::json!({"value": format!("v{i}")})))
            .chain((batch == 0).then(|| ("needle".to_owned(), serde_json::json!({"value": "n"}))))
            .collect();
        let (status, doc) = s.call(
            "POST",
            "/api/v1/envs/default/vaults/default/entries",
            Some(&s.token),
            Some(serde_json::json!({ "entries": entries })),
        );
        assert_eq!(status, 200, "{doc}");
    }
    let cookie = sign_in(&s, &s.token);
    let top = page(&s, &cookie, "/ui/entries?tab=secrets");
    assert_eq!(top.matches("class=\"folder\"").count(), 10, "ten folders at the top");
    assert!(top.contains("data-key=\"needle\""));
    let folder = page(&s, &cookie, "/ui/entries?tab=secrets&prefix=svc-3%2F");
    assert!(folder.contains("Page 1 of 10 (1000 rows)"), "a folder of 1000 entries has 10 pages");
    assert_eq!(folder.matches("<tr class=\"entry\"").count(), 100);
    let last = page(&s, &cookie, "/ui/entries?tab=secrets&prefix=svc-3%2F&page=9");
    assert!(last.contains("data-key=\"svc-3/key-0999\"") && last.contains("Page 10 of 10"));
    let found = page(&s, &cookie, "/ui/entries?tab=secrets&q=key-0500");
    assert_eq!(found.matches("<tr class=\"entry\"").count(), 10, "a search looks in every folder");
}

/// `TRESOR_UI=0` (or `--ui=false`) serves no dashboard; the API is unaffected.
#[test]
fn the_dashboard_can_be_turned_off() {
    let off = Server::start(&[("TRESOR_UI", "0")]);
    assert_eq!(off.call("GET", "/ui/login", None, None).0, 404);
    assert_eq!(off.call("GET", "/api/v1/whoami", Some(&off.token), None).0, 200);
    let data = tempfile::tempdir().unwrap();
    let out = common::tresor().args(["init", "--json", "--data-dir"]).arg(data.path().join("data")).output().unwrap();
    let token =
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["admin_token"].as_str().unwrap().to_owned();
    let flagged = Server::serve(data, token, &[], &["--ui=false"]);
    assert_eq!(flagged.call("GET", "/ui/login", None, None).0, 404);
    let on = Server::start(&[]);
    assert_eq!(on.call("GET", "/ui/login", None, None).0, 200, "on by default");
}

/// A change whose form is malformed (a version that is no number), or whose CSRF token is not
/// the session's, is refused in words, and nothing changes.
#[test]
fn malformed_and_forged_forms_are_refused() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    s.set_all(&s.token, &[("db/password", "pw-4f1e2a9c77")]);
    s.set_all(&s.token, &[("db/password", "pw-2-8b3d6e01aa")]);
    let cookie = sign_in(&s, &s.token);
    let html = page(&s, &cookie, "/ui/entries?tab=secrets&prefix=db%2F");
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
    let post = |form: &[(&str, &str)]| {
        let req = ureq::post(&format!("{}/ui/entries/restore", s.addr)).set("Cookie", &cookie).set("Origin", &s.addr);
        match req.send_form(form) {
            Ok(r) | Err(ureq::Error::Status(_, r)) => (r.status(), r.into_string().unwrap()),
            Err(e) => panic!("{e}"),
        }
    };
    let (status, body) =
        post(&[("csrf", &csrf), ("env", "default"), ("vault", "default"), ("key", "db/password"), ("version", "one")]);
    assert_eq!(status, 400);
    assert!(body.contains("This form is incomplete or malformed"), "{body}");
    let (status, body) =
        post(&[("csrf", "forged"), ("env", "default"), ("vault", "default"), ("key", "db/password"), ("version", "1")]);
    assert_eq!(status, 403);
    assert!(body.contains("security token is not your session"), "{body}");
    let history = page(&s, &cookie, "/ui/entries/history?key=db%2Fpassword");
    assert_eq!(history.matches("<tr><td>v").count(), 2, "nothing was restored (a restore makes version 3)");
    let log = s.log_text();
    assert!(!log.contains("pw-4f1e2a9c77") && !log.contains("pw-2-8b3d6e01aa"));
}
