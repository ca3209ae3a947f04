//! `LayerStore`: layers as snapshot directories (overlay lower dirs) and as blobs, and the
//! moves between the two forms.
//!
//! - `commit`: an overlay upper dir becomes a snapshot (diff id from the streamed tar);
//! - `unpack`: lower dirs of a chain, unpacking blob-only layers on first use;
//! - `export`: layer tars and compressed blobs made from snapshots, made once;
//! - `fingerprint`: the size and CRC-32 a regenerated tar is checked against.
//!
//! The tar format itself is the codec's; SQL is in `records`.

mod commit;
mod export;
mod fingerprint;
mod records;
mod unpack;

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rbuild_oci::Digest;
use sha2::{Digest as _, Sha256};

use crate::blobs::BlobStore;
use crate::error::{IoContext, StoreError};
use crate::layout::Layout;
use crate::staging::StagedPath;
use crate::store::Shared;

pub(crate) use records::{
    all_layer_blobs, all_snapshots, chain_available, delete_layer_blobs_of, delete_snapshot,
    LayerBlobRow, SnapshotRow,
};

/// Layers of root filesystems: snapshots, layer blobs and the codec between them.
#[derive(Debug)]
pub struct LayerStore {
    shared: Arc<Shared>,
    blobs: BlobStore,
    /// One unpack at a time per snapshot, so concurrent stages on one base share it.
    unpacking: unpack::UnpackTurns,
}

/// A fresh overlay upper dir and its work dir, staged in the store's `tmp/`. Removed on
/// drop unless `commit` moved the upper dir into the snapshots.
#[derive(Debug)]
pub struct UpperDir {
    /// Owns the staging directory holding both; removing it is all that drop does.
    _staging: StagedPath,
    upper: PathBuf,
    work: PathBuf,
}

impl UpperDir {
    pub fn upper(&self) -> &Path {
        &self.upper
    }

    pub fn work(&self) -> &Path {
        &self.work
    }
}

impl LayerStore {
    pub(crate) fn new(shared: Arc<Shared>, blobs: BlobStore) -> LayerStore {
        LayerStore {
            shared,
            blobs,
            unpacking: unpack::UnpackTurns::default(),
        }
    }

    /// An empty upper dir and work dir on the store's filesystem, for one overlay mount.
    pub fn new_upper(&self) -> Result<UpperDir, StoreError> {
        let staged = self.shared.staging.dir("upper")?;
        let upper = staged.path().join("upper");
        let work = staged.path().join("work");
        for dir in [&upper, &work] {
            fs::create_dir(dir).at("creating overlay directory", dir)?;
        }
        Ok(UpperDir {
            _staging: staged,
            upper,
            work,
        })
    }

    /// The diff id of layer `index` of `chain`, or an error naming the bad index.
    fn layer_at(chain: &crate::SnapshotChain, index: usize) -> Result<&Digest, StoreError> {
        chain
            .layers
            .get(index)
            .ok_or(StoreError::LayerIndexOutOfRange {
                index,
                len: chain.layers.len(),
            })
    }
}

/// Snapshot directories that have no row: leftovers of a crash between rename and commit.
/// Callers hold the store write lock, so a commit in flight is never among them.
pub(crate) fn unrecorded_snapshot_dirs(
    layout: &Layout,
    recorded: &HashSet<Digest>,
) -> Result<Vec<PathBuf>, StoreError> {
    let dir = &layout.snapshots;
    let mut unrecorded = Vec::new();
    for entry in fs::read_dir(dir).at("listing snapshots", dir)? {
        let entry = entry.at("listing snapshots", dir)?;
        let known = entry
            .file_name()
            .to_str()
            .and_then(|name| Digest::from_hex(name).ok())
            .is_some_and(|id| recorded.contains(&id));
        if !known {
            unrecorded.push(entry.path());
        }
    }
    Ok(unrecorded)
}

/// Hashes and counts what is read through it (for diff ids of blobs being unpacked).
pub(crate) struct DigestingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> DigestingReader<R> {
    pub fn new(inner: R) -> Self {
        DigestingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Reads what is left, then returns the digest and length of everything read.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((Digest::from_hasher(self.hasher), self.count))
    }
}

impl<R: Read> Read for DigestingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
