//! The sandbox's private layout inside a `LayerStack`'s work directory: overlay's own
//! workdir, the base layer that provides mountpoints, an empty layer, and mountpoint
//! directories. Keeping all of it in `work` means nothing is created anywhere else on the
//! host and nothing leaks into the upper dir; the caller discards `work` after the run.
//!
//! This module only creates directories; it mounts nothing.

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::error::{SandboxError, SetupStage};

/// Directory names inside `work`.
const OVERLAY_WORKDIR: &str = "ovl";
const EMPTY_LAYER: &str = "empty";

pub(crate) struct Scratch {
    work: PathBuf,
}

impl Scratch {
    /// Uses `work` (which must exist) for the sandbox's private directories.
    pub(crate) fn new(work: &Path) -> Result<Scratch, SandboxError> {
        let scratch = Scratch {
            work: work.to_path_buf(),
        };
        let fail = |e| SandboxError::setup(SetupStage::ScratchDirs, work, e);
        let metadata = std::fs::metadata(work).map_err(fail)?;
        if !metadata.is_dir() {
            return Err(fail(std::io::Error::from_raw_os_error(libc::ENOTDIR)));
        }
        Ok(scratch)
    }

    /// overlayfs's workdir: on `work`'s filesystem, as overlay requires.
    pub(crate) fn overlay_workdir(&self) -> Result<PathBuf, SandboxError> {
        self.dir(OVERLAY_WORKDIR, &[])
    }

    /// A layer with nothing in it.
    pub(crate) fn empty_layer(&self) -> Result<PathBuf, SandboxError> {
        self.dir(EMPTY_LAYER, &[])
    }

    /// `work/name` with the given subdirectories, emptied first when an earlier run that
    /// used the same `work` left it behind.
    pub(crate) fn fresh_dir(&self, name: &str, subdirs: &[&str]) -> Result<PathBuf, SandboxError> {
        let dir = self.work.join(name);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(SandboxError::setup(SetupStage::ScratchDirs, &dir, e))
            }
            _ => {}
        }
        self.dir(name, subdirs)
    }

    /// `work/name` with the given subdirectories, created (0755) if missing.
    pub(crate) fn dir(&self, name: &str, subdirs: &[&str]) -> Result<PathBuf, SandboxError> {
        let dir = self.work.join(name);
        let mut builder = DirBuilder::new();
        builder.recursive(true).mode(0o755);
        for path in std::iter::once(dir.clone()).chain(subdirs.iter().map(|sub| dir.join(sub))) {
            builder
                .create(&path)
                .map_err(|e| SandboxError::setup(SetupStage::ScratchDirs, &path, e))?;
        }
        Ok(dir)
    }
}
