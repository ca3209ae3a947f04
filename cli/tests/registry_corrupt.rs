//! A registry that serves a corrupt blob, and one that dies mid-blob: the pull fails
//! naming the registry and the reference, nothing is named or stored half-way (`rbuild
//! cache check` is clean), and once the registry is good again the next pull succeeds.

mod common;
mod registry_support;

use std::fs;
use std::path::PathBuf;

use common::{assert_success, stderr, stdout, TestStore};
use registry_support::{rbuild_with, CuttingRelay, LocalRegistry};

/// The largest blob file in the registry's storage (a layer).
fn largest_blob(root: &std::path::Path) -> PathBuf {
    walk(&root.join("data/docker/registry/v2/blobs"))
        .into_iter()
        .max_by_key(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a blob in the registry")
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if path.file_name().is_some_and(|n| n == "data") {
            files.push(path);
        }
    }
    files
}

#[test]
fn corrupt_blob_fails_cleanly_and_the_next_pull_works() {
    let Some(registry) = LocalRegistry::start() else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let name = format!("{}/library/busybox:latest", registry.host());
    let source = TestStore::with_busybox();
    assert_success(&source.rbuild(&["tag", "busybox", &name]), "tag");
    assert_success(
        &rbuild_with(source.root(), config.path(), &["push", &name], None),
        "push",
    );

    let blob = largest_blob(registry.dir.path());
    let good = fs::read(&blob).unwrap();
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0xff;
    fs::write(&blob, &bad).unwrap();

    let store = TestStore::empty();
    let failed = rbuild_with(store.root(), config.path(), &["pull", &name], None);
    assert!(!failed.status.success());
    let message = stderr(&failed);
    assert!(
        message.contains("corrupt") && message.contains(&registry.host()),
        "{message}"
    );
    let check = store.rbuild(&["cache", "check"]);
    assert_success(&check, "cache check after a corrupt pull");
    let images = store.rbuild(&["images", "-q"]);
    assert!(
        stdout(&images).trim().is_empty(),
        "a name was left: {}",
        stdout(&images)
    );

    fs::write(&blob, &good).unwrap();
    assert_success(
        &rbuild_with(store.root(), config.path(), &["pull", &name], None),
        "pull after repair",
    );
}

#[test]
fn a_registry_dying_mid_blob_leaves_a_clean_store() {
    let Some(registry) = LocalRegistry::start() else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let relay = CuttingRelay::start(registry.port, 256 * 1024);
    let name = format!("127.0.0.1:{}/library/busybox:latest", relay.port);
    let direct = format!("{}/library/busybox:latest", registry.host());
    let source = TestStore::with_busybox();
    assert_success(&source.rbuild(&["tag", "busybox", &direct]), "tag");
    assert_success(
        &rbuild_with(source.root(), config.path(), &["push", &direct], None),
        "push",
    );

    let store = TestStore::empty();
    let failed = rbuild_with(store.root(), config.path(), &["pull", &name], None);
    assert!(!failed.status.success());
    let message = stderr(&failed);
    assert!(
        message.contains(&format!("127.0.0.1:{}", relay.port)),
        "{message}"
    );
    assert_success(
        &store.rbuild(&["cache", "check"]),
        "cache check after a broken pull",
    );
    assert!(stdout(&store.rbuild(&["images", "-q"])).trim().is_empty());

    relay
        .cutting
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert_success(
        &rbuild_with(store.root(), config.path(), &["pull", &name], None),
        "pull once the registry is whole",
    );
}
