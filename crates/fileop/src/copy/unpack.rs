//! ADD's archive handling: recognizing a local tar archive (plain, gzip, bzip2 or xz, by
//! content, as moby's `DetectCompression` and `IsArchive` do) and extracting it into a
//! directory the way BuildKit does (it untars chrooted into the destination): symlinks are
//! extracted exactly as written, wherever they point (absolute, or climbing with `..`),
//! while every path the extraction writes is resolved inside the destination, so a later
//! entry written through such a link lands inside it too. Entry names and hard-link targets
//! that climb out with `..` are refused with an error naming the entry.
//!
//! Which sources are unpacked, and where, is `copy`'s decision.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use tar::{Archive, Entry, EntryType};

use super::place::{create_missing, io_error, set_owner_and_mode, set_times, set_xattr};
use super::CopyError;
use crate::lexical::{base_name, clean_path, parent_of};
use crate::scoped::resolve_in_root;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
}

/// The compression of `path` when it is a tar archive; `None` for any other file.
pub(super) fn detect(path: &Path) -> Result<Option<Compression>, CopyError> {
    let mut magic = [0u8; 6];
    let read = read_up_to(&mut open(path)?, &mut magic)
        .map_err(|source| io_error("read", path, source))?;
    let compression = match &magic[..read] {
        [0x1f, 0x8b, 0x08, ..] => Compression::Gzip,
        [b'B', b'Z', b'h', ..] => Compression::Bzip2,
        [0xfd, b'7', b'z', b'X', b'Z', 0x00] => Compression::Xz,
        _ => Compression::None,
    };
    let mut header = [0u8; 512];
    // A stream that fails to decompress is not an archive; ADD copies it as a file.
    let is_tar = read_up_to(&mut decompressed(path, compression)?, &mut header)
        .is_ok_and(|n| n == header.len() && is_tar_header(&header));
    Ok(is_tar.then_some(compression))
}

/// Extracts the archive at `archive` into the directory `into`. Entries keep their
/// permission bits, mtimes and `SCHILY.xattr` attributes; they are owned by `owner`, or by
/// the ids in the archive when `owner` is `None`.
pub(super) fn extract(
    archive: &Path,
    compression: Compression,
    into: &Path,
    owner: Option<(u32, u32)>,
) -> Result<(), CopyError> {
    let read_error = |source| io_error("read archive", archive, source);
    let mut tar = Archive::new(decompressed(archive, compression)?);
    let extractor = Extractor {
        archive,
        into,
        owner,
    };
    let mut directory_times = Vec::new();
    for entry in tar.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        if let Some(dir) = extractor.entry(&mut entry)? {
            directory_times.push(dir);
        }
    }
    for (dir, mtime_ns) in directory_times.into_iter().rev() {
        set_times(&dir, mtime_ns)?;
    }
    Ok(())
}

struct Extractor<'a> {
    archive: &'a Path,
    into: &'a Path,
    owner: Option<(u32, u32)>,
}

impl Extractor<'_> {
    /// Extracts one entry; returns a directory and its mtime, to be set after its contents.
    fn entry<R: Read>(
        &self,
        entry: &mut Entry<'_, R>,
    ) -> Result<Option<(PathBuf, i64)>, CopyError> {
        let name = self.text(entry.path_bytes().as_ref(), "")?;
        let rel = self.inside(&name, &name)?;
        if rel.is_empty() {
            return Ok(None);
        }
        let parent = resolve_in_root(self.into, parent_of(&rel), true)?;
        create_missing(self.into, &parent, 0o755, self.owner.unwrap_or((0, 0)))?;
        let target = parent.join(base_name(&rel));
        let header = entry.header().clone();
        let kind = header.entry_type();
        if kind.is_dir() {
            if !fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
                remove_any(&target)?;
                fs::create_dir(&target)
                    .map_err(|source| io_error("create directory", &target, source))?;
            }
        } else {
            remove_any(&target)?;
            self.create_non_directory(entry, kind, &name, &target)?;
        }
        let mtime_ns = i64::try_from(header.mtime().unwrap_or(0)).unwrap_or(0) * 1_000_000_000;
        if kind.is_symlink() {
            set_owner_and_mode(&target, self.entry_owner(&header), None)?;
            set_times(&target, mtime_ns)?;
            return Ok(None);
        }
        let mode = header
            .mode()
            .map_err(|source| io_error("read archive", self.archive, source))?;
        set_owner_and_mode(&target, self.entry_owner(&header), Some(mode))?;
        self.apply_xattrs(entry, &target)?;
        if kind.is_dir() {
            return Ok(Some((target, mtime_ns)));
        }
        set_times(&target, mtime_ns)?;
        Ok(None)
    }

    fn create_non_directory<R: Read>(
        &self,
        entry: &mut Entry<'_, R>,
        kind: EntryType,
        name: &str,
        target: &Path,
    ) -> Result<(), CopyError> {
        if kind.is_symlink() {
            // As written: only resolution on later writes is confined, not the link.
            let link = self.link_name(entry, name)?;
            return std::os::unix::fs::symlink(&link, target)
                .map_err(|source| io_error("create symlink", target, source));
        }
        if kind.is_hard_link() {
            let link = self.link_name(entry, name)?;
            let source = resolve_in_root(self.into, &self.inside(&link, name)?, false)?;
            return fs::hard_link(&source, target)
                .map_err(|err| io_error("hard link", target, err));
        }
        if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            return make_node(entry, kind, target);
        }
        let mut file = File::create(target).map_err(|source| io_error("create", target, source))?;
        io::copy(entry, &mut file).map_err(|source| io_error("extract into", target, source))?;
        Ok(())
    }

    /// `path` cleaned relative to the extraction directory; climbing out is an error.
    fn inside(&self, path: &str, entry: &str) -> Result<String, CopyError> {
        let cleaned = clean_path(path.trim_start_matches('/'));
        if cleaned == ".." || cleaned.starts_with("../") {
            return Err(self.unsafe_entry(entry, "it points outside the destination"));
        }
        Ok(if cleaned == "." {
            String::new()
        } else {
            cleaned
        })
    }

    fn link_name<R: Read>(&self, entry: &Entry<'_, R>, name: &str) -> Result<String, CopyError> {
        let bytes = entry
            .link_name_bytes()
            .ok_or_else(|| self.unsafe_entry(name, "link has no target"))?;
        self.text(bytes.as_ref(), name)
    }

    fn text(&self, bytes: &[u8], entry: &str) -> Result<String, CopyError> {
        String::from_utf8(bytes.to_vec())
            .map_err(|_| self.unsafe_entry(entry, "name is not valid UTF-8"))
    }

    fn entry_owner(&self, header: &tar::Header) -> (u32, u32) {
        self.owner.unwrap_or_else(|| {
            let id = |value: io::Result<u64>| {
                value.ok().and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
            };
            (id(header.uid()), id(header.gid()))
        })
    }

    fn apply_xattrs<R: Read>(
        &self,
        entry: &mut Entry<'_, R>,
        target: &Path,
    ) -> Result<(), CopyError> {
        let Some(extensions) = entry
            .pax_extensions()
            .map_err(|source| io_error("read archive", self.archive, source))?
        else {
            return Ok(());
        };
        for extension in extensions {
            let extension =
                extension.map_err(|source| io_error("read archive", self.archive, source))?;
            if let Some(name) = extension
                .key()
                .ok()
                .and_then(|key| key.strip_prefix("SCHILY.xattr."))
            {
                set_xattr(target, name, extension.value_bytes())?;
            }
        }
        Ok(())
    }

    fn unsafe_entry(&self, entry: &str, reason: &'static str) -> CopyError {
        CopyError::UnsafeArchiveEntry {
            archive: self.archive.to_path_buf(),
            entry: entry.to_string(),
            reason,
        }
    }
}

/// Removes whatever is at `target` (an archive entry replaces it, directories included,
/// except that a directory entry merges into an existing directory).
fn remove_any(target: &Path) -> Result<(), CopyError> {
    match fs::symlink_metadata(target) {
        Ok(metadata) if metadata.is_dir() => fs::remove_dir_all(target),
        Ok(_) => fs::remove_file(target),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
    .map_err(|source| io_error("replace", target, source))
}

fn make_node<R: Read>(
    entry: &Entry<'_, R>,
    kind: EntryType,
    target: &Path,
) -> Result<(), CopyError> {
    let header = entry.header();
    let number = |value: io::Result<Option<u32>>| value.ok().flatten().unwrap_or(0);
    let device = libc::makedev(number(header.device_major()), number(header.device_minor()));
    let file_type = if kind.is_character_special() {
        libc::S_IFCHR
    } else if kind.is_block_special() {
        libc::S_IFBLK
    } else {
        libc::S_IFIFO
    };
    let path = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str()))
        .map_err(|_| io_error("create node", target, io::ErrorKind::InvalidInput.into()))?;
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
    let result = unsafe { libc::mknod(path.as_ptr(), file_type | 0o600, device) };
    if result != 0 {
        return Err(io_error("create node", target, io::Error::last_os_error()));
    }
    Ok(())
}

fn open(path: &Path) -> Result<File, CopyError> {
    File::open(path).map_err(|source| io_error("open", path, source))
}

fn decompressed(path: &Path, compression: Compression) -> Result<Box<dyn Read>, CopyError> {
    let file = BufReader::new(open(path)?);
    Ok(match compression {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(file)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(file)),
    })
}

/// Reads until `buffer` is full or the input ends; returns how much was read.
fn read_up_to(reader: &mut dyn Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// Whether a 512-byte block is a tar header: its stored checksum equals the sum of its bytes
/// with the checksum field counted as spaces (unsigned, or signed as some old tars wrote).
fn is_tar_header(block: &[u8; 512]) -> bool {
    let stored = std::str::from_utf8(&block[148..156])
        .ok()
        .map(|text| text.trim_matches(|c: char| c == ' ' || c == '\0'))
        .and_then(|text| u32::from_str_radix(text, 8).ok());
    let Some(stored) = stored else {
        return false;
    };
    let field = |i: usize| (148..156).contains(&i);
    let unsigned: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| if field(i) { 32 } else { u32::from(b) })
        .sum();
    let signed: i64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| if field(i) { 32 } else { i64::from(b as i8) })
        .sum();
    stored == unsigned || i64::from(stored) == signed
}
