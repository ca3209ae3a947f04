//! `--cache-from` before the solve and `--cache-to` after it. A missing or damaged cache
//! to import is a warning, never a failed build; a cache that cannot be written fails it.
//!
//! The cache directory format and its verification are the solver's (`cache_io`).

use std::path::PathBuf;

use rbuild_cache::Store;
use rbuild_graph::{BuildGraph, VertexId};
use rbuild_solver::cache_io::{export_cache, import_cache};
use rbuild_solver::SolveOutcome;

use crate::error::EngineError;
use crate::events::{BuildEvents, Notice};
use crate::registry_cache;
use crate::request::{CacheFrom, CacheTo};
use rbuild_oci::ImageReference;

/// Pulls each registry cache into a scratch layout and imports it; problems are warnings.
pub(crate) fn import_registry(
    store: &Store,
    sources: &[CacheFrom<ImageReference>],
    events: &dyn BuildEvents,
) {
    for CacheFrom {
        src: reference,
        cache_mounts,
    } in sources
    {
        let imported = store
            .scratch_dir("registry-cache-import")
            .map_err(EngineError::from)
            .and_then(|scratch| {
                let dir = scratch.path().join("cache");
                registry_cache::pull_cache_dir(store, reference, &dir, *cache_mounts)?;
                import_cache(store, &dir, *cache_mounts)
                    .map_err(|e| EngineError::Unsupported(e.to_string()))
                    .map(|summary| (scratch, dir, summary))
            });
        match imported {
            Ok((_scratch, _, summary)) => events.notice(Notice::CacheImported {
                source: std::path::Path::new(&reference.to_string()),
                summary: &summary,
            }),
            Err(e) => events.notice(Notice::Warning(format!(
                "cache {reference} not imported: {e}"
            ))),
        }
    }
}

/// Exports the cache into a scratch layout and pushes it to each registry destination.
pub(crate) fn export_registry(
    store: &Store,
    graph: &BuildGraph,
    outcome: &SolveOutcome,
    targets: &[VertexId],
    destinations: &[CacheTo<ImageReference>],
    events: &dyn BuildEvents,
) -> Result<(), EngineError> {
    for to in destinations {
        let reference = &to.dest;
        let scratch = store.scratch_dir("registry-cache-export")?;
        let dir = scratch.path().join("cache");
        let summary = export_cache(
            store,
            graph,
            outcome,
            targets,
            &dir,
            to.mode,
            to.cache_mounts,
        )
        .map_err(|source| EngineError::CacheExport {
            dest: PathBuf::from(reference.to_string()),
            source,
        })?;
        registry_cache::push_cache_dir(store, &dir, reference)?;
        events.notice(Notice::CacheExported {
            dest: std::path::Path::new(&reference.to_string()),
            summary: &summary,
        });
    }
    Ok(())
}

/// Imports each cache directory; problems become warnings.
pub(crate) fn import_all(store: &Store, sources: &[CacheFrom], events: &dyn BuildEvents) {
    for CacheFrom {
        src: source,
        cache_mounts,
    } in sources
    {
        match import_cache(store, source, *cache_mounts) {
            Ok(summary) => events.notice(Notice::CacheImported {
                source,
                summary: &summary,
            }),
            Err(e) => events.notice(Notice::Warning(format!(
                "cache {} not imported: {e}",
                source.display()
            ))),
        }
    }
}

/// Exports the cache of `targets` to every destination.
pub(crate) fn export_all(
    store: &Store,
    graph: &BuildGraph,
    outcome: &SolveOutcome,
    targets: &[VertexId],
    destinations: &[CacheTo],
    events: &dyn BuildEvents,
) -> Result<(), EngineError> {
    for to in destinations {
        let summary = export_cache(
            store,
            graph,
            outcome,
            targets,
            &to.dest,
            to.mode,
            to.cache_mounts,
        )
        .map_err(|source| EngineError::CacheExport {
            dest: to.dest.clone(),
            source,
        })?;
        events.notice(Notice::CacheExported {
            dest: &to.dest,
            summary: &summary,
        });
    }
    Ok(())
}
