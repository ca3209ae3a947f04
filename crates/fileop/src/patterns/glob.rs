//! Go's `filepath.Match` on Linux: `*` (any run without `/`), `?` (one character but `/`),
//! `[...]` classes with ranges and `^` negation, and `\` escapes. COPY source wildcards use it
//! one path component at a time.
//!
//! Only the pattern syntax lives here; `**` and .dockerignore rules are in `dockerignore`.

use super::tokens::{tokens_match, CharClass, Token};
use super::PatternError;

/// A validated `filepath.Match` pattern, compiled once and matched many times.
#[derive(Clone, Debug)]
pub(crate) struct GlobPattern {
    tokens: Vec<Token>,
}

impl GlobPattern {
    /// Compiles `pattern`, rejecting what Go reports as `ErrBadPattern` (a bad or
    /// unterminated class, a trailing `\`).
    pub(crate) fn new(pattern: &str) -> Result<GlobPattern, PatternError> {
        let syntax = |reason| PatternError::Syntax {
            pattern: pattern.to_string(),
            reason,
        };
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            let token = match c {
                '*' => {
                    while chars.next_if_eq(&'*').is_some() {}
                    Token::RunExceptSlash
                }
                '?' => Token::AnyCharExceptSlash,
                '[' => Token::Class(CharClass::parse(&mut chars).map_err(syntax)?),
                '\\' => Token::Literal(chars.next().ok_or_else(|| syntax("trailing backslash"))?),
                other => Token::Literal(other),
            };
            tokens.push(token);
        }
        Ok(GlobPattern { tokens })
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        tokens_match(&self.tokens, name)
    }
}

/// Whether `name` matches the shell pattern `pattern`, exactly as Go's `filepath.Match` on
/// Linux decides it; a malformed pattern is an error whatever the name.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, PatternError> {
    Ok(GlobPattern::new(pattern)?.matches(name))
}

/// Whether `component` holds an unescaped wildcard character (`*`, `?` or `[`), as BuildKit's
/// `containsWildcards` decides.
pub(crate) fn has_wildcards(component: &str) -> bool {
    let mut chars = component.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's own `filepath.Match` table (path/filepath/match_test.go), as moby's
    /// patternmatcher_test.go also carries it.
    #[test]
    fn go_filepath_match_table() {
        let cases: &[(&str, &str, Option<bool>)] = &[
            ("abc", "abc", Some(true)),
            ("*", "abc", Some(true)),
            ("*c", "abc", Some(true)),
            ("a*", "a", Some(true)),
            ("a*", "abc", Some(true)),
            ("a*", "ab/c", Some(false)),
            ("a*/b", "abc/b", Some(true)),
            ("a*/b", "a/c/b", Some(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Some(false)),
            ("ab[c]", "abc", Some(true)),
            ("ab[b-d]", "abc", Some(true)),
            ("ab[e-g]", "abc", Some(false)),
            ("ab[^c]", "abc", Some(false)),
            ("ab[^b-d]", "abc", Some(false)),
            ("ab[^e-g]", "abc", Some(true)),
            ("a\\*b", "a*b", Some(true)),
            ("a\\*b", "ab", Some(false)),
            ("a?b", "a☺b", Some(true)),
            ("a[^a]b", "a☺b", Some(true)),
            ("a???b", "a☺b", Some(false)),
            ("a[^a][^a][^a]b", "a☺b", Some(false)),
            ("[a-ζ]*", "α", Some(true)),
            ("*[a-ζ]", "A", Some(false)),
            ("a?b", "a/b", Some(false)),
            ("a*b", "a/b", Some(false)),
            ("[\\]a]", "]", Some(true)),
            ("[\\-]", "-", Some(true)),
            ("[x\\-]", "x", Some(true)),
            ("[x\\-]", "-", Some(true)),
            ("[x\\-]", "z", Some(false)),
            ("[\\-x]", "x", Some(true)),
            ("[\\-x]", "-", Some(true)),
            ("[\\-x]", "a", Some(false)),
            ("[]a]", "]", None),
            ("[-]", "-", None),
            ("[x-]", "x", None),
            ("[x-]", "-", None),
            ("[-x]", "x", None),
            ("\\", "a", None),
            ("[a-b-c]", "a", None),
            ("[", "a", None),
            ("[^", "a", None),
            ("[^bc", "a", None),
            ("a[", "a", None),
            ("a[", "ab", None),
            ("a[", "x", None),
            ("a/b[", "x", None),
            ("*x", "xxx", Some(true)),
        ];
        for &(pattern, name, expected) in cases {
            let got = glob_match(pattern, name).ok();
            assert_eq!(got, expected, "glob_match({pattern:?}, {name:?})");
        }
    }

    #[test]
    fn wildcard_detection_respects_escapes() {
        assert!(has_wildcards("*.txt"));
        assert!(has_wildcards("file[0-9]"));
        assert!(!has_wildcards("plain.txt"));
        assert!(!has_wildcards("literal\\*star"));
    }
}
