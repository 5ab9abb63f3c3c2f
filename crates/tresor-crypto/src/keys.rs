//! Root key, data keys and the keyring that caches unwrapped data keys.

use crate::{random_bytes, CryptoError, EntryAad};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use tresor_model::SecretValue;
use zeroize::Zeroizing;

const FORMAT_V1: u8 = 1;
const HEADER_LEN: usize = 1 + 4;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Length of the salt stored beside a passphrase-derived store.
pub const PASSPHRASE_SALT_LEN: usize = 16;
/// Shortest passphrase accepted: a root key derived from fewer characters is guessable offline by
/// anyone holding a copy of the store.
pub const MIN_PASSPHRASE_LEN: usize = 12;

/// The Argon2id parameters and salt a passphrase-derived root key was made with. Not secret:
/// stored with the store, so that every node and every later start derives the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassphraseParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub salt: Vec<u8>,
}

impl PassphraseParams {
    /// RFC 9106's second recommended option (64 MiB, 3 passes, 1 lane) with a fresh salt.
    pub fn recommended() -> Result<Self, CryptoError> {
        Ok(Self {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
            salt: random_bytes::<PASSPHRASE_SALT_LEN>()?.to_vec(),
        })
    }
}

/// Seals `plaintext` as `[header][nonce][ciphertext+tag]` with `aad_for(header)` as associated data.
fn seal_with(
    cipher: &XChaCha20Poly1305,
    generation: u32,
    plaintext: &[u8],
    aad_for: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Result<Vec<u8>, CryptoError> {
    let mut header = [0u8; HEADER_LEN];
    header[0] = FORMAT_V1;
    header[1..].copy_from_slice(&generation.to_be_bytes());
    let nonce = random_bytes::<NONCE_LEN>()?;
    let aad = aad_for(&header);
    let ct = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad })
        .map_err(|_| CryptoError::Malformed("encryption failed"))?;
    let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + ct.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Reads the data-key generation a sealed blob names, without opening it.
fn blob_generation(blob: &[u8]) -> Result<u32, CryptoError> {
    if blob.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed("sealed value is too short"));
    }
    if blob[0] != FORMAT_V1 {
        return Err(CryptoError::Malformed("unknown sealed value format"));
    }
    Ok(u32::from_be_bytes(blob[1..5].try_into().expect("4 bytes")))
}

fn open_with(
    cipher: &XChaCha20Poly1305,
    blob: &[u8],
    aad_for: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    blob_generation(blob)?;
    let (header, rest) = blob.split_at(HEADER_LEN);
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let aad = aad_for(header);
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::OpenFailed)
}

/// The key that wraps every workspace's data key. It never leaves the process: not in the store, not
/// in a backup.
pub struct RootKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

impl RootKey {
    fn from_key(key: &[u8; 32]) -> Self {
        Self { cipher: XChaCha20Poly1305::new(key.into()) }
    }

    /// Generates a new random root key and returns it with its encoding for a key file.
    pub fn generate() -> Result<(Self, Zeroizing<String>), CryptoError> {
        let key = Zeroizing::new(random_bytes::<32>()?);
        Ok((Self::from_key(&key), Zeroizing::new(B64.encode(*key))))
    }

    /// Accepts 32 bytes encoded as base64 (what `generate` writes) or as 64 hex digits, with
    /// surrounding whitespace ignored: the form used in key files and `TRESOR_ROOT_KEY`.
    pub fn from_encoded(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let bytes: Zeroizing<Vec<u8>> =
            if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                Zeroizing::new(
                    (0..32).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex checked")).collect(),
                )
            } else {
                Zeroizing::new(B64.decode(text).map_err(|_| {
                    CryptoError::InvalidRootKey("expected 32 bytes as base64 or as 64 hex digits".into())
                })?)
            };
        let key: Zeroizing<[u8; 32]> = Zeroizing::new(bytes.as_slice().try_into().map_err(|_| {
            CryptoError::InvalidRootKey(format!(
                "expected 32 bytes, found {}; generate one with `tresor init`",
                bytes.len()
            ))
        })?);
        Ok(Self::from_key(&key))
    }

    /// Derives a root key from a passphrase with Argon2id under `params` (stored with the store,
    /// so that a later version of tresor with other defaults still derives the same key).
    pub fn from_passphrase(passphrase: &[u8], params: &PassphraseParams) -> Result<Self, CryptoError> {
        if passphrase.len() < MIN_PASSPHRASE_LEN {
            return Err(CryptoError::InvalidRootKey(format!(
                "the passphrase must be at least {MIN_PASSPHRASE_LEN} characters"
            )));
        }
        let argon_params = argon2::Params::new(params.memory_kib, params.iterations, params.parallelism, Some(32))
            .map_err(|e| CryptoError::InvalidRootKey(format!("argon2 parameters: {e}")))?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, argon_params);
        let mut key = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase, &params.salt, key.as_mut())
            .map_err(|e| CryptoError::InvalidRootKey(format!("passphrase derivation failed: {e}")))?;
        Ok(Self::from_key(&key))
    }

    /// A fresh salt for [`RootKey::from_passphrase`].
    pub fn new_salt() -> Result<[u8; PASSPHRASE_SALT_LEN], CryptoError> {
        random_bytes()
    }

    /// The 32 bytes of a new random key in the encoding of [`RootKey::from_encoded`], for a key
    /// that is handed to someone else to keep (a KMS wrapping command) before it is used.
    pub fn generate_encoded() -> Result<Zeroizing<String>, CryptoError> {
        Ok(Self::generate()?.1)
    }

    /// Reads a key file written by [`RootKey::write_new_file`].
    pub fn read_file(path: &Path) -> Result<Self, CryptoError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|source| CryptoError::KeyFile { path: path.display().to_string(), source })?,
        );
        Self::from_encoded(&text)
    }

    /// Generates a root key and writes it to a new file readable only by its owner (0600 on Unix).
    /// Refuses to overwrite an existing file: losing a root key loses every value it protects.
    pub fn write_new_file(path: &Path) -> Result<Self, CryptoError> {
        use std::io::Write;
        let (key, encoded) = Self::generate()?;
        let io = |source| CryptoError::KeyFile { path: path.display().to_string(), source };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(path).map_err(io)?;
        file.write_all(encoded.as_bytes()).map_err(io)?;
        file.write_all(b"\n").map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(key)
    }

    /// Wraps a workspace's data key for storage.
    pub fn wrap(&self, workspace: &str, data_key: &DataKey) -> Result<Vec<u8>, CryptoError> {
        seal_with(&self.cipher, data_key.generation, data_key.key.as_ref(), |h| wrap_aad(workspace, h))
    }

    /// A data key wrapped by `self` for `workspace`, wrapped by `new` instead (root-key
    /// rotation); its generation is kept. Fails if `self` did not wrap it.
    pub fn rewrap(&self, new: &RootKey, workspace: &str, wrapped: &[u8]) -> Result<Vec<u8>, CryptoError> {
        new.wrap(workspace, &self.unwrap(workspace, wrapped)?)
    }

    /// Unwraps a stored data key. Fails if the root key is not the one that wrapped it.
    pub fn unwrap(&self, workspace: &str, wrapped: &[u8]) -> Result<DataKey, CryptoError> {
        let generation = blob_generation(wrapped)?;
        let bytes = open_with(&self.cipher, wrapped, |h| wrap_aad(workspace, h))?;
        let key: [u8; 32] =
            bytes.as_slice().try_into().map_err(|_| CryptoError::Malformed("wrapped data key has the wrong length"))?;
        Ok(DataKey::from_parts(Zeroizing::new(key), generation))
    }
}

fn wrap_aad(workspace: &str, header: &[u8]) -> Vec<u8> {
    let mut aad = b"tresor/datakey/v1".to_vec();
    aad.extend_from_slice(&(workspace.len() as u32).to_be_bytes());
    aad.extend_from_slice(workspace.as_bytes());
    aad.extend_from_slice(header);
    aad
}

/// A workspace's data key. Values are sealed with it; it is stored only wrapped by the root key.
pub struct DataKey {
    key: Zeroizing<[u8; 32]>,
    cipher: XChaCha20Poly1305,
    generation: u32,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey(<redacted>, generation {})", self.generation)
    }
}

impl DataKey {
    fn from_parts(key: Zeroizing<[u8; 32]>, generation: u32) -> Self {
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        Self { key, cipher, generation }
    }

    pub(crate) fn from_bytes(key: Zeroizing<[u8; 32]>, generation: u32) -> Self {
        Self::from_parts(key, generation)
    }

    pub(crate) fn key_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.key.clone()
    }

    /// A new random data key. Generations start at 1 and grow with each data-key rotation.
    pub fn generate(generation: u32) -> Result<Self, CryptoError> {
        Ok(Self::from_parts(Zeroizing::new(random_bytes::<32>()?), generation))
    }

    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Seals a value bound to `aad`.
    pub fn seal(&self, aad: &EntryAad<'_>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal_with(&self.cipher, self.generation, plaintext, |h| aad.encode(h))
    }

    /// Opens a value sealed for exactly `aad`.
    pub fn open(&self, aad: &EntryAad<'_>, sealed: &[u8]) -> Result<SecretValue, CryptoError> {
        if blob_generation(sealed)? != self.generation {
            return Err(CryptoError::OpenFailed);
        }
        let mut plain = open_with(&self.cipher, sealed, |h| aad.encode(h))?;
        Ok(SecretValue::new(std::mem::take(&mut *plain)))
    }
}

/// The root key and a cache of unwrapped data keys, shared by every request of a process.
#[derive(Debug)]
pub struct Keyring {
    root: RwLock<Arc<RootKey>>,
    data_keys: RwLock<HashMap<(String, u32), Arc<DataKey>>>,
}

impl Keyring {
    pub fn new(root: RootKey) -> Self {
        Self { root: RwLock::new(Arc::new(root)), data_keys: RwLock::new(HashMap::new()) }
    }

    pub fn root(&self) -> Arc<RootKey> {
        self.root.read().expect("keyring lock").clone()
    }

    /// Replaces the root key, after a rotation by another process re-wrapped the stored keys under
    /// a new one. The data keys already unwrapped stay: they did not change.
    pub fn replace_root(&self, root: RootKey) {
        *self.root.write().expect("keyring lock") = Arc::new(root);
    }

    /// A data key already unwrapped by this process, without touching storage.
    pub fn cached(&self, workspace: &str, generation: u32) -> Option<Arc<DataKey>> {
        self.data_keys.read().expect("keyring lock").get(&(workspace.to_owned(), generation)).cloned()
    }

    /// The data key that sealed `sealed`, unwrapped from `wrapped` on first use and cached after.
    pub fn data_key(&self, workspace: &str, wrapped: &[u8]) -> Result<Arc<DataKey>, CryptoError> {
        let generation = blob_generation(wrapped)?;
        let cache_key = (workspace.to_owned(), generation);
        if let Some(dk) = self.data_keys.read().expect("keyring lock").get(&cache_key) {
            return Ok(dk.clone());
        }
        let dk = Arc::new(self.root().unwrap(workspace, wrapped)?);
        self.data_keys.write().expect("keyring lock").insert(cache_key, dk.clone());
        Ok(dk)
    }

    /// The generation of the data key that sealed a value, to look up the right wrapped key.
    pub fn sealed_generation(sealed: &[u8]) -> Result<u32, CryptoError> {
        blob_generation(sealed)
    }
}
