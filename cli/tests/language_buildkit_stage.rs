//! End-to-end: stage-level behaviours where BuildKit is the definition and a differential
//! run once found rbuild different — how WORKDIR is recorded and created, and the scope of
//! an ARG inside a stage at every place that expands words.

mod common;
mod language_support;

use common::{context_from, TestStore};
use language_support::build;

#[test]
fn workdir_is_recorded_as_written_when_absolute_and_cleaned_when_relative() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[(
        "Dockerfile",
        "FROM busybox\n\
         RUN adduser -D -u 1234 app\n\
         USER app\n\
         WORKDIR /tmp/\n\
         RUN pwd > /tmp/pwd-absolute\n\
         WORKDIR rel/../sub/\n\
         RUN pwd > /tmp/pwd-relative\n\
         USER root\n\
         WORKDIR /owned-by-root\n\
         USER 1234:55\n\
         WORKDIR /data//deep/./x/\n",
    )]);
    let built = build(&store, context.path(), &[]);
    assert_eq!(
        built.setting("WorkingDir"),
        "/data//deep/./x/",
        "an absolute WORKDIR is kept exactly as written"
    );
    let history = built.history();
    for expected in [
        "WORKDIR /tmp/",
        "WORKDIR /tmp/sub",
        "WORKDIR /owned-by-root",
        "WORKDIR /data//deep/./x/",
    ] {
        assert!(
            history.iter().any(|h| h == expected),
            "{expected} in {history:?}"
        );
    }
    assert_eq!(built.read("tmp/pwd-absolute"), "/tmp\n");
    assert_eq!(built.read("tmp/pwd-relative"), "/tmp/sub\n");
    assert!(!built.exists("tmp/rel"), "the relative path is cleaned");
    assert_eq!(
        (built.owner("tmp/sub"), built.mode("tmp/sub")),
        ((1234, 1234), 0o755),
        "created with the image user's ownership"
    );
    assert_eq!(
        built.owner("tmp"),
        (0, 0),
        "an existing directory is left alone"
    );
    assert_eq!(built.owner("owned-by-root"), (0, 0));
    for rel in ["data", "data/deep", "data/deep/x"] {
        assert!(built.metadata(rel).is_dir(), "{rel}");
        assert_eq!(built.owner(rel), (1234, 55), "{rel}");
    }
}
