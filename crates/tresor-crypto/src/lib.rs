//! Envelope encryption.
//!
//! A **root key** (from a key file, an environment variable, or a passphrase through Argon2id) wraps
//! one **data key** per workspace. Each value is sealed with XChaCha20-Poly1305 under its workspace's
//! data key. The associated data binds the ciphertext to its workspace, environment, vault, key,
//! version and kind, so a ciphertext copied into another row, or edited by one byte, fails to open.
//!
//! Every buffer that holds key material or plaintext is zeroized on drop.
//!
//! Sealed value layout (all integers big-endian):
//! ```text
//! [format: u8 = 1][data key generation: u32][nonce: 24 bytes][ciphertext + 16-byte tag]
//! ```
//! The header (format and generation) is part of the associated data too, so it cannot be swapped.

mod keys;
mod mac;

pub use keys::{DataKey, Keyring, PassphraseParams, RootKey, MIN_PASSPHRASE_LEN, PASSPHRASE_SALT_LEN};
pub use mac::{ct_eq, random_token_bytes, token_hash, MacKey};

use thiserror::Error;
use tresor_model::EntryKind;

/// Errors of the crypto layer. None of them carries key material or plaintext.
#[derive(Debug, Error)]
pub enum CryptoError {
    #[error("invalid root key: {0}")]
    InvalidRootKey(String),
    #[error(
        "a stored value could not be decrypted: the root key does not match this store, or the record was altered or moved"
    )]
    OpenFailed,
    #[error("a stored record is malformed: {0}")]
    Malformed(&'static str),
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    #[error("root key file {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
}

/// The identity a sealed value is bound to. Sealing and opening must present the same identity.
#[derive(Debug, Clone, Copy)]
pub struct EntryAad<'a> {
    pub workspace: &'a str,
    pub environment: &'a str,
    pub vault: &'a str,
    pub key: &'a str,
    pub version: u64,
    pub kind: EntryKind,
}

impl EntryAad<'_> {
    /// Length-prefixed so that no two identities encode to the same bytes
    /// (`("a/b", "c")` and `("a", "b/c")` differ).
    fn encode(&self, header: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.key.len());
        out.extend_from_slice(b"tresor/value/v1");
        for part in [self.workspace, self.environment, self.vault, self.key] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out.extend_from_slice(&self.version.to_be_bytes());
        out.push(match self.kind {
            EntryKind::Secret => 1,
            EntryKind::Variable => 2,
        });
        out.extend_from_slice(header);
        out
    }
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    getrandom::getrandom(&mut buf).map_err(|e| CryptoError::Random(e.to_string()))?;
    Ok(buf)
}

#[cfg(test)]
mod tests;
