//! End-to-end: COPY/ADD behaviours where BuildKit is the definition and a differential run
//! once found rbuild different — wildcards that match nothing, ownership of files copied
//! from stages and images, mixed heredoc/file/URL sources, archives whose links point
//! outside, single-file bind mounts onto missing targets, and the `.dockerignore` rule
//! named when a source is excluded. Each test asserts the exact entries (path, type, mode,
//! owner, link target) the image holds.

mod common;
mod language_support;

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
        ("Dockerfile", "FROM busybox\nCOPY real.txt absent.txt /dst/\n"),
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
