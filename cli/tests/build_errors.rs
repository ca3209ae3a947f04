//! End-to-end: bad input fails with a message naming the Dockerfile line, and the store
//! stays usable — a good build right after succeeds.

mod common;

use common::{assert_success, context_from, stderr, TestStore};

fn expect_failure(store: &TestStore, dockerfile: &str, extra: &[&str], needles: &[&str]) {
    let context = context_from(&[("Dockerfile", dockerfile), ("present.txt", "here\n")]);
    let out = store.build(context.path(), extra);
    let text = stderr(&out);
    assert!(
        !out.status.success(),
        "expected failure for:\n{dockerfile}\n{text}"
    );
    for needle in needles {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(!text.contains("panicked"), "{text}");
    let good = context_from(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY present.txt /p.txt\nRUN test -f /p.txt\n",
        ),
        ("present.txt", "here\n"),
    ]);
    assert_success(
        &store.build(good.path(), &["-t", "good:1"]),
        "good build after failure",
    );
}

#[test]
fn unknown_instruction_names_its_line() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    expect_failure(
        &store,
        "FROM busybox\nRUN true\nRUNN echo\n",
        &[],
        &["Dockerfile:3", "RUNN"],
    );
}

#[test]
fn missing_copy_source_names_its_line_and_path() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    expect_failure(
        &store,
        "FROM busybox\nCOPY present.txt /a\nCOPY missing.txt /b\n",
        &[],
        &["Dockerfile:3", "missing.txt"],
    );
}

#[test]
fn failing_run_reports_exit_code_output_and_line() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    expect_failure(
        &store,
        "FROM busybox\nRUN echo first-line && echo about-to-fail >&2 && exit 3\n",
        &[],
        &["Dockerfile:2", "exit code: 3", "about-to-fail"],
    );
}

#[test]
fn unknown_base_image_names_its_line() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    expect_failure(
        &store,
        "FROM nosuchimage:1\nRUN true\n",
        &[],
        &["Dockerfile:1", "nosuchimage"],
    );
}

#[test]
fn unknown_target_suggests_a_stage() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    expect_failure(
        &store,
        "FROM busybox AS build\nRUN true\nFROM busybox AS final\n",
        &["--target", "bulid"],
        &["bulid", "build"],
    );
}
