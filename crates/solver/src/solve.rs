//! The scheduler: walks the vertices the target needs, computes each key once its inputs are
//! known, takes hits from the cache index and runs misses, independent vertices in parallel
//! (bounded). The first failure stops new work; running steps finish and the error is
//! returned with the vertex that caused it.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc;
use std::time::Instant;

use rbuild_cache::{SnapshotChain, Store};
use rbuild_exec::SandboxError;
use rbuild_oci::Digest;

use crate::context::{select_from_context, BuildContexts, ContextSelection};
use crate::error::{SolveError, StepFailure};
use crate::explain::remember_listing;
use crate::graph::{BuildGraph, CopySource, Op, VertexId};
use crate::image::image_chain;
use crate::key::{key_material, KeyInputs, KeyMaterial};
use crate::mounts::{self, MountInputs, RunEnvironment};
use crate::ops::{self, CopyInput, StepContext};
use crate::progress::{ProgressEvent, ProgressSink};
use crate::remote::{self, ResolvedRemote};

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
}

/// The results of every vertex the target needed.
#[derive(Clone, Debug)]
pub struct SolveOutcome {
    pub results: HashMap<VertexId, VertexResult>,
    pub target: VertexResult,
}

impl SolveOutcome {
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
}

type Completion = (VertexId, Result<VertexResult, StepFailure>);

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
        }
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

    /// Builds `target` and everything it needs.
    pub fn solve(&self, graph: &BuildGraph, target: VertexId) -> Result<SolveOutcome, SolveError> {
        let needed = graph.reachable_from(target);
        let mut waiting_on: HashMap<VertexId, usize> = HashMap::new();
        let mut dependents: HashMap<VertexId, Vec<VertexId>> = HashMap::new();
        let mut ready = VecDeque::new();
        for &v in &needed {
            let mut inputs = graph.vertex(v).op.inputs();
            inputs.sort();
            inputs.dedup();
            for input in &inputs {
                dependents.entry(*input).or_default().push(v);
            }
            waiting_on.insert(v, inputs.len());
            if inputs.is_empty() {
                ready.push_back(v);
            }
        }
        let mut results: HashMap<VertexId, VertexResult> = HashMap::new();
        let mut failure: Option<(VertexId, StepFailure)> = None;
        let (sender, receiver) = mpsc::channel::<Completion>();
        std::thread::scope(|scope| {
            let mut running = 0usize;
            loop {
                while failure.is_none()
                    && !self.cancelled()
                    && running < self.options.max_parallel.max(1)
                {
                    let Some(v) = ready.pop_front() else { break };
                    let inputs = input_results(graph, v, &results);
                    let sender = sender.clone();
                    scope.spawn(move || {
                        let result = self.solve_vertex(graph, v, &inputs);
                        // The receiver lives until every worker is done.
                        let _ = sender.send((v, result));
                    });
                    running += 1;
                }
                if running == 0 {
                    break;
                }
                let Ok((v, result)) = receiver.recv() else {
                    break;
                };
                running -= 1;
                match result {
                    Ok(result) => {
                        results.insert(v, result);
                        for &d in dependents.get(&v).into_iter().flatten() {
                            let count = waiting_on.entry(d).or_default();
                            *count = count.saturating_sub(1);
                            if *count == 0 {
                                ready.push_back(d);
                            }
                        }
                    }
                    Err(cause) => {
                        self.progress.event(ProgressEvent::Failed {
                            vertex: v,
                            message: cause.to_string(),
                        });
                        failure.get_or_insert((v, cause));
                    }
                }
            }
        });
        if let Some((v, cause)) = failure {
            let vertex = graph.vertex(v);
            return Err(SolveError {
                vertex: Some(v),
                name: vertex.name.clone(),
                location: vertex.location.clone(),
                cause: Box::new(cause),
            });
        }
        // Without a failure, only cancellation leaves the target unsolved.
        let target_result = results
            .get(&target)
            .cloned()
            .ok_or_else(|| SolveError::general(StepFailure::Interrupted))?;
        Ok(SolveOutcome {
            results,
            target: target_result,
        })
    }

    fn solve_vertex(
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
                });
            }
        }
        let started = Instant::now();
        let sources = SourceInputs {
            selection: selection.as_ref(),
            bind_selections: &bind_selections,
            remotes,
        };
        let chain = self.execute(v, &vertex.op, inputs, sources)?;
        self.store
            .index()
            .record(&key, &chain, &material.to_json(), &self.options.build_id)?;
        self.progress.event(ProgressEvent::Done {
            vertex: v,
            duration: started.elapsed(),
        });
        Ok(VertexResult {
            key,
            chain,
            cached: false,
            created: Some(unix_now()),
            build_id: Some(self.options.build_id.clone()),
            material,
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

    fn execute(
        &self,
        v: VertexId,
        op: &Op,
        inputs: &HashMap<VertexId, VertexResult>,
        sources: SourceInputs<'_, '_>,
    ) -> Result<SnapshotChain, StepFailure> {
        let cx = StepContext {
            store: self.store,
            progress: self.progress,
            vertex: v,
            epoch: self.options.epoch,
        };
        let chain_of = |id: VertexId| &inputs[&id].chain;
        match op {
            Op::Run(run) => {
                let fallback;
                let env = match &self.run_env {
                    Some(env) => env,
                    None => {
                        fallback = RunEnvironment::new()
                            .map_err(|e| StepFailure::Sandbox(SandboxError::Spawn { source: e }))?;
                        &fallback
                    }
                };
                let mounts = MountInputs {
                    store: self.store,
                    env,
                    results: inputs,
                    selections: sources.bind_selections,
                };
                ops::run(&cx, run, chain_of(run.parent), &mounts)
            }
            Op::Copy(copy) => {
                let fetched;
                let input = match (&copy.source, sources.selection) {
                    (_, Some(selection)) => CopyInput::Selected(&selection.matches),
                    (CopySource::Vertex(source), _) => CopyInput::Chain(chain_of(*source)),
                    (CopySource::Remote(_), _) => {
                        fetched = remote::fetch(self.store, sources.remotes, &copy.excludes)?;
                        CopyInput::Selected(&fetched.matches)
                    }
                    _ => CopyInput::Inline,
                };
                ops::copy(&cx, copy, chain_of(copy.parent), input)
            }
            Op::Mkdir(mkdir) => ops::mkdir(&cx, mkdir, chain_of(mkdir.parent)),
            Op::Scratch | Op::Image(_) => unreachable!("sources are resolved by base_chain"),
        }
    }
}

/// What a step reads besides its input vertices, gathered while its key was computed.
struct SourceInputs<'s, 'g> {
    /// The files a COPY reads from a local context.
    selection: Option<&'s ContextSelection>,
    /// The context files of each RUN bind mount.
    bind_selections: &'s [Option<ContextSelection>],
    /// The resolved sources of an ADD from URLs or git repositories.
    remotes: Vec<ResolvedRemote<'g>>,
}

fn input_results(
    graph: &BuildGraph,
    v: VertexId,
    results: &HashMap<VertexId, VertexResult>,
) -> HashMap<VertexId, VertexResult> {
    graph
        .vertex(v)
        .op
        .inputs()
        .into_iter()
        .filter_map(|i| results.get(&i).map(|r| (i, r.clone())))
        .collect()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
