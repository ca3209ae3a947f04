//! `rbuild load`: import an image from an OCI layout (directory or tar) or a docker-archive
//! tar into the store, so `FROM` finds it without a registry.
//!
//! Blobs are verified and stored first, layer records next, the name last: an interrupted
//! load never leaves a name pointing at missing content.

use std::path::Path;

use anyhow::{Context, Result};
use rbuild_cache::Store;
use rbuild_oci::{descriptor_digest, ImageReference, Platform};

use crate::args::LoadArgs;

pub fn run(store: &Store, args: &LoadArgs) -> Result<()> {
    // The blobs stored before the name exists stay safe from a concurrent prune.
    let _lease = store
        .lease()
        .context("cannot register the load with the store")?;
    let archive = rbuild_archive::open(&args.path)
        .with_context(|| format!("cannot load {}", args.path.display()))?;
    let platform = match &args.platform {
        Some(spec) => spec.parse::<Platform>()?,
        None => Platform::host(),
    };
    let image = archive
        .select(None, &platform)
        .with_context(|| format!("cannot load {}", args.path.display()))?;
    for layer in &image.layers {
        let digest = descriptor_digest(&layer.blob)?;
        if !store.blobs().contains(&digest) {
            let mut blob = archive.open_blob(&digest)?;
            store
                .blobs()
                .ingest(&mut blob, Some(&digest))
                .with_context(|| format!("cannot store layer {digest}"))?;
        }
        store.layers().add_blob_layer(&layer.diff_id, &layer.blob)?;
    }
    store_exact(
        store,
        &image.config_bytes,
        &descriptor_digest(&image.config)?,
    )?;
    store_exact(
        store,
        &image.manifest_bytes,
        &descriptor_digest(&image.manifest)?,
    )?;
    let names = image_names(args, &image.names)?;
    for name in &names {
        store.images().tag(name, &image.manifest)?;
        println!("Loaded image: {} ({})", name.familiar(), image.platform);
    }
    Ok(())
}

fn store_exact(store: &Store, bytes: &[u8], expected: &rbuild_oci::Digest) -> Result<()> {
    let mut reader = bytes;
    store
        .blobs()
        .ingest(&mut reader, Some(expected))
        .with_context(|| format!("cannot store {expected}"))?;
    Ok(())
}

/// `-t` wins; otherwise the archive's names. A bare OCI `ref.name` such as `latest` is a
/// tag: the repository is then the archive's file name (`busybox` for `images/busybox`).
fn image_names(args: &LoadArgs, archived: &[String]) -> Result<Vec<ImageReference>> {
    if let Some(tag) = &args.tag {
        return Ok(vec![
            ImageReference::parse(tag).with_context(|| format!("invalid tag {tag:?}"))?
        ]);
    }
    let repository = repository_from_path(&args.path);
    let mut names = Vec::new();
    for name in archived {
        let full = if name.contains([':', '/', '@']) {
            name.clone()
        } else {
            format!("{repository}:{name}")
        };
        let reference =
            ImageReference::parse(&full).with_context(|| format!("invalid image name {full:?}"))?;
        if !names.contains(&reference) {
            names.push(reference);
        }
    }
    if names.is_empty() {
        names.push(ImageReference::parse(&repository).with_context(|| {
            format!(
                "the archive names no image; give one with -t (derived {repository:?} is invalid)"
            )
        })?);
    }
    Ok(names)
}

fn repository_from_path(path: &Path) -> String {
    let name = path
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "image".to_string());
    let stem = name
        .strip_suffix(".tar")
        .or_else(|| name.strip_suffix(".tar.gz"))
        .unwrap_or(&name);
    stem.to_ascii_lowercase()
}
