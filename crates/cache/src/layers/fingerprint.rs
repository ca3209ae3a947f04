//! A layer tar's fingerprint: its size and CRC-32, taken when a snapshot is committed (in
//! the pass that hashes the tar for its diff id) and recorded with the layer, so that a tar
//! regenerated from the snapshot — to be compressed for an export — is checked for a
//! fraction of what hashing it again costs (CRC-32 with carry-less multiply runs at several
//! GB/s; SHA-256 at about one here, and it was a fifth of a first export's CPU time).
//!
//! It is not a content address and does not replace the diff id: it catches accidental
//! change (a snapshot edited on disk, a tar writer that stopped being deterministic), not an
//! adversary — whoever can rewrite a snapshot can rewrite the database that holds both.

use std::io::{self, Write};

use flate2::Crc;

/// The size and CRC-32 of a layer tar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TarFingerprint {
    pub size: u64,
    pub crc32: u32,
}

/// Passes bytes through to `out` and fingerprints them.
pub(crate) struct FingerprintingWriter<W> {
    out: W,
    crc: Crc,
    size: u64,
}

impl<W: Write> FingerprintingWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        FingerprintingWriter {
            out,
            crc: Crc::new(),
            size: 0,
        }
    }

    /// The writer and the fingerprint of everything written through it.
    pub(crate) fn finish(self) -> (W, TarFingerprint) {
        let fingerprint = TarFingerprint {
            size: self.size,
            crc32: self.crc.sum(),
        };
        (self.out, fingerprint)
    }
}

impl<W: Write> Write for FingerprintingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.out.write(bytes)?;
        self.crc.update(&bytes[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_the_size_and_crc32_of_what_passed_through() {
        let mut writer = FingerprintingWriter::new(Vec::new());
        writer.write_all(b"123456789").unwrap();
        let (out, fingerprint) = writer.finish();
        assert_eq!(out, b"123456789");
        // The CRC-32 check value of "123456789".
        assert_eq!(
            fingerprint,
            TarFingerprint {
                size: 9,
                crc32: 0xCBF4_3926
            }
        );
    }
}
