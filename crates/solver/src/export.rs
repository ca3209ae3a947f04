//! Where a built image goes: the local image store (`-t`), an OCI layout tar, a
//! docker-archive tar, or a plain root filesystem directory.
//!
//! Layers leave the machine compressed only here: the store keeps snapshots and makes (and
//! remembers) a compressed blob the first time a layer is exported.

use std::fs;
use std::io::{self, Read};
use std::path::PathBuf;

use rbuild_archive::{BlobSource, ExportImage};
use rbuild_cache::{Compression, Store};
use rbuild_oci::oci_spec::image::{Descriptor, ImageManifest, ImageManifestBuilder, MediaType};
use rbuild_oci::{descriptor, descriptor_digest, media_types, Digest, ImageReference};

use crate::error::StepFailure;
use crate::image::BuiltImage;

/// An output destination (`--output type=...,dest=...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Export {
    Oci { dest: PathBuf },
    Docker { dest: PathBuf },
    Local { dest: PathBuf },
}

/// Stores the image's config and manifest in the store and points `names` at it. Layers are
/// described uncompressed (digest = diff id); their bytes are regenerated from snapshots
/// when the image leaves the machine. Returns the manifest descriptor.
pub fn commit_to_store(
    store: &Store,
    image: &BuiltImage,
    names: &[ImageReference],
) -> Result<Descriptor, StepFailure> {
    let mut layers = Vec::with_capacity(image.chain.layers.len());
    for diff_id in &image.chain.layers {
        let size = store.layers().layer_size(diff_id)?;
        layers.push(descriptor(media_types::OCI_LAYER_TAR, diff_id, size));
    }
    let (manifest, _) = store_manifest(store, image, layers)?;
    for name in names {
        store.images().tag(name, &manifest)?;
    }
    Ok(manifest)
}

/// Writes the image to `export`'s destination. Nothing is left at the destination when
/// this fails.
pub fn export_image(
    store: &Store,
    image: &BuiltImage,
    names: &[ImageReference],
    export: &Export,
) -> Result<(), StepFailure> {
    match export {
        Export::Oci { dest } => {
            let export = export_image_parts(store, image, names, Compression::Gzip)?;
            rbuild_archive::write_oci_archive(&[export], None, &StoreBlobs(store), dest)
                .map_err(|e| StepFailure::Export(e.to_string()))
        }
        Export::Docker { dest } => {
            let export = export_image_parts(store, image, names, Compression::None)?;
            rbuild_archive::write_docker_archive(&[export], &StoreBlobs(store), dest)
                .map_err(|e| StepFailure::Export(e.to_string()))
        }
        Export::Local { dest } => crate::rootfs::export_rootfs(store, &image.chain, dest),
    }
}

fn export_image_parts(
    store: &Store,
    image: &BuiltImage,
    names: &[ImageReference],
    compression: Compression,
) -> Result<ExportImage, StepFailure> {
    let mut layers = Vec::with_capacity(image.chain.layers.len());
    for index in 0..image.chain.layers.len() {
        layers.push(
            store
                .layers()
                .layer_blob(&image.chain, index, compression)?,
        );
    }
    let (manifest, manifest_bytes) = store_manifest(store, image, layers.clone())?;
    let (config_bytes, config_digest) = image.config_blob();
    Ok(ExportImage {
        names: names.to_vec(),
        manifest,
        manifest_bytes,
        config: descriptor(
            media_types::OCI_CONFIG,
            &config_digest,
            config_bytes.len() as u64,
        ),
        config_bytes,
        layers,
        platform: image.config.platform(),
    })
}

/// Puts the config and a manifest over `layers` into the blob store.
fn store_manifest(
    store: &Store,
    image: &BuiltImage,
    layers: Vec<Descriptor>,
) -> Result<(Descriptor, Vec<u8>), StepFailure> {
    let (config_bytes, _) = image.config_blob();
    let config_digest = store.blobs().put(&config_bytes)?;
    let manifest: ImageManifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(
            media_types::OCI_CONFIG,
            &config_digest,
            config_bytes.len() as u64,
        ))
        .layers(layers)
        .build()
        .map_err(|e| StepFailure::Export(format!("cannot build the image manifest: {e}")))?;
    let manifest_bytes = serde_json::to_vec(&manifest)
        .map_err(|e| StepFailure::Export(format!("cannot encode the image manifest: {e}")))?;
    let manifest_digest = store.blobs().put(&manifest_bytes)?;
    Ok((
        descriptor(
            media_types::OCI_MANIFEST,
            &manifest_digest,
            manifest_bytes.len() as u64,
        ),
        manifest_bytes,
    ))
}

/// Serves export blobs from the store.
struct StoreBlobs<'a>(&'a Store);

impl BlobSource for StoreBlobs<'_> {
    fn open_blob(&self, descriptor: &Descriptor) -> io::Result<Box<dyn Read + '_>> {
        let digest: Digest = descriptor_digest(descriptor)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let file: fs::File = self
            .0
            .blobs()
            .open(&digest)
            .map_err(|e| io::Error::new(io::ErrorKind::NotFound, e))?;
        Ok(Box::new(file))
    }
}
