//! Where a command acts, resolved once from the global options.

use crate::args::Global;
use crate::error::Result;
use tresor_model::{EntryKey, EntryPath, EnvName, OnManaged, VaultName, VaultPath, WorkspaceName};

/// The resolved global options: where a command acts (workspace, environment, vault) and how it
/// answers (`--json`, `--yes`). Not to be confused with a grant's `Scope` (a glob over
/// environments, vaults and keys) in `tresor-model`.
#[derive(Clone)]
pub struct Target {
    pub workspace: WorkspaceName,
    pub env: EnvName,
    pub vault: VaultName,
    pub json: bool,
    /// `--yes`: confirm without asking.
    pub yes: bool,
    /// Whether this command's changes release a vault managed by a declarative config: set by
    /// `config_cmd::confirm_managed` once the user confirmed, and passed with each change.
    pub on_managed: OnManaged,
}

impl Target {
    pub fn from_global(g: &Global) -> Result<Self> {
        Ok(Self {
            workspace: WorkspaceName::new(g.workspace.as_str())?,
            env: EnvName::new(g.env.as_str())?,
            vault: VaultName::new(g.vault.as_str())?,
            json: g.json,
            yes: g.yes,
            on_managed: OnManaged::Refuse,
        })
    }

    pub fn vault_path(&self) -> VaultPath {
        VaultPath { workspace: self.workspace.clone(), environment: self.env.clone(), vault: self.vault.clone() }
    }

    pub(crate) fn vault_named(&self, name: &str) -> Result<VaultPath> {
        Ok(VaultPath { vault: VaultName::new(name)?, ..self.vault_path() })
    }

    pub(crate) fn entry(&self, key: &str) -> Result<EntryPath> {
        Ok(self.vault_path().entry(EntryKey::new(key)?))
    }
}
