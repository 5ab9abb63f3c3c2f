//! The PostgreSQL backend against a real server: the conformance suite, check-and-set and the
//! audit chain under real concurrency (separate connections), and the migration runner.
//!
//! Each test creates its own database (`tresor_test_<unique>`) and drops it at the end, even when
//! the test fails. The server is `$TRESOR_TEST_PG` (default `postgres://postgres@127.0.0.1:5432`),
//! whose `postgres` database is used to create and drop the test databases.
//!
//! Run with `cargo test -p tresor-store --features postgres,conformance`.

/// The skip rule shared with the CLI's end-to-end tests.
#[path = "../../tresor-cli/tests/common/skip.rs"]
mod skip;

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio_postgres::NoTls;
use tresor_model::{EntryKey, EntryKind, EntryPath, EnvName, VaultName, VaultPath, WorkspaceName};
use tresor_store::conformance::{new_env, new_principal, test_head_mac, test_writer};
use tresor_store::{AuditRecord, NewVersion, PostgresStore, Store, StoreError, WrappedKey};

fn server() -> String {
    std::env::var("TRESOR_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
        .trim_end_matches('/')
        .to_owned()
}

async fn admin() -> tokio_postgres::Client {
    let url = format!("{}/postgres", server());
    let (client, conn) = tokio_postgres::connect(&url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server at {url}: {e} (set TRESOR_TEST_PG)"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!(
        "tresor_test_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `body` with the URL of a fresh, empty database, then drops the database whatever happened.
async fn with_database<F, Fut>(body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let name = unique_name();
    let admin = admin().await;
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let outcome = tokio::spawn(body(format!("{}/{name}", server()))).await;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Runs `work` on `tasks` tasks at once, each with a store of its own (so its own connections, as
/// separate servers would have), and returns each task's result in task order.
async fn on_own_stores<T, F, Fut>(url: &str, tasks: usize, work: F) -> Vec<T>
where
    F: Fn(PostgresStore, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let spawned: Vec<_> = (0..tasks)
        .map(|t| {
            let (url, work) = (url.to_owned(), work.clone());
            tokio::spawn(async move {
                let store = PostgresStore::connect(&url).await.unwrap();
                let done = work(store, t);
                done.await
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in spawned {
        out.push(task.await.unwrap());
    }
    out
}

/// The whole audit log is one gapless chain: records 1..=N, each linked to the one before it.
/// The records of one chain, in the log's order: gapless places from 1, each linked to the one
/// before it.
fn assert_linked(chain: &[&AuditRecord]) {
    for (i, r) in chain.iter().enumerate() {
        assert_eq!(r.chain_seq, i as u64 + 1, "gapless");
        if i > 0 {
            assert_eq!(r.prev_hash, chain[i - 1].hash, "record {} links to the one before", r.seq);
        } else {
            assert!(r.prev_hash.is_empty(), "a chain starts with its first record");
        }
    }
}

/// The log's records by chain, each chain in the log's order.
fn by_chain(all: &[AuditRecord]) -> std::collections::BTreeMap<String, Vec<&AuditRecord>> {
    let mut chains = std::collections::BTreeMap::<String, Vec<&AuditRecord>>::new();
    for r in all {
        chains.entry(r.chain.clone()).or_default().push(r);
    }
    chains
}

#[tokio::test]
async fn passes_the_conformance_suite() {
    with_database(|url| async move {
        let store = PostgresStore::connect(&url).await.unwrap();
        tresor_store::conformance::run_all(&store).await;
    })
    .await;
}

fn ws() -> WorkspaceName {
    WorkspaceName::default_name()
}

fn vault() -> VaultPath {
    VaultPath { workspace: ws(), environment: EnvName::new("prod").unwrap(), vault: VaultName::new("race").unwrap() }
}

async fn setup(store: &PostgresStore) {
    store.create_workspace(&ws(), &WrappedKey { generation: 1, wrapped: vec![1] }, 1).await.unwrap();
    store.create_environment(&new_env(&EnvName::new("prod").unwrap(), None, 1)).await.unwrap();
    store.create_vault(&vault(), 1).await.unwrap();
}

fn new_version(p: &EntryPath, expected: u64, sealed: Vec<u8>) -> NewVersion {
    NewVersion {
        path: p.clone(),
        kind: EntryKind::Secret,
        version: expected + 1,
        expected_current: expected,
        sealed,
        now: 1_000,
        edited_by: "tester".into(),
        description: None,
        tags: None,
        expires_at: None,
        keep_versions: 10_000,
        max_entries: Some(10),
        max_live_secrets_in_vault: None,
        value_mac: None,
    }
}

/// 8 writers, each on its own store (so its own connections), race check-and-set writes of one
/// entry, retrying on conflict. Every successful write must get its own version, 1..=N without
/// gaps, and every written value must be readable at the version its writer was told.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_check_and_set_loses_no_update() {
    const WRITERS: u64 = 8;
    const WRITES_EACH: u64 = 12;
    with_database(|url| async move {
        let first = PostgresStore::connect(&url).await.unwrap();
        setup(&first).await;
        let p = vault().entry(EntryKey::new("counter").unwrap());
        let target = p.clone();
        let writer = move |store: PostgresStore, w: usize| {
            let p = target.clone();
            async move {
                let mut written = Vec::new();
                let mut conflicts = 0u32;
                for i in 0..WRITES_EACH {
                    let sealed = format!("writer {w} write {i}").into_bytes();
                    loop {
                        let current = store.get_entry(&p).await.unwrap().map_or(0, |e| e.version);
                        match store.write_version(new_version(&p, current, sealed.clone())).await {
                            Ok(()) => {
                                written.push((current + 1, sealed));
                                break;
                            }
                            Err(StoreError::VersionConflict { actual, .. }) => {
                                assert!(actual > current, "a conflict means the entry moved on");
                                conflicts += 1;
                                assert!(conflicts < 10_000, "writer {w} starved");
                            }
                            Err(e) => panic!("writer {w}: {e}"),
                        }
                    }
                }
                written
            }
        };
        let mut all = Vec::new();
        for written in on_own_stores(&url, WRITERS as usize, writer).await {
            assert!(written.windows(2).all(|w| w[0].0 < w[1].0), "one writer's versions strictly increase");
            all.extend(written);
        }
        all.sort();
        let versions: Vec<u64> = all.iter().map(|(v, _)| *v).collect();
        assert_eq!(versions, (1..=WRITERS * WRITES_EACH).collect::<Vec<_>>(), "each version written exactly once");
        for (v, sealed) in &all {
            let stored = first.read_version(&p, Some(*v)).await.unwrap().unwrap();
            assert_eq!(&stored.sealed, sealed, "version {v} holds what its writer wrote");
        }
        assert_eq!(first.get_entry(&p).await.unwrap().unwrap().version, WRITERS * WRITES_EACH);
    })
    .await;
}

/// Writers racing to create entries in a workspace with an entry limit never overshoot it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creators_respect_the_entry_limit() {
    with_database(|url| async move {
        let first = PostgresStore::connect(&url).await.unwrap();
        setup(&first).await;
        let creator = |store: PostgresStore, w: usize| async move {
            let mut limited = 0;
            for i in 0..4 {
                let p = vault().entry(EntryKey::new(format!("k-{w}-{i}")).unwrap());
                match store.write_version(new_version(&p, 0, b"x".to_vec())).await {
                    Ok(()) => {}
                    Err(StoreError::EntryLimit { limit: 10 }) => limited += 1,
                    Err(e) => panic!("{e}"),
                }
            }
            limited
        };
        let limited: i32 = on_own_stores(&url, 8, creator).await.into_iter().sum();
        assert_eq!(first.count_entries(&ws()).await.unwrap(), 10);
        assert_eq!(limited, 32 - 10);
    })
    .await;
}

fn record(task: usize, i: usize) -> AuditRecord {
    AuditRecord {
        seq: 0,
        at: 100,
        workspace: "default".into(),
        request_id: format!("req-{task}-{i}"),
        principal: "user:alice".into(),
        action: "secret.read".into(),
        target: "prod/race/counter".into(),
        outcome: "ok".into(),
        detail: None,
        chain: String::new(),
        chain_seq: 0,
        prev_hash: vec![],
        hash: vec![],
    }
}

/// A toy chain hash over the fields that matter for linking (the service's is an HMAC).
fn chain(r: &AuditRecord) -> Vec<u8> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&r.chain, r.chain_seq, &r.prev_hash, &r.request_id).hash(&mut h);
    h.finish().to_be_bytes().to_vec()
}

/// 4 servers appending at once (the audit writer's appends and change batches, interleaved), each
/// on a chain of its own: every chain is gapless and linked, listed in the log's order, and its
/// head and MAC name its last record; none waited for another's commit to append.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_keep_each_chain_linear() {
    const TASKS: usize = 4;
    const BATCHES: usize = 20;
    const PER_BATCH: usize = 3;
    with_database(|url| async move {
        let first = PostgresStore::connect(&url).await.unwrap();
        let appender = |store: PostgresStore, t: usize| async move {
            let writer = test_writer(chain);
            for b in 0..BATCHES {
                let batch: Vec<_> = (0..PER_BATCH).map(|i| record(t, b * PER_BATCH + i)).collect();
                if b % 2 == 0 {
                    store.append_audit(batch, &writer).await.unwrap();
                } else {
                    store.apply_batch(vec![], batch, &writer).await.unwrap();
                }
            }
            writer.name().to_owned()
        };
        let mut names = on_own_stores(&url, TASKS, appender).await;
        names.sort();
        let all = first.list_audit(0, None, u32::MAX).await.unwrap();
        assert_eq!(all.len(), TASKS * BATCHES * PER_BATCH);
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
        let chains = by_chain(&all);
        assert_eq!(chains.keys().cloned().collect::<Vec<_>>(), names, "one chain per writer");
        let heads = first.audit_chains().await.unwrap();
        for (name, records) in &chains {
            assert_linked(records);
            for r in records {
                assert_eq!(r.hash, chain(r), "record {} hashes its own fields and prev_hash", r.seq);
            }
            let last = records.last().unwrap();
            let head = heads.iter().find(|h| &h.chain == name).unwrap();
            assert_eq!((head.seq, &head.hash), ((BATCHES * PER_BATCH) as u64, &last.hash));
            assert_eq!(head.head_mac, Some(test_head_mac(name, head.seq, &last.hash)));
        }
    })
    .await;
}

/// A batch's records commit with its steps or not at all (a trigger refuses one kind of record).
#[tokio::test]
async fn a_batch_commits_with_its_audit_records_or_not_at_all() {
    with_database(|url| async move {
        let store = PostgresStore::connect(&url).await.unwrap();
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN IF NEW.action = '{}' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$;
                 CREATE TRIGGER refuse BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit();",
                tresor_store::conformance::REFUSED_AUDIT_ACTION
            ))
            .await
            .unwrap();
        tresor_store::conformance::batches_with_audit(&store).await;
    })
    .await;
}

/// PostgreSQL refuses a write for a full disk with SQLSTATE 53100 (`disk_full`, what it raises
/// when it cannot extend a file): the store answers `OutOfSpace` (the server's 507), nothing of
/// the write is kept, and reads go on. The error is raised by a trigger here, as a real full disk
/// cannot be had under a shared test server.
#[tokio::test]
async fn a_full_disk_is_out_of_space_and_keeps_nothing() {
    with_database(|url| async move {
        let store = PostgresStore::connect(&url).await.unwrap();
        setup(&store).await;
        let p = vault().entry(EntryKey::new("full").unwrap());
        store.write_version(new_version(&p, 0, b"before".to_vec())).await.unwrap();
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(
                "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$;
                 CREATE TRIGGER disk_full BEFORE INSERT ON entry_versions FOR EACH ROW EXECUTE FUNCTION disk_full();",
            )
            .await
            .unwrap();
        let refused = store.write_version(new_version(&p, 1, b"during".to_vec())).await.unwrap_err();
        assert!(matches!(refused, StoreError::OutOfSpace(_)), "{refused:?}");
        assert!(refused.to_string().contains("disk is full"), "{refused}");
        let version = store.read_version(&p, None).await.unwrap().expect("the entry is still there");
        assert_eq!((version.meta.version, version.sealed.as_slice()), (1, b"before".as_slice()));
    })
    .await;
}

/// Servers starting together on an empty database apply each migration once; a newer schema is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_race_safely_and_refuse_a_newer_schema() {
    with_database(|url| async move {
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { PostgresStore::connect(&url).await.map(|_| ()) })
            })
            .collect();
        for s in starts {
            s.await.unwrap().unwrap();
        }
        let (client, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let applied: Vec<i64> = client
            .query("SELECT version FROM schema_migrations ORDER BY version", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(applied, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        let store = PostgresStore::connect(&url).await.unwrap();
        store.init_meta("k", b"v").await.unwrap();
        drop(store);
        let store = PostgresStore::connect(&url).await.unwrap();
        assert_eq!(store.get_meta("k").await.unwrap().unwrap(), b"v", "reconnecting keeps data");

        client.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)", &[]).await.unwrap();
        let err = PostgresStore::connect(&url).await.err().unwrap().to_string();
        assert!(err.contains("schema version 999") && err.contains("does not downgrade"), "{err}");
    })
    .await;
}

/// A database written before migration 7 (schema 6, no bindings), built here from the shipped
/// migration files as an older tresor left it: connecting adds the columns, its tokens and
/// application keys read back unbound, and bound ones can be written from then on.
#[tokio::test]
async fn credentials_from_before_bindings_read_as_unbound() {
    const BEFORE_BINDINGS: &[&str] = &[
        include_str!("../migrations/postgres/0001_entries.sql"),
        include_str!("../migrations/postgres/0002_access.sql"),
        include_str!("../migrations/postgres/0003_app_keys.sql"),
        include_str!("../migrations/postgres/0004_changes.sql"),
        include_str!("../migrations/postgres/0005_config.sql"),
        include_str!("../migrations/postgres/0006_audit_rowid.sql"),
    ];
    with_database(|url| async move {
        let (client, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
            .batch_execute(
                "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            )
            .await
            .unwrap();
        for (i, sql) in BEFORE_BINDINGS.iter().enumerate() {
            client.batch_execute(sql).await.unwrap();
            let version = i as i64 + 1;
            client
                .execute("INSERT INTO schema_migrations VALUES ($1, 'shipped', 0)", &[&version])
                .await
                .unwrap();
        }
        let rows = tresor_store::conformance::credentials_before_bindings_sql(|hex| format!("'\\x{hex}'::bytea"));
        client.batch_execute(&rows).await.unwrap();
        // The one audit chain of a store before chains (migration 10): two records and the head.
        client
            .batch_execute(
                "INSERT INTO audit_log VALUES (1, 5, 'default', 'r1', 'user:owner', 'a', 't', 'ok', NULL, '', '\\x01'),
                     (2, 6, 'default', 'r2', 'user:owner', 'b', 't', 'ok', NULL, '\\x01', '\\x02');
                 INSERT INTO meta VALUES ('audit_head', '\\x000000000000000202'), ('audit_head_mac', '\\x0909');",
            )
            .await
            .unwrap();
        let store = PostgresStore::connect(&url).await.unwrap();
        tresor_store::conformance::credentials_before_bindings_read_unbound(&store).await;
        let old = store.list_audit(0, None, 10).await.unwrap();
        assert_eq!(old.iter().map(|r| (r.seq, r.chain.as_str(), r.chain_seq)).collect::<Vec<_>>(), [(1, "", 1), (2, "", 2)]);
        let heads = store.audit_chains().await.unwrap();
        assert_eq!(heads.len(), 1);
        assert_eq!((heads[0].chain.as_str(), heads[0].seq, &heads[0].hash[..]), ("", 2, &[2u8][..]));
        assert_eq!(heads[0].head_mac.as_deref(), Some(&[9u8, 9][..]));
        assert_eq!(store.get_meta("audit_head").await.unwrap(), None, "the head moved out of meta");
        store.append_audit(vec![record(0, 0)], &test_writer(chain)).await.unwrap();
        assert_eq!(store.list_audit(2, None, 10).await.unwrap()[0].seq, 3, "new records are numbered after the old");
        let newest: i64 = client.query_one("SELECT MAX(version) FROM schema_migrations", &[]).await.unwrap().get(0);
        assert_eq!(newest, 10);
    })
    .await;
}

#[tokio::test]
async fn connection_errors_name_the_target_but_not_the_password() {
    // Nothing listens on port 1.
    let err = PostgresStore::connect("postgres://tresor:hunter2secret@127.0.0.1:1/vaultdb").await.err().unwrap();
    assert!(matches!(err, StoreError::Unavailable(_)), "nothing listening ends once it is back: {err:?}");
    let msg = err.to_string();
    assert!(msg.contains("127.0.0.1:1") && msg.contains("vaultdb"), "{msg}");
    assert!(!msg.contains("hunter2secret"), "{msg}");
    let err = PostgresStore::connect("postgres://tresor:hunter2secret@127.0.0.1:notaport/db").await.err().unwrap();
    assert!(matches!(err, StoreError::InvalidLocation(_)), "a malformed URL is the operator's to fix: {err:?}");
    assert!(!err.to_string().contains("hunter2secret"), "{err}");
}

/// Receives the next feed event, failing the test after 5 s.
async fn next_event(feed: &mut tresor_store::ChangeFeed) -> tresor_store::ChangeEvent {
    tokio::time::timeout(std::time::Duration::from_secs(5), feed.recv())
        .await
        .expect("a change notification within 5 s")
        .expect("the feed stays open")
}

/// Writes through one store (its own connections) reach the feed of another, numbered without
/// gaps in commit order; `change_seq` agrees; a dropped listener connection is reported and the
/// feed resumes by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_feed_reports_every_write_of_every_node_in_order() {
    use tresor_store::{Change, ChangeEvent};
    with_database(|url| async move {
        let writer = PostgresStore::connect(&url).await.unwrap();
        let reader = PostgresStore::connect(&url).await.unwrap();
        let mut feed = reader.change_feed().expect("PostgreSQL has a change feed");
        let ChangeEvent::Resumed { seq: start } = next_event(&mut feed).await else { panic!("first event is Resumed") };
        assert_eq!(start, reader.change_seq().await.unwrap());

        setup(&writer).await;
        let p = vault().entry(EntryKey::new("db/password").unwrap());
        writer.write_version(new_version(&p, 0, b"sealed".to_vec())).await.unwrap();
        let mut seen = Vec::new();
        let mut expect = start;
        while !seen.iter().any(|c| matches!(c, Change::Entry { .. })) {
            match next_event(&mut feed).await {
                ChangeEvent::Changed { seq, change } => {
                    expect += 1;
                    assert_eq!(seq, expect, "numbers follow commits without gaps");
                    seen.push(change);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(seen.contains(&Change::Structure { workspace: "default".into() }), "{seen:?}");
        assert!(seen.contains(&Change::Entry {
            workspace: "default".into(),
            vault: "race".into(),
            key: "db/password".into()
        }));
        assert_eq!(reader.change_seq().await.unwrap(), expect);

        let token = tresor_store::TokenRecord {
            id: "t1".into(),
            workspace: ws(),
            principal: tresor_model::PrincipalRef { kind: tresor_model::PrincipalKind::User, name: "owner".into() },
            name: "t".into(),
            hash: vec![0; 32],
            created_at: 1,
            created_by: "test".into(),
            expires_at: None,
            revoked_at: None,
            environment: None,
        };
        writer.create_principal(&new_principal(token.principal.clone(), "test", 1)).await.unwrap();
        writer.insert_token(&token).await.unwrap();
        writer.revoke_token(&ws(), "t1", 2).await.unwrap();
        for _ in 0..3 {
            let ChangeEvent::Changed { seq, change } = next_event(&mut feed).await else { panic!("a change") };
            expect += 1;
            assert_eq!((seq, change), (expect, Change::Access { workspace: "default".into() }));
        }

        // Kill the listener's connection: the feed says so, reconnects and resumes.
        let admin = admin().await;
        let killed = admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tresor-feed'",
                &[&url.rsplit('/').next().unwrap()],
            )
            .await
            .unwrap();
        assert_eq!(killed, 1, "one listening connection");
        assert_eq!(next_event(&mut feed).await, ChangeEvent::Lost);
        assert_eq!(next_event(&mut feed).await, ChangeEvent::Resumed { seq: expect });
        writer.soft_delete(&p, 4).await.unwrap();
        let ChangeEvent::Changed { seq, .. } = next_event(&mut feed).await else { panic!("a change") };
        assert_eq!(seq, expect + 1);
    })
    .await;
}

/// Backup and restore between two PostgreSQL databases.
#[tokio::test]
async fn backs_up_and_restores_into_an_empty_database() {
    with_database(|source_url| async move {
        with_database(move |target_url| async move {
            let source = PostgresStore::connect(&source_url).await.unwrap();
            let target = PostgresStore::connect(&target_url).await.unwrap();
            tresor_store::conformance::fill_for_backup(&source).await;
            tresor_store::conformance::backup_and_restore(&source, &target).await;
        })
        .await;
    })
    .await;
}

/// The migration path: SQLite → snapshot → PostgreSQL, and back from PostgreSQL into a new SQLite
/// file; each copy is the source row for row.
#[tokio::test]
async fn a_sqlite_snapshot_restores_into_postgresql_and_back() {
    with_database(|url| async move {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = tresor_store::SqliteStore::open(&dir.path().join("source.db")).unwrap();
        let postgres = PostgresStore::connect(&url).await.unwrap();
        tresor_store::conformance::fill_for_backup(&sqlite).await;
        tresor_store::conformance::backup_and_restore(&sqlite, &postgres).await;

        let from_sqlite = sqlite.export_snapshot().await.unwrap();
        let from_postgres = postgres.export_snapshot().await.unwrap();
        assert_eq!(from_postgres.header.source_backend, "postgres");
        let back = tresor_store::SqliteStore::open(&dir.path().join("back.db")).unwrap();
        back.import_snapshot(&from_postgres).await.unwrap();
        assert_eq!(back.export_snapshot().await.unwrap().tables, from_postgres.tables);
        // (The PostgreSQL copy has one more audit record than the SQLite source: the one
        // `backup_and_restore` appended to show the chain continues.)
        assert_eq!(from_postgres.tables.audit_log.len(), from_sqlite.tables.audit_log.len() + 1);
    })
    .await;
}

/// Whether the store's own connections to `db` use TLS, from the server's point of view: `Some`
/// when they all agree.
async fn store_connections_use_tls(db: &str) -> Option<bool> {
    let seen: Vec<bool> = admin()
        .await
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid
             WHERE a.datname = $1 AND a.application_name = 'tresor'",
            &[&db],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    (!seen.is_empty() && seen.iter().all(|s| *s == seen[0])).then(|| seen[0])
}

/// The first DNS name a certificate was issued for (else its CN), read with the openssl command.
fn certificate_name(cert_file: &str) -> String {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-nameopt", "RFC2253", "-subject", "-ext", "subjectAltName", "-in", cert_file])
        .output()
        .expect("the openssl command");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let dns = text.split([',', ' ', '\n']).find_map(|w| w.strip_prefix("DNS:")).map(str::to_owned);
    let cn =
        text.lines().find_map(|l| l.strip_prefix("subject=CN=")).map(|cn| cn.split(',').next().unwrap().to_owned());
    dns.or(cn).unwrap_or_else(|| panic!("no name in {cert_file}: {text}"))
}

/// `sslmode` as libpq means it: `disable` is plain, `require` encrypts, `verify-full` encrypts and
/// accepts only a server certificate signed by `sslrootcert` for the host; a wrong CA is refused
/// with a message that says so. Needs a server with `ssl = on` (Debian's default cluster has it,
/// with its snakeoil certificate for `localhost`).
#[tokio::test]
async fn tls_to_postgresql_follows_sslmode() {
    let admin = admin().await;
    let ssl: String = admin.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    if ssl != "on" {
        skip::skip("tls_to_postgresql_follows_sslmode", "a PostgreSQL server with ssl = on");
        return;
    }
    let cert_file: String = admin.query_one("SHOW ssl_cert_file", &[]).await.unwrap().get(0);
    with_database(move |url| async move {
        let db = url.rsplit('/').next().unwrap().to_owned();
        let store = PostgresStore::connect(&format!("{url}?sslmode=disable")).await.unwrap();
        assert_eq!(store_connections_use_tls(&db).await, Some(false));
        drop(store);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;

        let store = PostgresStore::connect(&format!("{url}?sslmode=require")).await.unwrap();
        store.init_meta("k", b"v").await.unwrap();
        assert_eq!(store_connections_use_tls(&db).await, Some(true));
        drop(store);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;

        // The server's own certificate (self-signed) as the CA, and the name it was issued for as
        // the host, reached at the test server's address (`hostaddr`, as in libpq).
        let name = certificate_name(&cert_file);
        let addr = url.split('@').nth(1).and_then(|rest| rest.split(':').next()).unwrap().to_owned();
        let local = url.replacen(&format!("@{addr}:"), &format!("@{name}:"), 1);
        let hostaddr =
            if addr.parse::<std::net::IpAddr>().is_ok() { format!("&hostaddr={addr}") } else { String::new() };
        let verified = format!("{local}?sslmode=verify-full&sslrootcert={cert_file}{hostaddr}");
        let store = PostgresStore::connect(&verified)
            .await
            .unwrap_or_else(|e| panic!("verify-full against {cert_file} for {name}: {e}"));
        assert_eq!(store.get_meta("k").await.unwrap().unwrap(), b"v");
        assert_eq!(store_connections_use_tls(&db).await, Some(true));

        // A CA bundle that did not sign the server's certificate.
        let wrong = format!("{local}?sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt");
        if std::path::Path::new("/etc/ssl/certs/ca-certificates.crt").exists() {
            let e =
                PostgresStore::connect(&wrong).await.err().expect("an untrusted certificate is refused").to_string();
            assert!(e.contains("certificate") && e.contains("localhost"), "{e}");
            assert!(!e.contains("postgres:postgres"), "no password in errors: {e}");
        }
    })
    .await;
}
