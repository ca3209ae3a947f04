//! End-to-end: the cleanup after a build (`--gc-keep-storage`) reclaims the bytes of
//! snapshots nothing references any more — the build's own lease no longer shields them —
//! while a tagged image keeps its snapshots and its cache records, so it still builds
//! from the cache.

mod common;

use common::{assert_success, context_from, du_total, stderr, stdout, steps, TestStore};

#[test]
fn the_automatic_gc_reclaims_unreferenced_snapshots_and_keeps_the_tagged_image_cached() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let kept = context_from(&[(
        "Dockerfile",
        "FROM busybox\nRUN head -c 1000000 /dev/urandom > /kept\n",
    )]);
    let no_gc = ["--gc-keep-storage", "off"];
    let built = store.build(kept.path(), &["-t", "kept:1", no_gc[0], no_gc[1]]);
    assert_success(&built, "tagged build");
    let with_tagged = du_total(&store);
    let bulky = context_from(&[(
        "Dockerfile",
        "FROM busybox\nARG N\nRUN head -c 2000000 /dev/urandom > /bulk\n",
    )]);
    for n in 0..3 {
        let arg = format!("N={n}");
        let out = store.build(bulky.path(), &["--build-arg", &arg, no_gc[0], no_gc[1]]);
        assert_success(&out, "untagged build");
    }
    let before = du_total(&store);
    assert!(
        before >= with_tagged + 6_000_000,
        "{before} vs {with_tagged}"
    );

    // One more untagged build, then the cleanup with a bound that leaves room for the
    // tagged image alone: even this build's own snapshot must go.
    let bound = with_tagged + 1_000_000;
    let out = store.build(
        bulky.path(),
        &[
            "--build-arg",
            "N=3",
            "--gc-keep-storage",
            &bound.to_string(),
        ],
    );
    assert_success(&out, "build with a small gc bound");
    let gc_line = stderr(&out)
        .lines()
        .find(|l| l.starts_with("gc: "))
        .map(String::from)
        .unwrap_or_else(|| panic!("no gc line in {}", stderr(&out)));
    assert!(!gc_line.ends_with("reclaimed 0B"), "{gc_line}");
    let after = du_total(&store);
    assert!(
        after <= bound,
        "du {after} exceeds the gc bound {bound} ({gc_line})"
    );
    assert!(
        before - after >= 5_000_000,
        "reclaimed only {} bytes",
        before - after
    );
    println!("cache du {before} B before the cleanup, {after} B after (bound {bound} B)");

    let again = store.build(kept.path(), &["-t", "kept:1"]);
    assert_success(&again, "the tagged image after the gc");
    assert!(
        steps(&stderr(&again)).iter().all(|(_, cached)| *cached),
        "{}",
        stderr(&again)
    );
    let check = store.rbuild(&["cache", "check"]);
    assert_success(&check, "cache check");
    assert!(stdout(&check).contains("no damage"), "{}", stdout(&check));
}
