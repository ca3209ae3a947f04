//! `cache-mounts=true`: the contents of the build's `RUN --mount=type=cache` directories as
//! extra layers of the cache document. Export takes instance 0 of every cache a solved RUN
//! step names (whatever its sharing mode); import puts each into the receiving store's
//! instance 0 of the same cache when that holds nothing yet.
//!
//! Tars, locks and the checks on the way in are the store's (`CacheMounts::write_archive`,
//! `CacheMounts::import_archive`); this module chooses the caches and moves the blobs.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fs::File;

use rbuild_cache::{CacheMountImport, Compression, Store, StoreError};
use rbuild_oci::{descriptor_digest, Digest};

use super::format::{CacheDir, CacheMountEntry, CACHE_MOUNT_ANNOTATION};
use super::{CacheIoError, ImportSummary};
use crate::graph::{BuildGraph, Op, RunMount};
use crate::mounts::cache_mount_key;
use crate::solve::SolveOutcome;

/// Store name → id of every cache mount of a solved RUN step, in name order.
fn used_caches(graph: &BuildGraph, outcome: &SolveOutcome) -> BTreeMap<Digest, String> {
    let mut caches = BTreeMap::new();
    for (id, vertex) in graph.iter() {
        let Op::Run(run) = &vertex.op else {
            continue;
        };
        if !outcome.results.contains_key(&id) {
            continue;
        }
        for mount in &run.mounts {
            let RunMount::Cache {
                id,
                from,
                source_path,
                ..
            } = mount
            else {
                continue;
            };
            let seed = match from {
                None => None,
                Some(v) => match outcome.results.get(v) {
                    Some(result) => Some((&result.key, source_path.as_str())),
                    None => continue,
                },
            };
            caches.insert(cache_mount_key(id, seed), id.clone());
        }
    }
    caches
}

/// Writes the contents of the build's caches into `dir` as blobs; returns their entries
/// and, for caches another build holds exclusively right now, why they were left out.
pub(super) fn export_cache_mounts(
    store: &Store,
    dir: &CacheDir,
    graph: &BuildGraph,
    outcome: &SolveOutcome,
) -> Result<(Vec<CacheMountEntry>, Vec<String>), CacheIoError> {
    let compression = Compression::Gzip;
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for (key, id) in used_caches(graph, outcome) {
        let written = dir.put_blob_streamed(compression.media_type(), |out| {
            Ok(store.cache_mounts().write_archive(&key, compression, out)?)
        });
        let (mut blob, diff_id) = match written {
            Ok(Some(written)) => written,
            Ok(None) => continue, // nothing in it yet
            Err(CacheIoError::Store(StoreError::CacheMountBusy { .. })) => {
                skipped.push(format!("cache mount {id:?}: in use by another build"));
                continue;
            }
            Err(e) => return Err(e),
        };
        blob.set_annotations(Some(HashMap::from([(
            CACHE_MOUNT_ANNOTATION.to_string(),
            id.clone(),
        )])));
        entries.push(CacheMountEntry {
            id,
            key,
            diff_id,
            blob,
        });
    }
    Ok((entries, skipped))
}

/// Imports every cache mount of the document into `store`; what could not be is listed in
/// `summary.skipped`.
pub(super) fn import_cache_mounts(
    store: &Store,
    dir: &CacheDir,
    entries: &[CacheMountEntry],
    summary: &mut ImportSummary,
) {
    for entry in entries {
        match import_one(store, dir, entry) {
            Ok(CacheMountImport::Imported) => summary.cache_mounts += 1,
            Ok(CacheMountImport::Kept) => summary.cache_mounts_kept += 1,
            Err(e) => summary
                .skipped
                .push(format!("cache mount {:?}: {e}", entry.id)),
        }
    }
}

fn import_one(
    store: &Store,
    dir: &CacheDir,
    entry: &CacheMountEntry,
) -> Result<CacheMountImport, CacheIoError> {
    let digest = descriptor_digest(&entry.blob).map_err(|e| CacheIoError::NotACache {
        path: dir.root().to_path_buf(),
        reason: format!("cache mount descriptor: {e}"),
    })?;
    let path = dir.blob_path(&digest);
    let mut file = File::open(&path).map_err(CacheIoError::io("reading", &path))?;
    Ok(store
        .cache_mounts()
        .import_archive(&entry.key, &mut file, &digest, &entry.diff_id)?)
}
