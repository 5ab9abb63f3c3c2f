//! The CLI's error, and its exit code. Service errors keep the exit code the service assigns.

use thiserror::Error;
use tresor_service::{exit, ServiceError};

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
    /// The server refused; its message and status.
    #[error("{message}")]
    Remote { status: u16, message: String },
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::Service(e) => e.exit_code(),
            CliError::Io(_) => exit::INTERNAL,
            CliError::StdoutClosed => exit::STDOUT_CLOSED,
            CliError::Remote { status, .. } => tresor_service::exit_code_for_http_status(*status),
        }
    }
}

impl From<tresor_client::ClientError> for CliError {
    fn from(e: tresor_client::ClientError) -> Self {
        match e {
            tresor_client::ClientError::Api { status, message } => CliError::Remote { status, message },
            tresor_client::ClientError::Config(m) => CliError::Usage(m),
            other => CliError::Io(other.to_string()),
        }
    }
}

impl From<tresor_model::NameError> for CliError {
    fn from(e: tresor_model::NameError) -> Self {
        CliError::Service(e.into())
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;
