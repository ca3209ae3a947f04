//! Structure-aware fuzzing of the layer tar reader: random entry lists drawn from hostile
//! parts (`..`, absolute names, `.wh.` names, links in and out), written as tars and
//! byte-mutated. The checker and the extractor must never panic, the extractor must never
//! write beside its root, and what the checker passes the extractor must take.
//! `scripts/fuzz` runs it with more cases (PROPTEST_CASES).

use proptest::prelude::*;
use tar::EntryType;

use super::{check_layer_tar, extract_layer_tar};

const PARTS: &[&str] = &[
    "a",
    "b",
    "..",
    ".",
    "",
    ".wh.a",
    ".wh..wh..opq",
    ".wh.",
    "etc",
];

fn name() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::collection::vec(prop::sample::select(PARTS), 1..4),
    )
        .prop_map(|(absolute, parts)| {
            format!("{}{}", if absolute { "/" } else { "" }, parts.join("/"))
        })
}

fn entry() -> impl Strategy<Value = (String, EntryType, String)> {
    let kind = prop::sample::select(vec![
        EntryType::Regular,
        EntryType::Directory,
        EntryType::Symlink,
        EntryType::Link,
        EntryType::Fifo,
    ]);
    (name(), kind, name())
}

fn tar_of(entries: &[(String, EntryType, String)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, link) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_size(if *kind == EntryType::Regular { 3 } else { 0 });
        header.set_mode(0o755);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        let raw = header.as_old_mut();
        let name = &name.as_bytes()[..name.len().min(99)];
        raw.name[..name.len()].copy_from_slice(name);
        let link = &link.as_bytes()[..link.len().min(99)];
        raw.linkname[..link.len()].copy_from_slice(link);
        header.set_cksum();
        let body: &[u8] = if *kind == EntryType::Regular {
            b"abc"
        } else {
            b""
        };
        builder.append(&header, body).unwrap();
    }
    builder.into_inner().unwrap()
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn hostile_layers_are_checked_and_extracted_safely(
        entries in prop::collection::vec(entry(), 0..8),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..3),
    ) {
        let mut bytes = tar_of(&entries);
        for (at, byte) in flips {
            let len = bytes.len();
            bytes[at % len] = byte;
        }
        let checked = check_layer_tar(&mut bytes.as_slice());
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let extracted = extract_layer_tar(&mut bytes.as_slice(), &root);
        let beside: Vec<_> = std::fs::read_dir(base.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        prop_assert_eq!(beside, vec![std::ffi::OsString::from("root")]);
        if checked.is_ok() {
            prop_assert!(extracted.is_ok(), "checked but not extractable: {:?} {:?}", entries, extracted.err());
        }
    }
}
