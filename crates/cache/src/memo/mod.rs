//! `ContextMemo`: the persistent memo of context file digests, keyed by absolute path and
//! trusted only while size, mtime, ctime, inode and device all still match (git's index
//! idea), so that re-hashing an unchanged context reads no file bytes.
//!
//! The database holds one row per directory (`dir_rows`). Lookups are served from memory:
//! the first lookup under a directory loads the rows of that whole subtree in one range
//! query, so a context of thousands of files costs one query and a row per directory, not
//! one per file. Computing digests is fileop's business.

mod dir_rows;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rbuild_fileop::memo::{DigestMemo, FileStamp};
use rbuild_oci::Digest;
use rusqlite::{params, Connection, OptionalExtension};
use rustc_hash::{FxHashMap, FxHashSet};

use self::dir_rows::{DirRows, Remembered};
use crate::db::from_sql_int;
use crate::error::DbContext;
use crate::store::Shared;

/// Context file digests remembered across builds (implements `DigestMemo`).
#[derive(Debug)]
pub struct ContextMemo {
    shared: Arc<Shared>,
    cache: RwLock<LoadedRows>,
}

/// Memo rows in memory, keyed by directory path bytes (hashing bytes is several times
/// cheaper than hashing `Path`s component by component) with FxHash: the keys are the paths
/// of one's own context, so a DoS-resistant hash buys nothing.
#[derive(Debug, Default)]
struct LoadedRows {
    /// Directories whose whole subtree is in `dirs`.
    subtrees: FxHashSet<Vec<u8>>,
    dirs: FxHashMap<Vec<u8>, DirRows>,
}

impl LoadedRows {
    /// Whether `dir` or one of its ancestors has been loaded.
    fn covers(&self, dir: &[u8]) -> bool {
        if self.dirs.contains_key(dir) || self.subtrees.contains(dir) {
            return true;
        }
        dir.iter()
            .enumerate()
            .rev()
            .filter(|&(_, &b)| b == b'/')
            .any(|(i, _)| self.subtrees.contains(&dir[..i.max(1)]))
    }

    fn lookup(&self, dir: &[u8], name: &[u8], stamp: &FileStamp) -> Option<Digest> {
        let (recorded, digest) = self.dirs.get(dir)?.get(name)?;
        (recorded == *stamp).then(|| Digest::from_bytes(&digest))
    }
}

fn bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

/// A file path as its directory and name.
fn split(path: &Path) -> Option<(&[u8], &[u8])> {
    Some((bytes(path.parent()?), path.file_name()?.as_bytes()))
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
                cache.dirs.extend(rows);
                cache.subtrees.insert(bytes(dir).to_vec());
            }
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "context memo unavailable"),
        }
    }
}

impl DigestMemo for ContextMemo {
    fn get(&self, path: &Path, stamp: &FileStamp) -> Option<Digest> {
        let (dir, name) = split(path)?;
        {
            let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
            if cache.covers(dir) {
                return cache.lookup(dir, name, stamp);
            }
        }
        self.load_subtree(Path::new(OsStr::from_bytes(dir)));
        self.cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .lookup(dir, name, stamp)
    }

    fn put_many(&self, entries: &[(PathBuf, FileStamp, Digest)]) {
        let mut by_dir: BTreeMap<&[u8], Vec<(&[u8], Remembered)>> = BTreeMap::new();
        for (path, stamp, digest) in entries {
            if let Some((dir, name)) = split(path) {
                by_dir
                    .entry(dir)
                    .or_default()
                    .push((name, (*stamp, digest.to_bytes())));
            }
        }
        if by_dir.is_empty() {
            return;
        }
        let written = self.shared.db.write("updating the context memo", |tx| {
            by_dir
                .iter()
                .map(|(dir, files)| Ok((dir.to_vec(), merge_into_row(tx, dir, files)?)))
                .collect::<Result<Vec<_>, _>>()
                .db("updating the context memo")
        });
        let rows = match written {
            Ok(rows) => rows,
            Err(e) => return tracing::warn!(error = %e, "cannot update the context memo"),
        };
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        for (dir, row) in rows {
            if cache.covers(&dir) {
                cache.dirs.insert(dir, row);
            }
        }
    }
}

/// Adds `files` to the row of `dir` (replacing entries of the same names) and returns the
/// row as written.
fn merge_into_row(
    conn: &Connection,
    dir: &[u8],
    files: &[(&[u8], Remembered)],
) -> rusqlite::Result<DirRows> {
    let stored: Option<Vec<u8>> = conn
        .prepare_cached("SELECT files FROM context_memo WHERE dir = ?1")?
        .query_row(params![dir], |row| row.get(0))
        .optional()?;
    let mut merged: BTreeMap<Vec<u8>, Remembered> = stored
        .and_then(DirRows::decode)
        .map(|rows| rows.entries().map(|(n, r)| (n.to_vec(), r)).collect())
        .unwrap_or_default();
    merged.extend(files.iter().map(|(name, r)| (name.to_vec(), *r)));
    let blob = DirRows::encode(&merged);
    conn.prepare_cached("INSERT OR REPLACE INTO context_memo (dir, files) VALUES (?1, ?2)")?
        .execute(params![dir, blob])?;
    Ok(DirRows::decode(blob).unwrap_or_default())
}

/// The rows of `dir` and of every directory below it, by one index range scan. A row that
/// does not decode is left out (its files are hashed again and the row rewritten).
fn rows_below(conn: &Connection, dir: &Path) -> rusqlite::Result<Vec<(Vec<u8>, DirRows)>> {
    let exact = bytes(dir);
    let mut low = exact.to_vec();
    if low.last() != Some(&b'/') {
        low.push(b'/');
    }
    // Paths below `dir` start with "<dir>/"; '0' is the byte after '/'.
    let mut high = low.clone();
    if let Some(last) = high.last_mut() {
        *last = b'0';
    }
    let mut query = conn.prepare_cached(
        "SELECT dir, files FROM context_memo WHERE dir = ?1 OR (dir >= ?2 AND dir < ?3)",
    )?;
    let rows = query.query_map(params![exact, low, high], |row| {
        Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?))
    })?;
    let mut loaded = Vec::new();
    for row in rows {
        let (dir, blob) = row?;
        match DirRows::decode(blob) {
            Some(decoded) => loaded.push((dir, decoded)),
            None => {
                tracing::warn!(dir = %String::from_utf8_lossy(&dir), "damaged context memo row")
            }
        }
    }
    Ok(loaded)
}

/// Approximate bytes the memo occupies in the database.
pub(crate) fn memo_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COALESCE(SUM(LENGTH(dir) + LENGTH(files) + 16), 0) FROM context_memo",
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
        assert_eq!(rows[0].0, b"/ctx/a");
        assert_eq!(rows[0].1.len(), 1);
        let all = store
            .shared()
            .db
            .read("t", |c| rows_below(c, Path::new("/")))
            .unwrap();
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn writes_merge_into_the_directory_row_and_a_damaged_row_is_ignored_then_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (PathBuf::from("/ctx/d/a"), PathBuf::from("/ctx/d/b"));
        let (da, db) = (Digest::of(b"a"), Digest::of(b"b"));
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .context_memo()
                .put_many(&[(a.clone(), stamp(1), da.clone())]);
            store
                .context_memo()
                .put_many(&[(b.clone(), stamp(2), db.clone())]);
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.context_memo().get(&a, &stamp(1)), Some(da.clone()));
        assert_eq!(store.context_memo().get(&b, &stamp(2)), Some(db.clone()));
        store
            .shared()
            .db
            .write("t", |tx| {
                tx.execute("UPDATE context_memo SET files = x'0500616263'", [])
                    .db("t")
            })
            .unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.context_memo().get(&a, &stamp(1)), None);
        store
            .context_memo()
            .put_many(&[(b.clone(), stamp(2), db.clone())]);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.context_memo().get(&a, &stamp(1)), None);
        assert_eq!(store.context_memo().get(&b, &stamp(2)), Some(db));
    }
}
