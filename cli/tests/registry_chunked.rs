//! A layer larger than one upload chunk (64 MiB) goes up in `PATCH` chunks and a final
//! `PUT`; the registry accepts it, skopeo reads the image, and a fresh store pulls the
//! same digest back.

mod common;
mod registry_support;

use common::{assert_success, context_from, stdout, TestStore};
use registry_support::{rbuild_with, LocalRegistry};

#[test]
fn a_large_layer_uploads_in_chunks() {
    require_sandbox!();
    let Some(registry) = LocalRegistry::start() else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let name = format!("{}/big/app:1", registry.host());
    let store = TestStore::with_busybox();
    let context = context_from(&[(
        "Dockerfile",
        "FROM busybox\nRUN head -c 70000000 /dev/urandom > /big\n",
    )]);
    let ctx = context.path().display().to_string();
    let built = rbuild_with(
        store.root(),
        config.path(),
        &["build", "--progress", "plain", "-t", &name, "--push", &ctx],
        None,
    );
    assert_success(&built, "build and push");
    let patches = registry
        .log()
        .lines()
        .filter(|l| l.contains("\"PATCH /v2/big/app/blobs/uploads/"))
        .count();
    assert!(patches >= 2, "expected chunked upload:\n{}", registry.log());
    let inspect = common::checked(
        "skopeo",
        &["inspect", "--tls-verify=false", &format!("docker://{name}")],
    );
    let digest = serde_json::from_str::<serde_json::Value>(&inspect).unwrap()["Digest"]
        .as_str()
        .unwrap()
        .to_string();
    let empty = TestStore::empty();
    let pulled = rbuild_with(empty.root(), config.path(), &["pull", &name], None);
    assert_success(&pulled, "pull");
    assert!(stdout(&pulled).contains(&digest), "{}", stdout(&pulled));
}
