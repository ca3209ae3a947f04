//! Re-hashing an unchanged context through the store's persistent memo reads no file
//! contents: a new store handle (as in a new `rbuild` process) digests a 6 MB context while
//! this process's read counter grows by far less than one file, and the digest is the one
//! computed by reading every byte. One test per process, so nothing else reads meanwhile.

#[path = "support/settled_context.rs"]
mod settled_context;

use std::path::Path;

use rbuild_cache::Store;
use rbuild_fileop::{digest_selection, NoMemo};
use settled_context::{bytes_read_so_far, select_everything, write_settled_context};

const FILE_SIZE: usize = 100_000;

/// Digests the context as a build does: select, load the memo rows, digest.
fn digest_with(store: &Store, root: &Path) -> rbuild_oci::Digest {
    let matches = select_everything(root);
    store.context_memo().preload(root);
    digest_selection(&matches, store.context_memo()).unwrap()
}

#[test]
fn an_unchanged_context_is_rehashed_without_reading_its_files() {
    let context = tempfile::tempdir().unwrap();
    let root = context.path().canonicalize().unwrap();
    write_settled_context(&root, 6, 10, FILE_SIZE);
    let by_reading = digest_selection(&select_everything(&root), &NoMemo).unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let first = Store::open(store_dir.path()).unwrap();
    assert_eq!(digest_with(&first, &root), by_reading);

    let store = Store::open(store_dir.path()).unwrap();
    let before = bytes_read_so_far();
    assert_eq!(digest_with(&store, &root), by_reading);
    let read = bytes_read_so_far() - before;
    assert!(
        read < FILE_SIZE as u64,
        "re-hashing read {read} bytes; the context holds {}",
        60 * FILE_SIZE
    );
}
