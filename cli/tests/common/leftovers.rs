//! What a stopped rbuild may leave behind, as seen from outside — processes (/proc), host
//! mounts (/proc/self/mountinfo), run cgroups (/sys/fs/cgroup), store temp entries, files
//! beside an output — and a running rbuild a test can watch (its stderr, line by line)
//! and signal. Tests wait on what rbuild prints, never on fixed sleeps.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Host processes whose command line contains `needle`.
pub fn processes_with(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(needle))
        .collect()
}

/// Every mount point of this process's mount namespace, sorted.
pub fn mount_points() -> Vec<String> {
    let mut points: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect();
    points.sort();
    points
}

/// Mount points at or below `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.display().to_string();
    mount_points()
        .into_iter()
        .filter(|point| point.starts_with(&dir))
        .collect()
}

/// Run cgroups created by process `pid`.
pub fn cgroups_of(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("rbuild-{pid}-");
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::from("/sys/fs/cgroup")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                found.push(entry.path());
            } else {
                pending.push(entry.path());
            }
        }
    }
    found
}

/// Names of the entries in the store's `tmp/`.
pub fn temp_entries(store: &Path) -> Vec<String> {
    entry_names(&store.join("tmp"))
}

/// Names of the entries of `dir` (none when it does not exist), sorted.
pub fn entry_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Polls `condition` every 20 ms until it holds; fails the test after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An `rbuild` process started by the test, its stderr collected as it arrives.
pub struct RunningRbuild {
    child: Child,
    stderr: Arc<(Mutex<String>, Condvar)>,
}

impl RunningRbuild {
    /// Starts `rbuild --root <root> args...` with stdout discarded.
    pub fn start<S: AsRef<std::ffi::OsStr>>(root: &Path, args: &[S]) -> RunningRbuild {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rbuild"))
            .arg("--root")
            .arg(root)
            .args(args)
            .env_remove("SOURCE_DATE_EPOCH")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rbuild");
        let pipe = child.stderr.take().expect("stderr is piped");
        let stderr = Arc::new((Mutex::new(String::new()), Condvar::new()));
        let collected = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let (text, arrived) = &*collected;
                let mut text = text.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
                arrived.notify_all();
            }
        });
        RunningRbuild { child, stderr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.0.lock().unwrap().clone()
    }

    /// Waits until stderr contains `marker`; fails the test (after killing rbuild) when
    /// it has not appeared after `limit` or rbuild ended without printing it.
    pub fn wait_for_output(&mut self, marker: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        let (text, arrived) = &*self.stderr;
        let mut seen = text.lock().unwrap();
        while !seen.contains(marker) {
            let now = Instant::now();
            let exited = self.child.try_wait().ok().flatten();
            if now >= deadline || exited.is_some() {
                let printed = seen.clone();
                drop(seen);
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("rbuild never printed {marker:?} ({exited:?}); stderr:\n{printed}");
            }
            let wait = (deadline - now).min(Duration::from_millis(200));
            seen = arrived.wait_timeout(seen, wait).unwrap().0;
        }
    }

    /// Sends `signal` to rbuild.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(sent, 0, "cannot signal rbuild");
    }

    /// Waits for rbuild to exit (and reaps it); SIGKILLs it and fails after `limit`.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for rbuild") {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("rbuild did not exit in time; stderr:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RunningRbuild {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
