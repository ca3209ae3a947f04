//! Disk usage of the store by kind of content (`rbuild df`), and the directory-tree
//! measurement the rest of the store uses.
//!
//! Reports only; deciding what to delete is prune's job.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::StoreError;
use crate::history::history_bytes;
use crate::layers::{all_layer_blobs, all_snapshots};
use crate::memo::memo_bytes;
use crate::Store;

/// Bytes used per kind of store content.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Blobs recorded as (compressed) layers.
    pub layer_blobs: u64,
    /// Every other blob: manifests, indexes, configs.
    pub other_blobs: u64,
    /// Unpacked layers, as measured when they were committed or unpacked.
    pub snapshots: u64,
    /// Context memo rows in the metadata database (approximate).
    pub context_memo: u64,
    /// Build records and context listings kept for `--explain` (approximate).
    pub build_history: u64,
    /// `RUN --mount=type=cache` directories.
    pub cache_mounts: u64,
    /// Staging entries of running (or crashed) builds.
    pub temp: u64,
}

impl DiskUsage {
    pub fn total(&self) -> u64 {
        self.layer_blobs
            + self.other_blobs
            + self.snapshots
            + self.context_memo
            + self.build_history
            + self.cache_mounts
            + self.temp
    }
}

impl Store {
    /// How much disk each kind of content uses.
    pub fn disk_usage(&self) -> Result<DiskUsage, StoreError> {
        let shared = self.shared();
        let layout = &shared.layout;
        let (layer_digests, snapshots, context_memo, build_history) =
            shared.db.read("measuring the store", |c| {
                let layer_digests: HashSet<_> = all_layer_blobs(c)?
                    .into_iter()
                    .map(|row| row.digest)
                    .collect();
                let snapshots: u64 = all_snapshots(c)?.iter().map(|row| row.disk_size).sum();
                Ok((layer_digests, snapshots, memo_bytes(c)?, history_bytes(c)?))
            })?;
        let mut usage = DiskUsage {
            snapshots,
            context_memo,
            build_history,
            ..DiskUsage::default()
        };
        for digest in self.blobs().list()? {
            let Ok(size) = self.blobs().size(&digest) else {
                continue; // removed meanwhile
            };
            if layer_digests.contains(&digest) {
                usage.layer_blobs += size;
            } else {
                usage.other_blobs += size;
            }
        }
        usage.cache_mounts = measure(&layout.cache_mounts)?;
        usage.temp = measure(&layout.tmp)?;
        Ok(usage)
    }

    /// Bytes held by snapshots and blobs: what `PrunePolicy::keep_storage` bounds. Cheaper
    /// than `disk_usage` (no directory trees are walked), for a check after every build.
    pub fn stored_bytes(&self) -> Result<u64, StoreError> {
        let snapshots: u64 = self.shared().db.read("measuring snapshots", |c| {
            Ok(all_snapshots(c)?.iter().map(|row| row.disk_size).sum())
        })?;
        let blobs: u64 = self
            .blobs()
            .list()?
            .iter()
            .filter_map(|digest| self.blobs().size(digest).ok())
            .sum();
        Ok(snapshots + blobs)
    }
}

fn measure(dir: &Path) -> Result<u64, StoreError> {
    tree_usage(dir).map_err(|e| StoreError::io("measuring", dir, e))
}

/// Disk space a directory tree occupies: allocated blocks, each inode counted once.
/// Entries that vanish while it is measured are skipped.
pub(crate) fn tree_usage(root: &Path) -> io::Result<u64> {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let Ok(meta) = entry.metadata() else { continue };
            if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            total += meta.blocks() * 512;
            if meta.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    Ok(total)
}
