//! The sandbox's hardening against the real busybox image: Docker's default capabilities,
//! `no_new_privs`, the default seccomp profile, masked and read-only kernel paths, and
//! network isolation — each checked from inside a container.
//!
//! `harness = false`: the sandbox re-executes this binary as its init, so `main` calls
//! `init_hook` before anything else.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rbuild_exec::NetworkMode;
use support::container::{capture, run_ok, sh, Container};
use support::runner::{check, run_tests, tests, TestResult, Verdict};

fn main() {
    rbuild_exec::init_hook();
    run_tests(&tests![
        root_gets_docker_s_capabilities_and_seccomp,
        other_users_get_no_effective_capabilities,
        privileged_operations_are_denied,
        seccomp_denies_what_capabilities_would_allow,
        kernel_paths_are_masked_or_read_only,
        network_none_cannot_reach_the_host_but_has_loopback,
        host_network_reaches_host_loopback,
        etc_files_are_provided_but_never_written_to_the_layer,
    ]);
}

/// `Key: value` lines of /proc/self/status as the command sees them.
fn status_fields(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect()
}

fn expect_fields(fields: &BTreeMap<String, String>, expected: &[(&str, &str)]) -> TestResult {
    for (key, value) in expected {
        check(fields.get(*key).map(String::as_str) == Some(*value), || {
            format!("{key}: expected {value}, got {:?}", fields.get(*key))
        })?;
    }
    Ok(Verdict::Passed)
}

fn root_gets_docker_s_capabilities_and_seccomp() -> TestResult {
    let c = container!();
    let stdout = run_ok(&sh(&c, "cat /proc/self/status"))?;
    expect_fields(
        &status_fields(&stdout),
        &[
            ("CapInh", "0000000000000000"),
            ("CapPrm", "00000000a80425fb"),
            ("CapEff", "00000000a80425fb"),
            ("CapBnd", "00000000a80425fb"),
            ("CapAmb", "0000000000000000"),
            ("NoNewPrivs", "1"),
            ("Seccomp", "2"),
        ],
    )
}

fn other_users_get_no_effective_capabilities() -> TestResult {
    let c = container!();
    let mut spec = sh(&c, "cat /proc/self/status");
    spec.user = "1234:1234".into();
    let stdout = run_ok(&spec)?;
    expect_fields(
        &status_fields(&stdout),
        &[
            ("Uid", "1234\t1234\t1234\t1234"),
            ("CapEff", "0000000000000000"),
            ("CapPrm", "0000000000000000"),
            ("CapBnd", "00000000a80425fb"),
            ("NoNewPrivs", "1"),
            ("Seccomp", "2"),
        ],
    )
}

/// Runs `script` and returns each line it printed: the scripts below print `denied` or
/// `ALLOWED` per operation.
fn probe(c: &Container, script: &str) -> Result<Vec<String>, String> {
    Ok(run_ok(&sh(c, script))?
        .lines()
        .map(str::to_string)
        .collect())
}

fn all_denied(lines: &[String], count: usize) -> TestResult {
    check(
        lines.len() == count && lines.iter().all(|l| l.ends_with("denied")),
        || format!("expected {count} denials, got {lines:?}"),
    )?;
    Ok(Verdict::Passed)
}

fn privileged_operations_are_denied() -> TestResult {
    let c = container!();
    let lines = probe(
        &c,
        "try() { if \"$@\" 2>/dev/null; then echo \"$1 ALLOWED\"; else echo \"$1 denied\"; fi; }
         mkdir -p /mnt/x; printf '' > /tmp/empty.ko
         try mount -t tmpfs none /mnt/x
         try mount --bind /tmp /mnt/x
         try insmod /tmp/empty.ko
         try sh -c 'echo 1 > /proc/sys/vm/drop_caches'
         try sh -c 'echo x > /proc/sys/kernel/hostname'
         try hostname other-name
         try sh -c 'echo b > /proc/sysrq-trigger'
         try touch /sys/kernel/x
         try ip link add dummy0 type dummy",
    )?;
    all_denied(&lines, 9)
}

fn seccomp_denies_what_capabilities_would_allow() -> TestResult {
    // A user namespace needs no capability, a pivot_root or chroot escape needs no more
    // than the default set would give inside one: only the filter stands in the way.
    let c = container!();
    let lines = probe(
        &c,
        "try() { if \"$@\" 2>/dev/null; then echo \"$1 ALLOWED\"; else echo \"$1 denied\"; fi; }
         try unshare -U true
         try unshare -r true
         try nsenter -t 1 -m true",
    )?;
    all_denied(&lines, 3)
}

fn kernel_paths_are_masked_or_read_only() -> TestResult {
    let c = container!();
    // Paths this kernel lacks (no /proc/kcore here) read as empty too.
    let stdout = run_ok(&sh(
        &c,
        "for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do \
           cat $p 2>/dev/null | wc -c; done; ls /sys/firmware | wc -l; \
         cat /proc/sys/kernel/ostype; grep -c ' /sys ro,' /proc/self/mountinfo",
    ))?;
    check(stdout == "0\n0\n0\n0\n0\nLinux\n1\n", || {
        format!("masked paths show content or /proc/sys is unreadable: {stdout:?}")
    })?;
    Ok(Verdict::Passed)
}

/// A TCP listener on the host's loopback that counts the connections it accepts.
struct HostListener {
    port: u16,
    accepted: Arc<AtomicBool>,
}

impl HostListener {
    fn start() -> Result<HostListener, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let accepted = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&accepted);
        // Bounded: the thread answers for at most 20 seconds, then stops by itself.
        std::thread::spawn(move || {
            for _ in 0..400 {
                if let Ok((mut stream, _)) = listener.accept() {
                    flag.store(true, Ordering::SeqCst);
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.write_all(b"hello from the host\n");
                    let mut sink = [0u8; 64];
                    let _ = stream.read(&mut sink);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Ok(HostListener { port, accepted })
    }
}

fn network_none_cannot_reach_the_host_but_has_loopback() -> TestResult {
    let host = HostListener::start()?;
    let c = container!();
    let script = format!(
        "ls /sys/class/net; \
         if echo x | nc -w 2 127.0.0.1 {port}; then echo reached; else echo unreachable; fi; \
         (echo pong | nc -l -p 9999 -s 127.0.0.1 &) ; sleep 0.3; nc -w 2 127.0.0.1 9999 < /dev/null",
        port = host.port
    );
    let mut spec = sh(&c, &script);
    spec.network = NetworkMode::None;
    let out = capture(&spec).map_err(|e| e.to_string())?;
    check(out.stdout == "lo\nunreachable\npong\n", || {
        format!("stdout {:?}, stderr {:?}", out.stdout, out.stderr)
    })?;
    check(!host.accepted.load(Ordering::SeqCst), || {
        "the host listener saw a connection".into()
    })?;
    Ok(Verdict::Passed)
}

fn host_network_reaches_host_loopback() -> TestResult {
    let host = HostListener::start()?;
    let c = container!();
    let mut spec = sh(&c, &format!("echo x | nc -w 5 127.0.0.1 {}", host.port));
    spec.network = NetworkMode::Host;
    let stdout = run_ok(&spec)?;
    check(stdout == "hello from the host\n", || {
        format!("stdout {stdout:?}")
    })?;
    check(host.accepted.load(Ordering::SeqCst), || {
        "the host listener saw no connection".into()
    })?;
    Ok(Verdict::Passed)
}

fn etc_files_are_provided_but_never_written_to_the_layer() -> TestResult {
    let c = container!();
    let stdout = run_ok(&sh(
        &c,
        "cat /etc/hostname; grep -c localhost /etc/hosts; grep -c nameserver /etc/resolv.conf; \
         if echo x >> /etc/hosts 2>/dev/null; then echo writable; else echo read-only; fi",
    ))?;
    let lines: Vec<&str> = stdout.lines().collect();
    check(
        lines.len() == 4
            && lines[0] == "rbuild-sandbox-test"
            && lines[1] == "2"
            && lines[2] != "0"
            && lines[3] == "read-only",
        || format!("stdout {stdout:?}"),
    )?;
    let upper = support::container::entries(&c.upper())?;
    check(upper.is_empty(), || format!("upper dir has {upper:?}"))?;
    Ok(Verdict::Passed)
}
