//! Per-instruction argument parsers (BuildKit's `line_parsers.go`): how the text after the
//! keyword and flags becomes the node's argument list — JSON or shell form, `key=value`
//! pairs, whitespace-separated words, one verbatim string.
//!
//! Quotes are kept as written and nothing is expanded; `instructions` and the shell lexer
//! do that later.

use super::error::ParseErrorKind;
use super::json::{parse_json_array, JsonArray};
use super::whitespace::split_on_blanks;
use crate::dump::go_quote;

/// The arguments of one instruction.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Arguments {
    pub(super) args: Vec<String>,
    pub(super) json: bool,
}

impl Arguments {
    fn shell(args: Vec<String>) -> Self {
        Arguments { args, json: false }
    }
}

/// `RUN`, `CMD`, `ENTRYPOINT`, `SHELL`: a JSON array, else the text as one string.
pub(super) fn json_or_string(rest: &str) -> Result<Arguments, ParseErrorKind> {
    if rest.is_empty() {
        return Ok(Arguments::default());
    }
    match parse_json_array(rest) {
        JsonArray::Strings(args) => Ok(Arguments { args, json: true }),
        JsonArray::NotAllStrings => Err(ParseErrorKind::JsonNotStringArray),
        JsonArray::NotJson => Ok(Arguments::shell(vec![rest.to_string()])),
    }
}

/// `ADD`, `COPY`, `VOLUME`: a JSON array, else whitespace-separated words.
pub(super) fn json_or_words(rest: &str) -> Result<Arguments, ParseErrorKind> {
    match parse_json_array(rest) {
        JsonArray::Strings(args) => Ok(Arguments { args, json: true }),
        JsonArray::NotAllStrings => Err(ParseErrorKind::JsonNotStringArray),
        JsonArray::NotJson => Ok(whitespace_words(rest)),
    }
}

/// `FROM`, `EXPOSE`: words separated by blanks, quotes not special.
pub(super) fn whitespace_words(rest: &str) -> Arguments {
    if rest.is_empty() {
        return Arguments::default();
    }
    Arguments::shell(
        split_on_blanks(rest, None)
            .into_iter()
            .map(String::from)
            .collect(),
    )
}

/// `MAINTAINER`, `USER`, `WORKDIR`, `STOPSIGNAL`: the text as one string.
pub(super) fn single_string(rest: &str) -> Arguments {
    if rest.is_empty() {
        return Arguments::default();
    }
    Arguments::shell(vec![rest.to_string()])
}

/// `HEALTHCHECK`: the type word (`CMD`, `NONE`) then its command as for `CMD`.
pub(super) fn healthcheck(rest: &str) -> Result<Arguments, ParseErrorKind> {
    let type_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if type_len == 0 {
        return Ok(Arguments::default());
    }
    let (kind, command) = rest.split_at(type_len);
    let command = json_or_string(command.trim_start())?;
    let mut args = vec![kind.to_string()];
    args.extend(command.args);
    Ok(Arguments {
        args,
        json: command.json,
    })
}

/// `ARG`: each word (`name` or `name=value`) as written.
pub(super) fn names_or_pairs(rest: &str, escape: char) -> Arguments {
    Arguments::shell(words(rest, escape))
}

/// `ENV`, `LABEL`: `key value` (old form) or `key=value ...`, as (key, value, separator)
/// triples with separator `""` or `"="`.
pub(super) fn key_values(
    rest: &str,
    keyword: &str,
    escape: char,
) -> Result<Arguments, ParseErrorKind> {
    let words = words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Arguments::default());
    };
    if !first.contains('=') {
        let parts = split_on_blanks(rest, Some(2));
        let [key, value] = parts.as_slice() else {
            return Err(ParseErrorKind::MissingValue {
                keyword: keyword.to_string(),
            });
        };
        return Ok(Arguments::shell(vec![
            key.to_string(),
            value.to_string(),
            String::new(),
        ]));
    }
    let mut args = Vec::with_capacity(words.len() * 3);
    for mut key in words {
        let Some(equals) = key.find('=') else {
            return Err(ParseErrorKind::MissingEquals {
                keyword: keyword.to_string(),
                quoted: go_quote(&key),
                word: key,
            });
        };
        let value = key.split_off(equals + 1);
        key.truncate(equals);
        args.extend([key, value, "=".to_string()]);
    }
    Ok(Arguments::shell(args))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Blank,
    Word,
    Quoted(char),
}

/// BuildKit's `parseWords`: splits on unquoted whitespace, keeping quotes and escapes in the
/// words (an escape before the end of the text is dropped).
pub(super) fn words(rest: &str, escape: char) -> Vec<String> {
    let mut chars = rest.chars().peekable();
    let mut words = Vec::new();
    let mut current = String::new();
    let mut keep_empty = false;
    let mut phase = Phase::Blank;
    while let Some(ch) = chars.next() {
        match phase {
            Phase::Blank if ch.is_whitespace() => continue,
            Phase::Blank | Phase::Word if ch.is_whitespace() => {
                if keep_empty || !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
                keep_empty = false;
                phase = Phase::Blank;
                continue;
            }
            Phase::Blank | Phase::Word => {
                if ch == '\'' || ch == '"' {
                    keep_empty = true;
                    phase = Phase::Quoted(ch);
                } else {
                    phase = Phase::Word;
                }
            }
            Phase::Quoted(quote) if ch == quote => phase = Phase::Word,
            Phase::Quoted('\'') => {
                // Nothing escapes inside single quotes.
                current.push(ch);
                continue;
            }
            Phase::Quoted(_) => {
                if ch == escape && chars.peek().is_none() {
                    phase = Phase::Word;
                    continue;
                }
            }
        }
        if ch == escape {
            // An escape keeps itself and the next character; at the very end it is dropped.
            let Some(escaped) = chars.next() else {
                continue;
            };
            current.push(ch);
            current.push(escaped);
            continue;
        }
        current.push(ch);
    }
    if phase != Phase::Blank && (keep_empty || !current.is_empty()) {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(words("foo bar", '\\'), ["foo", "bar"]);
        assert_eq!(words("foo\\ bar", '\\'), ["foo\\ bar"]);
        assert_eq!(
            words("foo bar 'abc xyz'", '\\'),
            ["foo", "bar", "'abc xyz'"]
        );
        assert_eq!(
            words("föo bàr \"âbc xÿz\"", '\\'),
            ["föo", "bàr", "\"âbc xÿz\""]
        );
        assert_eq!(words("a=\"\" b", '\\'), ["a=\"\"", "b"]);
        assert_eq!(words("a\\", '\\'), ["a"]);
        assert_eq!(words("'a\\'b''", '\\'), ["'a\\'b''"]);
        assert_eq!(words("\"a\\\"b\"", '\\'), ["\"a\\\"b\""]);
        assert_eq!(words("", '\\'), Vec::<String>::new());
    }

    #[test]
    fn key_value_forms() {
        let args = |rest| key_values(rest, "ENV", '\\').map(|a| a.args);
        assert_eq!(
            args("name value  more"),
            Ok(vec!["name".into(), "value  more".into(), String::new()])
        );
        assert_eq!(
            args("a=1 b=\"x y\""),
            Ok(["a", "1", "=", "b", "\"x y\"", "="]
                .map(String::from)
                .to_vec())
        );
        assert_eq!(
            args("PATH"),
            Err(ParseErrorKind::MissingValue {
                keyword: "ENV".into()
            })
        );
        assert!(matches!(
            args("a=1 b"),
            Err(ParseErrorKind::MissingEquals { .. })
        ));
        assert_eq!(args(""), Ok(Vec::new()));
    }

    #[test]
    fn json_and_fallbacks() {
        assert_eq!(
            json_or_string("[\"a\"]").map(|a| (a.args, a.json)),
            Ok((vec!["a".into()], true))
        );
        assert_eq!(
            json_or_string("['a']").map(|a| (a.args, a.json)),
            Ok((vec!["['a']".into()], false))
        );
        assert_eq!(
            json_or_string("[1]"),
            Err(ParseErrorKind::JsonNotStringArray)
        );
        assert_eq!(
            json_or_words("a  b").map(|a| a.args),
            Ok(vec!["a".into(), "b".into()])
        );
        assert_eq!(json_or_words("").map(|a| a.args), Ok(Vec::new()));
    }

    #[test]
    fn healthcheck_type_and_command() {
        let args = |rest| healthcheck(rest).map(|a| (a.args, a.json));
        assert_eq!(
            args("CMD   a b"),
            Ok((vec!["CMD".into(), "a b".into()], false))
        );
        assert_eq!(
            args("CMD [\"x\"]"),
            Ok((vec!["CMD".into(), "x".into()], true))
        );
        assert_eq!(args("NONE"), Ok((vec!["NONE".into()], false)));
        assert_eq!(args(""), Ok((Vec::new(), false)));
    }
}
