//! rbuild's store: content-addressed blobs, snapshots (unpacked layers used directly as
//! overlayfs lower dirs), the deterministic layer codec between the two, the cache index
//! (cache key → snapshot chain), image names, the context digest memo, build history for
//! `--explain`, leases, and the maintenance that keeps a shared store healthy (check, disk
//! usage, prune).
//!
//! Several rbuild processes may use one store root at once: metadata lives in one SQLite
//! database (WAL), files are written to staging and renamed into place, and every
//! publish-step happens inside a store write transaction. This crate computes no cache keys,
//! runs no containers and mounts nothing.

mod blobs;
mod cache_mount_archive;
mod cache_mounts;
mod chain;
mod check;
mod codec;
mod copy_files;
mod db;
mod descriptor;
mod error;
mod gc;
mod history;
mod image_roots;
mod images;
mod index;
mod layers;
mod layout;
mod lease;
mod memo;
mod platform_names;
mod process;
mod prune;
mod prune_plan;
mod space_reserve;
mod staging;
mod store;
mod usage;

pub use blobs::BlobStore;
pub use cache_mount_archive::CacheMountImport;
pub use cache_mounts::{CacheMountLease, CacheMountSharing, CacheMounts, CacheMountsPruned};
pub use chain::SnapshotChain;
pub use check::CheckReport;
pub use codec::Compression;
pub use copy_files::{CopyFileRecords, CopyFiles};
pub use error::StoreError;
pub use gc::{default_gc_limit, DEFAULT_GC_CAP, DEFAULT_GC_PERCENT};
pub use history::{BuildHistory, BuildRecord};
pub use images::{ImageEntry, ImageStore};
pub use index::{CacheIndex, CacheRecord};
pub use layers::{LayerStore, UpperDir};
pub use lease::Lease;
pub use memo::ContextMemo;
pub use prune::{PrunePolicy, PruneReport};
pub use staging::ScratchDir;
pub use store::Store;
pub use usage::DiskUsage;
