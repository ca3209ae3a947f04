//! Forwarding an SSH agent into a step, as BuildKit's sshforward does: a fresh Unix socket
//! owned by the mount's uid/gid with its mode, in a private scratch directory, relaying
//! every connection to the host agent's socket. The step sees only the relay (bind-mounted
//! at the target), so the host socket's own permissions never have to change.
//!
//! The relay lives as long as its `AgentForward`; it knows nothing of the sandbox.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use rustix::pipe::{pipe_with, PipeFlags};

/// Name of the relay socket inside its directory.
const SOCKET_NAME: &str = "agent.sock";

/// A running relay; stopped (and its thread joined) when dropped.
pub(crate) struct AgentForward {
    socket: PathBuf,
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl AgentForward {
    /// Listens on `dir/agent.sock` (owned by `uid`:`gid`, permission bits `mode`) and
    /// relays to `agent`.
    pub(crate) fn start(
        agent: &Path,
        dir: &Path,
        uid: u32,
        gid: u32,
        mode: u32,
    ) -> io::Result<AgentForward> {
        let socket = dir.join(SOCKET_NAME);
        // Bound through the directory's descriptor: a socket path must fit in 108 bytes,
        // and the store's scratch directories may be deeper than that.
        let dir_fd = rustix::fs::open(
            dir,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?;
        let short = format!("/proc/self/fd/{}/{SOCKET_NAME}", dir_fd.as_raw_fd());
        let listener = UnixListener::bind(short)?;
        std::os::unix::fs::chown(&socket, Some(uid), Some(gid))?;
        rustix::fs::chmod(&socket, rustix::fs::Mode::from_raw_mode(mode & 0o7777))?;
        listener.set_nonblocking(true)?;
        let (stop_read, stop_write) = pipe_with(PipeFlags::CLOEXEC)?;
        let agent = agent.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("rbuild-ssh-relay".into())
            .spawn(move || accept_until_stopped(&listener, &stop_read, &agent))?;
        Ok(AgentForward {
            socket,
            stop: Some(stop_write),
            thread: Some(thread),
        })
    }

    /// The relay socket on the host, to bind-mount into the step.
    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for AgentForward {
    fn drop(&mut self) {
        // Closing the write end wakes the accept loop with end-of-file.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_until_stopped(listener: &UnixListener, stop: &OwnedFd, agent: &Path) {
    loop {
        let mut fds = [
            libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stop.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll(2) on two descriptors we own, for the array's length.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if ready < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if fds[1].revents != 0 {
            return;
        }
        while let Ok((client, _)) = listener.accept() {
            match UnixStream::connect(agent) {
                Ok(upstream) => relay(client, upstream),
                Err(e) => {
                    tracing::warn!(agent = %agent.display(), error = %e, "ssh agent unreachable")
                }
            }
        }
    }
}

/// Copies both directions on threads of their own until either side closes.
fn relay(client: UnixStream, upstream: UnixStream) {
    let _ = client.set_nonblocking(false);
    let pairs = client
        .try_clone()
        .and_then(|c| upstream.try_clone().map(|u| ((client, u), (upstream, c))));
    let Ok(((mut from_client, mut to_agent), (mut from_agent, mut to_client))) = pairs else {
        return;
    };
    std::thread::spawn(move || {
        let _ = io::copy(&mut from_client, &mut to_agent);
        let _ = to_agent.shutdown(std::net::Shutdown::Write);
    });
    std::thread::spawn(move || {
        let _ = io::copy(&mut from_agent, &mut to_client);
        let _ = to_client.shutdown(std::net::Shutdown::Write);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn connections_reach_the_agent_through_a_socket_with_the_mount_s_owner() {
        let dir = tempfile::tempdir().unwrap();
        let agent_path = dir.path().join("agent");
        let agent = UnixListener::bind(&agent_path).unwrap();
        let echo = std::thread::spawn(move || {
            let (mut conn, _) = agent.accept().unwrap();
            let mut buf = [0u8; 4];
            conn.read_exact(&mut buf).unwrap();
            conn.write_all(&buf).unwrap();
        });
        let relay_dir = dir.path().join("relay");
        std::fs::create_dir(&relay_dir).unwrap();
        let forward = AgentForward::start(&agent_path, &relay_dir, 1000, 1001, 0o600).unwrap();
        let meta = std::fs::metadata(forward.socket()).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1000, 1001));
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let mut client = UnixStream::connect(forward.socket()).unwrap();
        client.write_all(b"ping").unwrap();
        let mut answer = [0u8; 4];
        client.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"ping");
        echo.join().unwrap();
        drop(forward);
    }
}
