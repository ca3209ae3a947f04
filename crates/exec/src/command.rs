//! The command's own process, between PID 1's `fork` and `execve`: default signal
//! dispositions, Docker's capability set and `no_new_privs` around the switch to the
//! user's groups/gid/uid, executable lookup in the command's `PATH` (as the user, like
//! runc), the seccomp filter, and `execve` with exactly the spec's environment (plus
//! Docker's default `PATH` and the passwd `HOME` when the spec has none).
//!
//! What allocates a lot (argv, environment, the compiled filter) is prepared in
//! `CommandLaunch::new`, before the fork; this module does not mount, reap or report.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{signal, sigprocmask, SigHandler, SigSet, SigmaskHow, Signal};
use nix::unistd::{Gid, Uid};
use rustix::fs::Access;

use crate::error::{SandboxError, SetupStage};
use crate::identity::Account;
use crate::privileges::{restrict_after_credentials, restrict_before_credentials};
use crate::seccomp::SyscallFilter;
use crate::spec::{SandboxSpec, DEFAULT_PATH};

/// Everything the command process needs, prepared before the fork.
pub(crate) struct CommandLaunch {
    program: String,
    argv: Vec<CString>,
    envp: Vec<CString>,
    search_path: String,
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
    filter: SyscallFilter,
}

impl CommandLaunch {
    pub(crate) fn new(
        spec: &SandboxSpec,
        account: &Account,
        seccomp_program: &[u8],
    ) -> Result<Self, SandboxError> {
        let env = command_env(&spec.env, &account.home);
        let search_path = env
            .iter()
            .find_map(|entry| entry.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH)
            .to_string();
        let identity = &account.identity;
        // The primary gid is also a supplementary group (containerd/BuildKit do the same),
        // so dropping to the primary group cannot lose access granted through it.
        let mut groups = vec![Gid::from_raw(identity.gid)];
        for gid in identity.additional_gids.iter().map(|g| Gid::from_raw(*g)) {
            if !groups.contains(&gid) {
                groups.push(gid);
            }
        }
        Ok(CommandLaunch {
            program: spec.args[0].clone(),
            argv: c_strings(&spec.args)?,
            envp: c_strings(&env)?,
            search_path,
            uid: Uid::from_raw(identity.uid),
            gid: Gid::from_raw(identity.gid),
            groups,
            filter: SyscallFilter::from_program(seccomp_program)?,
        })
    }

    /// Becomes the command. Only returns on failure, with the error to report.
    pub(crate) fn exec(&self) -> SandboxError {
        reset_signals();
        let executable = match self.restrict().and_then(|()| self.locate()) {
            Ok(path) => path,
            Err(err) => return err,
        };
        let Ok(c_path) = CString::new(executable.as_os_str().as_bytes()) else {
            return self.not_found(false);
        };
        if let Err(err) = self.filter.load() {
            return err;
        }
        let errno = match nix::unistd::execve(&c_path, &self.argv, &self.envp) {
            Err(errno) => errno,
            Ok(never) => match never {},
        };
        match errno {
            nix::errno::Errno::ENOENT => SandboxError::ExecutableNotFound {
                executable: executable.to_string_lossy().into_owned(),
                searched_path: false,
            },
            other => SandboxError::ExecFailed {
                executable: self.program.clone(),
                source: other.into(),
            },
        }
    }

    /// Drops to Docker's capabilities with `no_new_privs` and becomes the user.
    fn restrict(&self) -> Result<(), SandboxError> {
        restrict_before_credentials()?;
        if let Err(errno) = nix::unistd::setgroups(&self.groups)
            .and_then(|()| nix::unistd::setgid(self.gid))
            .and_then(|()| nix::unistd::setuid(self.uid))
        {
            let user = format!("{}:{}", self.uid, self.gid);
            return Err(SandboxError::setup(
                SetupStage::Credentials,
                user,
                errno.into(),
            ));
        }
        restrict_after_credentials()
    }

    /// `program` itself when it names a path, else the first executable match in `PATH`
    /// (an empty entry means the working directory, as in Go's `exec.LookPath`).
    fn locate(&self) -> Result<PathBuf, SandboxError> {
        if self.program.contains('/') {
            return Ok(PathBuf::from(&self.program));
        }
        self.search_path
            .split(':')
            .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(&self.program))
            .find(|candidate| is_executable(candidate))
            .ok_or_else(|| self.not_found(true))
    }

    fn not_found(&self, searched_path: bool) -> SandboxError {
        SandboxError::ExecutableNotFound {
            executable: self.program.clone(),
            searched_path,
        }
    }
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_dir())
        && rustix::fs::access(path, Access::EXEC_OK).is_ok()
}

/// The spec's environment, with `PATH` and `HOME` filled in when it lacks them.
fn command_env(env: &[String], home: &str) -> Vec<String> {
    let has = |key: &str| env.iter().any(|entry| entry.split('=').next() == Some(key));
    let mut full = env.to_vec();
    if !has("PATH") {
        full.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !has("HOME") {
        full.push(format!("HOME={home}"));
    }
    full
}

fn c_strings(texts: &[String]) -> Result<Vec<CString>, SandboxError> {
    texts
        .iter()
        .map(|text| {
            CString::new(text.as_bytes()).map_err(|_| SandboxError::InvalidSpec {
                reason: format!("{text:?} contains a NUL byte"),
            })
        })
        .collect()
}

/// Undoes what the init's runtime set up: Rust ignores SIGPIPE, PID 1 forwards signals, and
/// an ignored disposition or blocked mask would survive `execve`.
fn reset_signals() {
    for sig in Signal::iterator().filter(|s| !matches!(s, Signal::SIGKILL | Signal::SIGSTOP)) {
        // SAFETY: installing the default disposition cannot break any Rust invariant.
        let _ = unsafe { signal(sig, SigHandler::SigDfl) };
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_home_are_added_only_when_missing() {
        let env = command_env(&["A=1".into()], "/home/a");
        assert_eq!(
            env,
            vec!["A=1", &format!("PATH={DEFAULT_PATH}"), "HOME=/home/a"]
        );
        let given = vec!["PATH=/x".to_string(), "HOME=/h".to_string()];
        assert_eq!(command_env(&given, "/root"), given);
        // A variable whose name only starts with PATH does not count.
        assert!(command_env(&["PATHS=1".into()], "/").contains(&format!("PATH={DEFAULT_PATH}")));
    }
}
