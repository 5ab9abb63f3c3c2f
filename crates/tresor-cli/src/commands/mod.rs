//! The verbs on entries, vaults and environments, written once against [`Backend`] (local store
//! or server). `run` only dispatches: each verb group lives in its own file (`entries.rs`,
//! `places.rs`, `workflow.rs`; the config verbs in `config_cmd.rs`, `run`/`redact` in `exec.rs`,
//! the other platforms' shapes in `platforms/`). The helpers below are what they share.

mod entries;
mod places;
mod workflow;

pub(crate) use entries::{checked_groups, list_all, ls, rm, set_bulk, write_entry};

use crate::args::{StoreCommand, VaultCommand};
use crate::backend::Backend;
use crate::error::{CliError, Result};
use crate::output::{self, outln, EntryView};
use crate::target::Target;
use serde_json::json;
use std::io::IsTerminal;
use tresor_model::EntryPath;

/// Runs one command; returns the exit code for outcomes that are not errors but not success either
/// (a bulk `set @FILE` that wrote nothing, a webhook answered with an error status).
pub async fn run(backend: &dyn Backend, scope: &Target, command: StoreCommand) -> Result<i32> {
    // A change to a vault that a declarative config manages: warn, and release it if confirmed.
    let scope = &match &command {
        StoreCommand::Set(_) | StoreCommand::Rm(_) | StoreCommand::Undelete(_) | StoreCommand::Restore(_) => {
            crate::config_cmd::confirm_managed(backend, scope, &scope.vault_path()).await?
        }
        StoreCommand::Vault(VaultCommand::Rm { name }) => {
            crate::config_cmd::confirm_managed(backend, scope, &scope.vault_named(name)?).await?
        }
        _ => scope.clone(),
    };
    match command {
        StoreCommand::Plan(args) => crate::config_cmd::plan(backend, scope, args).await,
        StoreCommand::Apply(args) => crate::config_cmd::apply(backend, scope, args).await,
        StoreCommand::Import(args) => crate::config_cmd::import(backend, scope, args).await,
        StoreCommand::Export(args) => crate::config_cmd::export(backend, scope, args).await,
        StoreCommand::Set(args) => entries::set(backend, scope, args).await,
        StoreCommand::Get(args) => entries::get(backend, scope, args).await,
        StoreCommand::Kv(cmd) => crate::platforms::datatailr::run(backend, scope, cmd).await,
        StoreCommand::Secret(cmd) => crate::platforms::tailor::run(backend, scope, cmd).await,
        StoreCommand::Wf(cmd) => crate::platforms::treasure_data::run(backend, scope, cmd).await,
        StoreCommand::Ls(args) => entries::ls(backend, scope, args).await,
        StoreCommand::Rm(args) => entries::rm(backend, scope, args).await,
        StoreCommand::Undelete(args) => entries::undelete(backend, scope, args).await,
        StoreCommand::History(args) => entries::history(backend, scope, args).await,
        StoreCommand::Restore(args) => entries::restore(backend, scope, args).await,
        StoreCommand::Vault(cmd) => places::vault(backend, scope, cmd).await,
        StoreCommand::Run(args) => crate::exec::run(backend, scope, args).await,
        StoreCommand::Webhook(crate::args::WebhookCommand::Send { file }) => {
            workflow::webhook_send(backend, scope, file).await
        }
        StoreCommand::Redact(args) => crate::exec::redact(backend, scope, args).await,
        StoreCommand::Render(args) => workflow::render(backend, scope, args).await,
        StoreCommand::Environment(cmd) => places::environment(backend, scope, cmd).await,
    }
}

/// `get`'s output: the value as it is (a newline added on a terminal), or with `--json` a
/// document with its key, version and kind, and the value as the API gives it: `value` when it
/// is text, `value_base64` when it is not.
pub(crate) fn print_value(scope: &Target, path: &EntryPath, resolved: &tresor_service::Resolved) -> Result<()> {
    if scope.json {
        let mut doc = json!({"key": path.key, "version": resolved.meta.version, "kind": resolved.meta.kind});
        match tresor_client::encode_value(resolved.value.expose()) {
            (Some(text), _) => doc["value"] = json!(text),
            (_, b64) => doc["value_base64"] = json!(b64),
        }
        output::print_json(&doc)
    } else {
        output::write_out(resolved.value.expose())?;
        if std::io::stdout().is_terminal() {
            output::write_out(b"\n")?;
        }
        Ok(())
    }
}

/// The text of `path`, or of stdin when `path` is `-`.
pub(crate) fn read_file_or_stdin(path: &str, what: &str) -> Result<String> {
    if path == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| CliError::Usage(format!("reading {what} from stdin: {e}")))?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).map_err(|e| CliError::Usage(format!("cannot read {what} {path}: {e}")))
    }
}

pub(crate) fn done(scope: &Target, doc: serde_json::Value, human: impl FnOnce() -> String) -> Result<()> {
    if scope.json {
        output::print_json(&doc)
    } else {
        outln!("{}", human())
    }
}

pub(crate) fn print_written(scope: &Target, verb: &str, meta: &tresor_model::EntryMeta) -> Result<()> {
    let mut view = serde_json::to_value(EntryView::new(meta, None)).expect("serializable");
    view["vault"] = json!(scope.vault);
    view["environment"] = json!(scope.env);
    done(scope, view, || {
        format!("{verb} {} {} (version {}) in {}/{}", meta.kind, meta.key, meta.version, scope.env, scope.vault)
    })
}
