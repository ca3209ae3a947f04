//! Content-digest throughput on a build context of 10,000 files / 40 MB:
//! - `cold`: selection + hashing every byte (NoMemo); reported as MB/s (target ≥ 500 MB/s on
//!   two cores).
//! - `warm`: selection + digest with every file in an in-memory memo, so no file is read
//!   (target < 30 ms, the walk included).
//!
//! Files are aged an hour so that the memo accepts them (recently modified files are never
//! remembered).

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use filetime::FileTime;
use rbuild_fileop::{
    digest_selection, select_sources, DigestMemo, InMemoryMemo, NoMemo, PathPatterns, SelectOptions,
};

const DIRS: usize = 100;
const FILES_PER_DIR: usize = 100;
const FILE_SIZE: usize = 4_000;

/// Writes the context: `d000/f000.bin` … with pseudo-random bytes, mtimes an hour back.
fn build_context(root: &Path) {
    let past = FileTime::from_unix_time(FileTime::now().unix_seconds() - 3600, 0);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = vec![0u8; FILE_SIZE];
    for d in 0..DIRS {
        let dir = root.join(format!("d{d:03}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..FILES_PER_DIR {
            for byte in bytes.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
            let path = dir.join(format!("f{f:03}.bin"));
            std::fs::write(&path, &bytes).unwrap();
            filetime::set_file_mtime(&path, past).unwrap();
        }
    }
}

fn digest_context(root: &Path, memo: &dyn DigestMemo) -> rbuild_oci::Digest {
    let none = PathPatterns::default();
    let opts = SelectOptions {
        excludes: &none,
        follow_top_symlinks: true,
        allow_empty_wildcard: false,
    };
    let matches = select_sources(root, &[".".to_string()], &opts).unwrap();
    digest_selection(&matches, memo).unwrap()
}

fn content_digest(c: &mut Criterion) {
    let context = tempfile::tempdir().unwrap();
    build_context(context.path());
    let total_bytes = (DIRS * FILES_PER_DIR * FILE_SIZE) as u64;

    let mut group = c.benchmark_group("content_digest_10k_files_40MB");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(total_bytes));
    group.bench_function("cold", |b| {
        b.iter(|| digest_context(context.path(), &NoMemo))
    });

    let memo = InMemoryMemo::new();
    let cold = digest_context(context.path(), &memo);
    assert_eq!(
        memo.len(),
        DIRS * FILES_PER_DIR,
        "every file should be remembered"
    );
    group.bench_function("warm", |b| {
        b.iter(|| assert_eq!(digest_context(context.path(), &memo), cold));
    });
    group.finish();
}

criterion_group!(benches, content_digest);
criterion_main!(benches);
