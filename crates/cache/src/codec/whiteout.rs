//! The two spellings of deletions and extended attributes in a layer: overlay form on disk
//! (0/0 character device, `trusted.overlay.opaque=y`) and OCI form in a tar (`.wh.<name>`,
//! `.wh..wh..opq`), plus which xattrs belong in a portable layer at all.
//!
//! Overlay bookkeeping (`trusted.overlay.*`, `user.overlay.*`) and host security labels
//! (`security.selinux`) never leave the machine; everything else does.

use std::fs::Metadata;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use rustix::fs::{FileType, Mode, XattrFlags};

use crate::error::{IoContext, StoreError};

/// Extended attributes as (name, value) pairs.
pub(crate) type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

pub(crate) const WHITEOUT_PREFIX: &[u8] = b".wh.";
pub(crate) const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const NON_PORTABLE_XATTR_PREFIXES: &[&[u8]] =
    &[b"trusted.overlay.", b"user.overlay.", b"security.selinux"];

/// An overlayfs whiteout: a character device with device number 0/0.
pub(crate) fn is_overlay_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether overlayfs treats the directory as opaque (hides lower layers' contents).
pub(crate) fn is_opaque_dir(path: &Path) -> Result<bool, StoreError> {
    match xattr::get(path, OPAQUE_XATTR) {
        Ok(value) => Ok(value.as_deref() == Some(b"y")),
        Err(e) if unsupported(&e) => Ok(false),
        Err(e) => Err(StoreError::io("reading opaque flag of", path, e)),
    }
}

/// Whether an xattr belongs in a layer tar (and may be set when extracting one).
pub(crate) fn is_portable_xattr(name: &[u8]) -> bool {
    !NON_PORTABLE_XATTR_PREFIXES
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// The portable xattrs of `path` (not following a symlink), sorted by name.
pub(crate) fn portable_xattrs(path: &Path) -> Result<Xattrs, StoreError> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("listing xattrs of", path, e)),
    };
    let mut xattrs = Vec::new();
    for name in names {
        if !is_portable_xattr(name.as_bytes()) {
            continue;
        }
        if let Some(value) = xattr::get(path, &name).at("reading xattr of", path)? {
            xattrs.push((name.as_bytes().to_vec(), value));
        }
    }
    xattrs.sort();
    Ok(xattrs)
}

fn unsupported(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOTSUP)
}

/// Creates the overlay whiteout `name` in `dir`.
pub(crate) fn make_whiteout(dir: impl AsFd, name: &[u8]) -> rustix::io::Result<()> {
    rustix::fs::mknodat(
        dir,
        name,
        FileType::CharacterDevice,
        Mode::empty(),
        rustix::fs::makedev(0, 0),
    )
}

/// Marks an open directory opaque for overlayfs.
pub(crate) fn mark_opaque(dir: impl AsFd) -> rustix::io::Result<()> {
    rustix::fs::fsetxattr(dir, OPAQUE_XATTR, b"y", XattrFlags::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_and_label_xattrs_are_not_portable() {
        assert!(!is_portable_xattr(b"trusted.overlay.opaque"));
        assert!(!is_portable_xattr(b"trusted.overlay.redirect"));
        assert!(!is_portable_xattr(b"security.selinux"));
        assert!(is_portable_xattr(b"security.capability"));
        assert!(is_portable_xattr(b"user.mime_type"));
        assert!(is_portable_xattr(b"trusted.other"));
    }
}
