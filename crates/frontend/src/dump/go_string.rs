//! Go's `strconv.Quote`, used wherever BuildKit prints a Go-quoted string (the AST dump,
//! `%q` in error messages).
//!
//! Go decides what is printable with Unicode tables; std has none, so this uses the close
//! approximation documented on [`is_printable`]. It never produces backquoted strings.

/// Quotes `text` as Go's `strconv.Quote` does: `"…"` with `\"`, `\\`, `\n`-style escapes,
/// `\xNN` for other control bytes and `\uNNNN`/`\UNNNNNNNN` for other unprintable characters.
pub(crate) fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        push_escaped(&mut out, ch);
    }
    out.push('"');
    out
}

fn push_escaped(out: &mut String, ch: char) {
    match ch {
        '"' | '\\' => {
            out.push('\\');
            out.push(ch);
        }
        _ if is_printable(ch) => out.push(ch),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        _ if (ch as u32) < 0x20 || ch == '\u{7f}' => {
            out.push_str(&format!("\\x{:02x}", ch as u32));
        }
        _ if (ch as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", ch as u32)),
        _ => out.push_str(&format!("\\U{:08x}", ch as u32)),
    }
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
///
/// Approximated as "not a control character, not whitespace other than `' '`, not a format
/// character, private-use character or noncharacter"; unassigned code points count as
/// printable here, whereas Go escapes them.
fn is_printable(ch: char) -> bool {
    if ch == ' ' {
        return true;
    }
    if ch.is_control() || ch.is_whitespace() {
        return false;
    }
    let code = ch as u32;
    !(is_format(code) || is_private_use(code) || is_noncharacter(code))
}

/// Unicode general category Cf (format characters).
fn is_format(code: u32) -> bool {
    matches!(
        code,
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x890..=0x891
            | 0x8E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

fn is_private_use(code: u32) -> bool {
    matches!(code, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD)
}

fn is_noncharacter(code: u32) -> bool {
    matches!(code, 0xFDD0..=0xFDEF) || code & 0xFFFE == 0xFFFE
}

#[cfg(test)]
mod tests {
    use super::go_quote;

    #[test]
    fn escapes_like_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(
            go_quote("\u{7}\u{8}\u{c}\n\r\t\u{b}"),
            r#""\a\b\f\n\r\t\v""#
        );
        assert_eq!(go_quote("\u{0}\u{1f}\u{7f}"), r#""\x00\x1f\x7f""#);
        assert_eq!(go_quote("\u{85}\u{a0}\u{2028}"), r#""\u0085\u00a0\u2028""#);
        assert_eq!(go_quote("\u{feff}\u{e0001}"), r#""\ufeff\U000e0001""#);
    }

    #[test]
    fn keeps_printable_text() {
        assert_eq!(go_quote("♥ ☃ 한국어 é"), "\"♥ ☃ 한국어 é\"");
        assert_eq!(go_quote(""), "\"\"");
    }
}
