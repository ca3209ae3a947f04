//! Putting single objects into a root filesystem: directories created along a path, files,
//! symlinks and directories written at a host path, with COPY's metadata rules (owner by
//! lchown, permission bits by chmod, extended attributes, source mtimes). Regular files
//! copied from the host are queued and written in parallel batches (each is a handful of
//! system calls through the overlay); everything else is written at once, in order.
//!
//! Deciding *where* each object goes is `copy`'s job; this module only writes.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{lchown, symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use filetime::FileTime;

use super::reuse::{Expected, FileReuse};
use super::CopyError;
use crate::scoped::resolve_in_root;

/// Creates every missing directory of `path` (an in-root path, symlinks followed inside
/// `root`) with `mode` and `owner` (root when `None`); existing directories are left as they
/// are. Returns the host path of the directory.
pub(super) fn ensure_dir(
    root: &Path,
    path: &str,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<PathBuf, CopyError> {
    let resolved = resolve_in_root(root, path, true)?;
    create_missing(root, &resolved, mode, owner.unwrap_or((0, 0)))?;
    Ok(resolved)
}

/// Creates the missing directories between `root` and `host_dir` (a resolved path inside
/// `root`, so no component of it is a symlink).
pub(super) fn create_missing(
    root: &Path,
    host_dir: &Path,
    mode: u32,
    owner: (u32, u32),
) -> Result<(), CopyError> {
    let relative = host_dir.strip_prefix(root).map_err(|_| {
        io_error(
            "create directories at",
            host_dir,
            io::Error::other("path is outside the root filesystem"),
        )
    })?;
    let mut current = root.to_path_buf();
    for component in relative.components() {
        current.push(component);
        match fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.is_dir() => continue,
            Ok(_) => {
                return Err(CopyError::NotADirectory {
                    path: shown(root, &current),
                })
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(io_error("inspect", &current, source)),
        }
        fs::create_dir(&current)
            .map_err(|source| io_error("create directory", &current, source))?;
        set_owner_and_mode(&current, owner, Some(mode))?;
    }
    Ok(())
}

/// Where a regular file's bytes come from.
pub(super) enum FileContent<'a> {
    /// Copy this host file; files sharing `(device, inode)` within one `Placer` become hard
    /// links to the first copy, as BuildKit keeps them.
    Host {
        path: &'a Path,
        device: u64,
        inode: u64,
    },
    Bytes(&'a [u8]),
}

/// The metadata one placed object receives.
pub(super) struct Finish<'a> {
    pub(super) mode: u32,
    pub(super) mtime_ns: i64,
    /// Copy extended attributes from here (files and directories from a source tree).
    pub(super) xattrs_from: Option<&'a Path>,
    /// The object's `(uid, gid)` in its source, kept when the placer keeps source owners.
    pub(super) source_owner: (u32, u32),
}

/// Writes objects with one owner (or each source's own) and one optional mode override;
/// remembers hard links, host files to write and directory times until
/// `finish_directories`; with a `FileReuse`, leaves the regular files an earlier snapshot
/// provides to it.
pub(super) struct Placer<'r> {
    /// `--chown`; without it 0:0 unless `keep_source_owners`.
    owner: Option<(u32, u32)>,
    /// No `--chown` and the source's ids are kept (`COPY --from`).
    keep_source_owners: bool,
    mode_override: Option<u32>,
    hard_links: HashMap<(u64, u64), PathBuf>,
    directory_times: Vec<(PathBuf, i64)>,
    reuse: Option<&'r mut FileReuse>,
    /// Host files to write, in placement order (see `flush_files`).
    queued: Vec<FileJob>,
}

/// Regular files queued before a batch is written.
const FILES_PER_BATCH: usize = 256;

/// The metadata a written regular file receives.
struct FileMetadata {
    owner: (u32, u32),
    mode: u32,
    xattrs_from: Option<PathBuf>,
    mtime_ns: i64,
}

impl FileMetadata {
    /// Owner, then permission bits (chown clears setuid bits), then extended attributes
    /// (chown also clears `security.capability`), then the time; all but the xattrs through
    /// the open file, so no path lookup through the overlay.
    fn apply_to(&self, into: &File, target: &Path) -> Result<(), CopyError> {
        std::os::unix::fs::fchown(into, Some(self.owner.0), Some(self.owner.1))
            .map_err(|source| io_error("chown", target, source))?;
        into.set_permissions(fs::Permissions::from_mode(self.mode & 0o7777))
            .map_err(|source| io_error("chmod", target, source))?;
        if let Some(source) = &self.xattrs_from {
            copy_xattrs(source, target)?;
        }
        let time = file_time(self.mtime_ns);
        filetime::set_file_handle_times(into, Some(time), Some(time))
            .map_err(|source| io_error("set times of", target, source))
    }
}

/// One regular file copied from the host.
struct FileJob {
    root: PathBuf,
    source: PathBuf,
    target: PathBuf,
    metadata: FileMetadata,
}

impl FileJob {
    /// Creates the file (clearing the way only when something is there), copies the bytes
    /// and applies the metadata.
    fn write(&self) -> Result<(), CopyError> {
        let target = &self.target;
        let mut into = match open_new(target) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                clear_for_non_directory(&self.root, target)?;
                open_new(target)
            }
            opened => opened,
        }
        .map_err(|source| io_error("create", target, source))?;
        let mut from =
            File::open(&self.source).map_err(|source| io_error("open", &self.source, source))?;
        io::copy(&mut from, &mut into).map_err(|source| io_error("copy into", target, source))?;
        self.metadata.apply_to(&into, target)
    }
}

impl<'r> Placer<'r> {
    pub(super) fn new(owner: Option<(u32, u32)>, mode_override: Option<u32>) -> Placer<'r> {
        Placer {
            owner,
            keep_source_owners: false,
            mode_override,
            hard_links: HashMap::new(),
            directory_times: Vec::new(),
            reuse: None,
            queued: Vec::new(),
        }
    }

    /// Keeps each object's source owner when no `--chown` owner was given.
    pub(super) fn keeping_source_owners(mut self, keep: bool) -> Placer<'r> {
        self.keep_source_owners = keep;
        self
    }

    /// Records placed files in `reuse` and leaves to it those it can link.
    pub(super) fn reusing(mut self, reuse: Option<&'r mut FileReuse>) -> Placer<'r> {
        self.reuse = reuse;
        self
    }

    /// The owner an object whose source ids are `source` receives.
    fn owner_of(&self, source: (u32, u32)) -> (u32, u32) {
        match self.owner {
            Some(owner) => owner,
            None if self.keep_source_owners => source,
            None => (0, 0),
        }
    }

    /// Writes a regular file at `target`, replacing a file or symlink there; an existing
    /// directory is an error, as in BuildKit.
    pub(super) fn file(
        &mut self,
        root: &Path,
        target: &Path,
        content: FileContent,
        finish: &Finish,
    ) -> Result<(), CopyError> {
        let metadata = self.file_metadata(finish);
        if let FileContent::Host { path, .. } = content {
            let expected = Expected {
                mode: metadata.mode,
                owner: metadata.owner,
                mtime_ns: metadata.mtime_ns,
            };
            if let Some(reuse) = self.reuse.as_deref_mut() {
                if reuse.defer(root, target, path, &expected) {
                    return Ok(());
                }
            }
        }
        match content {
            FileContent::Host {
                path,
                device,
                inode,
            } => {
                if let Some(first) = self.hard_links.get(&(device, inode)) {
                    let first = first.clone();
                    // The first path must exist before it is linked to.
                    self.flush_files()?;
                    clear_for_non_directory(root, target)?;
                    return fs::hard_link(first, target)
                        .map_err(|source| io_error("hard link", target, source));
                }
                self.hard_links
                    .insert((device, inode), target.to_path_buf());
                self.queued.push(FileJob {
                    root: root.to_path_buf(),
                    source: path.to_path_buf(),
                    target: target.to_path_buf(),
                    metadata,
                });
                if self.queued.len() >= FILES_PER_BATCH {
                    self.flush_files()?;
                }
                Ok(())
            }
            FileContent::Bytes(bytes) => {
                self.flush_files()?;
                clear_for_non_directory(root, target)?;
                let mut into = create_new(target)?;
                into.write_all(bytes)
                    .map_err(|source| io_error("write", target, source))?;
                metadata.apply_to(&into, target)
            }
        }
    }

    fn file_metadata(&self, finish: &Finish) -> FileMetadata {
        FileMetadata {
            owner: self.owner_of(finish.source_owner),
            mode: self.mode_override.unwrap_or(finish.mode),
            xattrs_from: finish.xattrs_from.map(Path::to_path_buf),
            mtime_ns: finish.mtime_ns,
        }
    }

    /// Writes the queued files, in parallel: each has its own path (a tree holds a path
    /// once, and every match's placer is flushed before the next starts), and their parent
    /// directories exist already. The first error in placement order is returned.
    fn flush_files(&mut self) -> Result<(), CopyError> {
        let jobs = std::mem::take(&mut self.queued);
        write_in_parallel(&jobs)
    }

    /// Creates a symlink at `target`, replacing a file or symlink there.
    pub(super) fn symlink(
        &mut self,
        root: &Path,
        target: &Path,
        link: &str,
        finish: &Finish,
    ) -> Result<(), CopyError> {
        clear_for_non_directory(root, target)?;
        symlink(link, target).map_err(|source| io_error("create symlink", target, source))?;
        let (uid, gid) = self.owner_of(finish.source_owner);
        lchown(target, Some(uid), Some(gid)).map_err(|source| io_error("chown", target, source))?;
        set_times(target, finish.mtime_ns)
    }

    /// Makes `target` a directory (creating it, or reusing an existing directory, also
    /// through a symlink resolved inside `root`) and gives it the source's metadata; its
    /// time is set by `finish_directories`, after its contents are written. Returns the
    /// host path to write children into.
    pub(super) fn directory(
        &mut self,
        root: &Path,
        target: &Path,
        finish: &Finish,
    ) -> Result<PathBuf, CopyError> {
        let host = match fs::symlink_metadata(target) {
            Ok(metadata) if metadata.is_dir() => target.to_path_buf(),
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let inside = target
                    .strip_prefix(root)
                    .unwrap_or(target)
                    .to_string_lossy()
                    .into_owned();
                let resolved = resolve_in_root(root, &inside, true)?;
                if !fs::metadata(&resolved).is_ok_and(|m| m.is_dir()) {
                    return Err(CopyError::NotADirectory {
                        path: shown(root, target),
                    });
                }
                resolved
            }
            Ok(_) => {
                return Err(CopyError::NotADirectory {
                    path: shown(root, target),
                })
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(target)
                    .map_err(|source| io_error("create directory", target, source))?;
                if let Some(reuse) = self.reuse.as_deref_mut() {
                    reuse.created_directory(root, target);
                }
                target.to_path_buf()
            }
            Err(source) => return Err(io_error("inspect", target, source)),
        };
        self.apply(&host, finish)?;
        self.directory_times.push((host.clone(), finish.mtime_ns));
        Ok(host)
    }

    /// Writes the queued files, then sets the recorded directory times; call after
    /// everything below them is placed.
    pub(super) fn finish_directories(&mut self) -> Result<(), CopyError> {
        self.flush_files()?;
        for (dir, mtime_ns) in self.directory_times.drain(..).rev() {
            set_times(&dir, mtime_ns)?;
        }
        Ok(())
    }

    /// Owner, then permission bits (chown clears setuid bits), then extended attributes
    /// (chown also clears `security.capability`).
    fn apply(&self, target: &Path, finish: &Finish) -> Result<(), CopyError> {
        let mode = self.mode_override.unwrap_or(finish.mode);
        set_owner_and_mode(target, self.owner_of(finish.source_owner), Some(mode))?;
        match finish.xattrs_from {
            Some(source) => copy_xattrs(source, target),
            None => Ok(()),
        }
    }
}

/// Writes `jobs` on this thread and helpers it spawns. Not on a shared pool: a copy runs on
/// a thread that entered a private mount namespace, and only threads it starts see the
/// overlay mounted there. Returns the first error in `jobs` order.
fn write_in_parallel(jobs: &[FileJob]) -> Result<(), CopyError> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if workers < 2 || jobs.len() < 16 {
        return jobs.iter().try_for_each(FileJob::write);
    }
    let per_worker = jobs.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let mut chunks = jobs.chunks(per_worker);
        let mine = chunks.next().unwrap_or_default();
        let helpers: Vec<_> = chunks
            .map(|chunk| scope.spawn(move || chunk.iter().try_for_each(FileJob::write)))
            .collect();
        let first = mine.iter().try_for_each(FileJob::write);
        let rest = helpers.into_iter().map(|helper| {
            helper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        std::iter::once(first).chain(rest).collect()
    })
}

/// Removes a file or symlink at `target` so a new object can take its place.
fn clear_for_non_directory(root: &Path, target: &Path) -> Result<(), CopyError> {
    match fs::symlink_metadata(target) {
        Ok(metadata) if metadata.is_dir() => Err(CopyError::DirectoryInTheWay {
            path: shown(root, target),
        }),
        Ok(_) => fs::remove_file(target).map_err(|source| io_error("replace", target, source)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(io_error("inspect", target, source)),
    }
}

fn create_new(target: &Path) -> Result<File, CopyError> {
    open_new(target).map_err(|source| io_error("create", target, source))
}

/// Creates `target`, failing with `AlreadyExists` when anything (a symlink too) is there.
fn open_new(target: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(target)
}

pub(super) fn set_owner_and_mode(
    target: &Path,
    owner: (u32, u32),
    mode: Option<u32>,
) -> Result<(), CopyError> {
    lchown(target, Some(owner.0), Some(owner.1))
        .map_err(|source| io_error("chown", target, source))?;
    if let Some(mode) = mode {
        fs::set_permissions(target, fs::Permissions::from_mode(mode & 0o7777))
            .map_err(|source| io_error("chmod", target, source))?;
    }
    Ok(())
}

fn file_time(mtime_ns: i64) -> FileTime {
    FileTime::from_unix_time(
        mtime_ns.div_euclid(1_000_000_000),
        mtime_ns.rem_euclid(1_000_000_000) as u32,
    )
}

pub(super) fn set_times(target: &Path, mtime_ns: i64) -> Result<(), CopyError> {
    let time = file_time(mtime_ns);
    filetime::set_symlink_file_times(target, time, time)
        .map_err(|source| io_error("set times of", target, source))
}

/// Copies every extended attribute BuildKit would. Attributes the destination filesystem
/// refuses are skipped, except `security.capability`, whose loss would change what a binary
/// may do.
fn copy_xattrs(source: &Path, target: &Path) -> Result<(), CopyError> {
    let names = match xattr::list(source) {
        Ok(names) => names,
        Err(err) if err.raw_os_error() == Some(libc::ENOTSUP) => return Ok(()),
        Err(err) => return Err(io_error("list extended attributes of", source, err)),
    };
    for name in names {
        let Some(value) = xattr::get(source, &name)
            .map_err(|err| io_error("read extended attribute of", source, err))?
        else {
            continue;
        };
        set_xattr(target, &name.to_string_lossy(), &value)?;
    }
    Ok(())
}

/// Sets one extended attribute; only a refused `security.capability` is an error.
pub(super) fn set_xattr(target: &Path, name: &str, value: &[u8]) -> Result<(), CopyError> {
    match xattr::set(target, name, value) {
        Ok(()) => Ok(()),
        Err(err) if name == "security.capability" => {
            Err(io_error("set security.capability on", target, err))
        }
        Err(err) => {
            tracing::debug!(path = %target.display(), name, error = %err, "extended attribute not copied");
            Ok(())
        }
    }
}

pub(super) fn io_error(op: &'static str, path: &Path, source: io::Error) -> CopyError {
    CopyError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// `host` as a path inside `root` (`/etc/x`), for messages.
pub(super) fn shown(root: &Path, host: &Path) -> String {
    match host.strip_prefix(root) {
        Ok(inside) => format!("/{}", inside.display()),
        Err(_) => host.display().to_string(),
    }
}
