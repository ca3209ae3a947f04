//! `with_mounted_layers`: the merged view of a writable layer stack (and of read-only
//! stacks) for operations that need a filesystem but no container — COPY, ADD, WORKDIR.
//! Everything is mounted in a private mount namespace on a dedicated thread and unmounted
//! before the call returns, so the upper dir is settled and reusable afterwards.
//!
//! This module does not start processes. The closure runs on the mounting thread; only that
//! thread and threads it spawns see the mounts (a thread pool created earlier does not).

use std::path::{Path, PathBuf};

use rustix::mount::{mount_bind, mount_remount, unmount, MountFlags, UnmountFlags};

use crate::error::{SandboxError, SetupStage};
use crate::mount_namespace::on_private_mount_thread;
use crate::overlay::{mount_overlay, OverlayLayers};
use crate::scratch::Scratch;
use crate::spec::LayerStack;

/// Mounts `rw` (lowers + upper + work) and each `ro` stack (a read-only overlay of its
/// lowers, or a read-only bind of a single directory), calls `f(merged_rw, &merged_ro)` on
/// the mounting thread, unmounts everything and returns `f`'s result.
///
/// The mountpoints are directories inside `rw.work`. Only the thread running `f` and threads
/// it spawns see the mounts: `f` must not hand the paths to a pre-existing thread pool.
pub fn with_mounted_layers<T: Send>(
    rw: &LayerStack,
    ro: &[Vec<PathBuf>],
    f: impl FnOnce(&Path, &[PathBuf]) -> T + Send,
) -> Result<T, SandboxError> {
    on_private_mount_thread(|| {
        let scratch = Scratch::new(&rw.work)?;
        let mut mounted = MountedSet::default();
        let merged_rw = scratch.dir("rw", &[])?;
        mount_writable(rw, &scratch, &merged_rw)?;
        mounted.push(merged_rw.clone());
        let mut merged_ro = Vec::with_capacity(ro.len());
        for (index, lowers) in ro.iter().enumerate() {
            let target = scratch.dir(&format!("ro-{index}"), &[])?;
            mount_read_only(lowers, &scratch, &target)?;
            mounted.push(target.clone());
            merged_ro.push(target);
        }
        let result = f(&merged_rw, &merged_ro);
        mounted.unmount_all();
        Ok(result)
    })
}

fn mount_writable(rw: &LayerStack, scratch: &Scratch, target: &Path) -> Result<(), SandboxError> {
    let empty;
    let mut lowers: Vec<&Path> = rw.lowers.iter().map(PathBuf::as_path).collect();
    if lowers.is_empty() {
        empty = scratch.empty_layer()?;
        lowers.push(&empty);
    }
    let workdir = scratch.overlay_workdir()?;
    let layers = OverlayLayers {
        lowers,
        writable: Some((&rw.upper, &workdir)),
    };
    let api = mount_overlay(&layers, target)?;
    tracing::debug!(layers = layers.lowers.len(), ?api, target = %target.display(), "mounted layers");
    Ok(())
}

fn mount_read_only(
    lowers: &[PathBuf],
    scratch: &Scratch,
    target: &Path,
) -> Result<(), SandboxError> {
    match lowers {
        [] => bind_read_only(&scratch.empty_layer()?, target),
        [single] => bind_read_only(single, target),
        several => {
            let layers = OverlayLayers {
                lowers: several.iter().map(PathBuf::as_path).collect(),
                writable: None,
            };
            mount_overlay(&layers, target).map(drop)
        }
    }
}

fn bind_read_only(source: &Path, target: &Path) -> Result<(), SandboxError> {
    let fail = |path: &Path, e: rustix::io::Errno| {
        SandboxError::setup(SetupStage::BindMount, path, e.into())
    };
    mount_bind(source, target).map_err(|e| fail(source, e))?;
    mount_remount(
        target,
        MountFlags::BIND | MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV,
        "",
    )
    .map_err(|e| fail(target, e))
}

/// Mountpoints to take down, last mounted first; whatever is left when this is dropped is
/// detached (the namespace dies with the thread anyway).
#[derive(Default)]
struct MountedSet {
    targets: Vec<PathBuf>,
}

impl MountedSet {
    fn push(&mut self, target: PathBuf) {
        self.targets.push(target);
    }

    /// Unmounts synchronously, so the overlay has released upper and work on return; a mount
    /// still busy (a file left open) is detached instead.
    fn unmount_all(&mut self) {
        while let Some(target) = self.targets.pop() {
            if unmount(&target, UnmountFlags::empty()).is_err() {
                let _ = unmount(&target, UnmountFlags::DETACH);
            }
        }
    }
}

impl Drop for MountedSet {
    fn drop(&mut self) {
        self.unmount_all();
    }
}
