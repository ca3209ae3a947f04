//! Shared by the `language_*` end-to-end tests: build a context through the `rbuild` binary
//! and look at the result the way a user would — the root filesystem from
//! `-o type=local`, and the image config, raw (with Docker's extensions such as
//! `Healthcheck`, `OnBuild` and `Shell`), read by skopeo from the `-o type=oci` archive.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use crate::common::{checked, context_from, stderr, TestStore};

/// One successful build's outputs.
pub struct Built {
    pub rootfs: PathBuf,
    /// The image config blob as stored.
    pub config: Value,
    /// Plain progress and messages (stderr).
    pub progress: String,
    _out: TempDir,
}

impl Built {
    fn path(&self, rel: &str) -> PathBuf {
        self.rootfs.join(rel.trim_start_matches('/'))
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn bytes(&self, rel: &str) -> Vec<u8> {
        fs::read(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.path(rel)).is_ok()
    }

    pub fn metadata(&self, rel: &str) -> fs::Metadata {
        fs::symlink_metadata(self.path(rel)).unwrap_or_else(|e| panic!("stat {rel}: {e}"))
    }

    /// Permission bits (`st_mode & 07777`).
    pub fn mode(&self, rel: &str) -> u32 {
        self.metadata(rel).mode() & 0o7777
    }

    pub fn owner(&self, rel: &str) -> (u32, u32) {
        let metadata = self.metadata(rel);
        (metadata.uid(), metadata.gid())
    }

    pub fn link_target(&self, rel: &str) -> String {
        fs::read_link(self.path(rel))
            .unwrap_or_else(|e| panic!("readlink {rel}: {e}"))
            .display()
            .to_string()
    }

    /// The names in directory `rel`, sorted.
    pub fn entries(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path(rel))
            .unwrap_or_else(|e| panic!("list {rel}: {e}"))
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A field of the container config (`config.config[key]`).
    pub fn setting(&self, key: &str) -> &Value {
        &self.config["config"][key]
    }

    /// The container config's `Env`.
    pub fn env(&self) -> Vec<String> {
        strings(self.setting("Env"))
    }

    /// Every history entry's `created_by`.
    pub fn history(&self) -> Vec<String> {
        self.config["history"]
            .as_array()
            .expect("history is an array")
            .iter()
            .map(|entry| entry["created_by"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// Whether the history entry created by exactly `created_by` is an empty layer.
    pub fn history_is_empty_layer(&self, created_by: &str) -> bool {
        self.config["history"]
            .as_array()
            .expect("history is an array")
            .iter()
            .find(|entry| entry["created_by"] == created_by)
            .unwrap_or_else(|| panic!("no history entry {created_by:?} in {:?}", self.history()))
            ["empty_layer"]
            == true
    }
}

/// A JSON array of strings as a vector (`[]` for null).
pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| item.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The keys of a JSON object (`ExposedPorts`, `Volumes`, `Labels`), sorted.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

/// Builds `context` with `extra` flags, exporting the root filesystem and the OCI archive;
/// panics with the output when the build fails.
pub fn build(store: &TestStore, context: &Path, extra: &[&str]) -> Built {
    let out = tempfile::Builder::new()
        .prefix("rbuild-out-")
        .tempdir()
        .expect("temp dir");
    let rootfs = out.path().join("rootfs");
    let archive = out.path().join("image.tar");
    let local = format!("type=local,dest={}", rootfs.display());
    let oci = format!("type=oci,dest={}", archive.display());
    let mut args = vec!["-o", &local, "-o", &oci];
    args.extend_from_slice(extra);
    let output = store.build(context, &args);
    crate::common::assert_success(&output, &format!("build {}", context.display()));
    let raw = checked(
        "skopeo",
        &[
            "inspect",
            "--config",
            "--raw",
            &format!("oci-archive:{}", archive.display()),
        ],
    );
    Built {
        rootfs,
        config: serde_json::from_str(&raw).expect("the image config is JSON"),
        progress: stderr(&output),
        _out: out,
    }
}

/// Writes a context from (path, content) pairs and builds it.
pub fn build_files(store: &TestStore, files: &[(&str, &str)], extra: &[&str]) -> Built {
    let context = context_from(files);
    build(store, context.path(), extra)
}

/// Builds a context holding only `dockerfile`.
pub fn build_dockerfile(store: &TestStore, dockerfile: &str, extra: &[&str]) -> Built {
    build_files(store, &[("Dockerfile", dockerfile)], extra)
}

/// Builds `context`, expecting failure; returns what the user sees on stderr.
pub fn failed_build(store: &TestStore, context: &Path, extra: &[&str]) -> String {
    let output = store.build(context, extra);
    let text = stderr(&output);
    assert!(
        !output.status.success(),
        "expected the build to fail:\n{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    text
}

/// This machine's architecture as OCI names it.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
