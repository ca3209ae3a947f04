//! Ctrl-C and SIGTERM during a build: the first signal cancels the build's token — running
//! RUN steps are killed with everything they started, no new step starts, temporary
//! directories are removed as the build unwinds — and rbuild then exits with 128 + the
//! signal number (130, 143). A second signal exits at once.
//!
//! The signal handler only writes the signal number to a pipe; a watcher thread does the
//! rest. This module does not know what is being built.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};

use rbuild_exec::CancelToken;

/// Write end of the pipe the handler reports signals on (-1 until installed).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

/// Signals that stop a build.
const STOPPING_SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// The process's interrupt handling, once installed.
static INSTALLED: OnceLock<Interrupts> = OnceLock::new();

/// Installs the handlers (once per process) and returns the token they cancel.
pub fn cancel_on_signals() -> std::io::Result<CancelToken> {
    if let Some(installed) = INSTALLED.get() {
        return Ok(installed.token());
    }
    let interrupts = Interrupts::install()?;
    Ok(INSTALLED.get_or_init(|| interrupts).token())
}

/// 128 + the signal number when a signal stopped the build.
pub fn exit_code() -> Option<ExitCode> {
    INSTALLED.get().and_then(Interrupts::exit_code)
}

/// The build's cancellation, and which signal (if any) triggered it.
#[derive(Clone)]
struct Interrupts {
    token: CancelToken,
    signal: Arc<AtomicI32>,
}

impl Interrupts {
    /// Installs the handlers and starts the watcher thread.
    fn install() -> std::io::Result<Interrupts> {
        let token = CancelToken::new()?;
        let signal = Arc::new(AtomicI32::new(0));
        let mut ends = [0 as libc::c_int; 2];
        // SAFETY: pipe2 fills the two-element array we own.
        if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nothing else owns.
        let read_end = unsafe { OwnedFd::from_raw_fd(ends[0]) };
        // The write end stays open for the rest of the process: the handler uses it.
        SIGNAL_PIPE.store(ends[1], Ordering::SeqCst);
        for number in STOPPING_SIGNALS {
            // SAFETY: the handler only loads an atomic and calls write(2), both
            // async-signal-safe.
            let previous =
                unsafe { libc::signal(number, on_signal as *const () as libc::sighandler_t) };
            if previous == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
        }
        let watcher = Interrupts {
            token: token.clone(),
            signal: Arc::clone(&signal),
        };
        std::thread::Builder::new()
            .name("rbuild-signals".into())
            .spawn(move || watcher.watch(read_end))?;
        Ok(Interrupts { token, signal })
    }

    /// The token RUN steps are cancelled through.
    fn token(&self) -> CancelToken {
        self.token.clone()
    }

    fn exit_code(&self) -> Option<ExitCode> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            number => Some(ExitCode::from((128 + number) as u8)),
        }
    }

    fn watch(self, read_end: OwnedFd) {
        let mut pipe = std::fs::File::from(read_end);
        let mut byte = [0u8; 1];
        while pipe.read_exact(&mut byte).is_ok() {
            let number = libc::c_int::from(byte[0]);
            if self.signal.swap(number, Ordering::SeqCst) != 0 {
                eprintln!("interrupted again: exiting now");
                std::process::exit(128 + number);
            }
            let name = signal_name(number);
            eprintln!("interrupted by {name}: stopping (press Ctrl-C again to exit at once)");
            self.token.cancel_because(name);
        }
    }
}

/// How errors name the signal that stopped the build.
fn signal_name(number: libc::c_int) -> &'static str {
    match number {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

extern "C" fn on_signal(number: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = [number as u8];
        // SAFETY: write(2) of one byte from a stack buffer is async-signal-safe.
        unsafe { libc::write(fd, byte.as_ptr().cast(), 1) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_cancels_the_token_and_sets_the_exit_code() {
        let token = cancel_on_signals().unwrap();
        assert!(exit_code().is_none());
        // SAFETY: raising SIGTERM runs our handler, installed above.
        unsafe { libc::raise(libc::SIGTERM) };
        for _ in 0..200 {
            if token.is_cancelled() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(token.is_cancelled());
        assert_eq!(token.reason(), Some("SIGTERM"));
        assert_eq!(exit_code(), Some(ExitCode::from(143)));
    }
}
