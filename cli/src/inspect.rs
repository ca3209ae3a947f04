//! `rbuild inspect IMAGE…`: an image as `docker image inspect` shows it — a JSON array
//! with `Id`, `RepoTags`, `RepoDigests`, `Created`, `Architecture`, `Os`, `Config`,
//! `RootFS`, `Size` — plus what docker's containerd store adds (`Descriptor`, the
//! `Manifest`) and the `Platforms` the name serves; or `--format` applied to each.
//!
//! It reads the store only. The config is shown as stored, not re-encoded.

use anyhow::{Context, Result};
use rbuild_cache::Store;
use rbuild_oci::descriptor_digest;
use serde_json::{json, Value};

use crate::args::InspectArgs;
use crate::go_template::Template;
use crate::image_lookup::{self, NamedImage, PlatformImage};

pub fn run(store: &Store, args: &InspectArgs) -> Result<()> {
    let template = args.format.as_deref().map(Template::parse).transpose()?;
    let mut documents = Vec::new();
    for text in &args.images {
        let image = image_lookup::find(store, text)?;
        let platform = image.platform(store, args.platform.as_deref())?;
        documents.push(document(store, &image, &platform)?);
    }
    match template {
        Some(template) => {
            for document in &documents {
                println!("{}", template.render(document)?);
            }
        }
        None => println!(
            "{}",
            serde_json::to_string_pretty(&Value::Array(documents))?
        ),
    }
    Ok(())
}

/// The inspect document of one platform's image.
pub fn document(store: &Store, image: &NamedImage, platform: &PlatformImage) -> Result<Value> {
    let config = read_json(store, &platform.config_digest)?;
    let manifest = read_json(store, &descriptor_digest(&platform.manifest)?)?;
    let target = descriptor_digest(&image.target)?;
    let size: u64 = platform
        .config
        .rootfs
        .diff_ids
        .iter()
        .map(|d| store.layers().layer_size(d).unwrap_or(0))
        .sum();
    let field = |name: &str| config.get(name).cloned().unwrap_or(Value::Null);
    let platforms: Vec<String> = image
        .platforms(store)?
        .iter()
        .map(|p| p.platform.to_string())
        .collect();
    Ok(json!({
        "Id": platform.config_digest.to_string(),
        "RepoTags": image.names.iter().filter(|n| n.tag().is_some()).map(|n| n.familiar()).collect::<Vec<_>>(),
        "RepoDigests": image.names.iter().map(|n| format!("{}@{target}", n.familiar_repository())).collect::<Vec<_>>(),
        "Created": field("created"),
        "Author": field("author"),
        "Architecture": field("architecture"),
        "Variant": field("variant"),
        "Os": field("os"),
        "Config": field("config"),
        "RootFS": {
            "Type": "layers",
            "Layers": platform.config.rootfs.diff_ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
        "History": field("history"),
        "Size": size,
        "Descriptor": image.target,
        "Manifest": manifest,
        "Platforms": platforms,
    }))
}

fn read_json(store: &Store, digest: &rbuild_oci::Digest) -> Result<Value> {
    let bytes = store
        .blobs()
        .read(digest)
        .with_context(|| format!("cannot read {digest} from the store"))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{digest} is not valid JSON"))
}
