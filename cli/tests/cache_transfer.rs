//! End-to-end cache sharing: `--cache-to type=local` from one store, `--cache-from` into an
//! empty one, and the second store rebuilds with every step cached: a RUN that would write
//! a fresh random id if it ran leaves the same id in both images. A missing or damaged
//! cache directory is a warning, never a failed build.

mod common;

use std::fs;
use std::path::Path;

use common::{assert_success, context_from, stderr, steps, TestStore};

const DOCKERFILE: &str = "FROM busybox AS tools
RUN cat /proc/sys/kernel/random/uuid > /tool-id
FROM busybox
COPY app.txt /app/
COPY --from=tools /tool-id /app/tool-id
RUN cat /proc/sys/kernel/random/uuid > /app/id
";

fn build_to(store: &TestStore, context: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "-o".to_string(),
        format!("type=local,dest={}", out.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = store.build(context, &args);
    assert_success(&output, &format!("build {extra:?}"));
    stderr(&output)
}

/// Builds the test Dockerfile in a fresh store into `work/a`, exporting its cache to
/// `work/cache` with `--cache-to type=local,dest=...` plus `options`.
fn exported_cache(context: &Path, work: &Path, options: &str) -> (TestStore, String) {
    let store = TestStore::with_busybox();
    let spec = format!("type=local,dest={}{options}", work.join("cache").display());
    build_to(&store, context, &work.join("a"), &["--cache-to", &spec]);
    assert!(work.join("cache/index.json").is_file());
    (store, spec)
}

#[test]
fn an_empty_store_rebuilds_from_an_exported_cache_without_running_anything() {
    require_sandbox!();
    let context = context_from(&[("Dockerfile", DOCKERFILE), ("app.txt", "app\n")]);
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let (first, spec) = exported_cache(context.path(), work.path(), ",mode=max");
    // Exporting again replaces the cache in one piece.
    build_to(
        &first,
        context.path(),
        &work.path().join("a2"),
        &["--cache-to", &spec],
    );
    let leftovers: Vec<_> = fs::read_dir(work.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("rbuild-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");

    let second = TestStore::with_busybox();
    let from = format!("type=local,src={}", cache.display());
    let progress = build_to(
        &second,
        context.path(),
        &work.path().join("b"),
        &["--cache-from", &from],
    );
    for (name, cached) in steps(&progress) {
        assert!(
            cached,
            "{name} ran in the store that imported the cache\n{progress}"
        );
    }
    for file in ["app/id", "app/tool-id"] {
        let a = fs::read_to_string(work.path().join("a").join(file)).unwrap();
        let b = fs::read_to_string(work.path().join("b").join(file)).unwrap();
        assert_eq!(a, b, "{file} differs: a RUN executed");
    }
}

/// The layer blob files the cache's manifest lists.
fn layer_blobs(cache: &Path) -> Vec<std::path::PathBuf> {
    let blob = |digest: &str| {
        cache
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let read = |path: std::path::PathBuf| -> serde_json::Value {
        serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
    };
    let index = read(cache.join("index.json"));
    let manifest = read(blob(index["manifests"][0]["digest"].as_str().unwrap()));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| blob(layer["digest"].as_str().unwrap()))
        .collect()
}

#[test]
fn missing_or_damaged_caches_only_warn() {
    require_sandbox!();
    let context = context_from(&[("Dockerfile", DOCKERFILE), ("app.txt", "app\n")]);
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    exported_cache(context.path(), work.path(), "");

    // Damage every layer blob: imports must skip them, not record them.
    let layers = layer_blobs(&cache);
    assert!(!layers.is_empty());
    for path in layers {
        fs::write(&path, b"not a layer").unwrap();
    }
    let garbage = work.path().join("garbage");
    fs::create_dir(&garbage).unwrap();
    fs::write(garbage.join("index.json"), "{ not json").unwrap();

    let second = TestStore::with_busybox();
    let progress = build_to(
        &second,
        context.path(),
        &work.path().join("b"),
        &[
            "--cache-from",
            &format!("type=local,src={}", cache.display()),
            "--cache-from",
            &format!("type=local,src={}", garbage.display()),
            "--cache-from",
            &format!("type=local,src={}", work.path().join("absent").display()),
        ],
    );
    assert!(
        progress.matches("warning: cache").count() >= 3,
        "{progress}"
    );
    assert!(steps(&progress)
        .iter()
        .any(|(name, cached)| name.contains("RUN") && !cached));
    let check = second.rbuild(&["cache", "check"]);
    assert_success(&check, "cache check after a damaged import");
}
