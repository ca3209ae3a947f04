//! Hashing a build context of 10,000 files / 40 MB the way a build does: selection (walk +
//! lstat), then content digests through the store's persistent memo, from a store handle
//! opened afresh (as a new `rbuild` process would). Each measurement has a baseline run in the
//! same invocation:
//! - `warm` (every file in the memo; target < 30 ms, no file bytes read) against `walk`,
//!   the selection alone, which any re-hash must do;
//! - `cold` (no memo; target >= 500 MB/s on two cores) against `read`, reading every byte
//!   in parallel without hashing.
//!
//! `bench/context-hash` runs this and prints medians and ratios. That a warm re-hash reads
//! no file bytes is pinned by `tests/context_rehash.rs`.

#[path = "../tests/support/settled_context.rs"]
mod settled_context;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rayon::prelude::*;
use rbuild_cache::Store;
use rbuild_fileop::{digest_selection, NoMemo};
use settled_context::{select_everything, write_settled_context};

const DIRS: usize = 100;
const FILES_PER_DIR: usize = 100;
const FILE_SIZE: usize = 4_000;
const TOTAL_BYTES: u64 = (DIRS * FILES_PER_DIR * FILE_SIZE) as u64;

/// What a build does: select while the context's memo rows load, then digest.
fn rehash(store: &Store, root: &Path) -> rbuild_oci::Digest {
    let (matches, ()) = rayon::join(
        || select_everything(root),
        || store.context_memo().preload(root),
    );
    digest_selection(&matches, store.context_memo()).unwrap()
}

fn read_everything(files: &[PathBuf]) -> u64 {
    files
        .par_iter()
        .map(|path| {
            let mut buffer = Vec::with_capacity(FILE_SIZE);
            File::open(path).unwrap().read_to_end(&mut buffer).unwrap() as u64
        })
        .sum()
}

fn context_rehash(c: &mut Criterion) {
    let context = tempfile::tempdir().unwrap();
    let root = context.path().canonicalize().unwrap();
    write_settled_context(&root, DIRS, FILES_PER_DIR, FILE_SIZE);
    let store_dir = tempfile::tempdir().unwrap();
    let expected = {
        let store = Store::open(store_dir.path()).unwrap();
        rehash(&store, &root)
    };

    let mut group = c.benchmark_group("context_10k_files_40MB");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("walk", |b| b.iter(|| select_everything(&root)));
    group.bench_function("warm", |b| {
        b.iter_batched(
            || Store::open(store_dir.path()).unwrap(),
            |store| {
                assert_eq!(rehash(&store, &root), expected);
                store
            },
            BatchSize::PerIteration,
        )
    });
    group.throughput(Throughput::Bytes(TOTAL_BYTES));
    let files: Vec<PathBuf> = walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    group.bench_function("read", |b| b.iter(|| read_everything(&files)));
    group.bench_function("cold", |b| {
        b.iter(|| {
            assert_eq!(
                digest_selection(&select_everything(&root), &NoMemo).unwrap(),
                expected
            )
        })
    });
    group.finish();
}

criterion_group!(benches, context_rehash);
criterion_main!(benches);
