//! The shell-word lexer: expands `$var`, `${var:-word}` and friends and splits words the way
//! BuildKit's `shell.Lex` does, for the instructions Docker expands.
//!
//! It evaluates no commands and performs no globbing; `*` and `?` only mean something inside
//! the pattern of `${var#pattern}`, `${var%pattern}` and `${var/pattern/replacement}`.

mod expand;
mod fields;
mod pattern;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use expand::{Expander, Wants};

/// Variable lookup used during expansion. Names are case-sensitive.
pub trait VarLookup {
    fn lookup(&self, name: &str) -> Option<&str>;
}

impl VarLookup for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl VarLookup for HashMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// An ordered environment: the last occurrence of a name wins, as in `docker run -e`.
impl VarLookup for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl VarLookup for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.as_slice().lookup(name)
    }
}

/// Why a word could not be expanded. Messages match BuildKit's (`failed to process "…": …`).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShellError {
    /// Malformed word: unterminated quote, missing `}`, bad substitution, unsupported modifier
    /// or invalid pattern.
    #[error("{0}")]
    Syntax(String),
    /// `${name?message}` with `name` unset, or `${name:?message}` with `name` unset or empty.
    #[error("{message}")]
    RequiredVariable { name: String, message: String },
}

/// The full outcome of one expansion: the joined result, the split words, and which variable
/// names were looked up (found or not), for explaining cache misses and for lint-like checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The word with quotes removed and variables substituted (BuildKit's `ProcessWord`).
    pub value: String,
    /// The same, split into fields after substitution (BuildKit's `ProcessWords`).
    pub words: Vec<String>,
    /// Names that were referenced and set.
    pub matched: BTreeSet<String>,
    /// Names that were referenced but not set.
    pub unmatched: BTreeSet<String>,
}

/// Expands words with a given escape character.
///
/// The options mirror BuildKit's `Lex` fields; the defaults are what `ARG`/`ENV`/`COPY`... use.
#[derive(Clone, Debug)]
pub struct ShellLex {
    escape: char,
    raw_quotes: bool,
    raw_escapes: bool,
    skip_process_quotes: bool,
    skip_unset_env: bool,
}

impl ShellLex {
    pub fn new(escape: char) -> Self {
        ShellLex {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// The escape character this lexer uses.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// Keep quote characters in the output (BuildKit's `RawQuotes`).
    pub fn raw_quotes(mut self, on: bool) -> Self {
        self.raw_quotes = on;
        self
    }

    /// Keep escape characters in the output (BuildKit's `RawEscapes`).
    pub fn raw_escapes(mut self, on: bool) -> Self {
        self.raw_escapes = on;
        self
    }

    /// Treat quotes as ordinary characters (BuildKit's `SkipProcessQuotes`, used for heredoc
    /// bodies, where quotes belong to the script).
    pub fn skip_process_quotes(mut self, on: bool) -> Self {
        self.skip_process_quotes = on;
        self
    }

    /// Leave references to unset variables as written (BuildKit's `SkipUnsetEnv`).
    pub fn skip_unset_env(mut self, on: bool) -> Self {
        self.skip_unset_env = on;
        self
    }

    /// Expands `word` into one string (quotes removed), as BuildKit's `ProcessWord`.
    pub fn process_word(&self, word: &str, env: &dyn VarLookup) -> Result<String, ShellError> {
        let wants = Wants {
            fields: false,
            names: false,
        };
        Expander::new(self, word, env, wants)
            .run()
            .map(|expansion| expansion.value)
    }

    /// Expands `word` and splits it into fields, as BuildKit's `ProcessWords`.
    pub fn process_words(
        &self,
        word: &str,
        env: &dyn VarLookup,
    ) -> Result<Vec<String>, ShellError> {
        let wants = Wants {
            fields: true,
            names: false,
        };
        Expander::new(self, word, env, wants)
            .run()
            .map(|expansion| expansion.words)
    }

    /// Expands `word` and reports the result, the fields and the variable names it referenced
    /// (BuildKit's `ProcessWordWithMatches`).
    pub fn process_word_tracking(
        &self,
        word: &str,
        env: &dyn VarLookup,
    ) -> Result<Expansion, ShellError> {
        let wants = Wants {
            fields: true,
            names: true,
        };
        Expander::new(self, word, env, wants).run()
    }
}

#[cfg(test)]
mod tests;
