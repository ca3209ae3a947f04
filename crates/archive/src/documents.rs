//! The JSON documents of image archives in the shapes rbuild reads and writes: the docker
//! `manifest.json`, the fields of an image config that importing needs, and the index and
//! manifest documents rbuild writes — with fixed field order and sorted maps, so the same
//! images always serialize to the same bytes.
//!
//! It does not read or write files.

use std::collections::BTreeMap;

use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::{descriptor, descriptor_digest, media_types, Digest, Platform, RootFs};
use serde::{Deserialize, Serialize};

use crate::error::ArchiveError;

/// The content of the `oci-layout` file.
pub(crate) const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// One entry of a docker archive's `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DockerManifestEntry {
    pub config: String,
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(default)]
    pub layers: Vec<String>,
}

/// The parts of an image config that importing needs.
#[derive(Debug, Deserialize)]
pub(crate) struct ConfigSummary {
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    pub rootfs: RootFs,
}

impl ConfigSummary {
    pub(crate) fn platform(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, self.variant.as_deref())
    }
}

/// An `index.json` as rbuild writes it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IndexDocument {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<IndexEntry>,
}

impl IndexDocument {
    pub(crate) fn new(manifests: Vec<IndexEntry>) -> Self {
        IndexDocument {
            schema_version: 2,
            media_type: media_types::OCI_INDEX,
            manifests,
        }
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an index of strings and numbers always serializes")
    }
}

/// One descriptor in an `index.json`, its annotations sorted.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IndexEntry {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<PlatformEntry>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

impl IndexEntry {
    pub(crate) fn new(
        target: &Descriptor,
        platform: Option<&Platform>,
        annotations: BTreeMap<String, String>,
    ) -> Self {
        IndexEntry {
            media_type: target.media_type().to_string(),
            digest: target.digest().to_string(),
            size: target.size(),
            platform: platform.map(|p| PlatformEntry {
                architecture: p.architecture.clone(),
                os: p.os.clone(),
                variant: p.image_variant(),
            }),
            annotations,
        }
    }
}

#[derive(Serialize)]
struct PlatformEntry {
    architecture: String,
    os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
}

/// An OCI image manifest with nothing but config and layers.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestDocument {
    schema_version: u32,
    media_type: &'static str,
    config: BlobReference,
    layers: Vec<BlobReference>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BlobReference {
    media_type: String,
    digest: String,
    size: u64,
}

impl From<&Descriptor> for BlobReference {
    fn from(target: &Descriptor) -> Self {
        BlobReference {
            media_type: target.media_type().to_string(),
            digest: target.digest().to_string(),
            size: target.size(),
        }
    }
}

/// The OCI manifest of a docker-archive image (which has none): its descriptor and bytes.
/// Reader and writer share it, so a docker archive rbuild wrote reads back with the
/// manifest digest it was written with.
pub(crate) fn synthesize_manifest(
    config: &Descriptor,
    layers: &[Descriptor],
) -> (Descriptor, Vec<u8>) {
    let document = ManifestDocument {
        schema_version: 2,
        media_type: media_types::OCI_MANIFEST,
        config: config.into(),
        layers: layers.iter().map(BlobReference::from).collect(),
    };
    let bytes =
        serde_json::to_vec(&document).expect("a manifest of strings and numbers always serializes");
    let target = descriptor(
        media_types::OCI_MANIFEST,
        &Digest::of(&bytes),
        bytes.len() as u64,
    );
    (target, bytes)
}

/// The sha256 digest of a descriptor, or an error naming where the descriptor was found.
pub(crate) fn digest_of(target: &Descriptor, location: &str) -> Result<Digest, ArchiveError> {
    descriptor_digest(target).map_err(|_| ArchiveError::UnsupportedDigest {
        location: location.to_string(),
        digest: target.digest().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthesized_manifests_are_stable_and_parse_as_oci() {
        let config = descriptor(media_types::OCI_CONFIG, &Digest::of(b"c"), 1);
        let layer = descriptor(media_types::OCI_LAYER_TAR, &Digest::of(b"l"), 1);
        let (target, bytes) = synthesize_manifest(&config, std::slice::from_ref(&layer));
        assert_eq!(
            synthesize_manifest(&config, std::slice::from_ref(&layer)).1,
            bytes
        );
        assert_eq!(target.digest().to_string(), Digest::of(&bytes).to_string());
        let parsed: rbuild_oci::oci_spec::image::ImageManifest =
            serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed.layers(), &[layer]);
        assert_eq!(parsed.config(), &config);
    }

    #[test]
    fn index_entries_sort_annotations() {
        let target = descriptor(media_types::OCI_MANIFEST, &Digest::of(b"m"), 1);
        let annotations = BTreeMap::from([
            ("z".to_string(), "1".to_string()),
            ("a".to_string(), "2".to_string()),
        ]);
        let platform = Platform::new("linux", "arm64", None);
        let bytes =
            IndexDocument::new(vec![IndexEntry::new(&target, Some(&platform), annotations)])
                .to_bytes();
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.find("\"a\"").unwrap() < text.find("\"z\"").unwrap(),
            "{text}"
        );
        assert!(
            text.contains(r#""platform":{"architecture":"arm64","os":"linux","variant":"v8"}"#),
            "{text}"
        );
    }
}
