use super::*;
use tresor_store::SqliteStore;

struct Fixture {
    dir: tempfile::TempDir,
    svc: Service,
    encoded_root: String,
}

fn fixture_with(limits: Limits) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("tresor.db")).unwrap());
    let (root, encoded) = RootKey::generate().unwrap();
    Fixture { dir, svc: Service::new(store, root, limits), encoded_root: encoded.to_string() }
}

async fn fixture() -> Fixture {
    let f = fixture_with(Limits::default());
    f.svc.bootstrap(&ws()).await.unwrap();
    f
}

fn ws() -> WorkspaceName {
    WorkspaceName::default_name()
}

fn path(vault: &str, key: &str) -> EntryPath {
    EntryPath {
        workspace: ws(),
        environment: EnvName::default_name(),
        vault: VaultName::new(vault).unwrap(),
        key: EntryKey::new(key).unwrap(),
    }
}

fn set(p: &EntryPath, value: &str) -> SetEntry {
    SetEntry {
        path: p.clone(),
        kind: EntryKind::Secret,
        value: value.into(),
        expected_version: None,
        description: None,
        tags: None,
        expires_at: None,
    }
}

fn me() -> Actor {
    Actor::new("alice")
}

#[tokio::test]
async fn set_get_versions_and_restore() {
    let f = fixture().await;
    let p = path("default", "db/password");
    let m1 = f.svc.set(&me(), set(&p, "one")).await.unwrap();
    assert_eq!((m1.version, m1.edited_by.as_str()), (1, "alice"));
    f.svc.set(&me(), set(&p, "two")).await.unwrap();
    assert_eq!(f.svc.get(&p, None).await.unwrap().value.expose(), b"two");
    assert_eq!(f.svc.get(&p, Some(1)).await.unwrap().value.expose(), b"one");
    let restored = f.svc.restore(&me(), &p, 1).await.unwrap();
    assert_eq!(restored.version, 3);
    assert_eq!(f.svc.get(&p, None).await.unwrap().value.expose(), b"one");
    let history: Vec<u64> = f.svc.history(&p).await.unwrap().iter().map(|v| v.version).collect();
    assert_eq!(history, [3, 2, 1]);
    let e = f.svc.get(&p, Some(9)).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::NOT_FOUND);
    assert!(e.to_string().contains("no version 9"), "{e}");
}

#[tokio::test]
async fn check_and_set_refuses_stale_writes() {
    let f = fixture().await;
    let p = path("default", "k");
    let mut create = set(&p, "a");
    create.expected_version = Some(0);
    f.svc.set(&me(), create).await.unwrap();
    let mut again = set(&p, "b");
    again.expected_version = Some(0);
    let e = f.svc.set(&me(), again).await.unwrap_err();
    assert_eq!(e.http_status(), 409);
    assert!(e.to_string().contains("at version 1, not 0"), "{e}");
    assert_eq!(f.svc.get(&p, None).await.unwrap().value.expose(), b"a", "the stale write changed nothing");
}

#[tokio::test]
async fn concurrent_writers_lose_no_update() {
    let f = fixture().await;
    let svc = Arc::new(f.svc);
    let p = path("default", "counter");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (svc, p) = (svc.clone(), p.clone());
            tokio::spawn(async move { svc.set(&me(), set(&p, &format!("v{i}"))).await.unwrap().version })
        })
        .collect();
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(t.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=20).collect::<Vec<_>>(), "every write got its own version");
}

#[tokio::test]
async fn limits_are_enforced_with_clear_errors() {
    let f = fixture_with(Limits { max_value_bytes: 16, max_entries: Some(2), keep_versions: 2 });
    f.svc.bootstrap(&ws()).await.unwrap();
    let e = f.svc.set(&me(), set(&path("default", "big"), &"x".repeat(17))).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::LIMIT);
    assert_eq!(e.to_string(), "the value of big is 17 bytes; the limit is 16 bytes (max_value_bytes)");
    f.svc.set(&me(), set(&path("default", "a"), "1")).await.unwrap();
    f.svc.set(&me(), set(&path("default", "b"), "1")).await.unwrap();
    let e = f.svc.set(&me(), set(&path("default", "c"), "1")).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::LIMIT);
    assert!(e.to_string().contains("workspace default already holds 2 entries"), "{e}");
    // Updating, and writing after a delete, stay within the limit.
    f.svc.set(&me(), set(&path("default", "a"), "2")).await.unwrap();
    f.svc.delete(&path("default", "b")).await.unwrap();
    f.svc.set(&me(), set(&path("default", "c"), "1")).await.unwrap();
    // keep_versions = 2
    f.svc.set(&me(), set(&path("default", "a"), "3")).await.unwrap();
    assert_eq!(f.svc.history(&path("default", "a")).await.unwrap().len(), 2);
}

#[tokio::test]
async fn kinds_do_not_silently_change() {
    let f = fixture().await;
    let p = path("default", "config/max_retries");
    let mut var = set(&p, "5");
    var.kind = EntryKind::Variable;
    f.svc.set(&me(), var).await.unwrap();
    let e = f.svc.set(&me(), set(&p, "secret now")).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::USAGE);
    assert!(e.to_string().contains("is a variable"), "{e}");
    let listed = f.svc.list(&p.vault_path(), &all()).await.unwrap();
    assert_eq!(listed[0].variable_value.as_ref().unwrap().expose(), b"5");
}

fn all() -> ListQuery {
    ListQuery { prefix: String::new(), after: None, limit: 1000, include_deleted: false }
}

#[tokio::test]
async fn listing_never_carries_secret_values() {
    let f = fixture().await;
    f.svc.set(&me(), set(&path("default", "s"), "hidden")).await.unwrap();
    let listed = f.svc.list(&path("default", "s").vault_path(), &all()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].variable_value.is_none());
}

#[tokio::test]
async fn delete_undelete_purge() {
    let f = fixture().await;
    let p = path("default", "gone");
    f.svc.set(&me(), set(&p, "v")).await.unwrap();
    f.svc.delete(&p).await.unwrap();
    assert_eq!(f.svc.get(&p, None).await.unwrap_err().exit_code(), exit::NOT_FOUND);
    assert_eq!(f.svc.delete(&p).await.unwrap_err().exit_code(), exit::NOT_FOUND);
    f.svc.undelete(&p).await.unwrap();
    assert_eq!(f.svc.get(&p, None).await.unwrap().value.expose(), b"v");
    f.svc.purge(&p).await.unwrap();
    assert_eq!(f.svc.undelete(&p).await.unwrap_err().exit_code(), exit::NOT_FOUND);
}

#[tokio::test]
async fn vaults_and_environments() {
    let f = fixture().await;
    let prod = EnvName::new("prod").unwrap();
    let api = VaultPath { workspace: ws(), environment: prod.clone(), vault: VaultName::new("api-keys").unwrap() };
    let e = f.svc.create_vault(&api).await.unwrap_err();
    assert!(e.to_string().contains("environment prod does not exist"), "{e}");
    f.svc.ensure_environment(&ws(), &prod).await.unwrap();
    f.svc.create_vault(&api).await.unwrap();
    assert_eq!(f.svc.create_vault(&api).await.unwrap_err().exit_code(), exit::CONFLICT);
    let p = api.entry(EntryKey::new("stripe").unwrap());
    f.svc.set(&me(), set(&p, "sk")).await.unwrap();
    let e = f.svc.delete_vault(&api).await.unwrap_err();
    assert_eq!(e.exit_code(), exit::CONFLICT);
    assert!(e.to_string().contains("not empty"), "{e}");
    f.svc.purge(&p).await.unwrap();
    f.svc.delete_vault(&api).await.unwrap();
    let missing = f.svc.set(&me(), set(&p, "sk")).await.unwrap_err();
    assert!(missing.to_string().contains("tresor vault create api-keys"), "{missing}");
    let default = VaultPath { vault: VaultName::default_name(), ..api };
    assert_eq!(f.svc.delete_vault(&default).await.unwrap_err().exit_code(), exit::USAGE);
}

#[tokio::test]
async fn a_wrong_root_key_fails_at_bootstrap() {
    let f = fixture().await;
    let store = Arc::new(SqliteStore::open(&f.dir.path().join("tresor.db")).unwrap());
    let (other, _) = RootKey::generate().unwrap();
    let svc = Service::new(store.clone(), other, Limits::default());
    assert!(matches!(svc.bootstrap(&ws()).await, Err(ServiceError::Crypto(_))));
    let same = Service::new(store, RootKey::from_encoded(&f.encoded_root).unwrap(), Limits::default());
    same.bootstrap(&ws()).await.unwrap();
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_fails_to_open() {
    let f = fixture().await;
    let a = path("default", "a");
    let b = path("default", "b");
    f.svc.set(&me(), set(&a, "value-of-a")).await.unwrap();
    f.svc.set(&me(), set(&b, "value-of-b")).await.unwrap();
    let conn = rusqlite::Connection::open(f.dir.path().join("tresor.db")).unwrap();
    conn.execute(
        "UPDATE entry_versions SET sealed = (SELECT sealed FROM entry_versions WHERE key = 'a') WHERE key = 'b'",
        [],
    )
    .unwrap();
    let e = f.svc.get(&b, None).await.unwrap_err();
    assert!(matches!(e, ServiceError::Crypto(tresor_crypto::CryptoError::OpenFailed)), "{e:?}");
    assert!(!e.to_string().contains("value-of"), "{e}");
    assert_eq!(f.svc.get(&a, None).await.unwrap().value.expose(), b"value-of-a");
}
