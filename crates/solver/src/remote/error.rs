//! `RemoteError`: why a URL or git repository ADD reads could not be fetched. Every message
//! names the URL or repository and the cause (the server's status, the transport error,
//! git's own stderr); the solver attaches the step, and so the Dockerfile line.

use std::io;
use std::path::PathBuf;

use rbuild_oci::Digest;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{url}: {cause}")]
    Request { url: String, cause: String },

    #[error("{url}: the server answered {status}")]
    Status { url: String, status: String },

    #[error(
        "{url}: the server answered {status} with {}",
        match location {
            Some(location) => format!("a redirect that cannot be followed (Location: {location:?})"),
            None => "a redirect without a Location".to_string(),
        }
    )]
    Redirect {
        url: String,
        status: String,
        location: Option<String>,
    },

    #[error("{url}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        url: String,
        expected: Digest,
        actual: Digest,
    },

    #[error("{url}: {name:?} cannot be a file name")]
    BadFileName { url: String, name: String },

    #[error("git is needed to fetch {remote} but cannot be run: {source}")]
    GitUnavailable {
        remote: String,
        #[source]
        source: io::Error,
    },

    #[error("git {action} {remote} failed: {stderr}")]
    Git {
        remote: String,
        action: String,
        stderr: String,
    },

    #[error("git {remote}: ref {reference:?} not found")]
    UnknownRef { remote: String, reference: String },

    #[error(
        "git {remote}: checksum mismatch: {reference} is commit {commit}, expected {expected}"
    )]
    CommitMismatch {
        remote: String,
        reference: String,
        commit: String,
        expected: String,
    },

    #[error("{remote}: {path:?} not found in what was fetched")]
    PathNotFound { remote: String, path: String },

    #[error(transparent)]
    Store(#[from] rbuild_cache::StoreError),

    #[error("{op} {path:?}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl RemoteError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        RemoteError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
