//! End-to-end reproducibility: with SOURCE_DATE_EPOCH (from the environment or as a build
//! arg), builds of the same context with RUN and COPY on two fresh stores, a second apart,
//! give byte-identical OCI and docker archives.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{assert_success, busybox_layout, context_from};

const DOCKERFILE: &str = "FROM busybox
COPY . /src/
RUN mkdir -p /out && cp -r /src /out/copy && echo built > /out/result && ln -s result /out/link
WORKDIR /out
";

/// Builds in a fresh store; returns the OCI and docker archive paths.
fn build(work: &Path, name: &str, context: &Path, epoch_as_arg: bool) -> (PathBuf, PathBuf) {
    let root = work.join(format!("store-{name}"));
    let rbuild = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rbuild"));
        command
            .arg("--root")
            .arg(&root)
            .env_remove("SOURCE_DATE_EPOCH");
        command
    };
    let out = rbuild().arg("load").arg(busybox_layout()).output().unwrap();
    assert_success(&out, "load busybox");
    let oci = work.join(format!("{name}.oci.tar"));
    let docker = work.join(format!("{name}.docker.tar"));
    let mut command = rbuild();
    command
        .args(["build", "--progress", "plain", "-t", "repro:1", "-o"])
        .arg(format!("type=oci,dest={}", oci.display()))
        .arg("-o")
        .arg(format!("type=docker,dest={}", docker.display()));
    if epoch_as_arg {
        command.args(["--build-arg", "SOURCE_DATE_EPOCH=1700000000"]);
    } else {
        command.env("SOURCE_DATE_EPOCH", "1700000000");
    }
    let out = command.arg(context).output().unwrap();
    assert_success(&out, &format!("build {name}"));
    (oci, docker)
}

#[test]
fn source_date_epoch_gives_identical_archives_from_fresh_stores() {
    require_sandbox!();
    let context = context_from(&[
        ("Dockerfile", DOCKERFILE),
        ("a.txt", "alpha\n"),
        ("dir/b.txt", "beta\n"),
    ]);
    let work = tempfile::tempdir().unwrap();
    let (oci_a, docker_a) = build(work.path(), "a", context.path(), false);
    std::thread::sleep(Duration::from_millis(1100));
    let (oci_b, docker_b) = build(work.path(), "b", context.path(), true);
    assert!(
        fs::read(&oci_a).unwrap() == fs::read(&oci_b).unwrap(),
        "OCI archives differ"
    );
    assert!(
        fs::read(&docker_a).unwrap() == fs::read(&docker_b).unwrap(),
        "docker archives differ"
    );
}
