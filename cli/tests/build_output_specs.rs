//! End-to-end: what `-o`, `--cache-to` and `--cache-from` accept, archives streamed to
//! stdout (`dest=-`, read back by skopeo), and the digest a build reports being the one
//! its OCI export carries.

mod common;

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{assert_success, checked, context_from, stderr, stdout, TestStore};
use serde_json::Value;

const DOCKERFILE: &str = "FROM busybox\nRUN echo streamed > /streamed.txt\n";

/// `rbuild build` run in `cwd` (so a file named `-` would appear there), stdout captured.
fn build_in(store: &TestStore, cwd: &Path, context: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rbuild"))
        .arg("--root")
        .arg(store.root())
        .args(["build", "--progress", "plain"])
        .args(extra)
        .arg(context)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run rbuild")
}

/// The JSON document `name` inside the tar at `tar`.
fn tar_json(tar: &Path, name: &str) -> Value {
    let mut archive = tar::Archive::new(fs::File::open(tar).expect("open tar"));
    for entry in archive.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        if entry.path().expect("entry path").to_str() == Some(name) {
            let mut text = String::new();
            entry.read_to_string(&mut text).expect("read entry");
            return serde_json::from_str(&text).expect("JSON entry");
        }
    }
    panic!("no {name} in {}", tar.display());
}

#[test]
fn unknown_output_and_cache_attributes_are_errors_naming_them() {
    let store = TestStore::empty();
    let context = context_from(&[("Dockerfile", DOCKERFILE)]);
    let cases: [(&[&str], &str); 4] = [
        (
            &["-o", "type=oci,dest=o.tar,compression=zstd"],
            "unknown attribute \"compression\" (accepted: type, dest)",
        ),
        (
            &[
                "-o",
                "type=registry,name=localhost:5000/a,oci-mediatypes=true",
            ],
            "unknown attribute \"oci-mediatypes\" (accepted: type, name, push)",
        ),
        (
            &["--cache-to", "type=local,dest=c,compression=zstd"],
            "unknown attribute \"compression\" (accepted: type, dest, mode",
        ),
        (
            &["--cache-from", "type=local,src=c,digest=sha256:00"],
            "unknown attribute \"digest\" (accepted: type, src",
        ),
    ];
    for (flags, expected) in cases {
        let out = store.build(context.path(), flags);
        assert!(!out.status.success(), "{flags:?} succeeded");
        assert!(
            stderr(&out).contains(expected),
            "{flags:?}: expected {expected:?} in:\n{}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("#1 "), "{flags:?} built anyway");
    }
}

#[test]
fn archives_stream_to_stdout_with_dest_dash() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[("Dockerfile", DOCKERFILE)]);
    let work = tempfile::tempdir().expect("temp dir");
    for (kind, transport) in [("oci", "oci-archive"), ("docker", "docker-archive")] {
        let out = build_in(
            &store,
            work.path(),
            context.path(),
            &["-t", "streamed:1", "-o", &format!("type={kind},dest=-")],
        );
        assert_success(&out, &format!("build -o type={kind},dest=-"));
        assert!(
            !work.path().join("-").exists(),
            "type={kind}: a file named - appeared"
        );
        assert!(
            stderr(&out).contains("exported to stdout"),
            "{}",
            stderr(&out)
        );
        let tar = work.path().join(format!("{kind}.tar"));
        fs::write(&tar, &out.stdout).expect("write streamed archive");
        let inspected: Value = serde_json::from_str(&checked(
            "skopeo",
            &["inspect", &format!("{transport}:{}", tar.display())],
        ))
        .expect("skopeo JSON");
        assert_eq!(inspected["Layers"].as_array().map(Vec::len), Some(2));
    }
    let out = build_in(
        &store,
        work.path(),
        context.path(),
        &["-o", "type=oci,dest=-", "-o", "type=docker,dest=-"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("only one output can go to stdout"));
    assert!(out.stdout.is_empty(), "nothing on stdout after a refusal");
}

#[test]
fn the_reported_digest_is_the_one_the_oci_export_carries() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[("Dockerfile", DOCKERFILE)]);
    let dir = tempfile::tempdir().expect("temp dir");
    let tar = dir.path().join("image.tar");
    let metadata = dir.path().join("meta.json");
    let out = store.build(
        context.path(),
        &[
            "-o",
            &format!("type=oci,dest={}", tar.display()),
            "--metadata-file",
            metadata.to_str().expect("utf-8 path"),
        ],
    );
    assert_success(&out, "build -o type=oci");
    let exported = tar_json(&tar, "index.json")["manifests"][0]["digest"]
        .as_str()
        .expect("index.json digest")
        .to_string();
    let meta: Value =
        serde_json::from_slice(&fs::read(&metadata).expect("metadata")).expect("metadata JSON");
    assert_eq!(meta["containerimage.digest"], exported.as_str());
    assert!(
        stderr(&out).contains(&format!("image digest {exported}")),
        "{}",
        stderr(&out)
    );
    let image_id = stdout(&out).trim().to_string();
    assert_eq!(meta["containerimage.config.digest"], image_id.as_str());

    // Without an export or a push there is no outside manifest: the digest is the image id,
    // as docker names a local build.
    let out = store.build(
        context.path(),
        &["--metadata-file", metadata.to_str().expect("utf-8 path")],
    );
    assert_success(&out, "build without outputs");
    let meta: Value =
        serde_json::from_slice(&fs::read(&metadata).expect("metadata")).expect("metadata JSON");
    assert_eq!(meta["containerimage.digest"], image_id.as_str());
    assert!(!stderr(&out).contains("image digest"), "{}", stderr(&out));
}
