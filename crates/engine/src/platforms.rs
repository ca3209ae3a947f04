//! Lowering for several platforms at once: the Dockerfile is lowered once per platform
//! (each with its own TARGETPLATFORM, TARGETARCH, ... and base-image manifests) and the
//! graphs are merged into one, so a step that is the same for several platforms — a
//! `FROM --platform=$BUILDPLATFORM` stage before it reads a TARGET* arg — is one vertex,
//! solved once. Step names say their platform when more than one is built.
//!
//! Solving the merged graph is the solver's job; this module only builds it.

use rbuild_cache::Store;
use rbuild_frontend::BuildOptions;
use rbuild_graph::{BuildGraph, GraphMerger, ImageTemplate, VertexId};
use rbuild_oci::Platform;

use crate::base_images::StoreImages;
use crate::error::EngineError;
use crate::request::BuildRequest;

/// The image one platform's target stage makes.
#[derive(Clone, Debug)]
pub(crate) struct PlatformTarget {
    pub platform: Platform,
    pub target: VertexId,
    pub image: ImageTemplate,
}

/// One graph for every platform, and each platform's target in it.
#[derive(Clone, Debug)]
pub(crate) struct LoweredBuild {
    pub graph: BuildGraph,
    pub targets: Vec<PlatformTarget>,
}

impl LoweredBuild {
    pub fn target_ids(&self) -> Vec<VertexId> {
        self.targets.iter().map(|t| t.target).collect()
    }
}

/// Lowers `request`'s Dockerfile for each of its platforms into one graph.
pub(crate) fn lower(store: &Store, request: &BuildRequest) -> Result<LoweredBuild, EngineError> {
    let mut merger = GraphMerger::new();
    let mut targets = Vec::with_capacity(request.platforms.len());
    let images = StoreImages::new(store, request.pull);
    for platform in &request.platforms {
        let options = frontend_options(request, platform);
        let definition =
            rbuild_frontend::build_definition(&request.dockerfile.source, &options, &images)?;
        let label = platform.to_string();
        let label = request.is_multi_platform().then_some(label.as_str());
        let mapping = merger
            .add(&definition.graph, label)
            .map_err(|e| EngineError::Unsupported(e.to_string()))?;
        let mut image = definition.image;
        for vertex in image.history_layers.iter_mut().flatten() {
            *vertex = mapping[vertex.0];
        }
        targets.push(PlatformTarget {
            platform: platform.clone(),
            target: mapping[definition.target.0],
            image,
        });
    }
    Ok(LoweredBuild {
        graph: merger.finish(),
        targets,
    })
}

/// The frontend's options for building `platform`.
fn frontend_options(request: &BuildRequest, platform: &Platform) -> BuildOptions {
    BuildOptions {
        dockerfile_name: request.dockerfile.name.clone(),
        build_args: request.build_args.clone(),
        target: request.target.clone(),
        platform: platform.clone(),
        build_platform: request.build_platform.clone(),
        labels: request.labels.clone(),
        network: request.network,
        context_excludes: request.dockerfile.context_excludes.clone(),
    }
}

/// The request's Dockerfile lowered for its first platform alone, without solving (what
/// `rbuild debug graph` draws).
pub fn first_platform_definition(
    store: &Store,
    request: &BuildRequest,
) -> Result<rbuild_graph::BuildDefinition, EngineError> {
    let platform = request
        .platforms
        .first()
        .cloned()
        .unwrap_or_else(Platform::host);
    let options = frontend_options(request, &platform);
    Ok(rbuild_frontend::build_definition(
        &request.dockerfile.source,
        &options,
        &StoreImages::new(store, false),
    )?)
}
