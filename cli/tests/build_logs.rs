//! End-to-end: `--progress plain` prints every line a RUN step writes — no clipping of long
//! outputs or long lines, the last unterminated line included, for steps that succeed and
//! steps that fail.

mod common;

use common::{assert_success, context_from, stderr, stdout, TestStore};

/// Lines each step prints: BuildKit clips a step's log at 2 MiB; this writes more than that.
const LINES: usize = 60_000;

/// The plain-progress lines of step `#n` that carry output (`#n 0.123 text`), as text.
fn output_lines(progress: &str, step: &str) -> Vec<String> {
    let prefix = format!("{step} ");
    progress
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (time, text) = rest.split_once(' ')?;
            time.parse::<f64>().ok().map(|_| text.to_string())
        })
        .collect()
}

/// The number (`#3`) plain progress gave the step whose name contains `needle`.
fn step_number(progress: &str, needle: &str) -> String {
    progress
        .lines()
        .find(|line| line.starts_with('#') && line.contains(needle))
        .and_then(|line| line.split_whitespace().next())
        .unwrap_or_else(|| panic!("no step {needle:?} in:\n{progress}"))
        .to_string()
}

/// Builds a step that prints the `expected_lines` (to stdout, or where `redirect` says), then
/// runs `then`.
fn build_logging(store: &TestStore, redirect: &str, then: &str) -> std::process::Output {
    let dockerfile = format!(
        "FROM busybox\nRUN awk 'BEGIN {{ for (i = 1; i <= {LINES}; i++) \
         printf \"log-line-%06d-%s\\n\", i, \"{}\" }}' {redirect}; {then}\n",
        "x".repeat(40)
    );
    let context = context_from(&[("Dockerfile", dockerfile.as_str())]);
    store.build(context.path(), &[])
}

fn expected_lines() -> Vec<String> {
    (1..=LINES)
        .map(|i| format!("log-line-{i:06}-{}", "x".repeat(40)))
        .collect()
}

#[test]
fn plain_progress_prints_every_line_of_a_long_successful_step() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let out = build_logging(
        &store,
        "",
        "head -c 200000 /dev/zero | tr '\\0' y; echo; printf no-newline-at-the-end",
    );
    assert_success(&out, "long output build");
    let progress = stderr(&out);
    let step = step_number(&progress, "RUN awk");
    let printed = output_lines(&progress, &step);
    let mut expected = expected_lines();
    expected.push("y".repeat(200_000));
    assert_eq!(printed.len(), LINES + 1, "output lines of {step}");
    assert!(
        printed == expected,
        "the printed log differs from what the step wrote"
    );
    assert!(
        progress.contains(&format!("{step} no-newline-at-the-end\n")),
        "the unterminated last line is missing"
    );
}

#[test]
fn plain_progress_prints_every_line_of_a_failing_step() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let out = build_logging(&store, ">&2", "printf last-words-without-newline; exit 7");
    assert!(!out.status.success(), "the step must fail");
    let progress = stderr(&out);
    let step = step_number(&progress, "RUN awk");
    let printed = output_lines(&progress, &step);
    assert!(
        printed == expected_lines(),
        "the printed log differs ({} lines)",
        printed.len()
    );
    assert!(
        progress.contains(&format!("{step} last-words-without-newline\n")),
        "the unterminated last line of a failed step is missing"
    );
    assert!(progress.contains("exit code: 7"), "{}", tail(&progress));
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[test]
fn rbuild_logs_lists_builds_and_shows_each_steps_full_output() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let out = build_logging(
        &store,
        "",
        "head -c 5000000 /dev/zero | tr '\\0' z; echo; echo after-the-cut",
    );
    assert_success(&out, "long output build");
    let context = context_from(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo first-step\nRUN echo second-step && exit 4\n",
    )]);
    let failed = store.build(context.path(), &[]);
    assert!(!failed.status.success());

    let listing = stdout(&store.rbuild(&["logs"]));
    let rows: Vec<&str> = listing.lines().collect();
    assert!(rows[0].starts_with("BUILD"), "{listing}");
    assert_eq!(rows.len(), 3, "{listing}");
    assert!(rows[1].ends_with("FAILED"), "newest first: {listing}");
    assert!(rows[2].ends_with("FINISHED"), "{listing}");

    let last = stdout(&store.rbuild(&["logs", "last"]));
    assert!(
        last.contains("first-step\n") && last.contains("second-step\n"),
        "{last}"
    );
    let one = stdout(&store.rbuild(&["logs", "last", "RUN echo second"]));
    assert!(
        one.contains("second-step") && !one.contains("first-step"),
        "{one}"
    );

    // The older build, by the start of its id: its big step is cut at 4 MiB, with a marker.
    let older = rows[2].split_whitespace().next().expect("build id");
    let big = store.rbuild(&["logs", older, "RUN awk"]);
    assert_success(&big, "logs of the older build");
    let text = stdout(&big);
    assert!(
        text.contains("log-line-000001-"),
        "starts with the step's first line"
    );
    assert!(text.contains("[rbuild: log truncated at 4 MiB]"));
    // (the first line is the step's name, which holds the command)
    assert!(
        !text.lines().skip(1).any(|l| l.contains("after-the-cut")),
        "nothing past the limit"
    );
    assert!(text.len() < (4 << 20) + 200_000, "{} bytes", text.len());

    let missing = store.rbuild(&["logs", "nosuchbuild"]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("no logs of build \"nosuchbuild\""));
}
