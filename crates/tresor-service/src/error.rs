//! The service layer's error and its [`ErrorKind`]. Statuses and exit codes are the surfaces'
//! business (`tresor-server`, `tresor-cli`).

use thiserror::Error;
use tresor_crypto::CryptoError;
use tresor_model::{ErrorKind, NameError};
use tresor_store::StoreError;

/// Everything a use case can refuse or fail with. Messages say what went wrong and what to do; they
/// name entries by path and limits by value, never quote a stored or submitted secret value.
#[derive(Debug, Error)]
pub enum ServiceError {
    #[error(transparent)]
    InvalidName(#[from] NameError),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{what} is {kind_is}; {hint}")]
    KindMismatch { what: String, kind_is: &'static str, hint: &'static str },
    #[error("the value of {key} is {size} bytes; the limit is {limit} bytes (max_value_bytes)")]
    ValueTooLarge { key: String, size: usize, limit: usize },
    #[error("workspace {workspace} already holds {limit} entries, its limit (max_entries); delete or purge entries, or raise the limit")]
    EntryLimit { workspace: String, limit: u64 },
    /// A write held to [`crate::Limits::vault_secret_quota`] would pass it.
    #[error("vault {vault} already holds {held} secrets and the limit is {limit}; delete a secret or raise the limit")]
    VaultSecretLimit { vault: String, held: u64, limit: u64 },
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// A credential that was valid has expired (a token, an application key).
    #[error("{0}")]
    Expired(String),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("{0}")]
    Storage(String),
    /// The database's disk is full ([`StoreError::OutOfSpace`]).
    #[error("{0}")]
    OutOfSpace(String),
    /// The database cannot be reached ([`StoreError::Unavailable`]).
    #[error("{0}")]
    Unavailable(String),
    /// A call tresor made on the caller's behalf (a webhook) failed.
    #[error("{0}")]
    Upstream(String),
    /// A change to a vault that a declarative config owns, without confirming that it should
    /// release the vault from the config. `confirmable` tells whether the request's surface can
    /// confirm (see `Ctx::can_confirm_release`), which decides what the message offers.
    #[error("{}", managed_message(vault, config, *confirmable))]
    Managed { vault: String, config: String, confirmable: bool },
    /// A change through a surface on which a branch's secrets are read-only (the Tinybird- and
    /// Conductor-compatible APIs, see `Ctx::read_only_branches`): secrets are made in the main
    /// environment, and a branch reads them through. The message is Tinybird's.
    #[error(
        "You cannot create a secret in a Branch: environment {branch} is a branch of {parent} and reads its \
         secrets from there; create, change or delete the secret in {parent} (on this API with a token bound \
         to {parent}; with the CLI `tresor -e {parent} ...`), and {branch} reads it through"
    )]
    BranchReadOnly { branch: String, parent: String },
    /// A declarative config's apply failed part-way; its batch was rolled back.
    #[error("applying config {config} failed, nothing was applied: {source}")]
    ApplyFailed { config: String, source: Box<ServiceError> },
}

/// What a refused change to a managed vault says: how to go ahead where the surface can confirm
/// a release, and where it cannot (the compatibility APIs), what does work instead.
fn managed_message(vault: &str, config: &str, confirmable: bool) -> String {
    if confirmable {
        format!(
            "vault {vault} is managed by config {config} (`tresor apply`): change the config file and apply it, \
             or confirm this change (CLI: --yes or answer the prompt; API: ?release_ownership=true), which \
             releases the vault from the config until an apply takes it back"
        )
    } else {
        format!(
            "vault {vault} is managed by config {config} (`tresor apply`), and this API cannot confirm releasing \
             it: change the config file and apply it, or release the vault with a confirmed change through the \
             tresor CLI (for example `tresor set KEY --yes`) or the native API (`?release_ownership=true` on \
             /api/v1/...); this API's writes then go through until an apply takes the vault back"
        )
    }
}

impl ServiceError {
    /// What kind of failure this is. Each surface turns the kind into its own protocol (an HTTP
    /// status and a platform's error shape in `tresor-server`, an exit code in `tresor-cli`).
    pub fn kind(&self) -> ErrorKind {
        use ServiceError::*;
        match self {
            InvalidName(_) | InvalidInput(_) | KindMismatch { .. } => ErrorKind::Invalid,
            NotFound(_) => ErrorKind::NotFound,
            Denied(_) | BranchReadOnly { .. } => ErrorKind::Denied,
            Unauthenticated(_) => ErrorKind::Unauthenticated,
            Expired(_) => ErrorKind::Expired,
            ValueTooLarge { .. } => ErrorKind::TooLarge,
            EntryLimit { .. } | VaultSecretLimit { .. } => ErrorKind::Limit,
            AlreadyExists(_) => ErrorKind::AlreadyExists,
            Conflict(_) | Managed { .. } => ErrorKind::Conflict,
            Crypto(_) | Storage(_) => ErrorKind::Internal,
            OutOfSpace(_) => ErrorKind::OutOfSpace,
            Unavailable(_) => ErrorKind::Unavailable,
            Upstream(_) => ErrorKind::Upstream,
            ApplyFailed { source, .. } => source.kind(),
        }
    }

    /// A short outcome label for the audit log (its spellings are part of the audit format).
    pub fn outcome(&self) -> &'static str {
        match self.kind() {
            ErrorKind::Denied => "denied",
            ErrorKind::Unauthenticated | ErrorKind::Expired => "unauthenticated",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Invalid => "invalid",
            ErrorKind::TooLarge | ErrorKind::Limit | ErrorKind::RateLimited => "limit",
            ErrorKind::AlreadyExists | ErrorKind::Conflict => "conflict",
            ErrorKind::Internal | ErrorKind::OutOfSpace | ErrorKind::Unavailable => "error",
            ErrorKind::Upstream => "upstream_error",
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists(what) => ServiceError::AlreadyExists(what),
            StoreError::NotFound(what) => ServiceError::NotFound(format!("{what} does not exist")),
            e @ StoreError::VersionConflict { .. } => ServiceError::Conflict(e.to_string()),
            e @ StoreError::VaultNotEmpty { .. } => {
                ServiceError::Conflict(format!("{e}; remove its entries with `tresor rm --purge` first"))
            }
            // The service supplies the workspace name where it knows it; see `Service::set`.
            StoreError::EntryLimit { limit } => ServiceError::EntryLimit { workspace: "this".into(), limit },
            StoreError::VaultSecretLimit { vault, live, limit } => {
                ServiceError::VaultSecretLimit { vault, held: live, limit }
            }
            e @ (StoreError::Backend(_) | StoreError::Corrupt(_)) => ServiceError::Storage(e.to_string()),
            e @ StoreError::OutOfSpace(_) => ServiceError::OutOfSpace(e.to_string()),
            e @ StoreError::Unavailable(_) => ServiceError::Unavailable(e.to_string()),
            // The change was rolled back with its record (fail-closed): the same answer as a read
            // whose record the audit writer could not write.
            e @ StoreError::AuditAppend(_) => ServiceError::Storage(format!("{e}; the request was refused")),
            StoreError::NotEmpty(message) => ServiceError::Conflict(message),
            e @ StoreError::KeysChanged(_) => ServiceError::Conflict(e.to_string()),
            StoreError::InvalidSnapshot(message) | StoreError::InvalidLocation(message) => {
                ServiceError::InvalidInput(message)
            }
        }
    }
}
