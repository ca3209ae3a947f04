//! Incremental COPY, the file-level part: while a copy runs, which regular files an earlier,
//! immutable snapshot of the same COPY already holds exactly as this copy would write them
//! (same in-layer path, content digest, permission bits, owner, mtime and extended
//! attributes), so that they are hard-linked from it afterwards instead of written; and the
//! in-layer path → content digest of every file placed, for the next copy to compare with.
//! The earlier snapshot's files and the sources' extended attributes are read once, in
//! parallel, before the copy starts, so that deciding about each file makes no system call.
//!
//! The copy itself writes through an overlay mount; links go straight into the overlay's
//! upper dir, so they are made by `link_deferred` once the mount is gone (a file is only
//! deferred when nothing is at its path in the merged view and its parent directory is in
//! the upper dir already). Directory times disturbed by the links are put back. Finding the
//! earlier snapshot and recording the digests are the caller's business; this module never
//! writes into a snapshot.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use filetime::FileTime;
use rayon::prelude::*;
use rbuild_oci::Digest;
use rustc_hash::{FxHashMap, FxHashSet};
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
    digests: FxHashMap<PathBuf, Digest>,
    earlier: Option<EarlierCopy>,
    /// The earlier snapshot's regular files by in-layer path.
    old_files: FxHashMap<String, OldFile>,
    /// The portable xattrs of each source whose digest the earlier snapshot has.
    source_xattrs: FxHashMap<PathBuf, Xattrs>,
    placed: Vec<(String, Digest)>,
    deferred: Vec<String>,
    /// In-layer directories seen to exist in the upper dir (a directory stays there once
    /// it is), so that each is looked up once rather than once per file.
    upper_dirs: FxHashSet<String>,
    /// In-layer directories this copy created where the merged view had nothing: all they
    /// hold is what this copy placed, so a path in them not placed yet is free without a
    /// lookup through the overlay.
    fresh_dirs: FxHashSet<String>,
    /// In-layer paths of the regular files placed so far.
    placed_paths: FxHashSet<String>,
}

/// Extended attributes that would be part of a layer, sorted by name.
type Xattrs = Vec<(String, Vec<u8>)>;

/// What an earlier snapshot's regular file is, as far as placing a file over it goes.
#[derive(Debug)]
struct OldFile {
    mode: u32,
    owner: (u32, u32),
    mtime_ns: i64,
    xattrs: Xattrs,
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
        let mut inode_uses: FxHashMap<(u64, u64), usize> = FxHashMap::default();
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

    /// Lets files be taken from `earlier` (otherwise every file is written), reading what
    /// deciding about each file needs up front.
    pub fn with_earlier(mut self, earlier: Option<EarlierCopy>) -> FileReuse {
        if let Some(earlier) = &earlier {
            let digests = &self.digests;
            (self.old_files, self.source_xattrs) = rayon::join(
                || read_old_files(earlier),
                || read_source_xattrs(digests, earlier),
            );
        }
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
    ) -> bool {
        let Some(rel) = target.strip_prefix(root).ok().and_then(Path::to_str) else {
            return false;
        };
        let Some(digest) = self.digests.get(source) else {
            return false;
        };
        self.placed.push((rel.to_string(), digest.clone()));
        let placed_before = !self.placed_paths.insert(rel.to_string());
        let Some(earlier) = &self.earlier else {
            return false;
        };
        if placed_before || earlier.files.get(rel) != Some(digest) {
            return false;
        }
        let Some(parent) = Path::new(rel).parent().and_then(Path::to_str) else {
            return false;
        };
        // A directory the copy created is in the upper dir and holds only what was placed.
        if !self.fresh_dirs.contains(parent) {
            match fs::symlink_metadata(target) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                // Something to replace in the merged view: the overlay must see the write.
                _ => return false,
            }
            if !self.upper_dirs.contains(parent) {
                if !fs::symlink_metadata(earlier.upper.join(parent)).is_ok_and(|m| m.is_dir()) {
                    return false;
                }
                self.upper_dirs.insert(parent.to_string());
            }
        }
        if !self.same_file(rel, source, expected) {
            return false;
        }
        self.deferred.push(rel.to_string());
        true
    }

    /// Whether the earlier snapshot's file at `rel` is what placing `source` would write.
    fn same_file(&self, rel: &str, source: &Path, expected: &Expected) -> bool {
        let (Some(old), Some(source_xattrs)) =
            (self.old_files.get(rel), self.source_xattrs.get(source))
        else {
            return false;
        };
        old.mode & 0o7777 == expected.mode & 0o7777
            && old.owner == expected.owner
            && old.mtime_ns == expected.mtime_ns
            && old.xattrs == *source_xattrs
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

/// The earlier snapshot's regular files, in parallel (the snapshot is immutable). A file
/// that cannot be read is left out: it is written, not linked.
fn read_old_files(earlier: &EarlierCopy) -> FxHashMap<String, OldFile> {
    earlier
        .files
        .par_iter()
        .filter_map(|(rel, _)| Some((rel.clone(), old_file(&earlier.snapshot.join(rel))?)))
        .collect()
}

fn old_file(path: &Path) -> Option<OldFile> {
    let meta = fs::symlink_metadata(path).ok().filter(|m| m.is_file())?;
    Some(OldFile {
        mode: meta.mode(),
        owner: (meta.uid(), meta.gid()),
        mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        xattrs: portable_xattrs(path).ok()?,
    })
}

/// The portable xattrs of every source whose content the earlier snapshot holds, in
/// parallel. A source whose xattrs cannot be listed is left out: the copy reports it.
fn read_source_xattrs(
    digests: &FxHashMap<PathBuf, Digest>,
    earlier: &EarlierCopy,
) -> FxHashMap<PathBuf, Xattrs> {
    let wanted: FxHashSet<&Digest> = earlier.files.values().collect();
    digests
        .par_iter()
        .filter(|(_, digest)| wanted.contains(digest))
        .filter_map(|(source, _)| Some((source.clone(), portable_xattrs(source).ok()?)))
        .collect()
}

/// Extended attributes that would be part of a layer, sorted by name.
fn portable_xattrs(path: &Path) -> io::Result<Xattrs> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for name in names {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with(OVERLAY_XATTR_PREFIX) {
            continue;
        }
        if let Some(value) = xattr::get(path, &name)? {
            found.push((name, value));
        }
    }
    found.sort();
    Ok(found)
}
