//! What kind of failure an error is, apart from how any surface reports it.
//!
//! The service layer says *what* went wrong ([`ErrorKind`]); each surface says it in its own
//! protocol: the server as an HTTP status and (on the native API) a `kind` field, the Tinybird and
//! Conductor surfaces in their platforms' shapes, the CLI as an exit code. Only the surface knows
//! its protocol, so no status or exit code is chosen below the surface crates.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares [`ErrorKind`] with its wire spelling, [`ErrorKind::ALL`] and [`ErrorKind::as_str`]
/// from one list, so a new kind cannot be left out of any of them.
macro_rules! error_kinds {
    ($($(#[doc = $doc:literal])* $kind:ident => $wire:literal,)*) => {
        /// The kind of a refusal or failure. Its snake_case spelling (`not_found`) is part of the
        /// native API's error document, so clients branch on it rather than on a status or a
        /// message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ErrorKind {
            $($(#[doc = $doc])* #[serde(rename = $wire)] $kind,)*
        }

        impl ErrorKind {
            /// Every kind, in declaration order.
            pub const ALL: &[ErrorKind] = &[$(ErrorKind::$kind),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorKind::$kind => $wire,)*
                }
            }
        }
    };
}

error_kinds! {
    /// The request is malformed: a bad name, field, file or argument, an entry of the other kind.
    Invalid => "invalid",
    /// A value or body is larger than a limit allows.
    TooLarge => "too_large",
    /// What the request names does not exist (or is not visible to the caller).
    NotFound => "not_found",
    /// What the request would create exists already.
    AlreadyExists => "already_exists",
    /// The request conflicts with the current state: a check-and-set on another version, a vault
    /// that is not empty or is managed by a declarative config.
    Conflict => "conflict",
    /// The caller is known but lacks a right the request needs.
    Denied => "denied",
    /// No valid credential: missing, malformed, unknown or revoked.
    Unauthenticated => "unauthenticated",
    /// A credential that was valid has expired: get a new one and retry.
    Expired => "expired",
    /// A quota was reached (entries per workspace, a compatibility surface's secrets limit).
    Limit => "limit",
    /// Too many requests: retry after the time the answer gives.
    RateLimited => "rate_limited",
    /// A call tresor made on the caller's behalf (a webhook) failed.
    Upstream => "upstream",
    /// The database's disk is full: the write was refused whole; reads go on. Retry once an
    /// operator has freed space (no restart needed).
    OutOfSpace => "out_of_space",
    /// The database cannot be reached right now (stopped, restarting): retry; the server
    /// reconnects by itself.
    Unavailable => "unavailable",
    /// tresor failed (its store, its keys): nothing the caller can fix by changing the request.
    Internal => "internal",
}

impl ErrorKind {
    /// A credential was refused (as opposed to a right or a request): the kinds a client answers
    /// by getting a new token, and that count as failed authentications per peer.
    pub fn is_credential_refusal(self) -> bool {
        matches!(self, ErrorKind::Unauthenticated | ErrorKind::Expired)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorKind;

    /// The wire spelling (serde) and `as_str` are one vocabulary: a client that matches on the
    /// string a server sent must find the kind the server meant.
    #[test]
    fn the_wire_spelling_is_as_str() {
        for &kind in ErrorKind::ALL {
            let wire = serde_json::to_string(&kind).unwrap();
            assert_eq!(wire, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ErrorKind>(&wire).unwrap(), kind);
        }
    }
}
