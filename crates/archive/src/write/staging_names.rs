//! Names of outputs in progress, beside their destination: `.<name>.<pid>-<n>.tmp` while a
//! file or directory is written, `.<name>.<pid>-<n>.old` for a layout being replaced — and
//! the sweep that removes such entries of processes that died (killed with SIGKILL, say)
//! before they could clean up. The pid in the name tells a dead owner from a live one.
//!
//! Only names made here (and the `.<name>.partial-<pid>` of earlier versions) are ever
//! removed, and only when no process with that pid exists; a reused pid merely postpones
//! the sweep. Writing content is the sinks' job, renaming into place `atomic`'s.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::ArchiveError;

static STAGING_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Endings of the names `sibling_name` makes.
const SUFFIXES: [&str; 2] = ["tmp", "old"];
/// What earlier versions put between a root filesystem's name and their pid.
const LEGACY_PARTIAL: &str = ".partial-";

/// The directory holding `dest` (`.` for a bare file name).
pub(super) fn parent_of(dest: &Path) -> &Path {
    match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// A fresh hidden sibling name of `dest`: `.<name>.<pid>-<n>.<suffix>`.
pub(super) fn sibling_name(dest: &Path, suffix: &str) -> Result<PathBuf, ArchiveError> {
    let name = dest.file_name().ok_or_else(|| ArchiveError::Write {
        path: dest.to_path_buf(),
        source: io::Error::new(
            io::ErrorKind::InvalidInput,
            "the destination has no file name",
        ),
    })?;
    let n = STAGING_COUNTER.fetch_add(1, Ordering::Relaxed);
    let sibling = format!(
        ".{}.{}-{n}.{suffix}",
        name.to_string_lossy(),
        std::process::id()
    );
    Ok(parent_of(dest).join(sibling))
}

/// The pid of the process that made staging entry `name`, if the name is one of ours.
fn owner_of(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    if let Some((_, pid)) = rest.rsplit_once(LEGACY_PARTIAL) {
        return pid.parse().ok();
    }
    let (rest, suffix) = rest.rsplit_once('.')?;
    if !SUFFIXES.contains(&suffix) {
        return None;
    }
    let (output, owner) = rest.rsplit_once('.')?;
    let (pid, n) = owner.split_once('-')?;
    n.parse::<u64>().ok()?;
    (!output.is_empty()).then_some(())?;
    pid.parse().ok()
}

fn is_running(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes, from the directory that holds `dest`, the staging entries of processes that
/// no longer run. Returns how many were removed; what cannot be removed is logged and
/// left (the sweep must never stop an export).
pub fn sweep_dead_siblings(dest: &Path) -> usize {
    let dir = parent_of(dest);
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name.to_str().and_then(owner_of) else {
            continue;
        };
        if owner == std::process::id() || is_running(owner) {
            continue;
        }
        let path = entry.path();
        let result = match entry.file_type() {
            Ok(kind) if kind.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
        match result {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(
                "cannot remove {} left by process {owner}: {e}",
                path.display()
            ),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn names_made_here_carry_their_owner() {
        let made = sibling_name(Path::new("/x/out.tar"), "tmp").unwrap();
        assert!(made.starts_with("/x"));
        let name = made.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(".out.tar."), "{name}");
        assert_eq!(owner_of(name), Some(std::process::id()));
        assert_eq!(owner_of(".rootfs.partial-77"), Some(77));
        assert_eq!(owner_of(".a.b.12-3.old"), Some(12));
        for foreign in [
            "out.tar",
            ".bashrc",
            ".x.12-3.txt",
            ".12-3.tmp",
            ".x.12.tmp",
            ".x.a-3.tmp",
            ".x.partial-me",
        ] {
            assert_eq!(owner_of(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn the_sweep_removes_entries_of_dead_owners_only() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.tar");
        let dead = dead_pid();
        let dead_file = dir.path().join(format!(".out.tar.{dead}-0.tmp"));
        let dead_dir = dir.path().join(format!(".layout.{dead}-4.tmp"));
        let legacy = dir.path().join(format!(".rootfs.partial-{dead}"));
        let live = sibling_name(&dest, "tmp").unwrap();
        let foreign = dir.path().join(".keep.me");
        fs::write(&dead_file, b"partial").unwrap();
        fs::create_dir_all(dead_dir.join("blobs/sha256")).unwrap();
        fs::create_dir(&legacy).unwrap();
        fs::write(&live, b"mine").unwrap();
        fs::write(&foreign, b"user's").unwrap();

        assert_eq!(sweep_dead_siblings(&dest), 3);
        assert!(!dead_file.exists() && !dead_dir.exists() && !legacy.exists());
        assert!(live.exists(), "a live owner's entry stays");
        assert!(foreign.exists(), "names not made here stay");
    }
}
