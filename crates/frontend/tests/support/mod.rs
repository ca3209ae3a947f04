//! Test support for the lowering tests: an `ImageResolver` reading the official busybox OCI
//! layout shipped in `shared/images` (index → platform manifest → config), images built
//! in the test from real configs, and shorthands for building and inspecting definitions.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rbuild_frontend::{
    build_definition, BuildOptions, FrontendError, ImageResolver, ResolveError, ResolvedImage,
};
use rbuild_graph::{BuildDefinition, Op, RunOp, Vertex};
use rbuild_oci::{Digest, ImageConfig, ImageReference, Platform};
use serde_json::Value;

pub fn images_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/images")
}

/// Images by full reference (`docker.io/library/busybox:latest`): each an OCI layout.
pub struct LocalImages {
    layouts: BTreeMap<String, PathBuf>,
    extra: BTreeMap<String, ResolvedImage>,
    /// Every resolve call, as `reference platform`.
    pub requests: RefCell<Vec<String>>,
}

impl LocalImages {
    /// `busybox` and `busybox-musl` from the shared OCI layouts.
    pub fn busybox() -> LocalImages {
        let mut layouts = BTreeMap::new();
        for name in ["busybox", "busybox-musl"] {
            let reference = ImageReference::parse(name).unwrap().to_string();
            layouts.insert(reference, images_dir().join(name));
        }
        LocalImages {
            layouts,
            extra: BTreeMap::new(),
            requests: RefCell::new(Vec::new()),
        }
    }

    /// Adds an image made in the test, e.g. busybox's config with ONBUILD triggers.
    pub fn with_image(mut self, name: &str, config: ImageConfig) -> LocalImages {
        let reference = ImageReference::parse(name).unwrap().to_string();
        let manifest = Digest::of(&config.to_canonical_json());
        self.extra
            .insert(reference, ResolvedImage { manifest, config });
        self
    }

    pub fn requested(&self) -> Vec<String> {
        self.requests.borrow().clone()
    }
}

impl ImageResolver for LocalImages {
    fn resolve(
        &self,
        reference: &ImageReference,
        platform: &Platform,
    ) -> Result<ResolvedImage, ResolveError> {
        self.requests
            .borrow_mut()
            .push(format!("{reference} {platform}"));
        let key = reference.to_string();
        if let Some(image) = self.extra.get(&key) {
            let mut image = image.clone();
            image.config.architecture = platform.architecture.clone();
            return Ok(image);
        }
        let layout = self
            .layouts
            .get(&key)
            .ok_or("not found in the local store")?;
        Ok(resolve_in_layout(layout, platform)?)
    }
}

fn read_json(layout: &Path, digest: &str) -> Value {
    let hex = digest.strip_prefix("sha256:").unwrap();
    let bytes = std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Follows index.json (and nested indexes) to the manifest for `platform`.
fn resolve_in_layout(layout: &Path, platform: &Platform) -> Result<ResolvedImage, String> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut manifests = index["manifests"].as_array().unwrap().clone();
    while let Some(descriptor) = manifests.first().cloned() {
        let digest = descriptor["digest"].as_str().unwrap().to_string();
        let media_type = descriptor["mediaType"].as_str().unwrap_or("");
        if media_type.ends_with("index.v1+json") {
            manifests = read_json(layout, &digest)["manifests"]
                .as_array()
                .unwrap()
                .clone();
            continue;
        }
        let matching = manifests.iter().find(|m| {
            m["platform"]["architecture"].as_str() == Some(platform.architecture.as_str())
                && m["platform"]["os"].as_str() == Some(platform.os.as_str())
        });
        let Some(found) = matching else {
            return Err(format!("no image for {platform}"));
        };
        let manifest_digest = found["digest"].as_str().unwrap();
        let manifest = read_json(layout, manifest_digest);
        let config_digest = manifest["config"]["digest"].as_str().unwrap();
        let config: ImageConfig = serde_json::from_value(read_json(layout, config_digest)).unwrap();
        return Ok(ResolvedImage {
            manifest: manifest_digest.parse().unwrap(),
            config,
        });
    }
    Err("empty layout".to_string())
}

/// The busybox config (amd64), parsed from its blob.
pub fn busybox_config() -> ImageConfig {
    resolve_in_layout(&images_dir().join("busybox"), &amd64())
        .unwrap()
        .config
}

pub fn amd64() -> Platform {
    Platform::new("linux", "amd64", None)
}

pub fn options() -> BuildOptions {
    BuildOptions::new(amd64())
}

/// Lowers `dockerfile` against busybox with `options`; panics with the rendered
/// diagnostic on failure.
pub fn lower_with(dockerfile: &str, options: &BuildOptions) -> BuildDefinition {
    match build_definition(dockerfile, options, &LocalImages::busybox()) {
        Ok(def) => def,
        Err(e) => panic!("{}", e.diagnostic().render()),
    }
}

pub fn lower(dockerfile: &str) -> BuildDefinition {
    lower_with(dockerfile, &options())
}

pub fn lower_err(dockerfile: &str, options: &BuildOptions) -> FrontendError {
    match build_definition(dockerfile, options, &LocalImages::busybox()) {
        Ok(_) => panic!("expected an error for:\n{dockerfile}"),
        Err(e) => e,
    }
}

/// The vertices the target needs, in order.
pub fn needed(def: &BuildDefinition) -> Vec<&Vertex> {
    def.graph
        .reachable_from(def.target)
        .into_iter()
        .map(|id| def.graph.vertex(id))
        .collect()
}

/// RUN ops the target needs, in order.
pub fn runs(def: &BuildDefinition) -> Vec<&RunOp> {
    needed(def)
        .into_iter()
        .filter_map(|v| match &v.op {
            Op::Run(run) => Some(run),
            _ => None,
        })
        .collect()
}

/// The last argv element of each needed RUN (the command line for shell forms).
pub fn run_commands(def: &BuildDefinition) -> Vec<String> {
    runs(def)
        .iter()
        .map(|r| r.args.last().cloned().unwrap_or_default())
        .collect()
}

/// `created_by` of every history entry.
pub fn history(def: &BuildDefinition) -> Vec<String> {
    def.image
        .config
        .history
        .iter()
        .map(|h| h.created_by.clone().unwrap_or_default())
        .collect()
}

pub fn env(def: &BuildDefinition) -> Vec<String> {
    def.image.config.config.env.clone().unwrap_or_default()
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

pub fn build_args(pairs: &[(&str, &str)]) -> BuildOptions {
    let mut options = options();
    for (k, v) in pairs {
        options.build_args.insert(k.to_string(), v.to_string());
    }
    options
}
