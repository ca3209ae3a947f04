//! Full logs of every step, kept with the store for `rbuild logs`: each build writes
//! `<root>/logs/<build>/` — `steps` (one `N<TAB>name` line per step in start order), `N.log`
//! (everything step N printed, at most `STEP_LOG_LIMIT` bytes, then a truncation marker)
//! and `status` (`FINISHED`, `FAILED`, `CANCELED`). The newest `KEEP_BUILDS` builds are kept.
//!
//! The recorder passes every event on to the view it wraps; reading logs back is
//! `logs_cmd`'s. Failing to record never fails a build (the logs are a convenience).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rbuild_solver::graph::VertexId;
use rbuild_solver::progress::{ProgressEvent, ProgressSink};

use crate::progress::{BuildEnding, BuildSummary, BuildView};

/// Bytes of one step's output kept.
pub const STEP_LOG_LIMIT: u64 = 4 << 20;
/// Builds whose logs are kept.
const KEEP_BUILDS: usize = 50;
/// Written once where a step's log was cut.
pub const TRUNCATION_MARKER: &str = "\n[rbuild: log truncated at 4 MiB]\n";

/// Where a store keeps build logs.
pub fn logs_root(store_root: &Path) -> PathBuf {
    store_root.join("logs")
}

/// A view that also writes each step's output to the build's log directory.
pub struct StepLogRecorder {
    view: Box<dyn BuildView>,
    dir: Option<PathBuf>,
    state: Mutex<Recording>,
}

#[derive(Default)]
struct Recording {
    steps: HashMap<VertexId, StepLog>,
}

struct StepLog {
    file: Option<File>,
    written: u64,
}

impl StepLogRecorder {
    /// Records into a new directory under `store_root` (none when it cannot be made).
    pub fn new(store_root: &Path, view: Box<dyn BuildView>) -> StepLogRecorder {
        let root = logs_root(store_root);
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // Zero-padded seconds first: names sort by time.
        let dir = root.join(format!("{seconds:012}-{}", std::process::id()));
        let dir = fs::create_dir_all(&dir).ok().map(|()| dir);
        if dir.is_some() {
            trim(&root);
        }
        StepLogRecorder {
            view,
            dir,
            state: Mutex::new(Recording::default()),
        }
    }

    fn record(&self, event: &ProgressEvent) {
        let (Some(dir), Ok(mut state)) = (&self.dir, self.state.lock()) else {
            return;
        };
        match event {
            ProgressEvent::Started { vertex, name } => {
                let number = state.steps.len() + 1;
                let _ = append(&dir.join("steps"), format!("{number}\t{name}\n").as_bytes());
                let file = File::create(dir.join(format!("{number}.log"))).ok();
                state.steps.insert(*vertex, StepLog { file, written: 0 });
            }
            ProgressEvent::Log { vertex, bytes, .. } => {
                if let Some(step) = state.steps.get_mut(vertex) {
                    step.write(bytes);
                }
            }
            _ => {}
        }
    }
}

impl StepLog {
    fn write(&mut self, bytes: &[u8]) {
        let Some(file) = &mut self.file else {
            return;
        };
        let room = STEP_LOG_LIMIT.saturating_sub(self.written);
        let kept = &bytes[..bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX))];
        let _ = file.write_all(kept);
        self.written += kept.len() as u64;
        if kept.len() < bytes.len() {
            let _ = file.write_all(TRUNCATION_MARKER.as_bytes());
            self.file = None;
        }
    }
}

impl ProgressSink for StepLogRecorder {
    fn event(&self, event: ProgressEvent) {
        self.record(&event);
        self.view.event(event);
    }
}

impl BuildView for StepLogRecorder {
    fn finished(&self, ending: BuildEnding, summary: &BuildSummary) {
        if let Some(dir) = &self.dir {
            let _ = fs::write(dir.join("status"), ending.word());
        }
        self.view.finished(ending, summary);
    }
}

fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(bytes)
}

/// The build log directories under `root`, newest first.
pub fn builds(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.retain(|d| d.is_dir());
    dirs.sort();
    dirs.reverse();
    dirs
}

/// Removes all but the newest `KEEP_BUILDS` builds' logs.
fn trim(root: &Path) {
    for old in builds(root).into_iter().skip(KEEP_BUILDS) {
        let _ = fs::remove_dir_all(old);
    }
}
