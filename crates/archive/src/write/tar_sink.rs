//! A deterministic tar writer for layouts: ustar headers with mtime 0, uid/gid 0, no user
//! or group names and fixed modes (0644 files, 0755 directories), so the same entries give
//! the same bytes. A file whose size is unknown up front is streamed and its header
//! rewritten afterwards (the output is a seekable file).
//!
//! It does not sort or choose entries (the plan does) and does not make the output atomic.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rbuild_writeback::WritebackMark;

use super::file_copy::copy_file_prefix;
use super::plan::LayoutSink;
use crate::error::ArchiveError;

const BLOCK: u64 = 512;
const FILE_MODE: u32 = 0o644;
const DIRECTORY_MODE: u32 = 0o755;

/// The file being written: where its header is and what it promised.
struct OpenFile {
    name: String,
    header_position: u64,
    declared_size: Option<u64>,
    written: u64,
}

pub(super) struct TarSink {
    out: BufWriter<File>,
    path: PathBuf,
    position: u64,
    /// Writeback is started every few MiB, so the final fsync waits for the tail only.
    writeback: WritebackMark,
    open: Option<OpenFile>,
    directories: HashSet<String>,
}

impl TarSink {
    /// A tar written into `file`; `path` is the destination named in errors.
    pub(super) fn new(file: File, path: &Path) -> Self {
        TarSink {
            out: BufWriter::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            position: 0,
            writeback: WritebackMark::default(),
            open: None,
            directories: HashSet::new(),
        }
    }

    /// Ends the archive (two zero blocks) and hands back the file, flushed.
    pub(super) fn finish(mut self) -> Result<File, ArchiveError> {
        self.write_raw(&[0u8; 2 * BLOCK as usize])?;
        let path = self.path.clone();
        self.out
            .into_inner()
            .map_err(|e| write_error(&path, e.into_error()))
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.out
            .write_all(bytes)
            .map_err(|e| write_error(&self.path, e))?;
        self.position += bytes.len() as u64;
        if self.writeback.due(self.position) {
            self.out.flush().map_err(|e| write_error(&self.path, e))?;
            self.writeback.start(self.out.get_ref(), self.position);
        }
        Ok(())
    }

    fn header(
        &self,
        name: &str,
        kind: tar::EntryType,
        size: u64,
    ) -> Result<tar::Header, ArchiveError> {
        let mut header = tar::Header::new_ustar();
        header
            .set_path(name)
            .map_err(|e| write_error(&self.path, e))?;
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(if kind.is_dir() {
            DIRECTORY_MODE
        } else {
            FILE_MODE
        });
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        Ok(header)
    }

    /// Rewrites the header at `position` (for a file whose size is now known).
    fn rewrite_header(&mut self, position: u64, header: &tar::Header) -> Result<(), ArchiveError> {
        let out = &mut self.out;
        out.seek(SeekFrom::Start(position))
            .and_then(|_| out.write_all(header.as_bytes()))
            .and_then(|_| out.seek(SeekFrom::Start(self.position)))
            .map(|_| ())
            .map_err(|e| write_error(&self.path, e))
    }

    /// Ends a file started without a size, as `name` (its name until now was a stand-in of
    /// the same length); its content must be `size` bytes.
    pub(super) fn finish_streamed_file(
        &mut self,
        name: &str,
        size: u64,
    ) -> Result<(), ArchiveError> {
        let open = self.open_file()?;
        if open.declared_size.is_some() || open.written != size {
            let message = format!(
                "tar entry {name} has {} bytes where its blob has {size}",
                open.written
            );
            return Err(write_error(&self.path, io::Error::other(message)));
        }
        open.name = name.to_string();
        self.finish_file()
    }

    fn open_file(&mut self) -> Result<&mut OpenFile, ArchiveError> {
        self.open
            .as_mut()
            .ok_or_else(|| write_error(&self.path, io::Error::other("no tar entry is open")))
    }
}

impl LayoutSink for TarSink {
    fn add_directory(&mut self, name: &str) -> Result<(), ArchiveError> {
        if !self.directories.insert(name.to_string()) {
            return Ok(());
        }
        let header = self.header(&format!("{name}/"), tar::EntryType::Directory, 0)?;
        self.write_raw(header.as_bytes())
    }

    fn start_file(&mut self, name: &str, size: Option<u64>) -> Result<(), ArchiveError> {
        if let Some(open) = &self.open {
            let message = format!("tar entry {} is still open", open.name);
            return Err(write_error(&self.path, io::Error::other(message)));
        }
        let header = self.header(name, tar::EntryType::Regular, size.unwrap_or(0))?;
        let header_position = self.position;
        self.write_raw(header.as_bytes())?;
        self.open = Some(OpenFile {
            name: name.to_string(),
            header_position,
            declared_size: size,
            written: 0,
        });
        Ok(())
    }

    fn write_content(&mut self, bytes: &[u8]) -> Result<(), ArchiveError> {
        let open = self.open_file()?;
        open.written += bytes.len() as u64;
        if open.declared_size.is_some_and(|size| open.written > size) {
            let message = format!("more content than declared for tar entry {}", open.name);
            return Err(write_error(&self.path, io::Error::other(message)));
        }
        self.write_raw(bytes)
    }

    fn copy_file_content(
        &mut self,
        file: &File,
        size: u64,
        stop: &dyn Fn() -> bool,
    ) -> Result<u64, ArchiveError> {
        let open = self.open_file()?;
        if open
            .declared_size
            .is_some_and(|declared| open.written + size > declared)
        {
            let message = format!("more content than declared for tar entry {}", open.name);
            return Err(write_error(&self.path, io::Error::other(message)));
        }
        let path = &self.path;
        self.out.flush().map_err(|e| write_error(path, e))?;
        let copied = copy_file_prefix(file, self.out.get_mut(), size, stop)
            .map_err(|e| write_error(path, e))?;
        self.position += copied;
        self.writeback.skip_to(self.position);
        self.open_file()?.written += copied;
        Ok(copied)
    }

    fn finish_file(&mut self) -> Result<(), ArchiveError> {
        let open = self
            .open
            .take()
            .ok_or_else(|| write_error(&self.path, io::Error::other("no tar entry is open")))?;
        if open.declared_size.is_some_and(|size| size != open.written) {
            let message = format!("less content than declared for tar entry {}", open.name);
            return Err(write_error(&self.path, io::Error::other(message)));
        }
        let padding = (BLOCK - open.written % BLOCK) % BLOCK;
        self.write_raw(&vec![0u8; padding as usize])?;
        if open.declared_size.is_none() {
            let header = self.header(&open.name, tar::EntryType::Regular, open.written)?;
            self.rewrite_header(open.header_position, &header)?;
        }
        Ok(())
    }
}

fn write_error(path: &Path, source: io::Error) -> ArchiveError {
    ArchiveError::Write {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn entries(file: &File) -> Vec<(String, Vec<u8>, u32, u64)> {
        let mut archive = tar::Archive::new(file);
        archive
            .entries_with_seek()
            .unwrap()
            .map(|entry| {
                let mut entry = entry.unwrap();
                let mut content = Vec::new();
                entry.read_to_end(&mut content).unwrap();
                let name = entry.path().unwrap().display().to_string();
                let header = entry.header();
                (
                    name,
                    content,
                    header.mode().unwrap(),
                    header.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn sized_and_streamed_files_read_back() {
        let staging = tempfile::tempfile().unwrap();
        let mut sink = TarSink::new(staging, Path::new("test.tar"));
        sink.add_directory("blobs").unwrap();
        sink.add_directory("blobs").unwrap();
        sink.start_file("blobs/known", Some(3)).unwrap();
        sink.write_content(b"abc").unwrap();
        sink.finish_file().unwrap();
        sink.start_file("blobs/streamed", None).unwrap();
        sink.write_content(&[9u8; 700]).unwrap();
        sink.write_content(b"end").unwrap();
        sink.finish_file().unwrap();
        let mut file = sink.finish().unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        let found = entries(&file);
        assert_eq!(found.len(), 3);
        assert_eq!((found[0].0.as_str(), found[0].2), ("blobs/", 0o755));
        assert_eq!(
            found[1],
            ("blobs/known".to_string(), b"abc".to_vec(), 0o644, 0)
        );
        assert_eq!(found[2].1.len(), 703);
        assert!(found[2].1.ends_with(b"end"));
    }

    #[test]
    fn content_must_match_the_declared_size() {
        let mut sink = TarSink::new(tempfile::tempfile().unwrap(), Path::new("t.tar"));
        sink.start_file("a", Some(2)).unwrap();
        assert!(sink.write_content(b"abc").is_err());
        let mut sink = TarSink::new(tempfile::tempfile().unwrap(), Path::new("t.tar"));
        sink.start_file("a", Some(2)).unwrap();
        sink.write_content(b"a").unwrap();
        assert!(sink.finish_file().is_err());
    }
}
