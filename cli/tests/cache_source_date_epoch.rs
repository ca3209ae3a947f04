//! End-to-end: SOURCE_DATE_EPOCH is part of what a result is keyed by. A build with the
//! epoch after a plain build of the same Dockerfile in the same store makes its own,
//! clamped layers (the ones a fresh store makes), and a plain build afterwards reuses the
//! plain layers, never the clamped ones.

mod common;
mod language_support;

use common::{context_from, steps, TestStore};
use language_support::{build, strings, Built};

const EPOCH: &str = "SOURCE_DATE_EPOCH=1700000000";

fn diff_ids(built: &Built) -> Vec<String> {
    strings(&built.config["rootfs"]["diff_ids"])
}

#[test]
fn epoch_and_plain_builds_never_share_layers() {
    require_sandbox!();
    let context = context_from(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY a.txt /a.txt\nRUN echo run > /run.txt\nWORKDIR /made\n",
        ),
        ("a.txt", "a\n"),
    ]);
    let store = TestStore::with_busybox();
    let plain = build(&store, context.path(), &[]);
    let with_epoch = build(&store, context.path(), &["--build-arg", EPOCH]);
    let new_steps = steps(&with_epoch.progress);
    assert!(
        new_steps
            .iter()
            .filter(|(name, _)| !name.contains("FROM"))
            .all(|(_, cached)| !cached),
        "no step of the epoch build reuses a plain result: {new_steps:?}"
    );

    let fresh = TestStore::with_busybox();
    let fresh_epoch = build(&fresh, context.path(), &["--build-arg", EPOCH]);
    assert_eq!(
        diff_ids(&with_epoch),
        diff_ids(&fresh_epoch),
        "the same layers as from a fresh store"
    );
    let (plain_ids, epoch_ids) = (diff_ids(&plain), diff_ids(&with_epoch));
    assert_eq!(plain_ids.len(), epoch_ids.len());
    assert_eq!(
        plain_ids[0], epoch_ids[0],
        "the base layer is the base layer"
    );
    for (index, (a, b)) in plain_ids.iter().zip(&epoch_ids).enumerate().skip(1) {
        assert_ne!(a, b, "layer {index} is clamped in the epoch build");
    }
    assert_eq!(with_epoch.config["created"], "2023-11-14T22:13:20Z");

    let plain_again = build(&store, context.path(), &[]);
    assert_eq!(diff_ids(&plain_again), plain_ids, "plain layers stay plain");
    assert!(
        steps(&plain_again.progress)
            .iter()
            .all(|(_, cached)| *cached),
        "{:?}",
        steps(&plain_again.progress)
    );
}
