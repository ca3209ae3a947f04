//! End-to-end multi-platform builds (`--platform linux/amd64,linux/arm64`): one OCI index
//! with a manifest per platform, foreign RUN steps under QEMU, cross-compilation stages
//! that run once natively, fully cached rebuilds, and the outputs that hold several
//! platforms (or refuse to). Needs root and a registered qemu-aarch64 binfmt handler
//! (`.ci/run` installs qemu-user-static and binfmt-support).

mod common;

use std::fs;
use std::path::Path;

use common::{assert_success, checked, context_copy, stderr, steps, TestStore};
use serde_json::Value;

const TWO_PLATFORMS: &str = "linux/amd64,linux/arm64";

/// Skips (with a countable reason) when the kernel cannot run arm64 binaries here.
macro_rules! require_arm64_emulation {
    () => {
        require_sandbox!();
        if !Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists() {
            println!(
                "RBUILD-TEST-SKIPPED: {}: no qemu-aarch64 binfmt_misc handler \
                 (install qemu-user-static and binfmt-support)",
                module_path!()
            );
            return;
        }
    };
}

/// The JSON document `name` in a tar (a blob path or `index.json`).
fn tar_json(tar: &Path, name: &str) -> Value {
    let out = std::process::Command::new("tar")
        .args(["-xOf", &tar.display().to_string(), name])
        .output()
        .unwrap();
    assert_success(&out, &format!("tar -xOf {name}"));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn blob_json(tar: &Path, digest: &Value) -> Value {
    let digest = digest.as_str().unwrap().replace(':', "/");
    tar_json(tar, &format!("blobs/{digest}"))
}

/// skopeo copies the `arch` image out of the OCI tar; umoci unpacks it; returns the rootfs.
fn unpack_with_skopeo_and_umoci(tar: &Path, arch: &str, work: &Path) -> std::path::PathBuf {
    let layout = work.join(format!("layout-{arch}"));
    let bundle = work.join(format!("rootfs-{arch}"));
    checked(
        "skopeo",
        &[
            "--override-arch",
            arch,
            "copy",
            &format!("oci-archive:{}", tar.display()),
            &format!("oci:{}:img", layout.display()),
        ],
    );
    checked(
        "umoci",
        &[
            "raw",
            "unpack",
            "--rootless",
            "--image",
            &format!("{}:img", layout.display()),
            &bundle.display().to_string(),
        ],
    );
    bundle
}

#[test]
fn two_platforms_make_one_index_whose_images_ran_their_own_architecture() {
    require_arm64_emulation!();
    let store = TestStore::with_busybox();
    let context = context_copy("multi-arch");
    let out = tempfile::tempdir().unwrap();
    let tar = out.path().join("multi.tar");
    let oci = format!("type=oci,dest={}", tar.display());
    let build = store.build(
        context.path(),
        &["--platform", TWO_PLATFORMS, "-t", "multi:1", "-o", &oci],
    );
    assert_success(&build, "two-platform build");
    let progress = stderr(&build);
    assert!(
        progress.contains("[linux/arm64 2/2] RUN uname -m"),
        "{progress}"
    );
    assert!(
        progress.contains("[linux/amd64 2/2] RUN uname -m"),
        "{progress}"
    );

    let top = tar_json(&tar, "index.json");
    let index = blob_json(&tar, &top["manifests"][0]["digest"]);
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2, "{index}");
    let mut seen = Vec::new();
    for entry in manifests {
        let manifest = blob_json(&tar, &entry["digest"]);
        let config = blob_json(&tar, &manifest["config"]["digest"]);
        assert_eq!(config["architecture"], entry["platform"]["architecture"]);
        assert_eq!(config["os"], "linux");
        seen.push((
            config["architecture"].as_str().unwrap().to_string(),
            config["variant"].as_str().map(str::to_string),
            entry["platform"]["variant"].as_str().map(str::to_string),
        ));
    }
    assert_eq!(
        seen,
        [
            ("amd64".to_string(), None, None),
            ("arm64".to_string(), Some("v8".into()), Some("v8".into()))
        ]
    );
    for (arch, uname, platform) in [
        ("amd64", "x86_64", "linux/amd64"),
        ("arm64", "aarch64", "linux/arm64"),
    ] {
        let rootfs = unpack_with_skopeo_and_umoci(&tar, arch, out.path());
        assert_eq!(
            fs::read_to_string(rootfs.join("arch")).unwrap().trim(),
            uname
        );
        assert_eq!(
            fs::read_to_string(rootfs.join("platform")).unwrap().trim(),
            platform
        );
    }

    let images = String::from_utf8_lossy(&store.rbuild(&["images"]).stdout).into_owned();
    let multi = images
        .lines()
        .find(|l| l.starts_with("multi"))
        .unwrap_or_default();
    assert!(multi.contains("linux/amd64,linux/arm64"), "{images}");
}

#[test]
fn a_cross_compiling_stage_runs_natively_once_per_shared_step() {
    require_arm64_emulation!();
    let store = TestStore::with_busybox();
    let context = context_copy("cross-compile");
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("rootfs");
    let local = format!("type=local,dest={}", dest.display());
    let build = store.build(context.path(), &["--platform", TWO_PLATFORMS, "-o", &local]);
    assert_success(&build, "cross-compile build");
    let ran: Vec<String> = steps(&stderr(&build))
        .into_iter()
        .filter(|(name, cached)| !cached && name.contains("/dev/urandom"))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(ran.len(), 1, "the shared step runs once: {ran:?}");

    let read = |platform: &str, file: &str| {
        fs::read_to_string(dest.join(platform).join("out").join(file)).unwrap()
    };
    assert_eq!(read("linux_amd64", "shared"), read("linux_arm64", "shared"));
    assert_eq!(read("linux_amd64", "target").trim(), "amd64");
    assert_eq!(read("linux_arm64", "target").trim(), "arm64");
    // The build stage ran on the build machine for both targets.
    assert_eq!(read("linux_amd64", "builder").trim(), "x86_64");
    assert_eq!(read("linux_arm64", "builder").trim(), "x86_64");
}

#[test]
fn rebuilding_a_multi_platform_image_is_fully_cached_with_the_same_index() {
    require_arm64_emulation!();
    let store = TestStore::with_busybox();
    let context = context_copy("multi-arch");
    let out = tempfile::tempdir().unwrap();
    let build = |name: &str| {
        let tar = out.path().join(name);
        let oci = format!("type=oci,dest={}", tar.display());
        let result = store.build(context.path(), &["--platform", TWO_PLATFORMS, "-o", &oci]);
        assert_success(&result, name);
        (tar, stderr(&result))
    };
    let (first, _) = build("first.tar");
    let (second, progress) = build("second.tar");
    let ran: Vec<_> = steps(&progress)
        .into_iter()
        .filter(|(_, cached)| !cached)
        .collect();
    assert!(ran.iter().all(|(name, _)| name.contains("FROM")), "{ran:?}");
    assert_eq!(
        tar_json(&first, "index.json"),
        tar_json(&second, "index.json")
    );
}

#[test]
fn docker_archives_refuse_two_platforms_and_local_writes_one_directory_each() {
    require_arm64_emulation!();
    let store = TestStore::with_busybox();
    let context = context_copy("multi-arch");
    let out = tempfile::tempdir().unwrap();
    let tar = out.path().join("docker.tar");
    let docker = format!("type=docker,dest={}", tar.display());
    let refused = store.build(
        context.path(),
        &["--platform", TWO_PLATFORMS, "-o", &docker],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("type=docker cannot hold 2 platforms"),
        "{}",
        stderr(&refused)
    );
    assert!(!tar.exists(), "nothing is written");

    let dest = out.path().join("local");
    let local = format!("type=local,dest={}", dest.display());
    let built = store.build(context.path(), &["--platform", TWO_PLATFORMS, "-o", &local]);
    assert_success(&built, "local export of two platforms");
    let mut dirs: Vec<String> = fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(dirs, ["linux_amd64", "linux_arm64"]);
    assert_eq!(
        fs::read_to_string(dest.join("linux_arm64/arch"))
            .unwrap()
            .trim(),
        "aarch64"
    );

    let single = out.path().join("single");
    let one = format!("type=local,dest={}", single.display());
    assert_success(
        &store.build(context.path(), &["--platform", "linux/arm64", "-o", &one]),
        "one platform",
    );
    assert_eq!(
        fs::read_to_string(single.join("arch")).unwrap().trim(),
        "aarch64"
    );
}

#[test]
fn unknown_platforms_are_refused_with_the_accepted_forms() {
    let store = TestStore::empty();
    let context = context_copy("multi-arch");
    let out = store.build(context.path(), &["--platform", "linux/amd64,linux/sparc9"]);
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(
        text.contains("linux/sparc9") && text.contains("arm64") && text.contains("local"),
        "{text}"
    );
}

#[test]
fn a_base_without_the_platform_names_the_platforms_it_has() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_copy("multi-arch");
    let out = store.build(context.path(), &["--platform", "linux/riscv64"]);
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(
        text.contains("busybox") && text.contains("riscv64"),
        "{text}"
    );
    assert!(
        text.contains("linux/amd64") && text.contains("linux/arm64"),
        "{text}"
    );
}
