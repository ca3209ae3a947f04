//! Shell patterns inside `${var#pat}`, `${var%pat}` and `${var/pat/repl}`: `*` is any run of
//! characters, `?` one character, `\*`, `\?`, `\\` are literals and `\}`, `\/` stand for `}`
//! and `/`. Matching follows BuildKit, which compiles the pattern to a Go regexp: `#`/`%` take
//! the shortest match, `##`/`%%` the longest, `/` the leftmost-longest.
//!
//! Bracket expressions (`[a-z]`) are not supported, as in BuildKit.

/// One element of a compiled pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Literal(char),
    AnyChar,
    AnyRun,
}

/// A compiled shell pattern.
#[derive(Clone, Debug)]
pub(super) struct ShellPattern {
    tokens: Vec<Token>,
}

/// A value split into characters, with the byte offset of every character boundary.
struct CharTable<'a> {
    text: &'a str,
    chars: Vec<char>,
    bounds: Vec<usize>,
}

impl<'a> CharTable<'a> {
    fn new(text: &'a str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let mut bounds: Vec<usize> = text.char_indices().map(|(at, _)| at).collect();
        bounds.push(text.len());
        CharTable {
            text,
            chars,
            bounds,
        }
    }

    fn slice(&self, from: usize, to: usize) -> &'a str {
        &self.text[self.bounds[from]..self.bounds[to]]
    }
}

impl ShellPattern {
    /// Compiles `pattern`; the error reads like BuildKit's (`invalid escape '\x'`).
    pub(super) fn compile(pattern: &str) -> Result<Self, String> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(ch) = chars.next() {
            let token = match ch {
                '*' => Token::AnyRun,
                '?' => Token::AnyChar,
                '\\' if matches!(chars.peek(), Some('}' | '/')) => continue,
                '\\' => match chars.next() {
                    Some(escaped @ ('*' | '?' | '\\')) => Token::Literal(escaped),
                    other => {
                        let shown = other.unwrap_or(char::REPLACEMENT_CHARACTER);
                        return Err(format!("invalid escape '\\{shown}'"));
                    }
                },
                literal => Token::Literal(literal),
            };
            tokens.push(token);
        }
        Ok(ShellPattern { tokens })
    }

    /// Removes the shortest (or longest) prefix of `value` matching the pattern.
    pub(super) fn trim_prefix<'v>(&self, value: &'v str, longest: bool) -> &'v str {
        let table = CharTable::new(value);
        let ends = match_lengths(&self.tokens, &table.chars);
        let chosen = if longest { ends.last() } else { ends.first() };
        match chosen {
            Some(&len) => table.slice(len, table.chars.len()),
            None => value,
        }
    }

    /// Removes the shortest (or longest) suffix of `value` matching the pattern.
    pub(super) fn trim_suffix<'v>(&self, value: &'v str, longest: bool) -> &'v str {
        let table = CharTable::new(value);
        let reversed_tokens: Vec<Token> = self.tokens.iter().rev().copied().collect();
        let reversed_chars: Vec<char> = table.chars.iter().rev().copied().collect();
        let lengths = match_lengths(&reversed_tokens, &reversed_chars);
        let chosen = if longest {
            lengths.last()
        } else {
            lengths.first()
        };
        match chosen {
            Some(&len) => table.slice(0, table.chars.len() - len),
            None => value,
        }
    }

    /// Replaces the first (or every) leftmost-longest match. With `all`, `$0` in the
    /// replacement stands for the match and `$$` for `$`, as Go's `ReplaceAllString` does.
    /// `None` when the result would be longer than `limit` bytes.
    pub(super) fn replace(
        &self,
        value: &str,
        replacement: &str,
        all: bool,
        limit: usize,
    ) -> Option<String> {
        let table = CharTable::new(value);
        if !all {
            let out = match self.find_from(&table.chars, 0) {
                Some((start, end)) => {
                    let mut out = table.slice(0, start).to_string();
                    out.push_str(replacement);
                    out.push_str(table.slice(end, table.chars.len()));
                    out
                }
                None => value.to_string(),
            };
            return (out.len() <= limit).then_some(out);
        }
        self.replace_all(&table, replacement, limit)
    }

    fn replace_all(
        &self,
        table: &CharTable<'_>,
        replacement: &str,
        limit: usize,
    ) -> Option<String> {
        let total = table.chars.len();
        let mut out = String::new();
        let mut last_end = 0;
        let mut search = 0;
        while search <= total {
            let Some((start, end)) = self.find_from(&table.chars, search) else {
                break;
            };
            out.push_str(table.slice(last_end, start));
            // No replacement for an empty match right after the previous match.
            if end > last_end || start == 0 {
                out.push_str(&expand_template(replacement, table.slice(start, end)));
            }
            if out.len() > limit {
                return None;
            }
            last_end = end;
            search = if search + 1 > end { search + 1 } else { end };
        }
        out.push_str(table.slice(last_end, total));
        (out.len() <= limit).then_some(out)
    }

    /// The leftmost match starting at or after `from`, longest at that start (char indices).
    ///
    /// One pass over `chars` (linear, not quadratic, in the value's length): an NFA
    /// simulation whose threads remember where they started. Where two threads reach the
    /// same state the earlier start is kept — their futures are the same and the leftmost
    /// match wins — and once a match is found, threads that started later are dropped.
    fn find_from(&self, chars: &[char], from: usize) -> Option<(usize, usize)> {
        let accept = self.tokens.len();
        let mut starts: Vec<Option<usize>> = vec![None; accept + 1];
        let mut best: Option<(usize, usize)> = None;
        for pos in from..=chars.len() {
            if best.is_none() && starts[0].is_none() {
                starts[0] = Some(pos);
            }
            close_over_runs_from(&self.tokens, &mut starts);
            if let Some(start) = starts[accept] {
                // An earlier start beats the match so far; the same start, ending later,
                // is longer.
                if best.is_none_or(|(best_start, _)| start <= best_start) {
                    best = Some((start, pos));
                }
            }
            if let Some((best_start, _)) = best {
                for thread in starts.iter_mut() {
                    if thread.is_some_and(|start| start > best_start) {
                        *thread = None;
                    }
                }
                if starts.iter().all(Option::is_none) {
                    break;
                }
            }
            let Some(&ch) = chars.get(pos) else { break };
            starts = step_from(&self.tokens, &starts, ch);
        }
        best
    }
}

/// `step` for threads that carry their start: the earliest start wins a state.
fn step_from(tokens: &[Token], starts: &[Option<usize>], ch: char) -> Vec<Option<usize>> {
    let mut next: Vec<Option<usize>> = vec![None; starts.len()];
    for (state, token) in tokens.iter().enumerate() {
        let Some(start) = starts[state] else { continue };
        let target = match *token {
            Token::AnyRun => state,
            Token::AnyChar => state + 1,
            Token::Literal(expected) if expected == ch => state + 1,
            Token::Literal(_) => continue,
        };
        next[target] = Some(next[target].map_or(start, |other| other.min(start)));
    }
    next
}

/// `close_over_runs` for threads that carry their start.
fn close_over_runs_from(tokens: &[Token], starts: &mut [Option<usize>]) {
    for (state, token) in tokens.iter().enumerate() {
        if let (Some(start), Token::AnyRun) = (starts[state], token) {
            starts[state + 1] = Some(starts[state + 1].map_or(start, |other| other.min(start)));
        }
    }
}

/// Every length `n` such that the pattern matches exactly `chars[..n]`, ascending.
///
/// A small NFA simulation: state `i` means "the first `i` tokens are consumed".
fn match_lengths(tokens: &[Token], chars: &[char]) -> Vec<usize> {
    let mut active = vec![false; tokens.len() + 1];
    active[0] = true;
    close_over_runs(tokens, &mut active);
    let mut lengths = Vec::new();
    for (consumed, &ch) in chars.iter().enumerate() {
        if active[tokens.len()] {
            lengths.push(consumed);
        }
        active = step(tokens, &active, ch);
        if !active.contains(&true) {
            return lengths;
        }
    }
    if active[tokens.len()] {
        lengths.push(chars.len());
    }
    lengths
}

fn step(tokens: &[Token], active: &[bool], ch: char) -> Vec<bool> {
    let mut next = vec![false; active.len()];
    for (state, token) in tokens.iter().enumerate() {
        if !active[state] {
            continue;
        }
        match *token {
            Token::AnyRun => next[state] = true,
            Token::AnyChar => next[state + 1] = true,
            Token::Literal(expected) if expected == ch => next[state + 1] = true,
            Token::Literal(_) => {}
        }
    }
    close_over_runs(tokens, &mut next);
    next
}

/// A `*` may match nothing: being before it also means being after it.
fn close_over_runs(tokens: &[Token], active: &mut [bool]) {
    for (state, token) in tokens.iter().enumerate() {
        if active[state] && *token == Token::AnyRun {
            active[state + 1] = true;
        }
    }
}

/// Go's `Regexp.Expand` for a regexp without capture groups: `$$` is `$`, `$0`/`${0}` the
/// match, any other well-formed `$name` nothing, a malformed `$` itself.
fn expand_template(template: &str, matched: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        match template_reference(rest) {
            Some((name, after)) => {
                if name == "0" {
                    out.push_str(matched);
                }
                rest = after;
            }
            None => out.push('$'),
        }
    }
    out.push_str(rest);
    out
}

/// Parses `name` or `{name}` after a `$`; returns the name and the text after it.
fn template_reference(text: &str) -> Option<(&str, &str)> {
    let (braced, body) = match text.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let name_len = body
        .char_indices()
        .find(|&(_, ch)| !(ch.is_alphabetic() || ch.is_numeric() || ch == '_'))
        .map_or(body.len(), |(at, _)| at);
    if name_len == 0 {
        return None;
    }
    let (name, after) = body.split_at(name_len);
    if braced {
        let after = after.strip_prefix('}')?;
        return Some((name, after));
    }
    Some((name, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> ShellPattern {
        match ShellPattern::compile(text) {
            Ok(compiled) => compiled,
            Err(message) => panic!("{text}: {message}"),
        }
    }

    #[test]
    fn prefixes_shortest_and_longest() {
        assert_eq!(pattern("*x*y").trim_prefix("xxyy", false), "y");
        assert_eq!(pattern("*x").trim_prefix("xxyy", true), "yy");
        assert_eq!(pattern("*").trim_prefix("xxyy", false), "xxyy");
        assert_eq!(pattern("?\\?").trim_prefix("???y", false), "?y");
        assert_eq!(pattern("").trim_prefix("xxyy", true), "xxyy");
    }

    #[test]
    fn suffixes_shortest_and_longest() {
        assert_eq!(pattern("\\**").trim_suffix("xx**", true), "xx");
        assert_eq!(pattern("\\**\\*").trim_suffix("a***yy*", true), "a");
        assert_eq!(pattern("x").trim_suffix("xxyy", false), "xxyy");
        assert_eq!(pattern("y*").trim_suffix("xxyy", false), "xxy");
    }

    #[test]
    fn special_characters_are_literal() {
        let compiled = pattern("()[]{\\}^$.\\*\\?|\\\\");
        assert_eq!(compiled.trim_prefix("()[]{}^$.*?|\\x", false), "x");
    }

    /// The search before the single-pass one: every start, longest length at each.
    fn find_by_every_start(compiled: &ShellPattern, chars: &[char]) -> Option<(usize, usize)> {
        (0..=chars.len()).find_map(|start| {
            match_lengths(&compiled.tokens, &chars[start..])
                .last()
                .map(|len| (start, start + len))
        })
    }

    #[test]
    fn the_single_pass_search_finds_what_trying_every_start_finds() {
        let patterns = [
            "", "a", "a*b", "*", "?", "a?c", "*b*", "b*a", "ab*", "??*a", "\\*",
        ];
        let values = [
            "", "a", "b", "ab", "ba", "aab", "abcabc", "cccab", "bbbba", "xa*yb",
        ];
        for text in patterns {
            let compiled = pattern(text);
            for value in values {
                let chars: Vec<char> = value.chars().collect();
                assert_eq!(
                    compiled.find_from(&chars, 0),
                    find_by_every_start(&compiled, &chars),
                    "pattern {text:?} in {value:?}"
                );
            }
        }
    }

    #[test]
    fn replacing_in_a_long_value_takes_linear_time() {
        // Quadratic search took minutes here: a thread per start, each running to the end.
        let value = "a".repeat(1 << 20);
        let replaced = pattern("a*b")
            .replace(&value, "x", true, usize::MAX)
            .unwrap();
        assert_eq!(replaced.len(), value.len());
        let every = pattern("a").replace(&value, "b", true, usize::MAX).unwrap();
        assert_eq!(every, "b".repeat(1 << 20));
    }

    #[test]
    fn replaces_first_and_all() {
        let needle = pattern("\\*/");
        assert_eq!(
            needle
                .replace("/foo*/*/*.txt", ".", false, usize::MAX)
                .unwrap(),
            "/foo.*/*.txt"
        );
        assert_eq!(
            needle
                .replace("/foo*/*/*.txt", ".", true, usize::MAX)
                .unwrap(),
            "/foo..*.txt"
        );
        assert_eq!(
            pattern("/?/")
                .replace("/a/foo/b/c.txt", "/", true, usize::MAX)
                .unwrap(),
            "/foo/c.txt"
        );
        assert_eq!(
            pattern("")
                .replace("xxyy", "ww", false, usize::MAX)
                .unwrap(),
            "wwxxyy"
        );
        assert_eq!(
            pattern("").replace("xxyy", "", true, usize::MAX).unwrap(),
            "xxyy"
        );
        assert_eq!(
            pattern("").replace("ab", "-", true, usize::MAX).unwrap(),
            "-a-b-"
        );
    }

    #[test]
    fn replace_all_expands_go_templates() {
        assert_eq!(
            pattern("b")
                .replace("abc", "[$0]", true, usize::MAX)
                .unwrap(),
            "a[b]c"
        );
        assert_eq!(
            pattern("b")
                .replace("abc", "$$x$1${y}$", true, usize::MAX)
                .unwrap(),
            "a$x$c"
        );
        assert_eq!(
            pattern("b")
                .replace("abc", "$0", false, usize::MAX)
                .unwrap(),
            "a$0c"
        );
    }

    #[test]
    fn rejects_invalid_escapes() {
        assert!(ShellPattern::compile("\\").is_err());
        assert!(ShellPattern::compile("\\x").is_err());
        assert!(ShellPattern::compile("\\\\\\").is_err());
    }
}
