//! Pumping the command's stdout and stderr pipes into the caller's callback as output is
//! produced, on one thread, until both pipes reach end-of-file (every process holding them
//! has exited).
//!
//! This module does not buffer, split lines or interpret output.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::spec::OutputStream;

const CHUNK: usize = 64 * 1024;

/// Reads both pipes until both are closed, handing every chunk to `sink` in the order it
/// was read.
pub(crate) fn pump_output(
    stdout: OwnedFd,
    stderr: OwnedFd,
    sink: &mut (dyn FnMut(OutputStream, &[u8]) + Send),
) -> io::Result<()> {
    let mut pipes = [
        (Some(stdout), OutputStream::Stdout),
        (Some(stderr), OutputStream::Stderr),
    ];
    let mut buf = vec![0u8; CHUNK];
    while pipes.iter().any(|(fd, _)| fd.is_some()) {
        for index in ready_pipes(&pipes)? {
            let (slot, stream) = &mut pipes[index];
            let Some(fd) = slot else { continue };
            match rustix::io::read(&*fd, &mut buf) {
                Ok(0) => *slot = None,
                Ok(len) => sink(*stream, &buf[..len]),
                Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                Err(errno) => return Err(errno.into()),
            }
        }
    }
    Ok(())
}

/// Indexes of the open pipes that have data or reached end-of-file.
fn ready_pipes(pipes: &[(Option<OwnedFd>, OutputStream); 2]) -> io::Result<Vec<usize>> {
    let open: Vec<usize> = (0..pipes.len()).filter(|i| pipes[*i].0.is_some()).collect();
    let mut fds: Vec<PollFd> = open
        .iter()
        .filter_map(|i| pipes[*i].0.as_ref())
        .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
        .collect();
    loop {
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    }
    Ok(open
        .into_iter()
        .zip(&fds)
        .filter(|(_, fd)| fd.any().unwrap_or(true))
        .map(|(index, _)| index)
        .collect())
}
