//! Where an archive's files live: a directory on disk, or a tar file read in place. Both
//! answer the same questions — does entry `name` exist, open it, open it verified against
//! a digest — so the format readers never care which one they have.
//!
//! It does not interpret any file; that is the OCI and docker-archive readers' job.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rbuild_oci::Digest;

use crate::entry_name::{blob_entry_name, normalize_entry_name};
use crate::error::ArchiveError;
use crate::tar_index::{TarIndex, TarSection};
use crate::verify::{parse_document, read_document, VerifyingReader, DOCUMENT_LIMIT};

pub(crate) enum Container {
    Directory {
        root: PathBuf,
    },
    Tar {
        path: PathBuf,
        file: File,
        index: TarIndex,
    },
}

impl Container {
    /// Opens a directory as is, or indexes a tar file.
    pub(crate) fn open(path: &Path) -> Result<Container, ArchiveError> {
        let read_error = |source| ArchiveError::Read {
            path: path.to_path_buf(),
            source,
        };
        if fs::metadata(path).map_err(read_error)?.is_dir() {
            return Ok(Container::Directory {
                root: path.to_path_buf(),
            });
        }
        let file = File::open(path).map_err(read_error)?;
        let index = TarIndex::scan(&file, path)?;
        Ok(Container::Tar {
            path: path.to_path_buf(),
            file,
            index,
        })
    }

    /// The archive's own path.
    pub(crate) fn path(&self) -> &Path {
        match self {
            Container::Directory { root } => root,
            Container::Tar { path, .. } => path,
        }
    }

    /// A human-readable location of entry `name`, for messages.
    pub(crate) fn location(&self, name: &str) -> String {
        match self {
            Container::Directory { root } => root.join(name).display().to_string(),
            Container::Tar { path, .. } => format!("{name} in {}", path.display()),
        }
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        match self {
            Container::Directory { root } => {
                normalize_entry_name(name).is_some_and(|name| root.join(name).is_file())
            }
            Container::Tar { index, .. } => index.find(name).is_some(),
        }
    }

    /// Opens entry `name`, or `None` when the archive has no such file.
    pub(crate) fn open_entry(
        &self,
        name: &str,
    ) -> Result<Option<Box<dyn Read + Send + '_>>, ArchiveError> {
        match self {
            Container::Directory { root } => {
                let Some(normalized) = normalize_entry_name(name) else {
                    return Ok(None);
                };
                let path = root.join(normalized);
                match File::open(&path) {
                    Ok(file) if path.is_file() => Ok(Some(Box::new(file))),
                    Ok(_) => Ok(None),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(source) => Err(ArchiveError::Read { path, source }),
                }
            }
            Container::Tar { file, index, .. } => Ok(index.find(name).map(|(offset, size)| {
                Box::new(TarSection::new(file, offset, size)) as Box<dyn Read + Send>
            })),
        }
    }

    /// Opens entry `name`, checked against `digest` (and `size` when known) as it is read.
    pub(crate) fn open_verified(
        &self,
        name: &str,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Box<dyn Read + Send + '_>, ArchiveError> {
        let reader = self
            .open_entry(name)?
            .ok_or_else(|| ArchiveError::MissingBlob {
                archive: self.path().to_path_buf(),
                digest: digest.to_string(),
            })?;
        let location = self.location(name);
        Ok(Box::new(VerifyingReader::new(
            reader,
            digest.clone(),
            size,
            location,
        )))
    }

    /// Opens the blob `digest` of an OCI layout (`blobs/sha256/<hex>`), verified.
    pub(crate) fn open_blob(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Box<dyn Read + Send + '_>, ArchiveError> {
        self.open_verified(&blob_entry_name(digest), digest, size)
    }

    /// Reads and verifies a small JSON blob such as a manifest or a config.
    pub(crate) fn read_blob_document(
        &self,
        digest: &Digest,
        size: u64,
        document: &'static str,
    ) -> Result<Vec<u8>, ArchiveError> {
        let location = self.location(&blob_entry_name(digest));
        if size > DOCUMENT_LIMIT {
            return Err(ArchiveError::DocumentTooLarge {
                location,
                document,
                limit: DOCUMENT_LIMIT,
            });
        }
        read_document(self.open_blob(digest, Some(size))?, &location, document)
    }

    /// Reads and parses an unaddressed JSON file such as `index.json`; `None` if absent.
    pub(crate) fn read_json_file<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        document: &'static str,
    ) -> Result<Option<T>, ArchiveError> {
        let Some(reader) = self.open_entry(name)? else {
            return Ok(None);
        };
        let location = self.location(name);
        let bytes = read_document(reader, &location, document)?;
        parse_document(&bytes, &location, document).map(Some)
    }
}
