//! The user-mode NAT of a default-network namespace: `pasta` or `slirp4netns` started
//! against a step init's fresh network namespace before the command runs, and killed and
//! reaped when its owner drops it (`Drop`) — at the step's end, or at the build's end when
//! `network_pool` kept the namespace for later steps. Should rbuild itself
//! be killed, the parent-death signal ends the program too (and slirp4netns also exits
//! when its exit pipe closes).
//!
//! Both programs give the step the same network: its interface is 10.0.2.100/24, the
//! gateway 10.0.2.2, and 10.0.2.3 is a DNS forwarder relaying to the host's resolvers.
//! Outbound connections leave through the host's own sockets; the host's loopback is not
//! reachable — pasta neither maps the gateway address to it (`--no-map-gw`) nor forwards
//! the namespace's ports to it (`-T none -U none`), slirp4netns runs with
//! `--disable-host-loopback`. IPv4 only; nothing is forwarded into the step.
//!
//! This module does not choose the program (`nat_helper`) nor write the step's resolv.conf
//! (`etc_files`).

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rustix::pipe::{pipe_with, PipeFlags};

use crate::error::SandboxError;
use crate::nat_helper::NatHelper;

/// The step's view of its DNS server (both programs forward it to the host's resolvers).
pub(crate) const DNS_FORWARDER: &str = "10.0.2.3";
const STEP_ADDRESS: &str = "10.0.2.100";
const GATEWAY: &str = "10.0.2.2";
const PREFIX_BITS: &str = "24";

/// How long a program may take to configure the namespace before the step fails.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The descriptor numbers the program finds its namespace, readiness pipe and (slirp4netns)
/// exit pipe under.
const NETNS_FD: RawFd = 3;
const READY_FD: RawFd = 4;
const EXIT_FD: RawFd = 5;

/// Handed-over descriptors are first moved at least this high, so placing one on its
/// number in the child cannot overwrite another.
const HANDOVER_FLOOR: RawFd = 10;

/// A running NAT program serving one step's network namespace.
pub(crate) struct UserNat {
    helper: &'static str,
    child: Child,
    /// slirp4netns exits when the write end closes.
    _exit_pipe: Option<OwnedFd>,
    stderr_drain: Option<JoinHandle<()>>,
}

/// A NAT program that was started and has not yet said the namespace is configured.
pub(crate) struct StartingNat {
    nat: UserNat,
    ready_read: OwnedFd,
}

impl UserNat {
    /// Starts `helper` for the network namespace `netns` and returns once the namespace is
    /// configured (interface up, route and DNS forwarder in place).
    pub(crate) fn start(helper: &NatHelper, netns: &File) -> Result<UserNat, SandboxError> {
        UserNat::spawn(helper, netns)?.wait_until_ready()
    }

    /// Starts `helper` for `netns` without waiting for it: the parent-death signal is tied
    /// to the calling thread, the wait (`StartingNat::wait_until_ready`) may happen on any.
    pub(crate) fn spawn(helper: &NatHelper, netns: &File) -> Result<StartingNat, SandboxError> {
        let name = helper.name();
        let failed = |reason: String| SandboxError::NatFailed {
            helper: name,
            reason,
        };
        let (ready_read, ready_write) = pipe_with(PipeFlags::CLOEXEC)
            .map_err(|e| failed(format!("creating the readiness pipe: {e}")))?;
        let exit_pipe = match helper {
            NatHelper::Slirp4netns(_) => Some(
                pipe_with(PipeFlags::CLOEXEC)
                    .map_err(|e| failed(format!("creating the exit pipe: {e}")))?,
            ),
            NatHelper::Pasta(_) => None,
        };
        let mut handover = vec![(raise(netns.as_fd())?, NETNS_FD)];
        handover.push((raise(ready_write.as_fd())?, READY_FD));
        if let Some((exit_read, _)) = &exit_pipe {
            handover.push((raise(exit_read.as_fd())?, EXIT_FD));
        }
        let mut command = Command::new(helper.path());
        command
            .args(arguments(helper))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let targets: Vec<(RawFd, RawFd)> = handover
            .iter()
            .map(|(fd, to)| (fd.as_raw_fd(), *to))
            .collect();
        // SAFETY: the closure only makes async-signal-safe syscalls (dup2, setsid, prctl)
        // on integers prepared before the fork.
        unsafe {
            command.pre_exec(move || place_descriptors(&targets));
        }
        let child = command
            .spawn()
            .map_err(|e| failed(format!("cannot run {}: {e}", helper.path().display())))?;
        // The child has its copies; ours would keep the readiness pipe open forever.
        drop(handover);
        drop(ready_write);
        let nat = UserNat {
            helper: name,
            child,
            _exit_pipe: exit_pipe.map(|(_, write)| write),
            stderr_drain: None,
        };
        Ok(StartingNat { nat, ready_read })
    }

    /// Sends the program its end without waiting for it to go, so that several can end at
    /// once (each exit tears down a tap device, which takes tens of milliseconds); dropping
    /// reaps it.
    pub(crate) fn signal_end(&mut self) {
        let _ = self.child.kill();
    }

    /// Whether the program is still running (it may have died with the thread that
    /// started it, or crashed).
    pub(crate) fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills and reaps the program; returns `reason` with what it said on stderr.
    fn stop_with_reason(&mut self, reason: String) -> String {
        let _ = self.child.kill();
        let status = self.child.wait();
        let mut said = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut said);
        }
        let said = said.trim();
        let status = status.map(|s| format!(" ({s})")).unwrap_or_default();
        if said.is_empty() {
            format!("{reason}{status}")
        } else {
            format!("{reason}{status}: {said}")
        }
    }
}

impl StartingNat {
    /// Waits until the program has configured the namespace; kills and reaps it on failure.
    pub(crate) fn wait_until_ready(self) -> Result<UserNat, SandboxError> {
        let StartingNat {
            mut nat,
            ready_read,
        } = self;
        match wait_until_ready(&ready_read) {
            Ok(()) => {
                nat.stderr_drain = nat.child.stderr.take().map(drain_in_background);
                tracing::debug!(
                    helper = nat.helper,
                    pid = nat.child.id(),
                    "user-mode NAT ready"
                );
                Ok(nat)
            }
            Err(reason) => Err(SandboxError::NatFailed {
                helper: nat.helper,
                reason: nat.stop_with_reason(reason),
            }),
        }
    }
}

impl Drop for UserNat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(drain) = self.stderr_drain.take() {
            let _ = drain.join();
        }
        tracing::debug!(helper = self.helper, "user-mode NAT stopped");
    }
}

fn arguments(helper: &NatHelper) -> Vec<String> {
    let fd = |n: RawFd| format!("/proc/self/fd/{n}");
    match helper {
        NatHelper::Pasta(_) => {
            // Staying the caller's user keeps the parent-death signal armed (a credential
            // change clears it) and the namespace descriptor usable.
            let user = format!(
                "{}:{}",
                rustix::process::getuid().as_raw(),
                rustix::process::getgid().as_raw()
            );
            [
                "--quiet",
                "--foreground",
                "--runas",
                &user,
                "--config-net",
                "--ipv4-only",
                "--address",
                STEP_ADDRESS,
                "--netmask",
                PREFIX_BITS,
                "--gateway",
                GATEWAY,
                "--dns-forward",
                DNS_FORWARDER,
                "--no-map-gw",
                "--tcp-ports",
                "none",
                "--udp-ports",
                "none",
                "--tcp-ns",
                "none",
                "--udp-ns",
                "none",
                "--pid",
                &fd(READY_FD),
                "--netns",
                &fd(NETNS_FD),
            ]
            .map(String::from)
            .to_vec()
        }
        // slirp4netns's defaults are the addresses above.
        NatHelper::Slirp4netns(_) => vec![
            "--configure".into(),
            "--mtu=65520".into(),
            "--disable-host-loopback".into(),
            "--netns-type=path".into(),
            format!("--ready-fd={READY_FD}"),
            format!("--exit-fd={EXIT_FD}"),
            fd(NETNS_FD),
            "tap0".into(),
        ],
    }
}

/// A close-on-exec copy of `fd` numbered at least `HANDOVER_FLOOR`.
fn raise(fd: BorrowedFd<'_>) -> Result<OwnedFd, SandboxError> {
    rustix::io::fcntl_dupfd_cloexec(fd, HANDOVER_FLOOR)
        .map_err(|e| SandboxError::io("passing a descriptor to the NAT program", e))
}

/// In the forked child: each descriptor onto its number (dup2 clears close-on-exec), a
/// session of its own (a terminal's Ctrl-C reaches rbuild, which stops the step), and
/// death with the caller.
fn place_descriptors(targets: &[(RawFd, RawFd)]) -> std::io::Result<()> {
    // SAFETY: plain syscalls on integers.
    unsafe {
        for &(from, to) in targets {
            if libc::dup2(from, to) < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        if libc::setsid() < 0
            || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Waits for the program's first byte on the readiness pipe (pasta writes its pid once the
/// namespace is configured, slirp4netns a `1`). End of file means it exited first.
fn wait_until_ready(ready: &OwnedFd) -> Result<(), String> {
    let timeout = PollTimeout::try_from(READY_TIMEOUT).unwrap_or(PollTimeout::MAX);
    loop {
        let mut fds = [PollFd::new(ready.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => {
                return Err(format!(
                    "the network was not configured within {READY_TIMEOUT:?}"
                ))
            }
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(format!("waiting for it: {errno}")),
        }
    }
    let mut byte = [0u8; 1];
    match rustix::io::read(ready, &mut byte) {
        Ok(0) => Err("it exited before configuring the network".to_string()),
        Ok(_) => Ok(()),
        Err(errno) => Err(format!("reading its readiness pipe: {errno}")),
    }
}

/// Reads (and logs at debug level) what the program writes on stderr while it runs, so a
/// full pipe never blocks it.
fn drain_in_background(mut stderr: std::process::ChildStderr) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n @ 1..) = stderr.read(&mut buffer) {
            tracing::debug!(output = %String::from_utf8_lossy(&buffer[..n]), "user-mode NAT");
        }
    })
}
