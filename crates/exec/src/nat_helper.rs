//! Which user-mode NAT program gives the default network its outbound traffic:
//! `slirp4netns` when it is on `PATH`, else `pasta` (Debian package `passt`), else none —
//! looked up once per process, at run time, never at build time.
//!
//! slirp4netns comes first because Debian's passt (0.0~git20230309) mishandles a TCP
//! connection the step half-closes (`echo req | nc host port`): the host's answer is
//! delivered over and over, or the connection hangs. Plain downloads work with both.
//!
//! This module only finds the program; `user_nat` starts and stops it, and what to do
//! without one (the engine falls back to the host's network, with a warning) is the
//! caller's choice.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The Debian packages that provide a NAT program, for messages.
pub const NAT_PACKAGES: &str = "slirp4netns or passt (pasta)";

/// A user-mode NAT program and where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NatHelper {
    /// `pasta` from passt: a tap device in the namespace, the host's sockets outside.
    Pasta(PathBuf),
    /// `slirp4netns`: libslirp's TCP/IP stack behind a tap device.
    Slirp4netns(PathBuf),
}

impl NatHelper {
    /// The program's name, as the user would install or type it.
    pub fn name(&self) -> &'static str {
        match self {
            NatHelper::Pasta(_) => "pasta",
            NatHelper::Slirp4netns(_) => "slirp4netns",
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            NatHelper::Pasta(path) | NatHelper::Slirp4netns(path) => path,
        }
    }
}

/// The NAT program the default network uses in this process (found on `PATH` the first
/// time it is asked for), or `None` when neither is installed.
pub fn nat_helper() -> Option<&'static NatHelper> {
    static FOUND: OnceLock<Option<NatHelper>> = OnceLock::new();
    FOUND
        .get_or_init(|| choose_nat_helper(std::env::var_os("PATH").as_deref()))
        .as_ref()
}

/// The preferred NAT program in the directories of `path_var` (a `PATH` value):
/// slirp4netns anywhere on the path beats pasta anywhere on it.
pub(crate) fn choose_nat_helper(path_var: Option<&OsStr>) -> Option<NatHelper> {
    // Relative entries (an empty one means the working directory) are skipped: the program
    // must not depend on where rbuild was started.
    let dirs: Vec<PathBuf> = std::env::split_paths(path_var?)
        .filter(|dir| dir.is_absolute())
        .collect();
    let find = |name: &str| {
        dirs.iter()
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    };
    find("slirp4netns")
        .map(NatHelper::Slirp4netns)
        .or_else(|| find("pasta").map(NatHelper::Pasta))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn program(dir: &Path, name: &str, mode: u32) {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn path_of(dirs: &[&Path]) -> OsString {
        std::env::join_paths(dirs).unwrap()
    }

    #[test]
    fn slirp4netns_is_preferred_over_pasta_wherever_it_is_on_the_path() {
        let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        program(first.path(), "pasta", 0o755);
        program(second.path(), "slirp4netns", 0o755);
        let path = path_of(&[first.path(), second.path()]);
        assert_eq!(
            choose_nat_helper(Some(&path)),
            Some(NatHelper::Slirp4netns(second.path().join("slirp4netns")))
        );
    }

    #[test]
    fn pasta_is_used_without_slirp4netns() {
        let dir = tempfile::tempdir().unwrap();
        program(dir.path(), "pasta", 0o755);
        // Not executable: not a candidate.
        program(dir.path(), "slirp4netns", 0o644);
        let found = choose_nat_helper(Some(&path_of(&[dir.path()]))).unwrap();
        assert_eq!(found.name(), "pasta");
        assert_eq!(found.path(), dir.path().join("pasta"));
    }

    #[test]
    fn neither_program_means_no_helper() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pasta")).unwrap();
        assert_eq!(choose_nat_helper(Some(&path_of(&[dir.path()]))), None);
        assert_eq!(choose_nat_helper(None), None);
        assert_eq!(choose_nat_helper(Some(OsStr::new(""))), None);
    }
}
