//! One .dockerignore rule, compiled the way moby's patternmatcher compiles it: the pattern is
//! classified as an exact name, a prefix (`dir/**`), a suffix (`**/name`, and any pattern
//! that starts with `**` and has no other wildcard) or a general pattern, where `*` and `?`
//! stop at `/`, a `**` followed by `/` matches any number of whole directories (including
//! none) and a trailing `**` matches anything.
//!
//! Where moby's regexp translation leaks regexp syntax into patterns (a `^` outside a class, a
//! `\` before a letter such as `\d`), this follows filepath.Match's literal meaning, and a
//! class range that runs backwards, which moby only reports when matching, is rejected when
//! the rule is compiled. Combining rules (order, `!`) is `PathPatterns`' job.

use super::glob::GlobPattern;
use super::tokens::{tokens_match, CharClass, Token, TokenMatcher};
use super::PatternError;

/// How a rule matches, mirroring moby's `matchType`.
#[derive(Clone, Debug)]
enum RuleMatcher {
    /// The path equals the pattern.
    Exact(String),
    /// The path starts with this (the pattern without its trailing `**`).
    Prefix(String),
    /// The path ends with this (the pattern without its leading `**`); a suffix starting with
    /// `/` also matches the path equal to the rest (`**/foo` matches `foo`).
    Suffix(String),
    /// Anything else.
    Tokens(Vec<Token>),
}

/// A compiled rule: a cleaned pattern (without its `!`) and how to match it.
#[derive(Clone, Debug)]
pub(crate) struct PathRule {
    matcher: RuleMatcher,
}

/// What the translation has seen so far, mirroring moby's `detectedType`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    General,
}

impl PathRule {
    /// Compiles a cleaned pattern (no leading `!`).
    pub(crate) fn compile(pattern: &str) -> Result<PathRule, PatternError> {
        GlobPattern::new(pattern)?;
        let (kind, tokens) = translate(pattern)?;
        let matcher = match kind {
            Kind::Exact => RuleMatcher::Exact(pattern.to_string()),
            Kind::Prefix => RuleMatcher::Prefix(pattern[..pattern.len() - 2].to_string()),
            Kind::Suffix => RuleMatcher::Suffix(pattern[2..].to_string()),
            Kind::General => RuleMatcher::Tokens(tokens),
        };
        Ok(PathRule { matcher })
    }

    /// Whether the rule matches `path` itself (parents are the caller's business).
    pub(crate) fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            RuleMatcher::Exact(exact) => path == exact,
            RuleMatcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            RuleMatcher::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            RuleMatcher::Tokens(tokens) => tokens_match(tokens, path),
        }
    }

    /// Whether the rule could match some path strictly below directory `dir`. May answer
    /// true when no such path exists; never answers false when one does.
    pub(crate) fn may_match_below(&self, dir: &str) -> bool {
        match &self.matcher {
            RuleMatcher::Exact(exact) => exact
                .strip_prefix(dir)
                .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/')),
            RuleMatcher::Prefix(prefix) => {
                let dir_slash = format!("{dir}/");
                dir_slash.starts_with(prefix.as_str()) || prefix.starts_with(&dir_slash)
            }
            RuleMatcher::Suffix(_) => true,
            RuleMatcher::Tokens(tokens) => {
                let mut matcher = TokenMatcher::new(tokens);
                matcher.feed(dir) && matcher.feed("/")
            }
        }
    }
}

/// Translates pattern text into tokens, classifying it as moby does.
fn translate(pattern: &str) -> Result<(Kind, Vec<Token>), PatternError> {
    let reversed = || PatternError::Syntax {
        pattern: pattern.to_string(),
        reason: "character class range is out of order",
    };
    let mut kind = Kind::Exact;
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.next_if_eq(&'*').is_some() => {
                chars.next_if_eq(&'/');
                if chars.peek().is_none() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        tokens.push(Token::AnyRun);
                        kind = Kind::General;
                    }
                } else {
                    tokens.push(Token::OptionalDirs);
                    tokens.push(Token::OptionalDirsBody);
                    kind = Kind::General;
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                tokens.push(Token::RunExceptSlash);
                kind = Kind::General;
            }
            '?' => {
                tokens.push(Token::AnyCharExceptSlash);
                kind = Kind::General;
            }
            '\\' => {
                // GlobPattern::new has rejected a trailing backslash.
                if let Some(escaped) = chars.next() {
                    tokens.push(Token::Literal(escaped));
                    kind = Kind::General;
                }
            }
            '[' => {
                let class =
                    CharClass::parse(&mut chars).map_err(|reason| PatternError::Syntax {
                        pattern: pattern.to_string(),
                        reason,
                    })?;
                if class.has_reversed_range() {
                    return Err(reversed());
                }
                tokens.push(Token::Class(class));
                kind = Kind::General;
            }
            ']' => {
                tokens.push(Token::Literal(']'));
                kind = Kind::General;
            }
            other => tokens.push(Token::Literal(other)),
        }
        first = false;
    }
    Ok((kind, tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(pattern: &str) -> &'static str {
        match PathRule::compile(pattern).unwrap().matcher {
            RuleMatcher::Exact(_) => "exact",
            RuleMatcher::Prefix(_) => "prefix",
            RuleMatcher::Suffix(_) => "suffix",
            RuleMatcher::Tokens(_) => "general",
        }
    }

    /// moby's TestCompile table: which patterns compile to which match type.
    #[test]
    fn classification_follows_moby_compile_table() {
        let cases = [
            ("*", "general"),
            ("file*", "general"),
            ("*file", "general"),
            ("a*/b", "general"),
            ("**", "suffix"),
            ("**/**", "general"),
            ("dir/**", "prefix"),
            ("**/dir", "suffix"),
            ("**/dir2/*", "general"),
            ("**/dir2/**", "general"),
            ("**file", "suffix"),
            ("**/file*txt", "general"),
            ("**/**/*.txt", "general"),
            ("a[b-d]e", "general"),
            (".*", "general"),
            ("abc.def", "exact"),
            ("abc?def", "general"),
            ("**/foo/bar", "suffix"),
            ("a(b)c/def", "exact"),
            ("a.|)$(}+{bc", "exact"),
            (
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                "exact",
            ),
        ];
        for (pattern, expected) in cases {
            assert_eq!(kind_of(pattern), expected, "pattern {pattern:?}");
        }
    }

    #[test]
    fn backwards_class_range_is_rejected_at_compile_time() {
        assert!(PathRule::compile("[Local-Only]").is_err());
    }

    #[test]
    fn may_match_below_is_exact_for_simple_patterns() {
        let below =
            |pattern: &str, dir: &str| PathRule::compile(pattern).unwrap().may_match_below(dir);
        assert!(below("docs/README.md", "docs"));
        assert!(!below("docs/README.md", "doc"));
        assert!(!below("docs", "docs"));
        assert!(below("docs/**", "docs"));
        assert!(below("do**", "docs"));
        assert!(!below("src/**", "docs"));
        assert!(below("*/keep.txt", "docs"));
        assert!(!below("*/keep.txt", "docs/sub"));
        assert!(below("**/keep.txt", "docs/sub"));
    }
}
