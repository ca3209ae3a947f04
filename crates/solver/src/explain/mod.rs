//! `--explain`: why each step of a build ran or came from the cache. Every build leaves a
//! record in the store's build history (per step: position, key, key material; context
//! listings for file-level comparison); a later build of the same Dockerfile compares its
//! steps with that record: a hit names the build that produced it, a miss names what changed
//! (context files, build args, env, instruction text, options) or that its parent changed.
//!
//! Rendering the explanation is the CLI's job; computing keys is `key`'s.

mod causes;
mod listing;
mod record;

use std::collections::BTreeSet;

use rbuild_cache::{Store, StoreError};

use crate::context::ContextSelection;
use crate::graph::{BuildGraph, CopySource, Op, VertexId};
use crate::solve::SolveOutcome;
use causes::Comparison;
pub use listing::FileChanges;
use listing::Listing;
pub use record::cache_time_saved;
use record::{earlier_build, position, EarlierBuild};

/// Which builds are "the same Dockerfile": same context directory and Dockerfile name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildIdentity {
    pub context_dir: String,
    pub dockerfile: String,
}

/// One finished solve, as explain and the history see it.
pub struct BuildFacts<'a> {
    pub identity: &'a BuildIdentity,
    pub build_id: &'a str,
    /// When the build started (Unix seconds).
    pub started: i64,
    /// Names of the `--build-arg`s given.
    pub build_args: &'a BTreeSet<String>,
    /// `--no-cache` was given.
    pub no_cache: bool,
    pub graph: &'a BuildGraph,
    pub outcome: &'a SolveOutcome,
}

/// The explanation of a whole build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildExplanation {
    /// The build compared with, if there was one.
    pub earlier: Option<EarlierSummary>,
    /// Every solved step in Dockerfile order.
    pub steps: Vec<StepExplanation>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarlierSummary {
    pub build_id: String,
    /// Unix seconds.
    pub created: i64,
    pub context_dir: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepExplanation {
    pub vertex: VertexId,
    pub name: String,
    pub verdict: Verdict,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A base image, taken from the store; `changed` when it differs from the earlier build.
    BaseImage { changed: bool },
    /// Taken from the cache: the build that produced it and when (Unix seconds).
    Hit {
        build_id: Option<String>,
        created: Option<i64>,
    },
    /// Ran, for these reasons.
    Miss(Vec<Cause>),
}

/// Why a step ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// No earlier build of this Dockerfile is recorded on this store.
    NoEarlierBuild,
    /// `--no-cache`.
    NoCacheRequested,
    /// The earlier build had no step at this position.
    NewStep,
    /// Same inputs as in the earlier build, but that result is no longer in the cache.
    ResultGone {
        build_id: String,
    },
    /// The cache key format changed (a different rbuild version).
    KeyFormatChanged,
    /// Another instruction stood at this position.
    InstructionReplaced {
        was: String,
    },
    CommandChanged {
        before: String,
        after: String,
    },
    VariableChanged {
        name: String,
        before: Option<String>,
        after: Option<String>,
        /// Given with `--build-arg` (in this build or the earlier one).
        build_arg: bool,
    },
    /// Files the step reads from the context differ; empty when the listings to compare
    /// are no longer kept.
    ContextFiles(FileChanges),
    /// The stage or image a `COPY --from` reads changed.
    SourceChanged {
        source: String,
    },
    /// Some other parameter of the instruction changed.
    OptionChanged {
        what: String,
    },
    /// The step builds on a step that changed.
    ParentChanged {
        parent: String,
    },
}

/// Compares the build in `facts` with the earlier build of the same Dockerfile. Call it
/// before `record_build`, which makes this build the one later builds compare with.
pub fn explain_build(
    store: &Store,
    facts: &BuildFacts<'_>,
) -> Result<BuildExplanation, StoreError> {
    let earlier = earlier_build(store, facts)?;
    let steps = facts
        .graph
        .iter()
        .filter(|(id, vertex)| {
            facts.outcome.results.contains_key(id) && !matches!(vertex.op, Op::Scratch)
        })
        .map(|(id, vertex)| StepExplanation {
            vertex: id,
            name: vertex.name.clone(),
            verdict: verdict(store, facts, earlier.as_ref(), id),
        })
        .collect();
    Ok(BuildExplanation {
        earlier: earlier.map(|e| EarlierSummary {
            build_id: e.record.id,
            created: e.record.created,
            context_dir: e.record.context_dir,
        }),
        steps,
    })
}

/// Records the build in the store's history (and trims old records).
pub fn record_build(store: &Store, facts: &BuildFacts<'_>) -> Result<(), StoreError> {
    record::record(store, facts)
}

/// Keeps the listing of a context selection unless it is kept already. Failures only cost
/// a later explanation its file names, so they are logged, not returned.
pub(crate) fn remember_listing(store: &Store, selection: &ContextSelection) {
    let kept = store.history().has_listing(&selection.digest);
    if matches!(kept, Ok(true)) {
        return;
    }
    let listing = Listing::of_selection(&selection.matches, &selection.file_digests);
    if let Err(e) = store
        .history()
        .put_listing(&selection.digest, &listing.to_text())
    {
        tracing::warn!(error = %e, "cannot keep the context listing for --explain");
    }
}

fn verdict(
    store: &Store,
    facts: &BuildFacts<'_>,
    earlier: Option<&EarlierBuild>,
    id: VertexId,
) -> Verdict {
    let vertex = facts.graph.vertex(id);
    let result = &facts.outcome.results[&id];
    let before = earlier.and_then(|e| e.step_at(&position(&vertex.name)));
    if matches!(vertex.op, Op::Image(_)) {
        return Verdict::BaseImage {
            changed: before.is_some_and(|b| b.key != result.key),
        };
    }
    if result.cached {
        return Verdict::Hit {
            build_id: result.build_id.clone(),
            created: result.created,
        };
    }
    if facts.no_cache {
        return Verdict::Miss(vec![Cause::NoCacheRequested]);
    }
    let Some(earlier) = earlier else {
        return Verdict::Miss(vec![Cause::NoEarlierBuild]);
    };
    let Some(before) = before else {
        return Verdict::Miss(vec![Cause::NewStep]);
    };
    if before.key == result.key {
        return Verdict::Miss(vec![Cause::ResultGone {
            build_id: earlier.record.id.clone(),
        }]);
    }
    let name_of = |v: Option<VertexId>| v.map(|v| facts.graph.vertex(v).name.as_str());
    let cx = Comparison {
        store,
        parent_name: name_of(vertex.op.parent()),
        source_name: name_of(copy_source(&vertex.op)),
        build_args: facts.build_args,
        earlier: &earlier.document,
    };
    let found = causes::causes(&cx, before, result.material.value());
    if found.is_empty() {
        // Keys differ but no field does: the materials were encoded differently.
        return Verdict::Miss(vec![Cause::KeyFormatChanged]);
    }
    Verdict::Miss(found)
}

fn copy_source(op: &Op) -> Option<VertexId> {
    match op {
        Op::Copy(copy) => match copy.source {
            CopySource::Vertex(v) => Some(v),
            _ => None,
        },
        _ => None,
    }
}
