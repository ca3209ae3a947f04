//! Assembling the container's root filesystem from PID 1 of the sandbox: the overlay of the
//! image layers (plus a base layer that supplies every mountpoint — `/proc`, `/dev`, `/sys`,
//! the /etc files, mount targets — so they never appear in the upper dir unless the image
//! has them), the extra mounts prepared while the host is reachable, `pivot_root` into it
//! with the old root detached, a fresh `/proc`, a minimal `/dev`, a read-only `/sys`, the
//! extra mounts attached and the kernel paths Docker hides masked or write-protected.
//!
//! This module must run in a process that already has its own mount and pid namespaces; it
//! does not touch credentials, the hostname or the command.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode};
use rustix::mount::{mount, MountFlags, UnmountFlags};

use crate::error::{SandboxError, SetupStage};
use crate::etc_files::etc_mounts;
use crate::extra_mounts;
use crate::kernel_paths;
use crate::mount_namespace::stop_mount_propagation;
use crate::overlay::{mount_overlay, OverlayLayers};
use crate::scratch::Scratch;
use crate::spec::SandboxSpec;
use crate::stubs;

/// Character devices every container gets: name, major, minor (as in runc's defaults).
const DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// `/dev` symlinks scripts rely on.
const DEV_LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// Mountpoints of the kernel filesystems, which the base layer provides.
const KERNEL_MOUNTPOINTS: [&str; 3] = ["proc", "dev", "sys"];

/// Mounts the layers and the spec's mounts, makes them the root of this mount namespace and
/// mounts the kernel filesystems. Afterwards `/` is the container and the host's tree is
/// unreachable. Returns the mountpoints that had to be created on the root filesystem.
pub(crate) fn enter_container_root(spec: &SandboxSpec) -> Result<Vec<String>, SandboxError> {
    stop_mount_propagation()?;
    let rootfs = &spec.rootfs;
    let scratch = Scratch::new(&rootfs.work)?;
    let mut mounts = etc_mounts(&scratch, &spec.hostname, spec.network)?;
    mounts.extend(spec.mounts.iter().cloned());
    // Sources are prepared first: whether a mountpoint must be a file or a directory is
    // known only once the source is (a layer view may show a single file).
    let prepared = extra_mounts::prepare(&mounts, &scratch)?;
    let base = scratch.dir("base", &KERNEL_MOUNTPOINTS)?;
    for m in &prepared {
        stubs::plant(&base, m.target(), m.kind());
    }
    let target = scratch.dir("root", &[])?;
    let workdir = scratch.overlay_workdir()?;
    let lowers: Vec<&Path> = rootfs
        .lowers
        .iter()
        .map(PathBuf::as_path)
        .chain([base.as_path()])
        .collect();
    let layers = OverlayLayers {
        lowers,
        writable: Some((&rootfs.upper, &workdir)),
    };
    mount_overlay(&layers, &target)?;
    pivot_into(&target)?;
    mount_proc()?;
    populate_dev()?;
    kernel_paths::mount_sys()?;
    let created = extra_mounts::attach(prepared)?;
    kernel_paths::restrict()?;
    Ok(created)
}

/// `pivot_root(".", ".")` in the new root, then detach the old root stacked on top of it.
fn pivot_into(new_root: &Path) -> Result<(), SandboxError> {
    let fail = |path: &str, e: rustix::io::Errno| {
        SandboxError::setup(SetupStage::PivotRoot, path, e.into())
    };
    rustix::process::chdir(new_root)
        .map_err(|e| SandboxError::setup(SetupStage::PivotRoot, new_root, e.into()))?;
    rustix::process::pivot_root(".", ".").map_err(|e| fail(".", e))?;
    rustix::mount::unmount(".", UnmountFlags::DETACH).map_err(|e| fail("old root", e))?;
    rustix::process::chdir("/").map_err(|e| fail("/", e))
}

fn mount_proc() -> Result<(), SandboxError> {
    mount(
        "proc",
        "/proc",
        "proc",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        None,
    )
    .map_err(|e| SandboxError::setup(SetupStage::ProcMount, "/proc", e.into()))
}

/// A tmpfs `/dev` with the standard devices, a private devpts, `/dev/shm` and the usual links.
fn populate_dev() -> Result<(), SandboxError> {
    let fail = |path: &str, e: std::io::Error| SandboxError::setup(SetupStage::DevSetup, path, e);
    mount_tmpfs("/dev", MountFlags::NOSUID, "mode=755,size=65536k")?;
    for (name, major, minor) in DEVICES {
        let path = format!("/dev/{name}");
        let mode = Mode::from_raw_mode(0o666);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            FileType::CharacterDevice,
            mode,
            rustix::fs::makedev(major, minor),
        )
        .and_then(|()| rustix::fs::chmod(&path, mode))
        .map_err(|e| fail(&path, e.into()))?;
    }
    for dir in ["/dev/pts", "/dev/shm"] {
        std::fs::create_dir(dir).map_err(|e| fail(dir, e))?;
    }
    mount(
        "devpts",
        "/dev/pts",
        "devpts",
        MountFlags::NOSUID | MountFlags::NOEXEC,
        c"newinstance,ptmxmode=0666,mode=0620,gid=5",
    )
    .map_err(|e| fail("/dev/pts", e.into()))?;
    mount_tmpfs(
        "/dev/shm",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        "mode=1777,size=65536k",
    )?;
    for (name, target) in DEV_LINKS {
        let path = format!("/dev/{name}");
        symlink(target, &path).map_err(|e| fail(&path, e))?;
    }
    Ok(())
}

fn mount_tmpfs(target: &str, flags: MountFlags, options: &str) -> Result<(), SandboxError> {
    let fail = |e: std::io::Error| SandboxError::setup(SetupStage::DevSetup, target, e);
    let options = std::ffi::CString::new(options).map_err(|e| fail(e.into()))?;
    mount("tmpfs", target, "tmpfs", flags, &*options).map_err(|e| fail(e.into()))
}
