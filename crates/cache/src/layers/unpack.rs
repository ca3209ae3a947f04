//! Lower dirs for an overlay mount of a chain, unpacking layers that exist only as blobs
//! (pulled or loaded images) on first use: the blob is decompressed, checked against its diff
//! id while it is extracted into staging, and the finished directory renamed into place.
//!
//! Whiteout conversion and path safety are the codec's; this module decides what to unpack.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use rbuild_oci::Digest;

use super::records::{self, SnapshotRow};
use super::{DigestingReader, LayerStore};
use crate::chain::SnapshotChain;
use crate::codec::{decompressed, extract_layer_tar};
use crate::error::{DbContext, StoreError};
use crate::usage::tree_usage;

/// How often a lower-dir lookup retries when a prune removed a snapshot between unpacking
/// it and leasing it.
const ATTEMPTS: usize = 3;

/// Per chain id, a lock held while that snapshot is unpacked: threads of one process that
/// need the same missing snapshot (stages on one base image) unpack it once, the others wait
/// and then find it present. Other processes race safely anyway (`place_snapshot` keeps the
/// first); this only saves the duplicated work.
#[derive(Debug, Default)]
pub(super) struct UnpackTurns {
    locks: Mutex<HashMap<Digest, Arc<Mutex<()>>>>,
    /// How many unpacks ran (what the tests check).
    #[cfg(test)]
    pub(super) unpacked: std::sync::atomic::AtomicUsize,
}

impl UnpackTurns {
    fn lock_for(&self, chain_id: &Digest) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.entry(chain_id.clone()).or_default().clone()
    }
}

impl LayerStore {
    /// Lower dirs for an overlay mount of `chain`, top-most first (empty for scratch).
    /// Layers that exist only as blobs are unpacked on first use; OCI whiteouts become
    /// overlay whiteouts.
    pub fn lower_dirs(&self, chain: &SnapshotChain) -> Result<Vec<PathBuf>, StoreError> {
        let chain_ids: Vec<Digest> = chain.chain_ids().collect();
        for _ in 0..ATTEMPTS {
            for (index, chain_id) in chain_ids.iter().enumerate() {
                if self.snapshot_present(chain_id)? {
                    continue;
                }
                let lock = self.unpacking.lock_for(chain_id);
                let _turn = lock.lock().unwrap_or_else(PoisonError::into_inner);
                // Another thread may have unpacked it while this one waited.
                if !self.snapshot_present(chain_id)? {
                    #[cfg(test)]
                    self.unpacking
                        .unpacked
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.unpack(chain, index, chain_id)?;
                }
            }
            if self.lease_if_present(chain, &chain_ids)? {
                let layout = &self.shared.layout;
                return Ok(chain_ids
                    .iter()
                    .rev()
                    .map(|id| layout.snapshot(id))
                    .collect());
            }
        }
        let missing = chain_ids.len() - 1;
        Err(StoreError::LayerUnavailable {
            diff_id: chain.layers[missing].clone(),
            chain_id: chain_ids[missing].clone(),
        })
    }

    fn snapshot_present(&self, chain_id: &Digest) -> Result<bool, StoreError> {
        self.shared.db.read("looking up a snapshot", |c| {
            records::snapshot_present(c, &self.shared.layout, chain_id)
        })
    }

    /// Atomically checks that every snapshot of the chain is still there and leases them.
    fn lease_if_present(
        &self,
        chain: &SnapshotChain,
        chain_ids: &[Digest],
    ) -> Result<bool, StoreError> {
        self.shared.db.write("leasing snapshots", |tx| {
            for chain_id in chain_ids {
                if !records::snapshot_present(tx, &self.shared.layout, chain_id)
                    .db("looking up a snapshot")?
                {
                    return Ok(false);
                }
            }
            self.shared
                .leases
                .protect_chain(tx, chain)
                .db("leasing snapshots")?;
            Ok(true)
        })
    }

    /// Unpacks layer `index` of `chain` from one of its blobs into `snapshots/<chain_id>`.
    fn unpack(
        &self,
        chain: &SnapshotChain,
        index: usize,
        chain_id: &Digest,
    ) -> Result<(), StoreError> {
        let diff_id = &chain.layers[index];
        let layout = &self.shared.layout;
        let blob = self
            .shared
            .db
            .read("looking up layer blobs", |c| {
                records::present_layer_blob(c, layout, diff_id)
            })?
            .ok_or_else(|| StoreError::LayerUnavailable {
                diff_id: diff_id.clone(),
                chain_id: chain_id.clone(),
            })?;
        let staged = self.shared.staging.dir("unpack")?;
        let blob_file = self.blobs.open(&blob.digest)?;
        let mut stream =
            DigestingReader::new(decompressed(blob_file).map_err(StoreError::LayerStream)?);
        extract_layer_tar(&mut stream, staged.path())?;
        let (actual, tar_size) = stream.finish().map_err(StoreError::LayerStream)?;
        if actual != *diff_id {
            return Err(StoreError::DigestMismatch {
                expected: diff_id.clone(),
                actual,
            });
        }
        super::commit::sync_filesystem(staged.path())?;
        let row = SnapshotRow {
            chain_id: chain_id.clone(),
            parent: chain.prefix(index).chain_id(),
            diff_id: diff_id.clone(),
            epoch: None,
            regenerable: false,
            disk_size: tree_usage(staged.path())
                .map_err(|e| StoreError::io("measuring unpacked layer", staged.path(), e))?,
        };
        let tar = super::commit::TarFacts::Size(tar_size);
        self.place_snapshot(staged.path(), &row, tar, &chain.prefix(index + 1))
    }
}
