//! Merging graphs: a multi-platform build lowers the Dockerfile once per platform and
//! solves the union as one graph. A vertex whose op (with its inputs mapped) equals one
//! already in the graph is not added again, so steps that are the same for several
//! platforms — a `FROM --platform=$BUILDPLATFORM` stage before it reads any TARGET* arg —
//! are solved once.
//!
//! This module only compares ops; it knows nothing of keys or platforms.

use std::collections::HashMap;

use crate::{BuildGraph, CopySource, GraphError, Op, RunMount, Vertex, VertexId};

impl Op {
    /// Rewrites every vertex this op reads through `map`.
    pub fn map_inputs(&mut self, map: &dyn Fn(VertexId) -> VertexId) {
        match self {
            Op::Scratch | Op::Image(_) => {}
            Op::Run(run) => {
                run.parent = map(run.parent);
                for mount in &mut run.mounts {
                    match mount {
                        RunMount::Bind {
                            source: CopySource::Vertex(v),
                            ..
                        } => *v = map(*v),
                        RunMount::Cache { from: Some(v), .. } => *v = map(*v),
                        _ => {}
                    }
                }
            }
            Op::Copy(copy) => {
                copy.parent = map(copy.parent);
                if let CopySource::Vertex(v) = &mut copy.source {
                    *v = map(*v);
                }
            }
            Op::Mkdir(mkdir) => mkdir.parent = map(mkdir.parent),
        }
    }
}

/// Builds one graph out of several, sharing equal vertices.
#[derive(Debug, Default)]
pub struct GraphMerger {
    graph: BuildGraph,
    /// Canonical JSON of each op in `graph` → its id.
    known: HashMap<String, VertexId>,
}

impl GraphMerger {
    pub fn new() -> GraphMerger {
        GraphMerger::default()
    }

    /// Adds `other`'s vertices; returns, for each of `other`'s vertex ids (by index), the id
    /// it has in the merged graph. A vertex equal to an existing one keeps the existing
    /// vertex (and its name). With `label`, new vertices' names say it first
    /// (`[build 2/4] RUN make` → `[linux/arm64 build 2/4] RUN make`).
    pub fn add(
        &mut self,
        other: &BuildGraph,
        label: Option<&str>,
    ) -> Result<Vec<VertexId>, GraphError> {
        let mut mapping: Vec<VertexId> = Vec::with_capacity(other.len());
        for (_, vertex) in other.iter() {
            let mut op = vertex.op.clone();
            op.map_inputs(&|v| mapping[v.0]);
            let identity = serde_json::to_string(&op).unwrap_or_default();
            let id = match self.known.get(&identity) {
                Some(&existing) => existing,
                None => {
                    let id = self.graph.add(Vertex {
                        op,
                        name: label
                            .map_or_else(|| vertex.name.clone(), |l| labelled(l, &vertex.name)),
                        location: vertex.location.clone(),
                    })?;
                    self.known.insert(identity, id);
                    id
                }
            };
            mapping.push(id);
        }
        Ok(mapping)
    }

    pub fn finish(self) -> BuildGraph {
        self.graph
    }
}

fn labelled(label: &str, name: &str) -> String {
    match name.strip_prefix('[') {
        Some(rest) => format!("[{label} {rest}"),
        None => format!("[{label}] {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MkdirOp;

    fn mkdir(parent: usize, path: &str) -> Vertex {
        Vertex {
            op: Op::Mkdir(MkdirOp {
                parent: VertexId(parent),
                path: path.into(),
                mode: 0o755,
                owner: None,
            }),
            name: format!("mkdir {path}"),
            location: None,
        }
    }

    fn graph(vertices: Vec<Vertex>) -> BuildGraph {
        let mut graph = BuildGraph::new();
        for vertex in vertices {
            graph.add(vertex).unwrap();
        }
        graph
    }

    fn scratch() -> Vertex {
        Vertex {
            op: Op::Scratch,
            name: "scratch".into(),
            location: None,
        }
    }

    #[test]
    fn equal_prefixes_are_shared_and_differences_kept() {
        let amd = graph(vec![scratch(), mkdir(0, "/src"), mkdir(1, "/amd64")]);
        let arm = graph(vec![scratch(), mkdir(0, "/src"), mkdir(1, "/arm64")]);
        let mut merger = GraphMerger::new();
        let first = merger.add(&amd, None).unwrap();
        let second = merger.add(&arm, Some("linux/arm64")).unwrap();
        assert_eq!(first, [VertexId(0), VertexId(1), VertexId(2)]);
        assert_eq!(second, [VertexId(0), VertexId(1), VertexId(3)]);
        let merged = merger.finish();
        assert_eq!(merged.len(), 4);
        assert_eq!(merged.vertex(VertexId(3)).op.parent(), Some(VertexId(1)));
        assert_eq!(
            merged.vertex(VertexId(3)).name,
            "[linux/arm64] mkdir /arm64"
        );
        assert_eq!(merged.vertex(VertexId(1)).name, "mkdir /src");
        assert_eq!(
            labelled("linux/arm64", "[build 2/4] RUN make"),
            "[linux/arm64 build 2/4] RUN make"
        );
    }

    #[test]
    fn a_difference_early_makes_every_later_vertex_distinct() {
        let one = graph(vec![scratch(), mkdir(0, "/a"), mkdir(1, "/same")]);
        let two = graph(vec![scratch(), mkdir(0, "/b"), mkdir(1, "/same")]);
        let mut merger = GraphMerger::new();
        merger.add(&one, None).unwrap();
        let mapping = merger.add(&two, None).unwrap();
        assert_eq!(mapping, [VertexId(0), VertexId(3), VertexId(4)]);
        let merged = merger.finish();
        assert_eq!(
            merged.reachable_from_all(&[VertexId(2), VertexId(4)]).len(),
            5
        );
    }
}
