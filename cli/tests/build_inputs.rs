//! Contexts and Dockerfiles from elsewhere than a directory, as `docker build` takes them:
//! a tar archive on stdin (`-`) or as a path (gzip too), a bare Dockerfile on stdin, and
//! `-f -`.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{assert_success, context_copy, stderr, TestStore};

fn build_with_stdin(store: &TestStore, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rbuild"))
        .arg("--root")
        .arg(store.root())
        .args(["build", "--progress", "plain"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rbuild");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("feed stdin");
    drop(stdin);
    child.wait_with_output().expect("wait")
}

fn tar_of(dir: &Path, out: &Path, gzip: bool) {
    let flags = if gzip { "-czf" } else { "-cf" };
    let status = Command::new("tar")
        .args([
            flags,
            out.to_str().unwrap(),
            "-C",
            dir.to_str().unwrap(),
            ".",
        ])
        .status()
        .expect("tar");
    assert!(status.success());
}

fn rootfs_file(store: &TestStore, args: &[&str], input: &[u8], file: &str) -> String {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let dest = format!("type=local,dest={}", out_dir.path().join("root").display());
    let mut all = vec!["-o", dest.as_str()];
    all.extend(args);
    let out = build_with_stdin(store, &all, input);
    assert_success(&out, &format!("build {args:?}"));
    fs::read_to_string(out_dir.path().join("root").join(file)).expect("file in the image")
}

#[test]
fn a_tar_context_on_stdin_or_as_a_path_builds() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_copy("image-commands");
    let work = tempfile::tempdir().expect("temp dir");
    let tar = work.path().join("ctx.tar");
    let tgz = work.path().join("ctx.tar.gz");
    tar_of(context.path(), &tar, false);
    tar_of(context.path(), &tgz, true);

    let on_stdin = rootfs_file(&store, &["-"], &fs::read(&tar).unwrap(), "note.txt");
    assert_eq!(on_stdin, "a note\n");
    let as_path = rootfs_file(&store, &[tgz.to_str().unwrap()], b"", "greeting.txt");
    assert_eq!(as_path, "hello from rbuild\n");
}

#[test]
fn a_dockerfile_on_stdin_builds_with_an_empty_or_given_context() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let dockerfile = b"FROM busybox\nRUN echo from-stdin > /made.txt\n";
    assert_eq!(
        rootfs_file(&store, &["-"], dockerfile, "made.txt"),
        "from-stdin\n"
    );

    let context = context_copy("image-commands");
    let with_copy = b"FROM busybox\nCOPY note.txt /copied.txt\n";
    let ctx = context.path().to_str().unwrap();
    assert_eq!(
        rootfs_file(&store, &["-f", "-", ctx], with_copy, "copied.txt"),
        "a note\n"
    );
}

#[test]
fn bad_stdin_inputs_are_clear_errors() {
    let store = TestStore::with_busybox();
    let out = build_with_stdin(&store, &["-f", "-", "-"], b"FROM busybox\n");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot both come from stdin"),
        "{}",
        stderr(&out)
    );

    let work = tempfile::tempdir().expect("temp dir");
    let not_tar = work.path().join("notes.txt");
    fs::write(&not_tar, "just text").unwrap();
    let out = build_with_stdin(&store, &[not_tar.to_str().unwrap()], b"");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("neither a directory nor a tar archive"),
        "{}",
        stderr(&out)
    );
}
