//! Snapshot → tar: the deterministic layer tar of an overlay-form directory.
//!
//! Entries come in Go `filepath.Walk` order (names sorted bytewise within each directory,
//! parents before children, the root itself omitted). Overlay whiteouts (0/0 character
//! devices) become `.wh.<name>` files, an opaque directory is followed by its
//! `.wh..wh..opq` marker, the second path of an inode becomes a hardlink entry, mtimes are
//! clamped to the epoch when one is given. Sockets are skipped as Docker does. The same
//! directory always gives the same bytes. The file system reads come from `tar_walk`, in
//! parallel ahead of the encoding; reading tars back is `tar_read`'s concern.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::scoped_dir::unsafe_entry;
use super::tar_header::{padding_for, EntryHeader, Kind, ZEROS};
use super::tar_walk::{open_snapshot_file, shrank, walk_snapshot, WalkedEntry};
use super::whiteout::{self, OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::error::{IoContext, StoreError};

const OUTPUT_BUFFER: usize = 256 * 1024;
const COPY_BUFFER: usize = 128 * 1024;

/// What writing a layer tar found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TarSummary {
    /// Tar entries written, markers and whiteouts included.
    pub entries: u64,
    /// Bytes of tar written.
    pub tar_size: u64,
    /// Disk space the directory's files occupy (allocated blocks, hardlinks once).
    pub disk_bytes: u64,
}

/// Writes the layer tar of the overlay-form directory `root` to `out`.
pub(crate) fn write_snapshot_tar(
    root: &Path,
    epoch: Option<i64>,
    out: &mut dyn Write,
) -> Result<TarSummary, StoreError> {
    write_tree_tar(root, epoch, &[], out)
}

/// `write_snapshot_tar` leaving out the top-level entries named in `skip` (and all below
/// them): the overlay work dir of a cache-mount instance, for one.
pub(crate) fn write_tree_tar(
    root: &Path,
    epoch: Option<i64>,
    skip: &[&str],
    out: &mut dyn Write,
) -> Result<TarSummary, StoreError> {
    let mut writer = SnapshotTarWriter {
        root,
        out: BufWriter::with_capacity(OUTPUT_BUFFER, out),
        epoch,
        first_paths: HashMap::new(),
        copy_buffer: vec![0; COPY_BUFFER],
        summary: TarSummary::default(),
    };
    writer.walk(root, skip)?;
    writer.emit_bytes(&ZEROS)?;
    writer.out.flush().map_err(|e| writer.output_error(e))?;
    Ok(writer.summary)
}

struct SnapshotTarWriter<'a> {
    root: &'a Path,
    out: BufWriter<&'a mut dyn Write>,
    epoch: Option<i64>,
    /// (device, inode) → path of the first entry for inodes with several links.
    first_paths: HashMap<(u64, u64), Vec<u8>>,
    copy_buffer: Vec<u8>,
    summary: TarSummary,
}

impl SnapshotTarWriter<'_> {
    /// Emits everything below `root` in walk order (read ahead in parallel by `tar_walk`).
    fn walk(&mut self, root: &Path, skip: &[&str]) -> Result<(), StoreError> {
        walk_snapshot(root, skip, |entry| self.entry(entry))
    }

    fn entry(&mut self, walked: WalkedEntry) -> Result<(), StoreError> {
        let WalkedEntry {
            path,
            rel,
            meta,
            xattrs,
            opaque,
            link,
            content,
        } = walked;
        let file_type = meta.file_type();
        if file_type.is_socket() {
            return Ok(());
        }
        let mut header = EntryHeader {
            path: rel,
            mode: meta.mode(),
            uid: u64::from(meta.uid()),
            gid: u64::from(meta.gid()),
            mtime: self.clamp(meta.mtime()),
            ..Default::default()
        };
        if whiteout::is_overlay_whiteout(&meta) {
            return self.emit_whiteout(header);
        }
        if path
            .file_name()
            .is_some_and(|name| name.as_bytes().starts_with(WHITEOUT_PREFIX))
        {
            return Err(unsafe_entry(&header.path, RESERVED_NAME));
        }
        if !file_type.is_dir() {
            if let Some(first) = self.hardlink_source(&meta, &header.path) {
                header.kind = Kind::HardLink;
                header.link = first;
                return self.emit_header(&header);
            }
        }
        self.summary.disk_bytes += meta.blocks() * 512;
        header.xattrs = xattrs;
        header.kind = kind_of(&meta);
        match header.kind {
            Kind::Directory => self.emit_dir(header, opaque),
            Kind::Regular => {
                header.size = meta.len();
                self.emit_header(&header)?;
                match content {
                    Some(bytes) => self.emit_read_ahead(&bytes),
                    None => self.emit_content(&path, header.size),
                }
            }
            Kind::Symlink => {
                header.link = link;
                self.emit_header(&header)
            }
            Kind::CharDevice | Kind::BlockDevice => {
                let rdev = meta.rdev();
                header.device = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
                self.emit_header(&header)
            }
            Kind::Fifo | Kind::HardLink => self.emit_header(&header),
        }
    }

    fn emit_whiteout(&mut self, mut header: EntryHeader) -> Result<(), StoreError> {
        let split = header
            .path
            .iter()
            .rposition(|&b| b == b'/')
            .map_or(0, |i| i + 1);
        header
            .path
            .splice(split..split, WHITEOUT_PREFIX.iter().copied());
        header.kind = Kind::Regular;
        header.mode = 0o600;
        self.emit_header(&header)
    }

    fn emit_dir(&mut self, mut header: EntryHeader, opaque: bool) -> Result<(), StoreError> {
        let dir_path = header.path.clone();
        header.path.push(b'/');
        self.emit_header(&header)?;
        if opaque {
            let mut marker_path = dir_path;
            marker_path.push(b'/');
            marker_path.extend_from_slice(OPAQUE_MARKER);
            let marker = EntryHeader {
                path: marker_path,
                kind: Kind::Regular,
                mode: header.mode & 0o777,
                uid: header.uid,
                gid: header.gid,
                mtime: header.mtime,
                ..Default::default()
            };
            self.emit_header(&marker)?;
        }
        Ok(())
    }

    fn hardlink_source(&mut self, meta: &Metadata, rel: &[u8]) -> Option<Vec<u8>> {
        if meta.nlink() < 2 {
            return None;
        }
        let key = (meta.dev(), meta.ino());
        match self.first_paths.get(&key) {
            Some(first) => Some(first.clone()),
            None => {
                self.first_paths.insert(key, rel.to_vec());
                None
            }
        }
    }

    fn clamp(&self, mtime: i64) -> i64 {
        self.epoch.map_or(mtime, |epoch| mtime.min(epoch))
    }

    fn emit_header(&mut self, header: &EntryHeader) -> Result<(), StoreError> {
        let written = header
            .write_to(&mut self.out)
            .map_err(|e| self.output_error(e))?;
        self.summary.tar_size += written;
        self.summary.entries += 1;
        Ok(())
    }

    fn emit_read_ahead(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.emit_bytes(bytes)?;
        self.emit_bytes(&ZEROS[..padding_for(bytes.len() as u64)])
    }

    fn emit_content(&mut self, path: &Path, size: u64) -> Result<(), StoreError> {
        let mut file = open_snapshot_file(path)?;
        let mut remaining = size;
        while remaining > 0 {
            let want = remaining.min(self.copy_buffer.len() as u64) as usize;
            let n = file
                .read(&mut self.copy_buffer[..want])
                .at("reading snapshot file", path)?;
            if n == 0 {
                return Err(shrank(path, size));
            }
            self.out
                .write_all(&self.copy_buffer[..n])
                .map_err(|e| self.output_error(e))?;
            remaining -= n as u64;
        }
        self.summary.tar_size += size;
        self.emit_bytes(&ZEROS[..padding_for(size)])
    }

    fn emit_bytes(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.out
            .write_all(bytes)
            .map_err(|e| self.output_error(e))?;
        self.summary.tar_size += bytes.len() as u64;
        Ok(())
    }

    fn output_error(&self, e: io::Error) -> StoreError {
        StoreError::io("writing the layer tar of", self.root, e)
    }
}

/// Why a file named `.wh.*` cannot be put in a layer.
pub(crate) const RESERVED_NAME: &str =
    "names starting with \".wh.\" are reserved for whiteouts in image layers";

fn kind_of(meta: &Metadata) -> Kind {
    let file_type = meta.file_type();
    if file_type.is_dir() {
        Kind::Directory
    } else if file_type.is_symlink() {
        Kind::Symlink
    } else if file_type.is_char_device() {
        Kind::CharDevice
    } else if file_type.is_block_device() {
        Kind::BlockDevice
    } else if file_type.is_fifo() {
        Kind::Fifo
    } else {
        Kind::Regular
    }
}
