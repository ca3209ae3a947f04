//! Base images: asks the `ImageResolver` once per (reference, platform), remembers the
//! answer, and creates the graph's `Op::Image` vertex the first time a stage or a
//! `--from` needs it.
//!
//! It never contacts a registry; what "resolving" means is up to the resolver.

use std::collections::HashMap;

use rbuild_graph::{BuildGraph, ImageSource, Op, SourceLocation, Vertex, VertexId};
use rbuild_oci::{cause_chain, ImageReference, Platform};

use crate::error::Fault;

use super::{ImageResolver, ResolvedImage};

struct KnownImage {
    resolved: ResolvedImage,
    vertex: Option<VertexId>,
}

pub(crate) struct BaseImages<'a> {
    resolver: &'a dyn ImageResolver,
    known: HashMap<(ImageReference, Platform), KnownImage>,
}

impl<'a> BaseImages<'a> {
    pub(crate) fn new(resolver: &'a dyn ImageResolver) -> BaseImages<'a> {
        BaseImages {
            resolver,
            known: HashMap::new(),
        }
    }

    /// The image `reference` names for `platform`.
    pub(crate) fn resolve(
        &mut self,
        reference: &ImageReference,
        platform: &Platform,
    ) -> Result<&ResolvedImage, Fault> {
        let key = (reference.clone(), platform.clone());
        if !self.known.contains_key(&key) {
            let resolved = self
                .resolver
                .resolve(reference, platform)
                .map_err(|cause| {
                    Fault::base_image(format!(
                        "{} ({platform}): {}",
                        reference.familiar(),
                        cause_chain(cause.as_ref())
                    ))
                })?;
            self.known.insert(
                key.clone(),
                KnownImage {
                    resolved,
                    vertex: None,
                },
            );
        }
        Ok(&self.known[&key].resolved)
    }

    /// The vertex of the image, created on first use: `name` turns the `FROM ...` text
    /// into the progress name, `location` is the line that needed it.
    pub(crate) fn vertex(
        &mut self,
        graph: &mut BuildGraph,
        reference: &ImageReference,
        platform: &Platform,
        name: impl FnOnce(&str) -> String,
        location: Option<SourceLocation>,
    ) -> Result<VertexId, Fault> {
        let manifest = self.resolve(reference, platform)?.manifest.clone();
        let pinned = match reference.digest() {
            Some(_) => reference.to_string(),
            None => format!("{reference}@{manifest}"),
        };
        // Named even when reused, so the stage's step numbering stays right.
        let name = name(&format!("FROM {pinned}"));
        let key = (reference.clone(), platform.clone());
        let known = self
            .known
            .get_mut(&key)
            .ok_or_else(|| Fault::base_image(format!("{reference} was not resolved")))?;
        if let Some(vertex) = known.vertex {
            return Ok(vertex);
        }
        let vertex = graph
            .add(Vertex {
                op: Op::Image(ImageSource {
                    reference: reference.clone(),
                    platform: platform.clone(),
                    manifest,
                }),
                name,
                location,
            })
            .map_err(|e| Fault::base_image(e.to_string()))?;
        known.vertex = Some(vertex);
        Ok(vertex)
    }
}
