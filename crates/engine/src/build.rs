//! `Build::run`: the whole pipeline for one request, in order — lease the store, lower for
//! every platform into one graph, import caches, solve, explain and record, assemble one
//! image per platform, commit and name, write outputs, export caches, collect garbage.
//!
//! Each stage's work lives elsewhere (frontend, solver, store); this module only sequences
//! them and turns their failures into `EngineError`.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rbuild_cache::Store;
use rbuild_exec::CancelToken;
use rbuild_graph::BuildGraph;
use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::{descriptor_digest, Digest, Platform};
use rbuild_solver::explain::{
    cache_time_saved, explain_build, record_build, BuildFacts, BuildIdentity,
};
use rbuild_solver::progress::ProgressSink;
use rbuild_solver::{
    assemble_image, BuildContexts, BuiltImage, RunEnvironment, SolveOptions, SolveOutcome, Solver,
    StepFailure,
};

use crate::error::EngineError;
use crate::events::{BuildEvents, Notice};
use crate::platforms::{self, LoweredBuild};
use crate::request::BuildRequest;
use crate::{cache_transfer, outputs, run_network};

/// One build of one request against one store.
pub struct Build<'a> {
    store: &'a Store,
    request: &'a BuildRequest,
    progress: &'a dyn ProgressSink,
    events: &'a dyn BuildEvents,
}

/// The image built for one platform.
#[derive(Clone, Debug)]
pub struct PlatformImage {
    pub platform: Platform,
    /// The config digest.
    pub image_id: Digest,
    pub image: BuiltImage,
}

/// What a successful build made.
#[derive(Clone, Debug)]
pub struct BuildResult {
    pub build_id: String,
    /// One per requested platform, in request order.
    pub images: Vec<PlatformImage>,
    /// What the names point at in the store: a manifest, or an index for several platforms.
    /// Its layers are described uncompressed, so outside the store this digest means nothing.
    pub stored: Descriptor,
    /// The digest the image has outside: the manifest (or index) an OCI export's
    /// `index.json` points at, else the one a push sent; `None` for a build that only
    /// stored or wrote docker archives and directories.
    pub distribution: Option<Digest>,
    /// How many steps ran (the rest came from the cache).
    pub executed: usize,
    /// How long the cached steps ran in the builds that produced them.
    pub cache_saved: Duration,
}

impl<'a> Build<'a> {
    pub fn new(
        store: &'a Store,
        request: &'a BuildRequest,
        progress: &'a dyn ProgressSink,
        events: &'a dyn BuildEvents,
    ) -> Build<'a> {
        Build {
            store,
            request,
            progress,
            events,
        }
    }

    /// Runs the build. RUN steps get `run_env` (secrets, agents, limits, cancellation).
    /// Once its token is cancelled the build stops — in a step, while an output is written,
    /// or between stages — with `StepFailure::Interrupted`, leaving no partial output.
    pub fn run(&self, run_env: RunEnvironment) -> Result<BuildResult, EngineError> {
        let cancel = run_env.cancel.clone();
        let (store, request) = (self.store, self.request);
        // Whatever this build looks up or writes stays safe from a concurrent prune.
        let lease = store.lease().map_err(EngineError::Lease)?;
        let started = unix_now();
        outputs::check_outputs(&request.exports, request.platforms.len())?;
        let mut lowered = platforms::lower(store, request)?;
        let nat = rbuild_exec::nat_helper();
        // Default-network steps reuse NAT'ed namespaces until the build ends.
        let _network_pool = rbuild_exec::NetworkPoolScope::open();
        if let Some(warning) = run_network::fall_back_to_host(&mut lowered.graph, nat)? {
            self.events.notice(Notice::Warning(warning));
        }
        cache_transfer::import_all(store, &request.cache_from, self.events);
        cache_transfer::import_registry(store, &request.cache_from_registry, self.events);
        let build_id = new_build_id();
        let outcome = self.solve(&lowered, &build_id, run_env)?;
        self.explain_and_record(&build_id, started, &lowered.graph, &outcome);
        let cache_saved = cache_time_saved(store, &outcome);
        let images = self.assemble(&lowered, &outcome);
        let built: Vec<BuiltImage> = images.iter().map(|i| i.image.clone()).collect();
        stop_if_cancelled(&cancel)?;
        let stored = outputs::commit(store, &built, &request.tags)?;
        let exports = &request.exports;
        let exported =
            outputs::export_all(store, &built, &request.tags, exports, self.events, &cancel)?;
        let mut distribution = exported.as_ref().map(descriptor_digest).transpose()?;
        for destination in &request.push {
            stop_if_cancelled(&cancel)?;
            let summary = crate::registry_transfer::push(store, &stored, destination)?;
            distribution = distribution.or(summary.digest.clone());
            self.events.notice(Notice::Pushed {
                destination,
                summary: &summary,
            });
        }
        stop_if_cancelled(&cancel)?;
        cache_transfer::export_all(
            store,
            &lowered.graph,
            &outcome,
            &lowered.target_ids(),
            &request.cache_to,
            self.events,
        )?;
        cache_transfer::export_registry(
            store,
            &lowered.graph,
            &outcome,
            &lowered.target_ids(),
            &request.cache_to_registry,
            self.events,
        )?;
        // The result is committed, named and exported by now; the lease would keep every
        // snapshot this build touched — most of what the cleanup should reclaim.
        drop(lease);
        self.collect_garbage();
        Ok(BuildResult {
            build_id,
            images,
            stored,
            distribution,
            executed: outcome.executed(),
            cache_saved,
        })
    }

    /// Solves every platform's target in one graph. The outcome's `target` is the first
    /// platform's; `results` hold every vertex.
    fn solve(
        &self,
        lowered: &LoweredBuild,
        build_id: &str,
        run_env: RunEnvironment,
    ) -> Result<SolveOutcome, EngineError> {
        let contexts = BuildContexts::new(self.request.context.clone());
        let options = SolveOptions {
            no_cache: self.request.no_cache,
            epoch: self.request.epoch,
            max_parallel: self.request.max_parallel,
            build_id: build_id.to_string(),
        };
        let solver = Solver::new(self.store, &contexts, options, self.progress)
            .with_run_environment(run_env);
        let targets = lowered.target_ids();
        let results = solver.solve_all(&lowered.graph, &targets)?;
        SolveOutcome::for_target(results, targets[0])
            .ok_or_else(|| EngineError::Unsupported("the build has no target to solve".to_string()))
    }

    fn assemble(&self, lowered: &LoweredBuild, outcome: &SolveOutcome) -> Vec<PlatformImage> {
        lowered
            .targets
            .iter()
            .map(|target| {
                let mut platform_outcome = outcome.clone();
                platform_outcome.target = outcome.results[&target.target].clone();
                let image = assemble_image(
                    &target.image,
                    &lowered.graph,
                    &platform_outcome,
                    self.request.epoch,
                );
                let (_, image_id) = image.config_blob();
                self.events.notice(Notice::ImageAssembled {
                    platform: &target.platform,
                    image_id: &image_id,
                });
                PlatformImage {
                    platform: target.platform.clone(),
                    image_id,
                    image,
                }
            })
            .collect()
    }

    /// Explains the build (when asked for) and records it for later explanations. Neither
    /// may fail the build: problems are warnings.
    fn explain_and_record(
        &self,
        build_id: &str,
        started: i64,
        graph: &BuildGraph,
        outcome: &SolveOutcome,
    ) {
        let build_args: BTreeSet<String> = self.request.build_args.keys().cloned().collect();
        let facts = BuildFacts {
            identity: &BuildIdentity {
                context_dir: self.request.context.display().to_string(),
                dockerfile: self.request.dockerfile.name.clone(),
            },
            build_id,
            started,
            build_args: &build_args,
            no_cache: self.request.no_cache,
            graph,
            outcome,
        };
        if self.request.explain {
            match explain_build(self.store, &facts) {
                Ok(explanation) => self.events.notice(Notice::Explanation(&explanation)),
                Err(e) => self
                    .events
                    .notice(Notice::Warning(format!("cannot explain the build: {e}"))),
            }
        }
        if let Err(e) = record_build(self.store, &facts) {
            self.events.notice(Notice::Warning(format!(
                "cannot record the build for later --explain: {e}"
            )));
        }
    }

    /// Keeps the store within the request's limit; a failure is a warning.
    fn collect_garbage(&self) {
        let Some(limit) = self.request.gc_limit else {
            return;
        };
        match self.store.collect_garbage(limit) {
            Ok(Some(report)) => self.events.notice(Notice::GarbageCollected {
                limit,
                report: &report,
            }),
            Ok(None) => {}
            Err(e) => self.events.notice(Notice::Warning(format!(
                "cleaning up the store after the build failed: {e}"
            ))),
        }
    }
}

/// The interruption, once `cancel` is cancelled: nothing more is started.
fn stop_if_cancelled(cancel: &CancelToken) -> Result<(), EngineError> {
    if cancel.is_cancelled() {
        return Err(EngineError::Output(StepFailure::interrupted(cancel)));
    }
    Ok(())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn new_build_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}-{:x}", nanos, std::process::id())
}
