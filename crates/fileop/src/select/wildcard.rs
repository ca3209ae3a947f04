//! Expanding a wildcard source the way BuildKit's `ResolveWildcards` does: the components
//! before the first wildcard are resolved inside the root (symlinks followed), then each
//! remaining component is matched with `filepath.Match` against directory entries in sorted
//! order, descending only into real directories.
//!
//! Gathering each match's entries is `build_match`'s job.

use std::path::Path;

use super::{Candidate, SelectError, Selector, SourceMatch};
use crate::lexical::join_relative;
use crate::patterns::{has_wildcards, GlobPattern};
use crate::scoped::{is_missing, relative_to_root, resolve_in_root};

/// Every visible match of the wildcard source `rel` (cleaned, relative to `root`).
pub(super) fn expand(
    selector: &Selector,
    source: &str,
    rel: &str,
) -> Result<Vec<SourceMatch>, SelectError> {
    let components: Vec<&str> = rel.split('/').collect();
    let first_wild = components
        .iter()
        .position(|component| has_wildcards(component))
        .unwrap_or(components.len());
    // As in BuildKit, the literal part is used as written: escapes only mean something to
    // the wildcard components.
    let base_rel = components[..first_wild].join("/");
    let patterns = components[first_wild..]
        .iter()
        .map(|component| GlobPattern::new(component))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| SelectError::BadWildcard {
            name: source.to_string(),
            error,
        })?;
    let base_host = resolve_in_root(selector.root, &base_rel, true)?;
    let mut found = Vec::new();
    let mut search = Search {
        selector,
        source,
        patterns: &patterns,
        found: &mut found,
    };
    search.descend(&base_host, &base_rel, "", 0)?;
    Ok(found)
}

struct Search<'a> {
    selector: &'a Selector<'a>,
    source: &'a str,
    patterns: &'a [GlobPattern],
    found: &'a mut Vec<SourceMatch>,
}

impl Search<'_> {
    /// Matches component `depth` against the entries of `dir`.
    fn descend(
        &mut self,
        dir: &Path,
        shown: &str,
        wild: &str,
        depth: usize,
    ) -> Result<(), SelectError> {
        let last = depth + 1 == self.patterns.len();
        for name in sorted_names(dir)? {
            if !self.patterns[depth].matches(&name) {
                continue;
            }
            let host = dir.join(&name);
            let shown = join_relative(shown, &name);
            let wild = join_relative(wild, &name);
            if last {
                self.accept(&host, shown, wild)?;
            } else if std::fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir()) {
                self.descend(&host, &shown, &wild, depth + 1)?;
            }
        }
        Ok(())
    }

    fn accept(
        &mut self,
        host: &Path,
        shown_rel: String,
        wildcard_part: String,
    ) -> Result<(), SelectError> {
        let root = self.selector.root;
        let host = if self.selector.follow_top_symlinks {
            let real_rel =
                relative_to_root(root, host).ok_or_else(|| SelectError::NonUtf8Path {
                    path: host.to_path_buf(),
                })?;
            resolve_in_root(root, &real_rel, true)?
        } else {
            host.to_path_buf()
        };
        let candidate = Candidate {
            shown_rel,
            host,
            wildcard_part: Some(wildcard_part),
        };
        if let Some(found) = self.selector.build_match(self.source, &candidate)? {
            self.found.push(found);
        }
        Ok(())
    }
}

/// The names in `dir` in byte order; none when `dir` is missing or not a directory.
fn sorted_names(dir: &Path) -> Result<Vec<String>, SelectError> {
    let io_error = |source| SelectError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if is_missing(&err) => return Ok(Vec::new()),
        Err(err) => return Err(io_error(err)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error)?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| SelectError::NonUtf8Path { path: entry.path() })?;
        names.push(name);
    }
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}
