//! The directories behind `RUN --mount=type=cache`, under `<root>/cache-mounts/`, and the
//! file locks that share them between concurrent builds (threads or processes alike).
//!
//! ```text
//! cache-mounts/<key hex>/<n>.lock   flock: shared by `shared` users, exclusive otherwise
//! cache-mounts/<key hex>/<n>/       instance n of the cache (the caller's layout inside)
//! ```
//!
//! The key (a digest the caller derives from the mount's id and, with `from`, its source)
//! names a cache; `private` users that find instance 0 busy take the next free instance.
//! A lease holds its instance's lock until dropped; prune only removes instances whose
//! lock it can take, so nothing in use disappears. The lock file's mtime records the last
//! use. This module does not know what is inside an instance; the solver does.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rbuild_oci::Digest;
use rustix::fs::{flock, FlockOperation};

use crate::error::StoreError;
use crate::staging::{remove_path, Staging};
use crate::usage::tree_usage;
use crate::Store;

/// How concurrent builds share one cache mount (BuildKit's `sharing=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CacheMountSharing {
    /// Everyone uses instance 0 at once.
    #[default]
    Shared,
    /// A user finding instance 0 busy gets an instance of its own.
    Private,
    /// Users of instance 0 take turns.
    Locked,
}

/// How often a waiting `locked` user re-tries the lock (and asks whether to go on).
const LOCK_RETRY: Duration = Duration::from_millis(20);

/// The cache-mount directories of one store.
pub struct CacheMounts<'a> {
    pub(crate) root: &'a Path,
    /// The store's `tmp/`, for imports on their way in (`cache_mount_archive`).
    pub(crate) staging: &'a Staging,
}

/// An instance in use: its directory stays and its lock is held until this is dropped.
#[derive(Debug)]
pub struct CacheMountLease {
    dir: PathBuf,
    created: bool,
    _lock: File,
}

impl CacheMountLease {
    /// The instance directory (exists).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the directory was created for this lease (the caller initializes it).
    pub fn created(&self) -> bool {
        self.created
    }
}

/// What `remove_unused` reclaimed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheMountsPruned {
    pub instances: usize,
    pub bytes: u64,
}

impl Store {
    /// The `RUN --mount=type=cache` directories.
    pub fn cache_mounts(&self) -> CacheMounts<'_> {
        CacheMounts {
            root: &self.shared().layout.cache_mounts,
            staging: &self.shared().staging,
        }
    }
}

impl CacheMounts<'_> {
    /// Takes an instance of cache `key` for `sharing`. A `locked` user waits for the
    /// current one while `keep_waiting()` says so; `Ok(None)` when it gave up.
    pub fn acquire(
        &self,
        key: &Digest,
        sharing: CacheMountSharing,
        keep_waiting: &dyn Fn() -> bool,
    ) -> Result<Option<CacheMountLease>, StoreError> {
        let cache = self.root.join(key.hex());
        std::fs::create_dir_all(&cache).map_err(|e| StoreError::io("creating", &cache, e))?;
        let lock = match sharing {
            CacheMountSharing::Shared => wait_for(
                &cache,
                0,
                FlockOperation::NonBlockingLockShared,
                keep_waiting,
            )?,
            CacheMountSharing::Locked => wait_for(
                &cache,
                0,
                FlockOperation::NonBlockingLockExclusive,
                keep_waiting,
            )?,
            CacheMountSharing::Private => Some(first_free(&cache)?),
        };
        let Some((instance, lock)) = lock else {
            return Ok(None);
        };
        let dir = cache.join(instance.to_string());
        let created = match std::fs::create_dir(&dir) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(StoreError::io("creating", &dir, e)),
        };
        // The lock file's mtime is the instance's last use.
        let _ = lock.set_modified(SystemTime::now());
        Ok(Some(CacheMountLease {
            dir,
            created,
            _lock: lock,
        }))
    }

    /// Removes every instance nobody uses that was last used at least `older_than` ago
    /// (all unused ones when `None`).
    pub(crate) fn remove_unused(
        &self,
        older_than: Option<Duration>,
    ) -> Result<CacheMountsPruned, StoreError> {
        let mut pruned = CacheMountsPruned::default();
        for cache in subdirs(self.root)? {
            for lock_path in lock_files(&cache)? {
                let Some(lock) = try_lock(&lock_path, FlockOperation::NonBlockingLockExclusive)?
                else {
                    continue; // in use
                };
                let recent = older_than.is_some_and(|age| {
                    lock.metadata()
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|used| used.elapsed().ok())
                        .is_some_and(|idle| idle < age)
                });
                if recent {
                    continue;
                }
                let dir = lock_path.with_extension("");
                pruned.bytes += tree_usage(&dir).unwrap_or(0);
                remove_path(&dir).map_err(|e| StoreError::io("removing", &dir, e))?;
                // Unlinked while still held: a waiter that opened it sees the inode change.
                std::fs::remove_file(&lock_path)
                    .map_err(|e| StoreError::io("removing", &lock_path, e))?;
                pruned.instances += 1;
            }
            // Gone once its last instance is; busy caches keep their directory.
            let _ = std::fs::remove_dir(&cache);
        }
        Ok(pruned)
    }
}

/// Takes the lock of `instance` with `operation` (non-blocking), retrying every
/// `LOCK_RETRY` while `keep_waiting()`.
fn wait_for(
    cache: &Path,
    instance: usize,
    operation: FlockOperation,
    keep_waiting: &dyn Fn() -> bool,
) -> Result<Option<(usize, File)>, StoreError> {
    let path = lock_path(cache, instance);
    loop {
        if let Some(lock) = try_lock(&path, operation)? {
            return Ok(Some((instance, lock)));
        }
        if !keep_waiting() {
            return Ok(None);
        }
        std::thread::sleep(LOCK_RETRY);
    }
}

/// The first instance whose exclusive lock is free.
fn first_free(cache: &Path) -> Result<(usize, File), StoreError> {
    for instance in 0.. {
        let path = lock_path(cache, instance);
        if let Some(lock) = try_lock(&path, FlockOperation::NonBlockingLockExclusive)? {
            return Ok((instance, lock));
        }
    }
    unreachable!("an unbounded search ends at a free instance")
}

pub(crate) fn lock_path(cache: &Path, instance: usize) -> PathBuf {
    cache.join(format!("{instance}.lock"))
}

/// Opens (creating) and locks `path`; `None` when someone else holds a conflicting lock.
/// A lock file prune unlinked meanwhile does not count: it is re-opened.
pub(crate) fn try_lock(path: &Path, operation: FlockOperation) -> Result<Option<File>, StoreError> {
    loop {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io("opening", path, e))?;
        match flock(&file, operation) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
            Err(e) => return Err(StoreError::io("locking", path, e.into())),
        }
        let held = file
            .metadata()
            .map_err(|e| StoreError::io("reading", path, e))?;
        match std::fs::metadata(path) {
            Ok(current) if current.ino() == held.ino() && current.dev() == held.dev() => {
                return Ok(Some(file));
            }
            _ => continue,
        }
    }
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    entries(dir, |path| path.is_dir())
}

fn lock_files(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    entries(dir, |path| path.extension().is_some_and(|e| e == "lock"))
}

fn entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>, StoreError> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("listing", dir, e)),
    };
    Ok(read
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| keep(path))
        .collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh store in a temp dir (also for `cache_mount_archive`'s tests).
    pub(crate) fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    fn key(text: &str) -> Digest {
        Digest::of(text.as_bytes())
    }

    #[test]
    fn contents_persist_across_leases_and_count_in_disk_usage() {
        let (_dir, store) = store();
        let mounts = store.cache_mounts();
        let first = mounts
            .acquire(&key("apt"), CacheMountSharing::Shared, &|| true)
            .unwrap()
            .unwrap();
        assert!(first.created());
        std::fs::write(first.dir().join("pkg.deb"), vec![7u8; 64 * 1024]).unwrap();
        drop(first);
        let again = mounts
            .acquire(&key("apt"), CacheMountSharing::Shared, &|| true)
            .unwrap()
            .unwrap();
        assert!(!again.created());
        assert!(again.dir().join("pkg.deb").is_file());
        assert!(store.disk_usage().unwrap().cache_mounts >= 64 * 1024);
    }

    #[test]
    fn shared_users_share_private_users_split_and_locked_users_wait() {
        let (_dir, store) = store();
        let mounts = store.cache_mounts();
        let k = key("go-build");
        let a = mounts
            .acquire(&k, CacheMountSharing::Shared, &|| true)
            .unwrap()
            .unwrap();
        let b = mounts
            .acquire(&k, CacheMountSharing::Shared, &|| true)
            .unwrap()
            .unwrap();
        assert_eq!(a.dir(), b.dir());
        let private = mounts
            .acquire(&k, CacheMountSharing::Private, &|| true)
            .unwrap()
            .unwrap();
        assert_ne!(
            private.dir(),
            a.dir(),
            "instance 0 is busy: a copy of its own"
        );
        let gave_up = mounts
            .acquire(&k, CacheMountSharing::Locked, &|| false)
            .unwrap();
        assert!(gave_up.is_none(), "locked waits while shared users hold it");
        drop((a, b));
        let locked = mounts
            .acquire(&k, CacheMountSharing::Locked, &|| false)
            .unwrap();
        assert!(locked.is_some());
    }

    #[test]
    fn prune_removes_only_unused_instances() {
        let (_dir, store) = store();
        let mounts = store.cache_mounts();
        let busy = mounts
            .acquire(&key("busy"), CacheMountSharing::Shared, &|| true)
            .unwrap()
            .unwrap();
        let idle = mounts
            .acquire(&key("idle"), CacheMountSharing::Shared, &|| true)
            .unwrap()
            .unwrap();
        std::fs::write(idle.dir().join("f"), "x").unwrap();
        let idle_dir = idle.dir().to_path_buf();
        drop(idle);
        let kept = mounts
            .remove_unused(Some(Duration::from_secs(3600)))
            .unwrap();
        assert_eq!(kept.instances, 0, "recently used instances stay");
        let pruned = mounts.remove_unused(None).unwrap();
        assert_eq!(pruned.instances, 1);
        assert!(!idle_dir.exists());
        assert!(busy.dir().is_dir(), "an instance in use stays");
    }
}
