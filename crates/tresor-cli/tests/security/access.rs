//! Who may learn what: a declarative config's plan is no value oracle, `manage` never turns into
//! `read`, and a branch does not show its parent to those who cannot see the parent.

use crate::common::*;
use serde_json::{json, Value};

const SECRET: &str = "sk_live_Correct-Horse-7731";
const VARIABLE: &str = "https://internal.example/db-42";

fn server() -> Server {
    Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")])
}

fn admin_call(s: &Server, method: &str, path: &str, body: Value) -> Value {
    let (status, doc) = s.call(method, path, Some(&s.token), Some(body));
    assert!((200..300).contains(&status), "{method} {path}: {status} {doc}");
    doc
}

/// A config managing vault `default/api-keys` with one secret whose value is `guess`, a
/// variable and, for the owner's own config, an entry whose name nobody outside the vault
/// should learn.
fn config(guess: &str, with_hidden: bool) -> Value {
    let mut entries = vec![
        json!({"key": "stripe", "kind": "secret", "value": guess}),
        json!({"key": "url", "kind": "variable", "value": VARIABLE}),
    ];
    if with_hidden {
        entries.push(json!({"key": "zz-hidden-name", "kind": "variable", "value": "x"}));
    }
    json!({"config": {"name": "payments", "vaults": [
        {"environment": "default", "name": "api-keys", "entries": entries}]}})
}

/// The vault `default/api-keys`, managed by the owner's config `payments`.
fn managed_vault(s: &Server) {
    admin_call(s, "POST", "/api/v1/envs/default/vaults", json!({"name": "api-keys"}));
    let mut applied = config(SECRET, true);
    applied["confirm"] = json!(true);
    admin_call(s, "POST", "/api/v1/config/apply", applied);
}

#[test]
fn a_config_plan_tells_nobody_without_read_whether_a_guessed_secret_is_right() {
    let s = server();
    managed_vault(&s);
    let nobody = principal(&s, "user:nobody", &[]);
    // Scopes the config does not manage (a glob vault), so that these grants stay out of its plan.
    let narrow = principal(&s, "app:narrow", &[("default/api-*/stripe", "write")]);
    let writer = principal(&s, "app:writer", &[("default/api-*/*", "write")]);
    let reader = principal(&s, "app:reader", &[("default/api-*/*", "write"), ("default/api-*/*", "read")]);

    for token in [&nobody, &narrow, &writer] {
        for action in ["plan", "apply"] {
            let path = format!("/api/v1/config/{action}");
            let right = s.call("POST", &path, Some(token), Some(config(SECRET, false)));
            let wrong = s.call("POST", &path, Some(token), Some(config("a wrong guess", false)));
            assert_eq!(right, wrong, "{action}: a right and a wrong guess must get the same answer");
            if token != &writer {
                assert_eq!(right.0, 403, "{right:?}");
                assert!(!right.1.to_string().contains("zz-hidden-name"), "{right:?}");
            }
        }
    }
    // The caller without any grant is refused before anything is compared, naming the vault only.
    let (status, doc) = s.call("POST", "/api/v1/config/plan", Some(&nobody), Some(config(SECRET, false)));
    assert_eq!(status, 403);
    assert!(doc["error"].as_str().unwrap().contains("vault default/api-keys"), "{doc}");
    // A writer that may not read sees the secret as "will be written", right guess or not.
    let (status, doc) = s.call("POST", "/api/v1/config/plan", Some(&writer), Some(config(SECRET, true)));
    assert_eq!(status, 200, "{doc}");
    let change = doc["changes"].as_array().unwrap().iter().find(|c| c["name"].as_str().unwrap().ends_with("stripe"));
    assert!(change.unwrap()["detail"].as_str().unwrap().contains("not compared"), "{doc}");
    // A reader's plan compares: the right value is no change, a wrong one an update.
    let (_, same) = s.call("POST", "/api/v1/config/plan", Some(&reader), Some(config(SECRET, true)));
    let (_, differs) = s.call("POST", "/api/v1/config/plan", Some(&reader), Some(config("a wrong guess", true)));
    let stripe_changes = |d: &Value| {
        d["changes"].as_array().unwrap().iter().filter(|c| c["name"].as_str().unwrap().ends_with("/stripe")).count()
    };
    assert_eq!((stripe_changes(&same), stripe_changes(&differs)), (0, 1), "{same} {differs}");
    assert!(!s.log_text().contains(SECRET));
}

#[test]
fn managing_never_turns_into_reading() {
    let s = server();
    admin_call(&s, "PUT", "/api/v1/envs/default/vaults/default/entries/db/password", json!({"value": SECRET}));
    let manager = principal(&s, "user:manager", &[("*", "manage")]);
    let m = Some(manager.as_str());

    // A token for the owner (or any other user) is only the owner's to mint.
    let (status, doc) = s.call("POST", "/api/v1/tokens", m, Some(json!({"principal": "user:owner", "name": "x"})));
    assert_eq!(status, 403, "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("only the workspace owner"), "{doc}");
    // Granting itself (or anyone) read, which it does not hold.
    for who in ["user:manager", "app:helper"] {
        let _ = s.call("POST", "/api/v1/principals", m, Some(json!({"principal": who})));
        let grant = json!({"principal": who, "scope": "*", "access": "read"});
        let (status, doc) = s.call("POST", "/api/v1/grants", m, Some(grant));
        assert_eq!(status, 403, "{doc}");
        assert!(doc["error"].as_str().unwrap().contains("cannot grant read on *"), "{doc}");
    }
    // Joining a group that reads.
    admin_call(&s, "POST", "/api/v1/principals", json!({"principal": "group:readers"}));
    admin_call(&s, "POST", "/api/v1/grants", json!({"principal": "group:readers", "scope": "*", "access": "read"}));
    let (status, doc) = s.call("POST", "/api/v1/groups/readers/members", m, Some(json!({"member": "user:manager"})));
    assert_eq!(status, 403, "{doc}");
    // Minting a token or an application key for an application that reads.
    admin_call(&s, "POST", "/api/v1/principals", json!({"principal": "app:worker"}));
    admin_call(
        &s,
        "POST",
        "/api/v1/grants",
        json!({"principal": "app:worker", "scope": "default/*", "access": "read"}),
    );
    let (status, doc) = s.call("POST", "/api/v1/tokens", m, Some(json!({"principal": "app:worker", "name": "x"})));
    assert_eq!(status, 403, "{doc}");
    let (status, doc) = s.call("POST", "/api/v1/app-keys", m, Some(json!({"principal": "app:worker"})));
    assert_eq!(status, 403, "{doc}");
    // An application that reads only through its group counts too.
    admin_call(&s, "POST", "/api/v1/principals", json!({"principal": "app:member"}));
    admin_call(&s, "POST", "/api/v1/groups/readers/members", json!({"member": "app:member"}));
    let (status, _) = s.call("POST", "/api/v1/tokens", m, Some(json!({"principal": "app:member", "name": "x"})));
    assert_eq!(status, 403);
    // Conductor's authorization API and a declarative config are the same grants.
    let conductor = json!({"subject": {"type": "APPLICATION", "id": "helper"},
        "target": {"type": "SECRET_NAME", "id": "db/password"}, "access": ["READ"]});
    let resp =
        ureq::post(&format!("{}/api/auth/authorization", s.addr)).set("X-Authorization", &manager).send_json(conductor);
    assert_eq!(resp.map(|r| r.status()).unwrap_or_else(|e| e.into_response().unwrap().status()), 403);
    let cfg = json!({"config": {"name": "grants", "grants": [{"principal": "app:helper", "scope": "*", "access": "read"}]},
        "confirm": true});
    let (status, doc) = s.call("POST", "/api/v1/config/apply", m, Some(cfg));
    assert_eq!(status, 403, "{doc}");
    // Nor can the owner principal be deleted and its power taken over.
    let (status, _) = s.call("DELETE", "/api/v1/principals/user:owner", m, None);
    assert_eq!(status, 400);

    // After all of it, the manager still reads nothing.
    let (status, _) = s.call("GET", "/api/v1/envs/default/vaults/default/values/db/password", m, None);
    assert_eq!(status, 403);
    let (_, grants) = s.call("GET", "/api/v1/grants", Some(&s.token), None);
    let read_grants: Vec<&Value> = grants["grants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["access"] == "read" && g["principal"] != "user:owner" && g["principal"] != "group:readers")
        .filter(|g| g["principal"] != "app:worker")
        .collect();
    assert!(read_grants.is_empty(), "{read_grants:?}");

    // What it holds, it may hand on: manage to others, a token for an app that only manages.
    admin_call(&s, "POST", "/api/v1/principals", json!({"principal": "app:ops"}));
    let (status, doc) =
        s.call("POST", "/api/v1/grants", m, Some(json!({"principal": "app:ops", "scope": "prod", "access": "manage"})));
    assert_eq!(status, 201, "{doc}");
    let (status, doc) = s.call("POST", "/api/v1/tokens", m, Some(json!({"principal": "app:ops", "name": "ops"})));
    assert_eq!(status, 201, "{doc}");
    // The owner keeps full power.
    admin_call(&s, "POST", "/api/v1/tokens", json!({"principal": "app:worker", "name": "w"}));
    admin_call(&s, "POST", "/api/v1/tokens", json!({"principal": "user:manager", "name": "m2"}));
    assert!(!s.log_text().contains(SECRET));
}

/// Writes the variable `variable` (holding [`VARIABLE`]) and the secret `db/password` (holding
/// [`SECRET`]) into `env`'s default vault, as the admin.
fn put_variable_and_secret(s: &Server, env: &str, variable: &str) {
    let entries = format!("/api/v1/envs/{env}/vaults/default/entries");
    admin_call(s, "PUT", &format!("{entries}/{variable}"), json!({"value": VARIABLE, "kind": "variable"}));
    admin_call(s, "PUT", &format!("{entries}/db/password"), json!({"value": SECRET}));
}

#[test]
fn a_branch_shows_its_parent_only_to_those_who_see_the_parent() {
    let s = server();
    admin_call(&s, "POST", "/api/v1/envs", json!({"name": "prod"}));
    put_variable_and_secret(&s, "prod", "db/url");

    // Managing some environment names is not enough to branch prod.
    let brancher = principal(&s, "user:brancher", &[("feature-*", "manage"), ("feature-*", "write")]);
    let (status, doc) =
        s.call("POST", "/api/v1/envs", Some(&brancher), Some(json!({"name": "feature-x", "parent": "prod"})));
    assert_eq!(status, 403, "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("branch of it"), "{doc}");

    // A branch made by prod's managers does not show prod's entries to those who see only the branch.
    admin_call(&s, "POST", "/api/v1/envs", json!({"name": "feature-y", "parent": "prod"}));
    let b = Some(brancher.as_str());
    let (status, listed) = s.call("GET", "/api/v1/envs/feature-y/vaults/default/entries", b, None);
    assert_eq!(status, 200, "{listed}");
    assert!(!listed.to_string().contains("db/"), "{listed}");
    for path in ["entries/db/url", "versions/db/url", "entries/db/password"] {
        let (status, doc) = s.call("GET", &format!("/api/v1/envs/feature-y/vaults/default/{path}"), b, None);
        assert_eq!(status, 404, "{path}: {doc}");
    }
    // Those who see prod still see its entries through the branch.
    let (_, listed) = s.call("GET", "/api/v1/envs/feature-y/vaults/default/entries", Some(&s.token), None);
    assert!(listed.to_string().contains(VARIABLE), "{listed}");
    let text = s.log_text();
    assert!(!text.contains(SECRET) && !text.contains(VARIABLE));
}

#[test]
fn variables_are_shown_to_whoever_may_list_them_on_every_surface_and_secrets_never() {
    let s = server();
    put_variable_and_secret(&s, "default", "cfg/url");
    let writer = principal(&s, "app:writer", &[("default/default/*", "write")]);
    // Listing shows the variable's value to a writer; get, render and export agree with it.
    assert!(s.cli(&writer, &["ls", "--json"], b"").ok().contains(VARIABLE));
    assert_eq!(s.cli(&writer, &["get", "cfg/url"], b"").ok().trim_end(), VARIABLE);
    let rendered = s.cli(&writer, &["render", "-"], b"url=${secret:cfg/url}").ok();
    assert_eq!(rendered.trim_end(), format!("url={VARIABLE}"));
    // A secret is still refused to the writer, on get and render alike.
    let refused = s.cli(&writer, &["get", "db/password"], b"");
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(!refused.stdout.contains(SECRET) && !refused.stderr.contains(SECRET));
    let refused = s.cli(&writer, &["render", "-"], b"${secret:db/password}");
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    // Someone without any grant on the entry sees neither.
    let stranger = principal(&s, "app:stranger", &[("default/other/*", "write")]);
    assert_eq!(s.cli(&stranger, &["get", "cfg/url"], b"").code, 4);
    let text = s.log_text();
    assert!(!text.contains(SECRET) && !text.contains(VARIABLE));
}

/// Losing a group membership, the group, or the principal ends access at the next request, also
/// where the value and the caller are cached.
#[test]
fn losing_access_through_group_or_principal_removal_applies_at_once() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    losing_access_applies_at_the_next_request(&[&s], &s.token);
    assert!(!s.log_text().contains("warm-cache-LOSS-1"), "a value reached the server log");
}
