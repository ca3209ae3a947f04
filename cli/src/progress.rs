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
use crate::progress_json::RawJsonProgress;

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
        Box::new(TtyProgress::new())
    } else {
        Box::new(PlainProgress::default())
    }
}

/// A progress renderer that also closes the build's view when it ends.
pub trait BuildView: ProgressSink {
    /// Called once when the build has ended (`succeeded` or not).
    fn finished(&self, _succeeded: bool) {}
}

/// `-q`: nothing but the image id on stdout.
struct QuietProgress;

impl ProgressSink for QuietProgress {
    fn event(&self, _event: ProgressEvent) {}
}

impl BuildView for QuietProgress {}
impl BuildView for PlainProgress {}
impl BuildView for RawJsonProgress {}

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
    began: Instant,
}

#[derive(Default)]
struct TtyState {
    steps: StepNumbers,
    lines: HashMap<VertexId, ProgressBar>,
    ran: usize,
    cached: usize,
}

impl TtyProgress {
    fn new() -> Self {
        TtyProgress {
            bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            state: Mutex::new(TtyState::default()),
            began: Instant::now(),
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
                // wide_msg: the step's last output line is cut to the terminal's width.
                if let Ok(style) = ProgressStyle::with_template("{spinner} {wide_msg} {elapsed}") {
                    line.set_style(style);
                }
                line.set_message(name);
                line.enable_steady_tick(Duration::from_millis(100));
                state.lines.insert(vertex, line);
            }
            ProgressEvent::Cached { vertex } => {
                let name = state.steps.names.get(&vertex).cloned().unwrap_or_default();
                state.cached += 1;
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
                state.ran += 1;
                Self::finish(&mut state, vertex, text);
            }
            ProgressEvent::Failed { vertex, message } => {
                let name = state.steps.names.get(&vertex).cloned().unwrap_or_default();
                Self::finish(&mut state, vertex, format!(" => ERROR {name}: {message}"));
            }
        }
    }
}

impl BuildView for TtyProgress {
    /// BuildKit's closing line: `[+] Building 3.2s (9/9) FINISHED`, and what ran.
    fn finished(&self, succeeded: bool) {
        let Ok(state) = self.state.lock() else {
            return;
        };
        let _ = self.bars.clear();
        let total = state.steps.numbers.len();
        let _ = self.bars.println(summary_line(
            self.began.elapsed(),
            state.ran + state.cached,
            total,
            succeeded,
        ));
        let _ = self.bars.println(format!(
            " => {} steps ran, {} cached",
            state.ran, state.cached
        ));
    }
}

fn summary_line(elapsed: Duration, finished: usize, total: usize, succeeded: bool) -> String {
    let verdict = if succeeded { "FINISHED" } else { "FAILED" };
    format!(
        "[+] Building {:.1}s ({finished}/{total}) {verdict}",
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::summary_line;
    use std::time::Duration;

    #[test]
    fn the_summary_reads_like_buildkits() {
        assert_eq!(
            summary_line(Duration::from_millis(3_210), 9, 9, true),
            "[+] Building 3.2s (9/9) FINISHED"
        );
        assert_eq!(
            summary_line(Duration::from_millis(500), 2, 5, false),
            "[+] Building 0.5s (2/5) FAILED"
        );
    }
}
