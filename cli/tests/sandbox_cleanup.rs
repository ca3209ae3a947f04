//! End-to-end teardown: a RUN that leaves a background process behind, and a build
//! interrupted by SIGINT, leave no process, no mount, no cgroup and no temporary directory
//! behind — checked through /proc, the host's mountinfo and the cgroup hierarchy. The
//! interrupted build exits 130.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::leftovers::{cgroups_of, mounts_under, processes_with, temp_entries};
use common::{assert_success, context_from, TestStore};

/// A `sleep` argument no other process uses.
fn unique_sleep(tag: u32) -> String {
    format!("{}{tag}", 70_000 + std::process::id())
}

#[test]
fn background_processes_of_a_run_do_not_survive_it() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let seconds = unique_sleep(1);
    let context = context_from(&[(
        "Dockerfile",
        &format!("FROM busybox\nRUN (sleep {seconds} &) ; sleep {seconds} & echo started\n"),
    )]);
    let out = store.build(context.path(), &["--memory", "256m", "--pids-limit", "64"]);
    assert_success(&out, "background build");
    assert!(processes_with(&format!("sleep {seconds}")).is_empty());
    assert_no_mounts_under(&[store.root(), context.path()]);
}

#[test]
fn sigint_stops_the_build_and_cleans_up() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let seconds = unique_sleep(2);
    let context = context_from(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\nRUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t \
             (sleep {seconds} &) ; echo running ; sleep {seconds}\n"
        ),
    )]);
    let mut build = Command::new(env!("CARGO_BIN_EXE_rbuild"))
        .arg("--root")
        .arg(store.root())
        .args(["build", "--progress", "plain", "--memory", "256m"])
        .arg(context.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let needle = format!("sleep {seconds}");
    let started = Instant::now();
    while processes_with(&needle).len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the step never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !cgroups_of(build.id()).is_empty(),
        "the step runs in a cgroup of its own"
    );
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(build.id() as i32, libc::SIGINT) };
    let status = build.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(
        processes_with(&needle).is_empty(),
        "sandbox processes survived"
    );
    assert!(cgroups_of(build.id()).is_empty(), "cgroups survived");
    assert_no_mounts_under(&[store.root(), context.path()]);
    assert!(
        temp_entries(store.root()).is_empty(),
        "temp dirs left: {:?}",
        temp_entries(store.root())
    );
}

/// No mount is left below any of `paths`. Only rbuild's own paths are checked: the machine
/// may mount and unmount elsewhere meanwhile.
fn assert_no_mounts_under(paths: &[&Path]) {
    for path in paths {
        let left = mounts_under(path);
        assert!(
            left.is_empty(),
            "mounts left under {}: {left:?}",
            path.display()
        );
    }
}
