use super::*;
use tresor_model::EntryKind;

fn aad(key: &str, version: u64) -> EntryAad<'_> {
    EntryAad { workspace: "default", environment: "prod", vault: "api-keys", key, version, kind: EntryKind::Secret }
}

#[test]
fn seal_open_roundtrip() {
    let dk = DataKey::generate(1).unwrap();
    let sealed = dk.seal(&aad("stripe", 1), b"sk_live_123").unwrap();
    assert!(!sealed.windows(11).any(|w| w == b"sk_live_123"), "plaintext visible in ciphertext");
    assert_eq!(dk.open(&aad("stripe", 1), &sealed).unwrap().expose(), b"sk_live_123");
}

#[test]
fn ciphertext_moved_to_another_row_fails() {
    let dk = DataKey::generate(1).unwrap();
    let sealed = dk.seal(&aad("stripe", 1), b"v").unwrap();
    // Another key, another version, another vault, another environment, another workspace, another kind.
    assert!(matches!(dk.open(&aad("sendgrid", 1), &sealed), Err(CryptoError::OpenFailed)));
    assert!(matches!(dk.open(&aad("stripe", 2), &sealed), Err(CryptoError::OpenFailed)));
    let mut other = aad("stripe", 1);
    other.vault = "database";
    assert!(dk.open(&other, &sealed).is_err());
    let mut other = aad("stripe", 1);
    other.environment = "dev";
    assert!(dk.open(&other, &sealed).is_err());
    let mut other = aad("stripe", 1);
    other.workspace = "acme";
    assert!(dk.open(&other, &sealed).is_err());
    let mut other = aad("stripe", 1);
    other.kind = EntryKind::Variable;
    assert!(dk.open(&other, &sealed).is_err());
}

#[test]
fn length_prefixing_separates_ambiguous_identities() {
    let dk = DataKey::generate(1).unwrap();
    let a = EntryAad { workspace: "w", environment: "e", vault: "ab", key: "c", version: 1, kind: EntryKind::Secret };
    let b = EntryAad { vault: "a", key: "bc", ..a };
    let sealed = dk.seal(&a, b"x").unwrap();
    assert!(dk.open(&b, &sealed).is_err());
}

#[test]
fn every_flipped_byte_fails_to_open() {
    let dk = DataKey::generate(1).unwrap();
    let sealed = dk.seal(&aad("k", 3), b"some secret value").unwrap();
    for i in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x01;
        assert!(dk.open(&aad("k", 3), &bad).is_err(), "flip at byte {i} went unnoticed");
    }
    assert!(matches!(dk.open(&aad("k", 3), &sealed[..10]), Err(CryptoError::Malformed(_))));
}

#[test]
fn wrong_data_key_fails() {
    let a = DataKey::generate(1).unwrap();
    let b = DataKey::generate(1).unwrap();
    let sealed = a.seal(&aad("k", 1), b"v").unwrap();
    assert!(b.open(&aad("k", 1), &sealed).is_err());
}

#[test]
fn data_keys_wrap_under_root_and_bind_workspace() {
    let (root, encoded) = RootKey::generate().unwrap();
    let dk = DataKey::generate(7).unwrap();
    let wrapped = root.wrap("default", &dk).unwrap();
    let back = root.unwrap("default", &wrapped).unwrap();
    assert_eq!(back.generation(), 7);
    let sealed = dk.seal(&aad("k", 1), b"v").unwrap();
    assert_eq!(back.open(&aad("k", 1), &sealed).unwrap().expose(), b"v");
    assert!(root.unwrap("other", &wrapped).is_err(), "wrapped key moved to another workspace");

    let same = RootKey::from_encoded(&encoded).unwrap();
    assert!(same.unwrap("default", &wrapped).is_ok());
    let (other_root, _) = RootKey::generate().unwrap();
    assert!(matches!(other_root.unwrap("default", &wrapped), Err(CryptoError::OpenFailed)));
}

#[test]
fn root_key_encodings() {
    let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    assert!(RootKey::from_encoded(hex).is_ok());
    assert!(RootKey::from_encoded(&format!("  {hex}\n")).is_ok());
    let e = RootKey::from_encoded("c2hvcnQ=").unwrap_err().to_string();
    assert!(e.contains("expected 32 bytes, found 5"), "{e}");
    let e = RootKey::from_encoded("not base64 !!").unwrap_err().to_string();
    assert!(e.contains("base64"), "{e}");
}

#[test]
fn passphrase_derivation_is_deterministic_per_salt_and_parameters() {
    // Small parameters: what is tested is which inputs the key depends on, not Argon2's cost.
    let params =
        PassphraseParams { memory_kib: 64, iterations: 1, parallelism: 1, salt: RootKey::new_salt().unwrap().to_vec() };
    let a = RootKey::from_passphrase(b"correct horse battery", &params).unwrap();
    let b = RootKey::from_passphrase(b"correct horse battery", &params).unwrap();
    let c = RootKey::from_passphrase(b"wrong horse battery!!", &params).unwrap();
    let other_salt = PassphraseParams { salt: RootKey::new_salt().unwrap().to_vec(), ..params.clone() };
    let d = RootKey::from_passphrase(b"correct horse battery", &other_salt).unwrap();
    let more_passes = PassphraseParams { iterations: 2, ..params.clone() };
    let e = RootKey::from_passphrase(b"correct horse battery", &more_passes).unwrap();
    let dk = DataKey::generate(1).unwrap();
    let wrapped = a.wrap("default", &dk).unwrap();
    assert!(b.unwrap("default", &wrapped).is_ok());
    assert!(c.unwrap("default", &wrapped).is_err());
    assert!(d.unwrap("default", &wrapped).is_err(), "the salt is part of the derivation");
    assert!(e.unwrap("default", &wrapped).is_err(), "the parameters are part of the derivation");
    let short = RootKey::from_passphrase(b"short", &params).unwrap_err().to_string();
    assert!(short.contains("at least 12 characters"), "{short}");
}

#[test]
fn recommended_passphrase_parameters_are_rfc_9106s_with_a_fresh_salt() {
    let (a, b) = (PassphraseParams::recommended().unwrap(), PassphraseParams::recommended().unwrap());
    assert_eq!((a.memory_kib, a.iterations, a.parallelism), (64 * 1024, 3, 1));
    assert_eq!(a.salt.len(), PASSPHRASE_SALT_LEN);
    assert_ne!(a.salt, b.salt);
}

#[test]
fn key_file_is_private_and_never_overwritten() {
    let dir = std::env::temp_dir().join(format!("tresor-crypto-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("root.key");
    let _ = std::fs::remove_file(&path);
    let root = RootKey::write_new_file(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let dk = DataKey::generate(1).unwrap();
    let wrapped = root.wrap("default", &dk).unwrap();
    assert!(RootKey::read_file(&path).unwrap().unwrap("default", &wrapped).is_ok());
    assert!(matches!(RootKey::write_new_file(&path), Err(CryptoError::KeyFile { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keyring_caches_and_checks() {
    let (root, _) = RootKey::generate().unwrap();
    let dk = DataKey::generate(1).unwrap();
    let wrapped = root.wrap("default", &dk).unwrap();
    let ring = Keyring::new(root);
    let a = ring.data_key("default", &wrapped).unwrap();
    let b = ring.data_key("default", &wrapped).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert!(!format!("{ring:?}").contains("key: ["));
}
