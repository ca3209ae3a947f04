//! Incremental COPY: a COPY from the context that misses the cache after a few files
//! changed links the unchanged files from the earlier snapshot of the same step, and makes
//! the same layer a full copy makes — the same snapshot tree and the same layer tar (diff
//! id) as a fresh store building the edited context; pruning the earlier snapshot leaves
//! the new one whole; a link that fails falls back to a full copy.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_success, stderr, stdout, TestStore};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const PLAIN: &str = "FROM busybox\nCOPY . /app\nRUN cat /app/a/f1 /app/a/f2\n";
const CHOWN_CHMOD: &str = "FROM busybox\nCOPY --chown=1:2 --chmod=750 . /app\n";

/// A context of 2 × 20 files (and `Dockerfile`).
fn context(dockerfile: &str) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("rbuild-ctx-")
        .tempdir()
        .unwrap();
    fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    for sub in ["a", "b"] {
        fs::create_dir(dir.path().join(sub)).unwrap();
        for i in 1..=20 {
            fs::write(
                dir.path().join(format!("{sub}/f{i}")),
                format!("{sub} {i}\n"),
            )
            .unwrap();
        }
    }
    dir
}

/// One file edited, one added, one deleted.
fn edit(context: &Path) {
    fs::write(context.join("a/f1"), "edited\n").unwrap();
    fs::write(context.join("b/new"), "added\n").unwrap();
    fs::remove_file(context.join("b/f3")).unwrap();
}

fn build(store: &TestStore, context: &Path, tag: &str) -> String {
    build_with(store, context, tag, &[])
}

fn build_with(store: &TestStore, context: &Path, tag: &str, extra: &[&str]) -> String {
    let mut args = vec!["-t", tag];
    args.extend_from_slice(extra);
    let out = store.build(context, &args);
    assert_success(&out, &format!("build {tag}"));
    stderr(&out) + &stdout(&out)
}

/// The layer diff ids of image `tag`.
fn diff_ids(store: &TestStore, tag: &str) -> String {
    let out = store.rbuild(&["inspect", "--format", "{{json .RootFS}}", tag]);
    assert_success(&out, "inspect");
    stdout(&out)
}

/// The snapshot directory holding `rel` (exactly one must).
fn snapshot_with(store: &TestStore, rel: &str) -> PathBuf {
    let found: Vec<PathBuf> = fs::read_dir(store.root().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|dir| dir.join(rel).symlink_metadata().is_ok())
        .collect();
    assert_eq!(found.len(), 1, "snapshots holding {rel}: {found:?}");
    found.into_iter().next().unwrap()
}

/// Every entry of a snapshot tree (the root, which no layer tar holds, left out) with
/// type, mode, owner, mtime, size and content digest.
fn tree(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut pending: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    while let Some(path) = pending.pop() {
        let meta = path.symlink_metadata().unwrap();
        let content = if meta.is_file() {
            hex::encode(Sha256::digest(fs::read(&path).unwrap()))
        } else {
            String::new()
        };
        lines.push(format!(
            "{} {:o} {}:{} {}.{} {} {content}",
            path.strip_prefix(dir).unwrap().display(),
            meta.mode(),
            meta.uid(),
            meta.gid(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.len(),
        ));
        if meta.is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        }
    }
    lines.sort();
    lines
}

/// Builds the context, edits it, builds again on the same store (incremental) and on a
/// fresh one (full); returns the incremental build's output and both stores.
fn incremental_and_full(dockerfile: &str) -> (String, TestStore, TestStore, TempDir) {
    incremental_and_full_with(dockerfile, &[])
}

fn incremental_and_full_with(
    dockerfile: &str,
    extra: &[&str],
) -> (String, TestStore, TestStore, TempDir) {
    let ctx = context(dockerfile);
    let store = TestStore::with_busybox();
    build_with(&store, ctx.path(), "inc:1", extra);
    edit(ctx.path());
    let output = build_with(&store, ctx.path(), "inc:2", extra);
    let fresh = TestStore::with_busybox();
    build_with(&fresh, ctx.path(), "inc:2", extra);
    (output, store, fresh, ctx)
}

fn assert_same_layer_as_a_full_copy(dockerfile: &str) {
    let dest = "app";
    let (output, store, fresh, _ctx) = incremental_and_full(dockerfile);
    // 41 files after the edit (Dockerfile included); a/f1 changed and b/new is new.
    assert!(
        output.contains("incremental COPY: 39 of 41 files linked from an earlier snapshot"),
        "{output}"
    );
    assert_eq!(diff_ids(&store, "inc:2"), diff_ids(&fresh, "inc:2"));
    let new = snapshot_with(&store, &format!("{dest}/b/new"));
    assert_eq!(
        tree(&new),
        tree(&snapshot_with(&fresh, &format!("{dest}/b/new")))
    );
    // The unchanged file is the earlier snapshot's inode; the edited one is not.
    let old = snapshot_with(&store, &format!("{dest}/b/f3"));
    let inode = |dir: &Path, rel: &str| dir.join(dest).join(rel).metadata().unwrap().ino();
    assert_eq!(inode(&new, "a/f2"), inode(&old, "a/f2"));
    assert_ne!(inode(&new, "a/f1"), inode(&old, "a/f1"));
    let check = store.rbuild(&["cache", "check"]);
    assert_success(&check, "cache check");
}

#[test]
fn an_incremental_copy_makes_the_layer_a_full_copy_makes() {
    require_sandbox!();
    assert_same_layer_as_a_full_copy(PLAIN);
}

#[test]
fn an_incremental_copy_with_chown_and_chmod_makes_the_layer_a_full_copy_makes() {
    require_sandbox!();
    assert_same_layer_as_a_full_copy(CHOWN_CHMOD);
}

#[test]
fn pruning_the_earlier_snapshot_keeps_the_new_one_whole() {
    require_sandbox!();
    let (_, store, fresh, ctx) = incremental_and_full(PLAIN);
    let old = snapshot_with(&store, "app/b/f3");
    assert_success(&store.rbuild(&["rmi", "inc:1"]), "rmi");
    assert_success(&store.rbuild(&["cache", "prune", "--all"]), "prune");
    assert!(!old.exists(), "the earlier snapshot is still there");
    let check = store.rbuild(&["cache", "check"]);
    assert_success(&check, "cache check");
    assert!(stdout(&check).contains("no damage"), "{}", stdout(&check));
    let new = snapshot_with(&store, "app/b/new");
    assert_eq!(tree(&new), tree(&snapshot_with(&fresh, "app/b/new")));
    assert_eq!(fs::read_to_string(new.join("app/a/f2")).unwrap(), "a 2\n");
    // The image still builds on it (the RUN reads a linked and a new file).
    let out = store.build(ctx.path(), &["--no-cache", "-t", "inc:3"]);
    assert_success(&out, "rebuild");
}

/// Clears the immutable flag it set, whatever the test does.
struct Immutable(PathBuf);

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[test]
fn a_copy_whose_links_fail_is_made_in_full() {
    require_sandbox!();
    let ctx = context(PLAIN);
    let store = TestStore::with_busybox();
    build(&store, ctx.path(), "inc:1");
    // The kernel refuses to link an immutable inode (EPERM): the incremental path fails.
    let pinned = snapshot_with(&store, "app/b/f3").join("app/a/f2");
    let status = Command::new("chattr").arg("+i").arg(&pinned).status();
    if !status.is_ok_and(|s| s.success()) {
        println!("RBUILD-TEST-SKIPPED: chattr +i is not supported on the store's filesystem");
        return;
    }
    let _guard = Immutable(pinned);
    edit(ctx.path());
    let output = build(&store, ctx.path(), "inc:2");
    assert!(!output.contains("incremental COPY"), "{output}");
    let fresh = TestStore::with_busybox();
    build(&fresh, ctx.path(), "inc:2");
    assert_eq!(diff_ids(&store, "inc:2"), diff_ids(&fresh, "inc:2"));
    let new = snapshot_with(&store, "app/b/new");
    assert_eq!(tree(&new), tree(&snapshot_with(&fresh, "app/b/new")));
    assert_eq!(new.join("app/a/f2").metadata().unwrap().nlink(), 1);
}

/// Into directories the parent already has (so the overlay decides what a path holds) and
/// ones the copy creates (where rbuild knows without asking it), with a file of the parent
/// replaced: the same layer as a full copy.
#[test]
fn an_incremental_copy_over_existing_directories_makes_the_layer_a_full_copy_makes() {
    require_sandbox!();
    // The copy changes `/app`, a directory of the parent, so its time is each build's own
    // unless SOURCE_DATE_EPOCH makes every new time the epoch (builds a second apart would
    // otherwise differ in that one tar header).
    let dockerfile = "FROM busybox\n\
        RUN mkdir -p /app/a && echo lower > /app/a/f2 && echo kept > /app/a/lower-only\n\
        COPY . /app\n";
    let epoch = ["--build-arg", "SOURCE_DATE_EPOCH=1700000000"];
    let (output, store, fresh, _ctx) = incremental_and_full_with(dockerfile, &epoch);
    assert!(output.contains("incremental COPY: "), "{output}");
    assert_eq!(diff_ids(&store, "inc:2"), diff_ids(&fresh, "inc:2"));
    // On disk `/app` keeps the time each build changed it at (the epoch clamps the layer).
    let without_app = |dir: &Path| -> Vec<String> {
        tree(dir)
            .into_iter()
            .filter(|line| !line.starts_with("app "))
            .collect()
    };
    let new = snapshot_with(&store, "app/b/new");
    assert_eq!(
        without_app(&new),
        without_app(&snapshot_with(&fresh, "app/b/new"))
    );
    assert_eq!(fs::read_to_string(new.join("app/a/f2")).unwrap(), "a 2\n");
}
