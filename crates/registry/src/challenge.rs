//! `WWW-Authenticate` challenges (RFC 7235) as registries send them: a scheme (`Bearer`,
//! `Basic`) with `key="value"` parameters, several challenges possibly in one header.
//!
//! Parsing only; answering a challenge is the client's.

use std::collections::BTreeMap;

/// One challenge: its scheme, lowercased, and its parameters (keys lowercased).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }
}

/// Every challenge in a header value; malformed parts are skipped.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut lexer = Lexer {
        chars: header.chars().collect(),
        at: 0,
    };
    let mut challenges: Vec<Challenge> = Vec::new();
    loop {
        lexer.skip(|c| c == ',' || c.is_whitespace());
        let word = lexer.token();
        if word.is_empty() {
            match lexer.peek() {
                None => break,
                Some('"') => drop(lexer.value()),
                Some(_) => lexer.at += 1,
            }
            continue;
        }
        lexer.skip(char::is_whitespace);
        if lexer.peek() == Some('=') {
            lexer.at += 1;
            lexer.skip(char::is_whitespace);
            let value = lexer.value();
            if let Some(current) = challenges.last_mut() {
                current.params.insert(word.to_ascii_lowercase(), value);
            }
        } else {
            challenges.push(Challenge {
                scheme: word.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
        }
    }
    challenges
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip(&mut self, what: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&what) {
            self.at += 1;
        }
    }

    fn token(&mut self) -> String {
        let start = self.at;
        self.skip(|c| !(c.is_whitespace() || c == ',' || c == '=' || c == '"'));
        self.chars[start..self.at].iter().collect()
    }

    /// A quoted string (backslash escapes honoured) or a bare token.
    fn value(&mut self) -> String {
        if self.peek() != Some('"') {
            return self.token();
        }
        self.at += 1;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.at += 1;
            match c {
                '"' => break,
                '\\' => {
                    if let Some(escaped) = self.peek() {
                        out.push(escaped);
                        self.at += 1;
                    }
                }
                c => out.push(c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_scope_holding_commas() {
        let header = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#;
        let challenges = parse_challenges(header);
        assert_eq!(challenges.len(), 1);
        let bearer = &challenges[0];
        assert_eq!(bearer.scheme, "bearer");
        assert_eq!(bearer.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(bearer.param("service"), Some("registry.docker.io"));
        assert_eq!(
            bearer.param("scope"),
            Some("repository:samalba/my-app:pull,push")
        );
    }

    #[test]
    fn basic_and_several_challenges() {
        let challenges = parse_challenges(r#"Basic realm="Registry Realm", Bearer realm=x"#);
        assert_eq!(challenges.len(), 2);
        assert_eq!(challenges[0].scheme, "basic");
        assert_eq!(challenges[0].param("realm"), Some("Registry Realm"));
        assert_eq!(challenges[1].scheme, "bearer");
        assert_eq!(challenges[1].param("realm"), Some("x"));
    }

    #[test]
    fn escapes_and_case() {
        let challenges = parse_challenges(r#"BEARER Realm="a\"b""#);
        assert_eq!(challenges[0].scheme, "bearer");
        assert_eq!(challenges[0].param("realm"), Some("a\"b"));
    }

    #[test]
    fn garbage_gives_nothing_or_bare_schemes() {
        assert!(parse_challenges("").is_empty());
        assert!(parse_challenges(",,  ,").is_empty());
        assert_eq!(parse_challenges("=\"x\"").len(), 0);
    }
}
