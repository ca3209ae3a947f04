//! Chroot-like path resolution without a chroot: a path inside an image root filesystem is
//! resolved component by component, following symlinks as if the root were `/`, so that no
//! symlink in the image (absolute or full of `..`) can lead to a host path outside the root.
//!
//! It only computes paths; it creates nothing and opens no files.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// How many symlinks one resolution may follow before it is taken for a loop (Linux's
/// `MAXSYMLINKS` is 40; Docker's scoped resolvers allow 255).
const MAX_SYMLINKS: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error("resolving {path:?} inside {root:?}: more than {MAX_SYMLINKS} symlinks (a loop?)")]
    TooManySymlinks { root: PathBuf, path: String },
    #[error("resolving {path:?} inside {root:?}: {source}")]
    Io {
        root: PathBuf,
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Resolves `path` (absolute or relative, interpreted from the root) inside `root` and
/// returns the host path it designates. Symlinks are followed as if `root` were `/`: an
/// absolute target restarts at `root`, and `..` never climbs above it. The last component is
/// followed only when `follow_final` is set. Components after the last existing one are
/// appended literally, so the result may not exist.
pub fn resolve_in_root(root: &Path, path: &str, follow_final: bool) -> Result<PathBuf, ScopeError> {
    let mut resolved: Vec<OsString> = Vec::new();
    let mut pending: Vec<OsString> = components_reversed(Path::new(path));
    let mut links_followed = 0;
    while let Some(component) = pending.pop() {
        if component == ".." {
            resolved.pop();
            continue;
        }
        let candidate = host_path(root, &resolved).join(&component);
        let is_final = pending.is_empty();
        let link_target = if is_final && !follow_final {
            None
        } else {
            read_link_if_any(&candidate).map_err(|source| ScopeError::Io {
                root: root.to_path_buf(),
                path: path.to_string(),
                source,
            })?
        };
        let Some(target) = link_target else {
            resolved.push(component);
            continue;
        };
        links_followed += 1;
        if links_followed > MAX_SYMLINKS {
            return Err(ScopeError::TooManySymlinks {
                root: root.to_path_buf(),
                path: path.to_string(),
            });
        }
        if target.is_absolute() {
            resolved.clear();
        }
        pending.extend(components_reversed(&target));
    }
    Ok(host_path(root, &resolved))
}

/// The symlink target at `path`, `None` when it is not a symlink or does not exist (a missing
/// component or a non-directory parent ends following; the rest is appended literally).
fn read_link_if_any(path: &Path) -> io::Result<Option<PathBuf>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::read_link(path).map(Some),
        Ok(_) => Ok(None),
        Err(err) if is_missing(&err) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Whether a lookup failed because the path is not there: it does not exist, or one of its
/// parents is not a directory.
pub(crate) fn is_missing(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound || err.raw_os_error() == Some(libc::ENOTDIR)
}

/// The normal components of `path` (`.` and root dropped, `..` kept), last first.
fn components_reversed(path: &Path) -> Vec<OsString> {
    let mut components: Vec<OsString> = path
        .components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    components.reverse();
    components
}

fn host_path(root: &Path, resolved: &[OsString]) -> PathBuf {
    let mut path = root.to_path_buf();
    path.extend(resolved);
    path
}

/// `host` relative to `root` as a '/'-separated string, when it is valid UTF-8 and inside.
pub(crate) fn relative_to_root(root: &Path, host: &Path) -> Option<String> {
    let relative = host.strip_prefix(root).ok()?;
    std::str::from_utf8(relative.as_os_str().as_bytes())
        .ok()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        symlink("/usr/lib", root.join("lib")).unwrap();
        symlink("../../../../../../etc", root.join("usr/escape")).unwrap();
        symlink("/etc/passwd", root.join("passwd-link")).unwrap();
        symlink("loop-b", root.join("loop-a")).unwrap();
        symlink("loop-a", root.join("loop-b")).unwrap();
        dir
    }

    #[test]
    fn resolution_stays_inside_the_root() {
        let dir = rootfs();
        let root = dir.path();
        let cases = [
            // Absolute link targets restart at the root.
            ("/lib/x.so", true, "usr/lib/x.so"),
            ("passwd-link", true, "etc/passwd"),
            ("passwd-link", false, "passwd-link"),
            // `..` never climbs above it, in the path or in a link target.
            ("../../../etc/passwd", true, "etc/passwd"),
            ("/usr/escape/passwd", true, "etc/passwd"),
            // Components after the last existing one are appended literally.
            ("/lib/new/dir", true, "usr/lib/new/dir"),
            ("/etc/passwd/below", true, "etc/passwd/below"),
            ("/", true, ""),
        ];
        for (path, follow_final, expected) in cases {
            let resolved = resolve_in_root(root, path, follow_final).unwrap();
            assert_eq!(
                resolved,
                root.join(expected),
                "resolve_in_root({path:?}, {follow_final})"
            );
        }
    }

    #[test]
    fn symlink_loops_are_reported() {
        let dir = rootfs();
        let err = resolve_in_root(dir.path(), "/loop-a/x", true).unwrap_err();
        assert!(matches!(err, ScopeError::TooManySymlinks { .. }), "{err}");
    }
}
