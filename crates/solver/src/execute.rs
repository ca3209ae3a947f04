//! The seam between solving and doing: a `StepExecutor` turns one cache-missing vertex into
//! a snapshot chain. `SandboxExecutor` is the real one — RUN in the sandbox, COPY and
//! WORKDIR on private overlay mounts, ADD's remote sources fetched first; the scheduler's
//! tests plug in their own so parallelism, failure and cancellation are tested without root.
//!
//! Keys, cache lookups and recording results are `solve`'s, never an executor's.

use std::collections::HashMap;

use rbuild_cache::SnapshotChain;
use rbuild_exec::SandboxError;

use crate::context::ContextSelection;
use crate::copy_reuse;
use crate::error::StepFailure;
use crate::graph::{CopySource, Op, VertexId};
use crate::mounts::{MountInputs, RunEnvironment};
use crate::ops::{self, CopyInput, StepContext};
use crate::remote::{self, ResolvedRemote};
use crate::solve::{Solver, VertexResult};

/// One vertex to execute, with everything gathered while its key was computed.
pub(crate) struct Step<'s, 'g> {
    pub vertex: VertexId,
    pub op: &'g Op,
    /// The result of every input vertex.
    pub inputs: &'s HashMap<VertexId, VertexResult>,
    pub sources: SourceInputs<'s, 'g>,
}

/// What a step reads besides its input vertices.
pub(crate) struct SourceInputs<'s, 'g> {
    /// The files a COPY reads from a local context.
    pub selection: Option<&'s ContextSelection>,
    /// The context files of each RUN bind mount.
    pub bind_selections: &'s [Option<ContextSelection>],
    /// The resolved sources of an ADD from URLs or git repositories.
    pub remotes: Vec<ResolvedRemote<'g>>,
    /// The stage a `COPY --from` reads, for messages.
    pub source_stage: Option<String>,
}

/// Executes a vertex whose key missed the cache. Called from worker threads.
pub(crate) trait StepExecutor: Sync {
    fn execute(
        &self,
        solver: &Solver<'_>,
        step: Step<'_, '_>,
    ) -> Result<SnapshotChain, StepFailure>;
}

/// Executes steps for real: the sandbox, overlay mounts and the store.
pub(crate) struct SandboxExecutor;

impl StepExecutor for SandboxExecutor {
    fn execute(
        &self,
        solver: &Solver<'_>,
        step: Step<'_, '_>,
    ) -> Result<SnapshotChain, StepFailure> {
        let cx = StepContext {
            store: solver.store(),
            progress: solver.progress(),
            vertex: step.vertex,
            epoch: solver.epoch(),
        };
        let inputs = step.inputs;
        let chain_of = |id: VertexId| &inputs[&id].chain;
        match step.op {
            Op::Run(run) => {
                let fallback;
                let env = match solver.run_environment() {
                    Some(env) => env,
                    None => {
                        fallback = RunEnvironment::new()
                            .map_err(|e| StepFailure::Sandbox(SandboxError::Spawn { source: e }))?;
                        &fallback
                    }
                };
                let mounts = MountInputs {
                    store: solver.store(),
                    env,
                    results: inputs,
                    selections: step.sources.bind_selections,
                };
                ops::run(&cx, run, chain_of(run.parent), &mounts)
            }
            Op::Copy(copy) => {
                if let (Some(selection), true) = (step.sources.selection, copy_reuse::applies(copy))
                {
                    return copy_reuse::copy_from_context(
                        &cx,
                        copy,
                        chain_of(copy.parent),
                        selection,
                    );
                }
                let fetched = match copy.remote_sources() {
                    Some(_) => Some(remote::fetch(
                        solver.store(),
                        step.sources.remotes,
                        &copy.excludes,
                    )?),
                    None => None,
                };
                let downloads = fetched.as_ref().map_or(&[][..], |f| f.matches.as_slice());
                let input = match (&copy.source, step.sources.selection) {
                    (_, Some(selection)) => CopyInput::Selected(&selection.matches),
                    (CopySource::Vertex(source), _) => CopyInput::Chain {
                        chain: chain_of(*source),
                        stage: step.sources.source_stage.as_deref(),
                    },
                    (CopySource::Remote(_), _) => CopyInput::Selected(downloads),
                    _ => CopyInput::Inline,
                };
                ops::copy(&cx, copy, chain_of(copy.parent), input, downloads)
            }
            Op::Mkdir(mkdir) => ops::mkdir(&cx, mkdir, chain_of(mkdir.parent)),
            Op::Scratch | Op::Image(_) => unreachable!("sources are resolved by base_chain"),
        }
    }
}
