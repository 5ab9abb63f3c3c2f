//! `tresor key rotate-root` and `tresor key status`: key management on the store itself, beside
//! the servers that serve it (docs/operations.md, "Key management").

use crate::args::{KeyStatusArgs, RootKeyArgs, RootKeyProvider, RotateDataArgs, RotateRootArgs};
use crate::error::{CliError, Result};
use crate::local::{self, KEY_FILE};
use crate::output::outln;
use crate::root_key::{self, Provider, PROVIDER_META};
use std::path::Path;
use std::sync::Arc;
use tresor_model::WorkspaceName;
use tresor_service::{Caller, Ctx};
use tresor_store::MetaRewrap;

/// Where a rotation to the key-file provider writes the new key until the rotation commits.
const NEW_KEY_FILE: &str = "root.key.new";

pub async fn rotate_root(args: RotateRootArgs, json: bool) -> Result<i32> {
    let current_keys = args.location.keys.clone();
    let (dir, storage) = args.location.resolve()?;
    // Opening the service checks the current key: it must open every key of the store.
    let svc = local::open_service_on(&dir, &storage, &current_keys).await?;
    let recorded = svc.store().get_meta(PROVIDER_META).await.map_err(|e| CliError::Service(e.into()))?;
    let current = root_key::provider_of(svc.store().as_ref()).await?.unwrap_or(Provider::File);
    let target = args.to_provider.unwrap_or(match current {
        Provider::File => RootKeyProvider::File,
        Provider::Passphrase { .. } => RootKeyProvider::Passphrase,
        Provider::Command => RootKeyProvider::Command,
        Provider::CommandUnwrap { .. } => RootKeyProvider::CommandUnwrap,
    });
    let same_command = (target == RootKeyProvider::CommandUnwrap).then(|| current_keys.root_key_command.clone());
    let new_keys = RootKeyArgs {
        root_key_provider: Some(target),
        passphrase_file: args.new_passphrase_file,
        passphrase_fd: args.new_passphrase_fd,
        root_key_command: args.new_root_key_command.or(same_command.flatten()),
        root_key_command_timeout: current_keys.root_key_command_timeout,
    };
    if target == RootKeyProvider::Command && new_keys.root_key_command.is_none() {
        return Err(CliError::Usage(
            "rotating to the command provider needs --new-root-key-command: a command that prints the NEW key".into(),
        ));
    }
    let new_file = dir.join(NEW_KEY_FILE);
    if target == RootKeyProvider::File && new_file.exists() {
        return Err(CliError::Usage(format!(
            "{} exists: an earlier rotation stopped before it finished. If `tresor serve` refuses {KEY_FILE}, that \
             rotation committed: move {NEW_KEY_FILE} to {KEY_FILE}; otherwise delete {NEW_KEY_FILE} and rotate again",
            new_file.display()
        )));
    }
    let (new_root, provider) = root_key::make_key(&new_keys, target, &new_file)?;
    // No record for a store that had none and keeps the key file; any other change is recorded.
    let change = match (&recorded, &provider) {
        (None, Provider::File) => None,
        _ => Some(MetaRewrap { key: PROVIDER_META.into(), old: recorded, new: root_key::record_of(&provider) }),
    };
    let owner = Caller::owner(WorkspaceName::default_name(), &local::local_user());
    let ctx = Ctx::new(Arc::new(owner), "key-rotate-root");
    let rotated = match svc.rotate_root(&ctx, &new_root, change).await {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&new_file);
            return Err(e.into());
        }
    };
    drop(svc);
    if provider == Provider::File {
        install_key_file(&dir, &new_file)?;
    }
    if json {
        let doc = serde_json::json!({
            "rotated": true,
            "data_keys": rotated.data_keys,
            "workspaces": rotated.workspaces,
            "provider": provider.name(),
            "storage": storage.describe(),
        });
        outln!("{doc}")?;
    } else {
        outln!(
            "Re-wrapped {} data keys of {} workspaces under a new root key (provider {}) in {}.\n{}",
            rotated.data_keys,
            rotated.workspaces,
            provider.name(),
            storage.describe(),
            next_start_hint(&provider, &dir)
        )?;
    }
    Ok(0)
}

/// Moves the new key file over the old one (an atomic rename: the directory holds one key or the
/// other, never none).
fn install_key_file(dir: &Path, new_file: &Path) -> Result<()> {
    let key_file = dir.join(KEY_FILE);
    std::fs::rename(new_file, &key_file).map_err(|e| {
        CliError::Io(format!(
            "the rotation committed, but {} could not be moved to {}: {e}; move it yourself before the next start",
            new_file.display(),
            key_file.display()
        ))
    })
}

/// What the servers need at their next start, per provider.
fn next_start_hint(provider: &Provider, dir: &Path) -> String {
    let env_note = if std::env::var_os("TRESOR_ROOT_KEY").is_some() {
        " TRESOR_ROOT_KEY still holds the OLD key: set it to the new key (the content of the key file) or unset it."
    } else {
        ""
    };
    match provider {
        Provider::File => format!(
            "The new key is in {}; running servers keep serving. Copy it to every other server's data directory before \
             its next start.{env_note}",
            dir.join(KEY_FILE).display()
        ),
        Provider::Passphrase { .. } => {
            "Running servers keep serving; at their next start they need the NEW passphrase (the new salt is in the \
             store, every node reads it)."
                .into()
        }
        Provider::Command => "Running servers keep serving; at their next start the root-key command must print the \
                               NEW key."
            .into(),
        Provider::CommandUnwrap { .. } => {
            "Running servers keep serving; the new wrapped key is in the store, so every \
                                           node unwraps it with the same command at its next start."
                .into()
        }
    }
}

pub async fn rotate_data(args: RotateDataArgs, workspace: String, json: bool) -> Result<i32> {
    let workspace = WorkspaceName::new(&workspace).map_err(|e| CliError::Usage(format!("--workspace: {e}")))?;
    let keys = args.location.keys.clone();
    let (dir, storage) = args.location.resolve()?;
    let svc = local::open_service_on(&dir, &storage, &keys).await?;
    let owner = Caller::owner(workspace.clone(), &local::local_user());
    let ctx = Ctx::new(Arc::new(owner), "key-rotate-data");
    if !args.resume {
        let generation = svc.rotate_data(&ctx, &workspace).await?;
        eprintln!(
            "Data-key generation {generation} of workspace {workspace} is current: new writes are sealed with it."
        );
    }
    let mut total: u64 = 0;
    let page = loop {
        let page = svc.reencrypt_page(&ctx, &workspace, args.batch).await?;
        total += page.done as u64;
        eprintln!(
            "Re-encrypted {total} versions to generation {}; {} values remain on older generations.",
            page.generation, page.remaining
        );
        // No progress with values left means they moved under us; the next run picks them up.
        if page.remaining == 0 || page.done == 0 || args.stop_after.is_some_and(|most| total >= most) {
            break page;
        }
    };
    if json {
        let doc = serde_json::json!({
            "workspace": workspace.as_str(),
            "generation": page.generation,
            "reencrypted": total,
            "remaining": page.remaining,
        });
        outln!("{doc}")?;
    } else if page.remaining == 0 {
        outln!("Every kept value of workspace {workspace} is sealed with data-key generation {}.", page.generation)?;
    } else {
        outln!(
            "{} values of workspace {workspace} remain on older generations: run `tresor key rotate-data --resume`.",
            page.remaining
        )?;
    }
    Ok(0)
}

pub async fn status(args: KeyStatusArgs, json: bool) -> Result<i32> {
    let (_, storage) = args.location.resolve()?;
    let (store, exists) = storage.open().await?;
    if !exists {
        return Err(CliError::Service(tresor_service::ServiceError::NotFound(format!(
            "a tresor store at {}",
            storage.describe()
        ))));
    }
    let provider = root_key::provider_of(store.as_ref()).await?.unwrap_or(Provider::File);
    let keys = store.list_data_keys().await.map_err(|e| CliError::Service(e.into()))?;
    let mut workspaces: Vec<(WorkspaceName, u32, Vec<u32>)> = Vec::new();
    for (workspace, key) in keys {
        match workspaces.last_mut() {
            Some((w, _, generations)) if *w == workspace => generations.push(key.generation),
            _ => {
                let current = store.data_key(&workspace, None).await.map_err(|e| CliError::Service(e.into()))?;
                workspaces.push((workspace, current.generation, vec![key.generation]));
            }
        }
    }
    let mut report = Vec::new();
    for (w, current, generations) in workspaces {
        let counts = store.count_by_generation(&w).await.map_err(|e| CliError::Service(e.into()))?;
        let remaining: u64 = counts.iter().filter(|(g, _)| *g != current).map(|(_, n)| n).sum();
        report.push((w, current, generations, counts, remaining));
    }
    if json {
        let list: Vec<_> = report
            .iter()
            .map(|(w, current, generations, counts, remaining)| {
                let values: serde_json::Map<String, serde_json::Value> =
                    counts.iter().map(|(g, n)| (g.to_string(), (*n).into())).collect();
                serde_json::json!({
                    "workspace": w.as_str(),
                    "current_generation": current,
                    "generations": generations,
                    "values_by_generation": values,
                    "remaining_on_old_generations": remaining,
                })
            })
            .collect();
        let doc = serde_json::json!({ "provider": provider.name(), "storage": storage.describe(), "workspaces": list });
        outln!("{doc}")?;
    } else {
        outln!("Root key provider: {}\nStorage: {}", provider.name(), storage.describe())?;
        for (w, current, generations, counts, remaining) in &report {
            let all: Vec<String> = generations.iter().map(u32::to_string).collect();
            let values: Vec<String> = counts.iter().map(|(g, n)| format!("{n} on generation {g}")).collect();
            outln!(
                "Workspace {w}: data-key generation {current} current (generations {}); stored values: {}; {remaining} \
                 remain on older generations",
                all.join(", "),
                if values.is_empty() { "none".to_owned() } else { values.join(", ") }
            )?;
        }
    }
    Ok(0)
}
