//! ADD's remote sources (URLs and git repositories): resolving each to the version a cache
//! key names — the sha256 of a URL's bytes (or its `--checksum`), a repository's commit —
//! and, when the step has to run, fetching what resolving did not into scratch directories
//! of the store and selecting what the copy takes from each.
//!
//! Downloads and checkouts are `http`'s and `git`'s; applying the copy is `ops`'. Nothing
//! fetched here outlives the step: its scratch directories go when dropped.

mod error;
mod git;
mod http;

use rbuild_cache::{ScratchDir, Store};
use rbuild_fileop::patterns::PathPatterns;
use rbuild_fileop::select::{select_sources_excluding, SelectError, SelectOptions, SourceMatch};
use rbuild_oci::Digest;
use serde::Serialize;

pub use error::RemoteError;

use crate::error::StepFailure;
use crate::graph::{GitSource, HttpSource, Op, RemoteSource};

/// What a cache key records of one remote source's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteVersion {
    /// A URL's file: the sha256 of its bytes and, when the server sent one, its
    /// `Last-Modified` time (Unix seconds; it becomes the file's mtime). With `--checksum`
    /// the digest is the checksum and there is no time: nothing was downloaded.
    File {
        digest: Digest,
        modified: Option<i64>,
    },
    /// A repository at a commit.
    Commit { commit: String },
}

/// One remote source of a step, resolved.
pub(crate) struct ResolvedRemote<'g> {
    pub version: RemoteVersion,
    /// The URL or repository, for messages.
    label: &'g str,
    /// The path the copy takes from what is fetched.
    path: &'g str,
    pending: Pending<'g>,
}

/// What is left to do before the copy can read a resolved source.
enum Pending<'g> {
    /// Nothing: resolving downloaded it already.
    Fetched(ScratchDir),
    /// Download, then verify against the checksum.
    Download {
        source: &'g HttpSource,
        expected: Digest,
    },
    /// Check out the resolved commit.
    Checkout {
        source: &'g GitSource,
        commit: String,
    },
}

/// A build context from a git repository: `source` resolved to a commit and checked out
/// as ADD checks one out, into scratch space of the store. Returns the commit and the
/// checkout (removed when dropped).
pub fn checkout_git_context(
    store: &Store,
    source: &GitSource,
) -> Result<(String, ScratchDir), RemoteError> {
    let commit = git::resolve_commit(source)?;
    let checkout = git::checkout(store, source, &commit)?;
    Ok((commit, checkout))
}

/// Resolves every remote source of `op` (there are none unless it is a remote ADD). A URL
/// without `--checksum` is downloaded now: its digest is only known from its bytes.
pub(crate) fn resolve<'g>(
    store: &Store,
    op: &'g Op,
) -> Result<Vec<ResolvedRemote<'g>>, RemoteError> {
    let Some((sources, paths)) = (match op {
        Op::Copy(copy) => copy.remote_sources(),
        _ => None,
    }) else {
        return Ok(Vec::new());
    };
    sources
        .iter()
        .zip(paths)
        .map(|(source, path)| resolve_one(store, source, path))
        .collect()
}

fn resolve_one<'g>(
    store: &Store,
    source: &'g RemoteSource,
    path: &'g str,
) -> Result<ResolvedRemote<'g>, RemoteError> {
    let (label, version, pending) = match source {
        RemoteSource::Http(http) => match &http.checksum {
            Some(checksum) => (
                http.url.as_str(),
                RemoteVersion::File {
                    digest: checksum.clone(),
                    modified: None,
                },
                Pending::Download {
                    source: http,
                    expected: checksum.clone(),
                },
            ),
            None => {
                let download = http::download(store, &http.url, path, None)?;
                (
                    http.url.as_str(),
                    RemoteVersion::File {
                        digest: download.digest,
                        modified: download.modified,
                    },
                    Pending::Fetched(download.root),
                )
            }
        },
        RemoteSource::Git(git) => {
            let commit = git::resolve_commit(git)?;
            (
                git.remote.as_str(),
                RemoteVersion::Commit {
                    commit: commit.clone(),
                },
                Pending::Checkout {
                    source: git,
                    commit,
                },
            )
        }
    };
    Ok(ResolvedRemote {
        version,
        label,
        path,
        pending,
    })
}

/// The files a remote copy takes, in source order, and the scratch directories they are in
/// (removed when this is dropped).
pub(crate) struct RemoteFiles {
    pub matches: Vec<SourceMatch>,
    _roots: Vec<ScratchDir>,
}

/// Fetches whatever resolving left to fetch and selects each source's path in it, minus
/// the `--exclude` patterns.
pub(crate) fn fetch(
    store: &Store,
    resolved: Vec<ResolvedRemote<'_>>,
    excludes: &[String],
) -> Result<RemoteFiles, StepFailure> {
    let excludes = PathPatterns::new(excludes)?;
    let mut files = RemoteFiles {
        matches: Vec::new(),
        _roots: Vec::new(),
    };
    for remote in resolved {
        let root = match remote.pending {
            Pending::Fetched(root) => root,
            Pending::Download { source, expected } => {
                http::download(store, &source.url, remote.path, Some(&expected))?.root
            }
            Pending::Checkout { source, commit } => git::checkout(store, source, &commit)?,
        };
        let selected = select(&root, remote.path, &excludes).map_err(|e| match e {
            SelectError::SourceNotFound { .. }
            | SelectError::SourceExcluded { .. }
            | SelectError::NothingMatched { .. } => RemoteError::PathNotFound {
                remote: remote.label.to_string(),
                path: remote.path.to_string(),
            }
            .into(),
            other => StepFailure::from(other),
        })?;
        files.matches.extend(selected);
        files._roots.push(root);
    }
    Ok(files)
}

/// Selects `path` under `root`, as a COPY from another stage would.
fn select(
    root: &ScratchDir,
    path: &str,
    excludes: &PathPatterns,
) -> Result<Vec<SourceMatch>, SelectError> {
    let nothing_ignored = PathPatterns::default();
    let options = SelectOptions {
        excludes: &nothing_ignored,
        follow_top_symlinks: true,
        allow_empty_wildcard: false,
    };
    select_sources_excluding(root.path(), &[path.to_string()], &options, excludes)
}

#[cfg(test)]
mod tests;
