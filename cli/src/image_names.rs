//! `rbuild tag` and `rbuild rmi`: adding and removing image names, as `docker tag` and
//! `docker rmi` do. An image whose last name goes is gone from the listing; its blobs and
//! snapshots stay until the cache is pruned (they may still serve the build cache).
//!
//! It does not delete content itself; that is the store's garbage collection.

use anyhow::{bail, Context, Result};
use rbuild_cache::Store;
use rbuild_oci::ImageReference;

use crate::image_lookup;

/// Points `target` at whatever `source` names.
pub fn tag(store: &Store, source: &str, target: &str) -> Result<()> {
    let image = image_lookup::find(store, source)?;
    let name = parse_name(target)?;
    if name.digest().is_some() {
        bail!("invalid reference format: {target:?}: a tag cannot name a digest");
    }
    store.images().tag(&name, &image.target)?;
    Ok(())
}

/// Removes each named image's name; with an image id, every name (only with `force` when
/// it has several).
pub fn rmi(store: &Store, images: &[String], force: bool) -> Result<()> {
    let mut failed = Vec::new();
    for text in images {
        if let Err(error) = remove_one(store, text, force) {
            eprintln!("error: {error:#}");
            failed.push(text.as_str());
        }
    }
    if !failed.is_empty() {
        bail!("could not remove {}", failed.join(", "));
    }
    Ok(())
}

fn remove_one(store: &Store, text: &str, force: bool) -> Result<()> {
    let image = image_lookup::find(store, text)?;
    let by_name = ImageReference::parse(text)
        .ok()
        .filter(|name| image.names.contains(name));
    let names = match by_name {
        Some(name) => vec![name],
        None if image.names.len() > 1 && !force => bail!(
            "conflict: unable to delete {text} (must be forced): the image is referenced by {} names",
            image.names.len()
        ),
        None => image.names.clone(),
    };
    for name in &names {
        store.images().remove(name)?;
        println!("Untagged: {}", name.familiar());
    }
    let still_named = store
        .images()
        .list()?
        .iter()
        .any(|e| e.target.digest() == image.target.digest());
    if !still_named {
        println!("Deleted: {}", image.target.digest());
    }
    Ok(())
}

fn parse_name(text: &str) -> Result<ImageReference> {
    ImageReference::parse(text).with_context(|| format!("invalid target name {text:?}"))
}
