//! `Store::check`: verifies that the store is consistent — every blob matches its digest,
//! every snapshot row has its directory (and every directory its row) and a snapshot built
//! here still gives its layer, every layer blob row its blob and that blob its layer, every image name its documents, every cache record an available chain — and,
//! with repair, drops whatever is broken so the next build simply rebuilds it.
//!
//! The findings are computed under the store write lock, so concurrent commits are never
//! mistaken for damage. Reclaiming unused space is prune's job.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::PathBuf;

use rbuild_oci::{Digest, DigestingWriter};
use rusqlite::Transaction;

use crate::codec::write_snapshot_tar;
use crate::error::{DbContext, StoreError};
use crate::image_roots::image_roots;
use crate::index::parse_chain;
use crate::layers::{
    all_layer_blobs, all_snapshots, chain_available, delete_layer_blobs_of, delete_snapshot,
    unrecorded_snapshot_dirs,
};
use crate::staging::remove_path;
use crate::Store;

/// What `Store::check` found (and, with repair, removed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub blobs_verified: usize,
    /// Blobs whose content does not match their name.
    pub corrupt_blobs: Vec<Digest>,
    /// Snapshot rows whose directory is gone (chain ids).
    pub missing_snapshots: Vec<Digest>,
    /// Snapshot directories without a row (left by a crash).
    pub orphan_snapshot_dirs: Vec<PathBuf>,
    /// Layer blob rows whose blob is missing or corrupt (blob digests).
    pub dangling_layer_blobs: Vec<Digest>,
    /// Snapshots built here whose directory no longer gives the layer their row names
    /// (chain ids).
    pub altered_snapshots: Vec<Digest>,
    /// Layer blobs that do not decompress to the layer their row names, or hold entries
    /// no layer may hold (blob digests).
    pub bad_layer_blobs: Vec<Digest>,
    /// Image names whose manifest, index or config is missing or corrupt.
    pub broken_images: Vec<String>,
    /// Cache keys whose chain can no longer be had.
    pub broken_records: Vec<Digest>,
    /// Whether the findings were removed.
    pub repaired: bool,
}

impl CheckReport {
    /// Whether anything is broken. Orphan snapshot directories are not damage: a crash
    /// between moving a snapshot into place and recording it leaves one, nothing refers to
    /// it, and the next commit of that chain (or prune, or repair) replaces or removes it.
    pub fn is_damaged(&self) -> bool {
        !(self.corrupt_blobs.is_empty()
            && self.missing_snapshots.is_empty()
            && self.dangling_layer_blobs.is_empty()
            && self.altered_snapshots.is_empty()
            && self.bad_layer_blobs.is_empty()
            && self.broken_images.is_empty()
            && self.broken_records.is_empty())
    }

    /// Nothing broken and no crash leftovers either.
    pub fn is_clean(&self) -> bool {
        !self.is_damaged() && self.orphan_snapshot_dirs.is_empty()
    }
}

impl Store {
    /// Verifies the store; with `repair`, removes what is broken.
    pub fn check(&self, repair: bool) -> Result<CheckReport, StoreError> {
        let mut report = CheckReport {
            repaired: repair,
            ..CheckReport::default()
        };
        let blobs = self.blobs().list()?;
        report.blobs_verified = blobs.len();
        for digest in blobs {
            if !self.blob_intact(&digest)? {
                report.corrupt_blobs.push(digest);
            }
        }
        self.verify_layers(&mut report)?;
        let trash = self.shared().db.write("checking the store", |tx| {
            self.check_metadata(tx, &mut report)
        })?;
        for path in trash {
            if let Err(e) = remove_path(&path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove orphan snapshot");
            }
        }
        Ok(report)
    }

    /// Regenerates the tar of every snapshot built here and reads every layer blob, each
    /// compared with the diff id its row names (outside the write lock: this reads a lot).
    fn verify_layers(&self, report: &mut CheckReport) -> Result<(), StoreError> {
        let (snapshots, layer_blobs) = self.shared().db.read("listing layers", |c| {
            Ok((all_snapshots(c)?, all_layer_blobs(c)?))
        })?;
        for row in snapshots.iter().filter(|row| row.regenerable) {
            let dir = self.shared().layout.snapshot(&row.chain_id);
            let mut digesting = DigestingWriter::new(io::sink());
            let written = write_snapshot_tar(&dir, row.epoch, &mut digesting);
            let (_, actual, _) = digesting.finish();
            // A directory gone meanwhile (prune) is the metadata check's business.
            if dir.is_dir() && (written.is_err() || actual != row.diff_id) {
                report.altered_snapshots.push(row.chain_id.clone());
            }
        }
        let corrupt: HashSet<&Digest> = report.corrupt_blobs.iter().collect();
        for row in layer_blobs {
            if corrupt.contains(&row.digest) || !self.shared().layout.blob(&row.digest).is_file() {
                continue;
            }
            let intact = matches!(
                self.layers().read_layer_blob(&row.digest),
                Ok((actual, _)) if actual == row.diff_id
            );
            if !intact && !report.bad_layer_blobs.contains(&row.digest) {
                report.bad_layer_blobs.push(row.digest);
            }
        }
        Ok(())
    }

    fn blob_intact(&self, digest: &Digest) -> Result<bool, StoreError> {
        let path = self.shared().layout.blob(digest);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true), // removed meanwhile
            Err(e) => return Err(StoreError::io("opening blob", &path, e)),
        };
        let mut hashing = DigestingWriter::new(io::sink());
        io::copy(&mut file, &mut hashing).map_err(|e| StoreError::io("reading blob", &path, e))?;
        Ok(hashing.finish().1 == *digest)
    }

    /// Checks rows and directories; returns directories to delete once the lock is released.
    fn check_metadata(
        &self,
        tx: &Transaction<'_>,
        report: &mut CheckReport,
    ) -> Result<Vec<PathBuf>, StoreError> {
        let layout = &self.shared().layout;
        let corrupt: HashSet<Digest> = report.corrupt_blobs.iter().cloned().collect();
        let repair = report.repaired;
        if repair {
            for digest in &corrupt {
                self.blobs().remove(digest)?;
            }
        }
        let mut trash = Vec::new();
        if repair {
            for chain_id in &report.altered_snapshots {
                delete_snapshot(tx, chain_id).db("dropping an altered snapshot")?;
                let dir = layout.snapshot(chain_id);
                if dir.is_dir() {
                    trash.push(self.shared().staging.move_aside(&dir, "altered-snapshot")?);
                }
            }
            for digest in &report.bad_layer_blobs {
                delete_layer_blobs_of(tx, digest).db("dropping a bad layer blob row")?;
            }
        }
        let rows = all_snapshots(tx).db("listing snapshots")?;
        let recorded: HashSet<Digest> = rows.iter().map(|row| row.chain_id.clone()).collect();
        for row in rows {
            if !layout.snapshot(&row.chain_id).is_dir() {
                if repair {
                    delete_snapshot(tx, &row.chain_id).db("dropping a snapshot row")?;
                }
                report.missing_snapshots.push(row.chain_id);
            }
        }
        for orphan in unrecorded_snapshot_dirs(layout, &recorded)? {
            if repair {
                trash.push(
                    self.shared()
                        .staging
                        .move_aside(&orphan, "orphan-snapshot")?,
                );
            }
            report.orphan_snapshot_dirs.push(orphan);
        }
        let present = |digest: &Digest| !corrupt.contains(digest) && layout.blob(digest).is_file();
        let dangling: HashSet<Digest> = all_layer_blobs(tx)
            .db("listing layer blobs")?
            .into_iter()
            .map(|row| row.digest)
            .filter(|digest| !present(digest))
            .collect();
        for digest in dangling {
            if repair {
                delete_layer_blobs_of(tx, &digest).db("dropping a layer blob row")?;
            }
            report.dangling_layer_blobs.push(digest);
        }
        report.broken_images = image_roots(tx, layout, &present)
            .db("reading images")?
            .broken;
        if repair {
            for name in &report.broken_images {
                tx.execute("DELETE FROM images WHERE name = ?1", [name])
                    .db("dropping an image name")?;
            }
        }
        report.broken_records = self.broken_records(tx, repair)?;
        Ok(trash)
    }

    fn broken_records(
        &self,
        tx: &Transaction<'_>,
        repair: bool,
    ) -> Result<Vec<Digest>, StoreError> {
        let records: Vec<(String, String)> = tx
            .prepare("SELECT key, chain FROM cache_records")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .db("listing cache records")?;
        let mut broken = Vec::new();
        for (key_text, chain_json) in records {
            let Ok(key) = key_text.parse::<Digest>() else {
                if repair {
                    tx.execute("DELETE FROM cache_records WHERE key = ?1", [&key_text])
                        .db("dropping a malformed cache record")?;
                }
                continue;
            };
            let available = match parse_chain(&key, &chain_json) {
                Ok(chain) => {
                    chain_available(tx, &self.shared().layout, &chain).db("checking a chain")?
                }
                Err(_) => false,
            };
            if !available {
                if repair {
                    tx.execute("DELETE FROM cache_records WHERE key = ?1", [&key_text])
                        .db("dropping a cache record")?;
                }
                broken.push(key);
            }
        }
        Ok(broken)
    }
}
