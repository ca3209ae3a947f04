//! End-to-end store size management: `rbuild cache prune --keep-storage` brings
//! `rbuild cache du` under the bound, and the tagged image survives: later builds can start
//! FROM it and export it, and `rbuild cache check` finds nothing broken.

mod common;

use std::path::Path;

use common::{assert_success, context_from, du_total, stdout, TestStore};

fn build(store: &TestStore, context: &Path, extra: &[&str]) {
    let out = store.build(context, extra);
    assert_success(&out, &format!("build {extra:?}"));
}

#[test]
fn keep_storage_bounds_the_store_and_tagged_images_stay_usable() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let kept = context_from(&[(
        "Dockerfile",
        "FROM busybox\nRUN head -c 1000000 /dev/urandom > /kept\n",
    )]);
    build(&store, kept.path(), &["-t", "kept:1"]);
    let with_tagged = du_total(&store);

    let bulky = context_from(&[(
        "Dockerfile",
        "FROM busybox\nARG N\nRUN head -c 2000000 /dev/urandom > /bulk\n",
    )]);
    for n in 0..4 {
        build(&store, bulky.path(), &["--build-arg", &format!("N={n}")]);
    }
    let before = du_total(&store);
    assert!(
        before > with_tagged + 7_000_000,
        "{before} vs {with_tagged}"
    );

    let bound = with_tagged + 1_000_000;
    let out = store.rbuild(&["cache", "prune", "--keep-storage", &bound.to_string()]);
    assert_success(&out, "cache prune --keep-storage");
    let after = du_total(&store);
    assert!(after <= bound, "du {after} exceeds the bound {bound}");

    let check = store.rbuild(&["cache", "check"]);
    assert_success(&check, "cache check");
    assert!(stdout(&check).contains("no damage"));

    let outputs = tempfile::tempdir().unwrap();
    let oci = outputs.path().join("kept.oci.tar");
    let docker = outputs.path().join("kept.docker.tar");
    let child = context_from(&[("Dockerfile", "FROM kept:1\nRUN test -s /kept\n")]);
    build(
        &store,
        child.path(),
        &[
            "-o",
            &format!("type=oci,dest={}", oci.display()),
            "-o",
            &format!("type=docker,dest={}", docker.display()),
        ],
    );
    assert!(oci.metadata().unwrap().len() > 1_000_000);
    assert!(docker.metadata().unwrap().len() > 1_000_000);
}

#[test]
fn prune_flags_are_checked() {
    let store = TestStore::empty();
    for args in [
        &["cache", "prune", "--keep-storage", "lots"][..],
        &["cache", "prune", "--filter", "label=x"][..],
        &["cache", "prune", "--filter", "until=soon"][..],
    ] {
        let out = store.rbuild(args);
        assert!(!out.status.success(), "{args:?} should fail");
    }
    let out = store.rbuild(&["cache", "prune", "--all", "--filter", "until=24h"]);
    assert_success(&out, "prune --all --filter until=24h");
}
