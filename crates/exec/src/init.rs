//! The sandbox init: the current binary re-executed (like `runc init`) in new mount, UTS,
//! IPC and pid namespaces. It reads the spec from stdin, points stdin at /dev/null, forks
//! PID 1 of the new pid namespace, enforces the spec's timeout by killing PID 1 (which takes
//! every process in the namespace with it), and exits with PID 1's status once the whole
//! namespace — mounts included — is gone.
//!
//! `init_hook` is the entry point every binary using the sandbox calls first in `main`; it
//! does nothing unless the process was started as the init. This module does not assemble
//! the container itself (see `pid1`).

use std::io::Read;
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::ForkResult;
use rustix::io::FdFlags;
use rustix::process::{Pid, PidfdFlags, WaitOptions};

use crate::error::{SandboxError, SetupStage};
use crate::pid1::{exit_code, run_pid1, SETUP_FAILED_STATUS};
use crate::report::ReportSender;
use crate::spec::SandboxSpec;
use serde::{Deserialize, Serialize};

/// Environment marker that makes `init_hook` run the init.
pub(crate) const INIT_MARKER_ENV: &str = "RBUILD_SANDBOX_INIT";
/// `argv[0]` of the init process (shown by `ps` on the host).
pub(crate) const INIT_ARG0: &str = "rbuild-init";
/// Environment variable carrying the number of the inherited report pipe descriptor.
pub(crate) const REPORT_FD_ENV: &str = "RBUILD_SANDBOX_REPORT_FD";

/// Runs the sandbox init and exits if this process was started as one; returns immediately
/// otherwise. Call it first thing in `main()` of every binary that uses `run`, before any
/// thread is started.
pub fn init_hook() {
    let marked = std::env::var_os(INIT_MARKER_ENV).is_some_and(|v| v == "1");
    let named = std::env::args_os()
        .next()
        .is_some_and(|arg0| arg0 == INIT_ARG0);
    if marked && named {
        std::process::exit(run_init());
    }
}

fn run_init() -> i32 {
    let Some(report) = inherited_report_pipe() else {
        return SETUP_FAILED_STATUS;
    };
    let request = match read_request().and_then(|r| stdin_from_dev_null().map(|()| r)) {
        Ok(request) => request,
        Err(err) => {
            report.fail(err);
            return SETUP_FAILED_STATUS;
        }
    };
    // SAFETY: the init is single-threaded (init_hook runs before main starts threads).
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => std::process::exit(run_pid1(&request, &report)),
        Ok(ForkResult::Parent { child }) => {
            supervise_pid1(child.as_raw(), request.spec.timeout, &report)
        }
        Err(errno) => {
            report.fail(SandboxError::setup(SetupStage::Fork, "PID 1", errno.into()));
            SETUP_FAILED_STATUS
        }
    }
}

/// Takes ownership of the report pipe named by `REPORT_FD_ENV` and keeps it from leaking
/// into the command.
fn inherited_report_pipe() -> Option<ReportSender> {
    let raw: RawFd = std::env::var(REPORT_FD_ENV).ok()?.parse().ok()?;
    // SAFETY: `run` passed this descriptor to us for exactly this purpose; nothing else in
    // this fresh process owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    rustix::io::fcntl_setfd(&fd, FdFlags::CLOEXEC).ok()?;
    Some(ReportSender::new(fd))
}

/// What `run` sends the init on its stdin: the spec, and the seccomp program the caller
/// compiled once for all its runs.
#[derive(Serialize, Deserialize)]
pub(crate) struct InitRequest {
    pub(crate) spec: SandboxSpec,
    pub(crate) seccomp_program: Vec<u8>,
}

fn read_request() -> Result<InitRequest, SandboxError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|e| SandboxError::setup(SetupStage::ReadSpec, "stdin", e))?;
    serde_json::from_slice(&bytes).map_err(|e| SandboxError::InvalidSpec {
        reason: format!("the init could not decode its spec: {e}"),
    })
}

/// The command gets no input, as in `docker build`.
fn stdin_from_dev_null() -> Result<(), SandboxError> {
    let fail = |e: rustix::io::Errno| SandboxError::setup(SetupStage::Stdio, "/dev/null", e.into());
    let null = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(fail)?;
    rustix::stdio::dup2_stdin(&null).map_err(fail)
}

/// Waits for PID 1, killing it when the timeout expires, and returns the init's status.
fn supervise_pid1(pid1: i32, timeout: Option<Duration>, report: &ReportSender) -> i32 {
    let Some(pid) = Pid::from_raw(pid1) else {
        return SETUP_FAILED_STATUS;
    };
    if let Some(limit) = timeout {
        if !exits_within(pid, limit) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            let _ = wait_for(pid);
            report.fail(SandboxError::TimedOut { limit });
            return SETUP_FAILED_STATUS;
        }
    }
    wait_for(pid)
}

/// Whether `pid` exits before `limit` runs out (it is not reaped here).
fn exits_within(pid: Pid, limit: Duration) -> bool {
    let Ok(pidfd) = rustix::process::pidfd_open(pid, PidfdFlags::empty()) else {
        return true; // Cannot watch it: fall back to an unbounded wait.
    };
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let millis = left.as_millis().min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) if left.is_zero() => return false,
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) | Err(_) => return true,
        }
    }
}

fn wait_for(pid: Pid) -> i32 {
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, status))) => return exit_code(status),
            Err(rustix::io::Errno::INTR) => continue,
            Ok(None) | Err(_) => return SETUP_FAILED_STATUS,
        }
    }
}
