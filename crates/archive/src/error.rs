//! `ArchiveError`: everything that can go wrong reading or writing an image archive, with
//! the file, entry or blob it concerns, so that the message alone tells the user what to fix.
//!
//! It does not decide how errors are shown (that is the CLI's business).

use std::io;
use std::path::PathBuf;

use rbuild_oci::Digest;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },

    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },

    #[error("{path} is not an image archive: {reason}")]
    NotAnArchive { path: PathBuf, reason: String },

    #[error("{location} is missing")]
    MissingFile { location: String },

    #[error("{location} is not a valid {document}: {source}")]
    BadJson {
        location: String,
        document: &'static str,
        source: serde_json::Error,
    },

    #[error("{location} is malformed: {reason}")]
    Malformed { location: String, reason: String },

    #[error("{location} is larger than {limit} bytes, too large for a {document}")]
    DocumentTooLarge {
        location: String,
        document: &'static str,
        limit: u64,
    },

    #[error("blob {digest} is missing from {archive}")]
    MissingBlob { archive: PathBuf, digest: String },

    #[error("blob {expected} ({location}) is corrupt: its content has digest {actual}")]
    DigestMismatch {
        location: String,
        expected: Digest,
        actual: Digest,
    },

    #[error("blob {digest} ({location}) has {actual} bytes, but its descriptor says {expected}")]
    SizeMismatch {
        location: String,
        digest: Digest,
        expected: u64,
        actual: u64,
    },

    #[error("{location} refers to {digest:?}: only sha256 digests are supported")]
    UnsupportedDigest { location: String, digest: String },

    #[error("{archive} contains no images")]
    NoImages { archive: PathBuf },

    #[error("no image named {wanted:?} in {archive}; available: {available}")]
    ImageNotFound {
        archive: PathBuf,
        wanted: String,
        available: String,
    },

    #[error("image {image} in {archive} is not available for {wanted}; available platforms: {available}")]
    PlatformNotFound {
        archive: PathBuf,
        image: String,
        wanted: String,
        available: String,
    },

    #[error("{location} nests image indexes more than {limit} levels deep")]
    IndexTooDeep { location: String, limit: usize },

    #[error(
        "image manifest {location} lists {layers} layers but its config has {diff_ids} diff ids"
    )]
    LayerCountMismatch {
        location: String,
        layers: usize,
        diff_ids: usize,
    },

    #[error(
        "layer {location} has digest {actual}, but the image config says its diff id is {diff_id}"
    )]
    DiffIdMismatch {
        location: String,
        diff_id: Digest,
        actual: Digest,
    },

    #[error("cannot read blob {digest} from the blob source: {source}")]
    BlobSource { digest: String, source: io::Error },

    #[error("cannot export image {image}: {reason}")]
    InvalidExport { image: String, reason: String },

    #[error("{path} exists and is not an OCI image layout or an empty directory; refusing to replace it")]
    DestinationOccupied { path: PathBuf },
}

impl ArchiveError {
    /// Recovers an `ArchiveError` that travelled through an `io::Error` (a verifying reader
    /// reports digest mismatches that way); any other I/O error is handed back.
    pub(crate) fn recover(error: io::Error) -> Result<ArchiveError, io::Error> {
        if !error
            .get_ref()
            .is_some_and(|inner| inner.is::<ArchiveError>())
        {
            return Err(error);
        }
        let kind = error.kind();
        match error
            .into_inner()
            .map(|inner| inner.downcast::<ArchiveError>())
        {
            Some(Ok(archive_error)) => Ok(*archive_error),
            Some(Err(other)) => Err(io::Error::new(kind, other)),
            None => Err(io::Error::from(kind)),
        }
    }

    /// An error met reading `path`: the recovered `ArchiveError`, or `Read`.
    pub(crate) fn from_read(error: io::Error, path: impl Into<PathBuf>) -> ArchiveError {
        ArchiveError::recover(error).unwrap_or_else(|source| ArchiveError::Read {
            path: path.into(),
            source,
        })
    }

    /// Wraps this error in an `io::Error`, for reporting through `Read` implementations.
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// Joins items for an error message: `a, b, c`, or `none` for an empty list.
pub(crate) fn list_for_message<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".to_string();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
