//! The command's system-call filter: Docker's default seccomp profile (moby
//! `profiles/seccomp/default.json`) as it applies to Docker's default capability set —
//! the rules that profile gates on capabilities the command does not hold (CAP_SYS_ADMIN,
//! CAP_SYS_MODULE, CAP_SYS_PTRACE, ...) are left out, the ones gated on capabilities it
//! does hold (CAP_SYS_CHROOT) are in. Everything else fails with EPERM; `clone3` fails
//! with ENOSYS so that C libraries fall back to `clone`, whose namespace flags are denied.
//!
//! libseccomp compiles the rules for the native architecture and its compat ABIs (i386 and
//! x32 on x86_64, arm on aarch64), exactly as runc does; names this libseccomp or
//! architecture does not know are skipped, as runc skips them. Compiling takes
//! milliseconds, so it happens once per process on the caller's side (`compiled_program`);
//! the BPF program travels to the init with the spec, and the command installs it with a
//! single `seccomp(2)` call right before `execve` (`SyscallFilter::load`).

use std::io::{Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::OnceLock;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

use crate::error::{SandboxError, SetupStage};
use crate::seccomp_profile::{ALLOWED_SYSCALLS, NATIVE_ONLY_SYSCALLS};

/// `AF_VSOCK`: sockets of this family are denied.
const AF_VSOCK: u64 = 40;

/// `personality(2)` values the profile allows: PER_LINUX, PER_LINUX32, UNAME26 variants
/// and the query value.
const ALLOWED_PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// Every `CLONE_NEW*` flag: `clone` is allowed only without them.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// The compiled BPF program of the default profile for this machine (raw `sock_filter`
/// instructions), built on first use and shared by every later run of this process.
pub(crate) fn compiled_program() -> Result<Vec<u8>, SandboxError> {
    static PROGRAM: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    PROGRAM
        .get_or_init(|| compile().map_err(|e| e.to_string()))
        .clone()
        .map_err(|message| SandboxError::Setup {
            stage: SetupStage::Seccomp,
            path: "seccomp filter".into(),
            detail: Some(message),
            source: std::io::Error::from_raw_os_error(libc::EINVAL),
        })
}

fn compile() -> Result<Vec<u8>, SandboxError> {
    let mut context = ScmpFilterContext::new(ScmpAction::Errno(libc::EPERM)).map_err(fail)?;
    for arch in compat_arches(ScmpArch::native()) {
        context.add_arch(*arch).map_err(fail)?;
    }
    for name in ALLOWED_SYSCALLS.iter().chain(NATIVE_ONLY_SYSCALLS) {
        if let Some(syscall) = known(name) {
            context.add_rule(ScmpAction::Allow, syscall).map_err(fail)?;
        }
    }
    add_argument_rules(&mut context)?;
    let memory = memory_file()?;
    context.export_bpf(&memory).map_err(fail)?;
    let mut file = std::fs::File::from(memory);
    let mut program = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut program))
        .map_err(|e| SandboxError::setup(SetupStage::Seccomp, "seccomp filter", e))?;
    Ok(program)
}

fn memory_file() -> Result<OwnedFd, SandboxError> {
    // SAFETY: memfd_create with a static NUL-terminated name; the descriptor is owned here.
    let fd = unsafe { libc::memfd_create(c"rbuild-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(SandboxError::setup(SetupStage::Seccomp, "memfd", e));
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A compiled program in the kernel's layout, ready to install.
pub(crate) struct SyscallFilter {
    instructions: Vec<libc::sock_filter>,
}

impl SyscallFilter {
    /// Decodes a program from `compiled_program` (done before the fork: it allocates).
    pub(crate) fn from_program(bytes: &[u8]) -> Result<SyscallFilter, SandboxError> {
        const SIZE: usize = std::mem::size_of::<libc::sock_filter>();
        let whole_instructions = bytes.chunks_exact(SIZE).remainder().is_empty();
        if bytes.is_empty() || !whole_instructions || bytes.len() / SIZE > u16::MAX as usize {
            return Err(SandboxError::InvalidSpec {
                reason: format!("a seccomp program of {} bytes is malformed", bytes.len()),
            });
        }
        let instructions = bytes
            .chunks_exact(SIZE)
            .map(|raw| libc::sock_filter {
                code: u16::from_ne_bytes([raw[0], raw[1]]),
                jt: raw[2],
                jf: raw[3],
                k: u32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]),
            })
            .collect();
        Ok(SyscallFilter { instructions })
    }

    /// Installs the filter on the calling process (the command, right before `execve`,
    /// with `no_new_privs` already set).
    pub(crate) fn load(&self) -> Result<(), SandboxError> {
        let program = libc::sock_fprog {
            len: self.instructions.len() as u16,
            filter: self.instructions.as_ptr().cast_mut(),
        };
        // SAFETY: seccomp(2) reads the program we own for the duration of the call.
        let result = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &program as *const libc::sock_fprog,
            )
        };
        if result == 0 {
            Ok(())
        } else {
            let e = std::io::Error::last_os_error();
            Err(SandboxError::setup(
                SetupStage::Seccomp,
                "seccomp filter",
                e,
            ))
        }
    }
}

fn add_argument_rules(context: &mut ScmpFilterContext) -> Result<(), SandboxError> {
    let arg0 = |op, value| ScmpArgCompare::new(0, op, value);
    if let Some(socket) = known("socket") {
        context
            .add_rule_conditional(
                ScmpAction::Allow,
                socket,
                &[arg0(ScmpCompareOp::NotEqual, AF_VSOCK)],
            )
            .map_err(fail)?;
    }
    if let Some(personality) = known("personality") {
        for value in ALLOWED_PERSONALITIES {
            context
                .add_rule_conditional(
                    ScmpAction::Allow,
                    personality,
                    &[arg0(ScmpCompareOp::Equal, value)],
                )
                .map_err(fail)?;
        }
    }
    if let Some(clone) = known("clone") {
        // s390 passes the flags second; everywhere else they come first.
        let flags_arg = if cfg!(target_arch = "s390x") { 1 } else { 0 };
        let no_namespaces = ScmpArgCompare::new(
            flags_arg,
            ScmpCompareOp::MaskedEqual(CLONE_NAMESPACE_FLAGS),
            0,
        );
        context
            .add_rule_conditional(ScmpAction::Allow, clone, &[no_namespaces])
            .map_err(fail)?;
    }
    if let Some(clone3) = known("clone3") {
        context
            .add_rule(ScmpAction::Errno(libc::ENOSYS), clone3)
            .map_err(fail)?;
    }
    Ok(())
}

/// The profile's `archMap`: which ABIs a process of the native architecture may use.
fn compat_arches(native: ScmpArch) -> &'static [ScmpArch] {
    match native {
        ScmpArch::X8664 => &[ScmpArch::X86, ScmpArch::X32],
        ScmpArch::Aarch64 => &[ScmpArch::Arm],
        ScmpArch::S390X => &[ScmpArch::S390],
        _ => &[],
    }
}

/// The syscall, when the native architecture has it.
fn known(name: &str) -> Option<ScmpSyscall> {
    ScmpSyscall::from_name(name).ok()
}

fn fail(err: libseccomp::error::SeccompError) -> SandboxError {
    let errno = err.sysrawrc().map_or(libc::EINVAL, i32::abs);
    SandboxError::Setup {
        stage: SetupStage::Seccomp,
        path: "seccomp filter".into(),
        detail: Some(err.to_string()),
        source: std::io::Error::from_raw_os_error(errno),
    }
}
