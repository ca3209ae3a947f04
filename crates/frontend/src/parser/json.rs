//! The JSON (exec) form of `RUN`, `CMD`, `COPY`...: decodes a JSON array of strings exactly
//! as Go's `encoding/json` does for BuildKit, including what counts as "not JSON" (then the
//! instruction falls back to shell form) versus "JSON but not all strings" (an error).
//!
//! It only decodes; deciding what the fallback means is the argument parsers' job.

/// What a would-be JSON array turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum JsonArray {
    /// Valid JSON array whose elements are all strings.
    Strings(Vec<String>),
    /// Valid JSON array with a non-string element: BuildKit rejects the instruction.
    NotAllStrings,
    /// Not a JSON array (or invalid JSON): BuildKit treats the text as shell form.
    NotJson,
}

/// Go's decoder refuses documents nested deeper than this (the outer array counts).
const MAX_DEPTH: usize = 10_000;

/// Decodes `text` (leading whitespace allowed) as BuildKit's `parseJSON` does.
pub(super) fn parse_json_array(text: &str) -> JsonArray {
    let text = text.trim_start();
    if !text.starts_with('[') {
        return JsonArray::NotJson;
    }
    let mut reader = Reader {
        bytes: text.as_bytes(),
        pos: 0,
    };
    match reader.top_level_array() {
        Some(elements) if reader.at_end() => {
            let strings: Option<Vec<String>> = elements.into_iter().collect();
            strings.map_or(JsonArray::NotAllStrings, JsonArray::Strings)
        }
        _ => JsonArray::NotJson,
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek() == Some(byte)).then(|| self.pos += 1)
    }

    fn at_end(&mut self) -> bool {
        self.skip_whitespace();
        self.pos == self.bytes.len()
    }

    /// The outer array: each element is `Some(string)` or `None` for any other value.
    fn top_level_array(&mut self) -> Option<Vec<Option<String>>> {
        self.eat(b'[')?;
        let mut elements = Vec::new();
        if self.eat(b']').is_some() {
            return Some(elements);
        }
        loop {
            self.skip_whitespace();
            if self.peek() == Some(b'"') {
                elements.push(Some(self.string()?));
            } else {
                self.skip_value()?;
                elements.push(None);
            }
            self.skip_whitespace();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(elements);
                }
                _ => return None,
            }
        }
    }

    /// Validates one nested value without recursion (nesting depth is input-controlled).
    fn skip_value(&mut self) -> Option<()> {
        let mut open: Vec<u8> = Vec::new();
        loop {
            self.skip_scalar_or_open(&mut open)?;
            // After a value: close containers or move to the next element.
            loop {
                let Some(&container) = open.last() else {
                    return Some(());
                };
                self.skip_whitespace();
                match (container, self.peek()?) {
                    (_, b',') => {
                        self.pos += 1;
                        if container == b'{' {
                            self.object_key()?;
                        }
                        break;
                    }
                    (b'[', b']') | (b'{', b'}') => {
                        self.pos += 1;
                        open.pop();
                    }
                    _ => return None,
                }
            }
        }
    }

    /// Reads a scalar, or opens a container (pushing it); an empty container is closed at
    /// once. Returns with the reader just after a complete value or before the first element.
    fn skip_scalar_or_open(&mut self, open: &mut Vec<u8>) -> Option<()> {
        loop {
            self.skip_whitespace();
            match self.peek()? {
                container @ (b'[' | b'{') => {
                    self.pos += 1;
                    // +1 for the outer array, which is not on this stack.
                    if open.len() + 2 > MAX_DEPTH {
                        return None;
                    }
                    let close = if container == b'[' { b']' } else { b'}' };
                    if self.eat(close).is_some() {
                        return Some(());
                    }
                    open.push(container);
                    if container == b'{' {
                        self.skip_whitespace();
                        self.object_key_first()?;
                    }
                }
                b'"' => return self.string().map(drop),
                b't' => return self.literal(b"true"),
                b'f' => return self.literal(b"false"),
                b'n' => return self.literal(b"null"),
                b'-' | b'0'..=b'9' => return self.number(),
                _ => return None,
            }
        }
    }

    fn object_key_first(&mut self) -> Option<()> {
        self.string()?;
        self.eat(b':')
    }

    fn object_key(&mut self) -> Option<()> {
        self.skip_whitespace();
        self.object_key_first()
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        (self.bytes.get(self.pos..end) == Some(word)).then(|| self.pos = end)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            (self.digits() > 0).then_some(())?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            (self.digits() > 0).then_some(())?;
        }
        Some(())
    }

    /// A string literal, decoded; lone surrogates become U+FFFD as in Go.
    fn string(&mut self) -> Option<String> {
        (self.peek() == Some(b'"')).then_some(())?;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while !matches!(self.peek()?, b'"' | b'\\' | 0..=0x1f) {
                self.pos += 1;
            }
            // Splitting only at ASCII bytes keeps UTF-8 sequences whole.
            out.push_str(std::str::from_utf8(&self.bytes[start..self.pos]).ok()?);
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(out);
                }
                b'\\' => out.push(self.escape()?),
                _ => return None,
            }
        }
    }

    fn escape(&mut self) -> Option<char> {
        self.pos += 1;
        let byte = self.peek()?;
        self.pos += 1;
        Some(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => self.unicode_escape()?,
            _ => return None,
        })
    }

    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if !(0xD800..0xE000).contains(&first) {
            return char::from_u32(first);
        }
        // A surrogate: only a following valid low surrogate makes a pair.
        let saved = self.pos;
        if first < 0xDC00 && self.bytes.get(self.pos..self.pos + 2) == Some(b"\\u") {
            self.pos += 2;
            if let Some(second @ 0xDC00..=0xDFFF) = self.hex4() {
                let combined = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                return char::from_u32(combined);
            }
        }
        self.pos = saved;
        Some(char::REPLACEMENT_CHARACTER)
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.pos..self.pos + 4)?;
        let text = std::str::from_utf8(digits).ok()?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.pos += 4;
        u32::from_str_radix(text, 16).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> JsonArray {
        JsonArray::Strings(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn decodes_string_arrays() {
        assert_eq!(parse_json_array("[]"), strings(&[]));
        assert_eq!(
            parse_json_array("  [ \"a\" ,\t\"b\" ] \n"),
            strings(&["a", "b"])
        );
        assert_eq!(
            parse_json_array(r#"["\" \\ \/ \b \f \n \r \t \u0000 \u2603 \ud83d\ude00"]"#),
            strings(&["\" \\ / \u{8} \u{c} \n \r \t \u{0} ☃ 😀"])
        );
        assert_eq!(
            parse_json_array(r#"["\ud800x", "\udc00"]"#),
            strings(&["\u{fffd}x", "\u{fffd}"])
        );
    }

    #[test]
    fn non_strings_are_rejected() {
        for text in [
            r#"["a", 1]"#,
            "[null]",
            r#"[["nested"]]"#,
            r#"[{"a": [1, {}]}]"#,
            "[-0.5e+3, true]",
        ] {
            assert_eq!(parse_json_array(text), JsonArray::NotAllStrings, "{text}");
        }
    }

    #[test]
    fn invalid_json_falls_back() {
        for text in [
            "['a']",
            "[\"a\"",
            "[\"a]",
            "[\"a\"] x",
            "[01]",
            "[1.]",
            "[\"a\",]",
            "[\"\t\"]",
            "{}",
            "\"a\"",
            "[tru]",
            "[{\"a\" 1}]",
        ] {
            assert_eq!(parse_json_array(text), JsonArray::NotJson, "{text}");
        }
    }

    #[test]
    fn nesting_limit_matches_go() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(
            parse_json_array(&nested(MAX_DEPTH)),
            JsonArray::NotAllStrings
        );
        assert_eq!(parse_json_array(&nested(MAX_DEPTH + 1)), JsonArray::NotJson);
    }
}
