//! Applying COPY/ADD (and WORKDIR's directory creation) onto a root filesystem directory —
//! the merged view a COPY writes into — with Docker/BuildKit semantics: where each selected
//! source lands, directory contents versus the directory itself, `--parents`, ownership and
//! permission rules, and ADD's unpacking of local archives.
//!
//! The destination is always resolved inside the root: symlinks in it are followed as if the
//! root were `/`, never to the host. Selecting sources is `select`'s job.

mod place;
mod reuse;
mod unpack;

use std::io;
use std::path::{Path, PathBuf};

use crate::lexical::{base_name, clean_relative, join_relative, parent_of};
use crate::scoped::{resolve_in_root, ScopeError};
use crate::select::{EntryKind, SelectedEntry, SourceMatch};
use place::{ensure_dir, FileContent, Finish, Placer};
pub use reuse::{EarlierCopy, FileReuse};

/// How a COPY writes.
#[derive(Clone, Debug, Default)]
pub struct CopyOptions {
    /// `--chown`, resolved to ids; `None` means 0:0, or each source's own ids with
    /// `keep_source_owners`.
    pub owner: Option<(u32, u32)>,
    /// Without `--chown`, copied entries keep the uid/gid they have in the source (as
    /// BuildKit does for `COPY --from` a stage or an image); otherwise they become 0:0.
    pub keep_source_owners: bool,
    /// `--chmod`; `None` keeps each source's permission bits.
    pub mode: Option<u32>,
    /// `--parents`: keep each match's path (after an optional `/./` pivot in the source)
    /// below the destination.
    pub parents: bool,
    /// ADD from a local source: tar archives (plain, gzip, bzip2, xz) are extracted into the
    /// destination directory instead of copied.
    pub unpack_archives: bool,
    /// The instruction requires a directory destination even when the destination does not
    /// end in `/` (several sources, wildcards).
    pub dest_is_dir_hint: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("cannot copy to {path}: it exists and is not a directory")]
    NotADirectory { path: String },
    #[error("cannot replace directory {path} with a file")]
    DirectoryInTheWay { path: String },
    #[error("archive {archive:?}: entry {entry:?} is unsafe: {reason}")]
    UnsafeArchiveEntry {
        archive: PathBuf,
        entry: String,
        reason: &'static str,
    },
    #[error("{op} {path:?}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Scope(#[from] ScopeError),
}

/// Extracts the tar archive at `path` (plain, gzip, bzip2 or xz) into the directory `into`
/// with ADD's rules (owners as recorded, writes confined to `into`). Returns `false`, having
/// written nothing, when `path` is not a tar archive.
pub fn extract_archive(path: &Path, into: &Path) -> Result<bool, CopyError> {
    match unpack::detect(path)? {
        Some(compression) => unpack::extract(path, compression, into, None).map(|()| true),
        None => Ok(false),
    }
}

/// Copies every match into `dest_root` at `dest` (an in-root path, normally absolute).
///
/// The destination is a directory when it ends in `/`, when there are several matches, with
/// `--parents` or when `dest_is_dir_hint` says so; it is then created (0755, owned by the
/// `--chown` owner or root) and each match lands inside it under its base name. A directory
/// match copies its *contents*; onto a missing `dest` written without a trailing `/`, `dest`
/// becomes a copy of the directory itself (its mode and times), while a trailing `/` or an
/// existing directory only receives the contents. A single file onto an existing directory
/// goes inside it, otherwise it becomes `dest`. Files keep their permission bits (unless
/// `--chmod`) and mtimes, everything is owned by 0:0 (unless `--chown`), symlinks inside
/// directories stay symlinks, existing files are replaced, and a directory where a file must
/// go is an error.
pub fn copy_into_root(
    dest_root: &Path,
    dest: &str,
    matches: &[SourceMatch],
    opts: &CopyOptions,
) -> Result<(), CopyError> {
    copy_matches(dest_root, dest, matches, opts, None)
}

/// `copy_into_root`, recording every regular file placed in `reuse` and leaving to it the
/// files an earlier snapshot provides (see `FileReuse::link_deferred`).
pub fn copy_into_root_reusing(
    dest_root: &Path,
    dest: &str,
    matches: &[SourceMatch],
    opts: &CopyOptions,
    reuse: &mut FileReuse,
) -> Result<(), CopyError> {
    copy_matches(dest_root, dest, matches, opts, Some(reuse))
}

fn copy_matches(
    dest_root: &Path,
    dest: &str,
    matches: &[SourceMatch],
    opts: &CopyOptions,
    mut reuse: Option<&mut FileReuse>,
) -> Result<(), CopyError> {
    let target = Destination::new(
        dest,
        opts.dest_is_dir_hint || matches.len() > 1 || opts.parents,
    );
    for found in matches {
        copy_match(dest_root, &target, found, opts, reuse.as_deref_mut())?;
    }
    Ok(())
}

/// Writes files given inline (COPY heredocs) as if each were a source file called `name`
/// with permission bits `mode` (or `--chmod`). They get mtime 0 so that the layer they make
/// is reproducible.
pub fn write_inline_files(
    dest_root: &Path,
    dest: &str,
    files: &[(String, Vec<u8>, u32)],
    opts: &CopyOptions,
) -> Result<(), CopyError> {
    let target = Destination::new(dest, opts.dest_is_dir_hint || files.len() > 1);
    let mut placer = Placer::new(opts.owner, opts.mode);
    for (name, bytes, mode) in files {
        let path = target.file_path(dest_root, base_name(&clean_relative(name)), opts.owner)?;
        let finish = Finish {
            mode: *mode,
            mtime_ns: 0,
            xattrs_from: None,
            source_owner: (0, 0),
        };
        placer.file(dest_root, &path, FileContent::Bytes(bytes), &finish)?;
    }
    Ok(())
}

/// Creates directory `path` inside `root` and its missing parents with `mode`, owned by
/// `owner` (root when `None`), as WORKDIR does. Existing directories are left alone;
/// symlinks on the way are followed inside `root`; an existing non-directory is an error.
pub fn make_dir_all(
    root: &Path,
    path: &str,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), CopyError> {
    ensure_dir(root, path, mode, owner).map(drop)
}

/// The cleaned destination and whether it must be a directory.
struct Destination {
    /// In-root path without the leading `/` (`""` is the root).
    path: String,
    is_dir: bool,
    /// Written with a trailing `/` (or as `.`): a directory to copy into, never a new name
    /// for a source directory.
    trailing_slash: bool,
}

impl Destination {
    fn new(dest: &str, forced_dir: bool) -> Destination {
        let trailing_slash = dest.ends_with('/') || dest.ends_with("/.") || dest == ".";
        let path = clean_relative(dest);
        Destination {
            is_dir: forced_dir || trailing_slash || path.is_empty(),
            trailing_slash,
            path,
        }
    }

    /// The directory that receives the contents of the directory match `top`. When it does
    /// not exist and was named without a trailing `/`, it is the source directory under a
    /// new name and is created like it (mode or `--chmod`, owner, times, attributes), as
    /// BuildKit does; otherwise it is created plain (0755) or left as it is.
    fn contents_directory(
        &self,
        root: &Path,
        top: &SelectedEntry,
        placer: &mut Placer,
        owner: Option<(u32, u32)>,
    ) -> Result<PathBuf, CopyError> {
        if self.trailing_slash || self.path.is_empty() {
            return self.directory(root, "", owner);
        }
        let resolved = resolve_in_root(root, &self.path, true)?;
        if std::fs::symlink_metadata(&resolved).is_ok() {
            return self.directory(root, "", owner);
        }
        if let Some(parent) = resolved.parent() {
            place::create_missing(root, parent, 0o755, owner.unwrap_or((0, 0)))?;
        }
        let created = place_entry(root, &resolved, top, placer)?;
        Ok(created.unwrap_or(resolved))
    }

    /// The directory (created when missing) that receives a directory match's contents.
    fn directory(
        &self,
        root: &Path,
        below: &str,
        owner: Option<(u32, u32)>,
    ) -> Result<PathBuf, CopyError> {
        ensure_dir(root, &join_relative(&self.path, below), 0o755, owner)
    }

    /// Where a non-directory called `name` goes: inside the destination when it is (or must
    /// be) a directory, else at the destination itself (its final symlink followed, parents
    /// created).
    fn file_path(
        &self,
        root: &Path,
        name: &str,
        owner: Option<(u32, u32)>,
    ) -> Result<PathBuf, CopyError> {
        if self.is_dir {
            return Ok(self.directory(root, "", owner)?.join(name));
        }
        let resolved = resolve_in_root(root, &self.path, true)?;
        if std::fs::metadata(&resolved).is_ok_and(|m| m.is_dir()) {
            return Ok(resolved.join(name));
        }
        if let Some(parent) = resolved.parent() {
            place::create_missing(root, parent, 0o755, owner.unwrap_or((0, 0)))?;
        }
        Ok(resolved)
    }
}

fn copy_match(
    root: &Path,
    target: &Destination,
    found: &SourceMatch,
    opts: &CopyOptions,
    reuse: Option<&mut FileReuse>,
) -> Result<(), CopyError> {
    let Some(top) = found.entries.first() else {
        return Ok(());
    };
    let kept = if opts.parents {
        kept_parents(found)
    } else {
        String::new()
    };
    if opts.unpack_archives && top.kind == EntryKind::File {
        if let Some(format) = unpack::detect(&top.host_path)? {
            let into = target.directory(root, &kept, opts.owner)?;
            return unpack::extract(&top.host_path, format, &into, opts.owner);
        }
    }
    let mut placer = Placer::new(opts.owner, opts.mode)
        .keeping_source_owners(opts.keep_source_owners)
        .reusing(reuse);
    match &top.kind {
        EntryKind::Dir => {
            let into = if opts.parents {
                target.directory(root, &kept, opts.owner)?
            } else {
                target.contents_directory(root, top, &mut placer, opts.owner)?
            };
            copy_tree(root, &into, found, &mut placer)?;
        }
        _ => {
            let path = if opts.parents {
                target
                    .directory(root, parent_of(&kept), opts.owner)?
                    .join(base_name(&kept))
            } else {
                target.file_path(root, base_name(&found.rel_path), opts.owner)?
            };
            place_entry(root, &path, top, &mut placer)?;
        }
    }
    placer.finish_directories()
}

/// Copies the descendants of a directory match into `into`, parents before children.
fn copy_tree(
    root: &Path,
    into: &Path,
    found: &SourceMatch,
    placer: &mut Placer,
) -> Result<(), CopyError> {
    let mut directories: std::collections::HashMap<&str, PathBuf> =
        std::collections::HashMap::new();
    for entry in found.entries.iter().skip(1) {
        let sub = found.path_within(entry);
        let parent = directories
            .get(parent_of(sub))
            .cloned()
            .unwrap_or_else(|| into.join(parent_of(sub)));
        let path = parent.join(base_name(sub));
        if let Some(host) = place_entry(root, &path, entry, placer)? {
            directories.insert(sub, host);
        }
    }
    Ok(())
}

/// Writes one selected entry at `path`; for a directory, returns where its children go.
fn place_entry(
    root: &Path,
    path: &Path,
    entry: &SelectedEntry,
    placer: &mut Placer,
) -> Result<Option<PathBuf>, CopyError> {
    let finish = Finish {
        mode: entry.mode,
        mtime_ns: entry.stamp.mtime_ns,
        xattrs_from: Some(&entry.host_path),
        source_owner: entry.owner,
    };
    match &entry.kind {
        EntryKind::Dir => placer.directory(root, path, &finish).map(Some),
        EntryKind::Symlink(link) => placer.symlink(root, path, link, &finish).map(|()| None),
        EntryKind::File => {
            let content = FileContent::Host {
                path: &entry.host_path,
                device: entry.stamp.device,
                inode: entry.stamp.inode,
            };
            placer.file(root, path, content, &finish).map(|()| None)
        }
    }
}

/// With `--parents`, the part of a match's path kept below the destination: all of it, or
/// what follows a `/./` pivot in the source (`COPY --parents ./a/./b/c /d/` → `/d/b/c`).
fn kept_parents(found: &SourceMatch) -> String {
    let rel = if found.rel_path == "." {
        ""
    } else {
        found.rel_path.as_str()
    };
    let source = found.source.trim_start_matches('/');
    let source = source.strip_prefix("./").unwrap_or(source);
    let Some(pivot) = source.find("/./") else {
        return rel.to_string();
    };
    let dropped = clean_relative(&source[..pivot])
        .split('/')
        .filter(|c| !c.is_empty())
        .count();
    rel.split('/').skip(dropped).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests;
