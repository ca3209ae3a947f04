//! Layers leaving the machine: the uncompressed tar of a layer (regenerated from a snapshot
//! built here, or decompressed from a stored blob), compressed layer blobs made once and
//! remembered, blobs registered for loaded layers, and layer tar sizes.
//!
//! Every tar produced is checked against the diff id the chain names (a tar regenerated
//! from a snapshot built here by the fingerprint recorded with it, see `fingerprint`).

use std::io::{self, Write};

use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::{Digest, DigestingWriter};

use super::fingerprint::{FingerprintingWriter, TarFingerprint};
use super::records::{self, LayerBlobRow};
use super::{DigestingReader, LayerStore};
use crate::chain::SnapshotChain;
use crate::codec::{check_layer_tar, decompressed, write_snapshot_tar, Compression};
use crate::descriptor::{descriptor, descriptor_digest};
use crate::error::{DbContext, StoreError};

/// Where the bytes of a layer tar come from.
enum TarSource {
    /// A snapshot built here, regenerated with the epoch it was committed with.
    Snapshot {
        chain_id: Digest,
        epoch: Option<i64>,
    },
    /// A stored blob, decompressed.
    Blob(Digest),
}

impl LayerStore {
    /// Registers a layer blob already in the blob store as a source of layer `diff_id`
    /// (checked against `diff_id` when it is first unpacked or exported).
    pub fn add_blob_layer(&self, diff_id: &Digest, blob: &Descriptor) -> Result<(), StoreError> {
        let digest = descriptor_digest(blob)?;
        let media_type = blob.media_type().to_string();
        let compression = Compression::from_media_type(&media_type)
            .ok_or_else(|| StoreError::UnsupportedMediaType(media_type.clone()))?;
        let size = self.blobs.size(&digest)?;
        let row = LayerBlobRow {
            diff_id: diff_id.clone(),
            compression: compression.name().to_string(),
            digest,
            media_type,
            size,
        };
        self.remember_blob(&row)
    }

    /// `add_blob_layer` for a blob from a source not trusted to be consistent (a loaded
    /// archive, an imported cache): the stored blob is decompressed, its entries checked as
    /// extraction would check them and its tar against `diff_id`, so a wrong pairing or an
    /// unsafe layer is rejected when it enters instead of at some later build.
    pub fn add_verified_blob_layer(
        &self,
        diff_id: &Digest,
        blob: &Descriptor,
    ) -> Result<(), StoreError> {
        self.verify_blob(diff_id, &descriptor_digest(blob)?)?;
        self.add_blob_layer(diff_id, blob)
    }

    /// The diff id and tar size of blob `digest`, whose entries must pass the layer checks.
    pub(crate) fn read_layer_blob(&self, digest: &Digest) -> Result<(Digest, u64), StoreError> {
        let blob = self.blobs.open(digest)?;
        let mut stream = DigestingReader::new(decompressed(blob).map_err(StoreError::LayerStream)?);
        check_layer_tar(&mut stream)?;
        stream.finish().map_err(StoreError::LayerStream)
    }

    /// Whether a blob of layer `diff_id` is stored, so that chains holding it are available
    /// without unpacking anything else.
    pub fn has_layer_blob(&self, diff_id: &Digest) -> Result<bool, StoreError> {
        let layout = &self.shared.layout;
        self.shared.db.read("looking up layer blobs", |c| {
            Ok(records::present_layer_blob(c, layout, diff_id)?.is_some())
        })
    }

    /// A blob for layer `index` of `chain` in `compression`: one already stored, or one made
    /// from the layer tar, compressed, stored and remembered so that it is made once.
    pub fn layer_blob(
        &self,
        chain: &SnapshotChain,
        index: usize,
        compression: Compression,
    ) -> Result<Descriptor, StoreError> {
        self.layer_blob_unless(chain, index, compression, &|| false)
    }

    /// `layer_blob` that gives up as soon as `stop()` says so (asked before every write of
    /// the layer tar): the partial blob is removed and nothing is remembered.
    pub fn layer_blob_unless(
        &self,
        chain: &SnapshotChain,
        index: usize,
        compression: Compression,
        stop: &dyn Fn() -> bool,
    ) -> Result<Descriptor, StoreError> {
        match self.stored_layer_blob(chain, index, compression)? {
            Some(blob) => Ok(blob),
            None => self.make_layer_blob(chain, index, compression, stop, &mut io::sink()),
        }
    }

    /// The blob for layer `index` of `chain` in `compression` if one is stored (leased
    /// again, as `layer_blob` leases what it returns).
    pub fn stored_layer_blob(
        &self,
        chain: &SnapshotChain,
        index: usize,
        compression: Compression,
    ) -> Result<Option<Descriptor>, StoreError> {
        let diff_id = Self::layer_at(chain, index)?;
        let Some(row) = self.stored_blob(diff_id, compression)? else {
            return Ok(None);
        };
        self.remember_blob(&row)?;
        descriptor(compression.media_type(), row.size, &row.digest).map(Some)
    }

    /// Makes the blob `layer_blob_unless` makes, without looking for a stored one, and
    /// writes each of its bytes into `copy` too, as they are made (an archive entry that
    /// would otherwise copy the blob once it is stored).
    pub fn make_layer_blob(
        &self,
        chain: &SnapshotChain,
        index: usize,
        compression: Compression,
        stop: &dyn Fn() -> bool,
        copy: &mut dyn Write,
    ) -> Result<Descriptor, StoreError> {
        let diff_id = Self::layer_at(chain, index)?;
        let mut writer = self.blobs.writer()?;
        let mut tee = Tee {
            blob: &mut writer,
            copy,
        };
        let mut encoder = compression
            .encoder(&mut tee)
            .map_err(StoreError::LayerStream)?;
        self.write_layer_tar(
            chain,
            index,
            &mut StoppableWriter {
                out: &mut encoder,
                stop,
            },
        )?;
        encoder.finish().map_err(StoreError::LayerStream)?;
        let (digest, size) = writer.commit(None)?;
        let row = LayerBlobRow {
            diff_id: diff_id.clone(),
            compression: compression.name().to_string(),
            digest,
            media_type: compression.media_type().to_string(),
            size,
        };
        self.remember_blob(&row)?;
        descriptor(compression.media_type(), row.size, &row.digest)
    }

    /// Writes the uncompressed tar of layer `index` of `chain` to `out`; returns its diff
    /// id, which is checked to equal the one the chain names — by the fingerprint taken at
    /// commit for a tar regenerated from a snapshot built here, by hashing it otherwise.
    pub fn write_layer_tar(
        &self,
        chain: &SnapshotChain,
        index: usize,
        out: &mut dyn Write,
    ) -> Result<Digest, StoreError> {
        let diff_id = Self::layer_at(chain, index)?;
        let chain_id = chain.prefix(index + 1).chain_id();
        let source = self.tar_source(diff_id, chain_id.as_ref())?;
        if let TarSource::Snapshot { chain_id, epoch } = &source {
            if let Some(expected) = self.fingerprint(diff_id)? {
                let dir = self.shared.layout.snapshot(chain_id);
                let mut fingerprinting = FingerprintingWriter::new(out);
                write_snapshot_tar(&dir, *epoch, &mut fingerprinting)?;
                check_fingerprint(diff_id, expected, fingerprinting.finish().1)?;
                return Ok(diff_id.clone());
            }
        }
        let mut digesting = DigestingWriter::new(out);
        match source {
            TarSource::Snapshot { chain_id, epoch } => {
                let dir = self.shared.layout.snapshot(&chain_id);
                write_snapshot_tar(&dir, epoch, &mut digesting)?;
            }
            TarSource::Blob(digest) => {
                let blob = self.blobs.open(&digest)?;
                let mut tar = decompressed(blob).map_err(StoreError::LayerStream)?;
                io::copy(&mut tar, &mut digesting).map_err(StoreError::LayerStream)?;
            }
        }
        let (_, actual, size) = digesting.finish();
        check_diff_id(diff_id, actual.clone())?;
        self.record_size(diff_id, size)?;
        Ok(actual)
    }

    fn fingerprint(&self, diff_id: &Digest) -> Result<Option<TarFingerprint>, StoreError> {
        self.shared.db.read("looking up a layer fingerprint", |c| {
            records::layer_fingerprint(c, diff_id)
        })
    }

    /// The size of the uncompressed tar of layer `diff_id`.
    pub fn layer_size(&self, diff_id: &Digest) -> Result<u64, StoreError> {
        let known = self.shared.db.read("looking up a layer size", |c| {
            records::layer_size(c, diff_id)
        })?;
        if let Some(size) = known {
            return Ok(size);
        }
        let TarSource::Blob(digest) = self.tar_source(diff_id, None)? else {
            // Snapshots always have their size recorded when they are made.
            return Err(StoreError::corrupt(
                format!("layer {diff_id}"),
                "snapshot without a recorded tar size",
            ));
        };
        self.verify_blob(diff_id, &digest)
    }

    /// Decompresses blob `digest`, checks its entries and that it is layer `diff_id`, and
    /// records (and returns) the layer tar's size.
    fn verify_blob(&self, diff_id: &Digest, digest: &Digest) -> Result<u64, StoreError> {
        let (actual, size) = self.read_layer_blob(digest)?;
        check_diff_id(diff_id, actual)?;
        self.record_size(diff_id, size)?;
        Ok(size)
    }

    /// Prefers the chain's own snapshot, then any snapshot built here with the same top
    /// layer, then a stored blob.
    fn tar_source(
        &self,
        diff_id: &Digest,
        chain_id: Option<&Digest>,
    ) -> Result<TarSource, StoreError> {
        let layout = &self.shared.layout;
        self.shared
            .db
            .read("finding a layer's source", |c| {
                let mut candidates = records::regenerable_snapshots(c, diff_id)?;
                candidates.sort_by_key(|row| Some(&row.chain_id) != chain_id);
                if let Some(row) = candidates
                    .into_iter()
                    .find(|row| layout.snapshot(&row.chain_id).is_dir())
                {
                    return Ok(Some(TarSource::Snapshot {
                        chain_id: row.chain_id,
                        epoch: row.epoch,
                    }));
                }
                Ok(records::present_layer_blob(c, layout, diff_id)?
                    .map(|row| TarSource::Blob(row.digest)))
            })?
            .ok_or_else(|| StoreError::LayerUnavailable {
                diff_id: diff_id.clone(),
                chain_id: chain_id.cloned().unwrap_or_else(|| diff_id.clone()),
            })
    }

    fn stored_blob(
        &self,
        diff_id: &Digest,
        compression: Compression,
    ) -> Result<Option<LayerBlobRow>, StoreError> {
        let layout = &self.shared.layout;
        self.shared.db.read("looking up layer blobs", |c| {
            Ok(records::layer_blobs(c, diff_id)?.into_iter().find(|row| {
                row.compression == compression.name() && layout.blob(&row.digest).is_file()
            }))
        })
    }

    /// Records a layer blob row and leases the blob, once the blob file exists.
    fn remember_blob(&self, row: &LayerBlobRow) -> Result<(), StoreError> {
        let path = self.shared.layout.blob(&row.digest);
        self.shared.db.write("recording a layer blob", |tx| {
            if !path.is_file() {
                return Err(StoreError::BlobNotFound(row.digest.clone()));
            }
            records::insert_layer_blob(tx, row).db("recording a layer blob")?;
            self.shared
                .leases
                .protect_blob(tx, &row.digest)
                .db("leasing a layer blob")
        })
    }

    fn record_size(&self, diff_id: &Digest, size: u64) -> Result<(), StoreError> {
        self.shared.db.write("recording a layer size", |tx| {
            records::record_layer_size(tx, diff_id, size).db("recording a layer size")
        })
    }
}

/// A tar regenerated from a snapshot must be the one committed, as far as its size and
/// CRC-32 tell.
fn check_fingerprint(
    diff_id: &Digest,
    expected: TarFingerprint,
    actual: TarFingerprint,
) -> Result<(), StoreError> {
    if actual == expected {
        return Ok(());
    }
    Err(StoreError::corrupt(
        format!("snapshot of layer {diff_id}"),
        format!(
            "its tar is {} bytes with CRC-32 {:08x}, but the committed one was {} bytes with \
             CRC-32 {:08x}; the snapshot changed on disk",
            actual.size, actual.crc32, expected.size, expected.crc32
        ),
    ))
}

/// A layer tar's digest must be the diff id it was asked for.
fn check_diff_id(expected: &Digest, actual: Digest) -> Result<(), StoreError> {
    if actual == *expected {
        return Ok(());
    }
    Err(StoreError::DigestMismatch {
        expected: expected.clone(),
        actual,
    })
}

/// Writes everything into the blob and then into `copy`.
struct Tee<'a, B> {
    blob: B,
    copy: &'a mut dyn Write,
}

impl<B: Write> Write for Tee<'_, B> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.blob.write_all(bytes)?;
        self.copy.write_all(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.blob.flush()?;
        self.copy.flush()
    }
}

/// Passes writes through until `stop()` says otherwise, then fails every write.
struct StoppableWriter<'a, W> {
    out: W,
    stop: &'a dyn Fn() -> bool,
}

impl<W: Write> Write for StoppableWriter<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if (self.stop)() {
            return Err(io::Error::other("interrupted"));
        }
        self.out.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
