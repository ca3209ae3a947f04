//! Writing OCI layouts, checked with skopeo and umoci, byte-for-byte determinism, and
//! atomicity when the blob source fails.

mod common;

use std::fs;
use std::sync::atomic::AtomicUsize;

use common::{
    busybox, busybox_export, dir_names, platform, run, write_busybox_oci, FailingBlobs,
    LayoutBlobs, VerifiedLayoutFiles,
};
use rbuild_archive::{open, write_oci_archive, write_oci_dir, ArchiveError};
use rbuild_oci::{descriptor, media_types, Digest};

const NAME: &str = "registry.example.com/team/busybox:1.38";

#[test]
fn oci_archive_is_accepted_by_skopeo_and_umoci() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("busybox-oci.tar");
    let image = write_busybox_oci(&[NAME], &out);

    let inspect = run(
        "skopeo",
        &["inspect", &format!("oci-archive:{}", out.display())],
    );
    let inspect: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(inspect["Digest"], image.manifest.digest().to_string());
    assert_eq!(inspect["Architecture"], "amd64");

    let extracted = dir.path().join("layout");
    fs::create_dir(&extracted).unwrap();
    run(
        "tar",
        &[
            "-xf",
            out.to_str().unwrap(),
            "-C",
            extracted.to_str().unwrap(),
        ],
    );
    let bundle = dir.path().join("bundle");
    let image_arg = format!("{}:1.38", extracted.display());
    run(
        "umoci",
        &["unpack", "--image", &image_arg, bundle.to_str().unwrap()],
    );
    assert!(bundle.join("rootfs/bin/busybox").is_file());
}

#[test]
fn oci_archive_index_names_images_as_buildkit_does() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("named.tar");
    write_busybox_oci(&[NAME, "busybox:latest"], &out);
    let archive = open(&out).unwrap();
    let images = archive.images().unwrap();
    let names: Vec<&str> = images
        .iter()
        .flat_map(|i| &i.names)
        .map(String::as_str)
        .collect();
    assert_eq!(names, [NAME, "docker.io/library/busybox:latest"]);
    let selected = archive
        .select(Some("busybox"), &platform("linux/amd64"))
        .unwrap();
    assert_eq!(selected.names, ["docker.io/library/busybox:latest"]);
}

#[test]
fn writing_twice_gives_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.tar");
    let second = dir.path().join("second.tar");
    write_busybox_oci(&[NAME], &first);
    write_busybox_oci(&[NAME], &second);
    assert_eq!(fs::read(&first).unwrap(), fs::read(&second).unwrap());
}

#[test]
fn blobs_copied_by_the_kernel_give_the_same_bytes_as_blobs_read() {
    let dir = tempfile::tempdir().unwrap();
    let image = busybox_export(&[NAME]);
    let read = dir.path().join("read.tar");
    write_busybox_oci(&[NAME], &read);
    let files = VerifiedLayoutFiles {
        layout: busybox(),
        stop: false,
    };
    let copied = dir.path().join("copied.tar");
    write_oci_archive(std::slice::from_ref(&image), None, &files, &copied).unwrap();
    assert_eq!(fs::read(&copied).unwrap(), fs::read(&read).unwrap());
    let layout = dir.path().join("layout");
    write_oci_dir(std::slice::from_ref(&image), None, &files, &layout).unwrap();
    for layer in &image.layers {
        let name = format!("blobs/sha256/{}", layer.digest().digest());
        assert_eq!(
            fs::read(layout.join(&name)).unwrap(),
            fs::read(busybox().join(&name)).unwrap()
        );
    }
}

#[test]
fn a_kernel_copy_of_a_wrong_size_blob_or_a_stopped_one_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let image = busybox_export(&[NAME]);
    let layout = dir.path().join("source");
    run(
        "cp",
        &["-a", busybox().to_str().unwrap(), layout.to_str().unwrap()],
    );
    let name = format!("blobs/sha256/{}", image.layers[0].digest().digest());
    let mut grown = fs::read(layout.join(&name)).unwrap();
    grown.push(0);
    fs::write(layout.join(&name), grown).unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let wrong_size = VerifiedLayoutFiles {
        layout: layout.clone(),
        stop: false,
    };
    let err = write_oci_archive(
        std::slice::from_ref(&image),
        None,
        &wrong_size,
        &out.join("a.tar"),
    )
    .unwrap_err();
    assert!(matches!(err, ArchiveError::BlobSource { .. }), "{err}");
    assert!(
        err.to_string().contains("where the descriptor says"),
        "{err}"
    );
    let stopped = VerifiedLayoutFiles {
        layout: busybox(),
        stop: true,
    };
    let err = write_oci_archive(
        std::slice::from_ref(&image),
        None,
        &stopped,
        &out.join("b.tar"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("interrupted"), "{err}");
    let err =
        write_oci_dir(std::slice::from_ref(&image), None, &stopped, &out.join("c")).unwrap_err();
    assert!(err.to_string().contains("interrupted"), "{err}");
    assert!(dir_names(&out).is_empty(), "{:?}", dir_names(&out));
}

#[test]
fn oci_directory_round_trips_and_replaces_a_previous_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("layout");
    let image = busybox_export(&[NAME]);
    for _ in 0..2 {
        write_oci_dir(
            std::slice::from_ref(&image),
            None,
            &LayoutBlobs(busybox()),
            &out,
        )
        .unwrap();
    }
    assert_eq!(dir_names(&out), ["blobs", "index.json", "oci-layout"]);
    assert_eq!(dir_names(dir.path()), ["layout"]);
    let selected = open(&out)
        .unwrap()
        .select(Some(NAME), &platform("linux/amd64"))
        .unwrap();
    assert_eq!(selected.manifest.digest(), image.manifest.digest());
    run(
        "skopeo",
        &["inspect", &format!("oci:{}:1.38", out.display())],
    );
}

#[test]
fn failing_blob_source_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let image = busybox_export(&[NAME]);
    let failing = FailingBlobs {
        inner: LayoutBlobs(busybox()),
        opened: AtomicUsize::new(0),
        ok_blobs: 0,
    };
    let out = dir.path().join("broken.tar");
    let err = write_oci_archive(std::slice::from_ref(&image), None, &failing, &out).unwrap_err();
    assert!(matches!(err, ArchiveError::BlobSource { .. }), "{err}");
    assert!(err.to_string().contains("simulated store failure"), "{err}");
    let err = write_oci_dir(
        std::slice::from_ref(&image),
        None,
        &failing,
        &dir.path().join("broken"),
    )
    .unwrap_err();
    assert!(matches!(err, ArchiveError::BlobSource { .. }), "{err}");
    assert!(
        dir_names(dir.path()).is_empty(),
        "{:?}",
        dir_names(dir.path())
    );
}

#[test]
fn corrupt_blob_from_the_source_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy");
    common::copy_tree(&busybox(), &copy);
    let mut image = busybox_export(&[NAME]);
    let layer = &image.layers[0];
    let path = common::blob_path(&copy, layer.digest().as_ref());
    let mut bytes = fs::read(&path).unwrap();
    bytes[1000] ^= 0xff;
    fs::write(&path, bytes).unwrap();
    let out = dir.path().join("out.tar");
    let err = write_oci_archive(
        std::slice::from_ref(&image),
        None,
        &LayoutBlobs(copy.clone()),
        &out,
    )
    .unwrap_err();
    assert!(matches!(err, ArchiveError::DigestMismatch { .. }), "{err}");
    assert!(!out.exists());

    image.config_bytes.push(b' ');
    let err = write_oci_archive(&[image], None, &LayoutBlobs(copy), &out).unwrap_err();
    assert!(matches!(err, ArchiveError::InvalidExport { .. }), "{err}");
}

#[test]
fn index_override_points_index_json_at_a_multi_platform_index() {
    let dir = tempfile::tempdir().unwrap();
    let source = open(&busybox()).unwrap();
    let amd64 = common::export_of(
        &source.select(None, &platform("linux/amd64")).unwrap(),
        &[NAME],
    );
    let arm64 = common::export_of(
        &source.select(None, &platform("linux/arm64")).unwrap(),
        &[NAME],
    );
    let index_json = common::json(&busybox().join("index.json"));
    let index_digest: Digest = index_json["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let index_bytes = fs::read(common::blob_path(&busybox(), &index_digest.to_string())).unwrap();
    let index = descriptor(
        media_types::OCI_INDEX,
        &index_digest,
        index_bytes.len() as u64,
    );
    let out = dir.path().join("multi.tar");
    write_oci_archive(
        &[amd64, arm64],
        Some((index, index_bytes)),
        &LayoutBlobs(busybox()),
        &out,
    )
    .unwrap();

    let archive = open(&out).unwrap();
    let images = archive.images().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].names, [NAME]);
    assert_eq!(
        images[0].platforms,
        [platform("linux/amd64"), platform("linux/arm64")]
    );
    run(
        "skopeo",
        &[
            "inspect",
            "--override-arch",
            "arm64",
            &format!("oci-archive:{}:1.38", out.display()),
        ],
    );
}
