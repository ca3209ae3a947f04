//! Reading a .dockerignore file into its list of patterns, as moby's `ignorefile.ReadAll`
//! does. The patterns are only normalized here; `PathPatterns` compiles and matches them.

use crate::lexical::clean_path;

/// The patterns of a .dockerignore file, in order: a UTF-8 byte order mark is dropped, lines
/// starting with `#` are comments (only in the first column), surrounding whitespace is
/// trimmed, blank lines are skipped, and each pattern is cleaned with a leading `/` removed
/// (`/foo/` and `./foo` both become `foo`), keeping a leading `!` in front.
pub fn parse_ignore_file(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.split('\n')
        .filter_map(|line| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.starts_with('#') {
                return None;
            }
            let pattern = line.trim();
            if pattern.is_empty() {
                return None;
            }
            Some(normalize(pattern))
        })
        .collect()
}

fn normalize(pattern: &str) -> String {
    let (invert, body) = match pattern.strip_prefix('!') {
        Some(rest) => (true, rest.trim()),
        None => (false, pattern),
    };
    let mut body = if body.is_empty() {
        String::new()
    } else {
        clean_path(body)
    };
    if body.len() > 1 && body.starts_with('/') {
        body.remove(0);
    }
    if invert {
        format!("!{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// moby's ignorefile_test.go TestReadAll content and expectations.
    #[test]
    fn reads_like_moby_read_all() {
        let content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
        let expected = [
            "test1",
            "test2",
            "a/file/here",
            "lastfile",
            "!inverted/abs/path",
            "!",
            "!",
        ];
        assert_eq!(parse_ignore_file(content), expected);
    }

    #[test]
    fn bom_crlf_and_indented_hash() {
        let content = "\u{feff}# comment\r\n./build/\r\n  # not a comment\r\n";
        assert_eq!(parse_ignore_file(content), ["build", "# not a comment"]);
        assert!(parse_ignore_file("").is_empty());
    }
}
