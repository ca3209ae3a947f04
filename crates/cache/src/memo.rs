//! `ContextMemo`: the persistent memo of context file digests, keyed by absolute path and
//! trusted only while size, mtime, ctime, inode and device all still match (git's index
//! idea), so that re-hashing an unchanged context reads no file bytes.
//!
//! Lookups are served from memory: the first lookup under a directory loads the memo rows
//! of that whole subtree in one range query, so a context of thousands of files costs one
//! query, not one per file. Computing digests is fileop's business.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rbuild_fileop::memo::{DigestMemo, FileStamp};
use rbuild_oci::Digest;
use rusqlite::{params, Connection};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::db::{from_sql_int, to_sql_int};
use crate::error::DbContext;
use crate::layers::digest_column;
use crate::store::Shared;

/// Context file digests remembered across builds (implements `DigestMemo`).
#[derive(Debug)]
pub struct ContextMemo {
    shared: Arc<Shared>,
    cache: RwLock<LoadedRows>,
}

/// Memo rows in memory, keyed by path bytes (hashing bytes is several times cheaper than
/// hashing `Path`s component by component) with FxHash: the keys are the paths of one's
/// own context, so a DoS-resistant hash buys nothing, and SipHash cost a no-op rebuild of
/// 10,000 files about a millisecond.
#[derive(Debug, Default)]
struct LoadedRows {
    /// Directories whose whole subtree is in `entries`.
    subtrees: FxHashSet<Vec<u8>>,
    entries: FxHashMap<Vec<u8>, (FileStamp, Digest)>,
}

impl LoadedRows {
    /// Whether `dir` or one of its ancestors has been loaded.
    fn covers(&self, dir: &[u8]) -> bool {
        if self.subtrees.contains(dir) {
            return true;
        }
        dir.iter()
            .enumerate()
            .rev()
            .filter(|&(_, &b)| b == b'/')
            .any(|(i, _)| self.subtrees.contains(&dir[..i.max(1)]))
    }

    fn lookup(&self, path: &[u8], stamp: &FileStamp) -> Option<Digest> {
        self.entries
            .get(path)
            .filter(|(recorded, _)| recorded == stamp)
            .map(|(_, digest)| digest.clone())
    }
}

fn bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

impl ContextMemo {
    pub(crate) fn new(shared: Arc<Shared>) -> ContextMemo {
        ContextMemo {
            shared,
            cache: RwLock::new(LoadedRows::default()),
        }
    }

    /// Loads the rows of every file below `dir` (a context root about to be hashed) in one
    /// query, so lookups made in any order never query again.
    pub fn preload(&self, dir: &Path) {
        self.load_subtree(dir);
    }

    /// Loads the memo rows of every path below `dir` unless they are loaded already.
    fn load_subtree(&self, dir: &Path) {
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.covers(bytes(dir)) {
            return;
        }
        match self
            .shared
            .db
            .read("loading the context memo", |c| rows_below(c, dir))
        {
            Ok(rows) => {
                cache.entries.extend(rows);
                cache.subtrees.insert(bytes(dir).to_vec());
            }
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "context memo unavailable"),
        }
    }
}

impl DigestMemo for ContextMemo {
    fn get(&self, path: &Path, stamp: &FileStamp) -> Option<Digest> {
        let dir = path.parent()?;
        {
            let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
            if cache.covers(bytes(dir)) {
                return cache.lookup(bytes(path), stamp);
            }
        }
        self.load_subtree(dir);
        self.cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .lookup(bytes(path), stamp)
    }

    fn put_many(&self, entries: &[(PathBuf, FileStamp, Digest)]) {
        if entries.is_empty() {
            return;
        }
        let written = self.shared.db.write("updating the context memo", |tx| {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO context_memo
                     (path, size, mtime_ns, ctime_ns, inode, device, digest)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .db("updating the context memo")?;
            for (path, stamp, digest) in entries {
                insert
                    .execute(params![
                        bytes(path),
                        to_sql_int(stamp.size),
                        stamp.mtime_ns,
                        stamp.ctime_ns,
                        to_sql_int(stamp.inode),
                        to_sql_int(stamp.device),
                        digest.to_string(),
                    ])
                    .db("updating the context memo")?;
            }
            Ok(())
        });
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot update the context memo");
            return;
        }
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        for (path, stamp, digest) in entries {
            if path.parent().is_some_and(|dir| cache.covers(bytes(dir))) {
                cache
                    .entries
                    .insert(bytes(path).to_vec(), (*stamp, digest.clone()));
            }
        }
    }
}

/// A memo row: path bytes, the stamp it was recorded under, and the digest.
type MemoRow = (Vec<u8>, (FileStamp, Digest));

/// Every memo row whose path lies below `dir`, by one index range scan.
fn rows_below(conn: &Connection, dir: &Path) -> rusqlite::Result<Vec<MemoRow>> {
    let mut low = bytes(dir).to_vec();
    if low.last() != Some(&b'/') {
        low.push(b'/');
    }
    // Paths below `dir` start with "<dir>/"; '0' is the byte after '/'.
    let mut high = low.clone();
    if let Some(last) = high.last_mut() {
        *last = b'0';
    }
    let mut query = conn.prepare_cached(
        "SELECT path, size, mtime_ns, ctime_ns, inode, device, digest FROM context_memo
         WHERE path >= ?1 AND path < ?2",
    )?;
    let rows = query.query_map(params![low, high], |row| {
        let path: Vec<u8> = row.get(0)?;
        let stamp = FileStamp {
            size: from_sql_int(row.get(1)?),
            mtime_ns: row.get(2)?,
            ctime_ns: row.get(3)?,
            inode: from_sql_int(row.get(4)?),
            device: from_sql_int(row.get(5)?),
        };
        Ok((path, (stamp, digest_column(row, 6)?)))
    })?;
    rows.collect()
}

/// Approximate bytes the memo occupies in the database.
pub(crate) fn memo_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COALESCE(SUM(LENGTH(path) + LENGTH(digest) + 40), 0) FROM context_memo",
        [],
        |row| row.get::<_, i64>(0),
    )
    .map(from_sql_int)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    fn stamp(size: u64) -> FileStamp {
        FileStamp {
            size,
            mtime_ns: 1_700_000_000_000_000_000,
            ctime_ns: 1_700_000_000_000_000_001,
            inode: 42 + size,
            device: 7,
        }
    }

    #[test]
    fn memo_round_trips_across_store_handles_and_checks_every_stamp_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = PathBuf::from("/ctx/src/main.rs");
        let digest = Digest::of(b"fn main() {}");
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.context_memo().get(&path, &stamp(12)), None);
            store
                .context_memo()
                .put_many(&[(path.clone(), stamp(12), digest.clone())]);
            // Visible at once in the handle that wrote it.
            assert_eq!(
                store.context_memo().get(&path, &stamp(12)),
                Some(digest.clone())
            );
        }
        let store = Store::open(dir.path()).unwrap();
        let memo = store.context_memo();
        assert_eq!(memo.get(&path, &stamp(12)), Some(digest));
        let mut touched = stamp(12);
        touched.ctime_ns += 1;
        assert_eq!(memo.get(&path, &touched), None);
        let mut moved = stamp(12);
        moved.inode += 1;
        assert_eq!(memo.get(&path, &moved), None);
    }

    #[test]
    fn subtree_loads_do_not_leak_neighbouring_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let inside = PathBuf::from("/ctx/a/file");
        let sibling = PathBuf::from("/ctx/a-b/file");
        let d = Digest::of(b"x");
        store.context_memo().put_many(&[
            (inside.clone(), stamp(1), d.clone()),
            (sibling.clone(), stamp(1), d.clone()),
        ]);
        let rows = store
            .shared()
            .db
            .read("t", |c| rows_below(c, Path::new("/ctx/a")))
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, bytes(&inside));
        let all = store
            .shared()
            .db
            .read("t", |c| rows_below(c, Path::new("/")))
            .unwrap();
        assert_eq!(all.len(), 2);
    }
}
