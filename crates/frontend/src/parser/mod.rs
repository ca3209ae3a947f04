//! The Dockerfile parser: source text to [`ast::Dockerfile`], with BuildKit's semantics
//! (`frontend/dockerfile/parser`): parser directives, escape character, line continuations
//! (comment and empty lines inside them skipped, the latter with a warning), heredocs, JSON
//! and shell forms, flags, case-insensitive keywords, UTF-8 BOM and CRLF.
//!
//! It does not check that keywords exist or that flags and arguments make sense for them;
//! the instruction layer does, with the spans recorded here.

mod args;
mod command;
mod directives;
mod error;
mod heredoc;
mod json;
mod lines;
mod whitespace;

pub use error::{ParseError, ParseErrorKind};
pub use lines::line_count;

use crate::ast::{self, Dockerfile, Node, Warning};
use directives::DirectiveScanner;
use lines::PhysicalLines;

/// Parses a Dockerfile.
pub fn parse(source: &str) -> Result<Dockerfile, ParseError> {
    let mut parser = Parser {
        lines: PhysicalLines::new(source),
        directives: DirectiveScanner::default(),
        file: Dockerfile {
            escape: '\\',
            // At most one instruction per line: growing a vector of large nodes line by
            // line would copy it over and over.
            instructions: Vec::with_capacity(line_count(source)),
            ..Dockerfile::default()
        },
    };
    while let Some(raw) = parser.lines.next() {
        parser.instruction_from(raw)?;
    }
    if parser.file.instructions.is_empty() {
        let last = parser.lines.number();
        return Err(ParseError::new(ParseErrorKind::NoInstructions, last, last));
    }
    Ok(parser.file)
}

/// Reads one argument word as a heredoc marker (`<<EOF`, `3<<-'EOF'`), as BuildKit's
/// `MustParseHeredoc`: name, expansion, chomp and file descriptor filled in, body empty;
/// `None` when the word is not a (well-formed) marker.
pub fn heredoc_marker(word: &str) -> Option<ast::Heredoc> {
    heredoc::parse_marker(word).ok().flatten()
}

/// The state of one parse.
struct Parser<'a> {
    lines: PhysicalLines<'a>,
    directives: DirectiveScanner,
    file: Dockerfile,
}

impl Parser<'_> {
    /// Handles one physical line and, if an instruction starts there, the whole instruction.
    fn instruction_from(&mut self, raw: &str) -> Result<(), ParseError> {
        let start = self.lines.number();
        let text = self.prepare(raw, true)?;
        let (first, mut complete) = lines::trim_continuation(text, self.file.escape);
        if complete && first.is_empty() {
            return Ok(());
        }
        let mut line = first.to_string();
        let mut empty_continuation = false;
        while !complete {
            let Some(raw) = self.lines.next() else {
                break;
            };
            let text = self.prepare(raw, false)?;
            if lines::is_comment(raw) {
                continue;
            }
            if lines::is_empty_continuation(text) {
                empty_continuation = true;
                continue;
            }
            let (part, done) = lines::trim_continuation(text, self.file.escape);
            line.push_str(part);
            complete = done;
        }
        if empty_continuation {
            self.file.warnings.push(Warning {
                message: format!("Empty continuation line found in: {line}"),
                line: self.lines.number(),
            });
        }
        let node = self.node(&line, start, raw)?;
        self.file.instructions.push(node);
        Ok(())
    }

    /// BuildKit's `processLine`: drops the line ending (and leading whitespace on an
    /// instruction's first line), looks for a directive, and blanks out comments.
    fn prepare<'l>(&mut self, raw: &'l str, first_line: bool) -> Result<&'l str, ParseError> {
        let mut text = lines::trim_newline(raw);
        if first_line {
            text = text.trim_start();
        }
        let number = self.lines.number();
        if let Some(directive) = self.directives.scan(text, number)? {
            if directive.name == "escape" {
                self.file.escape = directives::escape_token(&directive)?;
            }
            self.file.directives.push(directive);
        }
        Ok(lines::strip_comment(text))
    }

    /// Builds the node for a joined line and reads its heredoc bodies.
    fn node(&mut self, line: &str, start: usize, first_raw: &str) -> Result<Node, ParseError> {
        let mut node = command::build_node(line, self.file.escape).map_err(|kind| {
            let located = locate(&kind);
            ParseError::new(kind, start, self.lines.number()).locate_in(first_raw, &located)
        })?;
        if heredoc::can_contain_heredoc(&node) && line.contains("<<") {
            let heredocs = self.heredocs(line, start)?;
            if let Some(inner) = node.onbuild.as_deref_mut() {
                inner.heredocs = heredocs.clone();
            }
            node.heredocs = heredocs;
        }
        set_span(&mut node, start, self.lines.number());
        Ok(node)
    }

    fn heredocs(&mut self, line: &str, start: usize) -> Result<Vec<ast::Heredoc>, ParseError> {
        let mut heredocs = heredoc::markers_in_line(line).map_err(|message| {
            let kind = ParseErrorKind::InvalidHeredoc { message };
            ParseError::new(kind, start, self.lines.number())
        })?;
        for heredoc in &mut heredocs {
            if !heredoc::read_body(heredoc, &mut self.lines) {
                let kind = ParseErrorKind::UnterminatedHeredoc {
                    name: heredoc.name.clone(),
                };
                return Err(ParseError::new(kind, start, self.lines.number()));
            }
        }
        Ok(heredocs)
    }
}

/// The text an argument error is about, to point a column at.
fn locate(kind: &ParseErrorKind) -> String {
    match kind {
        ParseErrorKind::MissingEquals { word, .. } => word.clone(),
        _ => String::new(),
    }
}

fn set_span(node: &mut Node, start: usize, end: usize) {
    node.start_line = start;
    node.end_line = end;
    if let Some(inner) = node.onbuild.as_deref_mut() {
        set_span(inner, start, end);
    }
}

#[cfg(test)]
mod tests;
