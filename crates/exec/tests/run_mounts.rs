//! Extra mounts, resource limits and teardown against the real busybox image: host
//! binds, layer views (throw-away and persistent writes, subpaths that cannot escape),
//! tmpfs, secret files, mountpoint stubs kept out of the layer, cgroup limits, and runs
//! that are cancelled or leave processes behind cleaning up after themselves.
//!
//! `harness = false`: the sandbox re-executes this binary as its init, so `main` calls
//! `init_hook` before anything else.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rbuild_exec::{run, CancelToken, MountSource, SandboxError, SandboxMount, SecretBytes};
use support::container::{capture, entries, no_host_processes_with, run_ok, sh, sleep_marker};
use support::runner::{check, run_tests, tests, TestResult, Verdict};

fn main() {
    rbuild_exec::init_hook();
    run_tests(&tests![
        host_paths_persist_writes_unless_read_only,
        layer_views_discard_writes_and_keep_subpaths_inside,
        layer_views_can_keep_writes_in_a_given_upper,
        tmpfs_mounts_are_empty_and_capped,
        secret_files_have_their_owner_and_mode_and_touch_no_disk,
        missing_mountpoints_leave_no_stubs_in_the_layer,
        memory_limit_kills_the_step,
        pids_limit_stops_fork_bombs,
        background_processes_and_cgroups_are_gone_after_the_run,
        cancelling_kills_everything_and_cleans_up,
    ]);
}

fn mount(target: &str, source: MountSource, read_only: bool) -> SandboxMount {
    SandboxMount {
        source,
        target: target.into(),
        read_only,
    }
}

fn write(path: &Path, content: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    std::fs::write(path, content).map_err(|e| format!("{}: {e}", path.display()))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn host_paths_persist_writes_unless_read_only() -> TestResult {
    let c = container!();
    let (rw, ro) = (c.dir.path().join("rw"), c.dir.path().join("ro"));
    write(&rw.join("seen"), "from host\n")?;
    write(&ro.join("seen"), "read only\n")?;
    let mut spec = sh(
        &c,
        "cat /cache/seen /input/seen; echo kept > /cache/new; \
         if touch /input/new 2>/dev/null; then echo writable; else echo refused; fi",
    );
    spec.mounts = vec![
        mount("/cache", MountSource::HostPath { path: rw.clone() }, false),
        mount("/input", MountSource::HostPath { path: ro }, true),
    ];
    let stdout = run_ok(&spec)?;
    check(stdout == "from host\nread only\nrefused\n", || {
        format!("stdout {stdout:?}")
    })?;
    check(read(&rw.join("new"))? == "kept\n", || {
        "write did not persist".into()
    })?;
    Ok(Verdict::Passed)
}

fn layer_views_discard_writes_and_keep_subpaths_inside() -> TestResult {
    let c = container!();
    let (top, bottom) = (c.dir.path().join("top"), c.dir.path().join("bottom"));
    write(&top.join("src/main.c"), "top\n")?;
    write(&bottom.join("src/old.c"), "bottom\n")?;
    std::fs::create_dir_all(&bottom).map_err(|e| e.to_string())?;
    // A symlink that would leave the layers if it were resolved on the host.
    std::os::unix::fs::symlink("/../../..", top.join("escape")).map_err(|e| e.to_string())?;
    let lowers = vec![top.clone(), bottom.clone()];
    let mut spec = sh(
        &c,
        "ls /src; ls /esc | sort | head -3; echo scratch > /src/new.c; cat /src/new.c",
    );
    spec.mounts = vec![
        mount(
            "/src",
            MountSource::Layers {
                lowers: lowers.clone(),
                subpath: "/src".into(),
                upper: None,
            },
            false,
        ),
        mount(
            "/esc",
            MountSource::Layers {
                lowers,
                subpath: "escape".into(),
                upper: None,
            },
            true,
        ),
    ];
    let stdout = run_ok(&spec)?;
    check(stdout == "main.c\nold.c\nescape\nsrc\nscratch\n", || {
        format!("stdout {stdout:?}")
    })?;
    check(!top.join("src/new.c").exists(), || {
        "write reached a layer".into()
    })?;
    let upper = entries(&c.upper())?;
    check(upper.is_empty(), || format!("upper dir has {upper:?}"))?;
    Ok(Verdict::Passed)
}

fn layer_views_can_keep_writes_in_a_given_upper() -> TestResult {
    let c = container!();
    let base = c.dir.path().join("seed");
    write(&base.join("seed.txt"), "seed\n")?;
    let (upper, work) = (
        c.dir.path().join("keep/upper"),
        c.dir.path().join("keep/work"),
    );
    for dir in [&upper, &work] {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let mut spec = sh(&c, "cat /data/seed.txt; echo more > /data/added");
    spec.mounts = vec![mount(
        "/data",
        MountSource::Layers {
            lowers: vec![base],
            subpath: String::new(),
            upper: Some((upper.clone(), work)),
        },
        false,
    )];
    check(run_ok(&spec)? == "seed\n", || "seed not visible".into())?;
    check(read(&upper.join("added"))? == "more\n", || {
        "write not kept".into()
    })?;
    Ok(Verdict::Passed)
}

fn tmpfs_mounts_are_empty_and_capped() -> TestResult {
    let c = container!();
    let mut spec = sh(
        &c,
        "ls -A /scratch | wc -l; grep ' /scratch ' /proc/self/mountinfo | grep -c tmpfs; \
         if head -c 2097152 /dev/zero > /scratch/big 2>/dev/null; then echo fits; else echo full; fi",
    );
    spec.mounts = vec![mount(
        "/scratch",
        MountSource::Tmpfs {
            size_bytes: Some(1 << 20),
        },
        false,
    )];
    let stdout = run_ok(&spec)?;
    check(stdout == "0\n1\nfull\n", || format!("stdout {stdout:?}"))?;
    let upper = entries(&c.upper())?;
    check(upper.is_empty(), || format!("upper dir has {upper:?}"))?;
    Ok(Verdict::Passed)
}

fn secret_files_have_their_owner_and_mode_and_touch_no_disk() -> TestResult {
    let c = container!();
    let secret = format!("s3cr3t-{}", std::process::id());
    let mut spec = sh(
        &c,
        "cat /run/secrets/token; echo; stat -c '%a %u %g' /run/secrets/token; \
         if echo x > /run/secrets/token 2>/dev/null; then echo writable; else echo read-only; fi",
    );
    spec.mounts = vec![mount(
        "/run/secrets/token",
        MountSource::File {
            contents: SecretBytes(secret.clone().into_bytes()),
            mode: 0o440,
            uid: 1000,
            gid: 1001,
        },
        true,
    )];
    let stdout = run_ok(&spec)?;
    check(
        stdout == format!("{secret}\n440 1000 1001\nread-only\n"),
        || format!("stdout {stdout:?}"),
    )?;
    let upper = entries(&c.upper())?;
    check(upper.is_empty(), || format!("upper dir has {upper:?}"))?;
    let on_disk = files_containing(c.dir.path(), secret.as_bytes());
    check(on_disk.is_empty(), || {
        format!("secret written to {on_disk:?}")
    })?;
    Ok(Verdict::Passed)
}

/// Regular files below `dir` whose content contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(path),
                Ok(t) if t.is_file() => {
                    let bytes = std::fs::read(&path).unwrap_or_default();
                    if bytes.windows(needle.len()).any(|w| w == needle) {
                        found.push(path);
                    }
                }
                _ => {}
            }
        }
    }
    found
}

fn missing_mountpoints_leave_no_stubs_in_the_layer() -> TestResult {
    let mut c = container!();
    // `/link` is a symlink in the image: the base layer's stub under it is hidden, so the
    // sandbox must create `/var/made/here` in the upper dir and remove it afterwards.
    let layer = c.dir.path().join("symlink-layer");
    std::fs::create_dir_all(&layer).map_err(|e| e.to_string())?;
    std::os::unix::fs::symlink("/var/made", layer.join("link")).map_err(|e| e.to_string())?;
    c.lowers.insert(0, layer);
    let tmpfs = || MountSource::Tmpfs { size_bytes: None };
    let mut spec = sh(&c, "test -d /deep/a/b && test -d /var/made/here && echo ok");
    spec.mounts = vec![
        mount("/deep/a/b", tmpfs(), false),
        mount("/link/here", tmpfs(), false),
    ];
    check(run_ok(&spec)? == "ok\n", || "mountpoints missing".into())?;
    let upper = c.upper();
    for stub in ["deep", "var/made"] {
        check(!upper.join(stub).exists(), || {
            format!("stub {stub} left in upper")
        })?;
    }
    Ok(Verdict::Passed)
}

fn memory_limit_kills_the_step() -> TestResult {
    let c = container!();
    let mut spec = sh(
        &c,
        "awk 'BEGIN { s = \"x\"; for (i = 0; i < 28; i++) s = s s; print length(s) }'; echo survived",
    );
    spec.resources.memory_bytes = Some(64 << 20);
    let out = capture(&spec).map_err(|e| e.to_string())?;
    // awk is OOM-killed before its 256 MiB string exists; the shell goes on.
    check(out.stdout == "survived\n", || {
        format!(
            "a 256 MiB string fit in 64 MiB: {:?} {:?}",
            out.stdout, out.stderr
        )
    })?;
    Ok(Verdict::Passed)
}

fn pids_limit_stops_fork_bombs() -> TestResult {
    let c = container!();
    let mut spec = sh(
        &c,
        "i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done; echo looped",
    );
    spec.resources.max_pids = Some(16);
    spec.timeout = Some(Duration::from_secs(20));
    let out = capture(&spec).map_err(|e| e.to_string())?;
    check(out.stderr.contains("fork"), || {
        format!("40 sleeps started under a limit of 16: {:?}", out.stderr)
    })?;
    Ok(Verdict::Passed)
}

/// Run cgroups this test process created that still exist.
fn leftover_cgroups() -> Vec<PathBuf> {
    let prefix = format!("rbuild-{}-", std::process::id());
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::from("/sys/fs/cgroup")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                found.push(entry.path());
            } else {
                pending.push(entry.path());
            }
        }
    }
    found
}

fn host_mounts() -> Result<Vec<String>, String> {
    let text = read(Path::new("/proc/self/mountinfo"))?;
    let mut points: Vec<String> = text
        .lines()
        .filter_map(|line| line.split(' ').nth(4).map(str::to_string))
        .collect();
    points.sort();
    Ok(points)
}

fn background_processes_and_cgroups_are_gone_after_the_run() -> TestResult {
    let c = container!();
    let before = host_mounts()?;
    let marker = sleep_marker(7);
    let mut spec = sh(&c, &format!("({marker} &); {marker} & echo started"));
    spec.mounts = vec![mount(
        "/tmpfs",
        MountSource::Tmpfs { size_bytes: None },
        false,
    )];
    spec.resources.max_pids = Some(100);
    check(run_ok(&spec)? == "started\n", || "no output".into())?;
    no_host_processes_with(&marker)?;
    let cgroups = leftover_cgroups();
    check(cgroups.is_empty(), || format!("cgroups left: {cgroups:?}"))?;
    check(host_mounts()? == before, || "host mounts changed".into())?;
    Ok(Verdict::Passed)
}

fn cancelling_kills_everything_and_cleans_up() -> TestResult {
    let c = container!();
    let before = host_mounts()?;
    let marker = sleep_marker(8);
    let mut spec = sh(&c, &format!("({marker} &); {marker}"));
    spec.mounts = vec![mount(
        "/tmpfs",
        MountSource::Tmpfs { size_bytes: None },
        false,
    )];
    spec.resources.memory_bytes = Some(256 << 20);
    let cancel = CancelToken::new().map_err(|e| e.to_string())?;
    let canceller = cancel.clone();
    let started = Instant::now();
    let result = std::thread::scope(|scope| {
        scope.spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            canceller.cancel();
        });
        run(&spec, &cancel, &mut |_, _| {})
    });
    check(matches!(result, Err(SandboxError::Cancelled)), || {
        format!("unexpected result {result:?}")
    })?;
    check(started.elapsed() < Duration::from_secs(10), || {
        "cancellation took too long".into()
    })?;
    no_host_processes_with(&marker)?;
    let cgroups = leftover_cgroups();
    check(cgroups.is_empty(), || format!("cgroups left: {cgroups:?}"))?;
    check(host_mounts()? == before, || "host mounts changed".into())?;
    let again = run(&spec, &cancel, &mut |_, _| {});
    check(matches!(again, Err(SandboxError::Cancelled)), || {
        "a cancelled token still starts runs".into()
    })?;
    Ok(Verdict::Passed)
}
