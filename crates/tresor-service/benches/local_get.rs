//! A `get` through the service as the CLI and server call it: grant check, cached sealed value,
//! open, and the durable audit record (one group-commit per call here, as nothing else is waiting).
//! Measured beside the bare store read in the same run, so the service's own cost shows as a ratio.

use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;
use tresor_crypto::RootKey;
use tresor_model::{EntryKey, EntryKind, EntryPath, EnvName, VaultName, WorkspaceName};
use tresor_service::{Caller, Ctx, Limits, Service, SetEntry};
use tresor_store::{SqliteStore, Store};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("tresor.db")).unwrap());
    let svc = rt.block_on(Service::open(store.clone(), RootKey::generate().unwrap().0, Limits::default())).unwrap();
    let ctx = Ctx::new(Arc::new(Caller::owner(WorkspaceName::default_name(), "bench")), "bench");
    let path = EntryPath {
        workspace: WorkspaceName::default_name(),
        environment: EnvName::default_name(),
        vault: VaultName::default_name(),
        key: EntryKey::new("db/password").unwrap(),
    };
    rt.block_on(async {
        svc.bootstrap(&path.workspace).await.unwrap();
        let req = SetEntry::new(path.clone(), EntryKind::Secret, "correct-horse-battery-staple".into());
        svc.set(&ctx, req).await.unwrap();
    });
    let mut group = c.benchmark_group("local_get");
    group.bench_function("store_read_version (baseline)", |b| {
        b.iter(|| rt.block_on(store.read_version(&path, None)).unwrap().unwrap())
    });
    group.bench_function("service_get", |b| b.iter(|| rt.block_on(svc.get(&ctx, &path, None)).unwrap()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
