//! Reading content we do not trust: a reader that hashes everything passing through and
//! fails at end of input when the digest or size differs from what a descriptor promised,
//! and bounded reading and parsing of the small JSON documents of an image.
//!
//! It does not know where bytes come from (archive entry, blob source) or what they mean.

use std::io::{self, Read, Write};

use rbuild_oci::{Digest, DigestingWriter};
use serde::de::DeserializeOwned;

use crate::error::ArchiveError;

/// The largest JSON document (index, manifest, config, manifest.json) read into memory.
pub(crate) const DOCUMENT_LIMIT: u64 = 16 << 20;

/// Passes bytes through unchanged and checks them against `expected` at end of input.
/// A mismatch is an `io::Error` wrapping `ArchiveError::DigestMismatch` / `SizeMismatch`.
pub(crate) struct VerifyingReader<R> {
    inner: R,
    hasher: Option<DigestingWriter<io::Sink>>,
    /// False for content whose source already checked it against `expected`: only the
    /// size is checked then.
    hashing: bool,
    expected: Digest,
    expected_size: Option<u64>,
    seen: u64,
    location: String,
}

impl<R: Read> VerifyingReader<R> {
    pub(crate) fn new(
        inner: R,
        expected: Digest,
        expected_size: Option<u64>,
        location: String,
    ) -> Self {
        VerifyingReader {
            inner,
            hasher: Some(DigestingWriter::new(io::sink())),
            hashing: true,
            expected,
            expected_size,
            seen: 0,
            location,
        }
    }

    /// A reader of content its source has already checked against `expected` (a
    /// content-addressed store verifies each blob when it enters): sizes are checked, bytes
    /// are not hashed again.
    pub(crate) fn already_verified(mut self) -> Self {
        self.hashing = false;
        self
    }

    fn size_mismatch(&self) -> io::Error {
        ArchiveError::SizeMismatch {
            location: self.location.clone(),
            digest: self.expected.clone(),
            expected: self.expected_size.unwrap_or_default(),
            actual: self.seen,
        }
        .into_io()
    }

    fn verify_end(&mut self) -> io::Result<()> {
        let Some(hasher) = self.hasher.take() else {
            return Ok(());
        };
        if self.expected_size.is_some_and(|size| size != self.seen) {
            return Err(self.size_mismatch());
        }
        if !self.hashing {
            return Ok(());
        }
        let (_, actual, _) = hasher.finish();
        if actual != self.expected {
            return Err(ArchiveError::DigestMismatch {
                location: self.location.clone(),
                expected: self.expected.clone(),
                actual,
            }
            .into_io());
        }
        Ok(())
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(hasher) = self.hasher.as_mut() else {
            return Ok(0);
        };
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.verify_end()?;
            return Ok(0);
        }
        if self.hashing {
            hasher.write_all(&buf[..n])?;
        }
        self.seen += n as u64;
        if self.expected_size.is_some_and(|size| self.seen > size) {
            self.hasher = None;
            return Err(self.size_mismatch());
        }
        Ok(n)
    }
}

/// Reads a whole JSON document of at most `DOCUMENT_LIMIT` bytes.
pub(crate) fn read_document(
    reader: impl Read,
    location: &str,
    document: &'static str,
) -> Result<Vec<u8>, ArchiveError> {
    let mut bytes = Vec::new();
    reader
        .take(DOCUMENT_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ArchiveError::from_read(e, location))?;
    if bytes.len() as u64 > DOCUMENT_LIMIT {
        return Err(ArchiveError::DocumentTooLarge {
            location: location.to_string(),
            document,
            limit: DOCUMENT_LIMIT,
        });
    }
    Ok(bytes)
}

/// Parses a JSON document, naming its location and kind when it is malformed.
pub(crate) fn parse_document<T: DeserializeOwned>(
    bytes: &[u8],
    location: &str,
    document: &'static str,
) -> Result<T, ArchiveError> {
    serde_json::from_slice(bytes).map_err(|source| ArchiveError::BadJson {
        location: location.to_string(),
        document,
        source,
    })
}

/// Reads `reader` to its end, discarding the bytes (so a verifying reader checks them).
pub(crate) fn drain(reader: &mut impl Read) -> io::Result<u64> {
    io::copy(reader, &mut io::sink())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(reader: &mut impl Read) -> Result<Vec<u8>, ArchiveError> {
        let mut out = Vec::new();
        reader
            .read_to_end(&mut out)
            .map_err(|e| ArchiveError::from_read(e, "test"))?;
        Ok(out)
    }

    #[test]
    fn matching_content_passes_through() {
        let content = b"hello blob".to_vec();
        let mut reader = VerifyingReader::new(
            &content[..],
            Digest::of(&content),
            Some(content.len() as u64),
            "x".into(),
        );
        assert_eq!(read_all(&mut reader).unwrap(), content);
    }

    #[test]
    fn altered_content_fails_at_the_end_naming_the_blob() {
        let expected = Digest::of(b"hello blob");
        let mut reader = VerifyingReader::new(
            &b"hello blub"[..],
            expected.clone(),
            Some(10),
            "blobs/x".into(),
        );
        let err = read_all(&mut reader).unwrap_err();
        assert!(matches!(err, ArchiveError::DigestMismatch { .. }), "{err}");
        assert!(err.to_string().contains(&expected.to_string()));
        assert!(err.to_string().contains("blobs/x"));
    }

    #[test]
    fn short_and_long_content_fail_on_size() {
        let content = b"0123456789";
        let digest = Digest::of(content);
        let mut short = VerifyingReader::new(&content[..5], digest.clone(), Some(10), "s".into());
        assert!(matches!(
            read_all(&mut short),
            Err(ArchiveError::SizeMismatch { actual: 5, .. })
        ));
        let mut long = VerifyingReader::new(&content[..], digest, Some(4), "l".into());
        assert!(matches!(
            read_all(&mut long),
            Err(ArchiveError::SizeMismatch { .. })
        ));
    }

    #[test]
    fn already_verified_content_is_checked_on_size_only() {
        let expected = Digest::of(b"hello blob");
        let mut trusted =
            VerifyingReader::new(&b"hello blub"[..], expected.clone(), Some(10), "t".into())
                .already_verified();
        assert_eq!(read_all(&mut trusted).unwrap(), b"hello blub");
        let mut short =
            VerifyingReader::new(&b"hello"[..], expected, Some(10), "t".into()).already_verified();
        assert!(matches!(
            read_all(&mut short),
            Err(ArchiveError::SizeMismatch { actual: 5, .. })
        ));
    }

    #[test]
    fn oversized_documents_are_refused() {
        let big = vec![b' '; (DOCUMENT_LIMIT + 10) as usize];
        let err = read_document(&big[..], "index.json", "OCI image index").unwrap_err();
        assert!(matches!(err, ArchiveError::DocumentTooLarge { .. }));
    }
}
