//! Mirrors from `$RBUILD_ROOT/config.toml`: `busybox` (Docker Hub, normalized to
//! `docker.io/library/busybox:latest`) is pulled from a loopback mirror — the machine
//! never reaches Docker Hub — and an unreachable mirror listed first is skipped.

mod common;
mod registry_support;

use common::{assert_success, stdout, TestStore};
use registry_support::{rbuild_with, LocalRegistry};

#[test]
fn docker_hub_names_pull_through_the_configured_mirrors_in_order() {
    let Some(registry) = LocalRegistry::start() else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let seeded = format!("{}/library/busybox:latest", registry.host());
    let source = TestStore::with_busybox();
    assert_success(&source.rbuild(&["tag", "busybox", &seeded]), "tag");
    assert_success(
        &rbuild_with(source.root(), config.path(), &["push", &seeded], None),
        "seed the mirror",
    );

    let store = TestStore::empty();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // Nothing listens there once the listener is dropped.
    std::fs::write(
        store.root().join("config.toml"),
        format!(
            "[registry.\"docker.io\"]\nmirrors = [\"{dead}\", \"{}\"]\n",
            registry.host()
        ),
    )
    .unwrap();
    let pulled = rbuild_with(store.root(), config.path(), &["pull", "busybox"], None);
    assert_success(&pulled, "pull busybox through the mirror");
    assert!(
        stdout(&pulled).contains(&format!("from {}", registry.host())),
        "{}",
        stdout(&pulled)
    );
    let images = store.rbuild(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        stdout(&images).contains("busybox:latest"),
        "{}",
        stdout(&images)
    );

    std::fs::write(
        store.root().join("config.toml"),
        "[registry.\"docker.io\"]\nmirors = []\n",
    )
    .unwrap();
    let bad = rbuild_with(store.root(), config.path(), &["pull", "busybox"], None);
    assert!(!bad.status.success());
    assert!(
        common::stderr(&bad).contains("config.toml:2"),
        "{}",
        common::stderr(&bad)
    );
}
