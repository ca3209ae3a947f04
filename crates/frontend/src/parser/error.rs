//! Parse errors: what went wrong (messages as BuildKit words them) and where (1-based lines,
//! a column when the offending text is known).
//!
//! Rendering with the source line and a caret is `diagnostic`'s job, not this module's.

/// What made the Dockerfile unparsable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("file with no instructions")]
    NoInstructions,
    #[error("only one {name} parser directive can be used")]
    DuplicateDirective { name: String },
    #[error("invalid escape token '{token}' does not match ` or \\")]
    InvalidEscapeToken { token: String },
    #[error("unterminated heredoc")]
    UnterminatedHeredoc { name: String },
    /// A heredoc marker (`<<"EOF`) that the shell lexer cannot read.
    #[error("{message}")]
    InvalidHeredoc { message: String },
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    JsonNotStringArray,
    /// `ENV name` / `LABEL name` in the old `KEY name value` form without a value.
    #[error("{keyword} must have two arguments")]
    MissingValue { keyword: String },
    /// `ENV a=1 b`: a later word of the `key=value` form lacks its `=`.
    #[error("Syntax error - can't find = in {quoted}. Must be of the form: name=value")]
    MissingEquals {
        keyword: String,
        word: String,
        quoted: String,
    },
}

/// A parse error with its location. `line` is where the offending instruction starts,
/// `end_line` where it ends (the same line for single-line problems).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error on line {line}: {kind}")]
pub struct ParseError {
    pub line: usize,
    pub end_line: usize,
    /// 1-based column (in characters) of the offending text, when known.
    pub column: Option<usize>,
    pub kind: ParseErrorKind,
}

impl ParseError {
    pub(super) fn new(kind: ParseErrorKind, line: usize, end_line: usize) -> Self {
        ParseError {
            line: line.max(1),
            end_line: end_line.max(line).max(1),
            column: None,
            kind,
        }
    }

    /// Points the error at `needle` if it occurs on `source_line` (the line `self.line`).
    pub(super) fn locate_in(mut self, source_line: &str, needle: &str) -> Self {
        if !needle.is_empty() {
            self.column = source_line
                .find(needle)
                .map(|at| source_line[..at].chars().count() + 1);
        }
        self
    }

    /// The message without the location prefix (BuildKit's wording).
    pub fn message(&self) -> String {
        self.kind.to_string()
    }
}
