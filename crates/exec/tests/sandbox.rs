//! `run` against the real busybox image: real namespaces, real overlayfs, as root.
//!
//! `harness = false`: the sandbox re-executes this binary as its init, so `main` calls
//! `init_hook` before anything else.

mod support;

use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::time::Duration;

use rbuild_exec::SandboxError;
use support::container::{capture, entries, no_host_processes_with, run_ok, sh, sleep_marker};
use support::runner::{check, run_tests, tests, TestResult, Verdict};

fn main() {
    rbuild_exec::init_hook();
    run_tests(&tests![
        output_streams_and_exit_code,
        env_cwd_and_user_with_groups,
        default_path_home_and_root_groups,
        ps_sees_only_the_sandbox,
        hostname_is_the_spec_s,
        host_files_are_invisible,
        leftover_processes_die_with_the_command,
        writes_land_in_upper_with_whiteouts,
        mountpoints_do_not_leak_into_upper,
        devices_and_stdin,
        missing_user_is_a_clear_error,
        missing_executable_is_127,
        signal_deaths_are_128_plus_n,
        pid1_forwards_sigterm,
        timeout_kills_everything,
        deep_layer_stack_runs,
        invalid_spec_is_rejected_up_front,
        concurrent_runs_stay_apart,
    ]);
}

fn output_streams_and_exit_code() -> TestResult {
    let c = container!();
    let out =
        capture(&sh(&c, "echo to-out; echo to-err >&2; exit 3")).map_err(|e| e.to_string())?;
    check(out.stdout == "to-out\n", || {
        format!("stdout {:?}", out.stdout)
    })?;
    check(out.stderr == "to-err\n", || {
        format!("stderr {:?}", out.stderr)
    })?;
    check(out.outcome.exit_code == 3, || {
        format!("exit {}", out.outcome.exit_code)
    })?;
    Ok(Verdict::Passed)
}

fn env_cwd_and_user_with_groups() -> TestResult {
    let mut c = container!();
    let rootfs = support::busybox::rootfs()?;
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).map_err(|e| e.to_string())?;
    let group = std::fs::read_to_string(rootfs.join("etc/group")).map_err(|e| e.to_string())?;
    let passwd = passwd + "builder:x:1500:1600:Builder:/home/builder:/bin/sh\n";
    let group = group + "builders:x:1600:\ndocker:x:2100:someone,builder\nextra:x:2200:builder\n";
    c.add_layer(&[("etc/passwd", &passwd), ("etc/group", &group)])?;
    let mut spec = sh(
        &c,
        "echo $GREETING; pwd; id -u; id -g; id -G; echo $HOME; env | sort",
    );
    spec.env = vec!["GREETING=hello world".into(), "PATH=/bin".into()];
    spec.cwd = "/srv/app/work".into();
    spec.user = "builder".into();
    let stdout = run_ok(&spec)?;
    let lines: Vec<&str> = stdout.lines().collect();
    let expected_head = [
        "hello world",
        "/srv/app/work",
        "1500",
        "1600",
        "1600 2100 2200",
        "/home/builder",
    ];
    check(lines.len() > 6 && lines[..6] == expected_head, || {
        format!("output {lines:?}")
    })?;
    let env: BTreeSet<&str> = lines[6..].iter().copied().collect();
    // Exactly the given environment plus HOME (and what sh itself sets: PWD, SHLVL).
    let expected: BTreeSet<&str> = [
        "GREETING=hello world",
        "PATH=/bin",
        "HOME=/home/builder",
        "PWD=/srv/app/work",
        "SHLVL=1",
    ]
    .into_iter()
    .collect();
    check(env == expected, || format!("environment {env:?}"))?;
    check(c.upper().join("srv/app/work").is_dir(), || {
        "cwd not created in upper".into()
    })?;
    Ok(Verdict::Passed)
}

fn default_path_home_and_root_groups() -> TestResult {
    let c = container!();
    let mut spec = sh(&c, "echo $PATH; echo $HOME; id -u; id -G");
    spec.env.clear();
    let stdout = run_ok(&spec)?;
    let expected = format!("{}\n/root\n0\n0 10\n", rbuild_exec::DEFAULT_PATH);
    check(stdout == expected, || format!("output {stdout:?}"))?;
    Ok(Verdict::Passed)
}

fn ps_sees_only_the_sandbox() -> TestResult {
    let c = container!();
    let stdout = run_ok(&c.spec(&["ps", "-o", "pid,args"]))?;
    let pids: Vec<u32> = stdout
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next()?.parse().ok())
        .collect();
    check(pids.first() == Some(&1), || {
        format!("no PID 1 in {stdout:?}")
    })?;
    check(pids.len() == 2 && pids[1] == 2, || {
        format!("unexpected processes: {stdout}")
    })?;
    check(stdout.contains("rbuild-init"), || {
        format!("PID 1 is not the init: {stdout}")
    })?;
    Ok(Verdict::Passed)
}

fn hostname_is_the_spec_s() -> TestResult {
    let c = container!();
    let stdout = run_ok(&c.spec(&["hostname"]))?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map_err(|e| e.to_string())?;
    check(stdout == "rbuild-sandbox-test\n", || {
        format!("hostname {stdout:?}")
    })?;
    check(host.trim() != "rbuild-sandbox-test", || {
        "the host's hostname changed".into()
    })?;
    Ok(Verdict::Passed)
}

fn host_files_are_invisible() -> TestResult {
    let c = container!();
    let marker = format!("/tmp/rbuild-exec-host-marker-{}", std::process::id());
    std::fs::write(&marker, "host").map_err(|e| e.to_string())?;
    let script =
        format!("test ! -e {marker} && test ! -e /work/shared && cut -d' ' -f5 /proc/1/mountinfo");
    let result = run_ok(&sh(&c, &script));
    let _ = std::fs::remove_file(&marker);
    let mounted: BTreeSet<String> = result?.lines().map(str::to_string).collect();
    // The root overlay, the kernel filesystems (with their masked and read-only parts)
    // and the generated /etc files — no host mounts.
    let allowed = |mount: &str| {
        ["/", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"].contains(&mount)
            || ["/proc", "/dev", "/sys"]
                .iter()
                .any(|kernel| mount == *kernel || mount.starts_with(&format!("{kernel}/")))
    };
    let unexpected: Vec<&String> = mounted.iter().filter(|m| !allowed(m)).collect();
    check(unexpected.is_empty(), || {
        format!("unexpected mounts inside: {unexpected:?}")
    })?;
    for required in ["/", "/proc", "/dev", "/sys", "/etc/hosts", "/proc/sys"] {
        check(mounted.contains(required), || {
            format!("{required} is not mounted")
        })?;
    }
    Ok(Verdict::Passed)
}

fn leftover_processes_die_with_the_command() -> TestResult {
    let c = container!();
    // A daemonized sleeper plus a zombie: the short sleep's parent (exec'd sleep) never reaps it.
    let marker = sleep_marker(1);
    let script = format!("({marker} &) ; sleep 0.1 & exec sleep 0.5");
    let out = capture(&sh(&c, &script)).map_err(|e| e.to_string())?;
    check(out.outcome.exit_code == 0, || {
        format!("exit {}", out.outcome.exit_code)
    })?;
    check(out.outcome.duration < Duration::from_secs(30), || {
        "run waited for the daemon".into()
    })?;
    no_host_processes_with(&marker)?;
    Ok(Verdict::Passed)
}

fn writes_land_in_upper_with_whiteouts() -> TestResult {
    let c = container!();
    run_ok(&sh(
        &c,
        "echo new > /created.txt && rm /etc/shadow && rm -r /etc/network && mkdir /var/cache",
    ))?;
    let upper = c.upper();
    let created = std::fs::read_to_string(upper.join("created.txt")).map_err(|e| e.to_string())?;
    check(created == "new\n", || format!("created.txt = {created:?}"))?;
    for deleted in ["etc/shadow", "etc/network"] {
        let meta = std::fs::symlink_metadata(upper.join(deleted))
            .map_err(|e| format!("{deleted}: {e}"))?;
        check(
            meta.file_type().is_char_device() && meta.rdev() == 0,
            || format!("{deleted} is not an overlay whiteout"),
        )?;
    }
    check(upper.join("var/cache").is_dir(), || {
        "var/cache missing".into()
    })?;
    Ok(Verdict::Passed)
}

fn mountpoints_do_not_leak_into_upper() -> TestResult {
    let c = container!();
    // busybox has /dev but no /proc or /sys: the merged view has both mountpoints...
    let stdout = run_ok(&sh(
        &c,
        "test -d /proc/self && test -c /dev/null && echo mounted",
    ))?;
    check(stdout == "mounted\n", || format!("output {stdout:?}"))?;
    // ...and the upper dir has nothing at all, as nothing was written.
    let upper = entries(&c.upper())?;
    check(upper.is_empty(), || format!("upper dir has {upper:?}"))?;
    Ok(Verdict::Passed)
}

fn devices_and_stdin() -> TestResult {
    let c = container!();
    let script =
        "cat; echo x > /dev/null; head -c 5 /dev/zero | wc -c; head -c 3 /dev/urandom | wc -c; \
                  test -c /dev/pts/ptmx; test -L /dev/ptmx; echo shm > /dev/shm/f; cat /dev/shm/f; \
                  readlink /dev/stdout";
    let stdout = run_ok(&sh(&c, script))?;
    check(stdout == "5\n3\nshm\n/proc/self/fd/1\n", || {
        format!("output {stdout:?}")
    })?;
    Ok(Verdict::Passed)
}

fn missing_user_is_a_clear_error() -> TestResult {
    let c = container!();
    let mut spec = c.spec(&["true"]);
    spec.user = "nosuchuser".into();
    match capture(&spec) {
        Err(err @ SandboxError::UnknownUser { .. }) => {
            let text = err.to_string();
            check(text.contains("nosuchuser"), || format!("message {text:?}"))?;
            Ok(Verdict::Passed)
        }
        Err(other) => Err(format!("unexpected error: {other}")),
        Ok(out) => Err(format!("ran with exit {}", out.outcome.exit_code)),
    }
}

fn missing_executable_is_127() -> TestResult {
    let c = container!();
    match capture(&c.spec(&["no-such-tool", "--version"])) {
        Err(err @ SandboxError::ExecutableNotFound { .. }) => {
            check(err.exit_code() == Some(127), || {
                format!("exit code {:?}", err.exit_code())
            })?;
            let text = err.to_string();
            check(
                text == "exec: \"no-such-tool\": executable file not found in $PATH",
                || text,
            )?;
        }
        other => return Err(format!("unexpected result: {:?}", other.map(|o| o.outcome))),
    }
    let out = capture(&sh(&c, "no-such-tool")).map_err(|e| e.to_string())?;
    check(out.outcome.exit_code == 127, || {
        format!("shell exit {}", out.outcome.exit_code)
    })?;
    check(out.stderr.contains("not found"), || {
        format!("stderr {:?}", out.stderr)
    })?;
    Ok(Verdict::Passed)
}

fn signal_deaths_are_128_plus_n() -> TestResult {
    let c = container!();
    let out = capture(&sh(&c, "kill -9 $$")).map_err(|e| e.to_string())?;
    check(out.outcome.exit_code == 137, || {
        format!("exit {}", out.outcome.exit_code)
    })?;
    Ok(Verdict::Passed)
}

fn pid1_forwards_sigterm() -> TestResult {
    let c = container!();
    // PID 1 ignores signals it has no handler for; it forwards SIGTERM to the command.
    let out = capture(&sh(
        &c,
        "trap 'exit 7' TERM; kill -TERM 1; sleep 5 & wait; exit 1",
    ))
    .map_err(|e| e.to_string())?;
    check(out.outcome.exit_code == 7, || {
        format!("exit {}", out.outcome.exit_code)
    })?;
    Ok(Verdict::Passed)
}

fn timeout_kills_everything() -> TestResult {
    let c = container!();
    let (first, second) = (sleep_marker(2), sleep_marker(3));
    let mut spec = sh(&c, &format!("{first} & {second}"));
    spec.timeout = Some(Duration::from_millis(500));
    match capture(&spec) {
        Err(SandboxError::TimedOut { limit }) => {
            check(limit == Duration::from_millis(500), || {
                format!("limit {limit:?}")
            })?
        }
        other => return Err(format!("unexpected result: {:?}", other.map(|o| o.outcome))),
    }
    no_host_processes_with(&first)?;
    no_host_processes_with(&second)?;
    Ok(Verdict::Passed)
}

fn deep_layer_stack_runs() -> TestResult {
    let mut c = container!();
    let long = "a-long-layer-directory-name-".repeat(4);
    for i in 0..150 {
        c.add_layer(&[
            (&format!("layers/{i:03}"), ""),
            ("layers/top", &i.to_string()),
        ])?;
        let layer = c.lowers.remove(0);
        let renamed = layer.with_file_name(format!("{long}{i:03}"));
        std::fs::rename(&layer, &renamed).map_err(|e| e.to_string())?;
        c.lowers.insert(0, renamed);
    }
    let stdout = run_ok(&sh(&c, "ls /layers | wc -l; cat /layers/top"))?;
    check(stdout == "151\n149", || format!("output {stdout:?}"))?;
    Ok(Verdict::Passed)
}

fn invalid_spec_is_rejected_up_front() -> TestResult {
    let c = container!();
    let mut spec = c.spec(&["true"]);
    spec.cwd = "relative".into();
    match capture(&spec) {
        Err(SandboxError::InvalidSpec { reason }) => {
            check(reason.contains("relative"), || reason)?;
            Ok(Verdict::Passed)
        }
        other => Err(format!("unexpected result: {:?}", other.map(|o| o.outcome))),
    }
}

fn concurrent_runs_stay_apart() -> TestResult {
    let mut containers = Vec::new();
    for _ in 0..4 {
        containers.push(container!());
    }
    let results: Vec<Result<String, String>> = std::thread::scope(|scope| {
        let runs: Vec<_> = containers
            .iter()
            .enumerate()
            .map(|(i, c)| {
                scope
                    .spawn(move || run_ok(&sh(c, &format!("echo {i} > /who; sleep 0.2; cat /who"))))
            })
            .collect();
        runs.into_iter()
            .map(|run| run.join().unwrap_or_else(|_| Err("run panicked".into())))
            .collect()
    });
    for (i, (result, c)) in results.into_iter().zip(&containers).enumerate() {
        let stdout = result?;
        check(stdout == format!("{i}\n"), || {
            format!("run {i} printed {stdout:?}")
        })?;
        let written = std::fs::read_to_string(c.upper().join("who")).map_err(|e| e.to_string())?;
        check(written == format!("{i}\n"), || {
            format!("run {i} upper has {written:?}")
        })?;
    }
    Ok(Verdict::Passed)
}
