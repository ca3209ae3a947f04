//! Dockerfile bytes → text. Invalid UTF-8 is accepted in comment lines (BuildKit ignores
//! what comments hold; their bytes become U+FFFD) and refused anywhere else with the line.
//!
//! It does not parse: which lines are comments is decided by their first non-blank byte.

/// A line holding bytes that are not UTF-8 outside a comment.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line} is not valid UTF-8 (only comment lines may hold other bytes)")]
pub struct NonUtf8Line {
    /// 1-based.
    pub line: usize,
}

/// The text of a Dockerfile read as `bytes`.
pub fn decode_dockerfile(bytes: Vec<u8>) -> Result<String, NonUtf8Line> {
    let bytes = match String::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(e) => e.into_bytes(),
    };
    let mut text = String::with_capacity(bytes.len());
    for (index, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        match std::str::from_utf8(line) {
            Ok(line) => text.push_str(line),
            Err(_) if is_comment(line) => text.push_str(&String::from_utf8_lossy(line)),
            Err(_) => return Err(NonUtf8Line { line: index + 1 }),
        }
    }
    Ok(text)
}

fn is_comment(line: &[u8]) -> bool {
    line.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_may_hold_any_bytes() {
        let text = decode_dockerfile(b"FROM a\n  # caf\xe9\nRUN x\n".to_vec()).unwrap();
        assert_eq!(text, "FROM a\n  # caf\u{fffd}\nRUN x\n");
        assert_eq!(
            decode_dockerfile(b"FROM \xc3\xa9".to_vec()).unwrap(),
            "FROM é"
        );
    }

    #[test]
    fn other_lines_name_the_line() {
        let err = decode_dockerfile(b"FROM a\n# ok \xff\nRUN echo \xe9\n".to_vec()).unwrap_err();
        assert_eq!(err, NonUtf8Line { line: 3 });
        assert!(err.to_string().contains("line 3"));
    }
}
