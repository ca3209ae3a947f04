//! The RUN sandbox and private layer mounts.
//!
//! [`run`] executes one command in a fresh container hardened like Docker's default one:
//! new mount, UTS, IPC and pid namespaces (and a network namespace: with user-mode NAT
//! through slirp4netns or pasta for [`NetworkMode::Default`], only `lo` for
//! [`NetworkMode::None`]), an overlayfs root assembled from layer directories (changes
//! land in the upper dir, deletions as overlay whiteouts), `pivot_root`, fresh `/proc`
//! with Docker's masked and read-only paths, a read-only `/sys`, a minimal `/dev`,
//! generated `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`, the caller's extra
//! [`SandboxMount`]s, the image's user and groups, exactly the given environment, Docker's
//! default capabilities, `no_new_privs` and its default seccomp profile, and a cgroup of
//! its own carrying the memory and pids limits. Mountpoints the sandbox had to create are
//! removed from the upper dir afterwards, so layers never gain empty stubs. A
//! [`CancelToken`] kills a run and everything it started.
//!
//! It works by re-executing the current binary as an init process, so every binary that
//! uses it must call [`init_hook`] first thing in `main()`.
//!
//! [`with_mounted_layers`] gives COPY/ADD/WORKDIR-style operations the merged view of layer
//! stacks without a container, and [`resolve_user`] resolves `USER` strings inside a root
//! filesystem as the sandbox does.
//!
//! This crate knows nothing of Dockerfiles or the store: it is handed directories (and,
//! for secrets, bytes).

mod cancel;
mod cgroup;
mod cgroup_paths;
mod command;
mod container_root;
mod emulation;
mod error;
mod etc_files;
mod extra_mounts;
mod identity;
mod init;
mod kernel_paths;
mod launcher;
mod layer_mounts;
mod mount_namespace;
mod mount_spec;
mod nat_helper;
mod network;
mod network_pool;
mod output;
mod overlay;
mod pid1;
mod privileges;
mod report;
mod scratch;
mod seccomp;
mod seccomp_profile;
mod spec;
mod stubs;
mod user_db;
mod user_nat;

pub use cancel::CancelToken;
pub use cgroup::sweep_dead_cgroups;
pub use emulation::{
    check_architecture, emulated_architectures, EmulatedArchitecture, EmulationError,
};
pub use error::{SandboxError, SetupStage};
pub use identity::{resolve_user, Identity};
pub use init::init_hook;
pub use launcher::run;
pub use layer_mounts::with_mounted_layers;
pub use nat_helper::{nat_helper, NatHelper, NAT_PACKAGES};
pub use network_pool::NetworkPoolScope;
pub use spec::{
    LayerStack, MountSource, NetworkMode, OutputStream, Resources, RunOutcome, SandboxMount,
    SandboxSpec, SecretBytes, DEFAULT_PATH,
};
