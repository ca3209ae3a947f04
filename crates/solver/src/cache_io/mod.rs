//! Sharing the build cache between stores (CI runners): `--cache-to type=local,dest=DIR`
//! writes the cache records of a build and the layers they need into an OCI-layout-like
//! directory, and `--cache-from type=local,src=DIR` imports such a directory into a store
//! before solving, so that a fresh store takes every step from the cache.
//!
//! The directory is an OCI image layout: `index.json` points at one manifest whose config is
//! the cache document (records: key, chain, time, build, key material) and whose layers are
//! the compressed layer blobs. Base image layers are left out: an importing store must have
//! the base images anyway. With `cache-mounts=true` the document also carries the contents
//! of the build's `RUN --mount=type=cache` directories as extra layers (`mount_layers`).
//! The on-disk format is `format`'s; writing is `export`'s; reading and verifying is
//! `import`'s.

mod export;
mod format;
mod import;
mod mount_layers;

use std::io;
use std::path::PathBuf;

use rbuild_cache::StoreError;

pub use export::export_cache;
pub use format::is_cache_mount_layer;
pub use import::import_cache;

/// Which results `--cache-to` exports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CacheMode {
    /// The steps of the target stage only (the chain the image is built from).
    #[default]
    Min,
    /// Every solved step, of every stage.
    Max,
}

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub records: usize,
    pub layers: usize,
    /// Cache mounts whose contents were written (`cache-mounts=true`).
    pub cache_mounts: usize,
    /// Cache mounts left out, with why (another build holds them).
    pub skipped: Vec<String>,
}

/// What an import added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Records added to the store's cache index.
    pub records: usize,
    /// Records the store had already.
    pub known: usize,
    /// Layer blobs copied into the store.
    pub layers: usize,
    /// Cache mounts filled from the cache (`cache-mounts=true`).
    pub cache_mounts: usize,
    /// Cache mounts that held files already and were kept as they were.
    pub cache_mounts_kept: usize,
    /// Records or layers left out because they were damaged or incomplete (with why).
    pub skipped: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheIoError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not an rbuild cache directory: {reason}")]
    NotACache { path: PathBuf, reason: String },
    #[error("refusing to replace {path}: it exists and is not an rbuild cache directory")]
    WouldReplace { path: PathBuf },
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl CacheIoError {
    fn io(action: &'static str, path: &std::path::Path) -> impl FnOnce(io::Error) -> CacheIoError {
        let path = path.to_path_buf();
        move |source| CacheIoError::Io {
            action,
            path,
            source,
        }
    }
}
