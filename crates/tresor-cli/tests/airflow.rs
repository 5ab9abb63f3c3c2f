//! Apache Airflow with tresor as its secrets backend (`tresor.airflow.TresorBackend`, in the
//! Python SDK): the real `airflow` CLI, installed from PyPI into `target/airflow-venv` by
//! `.ci/run` (pinned), reads a Variable and Connections (JSON and URI forms) from a real `tresor
//! serve`, and a task that logs a connection's password shows `***` (Airflow's own masker), also
//! when run under `tresor run`, which masks besides every value the task prints that Airflow
//! does not know to mask. Without the venv the tests are skipped, except in CI.

use crate::common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Airflow release the tests run against; `.ci/run` installs it.
const AIRFLOW_VERSION: &str = "2.11.2";

const VARIABLE_VALUE: &str = "airflow-variable-value-4e1f";
const JSON_PASSWORD: &str = "airflow-json-password-9c2d";
const URI_PASSWORD: &str = "airflow-uri-password-7b3a";
const CONFIG_VALUE: &str = "airflow-config-value-1f6c";
/// A secret whose name does not look sensitive to Airflow, so Airflow prints it as it is.
const PLAIN_NAMED_SECRET: &str = "airflow-partner-webhook-5d8e";

/// A DAG whose one task logs what it read through the backend.
const DAG: &str = r#"
import logging

import pendulum
from airflow import DAG
from airflow.hooks.base import BaseHook
from airflow.models import Variable
from airflow.operators.python import PythonOperator

log = logging.getLogger("airflow.task")


def show():
    log.info("connection password: %s", BaseHook.get_connection("pg_json").password)
    log.info("partner webhook: %s", Variable.get("partner_webhook"))


with DAG("tresor_masking", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), schedule=None, catchup=False):
    PythonOperator(task_id="show", python_callable=show)
"#;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's `bin` directory when it holds the pinned Airflow; in CI it must.
fn airflow_venv(test: &str) -> Option<PathBuf> {
    let bin = repo().join("target/airflow-venv/bin");
    let pinned = Command::new(bin.join("python"))
        .args(["-c", "import airflow, sys; sys.exit(airflow.__version__ != sys.argv[1])", AIRFLOW_VERSION])
        .output()
        .is_ok_and(|out| out.status.success());
    if pinned {
        return Some(bin);
    }
    let missing = format!("Apache Airflow {AIRFLOW_VERSION} in target/airflow-venv (.ci/run installs it)");
    common::skip::skip(test, &missing);
    None
}

/// A tresor server holding a Variable, a Connection in each form and a secret Variable, all
/// under `airflow/`, and a token that may only read them.
fn server_with_airflow_entries() -> (Server, String) {
    let s = Server::start(&[]);
    let admin = s.token.clone();
    s.cli(&admin, &["set", "--var", "airflow/variables/greeting", VARIABLE_VALUE], b"").ok();
    let json = format!(
        r#"{{"conn_type": "postgres", "login": "app", "password": "{JSON_PASSWORD}", "host": "db.internal", "port": 5432, "schema": "orders"}}"#
    );
    s.set_all(
        &admin,
        &[
            ("airflow/connections/pg_json", &json),
            ("airflow/connections/pg_uri", &format!("postgres://app:{URI_PASSWORD}@db2.internal:5433/billing")),
            ("airflow/variables/partner_webhook", PLAIN_NAMED_SECRET),
        ],
    );
    let reader = principal(&s, "app:airflow", &[("default/default/airflow/*", "read")]);
    (s, reader)
}

/// An Airflow home (sqlite metastore, migrated) whose secrets backend is tresor at `s` with
/// the token in a file.
struct Airflow {
    bin: PathBuf,
    home: tempfile::TempDir,
    kwargs: String,
}

impl Airflow {
    fn new(bin: PathBuf, s: &Server, token: &str) -> Self {
        Self::with_kwargs(bin, s, token, serde_json::json!({}))
    }

    /// [`Airflow::new`] with these `backend_kwargs` besides the address and the token file.
    fn with_kwargs(bin: PathBuf, s: &Server, token: &str, extra: serde_json::Value) -> Self {
        let home = tempfile::tempdir().unwrap();
        let token_file = home.path().join("tresor-token");
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        std::fs::create_dir(home.path().join("dags")).unwrap();
        std::fs::write(home.path().join("dags/tresor_masking.py"), DAG).unwrap();
        let mut kwargs = serde_json::json!({"addr": s.addr, "token_file": token_file});
        kwargs.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let kwargs = kwargs.to_string();
        let airflow = Self { bin, home, kwargs };
        airflow.run(&["db", "migrate"]).ok();
        airflow
    }

    /// `cmd` with Airflow's settings and this home (none of the caller's `AIRFLOW*` or
    /// `TRESOR_*` variables), the SDK taken from this checkout.
    fn configure(&self, cmd: &mut Command) {
        common::without_tresor_env(cmd);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AIRFLOW") {
                cmd.env_remove(name);
            }
        }
        cmd.env("AIRFLOW_HOME", self.home.path())
            .env("AIRFLOW__CORE__DAGS_FOLDER", self.home.path().join("dags"))
            .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
            .env("AIRFLOW__SECRETS__BACKEND", "tresor.airflow.TresorBackend")
            .env("AIRFLOW__SECRETS__BACKEND_KWARGS", &self.kwargs)
            .env("PYTHONPATH", repo().join("sdk/python/src"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONWARNINGS", "ignore");
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[])
    }

    fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(self.bin.join("airflow"));
        self.configure(&mut cmd);
        Run::from(cmd.args(args).envs(env.iter().copied()).output().unwrap())
    }

    /// `tresor run -- airflow ARGS` against `s` with `token`.
    fn run_under_tresor(&self, s: &Server, token: &str, args: &[&str]) -> Run {
        let mut cmd = Command::new(BIN);
        self.configure(&mut cmd);
        cmd.env("TRESOR_ADDR", &s.addr).env("TRESOR_TOKEN", token).args(["run", "--"]).arg(self.bin.join("airflow"));
        Run::from(cmd.args(args).output().unwrap())
    }
}

fn assert_no_value_in_server_log(s: &Server) {
    let log = s.log_text();
    assert!(log.contains("tresor listening on"), "not a server log: {log}");
    for value in [VARIABLE_VALUE, JSON_PASSWORD, URI_PASSWORD, PLAIN_NAMED_SECRET] {
        assert!(!log.contains(value), "the server log holds a value:\n{log}");
    }
}

#[test]
fn the_airflow_cli_reads_variables_and_connections_from_tresor() {
    let Some(bin) = airflow_venv("airflow::the_airflow_cli_reads_variables_and_connections_from_tresor") else {
        return;
    };
    let (s, reader) = server_with_airflow_entries();
    let airflow = Airflow::new(bin, &s, &reader);

    assert_eq!(airflow.run(&["variables", "get", "greeting"]).ok(), format!("{VARIABLE_VALUE}\n"));

    for (conn_id, host, port, schema, password) in [
        ("pg_json", "db.internal", "5432", "orders", JSON_PASSWORD),
        ("pg_uri", "db2.internal", "5433", "billing", URI_PASSWORD),
    ] {
        let doc = airflow.run(&["connections", "get", conn_id, "-o", "json"]).json();
        let conn = &doc[0];
        assert_eq!(conn["conn_id"], conn_id, "{doc}");
        assert_eq!(conn["conn_type"], "postgres", "{doc}");
        assert_eq!(conn["host"], host, "{doc}");
        assert_eq!(conn["port"], port, "{doc}");
        assert_eq!(conn["schema"], schema, "{doc}");
        assert_eq!(conn["login"], "app", "{doc}");
        assert_eq!(conn["password"], password, "{doc}");
    }

    // A key tresor does not hold is None for Airflow, which then looks in its metastore.
    let missing = airflow.run(&["variables", "get", "nope", "--verbose"]);
    let said = format!("{}{}", missing.stdout, missing.stderr);
    assert_eq!(missing.code, 1, "{said}");
    assert!(said.contains("Variable nope does not exist"), "{said}");
    assert!(said.contains("/values/airflow/variables/nope \"HTTP/1.1 404"), "asked tresor: {said}");
    assert!(!said.contains("TresorBackend"), "a missing key is not an error: {said}");

    // A bad token is an error that says so (Airflow logs it and goes on to its next backend),
    // without the token.
    let bad_token = format!("{}x", reader);
    let wrong = Airflow::new(airflow.bin.clone(), &s, &bad_token);
    let refused = wrong.run(&["variables", "get", "greeting", "--verbose"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let said = format!("{}{}", refused.stdout, refused.stderr);
    assert!(said.contains("Unable to retrieve variable from secrets backend (TresorBackend)"), "{said}");
    assert!(said.contains("tresor._errors.Unauthenticated"), "{said}");
    assert!(!said.contains(&reader) && !said.contains(VARIABLE_VALUE), "{said}");

    assert_no_value_in_server_log(&s);
}

#[test]
fn a_task_logs_a_connection_password_masked_by_airflow_and_under_tresor_run() {
    let Some(bin) = airflow_venv("airflow::a_task_logs_a_connection_password_masked_by_airflow_and_under_tresor_run")
    else {
        return;
    };
    let (s, reader) = server_with_airflow_entries();
    let airflow = Airflow::new(bin, &s, &reader);
    let task = ["tasks", "test", "tresor_masking", "show"];

    // Airflow masks a connection's password itself; a Variable whose name it does not take for
    // a secret it prints as it is.
    let out = airflow.run(&task);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(out.code, 0, "{said}");
    assert!(said.contains("connection password: ***\n"), "{said}");
    assert!(!said.contains(JSON_PASSWORD), "{said}");
    assert!(said.contains(&format!("partner webhook: {PLAIN_NAMED_SECRET}\n")), "{said}");

    // Under `tresor run`, every value the token reads is masked in the task's output too.
    let out = airflow.run_under_tresor(&s, &reader, &task);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(out.code, 0, "{said}");
    assert!(said.contains("connection password: ***\n"), "{said}");
    assert!(said.contains("partner webhook: [REDACTED]\n"), "{said}");
    for value in [JSON_PASSWORD, PLAIN_NAMED_SECRET] {
        assert!(!said.contains(value), "{value} leaked: {said}");
    }

    assert_no_value_in_server_log(&s);
}

/// Airflow options read from tresor (`[section] option_secret = name`), a prefix set to null
/// turning that lookup off, and backend arguments that contradict each other.
#[test]
fn airflow_config_from_tresor_and_lookups_turned_off() {
    let Some(bin) = airflow_venv("airflow::airflow_config_from_tresor_and_lookups_turned_off") else {
        return;
    };
    let (s, reader) = server_with_airflow_entries();
    s.cli(&s.token, &["set", "airflow/config/webserver_secret_key"], CONFIG_VALUE.as_bytes()).ok();
    let from_tresor = [("AIRFLOW__WEBSERVER__SECRET_KEY_SECRET", "webserver_secret_key")];
    let get_secret_key = ["config", "get-value", "webserver", "secret_key"];

    let airflow = Airflow::new(bin.clone(), &s, &reader);
    let got = airflow.run_with_env(&get_secret_key, &from_tresor);
    assert!(got.stdout.ends_with(&format!("\n{CONFIG_VALUE}\n")), "{}{}", got.stdout, got.stderr);

    let off = serde_json::json!({"variables_prefix": null, "config_prefix": null});
    let airflow = Airflow::with_kwargs(bin, &s, &reader, off);
    let got = airflow.run_with_env(&get_secret_key, &from_tresor);
    let said = format!("{}{}", got.stdout, got.stderr);
    assert_eq!(got.code, 0, "{said}");
    assert!(!said.contains(CONFIG_VALUE) && !said.contains("/values/airflow/config/"), "{said}");
    let got = airflow.run(&["variables", "get", "greeting", "--verbose"]);
    let said = format!("{}{}", got.stdout, got.stderr);
    assert!(said.contains("Variable greeting does not exist"), "{said}");
    assert!(!said.contains("/values/airflow/variables/"), "tresor was asked: {said}");
    // Connections are still looked up.
    let doc = airflow.run(&["connections", "get", "pg_uri", "-o", "json"]).json();
    assert_eq!(doc[0]["password"], URI_PASSWORD, "{doc}");

    let both = serde_json::json!({"addr": s.addr, "token": reader, "token_file": "/dev/null"}).to_string();
    let got = airflow.run_with_env(&["variables", "get", "greeting"], &[("AIRFLOW__SECRETS__BACKEND_KWARGS", &both)]);
    let said = format!("{}{}", got.stdout, got.stderr);
    assert_ne!(got.code, 0, "{said}");
    assert!(said.contains("give the tresor backend either token or token_file, not both"), "{said}");
    assert!(!said.contains(&reader), "the token was shown: {said}");

    assert_no_value_in_server_log(&s);
    assert!(!s.log_text().contains(CONFIG_VALUE));
}
