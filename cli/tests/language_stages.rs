//! End-to-end: build stages — FROM an image (named through global ARGs, `--platform`),
//! `scratch`, another stage; `--from` by stage name, index and image; `--target`; ONBUILD
//! triggers across two builds; and the `rbuild debug` views of a Dockerfile.

mod common;
mod language_support;

use std::fs;

use common::{assert_success, context_from, repo_dir, stdout, TestStore};
use language_support::{build, build_dockerfile, build_files, failed_build, host_arch, strings};

#[test]
fn stages_come_from_images_scratch_and_each_other_by_name_and_index() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let arch = host_arch();
    let dockerfile = format!(
        "ARG BASE=busybox\n\
         ARG TAG=latest\n\
         FROM --platform=linux/{arch} ${{BASE}}:${{TAG}} AS base\n\
         RUN echo from-base > /base.txt\n\
         \n\
         FROM scratch AS empty\n\
         COPY --from=base /base.txt /by-name.txt\n\
         \n\
         FROM base AS final\n\
         COPY --from=1 /by-name.txt /by-index.txt\n\
         COPY --from=busybox:latest /bin/busybox /busybox-copy\n\
         RUN test \"$(cat /by-index.txt)\" = from-base\n"
    );
    let context = context_from(&[("Dockerfile", &dockerfile)]);
    let platform = format!("linux/{arch}");

    let built = build(&store, context.path(), &["--platform", &platform]);
    assert_eq!(built.read("base.txt"), "from-base\n");
    assert_eq!(built.read("by-index.txt"), "from-base\n");
    assert_eq!(built.bytes("busybox-copy"), built.bytes("bin/busybox"));
    assert_eq!(built.config["architecture"], arch);
    assert_eq!(built.config["os"], "linux");

    let empty = build(&store, context.path(), &["--target", "empty"]);
    assert_eq!(empty.entries("/"), ["by-name.txt"]);
    assert_eq!(empty.read("by-name.txt"), "from-base\n");
    assert_eq!(empty.setting("WorkingDir"), "/");
    assert_eq!(
        empty.env(),
        ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    );
    assert_eq!(
        empty.config["rootfs"]["diff_ids"].as_array().unwrap().len(),
        1,
        "a scratch stage has only the layers it adds"
    );
}

#[test]
fn target_builds_only_the_stages_it_needs() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[(
        "Dockerfile",
        "FROM busybox AS build\n\
         RUN echo built > /out.txt\n\
         FROM nosuchimage:404 AS unused\n\
         RUN false\n\
         FROM busybox AS final\n\
         COPY --from=build /out.txt /out.txt\n\
         RUN exit 7\n",
    )]);
    let built = build(&store, context.path(), &["--target", "build"]);
    assert_eq!(built.read("out.txt"), "built\n");
    assert!(!built.progress.contains("RUN false"), "{}", built.progress);
    assert!(!built.progress.contains("exit 7"), "{}", built.progress);

    let text = failed_build(&store, context.path(), &[]);
    assert!(text.contains("Dockerfile:7"), "{text}");
    assert!(text.contains("exit code: 7"), "{text}");
}

#[test]
fn onbuild_triggers_run_once_in_the_image_built_from_it() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let parent = build_files(
        &store,
        &[
            (
                "Dockerfile",
                "FROM busybox\n\
                 ONBUILD COPY marker.txt /marker.txt\n\
                 ONBUILD RUN echo fired >> /fired.txt\n\
                 CMD [\"parent\"]\n",
            ),
            ("marker.txt", "from the parent's context\n"),
        ],
        &["-t", "onbase:1"],
    );
    assert_eq!(
        strings(parent.setting("OnBuild")),
        [
            "COPY marker.txt /marker.txt",
            "RUN echo fired >> /fired.txt"
        ]
    );
    assert!(
        !parent.exists("fired.txt"),
        "triggers do not run where they are set"
    );
    assert!(!parent.exists("marker.txt"));

    let child = build_files(
        &store,
        &[
            (
                "Dockerfile",
                "FROM onbase:1 AS first\n\
                 RUN cat /fired.txt\n\
                 FROM first\n\
                 RUN echo second >> /fired.txt\n",
            ),
            ("marker.txt", "from the child's context\n"),
        ],
        &["-t", "onchild:1"],
    );
    assert_eq!(
        child.read("fired.txt"),
        "fired\nsecond\n",
        "triggers ran once"
    );
    assert_eq!(child.read("marker.txt"), "from the child's context\n");
    assert!(child.setting("OnBuild").is_null(), "{}", child.config);
    assert_eq!(strings(child.setting("Cmd")), ["parent"]);
    assert!(
        child
            .progress
            .contains("ONBUILD COPY marker.txt /marker.txt"),
        "{}",
        child.progress
    );
    let history = child.history();
    assert!(history.contains(&"COPY marker.txt /marker.txt # buildkit".to_string()));
    assert!(history.contains(&"RUN /bin/sh -c echo fired >> /fired.txt # buildkit".to_string()));

    let grandchild = build_dockerfile(&store, "FROM onchild:1\nRUN cat /fired.txt\n", &[]);
    assert_eq!(grandchild.read("fired.txt"), "fired\nsecond\n");
}

#[test]
fn debug_dump_ast_prints_what_buildkit_prints() {
    let store = TestStore::empty();
    let corpus = repo_dir().join("../shared/conformance/buildkit/parser/testfiles");
    let mut cases: Vec<_> = fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("{}: {e}", corpus.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 33);
    for case in cases {
        let dockerfile = case.join("Dockerfile");
        let out = store.rbuild(&[
            "debug".as_ref(),
            "dump-ast".as_ref(),
            dockerfile.as_os_str(),
        ]);
        assert_success(&out, &format!("dump-ast {}", case.display()));
        let expected = fs::read_to_string(case.join("result")).unwrap();
        assert_eq!(stdout(&out), expected, "{}", case.display());
    }
}

#[test]
fn debug_graph_prints_one_dot_node_per_vertex() {
    let store = TestStore::with_busybox();
    let context = context_from(&[(
        "Dockerfile",
        "FROM busybox AS build\n\
         RUN echo hi > /x\n\
         FROM busybox\n\
         WORKDIR /app\n\
         COPY --from=build /x ./x\n",
    )]);
    let graph = |extra: &[&str]| {
        let mut args = vec!["debug", "graph"];
        args.extend_from_slice(extra);
        let context = context.path().display().to_string();
        args.push(&context);
        let out = store.rbuild(&args);
        assert_success(&out, "debug graph");
        stdout(&out)
    };
    let node_ids = |dot: &str| -> Vec<String> {
        dot.lines()
            .filter_map(|line| line.trim().split_once(" [label="))
            .map(|(id, _)| id.to_string())
            .collect()
    };

    let dot = graph(&[]);
    assert!(dot.starts_with("digraph build {"), "{dot}");
    assert!(dot.trim_end().ends_with('}'), "{dot}");
    // One image vertex shared by both stages, then RUN, WORKDIR and COPY.
    assert_eq!(node_ids(&dot), ["v0", "v1", "v2", "v3"], "{dot}");
    for edge in [
        "v0 -> v1;",
        "v0 -> v2;",
        "v2 -> v3;",
        "v1 -> v3 [style=dashed];",
    ] {
        assert!(dot.contains(edge), "missing {edge} in\n{dot}");
    }
    assert!(dot.contains("mkdir /app"), "{dot}");

    let only_build = graph(&["--target", "build"]);
    assert_eq!(node_ids(&only_build), ["v0", "v1"], "{only_build}");
}
