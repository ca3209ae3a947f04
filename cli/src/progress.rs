//! Rendering solver progress: picks the live TTY view (`tty_view`) or the plain
//! line-per-event log for pipes and CI (here), in the spirit of BuildKit's `--progress`,
//! and says how a view is told that the build ended.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rbuild_solver::graph::VertexId;
use rbuild_solver::progress::{LogStream, ProgressEvent, ProgressSink};

use crate::args::ProgressMode;
use crate::progress_json::RawJsonProgress;
use crate::tty_view::TtyView;

/// Picks the renderer for `mode`: `auto` is the TTY view when stdout is a terminal.
/// `tty` into a pipe falls back to plain, as buildx does; `quiet` shows nothing.
pub fn renderer(mode: ProgressMode, quiet: bool) -> Box<dyn BuildView> {
    if quiet {
        return Box::new(QuietProgress);
    }
    let tty = match mode {
        ProgressMode::Rawjson => return Box::new(RawJsonProgress::new()),
        ProgressMode::Tty => std::io::stderr().is_terminal(),
        ProgressMode::Plain => false,
        ProgressMode::Auto => std::io::stdout().is_terminal() && std::io::stderr().is_terminal(),
    };
    if tty {
        Box::new(TtyView::on_stderr())
    } else {
        Box::new(PlainProgress::default())
    }
}

/// A progress renderer that also closes the build's view when it ends.
pub trait BuildView: ProgressSink {
    /// Called once when the build has ended.
    fn finished(&self, _ending: BuildEnding, _summary: &BuildSummary) {}
}

/// How a build ended, as the view's last header says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildEnding {
    Finished,
    Failed,
    /// Stopped by Ctrl-C or SIGTERM.
    Canceled,
}

impl BuildEnding {
    pub fn word(self) -> &'static str {
        match self {
            BuildEnding::Finished => "FINISHED",
            BuildEnding::Failed => "FAILED",
            BuildEnding::Canceled => "CANCELED",
        }
    }
}

/// What the closing summary tells besides the steps: bytes written to outputs, and the
/// time the cached steps took when they ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildSummary {
    pub exported_bytes: u64,
    pub cache_saved: Duration,
}

/// `-q`: nothing but the image id on stdout.
struct QuietProgress;

impl ProgressSink for QuietProgress {
    fn event(&self, _event: ProgressEvent) {}
}

impl BuildView for QuietProgress {}
impl BuildView for PlainProgress {}
impl BuildView for RawJsonProgress {}

/// `#N` numbers in order of first appearance.
#[derive(Default)]
struct StepNumbers {
    numbers: HashMap<VertexId, usize>,
    started: HashMap<VertexId, Instant>,
}

impl StepNumbers {
    fn start(&mut self, vertex: VertexId) -> usize {
        let next = self.numbers.len() + 1;
        self.started.insert(vertex, Instant::now());
        *self.numbers.entry(vertex).or_insert(next)
    }

    fn number(&self, vertex: VertexId) -> usize {
        self.numbers.get(&vertex).copied().unwrap_or(0)
    }

    fn elapsed(&self, vertex: VertexId) -> Duration {
        self.started
            .get(&vertex)
            .map(Instant::elapsed)
            .unwrap_or_default()
    }
}

/// One line per event on stderr, e.g. `#3 [2/4] RUN make`, `#3 0.512 compiling`, `#3 DONE 1.2s`.
#[derive(Default)]
pub struct PlainProgress {
    state: Mutex<PlainState>,
}

#[derive(Default)]
struct PlainState {
    steps: StepNumbers,
    /// Output after the last newline, per step and stream (stdout and stderr arrive
    /// through separate pipes, so their bytes must not be joined into one line).
    partial_lines: HashMap<(VertexId, LogStream), Vec<u8>>,
}

impl PlainState {
    /// Prints what the step wrote after its last newline (a step's output is never clipped)
    /// and returns the step's number.
    fn finish_output(&mut self, vertex: VertexId, out: &mut impl Write) -> usize {
        let n = self.steps.number(vertex);
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            if let Some(rest) = self.partial_lines.remove(&(vertex, stream)) {
                if !rest.is_empty() {
                    let _ = writeln!(out, "#{n} {}", String::from_utf8_lossy(&rest));
                }
            }
        }
        n
    }
}

impl ProgressSink for PlainProgress {
    fn event(&self, event: ProgressEvent) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let mut out = std::io::stderr().lock();
        let _ = match event {
            ProgressEvent::Started { vertex, name } => {
                let n = state.steps.start(vertex);
                writeln!(out, "#{n} {name}")
            }
            ProgressEvent::Cached { vertex } => {
                writeln!(out, "#{} CACHED", state.steps.number(vertex))
            }
            ProgressEvent::Log {
                vertex,
                stream,
                bytes,
            } => {
                let n = state.steps.number(vertex);
                let elapsed = state.steps.elapsed(vertex).as_secs_f64();
                let pending = state.partial_lines.entry((vertex, stream)).or_default();
                pending.extend_from_slice(&bytes);
                let mut result = Ok(());
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]);
                    result = writeln!(out, "#{n} {elapsed:.3} {text}");
                }
                result
            }
            ProgressEvent::Done { vertex, duration } => {
                let n = state.finish_output(vertex, &mut out);
                writeln!(out, "#{n} DONE {:.1}s", duration.as_secs_f64())
            }
            ProgressEvent::Failed { vertex, message } => {
                let n = state.finish_output(vertex, &mut out);
                writeln!(out, "#{n} ERROR: {message}")
            }
        };
    }
}
