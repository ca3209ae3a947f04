//! Layer compression: `Compression` (none, gzip, zstd), its media types, a deterministic
//! compressing writer, and a reader that detects the compression of a layer blob by its
//! magic bytes.
//!
//! Gzip is compressed on several threads (`parallel_gzip`); zstd on one.

use std::io::{self, BufRead, BufReader, Read, Write};

use flate2::read::MultiGzDecoder;
use rbuild_oci::media_types;

use super::parallel_gzip::ParallelGzEncoder;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const ZSTD_LEVEL: i32 = 3;
const READ_BUFFER: usize = 256 * 1024;

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The OCI layer media type for this compression.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => media_types::OCI_LAYER_TAR,
            Compression::Gzip => media_types::OCI_LAYER_GZIP,
            Compression::Zstd => media_types::OCI_LAYER_ZSTD,
        }
    }

    /// The compression an OCI or Docker layer media type announces.
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        match media_types::layer_compression(media_type)? {
            "gzip" => Some(Compression::Gzip),
            "zstd" => Some(Compression::Zstd),
            _ => Some(Compression::None),
        }
    }

    /// The name stored in the metadata database.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// A writer that compresses into `inner`; the same input always gives the same bytes.
    pub(crate) fn encoder<W: Write>(self, inner: W) -> io::Result<LayerEncoder<W>> {
        Ok(match self {
            Compression::None => LayerEncoder::Plain(inner),
            Compression::Gzip => LayerEncoder::Gzip(ParallelGzEncoder::new(
                inner,
                flate2::Compression::default(),
            )),
            Compression::Zstd => LayerEncoder::Zstd(zstd::Encoder::new(inner, ZSTD_LEVEL)?),
        })
    }
}

pub(crate) enum LayerEncoder<W: Write> {
    Plain(W),
    Gzip(ParallelGzEncoder<W>),
    Zstd(zstd::Encoder<'static, W>),
}

impl<W: Write> LayerEncoder<W> {
    /// Writes the compression trailer and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            LayerEncoder::Plain(w) => Ok(w),
            LayerEncoder::Gzip(e) => e.finish(),
            LayerEncoder::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for LayerEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            LayerEncoder::Plain(w) => w.write(buf),
            LayerEncoder::Gzip(e) => e.write(buf),
            LayerEncoder::Zstd(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            LayerEncoder::Plain(w) => w.flush(),
            LayerEncoder::Gzip(e) => e.flush(),
            LayerEncoder::Zstd(e) => e.flush(),
        }
    }
}

/// The uncompressed tar stream of a layer blob in any supported compression, detected by
/// magic bytes (gzip streams of several members are read to the end).
pub(crate) fn decompressed<'a, R: Read + 'a>(blob: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut buffered = BufReader::with_capacity(READ_BUFFER, blob);
    let head = buffered.fill_buf()?;
    Ok(if head.starts_with(GZIP_MAGIC) {
        Box::new(MultiGzDecoder::new(buffered))
    } else if head.starts_with(ZSTD_MAGIC) {
        Box::new(zstd::Decoder::with_buffer(buffered)?)
    } else {
        Box::new(buffered)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(compression: Compression, input: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut encoder = compression.encoder(Vec::new()).unwrap();
        encoder.write_all(input).unwrap();
        let compressed = encoder.finish().unwrap();
        let mut output = Vec::new();
        decompressed(compressed.as_slice())
            .unwrap()
            .read_to_end(&mut output)
            .unwrap();
        (compressed, output)
    }

    #[test]
    fn every_compression_round_trips_and_is_detected() {
        let input: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let (compressed, output) = round_trip(compression, &input);
            assert_eq!(output, input, "{compression:?}");
            if compression != Compression::None {
                assert!(compressed.len() < input.len());
            }
        }
    }

    #[test]
    fn compression_is_deterministic() {
        let input = b"same bytes, same blob".repeat(1000);
        for compression in [Compression::Gzip, Compression::Zstd] {
            assert_eq!(
                round_trip(compression, &input).0,
                round_trip(compression, &input).0
            );
        }
    }

    #[test]
    fn media_types_map_both_ways() {
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            assert_eq!(
                Compression::from_media_type(compression.media_type()),
                Some(compression)
            );
        }
        assert_eq!(
            Compression::from_media_type(media_types::DOCKER_LAYER_GZIP),
            Some(Compression::Gzip)
        );
        assert_eq!(Compression::from_media_type("text/plain"), None);
    }
}
