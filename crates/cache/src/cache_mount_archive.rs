//! Cache-mount contents leaving and entering a store as layer tars (`--cache-to` /
//! `--cache-from …,cache-mounts=true`): instance 0 of a cache becomes one deterministic,
//! compressed layer tar of its content (`data/`, or `upper/` for a seeded cache — never the
//! overlay work dir), and such a tar becomes instance 0 of the same cache in another store.
//!
//! An export reads under the instance's shared lock; an import writes under its exclusive
//! lock and only into an instance that holds no file yet, so contents in use or already
//! there are never overwritten. An imported blob is copied privately, checked against its
//! digest, its entries checked as every layer's are (`codec::tar_check`) and its tar
//! against the diff id before anything is extracted, and the extracted tree is moved in
//! only when it holds nothing but the content directories. Which caches travel, and where
//! their blobs live meanwhile, is the caller's business.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::Path;
use std::time::SystemTime;

use rbuild_oci::{Digest, DigestingWriter};
use rustix::fs::FlockOperation;

use crate::cache_mounts::{lock_path, try_lock, CacheMounts};
use crate::codec::{check_layer_tar, decompressed, extract_layer_tar, write_tree_tar, Compression};
use crate::error::{IoContext, StoreError};
use crate::layers::DigestingReader;
use crate::staging::{remove_path, sync_dir};

/// The directories of an instance that hold its content (the rest is overlay bookkeeping).
const CONTENT_DIRS: [&str; 2] = ["data", "upper"];
/// The overlay work dir of a seeded cache: scratch space of the kernel, never exported.
const WORK_DIR: &str = "work";

/// What importing a cache-mount tar did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheMountImport {
    /// The instance was empty and now holds the tar's contents.
    Imported,
    /// The instance already holds files; they were kept as they are.
    Kept,
}

impl CacheMounts<'_> {
    /// Writes instance 0 of cache `key` to `out` as a `compression`-compressed layer tar;
    /// returns the tar's diff id, or `None` when the store has no such instance or it
    /// holds no file. Fails with `CacheMountBusy` while a build holds it exclusively.
    pub fn write_archive(
        &self,
        key: &Digest,
        compression: Compression,
        out: &mut dyn Write,
    ) -> Result<Option<Digest>, StoreError> {
        let cache = self.root.join(key.hex());
        let dir = cache.join("0");
        if holds_no_file(&dir)? {
            return Ok(None);
        }
        let Some(_lock) = try_lock(&lock_path(&cache, 0), FlockOperation::NonBlockingLockShared)?
        else {
            return Err(StoreError::CacheMountBusy { key: key.clone() });
        };
        // Prune may have removed it between the look and the lock.
        if holds_no_file(&dir)? {
            return Ok(None);
        }
        let mut encoder = compression.encoder(out).map_err(StoreError::LayerStream)?;
        let mut tar = DigestingWriter::new(&mut encoder);
        write_tree_tar(&dir, None, &[WORK_DIR], &mut tar)?;
        let (_, diff_id, _) = tar.finish();
        encoder.finish().map_err(StoreError::LayerStream)?;
        Ok(Some(diff_id))
    }

    /// Makes the compressed layer tar read from `blob` (of digest `blob_digest`, whose tar
    /// is `diff_id`) the contents of instance 0 of cache `key`, unless that instance holds
    /// files already. Fails with `CacheMountBusy` while a build uses the instance, and on a
    /// blob that does not match its digests or holds entries a layer may not hold; nothing
    /// is changed then.
    pub fn import_archive(
        &self,
        key: &Digest,
        blob: &mut dyn Read,
        blob_digest: &Digest,
        diff_id: &Digest,
    ) -> Result<CacheMountImport, StoreError> {
        let cache = self.root.join(key.hex());
        fs::create_dir_all(&cache).at("creating", &cache)?;
        let lock = try_lock(
            &lock_path(&cache, 0),
            FlockOperation::NonBlockingLockExclusive,
        )?
        .ok_or_else(|| StoreError::CacheMountBusy { key: key.clone() })?;
        let dir = cache.join("0");
        if !holds_no_file(&dir)? {
            return Ok(CacheMountImport::Kept);
        }
        let (mut copy, _copy_guard) = self.staging.file("cache-mount-blob")?;
        private_copy(blob, &mut copy, blob_digest)?;
        let (actual, _) = {
            let mut tar = DigestingReader::new(
                decompressed(rewound(&mut copy)?).map_err(StoreError::LayerStream)?,
            );
            check_layer_tar(&mut tar)?;
            tar.finish().map_err(StoreError::LayerStream)?
        };
        if actual != *diff_id {
            return Err(StoreError::DigestMismatch {
                expected: diff_id.clone(),
                actual,
            });
        }
        let extracted = self.staging.dir("cache-mount")?;
        let mut tar = decompressed(rewound(&mut copy)?).map_err(StoreError::LayerStream)?;
        extract_layer_tar(&mut tar, extracted.path())?;
        let names = content_dirs(extracted.path())?;
        fs::create_dir_all(&dir).at("creating", &dir)?;
        for name in names {
            let target = dir.join(name);
            remove_path(&target).at("removing", &target)?;
            let source = extracted.path().join(name);
            fs::rename(&source, &target).at("moving into place", &target)?;
        }
        sync_dir(&dir)?;
        // The lock file's mtime is the instance's last use: a fresh import is recent.
        let _ = lock.set_modified(SystemTime::now());
        Ok(CacheMountImport::Imported)
    }
}

/// Copies `blob` into the private file `copy`, checking its digest.
fn private_copy(blob: &mut dyn Read, copy: &mut File, expected: &Digest) -> Result<(), StoreError> {
    let mut digesting = DigestingWriter::new(io::BufWriter::new(&mut *copy));
    io::copy(blob, &mut digesting).map_err(StoreError::SourceRead)?;
    let (mut buffered, actual, _) = digesting.finish();
    buffered.flush().map_err(StoreError::SourceRead)?;
    if actual != *expected {
        return Err(StoreError::DigestMismatch {
            expected: expected.clone(),
            actual,
        });
    }
    Ok(())
}

fn rewound(file: &mut File) -> Result<&mut File, StoreError> {
    file.rewind().map_err(StoreError::LayerStream)?;
    Ok(file)
}

/// The top-level names of an extracted cache-mount tar, which must be real directories
/// named as content directories: anything else (a symlink named `data`, a stray file) is
/// refused, since the sandbox mounts these directories.
fn content_dirs(extracted: &Path) -> Result<Vec<&'static str>, StoreError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(extracted).at("listing", extracted)? {
        let entry = entry.at("listing", extracted)?;
        let name = entry.file_name();
        let known = CONTENT_DIRS.iter().find(|known| name == **known);
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        match known {
            Some(known) if is_dir => names.push(*known),
            _ => {
                return Err(StoreError::UnsafeLayerEntry {
                    entry: name.to_string_lossy().into_owned(),
                    reason: "a cache-mount tar holds only the directories data/ or upper/",
                })
            }
        }
    }
    Ok(names)
}

/// Whether `dir` is missing or holds nothing but (empty) directories.
fn holds_no_file(dir: &Path) -> Result<bool, StoreError> {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let read = match fs::read_dir(&current) {
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::io("listing", &current, e)),
        };
        for entry in read {
            let entry = entry.at("listing", &current)?;
            if !entry.file_type().at("reading", &entry.path())?.is_dir() {
                return Ok(false);
            }
            pending.push(entry.path());
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_mounts::tests::store;
    use crate::{CacheMountSharing, Store};

    fn key() -> Digest {
        Digest::of(b"cache-mount\0go-build")
    }

    /// A store whose cache `key()` holds `data/seed` (and an overlay work dir) and its
    /// archive: (store, blob bytes, diff id).
    fn exported() -> (tempfile::TempDir, Store, Vec<u8>, Digest) {
        let (dir, store) = store();
        let lease = store
            .cache_mounts()
            .acquire(&key(), CacheMountSharing::Shared, &|| true)
            .unwrap()
            .unwrap();
        fs::create_dir_all(lease.dir().join("data/sub")).unwrap();
        fs::write(lease.dir().join("data/sub/seed"), b"0123456789abcdef").unwrap();
        fs::create_dir_all(lease.dir().join("work/work")).unwrap();
        drop(lease);
        let mut blob = Vec::new();
        let diff_id = store
            .cache_mounts()
            .write_archive(&key(), Compression::Gzip, &mut blob)
            .unwrap()
            .expect("an instance with files is archived");
        (dir, store, blob, diff_id)
    }

    fn import(store: &Store, blob: &[u8], diff_id: &Digest) -> Result<CacheMountImport, String> {
        store
            .cache_mounts()
            .import_archive(&key(), &mut &blob[..], &Digest::of(blob), diff_id)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn contents_travel_to_another_store_and_the_archive_is_deterministic() {
        let (_a, first, blob, diff_id) = exported();
        let mut again = Vec::new();
        first
            .cache_mounts()
            .write_archive(&key(), Compression::Gzip, &mut again)
            .unwrap();
        assert_eq!(again, blob, "the same contents give the same blob");

        let (_b, second) = store();
        assert_eq!(
            import(&second, &blob, &diff_id),
            Ok(CacheMountImport::Imported)
        );
        let lease = second
            .cache_mounts()
            .acquire(&key(), CacheMountSharing::Shared, &|| true)
            .unwrap()
            .unwrap();
        assert_eq!(
            fs::read(lease.dir().join("data/sub/seed")).unwrap(),
            b"0123456789abcdef"
        );
        assert!(
            !lease.dir().join("work").exists(),
            "the work dir stays home"
        );
        // Instance in use: never overwritten.
        let busy = import(&second, &blob, &diff_id).unwrap_err();
        assert!(busy.contains("in use"), "{busy}");
        drop(lease);
        // Instance with files: kept.
        assert_eq!(import(&second, &blob, &diff_id), Ok(CacheMountImport::Kept));
    }

    #[test]
    fn an_empty_or_missing_instance_is_not_archived() {
        let (_dir, store) = store();
        let mut out = Vec::new();
        let mounts = store.cache_mounts();
        assert_eq!(
            mounts
                .write_archive(&key(), Compression::Gzip, &mut out)
                .unwrap(),
            None
        );
        let lease = mounts
            .acquire(&key(), CacheMountSharing::Shared, &|| true)
            .unwrap()
            .unwrap();
        fs::create_dir(lease.dir().join("data")).unwrap();
        drop(lease);
        assert_eq!(
            mounts
                .write_archive(&key(), Compression::Gzip, &mut out)
                .unwrap(),
            None
        );
    }

    #[test]
    fn damaged_or_unsafe_archives_change_nothing() {
        let (_a, _first, blob, diff_id) = exported();
        let (_b, second) = store();
        let wrong = import(&second, &blob, &Digest::of(b"other")).unwrap_err();
        assert!(wrong.contains("mismatch"), "{wrong}");
        let mut damaged = blob.clone();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0xff;
        let err = second
            .cache_mounts()
            .import_archive(&key(), &mut &damaged[..], &Digest::of(&blob), &diff_id)
            .unwrap_err();
        assert!(err.to_string().contains("mismatch"), "{err}");

        // A tar whose `data` is a symlink out of the store.
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        builder.append_link(&mut header, "data", "/etc").unwrap();
        let mut gz = Compression::Gzip.encoder(Vec::new()).unwrap();
        let tar_bytes = builder.into_inner().unwrap();
        gz.write_all(&tar_bytes).unwrap();
        let evil = gz.finish().unwrap();
        let err = import(&second, &evil, &Digest::of(&tar_bytes)).unwrap_err();
        assert!(err.contains("data/ or upper/"), "{err}");
        let instance = second
            .root()
            .join("cache-mounts")
            .join(key().hex())
            .join("0");
        assert!(holds_no_file(&instance).unwrap(), "nothing moved in");
    }
}
