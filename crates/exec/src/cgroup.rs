//! One cgroup per sandboxed run that has resource limits: it carries the memory and pids
//! limits, and it is how the whole process tree is found and killed on cancellation. The hierarchy is detected at run
//! time from /proc/self/mountinfo and /proc/self/cgroup: v1 `memory` and `pids` controllers
//! when they are mounted (hybrid layouts bind them there), the unified v2 hierarchy
//! otherwise. Run cgroups are created *below the caller's own cgroup* (never escaping the
//! limits it runs under) as `rbuild-<pid>-<n>`, and removed when the run ends; ones left by
//! a process that died (killed with SIGKILL) are swept — what still runs in them killed —
//! by `sweep_dead_cgroups`, which every rbuild command calls, and when a run creates its
//! own.
//!
//! This module only manages cgroup directories; joining happens in the init's `pre_exec`
//! by writing `0` to the descriptors from `join_descriptors`.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cgroup_paths::{detect, Hierarchy};
use crate::error::{SandboxError, SetupStage};
use crate::spec::Resources;

/// Prefix of every run cgroup's name.
pub(crate) const CGROUP_PREFIX: &str = "rbuild-";

/// How long removal waits for the kernel to let go of a dying run's processes.
const REMOVE_PATIENCE: Duration = Duration::from_secs(5);

static NEXT_RUN: AtomicU64 = AtomicU64::new(0);

/// A run's cgroup (one directory per v1 controller, or one v2 directory).
pub(crate) struct RunCgroup {
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` of each directory, opened before the init is forked.
    procs: Vec<File>,
    unified: bool,
}

impl RunCgroup {
    /// Creates the run's cgroup with `resources` applied; `Ok(None)` when no limit is
    /// asked for. Moving a process into a cgroup v1 hierarchy waits for an RCU grace period
    /// (about 10 ms), so runs without limits do without one: their pid namespace already
    /// guarantees that nothing outlives them.
    pub(crate) fn create(resources: &Resources) -> Result<Option<RunCgroup>, SandboxError> {
        if !resources.any_limit() {
            return Ok(None);
        }
        let name = format!(
            "{CGROUP_PREFIX}{}-{}",
            std::process::id(),
            NEXT_RUN.fetch_add(1, Ordering::Relaxed)
        );
        match detect() {
            Some(Hierarchy::V1 { memory, pids }) => create_v1(memory, pids, &name, resources),
            Some(Hierarchy::V2 { parent }) => create_v2(&parent, &name, resources),
            None => Err(unavailable("no cgroup hierarchy is mounted")),
        }
        .map(Some)
    }

    /// Descriptors the init writes `0` to (joining every directory) before it execs.
    pub(crate) fn join_descriptors(&self) -> Vec<RawFd> {
        self.procs.iter().map(AsRawFd::as_raw_fd).collect()
    }

    /// SIGKILLs every process in the cgroup.
    pub(crate) fn kill_all(&self) {
        if self.unified && std::fs::write(self.dirs[0].join("cgroup.kill"), "1").is_ok() {
            return;
        }
        for dir in &self.dirs {
            for pid in member_pids(dir) {
                // SAFETY: kill(2) on a pid read from the cgroup; a stale pid is harmless
                // here because a cgroup member cannot be reused before it leaves.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }

    /// Kills what is left and removes the directories, waiting for dying processes.
    fn remove(&mut self) {
        self.dirs
            .retain(|dir| match remove_killing_members(dir, REMOVE_PATIENCE) {
                Ok(_) => false,
                Err(e) => {
                    tracing::warn!(cgroup = %dir.display(), error = %e, "cgroup left behind");
                    true
                }
            });
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        self.procs.clear();
        self.remove();
    }
}

fn create_v1(
    memory: Option<PathBuf>,
    pids: Option<PathBuf>,
    name: &str,
    resources: &Resources,
) -> Result<RunCgroup, SandboxError> {
    let mut cgroup = RunCgroup {
        dirs: Vec::new(),
        procs: Vec::new(),
        unified: false,
    };
    let wants_memory = resources.memory_bytes.is_some();
    let wants_pids = resources.max_pids.is_some();
    if (wants_memory && memory.is_none()) || (wants_pids && pids.is_none()) {
        return Err(unavailable("the memory or pids controller is not mounted"));
    }
    // Only the controllers a limit needs: each move into a v1 hierarchy costs a grace period.
    if let Some(parent) = memory.filter(|_| wants_memory) {
        let dir = cgroup.add_dir(&parent, name)?;
        if let Some(limit) = resources.memory_bytes {
            write_setting(&dir, "memory.limit_in_bytes", &limit.to_string())?;
            // Swap counts against the same limit where the kernel accounts it.
            if dir.join("memory.memsw.limit_in_bytes").exists() {
                write_setting(&dir, "memory.memsw.limit_in_bytes", &limit.to_string())?;
            }
        }
    }
    if let Some(parent) = pids.filter(|_| wants_pids) {
        let dir = cgroup.add_dir(&parent, name)?;
        if let Some(max) = resources.max_pids {
            write_setting(&dir, "pids.max", &max.to_string())?;
        }
    }
    Ok(cgroup)
}

fn create_v2(parent: &Path, name: &str, resources: &Resources) -> Result<RunCgroup, SandboxError> {
    let mut needed = Vec::new();
    if resources.memory_bytes.is_some() {
        needed.push("memory");
    }
    if resources.max_pids.is_some() {
        needed.push("pids");
    }
    enable_controllers(parent, &needed)?;
    let mut cgroup = RunCgroup {
        dirs: Vec::new(),
        procs: Vec::new(),
        unified: true,
    };
    let dir = cgroup.add_dir(parent, name)?;
    if let Some(limit) = resources.memory_bytes {
        write_setting(&dir, "memory.max", &limit.to_string())?;
        if dir.join("memory.swap.max").exists() {
            write_setting(&dir, "memory.swap.max", "0")?;
        }
    }
    if let Some(max) = resources.max_pids {
        write_setting(&dir, "pids.max", &max.to_string())?;
    }
    Ok(cgroup)
}

impl RunCgroup {
    /// Creates `parent/name` (after sweeping stale siblings) and opens its `cgroup.procs`.
    fn add_dir(&mut self, parent: &Path, name: &str) -> Result<PathBuf, SandboxError> {
        sweep_stale(parent);
        let dir = parent.join(name);
        std::fs::create_dir(&dir).map_err(|e| SandboxError::setup(SetupStage::Cgroup, &dir, e))?;
        self.dirs.push(dir.clone());
        let procs_path = dir.join("cgroup.procs");
        let procs = std::fs::OpenOptions::new()
            .write(true)
            .open(&procs_path)
            .map_err(|e| SandboxError::setup(SetupStage::Cgroup, &procs_path, e))?;
        self.procs.push(procs);
        Ok(dir)
    }
}

/// Enables the controllers for children of `parent` in a v2 hierarchy.
fn enable_controllers(parent: &Path, needed: &[&str]) -> Result<(), SandboxError> {
    let control = parent.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&control).unwrap_or_default();
    for controller in needed {
        if enabled.split_whitespace().any(|c| c == *controller) {
            continue;
        }
        std::fs::write(&control, format!("+{controller}")).map_err(|e| SandboxError::Setup {
            stage: SetupStage::Cgroup,
            path: control.clone(),
            detail: Some(format!(
                "cannot enable the {controller} controller for rbuild's cgroups; \
                 run rbuild in a cgroup delegated to it"
            )),
            source: e,
        })?;
    }
    Ok(())
}

fn write_setting(dir: &Path, file: &str, value: &str) -> Result<(), SandboxError> {
    let path = dir.join(file);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| SandboxError::setup(SetupStage::Cgroup, &path, e))
}

fn member_pids(dir: &Path) -> Vec<libc::pid_t> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// Removes the run cgroups that processes which died left below this process's own
/// cgroups, killing whatever still runs in them. Returns how many were removed; nothing
/// here fails a command (what cannot be removed is logged and tried again next time).
pub fn sweep_dead_cgroups() -> usize {
    match detect() {
        Some(Hierarchy::V1 { memory, pids }) => memory
            .iter()
            .chain(pids.iter())
            .map(|p| sweep_stale(p))
            .sum(),
        Some(Hierarchy::V2 { parent }) => sweep_stale(&parent),
        None => 0,
    }
}

/// How long the sweep waits for the processes of a dead owner's cgroup to die.
const SWEEP_PATIENCE: Duration = Duration::from_secs(1);

/// Removes run cgroups below `parent` whose creating process is gone (it was killed
/// mid-run); returns how many were removed.
fn sweep_stale(parent: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix(CGROUP_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if owner != std::process::id() && !Path::new("/proc").join(owner.to_string()).exists() {
            removed += usize::from(remove_orphan(&entry.path()));
        }
    }
    removed
}

/// Removes the cgroup `dir` of a dead owner, SIGKILLing what is left in it first.
fn remove_orphan(dir: &Path) -> bool {
    match remove_killing_members(dir, SWEEP_PATIENCE) {
        Ok(removed) => removed,
        Err(e) => {
            tracing::warn!(cgroup = %dir.display(), error = %e, "cannot remove a dead run's cgroup");
            false
        }
    }
}

/// Removes the cgroup directory `dir`, SIGKILLing its members while it is busy, for at
/// most `patience`. `Ok(false)` when it was already gone; the last error when time ran out.
fn remove_killing_members(dir: &Path, patience: Duration) -> std::io::Result<bool> {
    let deadline = Instant::now() + patience;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => {
                for pid in member_pids(dir) {
                    // SAFETY: as in `kill_all`: a member's pid is not reused while it is one.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

fn unavailable(why: &str) -> SandboxError {
    SandboxError::Setup {
        stage: SetupStage::Cgroup,
        path: "/sys/fs/cgroup".into(),
        detail: Some(format!("resource limits need cgroups: {why}")),
        source: std::io::Error::from_raw_os_error(libc::ENOTSUP),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_removes_run_cgroups_of_dead_owners_only() {
        let parent = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let names = [
            format!("{CGROUP_PREFIX}{dead}-0"),
            format!("{CGROUP_PREFIX}{dead}-7"),
            format!("{CGROUP_PREFIX}{}-0", std::process::id()),
            format!("{CGROUP_PREFIX}{}-0", std::os::unix::process::parent_id()),
            format!("{CGROUP_PREFIX}not-a-pid"),
            "user.slice".to_string(),
        ];
        for name in &names {
            std::fs::create_dir(parent.path().join(name)).unwrap();
        }
        assert_eq!(sweep_stale(parent.path()), 2);
        for (n, name) in names.iter().enumerate() {
            assert_eq!(parent.path().join(name).exists(), n >= 2, "{name}");
        }
    }
}
