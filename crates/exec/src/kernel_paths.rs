//! The kernel interfaces a container sees, restricted as Docker's defaults restrict them
//! (moby `oci/defaults.go`): `/sys` is a read-only sysfs; masked paths show nothing (an
//! empty read-only tmpfs over a directory, `/dev/null` over a file); read-only paths stay
//! visible but cannot be written.
//!
//! Runs inside the container after `/proc` and `/dev` are mounted; it does not mount them.

use std::path::Path;

use rustix::mount::{mount, mount_bind, mount_bind_recursive, mount_remount, MountFlags};

use crate::error::{SandboxError, SetupStage};

/// Paths that reveal host information or kernel internals: hidden completely.
pub(crate) const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths that stay readable but would change the host's kernel if written.
pub(crate) const READ_ONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Mounts a read-only sysfs on `/sys`.
pub(crate) fn mount_sys() -> Result<(), SandboxError> {
    mount(
        "sysfs",
        "/sys",
        "sysfs",
        MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        None,
    )
    .map_err(|e| SandboxError::setup(SetupStage::KernelPaths, "/sys", e.into()))
}

/// Masks and write-protects the paths above; paths this kernel lacks are skipped.
pub(crate) fn restrict() -> Result<(), SandboxError> {
    for path in MASKED_PATHS {
        mask(Path::new(path))?;
    }
    for path in READ_ONLY_PATHS {
        make_read_only(Path::new(path))?;
    }
    Ok(())
}

fn mask(path: &Path) -> Result<(), SandboxError> {
    let fail = |e: rustix::io::Errno| SandboxError::setup(SetupStage::KernelPaths, path, e.into());
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    if meta.is_dir() {
        mount(
            "tmpfs",
            path,
            "tmpfs",
            MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            c"size=0",
        )
        .map_err(fail)
    } else {
        mount_bind("/dev/null", path).map_err(fail)
    }
}

fn make_read_only(path: &Path) -> Result<(), SandboxError> {
    let fail = |e: rustix::io::Errno| SandboxError::setup(SetupStage::KernelPaths, path, e.into());
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    mount_bind_recursive(path, path).map_err(fail)?;
    mount_remount(
        path,
        MountFlags::BIND
            | MountFlags::RDONLY
            | MountFlags::NOSUID
            | MountFlags::NODEV
            | MountFlags::NOEXEC,
        "",
    )
    .map_err(fail)
}
