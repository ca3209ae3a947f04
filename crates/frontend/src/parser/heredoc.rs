//! Heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`, several per line) for `RUN`, `COPY` and
//! `ADD` (also under `ONBUILD`, never in JSON form): finding the markers on an instruction
//! line the way BuildKit does (its shell lexer with raw quotes and escapes), and reading the
//! bodies that follow, in marker order.
//!
//! Bodies are kept verbatim (line endings included); only `<<-` strips leading tabs.

use super::lines::{trim_newline, PhysicalLines};
use crate::ast::{Heredoc, Node};
use crate::shell::{ShellLex, VarLookup};

/// Instructions whose arguments may open heredocs.
const HEREDOC_KEYWORDS: [&str; 3] = ["run", "copy", "add"];

/// An empty environment: heredoc markers are lexed without expanding anything.
struct NoVariables;

impl VarLookup for NoVariables {
    fn lookup(&self, _name: &str) -> Option<&str> {
        None
    }
}

/// Whether heredocs on this node's line are read (BuildKit's `canContainHeredoc`).
pub(super) fn can_contain_heredoc(node: &Node) -> bool {
    let target = match (&node.keyword[..], &node.onbuild) {
        ("onbuild", Some(inner)) => inner,
        _ => node,
    };
    HEREDOC_KEYWORDS.contains(&target.keyword.as_str()) && !target.json
}

/// The heredoc markers on an instruction line, bodies still empty.
pub(super) fn markers_in_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let lexer = ShellLex::new('\\')
        .raw_quotes(true)
        .raw_escapes(true)
        .skip_unset_env(true);
    // A line the lexer cannot read (an unbalanced quote) simply has no heredocs.
    let words = lexer.process_words(line, &NoVariables).unwrap_or_default();
    let mut markers = Vec::new();
    for word in words {
        markers.extend(parse_marker(&word)?);
    }
    Ok(markers)
}

/// Reads one word as a heredoc marker: `^(\d*)<<(-?)\s*([^<]*)$`, then the delimiter word
/// through the shell lexer (quotes removed; any quoting disables expansion).
pub(super) fn parse_marker(word: &str) -> Result<Option<Heredoc>, String> {
    let digits_len = word.bytes().take_while(u8::is_ascii_digit).count();
    let (digits, rest) = word.split_at(digits_len);
    let Some(rest) = rest.strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(after) => (true, after),
        None => (false, rest),
    };
    let delimiter = rest.trim_start_matches(['\t', '\n', '\u{c}', '\r', ' ']);
    if delimiter.is_empty() || delimiter.contains('<') {
        return Ok(None);
    }
    let lexer = ShellLex::new('\\').skip_unset_env(true);
    let words = lexer
        .process_words(delimiter, &NoVariables)
        .map_err(|err| err.to_string())?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw_words = lexer
        .raw_quotes(true)
        .process_words(delimiter, &NoVariables)
        .map_err(|err| err.to_string())?;
    let [raw_name] = raw_words.as_slice() else {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {delimiter}"
        ));
    };
    let quotes = |text: &str| text.chars().filter(|&ch| ch == '\'' || ch == '"').count();
    Ok(Some(Heredoc {
        name: name.clone(),
        content: String::new(),
        expand: quotes(name) == quotes(raw_name),
        chomp,
        file_descriptor: file_descriptor(digits),
    }))
}

fn file_descriptor(digits: &str) -> Option<u32> {
    if digits.is_empty() {
        return None;
    }
    Some(digits.parse().unwrap_or(u32::MAX))
}

/// Reads the body of `heredoc` up to its terminator line; `false` if the input ends first.
pub(super) fn read_body(heredoc: &mut Heredoc, lines: &mut PhysicalLines<'_>) -> bool {
    let mut content = String::new();
    for line in lines.by_ref() {
        let candidate = trim_newline(line);
        let candidate = if heredoc.chomp {
            candidate.trim_start_matches('\t')
        } else {
            candidate
        };
        if candidate == heredoc.name {
            heredoc.content = if heredoc.chomp {
                strip_leading_tabs(&content)
            } else {
                content
            };
            return true;
        }
        content.push_str(line);
    }
    false
}

/// `<<-`: leading tabs go from every line of the body.
fn strip_leading_tabs(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|line| line.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(word: &str) -> Option<(String, bool, bool, Option<u32>)> {
        match parse_marker(word) {
            Ok(found) => found.map(|h| (h.name, h.expand, h.chomp, h.file_descriptor)),
            Err(message) => panic!("{word}: {message}"),
        }
    }

    #[test]
    fn valid_markers() {
        for word in [
            "<<EOF",
            "<<'EOF'",
            "<<\"EOF\"",
            "<<-EOF",
            "<<-'EOF'",
            "<<-\"EOF\"",
            "<<EO\"F\"",
            "<< EOF",
            "<<- EOF",
        ] {
            assert_eq!(marker(word).map(|m| m.0), Some("EOF".to_string()), "{word}");
        }
        assert_eq!(marker("3<<-EOF"), Some(("EOF".into(), true, true, Some(3))));
        assert_eq!(marker("<<'EOF'"), Some(("EOF".into(), false, false, None)));
        assert_eq!(marker("<<eo\\'f"), Some(("eo'f".into(), true, false, None)));
        assert_eq!(
            marker("<<'e'o\\'f"),
            Some(("eo'f".into(), false, false, None))
        );
        assert_eq!(marker("<<$EOF"), Some(("$EOF".into(), true, false, None)));
    }

    #[test]
    fn not_markers() {
        for word in ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"] {
            assert_eq!(marker(word), None, "{word}");
        }
        for word in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
            assert!(parse_marker(word).is_err(), "{word}");
        }
    }

    #[test]
    fn markers_on_lines() {
        let names = |line: &str| -> Vec<String> {
            markers_in_line(line).map_or(Vec::new(), |list| {
                list.into_iter().map(|h| h.name).collect()
            })
        };
        // The lexer keeps blanks after `<<` in the word, but not after `<<-`.
        assert_eq!(names("RUN <<  EOF"), ["EOF"]);
        assert!(names("RUN <<- EOF").is_empty());
        assert_eq!(names("RUN << -EOF"), ["-EOF"]);
        assert_eq!(names("RUN 4<<EOF <<EOF2"), ["EOF", "EOF2"]);
        assert!(names("RUN '<<EOF'").is_empty());
        assert!(names("RUN \"<<EOF\"").is_empty());
        assert!(names("RUN <<'EOF").is_empty());
    }

    #[test]
    fn chomped_bodies_lose_leading_tabs() {
        let mut heredoc = Heredoc {
            name: "X".into(),
            chomp: true,
            ..Heredoc::default()
        };
        let mut lines = PhysicalLines::new("\tbaz\n\t\tquux\r\n\tX\nafter\n");
        assert!(read_body(&mut heredoc, &mut lines));
        assert_eq!(heredoc.content, "baz\nquux\r\n");
        assert_eq!(lines.next(), Some("after\n"));
    }
}
