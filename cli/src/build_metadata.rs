//! What `--iidfile` and `--metadata-file` write after a successful build, for scripts:
//! the image id, and buildx's metadata keys (`containerimage.digest`,
//! `containerimage.config.digest`, `image.name`). The digest is the one the image has
//! outside the store (see `image_digest`), never the store's own manifest.
//!
//! Each file is written whole or not at all (staged beside it and renamed).

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use rbuild_engine::{BuildRequest, BuildResult};
use rbuild_oci::descriptor_digest;
use serde_json::json;

use crate::args::BuildArgs;

pub fn write_files(args: &BuildArgs, request: &BuildRequest, result: &BuildResult) -> Result<()> {
    let image_id = image_id(result)?;
    if let Some(path) = &args.iidfile {
        write_atomically(path, image_id.as_bytes())?;
    }
    if let Some(path) = &args.metadata_file {
        let names: Vec<String> = request.tags.iter().map(ToString::to_string).collect();
        let metadata = json!({
            "containerimage.digest": image_digest(result)?,
            "containerimage.config.digest": image_id,
            "image.name": names.join(","),
            "buildx.build.ref": result.build_id,
        });
        write_atomically(path, serde_json::to_string_pretty(&metadata)?.as_bytes())?;
    }
    Ok(())
}

/// The image id: the config digest, or for several platforms the index's digest (the one
/// an OCI export or push carries when there was one).
fn image_id(result: &BuildResult) -> Result<String> {
    match result.images.as_slice() {
        [only] => Ok(only.image_id.to_string()),
        _ => image_digest(result),
    }
}

/// The digest the image has outside the store: the exported or pushed manifest (index);
/// for a build that left none, what docker names a local build by, the image id.
pub fn image_digest(result: &BuildResult) -> Result<String> {
    if let Some(digest) = &result.distribution {
        return Ok(digest.to_string());
    }
    match result.images.as_slice() {
        [only] => Ok(only.image_id.to_string()),
        _ => Ok(descriptor_digest(&result.stored)?.to_string()),
    }
}

/// The `result` event of rawjson progress.
pub fn result_fields(result: &BuildResult) -> Result<serde_json::Value> {
    let platforms: Vec<String> = result
        .images
        .iter()
        .map(|i| i.platform.to_string())
        .collect();
    Ok(json!({
        "image_id": result.images.first().map(|i| i.image_id.to_string()),
        "digest": image_digest(result)?,
        "platforms": platforms,
        "executed": result.executed,
        "cache_saved_ms": u64::try_from(result.cache_saved.as_millis()).unwrap_or(u64::MAX),
    }))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staged = path.with_file_name(format!(".{name}.tmp"));
    fs::write(&staged, bytes)
        .and_then(|()| fs::rename(&staged, path))
        .with_context(|| format!("cannot write {}", path.display()))
        .inspect_err(|_| {
            let _ = fs::remove_file(&staged);
        })
}
