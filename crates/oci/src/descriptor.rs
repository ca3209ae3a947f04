//! Bridges between rbuild's `Digest` and `oci_spec` descriptors, so callers do not
//! re-parse digest strings by hand.

use oci_spec::image::{Descriptor, MediaType};

use crate::digest::{Digest, DigestError};

impl From<&Digest> for oci_spec::image::Digest {
    fn from(digest: &Digest) -> Self {
        digest
            .to_string()
            .parse()
            .expect("a sha256 digest is always a valid OCI digest")
    }
}

impl TryFrom<&oci_spec::image::Digest> for Digest {
    type Error = DigestError;
    fn try_from(digest: &oci_spec::image::Digest) -> Result<Self, Self::Error> {
        digest.to_string().parse()
    }
}

/// A descriptor of `size` bytes at `digest` with `media_type`.
pub fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor::new(MediaType::from(media_type), size, digest)
}

/// The sha256 digest a descriptor points at.
pub fn descriptor_digest(descriptor: &Descriptor) -> Result<Digest, DigestError> {
    Digest::try_from(descriptor.digest())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_convert_both_ways() {
        let digest = Digest::of(b"layer");
        let d = descriptor(crate::media_types::OCI_LAYER_GZIP, &digest, 5);
        assert_eq!(descriptor_digest(&d).unwrap(), digest);
        assert_eq!(
            d.media_type().to_string(),
            crate::media_types::OCI_LAYER_GZIP
        );
        assert_eq!(d.size(), 5);
    }
}
