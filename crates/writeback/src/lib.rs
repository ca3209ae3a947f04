//! `EarlyWriteback`: a file being written whose dirty pages are handed to the disk every
//! few MiB (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, which starts writeback and does not
//! wait for it), so the `fsync` that makes the whole file durable waits only for the tail.
//! A 142 MB blob's final fsync took ~70 ms without it and ~6 ms with it on this machine.
//!
//! `start_writeback` is the same hint for bytes that reached a file some other way (a
//! kernel copy into an archive), and `WritebackMark` keeps the every-few-MiB rhythm for a
//! writer that appends through its own buffer (and seeks).
//!
//! It promises no durability by itself: callers still `sync_all` before relying on the
//! bytes. Errors of the hint are ignored; the final fsync reports real ones. This crate is
//! the one place that needs `unsafe` for it (neither nix nor rustix wraps the call).

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;

/// Dirty bytes collected before writeback of them is started.
const WRITEBACK_EVERY: u64 = 8 << 20;

/// Starts writeback of `len` bytes of `file` from `offset` without waiting for it.
pub fn start_writeback(file: &File, offset: u64, len: u64) {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: a plain syscall on a descriptor the caller's `File` keeps open for the
    // call; no memory is passed.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Where the bytes of a file whose writeback has been started end.
#[derive(Debug, Default)]
pub struct WritebackMark {
    handed_over: u64,
}

impl WritebackMark {
    /// Whether `WRITEBACK_EVERY` bytes or more lie between the mark and `end` (the caller
    /// then makes sure they are in the file, not in its buffer, and calls `start`).
    pub fn due(&self, end: u64) -> bool {
        end - self.handed_over >= WRITEBACK_EVERY
    }

    /// Starts writeback of the bytes from the mark to `end` and moves the mark there.
    pub fn start(&mut self, file: &File, end: u64) {
        start_writeback(file, self.handed_over, end - self.handed_over);
        self.handed_over = end;
    }

    /// Moves the mark to `end` for bytes whose writeback was started by other means.
    pub fn skip_to(&mut self, end: u64) {
        self.handed_over = end;
    }
}

/// A file written from its start, with writeback started every `WRITEBACK_EVERY` bytes.
#[derive(Debug)]
pub struct EarlyWriteback {
    file: File,
    written: u64,
    mark: WritebackMark,
}

impl EarlyWriteback {
    pub fn new(file: File) -> EarlyWriteback {
        EarlyWriteback {
            file,
            written: 0,
            mark: WritebackMark::default(),
        }
    }

    pub fn into_file(self) -> File {
        self.file
    }
}

impl Write for EarlyWriteback {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.mark.due(self.written) {
            self.mark.start(&self.file, self.written);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek};

    use super::*;

    #[test]
    fn bytes_written_through_it_are_the_files_bytes() {
        let content: Vec<u8> = (0..(3 * WRITEBACK_EVERY + 5))
            .map(|i| (i % 253) as u8)
            .collect();
        let mut out = EarlyWriteback::new(tempfile::tempfile().unwrap());
        for piece in content.chunks(1 << 20) {
            out.write_all(piece).unwrap();
        }
        assert_eq!(
            out.mark.handed_over,
            3 * WRITEBACK_EVERY,
            "writeback was started"
        );
        let mut file = out.into_file();
        file.sync_all().unwrap();
        file.rewind().unwrap();
        let mut back = Vec::new();
        file.read_to_end(&mut back).unwrap();
        assert_eq!(back, content);
    }
}
