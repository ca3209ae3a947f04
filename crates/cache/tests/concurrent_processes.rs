//! Several rbuild processes committing the same layer into one store root at the same time
//! must agree on one snapshot and leave a consistent store.
//!
//! This test binary (harness = false) is its own child: started with `CHILD_ROOT` set, it
//! commits a layer and prints the chain id; started normally, it runs the parent test.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use filetime::FileTime;
use rbuild_cache::{SnapshotChain, Store};
use rbuild_oci::Digest;

const CHILD_ROOT: &str = "RBUILD_CACHE_TEST_CHILD_ROOT";
const CHILDREN: usize = 4;
const EPOCH: i64 = 1_600_000_000;

fn main() {
    match std::env::var_os(CHILD_ROOT) {
        Some(root) => child(Path::new(&root)),
        None => {
            concurrent_commits_from_processes_agree();
            println!("test concurrent_commits_from_processes_agree ... ok");
        }
    }
}

/// Waits for the parent's go signal, then commits and records one layer.
fn child(root: &Path) {
    let store = Store::open(root).expect("open store");
    let upper = store.layers().new_upper().expect("new upper");
    for i in 0..200 {
        let path = upper.upper().join(format!("dir{}/file{i}", i % 10));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, vec![(i % 251) as u8; i * 37]).unwrap();
    }
    let late = FileTime::from_unix_time(EPOCH + 1000, 0);
    for entry in walkdir::WalkDir::new(upper.upper()).min_depth(1) {
        filetime::set_symlink_file_times(entry.unwrap().path(), late, late).unwrap();
    }
    let go = root.join("go");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !go.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    let chain = store
        .layers()
        .commit(&SnapshotChain::default(), upper, Some(EPOCH))
        .expect("commit");
    store
        .index()
        .record(
            &Digest::of(b"same step"),
            &chain,
            "{}",
            &std::process::id().to_string(),
        )
        .expect("record");
    println!("{}", chain.chain_id().expect("non-empty chain"));
}

fn concurrent_commits_from_processes_agree() {
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path()).unwrap();
    let me = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..CHILDREN)
        .map(|_| {
            Command::new(&me)
                .env(CHILD_ROOT, root.path())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    fs::write(root.path().join("go"), b"").unwrap();
    let outputs: Vec<String> = children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "child failed: {:?}", output.status);
            String::from_utf8(output.stdout).unwrap().trim().to_string()
        })
        .collect();
    assert!(
        outputs.windows(2).all(|w| w[0] == w[1]),
        "children disagree: {outputs:?}"
    );

    let store = Store::open(root.path()).unwrap();
    let snapshots: Vec<_> = fs::read_dir(root.path().join("snapshots"))
        .unwrap()
        .collect();
    assert_eq!(snapshots.len(), 1);
    assert_eq!(fs::read_dir(root.path().join("tmp")).unwrap().count(), 0);
    let record = store
        .index()
        .lookup(&Digest::of(b"same step"))
        .unwrap()
        .unwrap();
    assert_eq!(record.chain.chain_id().unwrap().to_string(), outputs[0]);
    assert_eq!(store.layers().lower_dirs(&record.chain).unwrap().len(), 1);
    let report = store.check(false).unwrap();
    assert!(report.is_clean(), "{report:?}");
}
