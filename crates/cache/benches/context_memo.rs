//! Re-hashing an unchanged context: 10,000 memo lookups from a store handle that has not
//! loaded the memo yet (the first lookup loads the context's rows in one query). The target
//! is well under 30 ms for all 10,000.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rbuild_cache::Store;
use rbuild_fileop::memo::{DigestMemo, FileStamp};
use rbuild_oci::Digest;

const FILES: usize = 10_000;

fn stamp(i: usize) -> FileStamp {
    FileStamp {
        size: i as u64,
        mtime_ns: 1_700_000_000_000_000_000 + i as i64,
        ctime_ns: 1_700_000_000_000_000_000 + i as i64,
        inode: 100_000 + i as u64,
        device: 2049,
    }
}

fn memo_lookup(c: &mut Criterion) {
    let root = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = (0..FILES)
        .map(|i| {
            PathBuf::from(format!(
                "/src/project/dir{}/sub{}/file{i}.rs",
                i % 50,
                i % 7
            ))
        })
        .collect();
    {
        let store = Store::open(root.path()).unwrap();
        let entries: Vec<_> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    p.clone(),
                    stamp(i),
                    Digest::of(p.to_string_lossy().as_bytes()),
                )
            })
            .collect();
        store.context_memo().put_many(&entries);
        // Rows of other contexts must not be loaded.
        let others: Vec<_> = (0..FILES)
            .map(|i| {
                (
                    PathBuf::from(format!("/src/other/file{i}")),
                    stamp(i),
                    Digest::of(b"o"),
                )
            })
            .collect();
        store.context_memo().put_many(&others);
    }
    c.bench_function("memo_get_10000_unchanged_files_cold_handle", |b| {
        b.iter_batched(
            || Store::open(root.path()).unwrap(),
            |store| {
                let memo = store.context_memo();
                // The context walk asks for its root directory's files first.
                let first = memo.get(&PathBuf::from("/src/project/top.rs"), &stamp(0));
                assert!(first.is_none());
                for (i, path) in paths.iter().enumerate() {
                    assert!(memo.get(path, &stamp(i)).is_some());
                }
                store
            },
            BatchSize::PerIteration,
        )
    });
}

criterion_group!(benches, memo_lookup);
criterion_main!(benches);
