//! User-facing diagnostics: a message tied to `Dockerfile:line:column`, rendered rustc-style
//! with the source line, a caret and an optional `help:` (often a "did you mean"), plus the
//! conversions that turn parse errors and warnings into diagnostics.
//!
//! It formats; it does not decide what is wrong (the parser and instruction layers do) and
//! prints nothing itself.

use std::fmt;

use crate::ast::Warning;
use crate::parser::{ParseError, ParseErrorKind};

/// A located message for the user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name as shown to the user, e.g. `Dockerfile`.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column in characters, when known.
    pub column: Option<usize>,
    pub message: String,
    pub help: Option<String>,
    /// The text of `line`, without its line ending.
    pub source_line: Option<String>,
}

/// How serious a diagnostic is; only changes the first word of the rendering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl Diagnostic {
    /// A diagnostic whose source line is looked up in `source` (the whole Dockerfile text).
    pub fn from_source(
        file: impl Into<String>,
        source: &str,
        line: usize,
        column: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.into(),
            line,
            column,
            message: message.into(),
            help: None,
            source_line: source_line(source, line).map(String::from),
        }
    }

    /// Adds a `help:` note.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// A parse error as a diagnostic, with a hint where one is known.
    pub fn from_parse_error(file: impl Into<String>, source: &str, error: &ParseError) -> Self {
        let diagnostic =
            Diagnostic::from_source(file, source, error.line, error.column, error.message());
        match parse_error_help(&error.kind) {
            Some(help) => diagnostic.with_help(help),
            None => diagnostic,
        }
    }

    /// A parser warning (e.g. an empty continuation line) as a diagnostic.
    pub fn from_warning(file: impl Into<String>, source: &str, warning: &Warning) -> Self {
        Diagnostic::from_source(file, source, warning.line, None, warning.message.clone())
            .with_help(
                "empty continuation lines will become errors in a future release; remove them",
            )
    }

    /// Renders as an error (see [`Diagnostic::render_as`]).
    pub fn render(&self) -> String {
        self.render_as(Severity::Error)
    }

    /// Renders rustc-style:
    ///
    /// ```text
    /// error: unknown instruction: RUNN
    ///   --> Dockerfile:12:1
    ///    |
    /// 12 | RUNN make
    ///    | ^^^^
    ///    = help: did you mean RUN?
    /// ```
    pub fn render_as(&self, severity: Severity) -> String {
        let gutter = " ".repeat(self.line.to_string().len());
        let mut out = format!(
            "{}: {}\n{gutter}--> {}",
            severity.label(),
            self.message,
            self.location()
        );
        if let Some(text) = &self.source_line {
            let (text, column) = shown_part(text, self.column);
            out.push_str(&format!("\n{gutter} |\n{} | {text}", self.line));
            out.push_str(&format!("\n{gutter} | {}", underline(&text, column)));
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("\n{gutter} = help: {help}"));
        }
        out
    }

    /// `file:line` or `file:line:column`.
    pub fn location(&self) -> String {
        match self.column {
            Some(column) => format!("{}:{}:{column}", self.file, self.line),
            None => format!("{}:{}", self.file, self.line),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl ParseError {
    /// This error as a [`Diagnostic`] for `file` whose text is `source`.
    pub fn to_diagnostic(&self, file: impl Into<String>, source: &str) -> Diagnostic {
        Diagnostic::from_parse_error(file, source, self)
    }
}

fn parse_error_help(kind: &ParseErrorKind) -> Option<String> {
    Some(match kind {
        ParseErrorKind::NoInstructions => "a Dockerfile needs at least a FROM instruction".into(),
        ParseErrorKind::DuplicateDirective { name } => {
            format!("remove the second `# {name}=` line")
        }
        ParseErrorKind::InvalidEscapeToken { .. } => "use `# escape=\\` or `# escape=``".into(),
        ParseErrorKind::UnterminatedHeredoc { name } => {
            format!("end the heredoc with a line containing only `{name}`")
        }
        ParseErrorKind::JsonNotStringArray => {
            "every element of the JSON form must be a string, e.g. [\"echo\", \"hi\"]".into()
        }
        ParseErrorKind::MissingValue { keyword } => {
            format!("write `{keyword} NAME=value` (or `{keyword} NAME value`)")
        }
        ParseErrorKind::MissingEquals { keyword, word, .. } => {
            format!("write `{word}=value`; in `{keyword} a=1 b=2` every word needs `=`")
        }
        ParseErrorKind::InvalidHeredoc { .. } => return None,
    })
}

/// Line `line` (1-based) of `source`, without its line ending.
pub fn source_line(source: &str, line: usize) -> Option<&str> {
    let text = source.split_inclusive('\n').nth(line.checked_sub(1)?)?;
    let text = text.trim_end_matches(['\r', '\n']);
    Some(if line == 1 {
        text.strip_prefix('\u{feff}').unwrap_or(text)
    } else {
        text
    })
}

/// The longest source line shown whole, in characters; a longer one is cut to this many
/// around the column (a Dockerfile line can be megabytes long).
const SHOWN_LINE_CHARS: usize = 160;
/// Characters kept before the column when a long line is cut.
const SHOWN_BEFORE_COLUMN: usize = 40;

/// `text` as shown under the location, and the column within what is shown: a line longer
/// than `SHOWN_LINE_CHARS` is cut around the column, with `…` where it was cut.
fn shown_part(text: &str, column: Option<usize>) -> (String, Option<usize>) {
    let count = text.chars().count();
    if count <= SHOWN_LINE_CHARS {
        return (text.to_string(), column);
    }
    let at = column.map_or(0, |c| c.saturating_sub(1)).min(count);
    let start = at.saturating_sub(SHOWN_BEFORE_COLUMN);
    let end = (start + SHOWN_LINE_CHARS).min(count);
    let mut shown = String::new();
    if start > 0 {
        shown.push('…');
    }
    shown.extend(text.chars().skip(start).take(end - start));
    if end < count {
        shown.push('…');
    }
    let column = column.map(|_| at - start + 1 + usize::from(start > 0));
    (shown, column)
}

/// Carets under the word starting at `column`, or under the whole line without a column.
/// Tabs before the carets are kept so the carets line up in a terminal.
fn underline(text: &str, column: Option<usize>) -> String {
    let chars: Vec<char> = text.chars().collect();
    let (start, len) = match column {
        Some(column) => {
            let start = column.saturating_sub(1).min(chars.len());
            let len = chars[start..]
                .iter()
                .take_while(|ch| !ch.is_whitespace())
                .count();
            (start, len)
        }
        None => {
            let start = chars.iter().take_while(|ch| ch.is_whitespace()).count();
            let end = chars.len()
                - chars
                    .iter()
                    .rev()
                    .take_while(|ch| ch.is_whitespace())
                    .count();
            (start, end.saturating_sub(start))
        }
    };
    let indent: String = chars[..start]
        .iter()
        .map(|&ch| if ch == '\t' { '\t' } else { ' ' })
        .collect();
    format!("{indent}{}", "^".repeat(len.max(1)))
}

/// The candidate closest to `word` (case-insensitive Levenshtein distance below 4, as cargo
/// suggests commands); the first of equally close candidates wins.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    if word.is_empty() {
        return None;
    }
    let word = word.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let distance = levenshtein(&word, &candidate.to_lowercase());
        if distance < 4 && best.is_none_or(|(closest, _)| distance < closest) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rustc_style() {
        let source = "FROM a\n\n\n\n\n\n\n\n\n\n\nRUNN make\n";
        let diagnostic = Diagnostic::from_source(
            "Dockerfile",
            source,
            12,
            Some(1),
            "unknown instruction: RUNN",
        )
        .with_help("did you mean RUN?");
        assert_eq!(
            diagnostic.render(),
            "error: unknown instruction: RUNN\n  --> Dockerfile:12:1\n   |\n12 | RUNN make\n   | ^^^^\n   = help: did you mean RUN?"
        );
    }

    #[test]
    fn underlines_the_word_at_the_column_or_the_line() {
        let diagnostic = Diagnostic::from_source(
            "Dockerfile",
            "FROM a\n\tCOPY --fromm=x . .",
            2,
            Some(7),
            "unknown flag",
        );
        assert_eq!(
            diagnostic.render_as(Severity::Warning),
            "warning: unknown flag\n --> Dockerfile:2:7\n  |\n2 | \tCOPY --fromm=x . .\n  | \t     ^^^^^^^^^"
        );
        let whole = Diagnostic::from_source("Dockerfile", "  RUN x  \r\n", 1, None, "m");
        assert!(whole.render().ends_with("1 |   RUN x  \n  |   ^^^^^"));
    }

    #[test]
    fn a_very_long_line_is_cut_around_the_column() {
        let long = format!("RUN {} bad {}", "x".repeat(100_000), "y".repeat(100_000));
        let column = long.find(" bad").map(|at| at + 2);
        let diagnostic = Diagnostic {
            file: "Dockerfile".into(),
            line: 3,
            column,
            message: "oops".into(),
            source_line: Some(long),
            help: None,
        };
        let rendered = diagnostic.render();
        assert!(rendered.len() < 1_000, "{} bytes", rendered.len());
        let lines: Vec<&str> = rendered.lines().collect();
        let shown = lines[3].trim_start_matches("3 | ");
        let carets = lines[4].trim_start_matches("  | ");
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        let caret_at = carets.find('^').unwrap();
        let shown_chars: Vec<char> = shown.chars().collect();
        let before: String = shown_chars[caret_at..caret_at + 3].iter().collect();
        assert_eq!(before, "bad", "{shown}\n{carets}");
    }

    #[test]
    fn without_source_only_the_location_is_shown() {
        let diagnostic =
            Diagnostic::from_source("Dockerfile", "", 1, None, "file with no instructions");
        assert_eq!(
            diagnostic.render(),
            "error: file with no instructions\n --> Dockerfile:1"
        );
    }

    #[test]
    fn parse_errors_become_diagnostics() {
        let source = "FROM a\nENV PATH\n";
        let error = match crate::parser::parse(source) {
            Err(error) => error,
            Ok(file) => panic!("parsed {file:?}"),
        };
        let diagnostic = error.to_diagnostic("Dockerfile", source);
        assert_eq!(diagnostic.location(), "Dockerfile:2");
        assert_eq!(diagnostic.source_line.as_deref(), Some("ENV PATH"));
        assert_eq!(diagnostic.message, "ENV must have two arguments");
        assert!(diagnostic.help.is_some());
    }

    #[test]
    fn suggestions() {
        let keywords = ["FROM", "RUN", "COPY", "ADD", "ENV"];
        assert_eq!(did_you_mean("runn", keywords), Some("RUN"));
        assert_eq!(did_you_mean("COPPY", keywords), Some("COPY"));
        assert_eq!(did_you_mean("healthcheck", keywords), None);
        assert_eq!(did_you_mean("", keywords), None);
        assert_eq!(did_you_mean("bulid", ["build", "test"]), Some("build"));
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
