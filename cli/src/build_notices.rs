//! How the engine's notices read on stderr: caches imported and exported, `--explain`
//! verdicts, outputs written, names given, the cleanup after the build, warnings.

use std::path::PathBuf;

use rbuild_engine::{BuildEvents, Notice};

use crate::explain_view;
use crate::images::human_size;

/// Prints every notice as a line (or lines) on stderr; as `notice` events with `json`.
pub struct CliEvents {
    pub json: bool,
    /// The staged file of an output going to stdout (`dest=-`), said as "stdout".
    pub stdout_archive: Option<PathBuf>,
}

impl BuildEvents for CliEvents {
    fn notice(&self, notice: Notice<'_>) {
        let lines = match notice {
            Notice::Exported { dest } if Some(dest) == self.stdout_archive.as_deref() => {
                vec!["exported to stdout".to_string()]
            }
            notice => lines(&notice),
        };
        for line in lines {
            if self.json {
                crate::progress_json::emit("notice", serde_json::json!({ "message": line }));
            } else {
                eprintln!("{line}");
            }
        }
    }
}

fn lines(notice: &Notice<'_>) -> Vec<String> {
    match notice {
        Notice::CacheImported { source, summary } => {
            let mut line = format!(
                "importing cache from {}: {} records ({} known already), {} layers",
                source.display(),
                summary.records,
                summary.known,
                summary.layers
            );
            if summary.cache_mounts + summary.cache_mounts_kept > 0 {
                line += &format!(
                    ", {} cache mounts ({} kept their contents)",
                    summary.cache_mounts, summary.cache_mounts_kept
                );
            }
            let mut lines = vec![line];
            lines.extend(
                summary.skipped.iter().map(|skipped| {
                    format!("warning: cache {}: skipped {skipped}", source.display())
                }),
            );
            lines
        }
        Notice::CacheExported { dest, summary } => {
            let mut line = format!(
                "exported cache to {}: {} records, {} layers",
                dest.display(),
                summary.records,
                summary.layers
            );
            if summary.cache_mounts > 0 {
                line += &format!(", {} cache mounts", summary.cache_mounts);
            }
            let mut lines = vec![line];
            lines.extend(
                summary
                    .skipped
                    .iter()
                    .map(|skipped| format!("warning: cache {}: skipped {skipped}", dest.display())),
            );
            lines
        }
        Notice::Pushed {
            destination,
            summary,
        } => vec![crate::registry_cmd::push_line(destination, summary)],
        Notice::Explanation(explanation) => explain_view::render(explanation),
        Notice::Exporting { dest } => vec![format!("exporting to {}", dest.display())],
        Notice::Exported { dest } => vec![format!("exported to {}", dest.display())],
        Notice::Named(name) => vec![format!("naming to {name} done")],
        Notice::ImageAssembled { .. } => Vec::new(),
        Notice::GarbageCollected { limit, report } => vec![format!(
            "gc: the store exceeded {}; removed {} cache records, reclaimed {}",
            human_size(*limit),
            report.records_removed,
            human_size(report.bytes_reclaimed)
        )],
        Notice::Warning(text) => vec![format!("warning: {text}")],
    }
}
