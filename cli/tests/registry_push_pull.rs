//! Pull and push against a real registry (Debian's docker-registry on loopback): a pushed
//! build reads back with skopeo and pulls into an empty store with the same digest; FROM
//! pulls a missing base, builds offline once it is stored, and `--pull` with the registry
//! down fails clearly; a second push uploads no blob (counted in the registry's log); a
//! loaded index and a multi-platform build each push as one index.

mod common;
mod registry_support;

use common::{assert_success, busybox_layout, context_from, stderr, stdout, TestStore};
use registry_support::{rbuild_with, LocalRegistry};

fn run(store: &TestStore, config: &tempfile::TempDir, args: &[&str]) -> std::process::Output {
    rbuild_with(store.root(), config.path(), args, None)
}

fn digest_line(out: &std::process::Output) -> String {
    stdout(out)
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no digest in {}", stdout(out)))
        .to_string()
}

#[test]
fn push_build_pull_offline_and_repush() {
    require_sandbox!();
    let Some(mut registry) = LocalRegistry::start() else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let host = registry.host();
    let base = format!("{host}/library/busybox:latest");

    // The base goes up from a store that loaded it: an index, pushed whole.
    let first = TestStore::with_busybox();
    assert_success(&run(&first, &config, &["tag", "busybox", &base]), "tag");
    let pushed = run(&first, &config, &["push", &base]);
    assert_success(&pushed, "push busybox");
    let raw = registry_support::raw_manifest(&base);
    assert!(
        raw.contains("application/vnd.oci.image.index.v1+json"),
        "{raw}"
    );
    assert!(raw.contains("arm64") && raw.contains("amd64"), "{raw}");

    // The same blobs under another repository of the registry are mounted, not uploaded.
    let other = format!("{host}/mirror/busybox:latest");
    assert_success(
        &run(&first, &config, &["tag", "busybox", &other]),
        "tag other",
    );
    let uploads_before = registry.upload_requests();
    let mounted = run(&first, &config, &["push", &other]);
    assert_success(&mounted, "push to another repository");
    assert!(
        stdout(&mounted).contains(" 0 blobs uploaded"),
        "{}",
        stdout(&mounted)
    );
    assert!(
        !stdout(&mounted).contains(" 0 mounted"),
        "{}",
        stdout(&mounted)
    );
    assert_eq!(registry.upload_requests(), uploads_before);

    // An empty store pulls the base for FROM and pushes its build.
    let second = TestStore::empty();
    let context = context_from(&[(
        "Dockerfile",
        &format!("FROM {base}\nRUN echo built > /built\n"),
    )]);
    let app = format!("{host}/team/app:1.0");
    let ctx = context.path().display().to_string();
    let built = run(
        &second,
        &config,
        &["build", "--progress", "plain", "-t", &app, "--push", &ctx],
    );
    assert_success(&built, "build with --push");
    assert!(stderr(&built).contains("pushed"), "{}", stderr(&built));
    let inspect = common::checked(
        "skopeo",
        &["inspect", "--tls-verify=false", &format!("docker://{app}")],
    );
    let pushed_digest: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let pushed_digest = pushed_digest["Digest"].as_str().unwrap().to_string();
    // The digest the build reports is the pushed manifest's, as skopeo sees it.
    assert!(
        stderr(&built).contains(&format!("image digest {pushed_digest}")),
        "{}",
        stderr(&built)
    );

    // A third empty store pulls it: the same manifest digest.
    let third = TestStore::empty();
    let pulled = run(&third, &config, &["pull", &app]);
    assert_success(&pulled, "pull app");
    assert_eq!(digest_line(&pulled), pushed_digest);

    // A second push of the same image starts no upload.
    let uploads = registry.upload_requests();
    assert!(uploads > 0, "the first pushes uploaded nothing?");
    assert_success(&run(&second, &config, &["push", &app]), "re-push");
    assert_eq!(registry.upload_requests(), uploads, "{}", registry.log());

    // Registry down: a stored base builds; --pull fails naming the registry.
    registry.stop();
    let offline = run(
        &second,
        &config,
        &["build", "--progress", "plain", "--no-cache", &ctx],
    );
    assert_success(&offline, "offline build");
    let forced = run(
        &second,
        &config,
        &["build", "--progress", "plain", "--pull", &ctx],
    );
    assert!(!forced.status.success());
    let message = stderr(&forced);
    assert!(
        message.contains(&host) && message.contains("cannot reach"),
        "{message}"
    );
    let _ = busybox_layout();
}

#[test]
fn unknown_repository_and_tag_fail_clearly() {
    let Some(registry) = LocalRegistry::start() else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let store = TestStore::empty();
    let missing = format!("{}/nobody/nothing:1", registry.host());
    let out = run(&store, &config, &["pull", &missing]);
    assert!(!out.status.success());
    let message = stderr(&out);
    assert!(
        message.contains("not found") && message.contains("nobody/nothing"),
        "{message}"
    );
    assert_success(&store.rbuild(&["cache", "check"]), "cache check");
}

#[test]
fn a_multi_platform_build_pushes_one_index() {
    require_sandbox!();
    let Some(registry) = LocalRegistry::start() else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let store = TestStore::with_busybox();
    let context = context_from(&[
        ("Dockerfile", "FROM busybox\nCOPY hello /hello\n"),
        ("hello", "hello\n"),
    ]);
    let app = format!("{}/team/multi:1", registry.host());
    let ctx = context.path().display().to_string();
    let built = run(
        &store,
        &config,
        &[
            "build",
            "--progress",
            "plain",
            "--platform",
            "linux/amd64,linux/arm64",
            "-t",
            &app,
            "--push",
            &ctx,
        ],
    );
    assert_success(&built, "multi-platform build with --push");
    let raw = registry_support::raw_manifest(&app);
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{raw}"
    );
    let mut architectures: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    architectures.sort();
    assert_eq!(architectures, ["amd64", "arm64"], "{raw}");
    // The tag was written once, with the index; the platform manifests went by digest.
    let tag_puts = registry
        .log()
        .lines()
        .filter(|l| l.contains("\"PUT /v2/team/multi/manifests/1 "))
        .count();
    assert_eq!(tag_puts, 1, "{}", registry.log());
    for arch in ["amd64", "arm64"] {
        let inspect = common::checked(
            "skopeo",
            &[
                "inspect",
                "--tls-verify=false",
                "--override-arch",
                arch,
                &format!("docker://{app}"),
            ],
        );
        assert!(
            inspect.contains(&format!("\"Architecture\": \"{arch}\"")),
            "{inspect}"
        );
    }
}
