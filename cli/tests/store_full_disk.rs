//! End-to-end: a store whose filesystem is 100 % full. A build fails saying "no space left
//! on device" with the path; `images`, `cache du` and `cache prune --all` still work (the
//! store's space reserve makes room to open it), and once space is back `cache check`
//! finds nothing broken and the build that failed works. The store lives on a small tmpfs mounted by
//! the test and unmounted however it ends.

mod common;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_success, context_from, du_total, stderr, stdout, TestStore};

/// A store on a 64 MiB tmpfs of its own; unmounted when dropped (before its mount point
/// is removed).
struct TmpfsStore {
    store: TestStore,
}

impl TmpfsStore {
    fn mount() -> Option<TmpfsStore> {
        let store = TestStore::empty();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64m", "rbuild-full-disk"])
            .arg(store.root())
            .status()
            .ok()?
            .success();
        mounted.then_some(TmpfsStore { store })
    }

    fn filler(&self) -> PathBuf {
        self.store.root().join("filler")
    }
}

impl Drop for TmpfsStore {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(self.store.root()).status();
        if !unmounted.is_ok_and(|s| s.success()) {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.store.root())
                .status();
        }
    }
}

/// Writes `path` until the filesystem has no byte left.
fn fill(path: &Path) {
    let mut file = File::create(path).expect("create the filler");
    let chunk = vec![0xa5u8; 1 << 20];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling: {e}"),
        }
    }
    // Whatever a partial block left: single bytes until none fits.
    while file.write(&[0]).is_ok_and(|n| n == 1) {}
    let _ = file.sync_all();
}

#[test]
fn a_full_store_filesystem_can_be_inspected_pruned_and_checked() {
    require_sandbox!();
    let Some(tmpfs) = TmpfsStore::mount() else {
        println!(
            "RBUILD-TEST-SKIPPED: {}: cannot mount a tmpfs",
            module_path!()
        );
        return;
    };
    let store = &tmpfs.store;
    let load = store.rbuild(&["load".as_ref(), common::busybox_layout().as_os_str()]);
    assert_success(&load, "load busybox");
    let kept = context_from(&[("Dockerfile", "FROM busybox\nRUN echo kept > /kept\n")]);
    assert_success(&store.build(kept.path(), &["-t", "kept:1"]), "tagged build");
    let bulky = context_from(&[(
        "Dockerfile",
        "FROM busybox\nRUN head -c 3000000 /dev/urandom > /bulk\n",
    )]);
    // No cleanup after it (10 % of the tmpfs is less than this): prune has work to do.
    let no_gc = ["--gc-keep-storage", "off"];
    assert_success(&store.build(bulky.path(), &no_gc), "untagged build");

    fill(&tmpfs.filler());
    let other = context_from(&[("Dockerfile", "FROM busybox\nRUN echo other > /other\n")]);
    let failed = store.build(other.path(), &[]);
    assert!(!failed.status.success(), "a build on a full disk succeeded");
    let message = stderr(&failed);
    assert!(
        message.contains("no space left on device")
            && message.contains(&store.root().display().to_string()),
        "{message}"
    );

    let images = store.rbuild(&["images"]);
    assert_success(&images, "images on a full disk");
    assert!(stdout(&images).contains("kept"), "{}", stdout(&images));
    let before = du_total(store);
    let prune = store.rbuild(&["cache", "prune", "--all"]);
    assert_success(&prune, "cache prune --all on a full disk");
    let after = du_total(store);
    assert!(
        after + 3_000_000 <= before,
        "prune reclaimed too little: {before} -> {after} ({})",
        stdout(&prune)
    );

    std::fs::remove_file(tmpfs.filler()).unwrap();
    let check = store.rbuild(&["cache", "check"]);
    assert_success(&check, "cache check");
    assert!(stdout(&check).contains("no damage"), "{}", stdout(&check));
    assert_success(
        &store.build(other.path(), &[]),
        "a build once the disk has room",
    );
}
