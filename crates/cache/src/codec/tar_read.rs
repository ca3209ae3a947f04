//! Tar → snapshot: extracts a layer tar into an empty directory in overlay form.
//!
//! Every entry is created relative to a directory handle reached without following
//! symlinks; names with `..` or a leading `/`, parents that are symlinks and hardlinks to
//! outside the layer are errors. Owner (lchown), mode, mtime (lutimes) and portable xattrs
//! are applied; `.wh.<name>` becomes a 0/0 character device and `.wh..wh..opq` the opaque
//! xattr on its directory. Directory mtimes are set last, and directories the tar never
//! described get mtime 0 so that re-archiving stays deterministic. Decompression and
//! digest checks belong to the caller.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;
use tar::EntryType;

use super::scoped_dir::{unsafe_entry, EntryPath, ScopedRoot};
use super::whiteout::{self, Xattrs, OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::error::{IoContext, StoreError};

const XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";

/// Extracts the tar read from `stream` into the empty directory `dest`; returns the number
/// of entries. Stops at the end-of-archive marker without reading what follows.
pub(crate) fn extract_layer_tar(
    stream: &mut dyn Read,
    dest: &std::path::Path,
) -> Result<u64, StoreError> {
    let mut extractor = Extractor {
        root: ScopedRoot::open(dest)?,
        dir_times: BTreeMap::new(),
    };
    let mut archive = tar::Archive::new(stream);
    let mut count = 0;
    for entry in archive.entries().map_err(StoreError::LayerStream)? {
        let mut entry = entry.map_err(StoreError::LayerStream)?;
        extractor.extract(&mut entry)?;
        count += 1;
    }
    extractor.finish()?;
    Ok(count)
}

/// Ownership, permissions, time and xattrs of one entry.
struct EntryMeta {
    mode: Mode,
    uid: Uid,
    gid: Gid,
    mtime: Timespec,
    xattrs: Xattrs,
}

struct Extractor {
    root: ScopedRoot,
    dir_times: BTreeMap<Vec<Vec<u8>>, Timespec>,
}

type TarEntry<'a, 'b> = tar::Entry<'a, &'b mut dyn Read>;

impl Extractor {
    fn extract(&mut self, entry: &mut TarEntry<'_, '_>) -> Result<(), StoreError> {
        let raw = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let Some(path) = EntryPath::parse(&raw)? else {
            return Ok(()); // the layer root itself carries nothing we keep
        };
        let meta = read_meta(entry, &path)?;
        let name = path.name().to_vec();
        if name == OPAQUE_MARKER {
            let dir = self.root.dir(path.parent(), true)?;
            return whiteout::mark_opaque(&*dir).map_err(|e| entry_error(&path, e));
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            return self.whiteout(&path, hidden, &meta);
        }
        match kind {
            EntryType::Directory => self.directory(&path, &meta),
            EntryType::Regular | EntryType::Continuous => self.regular(&path, &meta, entry),
            EntryType::Symlink => {
                let target = link_name(entry, &path)?;
                self.symlink(&path, &target, &meta)
            }
            EntryType::Link => {
                let target = link_name(entry, &path)?;
                self.hardlink(&path, &target)
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let header = entry.header();
                let device = (
                    header.device_major().ok().flatten().unwrap_or(0),
                    header.device_minor().ok().flatten().unwrap_or(0),
                );
                self.special(&path, kind, device, &meta)
            }
            _ => Err(unsafe_entry(&raw, "unsupported tar entry type")),
        }
    }

    fn whiteout(
        &mut self,
        path: &EntryPath,
        hidden: &[u8],
        meta: &EntryMeta,
    ) -> Result<(), StoreError> {
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(unsafe_entry(&path.joined(), "malformed whiteout name"));
        }
        let parent = self.root.dir(path.parent(), true)?;
        self.clear_slot(&parent, path, hidden, false)?;
        whiteout::make_whiteout(&*parent, hidden)
            .and_then(|()| set_owner_at(&parent, hidden, meta))
            .and_then(|()| set_time_at(&parent, hidden, meta.mtime))
            .map_err(|e| entry_error(path, e))
    }

    fn directory(&mut self, path: &EntryPath, meta: &EntryMeta) -> Result<(), StoreError> {
        let parent = self.root.dir(path.parent(), true)?;
        if !self.clear_slot(&parent, path, path.name(), true)? {
            rustix::fs::mkdirat(&*parent, path.name(), Mode::from_raw_mode(0o700))
                .map_err(|e| entry_error(path, e))?;
        }
        let dir = self.root.dir(&path.components, false)?;
        rustix::fs::fchown(&*dir, Some(meta.uid), Some(meta.gid))
            .and_then(|()| rustix::fs::fchmod(&*dir, meta.mode))
            .and_then(|()| set_xattrs_fd(&*dir, &meta.xattrs))
            .map_err(|e| entry_error(path, e))?;
        self.dir_times.insert(path.components.clone(), meta.mtime);
        Ok(())
    }

    fn regular(
        &mut self,
        path: &EntryPath,
        meta: &EntryMeta,
        content: &mut TarEntry<'_, '_>,
    ) -> Result<(), StoreError> {
        let parent = self.root.dir(path.parent(), true)?;
        self.clear_slot(&parent, path, path.name(), false)?;
        let fd: OwnedFd = rustix::fs::openat(
            &*parent,
            path.name(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| entry_error(path, e))?;
        let mut file = File::from(fd);
        io::copy(content, &mut file).map_err(StoreError::LayerStream)?;
        rustix::fs::fchown(&file, Some(meta.uid), Some(meta.gid))
            .and_then(|()| rustix::fs::fchmod(&file, meta.mode))
            .and_then(|()| set_xattrs_fd(&file, &meta.xattrs))
            .and_then(|()| rustix::fs::futimens(&file, &timestamps(meta.mtime)))
            .map_err(|e| entry_error(path, e))
    }

    fn symlink(
        &mut self,
        path: &EntryPath,
        target: &[u8],
        meta: &EntryMeta,
    ) -> Result<(), StoreError> {
        let parent = self.root.dir(path.parent(), true)?;
        self.clear_slot(&parent, path, path.name(), false)?;
        rustix::fs::symlinkat(target, &*parent, path.name())
            .and_then(|()| set_owner_at(&parent, path.name(), meta))
            .and_then(|()| self.set_xattrs_path(path, &meta.xattrs))
            .and_then(|()| set_time_at(&parent, path.name(), meta.mtime))
            .map_err(|e| entry_error(path, e))
    }

    fn hardlink(&mut self, path: &EntryPath, target: &[u8]) -> Result<(), StoreError> {
        let Some(target) = EntryPath::parse(target)? else {
            return Err(unsafe_entry(&path.joined(), "hardlink to the layer root"));
        };
        if target == *path {
            return Err(unsafe_entry(&path.joined(), "hardlink to itself"));
        }
        let target_parent = self.root.dir(target.parent(), false).map_err(|_| {
            unsafe_entry(
                &path.joined(),
                "hardlink target is not earlier in the layer",
            )
        })?;
        let parent = self.root.dir(path.parent(), true)?;
        self.clear_slot(&parent, path, path.name(), false)?;
        rustix::fs::linkat(
            &*target_parent,
            target.name(),
            &*parent,
            path.name(),
            AtFlags::empty(),
        )
        .map_err(|e| match e {
            Errno::NOENT | Errno::PERM => {
                unsafe_entry(&path.joined(), "hardlink target is missing or a directory")
            }
            e => entry_error(path, e),
        })
    }

    fn special(
        &mut self,
        path: &EntryPath,
        kind: EntryType,
        (major, minor): (u32, u32),
        meta: &EntryMeta,
    ) -> Result<(), StoreError> {
        let file_type = match kind {
            EntryType::Char => FileType::CharacterDevice,
            EntryType::Block => FileType::BlockDevice,
            _ => FileType::Fifo,
        };
        let parent = self.root.dir(path.parent(), true)?;
        self.clear_slot(&parent, path, path.name(), false)?;
        let dev = rustix::fs::makedev(major, minor);
        rustix::fs::mknodat(&*parent, path.name(), file_type, meta.mode, dev)
            .and_then(|()| set_owner_at(&parent, path.name(), meta))
            .and_then(|()| rustix::fs::chmodat(&*parent, path.name(), meta.mode, AtFlags::empty()))
            .and_then(|()| self.set_xattrs_path(path, &meta.xattrs))
            .and_then(|()| set_time_at(&parent, path.name(), meta.mtime))
            .map_err(|e| entry_error(path, e))
    }

    /// Makes room for a new entry `name` in `parent`. An existing directory stays when
    /// `keep_dir` is set (a later entry for the same directory updates it); returns whether
    /// something was kept.
    fn clear_slot(
        &mut self,
        parent: &OwnedFd,
        path: &EntryPath,
        name: &[u8],
        keep_dir: bool,
    ) -> Result<bool, StoreError> {
        let existing = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => return Ok(false),
            other => other.map_err(|e| entry_error(path, e))?,
        };
        let is_dir = FileType::from_raw_mode(existing.st_mode) == FileType::Directory;
        if is_dir && keep_dir {
            return Ok(true);
        }
        if is_dir {
            let mut doomed = path.parent().to_vec();
            doomed.push(name.to_vec());
            let full = self.root.full_path(&doomed);
            std::fs::remove_dir_all(&full).at("replacing directory", &full)?;
            self.root.forget_cached();
        } else {
            rustix::fs::unlinkat(parent, name, AtFlags::empty())
                .map_err(|e| entry_error(path, e))?;
        }
        Ok(false)
    }

    fn set_xattrs_path(
        &self,
        path: &EntryPath,
        xattrs: &[(Vec<u8>, Vec<u8>)],
    ) -> rustix::io::Result<()> {
        if xattrs.is_empty() {
            return Ok(());
        }
        let full = self.root.full_path(&path.components);
        for (name, value) in xattrs {
            rustix::fs::lsetxattr(&full, name.as_slice(), value, XattrFlags::empty())?;
        }
        Ok(())
    }

    /// Applies directory mtimes once nothing more is created inside them.
    fn finish(&mut self) -> Result<(), StoreError> {
        for implicit in std::mem::take(&mut self.root.implicit_dirs) {
            let components: Vec<Vec<u8>> =
                implicit.split(|&b| b == b'/').map(<[u8]>::to_vec).collect();
            self.dir_times.entry(components).or_insert(Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            });
        }
        for (components, mtime) in std::mem::take(&mut self.dir_times) {
            // A directory later replaced by another kind of entry has no time to restore.
            let Ok(dir) = self.root.dir(&components, false) else {
                continue;
            };
            rustix::fs::futimens(&*dir, &timestamps(mtime))
                .at("setting directory mtime", &self.root.full_path(&components))?;
        }
        Ok(())
    }
}

fn read_meta(entry: &mut TarEntry<'_, '_>, path: &EntryPath) -> Result<EntryMeta, StoreError> {
    let header = entry.header();
    let invalid = |e: io::Error| StoreError::LayerEntry {
        entry: path.display(),
        source: e,
    };
    let id = |value: u64| {
        u32::try_from(value).map_err(|_| unsafe_entry(&path.joined(), "uid or gid out of range"))
    };
    let mode = header.mode().map_err(invalid)?;
    let uid = id(header.uid().map_err(invalid)?)?;
    let gid = id(header.gid().map_err(invalid)?)?;
    let mut mtime = Timespec {
        tv_sec: header.mtime().map_err(invalid)? as i64,
        tv_nsec: 0,
    };
    let mut xattrs = Vec::new();
    if let Some(extensions) = entry.pax_extensions().map_err(invalid)? {
        for extension in extensions {
            let extension = extension.map_err(invalid)?;
            let key = extension.key_bytes();
            if key == b"mtime" {
                if let Some(parsed) = parse_pax_time(extension.value_bytes()) {
                    mtime = parsed;
                }
            } else if let Some(name) = key.strip_prefix(XATTR_PREFIX) {
                if whiteout::is_portable_xattr(name) {
                    xattrs.push((name.to_vec(), extension.value_bytes().to_vec()));
                }
            }
        }
    }
    Ok(EntryMeta {
        mode: Mode::from_raw_mode(mode & 0o7777),
        uid: Uid::from_raw(uid),
        gid: Gid::from_raw(gid),
        mtime,
        xattrs,
    })
}

fn link_name(entry: &TarEntry<'_, '_>, path: &EntryPath) -> Result<Vec<u8>, StoreError> {
    entry
        .link_name_bytes()
        .map(|name| name.into_owned())
        .filter(|name| !name.is_empty())
        .ok_or_else(|| unsafe_entry(&path.joined(), "link entry without a target"))
}

/// A PAX time: decimal seconds, optionally negative, optionally with a fraction.
fn parse_pax_time(value: &[u8]) -> Option<Timespec> {
    let text = std::str::from_utf8(value).ok()?;
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    let mut tv_sec: i64 = seconds.parse().ok()?;
    let digits: String = fraction.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut tv_nsec: i64 = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    if seconds.starts_with('-') && tv_nsec > 0 {
        tv_sec -= 1;
        tv_nsec = 1_000_000_000 - tv_nsec;
    }
    Some(Timespec { tv_sec, tv_nsec })
}

fn timestamps(mtime: Timespec) -> Timestamps {
    Timestamps {
        last_access: mtime,
        last_modification: mtime,
    }
}

fn set_owner_at(parent: &OwnedFd, name: &[u8], meta: &EntryMeta) -> rustix::io::Result<()> {
    rustix::fs::chownat(
        parent,
        name,
        Some(meta.uid),
        Some(meta.gid),
        AtFlags::SYMLINK_NOFOLLOW,
    )
}

fn set_time_at(parent: &OwnedFd, name: &[u8], mtime: Timespec) -> rustix::io::Result<()> {
    rustix::fs::utimensat(parent, name, &timestamps(mtime), AtFlags::SYMLINK_NOFOLLOW)
}

fn set_xattrs_fd(fd: impl AsFd, xattrs: &[(Vec<u8>, Vec<u8>)]) -> rustix::io::Result<()> {
    for (name, value) in xattrs {
        rustix::fs::fsetxattr(&fd, name.as_slice(), value, XattrFlags::empty())?;
    }
    Ok(())
}

fn entry_error(path: &EntryPath, e: Errno) -> StoreError {
    StoreError::LayerEntry {
        entry: path.display(),
        source: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_parse_with_fractions_and_signs() {
        let t = parse_pax_time(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        let t = parse_pax_time(b"-1.25").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (-2, 750_000_000));
        let t = parse_pax_time(b"42").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (42, 0));
        assert!(parse_pax_time(b"x").is_none());
    }
}
