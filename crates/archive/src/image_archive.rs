//! `ImageArchive`: an opened archive of either format, and `open`, which tells them apart
//! (`manifest.json` means a docker archive, `index.json` an OCI image layout) whether the
//! archive is a directory or a tar file.
//!
//! It does not import images; it hands out documents and verified blob readers.

use std::io::Read;
use std::path::Path;

use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::{descriptor_digest, Digest, Platform};

use crate::container::Container;
use crate::docker_reader::{DockerArchiveReader, MANIFEST_FILE};
use crate::error::ArchiveError;
use crate::image::{ArchivedImage, SelectedImage};
use crate::oci_reader::{OciLayoutReader, INDEX_FILE, LAYOUT_FILE};
use crate::write::BlobSource;

/// An OCI image layout or a docker archive, as a directory or a tar file.
pub struct ImageArchive {
    container: Container,
    format: Format,
}

enum Format {
    OciLayout,
    DockerArchive(DockerArchiveReader),
}

/// Opens an image archive, detecting its kind. A tar file is indexed once here.
pub fn open(path: &Path) -> Result<ImageArchive, ArchiveError> {
    let container = Container::open(path)?;
    let format = if container.contains(MANIFEST_FILE) {
        Format::DockerArchive(DockerArchiveReader::load(&container)?)
    } else if container.contains(INDEX_FILE) || container.contains(LAYOUT_FILE) {
        Format::OciLayout
    } else {
        return Err(ArchiveError::NotAnArchive {
            path: path.to_path_buf(),
            reason: format!(
                "it has neither {INDEX_FILE} (OCI image layout) nor {MANIFEST_FILE} (docker archive)"
            ),
        });
    };
    Ok(ImageArchive { container, format })
}

impl ImageArchive {
    /// The path the archive was opened from.
    pub fn path(&self) -> &Path {
        self.container.path()
    }

    /// The images the archive offers: one per top-level index entry or `manifest.json`
    /// entry, with their names and available platforms.
    pub fn images(&self) -> Result<Vec<ArchivedImage>, ArchiveError> {
        match &self.format {
            Format::OciLayout => OciLayoutReader::new(&self.container).images(),
            Format::DockerArchive(reader) => reader.images(&self.container),
        }
    }

    /// Picks one image (by name, or the first when `name` is `None`) for `platform`.
    pub fn select(
        &self,
        name: Option<&str>,
        platform: &Platform,
    ) -> Result<SelectedImage, ArchiveError> {
        match &self.format {
            Format::OciLayout => OciLayoutReader::new(&self.container).select(name, platform),
            Format::DockerArchive(reader) => reader.select(&self.container, name, platform),
        }
    }

    /// The picked image's index (descriptor and bytes) when the archive has one that lists
    /// only platform manifests; `None` for single-platform images and docker archives.
    pub fn platform_index(
        &self,
        name: Option<&str>,
    ) -> Result<Option<(Descriptor, Vec<u8>)>, ArchiveError> {
        match &self.format {
            Format::OciLayout => OciLayoutReader::new(&self.container).platform_index(name),
            Format::DockerArchive(_) => Ok(None),
        }
    }

    /// Reads blob `digest`. The reader fails at end of input if the content does not
    /// match the digest (an `io::Error` wrapping `ArchiveError::DigestMismatch`).
    pub fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ArchiveError> {
        match &self.format {
            Format::OciLayout => self.container.open_blob(digest, None),
            Format::DockerArchive(reader) => reader.open_blob(&self.container, digest),
        }
    }
}

/// An archive is a blob source for writing another archive (re-export, conversion).
impl BlobSource for ImageArchive {
    fn open_blob(&self, target: &Descriptor) -> std::io::Result<Box<dyn Read + '_>> {
        let digest = descriptor_digest(target)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        ImageArchive::open_blob(self, &digest)
            .map(|reader| reader as Box<dyn Read>)
            .map_err(ArchiveError::into_io)
    }
}
