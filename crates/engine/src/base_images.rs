//! The frontend's view of base images: names and digests resolved against the local store
//! for the platform a stage is built for. An image the store lacks is pulled from its
//! registry; with `--pull` every base is pulled first. An image in the store is used
//! without contacting any registry otherwise, so offline builds work.

use std::collections::HashSet;
use std::sync::Mutex;

use rbuild_cache::Store;
use rbuild_frontend::{ImageResolver, ResolvedImage};
use rbuild_oci::{descriptor_digest, ImageReference, Platform};
use rbuild_solver::resolve_local_image;

use crate::registry_transfer;

/// Resolves `FROM` names in the local image store, pulling what is missing.
pub(crate) struct StoreImages<'a> {
    store: &'a Store,
    /// Pull every base even when stored (`--pull`).
    always_pull: bool,
    /// What this lowering pulled already: a name used by several stages is pulled once.
    pulled: Mutex<HashSet<(ImageReference, String)>>,
}

impl<'a> StoreImages<'a> {
    pub fn new(store: &'a Store, always_pull: bool) -> StoreImages<'a> {
        StoreImages {
            store,
            always_pull,
            pulled: Mutex::new(HashSet::new()),
        }
    }

    fn pull(&self, reference: &ImageReference, platform: &Platform) -> Result<(), String> {
        let key = (reference.clone(), platform.to_string());
        let mut pulled = self
            .pulled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pulled.contains(&key) {
            return Ok(());
        }
        registry_transfer::pull(self.store, reference, platform)
            .map_err(|e| format!("pulling {}: {e}", reference.familiar()))?;
        pulled.insert(key);
        Ok(())
    }

    fn local(
        &self,
        reference: &ImageReference,
        platform: &Platform,
    ) -> Result<ResolvedImage, String> {
        let image =
            resolve_local_image(self.store, reference, platform).map_err(|e| e.to_string())?;
        let manifest = descriptor_digest(&image.manifest).map_err(|e| e.to_string())?;
        Ok(ResolvedImage {
            manifest,
            config: image.config,
        })
    }
}

impl ImageResolver for StoreImages<'_> {
    fn resolve(
        &self,
        reference: &ImageReference,
        platform: &Platform,
    ) -> Result<ResolvedImage, String> {
        if self.always_pull {
            self.pull(reference, platform)?;
            return self.local(reference, platform);
        }
        match self.local(reference, platform) {
            Ok(image) => Ok(image),
            Err(missing) => match self.pull(reference, platform) {
                Ok(()) => self.local(reference, platform),
                Err(pull) => Err(format!("{missing}; {pull}")),
            },
        }
    }
}
