//! A build cache shared through a real registry (docker-registry on loopback): two fresh
//! stores ("two CI runners") with the same base; the first builds and exports its cache
//! with `--cache-to type=registry`, the second imports it with `--cache-from` and runs no
//! RUN step — the RUN reads /dev/urandom, so a rerun would make a different image.

mod common;
mod registry_support;

use common::{assert_success, context_from, stderr, steps, TestStore};
use registry_support::{rbuild_with, LocalRegistry};

#[test]
fn two_runners_share_one_cache_through_a_registry() {
    require_sandbox!();
    let Some(registry) = LocalRegistry::start() else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let cache = format!("{}/ci/cache:main", registry.host());
    let context = context_from(&[(
        "Dockerfile",
        "FROM busybox\nRUN head -c 32 /dev/urandom | od -x > /random\nRUN cat /random > /copy\n",
    )]);
    let ctx = context.path().display().to_string();
    let build = |store: &TestStore, extra: &[&str]| {
        let mut args = vec!["build", "--progress", "plain"];
        args.extend_from_slice(extra);
        args.push(&ctx);
        let out = rbuild_with(store.root(), config.path(), &args, None);
        assert_success(&out, "build");
        out
    };
    let first = TestStore::with_busybox();
    let to = format!("type=registry,ref={cache},mode=max");
    let out = build(&first, &["-t", "app:1", "--cache-to", &to]);
    let raw = registry_support::raw_manifest(&cache);
    assert!(
        raw.contains("application/vnd.oci.image.manifest.v1+json"),
        "{raw}"
    );
    assert!(raw.contains("\"artifactType\""), "{raw}");
    assert!(!raw.contains("image.index"), "{raw}");
    let first_id = image_id(&first);
    let _ = out;

    let second = TestStore::with_busybox();
    let from = format!("type=registry,ref={cache}");
    let out = build(&second, &["-t", "app:1", "--cache-from", &from]);
    let runs: Vec<_> = steps(&stderr(&out))
        .into_iter()
        .filter(|(name, _)| name.contains("RUN"))
        .collect();
    assert_eq!(runs.len(), 2, "{}", stderr(&out));
    let ran: Vec<_> = runs.iter().filter(|(_, cached)| !cached).collect();
    assert!(
        ran.is_empty(),
        "steps ran in the second runner: {ran:?}\n{}",
        stderr(&out)
    );
    assert_eq!(image_id(&second), first_id, "{}", stderr(&out));
}

fn image_id(store: &TestStore) -> String {
    let out = store.rbuild(&["images", "--no-trunc", "--format", "{{.ID}}", "app:1"]);
    assert_success(&out, "images");
    common::stdout(&out).trim().to_string()
}
