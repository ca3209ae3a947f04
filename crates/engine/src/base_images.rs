//! The frontend's view of base images: names and digests resolved against the local store
//! for the platform a stage is built for. An image the store lacks is pulled from its
//! registry; with `--pull` every base is pulled first. An image in the store is used
//! without contacting any registry otherwise, so offline builds work.

use std::collections::HashSet;
use std::sync::Mutex;

use rbuild_cache::Store;
use rbuild_frontend::{ImageResolver, ResolveError, ResolvedImage};
use rbuild_oci::{cause_chain, descriptor_digest, DigestError, ImageReference, Platform};
use rbuild_solver::{resolve_local_image, StepFailure};

use crate::error::EngineError;
use crate::registry_transfer;

/// Resolves `FROM` names in the local image store, pulling what is missing.
pub(crate) struct StoreImages<'a> {
    store: &'a Store,
    /// Pull every base even when stored (`--pull`).
    always_pull: bool,
    /// What this lowering pulled already: a name used by several stages is pulled once.
    pulled: Mutex<HashSet<(ImageReference, String)>>,
}

/// Why a base image could not be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BaseImageError {
    /// The store has no such image (or no such platform of it).
    #[error(transparent)]
    NotStored(#[from] StepFailure),
    #[error("the stored image has an invalid manifest digest")]
    Digest(#[from] DigestError),
    #[error("pulling {reference}")]
    Pull {
        reference: String,
        #[source]
        source: Box<EngineError>,
    },
    /// Neither in the store nor pullable: both reasons.
    #[error("{}; {}", cause_chain(.stored.as_ref()), cause_chain(.pull.as_ref()))]
    Unavailable {
        stored: Box<BaseImageError>,
        pull: Box<BaseImageError>,
    },
}

impl<'a> StoreImages<'a> {
    pub fn new(store: &'a Store, always_pull: bool) -> StoreImages<'a> {
        StoreImages {
            store,
            always_pull,
            pulled: Mutex::new(HashSet::new()),
        }
    }

    fn pull(&self, reference: &ImageReference, platform: &Platform) -> Result<(), BaseImageError> {
        let key = (reference.clone(), platform.to_string());
        let mut pulled = self
            .pulled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pulled.contains(&key) {
            return Ok(());
        }
        registry_transfer::pull(self.store, reference, platform).map_err(|e| {
            BaseImageError::Pull {
                reference: reference.familiar(),
                source: Box::new(e),
            }
        })?;
        pulled.insert(key);
        Ok(())
    }

    fn local(
        &self,
        reference: &ImageReference,
        platform: &Platform,
    ) -> Result<ResolvedImage, BaseImageError> {
        let image = resolve_local_image(self.store, reference, platform)?;
        let manifest = descriptor_digest(&image.manifest)?;
        Ok(ResolvedImage {
            manifest,
            config: image.config,
        })
    }

    fn find(
        &self,
        reference: &ImageReference,
        platform: &Platform,
    ) -> Result<ResolvedImage, BaseImageError> {
        if self.always_pull {
            self.pull(reference, platform)?;
            return self.local(reference, platform);
        }
        match self.local(reference, platform) {
            Ok(image) => Ok(image),
            Err(stored) => match self.pull(reference, platform) {
                Ok(()) => self.local(reference, platform),
                Err(pull) => Err(BaseImageError::Unavailable {
                    stored: Box::new(stored),
                    pull: Box::new(pull),
                }),
            },
        }
    }
}

impl ImageResolver for StoreImages<'_> {
    fn resolve(
        &self,
        reference: &ImageReference,
        platform: &Platform,
    ) -> Result<ResolvedImage, ResolveError> {
        Ok(self.find(reference, platform)?)
    }
}
