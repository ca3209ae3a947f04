//! A busybox container for sandbox tests: busybox as the bottom layer, optional layers
//! above it, fresh upper and work dirs, and helpers to run shell scripts in it and to look
//! for processes left behind on the host.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rbuild_exec::{
    run, CancelToken, LayerStack, NetworkMode, OutputStream, Resources, RunOutcome, SandboxError,
    SandboxSpec,
};

use super::runner::{check, Verdict};

/// A busybox container: busybox as the bottom layer, optional layers above it, fresh upper
/// and work dirs.
pub struct Container {
    pub dir: tempfile::TempDir,
    pub lowers: Vec<PathBuf>,
}

impl Container {
    /// `Err(Verdict::Skipped)` travels as `Ok(Err(..))` so tests can `?` it.
    pub fn new() -> Result<Result<Container, Verdict>, String> {
        let rootfs = match super::busybox::rootfs() {
            Ok(rootfs) => rootfs,
            Err(reason) => return Ok(Err(Verdict::Skipped(reason))),
        };
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        for sub in ["upper", "work"] {
            std::fs::create_dir(dir.path().join(sub)).map_err(|e| e.to_string())?;
        }
        Ok(Ok(Container {
            dir,
            lowers: vec![rootfs.to_path_buf()],
        }))
    }

    /// Adds a layer on top holding `files` (path relative to `/`, content).
    pub fn add_layer(&mut self, files: &[(&str, &str)]) -> Result<(), String> {
        let layer = self.dir.path().join(format!("layer-{}", self.lowers.len()));
        for (path, content) in files {
            let file = layer.join(path);
            std::fs::create_dir_all(file.parent().unwrap_or(&layer)).map_err(|e| e.to_string())?;
            std::fs::write(&file, content).map_err(|e| e.to_string())?;
        }
        self.lowers.insert(0, layer);
        Ok(())
    }

    pub fn upper(&self) -> PathBuf {
        self.dir.path().join("upper")
    }

    pub fn spec(&self, args: &[&str]) -> SandboxSpec {
        SandboxSpec {
            rootfs: LayerStack {
                lowers: self.lowers.clone(),
                upper: self.upper(),
                work: self.dir.path().join("work"),
            },
            args: args.iter().map(|a| a.to_string()).collect(),
            env: vec!["PATH=/usr/local/bin:/usr/bin:/bin".into()],
            cwd: "/".into(),
            user: String::new(),
            hostname: "rbuild-sandbox-test".into(),
            network: NetworkMode::Host,
            timeout: Some(Duration::from_secs(60)),
            mounts: Vec::new(),
            resources: Resources::default(),
        }
    }
}

/// Unwraps a container or returns the skip verdict from the test.
#[macro_export]
macro_rules! container {
    () => {
        match $crate::support::container::Container::new()? {
            Ok(container) => container,
            Err(skip) => return Ok(skip),
        }
    };
}

pub struct Captured {
    pub stdout: String,
    pub stderr: String,
    pub outcome: RunOutcome,
}

pub fn capture(spec: &SandboxSpec) -> Result<Captured, SandboxError> {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let cancel = CancelToken::new().map_err(|e| SandboxError::Spawn { source: e })?;
    let outcome = run(spec, &cancel, &mut |stream, bytes: &[u8]| match stream {
        OutputStream::Stdout => stdout.extend_from_slice(bytes),
        OutputStream::Stderr => stderr.extend_from_slice(bytes),
    })?;
    Ok(Captured {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        outcome,
    })
}

/// Runs and insists on exit code 0, returning stdout.
pub fn run_ok(spec: &SandboxSpec) -> Result<String, String> {
    let out = capture(spec).map_err(|e| format!("sandbox error: {e}"))?;
    check(out.outcome.exit_code == 0, || {
        format!("exit {}; stderr: {}", out.outcome.exit_code, out.stderr)
    })?;
    Ok(out.stdout)
}

pub fn sh(container: &Container, script: &str) -> SandboxSpec {
    container.spec(&["/bin/sh", "-c", script])
}

/// Host processes whose command line contains `needle`.
pub fn host_processes_with(needle: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| std::fs::read(entry.ok()?.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(needle))
        .collect()
}

/// A long `sleep` command line no other test process uses, to find its survivors by.
pub fn sleep_marker(index: u32) -> String {
    format!("sleep {}{index}", 10_000 + std::process::id())
}

pub fn no_host_processes_with(needle: &str) -> Result<(), String> {
    let left = host_processes_with(needle);
    check(left.is_empty(), || {
        format!("processes left behind: {left:?}")
    })
}

/// The names in `dir`.
pub fn entries(dir: &Path) -> Result<BTreeSet<String>, String> {
    std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .map(|entry| {
            entry
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .map_err(|e| e.to_string())
        })
        .collect()
}
