//! End-to-end `--explain`: after each kind of change the step that missed names the cause
//! (changed, added file; build arg; RUN text), the steps built on it say their parent
//! changed, and hits name the build their result came from.

mod common;

use std::fs;
use std::path::Path;

use common::{assert_success, context_from, stderr, TestStore};

const DOCKERFILE: &str = "FROM busybox
ARG NAME=world
COPY . /ctx/
RUN echo \"hello $NAME\" > /greeting
RUN cat /greeting
";

/// Builds with `--explain`; returns the explain lines.
fn explain(store: &TestStore, context: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--explain"];
    args.extend_from_slice(extra);
    let out = store.build(context, &args);
    assert_success(&out, "build --explain");
    stderr(&out)
        .lines()
        .filter_map(|l| l.strip_prefix("explain: "))
        .map(str::to_string)
        .collect()
}

/// The explain line of the step whose name contains `needle`.
fn line<'a>(lines: &'a [String], needle: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no explain line for {needle:?} in {lines:#?}"))
}

/// The build id the header says this build was compared with.
fn compared_with(lines: &[String]) -> String {
    let header = &lines[0];
    let rest = header
        .strip_prefix("compared with build ")
        .unwrap_or_else(|| panic!("unexpected header {header:?}"));
    rest.split_whitespace().next().unwrap().to_string()
}

#[test]
fn every_miss_names_its_cause_and_hits_name_their_build() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[
        ("Dockerfile", DOCKERFILE),
        (".dockerignore", "Dockerfile\n.dockerignore\n"),
        ("a.txt", "first\n"),
    ]);
    let dir = context.path();

    let first = explain(&store, dir, &[]);
    assert!(first[0].contains("no earlier build"), "{first:#?}");
    assert!(line(&first, "RUN cat").contains("ran: no earlier build"));

    fs::write(dir.join("a.txt"), "second\n").unwrap();
    let changed = explain(&store, dir, &[]);
    assert!(
        line(&changed, "COPY . /ctx/").ends_with("ran: context file changed: a.txt"),
        "{changed:#?}"
    );
    assert!(line(&changed, "RUN echo").contains("ran: parent step changed ([2/4] COPY . /ctx/)"));

    fs::write(dir.join("b.txt"), "new\n").unwrap();
    let added = explain(&store, dir, &[]);
    assert!(
        line(&added, "COPY . /ctx/").ends_with("ran: context file added: b.txt"),
        "{added:#?}"
    );
    let copy_build = compared_with(&explain(&store, dir, &[]));

    let with_arg = explain(&store, dir, &["--build-arg", "NAME=you"]);
    assert!(
        line(&with_arg, "COPY . /ctx/").contains(&format!("CACHED from build {copy_build}")),
        "{with_arg:#?}"
    );
    assert!(
        line(&with_arg, "RUN echo").contains("ran: build arg NAME changed: \"world\" → \"you\""),
        "{with_arg:#?}"
    );

    fs::write(
        dir.join("Dockerfile"),
        DOCKERFILE.replace("RUN echo", "RUN printf '%s\\n'"),
    )
    .unwrap();
    let edited = explain(&store, dir, &["--build-arg", "NAME=you"]);
    let run = line(&edited, "RUN printf");
    assert!(
        run.contains("ran: command changed: \"echo ") && run.contains("→ \"printf "),
        "{edited:#?}"
    );
    assert!(
        line(&edited, "RUN cat").contains("ran: parent step changed ([3/4] RUN printf"),
        "{edited:#?}"
    );
    assert!(line(&edited, "COPY . /ctx/").contains("CACHED from build"));

    // (Removing b.txt again would be a hit: that selection was built before.)
    fs::remove_file(dir.join("a.txt")).unwrap();
    let removed = explain(&store, dir, &["--build-arg", "NAME=you"]);
    assert!(
        line(&removed, "COPY . /ctx/").ends_with("ran: context file removed: a.txt"),
        "{removed:#?}"
    );
}
