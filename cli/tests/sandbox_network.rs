//! End-to-end: the default RUN network is a namespace of its own behind user-mode NAT —
//! slirp4netns, or pasta when slirp4netns is not on PATH. A step reaches a server on the host's
//! outbound address but neither the host's 127.0.0.1 nor the host through the gateway
//! address; resolv.conf names the NAT's DNS forwarder. With neither program on PATH the
//! build warns and uses the host's network. RUNs of one build reuse a pooled namespace and
//! its NAT program (parallel ones get their own); the NAT programs end with the build: when
//! it finishes, is interrupted, or is killed.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::listener::{outbound_ipv4, HostListener};
use common::{assert_success, context_from, stderr, TestStore};
use tempfile::TempDir;

/// Where Debian installs the NAT programs (packages passt and slirp4netns).
const PASTA: &str = "/usr/bin/pasta";
const SLIRP4NETNS: &str = "/usr/bin/slirp4netns";

/// A directory to use as rbuild's whole `PATH`, holding links to `programs` only.
fn path_with(programs: &[&str]) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("rbuild-path-")
        .tempdir()
        .unwrap();
    for program in programs {
        assert!(
            Path::new(program).exists(),
            "{program} is missing: install Debian's passt and slirp4netns"
        );
        let name = Path::new(program).file_name().unwrap();
        symlink(program, dir.path().join(name)).unwrap();
    }
    dir
}

fn rbuild_command(store: &TestStore, path: Option<&Path>, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rbuild"));
    command.arg("--root").arg(store.root()).args(args);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    command
}

/// Builds `dockerfile` with `PATH` set to `path` (unchanged when `None`) and returns the
/// build's output and the files it wrote under /out.
fn build(
    store: &TestStore,
    path: Option<&Path>,
    dockerfile: &str,
    extra: &[&str],
) -> (Output, TempDir) {
    let context = context_from(&[("Dockerfile", dockerfile)]);
    let out = tempfile::tempdir().unwrap();
    let dest = format!("type=local,dest={}", out.path().display());
    let mut args = vec!["build", "--progress", "plain", "-o", &dest];
    args.extend_from_slice(extra);
    let context_arg = context.path().display().to_string();
    args.push(&context_arg);
    let output = rbuild_command(store, path, &args).output().unwrap();
    assert_success(&output, "network build");
    (output, out)
}

fn read(dir: &TempDir, path: &str) -> String {
    fs::read_to_string(dir.path().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A RUN that records its network namespace, then one that fetches `http://host:port/` for
/// each target and writes `host:port reached|unreachable` lines (the listener's body is
/// `host`), the interfaces, resolv.conf and both steps' namespaces under /out.
fn probe_step(targets: &[String]) -> String {
    let probes: Vec<String> = targets
        .iter()
        .map(|target| {
            let (host, port) = target.rsplit_once(':').unwrap();
            format!("probe {host} {port}")
        })
        .collect();
    format!(
        "FROM busybox\n\
         RUN readlink /proc/self/ns/net > /first-netns\n\
         RUN mkdir -p /out && cp /first-netns /out/first-netns && readlink /proc/self/ns/net > /out/netns && probe() {{ r=$(wget -q -T 3 -O - \"http://$1:$2/\" 2>/dev/null); \
         if [ \"$r\" = host ]; then echo \"$1:$2 reached\"; else echo \"$1:$2 unreachable\"; fi; }}; \
         ( {} ) > /out/net; ls /sys/class/net > /out/ifaces; cp /etc/resolv.conf /out/resolv\n",
        probes.join("; ")
    )
}

/// With `programs` alone on PATH: the host's loopback (directly and through the gateway
/// address) is out of reach from a namespace an earlier step used, a server on the host's
/// outbound address is reached. The step
/// has `lo` and one more interface (`tap0` is slirp4netns's; pasta names it as the host's).
fn isolated_with_nat(programs: &[&str], interface: Option<&str>) {
    let Some(outbound) = outbound_ipv4() else {
        println!(
            "RBUILD-TEST-SKIPPED: {}: the host has no non-loopback IPv4 address",
            module_path!()
        );
        return;
    };
    let store = TestStore::with_busybox();
    let path = path_with(programs);
    let loopback = HostListener::loopback();
    let outside = HostListener::bind(outbound);
    let targets = [
        format!("127.0.0.1:{}", loopback.port()),
        format!("10.0.2.2:{}", loopback.port()),
        outside.addr.to_string(),
    ];
    let (output, out) = build(&store, Some(path.path()), &probe_step(&targets), &[]);
    assert_eq!(
        read(&out, "out/netns"),
        read(&out, "out/first-netns"),
        "the second RUN did not reuse the first one's network namespace"
    );
    let net = read(&out, "out/net");
    assert_eq!(
        net,
        format!(
            "{} unreachable\n{} unreachable\n{} reached\n",
            targets[0], targets[1], targets[2]
        ),
        "{}",
        stderr(&output)
    );
    assert!(!loopback.reached(), "the host's loopback was reached");
    assert!(outside.reached(), "the outbound listener saw no connection");
    let ifaces = read(&out, "out/ifaces");
    assert!(
        ifaces.lines().count() == 2 && ifaces.contains("lo\n"),
        "{ifaces}"
    );
    if let Some(interface) = interface {
        assert!(ifaces.lines().any(|l| l == interface), "{ifaces}");
    }
    assert_eq!(
        read(&out, "out/resolv").lines().next(),
        Some("nameserver 10.0.2.3")
    );
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
}

#[test]
fn the_default_network_goes_through_slirp4netns_and_not_to_the_host_loopback() {
    require_sandbox!();
    isolated_with_nat(&[PASTA, SLIRP4NETNS], Some("tap0"));
}

#[test]
fn without_slirp4netns_the_default_network_goes_through_pasta() {
    require_sandbox!();
    isolated_with_nat(&[PASTA], None);
}

#[test]
fn the_host_network_reaches_the_host_loopback() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let path = path_with(&[PASTA]);
    let loopback = HostListener::loopback();
    let target = format!("127.0.0.1:{}", loopback.port());
    let (_, out) = build(
        &store,
        Some(path.path()),
        &probe_step(std::slice::from_ref(&target)),
        &["--network", "host"],
    );
    assert_eq!(read(&out, "out/net"), format!("{target} reached\n"));
    assert!(loopback.reached());
}

#[test]
fn without_a_nat_program_the_build_warns_and_uses_the_host_network() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let empty_path = path_with(&[]);
    let loopback = HostListener::loopback();
    let target = format!("127.0.0.1:{}", loopback.port());
    let (output, out) = build(
        &store,
        Some(empty_path.path()),
        &probe_step(std::slice::from_ref(&target)),
        &[],
    );
    let warnings: Vec<String> = stderr(&output)
        .lines()
        .filter(|line| line.starts_with("warning:"))
        .map(String::from)
        .collect();
    assert_eq!(warnings.len(), 1, "{}", stderr(&output));
    assert!(
        warnings[0].contains("host's network")
            && warnings[0].contains("slirp4netns or passt (pasta)"),
        "{}",
        warnings[0]
    );
    assert_eq!(read(&out, "out/net"), format!("{target} reached\n"));
    assert!(loopback.reached());
}

/// How a build that has a NAT program running is ended.
#[derive(Clone, Copy, Debug)]
enum Ending {
    Finished,
    Interrupted,
    Killed,
}

/// The NAT programs whose parent is `parent`.
fn nat_children(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let ppid = stat[close + 1..].split_whitespace().nth(1);
        // pasta runs as `passt` or `passt.avx2`.
        let is_nat = comm.starts_with("pas") || comm == "slirp4netns";
        if is_nat && ppid.and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            found.push(pid);
        }
    }
    found
}

/// Whether `pid` is still a live process (not gone, not a zombie).
fn alive(pid: u32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rfind(')')
        .and_then(|close| stat[close + 1..].split_whitespace().next())
        .is_some_and(|state| state != "Z")
}

fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A build whose NAT program was started for an earlier step (`RUN true`) and is pooled
/// while `RUN sleep` runs.
fn start_sleeping_build(store: &TestStore, path: &Path, seconds: u32) -> (Child, TempDir) {
    let context = context_from(&[(
        "Dockerfile",
        &format!("FROM busybox\nRUN true\nRUN sleep {seconds}\n"),
    )]);
    let context_arg = context.path().display().to_string();
    let child = rbuild_command(
        store,
        Some(path),
        &["build", "--progress", "plain", "--no-cache", &context_arg],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    (child, context)
}

fn nat_ends_with_the_build(program: &str, ending: Ending) {
    let store = TestStore::with_busybox();
    let path = path_with(&[program]);
    let seconds = match ending {
        Ending::Finished => 2,
        Ending::Interrupted | Ending::Killed => 30,
    };
    let (mut build, _context) = start_sleeping_build(&store, path.path(), seconds);
    let rbuild = build.id();
    let nat = wait_for("the NAT program to start", Duration::from_secs(20), || {
        nat_children(rbuild).first().copied()
    });
    let signal = match ending {
        Ending::Finished => None,
        Ending::Interrupted => Some(libc::SIGINT),
        Ending::Killed => Some(libc::SIGKILL),
    };
    if let Some(signal) = signal {
        // SAFETY: kill(2) on the pid of a child we have not reaped yet.
        assert_eq!(unsafe { libc::kill(rbuild as libc::pid_t, signal) }, 0);
    }
    let status = build.wait().unwrap();
    if let Ending::Finished = ending {
        assert!(status.success(), "{status:?}");
    }
    wait_for(
        &format!("{program} (pid {nat}) to end after the build was {ending:?}"),
        Duration::from_secs(5),
        || (!alive(nat)).then_some(()),
    );
}

#[test]
fn the_nat_program_ends_when_its_build_finishes_is_interrupted_or_killed() {
    require_sandbox!();
    for program in [PASTA, SLIRP4NETNS] {
        for ending in [Ending::Finished, Ending::Interrupted, Ending::Killed] {
            nat_ends_with_the_build(program, ending);
        }
    }
}

/// The distinct NAT programs `build` (a running rbuild) had as children until it exited.
fn nat_programs_over(mut build: Child) -> (std::process::ExitStatus, Vec<u32>) {
    let mut seen = Vec::new();
    loop {
        for pid in nat_children(build.id()) {
            if !seen.contains(&pid) {
                seen.push(pid);
            }
        }
        if let Some(status) = build.try_wait().unwrap() {
            return (status, seen);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Two stages whose RUNs (different, so not one deduplicated step) overlap in time each
/// listen on 10.0.2.100:8080 for 2 s, then (after both) two sequential RUNs sleep: the parallel RUNs need (and get) two namespaces, both listeners
/// bind, and the sequential ones reuse one of them — two NAT programs over the whole build,
/// none left after it.
#[test]
fn sequential_runs_reuse_a_pooled_network_and_parallel_ones_get_their_own() {
    require_sandbox!();
    let listen = "mkdir /o && (nc -l -s 10.0.2.100 -p 8080 & p=$!; sleep 2; \
         if kill $p 2>/dev/null; then echo bound; else echo failed; fi) > /o/r && \
         readlink /proc/self/ns/net >> /o/r";
    let dockerfile = format!(
        "FROM busybox AS a\nRUN : a; {listen}\nFROM busybox AS b\nRUN : b; {listen}\n\
         FROM busybox\nCOPY --from=a /o/r /a\nCOPY --from=b /o/r /b\n\
         RUN sleep 0.5; readlink /proc/self/ns/net > /s1\n\
         RUN sleep 0.5; readlink /proc/self/ns/net > /s2\n"
    );
    for program in [SLIRP4NETNS, PASTA] {
        let store = TestStore::with_busybox();
        let path = path_with(&[program]);
        let context = context_from(&[("Dockerfile", &dockerfile)]);
        let out = tempfile::tempdir().unwrap();
        let dest = format!("type=local,dest={}", out.path().display());
        let context_arg = context.path().display().to_string();
        let build = rbuild_command(
            &store,
            Some(path.path()),
            &["build", "--progress", "plain", "-o", &dest, &context_arg],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let (status, nat_programs) = nat_programs_over(build);
        assert!(status.success(), "{program}: {status:?}");
        let (a, b) = (read(&out, "a"), read(&out, "b"));
        let (a_lines, b_lines): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
        assert_eq!((a_lines[0], b_lines[0]), ("bound", "bound"), "{program}");
        assert_ne!(
            a_lines[1], b_lines[1],
            "{program}: parallel RUNs shared a namespace"
        );
        let sequential = (read(&out, "s1"), read(&out, "s2"));
        assert_eq!(sequential.0, sequential.1, "{program}: no reuse");
        assert!(
            a_lines[1] == sequential.0.trim() || b_lines[1] == sequential.0.trim(),
            "{program}: the sequential RUNs did not reuse a pooled namespace"
        );
        assert_eq!(
            nat_programs.len(),
            2,
            "{program}: NAT programs {nat_programs:?}"
        );
        for pid in nat_programs {
            wait_for(
                &format!("{program} (pid {pid}) to end with the build"),
                Duration::from_secs(5),
                || (!alive(pid)).then_some(()),
            );
        }
    }
}
