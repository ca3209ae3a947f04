//! End-to-end crash safety and concurrency on one store: eight builds with overlapping
//! steps at once all succeed with the right contents; then builds SIGKILLed at random
//! moments (at least 50) leave a store that `rbuild cache check` finds undamaged and the
//! next build uses without error; so do prunes SIGKILLed at random moments.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{assert_success, context_from, stdout, TestStore};

const DOCKERFILE: &str = "FROM busybox
RUN echo shared > /shared
ARG N=0
RUN echo \"$N\" > /n && head -c 300000 /dev/urandom > /noise
COPY f.txt /f.txt
";

/// A build of variant `n`, exporting to `output` (an `-o` spec) when given.
fn spawn_build(
    store: &TestStore,
    context: &Path,
    n: usize,
    output: Option<String>,
    no_cache: bool,
) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rbuild"));
    command
        .arg("--root")
        .arg(store.root())
        .args(["build", "--progress", "plain", "--build-arg"])
        .arg(format!("N={n}"))
        .args(["-t", &format!("stress:{}", n % 4)])
        .args(output.iter().flat_map(|spec| ["-o", spec.as_str()]))
        .arg(context)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if no_cache {
        command.arg("--no-cache");
    }
    command.spawn().expect("spawn rbuild")
}

fn rootfs_to(out: &Path) -> Option<String> {
    Some(format!("type=local,dest={}", out.display()))
}

fn archive_to(out: &Path) -> Option<String> {
    Some(format!("type=oci,dest={}", out.display()))
}

fn assert_variant(out: &Path, n: usize) {
    assert_eq!(fs::read_to_string(out.join("n")).unwrap(), format!("{n}\n"));
    assert_eq!(fs::read_to_string(out.join("shared")).unwrap(), "shared\n");
    assert_eq!(fs::read_to_string(out.join("f.txt")).unwrap(), "payload\n");
    assert_eq!(fs::metadata(out.join("noise")).unwrap().len(), 300_000);
}

/// xorshift64*, seeded from the clock (the seed is printed to reproduce a failure).
struct Random(u64);

impl Random {
    fn from_clock() -> Random {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        println!("random seed: {seed}");
        Random(seed)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound.max(1)
    }
}

#[test]
fn concurrent_builds_succeed_and_random_kills_leave_a_usable_store() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[("Dockerfile", DOCKERFILE), ("f.txt", "payload\n")]);
    let outputs = tempfile::tempdir().unwrap();

    let builds: Vec<(usize, Child)> = (0..8)
        .map(|n| {
            let out = outputs.path().join(format!("out{n}"));
            (
                n,
                spawn_build(&store, context.path(), n, rootfs_to(&out), false),
            )
        })
        .collect();
    for (n, child) in builds {
        let output = child.wait_with_output().unwrap();
        assert_success(&output, &format!("concurrent build {n}"));
        assert_variant(&outputs.path().join(format!("out{n}")), n);
    }

    // How long one build that runs every step takes: kills land anywhere within it.
    let started = Instant::now();
    let timing = outputs.path().join("timing.tar");
    let output = spawn_build(&store, context.path(), 99, archive_to(&timing), true)
        .wait_with_output()
        .unwrap();
    assert_success(&output, "timing build");
    let duration_ms = started.elapsed().as_millis() as u64;

    let mut random = Random::from_clock();
    let kills = 50;
    for round in 0..kills {
        // Every third build also writes an archive, so kills land in exports too.
        let archive = outputs.path().join(format!("killed{round}.tar"));
        let output = (round % 3 == 0).then(|| archive_to(&archive)).flatten();
        let mut child = spawn_build(&store, context.path(), round % 8, output, true);
        std::thread::sleep(Duration::from_millis(random.below(duration_ms)));
        child.kill().expect("SIGKILL the build");
        child.wait().unwrap();
    }

    let check = store.rbuild(&["cache", "check"]);
    assert_success(&check, "cache check after the kills");
    assert!(stdout(&check).contains("no damage"), "{}", stdout(&check));

    for (n, no_cache) in [(5, false), (6, true)] {
        let out = outputs.path().join(format!("after{n}"));
        let output = spawn_build(&store, context.path(), n, rootfs_to(&out), no_cache)
            .wait_with_output()
            .unwrap();
        assert_success(
            &output,
            &format!("build after the kills (--no-cache: {no_cache})"),
        );
        assert_variant(&out, n);
    }
}

#[test]
fn prunes_killed_at_random_moments_leave_a_usable_store() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[("Dockerfile", DOCKERFILE), ("f.txt", "payload\n")]);
    let outputs = tempfile::tempdir().unwrap();
    let spawn_prune = || {
        Command::new(env!("CARGO_BIN_EXE_rbuild"))
            .arg("--root")
            .arg(store.root())
            .args(["cache", "prune", "--all"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn rbuild cache prune")
    };
    let fill = |n: usize| {
        let output = spawn_build(&store, context.path(), n, None, true)
            .wait_with_output()
            .unwrap();
        assert_success(&output, &format!("build {n} before a prune"));
    };

    // How long a prune of one build's worth of cache takes: kills land anywhere within it.
    fill(100);
    let started = Instant::now();
    assert!(spawn_prune().wait().unwrap().success(), "timing prune");
    let duration_ms = started.elapsed().as_millis() as u64;

    let mut random = Random::from_clock();
    for round in 0..20 {
        fill(200 + round);
        let mut prune = spawn_prune();
        std::thread::sleep(Duration::from_millis(random.below(duration_ms)));
        prune.kill().expect("SIGKILL the prune");
        prune.wait().unwrap();
    }

    let check = store.rbuild(&["cache", "check"]);
    assert_success(&check, "cache check after the killed prunes");
    assert!(stdout(&check).contains("no damage"), "{}", stdout(&check));
    let out = outputs.path().join("after");
    let output = spawn_build(&store, context.path(), 3, rootfs_to(&out), false)
        .wait_with_output()
        .unwrap();
    assert_success(&output, "build after the killed prunes");
    assert_variant(&out, 3);
}
