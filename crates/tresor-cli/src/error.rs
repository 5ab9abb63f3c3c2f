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
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::Service(e) => e.exit_code(),
            CliError::Io(_) => exit::INTERNAL,
        }
    }
}

impl From<tresor_model::NameError> for CliError {
    fn from(e: tresor_model::NameError) -> Self {
        CliError::Service(e.into())
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;
