//! What an OCI image layout rbuild writes contains: `oci-layout`, `index.json` (one entry
//! per image name, annotated as BuildKit does) and the blobs of every image.
//!
//! It plans the layout; the plan writes it into a tar or a directory.

use std::collections::BTreeMap;

use rbuild_oci::media_types::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME};
use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::{Digest, ImageReference, Platform};

use super::plan::{EntryContent, LayoutPlan};
use super::{check_bytes, ExportImage};
use crate::documents::{digest_of, IndexDocument, IndexEntry, OCI_LAYOUT};
use crate::entry_name::blob_entry_name;
use crate::error::ArchiveError;
use crate::oci_reader::{INDEX_FILE, LAYOUT_FILE};

/// The whole layout for `images`, with `index_override` as the multi-platform entry point.
pub(super) fn plan(
    images: &[ExportImage],
    index_override: Option<&(Descriptor, Vec<u8>)>,
) -> Result<LayoutPlan, ArchiveError> {
    let mut plan = LayoutPlan::default();
    for image in images {
        image.validate()?;
        add_documents(&mut plan, image);
        for layer in &image.layers {
            let digest = digest_of(layer, "an exported layer")?;
            plan.add(blob_entry_name(&digest), EntryContent::Blob(layer.clone()));
        }
    }
    let entries = match index_override {
        None => images
            .iter()
            .flat_map(|image| index_entries(&image.manifest, Some(&image.platform), &image.names))
            .collect(),
        Some((index, bytes)) => {
            let digest = check_bytes(index, bytes, "image index").map_err(|reason| {
                ArchiveError::InvalidExport {
                    image: index.digest().to_string(),
                    reason,
                }
            })?;
            plan.add(blob_entry_name(&digest), EntryContent::Bytes(bytes.clone()));
            index_entries(index, None, &all_names(images))
        }
    };
    plan.add(
        INDEX_FILE.to_string(),
        EntryContent::Bytes(IndexDocument::new(entries).to_bytes()),
    );
    plan.add(
        LAYOUT_FILE.to_string(),
        EntryContent::Bytes(OCI_LAYOUT.to_vec()),
    );
    Ok(plan)
}

/// Adds the manifest and config of a (validated) image.
fn add_documents(plan: &mut LayoutPlan, image: &ExportImage) {
    for bytes in [&image.manifest_bytes, &image.config_bytes] {
        let name = blob_entry_name(&Digest::of(bytes));
        plan.add(name, EntryContent::Bytes(bytes.clone()));
    }
}

/// `index.json` entries for `target`: one per name, or one unnamed entry.
pub(super) fn index_entries(
    target: &Descriptor,
    platform: Option<&Platform>,
    names: &[ImageReference],
) -> Vec<IndexEntry> {
    if names.is_empty() {
        return vec![IndexEntry::new(target, platform, BTreeMap::new())];
    }
    names
        .iter()
        .map(|name| IndexEntry::new(target, platform, name_annotations(name)))
        .collect()
}

/// `io.containerd.image.name` = full name, `org.opencontainers.image.ref.name` = tag.
fn name_annotations(name: &ImageReference) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::from([(ANNOTATION_IMAGE_NAME.to_string(), name.to_string())]);
    if let Some(tag) = name.tag() {
        annotations.insert(ANNOTATION_REF_NAME.to_string(), tag.to_string());
    }
    annotations
}

/// Every name of every image, first occurrence first.
fn all_names(images: &[ExportImage]) -> Vec<ImageReference> {
    let mut names: Vec<ImageReference> = Vec::new();
    for name in images.iter().flat_map(|image| &image.names) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}
