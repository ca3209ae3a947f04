//! Git sources for ADD, through the `git` CLI: resolving a reference to a commit with
//! `git ls-remote` (no tree is fetched, so a cached step costs one round trip), and checking
//! one commit out into a scratch directory of the store — shallow when the server allows it,
//! with submodules, without `.git` unless it is to be kept, every file's mtime set to the
//! commit's time so that the same commit always makes the same layer.
//!
//! Git never prompts: credentials come from the user's git and ssh configuration or not at
//! all. Choosing what to copy from the checkout is the caller's job.

use std::path::Path;
use std::process::{Command, Stdio};

use rbuild_cache::{ScratchDir, Store};
use walkdir::WalkDir;

use super::error::RemoteError;
use crate::graph::GitSource;

/// Resolves the source's reference (the remote's HEAD when none) to a commit id and checks
/// it against `--checksum`.
pub(super) fn resolve_commit(source: &GitSource) -> Result<String, RemoteError> {
    let reference = source.reference.as_deref().unwrap_or("HEAD");
    let commit = if is_commit_id(reference) {
        reference.to_string()
    } else {
        let peeled = format!("{reference}^{{}}");
        let listing = run_git(
            &source.remote,
            None,
            &["ls-remote", "--", &source.remote, reference, &peeled],
        )?;
        pick_ref(&listing, reference).ok_or_else(|| RemoteError::UnknownRef {
            remote: source.remote.clone(),
            reference: reference.to_string(),
        })?
    };
    if let Some(expected) = &source.checksum {
        if expected.is_empty() || !commit.starts_with(expected.as_str()) {
            return Err(RemoteError::CommitMismatch {
                remote: source.remote.clone(),
                reference: reference.to_string(),
                commit,
                expected: expected.clone(),
            });
        }
    }
    Ok(commit)
}

/// A full commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
fn is_commit_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The commit `reference` names in `git ls-remote` output, ranked as git ranks refs
/// (`x`, `refs/x`, `refs/tags/x`, `refs/heads/x`); an annotated tag gives its commit.
fn pick_ref(listing: &str, reference: &str) -> Option<String> {
    let refs: Vec<(&str, &str)> = listing
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(id, name)| (id.trim(), name.trim()))
        .collect();
    let lookup = |name: &str| {
        refs.iter()
            .find(|(_, listed)| *listed == name)
            .map(|(id, _)| id.to_string())
    };
    let candidates = if reference.starts_with("refs/") || reference == "HEAD" {
        vec![reference.to_string()]
    } else {
        vec![
            reference.to_string(),
            format!("refs/{reference}"),
            format!("refs/tags/{reference}"),
            format!("refs/heads/{reference}"),
        ]
    };
    candidates
        .iter()
        .find_map(|name| lookup(&format!("{name}^{{}}")).or_else(|| lookup(name)))
}

/// Checks `commit` of the source out into a fresh scratch directory.
pub(super) fn checkout(
    store: &Store,
    source: &GitSource,
    commit: &str,
) -> Result<ScratchDir, RemoteError> {
    let root = store.scratch_dir("git-checkout")?;
    let dir = root.path();
    let git = |args: &[&str]| run_git(&source.remote, Some(dir), args);
    git(&["init", "-q"])?;
    git(&["remote", "add", "origin", &source.remote])?;
    fetch_commit(&git, source, commit)?;
    git(&["-c", "advice.detachedHead=false", "checkout", "-q", commit])?;
    if source.submodules && dir.join(".gitmodules").exists() {
        let update = ["submodule", "update", "-q", "--init", "--recursive"];
        let shallow: Vec<&str> = update.iter().copied().chain(["--depth=1"]).collect();
        git(&shallow).or_else(|_| git(&update))?;
    }
    let commit_time = git(&["show", "-s", "--format=%ct", commit])?;
    if !source.keep_git_dir {
        remove_git_dirs(dir)?;
    }
    if let Ok(seconds) = commit_time.trim().parse::<i64>() {
        set_times(dir, seconds)?;
    }
    Ok(root)
}

/// Fetches `commit` into the repository `git` runs in: shallowly by the reference it was
/// resolved from, then without `--depth` for servers that cannot do shallow fetches, then
/// by id (the reference may have moved since it was resolved), then every branch and tag.
fn fetch_commit(
    git: &dyn Fn(&[&str]) -> Result<String, RemoteError>,
    source: &GitSource,
    commit: &str,
) -> Result<(), RemoteError> {
    let target = match source.reference.as_deref() {
        None => "HEAD",
        Some(reference) if is_commit_id(reference) => commit,
        Some(reference) => reference,
    };
    let mut attempts: Vec<Vec<&str>> = vec![
        vec!["fetch", "-q", "--no-tags", "--depth=1", "origin", target],
        vec!["fetch", "-q", "--no-tags", "origin", target],
    ];
    if target != commit {
        attempts.push(vec![
            "fetch",
            "-q",
            "--no-tags",
            "--depth=1",
            "origin",
            commit,
        ]);
    }
    attempts.push(vec![
        "fetch",
        "-q",
        "origin",
        "+refs/heads/*:refs/remotes/origin/*",
        "+refs/tags/*:refs/tags/*",
    ]);
    let wanted = format!("{commit}^{{commit}}");
    let mut last_error = None;
    for args in &attempts {
        match git(args) {
            Ok(_) if git(&["cat-file", "-e", &wanted]).is_ok() => return Ok(()),
            Ok(_) => {}
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| RemoteError::Git {
        remote: source.remote.clone(),
        action: "fetch".to_string(),
        stderr: format!("commit {commit} is no longer on the remote"),
    }))
}

/// Runs git (in `dir` when given) without prompts; its stdout, or its stderr as the error.
fn run_git(remote: &str, dir: Option<&Path>, args: &[&str]) -> Result<String, RemoteError> {
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    let output = command
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| RemoteError::GitUnavailable {
            remote: remote.to_string(),
            source,
        })?;
    if !output.status.success() {
        let action = args
            .iter()
            .find(|arg| !arg.starts_with('-') && !arg.contains('='))
            .unwrap_or(&"git");
        return Err(RemoteError::Git {
            remote: remote.to_string(),
            action: action.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Removes `.git` of the checkout and of its submodules (git never tracks a path named
/// `.git`, so no file of the tree goes with them).
fn remove_git_dirs(dir: &Path) -> Result<(), RemoteError> {
    let found: Vec<_> = WalkDir::new(dir)
        .into_iter()
        .filter_entry(|entry| entry.depth() == 0 || entry.file_name() != ".git")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_dir())
        .map(|entry| entry.path().join(".git"))
        .filter(|git| git.symlink_metadata().is_ok())
        .collect();
    for git in found {
        let removed = if git.is_dir() {
            std::fs::remove_dir_all(&git)
        } else {
            std::fs::remove_file(&git)
        };
        removed.map_err(|e| RemoteError::io("removing", &git, e))?;
    }
    Ok(())
}

/// Sets the mtime (and atime) of everything under `dir` to `seconds`, symlinks included.
fn set_times(dir: &Path, seconds: i64) -> Result<(), RemoteError> {
    let time = filetime::FileTime::from_unix_time(seconds, 0);
    for entry in WalkDir::new(dir).contents_first(true) {
        let entry = entry.map_err(|e| {
            let path = e.path().map(Path::to_path_buf).unwrap_or_default();
            RemoteError::io("walking", path, e.into())
        })?;
        filetime::set_symlink_file_times(entry.path(), time, time)
            .map_err(|e| RemoteError::io("setting the times of", entry.path(), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
1111111111111111111111111111111111111111\tHEAD
2222222222222222222222222222222222222222\trefs/heads/main
3333333333333333333333333333333333333333\trefs/tags/v1
4444444444444444444444444444444444444444\trefs/tags/v1^{}
5555555555555555555555555555555555555555\trefs/heads/v1
6666666666666666666666666666666666666666\trefs/heads/feature/main
";

    #[test]
    fn references_resolve_as_git_ranks_them() {
        let commit = |r| pick_ref(LISTING, r).map(|id| id[..1].to_string());
        assert_eq!(commit("HEAD").as_deref(), Some("1"));
        assert_eq!(commit("main").as_deref(), Some("2"), "not feature/main");
        assert_eq!(commit("v1").as_deref(), Some("4"), "tags first, peeled");
        assert_eq!(commit("refs/heads/v1").as_deref(), Some("5"));
        assert_eq!(commit("feature/main").as_deref(), Some("6"));
        assert_eq!(commit("missing"), None);
    }

    #[test]
    fn commit_ids_are_full_lowercase_hex() {
        assert!(is_commit_id(&"a".repeat(40)));
        assert!(is_commit_id(&"0".repeat(64)));
        assert!(!is_commit_id(&"a".repeat(39)));
        assert!(!is_commit_id(&"A".repeat(40)));
        assert!(!is_commit_id("main"));
    }
}
