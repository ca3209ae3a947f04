//! `--progress=rawjson`: one JSON object per line on stderr, and nothing else there, for
//! tools that drive rbuild. Every object has `type` and `time` (Unix milliseconds):
//!
//! | type | other fields |
//! |---|---|
//! | `vertex.started` | `vertex` (step number), `name` |
//! | `vertex.cached` | `vertex` |
//! | `vertex.log` | `vertex`, `stream` (`stdout`/`stderr`), `data` (UTF-8, lossy) |
//! | `vertex.completed` | `vertex`, `duration_ms` |
//! | `vertex.error` | `vertex`, `error` |
//! | `notice` | `message` (what plain progress prints as a line) |
//! | `result` | `image_id`, `digest`, `platforms`, `executed` |
//! | `error` | `error` (the build's failure, as plain mode words it) |
//!
//! The stream's schema is pinned by `cli/tests/progress_rawjson.rs`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rbuild_solver::graph::VertexId;
use rbuild_solver::progress::{LogStream, ProgressEvent, ProgressSink};
use serde_json::{json, Value};

/// Set once rawjson progress is chosen: failures are then reported as `error` events.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether this run reports in rawjson (so `main` words its failure as an event).
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Writes one event line: `{"type": kind, "time": …, fields…}`.
pub fn emit(kind: &str, fields: Value) {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut event = json!({ "type": kind, "time": millis });
    if let (Some(event), Value::Object(fields)) = (event.as_object_mut(), fields) {
        event.extend(fields);
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{event}");
}

/// The rawjson renderer; step numbers as plain progress gives them.
#[derive(Default)]
pub struct RawJsonProgress {
    numbers: Mutex<HashMap<VertexId, usize>>,
}

impl RawJsonProgress {
    pub fn new() -> RawJsonProgress {
        ACTIVE.store(true, Ordering::Relaxed);
        RawJsonProgress::default()
    }

    fn number(&self, vertex: VertexId) -> usize {
        let Ok(mut numbers) = self.numbers.lock() else {
            return 0;
        };
        let next = numbers.len() + 1;
        *numbers.entry(vertex).or_insert(next)
    }
}

impl ProgressSink for RawJsonProgress {
    fn event(&self, event: ProgressEvent) {
        match event {
            ProgressEvent::Started { vertex, name } => emit(
                "vertex.started",
                json!({ "vertex": self.number(vertex), "name": name }),
            ),
            ProgressEvent::Cached { vertex } => {
                emit("vertex.cached", json!({ "vertex": self.number(vertex) }))
            }
            ProgressEvent::Log {
                vertex,
                stream,
                bytes,
            } => {
                let stream = match stream {
                    LogStream::Stdout => "stdout",
                    LogStream::Stderr => "stderr",
                };
                emit(
                    "vertex.log",
                    json!({
                        "vertex": self.number(vertex),
                        "stream": stream,
                        "data": String::from_utf8_lossy(&bytes),
                    }),
                )
            }
            ProgressEvent::Done { vertex, duration } => emit(
                "vertex.completed",
                json!({ "vertex": self.number(vertex), "duration_ms": duration.as_millis() as u64 }),
            ),
            ProgressEvent::Failed { vertex, message } => emit(
                "vertex.error",
                json!({ "vertex": self.number(vertex), "error": message }),
            ),
        }
    }
}
