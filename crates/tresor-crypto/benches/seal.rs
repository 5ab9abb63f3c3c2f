//! Seal and open of one value: the crypto share of every write and every uncached read.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tresor_crypto::{DataKey, EntryAad};
use tresor_model::EntryKind;

fn bench(c: &mut Criterion) {
    let dk = DataKey::generate(1).unwrap();
    let aad = EntryAad {
        workspace: "default",
        environment: "prod",
        vault: "api-keys",
        key: "stripe",
        version: 1,
        kind: EntryKind::Secret,
    };
    let mut group = c.benchmark_group("aead");
    for size in [32usize, 1024, 8192] {
        let value = vec![b'x'; size];
        let sealed = dk.seal(&aad, &value).unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("seal", size), &value, |b, v| b.iter(|| dk.seal(&aad, v).unwrap()));
        group.bench_with_input(BenchmarkId::new("open", size), &sealed, |b, s| b.iter(|| dk.open(&aad, s).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
