//! Solving: for each vertex the scheduler hands over, compute its key once its inputs are
//! known, take a hit from the cache index or run the miss through the `StepExecutor`, and
//! record the result. The first failure stops new work; running steps finish and the error
//! is returned with the vertex that caused it.
//!
//! The order and parallelism of vertices are `schedule`'s; what executing an op means is
//! `execute`'s.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rbuild_cache::{SnapshotChain, Store};
use rbuild_oci::Digest;

use crate::context::{select_from_context, BuildContexts, ContextSelection};
use crate::error::{SolveError, StepFailure};
use crate::execute::{SandboxExecutor, SourceInputs, Step, StepExecutor};
use crate::explain::remember_listing;
use crate::graph::{BuildGraph, CopySource, Op, VertexId};
use crate::image::image_chain;
use crate::key::{key_material, KeyInputs, KeyMaterial};
use crate::mounts::{self, RunEnvironment};
use crate::progress::{ProgressEvent, ProgressSink};
use crate::remote;
use crate::schedule::{run_graph, VertexJob};

/// How a solve behaves.
#[derive(Clone, Debug)]
pub struct SolveOptions {
    /// Run every step even when its key is cached (results are still recorded).
    pub no_cache: bool,
    /// SOURCE_DATE_EPOCH: clamps layer file times.
    pub epoch: Option<i64>,
    /// How many vertices may run at once.
    pub max_parallel: usize,
    /// Recorded with every cache entry this build creates.
    pub build_id: String,
}

/// The result of one vertex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VertexResult {
    pub key: Digest,
    pub chain: SnapshotChain,
    /// True when the result came from the cache (or, for base images, from the store).
    pub cached: bool,
    /// When the result was first produced (Unix seconds): now for a step that ran, the cache
    /// record's time for a hit, `None` for base images. Image history uses it, so a fully
    /// cached rebuild yields the identical image.
    pub created: Option<i64>,
    /// The build that produced the result: this one for a step that ran, the cache record's
    /// for a hit, `None` for base images.
    pub build_id: Option<String>,
    /// The document the key was hashed from (for `--explain` and cache export).
    pub material: KeyMaterial,
    /// How long the step ran in this build; `None` for hits and base images.
    pub duration: Option<Duration>,
}

/// The results of every vertex the target needed.
#[derive(Clone, Debug)]
pub struct SolveOutcome {
    pub results: HashMap<VertexId, VertexResult>,
    pub target: VertexResult,
}

impl SolveOutcome {
    /// The outcome for `target` out of a solve of several targets; `None` when `target`
    /// was not solved.
    pub fn for_target(
        results: HashMap<VertexId, VertexResult>,
        target: VertexId,
    ) -> Option<SolveOutcome> {
        let target = results.get(&target)?.clone();
        Some(SolveOutcome { results, target })
    }

    /// How many vertices actually ran.
    pub fn executed(&self) -> usize {
        self.results.values().filter(|r| !r.cached).count()
    }
}

pub struct Solver<'a> {
    store: &'a Store,
    contexts: &'a BuildContexts,
    options: SolveOptions,
    progress: &'a dyn ProgressSink,
    /// Secrets, agents, limits and cancellation for RUN steps; none of them when `None`.
    run_env: Option<RunEnvironment>,
    executor: &'a dyn StepExecutor,
}

impl<'a> Solver<'a> {
    pub fn new(
        store: &'a Store,
        contexts: &'a BuildContexts,
        options: SolveOptions,
        progress: &'a dyn ProgressSink,
    ) -> Self {
        Solver {
            store,
            contexts,
            options,
            progress,
            run_env: None,
            executor: &SandboxExecutor,
        }
    }

    /// Executes misses with `executor` instead of the sandbox (the scheduler's tests).
    #[cfg(test)]
    pub(crate) fn with_executor(mut self, executor: &'a dyn StepExecutor) -> Self {
        self.executor = executor;
        self
    }

    pub(crate) fn store(&self) -> &'a Store {
        self.store
    }

    pub(crate) fn progress(&self) -> &'a dyn ProgressSink {
        self.progress
    }

    pub(crate) fn epoch(&self) -> Option<i64> {
        self.options.epoch
    }

    pub(crate) fn run_environment(&self) -> Option<&RunEnvironment> {
        self.run_env.as_ref()
    }

    /// Gives RUN steps secrets, SSH agents, resource limits and a cancellation token.
    /// Once the token is cancelled no step starts, running ones are killed, and `solve`
    /// fails with `StepFailure::Interrupted`.
    pub fn with_run_environment(mut self, env: RunEnvironment) -> Self {
        self.run_env = Some(env);
        self
    }

    fn cancelled(&self) -> bool {
        self.run_env
            .as_ref()
            .is_some_and(|env| env.cancel.is_cancelled())
    }

    /// The failure of a solve that cancellation stopped.
    fn interrupted(&self) -> SolveError {
        SolveError::general(StepFailure::Interrupted {
            reason: self
                .run_env
                .as_ref()
                .and_then(|env| env.cancel.reason())
                .map(str::to_string),
        })
    }

    /// Builds `target` and everything it needs.
    pub fn solve(&self, graph: &BuildGraph, target: VertexId) -> Result<SolveOutcome, SolveError> {
        let results = self.solve_all(graph, &[target])?;
        SolveOutcome::for_target(results, target).ok_or_else(|| self.interrupted())
    }

    /// Builds every one of `targets` and everything they need, as one graph: a vertex
    /// several targets share is solved once.
    pub fn solve_all(
        &self,
        graph: &BuildGraph,
        targets: &[VertexId],
    ) -> Result<HashMap<VertexId, VertexResult>, SolveError> {
        let job = GraphJob {
            solver: self,
            graph,
        };
        let results =
            run_graph(graph, targets, self.options.max_parallel, &job).map_err(|(v, cause)| {
                let vertex = graph.vertex(v);
                SolveError {
                    vertex: Some(v),
                    name: vertex.name.clone(),
                    location: vertex.location.clone(),
                    cause: Box::new(cause),
                }
            })?;
        // Without a failure, only cancellation leaves a target unsolved.
        if targets.iter().any(|t| !results.contains_key(t)) {
            return Err(self.interrupted());
        }
        Ok(results)
    }

    fn solve_one(
        &self,
        graph: &BuildGraph,
        v: VertexId,
        inputs: &HashMap<VertexId, VertexResult>,
    ) -> Result<VertexResult, StepFailure> {
        let vertex = graph.vertex(v);
        self.progress.event(ProgressEvent::Started {
            vertex: v,
            name: vertex.name.clone(),
        });
        let selection = self.context_selection(&vertex.op)?;
        let bind_selections = mounts::bind_selections(self.store, self.contexts, &vertex.op)?;
        let remotes = remote::resolve(self.store, &vertex.op)?;
        let remote_versions: Vec<_> = remotes.iter().map(|r| r.version.clone()).collect();
        let input_key = |i: VertexId| inputs[&i].key.clone();
        let material = key_material(
            &vertex.op,
            &KeyInputs {
                input_key: &input_key,
                context_digest: selection.as_ref().map(|s| &s.digest),
                mount_digests: &mounts::selection_digests(&bind_selections),
                remote_versions: &remote_versions,
                epoch: self.options.epoch,
            },
        );
        let key = material.key();
        if let Some(chain) = self.base_chain(&vertex.op)? {
            self.progress.event(ProgressEvent::Cached { vertex: v });
            return Ok(VertexResult {
                key,
                chain,
                cached: true,
                created: None,
                build_id: None,
                material,
                duration: None,
            });
        }
        if !self.options.no_cache {
            if let Some(record) = self.store.index().lookup(&key)? {
                self.progress.event(ProgressEvent::Cached { vertex: v });
                return Ok(VertexResult {
                    key,
                    chain: record.chain,
                    cached: true,
                    created: Some(record.created),
                    build_id: Some(record.build_id),
                    material,
                    duration: None,
                });
            }
        }
        let started = Instant::now();
        let sources = SourceInputs {
            selection: selection.as_ref(),
            bind_selections: &bind_selections,
            remotes,
            source_stage: match &vertex.op {
                Op::Copy(copy) => match &copy.source {
                    CopySource::Vertex(source) => stage_label(&graph.vertex(*source).name),
                    _ => None,
                },
                _ => None,
            },
        };
        let chain = self.executor.execute(
            self,
            Step {
                vertex: v,
                op: &vertex.op,
                inputs,
                sources,
            },
        )?;
        self.store
            .index()
            .record(&key, &chain, &material.to_json(), &self.options.build_id)?;
        let duration = started.elapsed();
        self.progress.event(ProgressEvent::Done {
            vertex: v,
            duration,
        });
        Ok(VertexResult {
            key,
            chain,
            cached: false,
            created: Some(unix_now()),
            build_id: Some(self.options.build_id.clone()),
            material,
            duration: Some(duration),
        })
    }

    fn context_selection(&self, op: &Op) -> Result<Option<ContextSelection>, StepFailure> {
        match op {
            Op::Copy(copy) => match &copy.source {
                CopySource::Context { name, excludes } => {
                    let selection = select_from_context(
                        self.store,
                        self.contexts,
                        name,
                        &copy.paths,
                        excludes,
                        &copy.excludes,
                    )?;
                    remember_listing(self.store, &selection);
                    Ok(Some(selection))
                }
                _ => Ok(None),
            },
            _ => Ok(None),
        }
    }

    /// Sources need no execution: their chain is known from the store.
    fn base_chain(&self, op: &Op) -> Result<Option<SnapshotChain>, StepFailure> {
        match op {
            Op::Scratch => Ok(Some(SnapshotChain::default())),
            Op::Image(image) => Ok(Some(image_chain(self.store, &image.manifest)?)),
            _ => Ok(None),
        }
    }
}

/// One solve of one graph, as the scheduler drives it.
struct GraphJob<'s, 'a> {
    solver: &'s Solver<'a>,
    graph: &'s BuildGraph,
}

impl VertexJob for GraphJob<'_, '_> {
    fn solve_vertex(
        &self,
        vertex: VertexId,
        inputs: &HashMap<VertexId, VertexResult>,
    ) -> Result<VertexResult, StepFailure> {
        self.solver.solve_one(self.graph, vertex, inputs)
    }

    fn cancelled(&self) -> bool {
        self.solver.cancelled()
    }

    fn failed(&self, vertex: VertexId, cause: &StepFailure) {
        self.solver.progress.event(ProgressEvent::Failed {
            vertex,
            message: cause.to_string(),
        });
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The stage a step name belongs to: `s` for `[s 1/2] RUN …` and `[linux/arm64 s 1/2] …`.
fn stage_label(step_name: &str) -> Option<String> {
    let inside = step_name.strip_prefix('[')?.split(']').next()?;
    let mut words: Vec<&str> = inside.split_whitespace().collect();
    if words
        .last()
        .is_some_and(|w| w.contains('/') && w.chars().next().is_some_and(|c| c.is_ascii_digit()))
    {
        words.pop();
    }
    words.last().map(|w| w.to_string())
}
