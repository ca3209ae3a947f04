//! The staging area `tmp/`: unique entry names that carry their owner's process identity,
//! guards that remove an entry unless it was moved into place, and the sweep that deletes
//! entries of processes that died.
//!
//! Entries of live processes are never touched. What is staged (blobs, layers, scratch
//! space) is decided by the callers.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{IoContext, StoreError};
use crate::process::ProcessIdentity;

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Hands out entry names `<pid>-<start time>-<sequence>-<purpose>` under `tmp/`.
#[derive(Clone, Debug)]
pub(crate) struct Staging {
    tmp: PathBuf,
    owner: ProcessIdentity,
}

impl Staging {
    pub fn new(tmp: &Path) -> Staging {
        Staging {
            tmp: tmp.to_path_buf(),
            owner: ProcessIdentity::current(),
        }
    }

    /// A fresh path in `tmp/` that nothing else uses; nothing is created.
    pub fn unique_path(&self, purpose: &str) -> PathBuf {
        let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let purpose: String = purpose
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.tmp.join(format!(
            "{}-{}-{}-{}",
            self.owner.pid, self.owner.start_time, sequence, purpose
        ))
    }

    /// Creates an empty directory in `tmp/`, removed when the guard drops.
    pub fn dir(&self, purpose: &str) -> Result<StagedPath, StoreError> {
        let path = self.unique_path(purpose);
        fs::create_dir(&path).at("creating staging directory", &path)?;
        Ok(StagedPath::new(path))
    }

    /// Creates an empty file in `tmp/`, removed when the guard drops.
    pub fn file(&self, purpose: &str) -> Result<(File, StagedPath), StoreError> {
        let path = self.unique_path(purpose);
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .at("creating staging file", &path)?;
        Ok((file, StagedPath::new(path)))
    }

    /// Renames `path` to a fresh staging entry so that it vanishes from where it was at
    /// once; the caller removes the returned path later. A missing `path` is not an error.
    pub fn move_aside(&self, path: &Path, purpose: &str) -> Result<PathBuf, StoreError> {
        let aside = self.unique_path(purpose);
        match fs::rename(path, &aside) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(StoreError::io("moving aside", path, e))
            }
            _ => Ok(aside),
        }
    }

    /// Removes entries whose owner process is gone; returns how many were removed.
    /// Entries with names this module did not make are left alone, and one that cannot be
    /// removed (still mounted on, say) is logged and left for a later sweep: a leftover
    /// must never keep the store from opening.
    pub fn clear_stale(&self) -> Result<usize, StoreError> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.tmp).at("listing staging directory", &self.tmp)? {
            let entry = entry.at("listing staging directory", &self.tmp)?;
            let name = entry.file_name();
            let Some(owner) = name.to_str().and_then(owner_of) else {
                continue;
            };
            if owner.is_alive() {
                continue;
            }
            let path = entry.path();
            match remove_path(&path) {
                Ok(()) => removed += 1,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove a dead process's staging entry")
                }
            }
        }
        Ok(removed)
    }
}

/// The owner encoded in a staging entry name, if the name is one of ours.
fn owner_of(name: &str) -> Option<ProcessIdentity> {
    let mut parts = name.splitn(4, '-');
    let pid = parts.next()?.parse().ok()?;
    let start_time = parts.next()?.parse().ok()?;
    parts.next()?.parse::<u64>().ok()?;
    parts.next()?;
    Some(ProcessIdentity { pid, start_time })
}

/// Removes a file or a whole directory tree; a missing path is not an error.
pub(crate) fn remove_path(path: &Path) -> io::Result<()> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Makes a rename or creation inside `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .at("syncing directory", dir)
}

/// A staged file or directory, removed on drop unless `keep` was called (after it was
/// renamed into place, for instance).
#[derive(Debug)]
pub(crate) struct StagedPath {
    path: PathBuf,
    armed: bool,
}

impl StagedPath {
    pub fn new(path: PathBuf) -> StagedPath {
        StagedPath { path, armed: true }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entry has been moved away or must survive: do not remove it on drop.
    pub fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for StagedPath {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = remove_path(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove staging entry");
            }
        }
    }
}

/// A private directory under the store's `tmp/`, on the store's filesystem, removed with
/// everything in it when dropped.
#[derive(Debug)]
pub struct ScratchDir {
    staged: StagedPath,
}

impl ScratchDir {
    pub(crate) fn new(staged: StagedPath) -> ScratchDir {
        ScratchDir { staged }
    }

    pub fn path(&self) -> &Path {
        self.staged.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_removes_dead_owners_only() {
        let tmp = tempfile::tempdir().unwrap();
        let staging = Staging::new(tmp.path());
        let mine = staging.dir("mine").unwrap();

        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let dead = tmp.path().join(format!("{dead_pid}-12345-0-upper"));
        fs::create_dir_all(dead.join("upper/deep")).unwrap();
        let foreign = tmp.path().join("not-ours");
        fs::write(&foreign, b"x").unwrap();

        assert_eq!(staging.clear_stale().unwrap(), 1);
        assert!(!dead.exists());
        assert!(mine.path().exists());
        assert!(foreign.exists());
    }

    #[test]
    fn guards_remove_unless_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let staging = Staging::new(tmp.path());
        let dropped = staging.dir("a").unwrap();
        let dropped_path = dropped.path().to_path_buf();
        fs::write(dropped_path.join("f"), b"x").unwrap();
        drop(dropped);
        assert!(!dropped_path.exists());

        let (_, kept) = staging.file("b").unwrap();
        let kept_path = kept.path().to_path_buf();
        kept.keep();
        assert!(kept_path.exists());
        assert_eq!(
            owner_of(kept_path.file_name().unwrap().to_str().unwrap())
                .unwrap()
                .pid,
            std::process::id()
        );
    }
}
