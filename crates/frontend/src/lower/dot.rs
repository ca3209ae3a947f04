//! `graph_dot`: the lowered graph as Graphviz DOT, for `rbuild debug graph`. One box per
//! vertex (its progress name and op kind), an edge from every input, the parent edge solid
//! and other inputs (`--from`, mounts) dashed, the target drawn bold.
//!
//! Text only; laying the graph out is Graphviz's job.

use std::fmt::Write;

use rbuild_graph::{BuildDefinition, CopyOp, CopySource, Op, RemoteSource};

/// Renders `def`'s graph in DOT.
pub fn graph_dot(def: &BuildDefinition) -> String {
    let mut out = String::from(
        "digraph build {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for (id, vertex) in def.graph.iter() {
        let style = if id == def.target {
            ", style=bold, peripheries=2"
        } else {
            ""
        };
        let label = format!("{}\\n{}", escape(&vertex.name), op_kind(&vertex.op));
        let _ = writeln!(out, "  {id} [label=\"{label}\"{style}];");
        let parent = vertex.op.parent();
        for input in vertex.op.inputs() {
            let edge_style = if Some(input) == parent {
                ""
            } else {
                " [style=dashed]"
            };
            let _ = writeln!(out, "  {input} -> {id}{edge_style};");
        }
    }
    out.push_str("}\n");
    out
}

fn op_kind(op: &Op) -> String {
    match op {
        Op::Scratch => "scratch".to_string(),
        Op::Image(image) => format!("image {}", escape(&image.platform.to_string())),
        Op::Run(_) => "run".to_string(),
        Op::Copy(CopyOp {
            source: CopySource::Remote(sources),
            ..
        }) => {
            let names: Vec<String> = sources.iter().map(remote_name).collect();
            format!("fetch {}", escape(&names.join(" ")))
        }
        Op::Copy(_) => "copy".to_string(),
        Op::Mkdir(mkdir) => format!("mkdir {}", escape(&mkdir.path)),
    }
}

fn remote_name(source: &RemoteSource) -> String {
    match source {
        RemoteSource::Http(http) => http.url.clone(),
        RemoteSource::Git(git) => match &git.reference {
            Some(reference) => format!("{}#{reference}", git.remote),
            None => git.remote.clone(),
        },
    }
}

/// Escapes text for a double-quoted DOT string.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbuild_graph::{BuildGraph, CopyOp, CopySource, ImageTemplate, MkdirOp, Vertex, VertexId};
    use rbuild_oci::{ImageConfig, Platform};

    #[test]
    fn renders_vertices_edges_and_target() {
        let mut graph = BuildGraph::new();
        let scratch = graph
            .add(Vertex {
                op: Op::Scratch,
                name: "scratch".into(),
                location: None,
            })
            .unwrap();
        let dir = graph
            .add(Vertex {
                op: Op::Mkdir(MkdirOp {
                    parent: scratch,
                    path: "/app".into(),
                    mode: 0o755,
                    owner: None,
                }),
                name: "[1/2] WORKDIR \"/app\"".into(),
                location: None,
            })
            .unwrap();
        let copy = graph
            .add(Vertex {
                op: Op::Copy(CopyOp {
                    parent: dir,
                    source: CopySource::Vertex(scratch),
                    paths: vec!["x".into()],
                    dest: "/app/".into(),
                    chown: None,
                    chmod: None,
                    excludes: Vec::new(),
                    unpack_archives: false,
                    parents: false,
                    link: false,
                    more: Vec::new(),
                }),
                name: "[2/2] COPY x .".into(),
                location: None,
            })
            .unwrap();
        let def = BuildDefinition {
            graph,
            target: copy,
            image: ImageTemplate {
                config: ImageConfig::scratch(&Platform::new("linux", "amd64", None)),
                history_layers: Vec::new(),
            },
        };
        let dot = graph_dot(&def);
        assert!(dot.starts_with("digraph build {"), "{dot}");
        assert!(
            dot.contains(r#"v1 [label="[1/2] WORKDIR \"/app\"\nmkdir /app"];"#),
            "{dot}"
        );
        assert!(dot.contains("v0 -> v1;"), "{dot}");
        assert!(dot.contains("v1 -> v2;"), "{dot}");
        assert!(dot.contains("v0 -> v2 [style=dashed];"), "{dot}");
        assert!(dot.contains(&format!("{} [label=", VertexId(2))), "{dot}");
        assert!(dot.contains("style=bold"), "{dot}");
        assert!(dot.trim_end().ends_with('}'));
    }
}
