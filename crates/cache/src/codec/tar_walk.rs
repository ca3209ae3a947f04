//! The walk behind the tar writer: every entry of a snapshot directory in walk order (names
//! sorted bytewise within a directory, parents before children), each with what encoding it
//! needs read already — metadata, portable xattrs, the opaque flag, a symlink's target and
//! the bytes of a small regular file.
//!
//! Those reads are most of a layer tar's cost and independent of each other, so a walking
//! thread makes them in parallel, batch by batch, while the writer encodes earlier entries.
//! A batch never reaches past a directory: the walk descends right after it, so at most
//! `BATCHES_IN_FLIGHT` batches of read-ahead bytes exist at once, however deep the tree.
//! Turning entries into tar bytes (and deciding hard links, whiteouts, names) is
//! `tar_write`'s job.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};

use rayon::prelude::*;

use super::whiteout::{self, Xattrs, WHITEOUT_PREFIX};
use crate::error::{IoContext, StoreError};

/// Regular files up to this size are read by the walk; larger ones are streamed by the
/// writer from their path.
pub(super) const READ_AHEAD_MAX: u64 = 64 * 1024;
/// Entries read in parallel at once (so at most 8 MiB of file bytes per batch).
const BATCH_ENTRIES: usize = 128;
/// Batches read but not yet encoded.
const BATCHES_IN_FLIGHT: usize = 2;

/// One snapshot entry, read.
pub(super) struct WalkedEntry {
    pub path: PathBuf,
    /// The path relative to the snapshot root, as the tar names it.
    pub rel: Vec<u8>,
    pub meta: Metadata,
    /// Portable xattrs, sorted (none read for whiteouts, sockets and reserved names).
    pub xattrs: Xattrs,
    /// For a directory: whether overlayfs marked it opaque.
    pub opaque: bool,
    /// For a symlink: its target.
    pub link: Vec<u8>,
    /// For a regular file of at most `READ_AHEAD_MAX` bytes: exactly its stat'ed size in bytes.
    pub content: Option<Vec<u8>>,
}

type Batch = Vec<Result<WalkedEntry, StoreError>>;

/// Calls `each` with every entry below `root` in walk order, leaving out the top-level
/// names in `skip` and all below them. Stops at the first error, the walk's or `each`'s.
pub(super) fn walk_snapshot(
    root: &Path,
    skip: &[&str],
    mut each: impl FnMut(WalkedEntry) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let (sender, batches) = sync_channel::<Batch>(BATCHES_IN_FLIGHT);
    // Called on a rayon worker, this thread blocks on the channel rather than in rayon:
    // the walk must then not wait for the pool (it might be this very thread's).
    let parallel = rayon::current_thread_index().is_none();
    std::thread::scope(|scope| {
        scope.spawn(move || walk_in_batches(root, skip, parallel, &sender));
        // Returning drops the receiver, which stops the walk at its next batch.
        for batch in batches {
            for entry in batch {
                each(entry?)?;
            }
        }
        Ok(())
    })
}

/// A directory being walked: its path, its path in the tar, and the children not yet read
/// (name, and whether the directory listing says it is a directory).
struct OpenDir {
    path: PathBuf,
    rel: Vec<u8>,
    rest: VecDeque<(OsString, bool)>,
}

fn walk_in_batches(root: &Path, skip: &[&str], parallel: bool, sender: &SyncSender<Batch>) {
    let mut top = match open_dir(root.to_path_buf(), Vec::new()) {
        Ok(dir) => dir,
        Err(e) => return drop(sender.send(vec![Err(e)])),
    };
    top.rest
        .retain(|(name, _)| !skip.iter().any(|s| s.as_bytes() == name.as_bytes()));
    let mut open = vec![top];
    while let Some(dir) = open.last_mut() {
        let names = next_batch(&mut dir.rest);
        if names.is_empty() {
            open.pop();
            continue;
        }
        let read = |(name, _): &(OsString, bool)| read_entry(&dir.path, &dir.rel, name);
        let mut batch: Batch = if parallel {
            names.par_iter().map(read).collect()
        } else {
            names.iter().map(read).collect()
        };
        let failed = batch.iter().any(Result::is_err);
        // The listing's types may be stale: cut the batch after the first real directory.
        let first_dir = batch
            .iter()
            .position(|entry| entry.as_ref().is_ok_and(|e| e.meta.is_dir()));
        let mut descend = None;
        if let (Some(at), false) = (first_dir, failed) {
            for unread in names[at + 1..].iter().rev() {
                dir.rest.push_front(unread.clone());
            }
            batch.truncate(at + 1);
            if let Ok(entry) = &batch[at] {
                descend = Some(open_dir(entry.path.clone(), entry.rel.clone()));
            }
        }
        let descend = match descend.transpose() {
            Ok(dir) => dir,
            Err(e) => {
                batch.push(Err(e));
                None
            }
        };
        let stop = batch.iter().any(Result::is_err);
        if sender.send(batch).is_err() || stop {
            return;
        }
        open.extend(descend);
    }
}

/// The next names to read together: up to `BATCH_ENTRIES`, ending at the first directory.
fn next_batch(rest: &mut VecDeque<(OsString, bool)>) -> Vec<(OsString, bool)> {
    let mut names = Vec::new();
    while let Some((name, is_dir)) = rest.pop_front() {
        names.push((name, is_dir));
        if is_dir || names.len() == BATCH_ENTRIES {
            break;
        }
    }
    names
}

fn open_dir(path: PathBuf, rel: Vec<u8>) -> Result<OpenDir, StoreError> {
    let listing = |e| StoreError::io("listing snapshot directory", &path, e);
    let mut rest = Vec::new();
    for entry in fs::read_dir(&path).map_err(listing)? {
        let entry = entry.map_err(listing)?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        rest.push((entry.file_name(), is_dir));
    }
    rest.sort();
    Ok(OpenDir {
        path,
        rel,
        rest: rest.into(),
    })
}

/// Reads what encoding the entry `name` of `dir` needs.
fn read_entry(dir: &Path, rel_dir: &[u8], name: &OsString) -> Result<WalkedEntry, StoreError> {
    let path = dir.join(name);
    let mut rel = rel_dir.to_vec();
    if !rel.is_empty() {
        rel.push(b'/');
    }
    rel.extend_from_slice(name.as_bytes());
    let meta = fs::symlink_metadata(&path).at("reading snapshot entry", &path)?;
    let mut entry = WalkedEntry {
        xattrs: Xattrs::new(),
        opaque: false,
        link: Vec::new(),
        content: None,
        path,
        rel,
        meta,
    };
    let file_type = entry.meta.file_type();
    let plain = !file_type.is_socket()
        && !whiteout::is_overlay_whiteout(&entry.meta)
        && !name.as_bytes().starts_with(WHITEOUT_PREFIX);
    if !plain {
        return Ok(entry);
    }
    entry.xattrs = whiteout::portable_xattrs(&entry.path)?;
    if file_type.is_dir() {
        entry.opaque = whiteout::is_opaque_dir(&entry.path)?;
    } else if file_type.is_symlink() {
        entry.link = fs::read_link(&entry.path)
            .at("reading symlink", &entry.path)?
            .into_os_string()
            .into_vec();
    } else if file_type.is_file() && entry.meta.len() <= READ_AHEAD_MAX {
        entry.content = Some(read_exactly(&entry.path, entry.meta.len())?);
    }
    Ok(entry)
}

/// Opens a snapshot file for reading without updating its access time where the kernel
/// allows (a link's new ctime would otherwise make every first read write the inode).
pub(super) fn open_snapshot_file(path: &Path) -> Result<File, StoreError> {
    let no_atime = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOATIME)
        .open(path);
    match no_atime {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => File::open(path),
        opened => opened,
    }
    .at("opening snapshot file", path)
}

/// The first `size` bytes of `path`; fewer is an error (the file shrank since its stat).
fn read_exactly(path: &Path, size: u64) -> Result<Vec<u8>, StoreError> {
    let mut file = open_snapshot_file(path)?;
    let mut bytes = vec![0; size as usize];
    file.read_exact(&mut bytes).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            shrank(path, size)
        } else {
            StoreError::io("reading snapshot file", path, e)
        }
    })?;
    Ok(bytes)
}

/// The error for a file that became shorter than its stat'ed size while it was archived.
pub(super) fn shrank(path: &Path, size: u64) -> StoreError {
    StoreError::io(
        "reading snapshot file",
        path,
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("file shrank below {size} bytes while it was archived"),
        ),
    )
}
