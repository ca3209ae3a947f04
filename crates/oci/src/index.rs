//! Multi-platform image indexes: building the index document over one manifest per
//! platform (platform fields as the official images and BuildKit write them), and reading
//! back which manifest serves which platform.
//!
//! It only builds and reads documents; storing them is the caller's.

use oci_spec::image::{
    Descriptor, ImageIndex, ImageIndexBuilder, MediaType, Platform as OciPlatform, PlatformBuilder,
};

use crate::descriptor::descriptor;
use crate::digest::Digest;
use crate::media_types;
use crate::platform::Platform;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("cannot build the image index: {0}")]
    Build(String),
}

/// An OCI image index over `entries` (manifest, platform), in order; its descriptor and
/// canonical bytes.
pub fn platform_index(
    entries: &[(Descriptor, Platform)],
) -> Result<(Descriptor, Vec<u8>), IndexError> {
    let mut manifests = Vec::with_capacity(entries.len());
    for (manifest, platform) in entries {
        let mut entry = manifest.clone();
        entry.set_platform(Some(oci_platform(platform)?));
        manifests.push(entry);
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .map_err(|e| IndexError::Build(e.to_string()))?;
    let bytes = serde_json::to_vec(&index).map_err(|e| IndexError::Build(e.to_string()))?;
    let digest = Digest::of(&bytes);
    Ok((
        descriptor(media_types::OCI_INDEX, &digest, bytes.len() as u64),
        bytes,
    ))
}

/// The (manifest, platform) entries of an index that name their platform.
pub fn index_platforms(index: &ImageIndex) -> Vec<(Descriptor, Platform)> {
    index
        .manifests()
        .iter()
        .filter_map(|d| {
            let p = d.platform().as_ref()?;
            let platform = Platform::new(
                &p.os().to_string(),
                &p.architecture().to_string(),
                p.variant().as_deref(),
            );
            let mut manifest = d.clone();
            manifest.set_platform(None);
            Some((manifest, platform))
        })
        .collect()
}

fn oci_platform(platform: &Platform) -> Result<OciPlatform, IndexError> {
    let mut builder = PlatformBuilder::default()
        .os(platform.os.as_str())
        .architecture(platform.architecture.as_str());
    if let Some(variant) = platform.image_variant() {
        builder = builder.variant(variant);
    }
    builder
        .build()
        .map_err(|e| IndexError::Build(format!("platform {platform}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_round_trips_its_platforms_with_arm64_as_v8() {
        let amd = descriptor(media_types::OCI_MANIFEST, &Digest::of(b"a"), 1);
        let arm = descriptor(media_types::OCI_MANIFEST, &Digest::of(b"b"), 2);
        let entries = vec![
            (amd, Platform::new("linux", "amd64", None)),
            (arm, Platform::new("linux", "arm64", None)),
        ];
        let (descriptor, bytes) = platform_index(&entries).unwrap();
        assert_eq!(descriptor.size(), bytes.len() as u64);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains(r#""variant":"v8""#), "{text}");
        let index: ImageIndex = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(index_platforms(&index), entries);
    }
}
