//! Layer tar → verdict: reads a layer tar without extracting it and refuses what extraction
//! would refuse later — names with `..` or a leading `/`, entries below a symlink or a file
//! of the same layer (a write through a link), hard links to anything not earlier in the
//! layer, malformed whiteouts, unsupported entry types, ids out of range — so a bad layer is
//! turned away when it enters the store, not at some later build.
//!
//! It checks one layer on its own (as extraction does: every layer is unpacked into its own
//! empty directory); digests and decompression are the caller's.

use std::collections::HashSet;
use std::io::{self, Read};

use tar::EntryType;

use super::scoped_dir::{unsafe_entry, EntryPath};
use super::whiteout::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::error::StoreError;

/// Reads every entry of the tar in `stream` (up to the end-of-archive marker) and fails at
/// the first one extraction would refuse.
pub(crate) fn check_layer_tar(stream: &mut dyn Read) -> Result<u64, StoreError> {
    let mut seen = SeenEntries::default();
    let mut archive = tar::Archive::new(stream);
    let mut count = 0;
    for entry in archive.entries().map_err(StoreError::LayerStream)? {
        let entry = entry.map_err(StoreError::LayerStream)?;
        seen.check(&entry)?;
        count += 1;
    }
    Ok(count)
}

/// What earlier entries of the layer made: the paths that are not directories (symlinks
/// among them), which later entries may neither pass through nor (for symlinks) target.
#[derive(Default)]
struct SeenEntries {
    non_dirs: HashSet<Vec<Vec<u8>>>,
}

impl SeenEntries {
    fn check<R: Read>(&mut self, entry: &tar::Entry<'_, R>) -> Result<(), StoreError> {
        let header = entry.header();
        let kind = header.entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let raw = entry.path_bytes();
        let Some(path) = EntryPath::parse(&raw)? else {
            return Ok(());
        };
        self.check_parents(&path)?;
        check_ids(header, &path)?;
        let name = path.name();
        if name != OPAQUE_MARKER {
            if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
                if hidden.is_empty() || hidden == b"." || hidden == b".." {
                    return Err(unsafe_entry(&path.joined(), "malformed whiteout name"));
                }
            }
        }
        match kind {
            EntryType::Directory => {
                self.non_dirs.remove(&path.components);
            }
            EntryType::Link => {
                self.check_hardlink(entry, &path)?;
                self.non_dirs.insert(path.components);
            }
            EntryType::Regular
            | EntryType::Continuous
            | EntryType::Symlink
            | EntryType::Char
            | EntryType::Block
            | EntryType::Fifo => {
                if kind == EntryType::Symlink {
                    link_target(entry, &path)?;
                }
                self.non_dirs.insert(path.components);
            }
            _ => return Err(unsafe_entry(&raw, "unsupported tar entry type")),
        }
        Ok(())
    }

    /// No parent of `path` may be a symlink or a file made earlier in this layer.
    fn check_parents(&self, path: &EntryPath) -> Result<(), StoreError> {
        let parent = path.parent();
        for depth in 1..=parent.len() {
            if self.non_dirs.contains(&parent[..depth]) {
                return Err(unsafe_entry(
                    &path.joined(),
                    "a parent directory is a symlink or not a directory",
                ));
            }
        }
        Ok(())
    }

    fn check_hardlink<R: Read>(
        &self,
        entry: &tar::Entry<'_, R>,
        path: &EntryPath,
    ) -> Result<(), StoreError> {
        let target = link_target(entry, path)?;
        let outside = || unsafe_entry(&path.joined(), "hardlink target is outside the layer");
        let Some(target) = EntryPath::parse(&target).map_err(|_| outside())? else {
            return Err(unsafe_entry(&path.joined(), "hardlink to the layer root"));
        };
        if target == *path {
            return Err(unsafe_entry(&path.joined(), "hardlink to itself"));
        }
        if !self.non_dirs.contains(&target.components) {
            return Err(unsafe_entry(
                &path.joined(),
                "hardlink target is not earlier in the layer",
            ));
        }
        Ok(())
    }
}

fn link_target<R: Read>(
    entry: &tar::Entry<'_, R>,
    path: &EntryPath,
) -> Result<Vec<u8>, StoreError> {
    entry
        .link_name_bytes()
        .map(|name| name.into_owned())
        .filter(|name| !name.is_empty())
        .ok_or_else(|| unsafe_entry(&path.joined(), "link entry without a target"))
}

fn check_ids(header: &tar::Header, path: &EntryPath) -> Result<(), StoreError> {
    let invalid = |source: io::Error| StoreError::LayerEntry {
        entry: path.display(),
        source,
    };
    let uid = header.uid().map_err(invalid)?;
    let gid = header.gid().map_err(invalid)?;
    header.mode().map_err(invalid)?;
    header.mtime().map_err(invalid)?;
    if u32::try_from(uid).is_err() || u32::try_from(gid).is_err() {
        return Err(unsafe_entry(&path.joined(), "uid or gid out of range"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar of (name, kind, link target) entries with empty contents.
    fn tar_of(entries: &[(&str, EntryType, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, kind, link) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_size(0);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            let raw = header.as_old_mut();
            raw.name[..name.len()].copy_from_slice(name.as_bytes());
            raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
            header.set_cksum();
            builder.append(&header, io::empty()).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn verdict(entries: &[(&str, EntryType, &str)]) -> Result<u64, String> {
        check_layer_tar(&mut tar_of(entries).as_slice()).map_err(|e| e.to_string())
    }

    #[test]
    fn ordinary_layers_pass() {
        let layer = [
            ("etc/", EntryType::Directory, ""),
            ("etc/passwd", EntryType::Regular, ""),
            ("etc/passwd-", EntryType::Link, "etc/passwd"),
            ("bin", EntryType::Symlink, "/usr/bin"),
            ("bin", EntryType::Directory, ""),
            ("bin/sh", EntryType::Regular, ""),
            ("etc/.wh.old", EntryType::Regular, ""),
            ("etc/.wh..wh..opq", EntryType::Regular, ""),
        ];
        assert_eq!(verdict(&layer), Ok(8));
    }

    #[test]
    fn climbing_and_absolute_names_are_refused() {
        let err = verdict(&[("a/../../x", EntryType::Regular, "")]).unwrap_err();
        assert!(err.contains("escape the layer root"), "{err}");
        let err = verdict(&[("/etc/x", EntryType::Regular, "")]).unwrap_err();
        assert!(err.contains("absolute"), "{err}");
    }

    #[test]
    fn writes_through_links_are_refused() {
        let err = verdict(&[
            ("up", EntryType::Symlink, "/"),
            ("up/etc/x", EntryType::Regular, ""),
        ])
        .unwrap_err();
        assert!(
            err.contains("\"up/etc/x\"") && err.contains("symlink"),
            "{err}"
        );
        let err = verdict(&[
            ("f", EntryType::Regular, ""),
            ("f/x", EntryType::Regular, ""),
        ])
        .unwrap_err();
        assert!(err.contains("not a directory"), "{err}");
    }

    #[test]
    fn hard_links_must_point_at_earlier_entries() {
        for target in ["../outside", "/etc/shadow", "later", "x"] {
            let err = verdict(&[
                ("x", EntryType::Link, target),
                ("later", EntryType::Regular, ""),
            ])
            .unwrap_err();
            assert!(err.contains("\"x\""), "{target}: {err}");
        }
    }

    #[test]
    fn malformed_whiteouts_are_refused() {
        let err = verdict(&[("a/.wh..", EntryType::Regular, "")]).unwrap_err();
        assert!(err.contains("malformed whiteout"), "{err}");
    }
}
