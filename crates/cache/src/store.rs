//! `Store`: one opened store root — the entry point that creates the layout, migrates the
//! metadata schema, sweeps staging leftovers of dead processes, and hands out the blob,
//! layer, cache-index, image-name, context-memo and build-history views that share one
//! database handle.
//!
//! Maintenance (check, disk usage, prune) lives in its own modules as further `impl Store`
//! blocks; this module only assembles the parts.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::blobs::BlobStore;
use crate::copy_files::CopyFileRecords;
use crate::db::Database;
use crate::error::{DbContext, StoreError};
use crate::history::BuildHistory;
use crate::images::ImageStore;
use crate::index::CacheIndex;
use crate::layers::LayerStore;
use crate::layout::Layout;
use crate::lease::{self, ActiveLeases, Lease};
use crate::memo::ContextMemo;
use crate::space_reserve;
use crate::staging::{ScratchDir, Staging};

/// What every view of one opened store shares.
pub(crate) struct Shared {
    pub layout: Layout,
    pub db: Database,
    pub staging: Staging,
    pub leases: ActiveLeases,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("root", &self.layout.root)
            .finish()
    }
}

/// An opened store root. Cheap to clone; clones share one database connection and one set
/// of leases. Several processes may open the same root at once.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<StoreParts>,
}

#[derive(Debug)]
struct StoreParts {
    shared: Arc<Shared>,
    blobs: BlobStore,
    layers: LayerStore,
    index: CacheIndex,
    images: ImageStore,
    memo: ContextMemo,
    history: BuildHistory,
    copy_files: CopyFileRecords,
}

impl Store {
    /// Opens the store at `root`, creating its layout and database if needed, migrating the
    /// schema, and clearing staging entries and leases of processes that died. On a full
    /// filesystem this fails with `StoreError::NoSpace`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        Store::open_keeping_reserve(root, false)
    }

    /// Opens the store to inspect or free it (`cache du/check/prune`, `images`): when its
    /// filesystem is too full to open it, the space reserve is released first, so that a
    /// full store can still be looked at and pruned.
    pub fn open_for_maintenance(root: &Path) -> Result<Store, StoreError> {
        Store::open_keeping_reserve(root, true)
    }

    fn open_keeping_reserve(root: &Path, may_release: bool) -> Result<Store, StoreError> {
        let layout = Layout::new(root);
        layout.create()?;
        let store = match Store::assemble(layout.clone()) {
            Err(e) if e.is_no_space() && may_release && space_reserve::release(&layout)? => {
                Store::assemble(layout.clone())
            }
            opened => opened,
        }?;
        space_reserve::replenish(&layout);
        Ok(store)
    }

    fn assemble(layout: Layout) -> Result<Store, StoreError> {
        let db = Database::open(&layout.database)?;
        let staging = Staging::new(&layout.tmp);
        staging.clear_stale()?;
        db.write("expiring leases of dead processes", |tx| {
            lease::expire_dead(tx).db("expiring leases of dead processes")
        })?;
        let shared = Arc::new(Shared {
            layout,
            db,
            staging,
            leases: ActiveLeases::default(),
        });
        let blobs = BlobStore::new(Arc::clone(&shared));
        let parts = StoreParts {
            layers: LayerStore::new(Arc::clone(&shared), BlobStore::new(Arc::clone(&shared))),
            index: CacheIndex::new(Arc::clone(&shared)),
            images: ImageStore::new(Arc::clone(&shared)),
            memo: ContextMemo::new(Arc::clone(&shared)),
            history: BuildHistory::new(Arc::clone(&shared)),
            copy_files: CopyFileRecords::new(Arc::clone(&shared)),
            blobs,
            shared,
        };
        Ok(Store {
            inner: Arc::new(parts),
        })
    }

    pub fn root(&self) -> &Path {
        &self.inner.shared.layout.root
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.inner.blobs
    }

    pub fn layers(&self) -> &LayerStore {
        &self.inner.layers
    }

    pub fn index(&self) -> &CacheIndex {
        &self.inner.index
    }

    pub fn images(&self) -> &ImageStore {
        &self.inner.images
    }

    /// The persistent memo of context file digests (`rbuild_fileop::memo::DigestMemo`).
    pub fn context_memo(&self) -> &ContextMemo {
        &self.inner.memo
    }

    /// Records of earlier builds and their context listings (for `--explain`).
    pub fn history(&self) -> &BuildHistory {
        &self.inner.history
    }

    /// What earlier COPY results hold, file by file (for incremental COPY).
    pub fn copy_files(&self) -> &CopyFileRecords {
        &self.inner.copy_files
    }

    /// A private directory under `tmp/`, removed with its contents when dropped.
    pub fn scratch_dir(&self, purpose: &str) -> Result<ScratchDir, StoreError> {
        Ok(ScratchDir::new(self.inner.shared.staging.dir(purpose)?))
    }

    /// Marks a build in progress: until the lease drops, whatever this store handle (and its
    /// clones) commits, unpacks, records, looks up or writes is safe from `prune`.
    pub fn lease(&self) -> Result<Lease, StoreError> {
        Lease::acquire(&self.inner.shared)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }
}
