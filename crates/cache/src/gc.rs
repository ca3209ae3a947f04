//! The automatic size policy that runs after every build: when snapshots and blobs exceed a
//! limit, the least recently used cache goes until they fit. The default limit is the
//! smaller of 20 GB and 10% of the filesystem holding the store.
//!
//! Deciding *what* to remove is `prune`'s job; this module only decides *whether* and *how
//! much*. Parsing sizes the user types is the CLI's.

use std::path::Path;

use crate::error::StoreError;
use crate::prune::{PrunePolicy, PruneReport};
use crate::store::Store;

/// The default limit never exceeds this many bytes...
pub const DEFAULT_GC_CAP: u64 = 20_000_000_000;
/// ...nor this share (in percent) of the store's filesystem.
pub const DEFAULT_GC_PERCENT: u64 = 10;

/// The default store size limit for a store at `root`.
pub fn default_gc_limit(root: &Path) -> u64 {
    filesystem_size(root)
        .map(|size| size / 100 * DEFAULT_GC_PERCENT)
        .map_or(DEFAULT_GC_CAP, |share| share.min(DEFAULT_GC_CAP))
}

fn filesystem_size(path: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(path).ok()?;
    Some(stat.f_blocks.saturating_mul(stat.f_frsize))
}

impl Store {
    /// Prunes least recently used cache until snapshots and blobs fit in `limit` bytes.
    /// Returns what was removed, or `None` when the store was within the limit already.
    pub fn collect_garbage(&self, limit: u64) -> Result<Option<PruneReport>, StoreError> {
        if self.stored_bytes()? <= limit {
            return Ok(None);
        }
        let report = self.prune(&PrunePolicy {
            keep_storage: Some(limit),
            ..PrunePolicy::default()
        })?;
        Ok(Some(report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limit_is_capped_and_a_share_of_the_filesystem() {
        let limit = default_gc_limit(Path::new("/"));
        assert!(limit > 0 && limit <= DEFAULT_GC_CAP);
        let size = filesystem_size(Path::new("/")).unwrap();
        assert!(limit <= size / 100 * DEFAULT_GC_PERCENT || limit == DEFAULT_GC_CAP);
    }

    #[test]
    fn a_store_within_its_limit_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.blobs().put(b"some bytes").unwrap();
        assert!(store.collect_garbage(u64::MAX).unwrap().is_none());
        assert!(store.collect_garbage(0).unwrap().is_some());
    }
}
