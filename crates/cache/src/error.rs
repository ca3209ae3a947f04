//! `StoreError`: everything that can go wrong in the store, with the path, digest or record
//! involved so that the message alone says what broke.
//!
//! This module only defines the error and small adapters that attach context to `io` and
//! SQLite errors; it makes no decisions about recovery.

use std::io;
use std::path::{Path, PathBuf};

use rbuild_oci::Digest;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("store database: {context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("blob {0} is not in the store")]
    BlobNotFound(Digest),
    #[error("content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("layer {diff_id} (chain {chain_id}) is neither unpacked nor available as a blob")]
    LayerUnavailable { diff_id: Digest, chain_id: Digest },
    #[error("layer index {index} is out of range for a chain of {len} layers")]
    LayerIndexOutOfRange { index: usize, len: usize },
    #[error("layer tar entry {entry:?}: {reason}")]
    UnsafeLayerEntry { entry: String, reason: &'static str },
    #[error("layer tar entry {entry:?}: {source}")]
    LayerEntry {
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("reading the content to store: {0}")]
    SourceRead(#[source] io::Error),
    #[error("reading layer tar: {0}")]
    LayerStream(#[source] io::Error),
    #[error("unsupported layer media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("cache mount {key} is in use by another build")]
    CacheMountBusy { key: Digest },
    #[error("corrupt store record ({context}): {detail}")]
    CorruptRecord { context: String, detail: String },
    /// The store's filesystem is full (`ENOSPC`, or SQLite unable to grow its files).
    #[error("no space left on device: {} ({context})", path.display())]
    NoSpace {
        context: &'static str,
        path: PathBuf,
    },
}

impl StoreError {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> StoreError {
        if source.raw_os_error() == Some(libc::ENOSPC) {
            return StoreError::NoSpace {
                context: action,
                path: path.to_path_buf(),
            };
        }
        StoreError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whether the filesystem being full caused this failure.
    pub fn is_no_space(&self) -> bool {
        match self {
            StoreError::NoSpace { .. } => true,
            StoreError::LayerEntry { source, .. }
            | StoreError::SourceRead(source)
            | StoreError::LayerStream(source) => source.raw_os_error() == Some(libc::ENOSPC),
            _ => false,
        }
    }

    pub(crate) fn corrupt(context: impl Into<String>, detail: impl ToString) -> StoreError {
        StoreError::CorruptRecord {
            context: context.into(),
            detail: detail.to_string(),
        }
    }
}

/// Attaches the action and path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T, StoreError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::io(action, path, source))
    }
}

impl<T> IoContext<T> for Result<T, rustix::io::Errno> {
    fn at(self, action: &'static str, path: &Path) -> Result<T, StoreError> {
        self.map_err(|errno| StoreError::io(action, path, errno.into()))
    }
}

/// Attaches what the store was doing to a SQLite error.
pub(crate) trait DbContext<T> {
    fn db(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> DbContext<T> for rusqlite::Result<T> {
    fn db(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Database { context, source })
    }
}
