//! Reading the official busybox OCI layout, as a directory and as a tar.

mod common;

use std::io::Read;
use std::path::Path;

use common::{busybox, expected_image, platform, tar_directory};
use rbuild_archive::{open, ArchiveError, ImageArchive};

fn check_selection(archive: &ImageArchive, layout: &Path, spec: &str, architecture: &str) {
    let (manifest, config, layers, diff_ids) = expected_image(layout, architecture);
    let selected = archive.select(None, &platform(spec)).unwrap();
    assert_eq!(selected.manifest.digest().to_string(), manifest);
    assert_eq!(
        rbuild_oci::Digest::of(&selected.manifest_bytes).to_string(),
        manifest
    );
    assert_eq!(selected.config.digest().to_string(), config);
    assert_eq!(
        rbuild_oci::Digest::of(&selected.config_bytes).to_string(),
        config
    );
    let got_layers: Vec<String> = selected
        .layers
        .iter()
        .map(|l| l.blob.digest().to_string())
        .collect();
    let got_diff_ids = common::diff_ids_of(&selected);
    assert_eq!(got_layers, layers);
    assert_eq!(got_diff_ids, diff_ids);
    assert_eq!(selected.platform.architecture, architecture);
    assert_eq!(selected.names, ["latest"]);
}

#[test]
fn busybox_directory_offers_both_platforms_under_latest() {
    let archive = open(&busybox()).unwrap();
    let images = archive.images().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].names, ["latest"]);
    let platforms: Vec<String> = images[0]
        .platforms
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
}

#[test]
fn busybox_directory_selects_amd64_and_arm64() {
    let archive = open(&busybox()).unwrap();
    check_selection(&archive, &busybox(), "linux/amd64", "amd64");
    check_selection(&archive, &busybox(), "linux/arm64", "arm64");
    check_selection(&archive, &busybox(), "linux/arm64/v8", "arm64");
    assert!(archive
        .select(Some("latest"), &platform("linux/amd64"))
        .is_ok());
}

#[test]
fn busybox_tar_reads_like_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let tar_path = dir.path().join("busybox.tar");
    tar_directory(&busybox(), &tar_path);
    let archive = open(&tar_path).unwrap();
    check_selection(&archive, &busybox(), "linux/amd64", "amd64");
    check_selection(&archive, &busybox(), "linux/arm64", "arm64");

    let selected = archive.select(None, &platform("linux/arm64")).unwrap();
    let layer = &selected.layers[0];
    let digest = rbuild_oci::descriptor_digest(&layer.blob).unwrap();
    let mut bytes = Vec::new();
    archive
        .open_blob(&digest)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert_eq!(bytes.len() as u64, layer.blob.size());
    assert_eq!(rbuild_oci::Digest::of(&bytes), digest);
}

#[test]
fn unknown_platform_error_lists_the_available_ones() {
    let archive = open(&busybox()).unwrap();
    let err = archive.select(None, &platform("linux/s390x")).unwrap_err();
    assert!(
        matches!(err, ArchiveError::PlatformNotFound { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("linux/s390x"), "{message}");
    assert!(message.contains("linux/amd64, linux/arm64"), "{message}");
}

#[test]
fn unknown_name_error_lists_the_available_ones() {
    let archive = open(&busybox()).unwrap();
    let err = archive
        .select(Some("alpine"), &platform("linux/amd64"))
        .unwrap_err();
    assert!(matches!(err, ArchiveError::ImageNotFound { .. }), "{err}");
    assert!(err.to_string().contains("available: latest"), "{err}");
}

#[test]
fn blobs_of_one_tar_are_read_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let tar_path = dir.path().join("busybox.tar");
    tar_directory(&busybox(), &tar_path);
    let archive = open(&tar_path).unwrap();
    let layers: Vec<_> = ["linux/amd64", "linux/arm64"]
        .iter()
        .map(|spec| {
            archive
                .select(None, &platform(spec))
                .unwrap()
                .layers
                .remove(0)
        })
        .collect();
    std::thread::scope(|scope| {
        for layer in &layers {
            let archive = &archive;
            scope.spawn(move || {
                let digest = rbuild_oci::descriptor_digest(&layer.blob).unwrap();
                let mut reader = archive.open_blob(&digest).unwrap();
                let copied = std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
                assert_eq!(copied, layer.blob.size());
            });
        }
    });
}
