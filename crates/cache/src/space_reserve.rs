//! The space reserve: a file of `RESERVE_BYTES` real blocks at `<root>/space-reserve`, so
//! that a store whose filesystem is full can still be opened to be inspected or freed.
//! SQLite in WAL mode must size its shared-memory file (and append to the WAL) even to
//! read, so on a 100 % full filesystem nothing opens without some room.
//!
//! Maintenance opens (`Store::open_for_maintenance`: `cache du/check/prune`, `images`)
//! release the reserve when opening fails for lack of space; every open puts it back
//! once the filesystem has room again. Builds never release it: they would only fill the
//! freed room and lock prune out again.
//!
//! This module only manages the file; deciding when to release it is the store's job.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, StoreError};
use crate::layout::Layout;

/// Enough for the database's shared memory, the WAL of a prune, and a checkpoint.
pub(crate) const RESERVE_BYTES: u64 = 4 << 20;

/// The reserve is only (re)made when at least this many times its size is free.
const FREE_FACTOR: u64 = 4;

pub(crate) fn path(layout: &Layout) -> PathBuf {
    layout.root.join("space-reserve")
}

/// Removes the reserve; whether there was one to remove.
pub(crate) fn release(layout: &Layout) -> Result<bool, StoreError> {
    let path = path(layout);
    match fs::remove_file(&path) {
        Ok(()) => {
            tracing::warn!(path = %path.display(), "the store's filesystem is full: released the space reserve");
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io("releasing the space reserve", &path, e)),
    }
}

/// Makes the reserve when it is missing and the filesystem has room for it. Best effort:
/// a store without a reserve works, it only cannot be opened on a full filesystem.
pub(crate) fn replenish(layout: &Layout) {
    let path = path(layout);
    if path.exists()
        || free_bytes(&layout.root).is_none_or(|free| free < FREE_FACTOR * RESERVE_BYTES)
    {
        return;
    }
    let temp = layout
        .tmp
        .join(format!(".space-reserve-{}", std::process::id()));
    let made = write_reserve(&temp)
        .and_then(|()| fs::rename(&temp, &path).at("placing the space reserve", &path));
    if let Err(e) = made {
        let _ = fs::remove_file(&temp);
        tracing::debug!(error = %e, "no space reserve made");
    }
}

fn write_reserve(path: &Path) -> Result<(), StoreError> {
    let mut file = File::create(path).at("creating the space reserve", path)?;
    // Real blocks, not a sparse file: fallocate, or zeros where it is unsupported.
    let allocated =
        rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, RESERVE_BYTES);
    if allocated.is_err() {
        let zeros = vec![0u8; 64 << 10];
        for _ in 0..RESERVE_BYTES / zeros.len() as u64 {
            file.write_all(&zeros)
                .at("writing the space reserve", path)?;
        }
    }
    file.sync_all().at("syncing the space reserve", path)
}

/// Bytes an unprivileged writer may still use on the filesystem holding `path`.
pub(crate) fn free_bytes(path: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(path).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_made_once_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        layout.create().unwrap();
        replenish(&layout);
        let meta = fs::metadata(path(&layout)).unwrap();
        assert_eq!(meta.len(), RESERVE_BYTES);
        assert!(
            meta_blocks(&meta) * 512 >= RESERVE_BYTES,
            "the reserve is sparse"
        );
        assert!(fs::read_dir(&layout.tmp).unwrap().next().is_none());
        assert!(release(&layout).unwrap());
        assert!(!path(&layout).exists());
        assert!(!release(&layout).unwrap());
    }

    fn meta_blocks(meta: &fs::Metadata) -> u64 {
        use std::os::unix::fs::MetadataExt;
        meta.blocks()
    }
}
