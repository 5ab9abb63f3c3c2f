//! Where a command acts, resolved once from the global options.

use crate::args::Global;
use crate::error::Result;
use tresor_model::{EntryKey, EntryPath, EnvName, VaultName, VaultPath, WorkspaceName};

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
}

impl Target {
    pub fn from_global(g: &Global) -> Result<Self> {
        Ok(Self {
            workspace: WorkspaceName::new(g.workspace.as_str())?,
            env: EnvName::new(g.env.as_str())?,
            vault: VaultName::new(g.vault.as_str())?,
            json: g.json,
            yes: g.yes,
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
