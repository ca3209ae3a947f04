//! An OCI layout tar written in two parts, so that a layer blob can go into the archive
//! while it is being made: first the layer blobs, in the order the images list them (image
//! by image, each blob once), then everything else in lexical order (the other blobs,
//! `index.json`, `oci-layout`). A layer made during the export streams into its entry as
//! its bytes are produced, and the entry's header gets its name and size when the blob is
//! complete — one write of the blob instead of a write into the store and a copy of it.
//!
//! The order depends only on the images, never on which blobs had to be made, so a first
//! export and a later one of the same images are the same bytes.
//!
//! It does not make or hash blobs: a streamed layer's digest is the caller's, who produced
//! its bytes (sizes are checked; content is what the caller wrote).

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::Path;

use rbuild_oci::oci_spec::image::Descriptor;

use super::atomic::StagedFile;
use super::plan::{write_file, EntryContent, LayoutSink};
use super::tar_sink::TarSink;
use super::{oci, BlobSource, ExportImage};
use crate::documents::digest_of;
use crate::entry_name::blob_entry_name;
use crate::error::ArchiveError;

/// The directories above every blob entry.
const BLOB_DIRECTORIES: [&str; 2] = ["blobs", "blobs/sha256"];
/// The name a streamed entry has until its digest is known (as long as a real one).
const STREAMING_NAME: &str =
    "blobs/sha256/0000000000000000000000000000000000000000000000000000000000000000";

/// An OCI layout tar being written: layers first (`add_layer`, `stream_layer`), then the
/// rest (`finish`). Dropped unfinished, it leaves nothing at the destination.
pub struct OciArchive {
    staged: StagedFile,
    sink: TarSink,
    /// Entry names already written.
    written: HashSet<String>,
}

impl OciArchive {
    /// Starts the archive that `finish` will put at `out`.
    pub fn create(out: &Path) -> Result<OciArchive, ArchiveError> {
        let (staged, file) = StagedFile::create(out)?;
        Ok(OciArchive {
            staged,
            sink: TarSink::new(file, out),
            written: HashSet::new(),
        })
    }

    /// Writes layer blob `layer` from `blobs`, unless it is in the archive already.
    pub fn add_layer(
        &mut self,
        layer: &Descriptor,
        blobs: &dyn BlobSource,
    ) -> Result<(), ArchiveError> {
        let name = blob_entry_name(&digest_of(layer, "an exported layer")?);
        if self.written.contains(&name) {
            return Ok(());
        }
        self.add_blob_directories()?;
        write_file(
            &mut self.sink,
            &name,
            &EntryContent::Blob(layer.clone()),
            blobs,
        )?;
        self.written.insert(name);
        Ok(())
    }

    /// Starts the entry of a layer blob that is still being made: its bytes go into the
    /// returned writer, and `StreamedLayer::finish` names it.
    pub fn stream_layer(&mut self) -> Result<StreamedLayer<'_>, ArchiveError> {
        self.add_blob_directories()?;
        self.sink.start_file(STREAMING_NAME, None)?;
        Ok(StreamedLayer { archive: self })
    }

    /// Writes every file of the layout for `images` not written yet (with `index_override`
    /// as in `write_oci_archive`) and puts the archive in place. Every layer written before
    /// must be one the images list.
    pub fn finish(
        mut self,
        images: &[ExportImage],
        index_override: Option<(Descriptor, Vec<u8>)>,
        blobs: &dyn BlobSource,
    ) -> Result<(), ArchiveError> {
        let plan = oci::plan(images, index_override.as_ref())?;
        if let Some(stray) = self.written.iter().find(|name| !plan.contains(name)) {
            let message = format!("layer entry {stray} belongs to none of the images");
            return Err(ArchiveError::InvalidExport {
                image: stray.clone(),
                reason: message,
            });
        }
        plan.write_except(&mut self.sink, blobs, &self.written)?;
        self.staged.commit(self.sink.finish()?)
    }

    fn add_blob_directories(&mut self) -> Result<(), ArchiveError> {
        for directory in BLOB_DIRECTORIES {
            self.sink.add_directory(directory)?;
        }
        Ok(())
    }
}

/// The entry of a layer blob being made; see `OciArchive::stream_layer`.
pub struct StreamedLayer<'a> {
    archive: &'a mut OciArchive,
}

impl StreamedLayer<'_> {
    /// Ends the entry as the blob `layer` describes, whose bytes were all written into it.
    pub fn finish(self, layer: &Descriptor) -> Result<(), ArchiveError> {
        let name = blob_entry_name(&digest_of(layer, "a streamed layer")?);
        if !self.archive.written.insert(name.clone()) {
            return Err(ArchiveError::InvalidExport {
                image: name,
                reason: "the layer was written into the archive twice".to_string(),
            });
        }
        self.archive.sink.finish_streamed_file(&name, layer.size())
    }
}

impl Write for StreamedLayer<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.archive
            .sink
            .write_content(bytes)
            .map_err(ArchiveError::into_io)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rbuild_oci::{descriptor, media_types, Digest};

    use super::*;

    #[test]
    fn a_streamed_layer_must_be_as_long_as_its_blob_and_an_unfinished_archive_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.tar");
        let mut archive = OciArchive::create(&out).unwrap();
        let mut entry = archive.stream_layer().unwrap();
        entry.write_all(b"layer bytes").unwrap();
        let digest = Digest::of(b"layer bytes");
        let longer = descriptor(media_types::OCI_LAYER_GZIP, &digest, 12);
        assert!(entry.finish(&longer).is_err());
        drop(archive);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
