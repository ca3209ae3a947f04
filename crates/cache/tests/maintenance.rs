//! Store maintenance through the public API on real store roots: blob integrity, staging
//! sweeps, check and repair, prune (keep-storage LRU, tagged images, leases), disk usage.

use std::fs;
use std::path::Path;
use std::time::Duration;

use rbuild_cache::{PrunePolicy, SnapshotChain, Store, StoreError};
use rbuild_oci::oci_spec::image::{Descriptor, MediaType};
use rbuild_oci::{media_types, Digest, ImageReference};

fn commit_files(store: &Store, parent: &SnapshotChain, name: &str, size: usize) -> SnapshotChain {
    let upper = store.layers().new_upper().unwrap();
    fs::write(upper.upper().join(name), vec![name.as_bytes()[0]; size]).unwrap();
    store
        .layers()
        .commit(parent, upper, Some(1_600_000_000))
        .unwrap()
}

fn key(name: &str) -> Digest {
    Digest::of(name.as_bytes())
}

fn entries(dir: &Path) -> usize {
    fs::read_dir(dir).unwrap().count()
}

fn descriptor(media_type: &str, bytes: &[u8], digest: &Digest) -> Descriptor {
    Descriptor::new(
        MediaType::from(media_type),
        bytes.len() as u64,
        digest
            .to_string()
            .parse::<rbuild_oci::oci_spec::image::Digest>()
            .unwrap(),
    )
}

/// Stores a config and manifest for `chain` and tags them as `name`.
fn tag_image(store: &Store, name: &str, chain: &SnapshotChain) -> (Digest, Digest) {
    let diff_ids: Vec<String> = chain.layers.iter().map(Digest::to_string).collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    })
    .to_string();
    let config_digest = store.blobs().put(config.as_bytes()).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "config": {"mediaType": media_types::OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": []
    })
    .to_string();
    let manifest_digest = store.blobs().put(manifest.as_bytes()).unwrap();
    let target = descriptor(
        media_types::OCI_MANIFEST,
        manifest.as_bytes(),
        &manifest_digest,
    );
    store
        .images()
        .tag(&ImageReference::parse(name).unwrap(), &target)
        .unwrap();
    (manifest_digest, config_digest)
}

#[test]
fn a_blob_with_the_wrong_digest_leaves_nothing_behind() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let wrong = Digest::of(b"what the registry promised");
    let err = store
        .blobs()
        .ingest(&mut &b"what arrived"[..], Some(&wrong))
        .unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert_eq!(entries(&root.path().join("blobs/sha256")), 0);
    assert_eq!(entries(&root.path().join("tmp")), 0);
    assert!(!store.blobs().contains(&wrong));

    let right = Digest::of(b"what arrived");
    let (digest, size) = store
        .blobs()
        .ingest(&mut &b"what arrived"[..], Some(&right))
        .unwrap();
    assert_eq!((digest.clone(), size), (right, 12));
    assert_eq!(store.blobs().read(&digest).unwrap(), b"what arrived");
    assert!(matches!(
        store.blobs().open(&wrong),
        Err(StoreError::BlobNotFound(_))
    ));
}

#[test]
fn opening_sweeps_staging_of_dead_processes_only() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let scratch = store.scratch_dir("context upload").unwrap();
    fs::write(scratch.path().join("part"), b"x").unwrap();

    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let dead = root
        .path()
        .join("tmp")
        .join(format!("{dead_pid}-1-0-upper"));
    fs::create_dir_all(dead.join("upper/etc")).unwrap();

    Store::open(root.path()).unwrap();
    assert!(!dead.exists());
    assert!(
        scratch.path().join("part").exists(),
        "a live process's staging was touched"
    );
    let path = scratch.path().to_path_buf();
    drop(scratch);
    assert!(!path.exists());
}

#[test]
fn check_finds_a_corrupt_blob_and_a_missing_snapshot_and_repair_fixes_both() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let base = commit_files(&store, &SnapshotChain::default(), "base", 1000);
    let top = commit_files(&store, &base, "top", 1000);
    store.index().record(&key("top"), &top, "{}", "b1").unwrap();
    store
        .index()
        .record(&key("base"), &base, "{}", "b1")
        .unwrap();
    let (manifest, _) = tag_image(&store, "app:1", &base);
    assert!(store.check(false).unwrap().is_clean());

    fs::write(
        root.path().join("blobs/sha256").join(manifest.hex()),
        b"{\"tampered\": true}",
    )
    .unwrap();
    fs::remove_dir_all(
        root.path()
            .join("snapshots")
            .join(top.chain_id().unwrap().hex()),
    )
    .unwrap();

    let report = store.check(false).unwrap();
    assert_eq!(report.corrupt_blobs, vec![manifest.clone()]);
    assert_eq!(report.missing_snapshots, vec![top.chain_id().unwrap()]);
    assert_eq!(
        report.broken_images,
        vec!["docker.io/library/app:1".to_string()]
    );
    assert_eq!(report.broken_records, vec![key("top")]);
    assert!(!report.repaired);
    assert!(
        store.index().lookup(&key("top")).unwrap().is_none(),
        "a broken record must miss"
    );

    let repaired = store.check(true).unwrap();
    assert!(repaired.repaired);
    assert_eq!(repaired.corrupt_blobs, report.corrupt_blobs);
    let after = store.check(false).unwrap();
    assert!(after.is_clean(), "{after:?}");
    assert!(!store.blobs().contains(&manifest));
    assert!(store.images().list().unwrap().is_empty());
    assert!(store.index().lookup(&key("base")).unwrap().is_some());
}

#[test]
fn prune_with_keep_storage_drops_the_least_recently_used_record_first() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    for name in ["one", "two", "three"] {
        let chain = commit_files(&store, &SnapshotChain::default(), name, 64 * 1024);
        store.index().record(&key(name), &chain, "{}", "b").unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(store.index().lookup(&key("one")).unwrap().is_some()); // "two" is now the oldest
    let usage = store.disk_usage().unwrap();
    assert!(usage.snapshots >= 3 * 64 * 1024, "{usage:?}");

    let report = store
        .prune(&PrunePolicy {
            keep_storage: Some(usage.snapshots - 1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!((report.records_removed, report.snapshots_removed), (1, 1));
    assert!(report.bytes_reclaimed >= 64 * 1024);
    assert!(store.index().lookup(&key("two")).unwrap().is_none());
    assert!(store.index().lookup(&key("one")).unwrap().is_some());
    assert!(store.index().lookup(&key("three")).unwrap().is_some());
    assert_eq!(entries(&root.path().join("snapshots")), 2);
    assert!(store.disk_usage().unwrap().snapshots < usage.snapshots);
    assert!(store.check(false).unwrap().is_clean());
}

#[test]
fn prune_all_keeps_tagged_images_and_what_live_leases_hold() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let tagged = commit_files(&store, &SnapshotChain::default(), "tagged", 4096);
    store
        .index()
        .record(&key("tagged"), &tagged, "{}", "b")
        .unwrap();
    let (manifest, config) = tag_image(&store, "app:1", &tagged);
    let unused = commit_files(&store, &SnapshotChain::default(), "unused", 4096);
    store
        .index()
        .record(&key("unused"), &unused, "{}", "b")
        .unwrap();
    let stray = store.blobs().put(b"an old manifest nobody names").unwrap();

    let lease = store.lease().unwrap();
    let in_progress = commit_files(&store, &SnapshotChain::default(), "in-progress", 4096);
    let other_handle = Store::open(root.path()).unwrap();
    let all = PrunePolicy {
        all: true,
        ..Default::default()
    };
    let report = other_handle.prune(&all).unwrap();
    assert_eq!(report.records_removed, 2);
    assert_eq!(
        report.snapshots_removed, 1,
        "only the unused snapshot may go"
    );
    assert_eq!(report.blobs_removed, 1);
    assert!(!store.blobs().contains(&stray));
    assert!(store.blobs().contains(&manifest) && store.blobs().contains(&config));
    assert_eq!(store.layers().lower_dirs(&tagged).unwrap().len(), 1);
    assert_eq!(store.layers().lower_dirs(&in_progress).unwrap().len(), 1);
    assert!(store.layers().lower_dirs(&unused).is_err());

    drop(lease);
    other_handle.prune(&all).unwrap();
    assert!(
        store.layers().lower_dirs(&in_progress).is_err(),
        "released lease still protects"
    );
    assert_eq!(store.layers().lower_dirs(&tagged).unwrap().len(), 1);
    assert!(store.check(false).unwrap().is_clean());
}

#[test]
fn disk_usage_separates_kinds() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let empty = store.disk_usage().unwrap();
    assert_eq!(empty.total(), 0);
    let chain = commit_files(&store, &SnapshotChain::default(), "layer", 10_000);
    let blob = store
        .layers()
        .layer_blob(&chain, 0, rbuild_cache::Compression::Gzip)
        .unwrap();
    store.blobs().put(b"config").unwrap();
    fs::write(root.path().join("cache-mounts/apt"), vec![0u8; 8192]).unwrap();
    let usage = store.disk_usage().unwrap();
    assert_eq!(usage.layer_blobs, blob.size());
    assert_eq!(usage.other_blobs, 6);
    assert!(usage.snapshots >= 10_000);
    assert!(usage.cache_mounts >= 8192);
    assert_eq!(usage.temp, 0);
}
