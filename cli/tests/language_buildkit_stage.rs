//! End-to-end: stage-level behaviours where BuildKit is the definition and a differential
//! run once found rbuild different — how WORKDIR is recorded and created, and the scope of
//! an ARG inside a stage at every place that expands words.

mod common;
mod language_support;

use common::{context_from, TestStore};
use language_support::{build, keys, strings};

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

#[test]
fn a_stage_sees_a_build_arg_only_after_its_own_arg_declaration() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[
        (
            "Dockerfile",
            "ARG X\n\
             ARG Y=global\n\
             FROM busybox${X:+:latest} AS base\n\
             COPY --chown=${X:-1} f /before-chown\n\
             ADD --chown=${X:-2} f /before-add\n\
             COPY <<doc.txt /before-heredoc/\n\
             [${X}] [${Y}]\n\
             doc.txt\n\
             RUN --mount=type=tmpfs,target=/t${X} test -d /t && ! test -e /t7\n\
             COPY f${X} /before-source\n\
             WORKDIR /w${X}\n\
             USER u${X}\n\
             USER root\n\
             LABEL before=\"[${X}]\"\n\
             EXPOSE 80${X}\n\
             ENV BEFORE=\"[${X}]\"\n\
             RUN echo \"[$X]\" > /run-before\n\
             ARG X\n\
             COPY --chown=${X:-1} f /after-chown\n\
             ADD --chown=${X:-2} f /after-add\n\
             COPY <<doc.txt /after-heredoc/\n\
             [${X}]\n\
             doc.txt\n\
             RUN --mount=type=tmpfs,target=/t${X} test -d /t7 && ! test -e /t\n\
             COPY f${X} /after-source\n\
             USER u${X}\n\
             USER root\n\
             LABEL after=\"[${X}]\"\n\
             EXPOSE 90${X}\n\
             ENV AFTER=\"[${X}]\"\n\
             RUN echo \"[$X]\" > /run-after\n\
             WORKDIR /a${X}\n\
             FROM base\n\
             RUN echo \"[$X]\" > /run-child\n",
        ),
        ("f", "plain\n"),
        ("f7", "seven\n"),
    ]);
    let built = build(&store, context.path(), &["--build-arg", "X=7"]);
    assert_eq!(
        built.owner("before-chown"),
        (1, 1),
        "${{X:-1}} before ARG X"
    );
    assert_eq!(built.owner("after-chown"), (7, 7));
    assert_eq!(built.owner("before-add"), (2, 2));
    assert_eq!(built.owner("after-add"), (7, 7));
    assert_eq!(built.entries("before-heredoc"), ["doc.txt"]);
    assert_eq!(
        built.read("before-heredoc/doc.txt"),
        "[] []\n",
        "a global ARG not declared again is unset too"
    );
    assert_eq!(built.read("after-heredoc/doc.txt"), "[7]\n");
    assert_eq!(built.read("before-source"), "plain\n");
    assert_eq!(built.read("after-source"), "seven\n");
    assert_eq!(built.read("run-before"), "[]\n");
    assert_eq!(built.read("run-after"), "[7]\n");
    assert_eq!(
        built.read("run-child"),
        "[7]\n",
        "a stage built FROM another keeps its ARGs"
    );
    assert!(built.metadata("w").is_dir());
    assert!(!built.exists("w7"));
    assert_eq!(built.setting("WorkingDir"), "/a7");
    let history = built.history();
    for expected in ["USER u", "USER u7", "WORKDIR /w", "WORKDIR /a7"] {
        assert!(
            history.iter().any(|h| h == expected),
            "{expected} in {history:?}"
        );
    }
    let labels = &built.setting("Labels");
    assert_eq!(labels["before"], "[]");
    assert_eq!(labels["after"], "[7]");
    assert_eq!(keys(built.setting("ExposedPorts")), ["80/tcp", "907/tcp"]);
    let env = strings(built.setting("Env"));
    assert!(env.contains(&"BEFORE=[]".to_string()), "{env:?}");
    assert!(env.contains(&"AFTER=[7]".to_string()), "{env:?}");
    assert!(
        !env.iter().any(|e| e.starts_with("X=")),
        "ARGs stay out of the image: {env:?}"
    );
}
