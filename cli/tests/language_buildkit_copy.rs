//! End-to-end: COPY/ADD behaviours where BuildKit is the definition and a differential run
//! once found rbuild different — wildcards that match nothing, ownership of files copied
//! from stages and images, mixed heredoc/file/URL sources, archives whose links point
//! outside, single-file bind mounts onto missing targets, and the `.dockerignore` rule
//! named when a source is excluded. Each test asserts the exact entries (path, type, mode,
//! owner, link target) the image holds.

mod common;
mod language_support;

use std::fs;
use std::os::unix::fs::{lchown, PermissionsExt};

use common::{context_from, TestStore};
use language_support::{build, failed_build};

#[test]
fn a_wildcard_matching_nothing_copies_nothing_and_a_missing_literal_fails() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[
        (
            "Dockerfile",
            "FROM busybox AS one\n\
             RUN mkdir /out && echo o > /out/o.txt\n\
             FROM busybox\n\
             COPY real.txt absent-*.txt /dst/\n\
             COPY missing-* /empty-dest/\n\
             COPY missing-* /dst/sub/\n\
             COPY --from=one /out/none-* /from-stage-empty/\n\
             COPY --from=one /out/*.txt /from-stage/\n",
        ),
        ("real.txt", "real\n"),
    ]);
    let built = build(&store, context.path(), &[]);
    assert_eq!(built.entries("dst"), ["real.txt"], "only the real file");
    assert_eq!(built.read("dst/real.txt"), "real\n");
    assert!(built.metadata("dst").is_dir());
    assert!(
        !built.exists("empty-dest"),
        "an empty wildcard creates no destination, as BuildKit's copy returns before it"
    );
    assert!(!built.exists("dst/sub"));
    assert!(!built.exists("from-stage-empty"));
    assert_eq!(built.entries("from-stage"), ["o.txt"]);

    let literal = context_from(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY real.txt absent.txt /dst/\n",
        ),
        ("real.txt", "real\n"),
    ]);
    let text = failed_build(&store, literal.path(), &[]);
    assert!(text.contains("Dockerfile:2"), "{text}");
    assert!(text.contains("\"absent.txt\""), "{text}");

    let stage_literal = context_from(&[(
        "Dockerfile",
        "FROM busybox AS one\nFROM busybox\nCOPY --from=one /no/such/file /x\n",
    )]);
    let text = failed_build(&store, stage_literal.path(), &[]);
    assert!(text.contains("/no/such/file"), "{text}");
}

/// A stage whose `/src/dir` holds `f` (1234:4321, 0640), `x` (0:0, 0755) and `link -> f`
/// (55:66), the directory itself 1234:4321 0750.
const OWNED_STAGE: &str = "FROM busybox AS one\n\
     RUN mkdir -p /src/dir && echo f > /src/dir/f && echo x > /src/dir/x \
         && chmod 0755 /src/dir/x && ln -s f /src/dir/link \
         && chown 1234:4321 /src/dir /src/dir/f && chown -h 55:66 /src/dir/link \
         && chmod 0640 /src/dir/f && chmod 0750 /src/dir\n";

#[test]
fn copy_from_a_stage_keeps_owners_and_modes_and_context_files_belong_to_root() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let dockerfile = format!(
        "{OWNED_STAGE}\
         FROM busybox\n\
         COPY --from=one /src/dir /renamed\n\
         COPY --from=one /src/dir/ /into/\n\
         COPY --from=one /src/dir/f /single\n\
         COPY --from=one --chown=7:8 /src/dir /chowned\n\
         COPY --from=one --chmod=0600 /src/dir/f /chmodded\n\
         COPY ctx.txt /ctx.txt\n\
         RUN --mount=type=bind,from=one,source=/src/dir,target=/m \
             stat -c '%u:%g %a' /m/f /m > /mount-stat\n"
    );
    let context = context_from(&[("Dockerfile", &dockerfile), ("ctx.txt", "c\n")]);
    let ctx_file = context.path().join("ctx.txt");
    fs::set_permissions(&ctx_file, fs::Permissions::from_mode(0o604)).unwrap();
    lchown(&ctx_file, Some(4242), Some(4243)).unwrap();
    let built = build(&store, context.path(), &[]);

    for base in ["renamed", "into"] {
        assert_eq!(built.entries(base), ["f", "link", "x"], "{base}");
        let f = format!("{base}/f");
        assert_eq!((built.owner(&f), built.mode(&f)), ((1234, 4321), 0o640));
        let x = format!("{base}/x");
        assert_eq!((built.owner(&x), built.mode(&x)), ((0, 0), 0o755));
        let link = format!("{base}/link");
        assert!(built.metadata(&link).is_symlink());
        assert_eq!(built.link_target(&link), "f");
        assert_eq!(built.owner(&link), (55, 66), "a symlink keeps its owner");
    }
    assert_eq!(
        (built.owner("renamed"), built.mode("renamed")),
        ((1234, 4321), 0o750),
        "a directory copied under a new name is the source directory"
    );
    assert_eq!(
        (built.owner("into"), built.mode("into")),
        ((0, 0), 0o755),
        "a directory named with a trailing slash is created plain"
    );
    assert_eq!(
        (built.owner("single"), built.mode("single")),
        ((1234, 4321), 0o640)
    );
    for rel in ["chowned", "chowned/f", "chowned/x", "chowned/link"] {
        assert_eq!(built.owner(rel), (7, 8), "--chown wins: {rel}");
    }
    assert_eq!(
        (built.owner("chmodded"), built.mode("chmodded")),
        ((1234, 4321), 0o600),
        "--chmod alone keeps the owner"
    );
    assert_eq!(
        (built.owner("ctx.txt"), built.mode("ctx.txt")),
        ((0, 0), 0o604),
        "context files belong to root and keep their mode"
    );
    assert_eq!(built.read("mount-stat"), "1234:4321 640\n1234:4321 750\n");
}

#[test]
fn copy_from_an_image_keeps_owners() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let stage = context_from(&[("Dockerfile", OWNED_STAGE)]);
    built_as(&store, stage.path(), "owned:1");
    let context = context_from(&[(
        "Dockerfile",
        "FROM busybox\nCOPY --from=owned:1 /src/dir /from-image\n",
    )]);
    let built = build(&store, context.path(), &[]);
    assert_eq!(built.owner("from-image"), (1234, 4321));
    assert_eq!(
        (built.owner("from-image/f"), built.mode("from-image/f")),
        ((1234, 4321), 0o640)
    );
    assert_eq!(built.owner("from-image/link"), (55, 66));
}

/// Builds `context` into the store as `tag`.
fn built_as(store: &TestStore, context: &std::path::Path, tag: &str) {
    let out = store.build(context, &["-t", tag]);
    common::assert_success(&out, &format!("build {tag}"));
}

#[test]
fn a_single_file_bind_mount_onto_a_missing_target_gets_a_stub_that_is_removed() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[
        (
            "Dockerfile",
            "FROM busybox AS one\n\
             RUN mkdir /out && echo staged > /out/s.txt\n\
             FROM busybox\n\
             RUN --mount=type=bind,source=f.txt,target=/newdir/deeper/f.txt \
                 cat /newdir/deeper/f.txt > /seen-context\n\
             RUN --mount=type=bind,from=one,source=/out/s.txt,target=/etc/fresh/s.txt \
                 cat /etc/fresh/s.txt > /seen-stage\n\
             RUN --mount=type=bind,source=f.txt,target=/f-at-root cat /f-at-root > /seen-root\n",
        ),
        ("f.txt", "from the context\n"),
    ]);
    let built = build(&store, context.path(), &[]);
    assert_eq!(built.read("seen-context"), "from the context\n");
    assert_eq!(built.read("seen-stage"), "staged\n");
    assert_eq!(built.read("seen-root"), "from the context\n");
    for stub in ["newdir", "etc/fresh", "f-at-root"] {
        assert!(
            !built.exists(stub),
            "the stub {stub} is removed after the run"
        );
    }
    assert!(built.metadata("etc").is_dir(), "an existing parent stays");
}

#[test]
fn add_extracts_links_pointing_outside_as_written_and_confines_writes_through_them() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[
        ("Dockerfile", "FROM busybox\nADD links.tar /dst/\n"),
        ("first/inside.txt", "in\n"),
        ("second/abs/through.txt", "through the absolute link\n"),
        ("second/up/t2.txt", "through the climbing link\n"),
    ]);
    let root = context.path();
    std::os::unix::fs::symlink("/etc", root.join("first/abs")).unwrap();
    std::os::unix::fs::symlink("../../outside", root.join("first/up")).unwrap();
    std::os::unix::fs::symlink("inside.txt", root.join("first/near")).unwrap();
    let archive = root.join("links.tar");
    let tar = |args: &[&str]| {
        let status = std::process::Command::new("tar")
            .args(args)
            .status()
            .expect("run tar");
        assert!(status.success(), "tar {args:?}");
    };
    let first = root.join("first");
    let second = root.join("second");
    let archive_arg = archive.to_str().unwrap();
    tar(&[
        "-cf",
        archive_arg,
        "-C",
        first.to_str().unwrap(),
        "abs",
        "up",
        "near",
        "inside.txt",
    ]);
    tar(&[
        "-rf",
        archive_arg,
        "-C",
        second.to_str().unwrap(),
        "abs/through.txt",
        "up/t2.txt",
    ]);

    let built = build(&store, root, &[]);
    for (link, target) in [
        ("dst/abs", "/etc"),
        ("dst/up", "../../outside"),
        ("dst/near", "inside.txt"),
    ] {
        assert!(built.metadata(link).is_symlink(), "{link}");
        assert_eq!(built.link_target(link), target, "{link} as written");
    }
    assert_eq!(
        built.read("dst/etc/through.txt"),
        "through the absolute link\n",
        "a write through an absolute link stays inside the destination"
    );
    assert_eq!(
        built.read("dst/outside/t2.txt"),
        "through the climbing link\n"
    );
    assert!(
        !built.exists("etc/through.txt"),
        "the image's /etc is untouched"
    );
    assert!(!built.exists("outside"));
}

#[test]
fn heredocs_beside_files_and_stage_sources_are_copied_in_one_step() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[
        (
            "Dockerfile",
            "FROM busybox AS one\n\
             RUN echo staged > /f && chown 5:6 /f && chmod 0640 /f\n\
             FROM busybox\n\
             COPY <<a.txt <<b.txt file /dst/\n\
             alpha\n\
             a.txt\n\
             beta\n\
             b.txt\n\
             COPY --from=one /f <<a.txt /from-mixed/\n\
             from a heredoc\n\
             a.txt\n\
             COPY --chown=3:4 --chmod=0600 file <<c.txt /owned/\n\
             gamma\n\
             c.txt\n",
        ),
        ("file", "from the context\n"),
    ]);
    fs::set_permissions(
        context.path().join("file"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let built = build(&store, context.path(), &[]);
    assert_eq!(built.entries("dst"), ["a.txt", "b.txt", "file"]);
    assert_eq!(built.read("dst/a.txt"), "alpha\n");
    assert_eq!(built.read("dst/b.txt"), "beta\n");
    assert_eq!(built.read("dst/file"), "from the context\n");
    for (rel, mode) in [
        ("dst/a.txt", 0o644),
        ("dst/b.txt", 0o644),
        ("dst/file", 0o755),
    ] {
        assert_eq!((built.owner(rel), built.mode(rel)), ((0, 0), mode), "{rel}");
    }
    assert_eq!(built.entries("from-mixed"), ["a.txt", "f"]);
    assert_eq!(
        (built.owner("from-mixed/f"), built.mode("from-mixed/f")),
        ((5, 6), 0o640),
        "the stage file keeps its owner"
    );
    assert_eq!(built.owner("from-mixed/a.txt"), (0, 0));
    assert_eq!(built.read("from-mixed/a.txt"), "from a heredoc\n");
    for rel in ["owned/file", "owned/c.txt"] {
        assert_eq!(
            (built.owner(rel), built.mode(rel)),
            ((3, 4), 0o600),
            "{rel}"
        );
    }
    let history = built.history();
    for text in [
        "COPY file <<a.txt <<b.txt /dst/",
        "COPY /f <<a.txt /from-mixed/",
        "COPY --chown=3:4 --chmod=0600 file <<c.txt /owned/",
    ] {
        let created_by = format!("{text} # buildkit");
        assert!(history.contains(&created_by), "{created_by} in {history:?}");
        assert!(!built.history_is_empty_layer(&created_by));
    }
    assert_eq!(
        built.config["rootfs"]["diff_ids"].as_array().unwrap().len(),
        1 + 3,
        "one layer per instruction"
    );
}

#[test]
fn an_excluded_source_names_the_dockerignore_rule_that_excluded_it() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY secrets/key.pem /key.pem\n",
        ),
        (".dockerignore", "*.log\nsecrets/\n!secrets/public.pem\n"),
        ("secrets/key.pem", "private\n"),
    ]);
    let text = failed_build(&store, context.path(), &[]);
    assert!(text.contains("Dockerfile:2"), "{text}");
    assert!(
        text.contains("\"secrets/key.pem\": excluded from the build context by the .dockerignore rule \"secrets\""),
        "{text}"
    );
    let missing = context_from(&[("Dockerfile", "FROM busybox\nCOPY nowhere.txt /x\n")]);
    let text = failed_build(&store, missing.path(), &[]);
    assert!(
        text.contains("\"nowhere.txt\": file not found in build context"),
        "{text}"
    );
}
