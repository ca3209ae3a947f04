//! `Store::prune`: reclaims space. In one write transaction it expires leases of dead
//! processes, reads what the store holds, asks `prune_plan` what to drop and deletes the
//! rows; in a second one it moves snapshot directories without rows aside and deletes the
//! doomed blobs still unreferenced; the directories are removed after the lock is released.
//! Rows always go before files, so a crash never leaves a row whose file is missing.
//! Staging leftovers of dead processes and snapshot directories without rows (crash
//! leftovers) go too.
//!
//! Never removed: what a tagged image needs (index, manifests, config, layer blobs and the
//! snapshots of its layers) and anything attached to a live lease.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use rbuild_oci::Digest;
use rusqlite::Transaction;

use crate::db::unix_nanos;
use crate::error::{DbContext, IoContext, StoreError};
use crate::image_roots::image_roots;
use crate::index::parse_chain;
use crate::layers::{
    all_layer_blobs, all_snapshots, delete_layer_blobs_of, delete_snapshot,
    unrecorded_snapshot_dirs,
};
use crate::lease::{self, leased_content};
use crate::prune_plan::{plan, PrunePlan, RecordUse, StoreContents};
use crate::staging::remove_path;
use crate::Store;

/// Which cache to remove.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrunePolicy {
    /// Remove every cache record not in use (not only unreferenced content).
    pub all: bool,
    /// Remove least recently used records until blobs and snapshots fit in this many bytes.
    pub keep_storage: Option<u64>,
    /// Remove only records unused for at least this long (all of them, when no
    /// `keep_storage` is given).
    pub older_than: Option<Duration>,
}

/// What `Store::prune` removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub records_removed: usize,
    pub snapshots_removed: usize,
    pub blobs_removed: usize,
    /// `RUN --mount=type=cache` instances nobody was using.
    pub cache_mounts_removed: usize,
    pub bytes_reclaimed: u64,
}

/// Deletes the rows of what `plan` removes: cache records, snapshots, layer blobs, and the
/// sizes of layers nothing holds any more.
fn delete_rows(tx: &Transaction<'_>, plan: &PrunePlan) -> Result<(), StoreError> {
    for key in &plan.records {
        tx.execute("DELETE FROM cache_records WHERE key = ?1", [key])
            .db("removing a cache record")?;
    }
    for chain_id in &plan.snapshots {
        delete_snapshot(tx, chain_id).db("removing a snapshot row")?;
    }
    for digest in &plan.blobs {
        delete_layer_blobs_of(tx, digest).db("removing a layer blob row")?;
    }
    tx.execute(
        "DELETE FROM layers WHERE diff_id NOT IN (SELECT diff_id FROM snapshots)
         AND diff_id NOT IN (SELECT diff_id FROM layer_blobs)",
        [],
    )
    .db("removing layer sizes")?;
    Ok(())
}

impl Store {
    /// Removes unused cache records (per `policy`, least recently used first), every
    /// snapshot and blob nothing holds any more, and — unless only `keep_storage` bounds the
    /// prune — the cache-mount instances no build is using (those unused for `older_than`,
    /// when given).
    pub fn prune(&self, policy: &PrunePolicy) -> Result<PruneReport, StoreError> {
        self.shared().staging.clear_stale()?;
        let (report, doomed_blobs) = self.shared().db.write("pruning the store", |tx| {
            lease::expire_dead(tx).db("expiring dead leases")?;
            let contents = self.read_contents(tx)?;
            let plan = plan(&contents, policy, unix_nanos());
            delete_rows(tx, &plan)?;
            let report = PruneReport {
                records_removed: plan.records.len(),
                snapshots_removed: plan.snapshots.len(),
                blobs_removed: plan.blobs.len(),
                cache_mounts_removed: 0,
                bytes_reclaimed: plan.bytes,
            };
            Ok((report, plan.blobs))
        })?;
        // The rows went first: a crash from here on leaves files without rows (leftovers
        // the store ignores and sweeps), never rows whose files are gone.
        let trash = self.shared().db.write("removing pruned files", |tx| {
            self.remove_unrecorded_files(tx, &doomed_blobs)
        })?;
        for path in trash {
            remove_path(&path).at("removing pruned snapshot", &path)?;
        }
        let mut report = report;
        // A size bound alone (the automatic cleanup) leaves cache mounts alone: they are
        // what keeps the next build fast, and the bound counts them as fixed.
        if policy.all || policy.older_than.is_some() || policy.keep_storage.is_none() {
            let cache_mounts = self.cache_mounts().remove_unused(policy.older_than)?;
            report.cache_mounts_removed = cache_mounts.instances;
            report.bytes_reclaimed += cache_mounts.bytes;
        }
        Ok(report)
    }

    /// Moves aside every snapshot directory without a row (pruned ones and crash leftovers)
    /// and deletes the doomed blobs nothing references any more. Runs in its own write
    /// transaction, so a build that recorded the same snapshot or blob again since the rows
    /// were deleted keeps it.
    fn remove_unrecorded_files(
        &self,
        tx: &Transaction<'_>,
        doomed_blobs: &[Digest],
    ) -> Result<Vec<PathBuf>, StoreError> {
        let contents = self.read_contents(tx)?;
        let recorded: HashSet<Digest> = contents
            .snapshots
            .iter()
            .map(|row| row.chain_id.clone())
            .collect();
        let mut trash = Vec::new();
        for dir in unrecorded_snapshot_dirs(&self.shared().layout, &recorded)? {
            trash.push(self.shared().staging.move_aside(&dir, "pruned-snapshot")?);
        }
        let mut referenced = contents.pinned_blobs;
        referenced.extend(contents.layer_blobs.into_iter().map(|row| row.digest));
        for digest in doomed_blobs.iter().filter(|d| !referenced.contains(*d)) {
            self.blobs().remove(digest)?;
        }
        Ok(trash)
    }

    fn read_contents(&self, tx: &Transaction<'_>) -> Result<StoreContents, StoreError> {
        let layout = &self.shared().layout;
        let mut blob_sizes = std::collections::HashMap::new();
        for digest in self.blobs().list()? {
            if let Ok(size) = self.blobs().size(&digest) {
                blob_sizes.insert(digest, size);
            }
        }
        let roots =
            image_roots(tx, layout, &|d| blob_sizes.contains_key(d)).db("reading images")?;
        let leased = leased_content(tx).db("reading leases")?;
        let parse = |texts: HashSet<String>| -> HashSet<Digest> {
            texts.iter().filter_map(|t| t.parse().ok()).collect()
        };
        let mut pinned_blobs = roots.blobs;
        pinned_blobs.extend(parse(leased.blobs));
        Ok(StoreContents {
            records: self.record_uses(tx)?,
            snapshots: all_snapshots(tx).db("listing snapshots")?,
            layer_blobs: all_layer_blobs(tx).db("listing layer blobs")?,
            blob_sizes,
            image_chains: roots.chains,
            pinned_blobs,
            leased_chains: parse(leased.chain_ids),
        })
    }

    fn record_uses(&self, tx: &Transaction<'_>) -> Result<Vec<RecordUse>, StoreError> {
        let rows: Vec<(String, String, i64)> = tx
            .prepare("SELECT key, chain, last_used FROM cache_records")
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .db("listing cache records")?;
        let mut uses = Vec::with_capacity(rows.len());
        for (key, chain_json, last_used) in rows {
            let Ok(digest) = key.parse::<Digest>() else {
                continue;
            };
            // A record whose chain cannot be parsed holds nothing; `check` reports it.
            let chain = parse_chain(&digest, &chain_json).unwrap_or_default();
            uses.push(RecordUse {
                key,
                chain,
                last_used,
            });
        }
        Ok(uses)
    }
}
