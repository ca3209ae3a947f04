//! What an archive offers (`ArchivedImage`) and what picking one image for one platform
//! yields (`SelectedImage`): the documents and layer descriptors a store needs to import it.
//!
//! It does not read blobs; the format readers fill these in.

use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::{Digest, Platform};

use crate::documents::{digest_of, ConfigSummary};
use crate::error::ArchiveError;

/// One image of an archive: a top-level `index.json` entry or a `manifest.json` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivedImage {
    /// Full names normalized (`docker.io/library/busybox:latest`), bare tags as written.
    pub names: Vec<String>,
    /// The platforms it is available for, in archive order.
    pub platforms: Vec<Platform>,
}

/// One image for one platform, ready to import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectedImage {
    pub names: Vec<String>,
    /// For a docker archive, the descriptor of a synthesized OCI manifest.
    pub manifest: Descriptor,
    pub manifest_bytes: Vec<u8>,
    pub config: Descriptor,
    pub config_bytes: Vec<u8>,
    /// Bottom layer first.
    pub layers: Vec<ArchivedLayer>,
    /// The platform the image config declares.
    pub platform: Platform,
}

/// A layer blob and the digest of its uncompressed tar (from the config's `rootfs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivedLayer {
    pub blob: Descriptor,
    pub diff_id: Digest,
}

/// Pairs a manifest's layers with the config's diff ids, which must be as many.
pub(crate) fn pair_layers(
    layers: &[Descriptor],
    config: &ConfigSummary,
    manifest_location: &str,
) -> Result<Vec<ArchivedLayer>, ArchiveError> {
    let diff_ids = &config.rootfs.diff_ids;
    if layers.len() != diff_ids.len() {
        return Err(ArchiveError::LayerCountMismatch {
            location: manifest_location.to_string(),
            layers: layers.len(),
            diff_ids: diff_ids.len(),
        });
    }
    layers
        .iter()
        .zip(diff_ids)
        .map(|(blob, diff_id)| {
            digest_of(blob, manifest_location)?;
            Ok(ArchivedLayer {
                blob: blob.clone(),
                diff_id: diff_id.clone(),
            })
        })
        .collect()
}
