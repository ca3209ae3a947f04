//! PID 1 of the sandbox's pid namespace: assembles the container (root filesystem, hostname,
//! user, working directory), forks the command, forwards SIGTERM/SIGINT/SIGHUP to it, reaps
//! every process that ends up as its child, and exits with the command's status (128 + n
//! for a signal). When PID 1 exits, the kernel kills whatever the command left behind.
//!
//! This module runs only inside the init's fork; it reports failures and never returns to
//! library code.

use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{
    sigaction, sigprocmask, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal,
};
use nix::unistd::ForkResult;
use rustix::process::{Pid, WaitOptions, WaitStatus};

use crate::command::CommandLaunch;
use crate::container_root::enter_container_root;
use crate::error::{SandboxError, SetupStage};
use crate::identity::resolve_account;
use crate::init::InitRequest;
use crate::network::bring_up_loopback;
use crate::report::{InitMessage, ReportSender};

/// The status PID 1 exits with when it could not start the command (the report says why).
pub(crate) const SETUP_FAILED_STATUS: i32 = 125;

/// The command's pid, read by the signal forwarder (0 until it exists).
static COMMAND_PID: AtomicI32 = AtomicI32::new(0);

/// Signals PID 1 passes on to the command instead of acting on them.
const FORWARDED_SIGNALS: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];

/// Runs PID 1 to completion and returns its exit status.
pub(crate) fn run_pid1(request: &InitRequest, report: &ReportSender) -> i32 {
    match prepare(request, report).and_then(|launch| start_command(&launch, report)) {
        Ok(command) => reap_until_exit(command),
        Err(err) => {
            report.fail(err);
            SETUP_FAILED_STATUS
        }
    }
}

fn prepare(request: &InitRequest, report: &ReportSender) -> Result<CommandLaunch, SandboxError> {
    let spec = &request.spec;
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(|e| SandboxError::setup(SetupStage::Signals, "PR_SET_PDEATHSIG", e.into()))?;
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let created = enter_container_root(spec)?;
    if !created.is_empty() {
        report.send(&InitMessage::MountpointsCreated(created));
    }
    if spec.network.isolated() {
        bring_up_loopback()?;
    }
    nix::unistd::sethostname(&spec.hostname)
        .map_err(|e| SandboxError::setup(SetupStage::Hostname, &spec.hostname, e.into()))?;
    let account = resolve_account(Path::new("/"), &spec.user)?;
    enter_workdir(&spec.cwd)?;
    CommandLaunch::new(spec, &account, &request.seccomp_program)
}

/// Creates the working directory when the image lacks it (as Docker does) and enters it.
fn enter_workdir(cwd: &str) -> Result<(), SandboxError> {
    use std::os::unix::fs::DirBuilderExt;
    let fail = |e| SandboxError::setup(SetupStage::WorkingDirectory, cwd, e);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(cwd)
        .map_err(fail)?;
    std::env::set_current_dir(cwd).map_err(fail)
}

fn start_command(launch: &CommandLaunch, report: &ReportSender) -> Result<Pid, SandboxError> {
    install_forwarders()?;
    report.send(&InitMessage::CommandStarting);
    // Forwarded signals wait (blocked) until the forwarder knows the command's pid; the
    // command unblocks them itself before exec.
    let forwarded: SigSet = FORWARDED_SIGNALS.into_iter().collect();
    let fork_failed =
        |errno: nix::errno::Errno| SandboxError::setup(SetupStage::Fork, "command", errno.into());
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded), None).map_err(fork_failed)?;
    // SAFETY: PID 1 is single-threaded, so the child may allocate and run arbitrary code.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            let err = launch.exec();
            let status = err.exit_code().unwrap_or(SETUP_FAILED_STATUS);
            report.fail(err);
            // SAFETY: leaving the forked child without running the parent's exit handlers.
            unsafe { libc::_exit(status) }
        }
        Ok(ForkResult::Parent { child }) => {
            COMMAND_PID.store(child.as_raw(), Ordering::SeqCst);
            sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&forwarded), None).map_err(fork_failed)?;
            Pid::from_raw(child.as_raw()).ok_or_else(|| fork_failed(nix::errno::Errno::ESRCH))
        }
        Err(errno) => Err(fork_failed(errno)),
    }
}

extern "C" fn forward_signal(signal: libc::c_int) {
    let pid = COMMAND_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, signal) };
    }
}

fn install_forwarders() -> Result<(), SandboxError> {
    let action = SigAction::new(
        SigHandler::Handler(forward_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in FORWARDED_SIGNALS {
        // SAFETY: the handler only reads an atomic and calls kill(2).
        unsafe { sigaction(sig, &action) }
            .map_err(|e| SandboxError::setup(SetupStage::Signals, sig.as_str(), e.into()))?;
    }
    Ok(())
}

/// Reaps every child (orphans re-parent to PID 1) until the command itself exits.
fn reap_until_exit(command: Pid) -> i32 {
    loop {
        match rustix::process::wait(WaitOptions::empty()) {
            Ok(Some((pid, status))) if pid == command => return exit_code(status),
            Ok(_) | Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return SETUP_FAILED_STATUS,
        }
    }
}

/// A shell's view of a wait status: the exit code, or 128 + the signal number.
pub(crate) fn exit_code(status: WaitStatus) -> i32 {
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => SETUP_FAILED_STATUS,
    }
}
