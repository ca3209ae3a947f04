//! Shared fixtures for the CLI's end-to-end tests: a fresh store with busybox loaded, the
//! `rbuild` binary, copies of `testdata/` contexts, and the external checkers (skopeo,
//! umoci). Tests run for real: as root, with namespaces and overlayfs.

#![allow(dead_code)]

pub mod leftovers;
pub mod listener;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

pub fn busybox_layout() -> PathBuf {
    repo_dir().join("../shared/images/busybox")
}

/// Returns a reason when this machine cannot run sandboxed builds (not root, no overlayfs).
pub fn missing_privileges() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root for namespaces and overlayfs".to_string());
    }
    let filesystems = fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !filesystems.contains("overlay") {
        return Some("kernel has no overlayfs".to_string());
    }
    None
}

/// Skips the calling test with a printed, countable reason when privileges are missing.
#[macro_export]
macro_rules! require_sandbox {
    () => {
        if let Some(reason) = common::missing_privileges() {
            println!("RBUILD-TEST-SKIPPED: {}: {reason}", module_path!());
            return;
        }
    };
}

/// A store root in a temp dir, with busybox loaded.
pub struct TestStore {
    pub dir: TempDir,
}

impl TestStore {
    pub fn with_busybox() -> TestStore {
        let store = TestStore::empty();
        let out = store.rbuild(&["load".as_ref(), busybox_layout().as_os_str()]);
        assert_success(&out, "load busybox");
        store
    }

    pub fn empty() -> TestStore {
        TestStore {
            dir: tempfile::Builder::new()
                .prefix("rbuild-store-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `rbuild --root <store> args...`.
    pub fn rbuild<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_rbuild"))
            .arg("--root")
            .arg(self.root())
            .args(args)
            .env_remove("SOURCE_DATE_EPOCH")
            .output()
            .expect("run rbuild")
    }

    /// Builds `context` with plain progress and extra flags; returns the output.
    pub fn build(&self, context: &Path, extra: &[&str]) -> Output {
        let mut args: Vec<String> = vec!["build".into(), "--progress".into(), "plain".into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(context.display().to_string());
        self.rbuild(&args)
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// Copies `testdata/<name>` into a fresh temp dir (tests may modify it).
pub fn context_copy(name: &str) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("rbuild-ctx-")
        .tempdir()
        .expect("temp dir");
    copy_dir(&repo_dir().join("testdata").join(name), dir.path());
    dir
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create dir");
    for entry in fs::read_dir(from).expect("read testdata") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Writes a context from (path, content) pairs.
pub fn context_from(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("rbuild-ctx-")
        .tempdir()
        .expect("temp dir");
    for (path, content) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, content).expect("write");
    }
    dir
}

/// Step lines from plain progress: `#N name` lines, and whether each was CACHED.
pub fn steps(progress: &str) -> Vec<(String, bool)> {
    let mut names: Vec<(String, String)> = Vec::new();
    let mut cached = std::collections::HashSet::new();
    for line in progress.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some((number, text)) = rest.split_once(' ') else {
            continue;
        };
        if text == "CACHED" {
            cached.insert(number.to_string());
        } else if text.starts_with('[') {
            names.push((number.to_string(), text.to_string()));
        }
    }
    names
        .into_iter()
        .map(|(n, text)| {
            let was_cached = cached.contains(&n);
            (text, was_cached)
        })
        .collect()
}

/// Runs an external checker and returns its output, failing the test on error.
pub fn checked(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert_success(&out, &format!("{program} {}", args.join(" ")));
    stdout(&out)
}

/// `rbuild cache du --bytes` total.
pub fn du_total(store: &TestStore) -> u64 {
    let out = store.rbuild(&["cache", "du", "--bytes"]);
    assert_success(&out, "cache du");
    stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("total"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no total in {}", stdout(&out)))
}
