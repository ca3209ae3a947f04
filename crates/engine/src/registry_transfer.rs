//! Images to and from registries: `pull` one platform into the store, `push` a stored
//! image (one manifest, or an index and every manifest it names). What is pushed is what
//! the store holds: a pulled or loaded manifest whose blobs are all stored goes as it is
//! (same digest); a built one gets gzip layer blobs (made once and remembered) and the
//! manifest over them.
//!
//! The distribution protocol is `rbuild_registry`'s; this module only decides what to send.

use rbuild_cache::{Compression, Store};
use rbuild_oci::oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use rbuild_oci::{
    descriptor_digest, index_platforms, media_types, platform_index, ImageReference, Platform,
};
use rbuild_registry::{PullSummary, PushManifest, PushSummary, PushTarget, RegistrySettings};
use rbuild_solver::stored_image_parts;

use crate::error::EngineError;

/// Pulls `reference` for `platform` into the store.
pub fn pull(
    store: &Store,
    reference: &ImageReference,
    platform: &Platform,
) -> Result<PullSummary, EngineError> {
    let settings = RegistrySettings::load(store.root())?;
    Ok(rbuild_registry::pull_image(
        store, &settings, reference, platform,
    )?)
}

/// Pushes the image stored as `source` to `destination`.
pub fn push(
    store: &Store,
    source: &Descriptor,
    destination: &ImageReference,
) -> Result<PushSummary, EngineError> {
    let _lease = store.lease().map_err(EngineError::Lease)?;
    let settings = RegistrySettings::load(store.root())?;
    let target = push_target(store, source)?;
    let siblings = sibling_repositories(store, destination)?;
    Ok(rbuild_registry::push_image(
        store,
        &settings,
        destination,
        &target,
        &siblings,
    )?)
}

/// What to send for the stored document `source`.
pub(crate) fn push_target(store: &Store, source: &Descriptor) -> Result<PushTarget, EngineError> {
    if !media_types::is_index(source.media_type().as_ref()) {
        return Ok(PushTarget::Manifest(push_manifest(store, source)?));
    }
    let digest = descriptor_digest(source).map_err(|e| EngineError::Unsupported(e.to_string()))?;
    let bytes = store.blobs().read(&digest)?;
    let index: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| {
        EngineError::Unsupported(format!("stored index {digest} is unreadable: {e}"))
    })?;
    let mut manifests = Vec::new();
    let mut entries = Vec::new();
    let mut unchanged = true;
    for (child, platform) in index_platforms(&index) {
        let child_digest =
            descriptor_digest(&child).map_err(|e| EngineError::Unsupported(e.to_string()))?;
        if !store.blobs().contains(&child_digest) {
            // A platform the store never pulled: the index as stored cannot be pushed whole.
            unchanged = false;
            continue;
        }
        let manifest = push_manifest(store, &child)?;
        unchanged &= manifest.descriptor.digest() == child.digest();
        entries.push((manifest.descriptor.clone(), platform));
        manifests.push(manifest);
    }
    let (descriptor, bytes) = if unchanged {
        (source.clone(), bytes)
    } else {
        platform_index(&entries).map_err(|e| EngineError::Unsupported(e.to_string()))?
    };
    Ok(PushTarget::Index {
        descriptor,
        bytes,
        manifests,
    })
}

fn push_manifest(store: &Store, source: &Descriptor) -> Result<PushManifest, EngineError> {
    let digest = descriptor_digest(source).map_err(|e| EngineError::Unsupported(e.to_string()))?;
    let bytes = store.blobs().read(&digest)?;
    let manifest: ImageManifest = serde_json::from_slice(&bytes).map_err(|e| {
        EngineError::Unsupported(format!("stored manifest {digest} is unreadable: {e}"))
    })?;
    let mut blobs = vec![manifest.config().clone()];
    blobs.extend(manifest.layers().iter().cloned());
    let all_stored = blobs
        .iter()
        .all(|b| descriptor_digest(b).is_ok_and(|d| store.blobs().contains(&d)));
    if all_stored {
        return Ok(PushManifest {
            descriptor: source.clone(),
            bytes,
            blobs,
        });
    }
    let parts = stored_image_parts(store, source, &[], Compression::Gzip)?;
    let mut blobs = vec![parts.config];
    blobs.extend(parts.layers);
    Ok(PushManifest {
        descriptor: parts.manifest,
        bytes: parts.manifest_bytes,
        blobs,
    })
}

/// Other repositories of the destination's registry the store knows images of: blobs may
/// be mounted from them instead of uploaded.
fn sibling_repositories(
    store: &Store,
    destination: &ImageReference,
) -> Result<Vec<String>, EngineError> {
    let mut repositories: Vec<String> = store
        .images()
        .list()?
        .into_iter()
        .map(|entry| entry.name)
        .filter(|name| name.domain() == destination.domain() && name.path() != destination.path())
        .map(|name| name.path().to_string())
        .collect();
    repositories.sort();
    repositories.dedup();
    repositories.truncate(3);
    Ok(repositories)
}
