//! The build's results leaving the solver: one assembled image per platform, committed to
//! the store under the requested names (an index when there are several platforms) and
//! written to every output.
//!
//! How images are laid out in the store and in archives is the solver's and the archive
//! crate's; this module decides only what goes where.

use rbuild_cache::Store;
use rbuild_exec::CancelToken;
use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::ImageReference;
use rbuild_solver::{commit_index_to_store, commit_to_store, export_images, BuiltImage, Export};

use crate::error::EngineError;
use crate::events::{BuildEvents, Notice};

/// Refuses, before anything runs, outputs that cannot hold `platforms` platforms.
pub(crate) fn check_outputs(exports: &[Export], platforms: usize) -> Result<(), EngineError> {
    if platforms > 1 && exports.iter().any(|e| matches!(e, Export::Docker { .. })) {
        return Err(EngineError::Unsupported(format!(
            "type=docker cannot hold {platforms} platforms (a docker archive has no image \
             index); use type=oci, or build one platform"
        )));
    }
    Ok(())
}

/// Stores the images (one per platform) and points `names` at them: the manifest for one
/// platform, an index for several. Returns what the names point at.
pub(crate) fn commit(
    store: &Store,
    images: &[BuiltImage],
    names: &[ImageReference],
) -> Result<Descriptor, EngineError> {
    let target = match images {
        [image] => commit_to_store(store, image, names)?,
        _ => commit_index_to_store(store, images, names)?,
    };
    Ok(target)
}

/// Writes every output, then reports the names. Returns what the first OCI layout's
/// `index.json` points at, if one was written. Cancelling `cancel` stops the output being
/// written (nothing is left of it) and the ones after it.
pub(crate) fn export_all(
    store: &Store,
    images: &[BuiltImage],
    names: &[ImageReference],
    exports: &[Export],
    events: &dyn BuildEvents,
    cancel: &CancelToken,
) -> Result<Option<Descriptor>, EngineError> {
    let mut exported = None;
    for export in exports {
        events.notice(Notice::Exporting {
            dest: export_dest(export),
        });
        let target = export_images(store, images, names, export, cancel)?;
        exported = exported.or(target);
        events.notice(Notice::Exported {
            dest: export_dest(export),
        });
    }
    for name in names {
        events.notice(Notice::Named(name));
    }
    Ok(exported)
}

fn export_dest(export: &Export) -> &std::path::Path {
    match export {
        Export::Oci { dest } | Export::Docker { dest } | Export::Local { dest } => dest,
    }
}
