//! `CopyFileRecords`: for a COPY result, which regular file of its layer holds which
//! content digest, so that a later COPY of almost the same selection can link the unchanged
//! files from that snapshot instead of writing them (incremental COPY).
//!
//! One record per *base* (the solver's digest of a COPY instruction and its parent, without
//! the selection's content): the newest result replaces the one before. A record is only a
//! hint: the snapshot it names may be gone, and every file is checked against it before it
//! is shared. What a base means and how files are compared is the solver's and fileop's
//! business; this module stores and bounds the records.

use std::sync::Arc;

use rbuild_oci::Digest;
use rusqlite::{params, OptionalExtension};

use crate::chain::SnapshotChain;
use crate::db::unix_seconds;
use crate::error::{DbContext, StoreError};
use crate::store::Shared;

/// Records kept (newest first); older ones only cost a full copy.
const KEEP_RECORDS: i64 = 200;
const ZSTD_LEVEL: i32 = 3;
/// Refuses to inflate a stored record beyond this size (a corrupt length field).
const MAX_RECORD_BYTES: usize = 1 << 30;

/// The files of one COPY result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyFiles {
    /// The chain whose top layer is the COPY's.
    pub chain: SnapshotChain,
    /// In-layer path (no leading `/`) → content digest, for every regular file the COPY
    /// wrote from its selection.
    pub files: Vec<(String, Digest)>,
}

/// The `copy_files` table.
#[derive(Debug)]
pub struct CopyFileRecords {
    shared: Arc<Shared>,
}

impl CopyFileRecords {
    pub(crate) fn new(shared: Arc<Shared>) -> CopyFileRecords {
        CopyFileRecords { shared }
    }

    /// Keeps `record` as the newest result of `base`, replacing the one before.
    pub fn put(&self, base: &Digest, record: &CopyFiles) -> Result<(), StoreError> {
        let compressed = zstd::bulk::compress(encode(record).as_bytes(), ZSTD_LEVEL)
            .map_err(|e| StoreError::corrupt("copy file record", e.to_string()))?;
        self.shared.db.write("storing a copy file record", |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO copy_files (base, record, created) VALUES (?1, ?2, ?3)",
                params![base.to_string(), compressed, unix_seconds()],
            )
            .db("storing a copy file record")?;
            tx.execute(
                "DELETE FROM copy_files WHERE rowid NOT IN
                 (SELECT rowid FROM copy_files ORDER BY created DESC, rowid DESC LIMIT ?1)",
                [KEEP_RECORDS],
            )
            .db("trimming copy file records")?;
            Ok(())
        })
    }

    /// The newest record of `base`; `None` when there is none or it cannot be read.
    pub fn get(&self, base: &Digest) -> Result<Option<CopyFiles>, StoreError> {
        let compressed: Option<Vec<u8>> =
            self.shared.db.read("reading a copy file record", |c| {
                c.prepare_cached("SELECT record FROM copy_files WHERE base = ?1")?
                    .query_row([base.to_string()], |row| row.get(0))
                    .optional()
            })?;
        let Some(compressed) = compressed else {
            return Ok(None);
        };
        let text = zstd::bulk::decompress(&compressed, MAX_RECORD_BYTES)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        Ok(text.and_then(|text| decode(&text)))
    }
}

/// `chain <diff id>…` on the first line, then `<digest>\t<path>` per file (paths last, so
/// a tab in one needs no escape; a newline in a path leaves the file out of the record).
fn encode(record: &CopyFiles) -> String {
    let mut text = String::from("chain");
    for layer in &record.chain.layers {
        text.push(' ');
        text.push_str(&layer.to_string());
    }
    text.push('\n');
    for (path, digest) in &record.files {
        if path.contains('\n') {
            continue;
        }
        text.push_str(&digest.to_string());
        text.push('\t');
        text.push_str(path);
        text.push('\n');
    }
    text
}

fn decode(text: &str) -> Option<CopyFiles> {
    let mut lines = text.lines();
    let layers = lines
        .next()?
        .strip_prefix("chain")?
        .split_whitespace()
        .map(|d| d.parse().ok())
        .collect::<Option<Vec<Digest>>>()?;
    let files = lines
        .map(|line| {
            let (digest, path) = line.split_once('\t')?;
            Some((path.to_string(), digest.parse().ok()?))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(CopyFiles {
        chain: SnapshotChain { layers },
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    fn record(content: &str) -> CopyFiles {
        CopyFiles {
            chain: SnapshotChain {
                layers: vec![Digest::of(b"base"), Digest::of(content.as_bytes())],
            },
            files: vec![
                ("app/a\tb".to_string(), Digest::of(b"a")),
                ("app/c".to_string(), Digest::of(content.as_bytes())),
            ],
        }
    }

    #[test]
    fn the_newest_record_of_a_base_replaces_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let base = Digest::of(b"COPY . /app");
        assert_eq!(store.copy_files().get(&base).unwrap(), None);
        store.copy_files().put(&base, &record("one")).unwrap();
        assert_eq!(store.copy_files().get(&base).unwrap(), Some(record("one")));
        store.copy_files().put(&base, &record("two")).unwrap();
        assert_eq!(store.copy_files().get(&base).unwrap(), Some(record("two")));
        let other = Digest::of(b"COPY . /srv");
        assert_eq!(store.copy_files().get(&other).unwrap(), None);
    }
}
