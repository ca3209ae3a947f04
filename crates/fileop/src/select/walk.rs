//! Walking a selected directory: every descendant in BuildKit's walk order (parents first,
//! siblings by name), skipping what the exclusions hide, pruning excluded directories no
//! exception can reach into, and keeping an excluded directory after all when something
//! below it is re-included (as BuildKit's filtered walk does). Symlinks are entries, never
//! followed; deciding what a source names is `select`'s and `wildcard`'s job.

use std::fs::DirEntry;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::entry::{self, EntryKind};
use super::{SelectError, SelectedEntry};
use crate::lexical::join_relative;
use crate::patterns::{MatchTrail, PathPatterns};

/// The two exclusion sets a walk applies.
#[derive(Clone, Copy)]
pub(super) struct Exclusions<'a> {
    /// Matched against paths relative to the root (.dockerignore).
    pub(super) context: &'a PathPatterns,
    /// Matched against paths relative to the selected source (`--exclude`).
    pub(super) source: &'a PathPatterns,
}

/// The entries of a match: `top` itself and, when it is a directory, its visible
/// descendants. An excluded `top` is kept only if something below it is re-included; an empty
/// result means nothing of it is visible.
pub(super) fn gather(
    exclusions: &Exclusions,
    top: SelectedEntry,
    top_excluded: bool,
    top_real_rel: &str,
) -> Result<Vec<SelectedEntry>, SelectError> {
    let is_dir = top.kind == EntryKind::Dir;
    if top_excluded && !(is_dir && exclusions.context.exception_may_reach_below(top_real_rel)) {
        return Ok(Vec::new());
    }
    if !is_dir {
        return Ok(vec![top]);
    }
    let cursor = DirCursor {
        host: top.host_path.clone(),
        shown: if top.rel_path == "." {
            String::new()
        } else {
            top.rel_path.clone()
        },
        real: top_real_rel.to_string(),
        sub: String::new(),
        context_trail: exclusions.context.trail_of(top_real_rel),
        source_trail: MatchTrail::default(),
        depth: 0,
    };
    let mut entries = visit(exclusions, &cursor)?;
    if !(top_excluded && entries.is_empty()) {
        // `visit` leaves room for this one, so the insert moves entries but allocates none.
        entries.insert(0, top);
    }
    Ok(entries)
}

/// Appends `entry` and what is visible below it; an excluded entry only when something
/// below it is visible.
fn splice(
    out: &mut Vec<SelectedEntry>,
    entry: SelectedEntry,
    excluded: bool,
    below: Vec<SelectedEntry>,
) {
    if excluded && below.is_empty() {
        return;
    }
    out.push(entry);
    out.extend(below);
}

/// Where the walk is: one directory under its three names.
struct DirCursor {
    host: PathBuf,
    /// As the source names it (what entries are called).
    shown: String,
    /// Relative to the root, symlinks resolved (what .dockerignore sees).
    real: String,
    /// Relative to the selected source (what `--exclude` sees).
    sub: String,
    context_trail: MatchTrail,
    source_trail: MatchTrail,
    /// How many directories below the selected top this is (the top is 0).
    depth: usize,
}

/// How deep below a selected directory the walk goes before it refuses: far deeper than
/// real trees nest, and shallow enough that the recursive walk stays well within a thread's
/// stack.
pub const MAX_TREE_DEPTH: usize = 256;

/// Directories this close to the top are walked in parallel; deeper ones one by one (the
/// parallel frames are large, and the top levels give the pool enough work).
const PARALLEL_DEPTH: usize = 3;

/// The visible entries below `dir`, in walk order. Subdirectories are walked in parallel
/// (stat calls dominate a walk) and spliced back in name order.
fn visit(exclusions: &Exclusions, dir: &DirCursor) -> Result<Vec<SelectedEntry>, SelectError> {
    if dir.depth >= MAX_TREE_DEPTH {
        return Err(SelectError::TooDeep {
            path: dir.shown.clone(),
            limit: MAX_TREE_DEPTH,
        });
    }
    let mut slots = Vec::new();
    for child in sorted_children(&dir.host)? {
        if let Some(slot) = examine(exclusions, dir, &child)? {
            slots.push(slot);
        }
    }
    let below = |slot: &Slot| match &slot.walk_below {
        Some(cursor) => visit(exclusions, cursor).map(Some),
        None => Ok(None),
    };
    let subtrees = if dir.depth < PARALLEL_DEPTH {
        slots.par_iter().map(below).collect::<Result<Vec<_>, _>>()?
    } else {
        slots.iter().map(below).collect::<Result<Vec<_>, _>>()?
    };
    // Sized once: regrowing a vector of ten thousand entries level by level copied it into
    // fresh pages several times over. One spare slot for the caller's own entry.
    let total = slots.len() + subtrees.iter().flatten().map(Vec::len).sum::<usize>();
    let mut entries = Vec::with_capacity(total + 1);
    for (slot, below) in slots.into_iter().zip(subtrees) {
        splice(
            &mut entries,
            slot.entry,
            slot.excluded,
            below.unwrap_or_default(),
        );
    }
    Ok(entries)
}

/// A child of the directory being walked, before its subtree is known.
struct Slot {
    entry: SelectedEntry,
    /// Excluded itself: kept only if something below it is visible.
    excluded: bool,
    /// Where to walk below it, when it is a directory that may hold visible entries.
    walk_below: Option<DirCursor>,
}

/// Stats one child and decides whether it is excluded and whether to walk below it. `None`
/// for special files and for children that are neither visible nor worth walking into.
fn examine(
    exclusions: &Exclusions,
    dir: &DirCursor,
    child: &DirEntry,
) -> Result<Option<Slot>, SelectError> {
    let host = child.path();
    let name = child_name(child)?;
    let metadata = child.metadata().map_err(|source| SelectError::Io {
        path: host.clone(),
        source,
    })?;
    let shown = join_relative(&dir.shown, &name);
    let (context, source) = (exclusions.context, exclusions.source);
    // Paths only a non-empty pattern list looks at are not built at all.
    let real = if context.is_empty() {
        String::new()
    } else {
        join_relative(&dir.real, &name)
    };
    let sub = if source.is_empty() {
        String::new()
    } else {
        join_relative(&dir.sub, &name)
    };
    let context_trail = context.descend(&dir.context_trail, &real);
    let source_trail = source.descend(&dir.source_trail, &sub);
    let context_excluded = context.decide(&context_trail);
    let source_excluded = source.decide(&source_trail);
    let excluded = context_excluded || source_excluded;
    let walk_below = metadata.is_dir()
        && (!context_excluded || context.exception_may_reach_below(&real))
        && (!source_excluded || source.exception_may_reach_below(&sub));
    if excluded && !walk_below {
        return Ok(None);
    }
    let cursor = walk_below.then(|| DirCursor {
        host: host.clone(),
        shown: shown.clone(),
        real,
        sub,
        context_trail,
        source_trail,
        depth: dir.depth + 1,
    });
    let Some(entry) = entry::from_metadata(shown, host, &metadata)? else {
        tracing::debug!(path = %child.path().display(), "skipping special file");
        return Ok(None);
    };
    Ok(Some(Slot {
        entry,
        excluded,
        walk_below: cursor,
    }))
}

/// The children of `dir`, sorted by name bytes.
fn sorted_children(dir: &Path) -> Result<Vec<DirEntry>, SelectError> {
    let io_error = |source| SelectError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut children = std::fs::read_dir(dir)
        .map_err(io_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_error)?;
    children.sort_by_cached_key(DirEntry::file_name);
    Ok(children)
}

fn child_name(child: &DirEntry) -> Result<String, SelectError> {
    child
        .file_name()
        .into_string()
        .map_err(|_| SelectError::NonUtf8Path { path: child.path() })
}
