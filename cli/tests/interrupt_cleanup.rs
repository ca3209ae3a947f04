//! Interrupted work: SIGINT or SIGTERM during a RUN or while an output (or `rbuild save`)
//! is written stops rbuild with 130 / 143, names the signal, leaves no output and nothing
//! behind (no process, no mount, no cgroup, no temporary file in the store or beside the
//! output);
//! after a SIGKILL, the next rbuild command sweeps what the dead process left.
//!
//! Exports are made slow enough to interrupt by a layer of ~200 MB of random bytes
//! (compressed, or copied, while rbuild runs); the tests wait for rbuild's own
//! "exporting to" line, never a fixed time.

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use common::leftovers::{
    cgroups_of, entry_names, mounts_under, processes_with, temp_entries, wait_until, RunningRbuild,
};
use common::{assert_success, context_from, stdout, TestStore};
use tempfile::TempDir;

/// Generous: the machine running the suite may be loaded.
const PATIENCE: Duration = Duration::from_secs(180);
/// Files of random bytes in the slow context, and the size of each.
const DATA_FILES: usize = 16;
const DATA_FILE_SIZE: usize = 12 << 20;

/// A `sleep` argument no other process uses.
fn unique_sleep(tag: u32) -> String {
    format!("{}{tag}", 80_000 + std::process::id())
}

/// A context whose image has a ~200 MB layer of incompressible bytes, made once.
fn slow_export_context() -> &'static Path {
    static CONTEXT: OnceLock<TempDir> = OnceLock::new();
    CONTEXT
        .get_or_init(|| {
            let dir = context_from(&[("Dockerfile", "FROM busybox\nCOPY data /data\n")]);
            let data = dir.path().join("data");
            std::fs::create_dir(&data).unwrap();
            let mut random = File::open("/dev/urandom").unwrap();
            let mut buffer = vec![0u8; DATA_FILE_SIZE];
            for n in 0..DATA_FILES {
                random.read_exact(&mut buffer).unwrap();
                File::create(data.join(format!("part{n:02}")))
                    .and_then(|mut f| f.write_all(&buffer))
                    .unwrap();
            }
            dir
        })
        .path()
}

fn build_args(context: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["build", "--progress", "plain"].map(String::from).into();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(context.display().to_string());
    args
}

/// Checks that process `pid` (exited and reaped) left nothing: no process naming the
/// store, no `sleep` of `needle`, no mount under the store, no cgroup, no temp entry, and
/// a store that checks clean.
fn assert_nothing_left(store: &TestStore, pid: u32, needle: Option<&str>) {
    let root = store.root().display().to_string();
    assert!(processes_with(&root).is_empty(), "rbuild processes left");
    if let Some(needle) = needle {
        assert!(processes_with(needle).is_empty(), "sandbox processes left");
    }
    assert!(mounts_under(store.root()).is_empty(), "mounts left");
    assert!(cgroups_of(pid).is_empty(), "cgroups left");
    let temp = temp_entries(store.root());
    assert!(temp.is_empty(), "temp entries left: {temp:?}");
    let check = store.rbuild(&["cache", "check"]);
    assert_success(&check, "cache check");
    assert!(stdout(&check).contains("no damage"), "{}", stdout(&check));
}

/// Starts a build whose RUN (in a cgroup of its own, with `-m`) sleeps a unique number of
/// seconds, and waits until that sleep runs. Returns the build, the seconds, the text that
/// finds the sleeping process, and the context (kept while the build runs).
fn start_sleeping_run(store: &TestStore, tag: u32) -> (RunningRbuild, String, String, TempDir) {
    let seconds = unique_sleep(tag);
    let context = context_from(&[(
        "Dockerfile",
        &format!("FROM busybox\nRUN echo started; sleep {seconds}\n"),
    )]);
    let args = build_args(context.path(), &["--memory", "256m"]);
    let build = RunningRbuild::start(store.root(), &args);
    let needle = format!("sleep {seconds}");
    wait_until("the RUN step to start", PATIENCE, || {
        !processes_with(&needle).is_empty()
    });
    (build, seconds, needle, context)
}

/// A signal during a RUN (in a cgroup of its own, with `-m`): exit `code`, the signal
/// named in the step's error, nothing left.
fn interrupt_run(signal: libc::c_int, code: i32, name: &str, tag: u32) {
    let store = TestStore::with_busybox();
    let (mut build, seconds, needle, _context) = start_sleeping_run(&store, tag);
    build.signal(signal);
    let status = build.wait(PATIENCE);
    let stderr = build.stderr();
    assert_eq!(status.code(), Some(code), "{status:?}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "RUN echo started; sleep {seconds}: interrupted by {name}"
        )),
        "the step's error names the signal:\n{stderr}"
    );
    assert_nothing_left(&store, build.pid(), Some(&needle));
}

#[test]
fn sigint_during_a_run_exits_130_and_leaves_nothing() {
    require_sandbox!();
    interrupt_run(libc::SIGINT, 130, "SIGINT", 1);
}

#[test]
fn sigterm_during_a_run_exits_143_and_leaves_nothing() {
    require_sandbox!();
    interrupt_run(libc::SIGTERM, 143, "SIGTERM", 2);
}

/// A signal while `output` (`type=…,dest=<out>/<name>`) is written: exit `code`, nothing
/// at the destination, nothing beside it, nothing left in the store.
fn interrupt_export(output_type: &str, name: &str, signal: libc::c_int, code: i32) {
    let store = TestStore::with_busybox();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join(name);
    let output = format!("type={output_type},dest={}", dest.display());
    let args = build_args(slow_export_context(), &["-o", &output]);
    let mut build = RunningRbuild::start(store.root(), &args);
    build.wait_for_output(&format!("exporting to {}", dest.display()), PATIENCE);
    build.signal(signal);
    let status = build.wait(PATIENCE);
    let stderr = build.stderr();
    assert_eq!(status.code(), Some(code), "{status:?}\n{stderr}");
    assert!(stderr.contains("interrupted by SIG"), "{stderr}");
    assert!(!stderr.contains("exported to"), "{stderr}");
    assert_eq!(
        entry_names(out.path()),
        Vec::<String>::new(),
        "nothing at or beside the destination"
    );
    assert_nothing_left(&store, build.pid(), None);
}

#[test]
fn sigint_during_an_oci_export_exits_130_and_writes_nothing() {
    require_sandbox!();
    interrupt_export("oci", "image.tar", libc::SIGINT, 130);
}

#[test]
fn sigterm_during_an_oci_export_exits_143_and_writes_nothing() {
    require_sandbox!();
    interrupt_export("oci", "image.tar", libc::SIGTERM, 143);
}

#[test]
fn sigterm_during_a_docker_export_exits_143_and_writes_nothing() {
    require_sandbox!();
    interrupt_export("docker", "image.tar", libc::SIGTERM, 143);
}

#[test]
fn sigint_during_a_local_export_exits_130_and_writes_nothing() {
    require_sandbox!();
    interrupt_export("local", "rootfs", libc::SIGINT, 130);
}

/// Entries of `dir` whose name carries `pid` (staging names do).
fn entries_of_pid(dir: &Path, pid: u32) -> Vec<String> {
    entry_names(dir)
        .into_iter()
        .filter(|name| name.contains(&format!(".{pid}-")) || name.starts_with(&format!("{pid}-")))
        .collect()
}

#[test]
fn after_a_sigkill_during_export_the_next_export_sweeps_the_partial_output() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let out = tempfile::tempdir().unwrap();
    let dest: PathBuf = out.path().join("image.tar");
    let output = format!("type=oci,dest={}", dest.display());
    let args = build_args(slow_export_context(), &["-o", &output]);
    let mut build = RunningRbuild::start(store.root(), &args);
    build.wait_for_output("exporting to", PATIENCE);
    let pid = build.pid();
    // The archive is staged beside the destination once its layer is compressed.
    wait_until(
        "the staged archive beside the destination",
        PATIENCE,
        || !entries_of_pid(out.path(), pid).is_empty(),
    );
    build.signal(libc::SIGKILL);
    build.wait(PATIENCE);
    let partial = entries_of_pid(out.path(), pid);
    assert_eq!(
        partial.len(),
        1,
        "the partial archive is there: {partial:?}"
    );
    assert!(!dest.exists());

    // Any command sweeps the store's temp entries of the dead process.
    assert_success(&store.rbuild(&["images"]), "images");
    assert_eq!(
        entries_of_pid(&store.root().join("tmp"), pid),
        Vec::<String>::new()
    );
    // The next export to that directory sweeps the partial archive.
    let again = store.build(slow_export_context(), &["-o", &output]);
    assert_success(&again, "the export after the kill");
    assert_eq!(entry_names(out.path()), ["image.tar"]);
    assert_nothing_left(&store, pid, None);
}

#[test]
fn after_a_sigkill_during_a_run_the_next_command_sweeps_cgroup_and_scratch() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let (mut build, _, needle, _context) = start_sleeping_run(&store, 3);
    let pid = build.pid();
    assert!(!cgroups_of(pid).is_empty(), "the step runs in a cgroup");
    build.signal(libc::SIGKILL);
    build.wait(PATIENCE);
    // The sandbox dies with rbuild (parent-death signal, pid namespace).
    wait_until("the sandbox to die", PATIENCE, || {
        processes_with(&needle).is_empty()
    });
    assert!(!cgroups_of(pid).is_empty(), "the dead run's cgroup is left");
    assert!(
        !entries_of_pid(&store.root().join("tmp"), pid).is_empty(),
        "the dead run's scratch is left"
    );

    assert_success(&store.rbuild(&["images"]), "images");
    assert_nothing_left(&store, pid, Some(&needle));
}

#[test]
fn sigterm_during_save_exits_143_and_writes_nothing() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let built = store.build(slow_export_context(), &["-t", "slow:1"]);
    assert_success(&built, "build");
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("saved.tar");
    let dest_arg = dest.display().to_string();
    let mut save = RunningRbuild::start(store.root(), &["save", "-o", &dest_arg, "slow:1"]);
    let pid = save.pid();
    // The archive is staged beside the destination once its layer blob is made.
    wait_until(
        "the staged archive beside the destination",
        PATIENCE,
        || !entries_of_pid(out.path(), pid).is_empty(),
    );
    save.signal(libc::SIGTERM);
    let status = save.wait(PATIENCE);
    let stderr = save.stderr();
    assert_eq!(status.code(), Some(143), "{status:?}\n{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
    assert_eq!(entry_names(out.path()), Vec::<String>::new());
    assert_nothing_left(&store, pid, None);
}
