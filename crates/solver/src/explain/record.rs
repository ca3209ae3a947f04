//! The per-build document kept in the store's build history: for each solved vertex its
//! position in the Dockerfile, display name, key and key material, plus the names of the
//! build args. Also picks which earlier build a new one is compared with.
//!
//! Why a step missed is worked out in `causes`; storing documents is the store's job.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use rbuild_cache::{BuildRecord, Store, StoreError};
use rbuild_oci::Digest;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::BuildFacts;
use crate::graph::{CopySource, Op};
use crate::solve::SolveOutcome;

/// Earlier builds of the same Dockerfile name considered when the context directory has
/// no build of its own (it was renamed or re-cloned).
const CANDIDATES: usize = 20;
const DOCUMENT_VERSION: u32 = 1;

/// What the history keeps of one build.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct BuildDocument {
    pub version: u32,
    #[serde(default)]
    pub build_args: BTreeSet<String>,
    #[serde(default)]
    pub steps: Vec<StepDocument>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct StepDocument {
    pub position: String,
    pub name: String,
    pub key: Digest,
    pub material: Value,
    /// How long the step ran in this build (absent for cache hits and older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// An earlier build loaded for comparison.
pub(super) struct EarlierBuild {
    pub record: BuildRecord,
    pub document: BuildDocument,
}

impl EarlierBuild {
    pub fn step_at(&self, position: &str) -> Option<&StepDocument> {
        self.document.steps.iter().find(|s| s.position == position)
    }
}

impl BuildDocument {
    pub fn of(facts: &BuildFacts<'_>) -> BuildDocument {
        let steps = facts
            .graph
            .iter()
            .filter_map(|(id, vertex)| {
                let result = facts.outcome.results.get(&id)?;
                Some(StepDocument {
                    position: position(&vertex.name),
                    name: vertex.name.clone(),
                    key: result.key.clone(),
                    material: result.material.value().clone(),
                    duration_ms: result
                        .duration
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                })
            })
            .collect();
        BuildDocument {
            version: DOCUMENT_VERSION,
            build_args: facts.build_args.iter().cloned().collect(),
            steps,
        }
    }

    fn keys(&self) -> BTreeSet<&Digest> {
        self.steps.iter().map(|s| &s.key).collect()
    }
}

/// Where a vertex sits in its Dockerfile, stable when instruction text changes:
/// `[build 2/5] RUN make` → `build 2`; names without a step prefix stand for themselves.
pub(super) fn position(name: &str) -> String {
    let inside = name
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .map(|(inside, _)| inside);
    match inside {
        Some(inside) => inside
            .rsplit_once('/')
            .map_or(inside, |(head, _)| head)
            .trim()
            .to_string(),
        None => name.to_string(),
    }
}

/// Stores this build's document and the context listings it refers to.
pub(super) fn record(store: &Store, facts: &BuildFacts<'_>) -> Result<(), StoreError> {
    let document = BuildDocument::of(facts);
    let text = serde_json::to_string(&document).map_err(|e| StoreError::CorruptRecord {
        context: format!("build {}", facts.build_id),
        detail: format!("cannot encode the build document: {e}"),
    })?;
    store.history().record(&BuildRecord {
        id: facts.build_id.to_string(),
        context_dir: facts.identity.context_dir.clone(),
        dockerfile: facts.identity.dockerfile.clone(),
        created: facts.started,
        document: text,
        listings: context_digests(facts),
    })
}

/// The time the cache hits of `outcome` saved: for each, how long its step ran in the
/// build that produced it, as that build's record says (records trimmed away count 0).
pub fn cache_time_saved(store: &Store, outcome: &SolveOutcome) -> Duration {
    let mut documents: HashMap<&str, Option<BuildDocument>> = HashMap::new();
    let mut saved = Duration::ZERO;
    for result in outcome.results.values().filter(|r| r.cached) {
        let Some(build_id) = result.build_id.as_deref() else {
            continue;
        };
        let document = documents.entry(build_id).or_insert_with(|| {
            let record = store.history().get(build_id).ok().flatten()?;
            load(record).map(|earlier| earlier.document)
        });
        let ran = document
            .as_ref()
            .and_then(|d| d.steps.iter().find(|s| s.key == result.key))
            .and_then(|s| s.duration_ms);
        saved += Duration::from_millis(ran.unwrap_or(0));
    }
    saved
}

/// The selection digests of every COPY from a local context in this build.
fn context_digests(facts: &BuildFacts<'_>) -> Vec<Digest> {
    let mut digests = Vec::new();
    for (id, vertex) in facts.graph.iter() {
        let Op::Copy(copy) = &vertex.op else { continue };
        if !matches!(copy.source, CopySource::Context { .. }) {
            continue;
        }
        let Some(result) = facts.outcome.results.get(&id) else {
            continue;
        };
        if let Some(digest) = context_digest_of(result.material.value()) {
            digests.push(digest);
        }
    }
    digests
}

/// The context selection digest a COPY's key material names.
pub(super) fn context_digest_of(material: &Value) -> Option<Digest> {
    material
        .pointer("/op/source/context")?
        .as_str()?
        .parse()
        .ok()
}

/// The build to compare with: the newest of the same Dockerfile in the same context
/// directory, else the recent build of a Dockerfile of the same name that shares the most
/// steps with this one (a renamed or re-cloned context).
pub(super) fn earlier_build(
    store: &Store,
    facts: &BuildFacts<'_>,
) -> Result<Option<EarlierBuild>, StoreError> {
    let identity = facts.identity;
    if let Some(record) = store
        .history()
        .latest(&identity.context_dir, &identity.dockerfile)?
    {
        return Ok(load(record));
    }
    let current = BuildDocument::of(facts);
    let keys = current.keys();
    let positions: HashMap<&str, &str> = current
        .steps
        .iter()
        .map(|s| (s.position.as_str(), s.name.as_str()))
        .collect();
    let score = |earlier: &EarlierBuild| {
        earlier
            .document
            .steps
            .iter()
            .map(|s| {
                let same_key = usize::from(keys.contains(&s.key)) * 2;
                let same_name =
                    usize::from(positions.get(s.position.as_str()) == Some(&s.name.as_str()));
                same_key + same_name
            })
            .sum::<usize>()
    };
    let best = store
        .history()
        .recent(&identity.dockerfile, CANDIDATES)?
        .into_iter()
        .filter_map(load)
        .map(|earlier| (score(&earlier), earlier))
        .filter(|(score, _)| *score > 0)
        // `recent` is newest first; `max_by_key` keeps the last maximum, so reverse.
        .rev()
        .max_by_key(|(score, _)| *score);
    Ok(best.map(|(_, earlier)| earlier))
}

fn load(record: BuildRecord) -> Option<EarlierBuild> {
    match serde_json::from_str::<BuildDocument>(&record.document) {
        Ok(document) if document.version == DOCUMENT_VERSION => {
            Some(EarlierBuild { record, document })
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(build = %record.id, error = %e, "unreadable build record");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::position;

    #[test]
    fn positions_ignore_the_step_total_and_instruction_text() {
        assert_eq!(position("[build 2/5] RUN make"), "build 2");
        assert_eq!(position("[ 3/12] COPY . ."), "3");
        assert_eq!(position("[2/4] RUN make all"), "2");
        assert_eq!(position("scratch"), "scratch");
    }
}
