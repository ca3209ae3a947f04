//! Committing a layer: an overlay upper dir becomes `snapshots/<chain id>/`.
//!
//! The tar of the upper dir is streamed through sha256 (not stored) for the diff id, and
//! fingerprinted (size, CRC-32) for cheap checks of the tars exports regenerate; the
//! directory's filesystem is synced; then, inside one store write transaction, the directory
//! is renamed into place and its row written — unless another build committed the same
//! chain first, in which case theirs is kept. A snapshot directory without a row can only be
//! the leftover of a crash, and is replaced.

use std::fs::File;
use std::io;
use std::path::Path;

use rbuild_oci::DigestingWriter;

use super::fingerprint::{FingerprintingWriter, TarFingerprint};
use super::records::{self, SnapshotRow};
use super::{LayerStore, UpperDir};
use crate::chain::{child_chain_id, SnapshotChain};
use crate::codec::write_snapshot_tar;
use crate::error::{DbContext, IoContext, StoreError};
use crate::staging::{remove_path, sync_dir};

impl LayerStore {
    /// Turns an overlay upper dir into a layer on top of `parent`. An empty diff returns
    /// `parent` unchanged. Otherwise the deterministic tar (mtimes clamped to `epoch`) gives
    /// the diff id, the dir moves to `snapshots/<chain id>` (if another process committed the
    /// same chain first, theirs is kept), and its tar size and epoch are recorded.
    pub fn commit(
        &self,
        parent: &SnapshotChain,
        upper: UpperDir,
        epoch: Option<i64>,
    ) -> Result<SnapshotChain, StoreError> {
        let mut digesting = DigestingWriter::new(FingerprintingWriter::new(io::sink()));
        let summary = write_snapshot_tar(upper.upper(), epoch, &mut digesting)?;
        if summary.entries == 0 {
            return Ok(parent.clone());
        }
        let (fingerprinting, diff_id, _) = digesting.finish();
        let (_, fingerprint) = fingerprinting.finish();
        let chain = parent.push(diff_id.clone());
        sync_filesystem(upper.upper())?;
        let parent_id = parent.chain_id();
        let row = SnapshotRow {
            chain_id: child_chain_id(parent_id.as_ref(), &diff_id),
            parent: parent_id,
            diff_id,
            epoch,
            regenerable: true,
            disk_size: summary.disk_bytes,
        };
        self.place_snapshot(
            upper.upper(),
            &row,
            TarFacts::Fingerprint(fingerprint),
            &chain,
        )?;
        Ok(chain)
    }

    /// Moves the complete directory `staged` to `snapshots/<chain id>` and records it, or
    /// keeps an existing recorded snapshot of the same chain. Shared by commit and unpack.
    pub(super) fn place_snapshot(
        &self,
        staged: &Path,
        row: &SnapshotRow,
        tar: TarFacts,
        chain: &SnapshotChain,
    ) -> Result<(), StoreError> {
        let layout = &self.shared.layout;
        let target = layout.snapshot(&row.chain_id);
        let trash = self.shared.staging.unique_path("crashed-snapshot");
        let displaced = self.shared.db.write("recording a snapshot", |tx| {
            let recorded =
                records::snapshot_present(tx, layout, &row.chain_id).db("looking up a snapshot")?;
            let mut displaced = false;
            if !recorded {
                if std::fs::symlink_metadata(&target).is_ok() {
                    std::fs::rename(&target, &trash)
                        .at("moving aside a crashed snapshot", &target)?;
                    displaced = true;
                }
                std::fs::rename(staged, &target).at("moving snapshot into place", &target)?;
                sync_dir(&layout.snapshots)?;
                records::insert_snapshot(tx, row).db("recording a snapshot")?;
            }
            match tar {
                TarFacts::Size(size) => records::record_layer_size(tx, &row.diff_id, size),
                TarFacts::Fingerprint(fingerprint) => {
                    records::record_layer_fingerprint(tx, &row.diff_id, fingerprint)
                }
            }
            .db("recording a layer size")?;
            self.shared
                .leases
                .protect_chain(tx, chain)
                .db("leasing a snapshot")?;
            Ok(displaced)
        })?;
        if displaced {
            if let Err(e) = remove_path(&trash) {
                tracing::warn!(path = %trash.display(), error = %e, "cannot remove crashed snapshot");
            }
        }
        Ok(())
    }
}

/// What is known of a snapshot's layer tar: its fingerprint when it was made here, its
/// size when it was unpacked from a blob (whose tar this directory may not regenerate).
pub(super) enum TarFacts {
    Size(u64),
    Fingerprint(TarFingerprint),
}

/// Flushes everything written under `dir` to disk before it is published by a rename.
pub(super) fn sync_filesystem(dir: &Path) -> Result<(), StoreError> {
    let handle = File::open(dir).at("opening directory to sync", dir)?;
    rustix::fs::syncfs(&handle).at("syncing filesystem of", dir)
}
