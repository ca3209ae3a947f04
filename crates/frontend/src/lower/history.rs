//! Image history entries as BuildKit writes them: `created_by` texts formatted with Go's
//! `%q`/`%v` conventions (`CMD ["sh"]`, `SHELL [/bin/bash -c]`), the
//! `buildkit.dockerfile.v0` comment, and the pairing of each entry with the vertex whose
//! layer it describes.
//!
//! Timestamps are left empty: the solver fills them when the build runs.

use rbuild_graph::VertexId;
use rbuild_oci::{HealthConfig, History};

use crate::instructions::duration::format_go_duration;

const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// A stage's history: entries and, at the same index, the vertex each one's layer comes from.
/// Only stages whose image is produced (the target and the stages it is built FROM) record
/// one; for the others the texts are never even formatted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct StageHistory {
    pub entries: Vec<History>,
    pub layers: Vec<Option<VertexId>>,
    recording: bool,
}

impl StageHistory {
    /// Starts from a base image's history (none of its layers are built here), or records
    /// nothing when `recording` is false.
    pub(crate) fn inherit(entries: Vec<History>, recording: bool) -> StageHistory {
        if !recording {
            return StageHistory::default();
        }
        StageHistory {
            layers: vec![None; entries.len()],
            entries,
            recording,
        }
    }

    /// Turns recording on or off; turning it off forgets what was recorded.
    pub(crate) fn set_recording(&mut self, recording: bool) {
        if !recording {
            self.entries = Vec::new();
            self.layers = Vec::new();
        }
        self.recording = recording;
    }

    /// Whether entries are kept (texts worth formatting).
    pub(crate) fn recording(&self) -> bool {
        self.recording
    }

    /// An instruction that only changes metadata.
    pub(crate) fn metadata(&mut self, created_by: impl FnOnce() -> String) {
        self.push(created_by, None);
    }

    /// An instruction whose filesystem change is `vertex` (WORKDIR keeps BuildKit's
    /// text without the `# buildkit` marker).
    pub(crate) fn layer(&mut self, created_by: impl FnOnce() -> String, vertex: VertexId) {
        self.push(created_by, Some(vertex));
    }

    /// RUN, COPY and ADD: text marked `# buildkit` as BuildKit marks them.
    pub(crate) fn build_step(&mut self, created_by: impl FnOnce() -> String, vertex: VertexId) {
        self.push(
            || {
                let mut text = created_by();
                text.push_str(" # buildkit");
                text
            },
            Some(vertex),
        );
    }

    fn push(&mut self, created_by: impl FnOnce() -> String, layer: Option<VertexId>) {
        if !self.recording {
            return;
        }
        self.entries.push(History {
            created: None,
            created_by: Some(created_by()),
            author: None,
            comment: Some(HISTORY_COMMENT.to_string()),
            empty_layer: layer.is_none(),
        });
        self.layers.push(layer);
    }
}

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub(crate) fn go_quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// Go's `%v` of a `[]string`: `[a b]`.
pub(crate) fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Go's `%v` of the port set BuildKit records for EXPOSE (a map, printed in key order with
/// empty values): `map[443/udp:{} 80/tcp:{}]`.
pub(crate) fn go_port_map(ports: &[String]) -> String {
    let sorted: std::collections::BTreeSet<&str> = ports.iter().map(String::as_str).collect();
    let entries: Vec<String> = sorted.iter().map(|port| format!("{port}:{{}}")).collect();
    format!("map[{}]", entries.join(" "))
}

/// BuildKit's `HEALTHCHECK %+v` of the health config.
pub(crate) fn healthcheck_text(health: &HealthConfig) -> String {
    let duration = |d: Option<i64>| format_go_duration(d.unwrap_or(0));
    format!(
        "HEALTHCHECK {{Test:{} Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{}}}",
        go_list(health.test.as_deref().unwrap_or(&[])),
        duration(health.interval),
        duration(health.timeout),
        duration(health.start_period),
        duration(health.start_interval),
        health.retries.unwrap_or(0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn go_formats() {
        assert_eq!(go_quoted_list(&strings(&["sh"])), r#"["sh"]"#);
        assert_eq!(
            go_quoted_list(&strings(&["/bin/sh", "-c", "echo \"hi\"\n"])),
            r#"["/bin/sh" "-c" "echo \"hi\"\n"]"#
        );
        assert_eq!(go_list(&strings(&["/bin/bash", "-c"])), "[/bin/bash -c]");
        assert_eq!(go_quote("\u{1b}"), r#""\x1b""#);
        assert_eq!(go_quoted_list(&[]), "[]");
        assert_eq!(
            go_port_map(&strings(&["80/tcp", "443/udp", "80/tcp", "8000/tcp"])),
            "map[443/udp:{} 80/tcp:{} 8000/tcp:{}]"
        );
    }

    #[test]
    fn healthcheck_text_matches_buildkit() {
        let health = HealthConfig {
            test: Some(strings(&["CMD-SHELL", "curl -f http://localhost/"])),
            interval: Some(300_000_000_000),
            timeout: Some(3_000_000_000),
            retries: Some(3),
            ..HealthConfig::default()
        };
        assert_eq!(
            healthcheck_text(&health),
            "HEALTHCHECK {Test:[CMD-SHELL curl -f http://localhost/] Interval:5m0s Timeout:3s StartPeriod:0s StartInterval:0s Retries:3}"
        );
    }

    #[test]
    fn entries_pair_with_layers() {
        let mut history = StageHistory::inherit(vec![History::default()], true);
        history.metadata(|| "ENV A=b".into());
        history.build_step(|| "RUN /bin/sh -c make".into(), VertexId(3));
        assert_eq!(history.layers, vec![None, None, Some(VertexId(3))]);
        assert!(history.entries[1].empty_layer);
        assert_eq!(
            history.entries[2].created_by.as_deref(),
            Some("RUN /bin/sh -c make # buildkit")
        );
        assert_eq!(history.entries[2].comment.as_deref(), Some(HISTORY_COMMENT));
    }
}
