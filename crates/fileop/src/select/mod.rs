//! COPY/ADD source selection with BuildKit's semantics: which paths under a root (the build
//! context, or another stage's filesystem) each source names, after wildcards, .dockerignore
//! and `--exclude`. Content hashing and copying both start from this one selection, so the
//! cache key always covers exactly the files that get copied.
//!
//! Selection only reads metadata; it neither hashes nor copies file contents.

pub(crate) mod entry;
mod walk;
mod wildcard;

use std::io;
use std::path::{Path, PathBuf};

use crate::lexical::clean_relative;
use crate::memo::FileStamp;
use crate::patterns::{has_wildcards, PathPatterns};
use crate::scoped::{is_missing, relative_to_root, resolve_in_root, ScopeError};

pub use entry::EntryKind;
use walk::Exclusions;
pub use walk::MAX_TREE_DEPTH;

/// How sources are selected.
#[derive(Clone, Copy, Debug)]
pub struct SelectOptions<'a> {
    /// Root-relative exclusions: the .dockerignore patterns of the build context. Excluded
    /// paths are invisible, as if they were not in the context at all. (`COPY --exclude`
    /// patterns are relative to each source in BuildKit: see `select_sources_excluding`.)
    pub excludes: &'a PathPatterns,
    /// Whether a source that is itself a symlink is followed (its target's content is
    /// selected under the link's name). The Dockerfile frontend always sets this.
    pub follow_top_symlinks: bool,
    /// Whether sources that all match nothing are acceptable.
    pub allow_empty_wildcard: bool,
}

/// What one source matched: a path and, for a directory, everything below it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceMatch {
    /// The source as written in the instruction.
    pub source: String,
    /// The matched path relative to the root, '/'-separated; `.` for the root itself.
    pub rel_path: String,
    /// The match itself first, then (for a directory) every descendant that is not excluded,
    /// parents before children, siblings in byte order of their names.
    pub entries: Vec<SelectedEntry>,
}

impl SourceMatch {
    /// Where `entry` (one of this match's entries) lies relative to the match: `""` for the
    /// match itself, `sub/file` for a descendant.
    pub fn path_within<'e>(&self, entry: &'e SelectedEntry) -> &'e str {
        if self.rel_path == "." {
            return if entry.rel_path == "." {
                ""
            } else {
                &entry.rel_path
            };
        }
        entry
            .rel_path
            .strip_prefix(self.rel_path.as_str())
            .map_or(&entry.rel_path, |rest| {
                rest.strip_prefix('/').unwrap_or(rest)
            })
    }
}

/// One selected file, directory or symlink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectedEntry {
    /// Path relative to the root as the source names it: under a followed top-level symlink,
    /// entries keep the link's name (`link/x`), while `host_path` is where they really are.
    pub rel_path: String,
    pub kind: EntryKind,
    /// Permission bits including setuid, setgid and sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// The owner's `(uid, gid)` where the entry is; a copy keeps it only when asked
    /// (`COPY --from`), context files become 0:0.
    pub owner: (u32, u32),
    pub size: u64,
    pub stamp: FileStamp,
    pub host_path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("{name:?}: file not found in build context or excluded by .dockerignore")]
    SourceNotFound { name: String },
    #[error("{name:?}: excluded from the build context by the .dockerignore rule {rule:?}")]
    SourceExcluded { name: String, rule: String },
    #[error("source {name:?} is not a valid wildcard pattern: {error}")]
    BadWildcard {
        name: String,
        #[source]
        error: crate::patterns::PatternError,
    },
    #[error("no source files were specified: {} matched nothing", .sources.join(", "))]
    NothingMatched { sources: Vec<String> },
    #[error("{path:?}: only regular files, directories and symlinks can be copied")]
    UnsupportedFileType { path: PathBuf },
    #[error("{path:?}: directories nest more than {limit} deep")]
    TooDeep { path: String, limit: usize },
    #[error("{path:?}: names starting with \".wh.\" are reserved for whiteouts in image layers")]
    WhiteoutName { path: String },
    #[error("{path:?}: file names must be valid UTF-8")]
    NonUtf8Path { path: PathBuf },
    #[error("reading {path:?}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Scope(#[from] ScopeError),
}

/// Selects what each of `sources` names under `root`, in order. A literal source that does
/// not exist or is excluded is an error naming it; wildcards expand to every visible match in
/// sorted order, and only when every source matched nothing is that an error (unless
/// `allow_empty_wildcard`).
pub fn select_sources(
    root: &Path,
    sources: &[String],
    opts: &SelectOptions,
) -> Result<Vec<SourceMatch>, SelectError> {
    select_sources_excluding(root, sources, opts, &PathPatterns::default())
}

/// `select_sources` with `COPY --exclude` patterns as BuildKit applies them: matched against
/// paths relative to each matched source (`COPY --exclude=*.md docs/ /d/` skips
/// `docs/a.md`) and against the wildcard part of a wildcard match (`COPY --exclude=*.txt
/// hom* /d/` skips `home.txt`), never against the root-relative path.
pub fn select_sources_excluding(
    root: &Path,
    sources: &[String],
    opts: &SelectOptions,
    copy_excludes: &PathPatterns,
) -> Result<Vec<SourceMatch>, SelectError> {
    let selector = Selector {
        root,
        exclusions: Exclusions {
            context: opts.excludes,
            source: copy_excludes,
        },
        follow_top_symlinks: opts.follow_top_symlinks,
    };
    let mut matches = Vec::new();
    for source in sources {
        let rel = clean_relative(source);
        if has_wildcards(&rel) {
            matches.extend(wildcard::expand(&selector, source, &rel)?);
        } else {
            matches.push(selector.literal(source, &rel)?);
        }
    }
    if matches.is_empty() && !sources.is_empty() && !opts.allow_empty_wildcard {
        return Err(SelectError::NothingMatched {
            sources: sources.to_vec(),
        });
    }
    Ok(matches)
}

/// A path a source names, before its entries are gathered.
struct Candidate {
    /// The path as the source names it, relative to the root (`""` for the root).
    shown_rel: String,
    /// Where it is on the host, symlinks resolved as requested.
    host: PathBuf,
    /// For a wildcard match, the part matched by the wildcard components (what
    /// `--exclude` patterns are matched against).
    wildcard_part: Option<String>,
}

/// One selection's root and rules.
struct Selector<'a> {
    root: &'a Path,
    exclusions: Exclusions<'a>,
    follow_top_symlinks: bool,
}

impl Selector<'_> {
    fn literal(&self, source: &str, rel: &str) -> Result<SourceMatch, SelectError> {
        let candidate = Candidate {
            shown_rel: rel.to_string(),
            host: resolve_in_root(self.root, rel, self.follow_top_symlinks)?,
            wildcard_part: None,
        };
        match self.build_match(source, &candidate)? {
            Some(found) => Ok(found),
            None => Err(self.why_missing(source, &candidate)),
        }
    }

    /// The error for a literal source with nothing to copy: the .dockerignore rule that
    /// hides it when it exists, else not found.
    fn why_missing(&self, source: &str, candidate: &Candidate) -> SelectError {
        let context = self.exclusions.context;
        let rule = std::fs::symlink_metadata(&candidate.host)
            .ok()
            .and_then(|_| relative_to_root(self.root, &candidate.host))
            .and_then(|real_rel| {
                context
                    .excluding_rule(&real_rel)
                    .or_else(|| context.excluding_rule(&candidate.shown_rel))
                    .map(str::to_string)
            });
        match rule {
            Some(rule) => SelectError::SourceExcluded {
                name: source.to_string(),
                rule,
            },
            None => SelectError::SourceNotFound {
                name: source.to_string(),
            },
        }
    }

    /// Gathers the entries of one candidate; `None` when it does not exist or nothing of it
    /// is visible through the exclusions.
    fn build_match(
        &self,
        source: &str,
        candidate: &Candidate,
    ) -> Result<Option<SourceMatch>, SelectError> {
        let host = &candidate.host;
        let metadata = match std::fs::symlink_metadata(host) {
            Ok(metadata) => metadata,
            Err(err) if is_missing(&err) => return Ok(None),
            Err(source) => {
                return Err(SelectError::Io {
                    path: host.clone(),
                    source,
                })
            }
        };
        let real_rel = relative_to_root(self.root, host)
            .ok_or_else(|| SelectError::NonUtf8Path { path: host.clone() })?;
        let Exclusions {
            context,
            source: copy_excludes,
        } = self.exclusions;
        if let Some(part) = &candidate.wildcard_part {
            if copy_excludes.is_excluded(part) {
                return Ok(None);
            }
        }
        let shown_rel = if candidate.shown_rel.is_empty() {
            "."
        } else {
            &candidate.shown_rel
        };
        let top = entry::from_metadata(shown_rel.to_string(), host.clone(), &metadata)?
            .ok_or_else(|| SelectError::UnsupportedFileType { path: host.clone() })?;
        let top_excluded =
            context.is_excluded(&real_rel) || context.is_excluded(&candidate.shown_rel);
        let entries = walk::gather(&self.exclusions, top, top_excluded, &real_rel)?;
        Ok((!entries.is_empty()).then(|| SourceMatch {
            source: source.to_string(),
            rel_path: shown_rel.to_string(),
            entries,
        }))
    }
}

#[cfg(test)]
mod tests;
