//! `BlobStore`: content-addressed files under `blobs/sha256/<hex>`.
//!
//! Every write streams into a staging file while hashing, fsyncs it, checks the digest when
//! one was expected (a mismatch stores nothing) and renames it into place inside a store
//! write transaction, attached to the live leases. Blobs carry no metadata rows: what
//! references them (images, layer records) is known elsewhere, and unreferenced blobs are
//! garbage for prune.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::sync::Arc;

use rbuild_oci::{Digest, DigestingWriter};
use rbuild_writeback::EarlyWriteback;

use crate::error::{DbContext, IoContext, StoreError};
use crate::staging::{sync_dir, StagedPath};
use crate::store::Shared;

const WRITE_BUFFER: usize = 256 * 1024;

/// Content-addressed files.
#[derive(Debug)]
pub struct BlobStore {
    shared: Arc<Shared>,
}

impl BlobStore {
    pub(crate) fn new(shared: Arc<Shared>) -> BlobStore {
        BlobStore { shared }
    }

    /// Stores `bytes`; returns their digest. Bytes already stored are not written again
    /// (a rebuild that changed nothing re-makes its config and manifest): the present blob
    /// is only leased.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        if self.lease_if_present(&digest)? {
            return Ok(digest);
        }
        let mut writer = self.writer()?;
        writer.write_all(bytes).at("writing blob", writer.path())?;
        Ok(writer.commit(None)?.0)
    }

    /// Stores everything `reader` yields. With `expected`, content of another digest is an
    /// error and nothing is stored. Returns the digest and size.
    pub fn ingest(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), StoreError> {
        let mut writer = self.writer()?;
        let mut buffer = vec![0; WRITE_BUFFER];
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The reader's fault, not the temp file's: its own error names its source.
                Err(e) => return Err(StoreError::SourceRead(e)),
            };
            writer
                .write_all(&buffer[..n])
                .at("writing blob", writer.path())?;
        }
        writer.commit(expected)
    }

    /// Leases the blob `digest` for the live leases if it is stored (checked inside the
    /// write transaction, so a concurrent prune either ran before or sees the lease).
    fn lease_if_present(&self, digest: &Digest) -> Result<bool, StoreError> {
        let target = self.shared.layout.blob(digest);
        if !target.is_file() {
            return Ok(false); // new bytes: no transaction before the one that places them
        }
        self.shared.db.write("leasing a blob", |tx| {
            if !target.is_file() {
                return Ok(false);
            }
            self.shared
                .leases
                .protect_blob(tx, digest)
                .db("leasing a blob")?;
            Ok(true)
        })
    }

    /// Opens a blob for reading.
    pub fn open(&self, digest: &Digest) -> Result<File, StoreError> {
        let path = self.shared.layout.blob(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobNotFound(digest.clone()),
            _ => StoreError::io("opening blob", &path, e),
        })
    }

    /// A blob's whole content.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let mut bytes = Vec::new();
        self.open(digest)?
            .read_to_end(&mut bytes)
            .at("reading blob", &self.shared.layout.blob(digest))?;
        Ok(bytes)
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.shared.layout.blob(digest).is_file()
    }

    pub fn size(&self, digest: &Digest) -> Result<u64, StoreError> {
        let path = self.shared.layout.blob(digest);
        match fs::metadata(&path) {
            Ok(meta) => Ok(meta.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::BlobNotFound(digest.clone()))
            }
            Err(e) => Err(StoreError::io("reading blob size", &path, e)),
        }
    }

    /// A staging writer whose content becomes a blob on `commit`.
    pub(crate) fn writer(&self) -> Result<BlobWriter, StoreError> {
        let (file, staged) = self.shared.staging.file("blob")?;
        Ok(BlobWriter {
            out: DigestingWriter::new(BufWriter::with_capacity(
                WRITE_BUFFER,
                EarlyWriteback::new(file),
            )),
            staged,
            shared: Arc::clone(&self.shared),
        })
    }

    /// Every blob file present, in no particular order. Files whose names are not digests
    /// are skipped.
    pub(crate) fn list(&self) -> Result<Vec<Digest>, StoreError> {
        let dir = &self.shared.layout.blobs;
        let mut digests = Vec::new();
        for entry in fs::read_dir(dir).at("listing blobs", dir)? {
            let entry = entry.at("listing blobs", dir)?;
            if let Some(digest) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                digests.push(digest);
            }
        }
        Ok(digests)
    }

    /// Deletes a blob file (callers hold the store write lock and have dropped the rows that
    /// referenced it).
    pub(crate) fn remove(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.shared.layout.blob(digest);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(StoreError::io("removing blob", &path, e))
            }
            _ => Ok(()),
        }
    }
}

/// Content on its way into the blob store.
pub(crate) struct BlobWriter {
    out: DigestingWriter<BufWriter<EarlyWriteback>>,
    staged: StagedPath,
    shared: Arc<Shared>,
}

impl BlobWriter {
    fn path(&self) -> &std::path::Path {
        self.staged.path()
    }

    /// Makes the written content durable and moves it into place; returns digest and size.
    pub fn commit(self, expected: Option<&Digest>) -> Result<(Digest, u64), StoreError> {
        let BlobWriter {
            out,
            staged,
            shared,
        } = self;
        let (buffered, digest, size) = out.finish();
        let file = buffered
            .into_inner()
            .map_err(|e| StoreError::io("writing blob", staged.path(), e.into_error()))?
            .into_file();
        file.sync_all().at("syncing blob", staged.path())?;
        if let Some(expected) = expected {
            if *expected != digest {
                return Err(StoreError::DigestMismatch {
                    expected: expected.clone(),
                    actual: digest,
                });
            }
        }
        let target = shared.layout.blob(&digest);
        let placed = shared.db.write("storing a blob", |tx| {
            let placed = !target.exists();
            if placed {
                fs::rename(staged.path(), &target).at("moving blob into place", &target)?;
                sync_dir(&shared.layout.blobs)?;
            }
            shared
                .leases
                .protect_blob(tx, &digest)
                .db("leasing a blob")?;
            Ok(placed)
        })?;
        if placed {
            staged.keep();
        }
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use crate::lease::leased_content;
    use crate::Store;

    #[test]
    fn putting_stored_bytes_again_leases_the_blob_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let digest = store.blobs().put(b"a config").unwrap();
        let path = store.shared().layout.blob(&digest);
        let inode = std::fs::metadata(&path).unwrap().ino();

        let lease = store.lease().unwrap();
        assert_eq!(store.blobs().put(b"a config").unwrap(), digest);
        // The same file, not a new copy renamed over it, and no staging file left behind.
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
        assert_eq!(
            std::fs::read_dir(&store.shared().layout.tmp)
                .unwrap()
                .count(),
            0
        );
        let leased = store.shared().db.read("t", leased_content).unwrap();
        assert!(leased.blobs.contains(&digest.to_string()));
        drop(lease);

        // A blob removed meanwhile is written again.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(store.blobs().put(b"a config").unwrap(), digest);
        assert_eq!(std::fs::read(&path).unwrap(), b"a config");
    }
}
