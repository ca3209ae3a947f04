//! The `local` exporter: the image's root filesystem as a plain directory tree, with owners,
//! modes, times, symlinks, device nodes and xattrs as the image has them.
//!
//! The tree is copied from a read-only overlay view of the snapshot chain into a temporary
//! sibling of the destination (`rbuild_archive::StagedDir`) and renamed into place, so a
//! failure or an interruption (checked between entries) leaves nothing behind.

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use filetime::FileTime;
use rbuild_archive::StagedDir;
use rbuild_cache::{SnapshotChain, Store};
use rbuild_exec::CancelToken;
use walkdir::WalkDir;

use crate::error::{ExportError, StepFailure};
use crate::ops::fresh_layer_over;

/// Writes the merged root filesystem of each chain to `dest` (which must not exist or be
/// empty), or to the named subdirectory of `dest` (one per platform). Cancelling `cancel`
/// stops it with `StepFailure::Interrupted`.
pub(crate) fn export_rootfs(
    store: &Store,
    roots: &[(&SnapshotChain, Option<String>)],
    dest: &Path,
    cancel: &CancelToken,
) -> Result<(), StepFailure> {
    ensure_absent_or_empty(dest)?;
    let failed = |e: &dyn std::fmt::Display| {
        if cancel.is_cancelled() {
            StepFailure::interrupted(cancel)
        } else {
            StepFailure::from(ExportError::WriteRootfs {
                path: dest.to_path_buf(),
                source: io::Error::other(e.to_string()),
            })
        }
    };
    let staged = StagedDir::create(dest).map_err(|e| failed(&e))?;
    for (chain, subdir) in roots {
        let target = match subdir {
            Some(name) => staged.path().join(name),
            None => staged.path().to_path_buf(),
        };
        // The upper dir stays empty: the overlay is only a merged, read view of the chain.
        let (_upper, stack) = fresh_layer_over(store, chain)?;
        rbuild_exec::with_mounted_layers(&stack, &[], |merged, _| {
            copy_tree(merged, &target, cancel)
        })?
        .map_err(|e| failed(&e))?;
    }
    staged.commit().map_err(|e| failed(&e))
}

fn ensure_absent_or_empty(dest: &Path) -> Result<(), StepFailure> {
    match fs::read_dir(dest) {
        Ok(mut entries) => match entries.next() {
            Some(_) => Err(ExportError::NotEmpty(dest.to_path_buf()).into()),
            None => Ok(()),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ExportError::ReadDest {
            path: dest.to_path_buf(),
            source,
        }
        .into()),
    }
}

/// Copies the tree at `source` to `dest` (which may exist, as an empty directory),
/// checking `cancel` before each entry.
fn copy_tree(source: &Path, dest: &Path, cancel: &CancelToken) -> io::Result<()> {
    let mut directories = Vec::new();
    for entry in WalkDir::new(source).sort_by_file_name() {
        if cancel.is_cancelled() {
            return Err(io::Error::other("interrupted"));
        }
        let entry = entry.map_err(io::Error::other)?;
        let relative = entry
            .path()
            .strip_prefix(source)
            .map_err(io::Error::other)?;
        let target = dest.join(relative);
        // A whiteout with nothing below it to hide (a stray `.wh.x` in a layer) is listed
        // by the overlay yet not there, or shows as the 0/0 device itself: no entry.
        let meta = match entry.path().symlink_metadata() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
            Ok(meta) if meta.file_type().is_char_device() && meta.rdev() == 0 => continue,
            Ok(meta) => meta,
        };
        // The top may be the staging directory itself, already there.
        let may_exist = entry.depth() == 0;
        copy_entry(entry.path(), &target, &meta, may_exist)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", relative.display())))?;
        if meta.is_dir() {
            directories.push((target, meta));
        } else {
            set_times(&target, &meta)?;
        }
    }
    // Directory times last: creating entries inside a directory updates its mtime.
    for (target, meta) in directories.iter().rev() {
        set_times(target, meta)?;
    }
    Ok(())
}

fn copy_entry(
    source: &Path,
    target: &Path,
    meta: &fs::Metadata,
    may_exist: bool,
) -> io::Result<()> {
    let file_type = meta.file_type();
    if file_type.is_dir() {
        match fs::create_dir(target) {
            Err(e) if may_exist && e.kind() == io::ErrorKind::AlreadyExists => {}
            other => other?,
        }
    } else if file_type.is_symlink() {
        symlink(fs::read_link(source)?, target)?;
    } else if file_type.is_file() {
        fs::copy(source, target)?;
    } else {
        make_node(target, meta)?;
    }
    std::os::unix::fs::lchown(target, Some(meta.uid()), Some(meta.gid()))?;
    if !file_type.is_symlink() {
        fs::set_permissions(target, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    copy_xattrs(source, target)
}

fn make_node(target: &Path, meta: &fs::Metadata) -> io::Result<()> {
    use rustix::fs::{mknodat, FileType, Mode, CWD};
    let file_type = FileType::from_raw_mode(meta.mode());
    mknodat(
        CWD,
        target,
        file_type,
        Mode::from_raw_mode(meta.mode() & 0o7777),
        meta.rdev(),
    )
    .map_err(io::Error::from)
}

fn copy_xattrs(source: &Path, target: &Path) -> io::Result<()> {
    for name in xattr::list(source)? {
        if name.to_string_lossy().starts_with("trusted.overlay.") {
            continue;
        }
        if let Some(value) = xattr::get(source, &name)? {
            xattr::set(target, &name, &value)?;
        }
    }
    Ok(())
}

fn set_times(target: &Path, meta: &fs::Metadata) -> io::Result<()> {
    let mtime = FileTime::from_last_modification_time(meta);
    let atime = FileTime::from_last_access_time(meta);
    filetime::set_symlink_file_times(target, atime, mtime)
}
