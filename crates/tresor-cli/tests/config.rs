//! Declarative config end to end: `tresor plan` / `tresor apply` in local and server mode, vault
//! ownership, atomicity at the entry limit, and `import` / `export`.

use crate::common;
use common::{LocalTresor, Server};

const STRIPE: &str = "sk_live_CfgSecret4242";
const SENDGRID: &str = "SG.cfgSecretValue77";
const STRIPE2: &str = "sk_live_RotatedSecret99";

/// The example of the config crate's own tests (one vault, two secrets and a variable).
const CONFIG: &str = include_str!("../../tresor-config/testdata/api-keys.yaml");

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

fn assert_no_secret(text: &str) {
    for s in [STRIPE, SENDGRID, STRIPE2] {
        assert!(!text.contains(s), "a secret value leaked: {text}");
    }
}

fn local() -> (LocalTresor, String) {
    let t = LocalTresor::new().with_env("STRIPE_SECRET_KEY", STRIPE).with_env("SENDGRID_API_KEY", SENDGRID);
    let file = write(t.home(), "tresor.yaml", CONFIG);
    (t, file)
}

#[test]
fn local_plan_apply_ownership_and_deletions() {
    let (t, file) = local();
    let mut seen = String::new();
    let plan = t.run(&["plan", "-f", &file]);
    assert_eq!(plan.code, 10, "changes pending: {}", plan.stderr);
    assert!(plan.stdout.contains("+ environment prod"), "{}", plan.stdout);
    assert!(plan.stdout.contains("+ vault prod/api-keys"), "{}", plan.stdout);
    assert!(plan.stdout.contains("+ entry prod/api-keys/stripe-secret-key"), "{}", plan.stdout);
    seen += &plan.stdout;
    seen += &t.run(&["apply", "-f", &file]).ok();
    assert_eq!(t.run(&["plan", "-f", &file]).code, 0, "nothing pending after apply");
    assert_eq!(t.run(&["-e", "prod", "--vault", "api-keys", "get", "stripe-secret-key"]).ok(), STRIPE);
    let vaults = t.run(&["-e", "prod", "vault", "ls", "--json"]).json();
    let api = vaults.as_array().unwrap().iter().find(|v| v["name"] == "api-keys").unwrap().clone();
    assert_eq!(api["managed_by"], "tresor", "owned by the config named after the file");

    // A rotated secret is planned as an update, by keyed hash, never shown.
    let rotated = t.run_with_env(&["plan", "-f", &file, "--json"], &[("STRIPE_SECRET_KEY", STRIPE2)]);
    assert_eq!(rotated.code, 10);
    let doc: serde_json::Value = serde_json::from_str(&rotated.stdout).unwrap();
    assert_eq!(doc["changes"][0]["op"], "update");
    assert_eq!(doc["changes"][0]["name"], "prod/api-keys/stripe-secret-key");
    seen += &rotated.stdout;

    // An entry the file no longer lists is deleted only with confirmation.
    let shorter = write(
        t.home(),
        "tresor.yaml",
        &CONFIG.replace("      api-url:           { variable: \"https://api.example.com\" }\n", ""),
    );
    let refused = t.run(&["apply", "-f", &shorter]);
    seen += &refused.stdout;
    seen += &refused.fails(6, "--yes");
    t.run(&["-e", "prod", "--vault", "api-keys", "get", "api-url"]).ok();
    seen += &t.run(&["apply", "-f", &shorter, "--yes"]).ok();
    t.run(&["-e", "prod", "--vault", "api-keys", "get", "api-url"]).fails(3, "entry api-url does not exist");

    // A CLI change to the managed vault is refused without --yes, and releases it with --yes.
    let refused = t.run_stdin(&["-e", "prod", "--vault", "api-keys", "set", "extra"], b"x");
    refused.fails(6, "managed by config tresor");
    let released = t.run_stdin(&["-e", "prod", "--vault", "api-keys", "set", "extra", "--yes"], b"x");
    assert!(
        released.stderr.contains("warning: vault prod/api-keys is managed by config tresor"),
        "{}",
        released.stderr
    );
    released.ok();
    let plan = t.run(&["plan", "-f", &shorter]);
    assert_eq!(plan.code, 10);
    assert!(plan.stdout.contains("~ vault prod/api-keys (unmanaged (released"), "{}", plan.stdout);
    assert!(plan.stdout.contains("- entry prod/api-keys/extra"), "{}", plan.stdout);
    t.run(&["apply", "-f", &shorter]).fails(6, "nothing was applied");
    t.run(&["-e", "prod", "--vault", "api-keys", "get", "extra"]).ok();
    seen += &t.run(&["apply", "-f", &shorter, "--yes"]).ok();
    let vaults = t.run(&["-e", "prod", "vault", "ls", "--json"]).json();
    let api = vaults.as_array().unwrap().iter().find(|v| v["name"] == "api-keys").unwrap().clone();
    assert_eq!(api["managed_by"], "tresor", "taken back");
    assert_eq!(t.run(&["plan", "-f", &shorter]).code, 0);
    assert_no_secret(&seen);
}

#[test]
fn bad_files_are_refused_and_nothing_is_applied() {
    let t = LocalTresor::new().with_env("STRIPE_SECRET_KEY", STRIPE);
    // Unset variables: every one named, nothing applied.
    let file = write(t.home(), "tresor.yaml", CONFIG);
    let e = t.run(&["apply", "-f", &file, "--yes"]).fails(2, "environment variable SENDGRID_API_KEY is not set");
    assert_no_secret(&e);
    let envs = t.run(&["env", "ls", "--json"]).ok();
    assert!(!envs.contains("prod"), "nothing applied: {envs}");
    // A schema error names the line and the field.
    let typo = write(t.home(), "typo.yaml", "vaults:\n  api-keys:\n    environment: prod\n    entires: {}\n");
    t.run(&["plan", "-f", &typo]).fails(2, "unknown field `entires`");
    let e = t.run(&["plan", "-f", &typo]).stderr;
    assert!(e.contains("line 4"), "{e}");
    // An invalid name.
    let bad = write(t.home(), "bad.yaml", "vaults:\n  prod/api-keys:\n    entries:\n      \"../x\": { variable: y }\n");
    let e = t.run(&["plan", "-f", &bad]).fails(2, "invalid entry key");
    assert!(e.contains("line 4"), "{e}");
    t.run(&["plan", "-f", "/nonexistent/tresor.yaml"]).fails(2, "cannot read");
}

#[test]
fn a_config_cannot_shadow_a_parent_entry_in_a_branch_environment() {
    let t = LocalTresor::new().with_env("STRIPE_SECRET_KEY", STRIPE);
    t.run(&["env", "create", "prod"]).ok();
    t.run(&["env", "create", "feature-x", "--parent", "prod"]).ok();
    t.run_stdin(&["-e", "prod", "set", "stripe-secret-key"], STRIPE2.as_bytes()).ok();
    // `set` refuses to shadow the parent's key in the branch; so does the config, at plan and
    // at apply, naming the entry and where to change it, and nothing is applied.
    t.run_stdin(&["-e", "feature-x", "set", "stripe-secret-key"], STRIPE.as_bytes())
        .fails(6, "belongs to parent environment prod");
    let file = write(
        t.home(),
        "branch.yaml",
        "vaults:\n  default:\n    environment: feature-x\n    entries:\n      \
         feature-flag: { variable: \"on\" }\n      stripe-secret-key: { secret: \"${env:STRIPE_SECRET_KEY}\" }\n",
    );
    for verb in [&["plan", "-f", &file][..], &["apply", "-f", &file, "--yes"]] {
        let e = t.run(verb).fails(6, "entry stripe-secret-key belongs to parent environment prod");
        assert!(e.contains("change it in prod"), "{e}");
        assert_no_secret(&e);
    }
    let branch = t.run(&["-e", "feature-x", "ls", "--json"]).json();
    assert!(!branch.to_string().contains("feature-flag"), "nothing applied: {branch}");
    assert_eq!(t.run(&["-e", "feature-x", "get", "stripe-secret-key"]).ok(), STRIPE2, "read through to prod");
    // Without the shadowing entry the same vault applies.
    let fine = write(
        t.home(),
        "branch.yaml",
        "vaults:\n  default:\n    environment: feature-x\n    entries:\n      feature-flag: { variable: \"on\" }\n",
    );
    t.run(&["apply", "-f", &fine, "--yes"]).ok();
    assert_eq!(t.run(&["-e", "feature-x", "get", "feature-flag"]).ok(), "on");
}

#[test]
fn apply_is_atomic_at_the_entry_limit() {
    let (t, file) = local();
    let t = t.with_env("TRESOR_MAX_ENTRIES", "4");
    t.run(&["apply", "-f", &file]).ok();
    let before = t.run(&["-e", "prod", "--vault", "api-keys", "ls", "--json"]).ok();
    // Rotates a secret (first in the batch), then adds two entries: the second is one too many.
    let bigger = write(
        t.home(),
        "tresor.yaml",
        &format!("{CONFIG}      new-one: {{ variable: a }}\n      new-two: {{ variable: b }}\n"),
    );
    let run = t.run_with_env(&["apply", "-f", &bigger, "--yes"], &[("STRIPE_SECRET_KEY", STRIPE2)]);
    let e = run.fails(5, "nothing was applied");
    assert!(e.contains("limit"), "{e}");
    assert_no_secret(&e);
    assert_eq!(t.run(&["-e", "prod", "--vault", "api-keys", "ls", "--json"]).ok(), before, "the store is as before");
    assert_eq!(t.run(&["-e", "prod", "--vault", "api-keys", "get", "stripe-secret-key"]).ok(), STRIPE);
}

#[test]
fn server_plan_apply_grants_and_the_api_release_flag() {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let env = [("STRIPE_SECRET_KEY", STRIPE), ("SENDGRID_API_KEY", SENDGRID)];
    let dir = tempfile::tempdir().unwrap();
    let with_grant = format!(
        "name: payments\n{CONFIG}grants:\n  - {{ principal: app:orkes-workers, scope: \"prod/api-keys/*\", access: read }}\n"
    );
    let file = write(dir.path(), "tresor.yaml", &with_grant);
    s.cli_env(&s.token, &["plan", "-f", &file], b"", &env).fails(2, "app:orkes-workers does not exist");
    s.cli(&s.token, &["principal", "create", "app:orkes-workers"], b"").ok();
    s.cli(&s.token, &["grant", "add", "app:orkes-workers", "prod/api-keys/old/*", "read"], b"").ok();
    s.cli(&s.token, &["grant", "add", "app:orkes-workers", "prod/*", "write"], b"").ok();
    let plan = s.cli_env(&s.token, &["plan", "-f", &file], b"", &env);
    assert_eq!(plan.code, 10, "{}", plan.stderr);
    assert!(plan.stdout.contains("+ grant app:orkes-workers read on prod/api-keys/*"), "{}", plan.stdout);
    // A grant inside the managed vault that the file does not list goes; one on a wider scope stays.
    assert!(plan.stdout.contains("- grant app:orkes-workers read on prod/api-keys/old/*"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("on prod/*"), "{}", plan.stdout);
    let mut seen = plan.stdout.clone();
    s.cli_env(&s.token, &["apply", "-f", &file], b"", &env).fails(6, "--yes");
    seen += &s.cli_env(&s.token, &["apply", "-f", &file, "--yes"], b"", &env).ok();
    let grants = s.cli(&s.token, &["grant", "ls", "--json"], b"").ok();
    assert!(grants.contains("prod/*") && !grants.contains("prod/api-keys/old/*"), "{grants}");
    assert_eq!(s.cli_env(&s.token, &["plan", "-f", &file], b"", &env).code, 0);
    let app = s.cli(&s.token, &["token", "create", "app:orkes-workers", "--json"], b"").json();
    let app_token = app["token"].as_str().unwrap().to_owned();
    assert_eq!(
        s.cli(&app_token, &["-e", "prod", "--vault", "api-keys", "get", "sendgrid-api-key"], b"").ok(),
        SENDGRID
    );

    let mut shorter = with_grant.clone();
    shorter = shorter.replace("      sendgrid-api-key:  { secret: \"${env:SENDGRID_API_KEY}\" }\n", "");
    let file2 = write(dir.path(), "tresor.yaml", &shorter);
    let plan = s.cli_env(&s.token, &["plan", "-f", &file2], b"", &env).stdout;
    assert!(plan.contains("- entry prod/api-keys/sendgrid-api-key"), "{plan}");

    // The native API refuses a write to the managed vault (409) unless the request releases it.
    let body = serde_json::json!({"value": "v", "kind": "variable"});
    let url = "/api/v1/envs/prod/vaults/api-keys/entries/from-api";
    let (status, doc) = s.call("PUT", url, Some(&s.token), Some(body.clone()));
    assert_eq!(status, 409, "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("managed by config payments"), "{doc}");
    let (status, doc) = s.call("PUT", &format!("{url}?release_ownership=true"), Some(&s.token), Some(body));
    assert_eq!(status, 200, "{doc}");
    let plan = s.cli_env(&s.token, &["plan", "-f", &file], b"", &env);
    assert!(plan.stdout.contains("unmanaged (released"), "{}", plan.stdout);
    seen += &plan.stdout;
    let applied = s.cli_env(&s.token, &["apply", "-f", &file, "--yes", "--json"], b"", &env).json();
    assert_eq!(applied["applied"], true);
    seen += &applied.to_string();

    let (status, openapi) = s.call("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(status, 200);
    assert!(
        openapi["paths"]["/api/v1/config/plan"].is_object() && openapi["paths"]["/api/v1/config/apply"].is_object()
    );
    // No value in any output or in the server's log; the audit has one record per change.
    seen += &s.log_text();
    assert_no_secret(&seen);
    let audit = s.cli(&s.token, &["audit", "ls", "--json"], b"").ok();
    assert!(audit.contains("config.entry.create") && audit.contains("vault.release"), "{audit}");
    assert_no_secret(&audit);
}

#[test]
fn import_export_round_trip_and_reveal_needs_read() {
    let t = LocalTresor::new();
    t.run_stdin(&["set", "db/password"], STRIPE.as_bytes()).ok();
    t.run(&["set", "--var", "db.host", "db.internal"]).ok();
    let hidden = t.run(&["export", "--format", "yaml"]).ok();
    assert!(hidden.contains("\"db/password\": null  # secret: value not exported"), "{hidden}");
    assert!(hidden.contains("\"db.host\": \"db.internal\""), "{hidden}");
    assert_no_secret(&hidden);
    assert_no_secret(&t.run(&["export"]).ok());
    let revealed = t.run(&["export", "--reveal", "--format", "json"]).ok();
    assert!(revealed.contains(STRIPE));
    let file = write(t.home(), "dump.json", &revealed);
    t.run(&["vault", "create", "copy"]).ok();
    t.run(&["--vault", "copy", "import", &file]).ok();
    assert_eq!(t.run(&["--vault", "copy", "get", "db/password"]).ok(), STRIPE);
    assert_eq!(t.run(&["--vault", "copy", "get", "db.host"]).ok(), "db.internal");
    // The env format holds only names a shell accepts (the others are listed on stderr).
    t.run_stdin(&["set", "PW"], STRIPE.as_bytes()).ok();
    let env = t.run(&["export", "--reveal"]);
    assert_eq!(env.code, 0, "{}", env.stderr);
    assert!(env.stderr.contains("db.host, db/password") && !env.stdout.contains("db/password"), "{}", env.stderr);
    let env_file = write(t.home(), "dump.env", &env.stdout);
    t.run(&["--vault", "copy", "import", &env_file]).ok();
    assert_eq!(t.run(&["--vault", "copy", "get", "PW"]).ok(), STRIPE);

    // On a server, --reveal needs read: a writer sees names only, and is refused the values.
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    s.cli_env(&s.token, &["set", "api_key"], STRIPE.as_bytes(), &[]).ok();
    s.cli(&s.token, &["principal", "create", "app:writer"], b"").ok();
    s.cli(&s.token, &["grant", "add", "app:writer", "default/default/*", "write"], b"").ok();
    let w =
        s.cli(&s.token, &["token", "create", "app:writer", "--json"], b"").json()["token"].as_str().unwrap().to_owned();
    assert!(s.cli(&w, &["export"], b"").ok().contains("api_key=\n"));
    s.cli(&w, &["export", "--reveal"], b"").fails(4, "read");
    let audit = s.cli(&s.token, &["audit", "ls", "--json"], b"").ok();
    assert!(audit.contains("\"denied\""), "the refused reveal is audited: {audit}");
}

/// On a terminal, `apply` asks before deleting: "n" leaves everything, "y" applies.
#[test]
fn apply_asks_on_a_terminal_before_deleting() {
    let (t, file) = local();
    t.run(&["apply", "-f", &file]).ok();
    let shorter = write(
        t.home(),
        "tresor.yaml",
        &CONFIG.replace("      api-url:           { variable: \"https://api.example.com\" }\n", ""),
    );
    let home = t.home().to_str().unwrap().to_owned();
    let env = [("TRESOR_HOME", home.as_str()), ("STRIPE_SECRET_KEY", STRIPE), ("SENDGRID_API_KEY", SENDGRID)];
    let (code, out) = common::run_on_tty(&["--local", "apply", "-f", &shorter], &env, "[y/N]", "n");
    assert_eq!(code, 2, "a refused question is a cancelled command: {out}");
    assert!(out.contains("apply cancelled; nothing was applied"), "{out}");
    assert!(out.contains("- entry prod/api-keys/api-url"), "the plan is shown before the question: {out}");
    assert_no_secret(&out);
    t.run(&["-e", "prod", "--vault", "api-keys", "get", "api-url"]).ok();
    let (code, out) = common::run_on_tty(&["--local", "apply", "-f", &shorter], &env, "[y/N]", "y");
    assert_eq!(code, 0, "{out}");
    t.run(&["-e", "prod", "--vault", "api-keys", "get", "api-url"]).fails(3, "entry api-url does not exist");
}

/// A server whose vault `default/default` (the one the compatibility APIs write) is managed by
/// config `platform`, holding secret `stripe`.
fn server_with_managed_default_vault() -> Server {
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0"), ("TRESOR_RATE_TINYBIRD", "0")]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "tresor.yaml",
        "name: platform\nvaults:\n  default:\n    environment: default\n    entries:\n      stripe: { secret: \"${env:STRIPE_SECRET_KEY}\" }\n",
    );
    s.cli_env(&s.token, &["apply", "-f", &file, "--yes"], b"", &[("STRIPE_SECRET_KEY", STRIPE)]).ok();
    s
}

/// The compatibility APIs have no way to confirm a release, so they refuse writes to a managed
/// vault in their own error shape, and the vault stays managed and unchanged.
#[test]
fn compatibility_apis_refuse_writes_to_a_managed_vault() {
    let s = server_with_managed_default_vault();

    let tinybird = ureq::post(&format!("{}/v0/secrets", s.addr))
        .set("Authorization", &format!("Bearer {}", s.token))
        .send_form(&[("name", "from_tinybird"), ("value", "x")]);
    let Err(ureq::Error::Status(status, resp)) = tinybird else { panic!("Tinybird write accepted") };
    let doc: serde_json::Value = resp.into_json().unwrap();
    assert!((400..500).contains(&status), "{status} {doc}");
    assert!(doc["error"].as_str().unwrap().contains("managed by config platform"), "{doc}");

    let conductor = ureq::put(&format!("{}/api/secrets/stripe", s.addr))
        .set("X-Authorization", &s.token)
        .set("Content-Type", "application/json")
        .send_string("overwritten");
    let Err(ureq::Error::Status(status, resp)) = conductor else { panic!("Conductor write accepted") };
    let doc: serde_json::Value = resp.into_json().unwrap();
    assert!((400..500).contains(&status), "{status} {doc}");
    assert!(doc["message"].as_str().unwrap().contains("managed by config platform"), "{doc}");

    assert_eq!(s.cli(&s.token, &["get", "stripe"], b"").ok(), STRIPE, "nothing changed");
    assert_eq!(s.cli(&s.token, &["get", "from_tinybird"], b"").code, 3);
    let vaults = s.cli(&s.token, &["vault", "ls", "--json"], b"").json();
    assert_eq!(vaults[0]["managed_by"], "platform", "still managed: {vaults}");
}

/// Tailor's config (and the README's first example without its `environment:` line).
const NO_ENVIRONMENT: &str = r#"vaults:
  api-keys:
    entries:
      stripe-secret-key: { secret: "${env:STRIPE_SECRET_KEY}" }
"#;

/// Issue #14: a vault without `environment` was an error (`missing field environment`) and `-e`
/// did not supply one. It goes to `-e` / `TRESOR_ENV`, else `default`; one that names its
/// environment keeps it.
#[test]
fn a_vault_without_environment_goes_to_the_chosen_environment() {
    let t = LocalTresor::new().with_env("STRIPE_SECRET_KEY", STRIPE).with_env("SENDGRID_API_KEY", SENDGRID);
    let file = write(t.home(), "tailor.yaml", NO_ENVIRONMENT);
    let mut seen = String::new();
    for (args, env, vault) in [
        (&["plan", "-f", &file][..], &[][..], "default/api-keys"),
        (&["-e", "prod", "plan", "-f", &file], &[], "prod/api-keys"),
        (&["plan", "-f", &file], &[("TRESOR_ENV", "staging")], "staging/api-keys"),
        (&["-e", "dev", "plan", "-f", &file], &[("TRESOR_ENV", "staging")], "dev/api-keys"),
    ] {
        let plan = t.run_with_env(args, env);
        assert_eq!(plan.code, 10, "{args:?}: {}", plan.stderr);
        assert!(plan.stdout.contains(&format!("+ vault {vault}")), "{args:?}: {}", plan.stdout);
        assert!(plan.stdout.contains(&format!("+ entry {vault}/stripe-secret-key")), "{}", plan.stdout);
        seen += &plan.stdout;
    }
    seen += &t.run(&["-e", "prod", "apply", "-f", &file, "--yes"]).ok();
    assert_eq!(t.run(&["-e", "prod", "--vault", "api-keys", "get", "stripe-secret-key"]).ok(), STRIPE);
    assert_eq!(t.run(&["-e", "prod", "plan", "-f", &file]).code, 0, "nothing pending in prod");
    // A vault that names its environment keeps it, whatever -e says.
    let named = write(t.home(), "tresor.yaml", CONFIG);
    let plan = t.run(&["-e", "staging", "plan", "-f", &named]);
    assert!(plan.stdout.contains("vault prod/api-keys") && !plan.stdout.contains("staging"), "{}", plan.stdout);
    seen += &plan.stdout;

    // Through a server: the CLI resolves the environment before sending the desired state.
    let s = Server::start(&[("TRESOR_RATE_MANAGEMENT", "0")]);
    let env = [("STRIPE_SECRET_KEY", STRIPE)];
    seen += &s.cli_env(&s.token, &["-e", "prod", "apply", "-f", &file, "--yes"], b"", &env).ok();
    assert_eq!(s.cli(&s.token, &["-e", "prod", "--vault", "api-keys", "get", "stripe-secret-key"], b"").ok(), STRIPE);
    assert_no_secret(&seen);
    assert_no_secret(&s.log_text());
}

/// Issue #14, item 11: the compatibility APIs cannot confirm releasing a managed vault (their
/// clients have no such flag, and `?release_ownership=true` is the native API's), so their
/// refusal says what does work: change the config, or release the vault with a confirmed change
/// through the CLI or the native API. Doing what it says lets the same call through.
#[test]
fn compatibility_apis_refusing_a_managed_vault_say_what_works_there() {
    let s = server_with_managed_default_vault();
    // Status and JSON answer of a call (ureq reports 4xx as errors).
    let answer = |r: Result<ureq::Response, ureq::Error>| match r {
        Ok(resp) => (resp.status(), serde_json::Value::Null),
        Err(ureq::Error::Status(status, resp)) => (status, resp.into_json::<serde_json::Value>().unwrap()),
        Err(e) => panic!("{e}"),
    };
    let tinybird = || {
        answer(
            ureq::post(&format!("{}/v0/secrets", s.addr))
                .set("Authorization", &format!("Bearer {}", s.token))
                .send_form(&[("name", "from_tinybird"), ("value", "tb-MANAGED-1")]),
        )
    };
    let conductor = || {
        answer(
            ureq::put(&format!("{}/api/secrets/from_conductor", s.addr))
                .set("X-Authorization", &s.token)
                .set("Content-Type", "text/plain")
                .send_string("orkes-MANAGED-2"),
        )
    };
    let (tb_status, tb_doc) = tinybird();
    let (orkes_status, orkes_doc) = conductor();
    for (status, message) in [(tb_status, &tb_doc["error"]), (orkes_status, &orkes_doc["message"])] {
        let message = message.as_str().unwrap_or_default();
        assert!((400..500).contains(&status), "{status} {message}");
        assert!(message.contains("vault default/default is managed by config platform"), "{message}");
        assert!(message.contains("this API cannot confirm releasing it"), "{message}");
        assert!(message.contains("tresor apply") && message.contains("--yes"), "{message}");
        assert!(message.contains("/api/v1/") && message.contains("release_ownership=true"), "{message}");
        assert!(!message.contains("API: ?release_ownership=true"), "not offered as working here: {message}");
    }
    // As the refusal says: a confirmed change with the CLI releases the vault...
    s.cli(&s.token, &["set", "stripe", "--yes"], STRIPE2.as_bytes()).ok();
    let vaults = s.cli(&s.token, &["vault", "ls", "--json"], b"").json();
    assert!(vaults[0]["managed_by"].is_null(), "released: {vaults}");
    // ...and the compatibility APIs' writes go through.
    assert_eq!(tinybird().0, 200);
    assert_eq!(conductor().0, 200);
    assert_eq!(s.cli(&s.token, &["get", "from_conductor"], b"").ok(), "orkes-MANAGED-2");
    let log = s.log_text();
    assert!(!log.contains("-MANAGED-") && !log.contains(STRIPE) && !log.contains(STRIPE2), "a value is in the log");
}
