//! Seeded fuzzing of the manifest and index JSON readers: the busybox layout's index.json
//! and manifests (../shared/images/busybox), byte-mutated. A mutated index.json is read as
//! is; a mutated manifest is stored under its own digest and named by the index, so the
//! parser (not the digest check) meets it. Nothing may panic. `scripts/fuzz` runs it with
//! more cases (PROPTEST_CASES).

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use rbuild_oci::{Digest, Platform};

fn layout_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/images/busybox")
}

/// The seed documents: index.json and every small JSON blob of the layout.
fn seeds() -> Vec<Vec<u8>> {
    let dir = layout_dir();
    let mut seeds = vec![fs::read(dir.join("index.json")).unwrap_or_default()];
    if let Ok(entries) = fs::read_dir(dir.join("blobs/sha256")) {
        for entry in entries.flatten() {
            if entry.metadata().is_ok_and(|m| m.len() < 16 * 1024) {
                seeds.push(fs::read(entry.path()).unwrap_or_default());
            }
        }
    }
    seeds
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, bool)]) -> Vec<u8> {
    for &(at, byte, insert) in edits {
        let at = at % (bytes.len() + 1);
        if insert || at == bytes.len() {
            bytes.insert(at, byte);
        } else {
            bytes[at] = byte;
        }
    }
    bytes
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(96)
}

fn read_all(dir: &Path) {
    let Ok(archive) = rbuild_archive::open(dir) else {
        return;
    };
    let _ = archive.images();
    for platform in ["linux/amd64", "linux/arm64"] {
        let _ = archive.select(None, &Platform::parse_list(platform).unwrap()[0]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn mutated_documents_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<bool>()), 1..6),
        as_index in any::<bool>(),
    ) {
        let seeds = seeds();
        prop_assume!(!seeds[0].is_empty());
        let document = mutate(seeds[pick.index(seeds.len())].clone(), &edits);
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs/sha256");
        fs::create_dir_all(&blobs).unwrap();
        fs::write(dir.path().join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        if as_index {
            fs::write(dir.path().join("index.json"), &document).unwrap();
        } else {
            let digest = Digest::of(&document);
            fs::write(blobs.join(digest.hex()), &document).unwrap();
            let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest.to_string(), "size": document.len(),
            }, {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": digest.to_string(), "size": document.len(),
            }]});
            fs::write(dir.path().join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        }
        read_all(dir.path());
    }
}
