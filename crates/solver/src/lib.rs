//! The solver: the build graph the frontend produces, cache keys, and the scheduler that
//! runs only what the cache misses — RUN in the sandbox, COPY and WORKDIR on private overlay
//! mounts, ADD's URLs and git repositories fetched first — then assembles and exports the
//! image.
//!
//! It knows ops and keys, not Dockerfile syntax: every argument arrives expanded.

pub mod cache_io;
mod context;
mod copy_reuse;
mod error;
mod execute;
pub mod explain;
mod export;
#[cfg(test)]
mod fixtures;
pub use rbuild_graph as graph;
mod image;
mod key;
mod mounts;
mod ops;
pub mod progress;
mod remote;
mod rootfs;
mod schedule;
mod solve;
#[cfg(test)]
mod solve_tests;

pub use context::{BuildContexts, MAIN_CONTEXT};
pub use error::{ExportError, SolveError, StepFailure};
pub use export::{
    commit_index_to_store, commit_to_store, export_images, save_stored_images, stored_image_parts,
    Export,
};
pub use image::{
    assemble_image, image_chain, manifest_config, resolve_local_image, rfc3339, BuiltImage,
    LocalImage,
};
pub use key::{key_material, KeyInputs, KeyMaterial};
pub use mounts::{MountError, RunEnvironment, SecretSource, Secrets, SshAgents};
pub use rbuild_oci::cause_chain;
pub use remote::{checkout_git_context, RemoteError, RemoteVersion};
pub use solve::{SolveOptions, SolveOutcome, Solver, VertexResult};
