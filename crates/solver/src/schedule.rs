//! The scheduling loop: walks the vertices the targets need in dependency order, hands each
//! one whose inputs are done to a worker thread (at most `max_parallel` at once), stops
//! handing out work at the first failure or on cancellation, and waits for running workers
//! before it returns.
//!
//! What solving one vertex means (keys, cache lookups, execution) is the caller's
//! `VertexJob`; this module knows only the graph's shape.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc;

use crate::error::StepFailure;
use crate::graph::{BuildGraph, VertexId};
use crate::solve::VertexResult;

/// Solving one vertex, as the scheduler sees it. Called from worker threads.
pub(crate) trait VertexJob: Sync {
    /// Solves `vertex`; `inputs` holds the result of every input vertex.
    fn solve_vertex(
        &self,
        vertex: VertexId,
        inputs: &HashMap<VertexId, VertexResult>,
    ) -> Result<VertexResult, StepFailure>;
    /// True once no new vertex may start.
    fn cancelled(&self) -> bool;
    /// Told about each failed vertex as it fails.
    fn failed(&self, vertex: VertexId, cause: &StepFailure);
}

/// Every vertex the targets need, solved; or the first vertex that failed and why.
pub(crate) fn run_graph(
    graph: &BuildGraph,
    targets: &[VertexId],
    max_parallel: usize,
    job: &dyn VertexJob,
) -> Result<HashMap<VertexId, VertexResult>, (VertexId, StepFailure)> {
    let mut plan = Plan::new(graph, targets);
    let mut results: HashMap<VertexId, VertexResult> = HashMap::new();
    let mut failure: Option<(VertexId, StepFailure)> = None;
    let (sender, receiver) = mpsc::channel::<(VertexId, Result<VertexResult, StepFailure>)>();
    std::thread::scope(|scope| {
        let mut running = 0usize;
        loop {
            while failure.is_none() && !job.cancelled() && running < max_parallel.max(1) {
                let Some(v) = plan.ready.pop_front() else {
                    break;
                };
                let inputs = input_results(graph, v, &results);
                let sender = sender.clone();
                scope.spawn(move || {
                    let result = job.solve_vertex(v, &inputs);
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
                    plan.completed(v);
                }
                Err(cause) => {
                    job.failed(v, &cause);
                    failure.get_or_insert((v, cause));
                }
            }
        }
    });
    match failure {
        Some(failure) => Err(failure),
        None => Ok(results),
    }
}

/// Which vertices wait on how many inputs, and which are ready to run.
struct Plan {
    waiting_on: HashMap<VertexId, usize>,
    dependents: HashMap<VertexId, Vec<VertexId>>,
    ready: VecDeque<VertexId>,
}

impl Plan {
    fn new(graph: &BuildGraph, targets: &[VertexId]) -> Plan {
        let mut plan = Plan {
            waiting_on: HashMap::new(),
            dependents: HashMap::new(),
            ready: VecDeque::new(),
        };
        for v in graph.reachable_from_all(targets) {
            let mut inputs = graph.vertex(v).op.inputs();
            inputs.sort();
            inputs.dedup();
            for input in &inputs {
                plan.dependents.entry(*input).or_default().push(v);
            }
            plan.waiting_on.insert(v, inputs.len());
            if inputs.is_empty() {
                plan.ready.push_back(v);
            }
        }
        plan
    }

    fn completed(&mut self, v: VertexId) {
        for &d in self.dependents.get(&v).into_iter().flatten() {
            let count = self.waiting_on.entry(d).or_default();
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.ready.push_back(d);
            }
        }
    }
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
