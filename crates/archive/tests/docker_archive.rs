//! Docker archives: written by rbuild and checked with skopeo, read back (round trip), and
//! read when written by another tool in the classic `docker save` form.

mod common;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

use common::{busybox, busybox_export, dir_names, expected_image, platform, run, LayoutBlobs};
use rbuild_archive::{
    open, write_docker_archive, write_oci_archive, ArchiveError, BlobSource, ExportImage,
};
use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::{descriptor, descriptor_digest, media_types, Digest};
use serde_json::{json, Value};

const NAME: &str = "busybox:1.0";

fn written_busybox(dir: &Path) -> (std::path::PathBuf, ExportImage) {
    let out = dir.join("docker.tar");
    let image = busybox_export(&[NAME]);
    write_docker_archive(std::slice::from_ref(&image), &LayoutBlobs(busybox()), &out).unwrap();
    (out, image)
}

fn read_blob(
    archive: &rbuild_archive::ImageArchive,
    digest: &Digest,
) -> Result<Vec<u8>, std::io::Error> {
    let mut bytes = Vec::new();
    archive.open_blob(digest).unwrap().read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[test]
fn skopeo_copies_our_docker_archive() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = written_busybox(dir.path());
    let (_, _, _, diff_ids) = expected_image(&busybox(), "amd64");
    let copied = dir.path().join("copied");
    run(
        "skopeo",
        &[
            "copy",
            &format!("docker-archive:{}", out.display()),
            &format!("oci:{}:copied", copied.display()),
        ],
    );
    // skopeo recompresses the layers; the config's diff ids must survive.
    let selected = open(&copied)
        .unwrap()
        .select(Some("copied"), &platform("linux/amd64"))
        .unwrap();
    let got = common::diff_ids_of(&selected);
    assert_eq!(got, diff_ids);
}

#[test]
fn our_docker_archive_reads_back_as_the_same_image() {
    let dir = tempfile::tempdir().unwrap();
    let (out, image) = written_busybox(dir.path());
    let archive = open(&out).unwrap();
    let images = archive.images().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].names, ["docker.io/library/busybox:1.0"]);
    assert_eq!(images[0].platforms, [platform("linux/amd64")]);

    let selected = archive
        .select(Some("busybox:1.0"), &platform("linux/amd64"))
        .unwrap();
    assert_eq!(selected.config.digest(), image.config.digest());
    assert_eq!(selected.config_bytes, image.config_bytes);
    let (_, _, _, diff_ids) = expected_image(&busybox(), "amd64");
    for (layer, diff_id) in selected.layers.iter().zip(&diff_ids) {
        assert_eq!(&layer.diff_id.to_string(), diff_id);
        assert_eq!(&layer.blob.digest().to_string(), diff_id);
        assert_eq!(
            layer.blob.media_type().to_string(),
            media_types::OCI_LAYER_TAR
        );
        let bytes = read_blob(&archive, &descriptor_digest(&layer.blob).unwrap()).unwrap();
        assert_eq!(bytes.len() as u64, layer.blob.size());
    }
    // The synthesized manifest is the one the writer recorded in index.json.
    let index: Value = serde_json::from_slice(&tar_entry(&out, "index.json")).unwrap();
    assert_eq!(
        index["manifests"][0]["digest"],
        selected.manifest.digest().to_string()
    );
    let manifest_digest = descriptor_digest(&selected.manifest).unwrap();
    assert_eq!(
        read_blob(&archive, &manifest_digest).unwrap(),
        selected.manifest_bytes
    );
}

#[test]
fn re_exporting_a_docker_archive_is_byte_identical_and_converts_to_oci() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = written_busybox(dir.path());
    let archive = open(&out).unwrap();
    let again = common::export_of(
        &archive.select(None, &platform("linux/amd64")).unwrap(),
        &[NAME],
    );
    let second = dir.path().join("again.tar");
    write_docker_archive(std::slice::from_ref(&again), &archive, &second).unwrap();
    assert_eq!(fs::read(&out).unwrap(), fs::read(&second).unwrap());

    let oci = dir.path().join("oci.tar");
    write_oci_archive(&[again], None, &archive, &oci).unwrap();
    run(
        "skopeo",
        &["inspect", &format!("oci-archive:{}", oci.display())],
    );
}

#[test]
fn a_layer_that_does_not_match_its_diff_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut image = busybox_export(&[NAME]);
    let mut config: Value = serde_json::from_slice(&image.config_bytes).unwrap();
    config["rootfs"]["diff_ids"][0] = json!(Digest::of(b"something else").to_string());
    image.config_bytes = serde_json::to_vec(&config).unwrap();
    image.config = descriptor(
        media_types::OCI_CONFIG,
        &Digest::of(&image.config_bytes),
        image.config_bytes.len() as u64,
    );
    let mut manifest: Value = serde_json::from_slice(&image.manifest_bytes).unwrap();
    manifest["config"]["digest"] = json!(image.config.digest().to_string());
    manifest["config"]["size"] = json!(image.config.size());
    image.manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    image.manifest = descriptor(
        media_types::OCI_MANIFEST,
        &Digest::of(&image.manifest_bytes),
        image.manifest_bytes.len() as u64,
    );

    let out = dir.path().join("bad.tar");
    let err = write_docker_archive(&[image], &LayoutBlobs(busybox()), &out).unwrap_err();
    assert!(matches!(err, ArchiveError::DigestMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("uncompressed content of layer"),
        "{err}"
    );
    assert!(dir_names(dir.path()).is_empty());
}

/// Serves blobs from memory.
struct MemoryBlobs(HashMap<String, Vec<u8>>);

impl BlobSource for MemoryBlobs {
    fn open_blob(&self, target: &Descriptor) -> std::io::Result<Box<dyn Read + '_>> {
        let bytes = self
            .0
            .get(&target.digest().to_string())
            .ok_or(std::io::ErrorKind::NotFound)?;
        Ok(Box::new(&bytes[..]))
    }
}

#[test]
fn zstd_layers_are_decompressed_into_the_docker_archive() {
    let dir = tempfile::tempdir().unwrap();
    let mut image = busybox_export(&[NAME]);
    let gzip_layer = fs::read(common::blob_path(
        &busybox(),
        image.layers[0].digest().as_ref(),
    ))
    .unwrap();
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(&gzip_layer[..])
        .read_to_end(&mut tar_bytes)
        .unwrap();
    let zstd_layer = zstd::encode_all(&tar_bytes[..], 3).unwrap();
    let layer = descriptor(
        media_types::OCI_LAYER_ZSTD,
        &Digest::of(&zstd_layer),
        zstd_layer.len() as u64,
    );
    let mut manifest: Value = serde_json::from_slice(&image.manifest_bytes).unwrap();
    manifest["layers"][0] = serde_json::to_value(&layer).unwrap();
    image.manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    image.manifest = descriptor(
        media_types::OCI_MANIFEST,
        &Digest::of(&image.manifest_bytes),
        image.manifest_bytes.len() as u64,
    );
    image.layers = vec![layer.clone()];
    let blobs = MemoryBlobs(HashMap::from([(layer.digest().to_string(), zstd_layer)]));

    let out = dir.path().join("from-zstd.tar");
    write_docker_archive(std::slice::from_ref(&image), &blobs, &out).unwrap();
    let selected = open(&out)
        .unwrap()
        .select(None, &platform("linux/amd64"))
        .unwrap();
    assert_eq!(
        selected.layers[0].blob.digest().to_string(),
        Digest::of(&tar_bytes).to_string()
    );
    assert_eq!(selected.layers[0].blob.size(), tar_bytes.len() as u64);
    // Same bytes as when the layer came gzip-compressed.
    let from_gzip = dir.path().join("from-gzip.tar");
    write_docker_archive(
        &[busybox_export(&[NAME])],
        &LayoutBlobs(busybox()),
        &from_gzip,
    )
    .unwrap();
    assert_eq!(fs::read(&out).unwrap(), fs::read(&from_gzip).unwrap());
}

fn tar_entry(tar_path: &Path, name: &str) -> Vec<u8> {
    let mut archive = tar::Archive::new(File::open(tar_path).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(name) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            return bytes;
        }
    }
    panic!("{name} not in {}", tar_path.display());
}

/// Rewrites a tar, replacing `manifest.json`.
fn with_manifest_json(from: &Path, to: &Path, manifest_json: &[u8]) {
    let mut input = tar::Archive::new(File::open(from).unwrap());
    let mut output = tar::Builder::new(File::create(to).unwrap());
    for entry in input.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let path = entry.path().unwrap().into_owned();
        if path.to_str() == Some("manifest.json") {
            header.set_size(manifest_json.len() as u64);
            header.set_cksum();
            output
                .append_data(&mut header, &path, manifest_json)
                .unwrap();
        } else {
            output.append(&header.clone(), &mut entry).unwrap();
        }
    }
    output.finish().unwrap();
}

#[test]
fn classic_docker_archives_from_skopeo_are_read_with_links() {
    let dir = tempfile::tempdir().unwrap();
    let classic = dir.path().join("classic.tar");
    run(
        "skopeo",
        &[
            "copy",
            "--override-arch",
            "arm64",
            &format!("oci:{}:latest", busybox().display()),
            &format!("docker-archive:{}:busybox:classic", classic.display()),
        ],
    );
    let (_, config_digest, _, diff_ids) = expected_image(&busybox(), "arm64");
    let check = |path: &Path| {
        let archive = open(path).unwrap();
        let selected = archive
            .select(Some("busybox:classic"), &platform("linux/arm64"))
            .unwrap();
        assert_eq!(selected.config.digest().to_string(), config_digest);
        let got = common::diff_ids_of(&selected);
        assert_eq!(got, diff_ids);
        let layer = descriptor_digest(&selected.layers[0].blob).unwrap();
        assert_eq!(
            read_blob(&archive, &layer).unwrap().len() as u64,
            selected.layers[0].blob.size()
        );
        let err = archive.select(None, &platform("linux/amd64")).unwrap_err();
        assert!(
            err.to_string().contains("available platforms: linux/arm64"),
            "{err}"
        );
    };
    check(&classic);

    // Point the layer at the legacy `<id>/layer.tar` symlink instead.
    let mut manifest: Value =
        serde_json::from_slice(&tar_entry(&classic, "manifest.json")).unwrap();
    let mut legacy = None;
    let mut listing = tar::Archive::new(File::open(&classic).unwrap());
    for entry in listing.entries().unwrap() {
        let name = entry.unwrap().path().unwrap().display().to_string();
        if name.ends_with("/layer.tar") {
            legacy = Some(name);
        }
    }
    manifest[0]["Layers"] = json!([legacy.unwrap()]);
    let linked = dir.path().join("linked.tar");
    with_manifest_json(&classic, &linked, &serde_json::to_vec(&manifest).unwrap());
    check(&linked);
}
