//! End-to-end: the first OCI export of an image writes each new layer blob into the archive
//! as it is compressed, a later export copies the stored blobs, and both are the same
//! bytes: layer blobs first in manifest order, then the other files by name.

mod common;

use std::fs;
use std::path::Path;

use common::{assert_success, context_copy, TestStore};
use serde_json::Value;

fn export(store: &TestStore, context: &Path, tar: &Path) {
    let out = store.build(
        context,
        &[
            "-t",
            "hello:1.0",
            "-o",
            &format!("type=oci,dest={}", tar.display()),
        ],
    );
    assert_success(&out, "build and export hello");
}

/// The archive's entry names, in order.
fn entry_names(tar: &Path) -> Vec<String> {
    let mut archive = tar::Archive::new(fs::File::open(tar).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|entry| entry.unwrap().path().unwrap().display().to_string())
        .collect()
}

/// `blobs/sha256/<hex>` of each layer the archive's manifest lists, in order.
fn layer_entries(tar: &Path) -> Vec<String> {
    let mut archive = tar::Archive::new(fs::File::open(tar).unwrap());
    let mut files = std::collections::HashMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        files.insert(name, bytes);
    }
    let entry_of = |digest: &Value| format!("blobs/{}", digest.as_str().unwrap().replace(':', "/"));
    let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let manifest: Value =
        serde_json::from_slice(&files[&entry_of(&index["manifests"][0]["digest"])]).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| entry_of(&layer["digest"]))
        .collect()
}

#[test]
fn a_first_export_streams_new_layers_and_equals_a_later_export_of_stored_blobs() {
    require_sandbox!();
    let context = context_copy("hello");
    let store = TestStore::with_busybox();
    let out = tempfile::tempdir().unwrap();
    let (first, second) = (out.path().join("first.tar"), out.path().join("second.tar"));
    export(&store, context.path(), &first);
    export(&store, context.path(), &second);
    assert_eq!(fs::read(&first).unwrap(), fs::read(&second).unwrap());

    let layers = layer_entries(&first);
    assert!(layers.len() >= 3, "{layers:?}");
    let names = entry_names(&first);
    let mut expected = vec!["blobs/".to_string(), "blobs/sha256/".to_string()];
    expected.extend(layers.iter().cloned());
    assert_eq!(names[..expected.len()], expected[..], "{names:?}");
    let rest = &names[expected.len()..];
    let mut sorted = rest.to_vec();
    sorted.sort();
    assert_eq!(rest, &sorted[..]);
    assert_eq!(rest.last().map(String::as_str), Some("oci-layout"));

    // Each streamed entry is its blob: the bytes hash to the name its header got.
    let mut archive = tar::Archive::new(fs::File::open(&first).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        if !layers.contains(&name) {
            continue;
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        assert_eq!(name, format!("blobs/sha256/{digest}"));
    }
}
