//! Docker's path patterns, as moby's `patternmatcher` and `ignorefile` packages define them:
//! reading a .dockerignore file, deciding whether a path is excluded (last matching rule wins,
//! `!` rules are exceptions, a rule matching a parent directory excludes everything below it),
//! and telling a directory walk when a whole excluded directory can be skipped.
//!
//! Patterns only; walking directories is `select`'s job.

mod glob;
mod ignore_file;
mod rule;
mod tokens;

pub use glob::glob_match;
pub(crate) use glob::{has_wildcards, GlobPattern};
pub use ignore_file::parse_ignore_file;

use crate::lexical::clean_path;
use rule::PathRule;

/// A pattern that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("illegal exclusion pattern: \"!\"")]
    LoneExclamation,
    #[error("invalid pattern {pattern:?}: {reason}")]
    Syntax {
        pattern: String,
        reason: &'static str,
    },
}

/// An ordered, compiled list of .dockerignore-style patterns. Immutable once built.
#[derive(Clone, Debug, Default)]
pub struct PathPatterns {
    rules: Vec<CompiledRule>,
    has_exclusions: bool,
}

#[derive(Clone, Debug)]
struct CompiledRule {
    /// The pattern as written (trimmed), for messages.
    text: String,
    exception: bool,
    rule: PathRule,
}

/// Per rule, whether it matched a path or one of its ancestors; carried down a directory
/// walk so that each path is matched once, not once per ancestor.
#[derive(Clone, Debug, Default)]
pub(crate) struct MatchTrail {
    matched: Vec<bool>,
}

impl PathPatterns {
    /// Compiles `patterns` as moby's `patternmatcher.New` does: each is trimmed, empty ones are
    /// skipped, a leading `!` marks an exception, the rest is cleaned (Go `filepath.Clean`, so
    /// `./a` is `a` and `a/` is `a`), and syntax errors name the offending pattern. A leading
    /// `/` is kept, as moby keeps it; `parse_ignore_file` removes it from .dockerignore lines.
    pub fn new(patterns: &[String]) -> Result<PathPatterns, PatternError> {
        let mut compiled = PathPatterns::default();
        for pattern in patterns {
            let trimmed = pattern.trim();
            if trimmed.is_empty() {
                continue;
            }
            let (exception, body) = match trimmed.strip_prefix('!') {
                Some(body) if body.trim().is_empty() => return Err(PatternError::LoneExclamation),
                Some(body) => (true, body.trim()),
                None => (false, trimmed),
            };
            compiled.has_exclusions |= exception;
            compiled.rules.push(CompiledRule {
                text: trimmed.to_string(),
                exception,
                rule: PathRule::compile(&clean_path(body))?,
            });
        }
        Ok(compiled)
    }

    /// Whether `rel_path` (clean, '/'-separated, relative to the root) is excluded: the last
    /// rule that matches it or one of its parent directories decides (moby's
    /// `MatchesOrParentMatches`). The root itself (`""` or `.`) is never excluded.
    pub fn is_excluded(&self, rel_path: &str) -> bool {
        self.decide(&self.trail_of(rel_path))
    }

    /// The rule (as written) that excludes `rel_path`: the last one matching it or a parent
    /// when that is not an exception; `None` when the path is not excluded.
    pub fn excluding_rule(&self, rel_path: &str) -> Option<&str> {
        let trail = self.trail_of(rel_path);
        self.rules
            .iter()
            .zip(&trail.matched)
            .rev()
            .find(|(_, &matched)| matched)
            .filter(|(compiled, _)| !compiled.exception)
            .map(|(compiled, _)| compiled.text.as_str())
    }

    /// Whether any rule is an exception (`!pattern`).
    pub fn has_exclusions(&self) -> bool {
        self.has_exclusions
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether directory `dir` is excluded and no exception could re-include anything below
    /// it, so that a walk may skip it whole. When an exception might reach inside (as
    /// `!docs/README.md` does for `docs`), the walk must descend.
    pub fn excludes_whole_dir(&self, dir: &str) -> bool {
        self.is_excluded(dir) && !self.exception_may_reach_below(dir)
    }

    /// The trail of `rel_path`, built from its first component down. The root's trail is
    /// empty: nothing matches it.
    pub(crate) fn trail_of(&self, rel_path: &str) -> MatchTrail {
        let mut trail = MatchTrail::default();
        if self.rules.is_empty() || rel_path.is_empty() || rel_path == "." {
            return trail;
        }
        let mut end = 0;
        for component in rel_path.split('/') {
            end += component.len();
            trail = self.descend(&trail, &rel_path[..end]);
            end += 1;
        }
        trail
    }

    /// The trail of `rel_path`, given the trail of its parent directory.
    pub(crate) fn descend(&self, parent: &MatchTrail, rel_path: &str) -> MatchTrail {
        let matched = self
            .rules
            .iter()
            .enumerate()
            .map(|(index, compiled)| {
                parent.matched.get(index).copied().unwrap_or(false)
                    || compiled.rule.matches(rel_path)
            })
            .collect();
        MatchTrail { matched }
    }

    /// Whether a path with this trail is excluded: the last matching rule decides.
    pub(crate) fn decide(&self, trail: &MatchTrail) -> bool {
        self.rules
            .iter()
            .zip(&trail.matched)
            .rev()
            .find(|(_, &matched)| matched)
            .is_some_and(|(compiled, _)| !compiled.exception)
    }

    /// Whether some exception rule could match a path strictly below `dir`.
    pub(crate) fn exception_may_reach_below(&self, dir: &str) -> bool {
        self.rules
            .iter()
            .any(|compiled| compiled.exception && compiled.rule.may_match_below(dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(list: &[&str]) -> PathPatterns {
        let owned: Vec<String> = list.iter().map(|p| p.to_string()).collect();
        PathPatterns::new(&owned).unwrap()
    }

    #[test]
    fn errors_name_the_pattern() {
        let err = PathPatterns::new(&["ok".to_string(), "[".to_string()]).unwrap_err();
        assert!(err.to_string().contains("\"[\""), "{err}");
        let err = PathPatterns::new(&["!".to_string()]).unwrap_err();
        assert_eq!(err, PatternError::LoneExclamation);
        let err = PathPatterns::new(&["a\\".to_string()]).unwrap_err();
        assert!(err.to_string().contains("trailing backslash"), "{err}");
    }

    #[test]
    fn whitespace_and_empty_patterns_are_ignored() {
        let p = patterns(&["", "  docs  ", "  !docs/README.md"]);
        assert!(p.has_exclusions());
        assert!(p.is_excluded("docs/x"));
        assert!(!p.is_excluded("docs/README.md"));
        assert!(patterns(&[]).is_empty());
        assert!(!patterns(&["**"]).is_excluded("."));
    }

    #[test]
    fn whole_dir_pruning_respects_exceptions() {
        let p = patterns(&["docs", "!docs/README.md", "build"]);
        assert!(!p.excludes_whole_dir("docs"));
        assert!(p.excludes_whole_dir("build"));
        assert!(!p.excludes_whole_dir("src"));
        let wildcard_exception = patterns(&["vendor", "!**/*.go"]);
        assert!(!wildcard_exception.excludes_whole_dir("vendor"));
        let no_exceptions = patterns(&["vendor"]);
        assert!(no_exceptions.excludes_whole_dir("vendor"));
    }
}
