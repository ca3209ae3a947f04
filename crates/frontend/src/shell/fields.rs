//! Field splitting during expansion: unquoted whitespace (Unicode `White_Space`, as Go's
//! `unicode.IsSpace`) separates fields, quoted text and escaped characters never do.
//!
//! It does not decide what is quoted; the expander tells it with `push_raw*`.

/// Accumulates fields while the expander walks a word. A disabled splitter (the caller
/// only wants the joined result) ignores everything and allocates nothing.
#[derive(Debug, Default)]
pub(super) struct FieldSplitter {
    enabled: bool,
    fields: Vec<String>,
    current: String,
    in_field: bool,
}

impl FieldSplitter {
    pub(super) fn new(enabled: bool) -> FieldSplitter {
        FieldSplitter {
            enabled,
            ..FieldSplitter::default()
        }
    }

    /// An unquoted character: whitespace ends the current field.
    pub(super) fn push_char(&mut self, ch: char) {
        if !self.enabled {
            return;
        }
        if ch.is_whitespace() {
            // BuildKit keeps an empty quoted field open (`""` followed by a space) and then
            // drops it at the end: only non-empty fields are ever emitted.
            if self.in_field && !self.current.is_empty() {
                self.fields.push(std::mem::take(&mut self.current));
                self.in_field = false;
            }
        } else {
            self.push_raw_char(ch);
        }
    }

    /// A quoted or escaped character: always part of the current field.
    pub(super) fn push_raw_char(&mut self, ch: char) {
        if !self.enabled {
            return;
        }
        self.current.push(ch);
        self.in_field = true;
    }

    /// Unquoted text (a variable's value): split on its whitespace.
    pub(super) fn push_str(&mut self, text: &str) {
        if !self.enabled {
            return;
        }
        text.chars().for_each(|ch| self.push_char(ch));
    }

    /// Quoted text: appended to the current field as is.
    pub(super) fn push_raw_str(&mut self, text: &str) {
        if !self.enabled {
            return;
        }
        self.current.push_str(text);
        self.in_field = true;
    }

    pub(super) fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.fields.push(self.current);
        }
        self.fields
    }
}
