//! A layout to write, as files in sorted order with where each file's content comes from,
//! and the copying of that content into a sink (a tar or a directory) — blobs verified
//! against their descriptors as they stream, compressed layers decompressed and checked
//! against their diff ids.
//!
//! It does not decide what goes into a layout; the OCI and docker writers do.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, Read};

use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::Digest;

use super::BlobSource;
use crate::compression::Compression;
use crate::documents::digest_of;
use crate::error::ArchiveError;
use crate::verify::{drain, VerifyingReader};

const COPY_BUFFER: usize = 256 * 1024;

/// Where a file's content comes from.
pub(super) enum EntryContent {
    Bytes(Vec<u8>),
    /// A blob copied as the source holds it.
    Blob(Descriptor),
    /// A compressed layer blob, written decompressed; the result must hash to `diff_id`.
    Decompressed {
        blob: Descriptor,
        compression: Compression,
        diff_id: Digest,
    },
}

/// A destination for layout files, written one at a time in order.
pub(super) trait LayoutSink {
    /// Adds directory `name` (without trailing slash); repeated names are ignored.
    fn add_directory(&mut self, name: &str) -> Result<(), ArchiveError>;
    /// Starts file `name`; `size` is `None` when only the content will tell.
    fn start_file(&mut self, name: &str, size: Option<u64>) -> Result<(), ArchiveError>;
    fn write_content(&mut self, bytes: &[u8]) -> Result<(), ArchiveError>;
    /// Writes `size` bytes of `file` as content, asking `stop` between pieces; returns the
    /// count copied (fewer if `file` is shorter).
    fn copy_file_content(
        &mut self,
        file: &File,
        size: u64,
        stop: &dyn Fn() -> bool,
    ) -> Result<u64, ArchiveError>;
    fn finish_file(&mut self) -> Result<(), ArchiveError>;
}

/// Files by name; written in lexical order, each preceded by its parent directories.
#[derive(Default)]
pub(super) struct LayoutPlan {
    files: BTreeMap<String, EntryContent>,
}

impl LayoutPlan {
    /// Adds a file; a name added twice keeps its first content (blobs are content-addressed).
    pub(super) fn add(&mut self, name: String, content: EntryContent) {
        self.files.entry(name).or_insert(content);
    }

    /// Whether the plan has a file `name`.
    pub(super) fn contains(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    /// Writes every file into `sink`; returns the size written for each file name.
    pub(super) fn write(
        &self,
        sink: &mut dyn LayoutSink,
        blobs: &dyn BlobSource,
    ) -> Result<BTreeMap<String, u64>, ArchiveError> {
        self.write_except(sink, blobs, &HashSet::new())
    }

    /// `write`, leaving out the files named in `written` (already in the sink).
    pub(super) fn write_except(
        &self,
        sink: &mut dyn LayoutSink,
        blobs: &dyn BlobSource,
        written: &HashSet<String>,
    ) -> Result<BTreeMap<String, u64>, ArchiveError> {
        let mut sizes = BTreeMap::new();
        for (name, content) in self
            .files
            .iter()
            .filter(|(name, _)| !written.contains(*name))
        {
            for (slash, _) in name.match_indices('/') {
                sink.add_directory(&name[..slash])?;
            }
            let size = write_file(sink, name, content, blobs)?;
            sizes.insert(name.clone(), size);
        }
        Ok(sizes)
    }
}

/// Writes one file, `name`, with `content` into `sink`; returns its size.
pub(super) fn write_file(
    sink: &mut dyn LayoutSink,
    name: &str,
    content: &EntryContent,
    blobs: &dyn BlobSource,
) -> Result<u64, ArchiveError> {
    let size = match content {
        EntryContent::Bytes(bytes) => {
            sink.start_file(name, Some(bytes.len() as u64))?;
            sink.write_content(bytes)?;
            bytes.len() as u64
        }
        EntryContent::Blob(blob) => match blobs.open_blob_file(blob) {
            Some(file) if blobs.content_verified() => {
                copy_blob_file(sink, name, blob, file, blobs)?
            }
            _ => {
                let (digest, mut verified) = open_source(blobs, blob)?;
                sink.start_file(name, Some(blob.size()))?;
                pump(&mut verified, sink, &digest)?
            }
        },
        EntryContent::Decompressed {
            blob,
            compression,
            diff_id,
        } => {
            sink.start_file(name, None)?;
            write_decompressed(sink, blob, *compression, diff_id, blobs)?
        }
    };
    sink.finish_file()?;
    Ok(size)
}

/// Copies a verified blob's file as file `name`, by the kernel; checks its size only.
fn copy_blob_file(
    sink: &mut dyn LayoutSink,
    name: &str,
    blob: &Descriptor,
    file: io::Result<File>,
    blobs: &dyn BlobSource,
) -> Result<u64, ArchiveError> {
    let digest = digest_of(blob, "the blob source")?;
    let file = file.map_err(|e| source_error(e, &digest))?;
    let actual = file.metadata().map_err(|e| source_error(e, &digest))?.len();
    if actual != blob.size() {
        let message = format!("{actual} bytes where the descriptor says {}", blob.size());
        return Err(source_error(io::Error::other(message), &digest));
    }
    sink.start_file(name, Some(actual))?;
    let copied = sink.copy_file_content(&file, actual, &|| blobs.should_stop())?;
    if copied != actual {
        let message = format!("{copied} of {actual} bytes could be read");
        return Err(source_error(io::Error::other(message), &digest));
    }
    Ok(copied)
}

fn write_decompressed(
    sink: &mut dyn LayoutSink,
    blob: &Descriptor,
    compression: Compression,
    diff_id: &Digest,
    blobs: &dyn BlobSource,
) -> Result<u64, ArchiveError> {
    let (digest, mut compressed) = open_source(blobs, blob)?;
    let written = {
        let decoder = compression
            .decoder(&mut compressed)
            .map_err(|e| source_error(e, &digest))?;
        let location = format!("uncompressed content of layer {digest}");
        let mut uncompressed = VerifyingReader::new(decoder, diff_id.clone(), None, location);
        pump(&mut uncompressed, sink, &digest)?
    };
    // Whatever follows the compressed stream still counts toward the blob's digest.
    drain(&mut compressed).map_err(|e| source_error(e, &digest))?;
    Ok(written)
}

/// Opens `blob` from the source, verified against its descriptor as it is read.
fn open_source<'b>(
    blobs: &'b dyn BlobSource,
    blob: &Descriptor,
) -> Result<(Digest, VerifyingReader<Box<dyn Read + 'b>>), ArchiveError> {
    let digest = digest_of(blob, "the blob source")?;
    let reader = blobs
        .open_blob(blob)
        .map_err(|e| source_error(e, &digest))?;
    let location = format!("blob source, {digest}");
    let verified = VerifyingReader::new(reader, digest.clone(), Some(blob.size()), location);
    if blobs.content_verified() {
        return Ok((digest, verified.already_verified()));
    }
    Ok((digest, verified))
}

fn source_error(error: io::Error, digest: &Digest) -> ArchiveError {
    ArchiveError::recover(error).unwrap_or_else(|source| ArchiveError::BlobSource {
        digest: digest.to_string(),
        source,
    })
}

/// Copies `reader` into the open sink file; returns the byte count.
fn pump(
    reader: &mut impl Read,
    sink: &mut dyn LayoutSink,
    digest: &Digest,
) -> Result<u64, ArchiveError> {
    let mut buffer = vec![0u8; COPY_BUFFER];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(source_error(e, digest)),
        };
        sink.write_content(&buffer[..n])?;
        total += n as u64;
    }
}
