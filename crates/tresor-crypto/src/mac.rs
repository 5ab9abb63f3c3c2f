//! Keyed hashes and token hashing.
//!
//! A [`MacKey`] is a random key stored wrapped by the root key (like a data key) and used for
//! HMAC-SHA256: the audit log's hash chain, so that a record cannot be edited and re-chained
//! without the root key.
//! Tokens are 256-bit random secrets, so a plain SHA-256 is the right hash for storing them (a
//! password hash would add cost without adding safety); comparison is constant-time.

use crate::{random_bytes, CryptoError, RootKey};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// A key for HMAC-SHA256, bound by its wrapping to a label (such as `audit`).
pub struct MacKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

impl MacKey {
    /// A new random key and its wrapped form for storage.
    pub fn generate(root: &RootKey, label: &str) -> Result<(Self, Vec<u8>), CryptoError> {
        let key = Zeroizing::new(random_bytes::<32>()?);
        let dk = crate::DataKey::from_bytes(key.clone(), 1);
        let wrapped = root.wrap(&format!("mac:{label}"), &dk)?;
        Ok((Self(key), wrapped))
    }

    /// Unwraps a stored key; fails if the root key or the label differ.
    pub fn unwrap(root: &RootKey, label: &str, wrapped: &[u8]) -> Result<Self, CryptoError> {
        let dk = root.unwrap(&format!("mac:{label}"), wrapped)?;
        Ok(Self(dk.key_bytes()))
    }

    /// A stored key wrapped by `old`, wrapped by `new` instead (root-key rotation).
    pub fn rewrap(old: &RootKey, new: &RootKey, label: &str, wrapped: &[u8]) -> Result<Vec<u8>, CryptoError> {
        old.rewrap(new, &format!("mac:{label}"), wrapped)
    }

    /// HMAC-SHA256 over the parts, each length-prefixed so that part boundaries are unambiguous.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = <HmacSha256 as Mac>::new_from_slice(self.0.as_ref()).expect("any key length");
        for part in parts {
            m.update(&(part.len() as u64).to_be_bytes());
            m.update(part);
        }
        m.finalize().into_bytes().into()
    }
}

/// SHA-256 of a token's secret part: what is stored instead of the token.
pub fn token_hash(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

/// Constant-time equality for hashes and MACs.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// `n` random bytes from the operating system, for token ids and secrets.
pub fn random_token_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    random_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_keys_wrap_and_bind_their_label() {
        let (root, _) = RootKey::generate().unwrap();
        let (key, wrapped) = MacKey::generate(&root, "audit").unwrap();
        let again = MacKey::unwrap(&root, "audit", &wrapped).unwrap();
        assert_eq!(key.mac(&[b"a", b"bc"]), again.mac(&[b"a", b"bc"]));
        assert_ne!(key.mac(&[b"a", b"bc"]), key.mac(&[b"ab", b"c"]), "length prefixes separate parts");
        assert!(MacKey::unwrap(&root, "other", &wrapped).is_err());
        let (new_root, _) = RootKey::generate().unwrap();
        let rewrapped = MacKey::rewrap(&root, &new_root, "audit", &wrapped).unwrap();
        let moved = MacKey::unwrap(&new_root, "audit", &rewrapped).unwrap();
        assert_eq!(moved.mac(&[b"x"]), again.mac(&[b"x"]), "the same key under the new root");
        assert!(MacKey::unwrap(&root, "audit", &rewrapped).is_err(), "the old root no longer opens it");
        assert!(MacKey::rewrap(&new_root, &root, "audit", &wrapped).is_err(), "only the wrapping root re-wraps");
        assert!(!format!("{key:?}").contains('['));
    }

    /// What `ct_eq` answers. That it answers in constant time is `subtle`'s guarantee (it compares
    /// every byte without branching on them), not something a timing test on a shared machine
    /// could show; so this test claims only equality.
    #[test]
    fn token_hashes_are_equal_only_for_the_same_secret() {
        let h = token_hash(b"secret");
        assert!(ct_eq(&h, &token_hash(b"secret")));
        assert!(!ct_eq(&h, &token_hash(b"secreT")));
        assert!(!ct_eq(&h, &h[..31]));
    }
}
