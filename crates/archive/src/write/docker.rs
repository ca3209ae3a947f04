//! What a docker archive rbuild writes contains, in the layout docker 25+ saves: the
//! configs and the layers as uncompressed tars under `blobs/sha256/` (layers named by diff
//! id), then `manifest.json` and `repositories` for `docker load`, and an OCI
//! `index.json` / `oci-layout` over synthesized manifests for OCI-aware readers.
//!
//! The manifests need the uncompressed layer sizes, which a compressed source only
//! reveals by decompressing, so blobs are written first and the documents after them.

use std::collections::BTreeMap;

use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::{descriptor, media_types, Digest, ImageReference};

use super::oci::index_entries;
use super::plan::{EntryContent, LayoutPlan, LayoutSink};
use super::{BlobSource, ExportImage};
use crate::compression::Compression;
use crate::docker_reader::MANIFEST_FILE;
use crate::documents::{
    digest_of, synthesize_manifest, ConfigSummary, DockerManifestEntry, IndexDocument, OCI_LAYOUT,
};
use crate::entry_name::blob_entry_name;
use crate::error::ArchiveError;
use crate::oci_reader::{INDEX_FILE, LAYOUT_FILE};

const REPOSITORIES_FILE: &str = "repositories";

/// An image reduced to what a docker archive records.
struct DockerImage<'a> {
    image: &'a ExportImage,
    config_digest: Digest,
    diff_ids: Vec<Digest>,
    /// Names with a tag and no digest: `RepoTags` can hold nothing else.
    tagged: Vec<&'a ImageReference>,
}

pub(super) fn write(
    images: &[ExportImage],
    sink: &mut dyn LayoutSink,
    blobs: &dyn BlobSource,
) -> Result<(), ArchiveError> {
    let mut blob_plan = LayoutPlan::default();
    let mut planned = Vec::with_capacity(images.len());
    for image in images {
        let docker_image = plan_blobs(image, &mut blob_plan)?;
        planned.push(docker_image);
    }
    let sizes = blob_plan.write(sink, blobs)?;
    documents(&planned, &sizes)?.write(sink, blobs)?;
    Ok(())
}

/// Adds the config and the uncompressed layers of `image` to `plan`.
fn plan_blobs<'a>(
    image: &'a ExportImage,
    plan: &mut LayoutPlan,
) -> Result<DockerImage<'a>, ArchiveError> {
    image.validate()?;
    let config: ConfigSummary = serde_json::from_slice(&image.config_bytes)
        .map_err(|e| image.invalid(format!("its config is not a valid image config: {e}")))?;
    let diff_ids = config.rootfs.diff_ids;
    if diff_ids.len() != image.layers.len() {
        let reason = format!(
            "{} layers but {} diff ids in its config",
            image.layers.len(),
            diff_ids.len()
        );
        return Err(image.invalid(reason));
    }
    let config_digest = Digest::of(&image.config_bytes);
    plan.add(
        blob_entry_name(&config_digest),
        EntryContent::Bytes(image.config_bytes.clone()),
    );
    for (layer, diff_id) in image.layers.iter().zip(&diff_ids) {
        plan.add(
            blob_entry_name(diff_id),
            uncompressed_content(image, layer, diff_id)?,
        );
    }
    let tagged = image
        .names
        .iter()
        .filter(|name| name.tag().is_some() && name.digest().is_none())
        .collect();
    Ok(DockerImage {
        image,
        config_digest,
        diff_ids,
        tagged,
    })
}

/// How to obtain a layer's uncompressed tar: the blob itself, or its decompression.
fn uncompressed_content(
    image: &ExportImage,
    layer: &Descriptor,
    diff_id: &Digest,
) -> Result<EntryContent, ArchiveError> {
    let media_type = layer.media_type().to_string();
    let digest = digest_of(layer, "an exported layer")?;
    match Compression::of_media_type(&media_type) {
        Some(Compression::None) if &digest == diff_id => Ok(EntryContent::Blob(layer.clone())),
        Some(Compression::None) => Err(image.invalid(format!(
            "uncompressed layer {digest} differs from its diff id {diff_id}"
        ))),
        Some(compression) => Ok(EntryContent::Decompressed {
            blob: layer.clone(),
            compression,
            diff_id: diff_id.clone(),
        }),
        None => Err(image.invalid(format!(
            "layer {digest} has media type {media_type:?}, not a layer"
        ))),
    }
}

/// The documents, once the uncompressed layer `sizes` are known.
fn documents(
    images: &[DockerImage<'_>],
    sizes: &BTreeMap<String, u64>,
) -> Result<LayoutPlan, ArchiveError> {
    let mut plan = LayoutPlan::default();
    let mut index = Vec::new();
    let mut manifest_json = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for docker_image in images {
        let (manifest, bytes) = synthesized_manifest(docker_image, sizes)?;
        plan.add(
            blob_entry_name(&Digest::of(&bytes)),
            EntryContent::Bytes(bytes),
        );
        let tagged: Vec<ImageReference> = docker_image.tagged.iter().map(|&n| n.clone()).collect();
        index.extend(index_entries(
            &manifest,
            Some(&docker_image.image.platform),
            &tagged,
        ));
        manifest_json.push(DockerManifestEntry {
            config: blob_entry_name(&docker_image.config_digest),
            repo_tags: Some(tagged.iter().map(ImageReference::familiar).collect()),
            layers: docker_image.diff_ids.iter().map(blob_entry_name).collect(),
        });
        if let Some(top) = docker_image.diff_ids.last() {
            for name in &tagged {
                let tags = repositories.entry(name.familiar_repository()).or_default();
                tags.insert(
                    name.tag().unwrap_or("latest").to_string(),
                    top.hex().to_string(),
                );
            }
        }
    }
    plan.add(
        INDEX_FILE.to_string(),
        EntryContent::Bytes(IndexDocument::new(index).to_bytes()),
    );
    plan.add(
        MANIFEST_FILE.to_string(),
        EntryContent::Bytes(to_json(&manifest_json)),
    );
    plan.add(
        LAYOUT_FILE.to_string(),
        EntryContent::Bytes(OCI_LAYOUT.to_vec()),
    );
    if !repositories.is_empty() {
        plan.add(
            REPOSITORIES_FILE.to_string(),
            EntryContent::Bytes(to_json(&repositories)),
        );
    }
    Ok(plan)
}

/// The OCI manifest of the image as written: config plus uncompressed layers.
fn synthesized_manifest(
    docker_image: &DockerImage<'_>,
    sizes: &BTreeMap<String, u64>,
) -> Result<(Descriptor, Vec<u8>), ArchiveError> {
    let config_size = docker_image.image.config_bytes.len() as u64;
    let config = descriptor(
        media_types::OCI_CONFIG,
        &docker_image.config_digest,
        config_size,
    );
    let mut layers = Vec::with_capacity(docker_image.diff_ids.len());
    for diff_id in &docker_image.diff_ids {
        let name = blob_entry_name(diff_id);
        let size = sizes.get(&name).copied().ok_or_else(|| {
            docker_image
                .image
                .invalid(format!("layer {diff_id} was not written"))
        })?;
        layers.push(descriptor(media_types::OCI_LAYER_TAR, diff_id, size));
    }
    Ok(synthesize_manifest(&config, &layers))
}

fn to_json(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("documents of strings always serialize")
}
