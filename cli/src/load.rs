//! `rbuild load`: import an image from an OCI layout (directory or tar) or a docker-archive
//! tar into the store, so `FROM` finds it without a registry.
//!
//! Every platform of a multi-platform image is loaded (or those `--platform` names), and a
//! name keeps the platforms it already had. Blobs are verified and stored first, layer
//! records next, the name last: an interrupted load never leaves a name pointing at
//! missing content.

use std::path::Path;

use anyhow::{Context, Result};
use rbuild_archive::{ImageArchive, SelectedImage};
use rbuild_cache::Store;
use rbuild_oci::{descriptor_digest, ImageReference, Platform};

use crate::args::LoadArgs;
use crate::load_input::LoadInput;

pub fn run(store: &Store, args: &LoadArgs) -> Result<()> {
    // The blobs stored before the name exists stay safe from a concurrent prune.
    let _lease = store
        .lease()
        .context("cannot register the load with the store")?;
    let input = LoadInput::open(store, args)?;
    let archive = rbuild_archive::open(input.path())
        .with_context(|| format!("cannot load {}", input.label))?;
    let mut loaded = Vec::new();
    for platform in platforms_to_load(&archive, args)? {
        let image = archive
            .select(None, &platform)
            .with_context(|| format!("cannot load {}", input.label))?;
        store_image(store, &archive, &image, &input.label)?;
        loaded.push(image);
    }
    // Every platform of an index loaded: the names point at that very index, so a
    // `FROM name@<index digest>` pin finds it.
    let whole_index = match args.platform {
        None => archive.platform_index(None)?,
        Some(_) => None,
    };
    if let Some((index, bytes)) = &whole_index {
        store_exact(store, bytes, &descriptor_digest(index)?)?;
    }
    for image in &loaded {
        for name in &image_names(args, &input.repository, &image.names)? {
            match &whole_index {
                Some((index, _)) => store.images().tag(name, index)?,
                None => {
                    store.tag_platform(name, &image.manifest, &image.platform)?;
                }
            }
            println!("Loaded image: {} ({})", name.familiar(), image.platform);
        }
    }
    Ok(())
}

/// `--platform` when given; else every platform the archive's (first) image offers.
fn platforms_to_load(archive: &ImageArchive, args: &LoadArgs) -> Result<Vec<Platform>> {
    if let Some(spec) = &args.platform {
        return Ok(Platform::parse_list(spec)?);
    }
    let images = archive
        .images()
        .with_context(|| format!("cannot load {}", archive.path().display()))?;
    let platforms = images
        .into_iter()
        .next()
        .map(|image| image.platforms)
        .unwrap_or_default();
    Ok(if platforms.is_empty() {
        vec![Platform::host()]
    } else {
        platforms
    })
}

/// Layers (verified: blob digest, diff id and every tar entry), config and manifest of one
/// platform's image.
fn store_image(
    store: &Store,
    archive: &ImageArchive,
    image: &SelectedImage,
    label: &str,
) -> Result<()> {
    for (number, layer) in image.layers.iter().enumerate() {
        let digest = descriptor_digest(&layer.blob)?;
        let refuse = || {
            format!(
                "cannot load {label}: layer {} ({digest}, diff id {}) of the {} image",
                number + 1,
                layer.diff_id,
                image.platform
            )
        };
        if !store.blobs().contains(&digest) {
            let mut blob = archive.open_blob(&digest).with_context(refuse)?;
            store
                .blobs()
                .ingest(&mut blob, Some(&digest))
                .with_context(refuse)?;
        }
        store
            .layers()
            .add_verified_blob_layer(&layer.diff_id, &layer.blob)
            .with_context(refuse)?;
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
    )
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
fn image_names(
    args: &LoadArgs,
    repository: &str,
    archived: &[String],
) -> Result<Vec<ImageReference>> {
    if let Some(tag) = &args.tag {
        return Ok(vec![
            ImageReference::parse(tag).with_context(|| format!("invalid tag {tag:?}"))?
        ]);
    }
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
        names.push(ImageReference::parse(repository).with_context(|| {
            format!(
                "the archive names no image; give one with -t (derived {repository:?} is invalid)"
            )
        })?);
    }
    Ok(names)
}

pub(crate) fn repository_from_path(path: &Path) -> String {
    let name = path
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "image".to_string());
    let stem = [".tar", ".tar.gz", ".tgz", ".tar.zst"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(&name);
    stem.to_ascii_lowercase()
}
