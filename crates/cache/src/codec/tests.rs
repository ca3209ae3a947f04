//! Tests of the layer codec on real directories (root is needed for devices, ownership and
//! `trusted.*` xattrs; the test environment and CI run as root).

use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use filetime::FileTime;
use rustix::fs::{FileType, Mode, CWD};

use super::*;
use crate::error::StoreError;

/// A layer with every kind of entry the codec handles.
fn populate(root: &Path, mtime: i64) {
    fs::create_dir_all(root.join("etc/app")).unwrap();
    fs::write(root.join("etc/app/config"), b"key=value\n").unwrap();
    fs::write(root.join("etc/app/setuid-tool"), vec![7u8; 3000]).unwrap();
    fs::set_permissions(
        root.join("etc/app/setuid-tool"),
        fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    std::os::unix::fs::lchown(root.join("etc/app/config"), Some(1000), Some(1001)).unwrap();
    fs::hard_link(root.join("etc/app/config"), root.join("etc/config-link")).unwrap();
    symlink("app/config", root.join("etc/symlink")).unwrap();
    let long_dir = root.join("deep").join("d".repeat(80)).join("e".repeat(80));
    fs::create_dir_all(&long_dir).unwrap();
    fs::write(long_dir.join("file-with-a-long-path"), b"long").unwrap();
    // Go's Walk order: "a" and its children before "a-b".
    fs::create_dir(root.join("a")).unwrap();
    fs::write(root.join("a/x"), b"").unwrap();
    fs::write(root.join("a-b"), b"").unwrap();
    mknod(&root.join("gone"), FileType::CharacterDevice, 0, 0); // overlay whiteout
    mknod(&root.join("etc/null"), FileType::CharacterDevice, 1, 3);
    mknod(&root.join("etc/fifo"), FileType::Fifo, 0, 0);
    fs::create_dir(root.join("opaque")).unwrap();
    fs::write(root.join("opaque/kept"), b"k").unwrap();
    xattr::set(root.join("opaque"), "trusted.overlay.opaque", b"y").unwrap();
    xattr::set(
        root.join("etc/app/setuid-tool"),
        "security.capability",
        &[1, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    )
    .unwrap();
    xattr::set(root.join("etc/app/config"), "user.origin", b"test").unwrap();
    xattr::set(
        root.join("etc/app/config"),
        "trusted.overlay.origin",
        b"ignored",
    )
    .unwrap();
    set_all_mtimes(root, mtime);
}

fn mknod(path: &Path, file_type: FileType, major: u32, minor: u32) {
    rustix::fs::mknodat(
        CWD,
        path,
        file_type,
        Mode::from_raw_mode(0o644),
        rustix::fs::makedev(major, minor),
    )
    .unwrap();
}

fn set_all_mtimes(root: &Path, mtime: i64) {
    let time = FileTime::from_unix_time(mtime, 0);
    for entry in walkdir::WalkDir::new(root).contents_first(true) {
        let entry = entry.unwrap();
        filetime::set_symlink_file_times(entry.path(), time, time).unwrap();
    }
}

fn tar_of(root: &Path, epoch: Option<i64>) -> Vec<u8> {
    let mut out = Vec::new();
    let summary = write_snapshot_tar(root, epoch, &mut out).unwrap();
    assert_eq!(summary.tar_size, out.len() as u64);
    out
}

fn extract(tar: &[u8], dest: &Path) -> Result<u64, StoreError> {
    let mut reader: &[u8] = tar;
    extract_layer_tar(&mut reader, dest)
}

/// (path, entry type, link name) of every entry.
fn listing(tar: &[u8]) -> Vec<(String, tar::EntryType, String)> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let link = e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default();
            (
                String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                e.header().entry_type(),
                link,
            )
        })
        .collect()
}

#[test]
fn the_same_directory_always_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 1_600_000_000);
    let first = tar_of(dir.path(), None);
    let second = tar_of(dir.path(), None);
    assert_eq!(first, second);
    assert_eq!(first.len() % 512, 0);
    assert!(first.ends_with(&[0; 1024]));
}

#[test]
fn epoch_clamps_newer_mtimes_so_rebuilds_match() {
    let built_monday = tempfile::tempdir().unwrap();
    let built_tuesday = tempfile::tempdir().unwrap();
    populate(built_monday.path(), 1_700_000_000);
    populate(built_tuesday.path(), 1_700_086_400);
    let epoch = Some(1_500_000_000);
    assert_ne!(
        tar_of(built_monday.path(), None),
        tar_of(built_tuesday.path(), None)
    );
    let clamped = tar_of(built_monday.path(), epoch);
    assert_eq!(clamped, tar_of(built_tuesday.path(), epoch));
    let mut archive = tar::Archive::new(clamped.as_slice());
    for entry in archive.entries().unwrap() {
        assert_eq!(entry.unwrap().header().mtime().unwrap(), 1_500_000_000);
    }
    // An epoch later than every mtime changes nothing.
    assert_eq!(
        tar_of(built_monday.path(), Some(1_800_000_000)),
        tar_of(built_monday.path(), None)
    );
}

#[test]
fn entries_follow_go_walk_order_and_oci_whiteout_form() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 1_600_000_000);
    let entries = listing(&tar_of(dir.path(), None));
    let names: Vec<&str> = entries.iter().map(|(n, _, _)| n.as_str()).collect();
    let position = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("{name} missing from {names:?}"))
    };
    assert_eq!(names[0], "a/");
    assert!(position("a/x") < position("a-b"));
    assert_eq!(position("opaque/.wh..wh..opq"), position("opaque/") + 1);
    assert!(position(".wh.gone") < position("opaque/"));
    assert!(!names.contains(&"gone"));
    assert!(names
        .iter()
        .any(|n| n.len() > 100 && n.ends_with("file-with-a-long-path")));

    let (_, kind, link) = &entries[position("etc/config-link")];
    assert_eq!(*kind, tar::EntryType::Link);
    assert_eq!(link, "etc/app/config");
    let (_, kind, _) = &entries[position("etc/app/config")];
    assert_eq!(*kind, tar::EntryType::Regular);
    let (_, kind, link) = &entries[position("etc/symlink")];
    assert_eq!(
        (*kind, link.as_str()),
        (tar::EntryType::Symlink, "app/config")
    );
    assert_eq!(entries[position("etc/null")].1, tar::EntryType::Char);
    assert_eq!(entries[position("etc/fifo")].1, tar::EntryType::Fifo);
}

/// Go's walk order, computed the plain way: names sorted per directory, depth first.
fn walk_order(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        if path.is_dir() {
            out.push(format!("{rel}/"));
            walk_order(root, &path, out);
        } else {
            out.push(rel);
        }
    }
}

#[test]
fn entries_read_ahead_in_batches_keep_walk_order_and_content() {
    // More children than one read-ahead batch, directories between files, and files on
    // both sides of the read-ahead size limit.
    let dir = tempfile::tempdir().unwrap();
    for i in 0..300u32 {
        let name = format!("n{i:03}");
        if i % 37 == 0 {
            fs::create_dir_all(dir.path().join(&name).join("inner")).unwrap();
            fs::write(dir.path().join(&name).join("inner/f"), name.as_bytes()).unwrap();
        } else {
            let size = if i % 50 == 1 {
                70 * 1024 + i as usize
            } else {
                i as usize
            };
            fs::write(dir.path().join(&name), vec![i as u8; size]).unwrap();
        }
    }
    let tar = tar_of(dir.path(), None);
    // On a rayon worker the walk reads one entry after another: the same bytes.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    assert!(pool.install(|| tar_of(dir.path(), None)) == tar);
    let mut expected = Vec::new();
    walk_order(dir.path(), dir.path(), &mut expected);
    let names: Vec<String> = listing(&tar).into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(names, expected);
    let mut archive = tar::Archive::new(&tar[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if entry.header().entry_type() == tar::EntryType::Regular {
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            assert_eq!(content, fs::read(dir.path().join(&name)).unwrap(), "{name}");
        }
    }
}

#[test]
fn headers_carry_ids_modes_and_portable_xattrs_but_no_names() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 1_600_000_000);
    let tar = tar_of(dir.path(), None);
    let mut archive = tar::Archive::new(tar.as_slice());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let header = entry.header().clone();
        assert_eq!(header.username_bytes(), Some(&b""[..]), "{path}");
        let xattrs: Vec<(String, Vec<u8>)> = entry
            .pax_extensions()
            .unwrap()
            .map(|exts| {
                exts.map(|e| e.unwrap())
                    .filter(|e| e.key().unwrap().starts_with("SCHILY.xattr."))
                    .map(|e| (e.key().unwrap().to_string(), e.value_bytes().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        match path.as_str() {
            "etc/app/config" => {
                assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (1000, 1001));
                assert_eq!(
                    xattrs,
                    vec![("SCHILY.xattr.user.origin".to_string(), b"test".to_vec())]
                );
            }
            "etc/app/setuid-tool" => {
                assert_eq!(header.mode().unwrap(), 0o4755);
                assert_eq!(header.size().unwrap(), 3000);
                assert_eq!(xattrs[0].0, "SCHILY.xattr.security.capability");
            }
            ".wh.gone" => {
                assert_eq!(header.entry_type(), tar::EntryType::Regular);
                assert_eq!((header.mode().unwrap(), header.size().unwrap()), (0o600, 0));
            }
            "opaque/" => assert!(xattrs.is_empty(), "overlay xattrs must not leak"),
            _ => {}
        }
    }
}

#[test]
fn tar_to_snapshot_to_tar_is_identical_and_restores_overlay_form() {
    let source = tempfile::tempdir().unwrap();
    populate(source.path(), 1_600_000_000);
    let tar = tar_of(source.path(), None);
    let unpacked = tempfile::tempdir().unwrap();
    extract(&tar, unpacked.path()).unwrap();
    assert_eq!(tar_of(unpacked.path(), None), tar);

    let whiteout = fs::symlink_metadata(unpacked.path().join("gone")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &whiteout.file_type()
    ));
    assert_eq!(whiteout.rdev(), 0);
    assert!(!unpacked.path().join(".wh.gone").exists());
    assert_eq!(
        xattr::get(unpacked.path().join("opaque"), "trusted.overlay.opaque").unwrap(),
        Some(b"y".to_vec())
    );
    assert!(!unpacked.path().join("opaque/.wh..wh..opq").exists());
    let config = fs::metadata(unpacked.path().join("etc/app/config")).unwrap();
    let link = fs::metadata(unpacked.path().join("etc/config-link")).unwrap();
    assert_eq!(config.ino(), link.ino());
    assert_eq!((config.uid(), config.gid()), (1000, 1001));
    assert_eq!(
        fs::metadata(unpacked.path().join("etc/app/setuid-tool"))
            .unwrap()
            .mode()
            & 0o7777,
        0o4755
    );
    assert_eq!(
        xattr::get(
            unpacked.path().join("etc/app/config"),
            "trusted.overlay.origin"
        )
        .unwrap(),
        None
    );
}

#[test]
fn an_empty_directory_gives_an_empty_tar() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let summary = write_snapshot_tar(dir.path(), None, &mut out).unwrap();
    assert_eq!(summary.entries, 0);
    assert_eq!(out, vec![0; 1024]);
}

#[test]
fn compressed_layers_extract_like_plain_ones() {
    let source = tempfile::tempdir().unwrap();
    populate(source.path(), 1_600_000_000);
    let tar = tar_of(source.path(), None);
    for compression in [Compression::Gzip, Compression::Zstd] {
        let mut encoder = compression.encoder(Vec::new()).unwrap();
        std::io::Write::write_all(&mut encoder, &tar).unwrap();
        let blob = encoder.finish().unwrap();
        let mut plain = Vec::new();
        decompressed(blob.as_slice())
            .unwrap()
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, tar);
    }
}

/// A tar written header by header, for entries a well-behaved writer never makes.
/// (name, type, link name, content) of one raw entry.
type RawEntry<'a> = (&'a [u8], tar::EntryType, &'a [u8], &'a [u8]);

fn hostile_tar(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link, data) in entries {
        let mut header = tar::Header::new_ustar();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        header.set_entry_type(*kind);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(data.len() as u64);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

fn assert_rejected(tar: &[u8]) {
    let outside = tempfile::tempdir().unwrap();
    let dest = outside.path().join("layer");
    fs::create_dir(&dest).unwrap();
    let err = extract(tar, &dest).unwrap_err();
    assert!(matches!(err, StoreError::UnsafeLayerEntry { .. }), "{err}");
    let escaped: Vec<_> = fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        escaped,
        vec!["layer"],
        "something was written outside the layer"
    );
}

#[test]
fn dot_dot_and_absolute_names_are_rejected() {
    for name in [&b"../evil"[..], b"ok/../../evil", b"/evil"] {
        assert_rejected(&hostile_tar(&[(name, tar::EntryType::Regular, b"", b"x")]));
    }
}

#[test]
fn writing_through_a_symlink_in_the_layer_is_rejected() {
    assert_rejected(&hostile_tar(&[
        (b"link", tar::EntryType::Symlink, b"..", b""),
        (b"link/evil", tar::EntryType::Regular, b"", b"x"),
    ]));
    assert_rejected(&hostile_tar(&[
        (b"link", tar::EntryType::Symlink, b"/", b""),
        (b"link/.wh.evil", tar::EntryType::Regular, b"", b""),
    ]));
}

#[test]
fn hardlinks_must_point_inside_the_layer() {
    for target in [&b"../../etc/passwd"[..], b"not-there"] {
        assert_rejected(&hostile_tar(&[(
            b"link",
            tar::EntryType::Link,
            target,
            b"",
        )]));
    }
}

#[test]
fn later_entries_replace_earlier_ones_and_implicit_parents_are_created() {
    let dest = tempfile::tempdir().unwrap();
    let tar = hostile_tar(&[
        (b"x", tar::EntryType::Directory, b"", b""),
        (b"x/inner", tar::EntryType::Regular, b"", b"1"),
        (b"x", tar::EntryType::Regular, b"", b"now a file"),
        (b"implicit/dir/file", tar::EntryType::Regular, b"", b"f"),
    ]);
    assert_eq!(extract(&tar, dest.path()).unwrap(), 4);
    assert_eq!(fs::read(dest.path().join("x")).unwrap(), b"now a file");
    assert_eq!(
        fs::read(dest.path().join("implicit/dir/file")).unwrap(),
        b"f"
    );
    assert_eq!(
        fs::metadata(dest.path().join("implicit")).unwrap().mtime(),
        0
    );
}

mod round_trip_property {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// Files under three directories: (directory, name) → (content, mode, mtime).
    fn trees() -> impl Strategy<Value = BTreeMap<(u8, String), (Vec<u8>, u32, i64)>> {
        let name = "[a-z][a-z0-9._ -]{0,150}";
        let file = (
            proptest::collection::vec(any::<u8>(), 0..3000),
            prop_oneof![Just(0o644u32), Just(0o755), Just(0o4711), Just(0o600)],
            0i64..4_000_000_000,
        );
        proptest::collection::btree_map((0u8..3, name), file, 1..24)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_tree_survives_tar_extract_tar_byte_for_byte(tree in trees(), epoch in proptest::option::of(0i64..4_000_000_000)) {
            let source = tempfile::tempdir().unwrap();
            for ((dir, name), (content, mode, mtime)) in &tree {
                let path = source.path().join(format!("d{dir}")).join(name);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(&path, content).unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).unwrap();
                let time = FileTime::from_unix_time(*mtime, 0);
                filetime::set_file_times(&path, time, time).unwrap();
            }
            let tar = tar_of(source.path(), epoch);
            prop_assert_eq!(&tar_of(source.path(), epoch), &tar);
            let unpacked = tempfile::tempdir().unwrap();
            extract(&tar, unpacked.path()).unwrap();
            prop_assert_eq!(tar_of(unpacked.path(), None), tar);
        }
    }
}
