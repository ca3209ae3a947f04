use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use filetime::FileTime;

use super::*;
use crate::memo::{InMemoryMemo, NoMemo};
use crate::patterns::PathPatterns;
use crate::select::{select_sources, SelectOptions};

const AN_HOUR_AGO: i64 = 3600;

fn build_context(root: &Path) {
    std::fs::create_dir_all(root.join("src/empty")).unwrap();
    std::fs::write(root.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(root.join("src/big.bin"), vec![7u8; 3 * CHUNK + 17]).unwrap();
    std::fs::write(root.join("run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    symlink("main.rs", root.join("src/current")).unwrap();
    age_files(root);
}

/// Sets every file's mtime an hour back, so hashing treats it as settled.
fn age_files(root: &Path) {
    let past = FileTime::from_unix_time(now_ns() / 1_000_000_000 - AN_HOUR_AGO, 0);
    for rel in ["src/main.rs", "src/Main.rs", "src/big.bin", "run.sh"] {
        if root.join(rel).exists() {
            filetime::set_file_mtime(root.join(rel), past).unwrap();
        }
    }
}

fn digest_of(root: &Path, memo: &dyn DigestMemo) -> Digest {
    let none = PathPatterns::default();
    let opts = SelectOptions {
        excludes: &none,
        follow_top_symlinks: true,
        allow_empty_wildcard: false,
    };
    let sources = ["src".to_string(), "*.sh".to_string()];
    let matches = select_sources(root, &sources, &opts).unwrap();
    digest_selection(&matches, memo).unwrap()
}

#[test]
fn renaming_the_root_or_touching_files_keeps_the_digest() {
    let parent = tempfile::tempdir().unwrap();
    let first = parent.path().join("checkout-1");
    std::fs::create_dir(&first).unwrap();
    build_context(&first);
    let original = digest_of(&first, &NoMemo);

    let second = parent.path().join("renamed");
    std::fs::rename(&first, &second).unwrap();
    assert_eq!(
        digest_of(&second, &NoMemo),
        original,
        "renaming the root changed the digest"
    );

    let now = FileTime::now();
    for rel in ["src/main.rs", "run.sh", "src"] {
        filetime::set_file_times(second.join(rel), now, now).unwrap();
    }
    assert_eq!(
        digest_of(&second, &NoMemo),
        original,
        "touching files changed the digest"
    );
}

#[test]
fn any_content_mode_name_or_link_change_changes_the_digest() {
    type Change = fn(&Path);
    let changes: [(&str, Change); 6] = [
        ("file bytes", |root| {
            std::fs::write(root.join("src/main.rs"), "fn main() { }\n").unwrap()
        }),
        ("one byte of a large file", |root| {
            let mut bytes = std::fs::read(root.join("src/big.bin")).unwrap();
            bytes[2 * CHUNK + 3] = 8;
            std::fs::write(root.join("src/big.bin"), bytes).unwrap();
        }),
        ("permission bits", |root| {
            std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o700))
                .unwrap()
        }),
        ("a file name", |root| {
            std::fs::rename(root.join("src/main.rs"), root.join("src/Main.rs")).unwrap()
        }),
        ("a symlink target", |root| {
            std::fs::remove_file(root.join("src/current")).unwrap();
            symlink("big.bin", root.join("src/current")).unwrap();
        }),
        ("an empty directory", |root| {
            std::fs::create_dir(root.join("src/empty/more")).unwrap()
        }),
    ];
    let base = tempfile::tempdir().unwrap();
    build_context(base.path());
    let original = digest_of(base.path(), &NoMemo);
    for (what, change) in changes {
        let dir = tempfile::tempdir().unwrap();
        build_context(dir.path());
        assert_eq!(
            digest_of(dir.path(), &NoMemo),
            original,
            "fresh copy before changing {what}"
        );
        change(dir.path());
        age_files(dir.path());
        assert_ne!(
            digest_of(dir.path(), &NoMemo),
            original,
            "changing {what} kept the digest"
        );
    }
}

#[test]
fn memo_hits_skip_reading_and_new_digests_are_remembered() {
    let dir = tempfile::tempdir().unwrap();
    build_context(dir.path());
    let memo = InMemoryMemo::new();
    let cold = digest_of(dir.path(), &memo);
    assert_eq!(memo.len(), 3, "every settled file is remembered");
    let main_rs = dir.path().join("src/main.rs");
    let stamp = crate::select::entry::stamp_of(&std::fs::symlink_metadata(&main_rs).unwrap());
    assert_eq!(
        memo.get(&main_rs, &stamp),
        Some(Digest::of(b"fn main() {}\n"))
    );
    assert_eq!(
        digest_of(dir.path(), &memo),
        cold,
        "a warm run gives the same digest"
    );

    // A memo entry under the file's exact stamp is trusted without reading the file.
    memo.put_many(&[(main_rs.clone(), stamp, Digest::of(b"something else"))]);
    assert_ne!(
        digest_of(dir.path(), &memo),
        cold,
        "the memo entry was not used"
    );
}

#[test]
fn recently_modified_files_are_not_remembered() {
    let dir = tempfile::tempdir().unwrap();
    build_context(dir.path());
    std::fs::write(dir.path().join("src/main.rs"), "fn main() { run() }\n").unwrap();
    let memo = InMemoryMemo::new();
    digest_of(dir.path(), &memo);
    assert_eq!(
        memo.len(),
        2,
        "the file written just now must not be remembered"
    );
}

#[test]
fn file_digests_name_each_file_in_selection_order() {
    let root = tempfile::tempdir().unwrap();
    build_context(root.path());
    let none = PathPatterns::default();
    let opts = SelectOptions {
        excludes: &none,
        follow_top_symlinks: true,
        allow_empty_wildcard: false,
    };
    let matches = select_sources(root.path(), &["src".to_string()], &opts).unwrap();
    let memo = InMemoryMemo::new();
    let detailed = digest_selection_with_files(&matches, &memo).unwrap();
    assert_eq!(
        detailed.digest,
        digest_selection(&matches, &NoMemo).unwrap()
    );
    let files: Vec<&SelectedEntry> = matches
        .iter()
        .flat_map(|m| &m.entries)
        .filter(|e| e.kind == EntryKind::File)
        .collect();
    assert_eq!(files.len(), 2);
    assert_eq!(detailed.file_digests.len(), files.len());
    for (entry, digest) in files.iter().zip(&detailed.file_digests) {
        let bytes = std::fs::read(&entry.host_path).unwrap();
        assert_eq!(*digest, Digest::of(&bytes), "{}", entry.rel_path);
    }
    // Memo hits report the same digests.
    let again = digest_selection_with_files(&matches, &memo).unwrap();
    assert_eq!(again, detailed);
}

#[test]
fn the_racy_window_is_one_tick_of_the_timestamps_own_precision() {
    let reading_from = 1_800_000_000 * NS_PER_SECOND + 500_000_000;
    let modified = |mtime_ns| FileStamp {
        size: 1,
        mtime_ns,
        ctime_ns: mtime_ns,
        inode: 1,
        device: 1,
    };
    // Nanosecond timestamps: only the last 100 ms (and anything later) are racy.
    assert!(is_racy(&modified(reading_from - 50_000_000), reading_from));
    assert!(is_racy(&modified(reading_from + 1), reading_from));
    assert!(!is_racy(
        &modified(reading_from - 150_000_001),
        reading_from
    ));
    // Whole seconds may come from a file system that keeps nothing finer: two seconds.
    let second_before = 1_799_999_999 * NS_PER_SECOND;
    assert!(is_racy(&modified(second_before), reading_from));
    assert!(!is_racy(
        &modified(1_799_999_997 * NS_PER_SECOND),
        reading_from
    ));
}

#[test]
fn a_file_settled_for_a_fraction_of_a_second_is_remembered() {
    let dir = tempfile::tempdir().unwrap();
    build_context(dir.path());
    let main_rs = dir.path().join("src/main.rs");
    std::fs::write(&main_rs, "fn main() { run() }\n").unwrap();
    // Half a second back, with nanoseconds: settled on a file system with fine timestamps.
    let settled = now_ns() - 500_000_000;
    let mtime = FileTime::from_unix_time(
        settled / NS_PER_SECOND,
        (settled % NS_PER_SECOND) as u32 | 1,
    );
    filetime::set_file_mtime(&main_rs, mtime).unwrap();
    let memo = InMemoryMemo::new();
    digest_of(dir.path(), &memo);
    assert_eq!(
        memo.len(),
        3,
        "the file half a second old must be remembered"
    );
}
