//! Tests of the layer store on a real store root: commits, lower dirs, unpacking real image
//! layers, layer blobs, concurrent commits.

use std::fs;
use std::io::Read;
use std::path::Path;

use filetime::FileTime;
use rbuild_oci::Digest;

use crate::{Compression, SnapshotChain, Store, StoreError, UpperDir};

const BUSYBOX: &str = "/work/shared/images/busybox";
const BUSYBOX_AMD64_LAYER: &str =
    "b05093807bb0294152bb9cf86d64da722732dddaf7f8882fa1f120477dbc4db3";
const BUSYBOX_AMD64_DIFF: &str =
    "sha256:0958e0fef2d6a31e1325b8bfecd99dead933363682d69850a7606599023751bc";

fn upper_with(store: &Store, files: &[(&str, &[u8])]) -> UpperDir {
    let upper = store.layers().new_upper().unwrap();
    for (name, content) in files {
        let path = upper.upper().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
    }
    let time = FileTime::from_unix_time(1_650_000_000, 0);
    for entry in walkdir::WalkDir::new(upper.upper()).min_depth(1) {
        filetime::set_symlink_file_times(entry.unwrap().path(), time, time).unwrap();
    }
    upper
}

/// Commits a layer holding `files` on top of `parent`.
fn commit_files(
    store: &Store,
    parent: &SnapshotChain,
    files: &[(&str, &[u8])],
    epoch: Option<i64>,
) -> SnapshotChain {
    store
        .layers()
        .commit(parent, upper_with(store, files), epoch)
        .unwrap()
}

fn staging_entries(store: &Store) -> usize {
    fs::read_dir(store.root().join("tmp")).unwrap().count()
}

fn snapshot_count(store: &Store) -> usize {
    fs::read_dir(store.root().join("snapshots"))
        .unwrap()
        .count()
}

#[test]
fn an_empty_diff_returns_the_parent_and_stores_nothing() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let parent = SnapshotChain::default();
    let upper = store.layers().new_upper().unwrap();
    assert!(upper.upper().is_dir() && upper.work().is_dir());
    assert_eq!(store.layers().commit(&parent, upper, None).unwrap(), parent);
    assert_eq!(snapshot_count(&store), 0);
    assert_eq!(staging_entries(&store), 0);
}

#[test]
fn commits_stack_and_lower_dirs_list_the_top_first() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let base = commit_files(
        &store,
        &SnapshotChain::default(),
        &[("etc/os", b"test\n")],
        None,
    );
    let app = commit_files(&store, &base, &[("app/main", b"bin")], None);
    assert_eq!(app.layers.len(), 2);
    assert_eq!(app.layers[0], base.layers[0]);
    let lowers = store.layers().lower_dirs(&app).unwrap();
    assert_eq!(lowers.len(), 2);
    assert_eq!(
        lowers[0],
        root.path()
            .join("snapshots")
            .join(app.chain_id().unwrap().hex())
    );
    assert_eq!(fs::read(lowers[0].join("app/main")).unwrap(), b"bin");
    assert_eq!(fs::read(lowers[1].join("etc/os")).unwrap(), b"test\n");
    assert!(store
        .layers()
        .lower_dirs(&SnapshotChain::default())
        .unwrap()
        .is_empty());
    assert_eq!(
        staging_entries(&store),
        0,
        "staging must be empty after commits"
    );

    // The recorded size is the size of the regenerated tar, whose digest is the diff id.
    let mut tar = Vec::new();
    assert_eq!(
        store.layers().write_layer_tar(&app, 1, &mut tar).unwrap(),
        app.layers[1]
    );
    assert_eq!(
        store.layers().layer_size(&app.layers[1]).unwrap(),
        tar.len() as u64
    );
    assert!(matches!(
        store.layers().write_layer_tar(&app, 2, &mut Vec::new()),
        Err(StoreError::LayerIndexOutOfRange { index: 2, len: 2 })
    ));
}

#[test]
fn committing_the_same_layer_twice_keeps_one_snapshot() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let parent = SnapshotChain::default();
    let first = commit_files(&store, &parent, &[("f", b"same")], Some(1_700_000_000));
    let second = commit_files(&store, &parent, &[("f", b"same")], Some(1_700_000_000));
    assert_eq!(first, second);
    assert_eq!(snapshot_count(&store), 1);
    assert_eq!(staging_entries(&store), 0);
}

#[test]
fn concurrent_commits_from_separate_handles_agree_on_one_snapshot() {
    let root = tempfile::tempdir().unwrap();
    let chains: Vec<SnapshotChain> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let root = root.path();
                scope.spawn(move || {
                    let store = Store::open(root).unwrap();
                    let files: Vec<(String, Vec<u8>)> = (0..50)
                        .map(|i| (format!("d{}/f{i}", i % 5), vec![i as u8; 100 * i]))
                        .collect();
                    let refs: Vec<(&str, &[u8])> = files
                        .iter()
                        .map(|(n, c)| (n.as_str(), c.as_slice()))
                        .collect();
                    let upper = upper_with(&store, &refs);
                    store
                        .layers()
                        .commit(&SnapshotChain::default(), upper, Some(1_600_000_000))
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(chains.windows(2).all(|w| w[0] == w[1]));
    let store = Store::open(root.path()).unwrap();
    assert_eq!(snapshot_count(&store), 1);
    assert_eq!(staging_entries(&store), 0);
    assert!(store.check(false).unwrap().is_clean());
}

#[test]
fn a_snapshot_dir_left_by_a_crash_is_replaced_by_the_next_commit() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let chain = commit_files(&store, &SnapshotChain::default(), &[("f", b"x")], None);
    let dir = root
        .path()
        .join("snapshots")
        .join(chain.chain_id().unwrap().hex());
    // Simulate a crash after the rename but before the row: drop the row, damage the dir.
    store
        .shared()
        .db
        .write("t", |tx| {
            super::records::delete_snapshot(tx, &chain.layers[0]).map_err(|e| {
                StoreError::Database {
                    context: "t",
                    source: e,
                }
            })
        })
        .unwrap();
    fs::write(dir.join("f"), b"half-written").unwrap();
    let again = commit_files(&store, &SnapshotChain::default(), &[("f", b"x")], None);
    assert_eq!(again, chain);
    assert_eq!(fs::read(dir.join("f")).unwrap(), b"x");
    assert_eq!(staging_entries(&store), 0);
}

#[test]
fn layer_blobs_are_deterministic_made_once_and_decompress_to_the_layer_tar() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let content = vec![b'z'; 200_000];
    let chain = commit_files(
        &store,
        &SnapshotChain::default(),
        &[("big", &content), ("small", b"s")],
        Some(1_600_000_000),
    );
    let mut tar = Vec::new();
    store.layers().write_layer_tar(&chain, 0, &mut tar).unwrap();
    for compression in [Compression::Gzip, Compression::Zstd, Compression::None] {
        let descriptor = store.layers().layer_blob(&chain, 0, compression).unwrap();
        assert_eq!(
            descriptor.media_type().to_string(),
            compression.media_type()
        );
        let blobs_before = fs::read_dir(root.path().join("blobs/sha256"))
            .unwrap()
            .count();
        assert_eq!(
            store.layers().layer_blob(&chain, 0, compression).unwrap(),
            descriptor
        );
        assert_eq!(
            fs::read_dir(root.path().join("blobs/sha256"))
                .unwrap()
                .count(),
            blobs_before
        );
        let digest: Digest = descriptor.digest().to_string().parse().unwrap();
        let mut plain = Vec::new();
        crate::codec::decompressed(store.blobs().open(&digest).unwrap())
            .unwrap()
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, tar, "{compression:?}");
        assert_eq!(descriptor.size(), store.blobs().size(&digest).unwrap());
    }
    let gzip = store
        .layers()
        .layer_blob(&chain, 0, Compression::Gzip)
        .unwrap();
    let other_root = tempfile::tempdir().unwrap();
    let other = Store::open(other_root.path()).unwrap();
    let rebuilt = commit_files(
        &other,
        &SnapshotChain::default(),
        &[("big", &content), ("small", b"s")],
        Some(1_600_000_000),
    );
    assert_eq!(rebuilt, chain);
    assert_eq!(
        other
            .layers()
            .layer_blob(&rebuilt, 0, Compression::Gzip)
            .unwrap()
            .digest(),
        gzip.digest()
    );
}

#[test]
fn a_chain_with_an_unknown_layer_has_no_lower_dirs() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let chain = SnapshotChain::default().push(Digest::of(b"never stored"));
    assert!(matches!(
        store.layers().lower_dirs(&chain),
        Err(StoreError::LayerUnavailable { .. })
    ));
    assert!(matches!(
        store.layers().layer_blob(&chain, 0, Compression::Gzip),
        Err(StoreError::LayerUnavailable { .. })
    ));
}

/// Loads the amd64 busybox layer blob and registers it, as loading an image does.
fn load_busybox_layer(store: &Store) -> Option<SnapshotChain> {
    let blob_path = Path::new(BUSYBOX)
        .join("blobs/sha256")
        .join(BUSYBOX_AMD64_LAYER);
    let Ok(mut file) = fs::File::open(&blob_path) else {
        eprintln!("skipping: busybox image not found at {BUSYBOX}");
        return None;
    };
    let expected = Digest::from_hex(BUSYBOX_AMD64_LAYER).unwrap();
    let (digest, size) = store.blobs().ingest(&mut file, Some(&expected)).unwrap();
    let descriptor =
        crate::descriptor::descriptor(rbuild_oci::media_types::OCI_LAYER_GZIP, size, &digest)
            .unwrap();
    let diff_id: Digest = BUSYBOX_AMD64_DIFF.parse().unwrap();
    store
        .layers()
        .add_blob_layer(&diff_id, &descriptor)
        .unwrap();
    Some(SnapshotChain {
        layers: vec![diff_id],
    })
}

#[test]
fn loaded_image_layers_unpack_on_first_use_and_export_their_original_blob() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let Some(chain) = load_busybox_layer(&store) else {
        return;
    };
    assert_eq!(snapshot_count(&store), 0);
    let lowers = store.layers().lower_dirs(&chain).unwrap();
    assert_eq!(snapshot_count(&store), 1);
    assert!(lowers[0].join("bin/busybox").is_file());
    assert!(fs::symlink_metadata(lowers[0].join("bin/sh")).is_ok());

    let mut tar = Vec::new();
    assert_eq!(
        store.layers().write_layer_tar(&chain, 0, &mut tar).unwrap(),
        chain.layers[0]
    );
    assert_eq!(
        store.layers().layer_size(&chain.layers[0]).unwrap(),
        tar.len() as u64
    );
    let gzip = store
        .layers()
        .layer_blob(&chain, 0, Compression::Gzip)
        .unwrap();
    assert_eq!(
        gzip.digest().to_string(),
        format!("sha256:{BUSYBOX_AMD64_LAYER}")
    );

    // A layer built on top of it.
    let top = commit_files(&store, &chain, &[("etc/motd", b"hi")], None);
    assert_eq!(store.layers().lower_dirs(&top).unwrap().len(), 2);
}

#[test]
fn threads_that_need_one_missing_snapshot_unpack_it_once() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let Some(chain) = load_busybox_layer(&store) else {
        return;
    };
    let lowers: Vec<Vec<std::path::PathBuf>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| store.layers().lower_dirs(&chain).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(lowers.iter().all(|l| *l == lowers[0]));
    assert!(lowers[0][0].join("bin/busybox").is_file());
    let unpacked = &store.layers().unpacking.unpacked;
    assert_eq!(unpacked.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(snapshot_count(&store), 1);
}

#[test]
fn a_blob_whose_content_is_not_its_diff_id_is_never_unpacked() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let Some(chain) = load_busybox_layer(&store) else {
        return;
    };
    let lying = SnapshotChain {
        layers: vec![Digest::of(b"a different layer")],
    };
    let blob = store
        .layers()
        .layer_blob(&chain, 0, Compression::Gzip)
        .unwrap();
    store
        .layers()
        .add_blob_layer(&lying.layers[0], &blob)
        .unwrap();
    assert!(matches!(
        store.layers().lower_dirs(&lying),
        Err(StoreError::DigestMismatch { .. })
    ));
    assert_eq!(snapshot_count(&store), 0);
    assert_eq!(staging_entries(&store), 0);
}

#[test]
fn verified_blob_layers_reject_a_wrong_diff_id_and_record_a_right_one() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let chain = commit_files(
        &store,
        &SnapshotChain::default(),
        &[("file", b"content")],
        Some(1_600_000_000),
    );
    let blob = store
        .layers()
        .layer_blob(&chain, 0, Compression::Gzip)
        .unwrap();
    let other_root = tempfile::tempdir().unwrap();
    let other = Store::open(other_root.path()).unwrap();
    let digest: Digest = blob.digest().to_string().parse().unwrap();
    let bytes = store.blobs().read(&digest).unwrap();
    other
        .blobs()
        .ingest(&mut &bytes[..], Some(&digest))
        .unwrap();
    let wrong = Digest::of(b"another layer");
    assert!(matches!(
        other.layers().add_verified_blob_layer(&wrong, &blob),
        Err(StoreError::DigestMismatch { .. })
    ));
    assert!(!other.layers().has_layer_blob(&wrong).unwrap());
    other
        .layers()
        .add_verified_blob_layer(&chain.layers[0], &blob)
        .unwrap();
    assert!(other.layers().has_layer_blob(&chain.layers[0]).unwrap());
    assert_eq!(other.layers().lower_dirs(&chain).unwrap().len(), 1);
}

#[test]
fn check_finds_and_repair_drops_altered_snapshots_and_bad_layer_blobs() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let chain = commit_files(&store, &SnapshotChain::default(), &[("f", b"one")], None);
    let chain_id = chain.chain_id().unwrap();
    assert!(store.check(false).unwrap().is_clean());
    fs::write(store.shared().layout.snapshot(&chain_id).join("f"), b"two").unwrap();
    // A layer blob recorded (unverified) as a layer it is not.
    let tar = {
        let mut tar = Vec::new();
        store.layers().write_layer_tar(&chain, 0, &mut tar).ok();
        tar
    };
    let (digest, size) = store.blobs().ingest(&mut tar.as_slice(), None).unwrap();
    let wrong = Digest::of(b"some other layer");
    let blob =
        crate::descriptor::descriptor(Compression::None.media_type(), size, &digest).unwrap();
    store.layers().add_blob_layer(&wrong, &blob).unwrap();
    let report = store.check(false).unwrap();
    assert_eq!(report.altered_snapshots, vec![chain_id.clone()]);
    assert_eq!(report.bad_layer_blobs, vec![digest]);
    assert!(report.is_damaged());
    let repaired = store.check(true).unwrap();
    assert!(
        repaired.is_damaged(),
        "the repair run reports what it removed"
    );
    let after = store.check(false).unwrap();
    assert!(after.is_clean(), "{after:?}");
    assert!(!store.shared().layout.snapshot(&chain_id).exists());
}

#[test]
fn exports_check_a_regenerated_tar_by_its_fingerprint_or_by_hash_where_none_was_recorded() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let chain = commit_files(&store, &SnapshotChain::default(), &[("f", b"one")], None);
    let diff_id = &chain.layers[0];
    let fingerprint = store
        .shared()
        .db
        .read("t", |c| super::records::layer_fingerprint(c, diff_id))
        .unwrap()
        .expect("a commit records the fingerprint");
    let mut tar = Vec::new();
    store.layers().write_layer_tar(&chain, 0, &mut tar).unwrap();
    assert_eq!(fingerprint.size, tar.len() as u64);

    // Same size, other bytes: the CRC-32 tells, and no blob is made or remembered.
    let file = store
        .shared()
        .layout
        .snapshot(&chain.chain_id().unwrap())
        .join("f");
    fs::write(&file, b"two").unwrap();
    filetime::set_file_mtime(&file, FileTime::from_unix_time(1_650_000_000, 0)).unwrap();
    let made = store.layers().layer_blob(&chain, 0, Compression::Gzip);
    assert!(
        matches!(made, Err(StoreError::CorruptRecord { .. })),
        "{made:?}"
    );
    assert!(!store.layers().has_layer_blob(diff_id).unwrap());

    // A store that recorded no fingerprint (an older version) hashes the tar instead.
    store
        .shared()
        .db
        .write("t", |tx| {
            tx.execute("UPDATE layers SET tar_crc32 = NULL", [])
                .map(drop)
                .map_err(|e| StoreError::corrupt("t", e))
        })
        .unwrap();
    let made = store.layers().layer_blob(&chain, 0, Compression::Gzip);
    assert!(
        matches!(made, Err(StoreError::DigestMismatch { .. })),
        "{made:?}"
    );
}
