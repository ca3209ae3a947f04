//! What a caller may mount into a sandbox besides its root filesystem (`SandboxMount`,
//! `MountSource`), secret file contents that never print (`SecretBytes`), and the checks a
//! mount must pass before anything is started.
//!
//! This module describes mounts only; `extra_mounts` prepares and attaches them inside the
//! sandbox. It knows nothing of `RUN --mount` syntax: the caller has already decided which
//! host directories, layers or bytes each mount shows.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::SandboxError;

/// One mount in the container, on top of its root filesystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxMount {
    pub source: MountSource,
    /// Absolute path in the container. Symlinks on the way resolve inside the container;
    /// a missing mountpoint is created and removed from the layer again after the run.
    pub target: String,
    pub read_only: bool,
}

/// What a mount shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountSource {
    /// A host directory, file or socket, bind-mounted. Writes (unless `read_only`) reach
    /// the host path: use it for state meant to persist, such as cache mounts.
    HostPath { path: PathBuf },
    /// The merged view of `lowers` (top-most first), or of `subpath` inside it (resolved
    /// inside the view: its symlinks cannot leave it). Writes land in `upper` (with its
    /// overlay `work` dir) when given; otherwise in a throw-away upper dir discarded with
    /// the sandbox.
    Layers {
        lowers: Vec<PathBuf>,
        subpath: String,
        upper: Option<(PathBuf, PathBuf)>,
    },
    /// An empty tmpfs; `size_bytes` caps it (the kernel's default is half of RAM).
    Tmpfs { size_bytes: Option<u64> },
    /// A file holding `contents` with the given permission bits and owner, on a private
    /// tmpfs: it exists nowhere on disk and never in the layer.
    File {
        contents: SecretBytes,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

/// Bytes that must not show up in logs: `Debug` prints only their length.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretBytes(pub Vec<u8>);

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes({} bytes, redacted)", self.0.len())
    }
}

/// Whether a mountpoint for a mount is a directory or a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MountpointKind {
    Directory,
    File,
}

impl SandboxMount {
    /// The kind of mountpoint the mount needs.
    pub(crate) fn mountpoint_kind(&self) -> MountpointKind {
        match &self.source {
            MountSource::File { .. } => MountpointKind::File,
            MountSource::HostPath { path } if !path.is_dir() => MountpointKind::File,
            _ => MountpointKind::Directory,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), SandboxError> {
        let invalid = |reason: String| Err(SandboxError::InvalidSpec { reason });
        if target_components(&self.target).is_none() {
            return invalid(format!(
                "mount target {:?} must be an absolute path below /",
                self.target
            ));
        }
        match &self.source {
            MountSource::Layers { lowers, .. } if lowers.is_empty() => {
                invalid(format!("the mount on {:?} has no layers", self.target))
            }
            MountSource::HostPath { path } if !path.is_absolute() => invalid(format!(
                "the mount on {:?} has a relative source {}",
                self.target,
                path.display()
            )),
            _ => Ok(()),
        }
    }
}

/// The normal components of an absolute container path, `.` and `..` resolved lexically
/// (as the kernel would at `/`); `None` for a relative path, one with a NUL byte, or `/`
/// itself.
pub(crate) fn target_components(target: &str) -> Option<Vec<String>> {
    if !target.starts_with('/') || target.contains('\0') {
        return None;
    }
    let mut parts: Vec<String> = Vec::new();
    for component in Path::new(target).components() {
        match component {
            Component::Normal(name) => parts.push(name.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    (!parts.is_empty()).then_some(parts)
}

/// How deep a target is: mounts are applied shallowest first, so a mount inside another
/// mount's target lands on top of it (as Docker sorts them).
pub(crate) fn target_depth(target: &str) -> usize {
    target_components(target).map_or(0, |parts| parts.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(target: &str, source: MountSource) -> SandboxMount {
        SandboxMount {
            source,
            target: target.into(),
            read_only: false,
        }
    }

    #[test]
    fn targets_resolve_lexically_below_the_root() {
        assert_eq!(
            target_components("/a/./b/../c//d"),
            Some(vec!["a".to_string(), "c".into(), "d".into()])
        );
        assert_eq!(target_components("/../../etc"), Some(vec!["etc".into()]));
        assert_eq!(target_components("/"), None);
        assert_eq!(target_components("/a/.."), None);
        assert_eq!(target_components("relative"), None);
        assert_eq!(target_depth("/a/b/c"), 3);
    }

    #[test]
    fn invalid_mounts_are_named() {
        let tmpfs = MountSource::Tmpfs { size_bytes: None };
        let err = mount("/", tmpfs.clone())
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"/\""), "{err}");
        assert!(mount("/cache", tmpfs).validate().is_ok());
        let layers = MountSource::Layers {
            lowers: vec![],
            subpath: String::new(),
            upper: None,
        };
        let err = mount("/src", layers).validate().unwrap_err().to_string();
        assert!(err.contains("no layers"), "{err}");
    }

    #[test]
    fn secret_bytes_never_print() {
        let secret = SecretBytes(b"hunter2".to_vec());
        let shown = format!(
            "{:?}",
            mount(
                "/run/secrets/pw",
                MountSource::File {
                    contents: secret,
                    mode: 0o400,
                    uid: 0,
                    gid: 0
                }
            )
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("7 bytes"), "{shown}");
    }
}
