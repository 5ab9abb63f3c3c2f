//! The CLI's error, and the exit codes: the one place where a kind of failure becomes a number
//! that scripts branch on.

use thiserror::Error;
use tresor_service::{ErrorKind, ServiceError};

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
    /// The store cannot take the request now (its disk is full, its database is unreachable):
    /// nothing was written; retry once the operator has fixed it.
    pub const UNAVAILABLE: i32 = 7;
    /// `tresor plan`: the store differs from the config; applying it would change something.
    pub const CHANGES_PENDING: i32 = 10;
    /// stdout was closed before everything was written (`tresor ls | head -1`): 128 + SIGPIPE,
    /// what the shell reports for a writer that its reader left, so `set -o pipefail` sees it.
    pub const STDOUT_CLOSED: i32 = 141;
}

/// The exit code for a kind of failure, the same whether the local store or a server refused.
pub fn exit_code_of(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::Invalid => exit::USAGE,
        ErrorKind::NotFound => exit::NOT_FOUND,
        ErrorKind::Denied | ErrorKind::Unauthenticated | ErrorKind::Expired => exit::DENIED,
        ErrorKind::TooLarge | ErrorKind::Limit | ErrorKind::RateLimited => exit::LIMIT,
        ErrorKind::AlreadyExists | ErrorKind::Conflict => exit::CONFLICT,
        ErrorKind::OutOfSpace | ErrorKind::Unavailable => exit::UNAVAILABLE,
        ErrorKind::Internal | ErrorKind::Upstream => exit::INTERNAL,
    }
}

/// A server's answer that carried no kind (not tresor's own: a proxy in between): judged by its
/// status alone.
fn exit_code_of_status(status: u16) -> i32 {
    match status {
        400 | 422 => exit::USAGE,
        401 | 403 => exit::DENIED,
        404 => exit::NOT_FOUND,
        409 => exit::CONFLICT,
        413 | 429 => exit::LIMIT,
        503 | 507 => exit::UNAVAILABLE,
        _ => exit::INTERNAL,
    }
}

#[derive(Debug, Error)]
pub enum CliError {
    /// The command line or an input file is wrong: exit 2.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("{0}")]
    Io(String),
    /// Whoever read stdout has gone (`tresor ls | head -1`): nothing is left to tell, so the
    /// command ends quietly with exit 141 (see `output::stdout_error`).
    #[error("stdout was closed before the output was written")]
    StdoutClosed,
    /// The server refused: its status, the kind of failure it named, and its message.
    #[error("{message}")]
    Remote { status: u16, kind: Option<ErrorKind>, message: String },
    /// A failure with what to do about it: `message` says what went wrong, `hint` the command or
    /// flag that fixes it. Exits as `kind` says.
    #[error("{message}\nhint: {hint}")]
    Hinted { kind: ErrorKind, message: String, hint: String },
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::Service(e) => exit_code_of(e.kind()),
            CliError::Io(_) => exit::INTERNAL,
            CliError::StdoutClosed => exit::STDOUT_CLOSED,
            CliError::Remote { kind: Some(kind), .. } => exit_code_of(*kind),
            CliError::Remote { status, kind: None, .. } => exit_code_of_status(*status),
            CliError::Hinted { kind, .. } => exit_code_of(*kind),
        }
    }

    /// The kind of failure, where one is known: the service's, the server's, or the CLI's own
    /// (a usage error is `invalid`). `None` for a server answer without a kind, local I/O and a
    /// closed stdout.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            CliError::Usage(_) => Some(ErrorKind::Invalid),
            CliError::Service(e) => Some(e.kind()),
            CliError::Remote { kind, .. } => *kind,
            CliError::Hinted { kind, .. } => Some(*kind),
            CliError::Io(_) | CliError::StdoutClosed => None,
        }
    }

    /// This failure, with a hint of what to do about it (the exit code stays the same).
    pub fn with_hint(self, hint: impl Into<String>) -> CliError {
        match (self.kind(), self) {
            (Some(kind), e) => CliError::Hinted { kind, message: e.to_string(), hint: hint.into() },
            // Judged by its status: keep it, and add the hint to its words.
            (None, CliError::Remote { status, kind: None, message }) => {
                CliError::Remote { status, kind: None, message: format!("{message}\nhint: {}", hint.into()) }
            }
            (None, e) => e,
        }
    }
}

impl From<tresor_client::ClientError> for CliError {
    fn from(e: tresor_client::ClientError) -> Self {
        match e {
            tresor_client::ClientError::Api { status, kind, message } => CliError::Remote { status, kind, message },
            tresor_client::ClientError::Config(m) => CliError::Usage(m),
            other => CliError::Io(other.to_string()),
        }
    }
}

/// A server's document that does not read back into the model (a bad time, an unknown kind, a
/// value that does not decode).
impl From<tresor_client::DocError> for CliError {
    fn from(e: tresor_client::DocError) -> Self {
        CliError::Io(format!("unexpected answer from the server: {e}"))
    }
}

impl From<tresor_model::NameError> for CliError {
    fn from(e: tresor_model::NameError) -> Self {
        CliError::Service(e.into())
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;
