//! A build context for the context-hashing test and benchmark: `d<N>/f<M>` files of
//! pseudo-random bytes, an hour old (recently modified files are never remembered), the
//! selection a `COPY . ...` makes of it, and this process's read counter.

#![allow(dead_code)]

use std::path::Path;

use filetime::FileTime;
use rbuild_fileop::{select_sources, PathPatterns, SelectOptions, SourceMatch};

/// Writes `dirs` × `files_per_dir` files of `size` bytes below `root`.
pub fn write_settled_context(root: &Path, dirs: usize, files_per_dir: usize, size: usize) {
    let past = FileTime::from_unix_time(FileTime::now().unix_seconds() - 3600, 0);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = vec![0u8; size];
    for d in 0..dirs {
        let dir = root.join(format!("d{d:03}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..files_per_dir {
            for byte in bytes.iter_mut() {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                *byte = (state >> 56) as u8;
            }
            let path = dir.join(format!("f{f:03}.bin"));
            std::fs::write(&path, &bytes).unwrap();
            filetime::set_file_mtime(&path, past).unwrap();
        }
    }
}

/// Everything below `root`, as `COPY . /dest/` selects it.
pub fn select_everything(root: &Path) -> Vec<SourceMatch> {
    let none = PathPatterns::default();
    let opts = SelectOptions {
        excludes: &none,
        follow_top_symlinks: true,
        allow_empty_wildcard: false,
    };
    select_sources(root, &[".".to_string()], &opts).unwrap()
}

/// Bytes this process has read through read(2) and friends so far (`/proc/self/io` rchar).
pub fn bytes_read_so_far() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("rchar: "))
                .and_then(|v| v.trim().parse().ok())
        })
        .expect("/proc/self/io has rchar")
}
