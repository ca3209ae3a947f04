//! Why a build failed. Each variant keeps its typed cause; front doors render them (a
//! frontend diagnostic with the Dockerfile line, a failed step with its last output).

use std::path::PathBuf;

use rbuild_cache::StoreError;
use rbuild_frontend::FrontendError;
use rbuild_solver::cache_io::CacheIoError;
use rbuild_solver::{SolveError, StepFailure};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot read Dockerfile {}", path.display())]
    Dockerfile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The Dockerfile (or .dockerignore) is wrong; the diagnostic names the line.
    #[error("{}", .0.diagnostic().render())]
    Frontend(#[from] FrontendError),
    /// A step failed; the error names the step and its Dockerfile location.
    #[error("failed to solve: {0}")]
    Solve(#[from] SolveError),
    #[error("cannot register the build with the store")]
    Lease(#[source] StoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Assembling, committing or writing the result failed.
    #[error(transparent)]
    Output(#[from] StepFailure),
    #[error("cannot export the cache to {}", dest.display())]
    CacheExport {
        dest: PathBuf,
        #[source]
        source: CacheIoError,
    },
    #[error(transparent)]
    Registry(#[from] rbuild_registry::RegistryError),
    /// A descriptor the build made names no valid digest.
    #[error(transparent)]
    Digest(#[from] rbuild_oci::DigestError),
    /// The request cannot be carried out as asked (e.g. a docker archive of two platforms).
    #[error("{0}")]
    Unsupported(String),
}
