//! `run`: the caller's side of a sandboxed command. Creates the run's cgroup, starts the
//! init (`/proc/self/exe` in a session of its own, with new mount/UTS/IPC/pid — and for an
//! isolated network, net — namespaces, the cgroup joined and a parent-death signal set
//! between fork and exec; a pooled default network is joined with `setns` instead), starts
//! the default network's NAT program against a fresh namespace (`network_pool` keeps it
//! for the build's next step, or it is stopped when the run ends), sends it the spec, streams the command's output to the caller,
//! waits for the init or for cancellation, and turns its report and exit status into a
//! `RunOutcome` or a `SandboxError` — after removing the mountpoint stubs from the upper
//! dir and the cgroup from the hierarchy.
//!
//! This module does not assemble the container; the init does, in its own process.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Instant;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rustix::pipe::{pipe_with, PipeFlags};
use rustix::process::{Pid, PidfdFlags};

use crate::cancel::CancelToken;
use crate::cgroup::RunCgroup;
use crate::error::SandboxError;
use crate::init::{InitRequest, INIT_ARG0, INIT_MARKER_ENV, REPORT_FD_ENV};
use crate::nat_helper::{nat_helper, NatHelper};
use crate::network::namespace_flags;
use crate::network_pool::{self, StepNetwork};
use crate::output::pump_output;
use crate::report::read_report;
use crate::seccomp::compiled_program;
use crate::spec::{NetworkMode, OutputStream, RunOutcome, SandboxSpec};
use crate::stubs;

/// Runs the command; output arrives through `on_output` as it is produced (from a reader
/// thread). A command that exits non-zero is `Ok(outcome)`; `Err` is a sandbox failure (bad
/// user, mount error, missing executable, timeout, cancellation). Cancelling `cancel`
/// kills the command and everything it started.
///
/// The running binary must call [`crate::init_hook`] first thing in `main()`.
pub fn run(
    spec: &SandboxSpec,
    cancel: &CancelToken,
    on_output: &mut (dyn FnMut(OutputStream, &[u8]) + Send),
) -> Result<RunOutcome, SandboxError> {
    spec.validate()?;
    if cancel.is_cancelled() {
        return Err(SandboxError::Cancelled);
    }
    let nat_program = match spec.network {
        NetworkMode::Default => Some(nat_helper().ok_or(SandboxError::NoNatHelper)?),
        NetworkMode::None | NetworkMode::Host => None,
    };
    let started = Instant::now();
    let cgroup = RunCgroup::create(&spec.resources)?;
    let RunningInit {
        mut init,
        nat,
        report,
        stdout,
        stderr,
    } = start_init(spec, nat_program, cgroup.as_ref())?;
    let (ended, pumped) = std::thread::scope(|scope| {
        let pump = scope.spawn(|| pump_output(stdout, stderr, on_output));
        let ended = wait_or_cancel(&mut init, cancel, cgroup.as_ref());
        (ended, pump.join())
    });
    // The init was reaped, so no process of the step is left in its network namespace.
    match (nat, &ended) {
        (Some(network), Ok(_)) => network_pool::give_back(network),
        (network, _) => drop(network),
    }
    let report = read_report(report);
    if let Ok(report) = &report {
        stubs::remove_from_upper(&spec.rootfs.upper, &report.mountpoints_created);
    }
    drop(cgroup);
    let status = match ended? {
        InitEnd::Exited(status) => status,
        InitEnd::Cancelled => return Err(SandboxError::Cancelled),
    };
    let pumped = pumped.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let report = report?;
    if let Some(failure) = report.failure {
        return Err(failure.into());
    }
    let exit_code = shell_status(status);
    if !report.command_started {
        return Err(SandboxError::InitDied { status: exit_code });
    }
    pumped.map_err(|e| SandboxError::io("reading the command's output", e))?;
    let duration = started.elapsed();
    tracing::debug!(command = ?spec.args, exit_code, ?duration, "sandbox run finished");
    Ok(RunOutcome {
        exit_code,
        duration,
    })
}

/// How waiting for the init ended.
enum InitEnd {
    Exited(ExitStatus),
    /// The token was cancelled; the init and its cgroup were killed and reaped.
    Cancelled,
}

/// Waits for the init to exit, or kills it (and every process in its cgroup) as soon as
/// `cancel` fires.
fn wait_or_cancel(
    init: &mut Child,
    cancel: &CancelToken,
    cgroup: Option<&RunCgroup>,
) -> Result<InitEnd, SandboxError> {
    let waited = |init: &mut Child| {
        init.wait()
            .map_err(|e| SandboxError::io("waiting for the sandbox init", e))
    };
    let Some(pidfd) = Pid::from_raw(init.id() as i32)
        .and_then(|pid| rustix::process::pidfd_open(pid, PidfdFlags::empty()).ok())
    else {
        return waited(init).map(InitEnd::Exited);
    };
    loop {
        let mut fds = [
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(cancel.wake_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) if fds[1].any().unwrap_or(false) => {
                let _ = init.kill();
                if let Some(cgroup) = cgroup {
                    cgroup.kill_all();
                }
                waited(init)?;
                return Ok(InitEnd::Cancelled);
            }
            Ok(_) => return waited(init).map(InitEnd::Exited),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(SandboxError::io("waiting for the sandbox init", errno)),
        }
    }
}

/// An init that has its spec, with its network's NAT program (default network) and the
/// read ends of its report and output pipes.
struct RunningInit {
    init: Child,
    nat: Option<StepNetwork>,
    report: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

fn start_init(
    spec: &SandboxSpec,
    nat_helper: Option<&'static NatHelper>,
    cgroup: Option<&RunCgroup>,
) -> Result<RunningInit, SandboxError> {
    let (report, report_write) = pipe_with(PipeFlags::CLOEXEC)
        .map_err(|e| SandboxError::io("creating the report pipe", e))?;
    let pooled = nat_helper.and_then(|_| network_pool::take_free());
    let network_flag = match pooled {
        Some(_) => 0,
        None => namespace_flags(spec.network),
    };
    let setup = InitSetup {
        parent: std::process::id(),
        report_fd: report_write.as_raw_fd(),
        namespaces: libc::CLONE_NEWNS
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWPID
            | network_flag,
        join_netns: pooled.as_ref().map(|n| n.netns.as_raw_fd()),
        cgroup_procs: cgroup.map(RunCgroup::join_descriptors).unwrap_or_default(),
    };
    let mut init = spawn_init(setup)?;
    drop(report_write);
    // The init waits for its spec, so the command starts only once the NAT is ready.
    let network = match (pooled, nat_helper) {
        (Some(network), _) => Ok(Some(network)),
        (None, Some(helper)) => fresh_network(helper, init.id()).map(Some),
        (None, None) => Ok(None),
    };
    let started = network.and_then(|nat| {
        send_spec(&mut init, spec)?;
        Ok((nat, take_output_pipes(&mut init)?))
    });
    match started {
        Ok((nat, (stdout, stderr))) => Ok(RunningInit {
            init,
            nat,
            report,
            stdout,
            stderr,
        }),
        Err(err) => {
            // Without its spec the init cannot run anything: end it and reap it.
            let _ = init.kill();
            let _ = init.wait();
            Err(err)
        }
    }
}

/// What the forked init does before exec.
struct InitSetup {
    parent: u32,
    report_fd: RawFd,
    namespaces: libc::c_int,
    /// A pooled network namespace to join instead of unsharing one.
    join_netns: Option<RawFd>,
    /// `cgroup.procs` files to write `0` to.
    cgroup_procs: Vec<RawFd>,
}

fn spawn_init(setup: InitSetup) -> Result<Child, SandboxError> {
    let mut command = Command::new("/proc/self/exe");
    command
        .arg0(INIT_ARG0)
        .env_clear()
        .env(INIT_MARKER_ENV, "1")
        .env(REPORT_FD_ENV, setup.report_fd.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure only makes raw syscalls (setsid, write, unshare, prctl, getppid,
    // fcntl) on data prepared before the fork, all async-signal-safe, so it is sound
    // between fork and exec in a threaded process.
    unsafe {
        command.pre_exec(move || enter_init_namespaces(&setup));
    }
    command
        .spawn()
        .map_err(|source| SandboxError::Spawn { source })
}

/// Runs in the forked child before exec: a session of its own (a terminal's Ctrl-C
/// reaches rbuild, which cancels, never the sandbox directly), the run's cgroup, new
/// namespaces for the init (the pid namespace applies to its children), death with the
/// caller, and the report pipe kept across exec.
fn enter_init_namespaces(setup: &InitSetup) -> std::io::Result<()> {
    let failed = || Err(std::io::Error::last_os_error());
    // SAFETY: plain syscalls on integers and a static buffer.
    unsafe {
        if libc::setsid() < 0 {
            return failed();
        }
        for &fd in &setup.cgroup_procs {
            if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return failed();
            }
        }
        if let Some(netns) = setup.join_netns {
            if libc::setns(netns, libc::CLONE_NEWNET) != 0 {
                return failed();
            }
        }
        if libc::unshare(setup.namespaces) != 0
            || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0
            || libc::fcntl(setup.report_fd, libc::F_SETFD, 0) != 0
        {
            return failed();
        }
        // The caller may have died before the death signal was armed.
        if libc::getppid() as u32 != setup.parent {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    Ok(())
}

/// Attaches a NAT program to the fresh network namespace of the init `init_pid`.
fn fresh_network(helper: &'static NatHelper, init_pid: u32) -> Result<StepNetwork, SandboxError> {
    let netns = std::fs::File::open(format!("/proc/{init_pid}/ns/net")).map_err(|e| {
        SandboxError::NatFailed {
            helper: helper.name(),
            reason: format!("opening the step's network namespace: {e}"),
        }
    })?;
    network_pool::start(helper, netns)
}

fn send_spec(init: &mut Child, spec: &SandboxSpec) -> Result<(), SandboxError> {
    let request = InitRequest {
        spec: spec.clone(),
        seccomp_program: compiled_program()?,
    };
    let json = serde_json::to_vec(&request).map_err(|e| SandboxError::InvalidSpec {
        reason: format!("cannot encode the spec: {e}"),
    })?;
    let Some(mut stdin) = init.stdin.take() else {
        return Err(SandboxError::io(
            "sending the spec",
            std::io::ErrorKind::BrokenPipe,
        ));
    };
    match stdin.write_all(&json) {
        // An init that died early reports (or is reported as) a failure after the wait.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| SandboxError::io("sending the spec to the sandbox init", e)),
    }
}

fn take_output_pipes(init: &mut Child) -> Result<(OwnedFd, OwnedFd), SandboxError> {
    match (init.stdout.take(), init.stderr.take()) {
        (Some(out), Some(err)) => Ok((out.into(), err.into())),
        _ => Err(SandboxError::io(
            "capturing the command's output",
            std::io::ErrorKind::BrokenPipe,
        )),
    }
}

/// 128 + n for a signal, like a shell.
fn shell_status(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(crate::pid1::SETUP_FAILED_STATUS)
}
