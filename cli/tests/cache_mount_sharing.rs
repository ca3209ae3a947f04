//! `cache-mounts=true` on `--cache-to` / `--cache-from`: two fresh stores ("two CI runners")
//! share what a `RUN --mount=type=cache` step left in its cache directory, through a cache
//! directory (`type=local`) and through a real registry (`type=registry`, docker-registry
//! on loopback). The first runner writes 16 random bytes into the cache; the second runner
//! imports the cache and a RUN there reads the same bytes. Without `cache-mounts=true` on
//! either side the second runner's cache directory stays empty.

mod common;
mod registry_support;

use std::fs;
use std::path::Path;

use common::{assert_success, context_from, stderr, steps, TestStore};
use registry_support::{rbuild_with, LocalRegistry};

/// The first runner's build: seeds the cache and keeps a copy of the seed in the image.
const SEED: &str = "FROM busybox
RUN --mount=type=cache,target=/c sh -c 'head -c 16 /dev/urandom | od -x > /c/seed && cp /c/seed /first-seed'
RUN echo cached > /cached
";

/// The second runner's build: the same steps, then one that reads the cache.
fn reader_dockerfile() -> String {
    format!(
        "{SEED}RUN --mount=type=cache,target=/c sh -c 'cat /c/seed > /seen 2>/dev/null || echo none > /seen'\n"
    )
}

struct Runners {
    seed_context: tempfile::TempDir,
    reader_context: tempfile::TempDir,
    work: tempfile::TempDir,
    docker_config: tempfile::TempDir,
}

impl Runners {
    fn new() -> Runners {
        Runners {
            seed_context: context_from(&[("Dockerfile", SEED)]),
            reader_context: context_from(&[("Dockerfile", &reader_dockerfile())]),
            work: tempfile::tempdir().unwrap(),
            docker_config: tempfile::tempdir().unwrap(),
        }
    }

    /// Builds `context` in `store` with `extra` flags, writing the rootfs to `work/<out>`.
    fn build(&self, store: &TestStore, context: &Path, out: &str, extra: &[&str]) -> String {
        let dest = format!("type=local,dest={}", self.work.path().join(out).display());
        let ctx = context.display().to_string();
        let mut args = vec!["build", "--progress", "plain", "-o", &dest];
        args.extend_from_slice(extra);
        args.push(&ctx);
        let output = rbuild_with(store.root(), self.docker_config.path(), &args, None);
        assert_success(&output, &format!("build {extra:?}"));
        stderr(&output)
    }

    /// The first runner: builds the seeding Dockerfile and exports with `to`; returns the
    /// seed it wrote.
    fn seed(&self, to: &[&str]) -> String {
        let first = TestStore::with_busybox();
        let mut extra = Vec::new();
        for spec in to {
            extra.extend(["--cache-to", spec]);
        }
        let progress = self.build(&first, self.seed_context.path(), "first", &extra);
        if to.iter().any(|spec| spec.contains("cache-mounts=true")) {
            assert!(progress.contains("1 cache mounts"), "{progress}");
        }
        self.read("first", "first-seed")
    }

    /// A fresh second runner: imports with `from`, builds the reading Dockerfile into
    /// `work/<out>`; returns what its RUN read from the cache. The seeding steps must come
    /// from the imported cache.
    fn read_back(&self, from: &str, out: &str) -> String {
        let second = TestStore::with_busybox();
        let progress = self.build(
            &second,
            self.reader_context.path(),
            out,
            &["--cache-from", from],
        );
        let runs: Vec<(String, bool)> = steps(&progress)
            .into_iter()
            .filter(|(name, _)| name.contains("RUN"))
            .collect();
        assert_eq!(runs.len(), 3, "{progress}");
        assert!(
            runs[0].1 && runs[1].1,
            "the seeding steps ran again: {runs:?}\n{progress}"
        );
        assert_success(
            &second.rbuild(&["cache", "check"]),
            "cache check after the import",
        );
        self.read(out, "seen")
    }

    fn read(&self, out: &str, file: &str) -> String {
        fs::read_to_string(self.work.path().join(out).join(file)).unwrap()
    }
}

#[test]
fn cache_mount_contents_travel_through_a_local_cache_only_when_asked() {
    require_sandbox!();
    let runners = Runners::new();
    let with = runners.work.path().join("with-mounts");
    let without = runners.work.path().join("without-mounts");
    let seed = runners.seed(&[
        &format!("type=local,dest={},cache-mounts=true", with.display()),
        &format!("type=local,dest={}", without.display()),
    ]);
    assert!(seed.len() > 16, "{seed:?}");

    let seen = runners.read_back(
        &format!("type=local,src={},cache-mounts=true", with.display()),
        "second",
    );
    assert_eq!(seen, seed, "the second runner reads the first one's cache");

    let not_asked = runners.read_back(&format!("type=local,src={}", with.display()), "third");
    assert_eq!(not_asked, "none\n", "imported although not asked for");
    let not_exported = runners.read_back(
        &format!("type=local,src={},cache-mounts=true", without.display()),
        "fourth",
    );
    assert_eq!(not_exported, "none\n", "exported although not asked for");
}

#[test]
fn cache_mount_contents_travel_through_a_registry_only_when_asked() {
    require_sandbox!();
    let Some(registry) = LocalRegistry::start() else {
        return;
    };
    let runners = Runners::new();
    let cache = format!("{}/ci/cache:mounts", registry.host());
    let seed = runners.seed(&[&format!(
        "type=registry,ref={cache},mode=max,cache-mounts=true"
    )]);

    // The cache is one plain image manifest whose extra layer is marked as a cache mount.
    let raw = registry_support::raw_manifest(&cache);
    let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json",
        "{raw}"
    );
    let mount_layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|layer| layer["annotations"]["org.rbuild.cache.mount"].is_string())
        .map(|layer| layer["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(mount_layers.len(), 1, "{raw}");

    let seen = runners.read_back(
        &format!("type=registry,ref={cache},cache-mounts=true"),
        "second",
    );
    assert_eq!(seen, seed, "the second runner reads the first one's cache");

    let fetches = |digest: &str| {
        registry
            .log()
            .lines()
            .filter(|l| l.contains("\"GET /v2/") && l.contains(digest))
            .count()
    };
    let fetched = fetches(&mount_layers[0]);
    assert!(fetched > 0, "{}", registry.log());
    let not_asked = runners.read_back(&format!("type=registry,ref={cache}"), "third");
    assert_eq!(not_asked, "none\n", "imported although not asked for");
    assert_eq!(
        fetches(&mount_layers[0]),
        fetched,
        "a cache-mount blob was downloaded although not asked for"
    );
}
