//! `EntryHeader`: one tar entry's metadata, encoded as a ustar header preceded, when a value
//! does not fit ustar (long names and link targets, large ids, sizes and times, xattrs), by a
//! PAX extended header whose records are sorted by key.
//!
//! The encoding is fixed: no user or group names, seconds-only mtimes, a constant PAX header
//! name. Same metadata, same bytes. Walking directories and file contents are the writer's
//! business.

use std::io::{self, Write};

use tar::{EntryType, Header};

use super::whiteout::Xattrs;

pub(crate) const BLOCK: usize = 512;
const NAME_FIELD: usize = 100;
/// Largest value of an 8-byte octal field (mode, uid, gid, devices).
const MAX_OCTAL_8: u64 = 0o7777777;
/// Largest value of a 12-byte octal field (size, mtime).
const MAX_OCTAL_12: u64 = 0o77777777777;
const PAX_HEADER_NAME: &[u8] = b"././@PaxHeader";
const XATTR_PREFIX: &str = "SCHILY.xattr.";

#[derive(Clone, Debug, Default)]
pub(crate) struct EntryHeader {
    pub path: Vec<u8>,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: i64,
    /// Symlink target or hardlink source path.
    pub link: Vec<u8>,
    pub device: (u32, u32),
    /// Sorted by name.
    pub xattrs: Xattrs,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Kind {
    #[default]
    Regular,
    HardLink,
    Symlink,
    CharDevice,
    BlockDevice,
    Directory,
    Fifo,
}

impl Kind {
    fn entry_type(self) -> EntryType {
        match self {
            Kind::Regular => EntryType::Regular,
            Kind::HardLink => EntryType::Link,
            Kind::Symlink => EntryType::Symlink,
            Kind::CharDevice => EntryType::Char,
            Kind::BlockDevice => EntryType::Block,
            Kind::Directory => EntryType::Directory,
            Kind::Fifo => EntryType::Fifo,
        }
    }
}

impl EntryHeader {
    /// Writes the (PAX and) ustar header blocks; returns the number of bytes written.
    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<u64> {
        let mut written = 0;
        let records = self.pax_records();
        if !records.is_empty() {
            written += write_pax_header(out, &records)?;
        }
        let header = self.ustar_header();
        out.write_all(header.as_bytes())?;
        Ok(written + BLOCK as u64)
    }

    fn pax_records(&self) -> Vec<(String, Vec<u8>)> {
        let mut records: Vec<(String, Vec<u8>)> = Vec::new();
        if self.path.len() > NAME_FIELD {
            records.push(("path".into(), self.path.clone()));
        }
        if self.link.len() > NAME_FIELD {
            records.push(("linkpath".into(), self.link.clone()));
        }
        if self.uid > MAX_OCTAL_8 {
            records.push(("uid".into(), self.uid.to_string().into_bytes()));
        }
        if self.gid > MAX_OCTAL_8 {
            records.push(("gid".into(), self.gid.to_string().into_bytes()));
        }
        if self.size > MAX_OCTAL_12 {
            records.push(("size".into(), self.size.to_string().into_bytes()));
        }
        if !mtime_fits(self.mtime) {
            records.push(("mtime".into(), self.mtime.to_string().into_bytes()));
        }
        for (name, value) in &self.xattrs {
            let key = format!("{XATTR_PREFIX}{}", String::from_utf8_lossy(name));
            records.push((key, value.clone()));
        }
        records.sort();
        records
    }

    fn ustar_header(&self) -> Header {
        let mut header = Header::new_ustar();
        set_truncated(&mut header.as_old_mut().name, &self.path);
        set_truncated(&mut header.as_old_mut().linkname, &self.link);
        header.set_entry_type(self.kind.entry_type());
        header.set_mode(self.mode & 0o7777);
        header.set_uid(if self.uid > MAX_OCTAL_8 { 0 } else { self.uid });
        header.set_gid(if self.gid > MAX_OCTAL_8 { 0 } else { self.gid });
        header.set_size(if self.size > MAX_OCTAL_12 {
            0
        } else {
            self.size
        });
        header.set_mtime(if mtime_fits(self.mtime) {
            self.mtime as u64
        } else {
            0
        });
        if let Some(ustar) = header.as_ustar_mut() {
            let (major, minor) = self.device;
            ustar.set_device_major(major.min(MAX_OCTAL_8 as u32));
            ustar.set_device_minor(minor.min(MAX_OCTAL_8 as u32));
        }
        header.set_cksum();
        header
    }
}

fn mtime_fits(mtime: i64) -> bool {
    (0..=MAX_OCTAL_12 as i64).contains(&mtime)
}

fn set_truncated(field: &mut [u8], value: &[u8]) {
    let len = value.len().min(field.len());
    field[..len].copy_from_slice(&value[..len]);
}

fn write_pax_header(out: &mut dyn Write, records: &[(String, Vec<u8>)]) -> io::Result<u64> {
    let mut body = Vec::new();
    for (key, value) in records {
        append_pax_record(&mut body, key.as_bytes(), value);
    }
    let mut header = Header::new_ustar();
    set_truncated(&mut header.as_old_mut().name, PAX_HEADER_NAME);
    header.set_entry_type(EntryType::XHeader);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(body.len() as u64);
    header.set_cksum();
    out.write_all(header.as_bytes())?;
    out.write_all(&body)?;
    let padding = padding_for(body.len() as u64);
    out.write_all(&ZEROS[..padding])?;
    Ok((BLOCK + body.len() + padding) as u64)
}

/// `"<length> <key>=<value>\n"` where the length counts the whole record, itself included.
fn append_pax_record(body: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut length = rest + 1;
    while length != rest + decimal_digits(length) {
        length = rest + decimal_digits(length);
    }
    body.extend_from_slice(length.to_string().as_bytes());
    body.push(b' ');
    body.extend_from_slice(key);
    body.push(b'=');
    body.extend_from_slice(value);
    body.push(b'\n');
}

fn decimal_digits(n: usize) -> usize {
    n.to_string().len()
}

pub(crate) static ZEROS: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

/// Bytes of zero padding that complete a block after `len` bytes of content.
pub(crate) fn padding_for(len: u64) -> usize {
    ((BLOCK as u64 - len % BLOCK as u64) % BLOCK as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_count_themselves() {
        let mut body = Vec::new();
        append_pax_record(&mut body, b"path", b"x");
        assert_eq!(body, b"9 path=x\n");
        let mut body = Vec::new();
        let value = vec![b'a'; 91]; // 91 + 4 + 3 = 98 → "100 " would make 101
        append_pax_record(&mut body, b"path", &value);
        let text = String::from_utf8(body.clone()).unwrap();
        let declared: usize = text.split(' ').next().unwrap().parse().unwrap();
        assert_eq!(declared, body.len());
    }

    #[test]
    fn short_entries_need_no_pax_and_long_ones_do() {
        let short = EntryHeader {
            path: b"etc/passwd".to_vec(),
            mode: 0o644,
            ..Default::default()
        };
        let mut bytes = Vec::new();
        assert_eq!(short.write_to(&mut bytes).unwrap(), 512);
        let long = EntryHeader {
            path: vec![b'd'; 150],
            uid: 5_000_000,
            xattrs: vec![(b"security.capability".to_vec(), vec![1, 0, 0, 2])],
            ..Default::default()
        };
        let mut bytes = Vec::new();
        let n = long.write_to(&mut bytes).unwrap();
        assert_eq!(n as usize, bytes.len());
        let mut archive = tar::Archive::new(std::io::Cursor::new([bytes, vec![0; 1024]].concat()));
        let mut entries = archive.entries().unwrap();
        let mut entry = entries.next().unwrap().unwrap();
        assert_eq!(entry.path_bytes().len(), 150);
        assert_eq!(entry.header().uid().unwrap(), 5_000_000);
        let xattr = entry
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.key().unwrap() == "SCHILY.xattr.security.capability")
            .unwrap();
        assert_eq!(xattr.value_bytes(), &[1, 0, 0, 2]);
    }
}
