//! Corrupt and malformed archives: every problem is a clear error naming the file or blob
//! concerned, never a panic.

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use common::{blob_path, busybox, copy_tree, expected_image, platform, tar_directory};
use rbuild_archive::{open, ArchiveError};
use rbuild_oci::Digest;
use serde_json::json;

fn copied_busybox(dir: &Path) -> PathBuf {
    let copy = dir.join("layout");
    copy_tree(&busybox(), &copy);
    copy
}

fn flip_a_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x20;
    fs::write(path, bytes).unwrap();
}

fn assert_one_layer_no_diff_ids(err: &ArchiveError) {
    let matched = matches!(
        err,
        ArchiveError::LayerCountMismatch {
            layers: 1,
            diff_ids: 0,
            ..
        }
    );
    assert!(matched, "{err}");
}

fn read_to_end_error(archive: &rbuild_archive::ImageArchive, digest: &str) -> ArchiveError {
    let digest: Digest = digest.parse().unwrap();
    let mut reader = archive.open_blob(&digest).unwrap();
    let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
    let inner = err
        .into_inner()
        .unwrap()
        .downcast::<ArchiveError>()
        .unwrap();
    *inner
}

#[test]
fn a_corrupt_layer_is_reported_by_open_blob_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let layout = copied_busybox(dir.path());
    let (_, _, layers, _) = expected_image(&layout, "amd64");
    flip_a_byte(&blob_path(&layout, &layers[0]), 5000);
    let archive = open(&layout).unwrap();
    archive.select(None, &platform("linux/amd64")).unwrap();
    let err = read_to_end_error(&archive, &layers[0]);
    assert!(matches!(err, ArchiveError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&layers[0]), "{err}");

    let tar_path = dir.path().join("layout.tar");
    tar_directory(&layout, &tar_path);
    let err = read_to_end_error(&open(&tar_path).unwrap(), &layers[0]);
    assert!(err.to_string().contains(&layers[0]), "{err}");
    assert!(err.to_string().contains("layout.tar"), "{err}");
}

#[test]
fn a_corrupt_manifest_is_reported_by_select_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let layout = copied_busybox(dir.path());
    let (manifest, _, _, _) = expected_image(&layout, "arm64");
    flip_a_byte(&blob_path(&layout, &manifest), 10);
    let archive = open(&layout).unwrap();
    let err = archive.select(None, &platform("linux/arm64")).unwrap_err();
    assert!(matches!(err, ArchiveError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&manifest), "{err}");
    assert!(archive.select(None, &platform("linux/amd64")).is_ok());
}

#[test]
fn missing_or_broken_index_json_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let layout = copied_busybox(dir.path());
    fs::write(
        layout.join("index.json"),
        b"{\"schemaVersion\": 2, \"manifests\": [",
    )
    .unwrap();
    let err = open(&layout).unwrap().images().unwrap_err();
    assert!(matches!(err, ArchiveError::BadJson { .. }), "{err}");
    assert!(err.to_string().contains("index.json"), "{err}");

    fs::remove_file(layout.join("index.json")).unwrap();
    let err = open(&layout)
        .unwrap()
        .select(None, &platform("linux/amd64"))
        .unwrap_err();
    assert!(matches!(err, ArchiveError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("index.json"), "{err}");
}

#[test]
fn a_manifest_pointing_to_a_missing_blob_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let layout = copied_busybox(dir.path());
    let (_, config, layers, _) = expected_image(&layout, "amd64");
    fs::remove_file(blob_path(&layout, &layers[0])).unwrap();
    let archive = open(&layout).unwrap();
    let err = archive.select(None, &platform("linux/amd64")).unwrap_err();
    assert!(matches!(err, ArchiveError::MissingBlob { .. }), "{err}");
    assert!(err.to_string().contains(&layers[0]), "{err}");

    fs::remove_file(blob_path(&layout, &config)).unwrap();
    let err = archive.select(None, &platform("linux/amd64")).unwrap_err();
    assert!(err.to_string().contains(&config), "{err}");
}

#[test]
fn a_docker_archive_with_a_bad_manifest_json_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("docker");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("manifest.json"), br#"[{"Config": 7}]"#).unwrap();
    let err = open(&root).err().unwrap();
    assert!(matches!(err, ArchiveError::BadJson { .. }), "{err}");
    assert!(err.to_string().contains("manifest.json"), "{err}");

    fs::write(
        root.join("manifest.json"),
        br#"[{"Config":"cfg.json","RepoTags":["a:1"],"Layers":["x/layer.tar"]}]"#,
    )
    .unwrap();
    fs::write(
        root.join("cfg.json"),
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    )
    .unwrap();
    let err = open(&root)
        .unwrap()
        .select(Some("a:1"), &platform("linux/amd64"))
        .unwrap_err();
    assert!(matches!(err, ArchiveError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("x/layer.tar"), "{err}");

    fs::create_dir(root.join("x")).unwrap();
    fs::write(root.join("x/layer.tar"), vec![0u8; 1024]).unwrap();
    let err = open(&root)
        .unwrap()
        .select(None, &platform("linux/amd64"))
        .unwrap_err();
    assert_one_layer_no_diff_ids(&err);
}

#[test]
fn layer_count_must_match_the_config_diff_ids() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let put = |bytes: Vec<u8>| -> (String, usize) {
        let digest = Digest::of(&bytes);
        fs::write(layout.join("blobs/sha256").join(digest.hex()), &bytes).unwrap();
        (digest.to_string(), bytes.len())
    };
    let (layer, layer_size) = put(b"not really a tar".to_vec());
    let (config, config_size) = put(serde_json::to_vec(&json!({
        "architecture": "arm64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}
    }))
    .unwrap());
    let (manifest, manifest_size) = put(serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}]
    })).unwrap());
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest, "size": manifest_size
    }]});
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();

    let archive = open(&layout).unwrap();
    // No platform in the index entry: the config tells.
    assert_eq!(
        archive.images().unwrap()[0].platforms,
        [platform("linux/arm64")]
    );
    let err = archive.select(None, &platform("linux/arm64")).unwrap_err();
    assert_one_layer_no_diff_ids(&err);
    assert!(
        err.to_string()
            .contains(manifest.trim_start_matches("sha256:")),
        "{err}"
    );
}

#[test]
fn non_archives_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let err = open(&dir.path().join("absent.tar")).err().unwrap();
    assert!(matches!(err, ArchiveError::Read { .. }), "{err}");
    assert!(err.to_string().contains("absent.tar"), "{err}");

    let err = open(dir.path()).err().unwrap();
    assert!(err.to_string().contains("neither index.json"), "{err}");

    let text = dir.path().join("notes.txt");
    fs::write(&text, vec![b'n'; 2048]).unwrap();
    assert!(matches!(
        open(&text),
        Err(ArchiveError::NotAnArchive { .. })
    ));
}

#[test]
fn a_truncated_tar_errors_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let tar_path = dir.path().join("layout.tar");
    tar_directory(&busybox(), &tar_path);
    let full = fs::metadata(&tar_path).unwrap().len();
    for cut in [full / 3, full / 2, full - 2000] {
        let truncated = dir.path().join(format!("cut-{cut}.tar"));
        fs::write(&truncated, &fs::read(&tar_path).unwrap()[..cut as usize]).unwrap();
        let outcome = open(&truncated).and_then(|archive| {
            let selected = archive.select(None, &platform("linux/amd64"))?;
            for layer in &selected.layers {
                let digest = rbuild_oci::descriptor_digest(&layer.blob).unwrap();
                let mut reader = archive.open_blob(&digest)?;
                reader
                    .read_to_end(&mut Vec::new())
                    .map_err(|e| ArchiveError::Read {
                        path: truncated.clone(),
                        source: e,
                    })?;
            }
            Ok(())
        });
        assert!(outcome.is_err(), "cut at {cut} of {full} went unnoticed");
    }
}
