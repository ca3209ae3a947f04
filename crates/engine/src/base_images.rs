//! The frontend's view of base images: names and digests resolved against the local store
//! for the platform a stage is built for.
//!
//! Fetching from registries is not done here (yet): an image must be in the store.

use rbuild_cache::Store;
use rbuild_frontend::{ImageResolver, ResolvedImage};
use rbuild_oci::{descriptor_digest, ImageReference, Platform};
use rbuild_solver::resolve_local_image;

/// Resolves `FROM` names in the local image store.
pub(crate) struct StoreImages<'a>(pub &'a Store);

impl ImageResolver for StoreImages<'_> {
    fn resolve(
        &self,
        reference: &ImageReference,
        platform: &Platform,
    ) -> Result<ResolvedImage, String> {
        let image = resolve_local_image(self.0, reference, platform).map_err(|e| e.to_string())?;
        let manifest = descriptor_digest(&image.manifest).map_err(|e| e.to_string())?;
        Ok(ResolvedImage {
            manifest,
            config: image.config,
        })
    }
}
