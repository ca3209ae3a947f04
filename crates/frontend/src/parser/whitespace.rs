//! Go's whitespace rules as BuildKit's parser applies them: `unicode.IsSpace` (which is
//! Unicode `White_Space`, the same set as `char::is_whitespace`, so `str::trim` matches Go's
//! `strings.TrimSpace`) and the `[\t\v\f\r ]+` separator regexp with Go's `Regexp.Split`.
//!
//! It knows nothing about instructions.

/// The characters of BuildKit's `[\t\v\f\r ]` class (no newline: lines are already split).
fn is_blank(ch: char) -> bool {
    matches!(ch, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Byte ranges of the runs of blanks in a text, in order.
struct BlankRuns<'a> {
    chars: std::str::CharIndices<'a>,
    len: usize,
}

impl Iterator for BlankRuns<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let (start, _) = self.chars.by_ref().find(|&(_, ch)| is_blank(ch))?;
        let end = self
            .chars
            .by_ref()
            .find(|&(_, ch)| !is_blank(ch))
            .map_or(self.len, |(at, _)| at);
        Some((start, end))
    }
}

/// Go's `regexp.MustCompile("[\t\v\f\r ]+").Split(text, limit)`, `None` meaning `-1`.
///
/// Like Go it yields an empty first piece when `text` starts with blanks and an empty last
/// piece when it ends with them.
pub(super) fn split_on_blanks(text: &str, limit: Option<usize>) -> Vec<&str> {
    if text.is_empty() {
        return vec![""];
    }
    let runs = BlankRuns {
        chars: text.char_indices(),
        len: text.len(),
    };
    let mut pieces = Vec::new();
    let (mut begin, mut end) = (0, 0);
    for (run_start, run_end) in runs {
        if limit.is_some_and(|limit| pieces.len() + 1 == limit) {
            break;
        }
        end = run_start;
        if run_end != 0 {
            pieces.push(&text[begin..end]);
        }
        begin = run_end;
    }
    if end != text.len() {
        pieces.push(&text[begin..]);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::split_on_blanks;

    #[test]
    fn splits_like_go_regexp() {
        assert_eq!(split_on_blanks("a \t b  c", None), ["a", "b", "c"]);
        assert_eq!(split_on_blanks("a \t b  c", Some(2)), ["a", "b  c"]);
        assert_eq!(split_on_blanks("abc", Some(2)), ["abc"]);
        assert_eq!(split_on_blanks("", Some(2)), [""]);
        assert_eq!(split_on_blanks(" a ", None), ["", "a", ""]);
        assert_eq!(split_on_blanks("a\u{a0}b", None), ["a\u{a0}b"]);
    }
}
