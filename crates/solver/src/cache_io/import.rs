//! `--cache-from type=local`: reads a cache directory and adds its records to the store's
//! cache index, copying in the layer blobs they need. Everything is verified on the way in:
//! documents and blobs against their digests, each layer blob against its diff id, each key
//! against the key material it claims to be the hash of. Damaged parts are skipped (and
//! reported); local records are never replaced.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;

use rbuild_cache::{CacheRecord, SnapshotChain, Store, StoreError};
use rbuild_oci::{descriptor_digest, Digest};

use super::format::{CacheDir, LayerEntry, RecordEntry};
use super::mount_layers::import_cache_mounts;
use super::{CacheIoError, ImportSummary};

/// Imports the cache at `src` into `store` (with `cache_mounts`, the cache-mount contents it
/// carries too). Fails only when `src` is not a readable cache at all; damaged records,
/// layers and cache mounts are listed in the summary instead.
pub fn import_cache(
    store: &Store,
    src: &Path,
    cache_mounts: bool,
) -> Result<ImportSummary, CacheIoError> {
    let dir = CacheDir::new(src);
    let document = dir.read_document()?;
    let mut summary = ImportSummary::default();
    let mut unusable: HashSet<&Digest> = HashSet::new();
    for layer in &document.layers {
        match import_layer(store, &dir, layer) {
            Ok(true) => summary.layers += 1,
            Ok(false) => {}
            Err(e) => {
                summary
                    .skipped
                    .push(format!("layer {}: {e}", layer.diff_id));
                unusable.insert(&layer.diff_id);
            }
        }
    }
    for record in &document.records {
        if record
            .chain
            .iter()
            .any(|diff_id| unusable.contains(diff_id))
        {
            summary
                .skipped
                .push(format!("record {}: needs a skipped layer", record.key));
            continue;
        }
        match import_record(store, record) {
            Ok(true) => summary.records += 1,
            Ok(false) => summary.known += 1,
            Err(reason) => summary
                .skipped
                .push(format!("record {}: {reason}", record.key)),
        }
    }
    if cache_mounts {
        import_cache_mounts(store, &dir, &document.cache_mounts, &mut summary);
    }
    Ok(summary)
}

/// Copies a layer blob in unless the store has a blob of that layer; true when copied.
fn import_layer(store: &Store, dir: &CacheDir, layer: &LayerEntry) -> Result<bool, CacheIoError> {
    if store.layers().has_layer_blob(&layer.diff_id)? {
        return Ok(false);
    }
    let digest = descriptor_digest(&layer.blob).map_err(|e| CacheIoError::NotACache {
        path: dir.root().to_path_buf(),
        reason: format!("layer descriptor: {e}"),
    })?;
    if !store.blobs().contains(&digest) {
        let path = dir.blob_path(&digest);
        let mut file = File::open(&path).map_err(CacheIoError::io("reading", &path))?;
        store.blobs().ingest(&mut file, Some(&digest))?;
    }
    store
        .layers()
        .add_verified_blob_layer(&layer.diff_id, &layer.blob)?;
    Ok(true)
}

/// Adds one record; true when added, false when the store had the key already.
fn import_record(store: &Store, record: &RecordEntry) -> Result<bool, String> {
    if Digest::of(record.material.as_bytes()) != record.key {
        return Err("the key is not the digest of its key material".to_string());
    }
    let cache_record = CacheRecord {
        chain: SnapshotChain {
            layers: record.chain.clone(),
        },
        created: record.created,
        build_id: record.build_id.clone(),
    };
    match store
        .index()
        .import(&record.key, &cache_record, &record.material)
    {
        Ok(added) => Ok(added),
        Err(StoreError::LayerUnavailable { diff_id, .. }) => Err(format!(
            "layer {diff_id} is neither in the cache nor in this store (a base image missing?)"
        )),
        Err(e) => Err(e.to_string()),
    }
}
