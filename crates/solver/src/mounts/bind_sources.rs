//! `RUN --mount=type=bind` sources: what the sandbox mounts for a bind from the build
//! context, from another vertex (stage or image) or from inline files (shebang heredocs).
//!
//! A context bind shows exactly the files COPY would select (after .dockerignore), copied
//! into a scratch directory of the store, so ignored files stay invisible — the same
//! selection whose digest is in the step's key. A vertex bind shows the vertex's layers.
//! Either way the mount is a layer view: `rw` writes go to a throw-away upper dir.
//!
//! This module does not select or digest files (the solver's `context` module does).

use std::path::{Path, PathBuf};

use rbuild_cache::{ScratchDir, Store};
use rbuild_exec::MountSource;
use rbuild_fileop::copy::{copy_into_root, write_inline_files, CopyOptions};

use crate::context::ContextSelection;
use crate::error::StepFailure;
use crate::graph::InlineFile;

/// Where the selection lands inside its scratch directory.
const SELECTION_DIR: &str = "selection";

/// The selected context files, copied into a scratch directory that must outlive the run.
pub(crate) fn context_bind(
    store: &Store,
    selection: &ContextSelection,
) -> Result<(MountSource, ScratchDir), StepFailure> {
    let scratch = store.scratch_dir("bind-context")?;
    copy_into_root(
        scratch.path(),
        &format!("/{SELECTION_DIR}"),
        &selection.matches,
        &CopyOptions::default(),
    )?;
    let source = layer_view(vec![scratch.path().to_path_buf()], SELECTION_DIR);
    Ok((source, scratch))
}

/// Inline files written into a scratch directory, mounted from `source_path` in it.
pub(crate) fn inline_bind(
    store: &Store,
    files: &[InlineFile],
    source_path: &str,
) -> Result<(MountSource, ScratchDir), StepFailure> {
    let scratch = store.scratch_dir("bind-inline")?;
    let contents: Vec<(String, Vec<u8>, u32)> = files
        .iter()
        .map(|f| (f.name.clone(), f.content.clone().into_bytes(), f.mode))
        .collect();
    let options = CopyOptions {
        dest_is_dir_hint: true,
        ..CopyOptions::default()
    };
    write_inline_files(scratch.path(), "/", &contents, &options)?;
    let source = layer_view(vec![scratch.path().to_path_buf()], source_path);
    Ok((source, scratch))
}

/// A vertex's filesystem (`lowers`, top-most first), from `source_path` in it. An empty
/// filesystem (`FROM scratch`) is shown through `empty`, an empty scratch directory.
pub(crate) fn vertex_bind(
    lowers: Vec<PathBuf>,
    source_path: &str,
    empty: impl FnOnce() -> Result<PathBuf, StepFailure>,
) -> Result<MountSource, StepFailure> {
    let lowers = if lowers.is_empty() {
        vec![empty()?]
    } else {
        lowers
    };
    Ok(layer_view(lowers, source_path))
}

fn layer_view(lowers: Vec<PathBuf>, subpath: &str) -> MountSource {
    MountSource::Layers {
        lowers,
        subpath: subpath.to_string(),
        upper: None,
    }
}

/// The path a bind mount's `source` selects in a context, as COPY writes sources.
pub(crate) fn context_source_path(source_path: &str) -> String {
    let relative = Path::new(source_path)
        .strip_prefix("/")
        .unwrap_or(Path::new(source_path));
    match relative.to_string_lossy().as_ref() {
        "" => ".".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_sources_become_context_paths() {
        assert_eq!(context_source_path("/"), ".");
        assert_eq!(context_source_path("/src/app"), "src/app");
        assert_eq!(context_source_path("src"), "src");
    }
}
