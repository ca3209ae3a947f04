//! `CancelToken`: how a caller stops sandboxed runs from another thread (the user pressed
//! Ctrl-C). Cancelling is sticky and wakes every waiter at once: a pipe whose read end
//! becomes readable for good, which `run` polls next to the init's pidfd.
//!
//! A token may carry the reason it was cancelled (`SIGINT`), so a step that stops can say
//! why. This module only signals; killing the sandbox is the launcher's job.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use rustix::pipe::{pipe_with, PipeFlags};

/// A shareable "stop now" switch. Clones share one state.
#[derive(Clone, Debug)]
pub struct CancelToken {
    state: Arc<CancelState>,
}

#[derive(Debug)]
struct CancelState {
    cancelled: AtomicBool,
    /// Why it was cancelled, when the canceller said so (set before `cancelled`).
    reason: OnceLock<String>,
    /// Becomes readable once cancelled (a byte is written and never read).
    wake_read: OwnedFd,
    wake_write: OwnedFd,
}

impl CancelToken {
    /// A token nobody has cancelled yet.
    pub fn new() -> std::io::Result<CancelToken> {
        let (wake_read, wake_write) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        Ok(CancelToken {
            state: Arc::new(CancelState {
                cancelled: AtomicBool::new(false),
                reason: OnceLock::new(),
                wake_read,
                wake_write,
            }),
        })
    }

    /// Cancels every run using this token (now and later). Idempotent.
    pub fn cancel(&self) {
        if !self.state.cancelled.swap(true, Ordering::SeqCst) {
            let _ = rustix::io::write(&self.state.wake_write, b"x");
        }
    }

    /// Cancels as `cancel` does, recording `reason` (e.g. `SIGTERM`) unless a reason was
    /// already given.
    pub fn cancel_because(&self, reason: &str) {
        let _ = self.state.reason.set(reason.to_string());
        self.cancel();
    }

    /// The reason given to `cancel_because`, if any.
    pub fn reason(&self) -> Option<&str> {
        self.state.reason.get().map(String::as_str)
    }

    pub fn is_cancelled(&self) -> bool {
        self.state.cancelled.load(Ordering::SeqCst)
    }

    /// Readable once the token is cancelled.
    pub(crate) fn wake_fd(&self) -> BorrowedFd<'_> {
        self.state.wake_read.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

    fn readable(token: &CancelToken) -> bool {
        let mut fds = [PollFd::new(token.wake_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::ZERO).unwrap() == 1
    }

    #[test]
    fn cancelling_wakes_every_clone_for_good() {
        let token = CancelToken::new().unwrap();
        let clone = token.clone();
        assert!(!clone.is_cancelled() && !readable(&clone));
        token.cancel();
        token.cancel();
        assert!(clone.is_cancelled());
        assert!(readable(&clone) && readable(&clone), "stays readable");
        assert_eq!(clone.reason(), None);
    }

    #[test]
    fn the_first_reason_given_is_kept() {
        let token = CancelToken::new().unwrap();
        token.cancel_because("SIGTERM");
        token.cancel_because("SIGINT");
        assert!(token.is_cancelled());
        assert_eq!(token.clone().reason(), Some("SIGTERM"));
    }
}
