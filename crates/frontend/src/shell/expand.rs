//! The expansion walk itself: quotes, escapes, `$name`, `${name…}` modifiers and the `<<`
//! heredoc marker, character by character, as BuildKit's `shellWord` does.
//!
//! It does not own the options (see [`ShellLex`]) nor the pattern matching (see `pattern`).

use std::collections::BTreeSet;

use super::fields::FieldSplitter;
use super::pattern::ShellPattern;
use super::{Expansion, ShellError, ShellLex, VarLookup};
use crate::dump::go_quote;

/// Why a walk stopped; turned into a [`ShellError`] naming the whole word at the top.
enum Failure {
    Syntax(String),
    Required { name: String, message: String },
}

type Walk<T> = Result<T, Failure>;

const MISSING_BRACE: &str = "syntax error: missing '}'";

/// How deeply `${…}` may nest inside one word. BuildKit recurses without a bound; a Dockerfile
/// nesting thousands deep would overflow the stack, so the walk stops here with an error.
pub(super) const MAX_NESTING: usize = 100;

/// How long one expanded word may grow. A handful of `ARG b=$a$a$a…` lines would otherwise
/// grow exponentially into gigabytes.
pub(super) const MAX_WORD_BYTES: usize = 1 << 20;

/// How much of a long word an error message quotes.
const QUOTED_SOURCE_CHARS: usize = 120;

/// What a caller wants besides the joined result; what it does not want is not computed
/// (most words are expanded only for their value).
#[derive(Clone, Copy, Debug)]
pub(super) struct Wants {
    /// The result split into fields.
    pub(super) fields: bool,
    /// The names looked up, found or not.
    pub(super) names: bool,
}

/// One expansion of one word.
pub(super) struct Expander<'a> {
    lex: &'a ShellLex,
    source: &'a str,
    pos: usize,
    env: &'a dyn VarLookup,
    raw_escapes: bool,
    wants: Wants,
    /// How many `walk_until` calls are active (the top-level walk is 1).
    depth: usize,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

impl<'a> Expander<'a> {
    pub(super) fn new(
        lex: &'a ShellLex,
        source: &'a str,
        env: &'a dyn VarLookup,
        wants: Wants,
    ) -> Self {
        // Go's text/scanner skips a byte-order mark at the very start.
        let pos = if source.starts_with('\u{feff}') { 3 } else { 0 };
        Expander {
            lex,
            source,
            pos,
            env,
            raw_escapes: lex.raw_escapes,
            wants,
            depth: 0,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        }
    }

    pub(super) fn run(mut self) -> Result<Expansion, ShellError> {
        let walked = self.walk_until(None, self.lex.raw_escapes);
        match walked {
            Ok((value, words)) => Ok(Expansion {
                value,
                words,
                matched: self.matched,
                unmatched: self.unmatched,
            }),
            Err(Failure::Syntax(message)) => Err(ShellError::Syntax(self.wrap(&message))),
            Err(Failure::Required { name, message }) => Err(ShellError::RequiredVariable {
                message: self.wrap(&format!("{name}: {message}")),
                name,
            }),
        }
    }

    fn wrap(&self, message: &str) -> String {
        let quoted = match self.source.char_indices().nth(QUOTED_SOURCE_CHARS) {
            Some((cut, _)) => format!("{}…", go_quote(&self.source[..cut])),
            None => go_quote(self.source),
        };
        format!("failed to process {quoted}: {message}")
    }

    fn peek(&self) -> Option<char> {
        self.source[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.pos += ch.len_utf8();
        Some(ch)
    }

    /// Walks until `stop` (consumed) or the end of the word, with escapes kept or not.
    fn walk_until(&mut self, stop: Option<char>, raw_escapes: bool) -> Walk<(String, Vec<String>)> {
        if self.depth >= MAX_NESTING {
            return Err(Failure::Syntax(format!(
                "${{…}} nested more than {MAX_NESTING} deep"
            )));
        }
        self.depth += 1;
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let walked = self.walk_until_inner(stop);
        self.raw_escapes = saved;
        self.depth -= 1;
        walked
    }

    fn walk_until_inner(&mut self, stop: Option<char>) -> Walk<(String, Vec<String>)> {
        let mut result = String::with_capacity(self.source.len() - self.pos);
        let mut fields = FieldSplitter::new(self.wants.fields);
        let quotes_special = !self.lex.skip_process_quotes;
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.bump();
                return Ok((result, fields.finish()));
            }
            match ch {
                '$' => {
                    let value = self.dollar()?;
                    fields.push_str(&value);
                    result.push_str(&value);
                }
                '<' => {
                    let marker = self.possible_heredoc();
                    fields.push_raw_str(&marker);
                    result.push_str(&marker);
                }
                '\'' | '"' if quotes_special => {
                    let quoted = if ch == '\'' {
                        self.single_quoted()?
                    } else {
                        self.double_quoted()?
                    };
                    fields.push_raw_str(&quoted);
                    result.push_str(&quoted);
                }
                _ => {
                    if !self.plain_char(&mut result, &mut fields) {
                        break;
                    }
                }
            }
            check_size(&result)?;
        }
        match stop {
            Some(stop) => Err(Failure::Syntax(format!(
                "unexpected end of statement while looking for matching {stop}"
            ))),
            None => Ok((result, fields.finish())),
        }
    }

    /// An ordinary character or an escape sequence; false when an escape ends the word.
    fn plain_char(&mut self, result: &mut String, fields: &mut FieldSplitter) -> bool {
        let Some(ch) = self.bump() else {
            return false;
        };
        if ch != self.lex.escape {
            fields.push_char(ch);
            result.push(ch);
            return true;
        }
        if self.raw_escapes {
            fields.push_raw_char(ch);
            result.push(ch);
        }
        match self.bump() {
            Some(escaped) => {
                fields.push_raw_char(escaped);
                result.push(escaped);
                true
            }
            None => false,
        }
    }

    /// Consumes an opening quote; with raw quotes the result starts with it.
    fn open_quote(&mut self) -> String {
        let open = self.bump();
        match open {
            Some(quote) if self.lex.raw_quotes => quote.to_string(),
            _ => String::new(),
        }
    }

    /// Consumes the closing quote, kept with raw quotes.
    fn close_quote(&mut self, result: &mut String, quote: char) {
        self.bump();
        if self.lex.raw_quotes {
            result.push(quote);
        }
    }

    fn single_quoted(&mut self) -> Walk<String> {
        let mut result = self.open_quote();
        loop {
            match self.peek() {
                None => return Err(unterminated("single-quote")),
                Some('\'') => {
                    self.close_quote(&mut result, '\'');
                    return Ok(result);
                }
                Some(ch) => {
                    self.bump();
                    result.push(ch);
                }
            }
        }
    }

    fn double_quoted(&mut self) -> Walk<String> {
        let mut result = self.open_quote();
        loop {
            match self.peek() {
                None => return Err(unterminated("double-quote")),
                Some('"') => {
                    self.close_quote(&mut result, '"');
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    result.push_str(&value);
                    check_size(&result)?;
                }
                Some(_) => self.double_quoted_char(&mut result),
            }
        }
    }

    /// Inside double quotes the escape only escapes `"`, `$` and itself.
    fn double_quoted_char(&mut self, result: &mut String) {
        let Some(mut ch) = self.bump() else {
            return;
        };
        if ch == self.lex.escape {
            if self.raw_escapes {
                result.push(ch);
            }
            match self.peek() {
                None => return,
                Some(next) if next == '"' || next == '$' || next == self.lex.escape => {
                    self.bump();
                    ch = next;
                }
                Some(_) => {}
            }
        }
        result.push(ch);
    }

    /// `<` or `<<` plus the blanks after it, kept in one field so `<< EOF` stays one word.
    fn possible_heredoc(&mut self) -> String {
        self.bump();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.bump();
        let mut marker = String::from("<<");
        while let Some(blank @ (' ' | '\t' | '\r')) = self.peek() {
            marker.push(blank);
            self.bump();
        }
        marker
    }

    fn dollar(&mut self) -> Walk<String> {
        self.bump();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.bump();
        match self.peek() {
            None => return Err(Failure::Syntax(MISSING_BRACE.into())),
            Some('{' | '}' | ':') => {
                return Err(Failure::Syntax("syntax error: bad substitution".into()))
            }
            Some(_) => {}
        }
        let name = self.name();
        match self.bump() {
            None => Err(Failure::Syntax(MISSING_BRACE.into())),
            Some('}') => Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.lex.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':') => match self.bump() {
                None => Err(Failure::Syntax(MISSING_BRACE.into())),
                Some(op) => self.modifier(&name, op, true),
            },
            Some('/') => self.replacement(&name),
            Some(op) => self.modifier(&name, op, false),
        }
    }

    /// `${name-word}`, `${name:+word}`, `${name?msg}`, `${name#pat}`, `${name%%pat}`, ...
    fn modifier(&mut self, name: &str, op: char, null_is_unset: bool) -> Walk<String> {
        let spelled = if null_is_unset {
            format!(":{op}")
        } else {
            op.to_string()
        };
        let unsupported =
            || Failure::Syntax(format!("unsupported modifier ({spelled}) in substitution"));
        if !matches!(op, '+' | '-' | '?' | '#' | '%') && !null_is_unset {
            return Err(unsupported());
        }
        let is_pattern = op == '#' || op == '%';
        if null_is_unset && is_pattern {
            return Err(unsupported());
        }
        let word = self.walk_word_until('}', is_pattern, MISSING_BRACE)?;
        let value = self.lookup(name);
        if self.lex.skip_unset_env && value.is_none() {
            return Ok(format!("${{{name}{spelled}{word}}}"));
        }
        let unset_or_null = value
            .as_deref()
            .is_none_or(|value| null_is_unset && value.is_empty());
        match op {
            '-' if unset_or_null => Ok(word),
            '-' => Ok(value.unwrap_or_default()),
            '+' if unset_or_null => Ok(String::new()),
            '+' => Ok(word),
            '?' => required(name, value, null_is_unset, word),
            '#' | '%' => trim_by_pattern(op, &word, &value.unwrap_or_default()),
            _ => Err(unsupported()),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn replacement(&mut self, name: &str) -> Walk<String> {
        let all = self.peek() == Some('/');
        if all {
            self.bump();
        }
        let pattern = self.walk_word_until('/', true, "syntax error: missing '/' in ${}")?;
        let replacement = self.walk_word_until('}', true, MISSING_BRACE)?;
        let value = self.lookup(name);
        if self.lex.skip_unset_env && value.is_none() {
            return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
        }
        let compiled = ShellPattern::compile(&pattern).map_err(|reason| {
            Failure::Syntax(format!(
                "invalid pattern ({pattern}) in substitution: {reason}"
            ))
        })?;
        compiled
            .replace(
                &value.unwrap_or_default(),
                &replacement,
                all,
                MAX_WORD_BYTES,
            )
            .ok_or_else(too_long)
    }

    /// The text of a modifier up to `stop`; running out of input reports `at_end`.
    fn walk_word_until(&mut self, stop: char, raw_escapes: bool, at_end: &str) -> Walk<String> {
        match self.walk_until(Some(stop), raw_escapes) {
            Ok((word, _)) => Ok(word),
            Err(_) if self.peek().is_none() => Err(Failure::Syntax(at_end.into())),
            Err(failure) => Err(failure),
        }
    }

    /// A variable name: a run of letters, digits and `_`, a run of digits (positional), or
    /// one special parameter character.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(digit) = self.peek().filter(|ch| ch.is_numeric()) {
                    name.push(digit);
                    self.bump();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.bump();
                return ch.to_string();
            }
            if !(ch.is_alphabetic() || ch.is_numeric() || ch == '_') {
                break;
            }
            name.push(ch);
            self.bump();
        }
        name
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        let value = self.env.lookup(name);
        if self.wants.names {
            let seen = if value.is_some() {
                &mut self.matched
            } else {
                &mut self.unmatched
            };
            seen.insert(name.to_string());
        }
        value.map(str::to_string)
    }
}

/// Fails once an expanded word is longer than [`MAX_WORD_BYTES`].
fn check_size(result: &str) -> Walk<()> {
    if result.len() > MAX_WORD_BYTES {
        return Err(too_long());
    }
    Ok(())
}

fn too_long() -> Failure {
    Failure::Syntax(format!(
        "expansion is longer than {} MiB",
        MAX_WORD_BYTES >> 20
    ))
}

fn unterminated(what: &str) -> Failure {
    Failure::Syntax(format!(
        "unexpected end of statement while looking for matching {what}"
    ))
}

/// `${name?message}` / `${name:?message}`.
fn required(name: &str, value: Option<String>, null_is_unset: bool, word: String) -> Walk<String> {
    let problem = match &value {
        None => "is not allowed to be unset",
        Some(value) if null_is_unset && value.is_empty() => "is not allowed to be empty",
        Some(_) => return Ok(value.unwrap_or_default()),
    };
    let message = if word.is_empty() {
        problem.to_string()
    } else {
        word
    };
    Err(Failure::Required {
        name: name.to_string(),
        message,
    })
}

/// `#`/`##` trim a prefix, `%`/`%%` a suffix; the doubled form is greedy.
fn trim_by_pattern(op: char, word: &str, value: &str) -> Walk<String> {
    let (longest, pattern) = match word.strip_prefix(op) {
        Some(rest) => (true, rest),
        None => (false, word),
    };
    let compiled = ShellPattern::compile(pattern).map_err(|reason| {
        Failure::Syntax(format!(
            "invalid pattern ({pattern}) in substitution: {reason}"
        ))
    })?;
    let trimmed = if op == '%' {
        compiled.trim_suffix(value, longest)
    } else {
        compiled.trim_prefix(value, longest)
    };
    Ok(trimmed.to_string())
}
