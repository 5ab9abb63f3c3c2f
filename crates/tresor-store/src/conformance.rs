//! The conformance suite every [`Store`] backend must pass. Written once against the trait; each
//! backend's tests call [`run_all`] on a fresh, empty store.

use crate::{
    AppKeyRecord, AuditChain, AuditRecord, Batch, BatchOp, ChainHead, ChainWriter, DataKeyRewrap, Flush, GrantRecord,
    Group, ListQuery, Membership, MetaRewrap, NewEnvironment, NewPrincipal, NewVersion, RootRewrap, Store, StoreError,
    TokenRecord, VersionChange, VersionState, VersionStates, WrappedKey,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tresor_model::{
    Access, EntryKey, EntryKind, EntryPath, EnvName, PrincipalRef, Tag, VaultName, VaultPath, WorkspaceName,
};

fn ws() -> WorkspaceName {
    WorkspaceName::default_name()
}

fn vault(env: &str, name: &str) -> VaultPath {
    VaultPath { workspace: ws(), environment: EnvName::new(env).unwrap(), vault: VaultName::new(name).unwrap() }
}

fn path(env: &str, v: &str, key: &str) -> EntryPath {
    vault(env, v).entry(EntryKey::new(key).unwrap())
}

fn version(p: &EntryPath, version: u64, expected: u64, sealed: &[u8]) -> NewVersion {
    NewVersion {
        path: p.clone(),
        kind: EntryKind::Secret,
        version,
        expected_current: expected,
        sealed: sealed.to_vec(),
        now: 1_000 + version as i64,
        edited_by: "tester".into(),
        description: None,
        tags: None,
        expires_at: None,
        keep_versions: 3,
        max_entries: None,
        max_live_secrets_in_vault: None,
        value_mac: None,
    }
}

/// Runs every check in order on an empty store.
pub async fn run_all(store: &dyn Store) {
    setup(store).await;
    environments_and_vaults(store).await;
    versions_and_check_and_set(store).await;
    listing(store).await;
    read_current_many(store).await;
    read_vault_current(store).await;
    soft_delete_and_purge(store).await;
    version_states(store).await;
    entry_limit(store).await;
    vault_secret_limit(store).await;
    principals_and_groups(store).await;
    tokens(store).await;
    grants(store).await;
    audit_chain(store).await;
    compat_tags_and_app_keys(store).await;
    batches(store).await;
    batch_steps(store).await;
    root_rewrap(store).await;
    data_key_rotation(store).await;
}

/// A toy [`AuditChain`] for the tests: the record hash is the given function, the head MAC the
/// label `head`, the sequence number and the hash (the service's are HMACs under its key).
pub struct TestChain<F>(pub F);

impl<F: Fn(&AuditRecord) -> Vec<u8> + Send + Sync> AuditChain for TestChain<F> {
    fn record_hash(&self, record: &AuditRecord) -> Vec<u8> {
        (self.0)(record)
    }
    fn head_mac(&self, chain: &str, seq: u64, hash: &[u8]) -> Vec<u8> {
        [&b"head"[..], chain.as_bytes(), &seq.to_be_bytes(), hash].concat()
    }
}

/// The head MAC [`TestChain`] writes, for the checks.
pub fn test_head_mac(chain: &str, seq: u64, hash: &[u8]) -> Vec<u8> {
    TestChain(|_: &AuditRecord| Vec::new()).head_mac(chain, seq, hash)
}

/// A writer of a new chain hashed by `hash` (a [`TestChain`]), named apart from every other
/// writer of the process.
pub fn test_writer<F: Fn(&AuditRecord) -> Vec<u8> + Send + Sync + 'static>(hash: F) -> ChainWriter {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    ChainWriter::new(format!("test-{}", NEXT.fetch_add(1, Ordering::Relaxed)), Arc::new(TestChain(hash)))
}

/// The recorded head of `chain`.
pub async fn head_of(store: &dyn Store, chain: &str) -> Option<ChainHead> {
    store.audit_chains().await.unwrap().into_iter().find(|h| h.chain == chain)
}

/// A new environment of the test workspace.
pub fn new_env(name: &EnvName, parent: Option<&EnvName>, now: i64) -> NewEnvironment {
    NewEnvironment { workspace: ws(), name: name.clone(), parent: parent.cloned(), now }
}

/// A new principal of the test workspace.
pub fn new_principal(principal: PrincipalRef, by: &str, now: i64) -> NewPrincipal {
    NewPrincipal { workspace: ws(), principal, by: by.into(), now }
}

/// `member`'s membership of the test workspace's `group`.
fn member(group: &str, member: &str) -> Membership {
    Membership { workspace: ws(), group: group.into(), member: p(member) }
}

fn p(s: &str) -> PrincipalRef {
    s.parse().unwrap()
}

async fn principals_and_groups(store: &dyn Store) {
    store.create_principal(&new_principal(p("user:alice"), "root", 1)).await.unwrap();
    store.create_principal(&new_principal(p("app:worker"), "root", 1)).await.unwrap();
    store.create_principal(&new_principal(p("group:readers"), "root", 1)).await.unwrap();
    assert!(matches!(
        store.create_principal(&new_principal(p("user:alice"), "root", 1)).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(store.principal_exists(&ws(), &p("app:worker")).await.unwrap());
    assert!(!store.principal_exists(&ws(), &p("app:alice")).await.unwrap(), "kinds are separate namespaces");
    store.add_member(&member("readers", "user:alice")).await.unwrap();
    store.add_member(&member("readers", "app:worker")).await.unwrap();
    assert!(matches!(store.add_member(&member("readers", "app:worker")).await, Err(StoreError::AlreadyExists(_))));
    assert_eq!(store.groups_of(&ws(), &p("user:alice")).await.unwrap(), ["readers"]);
    assert_eq!(store.members_of(&ws(), "readers").await.unwrap().len(), 2);
    store.remove_member(&member("readers", "user:alice")).await.unwrap();
    assert!(matches!(store.remove_member(&member("readers", "user:alice")).await, Err(StoreError::NotFound(_))));
    assert!(store.groups_of(&ws(), &p("user:alice")).await.unwrap().is_empty());
    assert_eq!(store.list_principals(&ws()).await.unwrap().len(), 3);
}

fn token(id: &str, principal: &str) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        workspace: ws(),
        principal: p(principal),
        name: "ci".into(),
        hash: vec![9; 32],
        created_at: 5,
        created_by: "user:alice".into(),
        expires_at: Some(1_000_000),
        revoked_at: None,
        environment: None,
    }
}

fn env(name: &str) -> EnvName {
    EnvName::new(name).unwrap()
}

async fn tokens(store: &dyn Store) {
    store.insert_token(&token("t1", "app:worker")).await.unwrap();
    store.insert_token(&token("t2", "user:alice")).await.unwrap();
    assert!(matches!(store.insert_token(&token("t1", "app:worker")).await, Err(StoreError::AlreadyExists(_))));
    assert_eq!(store.get_token("t1").await.unwrap().unwrap(), token("t1", "app:worker"));
    assert!(store.get_token("nope").await.unwrap().is_none());
    store.revoke_token(&ws(), "t1", 77).await.unwrap();
    store.revoke_token(&ws(), "t1", 88).await.unwrap();
    assert_eq!(store.get_token("t1").await.unwrap().unwrap().revoked_at, Some(77), "first revocation time kept");
    assert!(matches!(store.revoke_token(&ws(), "nope", 1).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.list_tokens(&ws()).await.unwrap().len(), 2);

    // A token bound to an environment keeps its binding, through a plain insert and a batch
    // step alike; an unbound one reads back unbound.
    let bound = TokenRecord { environment: Some(env("staging")), ..token("t-bound", "app:worker") };
    store.insert_token(&bound).await.unwrap();
    assert_eq!(store.get_token("t-bound").await.unwrap().unwrap(), bound);
    assert_eq!(store.get_token("t2").await.unwrap().unwrap().environment, None);
    let batched = TokenRecord { environment: Some(env("feature-x")), ..token("t-bound-batch", "app:worker") };
    store.apply_batch(vec![BatchOp::InsertToken(batched.clone())], vec![], &test_writer(concat_chain)).await.unwrap();
    let listed = store.list_tokens(&ws()).await.unwrap();
    assert_eq!(listed.iter().find(|t| t.id == "t-bound-batch"), Some(&batched));
    assert_eq!(listed.iter().filter(|t| t.environment.is_some()).count(), 2);
}

async fn grants(store: &dyn Store) {
    let g = |id: &str, principal: &str, scope: &str, access| GrantRecord {
        id: id.into(),
        workspace: ws(),
        principal: p(principal),
        scope: scope.into(),
        access,
        created_at: 1,
        created_by: "user:alice".into(),
    };
    store.insert_grant(&g("g1", "app:worker", "prod/api-keys/*", Access::Read)).await.unwrap();
    store.insert_grant(&g("g2", "group:readers", "prod", Access::Read)).await.unwrap();
    store.insert_grant(&g("g3", "user:alice", "*", Access::Admin)).await.unwrap();
    let for_worker = store.grants_for(&ws(), &[p("app:worker"), p("group:readers")]).await.unwrap();
    assert_eq!(for_worker.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), ["g1", "g2"]);
    assert_eq!(store.list_grants(&ws()).await.unwrap().len(), 3);
    assert_eq!(store.delete_grant(&ws(), "g2").await.unwrap().scope, "prod");
    assert!(matches!(store.delete_grant(&ws(), "g2").await, Err(StoreError::NotFound(_))));
    // Every access level survives the round trip through the access column.
    store.insert_grant(&g("g4", "user:alice", "prod", Access::Webhook)).await.unwrap();
    let alice: Vec<Access> =
        store.grants_for(&ws(), &[p("user:alice")]).await.unwrap().iter().map(|g| g.access).collect();
    assert_eq!(alice, [Access::Admin, Access::Webhook]);

    // Deleting a principal takes its grants, tokens and memberships with it.
    store.delete_principal(&ws(), &p("app:worker")).await.unwrap();
    assert!(store.grants_for(&ws(), &[p("app:worker")]).await.unwrap().is_empty());
    assert!(store.get_token("t1").await.unwrap().is_none());
    assert!(store.members_of(&ws(), "readers").await.unwrap().is_empty());
    assert!(matches!(store.delete_principal(&ws(), &p("app:worker")).await, Err(StoreError::NotFound(_))));
}

/// An audit record with fixed fields and the given action, before it is chained.
pub(crate) fn audit(action: &str) -> AuditRecord {
    AuditRecord {
        seq: 0,
        at: 100,
        workspace: "default".into(),
        request_id: "req-1".into(),
        principal: "user:alice".into(),
        action: action.into(),
        target: "prod/api-keys/stripe".into(),
        outcome: "ok".into(),
        detail: None,
        chain: String::new(),
        chain_seq: 0,
        prev_hash: vec![],
        hash: vec![],
    }
}

/// The toy chain of `audit_chain`: each hash is the previous one followed by the action.
fn concat_chain(r: &AuditRecord) -> Vec<u8> {
    let mut h = r.prev_hash.clone();
    h.extend_from_slice(r.action.as_bytes());
    h.truncate(64);
    h
}

async fn audit_chain(store: &dyn Store) {
    // A toy chain function: the test only checks that records are linked in order.
    let chain = test_writer(concat_chain);
    store.append_audit(vec![audit("a"), audit("b")], &chain).await.unwrap();
    store.append_audit(vec![audit("c")], &chain).await.unwrap();
    let all = store.list_audit(0, None, 100).await.unwrap();
    assert_eq!(all.iter().map(|r| r.chain_seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "listed in the log's order");
    assert!(all.iter().all(|r| r.chain == chain.name()));
    assert_eq!(all[0].prev_hash, b"");
    assert_eq!(all[1].prev_hash, all[0].hash);
    assert_eq!(all[2].hash, b"abc");
    assert_eq!(chain.position(), (3, b"abc".to_vec()), "the writer knows where its chain stands");
    let head = head_of(store, chain.name()).await.expect("the chain's head is recorded");
    assert_eq!((head.seq, head.hash.as_slice()), (3, &b"abc"[..]));
    assert_eq!(head.head_mac, Some(test_head_mac(chain.name(), 3, b"abc")), "the head's MAC is written with it");
    assert_eq!(store.list_audit(all[0].seq, None, 1).await.unwrap()[0].seq, all[1].seq);
    let newest_first = store.list_audit_desc(None, 2).await.unwrap();
    assert_eq!(newest_first.iter().map(|r| r.chain_seq).collect::<Vec<_>>(), [3, 2]);
    assert_eq!(store.list_audit_desc(Some(all[1].seq), 10).await.unwrap(), [all[0].clone()]);

    // A second writer of the chain (same name, a stale position) is refused and changes nothing.
    let stale = ChainWriter::new(chain.name(), Arc::new(TestChain(concat_chain)));
    assert!(matches!(store.append_audit(vec![audit("x")], &stale).await, Err(StoreError::AuditAppend(_))));
    assert_eq!(store.list_audit(0, None, 100).await.unwrap().len(), 3);
    // Another chain goes side by side, numbered on in the log.
    let other = test_writer(concat_chain);
    store.append_audit(vec![audit("d")], &other).await.unwrap();
    let last = store.list_audit_desc(None, 1).await.unwrap().remove(0);
    assert_eq!((last.chain.as_str(), last.chain_seq, last.prev_hash.as_slice()), (other.name(), 1, &b""[..]));
    assert!(last.seq > all[2].seq);
    assert_eq!(store.audit_chains().await.unwrap().len(), 2);
    assert!(store.list_audit(0, Some(101), 100).await.unwrap().is_empty());
}

async fn setup(store: &dyn Store) {
    assert!(store.get_meta("salt").await.unwrap().is_none());
    assert_eq!(store.init_meta("salt", b"one").await.unwrap(), b"one");
    assert_eq!(store.init_meta("salt", b"two").await.unwrap(), b"one", "init_meta must not overwrite");

    let key = WrappedKey { generation: 1, wrapped: vec![1, 2, 3] };
    store.create_workspace(&ws(), &key, 1).await.unwrap();
    assert!(matches!(store.create_workspace(&ws(), &key, 1).await, Err(StoreError::AlreadyExists(_))));
    assert!(store.workspace_exists(&ws()).await.unwrap());
    assert_eq!(store.data_key(&ws(), None).await.unwrap().wrapped, vec![1, 2, 3]);
    assert!(matches!(store.data_key(&ws(), Some(9)).await, Err(StoreError::NotFound(_))));
    let other = WorkspaceName::new("other").unwrap();
    assert!(matches!(store.data_key(&other, None).await, Err(StoreError::NotFound(_))));
}

async fn environments_and_vaults(store: &dyn Store) {
    let prod = EnvName::new("prod").unwrap();
    store.create_environment(&new_env(&prod, None, 1)).await.unwrap();
    assert!(matches!(store.create_environment(&new_env(&prod, None, 1)).await, Err(StoreError::AlreadyExists(_))));
    let branch = EnvName::new("feature-x").unwrap();
    let missing = EnvName::new("nope").unwrap();
    assert!(matches!(
        store.create_environment(&new_env(&branch, Some(&missing), 1)).await,
        Err(StoreError::NotFound(_))
    ));
    store.create_environment(&new_env(&branch, Some(&prod), 2)).await.unwrap();
    let info = store.get_environment(&ws(), &branch).await.unwrap().unwrap();
    assert_eq!(info.parent.as_deref(), Some("prod"));
    assert_eq!(store.list_environments(&ws()).await.unwrap().len(), 2);

    store.create_vault(&vault("prod", "api-keys"), 1).await.unwrap();
    store.create_vault(&vault("prod", "database"), 1).await.unwrap();
    assert!(matches!(store.create_vault(&vault("prod", "api-keys"), 1).await, Err(StoreError::AlreadyExists(_))));
    let names: Vec<_> = store.list_vaults(&ws(), &prod).await.unwrap().into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["api-keys", "database"]);
    assert!(store.get_vault(&vault("prod", "nope")).await.unwrap().is_none());

    // Writing into a vault that does not exist fails and leaves nothing behind.
    let ghost = path("prod", "ghost", "k");
    assert!(matches!(store.write_version(version(&ghost, 1, 0, b"x")).await, Err(StoreError::NotFound(_))));
    assert!(store.get_entry(&ghost).await.unwrap().is_none());
}

async fn versions_and_check_and_set(store: &dyn Store) {
    let p = path("prod", "api-keys", "stripe");
    store.write_version(version(&p, 1, 0, b"v1")).await.unwrap();
    // A second creator that also saw "no entry" loses, and says why.
    match store.write_version(version(&p, 1, 0, b"other")).await {
        Err(StoreError::VersionConflict { expected: 0, actual: 1, .. }) => {}
        other => panic!("expected a version conflict, got {other:?}"),
    }
    let mut v2 = version(&p, 2, 1, b"v2");
    v2.description = Some("payments".into());
    v2.tags = Some(vec![Tag { key: "team".into(), value: "pay".into() }]);
    store.write_version(v2).await.unwrap();
    store.write_version(version(&p, 3, 2, b"v3")).await.unwrap();
    assert!(matches!(store.write_version(version(&p, 3, 2, b"late")).await, Err(StoreError::VersionConflict { .. })));
    // A version number that skips ahead is refused too.
    assert!(matches!(store.write_version(version(&p, 9, 3, b"skip")).await, Err(StoreError::VersionConflict { .. })));

    let meta = store.get_entry(&p).await.unwrap().unwrap();
    assert_eq!(meta.version, 3);
    assert_eq!(meta.created_at, 1_001);
    assert_eq!(meta.updated_at, 1_003);
    assert_eq!(meta.description.as_deref(), Some("payments"), "description kept when not given");
    assert_eq!(meta.tags.len(), 1, "tags kept when not given");
    assert_eq!(store.read_version(&p, None).await.unwrap().unwrap().sealed, b"v3");
    assert_eq!(store.read_version(&p, Some(1)).await.unwrap().unwrap().sealed, b"v1");

    // keep_versions = 3: writing v4 prunes v1.
    store.write_version(version(&p, 4, 3, b"v4")).await.unwrap();
    let versions: Vec<u64> = store.list_versions(&p).await.unwrap().iter().map(|v| v.version).collect();
    assert_eq!(versions, [4, 3, 2]);
    assert!(store.read_version(&p, Some(1)).await.unwrap().is_none());
}

async fn listing(store: &dyn Store) {
    let v = vault("prod", "database");
    for (i, key) in ["db/password", "db/user", "db_x/other", "pg.password", "zeta"].iter().enumerate() {
        let mut nv = version(&v.entry(EntryKey::new(*key).unwrap()), 1, 0, b"x");
        nv.now = 10 + i as i64;
        store.write_version(nv).await.unwrap();
    }
    let q = |prefix: &str, after: Option<&str>, limit| ListQuery {
        prefix: prefix.into(),
        after: after.map(Into::into),
        limit,
        include_deleted: false,
    };
    let keys = |list: Vec<tresor_model::EntryMeta>| list.into_iter().map(|e| e.key).collect::<Vec<_>>();
    assert_eq!(keys(store.list_entries(&v, &q("db/", None, 100)).await.unwrap()), ["db/password", "db/user"]);
    // '_' in a prefix is literal, not a wildcard.
    assert_eq!(keys(store.list_entries(&v, &q("db_", None, 100)).await.unwrap()), ["db_x/other"]);
    let page1 = keys(store.list_entries(&v, &q("", None, 2)).await.unwrap());
    assert_eq!(page1, ["db/password", "db/user"]);
    let page2 = keys(store.list_entries(&v, &q("", Some("db/user"), 2)).await.unwrap());
    assert_eq!(page2, ["db_x/other", "pg.password"]);
    assert_eq!(store.get_vault(&v).await.unwrap().unwrap().entries, 5);
}

/// [`Store::read_vault_current`] answers what listing the vault's live entries and
/// `read_version(None)` for each answer, in key order: current versions only (a version deleted on
/// its own says so), no soft-deleted entry, nothing of another vault or environment (a vault whose
/// name starts with this one's included). Leaves the store as it found it.
async fn read_vault_current(store: &dyn Store) {
    let here = vault("prod", "scan");
    store.create_vault(&here, 1).await.unwrap();
    let scan = |key: &str| path("prod", "scan", key);
    // Written out of key order, so that the order answered is the scan's, not the writes'.
    store.write_version(version(&scan("zeta"), 1, 0, b"z1")).await.unwrap();
    store.write_version(version(&scan("a"), 1, 0, b"a1")).await.unwrap();
    store.write_version(version(&scan("a"), 2, 1, b"a2")).await.unwrap();
    store.write_version(version(&scan("db/password"), 1, 0, b"p1")).await.unwrap();
    store.write_version(version(&scan("gone"), 1, 0, b"g1")).await.unwrap();
    store.soft_delete(&scan("gone"), 20).await.unwrap();
    // The current version of `db/password` deleted on its own: still answered, with its state.
    let op = BatchOp::SetVersionState(VersionStates {
        path: scan("db/password"),
        versions: vec![1],
        change: VersionChange::Delete,
        now: 30,
    });
    store.apply_batch(vec![op], vec![], &test_writer(concat_chain)).await.unwrap();
    let elsewhere = [path("prod", "database", "b"), path("prod", "scan2", "b"), path("feature-x", "scan", "b")];
    // `prod/database` is there already.
    store.create_vault(&vault("prod", "scan2"), 1).await.unwrap();
    store.create_vault(&vault("feature-x", "scan"), 1).await.unwrap();
    for p in &elsewhere {
        store.write_version(version(p, 1, 0, b"elsewhere")).await.unwrap();
    }

    let found = store.read_vault_current(&here).await.unwrap();
    let keys: Vec<&str> = found.iter().map(|(meta, _)| meta.key.as_str()).collect();
    assert_eq!(keys, ["a", "db/password", "zeta"], "the live entries, in key order");
    let all = ListQuery { prefix: String::new(), after: None, limit: 100, include_deleted: false };
    let listed = store.list_entries(&here, &all).await.unwrap();
    assert_eq!(found.iter().map(|(meta, _)| meta.clone()).collect::<Vec<_>>(), listed, "the entries' metadata");
    for (meta, sealed) in &found {
        let expected = store.read_version(&scan(&meta.key), None).await.unwrap().unwrap();
        assert_eq!(sealed.sealed, expected.sealed, "{}: its current version", meta.key);
        assert_eq!(sealed.meta, expected.meta, "{}: the version's metadata", meta.key);
        assert_eq!(sealed.state, expected.state, "{}: the version's state", meta.key);
        assert_eq!(sealed.value_mac, expected.value_mac, "{}: the version's MAC", meta.key);
    }
    let sealed: Vec<&[u8]> = found.iter().map(|(_, s)| &s.sealed[..]).collect();
    assert_eq!(sealed, [&b"a2"[..], b"p1", b"z1"]);
    assert_eq!(found[1].1.state.deleted_at, Some(30), "a version deleted on its own says so");
    assert!(store.read_vault_current(&vault("prod", "nope")).await.unwrap().is_empty());

    for p in [scan("a"), scan("db/password"), scan("gone"), scan("zeta")].iter().chain(&elsewhere) {
        store.purge(p).await.unwrap();
    }
    for v in [here, vault("prod", "scan2"), vault("feature-x", "scan")] {
        store.delete_vault(&v).await.unwrap();
    }
}

/// [`Store::read_current_many`] answers for each key what `get_entry` and `read_version(None)`
/// answer, in the order asked, repeats and missing keys included, and reads no other vault or
/// environment. Leaves the store as it found it.
async fn read_current_many(store: &dyn Store) {
    store.create_vault(&vault("prod", "bulk"), 1).await.unwrap();
    let bulk = |key: &str| path("prod", "bulk", key);
    store.write_version(version(&bulk("a"), 1, 0, b"a1")).await.unwrap();
    store.write_version(version(&bulk("a"), 2, 1, b"a2")).await.unwrap();
    store.write_version(version(&bulk("b"), 1, 0, b"b1")).await.unwrap();
    store.write_version(version(&bulk("gone"), 1, 0, b"g1")).await.unwrap();
    store.soft_delete(&bulk("gone"), 20).await.unwrap();
    // The same key in another vault and in another environment is not read.
    store.write_version(version(&path("prod", "database", "c"), 1, 0, b"other vault")).await.unwrap();
    store.create_vault(&vault("feature-x", "bulk"), 1).await.unwrap();
    store.write_version(version(&path("feature-x", "bulk", "c"), 1, 0, b"other env")).await.unwrap();

    let keys = ["b", "c", "a", "gone", "b"];
    let found = store.read_current_many(&vault("prod", "bulk"), &keys).await.unwrap();
    assert_eq!(found.len(), keys.len());
    for (key, row) in keys.iter().zip(&found) {
        let expected_meta = store.get_entry(&bulk(key)).await.unwrap();
        let expected_sealed = store.read_version(&bulk(key), None).await.unwrap();
        match (row, expected_meta, expected_sealed) {
            (Some((meta, sealed)), Some(expected_meta), Some(expected_sealed)) => {
                assert_eq!(meta, &expected_meta, "{key}: the entry's metadata");
                assert_eq!(sealed.sealed, expected_sealed.sealed, "{key}: its current version");
                assert_eq!(sealed.meta, expected_sealed.meta, "{key}: the version's metadata");
                assert_eq!(sealed.state, expected_sealed.state, "{key}: the version's state");
            }
            (None, None, None) => {}
            (row, meta, _) => panic!("{key}: read_current_many found {}, get_entry {}", row.is_some(), meta.is_some()),
        }
    }
    let sealed: Vec<Option<&[u8]>> = found.iter().map(|r| r.as_ref().map(|(_, s)| &s.sealed[..])).collect();
    assert_eq!(sealed, [Some(&b"b1"[..]), None, Some(b"a2"), Some(b"g1"), Some(b"b1")]);
    assert_eq!(found[3].as_ref().unwrap().0.deleted_at, Some(20), "a soft-deleted entry says so");
    assert!(store.read_current_many(&vault("prod", "bulk"), &[]).await.unwrap().is_empty());
    let elsewhere = store.read_current_many(&vault("prod", "nope"), &["a"]).await.unwrap();
    assert!(elsewhere.len() == 1 && elsewhere[0].is_none(), "a vault that does not exist holds nothing");

    for p in [bulk("a"), bulk("b"), bulk("gone"), path("prod", "database", "c"), path("feature-x", "bulk", "c")] {
        store.purge(&p).await.unwrap();
    }
    store.delete_vault(&vault("prod", "bulk")).await.unwrap();
    store.delete_vault(&vault("feature-x", "bulk")).await.unwrap();
}

/// [`BatchOp::SetVersionState`]: single versions deleted, undeleted and destroyed (the Vault
/// KV v2-compatible API), the entry itself untouched but for its `updated_at`.
async fn version_states(store: &dyn Store) {
    let p = path("prod", "database", "kv/versions");
    for v in 1..=3 {
        store.write_version(version(&p, v, v - 1, format!("kv-{v}").as_bytes())).await.unwrap();
    }
    let set = |versions: &[u64], change, now| {
        BatchOp::SetVersionState(VersionStates { path: p.clone(), versions: versions.to_vec(), change, now })
    };
    let apply = |op| async move { store.apply_batch(vec![op], vec![], &test_writer(concat_chain)).await };
    let state = |deleted_at, destroyed_at| VersionState { deleted_at, destroyed_at };
    // Delete 1 and 2 (and 9, which is not stored and passed over).
    apply(set(&[1, 2, 9], VersionChange::Delete, 200)).await.unwrap();
    assert_eq!(
        store.version_states(&p).await.unwrap(),
        [(3, state(None, None)), (2, state(Some(200), None)), (1, state(Some(200), None))]
    );
    let entry = store.get_entry(&p).await.unwrap().unwrap();
    assert_eq!((entry.version, entry.deleted_at, entry.updated_at), (3, None, 200), "the entry stays live");
    let v1 = store.read_version(&p, Some(1)).await.unwrap().unwrap();
    assert_eq!(
        (v1.sealed.as_slice(), v1.state),
        (&b"kv-1"[..], state(Some(200), None)),
        "a deleted version keeps its value"
    );
    // A second delete keeps the first time; an undelete clears it.
    apply(set(&[1], VersionChange::Delete, 210)).await.unwrap();
    apply(set(&[2], VersionChange::Undelete, 220)).await.unwrap();
    assert_eq!(store.read_version(&p, Some(1)).await.unwrap().unwrap().state, state(Some(200), None));
    assert_eq!(store.read_version(&p, Some(2)).await.unwrap().unwrap().state, state(None, None));
    // Destroy erases the value for good (the current version included); nothing brings it back.
    apply(set(&[1, 3], VersionChange::Destroy, 230)).await.unwrap();
    let v1 = store.read_version(&p, Some(1)).await.unwrap().unwrap();
    assert_eq!((v1.sealed.is_empty(), v1.value_mac, v1.state), (true, None, state(Some(200), Some(230))));
    let current = store.read_version(&p, None).await.unwrap().unwrap();
    assert_eq!((current.meta.version, current.sealed.is_empty(), current.state), (3, true, state(None, Some(230))));
    apply(set(&[1, 3], VersionChange::Undelete, 240)).await.unwrap();
    apply(set(&[3], VersionChange::Destroy, 250)).await.unwrap();
    assert_eq!(store.read_version(&p, Some(1)).await.unwrap().unwrap().state, state(Some(200), Some(230)));
    assert_eq!(store.read_version(&p, None).await.unwrap().unwrap().state, state(None, Some(230)));
    assert_eq!(store.read_version(&p, Some(2)).await.unwrap().unwrap().sealed, b"kv-2", "others keep theirs");
    // Only an existing entry's versions change, all or nothing within the batch.
    let missing = BatchOp::SetVersionState(VersionStates {
        path: path("prod", "database", "kv/none"),
        versions: vec![1],
        change: VersionChange::Delete,
        now: 1,
    });
    assert!(matches!(apply(missing).await, Err(StoreError::NotFound(_))));
    // A new version starts in the plain state; the entry's own soft delete is separate.
    store.write_version(version(&p, 4, 3, b"kv-4")).await.unwrap();
    assert_eq!(store.read_version(&p, None).await.unwrap().unwrap().state, VersionState::default());
    store.purge(&p).await.unwrap();
    assert!(store.version_states(&p).await.unwrap().is_empty());
}

async fn soft_delete_and_purge(store: &dyn Store) {
    let v = vault("prod", "database");
    let p = v.entry(EntryKey::new("zeta").unwrap());
    let before = store.count_entries(&ws()).await.unwrap();
    // The vault's count of live entries follows every change of an entry's liveness.
    let in_vault = || async { store.get_vault(&v).await.unwrap().unwrap().entries };
    let vault_before = in_vault().await;
    store.soft_delete(&p, 50).await.unwrap();
    assert!(matches!(store.soft_delete(&p, 51).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.count_entries(&ws()).await.unwrap(), before - 1);
    assert_eq!(in_vault().await, vault_before - 1, "a soft delete leaves the vault's live count");
    assert_eq!(store.get_entry(&p).await.unwrap().unwrap().deleted_at, Some(50));
    let all = ListQuery { prefix: String::new(), after: None, limit: 100, include_deleted: true };
    let live = ListQuery { include_deleted: false, ..all.clone() };
    assert!(store.list_entries(&v, &all).await.unwrap().iter().any(|e| e.key == "zeta"));
    assert!(!store.list_entries(&v, &live).await.unwrap().iter().any(|e| e.key == "zeta"));

    store.undelete(&p, 60).await.unwrap();
    assert!(matches!(store.undelete(&p, 61).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.get_entry(&p).await.unwrap().unwrap().deleted_at, None);
    assert_eq!((in_vault().await, store.count_entries(&ws()).await.unwrap()), (vault_before, before));

    // A write to a soft-deleted entry revives it and continues its version numbers.
    store.soft_delete(&p, 70).await.unwrap();
    store.write_version(version(&p, 2, 1, b"again")).await.unwrap();
    assert_eq!(store.get_entry(&p).await.unwrap().unwrap().deleted_at, None);
    assert_eq!((in_vault().await, store.count_entries(&ws()).await.unwrap()), (vault_before, before));

    // A vault with entries, live or deleted, cannot be deleted.
    match store.delete_vault(&v).await {
        Err(StoreError::VaultNotEmpty { live: 5, deleted: 0, .. }) => {}
        other => panic!("expected VaultNotEmpty, got {other:?}"),
    }
    store.purge(&p).await.unwrap();
    assert!(store.get_entry(&p).await.unwrap().is_none());
    assert_eq!(in_vault().await, vault_before - 1, "purging a live entry leaves the count");
    assert_eq!(store.count_entries(&ws()).await.unwrap(), before - 1);
    assert!(store.list_versions(&p).await.unwrap().is_empty(), "purge removes versions");
    assert!(matches!(store.purge(&p).await, Err(StoreError::NotFound(_))));

    let empty = vault("prod", "api-keys");
    let stripe = empty.entry(EntryKey::new("stripe").unwrap());
    store.soft_delete(&stripe, 80).await.unwrap();
    assert!(matches!(store.delete_vault(&empty).await, Err(StoreError::VaultNotEmpty { live: 0, deleted: 1, .. })));
    store.purge(&stripe).await.unwrap();
    store.delete_vault(&empty).await.unwrap();
    assert!(store.get_vault(&empty).await.unwrap().is_none());
    assert!(matches!(store.delete_vault(&empty).await, Err(StoreError::NotFound(_))));
}

async fn entry_limit(store: &dyn Store) {
    let live = store.count_entries(&ws()).await.unwrap();
    let v = vault("prod", "database");
    let mut over = version(&v.entry(EntryKey::new("one-too-many").unwrap()), 1, 0, b"x");
    over.max_entries = Some(live);
    match store.write_version(over.clone()).await {
        Err(StoreError::EntryLimit { limit }) => assert_eq!(limit, live),
        other => panic!("expected EntryLimit, got {other:?}"),
    }
    // Updating an existing entry is not adding one: the limit does not apply.
    let existing = v.entry(EntryKey::new("db/user").unwrap());
    let mut update = version(&existing, 2, 1, b"y");
    update.max_entries = Some(live);
    store.write_version(update).await.unwrap();
    over.max_entries = Some(live + 1);
    store.write_version(over).await.unwrap();
}

/// A write that asks for a bound on its vault's live secrets is refused, in its transaction, when
/// the vault holds that many; concurrent creates never get past it (on PostgreSQL they run on
/// several pooled connections at once). Variables, deleted secrets and updates do not count.
async fn vault_secret_limit(store: &dyn Store) {
    const LIMIT: u64 = 3;
    let v = vault("prod", "quota");
    store.create_vault(&v, 1).await.unwrap();
    let create = |key: String| {
        let mut n = version(&v.entry(EntryKey::new(key).unwrap()), 1, 0, b"s");
        n.max_live_secrets_in_vault = Some(LIMIT);
        n
    };
    // A variable and a deleted secret are in the vault but not counted.
    let mut variable = create("a-variable".into());
    variable.kind = EntryKind::Variable;
    store.write_version(variable).await.unwrap();
    store.write_version(create("deleted".into())).await.unwrap();
    store.soft_delete(&v.entry(EntryKey::new("deleted").unwrap()), 2).await.unwrap();
    let racer = |i: usize| store.write_version(create(format!("racer-{i}")));
    let (a, b, c, d, e, f) = tokio::join!(racer(0), racer(1), racer(2), racer(3), racer(4), racer(5));
    let mut created = 0;
    for outcome in [a, b, c, d, e, f] {
        match outcome {
            Ok(()) => created += 1,
            Err(StoreError::VaultSecretLimit { vault, live, limit }) => {
                assert_eq!((vault.as_str(), live, limit), ("prod/quota", LIMIT, LIMIT));
            }
            Err(other) => panic!("expected VaultSecretLimit, got {other:?}"),
        }
    }
    assert_eq!(created, LIMIT, "exactly as many creates as the bound allows");
    let listed = store.list_entries(&v, &ListQuery { limit: 100, ..Default::default() }).await.unwrap();
    let secrets = listed.iter().filter(|m| m.kind == EntryKind::Secret).count() as u64;
    assert_eq!(secrets, LIMIT);
    // Updating a secret of a full vault adds none: the bound does not apply. Nor does it to a
    // write that does not ask for it.
    let first = listed.iter().find(|m| m.key.starts_with("racer-")).unwrap();
    let mut update = create(first.key.clone());
    (update.version, update.expected_current) = (2, 1);
    store.write_version(update).await.unwrap();
    let mut unbounded = create("unbounded".into());
    unbounded.max_live_secrets_in_vault = None;
    store.write_version(unbounded).await.unwrap();
}

/// Tags changed in place (no new version) and application access keys.
async fn compat_tags_and_app_keys(store: &dyn Store) {
    let tag = |k: &str, v: &str| Tag { key: k.into(), value: v.into() };
    store.create_vault(&vault("prod", "compat"), 1).await.unwrap();
    let e = path("prod", "compat", "pinetree");
    let mut first = version(&e, 1, 0, b"needles");
    first.tags = Some(vec![tag("team", "pay")]);
    store.write_version(first).await.unwrap();
    let tags = store.update_tags(&e, &[tag("team", "data"), tag("tier", "1")], &[]).await.unwrap();
    assert_eq!(tags, [tag("team", "data"), tag("tier", "1")], "same key replaced, new key appended");
    let meta = store.get_entry(&e).await.unwrap().unwrap();
    assert_eq!(meta.tags, tags);
    assert_eq!(meta.version, 1, "a tag change writes no new version");
    assert_eq!(store.list_versions(&e).await.unwrap().len(), 1);
    assert_eq!(store.update_tags(&e, &[], &[tag("tier", "2")]).await.unwrap().len(), 2, "removal matches the value");
    assert_eq!(store.update_tags(&e, &[], &[tag("tier", "1")]).await.unwrap(), [tag("team", "data")]);
    assert!(matches!(
        store.update_tags(&path("prod", "compat", "nope"), &[tag("a", "b")], &[]).await,
        Err(StoreError::NotFound(_))
    ));
    store.soft_delete(&e, 90).await.unwrap();
    assert!(
        matches!(store.update_tags(&e, &[tag("a", "b")], &[]).await, Err(StoreError::NotFound(_))),
        "a deleted entry's tags are not changed"
    );

    let key = |id: &str| AppKeyRecord {
        id: id.into(),
        workspace: ws(),
        principal: p("app:orkes-workers"),
        hash: vec![7; 32],
        created_at: 3,
        created_by: "user:alice".into(),
        revoked_at: None,
        environment: None,
    };
    store.insert_app_key(&key("k1")).await.unwrap();
    store.insert_app_key(&key("k2")).await.unwrap();
    assert!(matches!(store.insert_app_key(&key("k1")).await, Err(StoreError::AlreadyExists(_))));
    assert_eq!(store.get_app_key("k1").await.unwrap().unwrap(), key("k1"));
    assert!(store.get_app_key("nope").await.unwrap().is_none());
    assert_eq!(store.list_app_keys(&ws()).await.unwrap().len(), 2);
    let other = WorkspaceName::new("other").unwrap();
    assert!(store.list_app_keys(&other).await.unwrap().is_empty());
    assert!(matches!(store.revoke_app_key(&other, "k1", 5).await, Err(StoreError::NotFound(_))), "per workspace");
    store.revoke_app_key(&ws(), "k1", 50).await.unwrap();
    store.revoke_app_key(&ws(), "k1", 60).await.unwrap();
    assert_eq!(store.get_app_key("k1").await.unwrap().unwrap().revoked_at, Some(50), "first revocation time kept");
    assert!(matches!(store.revoke_app_key(&ws(), "nope", 1).await, Err(StoreError::NotFound(_))));

    // An application key bound to an environment keeps its binding.
    let bound = AppKeyRecord { environment: Some(env("production")), ..key("k-bound") };
    store.insert_app_key(&bound).await.unwrap();
    assert_eq!(store.get_app_key("k-bound").await.unwrap().unwrap(), bound);
    assert_eq!(store.get_app_key("k2").await.unwrap().unwrap().environment, None);
    let listed = store.list_app_keys(&ws()).await.unwrap();
    assert_eq!(listed.iter().find(|k| k.id == "k-bound").unwrap().environment, Some(env("production")));
}

/// `apply_batch`: all steps or none. Every failing step (an entry limit, a check-and-set mismatch,
/// an existing vault, a missing grant) leaves the steps before it rolled back.
async fn batches(store: &dyn Store) {
    let dev = EnvName::new("batch-dev").unwrap();
    let v = vault("batch-dev", "cfg");
    let a = v.entry(EntryKey::new("a").unwrap());
    let b = v.entry(EntryKey::new("b").unwrap());
    let grant = |id: &str| GrantRecord {
        id: id.into(),
        workspace: ws(),
        principal: p("app:cfg"),
        scope: "batch-dev/cfg/*".into(),
        access: Access::Read,
        created_at: 1,
        created_by: "config".into(),
    };
    let mut wa = version(&a, 1, 0, b"a1");
    wa.value_mac = Some(vec![9; 32]);
    let good = vec![
        BatchOp::CreateEnvironment(new_env(&dev, None, 1)),
        BatchOp::CreateVault { vault: v.clone(), now: 1 },
        BatchOp::SetVaultOwner { vault: v.clone(), managed_by: Some("tresor".into()), at: 5 },
        BatchOp::WriteVersion(wa),
        BatchOp::WriteVersion(version(&b, 1, 0, b"b1")),
        BatchOp::InsertGrant(grant("g-batch-1")),
    ];
    store.apply_batch(good, vec![], &test_writer(concat_chain)).await.unwrap();
    let info = store.get_vault(&v).await.unwrap().unwrap();
    assert_eq!((info.managed_by.as_deref(), info.managed_at, info.entries), (Some("tresor"), Some(5), 2));
    let read = store.read_version(&a, None).await.unwrap().unwrap();
    assert_eq!(read.value_mac.as_deref(), Some(&[9u8; 32][..]), "the value's keyed hash is stored per version");
    assert_eq!(store.read_version(&b, None).await.unwrap().unwrap().value_mac, None);
    assert!(store.list_grants(&ws()).await.unwrap().iter().any(|g| g.id == "g-batch-1"));

    // The state every failing batch below must leave untouched.
    let snapshot = || async {
        let entries = store
            .list_entries(&v, &ListQuery { prefix: String::new(), after: None, limit: 100, include_deleted: true })
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.version, e.deleted_at))
            .collect::<Vec<_>>();
        let grants = store.list_grants(&ws()).await.unwrap().into_iter().map(|g| g.id).collect::<Vec<_>>();
        let vaults = store.list_vaults(&ws(), &dev).await.unwrap();
        let envs = store.list_environments(&ws()).await.unwrap().len();
        (entries, grants, vaults, envs)
    };
    let before = snapshot().await;
    let c = v.entry(EntryKey::new("c").unwrap());
    let live = store.count_entries(&ws()).await.unwrap();
    let mut over = version(&c, 1, 0, b"c1");
    // The batch soft-deletes `b` first: one fewer live entry by the time `c` is written.
    over.max_entries = Some(live - 1);
    let steps_before_failure = || {
        vec![
            BatchOp::CreateEnvironment(new_env(&EnvName::new("batch-new").unwrap(), None, 2)),
            BatchOp::CreateVault { vault: vault("batch-dev", "other"), now: 2 },
            BatchOp::SetVaultOwner { vault: v.clone(), managed_by: None, at: 9 },
            BatchOp::WriteVersion(version(&a, 2, 1, b"a2")),
            BatchOp::SoftDelete { path: b.clone(), now: 3 },
            BatchOp::InsertGrant(grant("g-batch-2")),
            BatchOp::DeleteGrant { workspace: ws(), id: "g-batch-1".into() },
        ]
    };
    // The entry limit reached part-way.
    let mut ops = steps_before_failure();
    ops.push(BatchOp::WriteVersion(over));
    match store.apply_batch(ops, vec![], &test_writer(concat_chain)).await {
        Err(StoreError::EntryLimit { limit }) => assert_eq!(limit, live - 1),
        other => panic!("expected EntryLimit, got {other:?}"),
    }
    assert_eq!(snapshot().await, before, "an entry limit part-way rolls back every earlier step");
    // A check-and-set mismatch part-way.
    let mut ops = steps_before_failure();
    ops.push(BatchOp::WriteVersion(version(&b, 2, 7, b"stale")));
    assert!(matches!(
        store.apply_batch(ops, vec![], &test_writer(concat_chain)).await,
        Err(StoreError::VersionConflict { .. })
    ));
    assert_eq!(snapshot().await, before, "a check-and-set mismatch part-way rolls back every earlier step");
    // Steps that fail on their own.
    for failing in [
        BatchOp::CreateVault { vault: v.clone(), now: 2 },
        BatchOp::DeleteGrant { workspace: ws(), id: "no-such-grant".into() },
        BatchOp::SetVaultOwner { vault: vault("batch-dev", "ghost"), managed_by: None, at: 1 },
        BatchOp::SoftDelete { path: v.entry(EntryKey::new("ghost").unwrap()), now: 1 },
    ] {
        let what = failing.describe();
        let mut ops = steps_before_failure();
        ops.push(failing);
        assert!(store.apply_batch(ops, vec![], &test_writer(concat_chain)).await.is_err(), "{what} must fail");
        assert_eq!(snapshot().await, before, "{what} failing rolls back every earlier step");
    }
    // Releasing ownership on its own.
    let release = BatchOp::SetVaultOwner { vault: v.clone(), managed_by: None, at: 11 };
    store.apply_batch(vec![release], vec![], &test_writer(concat_chain)).await.unwrap();
    let info = store.get_vault(&v).await.unwrap().unwrap();
    assert_eq!((info.managed_by, info.managed_at), (None, Some(11)), "a release keeps when it happened");
    store.apply_batch(vec![], vec![], &test_writer(concat_chain)).await.unwrap();
}

/// Fills an empty store with every kind of row a snapshot carries: several versions of an entry
/// (one pruned), tags, description and expiry, a soft-deleted entry, a branch environment,
/// principals, a group with members, a live and a revoked token, grants, a live and a revoked
/// application key, extra meta and a chained audit log.
pub async fn fill_for_backup(store: &dyn Store) {
    let tag = |k: &str, v: &str| Tag { key: k.into(), value: v.into() };
    store.init_meta("salt", &[0, 1, 2, 254, 255]).await.unwrap();
    store.create_workspace(&ws(), &WrappedKey { generation: 1, wrapped: vec![3; 40] }, 1).await.unwrap();
    let prod = EnvName::new("prod").unwrap();
    store.create_environment(&new_env(&prod, None, 2)).await.unwrap();
    store.create_environment(&new_env(&EnvName::new("feature-x").unwrap(), Some(&prod), 3)).await.unwrap();
    store.create_vault(&vault("prod", "api-keys"), 4).await.unwrap();
    store.create_vault(&vault("feature-x", "api-keys"), 5).await.unwrap();
    let stripe = path("prod", "api-keys", "stripe");
    for v in 1..=4u64 {
        let mut nv = version(&stripe, v, v - 1, format!("sealed-{v}").as_bytes());
        if v == 2 {
            nv.description = Some("payments".into());
            nv.tags = Some(vec![tag("team", "pay"), tag("tier", "1")]);
            nv.expires_at = Some(9_999);
        }
        store.write_version(nv).await.unwrap();
    }
    let mut var = version(&path("feature-x", "api-keys", "db_x/url"), 1, 0, b"sealed-var");
    var.kind = EntryKind::Variable;
    store.write_version(var).await.unwrap();
    let gone = path("prod", "api-keys", "old");
    store.write_version(version(&gone, 1, 0, b"sealed-old")).await.unwrap();
    store.soft_delete(&gone, 77).await.unwrap();
    let states = BatchOp::SetVersionState(VersionStates {
        path: stripe.clone(),
        versions: vec![3],
        change: VersionChange::Delete,
        now: 78,
    });
    store.apply_batch(vec![states], vec![], &test_writer(concat_chain)).await.unwrap();

    store.create_principal(&new_principal(p("user:alice"), "root", 10)).await.unwrap();
    store.create_principal(&new_principal(p("app:worker"), "user:alice", 11)).await.unwrap();
    store.create_principal(&new_principal(p("group:readers"), "user:alice", 12)).await.unwrap();
    store.add_member(&member("readers", "user:alice")).await.unwrap();
    store.add_member(&member("readers", "app:worker")).await.unwrap();
    store.insert_token(&token("t-live", "user:alice")).await.unwrap();
    store.insert_token(&TokenRecord { expires_at: None, ..token("t-revoked", "app:worker") }).await.unwrap();
    store.revoke_token(&ws(), "t-revoked", 99).await.unwrap();
    store
        .insert_token(&TokenRecord { environment: Some(env("feature-x")), ..token("t-bound", "app:worker") })
        .await
        .unwrap();
    for (id, principal, scope, access) in
        [("g1", "app:worker", "prod/api-keys/*", Access::Read), ("g2", "group:readers", "*", Access::Write)]
    {
        let grant = GrantRecord {
            id: id.into(),
            workspace: ws(),
            principal: p(principal),
            scope: scope.into(),
            access,
            created_at: 13,
            created_by: "user:alice".into(),
        };
        store.insert_grant(&grant).await.unwrap();
    }
    for (id, bound) in [("k-live", None), ("k-revoked", None), ("k-bound", Some(env("prod")))] {
        let key = AppKeyRecord {
            id: id.into(),
            workspace: ws(),
            principal: p("app:worker"),
            hash: vec![7; 32],
            created_at: 14,
            created_by: "user:alice".into(),
            revoked_at: None,
            environment: bound,
        };
        store.insert_app_key(&key).await.unwrap();
    }
    store.revoke_app_key(&ws(), "k-revoked", 15).await.unwrap();
    let mut detailed = audit("secret.read");
    detailed.detail = Some("version 2".into());
    let chain = test_writer(backup_chain);
    store.append_audit(vec![audit("secret.write"), detailed], &chain).await.unwrap();
    store.append_audit(vec![audit("token.create")], &chain).await.unwrap();
}

/// A toy chain hash for the backup checks: the previous hash, the place in the chain and the action.
fn backup_chain(r: &AuditRecord) -> Vec<u8> {
    let mut h = r.prev_hash.iter().rev().take(16).copied().collect::<Vec<_>>();
    h.extend_from_slice(&r.chain_seq.to_be_bytes());
    h.extend_from_slice(r.action.as_bytes());
    h
}

/// Backs up a store filled by [`fill_for_backup`] and restores it into `target` (empty, possibly
/// another backend): the copy is the source row for row (its own snapshot equals the source's),
/// reads through the trait agree, and its audit chain continues where the source's ended. An import
/// that fails part way writes nothing; an import into a store that holds data, or of a snapshot
/// from a newer schema, is refused and changes nothing.
pub async fn backup_and_restore(source: &dyn Store, target: &dyn Store) {
    let snap = source.export_snapshot().await.unwrap();
    for (table, rows) in snap.tables.counts() {
        assert!(rows > 0, "the filled store has rows in {table}, so each table's copy is checked");
    }
    assert!(snap.header.schema_version >= 4, "{:?}", snap.header);
    assert_eq!(source.export_snapshot().await.unwrap().tables, snap.tables, "exports are deterministic");

    // A snapshot whose last table breaks a constraint: everything before it must be rolled back.
    let mut broken = snap.clone();
    let dup = broken.tables.app_keys[0].clone();
    broken.tables.app_keys.push(dup);
    assert!(matches!(target.import_snapshot(&broken).await, Err(StoreError::Backend(_))));
    let after_failure = target.export_snapshot().await.unwrap();
    assert_eq!(after_failure.tables, crate::SnapshotTables::default(), "a failed import leaves nothing behind");

    target.import_snapshot(&snap).await.unwrap();
    let copy = target.export_snapshot().await.unwrap();
    assert_eq!(copy.tables, snap.tables, "the restored store is the source row for row");
    assert_eq!(copy.header.schema_version, snap.header.schema_version);

    // The trait's own reads agree.
    let stripe = path("prod", "api-keys", "stripe");
    assert_eq!(target.get_entry(&stripe).await.unwrap(), source.get_entry(&stripe).await.unwrap());
    let versions: Vec<u64> = target.list_versions(&stripe).await.unwrap().iter().map(|v| v.version).collect();
    assert_eq!(versions, [4, 3, 2], "kept versions only; v1 was pruned");
    assert_eq!(target.read_version(&stripe, Some(2)).await.unwrap().unwrap().sealed, b"sealed-2");
    let deleted = VersionState { deleted_at: Some(78), destroyed_at: None };
    assert_eq!(
        target.read_version(&stripe, Some(3)).await.unwrap().unwrap().state,
        deleted,
        "version states are restored"
    );
    let gone = path("prod", "api-keys", "old");
    assert_eq!(target.get_entry(&gone).await.unwrap().unwrap().deleted_at, Some(77));
    let branch = target.get_environment(&ws(), &EnvName::new("feature-x").unwrap()).await.unwrap().unwrap();
    assert_eq!(branch.parent.as_deref(), Some("prod"));
    assert_eq!(target.data_key(&ws(), None).await.unwrap().wrapped, vec![3; 40]);
    assert_eq!(target.get_token("t-revoked").await.unwrap().unwrap().revoked_at, Some(99));
    assert_eq!(target.members_of(&ws(), "readers").await.unwrap().len(), 2);
    assert_eq!(target.grants_for(&ws(), &[p("app:worker")]).await.unwrap()[0].scope, "prod/api-keys/*");
    assert_eq!(target.get_app_key("k-revoked").await.unwrap().unwrap().revoked_at, Some(15));
    assert_eq!(target.get_token("t-bound").await.unwrap().unwrap().environment, Some(env("feature-x")));
    assert_eq!(target.get_token("t-live").await.unwrap().unwrap().environment, None);
    assert_eq!(target.get_app_key("k-bound").await.unwrap().unwrap().environment, Some(env("prod")));
    assert_eq!(target.get_meta("salt").await.unwrap().unwrap(), [0, 1, 2, 254, 255]);
    let heads = source.audit_chains().await.unwrap();
    assert!(!heads.is_empty());
    assert_eq!(target.audit_chains().await.unwrap(), heads, "the chains' heads are restored");
    let source_audit = source.list_audit(0, None, 100).await.unwrap();
    assert_eq!(target.list_audit(0, None, 100).await.unwrap(), source_audit);

    // Refusals change nothing.
    match target.import_snapshot(&snap).await {
        Err(StoreError::NotEmpty(msg)) => {
            assert!(msg.contains("restore needs an empty store") && msg.contains("workspaces"), "{msg}")
        }
        other => panic!("expected NotEmpty, got {other:?}"),
    }
    let mut newer = snap.clone();
    newer.header.schema_version += 1_000;
    assert!(matches!(target.import_snapshot(&newer).await, Err(StoreError::InvalidSnapshot(_))));
    assert_eq!(target.export_snapshot().await.unwrap().tables, snap.tables, "a refused import changes nothing");

    // A writer of the restored store starts a chain of its own, numbered after the restored records.
    let chain = test_writer(backup_chain);
    target.append_audit(vec![audit("after.restore")], &chain).await.unwrap();
    let last = target.list_audit(source_audit.last().unwrap().seq, None, 10).await.unwrap();
    assert_eq!(last.len(), 1, "the new record follows the restored ones");
    assert_eq!((last[0].chain.as_str(), last[0].chain_seq), (chain.name(), 1));
}

/// Every step of a batch behaves as the `Store` method of the same name: the same change, the
/// same errors. (The service makes every change through batches.)
async fn batch_steps(store: &dyn Store) {
    let chain = test_writer(concat_chain);
    let run = |ops: Vec<BatchOp>| store.apply_batch(ops, vec![], &chain);
    let tag = |k: &str, v: &str| Tag { key: k.into(), value: v.into() };
    let v = vault("prod", "steps");
    let e = v.entry(EntryKey::new("k").unwrap());
    run(vec![BatchOp::CreateVault { vault: v.clone(), now: 1 }, BatchOp::WriteVersion(version(&e, 1, 0, b"k1"))])
        .await
        .unwrap();
    let tags = vec![tag("team", "pay")];
    run(vec![BatchOp::UpdateTags { path: e.clone(), upsert: tags.clone(), remove: vec![] }]).await.unwrap();
    assert_eq!(store.get_entry(&e).await.unwrap().unwrap().tags, tags);
    run(vec![BatchOp::SoftDelete { path: e.clone(), now: 5 }]).await.unwrap();
    assert!(matches!(
        run(vec![BatchOp::UpdateTags { path: e.clone(), upsert: tags.clone(), remove: vec![] }]).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        run(vec![BatchOp::DeleteVault { vault: v.clone() }]).await,
        Err(StoreError::VaultNotEmpty { .. })
    ));
    run(vec![BatchOp::Undelete { path: e.clone(), now: 6 }]).await.unwrap();
    assert_eq!(store.get_entry(&e).await.unwrap().unwrap().deleted_at, None);
    assert!(matches!(run(vec![BatchOp::Undelete { path: e.clone(), now: 7 }]).await, Err(StoreError::NotFound(_))));
    run(vec![BatchOp::Purge { path: e.clone() }]).await.unwrap();
    assert!(store.get_entry(&e).await.unwrap().is_none());
    assert!(matches!(run(vec![BatchOp::Purge { path: e.clone() }]).await, Err(StoreError::NotFound(_))));
    run(vec![BatchOp::DeleteVault { vault: v.clone() }]).await.unwrap();
    assert!(store.get_vault(&v).await.unwrap().is_none());
    assert!(matches!(run(vec![BatchOp::DeleteVault { vault: v.clone() }]).await, Err(StoreError::NotFound(_))));

    let (app, group) = (p("app:stepper"), p("group:steppers"));
    let create = |principal: &PrincipalRef| BatchOp::CreatePrincipal(new_principal(principal.clone(), "user:alice", 1));
    run(vec![create(&app), create(&group)]).await.unwrap();
    assert!(matches!(run(vec![create(&app)]).await, Err(StoreError::AlreadyExists(_))));
    let member = BatchOp::AddMember(Membership { workspace: ws(), group: "steppers".into(), member: app.clone() });
    run(vec![member.clone()]).await.unwrap();
    assert!(matches!(run(vec![member]).await, Err(StoreError::AlreadyExists(_))));
    let leave = BatchOp::RemoveMember(Membership { workspace: ws(), group: "steppers".into(), member: app.clone() });
    run(vec![leave.clone()]).await.unwrap();
    assert!(store.groups_of(&ws(), &app).await.unwrap().is_empty());
    assert!(matches!(run(vec![leave]).await, Err(StoreError::NotFound(_))));

    let minted = |id: &str| TokenRecord { name: "app key step-key".into(), ..token(id, "app:stepper") };
    run(vec![BatchOp::InsertToken(minted("step-t1")), BatchOp::InsertToken(minted("step-t2"))]).await.unwrap();
    run(vec![BatchOp::InsertToken(token("step-t3", "app:stepper"))]).await.unwrap();
    assert!(matches!(run(vec![BatchOp::InsertToken(minted("step-t1"))]).await, Err(StoreError::AlreadyExists(_))));
    run(vec![BatchOp::RevokeToken { workspace: ws(), id: "step-t1".into(), now: 40 }]).await.unwrap();
    assert_eq!(store.get_token("step-t1").await.unwrap().unwrap().revoked_at, Some(40));
    let ghost_token = BatchOp::RevokeToken { workspace: ws(), id: "nope".into(), now: 1 };
    assert!(matches!(run(vec![ghost_token]).await, Err(StoreError::NotFound(_))));

    let app_key = AppKeyRecord {
        id: "step-key".into(),
        workspace: ws(),
        principal: app.clone(),
        hash: vec![7; 32],
        created_at: 3,
        created_by: "user:alice".into(),
        revoked_at: None,
        environment: Some(env("batch-env")),
    };
    run(vec![BatchOp::InsertAppKey(app_key.clone())]).await.unwrap();
    assert_eq!(store.get_app_key("step-key").await.unwrap().unwrap(), app_key, "the batch step keeps the binding");
    assert!(matches!(run(vec![BatchOp::InsertAppKey(app_key)]).await, Err(StoreError::AlreadyExists(_))));
    let revoke = |id: &str| BatchOp::RevokeAppKey {
        workspace: ws(),
        id: id.into(),
        now: 50,
        minted_tokens_named: "app key step-key".into(),
    };
    run(vec![revoke("step-key")]).await.unwrap();
    assert_eq!(store.get_app_key("step-key").await.unwrap().unwrap().revoked_at, Some(50));
    let revoked_at = |id: &'static str| async move { store.get_token(id).await.unwrap().unwrap().revoked_at };
    assert_eq!(revoked_at("step-t1").await, Some(40), "an earlier revocation time is kept");
    assert_eq!(revoked_at("step-t2").await, Some(50), "the key's minted tokens are revoked with it");
    assert_eq!(revoked_at("step-t3").await, None, "tokens the key did not mint are left alone");
    assert!(matches!(run(vec![revoke("nope")]).await, Err(StoreError::NotFound(_))));

    run(vec![BatchOp::DeletePrincipal { workspace: ws(), principal: app.clone() }]).await.unwrap();
    assert!(!store.principal_exists(&ws(), &app).await.unwrap());
    assert!(store.get_token("step-t2").await.unwrap().is_none(), "its tokens go with it");
    let again = BatchOp::DeletePrincipal { workspace: ws(), principal: app.clone() };
    assert!(matches!(run(vec![again]).await, Err(StoreError::NotFound(_))));
}

/// Rows as a store at schema 6 (before migration 7 bound credentials to environments) holds
/// them: a workspace, an application, a token and an application key. `bytes` writes a byte
/// string literal in the backend's SQL (`X'..'` on SQLite, `'\x..'` on PostgreSQL).
pub fn credentials_before_bindings_sql(bytes: fn(&str) -> String) -> String {
    format!(
        "INSERT INTO workspaces (name, current_key_generation, created_at) VALUES ('default', 1, 1);
         INSERT INTO principals (workspace, kind, name, created_at, created_by)
             VALUES ('default', 'app', 'old-worker', 2, 'user:owner');
         INSERT INTO tokens (id, workspace, principal_kind, principal_name, name, hash, created_at, created_by,
                             expires_at, revoked_at)
             VALUES ('t-old', 'default', 'app', 'old-worker', 'ci', {}, 3, 'user:owner', NULL, NULL);
         INSERT INTO app_keys (id, workspace, principal_kind, principal_name, hash, created_at, created_by,
                               revoked_at)
             VALUES ('k-old', 'default', 'app', 'old-worker', {}, 4, 'user:owner', NULL);",
        bytes("0909"),
        bytes("0707")
    )
}

/// After migration 7 on a store holding [`CREDENTIALS_BEFORE_BINDINGS_SQL`]'s rows: the old
/// token and key are unbound and otherwise unchanged, and bound ones can be written beside them.
pub async fn credentials_before_bindings_read_unbound(store: &dyn Store) {
    let old = store.get_token("t-old").await.unwrap().expect("the old token survives the migration");
    assert_eq!(
        (old.principal.clone(), old.name.as_str(), old.hash.as_slice()),
        (p("app:old-worker"), "ci", &[9u8, 9][..])
    );
    assert_eq!(old.environment, None, "a token minted before bindings is unbound");
    let key = store.get_app_key("k-old").await.unwrap().expect("the old key survives the migration");
    assert_eq!((key.hash.as_slice(), key.environment.as_ref()), (&[7u8, 7][..], None));
    let bound = TokenRecord { environment: Some(env("staging")), ..old.clone() };
    store.insert_token(&TokenRecord { id: "t-new".into(), ..bound.clone() }).await.unwrap();
    assert_eq!(store.get_token("t-new").await.unwrap().unwrap().environment, Some(env("staging")));
    let listed = store.list_tokens(&ws()).await.unwrap();
    assert_eq!(
        listed.iter().map(|t| (t.id.as_str(), t.environment.is_some())).collect::<Vec<_>>(),
        [("t-new", true), ("t-old", false)]
    );
}

/// The failing record of [`batches_with_audit`]: the backend's test installs a trigger that
/// refuses audit records with this action before it runs that check.
pub const REFUSED_AUDIT_ACTION: &str = "refused";

/// A batch's audit records commit with its steps, on the same chain as [`Store::append_audit`]'s
/// (gapless numbering, each record linked to the one before, the head and its MAC written); a
/// batch whose records cannot be appended keeps neither its steps nor any record; a batch whose
/// step fails keeps no record either. Run on a store whose audit log refuses records whose
/// action is [`REFUSED_AUDIT_ACTION`] (a trigger the backend's test installs), otherwise empty.
pub async fn batches_with_audit(store: &dyn Store) {
    let chain = test_writer(backup_chain);
    let v = vault("default", "audited");
    store.create_workspace(&ws(), &WrappedKey { generation: 1, wrapped: vec![3; 40] }, 1).await.unwrap();
    store.create_environment(&new_env(&EnvName::default_name(), None, 1)).await.unwrap();
    store.create_vault(&v, 1).await.unwrap();
    let places = |records: &[AuditRecord]| records.iter().map(|r| r.chain_seq).collect::<Vec<_>>();
    // The chain's records, oldest first.
    let ours = || async {
        let all = store.list_audit(0, None, u32::MAX).await.unwrap();
        all.into_iter().filter(|r| r.chain == chain.name()).collect::<Vec<_>>()
    };
    let linked = |records: &[AuditRecord]| {
        for w in records.windows(2) {
            assert!(w[0].seq < w[1].seq, "listed in order");
            assert_eq!(w[1].prev_hash, w[0].hash, "record {} links to the one before", w[1].seq);
            assert_eq!(w[1].hash, backup_chain(&w[1]), "record {} is hashed by the chain", w[1].seq);
        }
    };

    // Appends of the audit writer and of batches, interleaved: one gapless, linked chain.
    for i in 0..3u64 {
        store.append_audit(vec![audit("read")], &chain).await.unwrap();
        let e = v.entry(EntryKey::new(format!("k{i}")).unwrap());
        let ops = vec![BatchOp::WriteVersion(version(&e, 1, 0, b"sealed"))];
        store.apply_batch(ops, vec![audit("entry.write"), audit("entry.write")], &chain).await.unwrap();
        assert!(store.get_entry(&e).await.unwrap().is_some(), "the batch's step committed");
    }
    let all = ours().await;
    assert_eq!(places(&all), (1..=9).collect::<Vec<_>>(), "one gapless chain");
    linked(&all);
    let last = all.last().unwrap();
    let head = head_of(store, chain.name()).await.unwrap();
    assert_eq!((head.seq, &head.hash), (9, &last.hash), "a batch moves the head");
    assert_eq!(head.head_mac, Some(test_head_mac(chain.name(), 9, &last.hash)));

    // A record that cannot be appended: neither the step nor any of the batch's records is kept.
    let lost = v.entry(EntryKey::new("lost").unwrap());
    let ops = vec![
        BatchOp::WriteVersion(version(&lost, 1, 0, b"sealed")),
        BatchOp::CreatePrincipal(new_principal(p("app:lost"), "user:alice", 1)),
    ];
    let records = vec![audit("entry.write"), audit(REFUSED_AUDIT_ACTION)];
    match store.apply_batch(ops, records, &chain).await {
        Err(StoreError::AuditAppend(msg)) => assert!(!msg.is_empty()),
        other => panic!("expected AuditAppend, got {other:?}"),
    }
    assert!(store.get_entry(&lost).await.unwrap().is_none(), "the change did not happen without its record");
    assert!(!store.principal_exists(&ws(), &p("app:lost")).await.unwrap());
    assert_eq!(ours().await.len(), 9, "no record of the failed batch was kept");
    assert_eq!(head_of(store, chain.name()).await.unwrap(), head, "the head did not move");
    assert_eq!(chain.position(), (9, last.hash.clone()), "nor did the writer's position");

    // A step that fails: no record is kept either (the service records the failure on its own).
    let ops = vec![BatchOp::CreateVault { vault: v.clone(), now: 1 }];
    assert!(matches!(
        store.apply_batch(ops, vec![audit("vault.create")], &chain).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(ours().await.len(), 9, "a failed step keeps no record");

    // The chain goes on from where it was.
    store.append_audit(vec![audit("read")], &chain).await.unwrap();
    let next = ours().await.pop().unwrap();
    assert_eq!((next.chain_seq, &next.prev_hash), (10, &last.hash));

    // A group (group commit): each change commits with its records or is rolled back alone (a
    // check-and-set that an earlier change of the same group moved; a record the log refuses),
    // the read records follow, and the chain stays one gapless, linked sequence.
    let (a, b, c) = (
        v.entry(EntryKey::new("g-a").unwrap()),
        v.entry(EntryKey::new("g-b").unwrap()),
        v.entry(EntryKey::new("g-c").unwrap()),
    );
    let write = |e: &EntryPath, action: &str| Batch {
        ops: vec![BatchOp::WriteVersion(version(e, 1, 0, b"sealed"))],
        audit: vec![audit(action)],
    };
    let changes = vec![
        write(&a, "entry.write"),
        write(&a, "entry.write"),
        write(&b, REFUSED_AUDIT_ACTION),
        write(&c, "entry.write"),
    ];
    let outcomes = store
        .apply_group(Group { changes, reads: vec![audit("read"), audit("read")], flush: Flush::Now }, &chain)
        .await
        .unwrap();
    assert!(outcomes[0].is_ok() && outcomes[3].is_ok(), "{outcomes:?}");
    assert!(matches!(outcomes[1], Err(StoreError::VersionConflict { expected: 0, actual: 1, .. })), "{outcomes:?}");
    assert!(matches!(outcomes[2], Err(StoreError::AuditAppend(_))), "{outcomes:?}");
    assert_eq!(store.get_entry(&a).await.unwrap().unwrap().version, 1, "the conflicting write changed nothing");
    assert!(store.get_entry(&b).await.unwrap().is_none(), "a change whose record was refused did not happen");
    assert!(store.get_entry(&c).await.unwrap().is_some(), "a change after a failed one commits");
    let all = ours().await;
    let kept = &all[10..];
    let actions: Vec<&str> = kept.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        ["entry.write", "entry.write", "read", "read"],
        "the records of the changes kept, then the reads"
    );
    assert_eq!(places(kept), [11, 12, 13, 14], "one gapless chain");
    linked(&all);
    assert_eq!(head_of(store, chain.name()).await.unwrap().seq, 14, "the group moves the head to its last record");

    // A group whose read records cannot be appended keeps nothing, changes included.
    let d = v.entry(EntryKey::new("g-d").unwrap());
    let refused = store
        .apply_group(
            Group {
                changes: vec![write(&d, "entry.write")],
                reads: vec![audit(REFUSED_AUDIT_ACTION)],
                flush: Flush::Now,
            },
            &chain,
        )
        .await;
    assert!(matches!(refused, Err(StoreError::AuditAppend(_))), "{refused:?}");
    assert!(store.get_entry(&d).await.unwrap().is_none(), "nothing of a failed group is kept");
    assert_eq!(ours().await.len(), 14);
    assert_eq!(chain.position().0, 14, "a failed group leaves the writer where it was");

    // Read records committed with a deferred flush are committed all the same (readable at
    // once, in the chain), then flushed; a change after them flushes at its commit again.
    let reads = store
        .apply_group(
            Group { changes: vec![], reads: vec![audit("read"), audit("read")], flush: Flush::Deferred },
            &chain,
        )
        .await;
    assert!(reads.unwrap().is_empty());
    assert_eq!(ours().await.len(), 16);
    store.flush().await.unwrap();
    let e = v.entry(EntryKey::new("g-e").unwrap());
    assert!(store
        .apply_group(Group { changes: vec![write(&e, "entry.write")], reads: vec![], flush: Flush::Now }, &chain)
        .await
        .unwrap()[0]
        .is_ok());
    let all = ours().await;
    assert_eq!(places(&all), (1..=17).collect::<Vec<_>>());
    linked(&all);
}

/// `list_data_keys` lists every workspace's keys; `BatchOp::RewrapRoot` replaces them all and the
/// meta rows it names, or nothing: not when one key or row moved since it was read, nor when a
/// data key was left out.
async fn root_rewrap(store: &dyn Store) {
    let other = WorkspaceName::new("other").unwrap();
    store.create_workspace(&other, &WrappedKey { generation: 1, wrapped: vec![7, 7] }, 1).await.unwrap();
    let listed: Vec<(String, u32, Vec<u8>)> = store
        .list_data_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|(w, k)| (w.to_string(), k.generation, k.wrapped))
        .collect();
    assert_eq!(listed, vec![("default".into(), 1, vec![1, 2, 3]), ("other".into(), 1, vec![7, 7])]);
    let key = |w: &WorkspaceName, old: &[u8], new: &[u8]| DataKeyRewrap {
        workspace: w.clone(),
        generation: 1,
        old: old.to_vec(),
        new: new.to_vec(),
    };
    let meta = |k: &str, old: Option<&[u8]>, new: &[u8]| MetaRewrap {
        key: k.into(),
        old: old.map(<[u8]>::to_vec),
        new: new.to_vec(),
    };
    let rewrap = |data_keys, meta| async move {
        store
            .apply_batch(
                vec![BatchOp::RewrapRoot(RootRewrap { data_keys, meta })],
                Vec::new(),
                &test_writer(|_: &AuditRecord| Vec::new()),
            )
            .await
    };
    let unchanged = || async {
        assert_eq!(store.data_key(&ws(), None).await.unwrap().wrapped, vec![1, 2, 3]);
        assert_eq!(store.data_key(&other, None).await.unwrap().wrapped, vec![7, 7]);
        assert_eq!(store.get_meta("salt").await.unwrap().unwrap(), b"one");
        assert!(store.get_meta("fresh").await.unwrap().is_none());
    };
    // A key that moved since it was read: nothing changes.
    let stale = rewrap(vec![key(&ws(), &[1, 2, 3], &[4]), key(&other, &[9], &[8])], vec![]).await;
    assert!(matches!(stale, Err(StoreError::KeysChanged(_))), "{stale:?}");
    unchanged().await;
    // A data key left out would stay under the old root key.
    let partial = rewrap(vec![key(&ws(), &[1, 2, 3], &[4])], vec![meta("salt", Some(b"one"), b"uno")]).await;
    assert!(matches!(partial, Err(StoreError::KeysChanged(_))), "{partial:?}");
    unchanged().await;
    // A meta row that moved, or one to add that is there already.
    let all = || vec![key(&ws(), &[1, 2, 3], &[4]), key(&other, &[7, 7], &[8])];
    let moved = rewrap(all(), vec![meta("salt", Some(b"two"), b"uno")]).await;
    assert!(matches!(moved, Err(StoreError::KeysChanged(_))), "{moved:?}");
    let present = rewrap(all(), vec![meta("salt", None, b"uno")]).await;
    assert!(matches!(present, Err(StoreError::KeysChanged(_))), "{present:?}");
    unchanged().await;

    rewrap(all(), vec![meta("salt", Some(b"one"), b"uno"), meta("fresh", None, b"new")]).await.unwrap();
    assert_eq!(store.data_key(&ws(), None).await.unwrap().wrapped, vec![4]);
    assert_eq!(store.data_key(&other, Some(1)).await.unwrap().wrapped, vec![8]);
    assert_eq!(store.get_meta("salt").await.unwrap().unwrap(), b"uno");
    assert_eq!(store.get_meta("fresh").await.unwrap().unwrap(), b"new");
}

/// A sealed value as the crypto layer lays it out: format 1, the generation, then 40 bytes.
fn sealed_with(generation: u32, fill: u8) -> Vec<u8> {
    [&[1u8][..], &generation.to_be_bytes(), &[fill; 40]].concat()
}

/// `BatchOp::AddDataKey` makes a new generation current only after the one before it;
/// `versions_not_on` and `count_by_generation` read the generation in the sealed header (destroyed
/// versions, which hold no value, left out); `BatchOp::Reseal` replaces a sealed value only if it
/// is still the one read.
async fn data_key_rotation(store: &dyn Store) {
    let env = EnvName::new("rotation").unwrap();
    store.create_environment(&new_env(&env, None, 1)).await.unwrap();
    store.create_vault(&vault("rotation", "v"), 1).await.unwrap();
    let (a, b) = (path("rotation", "v", "a"), path("rotation", "v", "b"));
    store.write_version(version(&a, 1, 0, &sealed_with(1, 1))).await.unwrap();
    store.write_version(version(&a, 2, 1, &sealed_with(1, 2))).await.unwrap();
    store.write_version(version(&b, 1, 0, &sealed_with(1, 3))).await.unwrap();
    let destroy = VersionStates { path: a.clone(), versions: vec![1], change: VersionChange::Destroy, now: 5 };
    store
        .apply_batch(vec![BatchOp::SetVersionState(destroy)], Vec::new(), &test_writer(|_: &AuditRecord| Vec::new()))
        .await
        .unwrap();
    let before: Vec<(u32, u64)> = store.count_by_generation(&ws()).await.unwrap();
    let on_1 = before.iter().find(|(g, _)| *g == 1).map(|(_, n)| *n).unwrap();

    let batch =
        |op| async move { store.apply_batch(vec![op], Vec::new(), &test_writer(|_: &AuditRecord| Vec::new())).await };
    let add = |generation| BatchOp::AddDataKey {
        workspace: ws(),
        key: WrappedKey { generation, wrapped: vec![generation as u8; 8] },
        now: 9,
    };
    let skipped = batch(add(3)).await;
    assert!(matches!(skipped, Err(StoreError::KeysChanged(_))), "generation 2 comes first: {skipped:?}");
    batch(add(2)).await.unwrap();
    assert_eq!(store.data_key(&ws(), None).await.unwrap().generation, 2);
    assert_eq!(store.data_key(&ws(), Some(1)).await.unwrap().wrapped, vec![4], "the old generation stays");
    let again = batch(add(2)).await;
    assert!(matches!(again, Err(StoreError::KeysChanged(_))), "{again:?}");

    let stale = store.versions_not_on(&ws(), 2, 1000).await.unwrap();
    let ours: Vec<(String, u64)> =
        stale.iter().filter(|v| v.path.environment == env).map(|v| (v.path.key.to_string(), v.version)).collect();
    assert_eq!(ours, vec![("a".into(), 2), ("b".into(), 1)], "the destroyed version 1 of a is left out");
    assert_eq!(stale.len() as u64, on_1);
    assert_eq!(store.versions_not_on(&ws(), 2, 1).await.unwrap().len(), 1, "at most the limit");
    let b1 = stale.iter().find(|v| v.path == b).unwrap();
    assert_eq!(b1.sealed, sealed_with(1, 3));
    assert_eq!(b1.kind, EntryKind::Secret);

    let reseal = |old: Vec<u8>| BatchOp::Reseal { path: b.clone(), version: 1, old, new: sealed_with(2, 3) };
    batch(reseal(sealed_with(1, 9))).await.unwrap();
    assert_eq!(store.read_version(&b, Some(1)).await.unwrap().unwrap().sealed, sealed_with(1, 3), "moved: passed over");
    batch(reseal(sealed_with(1, 3))).await.unwrap();
    assert_eq!(store.read_version(&b, Some(1)).await.unwrap().unwrap().sealed, sealed_with(2, 3));
    let after = store.count_by_generation(&ws()).await.unwrap();
    assert_eq!(after, vec![(1, on_1 - 1), (2, 1)]);
    assert!(store.versions_not_on(&ws(), 2, 1000).await.unwrap().iter().all(|v| v.path != b));
}
