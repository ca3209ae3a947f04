//! `--cache-to type=registry,ref=…` and `--cache-from type=registry,ref=…`: the same cache
//! document as `type=local`, carried as one plain OCI image manifest (config = the cache
//! document, layers = the layer blobs, `artifactType` set) — never an index with foreign
//! media types, so any registry that takes images takes it.
//!
//! Export writes the local format into a scratch directory and pushes its manifest; import
//! pulls the manifest and its blobs (verified) and lays them out for the local importer —
//! leaving the blobs of cache-mount contents on the registry unless they were asked for.

use std::fs;
use std::path::Path;

use rbuild_cache::Store;
use rbuild_oci::oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use rbuild_oci::{descriptor_digest, Digest, ImageReference};
use rbuild_registry::{PushManifest, PushTarget, RegistrySettings};
use rbuild_solver::cache_io::is_cache_mount_layer;

use crate::error::EngineError;

fn failed(what: &str, reference: &ImageReference, cause: impl std::fmt::Display) -> EngineError {
    EngineError::Unsupported(format!("{what} {reference}: {cause}"))
}

/// Pushes the cache directory `dir` (as `export_cache` wrote it) as `reference`.
pub(crate) fn push_cache_dir(
    store: &Store,
    dir: &Path,
    reference: &ImageReference,
) -> Result<rbuild_registry::PushSummary, EngineError> {
    let fail = |cause: String| failed("cannot push the cache to", reference, cause);
    let index: ImageIndex = read_json(&dir.join("index.json")).map_err(fail)?;
    let manifest_descriptor = index
        .manifests()
        .first()
        .cloned()
        .ok_or_else(|| fail("the cache layout has no manifest".to_string()))?;
    let manifest_path = blob_path(dir, &manifest_descriptor).map_err(fail)?;
    let bytes = fs::read(&manifest_path).map_err(|e| fail(e.to_string()))?;
    let manifest: ImageManifest =
        serde_json::from_slice(&bytes).map_err(|e| fail(e.to_string()))?;
    let mut blobs = vec![manifest.config().clone()];
    blobs.extend(manifest.layers().iter().cloned());
    for blob in &blobs {
        let digest = descriptor_digest(blob).map_err(|e| fail(e.to_string()))?;
        if !store.blobs().contains(&digest) {
            let mut file = fs::File::open(blob_path(dir, blob).map_err(fail)?)
                .map_err(|e| fail(e.to_string()))?;
            store.blobs().ingest(&mut file, Some(&digest))?;
        }
    }
    let target = PushTarget::Manifest(PushManifest {
        descriptor: manifest_descriptor,
        bytes,
        blobs,
    });
    let settings = RegistrySettings::load(store.root())?;
    Ok(rbuild_registry::push_image(
        store,
        &settings,
        reference,
        &target,
        &[],
    )?)
}

/// Pulls the cache `reference` names and lays it out in `dir` as `import_cache` reads it;
/// the blobs of cache-mount contents only with `cache_mounts`.
pub(crate) fn pull_cache_dir(
    store: &Store,
    reference: &ImageReference,
    dir: &Path,
    cache_mounts: bool,
) -> Result<(), EngineError> {
    let fail = |cause: String| failed("cannot lay out the cache from", reference, cause);
    let settings = RegistrySettings::load(store.root())?;
    let wanted = |layer: &Descriptor| cache_mounts || !is_cache_mount_layer(layer);
    let (descriptor, bytes) = rbuild_registry::pull_artifact(store, &settings, reference, &wanted)?;
    let manifest: ImageManifest =
        serde_json::from_slice(&bytes).map_err(|e| fail(e.to_string()))?;
    let blobs_dir = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs_dir).map_err(|e| fail(e.to_string()))?;
    let io = |e: std::io::Error| fail(e.to_string());
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io)?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": rbuild_oci::media_types::OCI_INDEX,
        "manifests": [descriptor],
    });
    fs::write(dir.join("index.json"), index.to_string()).map_err(io)?;
    fs::write(blobs_dir.join(Digest::of(&bytes).hex()), &bytes).map_err(io)?;
    let mut blobs = vec![manifest.config().clone()];
    blobs.extend(manifest.layers().iter().filter(|l| wanted(l)).cloned());
    for blob in &blobs {
        let digest = descriptor_digest(blob).map_err(|e| fail(e.to_string()))?;
        let mut from = store.blobs().open(&digest)?;
        let mut to = fs::File::create(blobs_dir.join(digest.hex())).map_err(io)?;
        std::io::copy(&mut from, &mut to).map_err(io)?;
    }
    Ok(())
}

fn blob_path(dir: &Path, blob: &Descriptor) -> Result<std::path::PathBuf, String> {
    let digest = descriptor_digest(blob).map_err(|e| e.to_string())?;
    Ok(dir.join("blobs/sha256").join(digest.hex()))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}
