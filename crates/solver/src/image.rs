//! Images in the local store: resolving a name (and platform) to its manifest and config,
//! the snapshot chain a base image provides, and assembling a built image's config.
//!
//! Exporting images elsewhere is `export`'s job.

use rbuild_cache::{SnapshotChain, Store};
use rbuild_oci::oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use rbuild_oci::{index_platforms, media_types, Digest, ImageConfig, ImageReference, Platform};

use crate::error::StepFailure;
use crate::graph::{BuildGraph, ImageTemplate, VertexId};
use crate::solve::SolveOutcome;

/// A platform-specific image found in the local store.
#[derive(Clone, Debug)]
pub struct LocalImage {
    pub manifest: Descriptor,
    pub config: ImageConfig,
}

/// Resolves `reference` for `platform` in the store: a name through the image names, a
/// digest pin (`name@sha256:…`, with or without a tag) through the blob it names (a manifest
/// or an index); follows an index to the matching manifest and reads its config.
pub fn resolve_local_image(
    store: &Store,
    reference: &ImageReference,
    platform: &Platform,
) -> Result<LocalImage, StepFailure> {
    let image_error = |message: String| StepFailure::Image {
        reference: reference.familiar(),
        message,
    };
    let found = match reference.digest() {
        Some(digest) => pinned_document(store, digest)?,
        None => store.images().get(reference)?,
    };
    let target = found.ok_or_else(|| {
        image_error("not found in the local store (load it with `rbuild load`)".to_string())
    })?;
    let manifest = if media_types::is_index(target.media_type().as_ref()) {
        let index: ImageIndex = read_json(store, target.digest().as_ref())?;
        pick_platform(&index, platform).ok_or_else(|| {
            let available: Vec<String> = index_platforms(&index)
                .iter()
                .map(|(_, p)| p.to_string())
                .collect();
            image_error(format!(
                "no image for platform {platform} in the local store (it has {})",
                available.join(", ")
            ))
        })?
    } else {
        target
    };
    let (_, config) = manifest_config(store, &manifest)?;
    if !config.platform().satisfies(platform) {
        return Err(image_error(format!(
            "the local image is for {}, not {platform}",
            config.platform()
        )));
    }
    Ok(LocalImage { manifest, config })
}

/// The manifest or index blob `digest` names, described by its own media type.
fn pinned_document(store: &Store, digest: &Digest) -> Result<Option<Descriptor>, StepFailure> {
    if !store.blobs().contains(digest) {
        return Ok(None);
    }
    let bytes = store.blobs().read(digest)?;
    let document: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| StepFailure::Image {
            reference: digest.to_string(),
            message: format!("the pinned digest is not an image manifest or index: {e}"),
        })?;
    let media_type = match document.get("mediaType").and_then(|m| m.as_str()) {
        Some(media_type) => media_type.to_string(),
        None if document.get("manifests").is_some() => media_types::OCI_INDEX.to_string(),
        None => media_types::OCI_MANIFEST.to_string(),
    };
    Ok(Some(rbuild_oci::descriptor(
        &media_type,
        digest,
        bytes.len() as u64,
    )))
}

fn pick_platform(index: &ImageIndex, platform: &Platform) -> Option<Descriptor> {
    index_platforms(index)
        .into_iter()
        .find(|(_, candidate)| candidate.satisfies(platform))
        .map(|(manifest, _)| manifest)
}

/// The config digest (the image id) and config of the manifest `descriptor` names.
pub fn manifest_config(
    store: &Store,
    descriptor: &Descriptor,
) -> Result<(Digest, ImageConfig), StepFailure> {
    let manifest: ImageManifest = read_json(store, descriptor.digest().as_ref())?;
    let config_digest = manifest.config().digest().as_ref();
    let config = read_json(store, config_digest)?;
    let config_digest = config_digest.parse().map_err(|e| StepFailure::Image {
        reference: descriptor.digest().to_string(),
        message: format!("invalid config digest: {e}"),
    })?;
    Ok((config_digest, config))
}

/// The snapshot chain of a base image's root filesystem.
pub fn image_chain(store: &Store, manifest: &Digest) -> Result<SnapshotChain, StepFailure> {
    let manifest: ImageManifest = read_json(store, &manifest.to_string())?;
    let config: ImageConfig = read_json(store, manifest.config().digest().as_ref())?;
    Ok(SnapshotChain {
        layers: config.rootfs.diff_ids,
    })
}

fn read_json<T: serde::de::DeserializeOwned>(
    store: &Store,
    digest: &str,
) -> Result<T, StepFailure> {
    let digest: Digest = digest.parse().map_err(|e| StepFailure::Image {
        reference: digest.to_string(),
        message: format!("invalid digest: {e}"),
    })?;
    let bytes = store.blobs().read(&digest)?;
    serde_json::from_slice(&bytes).map_err(|e| StepFailure::Image {
        reference: digest.to_string(),
        message: format!("unreadable JSON document: {e}"),
    })
}

/// A built image: its final config and the chain holding its layers.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    pub config: ImageConfig,
    pub chain: SnapshotChain,
}

impl BuiltImage {
    /// The config's canonical bytes and digest (the image id).
    pub fn config_blob(&self) -> (Vec<u8>, Digest) {
        let bytes = self.config.to_canonical_json();
        let digest = Digest::of(&bytes);
        (bytes, digest)
    }
}

/// Fills the template's layers and history from the solve: diff ids of the target chain,
/// `empty_layer` for instructions whose vertex added nothing, and `created` times. With an
/// epoch (SOURCE_DATE_EPOCH) every new time is the epoch; otherwise a layer's time is when
/// its step first ran (kept by the cache), metadata entries take the latest of those, so a
/// fully cached rebuild gives the identical image.
pub fn assemble_image(
    template: &ImageTemplate,
    graph: &BuildGraph,
    outcome: &SolveOutcome,
    epoch: Option<i64>,
) -> BuiltImage {
    let vertex_time =
        |v: VertexId| epoch.or_else(|| outcome.results.get(&v).and_then(|r| r.created));
    let latest = epoch.or_else(|| {
        template
            .history_layers
            .iter()
            .flatten()
            .filter_map(|&v| vertex_time(v))
            .max()
    });
    let fallback = latest
        .map(rfc3339)
        .or_else(|| template.config.created.clone())
        .unwrap_or_else(|| rfc3339(0));
    let mut config = template.config.clone();
    config.created = Some(fallback.clone());
    config.rootfs.diff_ids = outcome.target.chain.layers.clone();
    for (entry, vertex) in config.history.iter_mut().zip(&template.history_layers) {
        if let Some(vertex) = vertex {
            entry.empty_layer = !adds_layer(graph, outcome, *vertex);
            entry.created = Some(vertex_time(*vertex).map_or_else(|| fallback.clone(), rfc3339));
        }
        entry.created.get_or_insert_with(|| fallback.clone());
    }
    BuiltImage {
        config,
        chain: outcome.target.chain.clone(),
    }
}

/// Unix seconds as RFC 3339 (`2023-11-14T22:13:20Z`).
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

fn adds_layer(graph: &BuildGraph, outcome: &SolveOutcome, vertex: VertexId) -> bool {
    let Some(result) = outcome.results.get(&vertex) else {
        return false;
    };
    let parent_len = graph
        .vertex(vertex)
        .op
        .parent()
        .and_then(|p| outcome.results.get(&p))
        .map_or(0, |r| r.chain.layers.len());
    result.chain.layers.len() > parent_len
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn unix_times_format_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
