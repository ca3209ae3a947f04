//! Layer compression: recognizing it from a blob's first bytes or from a media type, and
//! decoding it while streaming.
//!
//! It does not compress; layers leave rbuild compressed by the store, or uncompressed in a
//! docker archive.

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;
use rbuild_oci::media_types;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Bytes needed by `sniff`.
    pub(crate) const MAGIC_LEN: usize = 4;

    /// The compression whose magic number starts `head` (plain tar otherwise).
    pub(crate) fn sniff(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }

    /// The compression a layer media type announces, `None` for a non-layer media type.
    pub(crate) fn of_media_type(media_type: &str) -> Option<Compression> {
        match media_types::layer_compression(media_type)? {
            "gzip" => Some(Compression::Gzip),
            "zstd" => Some(Compression::Zstd),
            _ => Some(Compression::None),
        }
    }

    /// The OCI layer media type for a layer with this compression.
    pub(crate) fn oci_layer_media_type(self) -> &'static str {
        match self {
            Compression::None => media_types::OCI_LAYER_TAR,
            Compression::Gzip => media_types::OCI_LAYER_GZIP,
            Compression::Zstd => media_types::OCI_LAYER_ZSTD,
        }
    }

    /// A reader yielding the decompressed content of `reader`.
    pub(crate) fn decoder<'a>(self, reader: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::None => Box::new(reader),
            Compression::Gzip => Box::new(MultiGzDecoder::new(reader)),
            Compression::Zstd => Box::new(zstd::Decoder::new(reader)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn magic_numbers_and_media_types_agree() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"tar bytes").unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&b"tar bytes"[..], 1).unwrap();
        for (bytes, expected) in [(&gz, Compression::Gzip), (&zst, Compression::Zstd)] {
            let kind = Compression::sniff(&bytes[..Compression::MAGIC_LEN]);
            assert_eq!(kind, expected);
            assert_eq!(
                Compression::of_media_type(kind.oci_layer_media_type()),
                Some(kind)
            );
            let mut out = Vec::new();
            kind.decoder(&bytes[..])
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, b"tar bytes");
        }
        assert_eq!(Compression::sniff(b"ustar"), Compression::None);
        assert_eq!(
            Compression::of_media_type(media_types::DOCKER_LAYER_TAR),
            Some(Compression::None)
        );
        assert_eq!(Compression::of_media_type(media_types::OCI_CONFIG), None);
    }
}
