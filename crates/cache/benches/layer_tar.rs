//! Throughput of regenerating a layer tar from a snapshot directory (what commit hashes and
//! what export streams): sha256 of the deterministic tar of a mixed tree.

use std::fs;
use std::io;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rbuild_cache::{SnapshotChain, Store};

/// 2,000 small files in 40 directories plus 16 files of 1 MiB (about 48 MiB in all).
fn populate(dir: &std::path::Path) {
    for i in 0..2_000 {
        let sub = dir.join(format!("pkg{}", i % 40));
        fs::create_dir_all(&sub).unwrap();
        fs::write(
            sub.join(format!("file{i}.txt")),
            vec![(i % 251) as u8; 4096 + i * 7],
        )
        .unwrap();
    }
    for i in 0..16 {
        fs::write(dir.join(format!("blob{i}.bin")), vec![i as u8; 1 << 20]).unwrap();
    }
}

fn tar_from_snapshot(c: &mut Criterion) {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let upper = store.layers().new_upper().unwrap();
    populate(upper.upper());
    let chain = store
        .layers()
        .commit(&SnapshotChain::default(), upper, Some(1_600_000_000))
        .unwrap();
    let size = store.layers().layer_size(&chain.layers[0]).unwrap();

    let mut group = c.benchmark_group("layer_tar");
    group.throughput(Throughput::Bytes(size));
    group.sample_size(10);
    group.bench_function("tar_and_digest_from_snapshot", |b| {
        b.iter(|| {
            store
                .layers()
                .write_layer_tar(&chain, 0, &mut io::sink())
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, tar_from_snapshot);
criterion_main!(benches);
