//! Rendering solver progress: a live TTY view (one line per step, CACHED marks, timings)
//! and a plain line-per-event log for pipes and CI, in the spirit of BuildKit's `--progress`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rbuild_solver::graph::VertexId;
use rbuild_solver::progress::{LogStream, ProgressEvent, ProgressSink};

use crate::args::ProgressMode;

/// Picks the renderer for `mode`: `auto` is the TTY view when stdout is a terminal.
/// `tty` into a pipe falls back to plain, as buildx does; `quiet` shows nothing.
pub fn renderer(mode: ProgressMode, quiet: bool) -> Box<dyn ProgressSink> {
    if quiet {
        return Box::new(rbuild_solver::progress::SilentProgress);
    }
    let tty = match mode {
        ProgressMode::Tty => std::io::stderr().is_terminal(),
        ProgressMode::Plain => false,
        ProgressMode::Auto => std::io::stdout().is_terminal() && std::io::stderr().is_terminal(),
    };
    if tty {
        Box::new(TtyProgress::new())
    } else {
        Box::new(PlainProgress::default())
    }
}

/// `#N` numbers in order of first appearance, shared by both renderers.
#[derive(Default)]
struct StepNumbers {
    numbers: HashMap<VertexId, usize>,
    names: HashMap<VertexId, String>,
    started: HashMap<VertexId, Instant>,
}

impl StepNumbers {
    fn start(&mut self, vertex: VertexId, name: &str) -> usize {
        let next = self.numbers.len() + 1;
        self.names.insert(vertex, name.to_string());
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
                let n = state.steps.start(vertex, &name);
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

/// The live view: a spinner line per running step that turns into a final line.
pub struct TtyProgress {
    bars: MultiProgress,
    state: Mutex<TtyState>,
}

#[derive(Default)]
struct TtyState {
    steps: StepNumbers,
    lines: HashMap<VertexId, ProgressBar>,
}

impl TtyProgress {
    fn new() -> Self {
        TtyProgress {
            bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            state: Mutex::new(TtyState::default()),
        }
    }

    fn finish(state: &mut TtyState, vertex: VertexId, text: String) {
        if let Some(line) = state.lines.remove(&vertex) {
            line.set_style(
                ProgressStyle::with_template("{msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            line.finish_with_message(text);
        }
    }
}

impl ProgressSink for TtyProgress {
    fn event(&self, event: ProgressEvent) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        match event {
            ProgressEvent::Started { vertex, name } => {
                state.steps.start(vertex, &name);
                let line = self.bars.add(ProgressBar::new_spinner());
                if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
                    line.set_style(style);
                }
                line.set_message(name);
                line.enable_steady_tick(Duration::from_millis(100));
                state.lines.insert(vertex, line);
            }
            ProgressEvent::Cached { vertex } => {
                let name = state.steps.names.get(&vertex).cloned().unwrap_or_default();
                Self::finish(&mut state, vertex, format!(" => CACHED {name}"));
            }
            ProgressEvent::Log { vertex, bytes, .. } => {
                if let (Some(line), Some(name)) =
                    (state.lines.get(&vertex), state.steps.names.get(&vertex))
                {
                    let text = String::from_utf8_lossy(&bytes);
                    if let Some(last) = text.lines().rev().find(|l| !l.trim().is_empty()) {
                        line.set_message(format!("{name}  {}", last.trim()));
                    }
                }
            }
            ProgressEvent::Done { vertex, duration } => {
                let name = state.steps.names.get(&vertex).cloned().unwrap_or_default();
                let text = format!(" => {name} {:.1}s", duration.as_secs_f64());
                Self::finish(&mut state, vertex, text);
            }
            ProgressEvent::Failed { vertex, message } => {
                let name = state.steps.names.get(&vertex).cloned().unwrap_or_default();
                Self::finish(&mut state, vertex, format!(" => ERROR {name}: {message}"));
            }
        }
    }
}
