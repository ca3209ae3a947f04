//! Reading an OCI image layout (a directory or a tar of one): the images `index.json`
//! lists, the platforms behind (possibly nested) indexes, and the manifest, config and
//! layer descriptors of the image picked for one platform.
//!
//! It reads only JSON documents; layer blobs are checked for presence, not read.

use rbuild_oci::oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use rbuild_oci::{media_types, Platform};
use serde::de::DeserializeOwned;

use crate::container::Container;
use crate::documents::{digest_of, ConfigSummary};
use crate::entry_name::blob_entry_name;
use crate::error::{list_for_message, ArchiveError};
use crate::image::{pair_layers, ArchivedImage, SelectedImage};
use crate::names;
use crate::verify::parse_document;

pub(crate) const INDEX_FILE: &str = "index.json";
pub(crate) const LAYOUT_FILE: &str = "oci-layout";

/// How deep indexes may nest below `index.json` (real images use one level).
const MAX_INDEX_DEPTH: usize = 4;

/// The annotation BuildKit puts on attestation manifests inside an image index.
const REFERENCE_TYPE_ANNOTATION: &str = "vnd.docker.reference.type";

/// A top-level `index.json` entry.
struct TopLevelImage {
    names: Vec<String>,
    target: Descriptor,
}

impl TopLevelImage {
    /// How messages refer to the image: its first name, or its digest.
    fn label(&self) -> String {
        self.names
            .first()
            .cloned()
            .unwrap_or_else(|| self.target.digest().to_string())
    }
}

/// An image manifest reachable from a top-level entry, and the platform it serves.
struct PlatformManifest {
    platform: Platform,
    manifest: Descriptor,
}

pub(crate) struct OciLayoutReader<'a> {
    container: &'a Container,
}

impl<'a> OciLayoutReader<'a> {
    pub(crate) fn new(container: &'a Container) -> Self {
        OciLayoutReader { container }
    }

    pub(crate) fn images(&self) -> Result<Vec<ArchivedImage>, ArchiveError> {
        self.top_level()?
            .into_iter()
            .map(|top| {
                let mut platforms: Vec<Platform> = Vec::new();
                for found in self.platform_manifests(&top.target, 0)? {
                    if !platforms.contains(&found.platform) {
                        platforms.push(found.platform);
                    }
                }
                Ok(ArchivedImage {
                    names: top.names,
                    platforms,
                })
            })
            .collect()
    }

    pub(crate) fn select(
        &self,
        name: Option<&str>,
        platform: &Platform,
    ) -> Result<SelectedImage, ArchiveError> {
        let archive = self.container.path();
        let tops = self.top_level()?;
        if tops.is_empty() {
            return Err(ArchiveError::NoImages {
                archive: archive.to_path_buf(),
            });
        }
        let top = names::pick(&tops, |t| &t.names, name, archive)?;
        let candidates = self.platform_manifests(&top.target, 0)?;
        let Some(chosen) = candidates.iter().find(|c| c.platform.satisfies(platform)) else {
            let available: Vec<&Platform> = candidates.iter().map(|c| &c.platform).collect();
            return Err(ArchiveError::PlatformNotFound {
                archive: archive.to_path_buf(),
                image: top.label(),
                wanted: platform.to_string(),
                available: list_for_message(&available),
            });
        };
        self.load(top.names.clone(), &chosen.manifest)
    }

    /// The picked image's own index and its bytes, when it lists nothing but platform
    /// manifests (so a store that loads every platform can keep the index as it is).
    pub(crate) fn platform_index(
        &self,
        name: Option<&str>,
    ) -> Result<Option<(Descriptor, Vec<u8>)>, ArchiveError> {
        let archive = self.container.path();
        let tops = self.top_level()?;
        if tops.is_empty() {
            return Ok(None);
        }
        let top = names::pick(&tops, |t| &t.names, name, archive)?;
        let target = &top.target;
        if !media_types::is_index(target.media_type().as_ref()) {
            return Ok(None);
        }
        let (index, bytes, _) = self.read_document::<ImageIndex>(target, "image index")?;
        let only_platform_manifests = index.manifests().iter().all(|entry| {
            entry.platform().is_some() && media_types::is_manifest(entry.media_type().as_ref())
        });
        Ok(only_platform_manifests.then(|| (target.clone(), bytes)))
    }

    fn top_level(&self) -> Result<Vec<TopLevelImage>, ArchiveError> {
        self.check_layout_file()?;
        let index: ImageIndex = self
            .container
            .read_json_file(INDEX_FILE, "OCI image index")?
            .ok_or_else(|| ArchiveError::MissingFile {
                location: self.container.location(INDEX_FILE),
            })?;
        Ok(index
            .manifests()
            .iter()
            .filter(|target| is_image_document(target))
            .map(|target| TopLevelImage {
                names: names::from_annotations(target.annotations().as_ref()),
                target: target.clone(),
            })
            .collect())
    }

    /// `oci-layout` is optional here, but when present it must be what the spec says.
    fn check_layout_file(&self) -> Result<(), ArchiveError> {
        #[derive(serde::Deserialize)]
        struct LayoutFile {
            #[serde(rename = "imageLayoutVersion")]
            _version: String,
        }
        self.container
            .read_json_file::<LayoutFile>(LAYOUT_FILE, "OCI layout file")
            .map(|_| ())
    }

    /// Every image manifest below `target`, each with its platform.
    fn platform_manifests(
        &self,
        target: &Descriptor,
        depth: usize,
    ) -> Result<Vec<PlatformManifest>, ArchiveError> {
        let media_type = target.media_type().to_string();
        if media_types::is_manifest(&media_type) {
            let platform = match descriptor_platform(target) {
                Some(platform) => platform,
                None => self.manifest_platform(target)?,
            };
            return Ok(vec![PlatformManifest {
                platform,
                manifest: target.clone(),
            }]);
        }
        if !media_types::is_index(&media_type) {
            return Ok(Vec::new());
        }
        let (index, _, location) = self.read_document::<ImageIndex>(target, "image index")?;
        if depth >= MAX_INDEX_DEPTH {
            return Err(ArchiveError::IndexTooDeep {
                location,
                limit: MAX_INDEX_DEPTH,
            });
        }
        let mut found = Vec::new();
        for child in index.manifests().iter().filter(|c| !is_attestation(c)) {
            found.extend(self.platform_manifests(child, depth + 1)?);
        }
        Ok(found)
    }

    /// The platform of a manifest whose descriptor does not say: its config's.
    fn manifest_platform(&self, target: &Descriptor) -> Result<Platform, ArchiveError> {
        let (manifest, _, _) = self.read_document::<ImageManifest>(target, "image manifest")?;
        let (config, _, _) =
            self.read_document::<ConfigSummary>(manifest.config(), "image config")?;
        Ok(config.platform())
    }

    fn load(&self, names: Vec<String>, target: &Descriptor) -> Result<SelectedImage, ArchiveError> {
        let (manifest, manifest_bytes, location) =
            self.read_document::<ImageManifest>(target, "image manifest")?;
        let (config, config_bytes, _) =
            self.read_document::<ConfigSummary>(manifest.config(), "image config")?;
        let layers = pair_layers(manifest.layers(), &config, &location)?;
        for layer in &layers {
            let digest = digest_of(&layer.blob, &location)?;
            if !self.container.contains(&blob_entry_name(&digest)) {
                return Err(ArchiveError::MissingBlob {
                    archive: self.container.path().to_path_buf(),
                    digest: digest.to_string(),
                });
            }
        }
        Ok(SelectedImage {
            names,
            manifest: target.clone(),
            manifest_bytes,
            config: manifest.config().clone(),
            config_bytes,
            layers,
            platform: config.platform(),
        })
    }

    /// Reads, verifies and parses the JSON blob `target` points at; returns the parsed
    /// document, its bytes and its location.
    fn read_document<T: DeserializeOwned>(
        &self,
        target: &Descriptor,
        document: &'static str,
    ) -> Result<(T, Vec<u8>, String), ArchiveError> {
        let digest = digest_of(target, &self.container.path().display().to_string())?;
        let bytes = self
            .container
            .read_blob_document(&digest, target.size(), document)?;
        let location = self.container.location(&blob_entry_name(&digest));
        let parsed = parse_document(&bytes, &location, document)?;
        Ok((parsed, bytes, location))
    }
}

fn is_image_document(target: &Descriptor) -> bool {
    let media_type = target.media_type().to_string();
    media_types::is_manifest(&media_type) || media_types::is_index(&media_type)
}

/// BuildKit attaches provenance as extra manifests with platform `unknown/unknown`.
fn is_attestation(target: &Descriptor) -> bool {
    let annotated = target
        .annotations()
        .as_ref()
        .and_then(|a| a.get(REFERENCE_TYPE_ANNOTATION))
        .is_some_and(|kind| kind == "attestation-manifest");
    let unknown_platform = target
        .platform()
        .as_ref()
        .is_some_and(|p| p.os().to_string() == "unknown");
    annotated || unknown_platform
}

fn descriptor_platform(target: &Descriptor) -> Option<Platform> {
    let platform = target.platform().as_ref()?;
    Some(Platform::new(
        &platform.os().to_string(),
        &platform.architecture().to_string(),
        platform.variant().as_deref(),
    ))
}
