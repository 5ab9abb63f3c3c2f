//! The verbs on the places entries live in: vaults and environments (branches included).

use super::done;
use crate::args::{EnvCommand, VaultCommand};
use crate::backend::Backend;
use crate::error::exit;
use crate::error::Result;
use crate::output;
use crate::target::Target;
use serde_json::json;
use tresor_model::EnvName;

/// `vault create|ls|rm`.
pub(crate) async fn vault(backend: &dyn Backend, scope: &Target, cmd: VaultCommand) -> Result<i32> {
    match cmd {
        VaultCommand::Create { name } => {
            let vault = scope.vault_named(&name)?;
            backend.create_vault(&vault).await?;
            done(scope, json!({"created": "vault", "vault": name, "environment": scope.env}), || {
                format!("created vault {name} in environment {}", scope.env)
            })?;
        }
        VaultCommand::Ls => {
            let vaults = backend.list_vaults(&scope.env).await?;
            output::vaults(scope.json, &vaults)?;
        }
        VaultCommand::Rm { name } => {
            backend.delete_vault(&scope.vault_named(&name)?, scope.on_managed).await?;
            done(scope, json!({"deleted": "vault", "vault": name, "environment": scope.env}), || {
                format!("deleted vault {name} from environment {}", scope.env)
            })?;
        }
    }
    Ok(exit::OK)
}

/// `env create|ls`.
pub(crate) async fn environment(backend: &dyn Backend, scope: &Target, cmd: EnvCommand) -> Result<i32> {
    match cmd {
        EnvCommand::Create { name, parent } => {
            let env = EnvName::new(name.as_str())?;
            let parent = parent.map(EnvName::new).transpose()?;
            backend.create_environment(&env, parent.as_ref()).await?;
            done(scope, json!({"created": "environment", "environment": env, "parent": parent}), || match &parent {
                Some(p) => format!("created environment {env} (branch of {p})"),
                None => format!("created environment {env}"),
            })?;
        }
        EnvCommand::Ls => {
            let envs = backend.list_environments().await?;
            output::environments(scope.json, &envs)?;
        }
    }
    Ok(exit::OK)
}
