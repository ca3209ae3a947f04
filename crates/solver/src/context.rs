//! Local build contexts and the selection + content digest of the files a COPY reads from
//! them.
//!
//! The selection made here is the one the copy later applies, so the cache key covers
//! exactly what lands in the layer. Walking and hashing rules live in `rbuild_fileop`; this
//! module only wires them to named context directories and the store's digest memo.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rbuild_cache::Store;
use rbuild_fileop::content_digest::digest_selection_with_files;
use rbuild_fileop::patterns::PathPatterns;
use rbuild_fileop::select::{select_sources_excluding, SelectOptions, SourceMatch};
use rbuild_oci::Digest;

use crate::error::StepFailure;

/// The name of the main build context.
pub const MAIN_CONTEXT: &str = "context";

/// Named local directories COPY and bind mounts may read from.
#[derive(Clone, Debug, Default)]
pub struct BuildContexts {
    dirs: BTreeMap<String, PathBuf>,
}

impl BuildContexts {
    /// Contexts with `main` as the build context.
    pub fn new(main: PathBuf) -> Self {
        let mut dirs = BTreeMap::new();
        dirs.insert(MAIN_CONTEXT.to_string(), main);
        BuildContexts { dirs }
    }

    /// Adds a named context (`--build-context name=DIR`).
    pub fn insert(&mut self, name: &str, dir: PathBuf) {
        self.dirs.insert(name.to_string(), dir);
    }

    pub fn dir(&self, name: &str) -> Result<&Path, StepFailure> {
        self.dirs
            .get(name)
            .map(PathBuf::as_path)
            .ok_or_else(|| StepFailure::UnknownContext(name.to_string()))
    }
}

/// The files one op reads from a context, and their content digest.
pub(crate) struct ContextSelection {
    pub matches: Vec<SourceMatch>,
    pub digest: Digest,
    /// The content digest of each regular file in `matches`, in entry order.
    pub file_digests: Vec<Digest>,
}

/// Selects `paths` in context `name`, minus `ignore` (the context's .dockerignore, relative
/// to its root) and `excludes` (`--exclude`, relative to each source), and digests the
/// selection through the store's memo.
pub(crate) fn select_from_context(
    store: &Store,
    contexts: &BuildContexts,
    name: &str,
    paths: &[String],
    ignore: &[String],
    excludes: &[String],
) -> Result<ContextSelection, StepFailure> {
    let root = contexts.dir(name)?;
    let ignore = PathPatterns::new(ignore)?;
    let excludes = PathPatterns::new(excludes)?;
    let options = SelectOptions {
        excludes: &ignore,
        follow_top_symlinks: true,
        allow_empty_wildcard: true,
    };
    // The memo rows of the whole context load (one query, whatever order the parallel
    // hashing asks in) while the walk runs: a walk waits on stat calls, the load on SQLite.
    let (matches, ()) = rayon::join(
        || select_sources_excluding(root, paths, &options, &excludes),
        || store.context_memo().preload(root),
    );
    let matches = matches?;
    let digested = digest_selection_with_files(&matches, store.context_memo())?;
    Ok(ContextSelection {
        matches,
        digest: digested.digest,
        file_digests: digested.file_digests,
    })
}
