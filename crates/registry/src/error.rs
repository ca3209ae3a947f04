//! `RegistryError`: what can go wrong talking to a registry, each naming the registry and
//! the reference so that one line says what failed and where.

use std::path::PathBuf;

use rbuild_cache::StoreError;
use rbuild_oci::Digest;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{registry}: cannot reach the registry for {reference}: {cause}")]
    Unreachable {
        registry: String,
        reference: String,
        cause: String,
    },
    #[error("{registry}: authentication failed for {reference} (wrong or missing credentials; use `rbuild login {registry}`)")]
    Unauthorized { registry: String, reference: String },
    #[error("{registry}: {what} not found for {reference}")]
    NotFound {
        registry: String,
        reference: String,
        what: String,
    },
    #[error("{registry}: {what} for {reference} failed: HTTP {status}{detail}")]
    Status {
        registry: String,
        reference: String,
        what: String,
        status: u16,
        detail: String,
    },
    #[error("{registry}: {what} of {reference} is corrupt: expected {expected}, got {actual}")]
    DigestMismatch {
        registry: String,
        reference: String,
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{registry}: bad document for {reference}: {message}")]
    Document {
        registry: String,
        reference: String,
        message: String,
    },
    #[error("{reference}: no image for platform {platform} (the registry has {available})")]
    NoPlatform {
        reference: String,
        platform: String,
        available: String,
    },
    #[error("{}: {message}", path.display())]
    Credentials { path: PathBuf, message: String },
    #[error("credential helper docker-credential-{helper}: {message}")]
    CredentialHelper { helper: String, message: String },
    #[error("{}:{line}: {message}", path.display())]
    Settings {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{registry}: TLS setup: {message}")]
    Tls { registry: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}
