//! Mounting a spec's extra mounts (RUN mounts, and the generated /etc files) in two phases
//! around `pivot_root`: `prepare` runs while host paths are still reachable and turns each
//! mount into a detached mount tree (bind clones, overlays, tmpfs, secret files on a private
//! tmpfs); `attach` runs inside the container and moves each tree onto its target, resolved
//! inside the container so symlinks in the image can never point a mount at the host.
//!
//! This module does not decide what is mounted (the caller's spec does) and does not clean
//! up mountpoints it had to create (`stubs` does, on the host side, after the run).

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags, CWD};
use rustix::mount::{
    mount, mount_remount, move_mount, open_tree, MountFlags, MoveMountFlags, OpenTreeFlags,
};

use crate::error::{SandboxError, SetupStage};
use crate::mount_spec::{target_depth, MountSource, MountpointKind, SandboxMount};
use crate::overlay::{mount_overlay, OverlayLayers};
use crate::scratch::Scratch;
use crate::stubs::ensure_mountpoint;

/// A mount turned into a detached tree, waiting for its target.
pub(crate) struct PreparedMount {
    tree: OwnedFd,
    target: String,
    kind: MountpointKind,
    read_only: bool,
}

/// Mounts every source under `scratch` (host paths are still reachable) and keeps a
/// detached clone of each; shallow targets come first.
pub(crate) fn prepare(
    mounts: &[SandboxMount],
    scratch: &Scratch,
) -> Result<Vec<PreparedMount>, SandboxError> {
    let mut ordered: Vec<&SandboxMount> = mounts.iter().collect();
    ordered.sort_by_key(|m| target_depth(&m.target));
    ordered
        .into_iter()
        .enumerate()
        .map(|(index, m)| {
            let tree = detached_tree(m, scratch, index)?;
            Ok(PreparedMount {
                kind: tree_kind(&tree).unwrap_or_else(|| m.mountpoint_kind()),
                tree,
                target: m.target.clone(),
                read_only: m.read_only,
            })
        })
        .collect()
}

impl PreparedMount {
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// Whether the mountpoint must be a file or a directory: what the source turned out to
    /// be (a bind of one file from a context or a stage needs a file to mount on).
    pub(crate) fn kind(&self) -> MountpointKind {
        self.kind
    }
}

/// The kind of mountpoint the root of a detached tree needs; `None` when it cannot be told.
fn tree_kind(tree: &OwnedFd) -> Option<MountpointKind> {
    let stat = rustix::fs::fstat(tree).ok()?;
    Some(
        if rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Directory {
            MountpointKind::Directory
        } else {
            MountpointKind::File
        },
    )
}

/// Attaches every prepared tree inside the container (the caller has pivoted into it) and
/// returns the container paths of the mountpoints that had to be created on the root
/// filesystem.
pub(crate) fn attach(prepared: Vec<PreparedMount>) -> Result<Vec<String>, SandboxError> {
    let mut created = Vec::new();
    for mount in prepared {
        let fail =
            |e: std::io::Error| SandboxError::setup(SetupStage::ExtraMount, &mount.target, e);
        let (resolved, stubs) = ensure_mountpoint(&mount.target, mount.kind)?;
        created.extend(stubs);
        move_mount(
            mount.tree.as_fd(),
            "",
            CWD,
            &resolved,
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .map_err(|e| fail(e.into()))?;
        if mount.read_only {
            let flags =
                MountFlags::BIND | MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV;
            mount_remount(&resolved, flags, "").map_err(|e| fail(e.into()))?;
        }
    }
    Ok(created)
}

fn detached_tree(
    m: &SandboxMount,
    scratch: &Scratch,
    index: usize,
) -> Result<OwnedFd, SandboxError> {
    let fail =
        |path: &Path, e: std::io::Error| SandboxError::setup(SetupStage::ExtraMount, path, e);
    match &m.source {
        MountSource::HostPath { path } => clone_tree(CWD, path).map_err(|e| fail(path, e)),
        MountSource::Layers {
            lowers,
            subpath,
            upper,
        } => {
            let mountpoint = scratch.dir(&format!("mount-{index}"), &[])?;
            mount_layers(
                lowers,
                upper.as_ref(),
                m.read_only,
                scratch,
                index,
                &mountpoint,
            )?;
            clone_subpath(&mountpoint, subpath).map_err(|e| fail(&mountpoint.join(subpath), e))
        }
        MountSource::Tmpfs { size_bytes } => {
            let mountpoint = scratch.dir(&format!("mount-{index}"), &[])?;
            let options = size_bytes.map_or(String::from("mode=755"), |size| {
                format!("mode=755,size={size}")
            });
            mount_tmpfs(&mountpoint, &options).map_err(|e| fail(&mountpoint, e))?;
            clone_tree(CWD, &mountpoint).map_err(|e| fail(&mountpoint, e))
        }
        MountSource::File {
            contents,
            mode,
            uid,
            gid,
        } => {
            let mountpoint = scratch.dir(&format!("mount-{index}"), &[])?;
            let shown = Path::new(&m.target);
            mount_tmpfs(&mountpoint, "mode=755,size=16m").map_err(|e| fail(shown, e))?;
            let file = mountpoint.join("file");
            write_private_file(&file, &contents.0, *mode, *uid, *gid)
                .map_err(|e| fail(shown, e))?;
            clone_tree(CWD, &file).map_err(|e| fail(shown, e))
        }
    }
}

fn mount_layers(
    lowers: &[PathBuf],
    upper: Option<&(PathBuf, PathBuf)>,
    read_only: bool,
    scratch: &Scratch,
    index: usize,
    mountpoint: &Path,
) -> Result<(), SandboxError> {
    let throwaway;
    let writable = match (read_only, upper) {
        (true, _) => None,
        (false, Some((upper, work))) => Some((upper.as_path(), work.as_path())),
        (false, None) => {
            let dir = scratch.fresh_dir(&format!("mount-{index}-rw"), &["upper", "work"])?;
            throwaway = (dir.join("upper"), dir.join("work"));
            Some((throwaway.0.as_path(), throwaway.1.as_path()))
        }
    };
    // A read-only overlay needs two layers; a single read-only layer is bound instead.
    if let ([single], None) = (lowers, writable) {
        return rustix::mount::mount_bind(single, mountpoint)
            .map_err(|e| SandboxError::setup(SetupStage::ExtraMount, single, e.into()));
    }
    let layers = OverlayLayers {
        lowers: lowers.iter().map(PathBuf::as_path).collect(),
        writable,
    };
    mount_overlay(&layers, mountpoint).map(drop)
}

/// A detached, non-recursive clone of the mount at `path` (relative to `dir`).
fn clone_tree<Fd: AsFd>(dir: Fd, path: &Path) -> std::io::Result<OwnedFd> {
    open_tree(
        dir,
        path,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .map_err(Into::into)
}

/// Clones `subpath` of the tree mounted at `mountpoint`, resolving it as if the mount were
/// `/`, so a symlink in a layer cannot reach outside it.
fn clone_subpath(mountpoint: &Path, subpath: &str) -> std::io::Result<OwnedFd> {
    let root = rustix::fs::open(
        mountpoint,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let relative = subpath.trim_start_matches('/');
    let relative = if relative.is_empty() { "." } else { relative };
    let inner = rustix::fs::openat2(
        &root,
        relative,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )?;
    open_tree(
        &inner,
        "",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH,
    )
    .map_err(Into::into)
}

fn mount_tmpfs(mountpoint: &Path, options: &str) -> std::io::Result<()> {
    let options = std::ffi::CString::new(options)?;
    mount(
        "tmpfs",
        mountpoint,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        &*options,
    )
    .map_err(Into::into)
}

/// Creates `path` with exactly `mode` (no umask) and owner, holding `contents`.
fn write_private_file(
    path: &Path,
    contents: &[u8],
    mode: u32,
    uid: u32,
    gid: u32,
) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    rustix::fs::fchown(
        &file,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
    )?;
    rustix::fs::fchmod(&file, Mode::from_raw_mode(mode & 0o7777))?;
    Ok(())
}
