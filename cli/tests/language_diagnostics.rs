//! End-to-end: mistakes in a Dockerfile are reported the way a compiler reports them —
//! `file:line:col`, the offending line, a caret under the culprit and a "did you mean" —
//! and refused features say why.

mod common;
mod language_support;

use common::{context_from, TestStore};
use language_support::failed_build;

/// A Dockerfile that must fail, and what the report must say about it.
struct Mistake<'a> {
    dockerfile: &'a str,
    message: &'a str,
    /// Line and column (1-based) of the culprit, and how many characters it spans.
    at: (usize, usize, usize),
    help: &'a str,
}

impl Mistake<'_> {
    /// Builds the Dockerfile (beside an `a.txt`) and checks the rustc-style report.
    fn check(&self) {
        let store = TestStore::with_busybox();
        let context = context_from(&[("Dockerfile", self.dockerfile), ("a.txt", "a\n")]);
        let report = failed_build(&store, context.path(), &[]);
        let (line, column, len) = self.at;
        let text = self
            .dockerfile
            .lines()
            .nth(line - 1)
            .expect("the line exists");
        let gutter = " ".repeat(line.to_string().len());
        assert!(report.starts_with("error: "), "{report}");
        assert!(report.contains(self.message), "{report}");
        let expected = format!(
            "{gutter}--> Dockerfile:{line}:{column}\n{gutter} |\n{line} | {text}\n\
             {gutter} | {}{}\n{gutter} = help: {}",
            " ".repeat(column - 1),
            "^".repeat(len),
            self.help,
        );
        assert!(
            report.contains(&expected),
            "expected\n{expected}\nin\n{report}"
        );
    }
}

#[test]
fn a_misspelled_instruction_is_located_and_corrected() {
    require_sandbox!();
    Mistake {
        dockerfile: "FROM busybox\nCOPPY a.txt /a\n",
        message: "unknown instruction: COPPY",
        at: (2, 1, 5),
        help: "did you mean COPY?",
    }
    .check();
}

#[test]
fn a_misspelled_flag_is_located_and_corrected() {
    require_sandbox!();
    Mistake {
        dockerfile: "FROM busybox\nRUN true\nCOPY --chwon=1000 a.txt /a\n",
        message: "unknown flag: chwon",
        at: (3, 6, 12),
        help: "did you mean --chown?",
    }
    .check();
}

#[test]
fn a_misspelled_stage_in_from_is_located_and_corrected() {
    require_sandbox!();
    Mistake {
        dockerfile: "FROM busybox AS builder\nRUN true\nFROM busybox\nCOPY --from=biulder /x /x\n",
        message: "biulder:latest (linux/amd64): image biulder:latest: not found",
        at: (4, 13, 7),
        help: "did you mean \"builder\"?",
    }
    .check();
}

#[test]
fn an_invalid_chmod_names_its_line() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let dockerfile = "FROM busybox\nCOPY --chmod=8888 a.txt /a\n";
    let context = context_from(&[("Dockerfile", dockerfile), ("a.txt", "a\n")]);
    let report = failed_build(&store, context.path(), &[]);
    assert!(
        report.contains("invalid chmod parameter: '8888'"),
        "{report}"
    );
    assert!(report.contains("--> Dockerfile:2:14"), "{report}");
}

#[test]
fn copy_from_a_url_is_refused_with_a_reason() {
    require_sandbox!();
    Mistake {
        dockerfile: "FROM busybox\nCOPY https://example.com/app.tar.gz /app/\n",
        message: "source can't be a URL for COPY",
        at: (2, 6, 30),
        help: "use ADD for remote sources, or copy a local file",
    }
    .check();
}
