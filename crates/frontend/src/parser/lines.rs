//! Physical lines as BuildKit's parser reads them: split after `\n` (endings kept, CRLF
//! tolerated), numbered from 1, with the helpers that decide what a line is: a comment, an
//! empty continuation line, or a line continued by a trailing escape character.
//!
//! It does not join lines into instructions; `parse` drives that with these helpers.

/// The source split into numbered physical lines, each with its line ending.
pub(super) struct PhysicalLines<'a> {
    rest: std::str::SplitInclusive<'a, char>,
    number: usize,
}

impl<'a> PhysicalLines<'a> {
    pub(super) fn new(source: &'a str) -> Self {
        PhysicalLines {
            rest: source.split_inclusive('\n'),
            number: 0,
        }
    }

    /// Number of the line last returned (0 before the first).
    pub(super) fn number(&self) -> usize {
        self.number
    }
}

impl<'a> Iterator for PhysicalLines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let line = self.rest.next()?;
        self.number += 1;
        if self.number == 1 {
            return Some(line.strip_prefix('\u{feff}').unwrap_or(line));
        }
        Some(line)
    }
}

/// Number of physical lines in `source` as [`PhysicalLines`] counts them.
pub fn line_count(source: &str) -> usize {
    source.split_inclusive('\n').count()
}

/// Drops the line ending (every trailing `\r` and `\n`).
pub(super) fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// A comment: `#` after optional leading whitespace.
pub(super) fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Comment lines contribute nothing to an instruction.
pub(super) fn strip_comment(line: &str) -> &str {
    if is_comment(line) {
        ""
    } else {
        line
    }
}

/// A blank line inside a continuation (deprecated; BuildKit warns).
pub(super) fn is_empty_continuation(line: &str) -> bool {
    trim_newline(line).trim_start().is_empty()
}

/// Removes a trailing line-continuation escape: the escape character, then only blanks,
/// at the end of the line and not itself escaped (`foo \\` is not continued), or alone on
/// its line. Returns the remaining text and whether the instruction ends on this line.
pub(super) fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return (line, true);
    };
    if before.is_empty() {
        return ("", false);
    }
    if before.ends_with(escape) {
        return (line, true);
    }
    (before, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rules() {
        assert_eq!(trim_continuation("RUN a \\", '\\'), ("RUN a ", false));
        assert_eq!(trim_continuation("RUN a\\ \t", '\\'), ("RUN a", false));
        assert_eq!(trim_continuation("\\  ", '\\'), ("", false));
        assert_eq!(
            trim_continuation("ENV C x\\\\", '\\'),
            ("ENV C x\\\\", true)
        );
        assert_eq!(trim_continuation("RUN a `", '`'), ("RUN a ", false));
        assert_eq!(trim_continuation("RUN a \\", '`'), ("RUN a \\", true));
        assert_eq!(trim_continuation("", '\\'), ("", true));
    }

    #[test]
    fn lines_keep_endings_and_drop_the_bom() {
        let lines: Vec<&str> = PhysicalLines::new("\u{feff}a\r\nb\n\nc").collect();
        assert_eq!(lines, ["a\r\n", "b\n", "\n", "c"]);
        assert_eq!(line_count("a\nb"), 2);
        assert_eq!(line_count("a\n"), 1);
        assert_eq!(line_count(""), 0);
        assert_eq!(trim_newline("a\r\n"), "a");
    }

    #[test]
    fn comments_and_empty_lines() {
        assert!(is_comment("   # x"));
        assert!(!is_comment("RUN # x"));
        assert!(is_empty_continuation(" \t\r\n"));
        assert_eq!(strip_comment("#x"), "");
    }
}
