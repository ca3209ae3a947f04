//! Finding the image a user names on the command line: a name (`app`, `app:1.0`,
//! `registry/app@sha256:…`), or an image id or a prefix of one (the config digest docker
//! prints, or the manifest/index digest a name points at), as `docker inspect` accepts.
//!
//! It resolves against the local store only; nothing here contacts a registry.

use anyhow::{anyhow, bail, Context, Result};
use rbuild_cache::{ImageEntry, Store};
use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::{descriptor_digest, Digest, ImageConfig, ImageReference, Platform};
use rbuild_solver::manifest_config;

/// A stored image the user named: what its name points at (a manifest or an index) and
/// the names pointing at the same thing.
pub struct NamedImage {
    pub target: Descriptor,
    pub names: Vec<ImageReference>,
}

/// One platform's image of a `NamedImage`.
pub struct PlatformImage {
    pub manifest: Descriptor,
    pub platform: Platform,
    pub config_digest: Digest,
    pub config: ImageConfig,
}

/// Finds `text` in the store: first as a name, then as an image id (prefix).
pub fn find(store: &Store, text: &str) -> Result<NamedImage> {
    let entries = store.images().list()?;
    if let Ok(reference) = ImageReference::parse(text) {
        if let Some(target) = store.images().get(&reference)? {
            return Ok(with_names(&entries, target));
        }
        if let Some(digest) = reference.digest() {
            if let Some(entry) = entries.iter().find(|e| digest_matches(e, digest)) {
                return Ok(with_names(&entries, entry.target.clone()));
            }
        }
    }
    let id = text.strip_prefix("sha256:").unwrap_or(text);
    if id.len() >= 4 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        if let Some(target) = find_by_id(store, &entries, id)? {
            return Ok(with_names(&entries, target));
        }
    }
    bail!("no such image: {text}")
}

fn digest_matches(entry: &ImageEntry, digest: &Digest) -> bool {
    descriptor_digest(&entry.target).is_ok_and(|d| &d == digest)
}

/// The image whose config digest (image id) or target digest starts with `prefix`.
fn find_by_id(store: &Store, entries: &[ImageEntry], prefix: &str) -> Result<Option<Descriptor>> {
    let mut found: Option<Descriptor> = None;
    for entry in entries {
        let target = descriptor_digest(&entry.target)?;
        let mut ids = vec![target];
        for (manifest, _) in store.platforms_of(&entry.target)? {
            ids.push(manifest_config(store, &manifest)?.0);
        }
        if ids.iter().any(|id| id.hex().starts_with(prefix)) {
            match &found {
                Some(other) if other.digest() != entry.target.digest() => {
                    bail!("image id prefix {prefix} is ambiguous: it matches several images")
                }
                _ => found = Some(entry.target.clone()),
            }
        }
    }
    Ok(found)
}

fn with_names(entries: &[ImageEntry], target: Descriptor) -> NamedImage {
    let names = entries
        .iter()
        .filter(|e| e.target.digest() == target.digest())
        .map(|e| e.name.clone())
        .collect();
    NamedImage { target, names }
}

impl NamedImage {
    /// Every platform's image, in the order the index lists them.
    pub fn platforms(&self, store: &Store) -> Result<Vec<PlatformImage>> {
        let mut images = Vec::new();
        for (manifest, platform) in store.platforms_of(&self.target)? {
            let (config_digest, config) = manifest_config(store, &manifest)
                .with_context(|| format!("cannot read the config of {}", manifest.digest()))?;
            images.push(PlatformImage {
                manifest,
                platform,
                config_digest,
                config,
            });
        }
        Ok(images)
    }

    /// The image for `wanted` (default: this machine's platform, else the only one).
    pub fn platform(&self, store: &Store, wanted: Option<&str>) -> Result<PlatformImage> {
        let mut images = self.platforms(store)?;
        let wanted = match wanted {
            Some(spec) => spec.parse::<Platform>().context("--platform")?,
            None if images.len() == 1 => return Ok(images.remove(0)),
            None => Platform::host(),
        };
        let available: Vec<String> = images.iter().map(|i| i.platform.to_string()).collect();
        images
            .into_iter()
            .find(|i| i.platform.satisfies(&wanted))
            .ok_or_else(|| {
                anyhow!(
                    "the image has no {wanted} variant (it has {}); choose one with --platform",
                    available.join(", ")
                )
            })
    }
}
