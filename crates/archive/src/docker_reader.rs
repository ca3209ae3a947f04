//! Reading a docker archive (`docker save` output: the classic `<id>/layer.tar` form and
//! the OCI-layout-inside form of docker 25+): the `manifest.json` entries, their configs
//! and layer files, and an OCI manifest synthesized for the image picked.
//!
//! A classic layer file is named by a legacy id, not by its digest, so each layer is
//! hashed the first time it is described and remembered; nothing is ever extracted.

use std::collections::HashMap;
use std::io::{self, Cursor, Read, Write};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::{descriptor, media_types, Digest, DigestingWriter, Platform};

use crate::compression::Compression;
use crate::container::Container;
use crate::documents::{synthesize_manifest, ConfigSummary, DockerManifestEntry};
use crate::entry_name::{blob_entry_name, digest_named_by};
use crate::error::ArchiveError;
use crate::image::{pair_layers, ArchivedImage, SelectedImage};
use crate::names;
use crate::verify::{parse_document, read_document};

pub(crate) const MANIFEST_FILE: &str = "manifest.json";

/// One `manifest.json` entry.
struct DockerImage {
    names: Vec<String>,
    config: String,
    layers: Vec<String>,
}

/// An archive file described as a blob.
#[derive(Clone)]
struct StoredBlob {
    digest: Digest,
    size: u64,
    compression: Compression,
}

#[derive(Clone)]
enum BlobOrigin {
    Entry(String),
    Synthesized(Vec<u8>),
}

/// What hashing has taught us: file → blob, and digest → where to read it.
#[derive(Default)]
struct BlobMemo {
    files: HashMap<String, StoredBlob>,
    by_digest: HashMap<Digest, BlobOrigin>,
}

pub(crate) struct DockerArchiveReader {
    images: Vec<DockerImage>,
    memo: Mutex<BlobMemo>,
}

impl DockerArchiveReader {
    pub(crate) fn load(container: &Container) -> Result<Self, ArchiveError> {
        let entries: Vec<DockerManifestEntry> = container
            .read_json_file(MANIFEST_FILE, "docker archive manifest")?
            .ok_or_else(|| ArchiveError::MissingFile {
                location: container.location(MANIFEST_FILE),
            })?;
        let images = entries
            .into_iter()
            .map(|entry| DockerImage {
                names: names::from_repo_tags(entry.repo_tags.as_deref().unwrap_or_default()),
                config: entry.config,
                layers: entry.layers,
            })
            .collect();
        Ok(DockerArchiveReader {
            images,
            memo: Mutex::default(),
        })
    }

    pub(crate) fn images(&self, container: &Container) -> Result<Vec<ArchivedImage>, ArchiveError> {
        self.images
            .iter()
            .map(|image| {
                let (config, _) = self.read_config(container, image)?;
                Ok(ArchivedImage {
                    names: image.names.clone(),
                    platforms: vec![config.platform()],
                })
            })
            .collect()
    }

    pub(crate) fn select(
        &self,
        container: &Container,
        name: Option<&str>,
        platform: &Platform,
    ) -> Result<SelectedImage, ArchiveError> {
        if self.images.is_empty() {
            return Err(ArchiveError::NoImages {
                archive: container.path().to_path_buf(),
            });
        }
        let image = names::pick(&self.images, |i| &i.names, name, container.path())?;
        let (config, config_bytes) = self.read_config(container, image)?;
        let available = config.platform();
        if !available.satisfies(platform) {
            return Err(ArchiveError::PlatformNotFound {
                archive: container.path().to_path_buf(),
                image: image.names.first().unwrap_or(&image.config).clone(),
                wanted: platform.to_string(),
                available: available.to_string(),
            });
        }
        let layer_blobs = self.layer_blobs(container, image, &config)?;
        let layers = pair_layers(&layer_blobs, &config, &container.location(MANIFEST_FILE))?;
        let config_size = config_bytes.len() as u64;
        let config_blob = descriptor(
            media_types::OCI_CONFIG,
            &Digest::of(&config_bytes),
            config_size,
        );
        let (manifest, manifest_bytes) = synthesize_manifest(&config_blob, &layer_blobs);
        let origin = BlobOrigin::Synthesized(manifest_bytes.clone());
        self.memo()
            .by_digest
            .insert(Digest::of(&manifest_bytes), origin);
        Ok(SelectedImage {
            names: image.names.clone(),
            manifest,
            manifest_bytes,
            config: config_blob,
            config_bytes,
            layers,
            platform: available,
        })
    }

    /// Descriptors of the layer files of `image`; an uncompressed layer must hash to
    /// its diff id.
    fn layer_blobs(
        &self,
        container: &Container,
        image: &DockerImage,
        config: &ConfigSummary,
    ) -> Result<Vec<Descriptor>, ArchiveError> {
        let mut blobs = Vec::with_capacity(image.layers.len());
        for (i, path) in image.layers.iter().enumerate() {
            let stored = self.describe(container, path)?;
            let diff_id = config.rootfs.diff_ids.get(i);
            if let (Compression::None, Some(diff_id)) = (stored.compression, diff_id) {
                if diff_id != &stored.digest {
                    return Err(ArchiveError::DiffIdMismatch {
                        location: container.location(path),
                        diff_id: diff_id.clone(),
                        actual: stored.digest,
                    });
                }
            }
            let media_type = stored.compression.oci_layer_media_type();
            blobs.push(descriptor(media_type, &stored.digest, stored.size));
        }
        Ok(blobs)
    }

    pub(crate) fn open_blob<'c>(
        &self,
        container: &'c Container,
        digest: &Digest,
    ) -> Result<Box<dyn Read + Send + 'c>, ArchiveError> {
        match self.origin_of(container, digest)? {
            Some(BlobOrigin::Entry(name)) => container.open_verified(&name, digest, None),
            Some(BlobOrigin::Synthesized(bytes)) => Ok(Box::new(Cursor::new(bytes))),
            None => Err(ArchiveError::MissingBlob {
                archive: container.path().to_path_buf(),
                digest: digest.to_string(),
            }),
        }
    }

    fn origin_of(
        &self,
        container: &Container,
        digest: &Digest,
    ) -> Result<Option<BlobOrigin>, ArchiveError> {
        if let Some(origin) = self.memo().by_digest.get(digest) {
            return Ok(Some(origin.clone()));
        }
        for name in [blob_entry_name(digest), format!("{}.json", digest.hex())] {
            if container.contains(&name) {
                return Ok(Some(BlobOrigin::Entry(name)));
            }
        }
        for image in &self.images {
            for path in image.layers.iter().chain([&image.config]) {
                self.describe(container, path)?;
            }
        }
        Ok(self.memo().by_digest.get(digest).cloned())
    }

    /// The parsed config of `image` and its bytes, checked against the digest its file
    /// name announces (`blobs/sha256/<hex>`, `<hex>.json`).
    fn read_config(
        &self,
        container: &Container,
        image: &DockerImage,
    ) -> Result<(ConfigSummary, Vec<u8>), ArchiveError> {
        let location = container.location(&image.config);
        let reader =
            container
                .open_entry(&image.config)?
                .ok_or_else(|| ArchiveError::MissingFile {
                    location: location.clone(),
                })?;
        let bytes = read_document(reader, &location, "image config")?;
        let digest = Digest::of(&bytes);
        check_named_digest(&image.config, &digest, &location)?;
        let config = parse_document(&bytes, &location, "image config")?;
        self.memo()
            .by_digest
            .insert(digest, BlobOrigin::Entry(image.config.clone()));
        Ok((config, bytes))
    }

    /// Digest, size and compression of the file `path`, hashing it on first use.
    fn describe(&self, container: &Container, path: &str) -> Result<StoredBlob, ArchiveError> {
        if let Some(known) = self.memo().files.get(path) {
            return Ok(known.clone());
        }
        let location = container.location(path);
        let reader = container
            .open_entry(path)?
            .ok_or_else(|| ArchiveError::MissingFile {
                location: location.clone(),
            })?;
        let stored = hash_file(reader, &location)?;
        check_named_digest(path, &stored.digest, &location)?;
        let mut memo = self.memo();
        memo.by_digest
            .insert(stored.digest.clone(), BlobOrigin::Entry(path.to_string()));
        memo.files.insert(path.to_string(), stored.clone());
        Ok(stored)
    }

    fn memo(&self) -> MutexGuard<'_, BlobMemo> {
        self.memo.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn check_named_digest(path: &str, actual: &Digest, location: &str) -> Result<(), ArchiveError> {
    match digest_named_by(path) {
        Some(expected) if &expected != actual => Err(ArchiveError::DigestMismatch {
            location: location.to_string(),
            expected,
            actual: actual.clone(),
        }),
        _ => Ok(()),
    }
}

/// Hashes a whole file, noting its compression from the first bytes.
fn hash_file(mut reader: impl Read, location: &str) -> Result<StoredBlob, ArchiveError> {
    let mut hasher = DigestingWriter::new(io::sink());
    let mut head = Vec::with_capacity(Compression::MAGIC_LEN);
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = reader
            .read(&mut buffer)
            .map_err(|e| ArchiveError::from_read(e, location))?;
        if n == 0 {
            break;
        }
        let wanted = Compression::MAGIC_LEN.saturating_sub(head.len()).min(n);
        head.extend_from_slice(&buffer[..wanted]);
        hasher
            .write_all(&buffer[..n])
            .map_err(|e| ArchiveError::from_read(e, location))?;
    }
    let (_, digest, size) = hasher.finish();
    Ok(StoredBlob {
        digest,
        size,
        compression: Compression::sniff(&head),
    })
}
