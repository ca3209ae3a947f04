//! `--explain`: one line per step saying why it ran (what changed since the earlier build of
//! the same Dockerfile) or which build its cached result came from.
//!
//! Working out the causes is the solver's job (`rbuild_solver::explain`) and recording
//! builds the engine's; this module only words them.

use rbuild_solver::explain::{BuildExplanation, Cause, FileChanges, Verdict};
use rbuild_solver::rfc3339;

/// How many file names one cause lists before summarizing the rest.
const FILES_SHOWN: usize = 5;
/// Values longer than this are shortened.
const VALUE_CHARS: usize = 60;

/// The explanation as lines of text.
pub fn render(explanation: &BuildExplanation) -> Vec<String> {
    let mut lines = vec![match &explanation.earlier {
        Some(earlier) => format!(
            "explain: compared with build {} ({}, context {})",
            earlier.build_id,
            rfc3339(earlier.created),
            earlier.context_dir
        ),
        None => "explain: no earlier build of this Dockerfile on this store".to_string(),
    }];
    for step in &explanation.steps {
        lines.push(format!(
            "explain: {}: {}",
            step.name,
            verdict_text(&step.verdict)
        ));
    }
    lines
}

fn verdict_text(verdict: &Verdict) -> String {
    match verdict {
        Verdict::BaseImage { changed: false } => "base image".to_string(),
        Verdict::BaseImage { changed: true } => {
            "base image (a different image than in the earlier build)".to_string()
        }
        Verdict::Hit { build_id, created } => {
            let build = build_id.as_deref().unwrap_or("an earlier build");
            match created {
                Some(time) => format!("CACHED from build {build} ({})", rfc3339(*time)),
                None => format!("CACHED from build {build}"),
            }
        }
        Verdict::Miss(causes) => {
            let texts: Vec<String> = causes.iter().map(cause_text).collect();
            format!("ran: {}", texts.join("; "))
        }
    }
}

fn cause_text(cause: &Cause) -> String {
    match cause {
        Cause::NoEarlierBuild => "no earlier build to compare with".to_string(),
        Cause::NoCacheRequested => "--no-cache".to_string(),
        Cause::NewStep => "new step (the earlier build had none here)".to_string(),
        Cause::ResultGone { build_id } => format!(
            "same inputs as in build {build_id}, but that result is no longer cached (pruned)"
        ),
        Cause::KeyFormatChanged => "the cache key format changed (another rbuild version)".into(),
        Cause::InstructionReplaced { was } => format!("instruction changed (was: {was})"),
        Cause::CommandChanged { before, after } => {
            format!("command changed: {} → {}", quoted(before), quoted(after))
        }
        Cause::VariableChanged {
            name,
            before,
            after,
            build_arg,
        } => format!(
            "{} {name} changed: {} → {}",
            if *build_arg { "build arg" } else { "env" },
            before
                .as_deref()
                .map_or_else(|| "(unset)".to_string(), quoted),
            after
                .as_deref()
                .map_or_else(|| "(unset)".to_string(), quoted)
        ),
        Cause::ContextFiles(changes) => files_text(changes),
        Cause::SourceChanged { source } => format!("source stage changed ({source})"),
        Cause::OptionChanged { what } => format!("{what} changed"),
        Cause::ParentChanged { parent } => format!("parent step changed ({parent})"),
    }
}

fn files_text(changes: &FileChanges) -> String {
    if changes.is_empty() {
        return "context files changed (the earlier file listing is no longer kept)".to_string();
    }
    let groups = [
        ("changed", &changes.changed),
        ("added", &changes.added),
        ("removed", &changes.removed),
    ];
    let parts: Vec<String> = groups
        .iter()
        .filter(|(_, paths)| !paths.is_empty())
        .map(|(what, paths)| {
            let noun = if paths.len() == 1 { "file" } else { "files" };
            format!("context {noun} {what}: {}", path_list(paths))
        })
        .collect();
    parts.join("; ")
}

fn path_list(paths: &[String]) -> String {
    let mut shown: Vec<&str> = paths.iter().take(FILES_SHOWN).map(String::as_str).collect();
    let more = paths.len().saturating_sub(FILES_SHOWN);
    let extra = format!("and {more} more");
    if more > 0 {
        shown.push(&extra);
    }
    shown.join(", ")
}

fn quoted(value: &str) -> String {
    let mut text: String = value.chars().take(VALUE_CHARS).collect();
    if value.chars().count() > VALUE_CHARS {
        text.push('…');
    }
    format!("{text:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbuild_solver::explain::StepExplanation;
    use rbuild_solver::graph::VertexId;

    fn step(name: &str, verdict: Verdict) -> StepExplanation {
        StepExplanation {
            vertex: VertexId(1),
            name: name.to_string(),
            verdict,
        }
    }

    #[test]
    fn misses_name_their_causes_and_hits_their_build() {
        let explanation = BuildExplanation {
            earlier: None,
            steps: vec![
                step(
                    "[1/2] COPY . .",
                    Verdict::Miss(vec![Cause::ContextFiles(FileChanges {
                        changed: vec!["a.txt".into()],
                        added: (0..7).map(|i| format!("n{i}")).collect(),
                        removed: vec![],
                    })]),
                ),
                step(
                    "[2/2] RUN make",
                    Verdict::Hit {
                        build_id: Some("b1".into()),
                        created: Some(0),
                    },
                ),
            ],
        };
        let lines = render(&explanation);
        assert_eq!(
            lines[1],
            "explain: [1/2] COPY . .: ran: context file changed: a.txt; \
             context files added: n0, n1, n2, n3, n4, and 2 more"
        );
        assert_eq!(
            lines[2],
            "explain: [2/2] RUN make: CACHED from build b1 (1970-01-01T00:00:00Z)"
        );
    }

    #[test]
    fn variables_say_whether_they_are_build_args() {
        let text = cause_text(&Cause::VariableChanged {
            name: "GREETING".into(),
            before: Some("hi".into()),
            after: None,
            build_arg: true,
        });
        assert_eq!(text, "build arg GREETING changed: \"hi\" → (unset)");
    }
}
