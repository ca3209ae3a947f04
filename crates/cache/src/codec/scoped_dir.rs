//! `ScopedRoot`: directory handles inside an extraction root, reached component by component
//! with `O_NOFOLLOW`, so that a layer can never make extraction write through a symlink or
//! outside the root.
//!
//! Path normalization of tar names (rejecting `..` and absolute paths) is also here. What to
//! create inside the directories is `tar_read`'s concern.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{Mode, OFlags, CWD};
use rustix::io::Errno;

use crate::error::{IoContext, StoreError};

/// A tar entry name split into validated components (no `.`, `..`, empty or absolute parts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EntryPath {
    pub components: Vec<Vec<u8>>,
}

impl EntryPath {
    /// Validates a tar entry name; `Ok(None)` for the root itself (`./`).
    pub fn parse(raw: &[u8]) -> Result<Option<EntryPath>, StoreError> {
        if raw.starts_with(b"/") {
            return Err(unsafe_entry(
                raw,
                "absolute paths are not allowed in a layer",
            ));
        }
        let mut components = Vec::new();
        for part in raw.split(|&b| b == b'/') {
            match part {
                b"" | b"." => continue,
                b".." => return Err(unsafe_entry(raw, "\"..\" would escape the layer root")),
                _ => components.push(part.to_vec()),
            }
        }
        Ok((!components.is_empty()).then_some(EntryPath { components }))
    }

    pub fn parent(&self) -> &[Vec<u8>] {
        &self.components[..self.components.len() - 1]
    }

    pub fn name(&self) -> &[u8] {
        &self.components[self.components.len() - 1]
    }

    /// The path as bytes, components joined by `/`.
    pub fn joined(&self) -> Vec<u8> {
        self.components.join(&b'/')
    }

    pub fn display(&self) -> String {
        String::from_utf8_lossy(&self.joined()).into_owned()
    }
}

pub(crate) fn unsafe_entry(raw: &[u8], reason: &'static str) -> StoreError {
    StoreError::UnsafeLayerEntry {
        entry: String::from_utf8_lossy(raw).into_owned(),
        reason,
    }
}

/// Directory handles below one root, never following symlinks.
pub(crate) struct ScopedRoot {
    path: PathBuf,
    root: Rc<OwnedFd>,
    /// The most recently resolved directory; tar entries of one directory come together.
    last: Option<(Vec<Vec<u8>>, Rc<OwnedFd>)>,
    /// Directories created because an entry needed them before (or without) their own entry.
    pub implicit_dirs: Vec<Vec<u8>>,
}

impl ScopedRoot {
    pub fn open(path: &Path) -> Result<ScopedRoot, StoreError> {
        let root = open_dir(CWD, path.as_os_str()).at("opening extraction root", path)?;
        Ok(ScopedRoot {
            path: path.to_path_buf(),
            root: Rc::new(root),
            last: None,
            implicit_dirs: Vec::new(),
        })
    }

    /// The directory `components` below the root. Missing directories are created (mode
    /// 0755, owned by root) when `create` is set; a symlink or non-directory on the way is an
    /// error, never followed.
    pub fn dir(&mut self, components: &[Vec<u8>], create: bool) -> Result<Rc<OwnedFd>, StoreError> {
        if let Some((cached, fd)) = &self.last {
            if cached.as_slice() == components {
                return Ok(Rc::clone(fd));
            }
        }
        let mut current = Rc::clone(&self.root);
        for (depth, component) in components.iter().enumerate() {
            let next = match open_dir(&*current, component) {
                Err(Errno::NOENT) if create => {
                    rustix::fs::mkdirat(&*current, component.as_slice(), Mode::from(0o755))
                        .map_err(|e| self.entry_error(&components[..=depth], e))?;
                    self.implicit_dirs.push(components[..=depth].join(&b'/'));
                    open_dir(&*current, component)
                }
                other => other,
            };
            current = Rc::new(next.map_err(|e| match e {
                Errno::LOOP | Errno::NOTDIR => unsafe_entry(
                    &components[..=depth].join(&b'/'),
                    "a parent directory is a symlink or not a directory",
                ),
                e => self.entry_error(&components[..=depth], e),
            })?);
        }
        self.last = Some((components.to_vec(), Rc::clone(&current)));
        Ok(current)
    }

    /// Forgets the cached directory handle (after something in the tree was removed).
    pub fn forget_cached(&mut self) {
        self.last = None;
    }

    /// The absolute path of `components` (for calls that have no `*at` form).
    pub fn full_path(&self, components: &[Vec<u8>]) -> PathBuf {
        let mut path = self.path.clone();
        for component in components {
            path.push(OsStr::from_bytes(component));
        }
        path
    }

    fn entry_error(&self, components: &[Vec<u8>], e: Errno) -> StoreError {
        StoreError::LayerEntry {
            entry: String::from_utf8_lossy(&components.join(&b'/')).into_owned(),
            source: e.into(),
        }
    }
}

fn open_dir<P: rustix::path::Arg>(
    at: impl std::os::fd::AsFd,
    path: P,
) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        at,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_are_normalized_and_escapes_rejected() {
        let parsed = EntryPath::parse(b"./usr//bin/./sh").unwrap().unwrap();
        assert_eq!(parsed.joined(), b"usr/bin/sh");
        assert_eq!(parsed.name(), b"sh");
        assert_eq!(EntryPath::parse(b"./").unwrap(), None);
        assert!(EntryPath::parse(b"../etc/passwd").is_err());
        assert!(EntryPath::parse(b"a/../../b").is_err());
        assert!(EntryPath::parse(b"/etc/passwd").is_err());
    }

    #[test]
    fn parents_through_symlinks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let mut root = ScopedRoot::open(dir.path()).unwrap();
        let err = root
            .dir(&[b"link".to_vec(), b"sub".to_vec()], true)
            .unwrap_err();
        assert!(matches!(err, StoreError::UnsafeLayerEntry { .. }), "{err}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);

        root.dir(&[b"a".to_vec(), b"b".to_vec()], true).unwrap();
        assert!(dir.path().join("a/b").is_dir());
        assert_eq!(root.implicit_dirs, vec![b"a".to_vec(), b"a/b".to_vec()]);
    }
}
