//! The default RUN network on a machine without a user-mode NAT program. The default is an
//! isolated namespace whose outbound traffic goes through slirp4netns or pasta; with
//! neither installed every RUN on the default network gets the host's network instead —
//! in the graph itself, so its cache key says `host` as its result deserves — and the
//! build warns once, naming the packages.
//!
//! Finding and running the NAT program is `rbuild_exec`'s job; this module only rewrites
//! the graph and words the warning.

use rbuild_exec::{NatHelper, NAT_PACKAGES};
use rbuild_graph::{BuildGraph, NetworkMode, Op};

use crate::error::EngineError;

/// With `nat` missing, turns every default-network RUN of `graph` into a host-network one
/// and returns the warning to show; otherwise leaves the graph alone.
pub(crate) fn fall_back_to_host(
    graph: &mut BuildGraph,
    nat: Option<&NatHelper>,
) -> Result<Option<String>, EngineError> {
    let uses_default = graph.iter().any(
        |(_, vertex)| matches!(&vertex.op, Op::Run(run) if run.network == NetworkMode::Default),
    );
    if nat.is_some() || !uses_default {
        return Ok(None);
    }
    let mut rewritten = BuildGraph::new();
    for (_, vertex) in graph.iter() {
        let mut vertex = vertex.clone();
        if let Op::Run(run) = &mut vertex.op {
            if run.network == NetworkMode::Default {
                run.network = NetworkMode::Host;
            }
        }
        // Same vertices in the same order: every id stays what it was.
        rewritten
            .add(vertex)
            .map_err(|e| EngineError::Unsupported(e.to_string()))?;
    }
    *graph = rewritten;
    Ok(Some(format!(
        "RUN steps use the host's network: no user-mode NAT program is on PATH \
         (install {NAT_PACKAGES} to isolate them)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbuild_graph::{RunOp, Vertex, VertexId};
    use rbuild_oci::Platform;

    fn graph(networks: &[NetworkMode]) -> BuildGraph {
        let mut graph = BuildGraph::new();
        let mut parent = graph
            .add(Vertex {
                op: Op::Scratch,
                name: "scratch".into(),
                location: None,
            })
            .unwrap();
        for (n, &network) in networks.iter().enumerate() {
            let run = RunOp {
                parent,
                args: vec!["true".into()],
                env: vec![],
                uncached_env: vec![],
                cwd: "/".into(),
                user: String::new(),
                network,
                platform: Platform::host(),
                mounts: vec![],
            };
            parent = graph
                .add(Vertex {
                    op: Op::Run(run),
                    name: format!("RUN {n}"),
                    location: None,
                })
                .unwrap();
        }
        graph
    }

    fn networks(graph: &BuildGraph) -> Vec<NetworkMode> {
        graph
            .iter()
            .filter_map(|(_, vertex)| match &vertex.op {
                Op::Run(run) => Some(run.network),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn without_a_nat_program_default_steps_get_the_host_network_and_a_warning() {
        let mut graph = graph(&[NetworkMode::Default, NetworkMode::None, NetworkMode::Host]);
        let warning = fall_back_to_host(&mut graph, None).unwrap().unwrap();
        assert!(
            warning.contains("slirp4netns or passt (pasta)"),
            "{warning}"
        );
        assert!(!warning.contains('\n'), "{warning}");
        assert_eq!(
            networks(&graph),
            [NetworkMode::Host, NetworkMode::None, NetworkMode::Host]
        );
        // Ids are kept: the last RUN still sits on the one before it.
        let (last, vertex) = graph.iter().last().unwrap();
        assert_eq!(last, VertexId(3));
        assert_eq!(vertex.op.parent(), Some(VertexId(2)));
    }

    #[test]
    fn with_a_nat_program_or_no_default_step_nothing_changes() {
        let pasta = NatHelper::Pasta("/usr/bin/pasta".into());
        let mut with_nat = graph(&[NetworkMode::Default]);
        assert_eq!(
            fall_back_to_host(&mut with_nat, Some(&pasta)).unwrap(),
            None
        );
        assert_eq!(networks(&with_nat), [NetworkMode::Default]);
        let mut explicit = graph(&[NetworkMode::None, NetworkMode::Host]);
        assert_eq!(fall_back_to_host(&mut explicit, None).unwrap(), None);
        assert_eq!(networks(&explicit), [NetworkMode::None, NetworkMode::Host]);
    }
}
