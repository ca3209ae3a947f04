//! One logical line to one [`Node`]: the keyword (case-insensitive), the leading `--flag`
//! words, then the keyword's argument parser (BuildKit's `splitCommand`,
//! `extractBuilderFlags` and dispatch table). `ONBUILD` parses its trigger recursively.
//!
//! Unknown keywords are kept (with BuildKit's single empty argument) for the instruction
//! layer to reject with a suggestion; this module judges nothing else.

use super::args::{self, Arguments};
use super::error::ParseErrorKind;
use super::whitespace::split_on_blanks;
use crate::ast::Node;

/// Builds the node for `line` (spans and heredocs are filled in by the caller).
pub(super) fn build_node(line: &str, escape: char) -> Result<Node, ParseErrorKind> {
    let (keyword, flags, rest) = split_command(line);
    let mut node = Node {
        keyword,
        flags,
        original: line.to_string(),
        ..Node::default()
    };
    if node.keyword == "onbuild" {
        if !rest.is_empty() {
            node.onbuild = Some(Box::new(build_node(rest, escape)?));
        }
        return Ok(node);
    }
    let Arguments { args, json } = arguments(&node.keyword, rest, escape)?;
    node.args = args;
    node.json = json;
    Ok(node)
}

fn arguments(keyword: &str, rest: &str, escape: char) -> Result<Arguments, ParseErrorKind> {
    Ok(match keyword {
        "add" | "copy" | "volume" => args::json_or_words(rest)?,
        "cmd" | "entrypoint" | "run" | "shell" => args::json_or_string(rest)?,
        "arg" => args::names_or_pairs(rest, escape),
        "env" => args::key_values(rest, "ENV", escape)?,
        "label" => args::key_values(rest, "LABEL", escape)?,
        "expose" | "from" => args::whitespace_words(rest),
        "healthcheck" => args::healthcheck(rest)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => args::single_string(rest),
        // BuildKit keeps unknown instructions with one empty argument.
        _ => Arguments {
            args: vec![String::new()],
            json: false,
        },
    })
}

/// Splits a logical line into the lowercased keyword, the flags and the trimmed rest.
fn split_command(line: &str) -> (String, Vec<String>, &str) {
    let parts = split_on_blanks(line.trim(), Some(2));
    let keyword = parts
        .first()
        .map_or(String::new(), |word| word.to_lowercase());
    match parts.get(1) {
        Some(after_keyword) => {
            let (rest, flags) = extract_flags(after_keyword);
            (keyword, flags, rest.trim())
        }
        None => (keyword, Vec::new(), ""),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Blank,
    Word,
    Quoted(char),
}

/// Takes the leading words that start with `--` as flags (quotes removed, `\` escapes the
/// next character); a bare `--` ends the flags. Returns the remaining text and the flags.
fn extract_flags(line: &str) -> (&str, Vec<String>) {
    let mut chars = line.char_indices().peekable();
    let mut flags = Vec::new();
    let mut word = String::new();
    let mut keep_empty = false;
    let mut phase = Phase::Blank;
    while let Some((offset, ch)) = chars.next() {
        let next = chars.peek().map(|&(_, next)| next);
        match phase {
            Phase::Blank if ch.is_whitespace() => continue,
            Phase::Blank if ch != '-' || next != Some('-') => return (&line[offset..], flags),
            Phase::Blank | Phase::Word if ch.is_whitespace() => {
                if word == "--" {
                    return (&line[offset..], flags);
                }
                if keep_empty || !word.is_empty() {
                    flags.push(std::mem::take(&mut word));
                }
                keep_empty = false;
                phase = Phase::Blank;
            }
            Phase::Blank | Phase::Word if ch == '\'' || ch == '"' => {
                keep_empty = true;
                phase = Phase::Quoted(ch);
            }
            Phase::Quoted(quote) if ch == quote => phase = Phase::Word,
            Phase::Blank | Phase::Word | Phase::Quoted(_) => {
                if phase == Phase::Blank {
                    phase = Phase::Word;
                }
                if ch != '\\' {
                    word.push(ch);
                } else if let Some((_, escaped)) = chars.next() {
                    word.push(escaped);
                } else {
                    // A trailing backslash is dropped (and closes an open quote).
                    phase = Phase::Word;
                }
            }
        }
    }
    if phase != Phase::Blank && word != "--" && (keep_empty || !word.is_empty()) {
        flags.push(word);
    }
    ("", flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags_of(line: &str) -> (Vec<String>, String) {
        let (rest, flags) = extract_flags(line);
        (flags, rest.to_string())
    }

    #[test]
    fn flags_then_rest() {
        assert_eq!(
            flags_of("--user=me --doit=true foo /tmp/"),
            (
                vec!["--user=me".into(), "--doit=true".into()],
                "foo /tmp/".into()
            )
        );
        assert_eq!(
            flags_of("--doit=true -- foo"),
            (vec!["--doit=true".into()], " foo".into())
        );
        assert_eq!(
            flags_of("--doit -- [ ]"),
            (vec!["--doit".into()], " [ ]".into())
        );
        assert_eq!(
            flags_of("--a=\"x y\" z"),
            (vec!["--a=x y".into()], "z".into())
        );
        assert_eq!(flags_of("--a=\\\" z"), (vec!["--a=\"".into()], "z".into()));
        assert_eq!(flags_of("-a b"), (Vec::new(), "-a b".into()));
        assert_eq!(flags_of("--a"), (vec!["--a".into()], String::new()));
        assert_eq!(flags_of("--a --"), (vec!["--a".into()], String::new()));
        assert_eq!(
            flags_of("--chown=à b"),
            (vec!["--chown=à".into()], "b".into())
        );
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let node = build_node("  RuN --mount=x  echo hi ", '\\');
        let summary = node.map(|n| (n.keyword, n.flags, n.args));
        assert_eq!(
            summary,
            Ok((
                "run".into(),
                vec!["--mount=x".into()],
                vec!["echo hi".into()]
            ))
        );
    }

    #[test]
    fn onbuild_nests_its_trigger() {
        let node = build_node("ONBUILD RUN [\"a\"]", '\\');
        let inner = node
            .ok()
            .and_then(|n| n.onbuild)
            .map(|inner| (inner.keyword, inner.args, inner.json));
        assert_eq!(inner, Some(("run".into(), vec!["a".into()], true)));
    }

    #[test]
    fn unknown_keyword_keeps_an_empty_argument() {
        assert_eq!(
            build_node("RUNN make", '\\').map(|n| n.args),
            Ok(vec![String::new()])
        );
        assert_eq!(
            build_node("", '\\').map(|n| (n.keyword, n.args)),
            Ok((String::new(), vec![String::new()]))
        );
    }
}
