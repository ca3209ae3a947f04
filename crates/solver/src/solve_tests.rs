//! The scheduler's behaviour through the `StepExecutor` seam: no sandbox, no root. Each test
//! executor commits a real one-file layer to a temporary store, so keys, cache records and
//! chains are the real ones; only what a step does is simplified.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rbuild_cache::{SnapshotChain, Store};

use crate::error::StepFailure;
use crate::execute::{Step, StepExecutor};
use crate::graph::{BuildGraph, MkdirOp, Op, Vertex, VertexId};
use crate::mounts::RunEnvironment;
use crate::progress::SilentProgress;
use crate::{BuildContexts, SolveOptions, Solver};

/// Writes one file named after the vertex's path; sleeps, fails or cancels on request.
#[derive(Default)]
struct ScriptedExecutor {
    running: AtomicUsize,
    most_running: AtomicUsize,
    executed: Mutex<Vec<String>>,
    pause: Duration,
    fail_on: Option<&'static str>,
    cancel_after_first: Option<RunEnvironment>,
}

impl StepExecutor for ScriptedExecutor {
    fn execute(
        &self,
        solver: &Solver<'_>,
        step: Step<'_, '_>,
    ) -> Result<SnapshotChain, StepFailure> {
        let Op::Mkdir(mkdir) = step.op else {
            unreachable!("the test graphs hold only mkdir steps");
        };
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_running.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(self.pause);
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.executed.lock().unwrap().push(mkdir.path.clone());
        if let Some(env) = &self.cancel_after_first {
            env.cancel.cancel_because("SIGINT");
        }
        if self.fail_on == Some(mkdir.path.as_str()) {
            return Err(StepFailure::Interrupted { reason: None });
        }
        let layers = solver.store().layers();
        let upper = layers.new_upper()?;
        std::fs::write(upper.upper().join(mkdir.path.trim_start_matches('/')), b"x").unwrap();
        Ok(layers.commit(&step.inputs[&mkdir.parent].chain, upper, None)?)
    }
}

impl ScriptedExecutor {
    fn executed(&self) -> Vec<String> {
        let mut executed = self.executed.lock().unwrap().clone();
        executed.sort();
        executed
    }
}

/// `scratch` and one mkdir per entry: `(parent index, name)`.
fn graph(steps: &[(usize, &str)]) -> BuildGraph {
    let mut graph = BuildGraph::new();
    let vertex = |op| Vertex {
        op,
        name: String::new(),
        location: None,
    };
    graph.add(vertex(Op::Scratch)).unwrap();
    for (parent, name) in steps {
        let op = Op::Mkdir(MkdirOp {
            parent: VertexId(*parent),
            path: format!("/{name}"),
            mode: 0o755,
            owner: None,
        });
        graph.add(vertex(op)).unwrap();
    }
    graph
}

fn options(max_parallel: usize, no_cache: bool) -> SolveOptions {
    SolveOptions {
        no_cache,
        epoch: None,
        max_parallel,
        build_id: "test".into(),
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    (dir, store)
}

fn contexts() -> BuildContexts {
    BuildContexts::new(std::env::temp_dir())
}

const SIX_INDEPENDENT: [(usize, &str); 6] =
    [(0, "a"), (0, "b"), (0, "c"), (0, "d"), (0, "e"), (0, "f")];

#[test]
fn independent_steps_run_in_parallel_up_to_the_bound() {
    let (_dir, store) = store();
    let graph = graph(&SIX_INDEPENDENT);
    let targets: Vec<VertexId> = (1..=6).map(VertexId).collect();
    let executor = ScriptedExecutor {
        pause: Duration::from_millis(100),
        ..ScriptedExecutor::default()
    };
    let contexts = contexts();
    let solver =
        Solver::new(&store, &contexts, options(2, false), &SilentProgress).with_executor(&executor);
    let results = solver.solve_all(&graph, &targets).unwrap();
    assert_eq!(results.len(), 7);
    assert_eq!(executor.executed().len(), 6);
    assert_eq!(executor.most_running.load(Ordering::SeqCst), 2);
}

#[test]
fn a_chain_runs_one_step_at_a_time_in_order() {
    let (_dir, store) = store();
    let graph = graph(&[(0, "a"), (1, "b"), (2, "c")]);
    let executor = ScriptedExecutor::default();
    let contexts = contexts();
    let solver =
        Solver::new(&store, &contexts, options(8, false), &SilentProgress).with_executor(&executor);
    let outcome = solver.solve(&graph, VertexId(3)).unwrap();
    assert_eq!(outcome.target.chain.layers.len(), 3);
    assert_eq!(*executor.executed.lock().unwrap(), ["/a", "/b", "/c"]);
    assert_eq!(executor.most_running.load(Ordering::SeqCst), 1);
}

#[test]
fn the_first_failure_stops_new_work_and_names_the_step() {
    let (_dir, store) = store();
    // b fails; c and d depend on it and must never start.
    let graph = graph(&[(0, "a"), (1, "b"), (2, "c"), (3, "d")]);
    let executor = ScriptedExecutor {
        fail_on: Some("/b"),
        ..ScriptedExecutor::default()
    };
    let contexts = contexts();
    let solver =
        Solver::new(&store, &contexts, options(4, false), &SilentProgress).with_executor(&executor);
    let error = solver.solve(&graph, VertexId(4)).unwrap_err();
    assert_eq!(error.vertex, Some(VertexId(2)));
    assert_eq!(executor.executed(), ["/a", "/b"]);
}

#[test]
fn cancellation_starts_nothing_new() {
    let (_dir, store) = store();
    let graph = graph(&SIX_INDEPENDENT);
    let targets: Vec<VertexId> = (1..=6).map(VertexId).collect();
    let env = RunEnvironment::new().unwrap();
    let executor = ScriptedExecutor {
        cancel_after_first: Some(RunEnvironment {
            cancel: env.cancel.clone(),
            ..RunEnvironment::new().unwrap()
        }),
        ..ScriptedExecutor::default()
    };
    let contexts = contexts();
    let solver = Solver::new(&store, &contexts, options(1, false), &SilentProgress)
        .with_run_environment(env)
        .with_executor(&executor);
    let error = solver.solve_all(&graph, &targets).unwrap_err();
    assert!(
        matches!(&*error.cause, StepFailure::Interrupted { reason: Some(r) } if r == "SIGINT"),
        "{error}"
    );
    assert_eq!(error.to_string(), "interrupted by SIGINT");
    assert_eq!(executor.executed().len(), 1);
}

#[test]
fn a_rebuild_hits_the_cache_unless_no_cache_is_given() {
    let (_dir, store) = store();
    let graph = graph(&[(0, "a"), (1, "b")]);
    let contexts = contexts();
    let run = |no_cache: bool| {
        let executor = ScriptedExecutor::default();
        let solver = Solver::new(&store, &contexts, options(4, no_cache), &SilentProgress)
            .with_executor(&executor);
        let outcome = solver.solve(&graph, VertexId(2)).unwrap();
        (
            executor.executed().len(),
            outcome.executed(),
            outcome.target,
        )
    };
    let (ran_first, _, first) = run(false);
    let (ran_again, executed_again, again) = run(false);
    let (ran_uncached, _, uncached) = run(true);
    assert_eq!((ran_first, ran_again, ran_uncached), (2, 0, 2));
    assert_eq!(executed_again, 0);
    assert!(again.cached && !uncached.cached);
    assert_eq!(first.key, again.key);
    assert_eq!(first.chain, uncached.chain);
}

#[test]
fn a_vertex_two_targets_share_runs_once() {
    let (_dir, store) = store();
    let graph = graph(&[(0, "shared"), (1, "amd64"), (1, "arm64")]);
    let executor = ScriptedExecutor::default();
    let contexts = contexts();
    let solver =
        Solver::new(&store, &contexts, options(4, false), &SilentProgress).with_executor(&executor);
    solver
        .solve_all(&graph, &[VertexId(2), VertexId(3)])
        .unwrap();
    assert_eq!(executor.executed(), ["/amd64", "/arm64", "/shared"]);
}
