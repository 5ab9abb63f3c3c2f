use super::*;
use crate::RenderRequest;
use tresor_config::ChangeOp;
use tresor_model::{Access, EntryKey};
use tresor_store::ListQuery;
use tresor_store::SqliteStore;

struct Fixture {
    dir: tempfile::TempDir,
    svc: Service,
    encoded_root: String,
}

async fn fixture_with(limits: Limits) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("tresor.db")).unwrap());
    let (root, encoded) = RootKey::generate().unwrap();
    let svc = Service::open(store, root, limits).await.unwrap();
    svc.bootstrap(&ws()).await.unwrap();
    Fixture { dir, svc, encoded_root: encoded.to_string() }
}

async fn fixture() -> Fixture {
    fixture_with(Limits::default()).await
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
    SetEntry::new(p.clone(), EntryKind::Secret, value.into())
}

fn me() -> Ctx {
    Ctx::new(Arc::new(Caller::owner(ws(), "alice")), "test")
}

#[tokio::test]
async fn set_get_versions_and_restore() {
    let f = fixture().await;
    let p = path("default", "db/password");
    let m1 = f.svc.set(&me(), set(&p, "one")).await.unwrap();
    assert_eq!((m1.version, m1.edited_by.as_str()), (1, "user:alice"));
    f.svc.set(&me(), set(&p, "two")).await.unwrap();
    assert_eq!(f.svc.get(&me(), &p, None).await.unwrap().value.expose(), b"two");
    assert_eq!(f.svc.get(&me(), &p, Some(1)).await.unwrap().value.expose(), b"one");
    let restored = f.svc.restore(&me(), &p, 1).await.unwrap();
    assert_eq!(restored.version, 3);
    assert_eq!(f.svc.get(&me(), &p, None).await.unwrap().value.expose(), b"one");
    let history: Vec<u64> = f.svc.history(&me(), &p).await.unwrap().iter().map(|v| v.version).collect();
    assert_eq!(history, [3, 2, 1]);
    let e = f.svc.get(&me(), &p, Some(9)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
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
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("entry k already exists (at version 1)"), "{e}");
    let mut stale = set(&p, "b");
    stale.expected_version = Some(2);
    let e = f.svc.set(&me(), stale).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("at version 1, not 2"), "{e}");
    assert_eq!(f.svc.get(&me(), &p, None).await.unwrap().value.expose(), b"a", "the stale write changed nothing");
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
    let f =
        fixture_with(Limits { max_value_bytes: 16, max_entries: Some(2), keep_versions: 2, vault_secret_quota: None })
            .await;
    let e = f.svc.set(&me(), set(&path("default", "big"), &"x".repeat(17))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    assert_eq!(e.to_string(), "the value of big is 17 bytes; the limit is 16 bytes (max_value_bytes)");
    f.svc.set(&me(), set(&path("default", "a"), "1")).await.unwrap();
    f.svc.set(&me(), set(&path("default", "b"), "1")).await.unwrap();
    let e = f.svc.set(&me(), set(&path("default", "c"), "1")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Limit);
    assert!(e.to_string().contains("workspace default already holds 2 entries"), "{e}");
    // Updating, and writing after a delete, stay within the limit.
    f.svc.set(&me(), set(&path("default", "a"), "2")).await.unwrap();
    f.svc.delete(&me(), &path("default", "b")).await.unwrap();
    f.svc.set(&me(), set(&path("default", "c"), "1")).await.unwrap();
    // keep_versions = 2
    f.svc.set(&me(), set(&path("default", "a"), "3")).await.unwrap();
    assert_eq!(f.svc.history(&me(), &path("default", "a")).await.unwrap().len(), 2);
}

/// The quota of secrets per vault holds only the writes that ask for it (the Tinybird-compatible
/// create), counts live secrets of the entry's own vault, and is refused as a limit that names
/// the count, the limit and what to do.
#[tokio::test]
async fn the_vault_secret_quota_holds_the_writes_that_ask_for_it() {
    let f = fixture_with(Limits { vault_secret_quota: Some(2), ..Limits::default() }).await;
    let quota = |p: &EntryPath| SetEntry { within_vault_secret_quota: true, ..set(p, "v") };
    f.svc.set(&me(), quota(&path("default", "a"))).await.unwrap();
    f.svc.set(&me(), quota(&path("default", "b"))).await.unwrap();
    let e = f.svc.set(&me(), quota(&path("default", "c"))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Limit);
    assert_eq!(
        e.to_string(),
        "vault default/default already holds 2 secrets and the limit is 2; delete a secret or raise the limit"
    );
    // Other writes, updates and other vaults are not held to it; a deleted secret makes room.
    f.svc.set(&me(), set(&path("default", "c"), "v")).await.unwrap();
    f.svc.set(&me(), quota(&path("default", "a"))).await.unwrap();
    f.svc.create_vault(&me(), &path("other", "x").vault_path()).await.unwrap();
    f.svc.set(&me(), quota(&path("other", "x"))).await.unwrap();
    f.svc.delete(&me(), &path("default", "a")).await.unwrap();
    f.svc.delete(&me(), &path("default", "b")).await.unwrap();
    f.svc.set(&me(), quota(&path("default", "d"))).await.unwrap();
}

#[tokio::test]
async fn kinds_do_not_silently_change() {
    let f = fixture().await;
    let p = path("default", "config/max_retries");
    let mut var = set(&p, "5");
    var.kind = EntryKind::Variable;
    f.svc.set(&me(), var).await.unwrap();
    let e = f.svc.set(&me(), set(&p, "secret now")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.to_string().contains("is a variable"), "{e}");
    let listed = f.svc.list(&me(), &p.vault_path(), &all()).await.unwrap();
    assert_eq!(listed[0].variable_value.as_ref().unwrap().expose(), b"5");
}

fn all() -> ListQuery {
    ListQuery { prefix: String::new(), after: None, limit: 1000, include_deleted: false }
}

#[tokio::test]
async fn listing_never_carries_secret_values() {
    let f = fixture().await;
    f.svc.set(&me(), set(&path("default", "s"), "hidden")).await.unwrap();
    // A variable beside it: the listing tells the kinds apart instead of dropping every value.
    let mut var = set(&path("default", "v"), "shown");
    var.kind = EntryKind::Variable;
    f.svc.set(&me(), var).await.unwrap();
    let listed = f.svc.list(&me(), &path("default", "s").vault_path(), &all()).await.unwrap();
    let values: Vec<(&str, Option<&[u8]>)> =
        listed.iter().map(|l| (l.meta.key.as_str(), l.variable_value.as_ref().map(|v| v.expose()))).collect();
    assert_eq!(values, [("s", None), ("v", Some(&b"shown"[..]))]);
}

#[tokio::test]
async fn delete_undelete_purge() {
    let f = fixture().await;
    let p = path("default", "gone");
    f.svc.set(&me(), set(&p, "v")).await.unwrap();
    f.svc.delete(&me(), &p).await.unwrap();
    assert_eq!(f.svc.get(&me(), &p, None).await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(f.svc.delete(&me(), &p).await.unwrap_err().kind(), ErrorKind::NotFound);
    f.svc.undelete(&me(), &p).await.unwrap();
    assert_eq!(f.svc.get(&me(), &p, None).await.unwrap().value.expose(), b"v");
    f.svc.purge(&me(), &p).await.unwrap();
    assert_eq!(f.svc.undelete(&me(), &p).await.unwrap_err().kind(), ErrorKind::NotFound);
}

/// Single versions deleted, undeleted and destroyed (`change_versions`, the Vault-compatible
/// API's calls) mean the same on every surface: such a version is not opened by `get`, nor
/// restored, nor listed with a variable's value; deleting the current version hides the entry
/// and `undelete` brings both back; a destroyed value is gone for good.
#[tokio::test]
async fn single_versions_deleted_or_destroyed_are_never_opened() {
    let f = fixture().await;
    let p = path("default", "kv/db");
    for value in ["one", "two", "three"] {
        f.svc.set(&me(), set(&p, value)).await.unwrap();
    }
    f.svc.change_versions(&me(), &p, &[1], VersionChange::Delete).await.unwrap();
    let e = f.svc.get(&me(), &p, Some(1)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("version 1 of entry kv/db is deleted"), "{e}");
    assert!(f.svc.restore(&me(), &p, 1).await.is_err(), "a deleted version is not restored");
    f.svc.change_versions(&me(), &p, &[1], VersionChange::Undelete).await.unwrap();
    assert_eq!(f.svc.get(&me(), &p, Some(1)).await.unwrap().value.expose(), b"one");

    // The current version: the entry is hidden as by `delete`, `undelete` brings it back.
    f.svc.change_versions(&me(), &p, &[3], VersionChange::Delete).await.unwrap();
    assert_eq!(f.svc.get(&me(), &p, None).await.unwrap_err().kind(), ErrorKind::NotFound);
    let (entry, versions) = f.svc.history_with_meta(&me(), &p).await.unwrap();
    assert!(entry.deleted_at.is_some() && versions[0].1.deleted_at.is_some(), "{entry:?} {versions:?}");
    f.svc.undelete(&me(), &p).await.unwrap();
    assert_eq!(f.svc.get(&me(), &p, None).await.unwrap().value.expose(), b"three");

    f.svc.change_versions(&me(), &p, &[2], VersionChange::Destroy).await.unwrap();
    f.svc.change_versions(&me(), &p, &[2], VersionChange::Undelete).await.unwrap();
    let e = f.svc.get(&me(), &p, Some(2)).await.unwrap_err();
    assert!(e.to_string().contains("version 2 of entry kv/db was destroyed"), "{e}");
    let stored = f.svc.store().read_version(&p, Some(2)).await.unwrap().unwrap();
    assert!(stored.sealed.is_empty(), "the sealed value is erased");

    // A variable whose current version is destroyed is listed without a value.
    let var = path("default", "kv/setting");
    f.svc.set(&me(), SetEntry::new(var.clone(), EntryKind::Variable, "on".into())).await.unwrap();
    f.svc.change_versions(&me(), &var, &[1], VersionChange::Destroy).await.unwrap();
    let all = ListQuery { prefix: "kv/".into(), after: None, limit: 10, include_deleted: false };
    let listed = f.svc.list(&me(), &p.vault_path(), &all).await.unwrap();
    assert!(listed.iter().any(|l| l.meta.key == "kv/setting" && l.variable_value.is_none()));

    // Rights first: a reader may not change versions, and an unknown entry is not found.
    let reader = Ctx::new(
        Arc::new(Caller::new(
            ws(),
            "app:reader".parse().unwrap(),
            None,
            None,
            vec![("*/*/*".parse().unwrap(), Access::Read)],
        )),
        "test",
    );
    let e = f.svc.change_versions(&reader, &p, &[1], VersionChange::Destroy).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Denied);
    let e = f.svc.change_versions(&me(), &path("default", "kv/none"), &[1], VersionChange::Delete).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn vaults_and_environments() {
    let f = fixture().await;
    let prod = EnvName::new("prod").unwrap();
    let api = VaultPath { workspace: ws(), environment: prod.clone(), vault: VaultName::new("api-keys").unwrap() };
    let e = f.svc.create_vault(&me(), &api).await.unwrap_err();
    assert!(e.to_string().contains("environment prod does not exist"), "{e}");
    f.svc.ensure_environment(&me(), &prod).await.unwrap();
    f.svc.create_vault(&me(), &api).await.unwrap();
    assert_eq!(f.svc.create_vault(&me(), &api).await.unwrap_err().kind(), ErrorKind::AlreadyExists);
    let p = api.entry(EntryKey::new("stripe").unwrap());
    f.svc.set(&me(), set(&p, "sk")).await.unwrap();
    let e = f.svc.delete_vault(&me(), &api).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("not empty"), "{e}");
    f.svc.purge(&me(), &p).await.unwrap();
    f.svc.delete_vault(&me(), &api).await.unwrap();
    let missing = f.svc.set(&me(), set(&p, "sk")).await.unwrap_err();
    assert!(missing.to_string().contains("tresor vault create api-keys"), "{missing}");
    let default = VaultPath { vault: VaultName::default_name(), ..api };
    assert_eq!(f.svc.delete_vault(&me(), &default).await.unwrap_err().kind(), ErrorKind::Invalid);
}

#[tokio::test]
async fn a_wrong_root_key_fails_at_bootstrap() {
    let f = fixture().await;
    let store = Arc::new(SqliteStore::open(&f.dir.path().join("tresor.db")).unwrap());
    let (other, _) = RootKey::generate().unwrap();
    assert!(matches!(Service::open(store.clone(), other, Limits::default()).await, Err(ServiceError::Crypto(_))));
    let same = Service::open(store, RootKey::from_encoded(&f.encoded_root).unwrap(), Limits::default()).await.unwrap();
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
    let e = f.svc.get(&me(), &b, None).await.unwrap_err();
    assert!(matches!(e, ServiceError::Crypto(tresor_crypto::CryptoError::OpenFailed)), "{e:?}");
    assert!(!e.to_string().contains("value-of"), "{e}");
    assert_eq!(f.svc.get(&me(), &a, None).await.unwrap().value.expose(), b"value-of-a");
}

// ----- access control, tokens and audit -----

async fn token_for(f: &Fixture, principal: &str, grants: &[(&str, Access)]) -> (Ctx, String) {
    let p: tresor_model::PrincipalRef = principal.parse().unwrap();
    f.svc.create_principal(&me(), &p).await.unwrap();
    for (scope, access) in grants {
        f.svc.create_grant(&me(), &p, &scope.parse().unwrap(), *access).await.unwrap();
    }
    let (_, minted) = f.svc.create_token(&me(), &p, "test", None, None).await.unwrap();
    let caller = f.svc.authenticate(&minted.text, "req").await.unwrap();
    (Ctx::new(caller, "req"), minted.text.to_string())
}

fn in_env(env: &str, vault: &str, key: &str) -> EntryPath {
    EntryPath {
        workspace: ws(),
        environment: EnvName::new(env).unwrap(),
        vault: VaultName::new(vault).unwrap(),
        key: EntryKey::new(key).unwrap(),
    }
}

#[tokio::test]
async fn each_access_level_allows_its_own_and_denies_the_rest() {
    let f = fixture().await;
    let stripe = path("default", "stripe");
    f.svc.set(&me(), set(&stripe, "sk_live")).await.unwrap();
    let (reader, _) = token_for(&f, "app:reader", &[("default/default/*", Access::Read)]).await;
    let (writer, _) = token_for(&f, "app:writer", &[("default/default/*", Access::Write)]).await;
    let (manager, _) = token_for(&f, "user:manager", &[("*", Access::Manage)]).await;
    let (admin, _) = token_for(&f, "user:admin", &[("*", Access::Admin)]).await;
    let (narrow, _) = token_for(&f, "app:narrow", &[("default/default/db/*", Access::Read)]).await;

    // read: resolves, cannot write or manage.
    assert_eq!(f.svc.get(&reader, &stripe, None).await.unwrap().value.expose(), b"sk_live");
    assert_eq!(f.svc.set(&reader, set(&stripe, "x")).await.unwrap_err().kind(), ErrorKind::Denied);
    let v = VaultPath { workspace: ws(), environment: EnvName::default_name(), vault: VaultName::new("x").unwrap() };
    assert_eq!(f.svc.create_vault(&reader, &v).await.unwrap_err().kind(), ErrorKind::Denied);
    // write: writes, cannot read values.
    f.svc.set(&writer, set(&stripe, "sk_new")).await.unwrap();
    let e = f.svc.get(&writer, &stripe, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Denied);
    assert!(e.to_string().contains("lacks read access"), "{e}");
    // manage: vaults, principals, grants; no entry writes, no reads.
    f.svc.create_vault(&manager, &v).await.unwrap();
    assert_eq!(f.svc.set(&manager, set(&stripe, "x")).await.unwrap_err().kind(), ErrorKind::Denied);
    assert_eq!(f.svc.get(&manager, &stripe, None).await.unwrap_err().kind(), ErrorKind::Denied);
    f.svc.list_grants(&manager).await.unwrap();
    assert_eq!(f.svc.list_grants(&writer).await.unwrap_err().kind(), ErrorKind::Denied);
    // admin: everything but reading values.
    f.svc.set(&admin, set(&stripe, "sk_admin")).await.unwrap();
    f.svc.create_principal(&admin, &"app:new".parse().unwrap()).await.unwrap();
    assert_eq!(
        f.svc.get(&admin, &stripe, None).await.unwrap_err().kind(),
        ErrorKind::Denied,
        "managing is not reading"
    );
    // Listing: an admin sees a variable's value (DESIGN: visible to anyone who can list it) and
    // never a secret's; so does a writer.
    let mut region = set(&path("default", "region"), "eu-west-1");
    region.kind = EntryKind::Variable;
    f.svc.set(&me(), region).await.unwrap();
    for lister in [&admin, &writer] {
        let listed = f.svc.list(lister, &stripe.vault_path(), &all()).await.unwrap();
        let values: Vec<(&str, Option<&[u8]>)> =
            listed.iter().map(|l| (l.meta.key.as_str(), l.variable_value.as_ref().map(|v| v.expose()))).collect();
        assert_eq!(values, [("region", Some(&b"eu-west-1"[..])), ("stripe", None)]);
    }
    // a key-prefix token sees only its prefix.
    f.svc.set(&me(), set(&path("default", "db/pw"), "pw")).await.unwrap();
    assert_eq!(f.svc.get(&narrow, &path("default", "db/pw"), None).await.unwrap().value.expose(), b"pw");
    assert_eq!(f.svc.get(&narrow, &stripe, None).await.unwrap_err().kind(), ErrorKind::Denied);
    let seen: Vec<String> =
        f.svc.list(&narrow, &stripe.vault_path(), &all()).await.unwrap().into_iter().map(|l| l.meta.key).collect();
    assert_eq!(seen, ["db/pw"]);
}

#[tokio::test]
async fn groups_pass_their_grants_to_members() {
    let f = fixture().await;
    f.svc.set(&me(), set(&path("default", "k"), "v")).await.unwrap();
    let group: tresor_model::PrincipalRef = "group:readers".parse().unwrap();
    f.svc.create_principal(&me(), &group).await.unwrap();
    f.svc.create_grant(&me(), &group, &"default".parse().unwrap(), Access::Read).await.unwrap();
    let (member, token) = token_for(&f, "user:bob", &[]).await;
    assert_eq!(f.svc.get(&member, &path("default", "k"), None).await.unwrap_err().kind(), ErrorKind::Denied);
    f.svc.add_member(&me(), "readers", &"user:bob".parse().unwrap()).await.unwrap();
    // Membership changes apply to the next request of an existing token.
    let member = Ctx::new(f.svc.authenticate(&token, "r").await.unwrap(), "r");
    assert_eq!(f.svc.get(&member, &path("default", "k"), None).await.unwrap().value.expose(), b"v");
}

#[tokio::test]
async fn tokens_are_hashed_revocable_and_expiring() {
    let f = fixture().await;
    let (ctx, token) = token_for(&f, "app:w", &[("*", Access::Read)]).await;
    let stored = f.svc.list_tokens(&me()).await.unwrap();
    let record = stored.iter().find(|t| t.principal.name == "w").unwrap();
    assert_ne!(record.hash, token.as_bytes(), "only a hash is stored");
    assert!(!format!("{stored:?}").contains(&token[17..]));
    f.svc.revoke_token(&ctx, record.id.as_str()).await.unwrap();
    let e = f.svc.authenticate(&token, "r").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(e.to_string().contains("revoked"));
    // A wrong secret for a real id is "unknown", the same as an unknown id.
    let forged = format!("{}{}", &token[..17], "A".repeat(43));
    assert!(f.svc.authenticate(&forged, "r").await.unwrap_err().to_string().contains("unknown token"));
    // Expiry.
    let p: tresor_model::PrincipalRef = "app:w".parse().unwrap();
    let (_, short) = f.svc.create_token(&me(), &p, "short", Some(0), None).await.unwrap();
    assert!(f.svc.authenticate(&short.text, "r").await.unwrap_err().to_string().contains("expired"));
}

// ----- tokens bound to an environment -----

fn env(name: &str) -> EnvName {
    EnvName::new(name).unwrap()
}

/// A token of `principal` (created with `grants`) bound to `environment`, minted by the owner.
async fn bound_token_for(f: &Fixture, principal: &str, grants: &[(&str, Access)], environment: &str) -> Ctx {
    let p: tresor_model::PrincipalRef = principal.parse().unwrap();
    f.svc.create_principal(&me(), &p).await.unwrap();
    for (scope, access) in grants {
        f.svc.create_grant(&me(), &p, &scope.parse().unwrap(), *access).await.unwrap();
    }
    let (record, minted) = f.svc.create_token(&me(), &p, "bound", None, Some(&env(environment))).await.unwrap();
    assert_eq!(record.environment, Some(env(environment)));
    Ctx::new(f.svc.authenticate(&minted.text, "req").await.unwrap(), "req")
}

#[tokio::test]
async fn a_bound_token_acts_in_its_environment_only() {
    let f = fixture().await;
    for name in ["staging", "production"] {
        f.svc.create_environment(&me(), &env(name), None).await.unwrap();
        f.svc.set(&me(), set(&in_env(name, "default", "pw"), &format!("{name}-value"))).await.unwrap();
    }
    let everything = [("*", Access::Read), ("*", Access::Admin)];
    let staging = bound_token_for(&f, "user:stager", &everything, "staging").await;
    assert_eq!(staging.caller.binding().unwrap().environment, env("staging"));
    assert!(staging.caller.binding().unwrap().parents.is_empty());

    // Its own environment: everything its grants allow there.
    let pw = in_env("staging", "default", "pw");
    assert_eq!(f.svc.get(&staging, &pw, None).await.unwrap().value.expose(), b"staging-value");
    f.svc.set(&staging, set(&in_env("staging", "default", "new"), "n")).await.unwrap();
    let staging_vault =
        VaultPath { workspace: ws(), environment: env("staging"), vault: VaultName::new("extra").unwrap() };
    f.svc.create_vault(&staging, &staging_vault).await.unwrap();
    let envs: Vec<String> = f.svc.list_environments(&staging).await.unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(envs, ["staging"]);

    // Any other environment: nothing, whatever the principal holds there.
    let other = in_env("production", "default", "pw");
    let denied = |e: ServiceError| assert_eq!(e.kind(), ErrorKind::Denied, "{e}");
    denied(f.svc.get(&staging, &other, None).await.unwrap_err());
    denied(f.svc.describe(&staging, &other).await.unwrap_err());
    denied(f.svc.set(&staging, set(&other, "x")).await.unwrap_err());
    denied(f.svc.delete(&staging, &other).await.unwrap_err());
    denied(f.svc.list(&staging, &other.vault_path(), &all()).await.unwrap_err());
    let default_pw = path("default", "pw");
    denied(f.svc.set(&staging, set(&default_pw, "x")).await.unwrap_err());
    let prod_vault = VaultPath { environment: env("production"), ..staging_vault.clone() };
    denied(f.svc.create_vault(&staging, &prod_vault).await.unwrap_err());
    denied(f.svc.create_environment(&staging, &env("staging-2"), Some(&env("staging"))).await.unwrap_err());
    assert_eq!(f.svc.get(&me(), &other, None).await.unwrap().value.expose(), b"production-value", "untouched");

    // Nothing workspace-wide, though the principal holds admin on everything.
    let app: tresor_model::PrincipalRef = "app:other".parse().unwrap();
    denied(f.svc.list_grants(&staging).await.unwrap_err());
    denied(f.svc.list_tokens(&staging).await.unwrap_err());
    denied(f.svc.create_principal(&staging, &app).await.unwrap_err());
    denied(
        f.svc
            .create_grant(&staging, &"user:stager".parse().unwrap(), &"staging".parse().unwrap(), Access::Read)
            .await
            .unwrap_err(),
    );
    denied(f.svc.audit_log(&staging, 0, None, 10).await.unwrap_err());
    denied(f.svc.list_app_keys(&staging).await.unwrap_err());

    // Delegation stays bounded: no unbound token, none bound elsewhere, and minting at all needs
    // workspace-wide manage.
    let me_p: tresor_model::PrincipalRef = "user:stager".parse().unwrap();
    let e = f.svc.create_token(&staging, &me_p, "escape", None, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Denied);
    assert!(e.to_string().contains("cannot create a token that is unbound"), "{e}");
    let e = f.svc.create_token(&staging, &me_p, "escape", None, Some(&env("production"))).await.unwrap_err();
    assert!(e.to_string().contains("bound to environment production"), "{e}");
    let e = f.svc.create_token(&staging, &me_p, "same", None, Some(&env("staging"))).await.unwrap_err();
    assert!(e.to_string().contains("whole workspace"), "{e}");
    let e = f.svc.create_app_key(&staging, &app, None).await.unwrap_err();
    assert!(e.to_string().contains("cannot create an application key that is unbound"), "{e}");
    assert_eq!(f.svc.list_tokens(&me()).await.unwrap().iter().filter(|t| t.name == "escape").count(), 0);

    // An unbound token of the same principal acts wherever its grants say.
    let (_, owner_minted) = f.svc.create_token(&me(), &me_p, "unbound", None, None).await.unwrap();
    let unbound = Ctx::new(f.svc.authenticate(&owner_minted.text, "r").await.unwrap(), "r");
    assert!(unbound.caller.binding().is_none());
    assert_eq!(f.svc.get(&unbound, &other, None).await.unwrap().value.expose(), b"production-value");

    // A binding names an environment that exists.
    let e = f.svc.create_token(&me(), &me_p, "typo", None, Some(&env("stagign"))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("environment stagign does not exist"), "{e}");
    let log = f.svc.audit_log(&me(), 0, None, 1000).await.unwrap();
    assert!(log.iter().any(|r| r.action == "token.create" && r.target.contains("bound to environment staging")));
}

#[tokio::test]
async fn a_token_bound_to_a_branch_reads_through_and_compatibility_writes_are_refused() {
    let f = fixture().await;
    f.svc.create_environment(&me(), &env("prod"), None).await.unwrap();
    f.svc.create_environment(&me(), &env("feature-x"), Some(&env("prod"))).await.unwrap();
    f.svc.set(&me(), set(&in_env("prod", "default", "pw"), "prod-value")).await.unwrap();
    let dev = bound_token_for(&f, "app:dev", &[("*", Access::Read), ("*", Access::Write)], "feature-x").await;
    assert_eq!(dev.caller.binding().unwrap().parent(), Some(&env("prod")));

    // Reads fall through to the parent, by the principal's grants there.
    let through = in_env("feature-x", "default", "pw");
    let read = f.svc.get(&dev, &through, None).await.unwrap();
    assert_eq!((read.value.expose(), read.environment.as_str()), (&b"prod-value"[..], "prod"));
    assert_eq!(f.svc.describe(&dev, &through).await.unwrap().version, 1);
    let listed = f.svc.list(&dev, &through.vault_path(), &all()).await.unwrap();
    assert_eq!(
        listed.iter().map(|l| (l.meta.key.as_str(), l.environment.as_str())).collect::<Vec<_>>(),
        [("pw", "prod")]
    );
    // ... but a request naming the parent is another environment.
    let direct = in_env("prod", "default", "pw");
    assert_eq!(f.svc.get(&dev, &direct, None).await.unwrap_err().kind(), ErrorKind::Denied);
    assert_eq!(f.svc.set(&dev, set(&direct, "x")).await.unwrap_err().kind(), ErrorKind::Denied);

    // tresor's own surfaces write the branch's own keys, as for any caller.
    let own = in_env("feature-x", "default", "own");
    f.svc.set(&dev, set(&own, "branch-value")).await.unwrap();

    // The compatibility APIs make a branch read-only: every change is refused, in Tinybird's words.
    let compat = dev.clone().with_read_only_branches();
    assert_eq!(f.svc.get(&compat, &through, None).await.unwrap().value.expose(), b"prod-value");
    let refusals = [
        f.svc.set(&compat, set(&in_env("feature-x", "default", "new"), "x")).await.unwrap_err(),
        f.svc.set(&compat, set(&own, "changed")).await.unwrap_err(),
        f.svc.delete(&compat, &own).await.unwrap_err(),
        f.svc.purge(&compat, &own).await.unwrap_err(),
        f.svc.delete_many(&compat, &own.vault_path(), std::slice::from_ref(&own.key), false).await.unwrap_err(),
        f.svc.update_tags(&compat, &own, &[], &[]).await.unwrap_err(),
    ];
    for e in refusals {
        assert_eq!(e.kind(), ErrorKind::Denied);
        assert!(
            e.to_string()
                .starts_with("You cannot create a secret in a Branch: environment feature-x is a branch of prod"),
            "{e}"
        );
    }
    assert_eq!(f.svc.get(&dev, &own, None).await.unwrap().value.expose(), b"branch-value", "nothing changed");
    let e = f.svc.get(&compat, &in_env("feature-x", "default", "new"), None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let log = f.svc.audit_log(&me(), 0, None, 1000).await.unwrap();
    assert!(
        log.iter().any(|r| r.action == "entry.delete" && r.outcome == "denied" && r.target.contains("feature-x")),
        "refusals are audited"
    );

    // Outside a branch the compatibility APIs write as before.
    let prod_writer = bound_token_for(&f, "app:prod-writer", &[("prod", Access::Write)], "prod").await;
    f.svc.set(&prod_writer.with_read_only_branches(), set(&in_env("prod", "default", "new"), "v")).await.unwrap();
}

#[tokio::test]
async fn an_application_key_passes_its_binding_to_the_tokens_it_is_exchanged_for() {
    let f = fixture().await;
    f.svc.create_environment(&me(), &env("staging"), None).await.unwrap();
    let app: tresor_model::PrincipalRef = "app:workers".parse().unwrap();
    let bound = f.svc.create_app_key(&me(), &app, Some(&env("staging"))).await.unwrap();
    assert_eq!(bound.record.environment, Some(env("staging")));
    let unbound = f.svc.create_app_key(&me(), &app, None).await.unwrap();
    let origin = Origin::new("exchange");
    let token = f.svc.exchange_app_key(&bound.record.id, &bound.secret, 60, &origin).await.unwrap();
    let caller = f.svc.authenticate(&token.text, "r").await.unwrap();
    assert_eq!(caller.binding().map(|b| b.environment.as_str()), Some("staging"));
    let token = f.svc.exchange_app_key(&unbound.record.id, &unbound.secret, 60, &origin).await.unwrap();
    assert!(f.svc.authenticate(&token.text, "r").await.unwrap().binding().is_none());
    let stored = f.svc.list_tokens(&me()).await.unwrap();
    let minted = stored.iter().find(|t| t.name == format!("app key {}", bound.record.id)).unwrap();
    assert_eq!(minted.environment, Some(env("staging")));
    let keys = f.svc.list_app_keys(&me()).await.unwrap();
    assert_eq!(keys.iter().filter(|k| k.environment.is_some()).count(), 1);
    let e = f.svc.create_app_key(&me(), &app, Some(&env("nowhere"))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn audit_records_everything_chains_and_detects_tampering() {
    let f = fixture().await;
    let (reader, _) = token_for(&f, "app:r", &[("default/default/a", Access::Read)]).await;
    f.svc.set(&me(), set(&path("default", "a"), "audited-secret-value")).await.unwrap();
    f.svc.get(&reader, &path("default", "a"), None).await.unwrap();
    f.svc.get(&reader, &path("default", "b"), None).await.unwrap_err();
    f.svc.authenticate("tsr_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "bad").await.unwrap_err();
    let log = f.svc.audit_log(&me(), 0, None, 1000).await.unwrap();
    let has = |action: &str, outcome: &str| log.iter().any(|r| r.action == action && r.outcome == outcome);
    assert!(has("entry.write", "ok") && has("entry.read", "ok") && has("entry.read", "denied"));
    assert!(has("grant.create", "ok") && has("token.create", "ok") && has("auth.token", "unauthenticated"));
    assert!(!format!("{log:?}").contains("audited-secret-value"), "no value in the audit log");
    assert_eq!(f.svc.audit_log(&reader, 0, None, 10).await.unwrap_err().kind(), ErrorKind::Denied);
    let report = f.svc.audit_verify(&me()).await.unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.records as usize, log.len());

    // Tamper: edit a record, then delete one.
    let conn = rusqlite::Connection::open(f.dir.path().join("tresor.db")).unwrap();
    conn.execute("UPDATE audit_log SET outcome = 'ok' WHERE outcome = 'denied'", []).unwrap();
    let report = f.svc.audit_verify(&me()).await.unwrap();
    assert!(report.problems.iter().any(|p| p.contains("was altered")), "{:?}", report.problems);
    let conn2 = rusqlite::Connection::open(f.dir.path().join("tresor.db")).unwrap();
    conn2.execute("DELETE FROM audit_log WHERE seq = 3", []).unwrap();
    let report = f.svc.audit_verify(&me()).await.unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("places 3 to 3 of chain") && p.ends_with("are missing")),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn branches_read_through_and_refuse_overrides() {
    let f = fixture().await;
    let prod = EnvName::new("prod").unwrap();
    let branch = EnvName::new("feature-x").unwrap();
    f.svc.create_environment(&me(), &prod, None).await.unwrap();
    f.svc.create_environment(&me(), &branch, Some(&prod)).await.unwrap();
    f.svc.set(&me(), set(&in_env("prod", "default", "db/pw"), "prod-pw")).await.unwrap();
    let through = f.svc.get(&me(), &in_env("feature-x", "default", "db/pw"), None).await.unwrap();
    assert_eq!((through.value.expose(), through.environment.as_str()), (&b"prod-pw"[..], "prod"));
    let e = f.svc.set(&me(), set(&in_env("feature-x", "default", "db/pw"), "x")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("belongs to parent environment prod"), "{e}");
    f.svc.set(&me(), set(&in_env("feature-x", "default", "own"), "mine")).await.unwrap();
    let vault = in_env("feature-x", "default", "own").vault_path();
    let listed: Vec<(String, String)> =
        f.svc.list(&me(), &vault, &all()).await.unwrap().into_iter().map(|l| (l.meta.key, l.environment)).collect();
    assert_eq!(listed, [("db/pw".into(), "prod".into()), ("own".into(), "feature-x".into())]);
    // A grant on the branch alone does not open the parent's values.
    let (branch_reader, _) = token_for(&f, "app:b", &[("feature-x", Access::Read)]).await;
    assert_eq!(
        f.svc.get(&branch_reader, &in_env("feature-x", "default", "db/pw"), None).await.unwrap_err().kind(),
        ErrorKind::Denied
    );
    assert!(
        f.svc.get(&me(), &in_env("prod", "default", "own"), None).await.is_err(),
        "the parent does not see the branch"
    );
}

#[tokio::test]
async fn batch_resolution_reports_each_entry() {
    let f = fixture().await;
    f.svc.set(&me(), set(&path("default", "a"), "1")).await.unwrap();
    f.svc.set(&me(), set(&path("default", "b"), "2")).await.unwrap();
    let (reader, _) = token_for(&f, "app:r", &[("default/default/a", Access::Read)]).await;
    let out = f
        .svc
        .get_many(&reader, &[(path("default", "a"), None), (path("default", "b"), None), (path("default", "zz"), None)])
        .await;
    assert_eq!(out[0].as_ref().unwrap().value.expose(), b"1");
    assert_eq!(out[1].as_ref().unwrap_err().kind(), ErrorKind::Denied);
    assert_eq!(out[2].as_ref().unwrap_err().kind(), ErrorKind::Denied, "no grant on zz either");
    let all_of = f.svc.get_many(&me(), &[(path("default", "a"), None), (path("default", "zz"), None)]).await;
    assert_eq!(all_of[1].as_ref().unwrap_err().kind(), ErrorKind::NotFound);
}

/// `get_many` reads the current versions it may in one query per vault, and must answer for each
/// entry what `get` answers: values read through a branch, a soft-deleted entry shadowing nothing,
/// a given version, a variable, repeats, missing and refused entries; one audit record each.
#[tokio::test]
async fn batch_resolution_answers_as_one_by_one() {
    let f = fixture().await;
    let (prod, branch) = (EnvName::new("prod").unwrap(), EnvName::new("feature-x").unwrap());
    f.svc.create_environment(&me(), &prod, None).await.unwrap();
    f.svc.create_environment(&me(), &branch, Some(&prod)).await.unwrap();
    let here = |key: &str| in_env("feature-x", "default", key);
    f.svc.set(&me(), set(&here("shadow"), "deleted-in-branch")).await.unwrap();
    f.svc.delete(&me(), &here("shadow")).await.unwrap();
    f.svc.set(&me(), set(&in_env("prod", "default", "shadow"), "parent-shadow")).await.unwrap();
    f.svc.set(&me(), set(&in_env("prod", "default", "db/pw"), "prod-pw")).await.unwrap();
    f.svc.set(&me(), set(&here("own"), "mine")).await.unwrap();
    f.svc.set(&me(), set(&here("twice"), "first")).await.unwrap();
    f.svc.set(&me(), set(&here("twice"), "second")).await.unwrap();
    f.svc.set(&me(), SetEntry::new(here("plain"), EntryKind::Variable, "a variable".into())).await.unwrap();
    f.svc.set(&me(), set(&in_env("prod", "default", "gone"), "gone")).await.unwrap();
    f.svc.delete(&me(), &in_env("prod", "default", "gone")).await.unwrap();
    let paths = [
        (here("own"), None),
        (here("db/pw"), None),
        (here("shadow"), None),
        (here("twice"), Some(1)),
        (here("twice"), None),
        (here("plain"), None),
        (here("gone"), None),
        (here("zz"), None),
        (here("own"), None),
    ];
    let (branch_only, _) = token_for(&f, "app:b", &[("feature-x", Access::Read)]).await;
    let (own_only, _) = token_for(&f, "app:o", &[("feature-x/default/own", Access::Read)]).await;
    for ctx in [me(), branch_only, own_only] {
        let before = f.svc.audit_log(&me(), 0, None, 10_000).await.unwrap().len();
        let batch = f.svc.get_many(&ctx, &paths).await;
        let log = f.svc.audit_log(&me(), 0, None, 10_000).await.unwrap();
        let reads: Vec<&str> = log[before..]
            .iter()
            .filter(|r| r.action == "entry.read" && r.detail.as_deref() == Some("batch"))
            .map(|r| r.target.as_str())
            .collect();
        let asked: Vec<String> = paths.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(reads, asked, "one record per entry read, in order ({})", ctx.caller.principal);
        for ((path, version), got) in paths.iter().zip(batch) {
            let one = f.svc.get(&ctx, path, *version).await;
            let show = |r: &Result<Resolved>| match r {
                Ok(r) => format!("{:?} from {}", String::from_utf8_lossy(r.value.expose()), r.environment),
                Err(e) => format!("{:?}", e.kind()),
            };
            assert_eq!(show(&got), show(&one), "{path} version {version:?} for {}", ctx.caller.principal);
        }
    }
    let batch = f.svc.get_many(&me(), &paths).await;
    let values: Vec<String> = batch
        .iter()
        .map(|r| r.as_ref().map_or("-".into(), |r| String::from_utf8_lossy(r.value.expose()).into_owned()))
        .collect();
    assert_eq!(values, ["mine", "prod-pw", "parent-shadow", "first", "second", "a variable", "-", "-", "mine"]);
}

/// `get_vault` answers what listing the vault and resolving every key listed answer, for the
/// callers it reads in one scan (the owner, `read` on the whole vault) and those it lists for
/// (a grant on some keys, a variable seen without `read`, a branch): the same keys, values and
/// refusals, one `entry.list` record and one `entry.read` record per key, in key order; and a
/// check that refuses the keys stops it before any value is read.
#[tokio::test]
async fn whole_vault_answers_as_listing_then_batch() {
    let f = fixture().await;
    let (prod, branch) = (EnvName::new("prod").unwrap(), EnvName::new("feature-x").unwrap());
    f.svc.create_environment(&me(), &prod, None).await.unwrap();
    f.svc.create_environment(&me(), &branch, Some(&prod)).await.unwrap();
    let at = |env: &str, key: &str| in_env(env, "default", key);
    // Written out of key order.
    f.svc.set(&me(), set(&at("prod", "zeta"), "z")).await.unwrap();
    f.svc.set(&me(), set(&at("prod", "db/pw"), "pw1")).await.unwrap();
    f.svc.set(&me(), set(&at("prod", "db/pw"), "pw2")).await.unwrap();
    f.svc.set(&me(), SetEntry::new(at("prod", "plain"), EntryKind::Variable, "a variable".into())).await.unwrap();
    f.svc.set(&me(), set(&at("prod", "gone"), "deleted")).await.unwrap();
    f.svc.delete(&me(), &at("prod", "gone")).await.unwrap();
    // Its current version destroyed: listed, and refused as not found.
    f.svc.set(&me(), set(&at("prod", "burnt"), "destroyed")).await.unwrap();
    f.svc.change_versions(&me(), &at("prod", "burnt"), &[1], VersionChange::Destroy).await.unwrap();
    f.svc.set(&me(), set(&at("prod", "other"), "elsewhere")).await.unwrap();
    f.svc.create_vault(&me(), &in_env("prod", "elsewhere", "x").vault_path()).await.unwrap();
    f.svc.set(&me(), set(&in_env("prod", "elsewhere", "db/pw"), "another vault")).await.unwrap();
    f.svc.set(&me(), set(&at("feature-x", "own"), "mine")).await.unwrap();

    let (vault_reader, _) = token_for(&f, "app:v", &[("prod/default", Access::Read)]).await;
    let (some_keys, _) =
        token_for(&f, "app:k", &[("prod/default/db/*", Access::Read), ("prod/default/plain", Access::Write)]).await;
    let (lister, _) = token_for(&f, "app:l", &[("prod/default", Access::Write)]).await;
    let vaults = [at("prod", "x").vault_path(), at("feature-x", "x").vault_path()];
    let show = |r: &Result<Resolved>| match r {
        Ok(r) => format!("{:?} from {}", String::from_utf8_lossy(r.value.expose()), r.environment),
        Err(e) => format!("{:?}", e.kind()),
    };
    for ctx in [me(), vault_reader, some_keys, lister] {
        for vault in &vaults {
            let who = format!("{} in {vault}", ctx.caller.principal);
            let before = f.svc.audit_log(&me(), 0, None, 10_000).await.unwrap().len();
            let mut checked: Vec<String> = Vec::new();
            let got = f
                .svc
                .get_vault(&ctx, vault, |keys| {
                    checked = keys.iter().map(|k| k.to_string()).collect();
                    Ok::<_, ()>(())
                })
                .await;
            let log = f.svc.audit_log(&me(), 0, None, 10_000).await.unwrap();
            let listed = f.svc.list_all(&ctx, vault, "", false).await;
            let (got, listed) = match (got, listed) {
                (Ok(got), Ok(listed)) => (got.unwrap(), listed),
                (Err(e), Err(listing)) => {
                    assert_eq!(e.kind(), listing.kind(), "{who}: refused as the listing is");
                    continue;
                }
                (got, listed) => panic!("{who}: get_vault {:?}, list_all {:?}", got.is_ok(), listed.is_ok()),
            };
            let keys: Vec<&str> = listed.iter().map(|l| l.meta.key.as_str()).collect();
            assert_eq!(got.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), keys, "{who}: the keys listed");
            assert_eq!(checked, keys, "{who}: the keys checked");
            let paths: Vec<_> = keys.iter().map(|k| (vault.entry(EntryKey::new(*k).unwrap()), None)).collect();
            let one_by_one = f.svc.get_many(&ctx, &paths).await;
            for ((key, got), expected) in got.iter().zip(&one_by_one) {
                assert_eq!(show(got), show(expected), "{who}: {key}");
            }
            let records: Vec<(&str, &str)> = log[before..]
                .iter()
                .filter(|r| r.action.starts_with("entry."))
                .map(|r| (r.action.as_str(), r.target.as_str()))
                .collect();
            let reads: Vec<String> = paths.iter().map(|(p, _)| p.to_string()).collect();
            let lists =
                records.iter().filter(|(action, target)| *action == "entry.list" && *target == vault.to_string());
            assert_eq!(lists.count(), 1, "{who}: one listing record");
            let read: Vec<&str> = records.iter().filter(|(a, _)| *a == "entry.read").map(|(_, t)| *t).collect();
            assert_eq!(read, reads, "{who}: one read record per key, in order");
        }
    }
    let values: Vec<(String, String)> = f
        .svc
        .get_vault(&me(), &vaults[0], |_| Ok::<_, ()>(()))
        .await
        .unwrap()
        .unwrap()
        .iter()
        .map(|(k, r)| (k.clone(), show(r)))
        .collect();
    let expected = [
        ("burnt", "NotFound"),
        ("db/pw", "\"pw2\" from prod"),
        ("other", "\"elsewhere\" from prod"),
        ("plain", "\"a variable\" from prod"),
        ("zeta", "\"z\" from prod"),
    ];
    assert_eq!(values, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));

    // A refused check: nothing read, the listing recorded.
    let before = f.svc.audit_log(&me(), 0, None, 10_000).await.unwrap().len();
    let refused = f.svc.get_vault(&me(), &vaults[0], |keys| Err(keys.len())).await.unwrap();
    assert_eq!(refused.err(), Some(5));
    let log = f.svc.audit_log(&me(), 0, None, 10_000).await.unwrap();
    let actions: Vec<&str> =
        log[before..].iter().map(|r| r.action.as_str()).filter(|a| a.starts_with("entry.")).collect();
    assert_eq!(actions, ["entry.list"]);
    // A vault that does not exist is refused as the listing refuses it, and recorded.
    let missing = in_env("prod", "nope", "x").vault_path();
    let e = f.svc.get_vault(&me(), &missing, |_| Ok::<_, ()>(())).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let last = f.svc.audit_log(&me(), 0, None, 10_000).await.unwrap().pop().unwrap();
    assert_eq!((last.action.as_str(), last.outcome.as_str()), ("entry.list", "not_found"));
}

#[tokio::test]
async fn cached_values_follow_writes() {
    let f = fixture().await;
    let p = path("default", "c");
    f.svc.set(&me(), set(&p, "one")).await.unwrap();
    assert_eq!(f.svc.get(&me(), &p, None).await.unwrap().value.expose(), b"one");
    f.svc.set(&me(), set(&p, "two")).await.unwrap();
    assert_eq!(f.svc.get(&me(), &p, None).await.unwrap().value.expose(), b"two");
    f.svc.delete(&me(), &p).await.unwrap();
    assert_eq!(f.svc.get(&me(), &p, None).await.unwrap_err().kind(), ErrorKind::NotFound);
}

// ----- rendering -----

fn render_req(template: &str) -> RenderRequest {
    RenderRequest {
        template: template.into(),
        json: false,
        environment: EnvName::default_name(),
        vault: VaultName::default_name(),
        allow: None,
        map: vec![],
    }
}

#[tokio::test]
async fn render_resolves_every_syntax_in_one_batch() {
    let f = fixture().await;
    for (k, v) in [("db1.user", "alice"), ("db1.password", "p'w"), ("api", "tok"), ("db/pw", "dbpw")] {
        f.svc.set(&me(), set(&path("default", k), v)).await.unwrap();
    }
    let mut req = render_req(
        "u=${secret:pg.user} c=${workflow.secrets.api} q={{tb_secret('pg.password')}} d={{ tb_secret('nope', 'dflt') }} t=tresor://default/default/db/pw",
    );
    req.map = vec!["pg=db1".into()];
    let out = f.svc.render(&me(), &req).await.unwrap();
    assert_eq!(out.as_str(), r"u=alice c=tok q='p\'w' d='dflt' t=dbpw");
    let log = f.svc.audit_log(&me(), 0, None, 1000).await.unwrap();
    assert!(log.iter().any(|r| r.action == "entry.read" && r.target == "default/default/db1.password"));
}

#[tokio::test]
async fn render_reports_missing_and_denied_references_with_positions() {
    let f = fixture().await;
    f.svc.set(&me(), set(&path("default", "a"), "1")).await.unwrap();
    f.svc.set(&me(), set(&path("default", "b"), "2")).await.unwrap();
    let e = f.svc.render(&me(), &render_req("x\n  ${secret:missing} ${secret:a}")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("2:3"), "{e}");
    let (reader, _) = token_for(&f, "app:r", &[("default/default/a", Access::Read)]).await;
    let e = f.svc.render(&reader, &render_req("${secret:a} ${secret:b}")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Denied);
    assert!(e.to_string().contains("1:13") && !e.to_string().contains("1:1,"), "{e}");
    let mut allow = render_req("${secret:a} ${secret:b}");
    allow.allow = Some(vec!["a".into()]);
    let e = f.svc.render(&me(), &allow).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Denied);
    let log = f.svc.audit_log(&me(), 0, None, 1000).await.unwrap();
    assert!(log.iter().any(|r| r.outcome == "denied" && r.target.contains('b')), "allow-list refusals are audited");
}

#[tokio::test]
async fn render_json_documents() {
    let f = fixture().await;
    f.svc.set(&me(), set(&path("default", "token"), "t\"ok")).await.unwrap();
    let mut req = render_req(r#"{"headers": {"Authorization": {"vault": "default", "key": "token"}}, "n": 1}"#);
    req.json = true;
    let out = f.svc.render(&me(), &req).await.unwrap();
    assert_eq!(out.as_str(), r#"{"headers": {"Authorization": "t\"ok"}, "n": 1}"#);
}

fn desired(entries: &[(&str, &str, &str)]) -> DesiredState {
    DesiredState {
        name: "cfg".into(),
        environments: vec!["prod".into()],
        vaults: vec![tresor_config::DesiredVault {
            environment: "prod".into(),
            name: "api-keys".into(),
            entries: entries
                .iter()
                .map(|(k, kind, v)| tresor_config::DesiredEntry {
                    key: (*k).into(),
                    kind: (*kind).into(),
                    value: tresor_config::ConfigValue::new((*v).into()),
                })
                .collect(),
        }],
        grants: vec![],
    }
}

fn prod_path(key: &str) -> EntryPath {
    EntryPath {
        workspace: ws(),
        environment: EnvName::new("prod").unwrap(),
        vault: VaultName::new("api-keys").unwrap(),
        key: EntryKey::new(key).unwrap(),
    }
}

#[tokio::test]
async fn config_plan_apply_compares_by_keyed_hash_and_guards_ownership() {
    let f = fixture().await;
    let d = desired(&[("stripe", "secret", "sk_1"), ("url", "variable", "https://x")]);
    let plan = f.svc.plan_config(&me(), &d).await.unwrap();
    let ops: Vec<_> = plan.changes.iter().map(|c| format!("{} {} {}", c.op.symbol(), c.target, c.name)).collect();
    assert_eq!(
        ops,
        ["+ environment prod", "+ vault prod/api-keys", "+ entry prod/api-keys/stripe", "+ entry prod/api-keys/url"]
    );
    let applied = f.svc.apply_config(&me(), &d, ApplyOptions::default()).await.unwrap();
    assert!(applied.applied);
    assert!(f.svc.plan_config(&me(), &d).await.unwrap().is_empty(), "the store matches after apply");
    let stored = f.svc.store().read_version(&prod_path("stripe"), None).await.unwrap().unwrap();
    assert!(stored.value_mac.is_some(), "writes store the value's keyed hash");

    // A changed secret is seen through the hash; deleting an unlisted entry needs confirmation.
    let d2 = desired(&[("stripe", "secret", "sk_2")]);
    let plan = f.svc.plan_config(&me(), &d2).await.unwrap();
    let ops: Vec<_> = plan.changes.iter().map(|c| (c.op, c.name.as_str(), c.confirm)).collect();
    assert_eq!(ops, [(ChangeOp::Update, "prod/api-keys/stripe", false), (ChangeOp::Delete, "prod/api-keys/url", true)]);
    assert!(!format!("{plan:?}").contains("sk_"), "no value in a plan");
    let e = f.svc.apply_config(&me(), &d2, ApplyOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert_eq!(f.svc.get(&me(), &prod_path("stripe"), None).await.unwrap().value.expose(), b"sk_1", "nothing applied");
    f.svc.apply_config(&me(), &d2, ApplyOptions { confirmed: true }).await.unwrap();
    assert_eq!(f.svc.get(&me(), &prod_path("stripe"), None).await.unwrap().value.expose(), b"sk_2");

    // A version without a stored hash (written before migration 0005) is compared by opening it.
    {
        let conn = rusqlite::Connection::open(f.dir.path().join("tresor.db")).unwrap();
        conn.execute("UPDATE entry_versions SET value_mac = NULL", []).unwrap();
    }
    assert!(f.svc.plan_config(&me(), &d2).await.unwrap().is_empty(), "equal value, compared by opening it");
    let d3 = desired(&[("stripe", "secret", "sk_3")]);
    assert_eq!(f.svc.plan_config(&me(), &d3).await.unwrap().changes.len(), 1);

    // A normal write to the managed vault is refused unless it releases ownership.
    let e = f.svc.set(&me(), set(&prod_path("other"), "x")).await.unwrap_err();
    assert!(matches!(&e, ServiceError::Managed { config, .. } if config == "cfg"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(matches!(f.svc.delete(&me(), &prod_path("stripe")).await, Err(ServiceError::Managed { .. })));
    f.svc.set(&me().releasing(true), set(&prod_path("other"), "x")).await.unwrap();
    let vault = prod_path("x").vault_path();
    let info = f.svc.store().get_vault(&vault).await.unwrap().unwrap();
    assert!(info.managed_by.is_none() && info.managed_at.is_some(), "released, and when");
    let plan = f.svc.plan_config(&me(), &d2).await.unwrap();
    let vault_change = plan.changes.iter().find(|c| c.target == tresor_config::PlanTarget::Vault).unwrap();
    assert!(vault_change.confirm && vault_change.detail.as_deref().unwrap().contains("released"), "{plan:?}");
}

#[tokio::test]
async fn empty_secrets_are_refused_on_every_write_path_and_variables_may_be_empty() {
    let f = fixture().await;
    let empty_secret =
        |e: &ServiceError| e.kind() == ErrorKind::Invalid && e.to_string().contains("is empty; a secret needs a value");
    let e = f.svc.set(&me(), set(&path("default", "pw"), "")).await.unwrap_err();
    assert!(empty_secret(&e), "{e}");
    assert!(e.to_string().starts_with("the value of secret pw is empty"), "{e}");
    // In a batch, the whole batch is refused.
    let e = f.svc.set_many(&me(), vec![set(&path("default", "a"), "x"), set(&path("default", "b"), "")]).await;
    assert!(empty_secret(&e.unwrap_err()));
    assert!(f.svc.get(&me(), &path("default", "a"), None).await.is_err(), "nothing of the batch was written");
    // A declarative config is refused before anything is compared or written.
    let e = f.svc.plan_config(&me(), &desired(&[("stripe", "secret", "")])).await.unwrap_err();
    assert!(empty_secret(&e), "{e}");
    // A variable may be empty.
    let mut var = set(&path("default", "http_proxy"), "");
    var.kind = EntryKind::Variable;
    f.svc.set(&me(), var).await.unwrap();
    f.svc.apply_config(&me(), &desired(&[("no_proxy", "variable", "")]), ApplyOptions::default()).await.unwrap();
}

#[tokio::test]
async fn a_managed_vault_refusal_offers_only_what_the_surface_can_do() {
    let f = fixture().await;
    f.svc.apply_config(&me(), &desired(&[("stripe", "secret", "sk_1")]), ApplyOptions::default()).await.unwrap();
    let e = f.svc.set(&me(), set(&prod_path("other"), "x")).await.unwrap_err();
    assert!(e.to_string().contains("API: ?release_ownership=true"), "{e}");
    // A surface without a way to confirm (the compatibility APIs) cannot release, even if asked.
    let compat = me().releasing(true).without_release_confirmation();
    let e = f.svc.set(&compat, set(&prod_path("other"), "x")).await.unwrap_err();
    assert!(matches!(&e, ServiceError::Managed { confirmable: false, .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("this API cannot confirm releasing it") && text.contains("tresor set KEY --yes"), "{text}");
    assert!(!text.contains("API: ?release_ownership=true"), "{text}");
    let info = f.svc.store().get_vault(&prod_path("x").vault_path()).await.unwrap().unwrap();
    assert_eq!(info.managed_by.as_deref(), Some("cfg"), "still managed");
}

#[tokio::test]
async fn delete_many_is_all_or_nothing() {
    let f = fixture().await;
    let vault = path("default", "x").vault_path();
    let key = |k: &str| EntryKey::new(k).unwrap();
    for k in ["a", "b", "c"] {
        f.svc.set(&me(), set(&path("default", k), "v")).await.unwrap();
    }
    // A missing key among present ones: an error naming it, and nothing deleted.
    let e = f.svc.delete_many(&me(), &vault, &[key("a"), key("nope"), key("b")], false).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(
        e.to_string().contains("entry nope does not exist") && e.to_string().contains("nothing was deleted"),
        "{e}"
    );
    assert!(!e.to_string().contains(" a,") && !e.to_string().contains(", b"), "only the missing key is named: {e}");
    for k in ["a", "b", "c"] {
        assert!(f.svc.get(&me(), &path("default", k), None).await.is_ok(), "{k} survived the failed batch");
    }
    // Rights come before existence: a caller without write on one key learns nothing of the
    // others, whether they exist or not, and nothing is deleted.
    let (writer, _) = token_for(&f, "app:writer", &[("default/default/a", Access::Write)]).await;
    for batch in [[key("a"), key("b")], [key("a"), key("missing")]] {
        let e = f.svc.delete_many(&writer, &vault, &batch, false).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Denied, "{e}");
    }
    assert!(f.svc.get(&me(), &path("default", "a"), None).await.is_ok());
    // Duplicates count once; all of them go together.
    let deleted = f.svc.delete_many(&me(), &vault, &[key("a"), key("b"), key("a")], false).await.unwrap();
    assert_eq!(deleted, [key("a"), key("b")]);
    assert_eq!(f.svc.get(&me(), &path("default", "a"), None).await.unwrap_err().kind(), ErrorKind::NotFound);
    // A soft-deleted key is missing for another soft delete, present for a purge.
    let e = f.svc.delete_many(&me(), &vault, &[key("a"), key("c")], false).await.unwrap_err();
    assert!(e.to_string().contains("entry a does not exist"), "{e}");
    f.svc.delete_many(&me(), &vault, &[key("a"), key("c")], true).await.unwrap();
    assert_eq!(f.svc.undelete(&me(), &path("default", "a")).await.unwrap_err().kind(), ErrorKind::NotFound);
    f.svc.undelete(&me(), &path("default", "b")).await.unwrap();
    // The audit log has one record per deleted entry, and per entry of each refused batch.
    let log = f.svc.audit_log(&me(), 0, None, 1000).await.unwrap();
    let count = |action: &str, outcome: &str| log.iter().filter(|r| r.action == action && r.outcome == outcome).count();
    assert_eq!(count("entry.delete", "ok"), 2);
    assert_eq!(count("entry.purge", "ok"), 2);
    assert!(count("entry.delete", "not_found") >= 5, "{log:?}");
    // Empty and oversized batches are refused clearly.
    let e = f.svc.delete_many(&me(), &vault, &[], false).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    let many: Vec<EntryKey> = (0..=MAX_DELETE_BATCH).map(|i| key(&format!("k{i}"))).collect();
    let e = f.svc.delete_many(&me(), &vault, &many, false).await.unwrap_err();
    assert!(e.to_string().contains("at most 1000 entries"), "{e}");
}
