//! The service layer's error, and the one table that maps it to CLI exit codes and HTTP statuses.

use thiserror::Error;
use tresor_crypto::CryptoError;
use tresor_model::NameError;
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
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("{0}")]
    Storage(String),
    /// A call tresor made on the caller's behalf (a webhook) failed.
    #[error("{0}")]
    Upstream(String),
    /// A change to a vault that a declarative config owns, without confirming that it should
    /// release the vault from the config. `confirmable` tells whether the request's surface can
    /// confirm (see `Ctx::can_confirm_release`), which decides what the message offers.
    #[error("{}", managed_message(vault, config, *confirmable))]
    Managed { vault: String, config: String, confirmable: bool },
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

/// Exit codes of the `tresor` command, documented in the README. They are part of the interface:
/// scripts branch on them.
pub mod exit {
    pub const OK: i32 = 0;
    pub const INTERNAL: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const NOT_FOUND: i32 = 3;
    pub const DENIED: i32 = 4;
    pub const LIMIT: i32 = 5;
    pub const CONFLICT: i32 = 6;
    /// `tresor plan`: the store differs from the config; applying it would change something.
    pub const CHANGES_PENDING: i32 = 10;
    /// stdout was closed before everything was written (`tresor ls | head -1`): 128 + SIGPIPE,
    /// what the shell reports for a writer that its reader left, so `set -o pipefail` sees it.
    pub const STDOUT_CLOSED: i32 = 141;
}

impl ServiceError {
    /// The `tresor` exit code for this error.
    pub fn exit_code(&self) -> i32 {
        use ServiceError::*;
        match self {
            InvalidName(_) | InvalidInput(_) | KindMismatch { .. } => exit::USAGE,
            NotFound(_) => exit::NOT_FOUND,
            Denied(_) | Unauthenticated(_) => exit::DENIED,
            ValueTooLarge { .. } | EntryLimit { .. } => exit::LIMIT,
            AlreadyExists(_) | Conflict(_) | Managed { .. } => exit::CONFLICT,
            Crypto(_) | Storage(_) | Upstream(_) => exit::INTERNAL,
            ApplyFailed { source, .. } => source.exit_code(),
        }
    }

    /// The HTTP status for this error on the native API.
    pub fn http_status(&self) -> u16 {
        use ServiceError::*;
        match self {
            InvalidName(_) | InvalidInput(_) | KindMismatch { .. } => 400,
            NotFound(_) => 404,
            Denied(_) => 403,
            Unauthenticated(_) => 401,
            ValueTooLarge { .. } => 413,
            EntryLimit { .. } => 403,
            AlreadyExists(_) | Conflict(_) | Managed { .. } => 409,
            Crypto(_) | Storage(_) => 500,
            Upstream(_) => 502,
            ApplyFailed { source, .. } => source.http_status(),
        }
    }
}

/// The exit code for an error a server answered with `status`: the inverse of
/// [`ServiceError::http_status`], for the CLI in server mode.
pub fn exit_code_for_http_status(status: u16) -> i32 {
    match status {
        400 | 422 => exit::USAGE,
        401 | 403 => exit::DENIED,
        404 => exit::NOT_FOUND,
        409 => exit::CONFLICT,
        413 | 429 => exit::LIMIT,
        _ => exit::INTERNAL,
    }
}

impl ServiceError {
    /// A short outcome label for the audit log.
    pub fn outcome(&self) -> &'static str {
        use ServiceError::*;
        match self {
            Denied(_) => "denied",
            Unauthenticated(_) => "unauthenticated",
            NotFound(_) => "not_found",
            InvalidName(_) | InvalidInput(_) | KindMismatch { .. } => "invalid",
            ValueTooLarge { .. } | EntryLimit { .. } => "limit",
            AlreadyExists(_) | Conflict(_) | Managed { .. } => "conflict",
            Crypto(_) | Storage(_) => "error",
            Upstream(_) => "upstream_error",
            ApplyFailed { source, .. } => source.outcome(),
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
            e @ (StoreError::Backend(_) | StoreError::Corrupt(_)) => ServiceError::Storage(e.to_string()),
            // The change was rolled back with its record (fail-closed): the same answer as a read
            // whose record the audit writer could not write.
            e @ StoreError::AuditAppend(_) => ServiceError::Storage(format!("{e}; the request was refused")),
            StoreError::NotEmpty(message) => ServiceError::Conflict(message),
            StoreError::InvalidSnapshot(message) | StoreError::InvalidLocation(message) => {
                ServiceError::InvalidInput(message)
            }
        }
    }
}
