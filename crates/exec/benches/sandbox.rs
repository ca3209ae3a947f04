//! Start-plus-teardown cost of the sandbox: `run` of `/bin/true` on the busybox image
//! (namespaces, overlay mount, pivot_root, /proc and /dev, fork/exec, reaping, unmount).
//!
//! `harness = false` with our own `main`: the sandbox re-executes this binary as its init,
//! so `init_hook` must run before criterion starts.

#[path = "../tests/support/busybox.rs"]
mod busybox;

use std::time::Duration;

use criterion::{criterion_group, Criterion};
use rbuild_exec::{run, LayerStack, NetworkMode, SandboxSpec};

fn run_true(c: &mut Criterion) {
    let rootfs = match busybox::rootfs() {
        Ok(rootfs) => rootfs,
        Err(reason) => {
            eprintln!("skipping the sandbox benchmark: {reason}");
            return;
        }
    };
    let scratch = tempfile::tempdir().expect("creating a temporary directory");
    let spec = SandboxSpec {
        rootfs: LayerStack {
            lowers: vec![rootfs.to_path_buf()],
            upper: scratch.path().join("upper"),
            work: scratch.path().join("work"),
        },
        args: vec!["/bin/true".into()],
        env: vec![],
        cwd: "/".into(),
        user: String::new(),
        hostname: "bench".into(),
        network: NetworkMode::Host,
        timeout: Some(Duration::from_secs(30)),
    };
    for dir in [&spec.rootfs.upper, &spec.rootfs.work] {
        std::fs::create_dir(dir).expect("creating upper/work");
    }
    c.bench_function("run /bin/true on busybox", |b| {
        b.iter(|| {
            let outcome = run(&spec, &mut |_, _| {}).expect("sandbox run");
            assert_eq!(outcome.exit_code, 0);
        })
    });
}

criterion_group!(benches, run_true);

fn main() {
    rbuild_exec::init_hook();
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
