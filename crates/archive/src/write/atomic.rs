//! Making an output appear all at once: content is written to a hidden staging name in
//! the destination's directory, fsynced, then renamed over the destination (and the
//! directory fsynced). A staging file or directory that is dropped uncommitted is removed,
//! so a failed or interrupted write leaves nothing behind; staging entries of writers that
//! were killed before they could remove theirs are swept when the next write there starts.
//!
//! It does not write content; the sinks do.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::staging_names::{parent_of, sibling_name, sweep_dead_siblings};
use crate::error::ArchiveError;
use crate::oci_reader::LAYOUT_FILE;

fn write_error(path: &Path, source: io::Error) -> ArchiveError {
    ArchiveError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn sync_directory(path: &Path) -> Result<(), ArchiveError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| write_error(path, e))
}

/// A file being written under a staging name, to become `dest` on `commit`.
pub(super) struct StagedFile {
    staging: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl StagedFile {
    pub(super) fn create(dest: &Path) -> Result<(StagedFile, File), ArchiveError> {
        sweep_dead_siblings(dest);
        loop {
            let staging = sibling_name(dest, "tmp")?;
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&staging)
            {
                Ok(file) => {
                    let staged = StagedFile {
                        staging,
                        dest: dest.to_path_buf(),
                        committed: false,
                    };
                    return Ok((staged, file));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(write_error(dest, e)),
            }
        }
    }

    /// Fsyncs `file` and renames it to the destination.
    pub(super) fn commit(mut self, file: File) -> Result<(), ArchiveError> {
        file.sync_all().map_err(|e| write_error(&self.staging, e))?;
        drop(file);
        fs::rename(&self.staging, &self.dest).map_err(|e| write_error(&self.dest, e))?;
        self.committed = true;
        sync_directory(parent_of(&self.dest))
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.staging);
        }
    }
}

/// A directory being filled under a staging name, to become `dest` on `commit`.
pub struct StagedDir {
    staging: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Fails early, before anything is written, if `dest` may not be replaced (it may if
    /// it does not exist, is an empty directory or an OCI layout).
    pub fn create(dest: &Path) -> Result<StagedDir, ArchiveError> {
        check_replaceable(dest)?;
        sweep_dead_siblings(dest);
        loop {
            let staging = sibling_name(dest, "tmp")?;
            match fs::create_dir(&staging) {
                Ok(()) => {
                    return Ok(StagedDir {
                        staging,
                        dest: dest.to_path_buf(),
                        committed: false,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(write_error(dest, e)),
            }
        }
    }

    /// Where to write the content.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Moves the staged directory to the destination, replacing an old layout there.
    pub fn commit(mut self) -> Result<(), ArchiveError> {
        check_replaceable(&self.dest)?;
        let previous = if self.dest.exists() {
            let aside = sibling_name(&self.dest, "old")?;
            fs::rename(&self.dest, &aside).map_err(|e| write_error(&self.dest, e))?;
            Some(aside)
        } else {
            None
        };
        if let Err(e) = fs::rename(&self.staging, &self.dest) {
            if let Some(aside) = &previous {
                let _ = fs::rename(aside, &self.dest);
            }
            return Err(write_error(&self.dest, e));
        }
        self.committed = true;
        if let Some(aside) = previous {
            if let Err(e) = fs::remove_dir_all(&aside) {
                tracing::warn!(
                    "could not remove the replaced layout {}: {e}",
                    aside.display()
                );
            }
        }
        sync_directory(parent_of(&self.dest))
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// `dest` may be replaced if it does not exist, is an empty directory or an OCI layout.
fn check_replaceable(dest: &Path) -> Result<(), ArchiveError> {
    let occupied = || ArchiveError::DestinationOccupied {
        path: dest.to_path_buf(),
    };
    let metadata = match fs::symlink_metadata(dest) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(write_error(dest, e)),
    };
    if !metadata.is_dir() {
        return Err(occupied());
    }
    if dest.join(LAYOUT_FILE).is_file() {
        return Ok(());
    }
    let mut entries = fs::read_dir(dest).map_err(|e| write_error(dest, e))?;
    match entries.next() {
        None => Ok(()),
        Some(_) => Err(occupied()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn entry_count(dir: &Path) -> usize {
        fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn committed_files_replace_and_dropped_ones_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.tar");
        fs::write(&dest, b"old").unwrap();
        let (staged, mut file) = StagedFile::create(&dest).unwrap();
        file.write_all(b"new").unwrap();
        staged.commit(file).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"new");

        let (staged, mut file) = StagedFile::create(&dest).unwrap();
        file.write_all(b"partial").unwrap();
        drop(staged);
        assert_eq!(fs::read(&dest).unwrap(), b"new");
        assert_eq!(entry_count(dir.path()), 1, "the staging file is gone");
    }

    #[test]
    fn directories_replace_only_layouts_or_empty_ones() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("layout");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("precious.txt"), b"keep").unwrap();
        assert!(matches!(
            StagedDir::create(&dest),
            Err(ArchiveError::DestinationOccupied { .. })
        ));

        fs::write(dest.join(LAYOUT_FILE), b"{}").unwrap();
        let staged = StagedDir::create(&dest).unwrap();
        fs::write(staged.path().join("index.json"), b"{}").unwrap();
        staged.commit().unwrap();
        assert!(dest.join("index.json").is_file());
        assert!(!dest.join("precious.txt").exists());
        assert_eq!(
            entry_count(dir.path()),
            1,
            "staging and old layout are gone"
        );
    }
}
