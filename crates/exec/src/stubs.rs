//! Mountpoints that must not become part of the layer (like BuildKit's MountStubsCleaner).
//!
//! Three steps: `plant` puts every mountpoint into the sandbox's bottom-most base layer, so
//! a target the image lacks exists in the merged view without touching the upper dir;
//! `ensure_mountpoint` (inside the container) creates a target that still does not resolve
//! — e.g. below a symlink or an opaque directory of the image — and says which paths it
//! created; `remove_from_upper` (on the host, after the run) deletes those paths from the
//! upper dir again if they are still empty, restoring their parent's timestamps.
//!
//! This module mounts nothing.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{DirBuilder, OpenOptions};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timestamps, UTIME_OMIT};

use crate::error::{SandboxError, SetupStage};
use crate::mount_spec::{target_components, MountpointKind};

/// How many symlinks resolving one mountpoint may follow (the kernel's limit).
const MAX_SYMLINKS: usize = 40;

/// Creates `target` below the base layer `base` as an empty directory or file. Best effort:
/// a target that conflicts with another (a file where a directory is needed) is left to
/// `ensure_mountpoint`.
pub(crate) fn plant(base: &Path, target: &str, kind: MountpointKind) {
    let Some(parts) = target_components(target) else {
        return;
    };
    let path: PathBuf = parts
        .iter()
        .fold(base.to_path_buf(), |p, part| p.join(part));
    let Some(parent) = path.parent() else { return };
    if DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(parent)
        .is_err()
    {
        return;
    }
    let _ = match kind {
        MountpointKind::Directory => DirBuilder::new().mode(0o755).create(&path),
        MountpointKind::File => OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
            .map(drop),
    };
}

/// Inside the container: makes sure `target` exists, creating it and its missing parents,
/// and returns its symlink-free path plus the paths created on the root filesystem (outer
/// first). Symlinks are resolved component by component against the container's root, so
/// a dangling one gets its target created. Paths created on other filesystems (/dev, a
/// tmpfs mount) are not reported: they never reach the layer.
pub(crate) fn ensure_mountpoint(
    target: &str,
    kind: MountpointKind,
) -> Result<(PathBuf, Vec<String>), SandboxError> {
    let fail =
        |path: &Path, e: std::io::Error| SandboxError::setup(SetupStage::ExtraMount, path, e);
    let parts = target_components(target).ok_or_else(|| SandboxError::InvalidSpec {
        reason: format!("mount target {target:?} is not an absolute path below /"),
    })?;
    let root_dev = std::fs::metadata("/")
        .map_err(|e| fail(Path::new("/"), e))?
        .dev();
    let mut pending: VecDeque<OsString> = parts.into_iter().map(OsString::from).collect();
    let mut path = PathBuf::from("/");
    let mut created = Vec::new();
    let mut links_followed = 0;
    while let Some(part) = pending.pop_front() {
        let next = path.join(&part);
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links_followed += 1;
                if links_followed > MAX_SYMLINKS {
                    let loop_error = std::io::Error::from_raw_os_error(libc::ELOOP);
                    return Err(fail(Path::new(target), loop_error));
                }
                let link = std::fs::read_link(&next).map_err(|e| fail(&next, e))?;
                if link.is_absolute() {
                    path = PathBuf::from("/");
                }
                for component in link.components().rev() {
                    match component {
                        Component::Normal(name) => pending.push_front(name.to_os_string()),
                        Component::ParentDir => pending.push_front("..".into()),
                        _ => {}
                    }
                }
            }
            Ok(_) if part == ".." => {
                path.pop();
            }
            Ok(_) => path = next,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let file = pending.is_empty() && kind == MountpointKind::File;
                create_stub(&next, file).map_err(|e| fail(&next, e))?;
                if std::fs::symlink_metadata(&next).is_ok_and(|m| m.dev() == root_dev) {
                    created.push(next.to_string_lossy().into_owned());
                }
                path = next;
            }
            Err(e) => return Err(fail(&next, e)),
        }
    }
    Ok((path, created))
}

fn create_stub(path: &Path, file: bool) -> std::io::Result<()> {
    if file {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
            .map(drop)
    } else {
        DirBuilder::new().mode(0o755).create(path)
    }
}

/// On the host, after the sandbox is gone: removes the created paths (given outer first)
/// from `upper`, innermost first, where they are still an empty directory or an empty
/// regular file. Nothing is followed through symlinks: the upper dir is the command's
/// work and may hold anything.
pub(crate) fn remove_from_upper(upper: &Path, created: &[String]) {
    let Ok(upper_dir) = rustix::fs::open(
        upper,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return;
    };
    for path in created.iter().rev() {
        if let Err(e) = remove_stub(&upper_dir, path) {
            tracing::debug!(stub = %path, error = %e, "mount stub left in the upper dir");
        }
    }
}

fn remove_stub(upper: &OwnedFd, container_path: &str) -> std::io::Result<()> {
    let Some(parts) = target_components(container_path) else {
        return Ok(());
    };
    let (name, parents) = parts.split_last().unwrap_or((&parts[0], &[]));
    let parent_path = if parents.is_empty() {
        ".".to_string()
    } else {
        parents.join("/")
    };
    let parent = match rustix::fs::openat2(
        upper,
        parent_path.as_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        // Not in the upper dir (or replaced by a symlink): nothing of ours to remove.
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::LOOP) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let stat = match rustix::fs::statat(&parent, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let parent_times = rustix::fs::fstat(&parent)?;
    let removed = match FileType::from_raw_mode(stat.st_mode) {
        FileType::Directory => {
            match rustix::fs::unlinkat(&parent, name.as_str(), AtFlags::REMOVEDIR) {
                Ok(()) => true,
                Err(rustix::io::Errno::NOTEMPTY | rustix::io::Errno::EXIST) => false,
                Err(e) => return Err(e.into()),
            }
        }
        FileType::RegularFile if stat.st_size == 0 => {
            rustix::fs::unlinkat(&parent, name.as_str(), AtFlags::empty())?;
            true
        }
        _ => false,
    };
    if removed {
        // Keep the parent's mtime as the command left it, for reproducible layers.
        let times = Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: UTIME_OMIT,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: parent_times.st_mtime,
                tv_nsec: parent_times.st_mtime_nsec as _,
            },
        };
        rustix::fs::futimens(&parent, &times)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planted_stubs_have_the_right_kind() {
        let base = tempfile::tempdir().unwrap();
        plant(base.path(), "/run/secrets/token", MountpointKind::File);
        plant(base.path(), "/var/cache/apt", MountpointKind::Directory);
        plant(
            base.path(),
            "/run/secrets/token/inner",
            MountpointKind::Directory,
        );
        assert!(base.path().join("run/secrets/token").is_file());
        assert!(base.path().join("var/cache/apt").is_dir());
    }

    #[test]
    fn only_empty_stubs_leave_the_upper_dir() {
        let upper = tempfile::tempdir().unwrap();
        let root = upper.path();
        std::fs::create_dir_all(root.join("run/secrets")).unwrap();
        std::fs::write(root.join("run/secrets/token"), "").unwrap();
        std::fs::create_dir_all(root.join("cache/kept")).unwrap();
        std::fs::write(root.join("written"), "data").unwrap();
        let mtime = std::fs::metadata(root.join("run")).unwrap().mtime();
        remove_from_upper(
            root,
            &[
                "/run/secrets".into(),
                "/run/secrets/token".into(),
                "/cache".into(),
                "/written".into(),
                "/missing/path".into(),
            ],
        );
        assert!(!root.join("run/secrets").exists(), "empty stubs go");
        assert!(root.join("run").is_dir(), "unrecorded parents stay");
        assert_eq!(std::fs::metadata(root.join("run")).unwrap().mtime(), mtime);
        assert!(root.join("cache/kept").is_dir(), "a non-empty dir stays");
        assert!(root.join("written").is_file(), "a file with content stays");
    }

    #[test]
    fn symlinks_in_the_upper_dir_are_never_followed() {
        let upper = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(outside.path().join("victim")).unwrap();
        std::os::unix::fs::symlink(outside.path(), upper.path().join("run")).unwrap();
        remove_from_upper(upper.path(), &["/run/victim".into()]);
        assert!(outside.path().join("victim").is_dir());
    }
}
