//! The shell-word lexer: expands `$var`, `${var:-word}` and friends and splits words the way
//! BuildKit's `shell.Lex` does, for the instructions Docker expands.
//!
//! It evaluates no commands and performs no globbing.

/// Variable lookup used during expansion. Names are case-sensitive.
pub trait VarLookup {
    fn lookup(&self, name: &str) -> Option<&str>;
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShellError {
    #[error("{0}")]
    Syntax(String),
}

/// Expands words with a given escape character.
#[derive(Clone, Debug)]
pub struct ShellLex {
    escape: char,
}

impl ShellLex {
    pub fn new(escape: char) -> Self {
        ShellLex { escape }
    }

    /// Expands `word` into one string (quotes removed), as BuildKit's `ProcessWord`.
    pub fn process_word(&self, word: &str, env: &dyn VarLookup) -> Result<String, ShellError> {
        let _ = (word, env, self.escape);
        todo!("implemented by the shell lexer work")
    }

    /// Expands `word` and splits it into fields, as BuildKit's `ProcessWords`.
    pub fn process_words(
        &self,
        word: &str,
        env: &dyn VarLookup,
    ) -> Result<Vec<String>, ShellError> {
        let _ = (word, env, self.escape);
        todo!("implemented by the shell lexer work")
    }
}
