//! `run`: the caller's side of a sandboxed command. Starts the init (`/proc/self/exe`, with
//! new mount/UTS/IPC/pid namespaces and a parent-death signal set between fork and exec),
//! sends it the spec, streams the command's output to the caller, waits for the init and
//! turns its report and exit status into a `RunOutcome` or a `SandboxError`.
//!
//! This module does not assemble the container; the init does, in its own process.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Instant;

use rustix::pipe::{pipe_with, PipeFlags};

use crate::error::SandboxError;
use crate::init::{INIT_ARG0, INIT_MARKER_ENV, REPORT_FD_ENV};
use crate::output::pump_output;
use crate::report::read_report;
use crate::spec::{OutputStream, RunOutcome, SandboxSpec};

/// Runs the command; output arrives through `on_output` as it is produced (from a reader
/// thread). A command that exits non-zero is `Ok(outcome)`; `Err` is a sandbox failure (bad
/// user, mount error, missing executable, timeout).
///
/// The running binary must call [`crate::init_hook`] first thing in `main()`.
pub fn run(
    spec: &SandboxSpec,
    on_output: &mut (dyn FnMut(OutputStream, &[u8]) + Send),
) -> Result<RunOutcome, SandboxError> {
    spec.validate()?;
    let started = Instant::now();
    let RunningInit {
        mut init,
        report,
        stdout,
        stderr,
    } = start_init(spec)?;
    let (status, pumped) = std::thread::scope(|scope| {
        let pump = scope.spawn(|| pump_output(stdout, stderr, on_output));
        let status = init.wait();
        (status, pump.join())
    });
    let status = status.map_err(|e| SandboxError::io("waiting for the sandbox init", e))?;
    let pumped = pumped.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let report = read_report(report)?;
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

/// An init that has its spec, with the read ends of its report and output pipes.
struct RunningInit {
    init: Child,
    report: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

fn start_init(spec: &SandboxSpec) -> Result<RunningInit, SandboxError> {
    let (report, report_write) = pipe_with(PipeFlags::CLOEXEC)
        .map_err(|e| SandboxError::io("creating the report pipe", e))?;
    let mut init = spawn_init(&report_write)?;
    drop(report_write);
    match send_spec(&mut init, spec).and_then(|()| take_output_pipes(&mut init)) {
        Ok((stdout, stderr)) => Ok(RunningInit {
            init,
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

fn spawn_init(report_write: &OwnedFd) -> Result<Child, SandboxError> {
    let report_fd = report_write.as_raw_fd();
    let parent = std::process::id();
    let mut command = Command::new("/proc/self/exe");
    command
        .arg0(INIT_ARG0)
        .env_clear()
        .env(INIT_MARKER_ENV, "1")
        .env(REPORT_FD_ENV, report_fd.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure only makes raw syscalls (unshare, prctl, getppid, fcntl), which
    // are async-signal-safe, so it is sound between fork and exec in a threaded process.
    unsafe {
        command.pre_exec(move || enter_init_namespaces(parent, report_fd));
    }
    command
        .spawn()
        .map_err(|source| SandboxError::Spawn { source })
}

/// Runs in the forked child before exec: new namespaces for the init (the pid namespace
/// applies to its children), death with the caller, and the report pipe kept across exec.
fn enter_init_namespaces(parent: u32, report_fd: RawFd) -> std::io::Result<()> {
    let flags = libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWPID;
    // SAFETY: plain syscalls on integers.
    unsafe {
        if libc::unshare(flags) != 0
            || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0
            || libc::fcntl(report_fd, libc::F_SETFD, 0) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        // The caller may have died before the death signal was armed.
        if libc::getppid() as u32 != parent {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    Ok(())
}

fn send_spec(init: &mut Child, spec: &SandboxSpec) -> Result<(), SandboxError> {
    let json = serde_json::to_vec(spec).map_err(|e| SandboxError::InvalidSpec {
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
