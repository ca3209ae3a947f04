//! What a caller asks the sandbox to do (`SandboxSpec`, `LayerStack`) and what it gets back
//! (`RunOutcome`, `OutputStream`), plus the checks a spec must pass before anything is started.
//!
//! This module does not run anything and knows nothing about Dockerfiles: fields arrive fully
//! expanded (env as `KEY=value`, the user as written after `USER`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::SandboxError;
pub use crate::mount_spec::{MountSource, SandboxMount, SecretBytes};

/// The `PATH` Docker puts in a container whose environment does not set one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The longest hostname the kernel accepts (`HOST_NAME_MAX`).
const MAX_HOSTNAME_LEN: usize = 64;

/// The directories an overlay filesystem is assembled from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerStack {
    /// Read-only layers, top-most first. May be empty (the root starts out empty).
    pub lowers: Vec<PathBuf>,
    /// Receives every change; after the run it is the layer diff in overlay form.
    pub upper: PathBuf,
    /// Scratch directory owned by the sandbox while mounted: an existing directory on the
    /// same filesystem as `upper`. It receives overlay's own workdir and the private
    /// mountpoints; its content is garbage afterwards (reusable, or to be deleted).
    pub work: PathBuf,
}

/// How the sandbox is connected to the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// What a build step gets unless it asks otherwise: a network namespace of its own
    /// whose outbound traffic goes through user-mode NAT (`slirp4netns`, else `pasta`,
    /// found on `PATH`), with a DNS forwarder; the host's loopback is not reachable. Without
    /// either program `run` fails with `SandboxError::NoNatHelper` (callers choose to fall
    /// back to `Host`, see [`crate::nat_helper`]).
    #[default]
    Default,
    /// A network namespace of its own with only the loopback interface, up.
    None,
    /// Share the host's network namespace (Docker's `--network=host`).
    Host,
}

impl NetworkMode {
    /// Whether the sandbox gets a network namespace of its own.
    pub(crate) fn isolated(self) -> bool {
        !matches!(self, NetworkMode::Host)
    }
}

/// Resource limits for the command and everything it starts (one cgroup per run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Memory limit in bytes (swap included where the kernel accounts it); the kernel's
    /// OOM killer ends the step when it is exceeded.
    pub memory_bytes: Option<u64>,
    /// The largest number of processes and threads alive at once.
    pub max_pids: Option<u64>,
}

impl Resources {
    pub(crate) fn any_limit(&self) -> bool {
        self.memory_bytes.is_some() || self.max_pids.is_some()
    }
}

/// One command to run in a fresh container over `rootfs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    pub rootfs: LayerStack,
    /// The command and its arguments; `args[0]` is looked up in the spec's `PATH` when it
    /// contains no `/`.
    pub args: Vec<String>,
    /// Exactly the environment the command sees, as `KEY=value`.
    pub env: Vec<String>,
    /// Absolute working directory inside the container; created when missing.
    pub cwd: String,
    /// `USER` syntax: `""`, `name`, `uid`, `name:group`, `uid:gid`, ...
    pub user: String,
    pub hostname: String,
    pub network: NetworkMode,
    /// The command (and everything it started) is killed after this long.
    pub timeout: Option<Duration>,
    /// Extra mounts (`RUN --mount`), applied in order of target depth.
    pub mounts: Vec<SandboxMount>,
    pub resources: Resources,
}

/// Which of the command's output streams a chunk of output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// How a command that ran ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    /// The exit status, or 128 + the signal number when a signal ended the command.
    pub exit_code: i32,
    /// Wall-clock time from starting the sandbox to its teardown.
    pub duration: Duration,
}

impl SandboxSpec {
    /// Rejects specs the init could only fail on later, with a message naming the field.
    pub(crate) fn validate(&self) -> Result<(), SandboxError> {
        let invalid = |reason: String| Err(SandboxError::InvalidSpec { reason });
        if self.args.is_empty() || self.args[0].is_empty() {
            return invalid("the command is empty".into());
        }
        let texts =
            self.args
                .iter()
                .chain(&self.env)
                .chain([&self.cwd, &self.user, &self.hostname]);
        if let Some(text) = texts.into_iter().find(|text| text.contains('\0')) {
            return invalid(format!("{text:?} contains a NUL byte"));
        }
        if let Some(entry) = self.env.iter().find(|entry| !entry.contains('=')) {
            return invalid(format!("environment entry {entry:?} is not KEY=value"));
        }
        if !self.cwd.starts_with('/') {
            return invalid(format!("working directory {:?} is not absolute", self.cwd));
        }
        if self.hostname.len() > MAX_HOSTNAME_LEN {
            return invalid(format!(
                "hostname {:?} is longer than {MAX_HOSTNAME_LEN} bytes",
                self.hostname
            ));
        }
        self.mounts.iter().try_for_each(SandboxMount::validate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SandboxSpec {
        SandboxSpec {
            rootfs: LayerStack {
                lowers: vec![],
                upper: "/u".into(),
                work: "/w".into(),
            },
            args: vec!["/bin/true".into()],
            env: vec!["A=1".into()],
            cwd: "/".into(),
            user: String::new(),
            hostname: "box".into(),
            network: NetworkMode::Host,
            timeout: None,
            mounts: vec![],
            resources: Resources::default(),
        }
    }

    fn reason(spec: &SandboxSpec) -> String {
        match spec.validate() {
            Err(SandboxError::InvalidSpec { reason }) => reason,
            other => panic!("expected InvalidSpec, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_plain_spec() {
        assert!(spec().validate().is_ok());
    }

    #[test]
    fn rejects_what_the_init_cannot_apply() {
        let mut s = spec();
        s.args.clear();
        assert_eq!(reason(&s), "the command is empty");

        let mut s = spec();
        s.env.push("NOVALUE".into());
        assert!(reason(&s).contains("NOVALUE"));

        let mut s = spec();
        s.cwd = "rel/dir".into();
        assert!(reason(&s).contains("not absolute"));

        let mut s = spec();
        s.args.push("a\0b".into());
        assert!(reason(&s).contains("NUL"));

        let mut s = spec();
        s.hostname = "h".repeat(65);
        assert!(reason(&s).contains("longer than 64"));
    }
}
