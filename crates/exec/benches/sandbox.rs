//! Start-plus-teardown cost of the sandbox: `run` of `/bin/true` on the busybox image
//! (namespaces, overlay mount, the generated /etc files, pivot_root, /proc, /dev and /sys,
//! masked paths, capabilities, seccomp, fork/exec, reaping, unmount), next to a baseline
//! measured in the same process: plain fork+exec of the host's `/bin/true`. The first case
//! shares the host's network; a second adds memory and pids limits, i.e. a cgroup per run;
//! a third has the default network: a namespace of its own and a NAT program per run; a
//! fourth has the default network inside a `NetworkPoolScope`, as a build's steps do: the
//! namespace and its NAT program are reused from run to run.
//!
//! After criterion's report, the medians of each case are printed as a ratio to the
//! baseline, which makes numbers from different machines comparable.
//!
//! `harness = false` with our own `main`: the sandbox re-executes this binary as its init,
//! so `init_hook` must run before criterion starts.

#[path = "../tests/support/busybox.rs"]
mod busybox;

use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use rbuild_exec::{
    run, CancelToken, LayerStack, NetworkMode, NetworkPoolScope, Resources, SandboxSpec,
};

/// Samples per case for the printed ratio.
const RATIO_SAMPLES: usize = 41;

/// A spec running `/bin/true` over busybox, with upper/work dirs in `scratch`.
fn true_spec(rootfs: &std::path::Path, scratch: &std::path::Path) -> SandboxSpec {
    let spec = SandboxSpec {
        rootfs: LayerStack {
            lowers: vec![rootfs.to_path_buf()],
            upper: scratch.join("upper"),
            work: scratch.join("work"),
        },
        args: vec!["/bin/true".into()],
        env: vec![],
        cwd: "/".into(),
        user: String::new(),
        hostname: "bench".into(),
        network: NetworkMode::Host,
        timeout: Some(Duration::from_secs(30)),
        mounts: Vec::new(),
        resources: Resources::default(),
    };
    for dir in [&spec.rootfs.upper, &spec.rootfs.work] {
        std::fs::create_dir_all(dir).expect("creating upper/work");
    }
    spec
}

fn sandboxed_true(spec: &SandboxSpec, cancel: &CancelToken) {
    let outcome = run(spec, cancel, &mut |_, _| {}).expect("sandbox run");
    assert_eq!(outcome.exit_code, 0);
}

fn host_true() {
    let status = Command::new("/bin/true").status().expect("fork+exec");
    assert!(status.success());
}

fn with_nat(spec: &SandboxSpec) -> SandboxSpec {
    let mut spec = spec.clone();
    spec.network = NetworkMode::Default;
    spec
}

fn limited(spec: &SandboxSpec) -> SandboxSpec {
    let mut spec = spec.clone();
    spec.resources = Resources {
        memory_bytes: Some(256 << 20),
        max_pids: Some(1024),
    };
    spec
}

fn start_and_teardown(c: &mut Criterion) {
    let rootfs = match busybox::rootfs() {
        Ok(rootfs) => rootfs,
        Err(reason) => {
            eprintln!("skipping the sandbox benchmark: {reason}");
            return;
        }
    };
    let scratch = tempfile::tempdir().expect("creating a temporary directory");
    let spec = true_spec(rootfs, scratch.path());
    let with_limits = limited(&spec);
    let nat = with_nat(&spec);
    let cancel = CancelToken::new().expect("creating a cancel token");
    let mut group = c.benchmark_group("sandbox start+teardown");
    group.bench_function("baseline: fork+exec /bin/true on the host", |b| {
        b.iter(host_true)
    });
    group.bench_function("run /bin/true on busybox", |b| {
        b.iter(|| sandboxed_true(&spec, &cancel))
    });
    group.bench_function("run /bin/true on busybox with memory+pids limits", |b| {
        b.iter(|| sandboxed_true(&with_limits, &cancel))
    });
    group.bench_function(
        "run /bin/true on busybox with the default network (NAT)",
        |b| b.iter(|| sandboxed_true(&nat, &cancel)),
    );
    group.bench_function(
        "run /bin/true on busybox with the default network (pooled NAT)",
        |b| {
            let _pool = NetworkPoolScope::open();
            b.iter(|| sandboxed_true(&nat, &cancel))
        },
    );
    group.finish();
    let cases = [
        ("run", &spec, false),
        ("run with limits", &with_limits, false),
        ("run with the default network", &nat, false),
        ("run with the default network, pooled", &nat, true),
    ];
    print_ratios(&cases, &cancel);
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Measures each case in a block of its own, right after criterion's runs (so every case
/// is warm), and prints the medians against the baseline's. A pooled case runs inside a
/// pool scope of its own.
fn print_ratios(cases: &[(&str, &SandboxSpec, bool)], cancel: &CancelToken) {
    let samples = |f: &dyn Fn()| -> Vec<Duration> {
        (0..RATIO_SAMPLES)
            .map(|_| {
                let started = Instant::now();
                f();
                started.elapsed()
            })
            .collect()
    };
    let mut baseline = samples(&host_true);
    let base = median(&mut baseline);
    for (name, spec, pooled) in cases {
        let _pool = pooled.then(NetworkPoolScope::open);
        let m = median(&mut samples(&|| sandboxed_true(spec, cancel)));
        println!(
            "median {name}: {m:.2?} = {:.1}x the fork+exec baseline ({base:.2?})",
            m.as_secs_f64() / base.as_secs_f64()
        );
    }
}

criterion_group!(benches, start_and_teardown);

fn main() {
    rbuild_exec::init_hook();
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
