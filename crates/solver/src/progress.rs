//! Progress events: what the solver tells the user interface while a build runs.
//!
//! The solver only emits events; rendering (TTY, plain lines) belongs to the CLI.

use std::time::Duration;

use crate::graph::VertexId;

/// Which output stream of a RUN step a log chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogStream {
    Stdout,
    Stderr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgressEvent {
    /// A vertex's inputs are ready and it is being looked up or run.
    Started { vertex: VertexId, name: String },
    /// The vertex's result came from the cache; nothing ran.
    Cached { vertex: VertexId },
    /// Output of a running step.
    Log {
        vertex: VertexId,
        stream: LogStream,
        bytes: Vec<u8>,
    },
    /// The vertex finished running.
    Done {
        vertex: VertexId,
        duration: Duration,
    },
    /// The vertex failed; `message` is the one-line cause.
    Failed { vertex: VertexId, message: String },
}

/// Receives progress events; called from worker threads.
pub trait ProgressSink: Send + Sync {
    fn event(&self, event: ProgressEvent);
}

/// A sink that drops everything (library use, tests).
pub struct SilentProgress;

impl ProgressSink for SilentProgress {
    fn event(&self, _event: ProgressEvent) {}
}
