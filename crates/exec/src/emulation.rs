//! Foreign-architecture RUN steps. The kernel runs a foreign ELF binary through a
//! binfmt_misc handler (QEMU user emulation); one registered with the `F` flag keeps its
//! interpreter open, so it works inside the sandbox's own root and under seccomp and
//! `no_new_privs`. Before a foreign step starts, `check_architecture` makes sure such a
//! handler exists; when none does it fails with the package and command that fix it, and
//! never lets a binary of the wrong architecture run silently.
//!
//! It registers nothing and mounts nothing: it reads `/proc/sys/fs/binfmt_misc` and the
//! ELF header of the step's command inside the layer directories.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where the kernel exposes binfmt_misc handlers.
const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// How many symlinks a command lookup follows (the kernel's limit).
const MAX_SYMLINKS: usize = 40;

/// Why a foreign-architecture step cannot run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmulationError {
    #[error(
        "cannot run a {architecture} step on this {host} machine: no binfmt_misc handler for \
         {qemu} binaries is registered; install QEMU user emulation (`apt-get install \
         qemu-user-static binfmt-support`) and enable it (`update-binfmts --enable qemu-{qemu}`)"
    )]
    NoHandler {
        architecture: String,
        host: String,
        qemu: String,
    },
    #[error(
        "the binfmt_misc handler {handler} for {architecture} lacks the F (fix binary) flag, \
         so it cannot run inside a build's root filesystem; re-register it with F \
         (Debian's qemu-user-static does)"
    )]
    HandlerWithoutFixBinary {
        handler: String,
        architecture: String,
    },
    #[error(
        "refusing to run {command}: the step is for {architecture} but the binary is a \
         {found} executable (the image's platform is wrong), and no emulator for \
         {architecture} is registered"
    )]
    WrongArchitecture {
        command: String,
        architecture: String,
        found: String,
    },
    #[error("architecture {0:?} has no known ELF machine; cannot run its steps")]
    UnknownArchitecture(String),
}

/// How an architecture's executables look: ELF class, byte order and machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ElfKind {
    /// OCI architecture name.
    architecture: &'static str,
    /// QEMU's name for it.
    qemu: &'static str,
    is_64: bool,
    big_endian: bool,
    machine: u16,
}

const ELF_KINDS: [ElfKind; 9] = [
    ElfKind::new("amd64", "x86_64", true, false, 62),
    ElfKind::new("arm64", "aarch64", true, false, 183),
    ElfKind::new("arm", "arm", false, false, 40),
    ElfKind::new("386", "i386", false, false, 3),
    ElfKind::new("riscv64", "riscv64", true, false, 243),
    ElfKind::new("ppc64le", "ppc64le", true, false, 21),
    ElfKind::new("s390x", "s390x", true, true, 22),
    ElfKind::new("mips64le", "mips64el", true, false, 8),
    ElfKind::new("loong64", "loongarch64", true, false, 258),
];

impl ElfKind {
    const fn new(
        architecture: &'static str,
        qemu: &'static str,
        is_64: bool,
        big_endian: bool,
        machine: u16,
    ) -> ElfKind {
        ElfKind {
            architecture,
            qemu,
            is_64,
            big_endian,
            machine,
        }
    }

    fn of(architecture: &str) -> Option<ElfKind> {
        ELF_KINDS
            .iter()
            .copied()
            .find(|k| k.architecture == architecture)
    }

    fn host() -> Option<ElfKind> {
        let qemu = match std::env::consts::ARCH {
            "x86" => "i386",
            "powerpc64" => "ppc64le",
            "mips64" => "mips64el",
            other => other,
        };
        ELF_KINDS.iter().copied().find(|k| k.qemu == qemu)
    }

    /// The first 20 bytes of an executable of this kind (identification, type, machine).
    fn header(&self) -> [u8; 20] {
        let mut header = [0u8; 20];
        header[..4].copy_from_slice(b"\x7fELF");
        header[4] = if self.is_64 { 2 } else { 1 };
        header[5] = if self.big_endian { 2 } else { 1 };
        header[6] = 1;
        let (kind, machine) = if self.big_endian {
            (2u16.to_be_bytes(), self.machine.to_be_bytes())
        } else {
            (2u16.to_le_bytes(), self.machine.to_le_bytes())
        };
        header[16..18].copy_from_slice(&kind);
        header[18..20].copy_from_slice(&machine);
        header
    }

    /// The kind of executable whose first bytes are `bytes`, if any known.
    fn recognize(bytes: &[u8]) -> Option<ElfKind> {
        if bytes.len() < 20 || &bytes[..4] != b"\x7fELF" {
            return None;
        }
        let big_endian = bytes[5] == 2;
        let machine = if big_endian {
            u16::from_be_bytes([bytes[18], bytes[19]])
        } else {
            u16::from_le_bytes([bytes[18], bytes[19]])
        };
        ELF_KINDS
            .iter()
            .copied()
            .find(|k| k.machine == machine && k.big_endian == big_endian)
    }
}

/// Checks that a step for `architecture` can run here: natively, or through a registered
/// binfmt_misc handler with the `F` flag. `lowers` (top-most first) and `command` (absolute,
/// as the step will exec it) let the error say when the image's binary is of the wrong
/// architecture.
pub fn check_architecture(
    architecture: &str,
    lowers: &[PathBuf],
    command: &str,
) -> Result<(), EmulationError> {
    let wanted = ElfKind::of(architecture)
        .ok_or_else(|| EmulationError::UnknownArchitecture(architecture.to_string()))?;
    let host = ElfKind::host();
    if host == Some(wanted) {
        return Ok(());
    }
    match find_handler(Path::new(BINFMT_DIR), &wanted) {
        Some(handler) if handler.fix_binary => return Ok(()),
        Some(handler) => {
            return Err(EmulationError::HandlerWithoutFixBinary {
                handler: handler.name,
                architecture: architecture.to_string(),
            })
        }
        None => {}
    }
    let found = read_elf_kind(lowers, command);
    match found {
        Some(kind) if kind != wanted => Err(EmulationError::WrongArchitecture {
            command: command.to_string(),
            architecture: architecture.to_string(),
            found: kind.architecture.to_string(),
        }),
        _ => Err(EmulationError::NoHandler {
            architecture: architecture.to_string(),
            host: host
                .map_or(std::env::consts::ARCH, |h| h.architecture)
                .to_string(),
            qemu: wanted.qemu.to_string(),
        }),
    }
}

/// A foreign architecture with an enabled binfmt_misc handler here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulatedArchitecture {
    /// The OCI architecture name (`arm64`, `riscv64`, ...).
    pub architecture: &'static str,
    /// The handler's name under /proc/sys/fs/binfmt_misc.
    pub handler: String,
    /// Whether it has the `F` flag, without which a sandboxed step cannot use it.
    pub usable: bool,
}

/// The foreign architectures binfmt_misc has handlers for (as `rbuild info` lists them).
pub fn emulated_architectures() -> Vec<EmulatedArchitecture> {
    let host = ElfKind::host();
    ELF_KINDS
        .iter()
        .filter(|kind| Some(**kind) != host)
        .filter_map(|kind| {
            let handler = find_handler(Path::new(BINFMT_DIR), kind)?;
            Some(EmulatedArchitecture {
                architecture: kind.architecture,
                handler: handler.name,
                usable: handler.fix_binary,
            })
        })
        .collect()
}

/// A registered, enabled binfmt_misc handler.
#[derive(Debug)]
struct Handler {
    name: String,
    fix_binary: bool,
}

/// The enabled handler in `dir` whose magic matches executables of `kind`.
fn find_handler(dir: &Path, kind: &ElfKind) -> Option<Handler> {
    let header = kind.header();
    let entries = fs::read_dir(dir).ok()?;
    entries.flatten().find_map(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "status" || name == "register" {
            return None;
        }
        let text = fs::read_to_string(entry.path()).ok()?;
        let handler = parse_handler(&text)?;
        handler.matches(&header).then_some(Handler {
            name,
            fix_binary: handler.flags.contains('F'),
        })
    })
}

/// The parts of a binfmt_misc entry that matter here.
struct HandlerEntry {
    flags: String,
    offset: usize,
    magic: Vec<u8>,
    mask: Option<Vec<u8>>,
}

impl HandlerEntry {
    fn matches(&self, header: &[u8]) -> bool {
        let Some(window) = header.get(self.offset..self.offset + self.magic.len()) else {
            return false;
        };
        window
            .iter()
            .zip(&self.magic)
            .enumerate()
            .all(|(i, (byte, magic))| {
                let mask = self
                    .mask
                    .as_ref()
                    .and_then(|m| m.get(i))
                    .copied()
                    .unwrap_or(0xff);
                byte & mask == magic & mask
            })
    }
}

fn parse_handler(text: &str) -> Option<HandlerEntry> {
    let mut lines = text.lines();
    if lines.next()? != "enabled" {
        return None;
    }
    let mut entry = HandlerEntry {
        flags: String::new(),
        offset: 0,
        magic: Vec::new(),
        mask: None,
    };
    for line in lines {
        let (key, value) = line.split_once([' ', ':']).unwrap_or((line, ""));
        let value = value.trim();
        match key {
            "flags" => entry.flags = value.to_string(),
            "offset" => entry.offset = value.parse().ok()?,
            "magic" => entry.magic = hex_bytes(value)?,
            "mask" => entry.mask = Some(hex_bytes(value)?),
            _ => {}
        }
    }
    (!entry.magic.is_empty()).then_some(entry)
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The ELF kind of `command` as the layers (top-most first) provide it, following
/// symlinks inside the root; `None` when it is missing or not a known ELF file.
fn read_elf_kind(lowers: &[PathBuf], command: &str) -> Option<ElfKind> {
    if !command.contains('/') {
        return crate::spec::DEFAULT_PATH
            .split(':')
            .find_map(|dir| read_elf_kind(lowers, &format!("{dir}/{command}")));
    }
    let mut path = command.to_string();
    for _ in 0..MAX_SYMLINKS {
        let relative = path.trim_start_matches('/');
        let found = lowers
            .iter()
            .map(|layer| layer.join(relative))
            .find(|candidate| fs::symlink_metadata(candidate).is_ok())?;
        let metadata = fs::symlink_metadata(&found).ok()?;
        if metadata.file_type().is_symlink() {
            let target = fs::read_link(&found).ok()?;
            let target = target.to_string_lossy();
            path = if target.starts_with('/') {
                target.into_owned()
            } else {
                let parent = Path::new(&path).parent().unwrap_or(Path::new("/"));
                format!("{}/{target}", parent.display())
            };
            continue;
        }
        let mut bytes = [0u8; 20];
        fs::File::open(&found).ok()?.read_exact(&mut bytes).ok()?;
        return ElfKind::recognize(&bytes);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_AARCH64: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n\
        flags: POCF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\n\
        mask ffffffffffffff00fffffffffffffffffeffffff\n";

    #[test]
    fn debian_handlers_match_their_architecture_only() {
        let entry = parse_handler(DEBIAN_AARCH64).unwrap();
        assert!(entry.flags.contains('F'));
        let arm64 = ElfKind::of("arm64").unwrap();
        assert!(entry.matches(&arm64.header()));
        assert!(!entry.matches(&ElfKind::of("amd64").unwrap().header()));
        assert!(parse_handler(&DEBIAN_AARCH64.replace("enabled", "disabled")).is_none());
    }

    #[test]
    fn handlers_are_found_in_a_directory_and_flags_reported() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("status"), "enabled\n").unwrap();
        let arm64 = ElfKind::of("arm64").unwrap();
        assert!(find_handler(dir.path(), &arm64).is_none());
        fs::write(
            dir.path().join("qemu-aarch64"),
            DEBIAN_AARCH64.replace("POCF", "POC"),
        )
        .unwrap();
        let handler = find_handler(dir.path(), &arm64).unwrap();
        assert_eq!(handler.name, "qemu-aarch64");
        assert!(!handler.fix_binary);
    }

    #[test]
    fn commands_are_resolved_through_layers_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let (top, bottom) = (dir.path().join("top"), dir.path().join("bottom"));
        fs::create_dir_all(top.join("bin")).unwrap();
        fs::create_dir_all(bottom.join("bin")).unwrap();
        let mut elf = ElfKind::of("arm64").unwrap().header().to_vec();
        elf.extend([0u8; 44]);
        fs::write(bottom.join("bin/busybox"), &elf).unwrap();
        std::os::unix::fs::symlink("busybox", top.join("bin/sh")).unwrap();
        let layers = [top, bottom];
        assert_eq!(
            read_elf_kind(&layers, "/bin/sh").map(|k| k.architecture),
            Some("arm64")
        );
        assert_eq!(read_elf_kind(&layers, "/bin/missing"), None);
    }

    #[test]
    fn native_steps_always_pass() {
        let host = ElfKind::host().unwrap();
        assert_eq!(
            check_architecture(host.architecture, &[], "/bin/sh"),
            Ok(())
        );
        assert!(matches!(
            check_architecture("vax", &[], "/bin/sh"),
            Err(EmulationError::UnknownArchitecture(_))
        ));
    }
}
