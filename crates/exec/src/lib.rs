//! The RUN sandbox and private layer mounts.
//!
//! [`run`] executes one command in a fresh container: new mount, UTS, IPC and pid
//! namespaces, an overlayfs root assembled from layer directories (changes land in the
//! upper dir, deletions as overlay whiteouts), `pivot_root`, fresh `/proc`, a minimal
//! `/dev`, the image's user and groups, exactly the given environment. It works by
//! re-executing the current binary as an init process, so every binary that uses it must
//! call [`init_hook`] first thing in `main()`.
//!
//! [`with_mounted_layers`] gives COPY/ADD/WORKDIR-style operations the merged view of layer
//! stacks without a container, and [`resolve_user`] resolves `USER` strings inside a root
//! filesystem as the sandbox does.
//!
//! This crate knows nothing of Dockerfiles or the store: it is handed directories.
//! Capabilities, seccomp, no_new_privs, masked paths, network isolation, cgroups and RUN
//! mounts are not applied yet (the spec has room for them: `network`, and more fields later).

mod command;
mod container_root;
mod error;
mod identity;
mod init;
mod launcher;
mod layer_mounts;
mod mount_namespace;
mod output;
mod overlay;
mod pid1;
mod report;
mod scratch;
mod spec;
mod user_db;

pub use error::{SandboxError, SetupStage};
pub use identity::{resolve_user, Identity};
pub use init::init_hook;
pub use launcher::run;
pub use layer_mounts::with_mounted_layers;
pub use spec::{LayerStack, NetworkMode, OutputStream, RunOutcome, SandboxSpec, DEFAULT_PATH};
