//! Conversions between rbuild's `Digest` and the `oci_spec` descriptor types the store's
//! public API speaks.
//!
//! Only sha256 content is storable; other algorithms are reported, never guessed.

use rbuild_oci::oci_spec::image::{Descriptor, MediaType};
use rbuild_oci::Digest;

use crate::error::StoreError;

/// A descriptor for `size` bytes of `media_type` content with `digest`.
pub(crate) fn descriptor(
    media_type: &str,
    size: u64,
    digest: &Digest,
) -> Result<Descriptor, StoreError> {
    let oci_digest: rbuild_oci::oci_spec::image::Digest = digest
        .to_string()
        .parse()
        .map_err(|e| StoreError::corrupt(format!("digest {digest}"), e))?;
    Ok(Descriptor::new(
        MediaType::from(media_type),
        size,
        oci_digest,
    ))
}

/// The sha256 digest a descriptor names.
pub(crate) fn descriptor_digest(descriptor: &Descriptor) -> Result<Digest, StoreError> {
    let text = descriptor.digest().to_string();
    text.parse()
        .map_err(|e| StoreError::corrupt(format!("descriptor digest {text:?}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_survive_the_round_trip() {
        let digest = Digest::of(b"layer");
        let d = descriptor(rbuild_oci::media_types::OCI_LAYER_GZIP, 5, &digest).unwrap();
        assert_eq!(descriptor_digest(&d).unwrap(), digest);
        assert_eq!(d.size(), 5);
        assert_eq!(
            d.media_type().to_string(),
            rbuild_oci::media_types::OCI_LAYER_GZIP
        );
    }
}
