//! `--cache-to type=local`: writes the cache records of a solved build and the compressed
//! blobs of the layers they need into a cache directory, staged next to the destination and
//! swapped into place in one rename, so readers see the old cache or the new one, never a
//! mix. Layers are compressed once per store (the store remembers the blob).

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rbuild_cache::{Compression, Store};
use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::{descriptor_digest, Digest};

use super::format::{CacheDir, CacheDocument, LayerEntry, RecordEntry};
use super::mount_layers::export_cache_mounts;
use super::{CacheIoError, CacheMode, ExportSummary};
use crate::graph::{BuildGraph, Op, VertexId};
use crate::solve::SolveOutcome;

/// Writes the cache of `outcome` for `targets` (per `mode`) to `dest`, replacing an earlier
/// cache there; with `cache_mounts`, the contents of the build's cache mounts too.
pub fn export_cache(
    store: &Store,
    graph: &BuildGraph,
    outcome: &SolveOutcome,
    targets: &[VertexId],
    dest: &Path,
    mode: CacheMode,
    cache_mounts: bool,
) -> Result<ExportSummary, CacheIoError> {
    let (records, layers) = collect(store, graph, outcome, targets, mode)?;
    let staged = StagedDir::create(dest)?;
    let dir = CacheDir::new(staged.path());
    dir.create_layout()?;
    for layer in &layers {
        copy_blob(store, &dir, &layer.blob)?;
    }
    let (mounts, skipped) = if cache_mounts {
        export_cache_mounts(store, &dir, graph, outcome)?
    } else {
        Default::default()
    };
    let summary = ExportSummary {
        records: records.len(),
        layers: layers.len(),
        cache_mounts: mounts.len(),
        skipped,
    };
    let descriptors: Vec<Descriptor> = layers
        .iter()
        .map(|l| &l.blob)
        .chain(mounts.iter().map(|m| &m.blob))
        .cloned()
        .collect();
    let document = CacheDocument {
        records,
        layers,
        cache_mounts: mounts,
        ..CacheDocument::default_version()
    };
    dir.write_documents(&document, descriptors)?;
    staged.commit()?;
    Ok(summary)
}

/// The records to export (sorted by key) and the layers their chains need beyond the base
/// images (in first-use order).
fn collect(
    store: &Store,
    graph: &BuildGraph,
    outcome: &SolveOutcome,
    targets: &[VertexId],
    mode: CacheMode,
) -> Result<(Vec<RecordEntry>, Vec<LayerEntry>), CacheIoError> {
    let base_layers: HashSet<&Digest> = graph
        .iter()
        .filter(|(_, v)| matches!(v.op, Op::Image(_)))
        .filter_map(|(id, _)| outcome.results.get(&id))
        .flat_map(|r| &r.chain.layers)
        .collect();
    let mut records = BTreeMap::new();
    let mut layers: Vec<LayerEntry> = Vec::new();
    let mut seen: HashSet<Digest> = HashSet::new();
    for id in chosen(graph, outcome, targets, mode) {
        let vertex = graph.vertex(id);
        if matches!(vertex.op, Op::Scratch | Op::Image(_)) {
            continue;
        }
        let Some(result) = outcome.results.get(&id) else {
            continue;
        };
        for (index, diff_id) in result.chain.layers.iter().enumerate() {
            if base_layers.contains(diff_id) || !seen.insert(diff_id.clone()) {
                continue;
            }
            let blob = store
                .layers()
                .layer_blob(&result.chain, index, Compression::Gzip)?;
            layers.push(LayerEntry {
                diff_id: diff_id.clone(),
                blob,
            });
        }
        records.insert(
            result.key.clone(),
            RecordEntry {
                key: result.key.clone(),
                chain: result.chain.layers.clone(),
                created: result.created.unwrap_or_else(unix_now),
                build_id: result.build_id.clone().unwrap_or_default(),
                material: result.material.to_json(),
            },
        );
    }
    Ok((records.into_values().collect(), layers))
}

/// `max`: every solved vertex; `min`: each target and the steps it builds on directly.
fn chosen(
    graph: &BuildGraph,
    outcome: &SolveOutcome,
    targets: &[VertexId],
    mode: CacheMode,
) -> Vec<VertexId> {
    match mode {
        CacheMode::Max => {
            let mut all: Vec<VertexId> = outcome.results.keys().copied().collect();
            all.sort();
            all
        }
        CacheMode::Min => {
            let mut line = Vec::new();
            for &target in targets {
                let mut current = Some(target);
                while let Some(v) = current {
                    line.push(v);
                    current = graph.vertex(v).op.parent();
                }
            }
            line.sort();
            line.dedup();
            line
        }
    }
}

fn copy_blob(store: &Store, dir: &CacheDir, blob: &Descriptor) -> Result<(), CacheIoError> {
    let digest = descriptor_digest(blob).map_err(|e| CacheIoError::NotACache {
        path: dir.root().to_path_buf(),
        reason: format!("layer descriptor: {e}"),
    })?;
    let mut source = store.blobs().open(&digest)?;
    let path = dir.blob_path(&digest);
    let mut out = File::create(&path).map_err(CacheIoError::io("creating", &path))?;
    io::copy(&mut source, &mut out)
        .and_then(|_| out.sync_all())
        .map_err(CacheIoError::io("writing", &path))?;
    Ok(())
}

/// A directory staged next to its destination; removed on drop unless committed.
struct StagedDir {
    path: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl StagedDir {
    fn create(dest: &Path) -> Result<StagedDir, CacheIoError> {
        check_replaceable(dest)?;
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(CacheIoError::io("creating", &parent))?;
        let name = dest
            .file_name()
            .map_or_else(|| "cache".into(), |n| n.to_string_lossy().into_owned());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = parent.join(format!(".{name}.rbuild-tmp-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path).map_err(CacheIoError::io("creating", &path))?;
        Ok(StagedDir {
            path,
            dest: dest.to_path_buf(),
            committed: false,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Puts the staged directory at the destination: a plain rename, or an atomic exchange
    /// with the cache already there (which is then removed).
    fn commit(mut self) -> Result<(), CacheIoError> {
        check_replaceable(&self.dest)?;
        let replacing = self.dest.exists();
        let result = if replacing {
            rustix::fs::renameat_with(
                rustix::fs::CWD,
                &self.path,
                rustix::fs::CWD,
                &self.dest,
                rustix::fs::RenameFlags::EXCHANGE,
            )
            .map_err(io::Error::from)
        } else {
            std::fs::rename(&self.path, &self.dest)
        };
        result.map_err(CacheIoError::io(
            "moving the cache into place at",
            &self.dest,
        ))?;
        if let Some(parent) = self.dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(CacheIoError::io("syncing", parent))?;
        }
        // After an exchange the staged path holds the old cache, which the drop removes.
        self.committed = !replacing;
        Ok(())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove a staged cache directory");
            }
        }
    }
}

/// A destination may be replaced when it does not exist, is an empty directory, or holds an
/// rbuild cache.
fn check_replaceable(dest: &Path) -> Result<(), CacheIoError> {
    let empty_dir = std::fs::read_dir(dest).is_ok_and(|mut entries| entries.next().is_none());
    if !dest.exists() || empty_dir || CacheDir::new(dest).holds_cache() {
        return Ok(());
    }
    Err(CacheIoError::WouldReplace {
        path: dest.to_path_buf(),
    })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absent_empty_or_cache_directories_may_be_replaced() {
        let work = tempfile::tempdir().unwrap();
        let absent = work.path().join("absent");
        assert!(check_replaceable(&absent).is_ok());
        let empty = work.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(check_replaceable(&empty).is_ok());
        let precious = work.path().join("home");
        std::fs::create_dir(&precious).unwrap();
        std::fs::write(precious.join("notes.txt"), "keep me").unwrap();
        assert!(matches!(
            check_replaceable(&precious),
            Err(CacheIoError::WouldReplace { .. })
        ));
        let cache = work.path().join("cache");
        let dir = CacheDir::new(&cache);
        dir.create_layout().unwrap();
        dir.write_documents(&CacheDocument::default_version(), Vec::new())
            .unwrap();
        assert!(check_replaceable(&cache).is_ok());
    }

    #[test]
    fn a_failed_export_leaves_no_staging_behind() {
        let work = tempfile::tempdir().unwrap();
        let dest = work.path().join("cache");
        let staged = StagedDir::create(&dest).unwrap();
        let staged_path = staged.path().to_path_buf();
        assert!(staged_path.is_dir());
        drop(staged);
        assert!(!staged_path.exists());
        assert!(!dest.exists());
    }
}
