//! `DigestMemo`: the contract between content hashing (here) and its persistent memo (the
//! store). A memo remembers the content digest of a file under its `FileStamp`, the way git's
//! index does, so that an unchanged file is never read twice.
//!
//! This module only defines the contract; the store implements it on SQLite.

use std::path::Path;

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
    fn put_many(&self, entries: &[(std::path::PathBuf, FileStamp, Digest)]);
}

/// A memo that remembers nothing: every file is read.
pub struct NoMemo;

impl DigestMemo for NoMemo {
    fn get(&self, _path: &Path, _stamp: &FileStamp) -> Option<Digest> {
        None
    }
    fn put_many(&self, _entries: &[(std::path::PathBuf, FileStamp, Digest)]) {}
}
