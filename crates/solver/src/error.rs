//! `SolveError`: why a build stopped, tied to the vertex (and so the Dockerfile line) that
//! failed.

use std::path::PathBuf;

use crate::graph::{SourceLocation, VertexId};

/// A failed build: which step, where it came from, and the cause.
#[derive(Debug, thiserror::Error)]
#[error("{}{cause}", step_prefix(name))]
pub struct SolveError {
    pub vertex: Option<VertexId>,
    /// The vertex's display name (`[2/4] RUN make`), empty when no vertex is involved.
    pub name: String,
    pub location: Option<SourceLocation>,
    /// Boxed: the failure carries sandbox and store errors and would bloat every `Result`.
    pub cause: Box<StepFailure>,
}

/// The cause of a failed step.
#[derive(Debug, thiserror::Error)]
pub enum StepFailure {
    #[error("process \"{command}\" did not complete successfully: exit code: {exit_code}")]
    CommandFailed {
        command: String,
        exit_code: i32,
        /// The last lines the command printed.
        output_tail: Vec<String>,
    },
    #[error("{0}")]
    Sandbox(#[from] rbuild_exec::SandboxError),
    #[error("{0}")]
    Mount(#[from] crate::mounts::MountError),
    #[error("{0}")]
    Remote(#[from] crate::remote::RemoteError),
    #[error(transparent)]
    Emulation(#[from] rbuild_exec::EmulationError),
    /// Cancelled from outside (Ctrl-C, SIGTERM); `reason` names the signal when known.
    #[error("interrupted{}", reason.as_deref().map(|r| format!(" by {r}")).unwrap_or_default())]
    Interrupted { reason: Option<String> },
    #[error("{0}")]
    Store(#[from] rbuild_cache::StoreError),
    #[error("{0}")]
    Select(#[from] rbuild_fileop::select::SelectError),
    #[error("{0}")]
    Copy(#[from] rbuild_fileop::copy::CopyError),
    #[error("{0}")]
    Pattern(#[from] rbuild_fileop::patterns::PatternError),
    #[error("{0}")]
    Digest(#[from] rbuild_fileop::content_digest::DigestError),
    #[error("{name:?}: not found in stage {stage}")]
    NotInStage { name: String, stage: String },
    #[error("build context {0:?} is not defined")]
    UnknownContext(String),
    #[error("image {reference}: {message}")]
    Image { reference: String, message: String },
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("cannot start a worker pool")]
    WorkerPool(#[source] rayon::ThreadPoolBuildError),
}

/// Why writing a built or stored image out (archive, directory, store manifest) failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Archive(#[from] rbuild_archive::ArchiveError),
    #[error("cannot make the image index")]
    Index(#[from] rbuild_oci::IndexError),
    #[error("cannot build the image manifest")]
    BuildManifest(#[source] rbuild_oci::oci_spec::OciSpecError),
    #[error("cannot encode the image manifest")]
    EncodeManifest(#[source] serde_json::Error),
    #[error("a docker archive holds one platform; use type=oci for several")]
    DockerArchivePlatforms,
    #[error("saving writes an archive: type=oci or type=docker")]
    SaveNeedsArchive,
    #[error("output directory {} is not empty", .0.display())]
    NotEmpty(PathBuf),
    #[error("cannot read output directory {}", path.display())]
    ReadDest {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the root filesystem to {}", path.display())]
    WriteRootfs {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StepFailure {
    /// The failure of work that stopped because `cancel` was cancelled, with its reason.
    pub fn interrupted(cancel: &rbuild_exec::CancelToken) -> StepFailure {
        StepFailure::Interrupted {
            reason: cancel.reason().map(str::to_string),
        }
    }
}

/// `name: ` before a step's cause; nothing for an error not tied to a step.
fn step_prefix(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!("{name}: ")
    }
}

impl SolveError {
    /// An error not attached to any vertex (e.g. while assembling the final image).
    pub fn general(cause: impl Into<StepFailure>) -> SolveError {
        SolveError {
            vertex: None,
            name: String::new(),
            location: None,
            cause: Box::new(cause.into()),
        }
    }
}
