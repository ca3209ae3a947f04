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
use crate::request::CacheTo;

/// Imports each cache directory; problems become warnings.
pub(crate) fn import_all(store: &Store, sources: &[PathBuf], events: &dyn BuildEvents) {
    for source in sources {
        match import_cache(store, source) {
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
        let summary =
            export_cache(store, graph, outcome, targets, &to.dest, to.mode).map_err(|source| {
                EngineError::CacheExport {
                    dest: to.dest.clone(),
                    source,
                }
            })?;
        events.notice(Notice::CacheExported {
            dest: &to.dest,
            summary: &summary,
        });
    }
    Ok(())
}
