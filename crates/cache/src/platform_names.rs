//! Names of multi-platform images: pointing a name at one platform's manifest while keeping
//! the platforms the name already serves, so loading `linux/arm64` after `linux/amd64`
//! leaves one name over an index of both instead of replacing one with the other.
//!
//! Which platform a manifest serves comes from the caller (or, for what a name pointed at
//! before, from the stored index or the manifest's config).

use rbuild_oci::oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use rbuild_oci::{
    index_platforms, media_types, platform_index, ImageConfig, ImageReference, Platform,
};

use crate::descriptor::descriptor_digest;
use crate::error::StoreError;
use crate::store::Store;

impl Store {
    /// Points `name` at `manifest` (whose blob is stored) for `platform`, keeping the other
    /// platforms `name` serves: a plain manifest when it is the only one, else an index
    /// with one entry per platform. Returns what `name` now points at.
    pub fn tag_platform(
        &self,
        name: &ImageReference,
        manifest: &Descriptor,
        platform: &Platform,
    ) -> Result<Descriptor, StoreError> {
        let mut entries: Vec<(Descriptor, Platform)> = match self.images().get(name)? {
            Some(existing) => self.platforms_of(&existing)?,
            None => Vec::new(),
        };
        entries.retain(|(_, p)| !(p.satisfies(platform) && platform.satisfies(p)));
        entries.push((manifest.clone(), platform.clone()));
        let target = match entries.as_slice() {
            [(only, _)] => only.clone(),
            _ => {
                let (index, bytes) = platform_index(&entries)
                    .map_err(|e| StoreError::corrupt(format!("index of {name}"), e))?;
                self.blobs().put(&bytes)?;
                index
            }
        };
        self.images().tag(name, &target)?;
        Ok(target)
    }

    /// The (manifest, platform) pairs a stored manifest or index serves.
    pub fn platforms_of(
        &self,
        target: &Descriptor,
    ) -> Result<Vec<(Descriptor, Platform)>, StoreError> {
        if media_types::is_index(target.media_type().as_ref()) {
            let index: ImageIndex = self.read_document(target)?;
            return Ok(index_platforms(&index));
        }
        let manifest: ImageManifest = self.read_document(target)?;
        let config: ImageConfig = self.read_document(manifest.config())?;
        Ok(vec![(target.clone(), config.platform())])
    }

    fn read_document<T: serde::de::DeserializeOwned>(
        &self,
        descriptor: &Descriptor,
    ) -> Result<T, StoreError> {
        let digest = descriptor_digest(descriptor)?;
        let bytes = self.blobs().read(&digest)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::corrupt(format!("document {digest}"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor::descriptor;

    fn stored_manifest(store: &Store, arch: &str) -> (Descriptor, Platform) {
        let platform = Platform::new("linux", arch, None);
        let config = ImageConfig::scratch(&platform).to_canonical_json();
        let config_digest = store.blobs().put(&config).unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":{}}},"layers":[]}}"#,
            media_types::OCI_MANIFEST,
            media_types::OCI_CONFIG,
            config_digest,
            config.len()
        );
        let digest = store.blobs().put(manifest.as_bytes()).unwrap();
        let descriptor =
            descriptor(media_types::OCI_MANIFEST, manifest.len() as u64, &digest).unwrap();
        (descriptor, platform)
    }

    #[test]
    fn a_second_platform_turns_the_name_into_an_index_and_a_repeat_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let name = ImageReference::parse("busybox").unwrap();
        let (amd, amd_platform) = stored_manifest(&store, "amd64");
        let (arm, arm_platform) = stored_manifest(&store, "arm64");
        assert_eq!(store.tag_platform(&name, &amd, &amd_platform).unwrap(), amd);
        let index = store.tag_platform(&name, &arm, &arm_platform).unwrap();
        assert!(media_types::is_index(index.media_type().as_ref()));
        let served = store.platforms_of(&index).unwrap();
        assert_eq!(
            served,
            [
                (amd.clone(), amd_platform.clone()),
                (arm.clone(), arm_platform.clone())
            ]
        );
        let again = store.tag_platform(&name, &arm, &arm_platform).unwrap();
        assert_eq!(store.platforms_of(&again).unwrap().len(), 2);
    }
}
