//! tresor's declarative config: which environments, vaults, entries and grants should exist.
//!
//! Teams keep the *layout* of their secrets in git (`tresor.yaml`) and the *values* in their CI's
//! environment. This crate is pure: [`parse`] turns the file into a [`DesiredState`], validating
//! every name with tresor-model's validators and resolving `${env:NAME}` references through a
//! lookup function the caller passes in (so tests need no process environment). The service
//! compares a [`DesiredState`] with the store and answers a [`Plan`]; both documents travel over
//! the native API as they are (they are also the API's JSON), and a plan never carries a value.
//!
//! ```yaml
//! name: payments                # optional; defaults to the file's base name (tresor.yaml: "tresor")
//! environments: [dev, prod]
//! vaults:
//!   api-keys:                   # or `prod/api-keys:` without `environment`; with neither,
//!     environment: prod         # the environment `parse` is given (the CLI's -e, else default)
//!     entries:
//!       stripe-secret-key: { secret: "${env:STRIPE_SECRET_KEY}" }
//!       api-url:           { variable: "https://api.example.com" }
//! grants:
//!   - { principal: app:orkes-workers, scope: "prod/api-keys/*", access: read }
//! ```

mod parse;
mod plan;
pub mod yaml;

pub use parse::{parse, ConfigError};
pub use plan::{Change, ChangeOp, Plan, PlanTarget};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// A resolved value of the desired state. Wiped on drop; `Debug` shows only its length. It is
/// serialized only inside a [`DesiredState`] sent to a server for planning or applying.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigValue(Zeroizing<String>);

impl ConfigValue {
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ConfigValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConfigValue(<{} bytes>)", self.0.len())
    }
}

impl Serialize for ConfigValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ConfigValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

/// What a config file declares, with every `${env:...}` resolved and every name validated.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DesiredState {
    /// The config's name, recorded as the owner (`managed_by`) of the vaults it declares.
    pub name: String,
    /// Environments that must exist (each vault's environment is included).
    #[serde(default)]
    pub environments: Vec<String>,
    /// Vaults the config manages: apply makes each match exactly.
    #[serde(default)]
    pub vaults: Vec<DesiredVault>,
    #[serde(default)]
    pub grants: Vec<DesiredGrant>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DesiredVault {
    pub environment: String,
    pub name: String,
    pub entries: Vec<DesiredEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DesiredEntry {
    pub key: String,
    /// `secret` or `variable`.
    pub kind: String,
    /// The resolved value. Sent to the server only to be sealed there; never returned.
    #[schema(value_type = String)]
    pub value: ConfigValue,
}

/// A grant the config wants to exist: a principal's access on a scope of `ENV/VAULT/KEY` globs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DesiredGrant {
    pub principal: String,
    pub scope: String,
    pub access: String,
}

impl DesiredGrant {
    /// The `(env, vault)` a scope falls within entirely, when both are literal names (no glob):
    /// a grant on `prod/api-keys/*` is within vault `prod/api-keys`, one on `prod/*` is not.
    pub fn scope_vault(scope: &str) -> Option<(&str, &str)> {
        let mut parts = scope.splitn(3, '/');
        let (env, vault) = (parts.next()?, parts.next()?);
        let literal = |s: &str| !s.is_empty() && !s.contains(['*', '?']);
        (literal(env) && literal(vault)).then_some((env, vault))
    }
}
