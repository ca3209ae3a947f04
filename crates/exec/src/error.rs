//! `SandboxError`: everything that can keep a command from running (as opposed to a command
//! that ran and exited non-zero, which is a `RunOutcome`), and `SetupStage`, the step of
//! sandbox assembly a low-level failure happened in.
//!
//! This module only describes failures; the init process ships them across a pipe through
//! the `report` module.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A step in assembling a sandbox or a private layer mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetupStage {
    ReadSpec,
    Stdio,
    MountNamespace,
    MountPropagation,
    ScratchDirs,
    OverlayLayer,
    OverlayMount,
    BindMount,
    PivotRoot,
    ProcMount,
    DevSetup,
    KernelPaths,
    EtcFiles,
    ExtraMount,
    Network,
    Cgroup,
    Hostname,
    UserDatabase,
    WorkingDirectory,
    Credentials,
    Capabilities,
    Seccomp,
    Signals,
    Fork,
}

impl fmt::Display for SetupStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SetupStage::ReadSpec => "reading the sandbox spec",
            SetupStage::Stdio => "setting up the command's stdin",
            SetupStage::MountNamespace => "entering a private mount namespace",
            SetupStage::MountPropagation => "making mounts private to the sandbox",
            SetupStage::ScratchDirs => "preparing the sandbox scratch directories",
            SetupStage::OverlayLayer => "adding an overlay layer",
            SetupStage::OverlayMount => "mounting the overlay",
            SetupStage::BindMount => "bind-mounting a read-only layer",
            SetupStage::PivotRoot => "pivoting into the root filesystem",
            SetupStage::ProcMount => "mounting /proc",
            SetupStage::DevSetup => "populating /dev",
            SetupStage::KernelPaths => "restricting /proc and /sys",
            SetupStage::EtcFiles => "writing /etc/hosts, /etc/hostname and /etc/resolv.conf",
            SetupStage::ExtraMount => "mounting",
            SetupStage::Network => "setting up the network namespace",
            SetupStage::Cgroup => "setting up the run's cgroup",
            SetupStage::Hostname => "setting the hostname",
            SetupStage::UserDatabase => "reading the user database",
            SetupStage::WorkingDirectory => "creating the working directory",
            SetupStage::Credentials => "switching to the command's user",
            SetupStage::Capabilities => "dropping capabilities",
            SetupStage::Seccomp => "installing the seccomp filter",
            SetupStage::Signals => "installing signal forwarding",
            SetupStage::Fork => "starting a process",
        })
    }
}

/// Why a command could not be run.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid sandbox spec: {reason}")]
    InvalidSpec { reason: String },

    #[error("starting the sandbox init process: {source}")]
    Spawn {
        #[source]
        source: io::Error,
    },

    #[error("{stage} ({}): {source}{}", path.display(), detail_suffix(detail))]
    Setup {
        stage: SetupStage,
        path: PathBuf,
        /// The kernel's own explanation, when it gave one (overlayfs does).
        detail: Option<String>,
        #[source]
        source: io::Error,
    },

    #[error("unable to find user {user}: no matching entries in passwd file")]
    UnknownUser { user: String },

    #[error("unable to find group {group}: no matching entries in group file")]
    UnknownGroup { group: String },

    #[error("invalid user {user:?}: {reason}")]
    InvalidUser { user: String, reason: String },

    #[error("exec: {executable:?}: {}", if *searched_path {
        "executable file not found in $PATH"
    } else {
        "no such file or directory"
    })]
    ExecutableNotFound {
        executable: String,
        /// Whether `executable` was looked up in `PATH` (it contained no `/`).
        searched_path: bool,
    },

    #[error("exec: {executable:?}: {source}")]
    ExecFailed {
        executable: String,
        #[source]
        source: io::Error,
    },

    #[error("the command did not finish within {limit:?} and was killed")]
    TimedOut { limit: Duration },

    #[error("the run was cancelled and everything it started was killed")]
    Cancelled,

    #[error(
        "the sandbox init ended with status {status} before starting the command \
         (does the binary call rbuild_exec::init_hook() first thing in main?)"
    )]
    InitDied { status: i32 },

    #[error(
        "the default RUN network needs a user-mode NAT program and neither is on PATH: \
         install {}",
        crate::nat_helper::NAT_PACKAGES
    )]
    NoNatHelper,

    #[error("starting {helper} for the step's network: {reason}")]
    NatFailed {
        helper: &'static str,
        reason: String,
    },

    #[error("malformed report from the sandbox init: {reason}")]
    Protocol { reason: String },

    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        #[source]
        source: io::Error,
    },
}

impl SandboxError {
    /// The exit status a shell (and Docker) gives this failure, when it is one a command
    /// could have caused: 127 for a missing executable, 126 for one that cannot be run.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            SandboxError::ExecutableNotFound { .. } => Some(127),
            SandboxError::ExecFailed { .. } => Some(126),
            _ => None,
        }
    }

    pub(crate) fn setup(stage: SetupStage, path: impl Into<PathBuf>, source: io::Error) -> Self {
        SandboxError::Setup {
            stage,
            path: path.into(),
            detail: None,
            source,
        }
    }

    pub(crate) fn io(context: &'static str, source: impl Into<io::Error>) -> Self {
        SandboxError::Io {
            context,
            source: source.into(),
        }
    }
}

#[cfg(test)]
impl SandboxError {
    /// Stage, path and errno of a `Setup` error, for assertions.
    pub(crate) fn setup_parts(&self) -> Option<(SetupStage, &std::path::Path, Option<i32>)> {
        match self {
            SandboxError::Setup {
                stage,
                path,
                source,
                ..
            } => Some((*stage, path.as_path(), source.raw_os_error())),
            _ => None,
        }
    }
}

fn detail_suffix(detail: &Option<String>) -> String {
    match detail {
        Some(text) if !text.is_empty() => format!(" ({text})"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_stage_path_and_cause() {
        let err = SandboxError::Setup {
            stage: SetupStage::OverlayLayer,
            path: "/layers/a".into(),
            detail: Some("overlayfs: failed to resolve '/layers/a': -2".into()),
            source: io::Error::from_raw_os_error(libc::ENOENT),
        };
        let text = err.to_string();
        assert!(
            text.starts_with("adding an overlay layer (/layers/a): "),
            "{text}"
        );
        assert!(text.contains("No such file or directory"), "{text}");
        assert!(
            text.ends_with("(overlayfs: failed to resolve '/layers/a': -2)"),
            "{text}"
        );
    }

    #[test]
    fn missing_executables_read_like_docker() {
        let in_path = SandboxError::ExecutableNotFound {
            executable: "nope".into(),
            searched_path: true,
        };
        assert_eq!(
            in_path.to_string(),
            "exec: \"nope\": executable file not found in $PATH"
        );
        assert_eq!(in_path.exit_code(), Some(127));
        let absolute = SandboxError::ExecutableNotFound {
            executable: "/bin/nope".into(),
            searched_path: false,
        };
        assert_eq!(
            absolute.to_string(),
            "exec: \"/bin/nope\": no such file or directory"
        );
    }
}
