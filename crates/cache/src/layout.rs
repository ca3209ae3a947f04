//! `Layout`: where each kind of store content lives under the store root.
//!
//! ```text
//! <root>/blobs/sha256/<hex>     content-addressed files
//! <root>/snapshots/<chain hex>/ unpacked layers in overlay form (overlayfs lower dirs)
//! <root>/tmp/                   staging, same filesystem so renames are atomic
//! <root>/cache-mounts/          RUN --mount=type=cache directories (see `cache_mounts`)
//! <root>/meta.db                SQLite metadata (WAL)
//! ```
//!
//! Paths only: nothing here reads or writes content.

use std::fs;
use std::path::{Path, PathBuf};

use rbuild_oci::Digest;

use crate::error::{IoContext, StoreError};

#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub root: PathBuf,
    pub blobs: PathBuf,
    pub snapshots: PathBuf,
    pub tmp: PathBuf,
    pub cache_mounts: PathBuf,
    pub database: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
            blobs: root.join("blobs").join("sha256"),
            snapshots: root.join("snapshots"),
            tmp: root.join("tmp"),
            cache_mounts: root.join("cache-mounts"),
            database: root.join("meta.db"),
        }
    }

    /// Creates every directory of the layout that does not exist yet.
    pub fn create(&self) -> Result<(), StoreError> {
        for dir in [&self.blobs, &self.snapshots, &self.tmp, &self.cache_mounts] {
            fs::create_dir_all(dir).at("creating store directory", dir)?;
        }
        Ok(())
    }

    pub fn blob(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    pub fn snapshot(&self, chain_id: &Digest) -> PathBuf {
        self.snapshots.join(chain_id.hex())
    }
}
