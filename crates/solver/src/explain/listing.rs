//! Context listings: a compact text form of one context selection (path → kind, mode and a
//! short content digest), stored once per selection digest so that a later build can name
//! the files that changed, appeared or disappeared. Huge selections are folded into one line
//! per directory prefix so a listing stays bounded.
//!
//! Selecting and hashing files is fileop's job; storing listings is the store's.

use std::collections::{BTreeMap, BTreeSet};

use rbuild_fileop::select::{EntryKind, SourceMatch};
use rbuild_oci::Digest;

/// Beyond this many entries, deeper paths are folded into per-directory lines.
const MAX_LINES: usize = 50_000;
/// Hex digits of a file's content digest a listing keeps (collisions only hide a change
/// from the explanation, never from the cache key).
const SHORT_DIGEST: usize = 16;
/// Marks a folded line: the value is `+ <entries> <digest of their lines>`.
const FOLDED: &str = "+ ";

/// One selection's listing: path → what the path is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Listing {
    lines: BTreeMap<String, String>,
}

/// What differs between two listings, by path. A folded path ends in `/`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileChanges {
    pub changed: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl FileChanges {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }
}

impl Listing {
    /// The listing of `matches`, whose regular files have `file_digests` (in entry order).
    pub fn of_selection(matches: &[SourceMatch], file_digests: &[Digest]) -> Listing {
        let mut digests = file_digests.iter();
        let mut lines = BTreeMap::new();
        for entry in matches.iter().flat_map(|m| &m.entries) {
            let mode = entry.mode;
            let value = match &entry.kind {
                EntryKind::Dir => format!("d {mode:o}"),
                EntryKind::Symlink(target) => format!("l {}", escape(target)),
                EntryKind::File => {
                    let hex = digests.next().map(Digest::hex).unwrap_or_default();
                    format!("f {mode:o} {}", &hex[..hex.len().min(SHORT_DIGEST)])
                }
            };
            lines.insert(entry.rel_path.clone(), value);
        }
        Listing { lines: fold(lines) }
    }

    /// The stored text: `path<TAB>value` lines in path order.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for (path, value) in &self.lines {
            text.push_str(&escape(path));
            text.push('\t');
            text.push_str(value);
            text.push('\n');
        }
        text
    }

    /// Parses `to_text` output; malformed lines are skipped.
    pub fn from_text(text: &str) -> Listing {
        let lines = text
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .map(|(path, value)| (unescape(path), value.to_string()))
            .collect();
        Listing { lines }
    }

    /// What changed from `before` to `self`. Paths folded on one side are compared as
    /// directories: a file under a folded prefix counts as that prefix.
    pub fn changes_since(&self, before: &Listing) -> FileChanges {
        let (now, then) = (self.aligned_with(before), before.aligned_with(self));
        let mut changes = FileChanges::default();
        for (path, value) in &now {
            match then.get(path) {
                None => changes.added.push(path.clone()),
                Some(old) if old != value => changes.changed.push(path.clone()),
                Some(_) => {}
            }
        }
        changes.removed = then
            .keys()
            .filter(|path| !now.contains_key(*path))
            .cloned()
            .collect();
        changes
    }

    /// This listing with every path that `other` folded folded the same way.
    fn aligned_with(&self, other: &Listing) -> BTreeMap<String, String> {
        let prefixes: BTreeSet<&str> = other
            .lines
            .iter()
            .filter(|(_, value)| value.starts_with(FOLDED))
            .map(|(path, _)| path.as_str())
            .collect();
        if prefixes.is_empty() {
            return self.lines.clone();
        }
        regroup(&self.lines, |path| {
            prefixes
                .iter()
                .find(|prefix| path.starts_with(*prefix))
                .map_or_else(|| path.to_string(), |prefix| prefix.to_string())
        })
    }
}

/// Folds paths deeper than some depth into one line per prefix of that depth, choosing the
/// deepest depth whose line count stays within `MAX_LINES`.
fn fold(lines: BTreeMap<String, String>) -> BTreeMap<String, String> {
    if lines.len() <= MAX_LINES {
        return lines;
    }
    let mut depth = 1;
    while count_at_depth(&lines, depth + 1) <= MAX_LINES {
        depth += 1;
    }
    regroup(&lines, |path| {
        prefix_at_depth(path, depth).unwrap_or_else(|| path.to_string())
    })
}

/// Lines grouped under `key(path)`: a group of one line that is its own key stays as it is
/// (a shallow path, or a line folded the same way already); others become a folded line.
fn regroup(
    lines: &BTreeMap<String, String>,
    key: impl Fn(&str) -> String,
) -> BTreeMap<String, String> {
    let mut groups: BTreeMap<String, Vec<(&String, &String)>> = BTreeMap::new();
    for (path, value) in lines {
        groups.entry(key(path)).or_default().push((path, value));
    }
    groups
        .into_iter()
        .map(|(key, members)| {
            let value = match members.as_slice() {
                [(path, value)] if **path == key => (*value).clone(),
                _ => folded_value(&members),
            };
            (key, value)
        })
        .collect()
}

fn count_at_depth(lines: &BTreeMap<String, String>, depth: usize) -> usize {
    lines
        .keys()
        .map(|path| prefix_at_depth(path, depth).unwrap_or_else(|| path.clone()))
        .collect::<BTreeSet<_>>()
        .len()
}

/// The first `depth` components of `path` with a trailing `/`, when the path is deeper.
fn prefix_at_depth(path: &str, depth: usize) -> Option<String> {
    let (index, _) = path.match_indices('/').nth(depth - 1)?;
    Some(path[..=index].to_string())
}

/// The line standing for several: their count and a digest of their lines.
fn folded_value(members: &[(&String, &String)]) -> String {
    let mut text = String::new();
    for (path, value) in members {
        text.push_str(path);
        text.push('\t');
        text.push_str(value);
        text.push('\n');
    }
    let digest = Digest::of(text.as_bytes());
    format!(
        "{FOLDED}{} {}",
        members.len(),
        &digest.hex()[..SHORT_DIGEST]
    )
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(entries: &[(&str, &str)]) -> Listing {
        Listing {
            lines: entries
                .iter()
                .map(|(p, v)| (p.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn text_round_trips_awkward_names() {
        let original = listing(&[("a\tb", "f 644 00"), ("new\nline\\x", "l target\\t")]);
        assert_eq!(Listing::from_text(&original.to_text()), original);
    }

    #[test]
    fn changes_name_changed_added_and_removed_paths() {
        let before = listing(&[("a", "f 644 01"), ("b", "f 644 02"), ("c", "d 755")]);
        let after = listing(&[("a", "f 644 09"), ("c", "d 755"), ("d", "f 644 03")]);
        let changes = after.changes_since(&before);
        assert_eq!(changes.changed, ["a"]);
        assert_eq!(changes.added, ["d"]);
        assert_eq!(changes.removed, ["b"]);
        assert!(after.changes_since(&after).is_empty());
    }

    #[test]
    fn huge_selections_fold_by_directory_and_still_locate_a_change() {
        let mut lines = BTreeMap::new();
        for d in 0..300 {
            for f in 0..200 {
                lines.insert(format!("src/d{d}/f{f}"), "f 644 00".to_string());
            }
        }
        let before = Listing {
            lines: fold(lines.clone()),
        };
        assert!(before.lines.len() <= MAX_LINES);
        assert!(
            before.lines.contains_key("src/d7/"),
            "{:?}",
            before.lines.keys().next()
        );
        lines.insert("src/d7/f3".to_string(), "f 644 11".to_string());
        let unfolded_with_change = lines.clone();
        let after = Listing { lines: fold(lines) };
        let changes = after.changes_since(&before);
        assert_eq!(changes.changed, ["src/d7/"]);
        assert!(changes.added.is_empty() && changes.removed.is_empty());
        // An unfolded listing compared with a folded one is folded the same way: only the
        // directory that really differs shows.
        let unfolded = Listing {
            lines: unfolded_with_change,
        };
        let changes = unfolded.changes_since(&before);
        assert_eq!(changes.changed, ["src/d7/"]);
    }
}
