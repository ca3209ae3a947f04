//! End-to-end: RUN steps are isolated — `ps` sees only the build's processes, host files
//! outside the rootfs are invisible, the hostname is not the host's — and independent
//! stages run concurrently.

mod common;

use std::fs;

use common::{assert_success, context_from, stderr, TestStore};

#[test]
fn run_sees_only_its_own_processes_files_and_hostname() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let marker = tempfile::NamedTempFile::new().unwrap();
    fs::write(marker.path(), "host secret").unwrap();
    let host_name = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let dockerfile = format!(
        "FROM busybox\n\
         RUN ps -o pid,comm > /ps.txt && hostname > /hostname.txt \
          && (test -e {marker} && echo visible || echo invisible) > /marker.txt\n",
        marker = marker.path().display()
    );
    let context = context_from(&[("Dockerfile", &dockerfile)]);
    let out_dir = tempfile::tempdir().unwrap();
    let rootfs = out_dir.path().join("rootfs");
    let out = store.build(
        context.path(),
        &["-o", &format!("type=local,dest={}", rootfs.display())],
    );
    assert_success(&out, "isolation build");

    let ps = fs::read_to_string(rootfs.join("ps.txt")).unwrap();
    let pids: Vec<u32> = ps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(pids.contains(&1), "the build has its own PID 1: {ps}");
    assert!(
        pids.len() <= 4,
        "only the build's processes are visible: {ps}"
    );
    assert!(pids.iter().all(|&p| p < 100), "no host pids: {ps}");

    let hostname = fs::read_to_string(rootfs.join("hostname.txt")).unwrap();
    assert_ne!(
        hostname.trim(),
        host_name.trim(),
        "hostname differs from the host's"
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("marker.txt"))
            .unwrap()
            .trim(),
        "invisible"
    );
}

#[test]
fn independent_stages_overlap_in_time() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[(
        "Dockerfile",
        "FROM busybox AS one\nRUN sleep 1 && echo one > /one\n\
         FROM busybox AS two\nRUN sleep 1 && echo two > /two\n\
         FROM busybox\nCOPY --from=one /one /one\nCOPY --from=two /two /two\n",
    )]);
    let out = store.build(context.path(), &[]);
    assert_success(&out, "parallel stages");
    let log = stderr(&out);
    let lines: Vec<&str> = log.lines().collect();
    let started = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains("RUN sleep 1") && l.contains(needle))
            .unwrap_or_else(|| panic!("no start for {needle}:\n{log}"))
    };
    let first_done = lines
        .iter()
        .position(|l| l.contains(" DONE "))
        .unwrap_or_else(|| panic!("no DONE line:\n{log}"));
    // Both sleeps start before any step finishes running: they overlap.
    assert!(
        started("echo one") < first_done && started("echo two") < first_done,
        "{log}"
    );
}
