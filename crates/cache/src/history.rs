//! `BuildHistory`: what earlier builds on this store did, so that a later build can say why a
//! step missed the cache (`--explain`). A build record holds the build's identity (context
//! directory and Dockerfile name), its time and an opaque document written by the solver
//! (per step: position, key, key material); context listings (path → short digest, one per
//! distinct selection digest) make file-level differences possible.
//!
//! Both are stored zstd-compressed and kept bounded: the newest builds per identity and
//! overall, and only the listings those builds reference. What the documents mean is the
//! solver's business; this module stores and trims them.

use std::io::Read;
use std::sync::Arc;

use rbuild_oci::Digest;
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::db::unix_seconds;
use crate::error::{DbContext, StoreError};
use crate::store::Shared;

/// Builds kept per (context directory, Dockerfile) identity.
const KEEP_PER_IDENTITY: i64 = 5;
/// Builds kept overall.
const KEEP_TOTAL: i64 = 500;
/// Unreferenced listings younger than this are kept: a running build may have stored one
/// that its record (written when it finishes) will reference.
const LISTING_GRACE_SECONDS: i64 = 3600;
const ZSTD_LEVEL: i32 = 3;
/// Refuses to inflate a stored document beyond this size (a corrupt length field).
const MAX_DOCUMENT_BYTES: u64 = 1 << 30;

/// One finished build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildRecord {
    pub id: String,
    /// The canonical build context directory.
    pub context_dir: String,
    /// The Dockerfile's name as the build showed it (`Dockerfile`, `docker/app.Dockerfile`).
    pub dockerfile: String,
    /// When the build started (Unix seconds).
    pub created: i64,
    /// The solver's per-step document.
    pub document: String,
    /// Context listings the document refers to (kept as long as the record).
    pub listings: Vec<Digest>,
}

/// Build records and context listings.
#[derive(Debug)]
pub struct BuildHistory {
    shared: Arc<Shared>,
}

impl BuildHistory {
    pub(crate) fn new(shared: Arc<Shared>) -> BuildHistory {
        BuildHistory { shared }
    }

    /// Stores `record` (replacing one with the same id) and trims old records and the
    /// listings nothing references any more.
    pub fn record(&self, record: &BuildRecord) -> Result<(), StoreError> {
        let document = compress(record.document.as_bytes())?;
        self.shared.db.write("recording a build", |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO builds (id, context_dir, dockerfile, created, document)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    record.id,
                    record.context_dir,
                    record.dockerfile,
                    record.created,
                    document
                ],
            )
            .db("recording a build")?;
            let mut link = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO build_listings (build_id, digest) VALUES (?1, ?2)",
                )
                .db("linking context listings")?;
            for digest in &record.listings {
                link.execute(params![record.id, digest.to_string()])
                    .db("linking context listings")?;
            }
            trim(tx, record).db("trimming build history")
        })
    }

    /// The newest build of `dockerfile` in `context_dir`.
    pub fn latest(
        &self,
        context_dir: &str,
        dockerfile: &str,
    ) -> Result<Option<BuildRecord>, StoreError> {
        let found = self.shared.db.read("reading build history", |c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM builds WHERE context_dir = ?1 AND dockerfile = ?2
                 ORDER BY created DESC, rowid DESC LIMIT 1"
            ))?
            .query_row(params![context_dir, dockerfile], stored_build)
            .optional()
        })?;
        found.map(|stored| self.complete(stored)).transpose()
    }

    /// The newest `limit` builds of a Dockerfile named `dockerfile`, in any context
    /// directory, newest first.
    pub fn recent(&self, dockerfile: &str, limit: usize) -> Result<Vec<BuildRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let found: Vec<StoredBuild> = self.shared.db.read("reading build history", |c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM builds WHERE dockerfile = ?1
                 ORDER BY created DESC, rowid DESC LIMIT ?2"
            ))?
            .query_map(params![dockerfile, limit], stored_build)?
            .collect()
        })?;
        found
            .into_iter()
            .map(|stored| self.complete(stored))
            .collect()
    }

    /// The build recorded as `id`, if it is still kept.
    pub fn get(&self, id: &str) -> Result<Option<BuildRecord>, StoreError> {
        let found = self.shared.db.read("reading build history", |c| {
            c.prepare_cached(&format!("SELECT {COLUMNS} FROM builds WHERE id = ?1"))?
                .query_row([id], stored_build)
                .optional()
        })?;
        found.map(|stored| self.complete(stored)).transpose()
    }

    /// Whether a listing for selection `digest` is stored.
    pub fn has_listing(&self, digest: &Digest) -> Result<bool, StoreError> {
        self.shared.db.read("looking up a context listing", |c| {
            c.prepare_cached("SELECT 1 FROM context_listings WHERE digest = ?1")?
                .query_row([digest.to_string()], |_| Ok(()))
                .optional()
                .map(|found| found.is_some())
        })
    }

    /// Stores the listing of selection `digest` (kept if one is stored already).
    pub fn put_listing(&self, digest: &Digest, listing: &str) -> Result<(), StoreError> {
        let compressed = compress(listing.as_bytes())?;
        self.shared.db.write("storing a context listing", |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO context_listings (digest, listing, created)
                 VALUES (?1, ?2, ?3)",
                params![digest.to_string(), compressed, unix_seconds()],
            )
            .db("storing a context listing")?;
            Ok(())
        })
    }

    /// The listing of selection `digest`, if stored.
    pub fn listing(&self, digest: &Digest) -> Result<Option<String>, StoreError> {
        let compressed: Option<Vec<u8>> =
            self.shared.db.read("reading a context listing", |c| {
                c.prepare_cached("SELECT listing FROM context_listings WHERE digest = ?1")?
                    .query_row([digest.to_string()], |row| row.get(0))
                    .optional()
            })?;
        compressed
            .map(|bytes| decompress(&bytes, &format!("context listing {digest}")))
            .transpose()
    }

    fn complete(&self, stored: StoredBuild) -> Result<BuildRecord, StoreError> {
        let context = format!("build record {}", stored.id);
        let document = decompress(&stored.document, &context)?;
        let listings = self.shared.db.read("reading build history", |c| {
            c.prepare_cached("SELECT digest FROM build_listings WHERE build_id = ?1")?
                .query_map([&stored.id], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        })?;
        Ok(BuildRecord {
            id: stored.id,
            context_dir: stored.context_dir,
            dockerfile: stored.dockerfile,
            created: stored.created,
            document,
            listings: listings.iter().filter_map(|d| d.parse().ok()).collect(),
        })
    }
}

const COLUMNS: &str = "id, context_dir, dockerfile, created, document";

/// A build row before its document is decompressed.
struct StoredBuild {
    id: String,
    context_dir: String,
    dockerfile: String,
    created: i64,
    document: Vec<u8>,
}

fn stored_build(row: &Row<'_>) -> rusqlite::Result<StoredBuild> {
    Ok(StoredBuild {
        id: row.get(0)?,
        context_dir: row.get(1)?,
        dockerfile: row.get(2)?,
        created: row.get(3)?,
        document: row.get(4)?,
    })
}

/// Drops builds beyond the per-identity and total bounds (their listing links go with them)
/// and listings no build references that are past the grace period.
fn trim(conn: &Connection, newest: &BuildRecord) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM builds WHERE context_dir = ?1 AND dockerfile = ?2 AND rowid NOT IN
         (SELECT rowid FROM builds WHERE context_dir = ?1 AND dockerfile = ?2
          ORDER BY created DESC, rowid DESC LIMIT ?3)",
        params![newest.context_dir, newest.dockerfile, KEEP_PER_IDENTITY],
    )?;
    conn.execute(
        "DELETE FROM builds WHERE rowid NOT IN
         (SELECT rowid FROM builds ORDER BY created DESC, rowid DESC LIMIT ?1)",
        [KEEP_TOTAL],
    )?;
    conn.execute(
        "DELETE FROM context_listings WHERE created < ?1
         AND digest NOT IN (SELECT digest FROM build_listings)",
        [unix_seconds() - LISTING_GRACE_SECONDS],
    )?;
    Ok(())
}

/// Approximate bytes build records and listings occupy in the database.
pub(crate) fn history_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT (SELECT COALESCE(SUM(LENGTH(document) + LENGTH(context_dir) + 100), 0) FROM builds)
              + (SELECT COALESCE(SUM(LENGTH(listing) + 80), 0) FROM context_listings)",
        [],
        |row| row.get::<_, i64>(0),
    )
    .map(|bytes| u64::try_from(bytes).unwrap_or(0))
}

fn compress(bytes: &[u8]) -> Result<Vec<u8>, StoreError> {
    zstd::bulk::compress(bytes, ZSTD_LEVEL)
        .map_err(|e| StoreError::corrupt("compressing a build history document", e))
}

fn decompress(bytes: &[u8], context: &str) -> Result<String, StoreError> {
    let mut text = String::new();
    zstd::Decoder::new(bytes)
        .map_err(|e| StoreError::corrupt(context, e))?
        .take(MAX_DOCUMENT_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| StoreError::corrupt(context, e))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    fn build(id: &str, dir: &str, created: i64, listings: &[Digest]) -> BuildRecord {
        BuildRecord {
            id: id.to_string(),
            context_dir: dir.to_string(),
            dockerfile: "Dockerfile".to_string(),
            created,
            document: format!("{{\"steps\":[\"{id}\"]}}"),
            listings: listings.to_vec(),
        }
    }

    #[test]
    fn records_round_trip_and_the_newest_of_an_identity_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let history = store.history();
        assert_eq!(history.latest("/ctx", "Dockerfile").unwrap(), None);
        let listing = Digest::of(b"selection");
        history.record(&build("one", "/ctx", 10, &[])).unwrap();
        history
            .record(&build("two", "/ctx", 20, std::slice::from_ref(&listing)))
            .unwrap();
        history
            .record(&build("other", "/elsewhere", 30, &[]))
            .unwrap();
        let latest = history.latest("/ctx", "Dockerfile").unwrap().unwrap();
        assert_eq!(latest, build("two", "/ctx", 20, &[listing]));
        let recent: Vec<String> = history
            .recent("Dockerfile", 2)
            .unwrap()
            .into_iter()
            .map(|b| b.id)
            .collect();
        assert_eq!(recent, ["other", "two"]);
    }

    #[test]
    fn history_stays_bounded_and_keeps_referenced_listings() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let history = store.history();
        let kept = Digest::of(b"kept");
        let dropped = Digest::of(b"dropped");
        history.put_listing(&kept, "a\tf 644 00\n").unwrap();
        history.put_listing(&dropped, "b\tf 644 11\n").unwrap();
        history
            .record(&build("old", "/ctx", 1, std::slice::from_ref(&dropped)))
            .unwrap();
        // Age both listings past the grace period.
        store
            .shared()
            .db
            .write("t", |tx| {
                tx.execute("UPDATE context_listings SET created = 0", [])
                    .db("t")
            })
            .unwrap();
        for n in 0..KEEP_PER_IDENTITY {
            let listings = if n == 0 { vec![kept.clone()] } else { vec![] };
            history
                .record(&build(&format!("b{n}"), "/ctx", 100 + n, &listings))
                .unwrap();
        }
        assert_eq!(history.recent("Dockerfile", 100).unwrap().len(), 5);
        assert!(history.has_listing(&kept).unwrap());
        assert!(!history.has_listing(&dropped).unwrap());
        assert_eq!(
            history.listing(&kept).unwrap().as_deref(),
            Some("a\tf 644 00\n")
        );
    }
}
