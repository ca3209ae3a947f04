//! Where a built image goes: the local image store (`-t`), an OCI layout tar, a
//! docker-archive tar, or a plain root filesystem directory. Several platforms' images go
//! as one: an image index in the store and in the OCI layout, one directory per platform
//! for `local`; a docker archive holds no index, so it takes one platform only.
//!
//! Layers leave the machine compressed only here: the store keeps snapshots and makes (and
//! remembers) a compressed blob the first time a layer is exported.
//!
//! An export stops when its `CancelToken` is cancelled — while a layer is compressed, while
//! blobs stream into the archive, between files of a root filesystem — and fails with
//! `StepFailure::Interrupted`; the writers remove the partial output.

use std::borrow::Cow;
use std::fs;
use std::io::{self, Read};
use std::path::PathBuf;

use rbuild_archive::{BlobSource, ExportImage, OciArchive};
use rbuild_cache::{Compression, SnapshotChain, Store};
use rbuild_exec::CancelToken;
use rbuild_oci::oci_spec::image::{Descriptor, ImageManifest, ImageManifestBuilder, MediaType};
use rbuild_oci::{
    descriptor, descriptor_digest, media_types, platform_index, Digest, ImageReference, Platform,
};

use crate::error::{ExportError, StepFailure};
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
    let (manifest, _) = store_manifest(store, &image.config_blob().0, layers)?;
    for name in names {
        store.images().tag(name, &manifest)?;
    }
    Ok(manifest)
}

/// Writes the image to `export`'s destination. Nothing is left at the destination when
/// this fails. Returns the manifest an OCI layout's `index.json` points at.
fn export_image(
    store: &Store,
    image: &BuiltImage,
    names: &[ImageReference],
    export: &Export,
    cancel: &CancelToken,
) -> Result<Option<Descriptor>, StepFailure> {
    let blobs = StoreBlobs { store, cancel };
    match export {
        Export::Oci { dest } => {
            let mut archive = ArchiveInProgress::create(store, dest, cancel)?;
            let export = export_image_parts(store, image, names, cancel, Some(&mut archive))?;
            let manifest = export.manifest.clone();
            archive.finish(&[export], None)?;
            Ok(Some(manifest))
        }
        Export::Docker { dest } => {
            let export = export_image_parts(store, image, names, cancel, None)?;
            rbuild_archive::write_docker_archive(&[export], &blobs, dest)
                .map_err(|e| archive_failure(e, cancel))?;
            Ok(None)
        }
        Export::Local { dest } => {
            crate::rootfs::export_rootfs(store, &[(&image.chain, None)], dest, cancel)?;
            Ok(None)
        }
    }
}

/// An archive writer's failure; the interruption when the export was cancelled.
fn archive_failure(error: rbuild_archive::ArchiveError, cancel: &CancelToken) -> StepFailure {
    if cancel.is_cancelled() {
        StepFailure::interrupted(cancel)
    } else {
        ExportError::from(error).into()
    }
}

/// Stores several platforms' images (each as in `commit_to_store`) under one image index
/// and points `names` at the index. Returns the index descriptor.
pub fn commit_index_to_store(
    store: &Store,
    images: &[BuiltImage],
    names: &[ImageReference],
) -> Result<Descriptor, StepFailure> {
    let mut manifests = Vec::with_capacity(images.len());
    for image in images {
        manifests.push(commit_to_store(store, image, &[])?);
    }
    let (index, bytes) = image_index(images, &manifests)?;
    store.blobs().put(&bytes)?;
    for name in names {
        store.images().tag(name, &index)?;
    }
    Ok(index)
}

/// Writes the images (one per platform) to `export`'s destination. Nothing is left at the
/// destination when this fails. For an OCI layout, returns what its `index.json` points at
/// (the manifest, or the index of several platforms): the digest the image has outside.
///
/// Cancelling `cancel` stops the export with `StepFailure::Interrupted`.
pub fn export_images(
    store: &Store,
    images: &[BuiltImage],
    names: &[ImageReference],
    export: &Export,
    cancel: &CancelToken,
) -> Result<Option<Descriptor>, StepFailure> {
    match (images, export) {
        ([image], _) => export_image(store, image, names, export, cancel),
        (_, Export::Oci { dest }) => {
            let mut archive = ArchiveInProgress::create(store, dest, cancel)?;
            let mut parts = Vec::with_capacity(images.len());
            for image in images {
                parts.push(export_image_parts(
                    store,
                    image,
                    names,
                    cancel,
                    Some(&mut archive),
                )?);
            }
            let manifests: Vec<Descriptor> = parts.iter().map(|p| p.manifest.clone()).collect();
            let index = image_index(images, &manifests)?;
            let target = index.0.clone();
            archive.finish(&parts, Some(index))?;
            Ok(Some(target))
        }
        (_, Export::Docker { .. }) => Err(ExportError::DockerArchivePlatforms.into()),
        // `dest/linux_amd64/`, `dest/linux_arm64/`, ... as buildx writes them.
        (_, Export::Local { dest }) => {
            let platform_dirs: Vec<(&SnapshotChain, Option<String>)> = images
                .iter()
                .map(|i| {
                    (
                        &i.chain,
                        Some(i.config.platform().to_string().replace('/', "_")),
                    )
                })
                .collect();
            crate::rootfs::export_rootfs(store, &platform_dirs, dest, cancel)?;
            Ok(None)
        }
    }
}

/// An OCI image index over `manifests` (same order as `images`), each with its platform.
fn image_index(
    images: &[BuiltImage],
    manifests: &[Descriptor],
) -> Result<(Descriptor, Vec<u8>), StepFailure> {
    let entries: Vec<(Descriptor, Platform)> = manifests
        .iter()
        .cloned()
        .zip(images.iter().map(|i| i.config.platform()))
        .collect();
    Ok(platform_index(&entries).map_err(ExportError::from)?)
}

/// The parts of a built image for an archive: gzip layers written into `archive` (an OCI
/// layout tar) as they are made, or, without one, uncompressed layers (a docker archive).
fn export_image_parts(
    store: &Store,
    image: &BuiltImage,
    names: &[ImageReference],
    cancel: &CancelToken,
    archive: Option<&mut ArchiveInProgress>,
) -> Result<ExportImage, StepFailure> {
    let (config_bytes, _) = image.config_blob();
    let parts = ArchiveParts {
        config_bytes,
        chain: Cow::Borrowed(&image.chain),
        platform: image.config.platform(),
    };
    match archive {
        Some(archive) => parts.export_image_into(store, names, archive),
        None => parts.export_image(store, names, Compression::None, Some(cancel)),
    }
}

/// What an archive needs of one image: its config as it is stored, and its layers.
struct ArchiveParts<'a> {
    config_bytes: Vec<u8>,
    chain: Cow<'a, SnapshotChain>,
    platform: Platform,
}

impl ArchiveParts<'_> {
    /// The parts, with each layer's blob made (or found) in `compression`; stopped, with
    /// `StepFailure::Interrupted`, when `cancel` is cancelled.
    fn export_image(
        self,
        store: &Store,
        names: &[ImageReference],
        compression: Compression,
        cancel: Option<&CancelToken>,
    ) -> Result<ExportImage, StepFailure> {
        let stop = || cancel.is_some_and(CancelToken::is_cancelled);
        let mut layers = Vec::with_capacity(self.chain.layers.len());
        for index in 0..self.chain.layers.len() {
            let layer = store
                .layers()
                .layer_blob_unless(&self.chain, index, compression, &stop)
                .map_err(|e| store_failure(e, cancel))?;
            layers.push(layer);
        }
        self.with_layers(store, names, layers)
    }

    /// `export_image` in gzip, each layer blob written into `archive` too (as it is made,
    /// when it has to be made).
    fn export_image_into(
        self,
        store: &Store,
        names: &[ImageReference],
        archive: &mut ArchiveInProgress,
    ) -> Result<ExportImage, StepFailure> {
        let mut layers = Vec::with_capacity(self.chain.layers.len());
        for index in 0..self.chain.layers.len() {
            layers.push(archive.layer(&self.chain, index)?);
        }
        self.with_layers(store, names, layers)
    }

    /// The export of this image with `layers` as its blobs; stores config and manifest.
    fn with_layers(
        self,
        store: &Store,
        names: &[ImageReference],
        layers: Vec<Descriptor>,
    ) -> Result<ExportImage, StepFailure> {
        let (manifest, manifest_bytes) = store_manifest(store, &self.config_bytes, layers.clone())?;
        let config_digest = Digest::of(&self.config_bytes);
        Ok(ExportImage {
            names: names.to_vec(),
            manifest,
            manifest_bytes,
            config: descriptor(
                media_types::OCI_CONFIG,
                &config_digest,
                self.config_bytes.len() as u64,
            ),
            config_bytes: self.config_bytes,
            layers,
            platform: self.platform,
        })
    }
}

/// Writes images already in the store (each a manifest with the names to record for it)
/// to an OCI layout tar or a docker archive, as `rbuild save` does. Configs are written as
/// stored, so image ids do not change; nothing is left at `dest` when this fails or
/// `cancel` is cancelled.
pub fn save_stored_images(
    store: &Store,
    images: &[(Descriptor, Vec<ImageReference>)],
    export: &Export,
    cancel: &CancelToken,
) -> Result<(), StepFailure> {
    let dest = match export {
        Export::Oci { dest } | Export::Docker { dest } => dest,
        Export::Local { .. } => return Err(ExportError::SaveNeedsArchive.into()),
    };
    let mut archive = match export {
        Export::Oci { .. } => Some(ArchiveInProgress::create(store, dest, cancel)?),
        _ => None,
    };
    let mut parts = Vec::with_capacity(images.len());
    for (manifest, names) in images {
        let stored = stored_archive_parts(store, manifest)?;
        parts.push(match archive.as_mut() {
            Some(archive) => stored.export_image_into(store, names, archive)?,
            None => stored.export_image(store, names, Compression::None, Some(cancel))?,
        });
    }
    match archive {
        Some(archive) => archive.finish(&parts, None),
        None => {
            let blobs = StoreBlobs { store, cancel };
            rbuild_archive::write_docker_archive(&parts, &blobs, dest)
                .map_err(|e| archive_failure(e, cancel))
        }
    }
}

/// The parts of a stored image (manifest `manifest`) as they leave the machine: its config
/// as stored and a blob per layer in `compression` (made once and remembered), under a
/// manifest over those blobs, stored too. Pushing and saving use it.
pub fn stored_image_parts(
    store: &Store,
    manifest: &Descriptor,
    names: &[ImageReference],
    compression: Compression,
) -> Result<ExportImage, StepFailure> {
    let stored = stored_archive_parts(store, manifest)?;
    stored.export_image(store, names, compression, None)
}

/// The config as stored and the layer chain of stored image `manifest`.
fn stored_archive_parts(
    store: &Store,
    manifest: &Descriptor,
) -> Result<ArchiveParts<'static>, StepFailure> {
    let (config_digest, config) = crate::image::manifest_config(store, manifest)?;
    Ok(ArchiveParts {
        config_bytes: store.blobs().read(&config_digest)?,
        chain: Cow::Owned(SnapshotChain {
            layers: config.rootfs.diff_ids.clone(),
        }),
        platform: config.platform(),
    })
}

/// Puts the config and a manifest over `layers` into the blob store.
fn store_manifest(
    store: &Store,
    config_bytes: &[u8],
    layers: Vec<Descriptor>,
) -> Result<(Descriptor, Vec<u8>), StepFailure> {
    let config_digest = store.blobs().put(config_bytes)?;
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
        .map_err(ExportError::BuildManifest)?;
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(ExportError::EncodeManifest)?;
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

/// A store error of an export; the interruption when the export was cancelled.
fn store_failure(error: rbuild_cache::StoreError, cancel: Option<&CancelToken>) -> StepFailure {
    match cancel {
        Some(cancel) if cancel.is_cancelled() => StepFailure::interrupted(cancel),
        _ => error.into(),
    }
}

/// An OCI layout tar being written by an export: each layer blob goes in as the image's
/// parts are gathered — copied from the store when stored, written as it is compressed
/// when it has to be made — and the documents when it finishes.
struct ArchiveInProgress<'a> {
    archive: OciArchive,
    blobs: StoreBlobs<'a>,
}

impl<'a> ArchiveInProgress<'a> {
    fn create(
        store: &'a Store,
        dest: &std::path::Path,
        cancel: &'a CancelToken,
    ) -> Result<Self, StepFailure> {
        let archive = OciArchive::create(dest).map_err(|e| archive_failure(e, cancel))?;
        Ok(ArchiveInProgress {
            archive,
            blobs: StoreBlobs { store, cancel },
        })
    }

    /// The gzip blob of layer `index` of `chain`, now in the archive.
    fn layer(&mut self, chain: &SnapshotChain, index: usize) -> Result<Descriptor, StepFailure> {
        let StoreBlobs { store, cancel } = self.blobs;
        let failed = |e| archive_failure(e, cancel);
        let layers = store.layers();
        let stored = layers.stored_layer_blob(chain, index, Compression::Gzip)?;
        if let Some(blob) = stored {
            self.archive.add_layer(&blob, &self.blobs).map_err(failed)?;
            return Ok(blob);
        }
        let mut entry = self.archive.stream_layer().map_err(failed)?;
        let stop = || cancel.is_cancelled();
        let blob = layers
            .make_layer_blob(chain, index, Compression::Gzip, &stop, &mut entry)
            .map_err(|e| store_failure(e, Some(cancel)))?;
        entry.finish(&blob).map_err(failed)?;
        Ok(blob)
    }

    fn finish(
        self,
        images: &[ExportImage],
        index: Option<(Descriptor, Vec<u8>)>,
    ) -> Result<(), StepFailure> {
        let cancel = self.blobs.cancel;
        self.archive
            .finish(images, index, &self.blobs)
            .map_err(|e| archive_failure(e, cancel))
    }
}

/// Serves export blobs from the store; reading fails once `cancel` is cancelled.
struct StoreBlobs<'a> {
    store: &'a Store,
    cancel: &'a CancelToken,
}

impl StoreBlobs<'_> {
    fn blob_file(&self, descriptor: &Descriptor) -> io::Result<fs::File> {
        let digest: Digest = descriptor_digest(descriptor)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.store
            .blobs()
            .open(&digest)
            .map_err(|e| io::Error::new(io::ErrorKind::NotFound, e))
    }
}

impl BlobSource for StoreBlobs<'_> {
    fn open_blob(&self, descriptor: &Descriptor) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(CancellableRead {
            inner: self.blob_file(descriptor)?,
            cancel: self.cancel,
        }))
    }

    /// The store checks every blob against its digest when it is written, and `cache
    /// check` re-reads them at rest.
    fn content_verified(&self) -> bool {
        true
    }

    fn open_blob_file(&self, descriptor: &Descriptor) -> Option<io::Result<fs::File>> {
        Some(self.blob_file(descriptor))
    }

    fn should_stop(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// A reader that fails (with a plain error, never `Interrupted`, which readers retry) once
/// the token is cancelled.
struct CancellableRead<'a, R> {
    inner: R,
    cancel: &'a CancelToken,
}

impl<R: Read> Read for CancellableRead<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.cancel.is_cancelled() {
            return Err(io::Error::other("the export was interrupted"));
        }
        self.inner.read(buffer)
    }
}
