//! End-to-end: cache keys depend on what the context files hold, not on where the context
//! lives or on file metadata. Renaming the context directory, re-cloning it (new inodes and
//! mtimes) and touching every file re-run no step and give the same image.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::{assert_success, copy_dir, repo_dir, stderr, stdout, steps, TestStore};

/// Builds `context`; returns the image id and the (step, cached) list.
fn build(store: &TestStore, context: &Path) -> (String, Vec<(String, bool)>) {
    let out = store.build(context, &["-t", "identity:1"]);
    assert_success(&out, &format!("build of {}", context.display()));
    (stdout(&out).trim().to_string(), steps(&stderr(&out)))
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_below(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn assert_nothing_ran(what: &str, steps: &[(String, bool)]) {
    assert!(!steps.is_empty(), "{what}: no steps reported");
    for (name, cached) in steps {
        assert!(cached, "{what}: {name} ran again");
    }
}

#[test]
fn renamed_recloned_and_touched_contexts_rerun_no_step() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let parent = tempfile::tempdir().unwrap();
    let checkout = parent.path().join("checkout");
    copy_dir(&repo_dir().join("testdata/hello"), &checkout);

    let (image, first) = build(&store, &checkout);
    assert!(first
        .iter()
        .any(|(name, cached)| name.contains("RUN") && !cached));

    let renamed = parent.path().join("renamed");
    fs::rename(&checkout, &renamed).unwrap();
    let (after_rename, renamed_steps) = build(&store, &renamed);
    assert_nothing_ran("renamed context", &renamed_steps);
    assert_eq!(after_rename, image);

    // A fresh copy: every file gets a new inode and a new mtime.
    let clone = parent.path().join("clone");
    copy_dir(&renamed, &clone);
    let (after_clone, clone_steps) = build(&store, &clone);
    assert_nothing_ran("re-cloned context", &clone_steps);
    assert_eq!(after_clone, image);

    let later = SystemTime::now() + Duration::from_secs(7200);
    for file in files_below(&clone) {
        fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(later)
            .unwrap();
    }
    let (after_touch, touched_steps) = build(&store, &clone);
    assert_nothing_ran("touched context", &touched_steps);
    assert_eq!(after_touch, image);
}
