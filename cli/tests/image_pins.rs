//! `FROM name@sha256:…` pins resolve against the store: the platform manifest digest rbuild
//! prints on its own FROM line, the image index digest the image is published under, with
//! or without a tag; a digest the store does not have is a clear error.

mod common;

use common::{assert_success, context_from, stderr, TestStore};

/// The busybox image index in ../shared/images (what `rbuild load` keeps under the name).
fn busybox_index_digest() -> String {
    let top: serde_json::Value = serde_json::from_slice(
        &std::fs::read(common::busybox_layout().join("index.json")).unwrap(),
    )
    .unwrap();
    top["manifests"][0]["digest"].as_str().unwrap().to_string()
}

/// The digest after `@` on the FROM line of a plain build's progress.
fn printed_manifest_digest(progress: &str) -> String {
    let line = progress
        .lines()
        .find(|l| l.contains("FROM docker.io/library/busybox:latest@"))
        .unwrap_or_else(|| panic!("no FROM line in {progress}"));
    let at = line.find("@sha256:").unwrap();
    line[at + 1..at + 1 + 71].to_string()
}

fn build_from(store: &TestStore, from: &str) -> std::process::Output {
    let dockerfile = format!("FROM {from}\nRUN cat /etc/hostname > /seen\n");
    let context = context_from(&[("Dockerfile", &dockerfile)]);
    store.build(context.path(), &[])
}

#[test]
fn pins_by_manifest_and_index_digest_resolve_in_the_store() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let plain = build_from(&store, "busybox");
    assert_success(&plain, "FROM busybox");
    let manifest = printed_manifest_digest(&stderr(&plain));
    let index = busybox_index_digest();
    for pin in [
        format!("busybox@{manifest}"),
        format!("busybox:latest@{manifest}"),
        format!("docker.io/library/busybox@{index}"),
        format!("busybox:1.0@{index}"),
    ] {
        let pinned = build_from(&store, &pin);
        assert_success(&pinned, &pin);
        let digest = &pin[pin.find('@').unwrap() + 1..];
        assert!(
            stderr(&pinned).contains(digest),
            "{pin}: {}",
            stderr(&pinned)
        );
    }
    let missing = format!("busybox@sha256:{}", "0".repeat(64));
    let failed = build_from(&store, &missing);
    assert!(!failed.status.success());
    assert!(
        stderr(&failed).contains("not found in the local store"),
        "{}",
        stderr(&failed)
    );
}
