//! `DigestMemo`: the contract between content hashing (here) and its persistent memo (the
//! store). A memo remembers the content digest of a file under its `FileStamp`, the way git's
//! index does, so that an unchanged file is never read twice.
//!
//! This module defines the contract and an in-memory memo for one process (benchmarks, tests);
//! the store implements the persistent one on SQLite.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rbuild_oci::Digest;

/// What identifies one version of a file without reading it. A memo entry is trusted only
/// while every field still matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub inode: u64,
    pub device: u64,
}

/// A memo of file content digests keyed by absolute path.
pub trait DigestMemo: Sync {
    /// The remembered digest of `path`, if it was recorded under exactly `stamp`.
    fn get(&self, path: &Path, stamp: &FileStamp) -> Option<Digest>;
    /// Remembers digests computed in one hashing pass (one transaction).
    fn put_many(&self, entries: &[(PathBuf, FileStamp, Digest)]);
}

/// A memo that remembers nothing: every file is read.
pub struct NoMemo;

impl DigestMemo for NoMemo {
    fn get(&self, _path: &Path, _stamp: &FileStamp) -> Option<Digest> {
        None
    }
    fn put_many(&self, _entries: &[(PathBuf, FileStamp, Digest)]) {}
}

/// A memo held in memory for the life of the value: what benchmarks and tests use, and what
/// a single process may use when it has no store.
#[derive(Default)]
pub struct InMemoryMemo {
    entries: Mutex<HashMap<PathBuf, (FileStamp, Digest)>>,
}

impl InMemoryMemo {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many files are remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, (FileStamp, Digest)>> {
        // A panic while holding the lock cannot leave a half-written entry behind.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DigestMemo for InMemoryMemo {
    fn get(&self, path: &Path, stamp: &FileStamp) -> Option<Digest> {
        match self.lock().get(path) {
            Some((remembered, digest)) if remembered == stamp => Some(digest.clone()),
            _ => None,
        }
    }

    fn put_many(&self, entries: &[(PathBuf, FileStamp, Digest)]) {
        let mut map = self.lock();
        for (path, stamp, digest) in entries {
            map.insert(path.clone(), (*stamp, digest.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_memo_trusts_only_the_same_stamp() {
        let memo = InMemoryMemo::new();
        let stamp = FileStamp {
            size: 3,
            mtime_ns: 10,
            ctime_ns: 11,
            inode: 7,
            device: 1,
        };
        let digest = Digest::of(b"abc");
        memo.put_many(&[(PathBuf::from("/ctx/a"), stamp, digest.clone())]);
        assert_eq!(memo.get(Path::new("/ctx/a"), &stamp), Some(digest));
        let touched = FileStamp {
            mtime_ns: 12,
            ..stamp
        };
        assert_eq!(memo.get(Path::new("/ctx/a"), &touched), None);
        assert_eq!(memo.get(Path::new("/ctx/b"), &stamp), None);
        assert_eq!(memo.len(), 1);
    }
}
