//! End-to-end: the README's example builds on busybox; its OCI tar passes skopeo and umoci
//! with exactly the expected files, modes, owners and config; its docker archive is read by
//! skopeo.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::{assert_success, checked, context_copy, stdout, TestStore};
use serde_json::Value;

fn build_hello_oci(store: &TestStore, out_dir: &Path) -> std::path::PathBuf {
    let context = context_copy("hello");
    let tar = out_dir.join("hello.tar");
    let out = store.build(
        context.path(),
        &[
            "-t",
            "hello:1.0",
            "-o",
            &format!("type=oci,dest={}", tar.display()),
        ],
    );
    assert_success(&out, "build hello");
    tar
}

#[test]
fn oci_archive_is_read_by_skopeo_and_umoci_with_expected_rootfs_and_config() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let out_dir = tempfile::tempdir().unwrap();
    let tar = build_hello_oci(&store, out_dir.path());

    let inspect: Value = serde_json::from_str(&checked(
        "skopeo",
        &["inspect", &format!("oci-archive:{}", tar.display())],
    ))
    .unwrap();
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Os"], "linux");

    let config: Value = serde_json::from_str(&checked(
        "skopeo",
        &[
            "inspect",
            "--config",
            &format!("oci-archive:{}", tar.display()),
        ],
    ))
    .unwrap();
    let c = &config["config"];
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env.contains(&"APP_HOME=/app"), "{env:?}");
    assert!(env.contains(&"GREETING=hello"), "{env:?}");
    assert!(
        env.iter().any(|e| e.starts_with("PATH=")),
        "base PATH kept: {env:?}"
    );
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(c["Cmd"], serde_json::json!(["cat /app/built.txt"]));
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["User"], "app");
    assert_eq!(c["Labels"]["org.example.app"], "hello");
    assert!(c["ExposedPorts"].get("8080/tcp").is_some());
    let history = config["history"].as_array().unwrap();
    assert!(history
        .iter()
        .any(|h| h["created_by"].as_str().unwrap_or("").contains("adduser")));
    let non_empty = history.iter().filter(|h| h["empty_layer"] != true).count();
    assert_eq!(
        non_empty,
        config["rootfs"]["diff_ids"].as_array().unwrap().len()
    );

    let layout = out_dir.path().join("layout");
    fs::create_dir(&layout).unwrap();
    checked(
        "tar",
        &["-xf", tar.to_str().unwrap(), "-C", layout.to_str().unwrap()],
    );
    let bundle = out_dir.path().join("bundle");
    checked(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:1.0", layout.display()),
            bundle.to_str().unwrap(),
        ],
    );
    check_rootfs(&bundle.join("rootfs"));
}

fn check_rootfs(rootfs: &Path) {
    let context = common::repo_dir().join("testdata/hello");
    for (image_path, context_path) in [
        ("app/greeting.txt", "greeting.txt"),
        ("app/src/main.sh", "src/main.sh"),
        ("app/src/data.txt", "src/data.txt"),
    ] {
        let in_image = rootfs.join(image_path);
        let meta = fs::metadata(&in_image).unwrap_or_else(|e| panic!("{image_path}: {e}"));
        let source = fs::metadata(context.join(context_path)).unwrap();
        assert_eq!(
            meta.mode() & 0o7777,
            source.mode() & 0o7777,
            "{image_path} mode"
        );
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "{image_path} owner");
        assert_eq!(
            fs::read(&in_image).unwrap(),
            fs::read(context.join(context_path)).unwrap()
        );
    }
    assert!(fs::metadata(rootfs.join("app/src/main.sh")).unwrap().mode() & 0o111 != 0);
    let built = rootfs.join("app/built.txt");
    assert_eq!(fs::read_to_string(&built).unwrap(), "hello from rbuild\n");
    let meta = fs::metadata(&built).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o640);
    assert_eq!((meta.uid(), meta.gid()), (1000, 1000));
    assert!(fs::read_to_string(rootfs.join("etc/passwd"))
        .unwrap()
        .contains("app:x:1000"));
    assert!(
        !rootfs.join("app/secret.txt").exists(),
        ".dockerignore honoured"
    );
    assert!(!rootfs.join("secret.txt").exists());
    let app_entries: Vec<String> = fs::read_dir(rootfs.join("app"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(app_entries, ["built.txt", "greeting.txt", "src"]);
    assert!(rootfs.join("bin/busybox").exists(), "base layer present");
}

#[test]
fn docker_archive_is_read_by_skopeo_copy() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_copy("hello");
    let out_dir = tempfile::tempdir().unwrap();
    let archive = out_dir.path().join("hello-docker.tar");
    let out = store.build(
        context.path(),
        &[
            "-t",
            "hello:1.0",
            "-o",
            &format!("type=docker,dest={}", archive.display()),
        ],
    );
    assert_success(&out, "build hello (docker archive)");
    let oci_dir = out_dir.path().join("copied");
    checked(
        "skopeo",
        &[
            "copy",
            &format!("docker-archive:{}", archive.display()),
            &format!("oci:{}:copied", oci_dir.display()),
        ],
    );
    let index: Value =
        serde_json::from_slice(&fs::read(oci_dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
}

#[test]
fn local_output_writes_the_rootfs_and_images_lists_the_tag() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_copy("hello");
    let out_dir = tempfile::tempdir().unwrap();
    let rootfs = out_dir.path().join("rootfs");
    let out = store.build(
        context.path(),
        &[
            "-t",
            "hello:1.0",
            "-o",
            &format!("type=local,dest={}", rootfs.display()),
        ],
    );
    assert_success(&out, "build hello (local)");
    check_rootfs(&rootfs);
    let images = store.rbuild(&["images"]);
    assert_success(&images, "images");
    let listing = stdout(&images);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("hello ") && l.contains("1.0")),
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("busybox ") && l.contains("latest")),
        "{listing}"
    );
}
