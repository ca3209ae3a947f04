//! What the command may do as far as capabilities go: exactly Docker's default set
//! (moby `oci/caps/defaults.go`) in the bounding, permitted and effective sets, nothing
//! inheritable or ambient, and `no_new_privs`, applied around the switch to the command's
//! user the way runc does (bounding set and keep-caps before `setuid`, the other sets
//! after). A root command keeps the default set across `execve`; any other user ends up
//! with none, as in Docker.
//!
//! Only raw `prctl`/`capset` calls that neither allocate nor lock: this runs in the forked
//! command process. Seccomp is `seccomp`'s business.

use crate::error::{SandboxError, SetupStage};

/// Docker's default capabilities, by number (linux/capability.h).
pub(crate) const DEFAULT_CAPABILITIES: [u32; 14] = [
    0,  // CAP_CHOWN
    1,  // CAP_DAC_OVERRIDE
    3,  // CAP_FOWNER
    4,  // CAP_FSETID
    5,  // CAP_KILL
    6,  // CAP_SETGID
    7,  // CAP_SETUID
    8,  // CAP_SETPCAP
    10, // CAP_NET_BIND_SERVICE
    13, // CAP_NET_RAW
    18, // CAP_SYS_CHROOT
    27, // CAP_MKNOD
    29, // CAP_AUDIT_WRITE
    31, // CAP_SETFCAP
];

/// The highest capability number any kernel may know (two 32-bit words).
const MAX_CAPABILITY: u32 = 63;

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets in two words.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// The default set as a 64-bit mask (`00000000a80425fb`, as `CapEff` shows it).
pub(crate) fn default_mask() -> u64 {
    DEFAULT_CAPABILITIES
        .iter()
        .fold(0u64, |mask, cap| mask | (1u64 << cap))
}

/// Before the credentials change: `no_new_privs`, the bounding set cut to the default set,
/// ambient capabilities cleared, and permitted capabilities kept across `setuid`.
pub(crate) fn restrict_before_credentials() -> Result<(), SandboxError> {
    let mask = default_mask();
    // SAFETY: prctl with integer arguments only.
    unsafe {
        check(
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
            "no_new_privs",
        )?;
        for cap in (0..=MAX_CAPABILITY).filter(|cap| mask & (1 << cap) == 0) {
            let dropped = libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0);
            // EINVAL: this kernel does not know the capability, so nothing to drop.
            if dropped != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL)
            {
                return check(dropped, "bounding set");
            }
        }
        check(
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                0,
                0,
                0,
            ),
            "ambient set",
        )?;
        check(libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0), "keep-caps")
    }
}

/// After the credentials change: effective and permitted become the default set,
/// inheritable becomes empty.
pub(crate) fn restrict_after_credentials() -> Result<(), SandboxError> {
    let mask = default_mask();
    let header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let words = [mask as u32, (mask >> 32) as u32].map(|word| CapData {
        effective: word,
        permitted: word,
        inheritable: 0,
    });
    // SAFETY: capset(2) reads a v3 header and two data words we own.
    unsafe {
        check(libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0), "keep-caps")?;
        check(
            libc::syscall(libc::SYS_capset, &header, words.as_ptr()) as libc::c_int,
            "capability sets",
        )
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn check(result: libc::c_int, what: &'static str) -> Result<(), SandboxError> {
    if result == 0 {
        Ok(())
    } else {
        Err(SandboxError::setup(
            SetupStage::Capabilities,
            what,
            std::io::Error::last_os_error(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_set_is_docker_s() {
        assert_eq!(format!("{:016x}", default_mask()), "00000000a80425fb");
    }
}
