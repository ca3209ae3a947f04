//! Shared by the integration tests: the busybox fixture, a blob source over an OCI layout
//! directory, conversion of a selected image into an export, and running external tools.

#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use rbuild_archive::{BlobSource, ExportImage, SelectedImage};
use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::{descriptor_digest, ImageReference, Platform};
use serde_json::Value;

pub const BUSYBOX: &str = "/work/shared/images/busybox";

pub fn busybox() -> PathBuf {
    PathBuf::from(BUSYBOX)
}

pub fn platform(spec: &str) -> Platform {
    spec.parse().unwrap()
}

pub fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

pub fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// What the busybox fixture says about one architecture, read with plain JSON:
/// (manifest digest, config digest, layer digests, diff ids).
pub fn expected_image(
    layout: &Path,
    architecture: &str,
) -> (String, String, Vec<String>, Vec<String>) {
    let index = json(&layout.join("index.json"));
    let nested = json(&blob_path(
        layout,
        index["manifests"][0]["digest"].as_str().unwrap(),
    ));
    let entry = nested["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == architecture)
        .unwrap();
    let manifest_digest = entry["digest"].as_str().unwrap().to_string();
    let manifest = json(&blob_path(layout, &manifest_digest));
    let config_digest = manifest["config"]["digest"].as_str().unwrap().to_string();
    let config = json(&blob_path(layout, &config_digest));
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    (
        manifest_digest,
        config_digest,
        layers,
        strings(&config["rootfs"]["diff_ids"]),
    )
}

/// Serves blobs from an OCI layout directory by path, without any checking.
pub struct LayoutBlobs(pub PathBuf);

impl BlobSource for LayoutBlobs {
    fn open_blob(&self, descriptor: &Descriptor) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(layout_blob_file(&self.0, descriptor)?))
    }
}

/// The file of blob `descriptor` in OCI layout `layout`.
fn layout_blob_file(layout: &Path, descriptor: &Descriptor) -> io::Result<File> {
    let digest = descriptor_digest(descriptor).map_err(io::Error::other)?;
    File::open(blob_path(layout, &digest.to_string()))
}

/// Serves blobs of an OCI layout directory as files the writer may copy by the kernel,
/// claiming they are verified (as the store does); `stop` is what `should_stop` answers.
pub struct VerifiedLayoutFiles {
    pub layout: PathBuf,
    pub stop: bool,
}

impl BlobSource for VerifiedLayoutFiles {
    fn open_blob(&self, descriptor: &Descriptor) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(layout_blob_file(&self.layout, descriptor)?))
    }

    fn content_verified(&self) -> bool {
        true
    }

    fn open_blob_file(&self, descriptor: &Descriptor) -> Option<io::Result<File>> {
        Some(layout_blob_file(&self.layout, descriptor))
    }

    fn should_stop(&self) -> bool {
        self.stop
    }
}

pub fn export_of(selected: &SelectedImage, names: &[&str]) -> ExportImage {
    ExportImage {
        names: names
            .iter()
            .map(|n| ImageReference::parse(n).unwrap())
            .collect(),
        manifest: selected.manifest.clone(),
        manifest_bytes: selected.manifest_bytes.clone(),
        config: selected.config.clone(),
        config_bytes: selected.config_bytes.clone(),
        layers: selected.layers.iter().map(|l| l.blob.clone()).collect(),
        platform: selected.platform.clone(),
    }
}

/// The busybox amd64 image as an export named `names`.
pub fn busybox_export(names: &[&str]) -> ExportImage {
    let archive = rbuild_archive::open(&busybox()).unwrap();
    export_of(
        &archive.select(None, &platform("linux/amd64")).unwrap(),
        names,
    )
}

/// The diff ids of a selected image, as strings.
pub fn diff_ids_of(selected: &SelectedImage) -> Vec<String> {
    selected
        .layers
        .iter()
        .map(|l| l.diff_id.to_string())
        .collect()
}

/// Writes the busybox amd64 image named `names` into an OCI archive at `out`.
pub fn write_busybox_oci(names: &[&str], out: &Path) -> ExportImage {
    let image = busybox_export(names);
    rbuild_archive::write_oci_archive(
        std::slice::from_ref(&image),
        None,
        &LayoutBlobs(busybox()),
        out,
    )
    .unwrap();
    image
}

/// Runs a command; panics with its output if it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Copies a directory tree of plain files.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Tars a directory (entries sorted, paths relative) with the `tar` crate.
pub fn tar_directory(from: &Path, out: &Path) {
    let mut builder = tar::Builder::new(File::create(out).unwrap());
    builder.append_dir_all(".", from).unwrap();
    builder.finish().unwrap();
}

/// Names of the entries directly in `dir`.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A blob source that fails after handing out `ok_blobs` blobs, mid-stream.
pub struct FailingBlobs {
    pub inner: LayoutBlobs,
    pub opened: AtomicUsize,
    pub ok_blobs: usize,
}

struct FailAfter<R> {
    inner: R,
    left: usize,
}

impl<R: Read> Read for FailAfter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other("simulated store failure"));
        }
        let len = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..len])?;
        self.left -= n;
        Ok(n)
    }
}

impl BlobSource for FailingBlobs {
    fn open_blob(&self, descriptor: &Descriptor) -> io::Result<Box<dyn Read + '_>> {
        let reader = self.inner.open_blob(descriptor)?;
        if self.opened.fetch_add(1, Ordering::SeqCst) < self.ok_blobs {
            return Ok(reader);
        }
        Ok(Box::new(FailAfter {
            inner: reader,
            left: 1000,
        }))
    }
}
