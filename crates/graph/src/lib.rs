//! `BuildGraph`: the build as a DAG of filesystem operations, the one language the frontend
//! speaks to the solver.
//!
//! Every vertex produces a root filesystem (a snapshot chain). Vertices only reference
//! vertices created before them, so a graph is acyclic by construction. Nothing here knows
//! Dockerfile syntax: instructions have already been expanded into argv, env, paths and ids.
//! Metadata-only instructions (ENV, CMD, LABEL, ...) never become vertices; they live in the
//! image config the frontend hands over next to the graph.

#![forbid(unsafe_code)]

use std::fmt;

mod merge;

pub use merge::GraphMerger;

use rbuild_oci::{Digest, ImageConfig, ImageReference, Platform};
use serde::{Deserialize, Serialize};

/// Index of a vertex in its `BuildGraph`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct VertexId(pub usize);

impl fmt::Display for VertexId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// Where in the Dockerfile a vertex comes from, for progress and error messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLocation {
    pub file: String,
    pub start_line: usize,
    pub end_line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vertex {
    pub op: Op,
    /// What progress shows, e.g. `[build 2/4] RUN make`.
    pub name: String,
    pub location: Option<SourceLocation>,
}

/// One filesystem operation. Each variant names its inputs by `VertexId`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// An empty filesystem (`FROM scratch`).
    Scratch,
    /// A base image from the local store, pinned to the manifest the frontend resolved.
    Image(ImageSource),
    /// A command in the sandbox on top of `parent`.
    Run(RunOp),
    /// Files copied onto `parent` from the context, another vertex or inline content.
    Copy(CopyOp),
    /// A directory created on `parent` (WORKDIR).
    Mkdir(MkdirOp),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSource {
    pub reference: ImageReference,
    pub platform: Platform,
    /// The platform-specific manifest the name resolved to when the graph was made.
    pub manifest: Digest,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOp {
    pub parent: VertexId,
    /// The full argv, shell form already wrapped in the stage's SHELL.
    pub args: Vec<String>,
    /// `KEY=VALUE` in the order the process sees them.
    pub env: Vec<String>,
    /// Environment the process sees that stays out of the cache key and history
    /// (proxy variables).
    pub uncached_env: Vec<String>,
    /// Absolute working directory.
    pub cwd: String,
    /// `user[:group]` by name or id, resolved inside the parent filesystem; empty is root.
    pub user: String,
    pub network: NetworkMode,
    pub platform: Platform,
    pub mounts: Vec<RunMount>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    #[default]
    Default,
    None,
    Host,
}

/// A `RUN --mount`. Parsed and carried now; the sandbox issue executes every kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunMount {
    Bind {
        target: String,
        source: CopySource,
        source_path: String,
        read_write: bool,
    },
    Cache {
        id: String,
        target: String,
        sharing: CacheSharing,
        read_only: bool,
        uid: u32,
        gid: u32,
        mode: u32,
        from: Option<VertexId>,
        source_path: String,
    },
    Tmpfs {
        target: String,
        size: Option<u64>,
    },
    Secret {
        id: String,
        target: Option<String>,
        env: Option<String>,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Ssh {
        id: String,
        target: Option<String>,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheSharing {
    #[default]
    Shared,
    Private,
    Locked,
}

/// Where a COPY (or a bind mount) reads from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CopySource {
    /// A named local context: `context` is the build context, others come from
    /// `--build-context name=DIR`. `excludes` are the .dockerignore patterns of that context.
    Context { name: String, excludes: Vec<String> },
    /// The root filesystem another vertex produces (`--from=stage` or `--from=image`).
    Vertex(VertexId),
    /// Files given in the Dockerfile itself (heredocs): name → content.
    Inline(Vec<InlineFile>),
    /// Files fetched over the network when the step runs (ADD from URLs and git
    /// repositories), in source order. Each is fetched into a root of its own, and the
    /// copy's path at the same index names what to take from that root: the file name for
    /// a URL, the subdirectory (or `.`) for a repository. Never a RUN mount source.
    Remote(Vec<RemoteSource>),
}

/// Something ADD fetches over the network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemoteSource {
    /// One file downloaded with HTTP(S) GET; never unpacked unless `--unpack` asks.
    Http(HttpSource),
    /// A git repository checked out at one commit.
    Git(GitSource),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpSource {
    pub url: String,
    /// `--checksum`: the digest the downloaded bytes must have. It also stands in for the
    /// bytes in the cache key, so a hit needs no download.
    pub checksum: Option<Digest>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitSource {
    /// What `git fetch` is given: the URL without BuildKit's `#ref:subdir` fragment or
    /// query.
    pub remote: String,
    /// Branch, tag, full ref name or commit id; `None` is the remote's HEAD.
    pub reference: Option<String>,
    /// `--checksum` (or `?checksum=`): the commit id, or a prefix of it, that the reference
    /// must resolve to.
    pub checksum: Option<String>,
    /// Keep the `.git` directory in the copied tree (`--keep-git-dir=true`).
    pub keep_git_dir: bool,
    /// Check out submodules too (BuildKit's default; `?submodules=false` turns it off).
    pub submodules: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineFile {
    pub name: String,
    pub content: String,
    pub mode: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyOp {
    pub parent: VertexId,
    pub source: CopySource,
    /// Source paths, relative to the source root, may hold `*`, `?` and `[...]` wildcards.
    pub paths: Vec<String>,
    /// Absolute destination (already resolved against WORKDIR). A trailing `/` or several
    /// sources make it a directory.
    pub dest: String,
    /// `--chown` as written (`user[:group]`, names or ids), resolved in the parent
    /// filesystem; `None` keeps root:root.
    pub chown: Option<String>,
    /// `--chmod` as octal permission bits.
    pub chmod: Option<u32>,
    /// `--exclude` patterns.
    pub excludes: Vec<String>,
    /// ADD: unpack tar archives instead of copying them (local ones unless `--unpack=false`,
    /// downloads only with `--unpack=true`).
    pub unpack_archives: bool,
    /// COPY --parents: keep the source's directory structure under dest.
    pub parents: bool,
    /// COPY --link: may be applied independently of the parent (a hint; same result).
    pub link: bool,
    /// Further sources of the same instruction, copied in this step after `source` (as
    /// BuildKit copies every source of one instruction in one file op): heredocs beside
    /// files, URLs beside local files. Only `Inline` and `Remote` sources, each at most
    /// once across the op; the op's inputs are those of `source`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<CopyPart>,
}

/// One further source of a `CopyOp`, with the paths taken from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyPart {
    pub source: CopySource,
    pub paths: Vec<String>,
    /// Unpack tar archives from this source (ADD: downloads only with `--unpack=true`).
    pub unpack_archives: bool,
}

impl CopyOp {
    /// The source paths of every part, in copy order.
    pub fn path_count(&self) -> usize {
        self.paths.len() + self.more.iter().map(|p| p.paths.len()).sum::<usize>()
    }

    /// Every part's source with its paths: `source` first, then `more`.
    pub fn parts(&self) -> impl Iterator<Item = (&CopySource, &[String])> {
        std::iter::once((&self.source, self.paths.as_slice()))
            .chain(self.more.iter().map(|p| (&p.source, p.paths.as_slice())))
    }

    /// The remote sources of the op (at most one part has them) and the path in each.
    pub fn remote_sources(&self) -> Option<(&[RemoteSource], &[String])> {
        self.parts().find_map(|(source, paths)| match source {
            CopySource::Remote(sources) => Some((sources.as_slice(), paths)),
            _ => None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MkdirOp {
    pub parent: VertexId,
    pub path: String,
    pub mode: u32,
    /// `user[:group]` to own the created directories; `None` is root.
    pub owner: Option<String>,
}

impl Op {
    /// The vertices this op reads, parent first.
    pub fn inputs(&self) -> Vec<VertexId> {
        match self {
            Op::Scratch | Op::Image(_) => Vec::new(),
            Op::Run(run) => {
                let mut inputs = vec![run.parent];
                for mount in &run.mounts {
                    match mount {
                        RunMount::Bind {
                            source: CopySource::Vertex(v),
                            ..
                        } => inputs.push(*v),
                        RunMount::Cache { from: Some(v), .. } => inputs.push(*v),
                        _ => {}
                    }
                }
                inputs
            }
            Op::Copy(copy) => {
                let mut inputs = vec![copy.parent];
                if let CopySource::Vertex(v) = &copy.source {
                    inputs.push(*v);
                }
                inputs
            }
            Op::Mkdir(mkdir) => vec![mkdir.parent],
        }
    }

    /// The vertex whose filesystem this op builds on, if any.
    pub fn parent(&self) -> Option<VertexId> {
        match self {
            Op::Scratch | Op::Image(_) => None,
            Op::Run(run) => Some(run.parent),
            Op::Copy(copy) => Some(copy.parent),
            Op::Mkdir(mkdir) => Some(mkdir.parent),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    #[error("vertex {vertex} reads {input}, which is not created before it")]
    ForwardReference { vertex: VertexId, input: VertexId },
    #[error("vertex {vertex} copies {sources} remote sources but names {paths} paths in them")]
    RemotePathCount {
        vertex: VertexId,
        sources: usize,
        paths: usize,
    },
    #[error("vertex {vertex} has a further copy source that is not one set of heredocs or remote sources")]
    BadCopyPart { vertex: VertexId },
}

/// Remote parts name one path per source; further parts are heredocs or remote sources,
/// each kind at most once.
fn check_copy_parts(id: VertexId, copy: &CopyOp) -> Result<(), GraphError> {
    for (source, paths) in copy.parts() {
        if let CopySource::Remote(sources) = source {
            if sources.len() != paths.len() {
                return Err(GraphError::RemotePathCount {
                    vertex: id,
                    sources: sources.len(),
                    paths: paths.len(),
                });
            }
        }
    }
    let kinds: Vec<u8> = copy
        .parts()
        .map(|(source, _)| match source {
            CopySource::Context { .. } | CopySource::Vertex(_) => 0,
            CopySource::Inline(_) => 1,
            CopySource::Remote(_) => 2,
        })
        .collect();
    let local_later = kinds.iter().skip(1).any(|&k| k == 0);
    let repeated = (1..=2).any(|k| kinds.iter().filter(|&&kind| kind == k).count() > 1);
    if local_later || repeated {
        return Err(GraphError::BadCopyPart { vertex: id });
    }
    Ok(())
}

/// The DAG. Append-only: `add` returns the new vertex's id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildGraph {
    vertices: Vec<Vertex>,
}

impl BuildGraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a vertex; every input must already exist.
    pub fn add(&mut self, vertex: Vertex) -> Result<VertexId, GraphError> {
        let id = VertexId(self.vertices.len());
        if let Some(input) = vertex.op.inputs().into_iter().find(|input| input.0 >= id.0) {
            return Err(GraphError::ForwardReference { vertex: id, input });
        }
        if let Op::Copy(copy) = &vertex.op {
            check_copy_parts(id, copy)?;
        }
        self.vertices.push(vertex);
        Ok(id)
    }

    pub fn vertex(&self, id: VertexId) -> &Vertex {
        &self.vertices[id.0]
    }

    pub fn len(&self) -> usize {
        self.vertices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vertices.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (VertexId, &Vertex)> {
        self.vertices
            .iter()
            .enumerate()
            .map(|(i, v)| (VertexId(i), v))
    }

    /// The vertices `target` depends on, itself included, in creation (topological) order.
    pub fn reachable_from(&self, target: VertexId) -> Vec<VertexId> {
        self.reachable_from_all(&[target])
    }

    /// The vertices any of `targets` depends on, the targets included, in creation
    /// (topological) order, each once.
    pub fn reachable_from_all(&self, targets: &[VertexId]) -> Vec<VertexId> {
        let Some(last) = targets.iter().map(|t| t.0).max() else {
            return Vec::new();
        };
        let mut needed = vec![false; self.vertices.len()];
        for target in targets {
            needed[target.0] = true;
        }
        for index in (0..=last).rev() {
            if needed[index] {
                for input in self.vertices[index].op.inputs() {
                    needed[input.0] = true;
                }
            }
        }
        (0..=last).filter(|&i| needed[i]).map(VertexId).collect()
    }
}

/// What the frontend hands the solver: the graph, the vertex to build, and the image
/// metadata of the target stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildDefinition {
    pub graph: BuildGraph,
    pub target: VertexId,
    pub image: ImageTemplate,
}

/// The target's image config before its layers are known. `config.rootfs` is empty; each
/// history entry is paired (same index in `history_layers`) with the vertex whose layer it
/// describes, or `None` for base-image entries and metadata-only instructions. Entries whose
/// vertex turns out to add nothing become `empty_layer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageTemplate {
    pub config: ImageConfig,
    pub history_layers: Vec<Option<VertexId>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy_with(source: CopySource, more: Vec<CopySource>) -> Vertex {
        let part = |source| CopyPart {
            source,
            paths: vec!["x".into()],
            unpack_archives: false,
        };
        Vertex {
            op: Op::Copy(CopyOp {
                parent: VertexId(0),
                source,
                paths: vec!["a".into()],
                dest: "/d/".into(),
                chown: None,
                chmod: None,
                excludes: Vec::new(),
                unpack_archives: false,
                parents: false,
                link: false,
                more: more.into_iter().map(part).collect(),
            }),
            name: "COPY".into(),
            location: None,
        }
    }

    #[test]
    fn further_copy_parts_are_one_set_of_heredocs_and_one_of_remote_sources() {
        let context = || CopySource::Context {
            name: "context".into(),
            excludes: Vec::new(),
        };
        let inline = || CopySource::Inline(Vec::new());
        let mut graph = BuildGraph::new();
        let base = graph.add(Vertex {
            op: Op::Scratch,
            name: "FROM scratch".into(),
            location: None,
        });
        assert_eq!(base, Ok(VertexId(0)));
        assert!(graph.add(copy_with(context(), vec![inline()])).is_ok());
        for bad in [vec![inline(), inline()], vec![context()]] {
            assert_eq!(
                graph.add(copy_with(context(), bad)),
                Err(GraphError::BadCopyPart {
                    vertex: VertexId(2)
                })
            );
        }
    }
}
