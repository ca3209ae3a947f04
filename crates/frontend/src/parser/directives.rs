//! Parser directives (`# syntax=`, `# escape=`, `# check=`): recognised only in the comment
//! lines before anything else (an empty line, another comment or an instruction ends them),
//! names case-insensitive, each at most once, as BuildKit's `DirectiveParser`.
//!
//! It does not interpret `syntax` or `check` values; it validates and returns `escape`.

use super::error::{ParseError, ParseErrorKind};
use crate::ast::Directive;

const KNOWN: [&str; 3] = ["syntax", "escape", "check"];

/// Watches the leading lines for directives.
#[derive(Debug, Default)]
pub(super) struct DirectiveScanner {
    done: bool,
    seen: Vec<String>,
}

impl DirectiveScanner {
    /// Looks at one line (ending and, for first lines, leading whitespace removed).
    pub(super) fn scan(
        &mut self,
        line: &str,
        number: usize,
    ) -> Result<Option<Directive>, ParseError> {
        if self.done {
            return Ok(None);
        }
        let Some((name, value)) = line.strip_prefix('#').and_then(split_directive) else {
            self.done = true;
            return Ok(None);
        };
        let written = name;
        let name = written.to_ascii_lowercase();
        if !KNOWN.contains(&name.as_str()) {
            self.done = true;
            return Ok(None);
        }
        if self.seen.contains(&name) {
            let kind = ParseErrorKind::DuplicateDirective { name: name.clone() };
            return Err(ParseError::new(kind, number, number).locate_in(line, written));
        }
        self.seen.push(name.clone());
        Ok(Some(Directive {
            name,
            value: value.to_string(),
            line: number,
        }))
    }
}

/// Go's `[\t\n\f\r ]` (the `\s` of BuildKit's directive regexp).
fn is_regexp_space(ch: char) -> bool {
    matches!(ch, '\t' | '\n' | '\u{c}' | '\r' | ' ')
}

/// Matches `^\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` on the text after `#`.
fn split_directive(comment: &str) -> Option<(&str, &str)> {
    let text = comment.trim_start();
    let name_len = text
        .char_indices()
        .find(|&(at, ch)| !(ch.is_ascii_alphabetic() || (at > 0 && ch.is_ascii_digit())))
        .map_or(text.len(), |(at, _)| at);
    if name_len == 0 {
        return None;
    }
    let (name, rest) = text.split_at(name_len);
    let after_equals = rest.trim_start_matches(is_regexp_space).strip_prefix('=')?;
    let value = after_equals.trim_start_matches(is_regexp_space);
    if !value.is_empty() {
        return Some((name, value.trim_end_matches(is_regexp_space)));
    }
    // Only blanks after `=`: the lazy `(.+?)` still takes the last one of them.
    let last = after_equals.char_indices().last()?.0;
    Some((name, &after_equals[last..]))
}

/// The escape character named by an `escape` directive.
pub(super) fn escape_token(directive: &Directive) -> Result<char, ParseError> {
    match directive.value.as_str() {
        "\\" => Ok('\\'),
        "`" => Ok('`'),
        other => {
            let kind = ParseErrorKind::InvalidEscapeToken {
                token: other.to_string(),
            };
            Err(ParseError::new(kind, directive.line, directive.line))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(lines: &[&str]) -> Result<Vec<Directive>, ParseError> {
        let mut scanner = DirectiveScanner::default();
        let mut found = Vec::new();
        for (index, line) in lines.iter().enumerate() {
            found.extend(scanner.scan(line, index + 1)?);
        }
        Ok(found)
    }

    #[test]
    fn reads_leading_directives() {
        let found = scan_all(&[
            "# Syntax = docker/dockerfile:1 ",
            "#escape=`",
            "#check=skip=all",
        ]);
        let pairs: Vec<(String, String, usize)> = found.map_or(Vec::new(), |list| {
            list.into_iter()
                .map(|d| (d.name, d.value, d.line))
                .collect()
        });
        assert_eq!(
            pairs,
            [
                ("syntax".to_string(), "docker/dockerfile:1".to_string(), 1),
                ("escape".into(), "`".into(), 2),
                ("check".into(), "skip=all".into(), 3),
            ]
        );
    }

    #[test]
    fn stops_at_the_first_other_line() {
        assert_eq!(scan_all(&["# hello", "# escape=`"]).map(|d| d.len()), Ok(0));
        assert_eq!(scan_all(&["", "# escape=`"]).map(|d| d.len()), Ok(0));
        assert_eq!(
            scan_all(&["# unknown=x", "# escape=`"]).map(|d| d.len()),
            Ok(0)
        );
        assert_eq!(scan_all(&["FROM x", "# escape=`"]).map(|d| d.len()), Ok(0));
    }

    #[test]
    fn rejects_duplicates() {
        let err = scan_all(&["# escape=`", "# ESCAPE=\\"]).err();
        assert_eq!(
            err.map(|e| (e.line, e.column, e.to_string())),
            Some((
                2,
                Some(3),
                "dockerfile parse error on line 2: only one escape parser directive can be used"
                    .to_string()
            ))
        );
    }

    #[test]
    fn blank_value_keeps_one_blank() {
        assert_eq!(split_directive(" escape=  "), Some(("escape", " ")));
        assert_eq!(split_directive("escape="), None);
        assert_eq!(split_directive("1x=y"), None);
    }
}
