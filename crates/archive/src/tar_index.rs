//! A tar file read in place: one pass records where each regular file's bytes start and
//! how long they are, and blobs are then read from those sections with positioned reads,
//! never extracted to disk and never loaded whole.
//!
//! Symlinks and hard links between entries are followed (classic `docker save` links
//! duplicate layers). It does not understand what the files mean, and it does not
//! decompress: a gzip- or zstd-compressed tar is refused with a clear message.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::entry_name::{normalize_entry_name, resolve_link_target};
use crate::error::ArchiveError;

/// How many links a lookup follows before giving up (a loop, or an absurd chain).
const MAX_LINK_HOPS: usize = 16;

enum IndexedEntry {
    File { offset: u64, size: u64 },
    Link { target: String },
}

/// Entry name → location of the file's bytes in the tar.
pub(crate) struct TarIndex {
    entries: HashMap<String, IndexedEntry>,
}

impl TarIndex {
    /// Reads every header of the tar in `file` once.
    pub(crate) fn scan(file: &File, path: &Path) -> Result<TarIndex, ArchiveError> {
        refuse_compressed(file, path)?;
        let not_a_tar = |e: io::Error| ArchiveError::NotAnArchive {
            path: path.to_path_buf(),
            reason: format!("not a readable tar file: {e}"),
        };
        let mut archive = tar::Archive::new(file);
        let mut entries = HashMap::new();
        for entry in archive.entries_with_seek().map_err(not_a_tar)? {
            let entry = entry.map_err(not_a_tar)?;
            let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = normalize_entry_name(&raw_name) else {
                continue;
            };
            if let Some(indexed) = index_entry(&entry, &name) {
                entries.insert(name, indexed);
            }
        }
        Ok(TarIndex { entries })
    }

    /// Offset and size of the regular file named `name`, following links.
    pub(crate) fn find(&self, name: &str) -> Option<(u64, u64)> {
        let mut current = normalize_entry_name(name)?;
        for _ in 0..MAX_LINK_HOPS {
            match self.entries.get(&current)? {
                IndexedEntry::File { offset, size } => return Some((*offset, *size)),
                IndexedEntry::Link { target } => current = target.clone(),
            }
        }
        None
    }
}

fn index_entry(entry: &tar::Entry<'_, &File>, name: &str) -> Option<IndexedEntry> {
    let kind = entry.header().entry_type();
    if kind.is_file() || kind.is_contiguous() {
        return Some(IndexedEntry::File {
            offset: entry.raw_file_position(),
            size: entry.size(),
        });
    }
    if kind.is_symlink() || kind.is_hard_link() {
        let target = String::from_utf8_lossy(&entry.link_name_bytes()?).into_owned();
        let target = resolve_link_target(name, &target, kind.is_symlink())?;
        return Some(IndexedEntry::Link { target });
    }
    None
}

fn refuse_compressed(file: &File, path: &Path) -> Result<(), ArchiveError> {
    let mut magic = [0u8; 4];
    let n = file
        .read_at(&mut magic, 0)
        .map_err(|source| ArchiveError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    let compression = match &magic[..n] {
        [0x1f, 0x8b, ..] => "gzip",
        [0x28, 0xb5, 0x2f, 0xfd] => "zstd",
        _ => return Ok(()),
    };
    Err(ArchiveError::NotAnArchive {
        path: path.to_path_buf(),
        reason: format!("it is {compression}-compressed; decompress it first"),
    })
}

/// The bytes of one tar entry, read with positioned reads so that several sections of
/// the same file can be read at once.
pub(crate) struct TarSection<'a> {
    file: &'a File,
    position: u64,
    end: u64,
}

impl<'a> TarSection<'a> {
    pub(crate) fn new(file: &'a File, offset: u64, size: u64) -> Self {
        TarSection {
            file,
            position: offset,
            end: offset.saturating_add(size),
        }
    }
}

impl Read for TarSection<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.end - self.position;
        let len = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        if len == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..len], self.position)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the tar file ends inside an entry (truncated archive)",
            ));
        }
        self.position += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(build: impl FnOnce(&mut tar::Builder<&mut Vec<u8>>)) -> tempfile::NamedTempFile {
        let mut bytes = Vec::new();
        {
            let mut builder = tar::Builder::new(&mut bytes);
            build(&mut builder);
            builder.finish().unwrap();
        }
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &bytes).unwrap();
        file
    }

    fn add_file(builder: &mut tar::Builder<&mut Vec<u8>>, name: &str, content: &[u8]) {
        let mut header = tar::Header::new_ustar();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, content).unwrap();
    }

    fn add_link(
        builder: &mut tar::Builder<&mut Vec<u8>>,
        name: &str,
        target: &str,
        kind: tar::EntryType,
    ) {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_size(0);
        builder.append_link(&mut header, name, target).unwrap();
    }

    fn read_entry(index: &TarIndex, file: &File, name: &str) -> Option<Vec<u8>> {
        let (offset, size) = index.find(name)?;
        let mut out = Vec::new();
        TarSection::new(file, offset, size)
            .read_to_end(&mut out)
            .unwrap();
        Some(out)
    }

    #[test]
    fn files_and_links_are_found_in_place() {
        let tar = tar_with(|b| {
            add_file(b, "./a/layer.tar", b"layer bytes");
            add_file(b, "index.json", b"{}");
            add_link(b, "b/layer.tar", "../a/layer.tar", tar::EntryType::Symlink);
            add_link(b, "c/layer.tar", "a/layer.tar", tar::EntryType::Link);
            add_link(b, "loop", "loop", tar::EntryType::Symlink);
        });
        let file = File::open(tar.path()).unwrap();
        let index = TarIndex::scan(&file, tar.path()).unwrap();
        assert_eq!(read_entry(&index, &file, "index.json").unwrap(), b"{}");
        for name in ["a/layer.tar", "b/layer.tar", "c/layer.tar"] {
            assert_eq!(
                read_entry(&index, &file, name).unwrap(),
                b"layer bytes",
                "{name}"
            );
        }
        assert!(index.find("loop").is_none());
        assert!(index.find("missing").is_none());
    }

    #[test]
    fn compressed_and_garbage_files_are_refused() {
        let gz = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(gz.path(), [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
        let err = TarIndex::scan(&File::open(gz.path()).unwrap(), gz.path())
            .err()
            .unwrap();
        assert!(err.to_string().contains("gzip-compressed"), "{err}");

        let garbage = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(garbage.path(), vec![b'x'; 1024]).unwrap();
        let err = TarIndex::scan(&File::open(garbage.path()).unwrap(), garbage.path())
            .err()
            .unwrap();
        assert!(matches!(err, ArchiveError::NotAnArchive { .. }), "{err}");
    }

    #[test]
    fn truncated_entries_report_an_error() {
        let tar = tar_with(|b| add_file(b, "big", &[7u8; 4096]));
        let file = File::open(tar.path()).unwrap();
        let index = TarIndex::scan(&file, tar.path()).unwrap();
        let writable = std::fs::OpenOptions::new()
            .write(true)
            .open(tar.path())
            .unwrap();
        writable.set_len(1024).unwrap();
        let (offset, size) = index.find("big").unwrap();
        let mut out = Vec::new();
        let err = TarSection::new(&file, offset, size)
            .read_to_end(&mut out)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
