//! What the named images hold on to: their index, manifest, config and layer blobs and the
//! snapshot chains of their root filesystems — the roots that prune never removes and that
//! check verifies.
//!
//! Documents are read leniently (only the fields that reference content matter). An index
//! is intact when at least one of its manifests is stored (a multi-platform image may hold
//! only the platforms that were pulled); a stored manifest needs its config.

use std::collections::HashSet;
use std::fs;

use rbuild_oci::Digest;
use rusqlite::Connection;
use serde::Deserialize;

use crate::chain::SnapshotChain;
use crate::layout::Layout;

/// How deep indexes may nest before the walk stops.
const MAX_DEPTH: usize = 4;

#[derive(Debug, Default)]
pub(crate) struct ImageRoots {
    pub blobs: HashSet<Digest>,
    pub chains: Vec<SnapshotChain>,
    /// Image names whose target (or every manifest it lists, or a config) is missing.
    pub broken: Vec<String>,
}

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    manifests: Option<Vec<Reference>>,
    #[serde(default)]
    config: Option<Reference>,
    #[serde(default)]
    layers: Option<Vec<Reference>>,
}

#[derive(Deserialize)]
struct Reference {
    digest: String,
}

#[derive(Deserialize)]
struct ConfigDocument {
    rootfs: Option<RootFs>,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<Digest>,
}

/// Walks every named image. `present` says whether a blob may be counted as stored (check
/// passes the blobs it found intact).
pub(crate) fn image_roots(
    conn: &Connection,
    layout: &Layout,
    present: &dyn Fn(&Digest) -> bool,
) -> rusqlite::Result<ImageRoots> {
    let images: Vec<(String, String)> = conn
        .prepare("SELECT name, target FROM images")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut roots = ImageRoots::default();
    for (name, target) in images {
        let walker = Walker { layout, present };
        let intact = target
            .parse::<Digest>()
            .ok()
            .is_some_and(|digest| walker.visit(&digest, 0, &mut roots));
        if !intact {
            roots.broken.push(name);
        }
    }
    Ok(roots)
}

struct Walker<'a> {
    layout: &'a Layout,
    present: &'a dyn Fn(&Digest) -> bool,
}

impl Walker<'_> {
    /// Records what `digest` references; false when the document or what it needs is missing.
    fn visit(&self, digest: &Digest, depth: usize, roots: &mut ImageRoots) -> bool {
        roots.blobs.insert(digest.clone());
        let Some(document) = self.read::<Document>(digest) else {
            return false;
        };
        if let Some(children) = document.manifests {
            if depth >= MAX_DEPTH {
                return false;
            }
            let mut any_present = children.is_empty();
            for child in children
                .iter()
                .filter_map(|c| c.digest.parse::<Digest>().ok())
            {
                if (self.present)(&child) {
                    any_present |= self.visit(&child, depth + 1, roots);
                } else {
                    roots.blobs.insert(child);
                }
            }
            return any_present;
        }
        for layer in document.layers.iter().flatten() {
            if let Ok(layer) = layer.digest.parse::<Digest>() {
                roots.blobs.insert(layer);
            }
        }
        match document
            .config
            .and_then(|c| c.digest.parse::<Digest>().ok())
        {
            Some(config) => self.visit_config(&config, roots),
            None => true, // not an image manifest; nothing more to hold on to
        }
    }

    fn visit_config(&self, digest: &Digest, roots: &mut ImageRoots) -> bool {
        roots.blobs.insert(digest.clone());
        let Some(config) = self.read::<ConfigDocument>(digest) else {
            return false;
        };
        if let Some(rootfs) = config.rootfs {
            roots.chains.push(SnapshotChain {
                layers: rootfs.diff_ids,
            });
        }
        true
    }

    fn read<T: for<'de> Deserialize<'de>>(&self, digest: &Digest) -> Option<T> {
        if !(self.present)(digest) {
            return None;
        }
        let bytes = fs::read(self.layout.blob(digest)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}
