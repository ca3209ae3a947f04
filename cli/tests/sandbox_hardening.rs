//! End-to-end: a RUN step is confined like a Docker container — Docker's default
//! capabilities, seccomp filter and no_new_privs; no mounting, no writes to /proc/sys, no
//! kernel modules; no host processes or files — and `--network=none` (per RUN or for the
//! whole build) cannot reach a server on the host's loopback, while `--network host` can.

mod common;

use std::fs;

use common::listener::HostListener;
use common::{assert_success, context_from, stderr, TestStore};

/// Builds `dockerfile` and returns the files the build wrote under /out.
fn build_and_read(store: &TestStore, dockerfile: &str, extra: &[&str]) -> tempfile::TempDir {
    let context = context_from(&[("Dockerfile", dockerfile)]);
    let out = tempfile::tempdir().unwrap();
    let dest = format!("type=local,dest={}", out.path().display());
    let mut flags = vec!["-o", dest.as_str()];
    flags.extend_from_slice(extra);
    let result = store.build(context.path(), &flags);
    assert_success(&result, "hardening build");
    out
}

fn read(dir: &tempfile::TempDir, path: &str) -> String {
    fs::read_to_string(dir.path().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn run_has_docker_s_capabilities_seccomp_and_no_new_privs() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let out = build_and_read(
        &store,
        "FROM busybox\n\
         RUN mkdir /out && grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status > /out/status\n",
        &[],
    );
    let status = read(&out, "out/status");
    for expected in [
        "CapEff:\t00000000a80425fb",
        "CapBnd:\t00000000a80425fb",
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
    ] {
        assert!(
            status.lines().any(|l| l == expected),
            "{expected} missing in:\n{status}"
        );
    }
}

#[test]
fn privileged_operations_fail_inside_run() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let marker = tempfile::NamedTempFile::new().unwrap();
    fs::write(marker.path(), "host file").unwrap();
    let script = format!(
        "mkdir -p /out /mnt/x; printf '' > /tmp/empty.ko; \
         try() {{ if \"$@\" 2>/dev/null; then echo \"$1 ALLOWED\"; else echo \"$1 denied\"; fi; }}; \
         try mount -t tmpfs none /mnt/x >> /out/ops; \
         try sh -c 'echo 1 > /proc/sys/vm/drop_caches' >> /out/ops; \
         try insmod /tmp/empty.ko >> /out/ops; \
         try unshare -U true >> /out/ops; \
         try test -e {marker} >> /out/ops; \
         ps -o pid,args > /out/ps",
        marker = marker.path().display()
    );
    let out = build_and_read(&store, &format!("FROM busybox\nRUN {script}\n"), &[]);
    let ops = read(&out, "out/ops");
    assert_eq!(ops.lines().count(), 5, "{ops}");
    assert!(ops.lines().all(|l| l.ends_with("denied")), "{ops}");
    let ps = read(&out, "out/ps");
    assert!(ps.lines().count() <= 4, "only the step's processes: {ps}");
    assert!(
        !ps.contains("cargo") && !ps.contains("rbuild build"),
        "{ps}"
    );
}

fn reach_script(port: u16) -> String {
    format!(
        "mkdir -p /out && (if echo x | nc -w 2 127.0.0.1 {port}; then echo reached; \
         else echo unreachable; fi) > /out/net && ls /sys/class/net > /out/ifaces"
    )
}

#[test]
fn network_none_cannot_reach_the_host() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let listener = HostListener::loopback();
    let port = listener.port();
    let per_run = build_and_read(
        &store,
        &format!("FROM busybox\nRUN --network=none {}\n", reach_script(port)),
        &[],
    );
    assert_eq!(read(&per_run, "out/net"), "unreachable\n");
    assert_eq!(read(&per_run, "out/ifaces"), "lo\n");
    let build_wide = build_and_read(
        &store,
        &format!(
            "FROM busybox\nRUN {} && echo build-wide\n",
            reach_script(port)
        ),
        &["--network", "none"],
    );
    assert_eq!(read(&build_wide, "out/net"), "unreachable\n");
    assert!(!listener.reached(), "the host listener was reached");
}

/// The default network is isolated (`sandbox_network.rs`); `--network host` opts out.
#[test]
fn the_host_network_reaches_the_host() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let listener = HostListener::loopback();
    let out = build_and_read(
        &store,
        &format!("FROM busybox\nRUN {}\n", reach_script(listener.port())),
        &["--network", "host"],
    );
    assert!(
        read(&out, "out/net").ends_with("host\nreached\n"),
        "{}",
        read(&out, "out/net")
    );
    assert!(listener.reached());
    let bad = store.build(
        context_from(&[("Dockerfile", "FROM busybox\n")]).path(),
        &["--network", "bridge"],
    );
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("default, none or host"),
        "{}",
        stderr(&bad)
    );
}
