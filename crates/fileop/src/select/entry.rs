//! Turning one filesystem object's (lstat) metadata into a `SelectedEntry`. It never follows
//! symlinks and never reads file contents.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{SelectError, SelectedEntry};
use crate::memo::FileStamp;

/// What kind of object an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// A symlink, with its target as stored (never followed).
    Symlink(String),
}

/// The entry for the object at `host_path` with (lstat) `metadata`, shown as `rel_path`.
/// `None` for objects COPY does not carry (sockets, fifos, device nodes).
pub(super) fn from_metadata(
    rel_path: String,
    host_path: PathBuf,
    metadata: &Metadata,
) -> Result<Option<SelectedEntry>, SelectError> {
    let name = rel_path.rsplit('/').next().unwrap_or_default();
    if name.starts_with(".wh.") {
        return Err(SelectError::WhiteoutName { path: rel_path });
    }
    let file_type = metadata.file_type();
    let kind = if file_type.is_file() {
        EntryKind::File
    } else if file_type.is_dir() {
        EntryKind::Dir
    } else if file_type.is_symlink() {
        EntryKind::Symlink(read_link_text(&host_path)?)
    } else {
        return Ok(None);
    };
    Ok(Some(SelectedEntry {
        rel_path,
        kind,
        mode: metadata.mode() & 0o7777,
        owner: (metadata.uid(), metadata.gid()),
        size: metadata.len(),
        stamp: stamp_of(metadata),
        host_path,
    }))
}

/// The stamp a memo entry for this file is keyed by.
pub(crate) fn stamp_of(metadata: &Metadata) -> FileStamp {
    FileStamp {
        size: metadata.len(),
        mtime_ns: metadata.mtime() * 1_000_000_000 + metadata.mtime_nsec(),
        ctime_ns: metadata.ctime() * 1_000_000_000 + metadata.ctime_nsec(),
        inode: metadata.ino(),
        device: metadata.dev(),
    }
}

fn read_link_text(host_path: &Path) -> Result<String, SelectError> {
    let target = std::fs::read_link(host_path).map_err(|source| SelectError::Io {
        path: host_path.to_path_buf(),
        source,
    })?;
    target
        .into_os_string()
        .into_string()
        .map_err(|_| SelectError::NonUtf8Path {
            path: host_path.to_path_buf(),
        })
}
