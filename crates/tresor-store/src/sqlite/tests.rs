use super::*;

fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("tresor.db")).unwrap();
    (dir, store)
}

#[tokio::test]
async fn passes_the_conformance_suite() {
    let (_dir, store) = open();
    crate::conformance::run_all(&store).await;
}

#[tokio::test]
async fn reopening_keeps_data_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tresor.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store.init_meta("k", b"v").await.unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.get_meta("k").await.unwrap().unwrap(), b"v");
    let mode: String = store.read(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0))).unwrap();
    assert_eq!(mode, "wal");
}

/// The database, `-wal` and `-shm` are the owner's only, whatever the umask (the tests run under the
/// caller's, usually 022) and the directory's permissions.
#[cfg(unix)]
#[tokio::test]
async fn a_new_store_and_its_wal_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("tresor.db");
    let store = SqliteStore::open(&path).unwrap();
    store.init_meta("k", b"v").await.unwrap();
    for name in ["tresor.db", "tresor.db-wal", "tresor.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{name} is {mode:o}");
    }
}

#[tokio::test]
async fn refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tresor.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)", []).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).err().unwrap().to_string();
    assert!(err.contains("schema version 999") && err.contains("does not downgrade"), "{err}");
}

/// A store written before migration 7 (schema 6, no bindings): opening it adds the columns, its
/// tokens and application keys read back unbound, and bound ones can be written from then on.
#[tokio::test]
async fn credentials_from_before_bindings_read_as_unbound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tresor.db");
    {
        let mut conn = Connection::open(&path).unwrap();
        migrate::apply_up_to(&mut conn, 6).unwrap();
        conn.execute_batch(&crate::conformance::credentials_before_bindings_sql(|hex| format!("X'{hex}'"))).unwrap();
        let version: i64 = conn.query_row("SELECT MAX(version) FROM schema_migrations", [], |r| r.get(0)).unwrap();
        assert_eq!(version, 6);
    }
    let store = SqliteStore::open(&path).unwrap();
    crate::conformance::credentials_before_bindings_read_unbound(&store).await;
}

#[tokio::test]
async fn backs_up_and_restores_into_an_empty_store() {
    let (_a, source) = open();
    let (_b, target) = open();
    crate::conformance::fill_for_backup(&source).await;
    crate::conformance::backup_and_restore(&source, &target).await;
}

#[tokio::test]
async fn a_failed_audit_append_leaves_nothing_behind_and_the_next_one_succeeds() {
    let (_dir, store) = open();
    let chain = crate::conformance::test_writer(|r: &AuditRecord| r.chain_seq.to_be_bytes().to_vec());
    let record = crate::conformance::audit;
    store.append_audit(vec![record("first")], &chain).await.unwrap();
    // A record the database refuses halfway through a batch: the whole batch must roll back and
    // the writer connection must not be left inside the failed transaction.
    store
        .writer
        .lock()
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON audit_log WHEN NEW.action = 'refused'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        )
        .unwrap();
    let err = store.append_audit(vec![record("kept-out"), record("refused")], &chain).await.unwrap_err();
    assert!(err.to_string().contains("refused by the test"), "{err}");
    assert!(store.writer.lock().unwrap().is_autocommit(), "the failed batch left its transaction open");
    let listed: Vec<String> = store.list_audit(0, None, 10).await.unwrap().into_iter().map(|r| r.action).collect();
    assert_eq!(listed, ["first"]);
    assert_eq!(crate::conformance::head_of(&store, chain.name()).await.unwrap().seq, 1);
    store.append_audit(vec![record("second")], &chain).await.unwrap();
    let places: Vec<u64> = store.list_audit(0, None, 10).await.unwrap().iter().map(|r| r.chain_seq).collect();
    assert_eq!(places, [1, 2]);
}

#[tokio::test]
async fn a_batch_commits_with_its_audit_records_or_not_at_all() {
    let (_dir, store) = open();
    store
        .writer
        .lock()
        .unwrap()
        .execute_batch(&format!(
            "CREATE TRIGGER refuse BEFORE INSERT ON audit_log WHEN NEW.action = '{}'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            crate::conformance::REFUSED_AUDIT_ACTION
        ))
        .unwrap();
    crate::conformance::batches_with_audit(&store).await;
    assert!(store.writer.lock().unwrap().is_autocommit(), "the failed batch left its transaction open");
}

#[tokio::test]
async fn a_writer_does_not_append_over_a_head_rewritten_under_it() {
    use crate::conformance::{audit, head_of, test_writer};
    let (_dir, store) = open();
    let chain = test_writer(|r: &AuditRecord| [&r.chain_seq.to_be_bytes()[..], r.action.as_bytes()].concat());
    store.append_audit(vec![audit("a"), audit("b")], &chain).await.unwrap();
    // The last record removed and the head rewritten to match: the writer, which knows where
    // its chain stood, refuses to go on from the rewritten head (which verify reports), rather
    // than seal over it.
    let sql = |q: &str| store.writer.lock().unwrap().execute_batch(q).unwrap();
    sql("DELETE FROM audit_log WHERE chain_seq = 2");
    let rewritten = crate::encode_chain_head(1, &[&1u64.to_be_bytes()[..], b"a"].concat());
    store.writer.lock().unwrap().execute("UPDATE audit_chains SET head = ?1", [&rewritten]).unwrap();
    let refused = store.append_audit(vec![audit("c")], &chain).await;
    assert!(matches!(refused, Err(crate::StoreError::AuditAppend(_))), "{refused:?}");
    assert_eq!(head_of(&store, chain.name()).await.unwrap().seq, 1, "the rewritten head is left for verify");
    assert_eq!(store.list_audit(0, None, 10).await.unwrap().len(), 1);
}
