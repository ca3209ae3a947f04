//! Writing images out: OCI image layouts (as a tar or a directory) and docker archives.
//! Every write is atomic — staged next to the destination, fsynced, renamed into place,
//! and removed if anything fails — and deterministic: the same images give the same bytes.
//!
//! Blobs come from a `BlobSource` the caller implements; this module does not know the
//! store, and it does not compress (layers are written as the source holds them, or
//! decompressed for a docker archive).

mod atomic;
mod dir_sink;
mod docker;
mod file_copy;
mod oci;
mod oci_archive;
mod plan;
mod staging_names;
mod tar_sink;

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use rbuild_oci::oci_spec::image::{Descriptor, ImageManifest};
use rbuild_oci::{Digest, ImageReference, Platform};

use crate::documents::digest_of;
use crate::error::ArchiveError;
pub use atomic::StagedDir;
use atomic::StagedFile;
use dir_sink::DirSink;
pub use oci_archive::{OciArchive, StreamedLayer};
pub use staging_names::sweep_dead_siblings;
use tar_sink::TarSink;

/// Where the writers get layer blobs from (the store, another archive, ...).
pub trait BlobSource {
    /// The content of the blob `descriptor` points at. It is verified while written.
    fn open_blob(&self, descriptor: &Descriptor) -> io::Result<Box<dyn Read + '_>>;

    /// Whether `open_blob` serves content already checked against its digest (a
    /// content-addressed store that verified every blob when it entered). Writers then
    /// check sizes only instead of hashing each blob again.
    fn content_verified(&self) -> bool {
        false
    }

    /// The blob as an open file, for a source that keeps blobs as files and whose content
    /// is verified (`content_verified`): writers then let the kernel copy it. `None`, the
    /// default, makes them read it through `open_blob`.
    fn open_blob_file(&self, _descriptor: &Descriptor) -> Option<io::Result<File>> {
        None
    }

    /// Whether writers should stop: asked between the pieces of a kernel copy, which no
    /// reader of `open_blob` sees.
    fn should_stop(&self) -> bool {
        false
    }
}

/// One image to write: its documents as bytes, its layers as descriptors of blobs the
/// `BlobSource` serves, and the names to record for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportImage {
    pub names: Vec<ImageReference>,
    pub manifest: Descriptor,
    pub manifest_bytes: Vec<u8>,
    pub config: Descriptor,
    pub config_bytes: Vec<u8>,
    /// Bottom layer first, as the manifest lists them.
    pub layers: Vec<Descriptor>,
    pub platform: Platform,
}

/// Writes an OCI image layout tar to `out`: `oci-layout`, `index.json` with one entry per
/// image name (annotated `org.opencontainers.image.ref.name` = tag and
/// `io.containerd.image.name` = full name, as BuildKit does) and `blobs/sha256/*`.
/// With `index_override` (an image index and its bytes), `index.json` points at that index
/// instead, once per name of any image: the multi-platform form. Layer blobs come first,
/// in the images' order, as `OciArchive` writes them.
pub fn write_oci_archive(
    images: &[ExportImage],
    index_override: Option<(Descriptor, Vec<u8>)>,
    blobs: &dyn BlobSource,
    out: &Path,
) -> Result<(), ArchiveError> {
    for image in images {
        image.validate()?;
    }
    let mut archive = OciArchive::create(out)?;
    for layer in images.iter().flat_map(|image| &image.layers) {
        archive.add_layer(layer, blobs)?;
    }
    archive.finish(images, index_override, blobs)
}

/// Writes the same OCI image layout as `write_oci_archive`, as a directory `out_dir`.
/// An existing `out_dir` is replaced only if it is empty or an OCI layout itself.
pub fn write_oci_dir(
    images: &[ExportImage],
    index_override: Option<(Descriptor, Vec<u8>)>,
    blobs: &dyn BlobSource,
    out_dir: &Path,
) -> Result<(), ArchiveError> {
    let plan = oci::plan(images, index_override.as_ref())?;
    let staged = StagedDir::create(out_dir)?;
    let mut sink = DirSink::new(staged.path());
    plan.write(&mut sink, blobs)?;
    sink.finish()?;
    staged.commit()
}

/// Writes a docker archive (what `docker load` reads) in the layout docker 25+ writes:
/// `manifest.json` and `repositories`, plus an OCI layout whose blobs are the config and
/// the layers as uncompressed tars named by diff id. Compressed layers are decompressed
/// while written and checked against the config's diff ids.
pub fn write_docker_archive(
    images: &[ExportImage],
    blobs: &dyn BlobSource,
    out: &Path,
) -> Result<(), ArchiveError> {
    let (staged, file) = StagedFile::create(out)?;
    let mut sink = TarSink::new(file, out);
    docker::write(images, &mut sink, blobs)?;
    staged.commit(sink.finish()?)
}

impl ExportImage {
    /// How messages refer to the image: its first name, or its manifest digest.
    fn label(&self) -> String {
        self.names
            .first()
            .map(ToString::to_string)
            .unwrap_or_else(|| self.manifest.digest().to_string())
    }

    fn invalid(&self, reason: String) -> ArchiveError {
        ArchiveError::InvalidExport {
            image: self.label(),
            reason,
        }
    }

    /// Checks that the documents match their descriptors and that the manifest lists
    /// exactly `config` and `layers`, so a caller's mistake cannot produce a broken archive.
    fn validate(&self) -> Result<(), ArchiveError> {
        check_bytes(&self.manifest, &self.manifest_bytes, "manifest")
            .map_err(|r| self.invalid(r))?;
        check_bytes(&self.config, &self.config_bytes, "config").map_err(|r| self.invalid(r))?;
        let manifest: ImageManifest =
            serde_json::from_slice(&self.manifest_bytes).map_err(|e| {
                self.invalid(format!("its manifest is not a valid image manifest: {e}"))
            })?;
        if manifest.config().digest() != self.config.digest() {
            return Err(self.invalid("its manifest names a different config".to_string()));
        }
        let listed = manifest.layers().iter().map(|l| l.digest());
        if !listed.eq(self.layers.iter().map(|l| l.digest())) {
            return Err(self.invalid("its manifest lists different layers".to_string()));
        }
        for layer in &self.layers {
            digest_of(layer, &format!("layers of image {}", self.label()))?;
        }
        Ok(())
    }
}

/// Whether `bytes` are what `target` describes; the reason if not.
fn check_bytes(target: &Descriptor, bytes: &[u8], what: &str) -> Result<Digest, String> {
    let actual = Digest::of(bytes);
    if target.digest().to_string() != actual.to_string() {
        return Err(format!(
            "its {what} bytes have digest {actual}, but the descriptor says {}",
            target.digest()
        ));
    }
    if target.size() != bytes.len() as u64 {
        return Err(format!(
            "its {what} has {} bytes, but the descriptor says {}",
            bytes.len(),
            target.size()
        ));
    }
    Ok(actual)
}
