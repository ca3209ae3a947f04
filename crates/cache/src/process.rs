//! `ProcessIdentity`: a process id plus its start time, so that a record left by a process
//! that died is never mistaken for one of a newer process that reused the pid.
//!
//! Only liveness is answered here; what to do with a dead process's leftovers is decided by
//! the staging area and the lease table.

use std::fs;

/// Identifies one process on this machine for as long as it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProcessIdentity {
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22); 0 when unknown.
    pub start_time: u64,
}

impl ProcessIdentity {
    pub fn current() -> ProcessIdentity {
        let pid = std::process::id();
        ProcessIdentity {
            pid,
            start_time: start_time_of(pid).unwrap_or(0),
        }
    }

    /// True while the process that this identity names is still running.
    pub fn is_alive(&self) -> bool {
        match start_time_of(self.pid) {
            Some(start) => self.start_time == 0 || start == self.start_time,
            None => false,
        }
    }
}

/// Field 22 of `/proc/<pid>/stat`, or `None` when the process does not exist.
/// A zombie counts as dead: it holds no files and will never write again.
fn start_time_of(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // `state` was field 3; the start time is field 22.
    fields.nth(18)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        let me = ProcessIdentity::current();
        assert!(me.start_time > 0);
        assert!(me.is_alive());

        let mut child = std::process::Command::new("true").spawn().unwrap();
        let child_identity = ProcessIdentity {
            pid: child.id(),
            start_time: start_time_of(child.id()).unwrap_or(1),
        };
        child.wait().unwrap();
        assert!(!child_identity.is_alive());
    }

    #[test]
    fn a_reused_pid_with_another_start_time_is_dead() {
        let me = ProcessIdentity::current();
        let impostor = ProcessIdentity {
            pid: me.pid,
            start_time: me.start_time + 1,
        };
        assert!(!impostor.is_alive());
    }
}
