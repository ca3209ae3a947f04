//! Network isolation: which namespace flag a network mode needs when the init starts, and
//! bringing the loopback interface up inside a fresh network namespace (it starts down).
//!
//! No bridge or veth is set up here: the default network's NAT program (`user_nat`)
//! brings its own tap device. This module does not decide the mode; the spec does.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{SandboxError, SetupStage};
use crate::spec::NetworkMode;

/// Extra `unshare` flags for the init.
pub(crate) fn namespace_flags(mode: NetworkMode) -> libc::c_int {
    if mode.isolated() {
        libc::CLONE_NEWNET
    } else {
        0
    }
}

/// Sets `IFF_UP` on `lo` in the current network namespace.
pub(crate) fn bring_up_loopback() -> Result<(), SandboxError> {
    let fail = |e: std::io::Error| SandboxError::setup(SetupStage::Network, "lo", e);
    // SAFETY: socket(2) with constant arguments; the descriptor is owned right away.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(fail(std::io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a fresh descriptor nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: `ifreq` is plain old data; zeroed is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write an `ifreq` we own, on our socket.
    unsafe {
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) != 0 {
            return Err(fail(std::io::Error::last_os_error()));
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) != 0 {
            return Err(fail(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}
