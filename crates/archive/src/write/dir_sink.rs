//! Writing layout files into a (staging) directory: each file created fresh, flushed and
//! fsynced when finished, and every directory fsynced at the end so the renamed result
//! is durable.
//!
//! It does not make the directory appear atomically (the staging does) nor pick entries.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::file_copy::copy_file_prefix;
use super::plan::LayoutSink;
use crate::error::ArchiveError;

struct OpenFile {
    path: PathBuf,
    out: BufWriter<File>,
}

pub(super) struct DirSink {
    root: PathBuf,
    directories: Vec<PathBuf>,
    open: Option<OpenFile>,
}

impl DirSink {
    pub(super) fn new(root: &Path) -> Self {
        DirSink {
            root: root.to_path_buf(),
            directories: Vec::new(),
            open: None,
        }
    }

    fn open_file(&mut self) -> Result<&mut OpenFile, ArchiveError> {
        let root = &self.root;
        self.open
            .as_mut()
            .ok_or_else(|| write_error(root)(std::io::Error::other("no file is open")))
    }

    /// Fsyncs the directories written into (deepest first) and the root.
    pub(super) fn finish(self) -> Result<(), ArchiveError> {
        for directory in self.directories.iter().rev().chain([&self.root]) {
            File::open(directory)
                .and_then(|d| d.sync_all())
                .map_err(|source| ArchiveError::Write {
                    path: directory.clone(),
                    source,
                })?;
        }
        Ok(())
    }
}

fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Write {
        path: path.to_path_buf(),
        source,
    }
}

impl LayoutSink for DirSink {
    fn add_directory(&mut self, name: &str) -> Result<(), ArchiveError> {
        let path = self.root.join(name);
        if self.directories.contains(&path) {
            return Ok(());
        }
        fs::create_dir(&path).map_err(write_error(&path))?;
        self.directories.push(path);
        Ok(())
    }

    fn start_file(&mut self, name: &str, _size: Option<u64>) -> Result<(), ArchiveError> {
        let path = self.root.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(write_error(&path))?;
        self.open = Some(OpenFile {
            path,
            out: BufWriter::with_capacity(1 << 20, file),
        });
        Ok(())
    }

    fn write_content(&mut self, bytes: &[u8]) -> Result<(), ArchiveError> {
        let open = self.open_file()?;
        open.out.write_all(bytes).map_err(write_error(&open.path))
    }

    fn copy_file_content(
        &mut self,
        file: &File,
        size: u64,
        stop: &dyn Fn() -> bool,
    ) -> Result<u64, ArchiveError> {
        let open = self.open_file()?;
        let path = &open.path;
        open.out.flush().map_err(write_error(path))?;
        copy_file_prefix(file, open.out.get_mut(), size, stop).map_err(write_error(path))
    }

    fn finish_file(&mut self) -> Result<(), ArchiveError> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let file = open
            .out
            .into_inner()
            .map_err(|e| write_error(&open.path)(e.into_error()))?;
        file.sync_all().map_err(write_error(&open.path))
    }
}
