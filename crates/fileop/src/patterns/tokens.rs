//! The pieces both pattern dialects compile to: a sequence of `Token`s, Go `filepath.Match`
//! character classes, and one matcher that runs a token sequence over a path as a small NFA
//! (time linear in pattern length × path length, no backtracking blow-up).
//!
//! This module does not decide what a pattern means: `glob` (filepath.Match) and `dockerignore`
//! (moby's patternmatcher) translate pattern text into tokens.

use std::iter::Peekable;
use std::str::Chars;

/// One step of a compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Token {
    /// Exactly this character.
    Literal(char),
    /// `?`: any one character except `/`.
    AnyCharExceptSlash,
    /// `[...]`: one character in (or, negated, not in) the class.
    Class(CharClass),
    /// `*`: any run of characters without `/`.
    RunExceptSlash,
    /// A trailing `**`: any run of characters at all.
    AnyRun,
    /// Start of `(.*/)?` (a `**` inside a pattern): either skip the group or enter its body.
    OptionalDirs,
    /// Body of `(.*/)?`: any characters; after a `/` the group may end.
    OptionalDirsBody,
}

/// A `filepath.Match` character class: `[abc]`, `[a-z]`, `[^a-z]`, with `\` escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CharClass {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl CharClass {
    /// Parses a class body; `chars` is positioned just after the opening `[`. Follows Go's
    /// grammar: `^` negates, `]` closes only after at least one range, `-` and `]` must be
    /// escaped to be members, and an unterminated class is an error.
    pub(crate) fn parse(chars: &mut Peekable<Chars<'_>>) -> Result<CharClass, &'static str> {
        let negated = chars.next_if_eq(&'^').is_some();
        let mut ranges = Vec::new();
        loop {
            if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                return Ok(CharClass { negated, ranges });
            }
            let low = class_char(chars)?;
            let high = if chars.next_if_eq(&'-').is_some() {
                class_char(chars)?
            } else {
                low
            };
            ranges.push((low, high));
        }
    }

    pub(crate) fn matches(&self, c: char) -> bool {
        let inside = self.ranges.iter().any(|&(low, high)| low <= c && c <= high);
        inside != self.negated
    }

    /// Whether a range runs backwards (`[z-a]`): filepath.Match accepts it (it matches
    /// nothing), but moby's regexp translation rejects it.
    pub(crate) fn has_reversed_range(&self) -> bool {
        self.ranges.iter().any(|&(low, high)| low > high)
    }
}

/// One class member (Go's `getEsc`): not `-` or `]` unless escaped, and the class must go on.
fn class_char(chars: &mut Peekable<Chars<'_>>) -> Result<char, &'static str> {
    let c = match chars.next() {
        None => return Err("unterminated character class"),
        Some('-') | Some(']') => return Err("'-' or ']' must be escaped inside a character class"),
        Some('\\') => chars.next().ok_or("trailing backslash")?,
        Some(c) => c,
    };
    if chars.peek().is_none() {
        return Err("unterminated character class");
    }
    Ok(c)
}

/// Runs `tokens` against text, one character at a time.
pub(crate) struct TokenMatcher<'t> {
    tokens: &'t [Token],
    active: Vec<bool>,
    next: Vec<bool>,
}

impl<'t> TokenMatcher<'t> {
    pub(crate) fn new(tokens: &'t [Token]) -> Self {
        let mut matcher = TokenMatcher {
            tokens,
            active: vec![false; tokens.len() + 1],
            next: vec![false; tokens.len() + 1],
        };
        matcher.active[0] = true;
        close_over_skips(tokens, &mut matcher.active);
        matcher
    }

    /// Feeds `text`; returns false as soon as no state is alive.
    pub(crate) fn feed(&mut self, text: &str) -> bool {
        for c in text.chars() {
            if !self.step(c) {
                return false;
            }
        }
        true
    }

    /// Whether the text fed so far is matched by the whole pattern.
    pub(crate) fn accepts(&self) -> bool {
        self.active[self.tokens.len()]
    }

    fn step(&mut self, c: char) -> bool {
        self.next.fill(false);
        for (position, token) in self.tokens.iter().enumerate() {
            if !self.active[position] {
                continue;
            }
            match token {
                Token::Literal(expected) if *expected == c => self.next[position + 1] = true,
                Token::AnyCharExceptSlash if c != '/' => self.next[position + 1] = true,
                Token::Class(class) if class.matches(c) => self.next[position + 1] = true,
                Token::RunExceptSlash if c != '/' => self.next[position] = true,
                Token::AnyRun => self.next[position] = true,
                Token::OptionalDirsBody => {
                    self.next[position] = true;
                    if c == '/' {
                        self.next[position + 1] = true;
                    }
                }
                _ => {}
            }
        }
        close_over_skips(self.tokens, &mut self.next);
        std::mem::swap(&mut self.active, &mut self.next);
        self.active.contains(&true)
    }
}

/// Adds the states reachable without consuming a character. Skips only go forward, so one
/// pass in order suffices.
fn close_over_skips(tokens: &[Token], states: &mut [bool]) {
    for (position, token) in tokens.iter().enumerate() {
        if !states[position] {
            continue;
        }
        match token {
            Token::RunExceptSlash | Token::AnyRun => states[position + 1] = true,
            Token::OptionalDirs => {
                states[position + 1] = true;
                states[position + 2] = true;
            }
            _ => {}
        }
    }
}

/// Whether `tokens` match the whole of `text`.
pub(crate) fn tokens_match(tokens: &[Token], text: &str) -> bool {
    let mut matcher = TokenMatcher::new(tokens);
    matcher.feed(text) && matcher.accepts()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(body: &str) -> Result<CharClass, &'static str> {
        CharClass::parse(&mut body.chars().peekable())
    }

    #[test]
    fn classes_follow_go_grammar() {
        let digits = class("0-9]").unwrap();
        assert!(digits.matches('5') && !digits.matches('a'));
        let not_digits = class("^0-9]").unwrap();
        assert!(!not_digits.matches('5') && not_digits.matches('/'));
        assert!(class("\\]a]").unwrap().matches(']'));
        assert!(class("x\\-]").unwrap().matches('-'));
        for bad in ["]a]", "-]", "x-]", "-x]", "a-b-c]", "", "^", "^bc", "a"] {
            assert!(class(bad).is_err(), "class body {bad:?} should be rejected");
        }
        assert!(class("z-a]").unwrap().has_reversed_range());
    }

    #[test]
    fn optional_dirs_needs_a_slash_to_end() {
        let tokens = vec![
            Token::Literal('a'),
            Token::OptionalDirs,
            Token::OptionalDirsBody,
            Token::Literal('b'),
        ];
        assert!(tokens_match(&tokens, "ab"));
        assert!(tokens_match(&tokens, "ax/b"));
        assert!(tokens_match(&tokens, "a/x/y/b"));
        assert!(!tokens_match(&tokens, "axb"));
    }
}
