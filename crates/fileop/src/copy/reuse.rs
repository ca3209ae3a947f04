//! Incremental COPY, the file-level part: while a copy runs, which regular files an earlier,
//! immutable snapshot of the same COPY already holds exactly as this copy would write them
//! (same in-layer path, content digest, permission bits, owner, mtime and extended
//! attributes), so that they are hard-linked from it afterwards instead of written; and the
//! in-layer path → content digest of every file placed, for the next copy to compare with.
//!
//! The copy itself writes through an overlay mount; links go straight into the overlay's
//! upper dir, so they are made by `link_deferred` once the mount is gone (a file is only
//! deferred when nothing is at its path in the merged view and its parent directory is in
//! the upper dir already). Directory times disturbed by the links are put back. Finding the
//! earlier snapshot and recording the digests are the caller's business; this module never
//! writes into a snapshot.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use filetime::FileTime;
use rayon::prelude::*;
use rbuild_oci::Digest;
use rustix::fs::AtFlags;

use super::place::io_error;
use super::CopyError;
use crate::select::{EntryKind, SourceMatch};

/// Extended attributes overlayfs keeps for itself; never part of a layer's content.
const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";

/// The snapshot an earlier result of the same COPY lives in.
#[derive(Clone, Debug)]
pub struct EarlierCopy {
    /// The snapshot directory (the earlier copy's layer).
    pub snapshot: PathBuf,
    /// In-layer path → content digest of the regular files it holds from its selection.
    pub files: HashMap<String, Digest>,
    /// The upper dir the new copy writes into, where the links go.
    pub upper: PathBuf,
}

/// What one copy placed and which of its files an earlier copy can provide.
#[derive(Debug, Default)]
pub struct FileReuse {
    /// Source host path → content digest, for files whose source inode is selected once
    /// (files sharing an inode become hard links of each other and are always written).
    digests: HashMap<PathBuf, Digest>,
    earlier: Option<EarlierCopy>,
    placed: Vec<(String, Digest)>,
    deferred: Vec<String>,
    /// In-layer directories seen to exist in the upper dir (a directory stays there once
    /// it is), so that each is looked up once rather than once per file.
    upper_dirs: HashSet<String>,
    /// In-layer directories this copy created where the merged view had nothing: all they
    /// hold is what this copy placed, so a path in them not placed yet is free without a
    /// lookup through the overlay.
    fresh_dirs: HashSet<String>,
    /// In-layer paths of the regular files placed so far.
    placed_paths: HashSet<String>,
}

/// The metadata a placed regular file receives.
pub(super) struct Expected {
    pub(super) mode: u32,
    pub(super) owner: (u32, u32),
    pub(super) mtime_ns: i64,
}

impl FileReuse {
    /// Tracks a copy of `matches`, whose regular files have `file_digests` (in entry
    /// order, as `content_digest` gives them).
    pub fn new(matches: &[SourceMatch], file_digests: &[Digest]) -> FileReuse {
        let files: Vec<_> = matches
            .iter()
            .flat_map(|m| &m.entries)
            .filter(|e| e.kind == EntryKind::File)
            .collect();
        let mut inode_uses: HashMap<(u64, u64), usize> = HashMap::new();
        for entry in &files {
            *inode_uses
                .entry((entry.stamp.device, entry.stamp.inode))
                .or_default() += 1;
        }
        let digests = files
            .iter()
            .zip(file_digests)
            .filter(|(e, _)| inode_uses[&(e.stamp.device, e.stamp.inode)] == 1)
            .map(|(e, d)| (e.host_path.clone(), d.clone()))
            .collect();
        FileReuse {
            digests,
            ..FileReuse::default()
        }
    }

    /// Lets files be taken from `earlier` (otherwise every file is written).
    pub fn with_earlier(mut self, earlier: Option<EarlierCopy>) -> FileReuse {
        self.earlier = earlier;
        self
    }

    /// In-layer path → content digest of every regular file placed from the selection.
    pub fn placed(&self) -> &[(String, Digest)] {
        &self.placed
    }

    /// How many files wait to be linked from the earlier snapshot.
    pub fn deferred_count(&self) -> usize {
        self.deferred.len()
    }

    /// Called when the copy created directory `target` (a host path in `root`) where the
    /// merged view had nothing.
    pub(super) fn created_directory(&mut self, root: &Path, target: &Path) {
        if let Some(rel) = target.strip_prefix(root).ok().and_then(Path::to_str) {
            self.fresh_dirs.insert(rel.to_string());
        }
    }

    /// Called before a regular file from `source` is written at `target` (a host path in
    /// `root`): records it and returns whether it is left to `link_deferred`.
    pub(super) fn defer(
        &mut self,
        root: &Path,
        target: &Path,
        source: &Path,
        expected: &Expected,
    ) -> Result<bool, CopyError> {
        let Some(rel) = target.strip_prefix(root).ok().and_then(Path::to_str) else {
            return Ok(false);
        };
        let Some(digest) = self.digests.get(source) else {
            return Ok(false);
        };
        self.placed.push((rel.to_string(), digest.clone()));
        let placed_before = !self.placed_paths.insert(rel.to_string());
        let Some(earlier) = &self.earlier else {
            return Ok(false);
        };
        if placed_before || earlier.files.get(rel) != Some(digest) {
            return Ok(false);
        }
        let Some(parent) = Path::new(rel).parent().and_then(Path::to_str) else {
            return Ok(false);
        };
        // A directory the copy created is in the upper dir and holds only what was placed.
        if !self.fresh_dirs.contains(parent) {
            match fs::symlink_metadata(target) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                // Something to replace in the merged view: the overlay must see the write.
                _ => return Ok(false),
            }
            if !self.upper_dirs.contains(parent) {
                if !fs::symlink_metadata(earlier.upper.join(parent)).is_ok_and(|m| m.is_dir()) {
                    return Ok(false);
                }
                self.upper_dirs.insert(parent.to_string());
            }
        }
        let old = earlier.snapshot.join(rel);
        if !same_file(&old, source, expected)? {
            return Ok(false);
        }
        self.deferred.push(rel.to_string());
        Ok(true)
    }

    /// Links every deferred file from the earlier snapshot into the upper dir (call after
    /// the overlay is unmounted) and puts back the times of the directories linked into.
    /// Any failure (a different filesystem, too many links, the snapshot pruned meanwhile)
    /// is returned: the caller then makes the layer by a full copy.
    pub fn link_deferred(&self) -> Result<usize, CopyError> {
        let Some(earlier) = &self.earlier else {
            return Ok(0);
        };
        let mut by_directory: BTreeMap<&Path, Vec<&OsStr>> = BTreeMap::new();
        for rel in &self.deferred {
            let rel = Path::new(rel);
            if let (Some(dir), Some(name)) = (rel.parent(), rel.file_name()) {
                by_directory.entry(dir).or_default().push(name);
            }
        }
        // Directories are independent (a link changes only its own directory's times), so
        // they are linked in parallel.
        by_directory
            .into_par_iter()
            .try_for_each(|(dir, names)| link_into(earlier, dir, &names))?;
        Ok(self.deferred.len())
    }
}

/// Links `names` of the earlier snapshot's directory `dir` into the same directory of the
/// upper dir (by directory handles: one path lookup per directory, not per file), then puts
/// back that directory's times.
fn link_into(earlier: &EarlierCopy, dir: &Path, names: &[&OsStr]) -> Result<(), CopyError> {
    let target = earlier.upper.join(dir);
    let meta = fs::symlink_metadata(&target).map_err(|e| io_error("inspect", &target, e))?;
    let atime = FileTime::from_last_access_time(&meta);
    let mtime = FileTime::from_last_modification_time(&meta);
    let source = earlier.snapshot.join(dir);
    let from = File::open(&source).map_err(|e| io_error("open", &source, e))?;
    let into = File::open(&target).map_err(|e| io_error("open", &target, e))?;
    for name in names {
        rustix::fs::linkat(&from, *name, &into, *name, AtFlags::empty())
            .map_err(|e| io_error("hard link", &target.join(name), e.into()))?;
    }
    filetime::set_file_times(&target, atime, mtime)
        .map_err(|e| io_error("set times of", &target, e))
}

/// Whether the earlier snapshot's file `old` is what placing `source` would write.
fn same_file(old: &Path, source: &Path, expected: &Expected) -> Result<bool, CopyError> {
    let Ok(meta) = fs::symlink_metadata(old) else {
        return Ok(false);
    };
    let mtime_ns = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
    let same_metadata = meta.is_file()
        && meta.mode() & 0o7777 == expected.mode & 0o7777
        && (meta.uid(), meta.gid()) == expected.owner
        && mtime_ns == expected.mtime_ns;
    Ok(same_metadata && portable_xattrs(old)? == portable_xattrs(source)?)
}

/// Extended attributes that would be part of a layer, sorted by name.
fn portable_xattrs(path: &Path) -> Result<Vec<(String, Vec<u8>)>, CopyError> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(io_error("list extended attributes of", path, e)),
    };
    let mut found = Vec::new();
    for name in names {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with(OVERLAY_XATTR_PREFIX) {
            continue;
        }
        if let Some(value) =
            xattr::get(path, &name).map_err(|e| io_error("read extended attribute of", path, e))?
        {
            found.push((name, value));
        }
    }
    found.sort();
    Ok(found)
}
