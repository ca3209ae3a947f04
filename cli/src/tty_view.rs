//! The live TTY view of a build, drawn as BuildKit draws it: a `[+] Building 1.2s (3/9)`
//! header, a line per step (`=> CACHED [1/3] FROM …`, `=> [2/3] RUN make  1.2s`), and under
//! a running step the last lines of its output (`=> => # …`), every line cut to the
//! terminal's width. The live area is redrawn in place (cursor up, clear to the end of the
//! screen); when the build ends — finished, failed or cancelled by Ctrl-C — it is replaced
//! by the whole step list and a summary, so the screen is left clean.
//!
//! The terminal (writer, size) and the clock are given to the view, so tests draw it into a
//! fixed-size in-memory terminal with a made-up clock. Choosing this view over plain
//! progress is `progress`'s job.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rbuild_solver::graph::VertexId;
use rbuild_solver::progress::{LogStream, ProgressEvent, ProgressSink};

use crate::progress::{BuildEnding, BuildSummary, BuildView};

/// Output lines kept and shown under a running step.
const LOG_LINES: usize = 6;
/// Live redraws happen at most this often (a step may print thousands of lines a second).
const REDRAW_INTERVAL: Duration = Duration::from_millis(100);

/// The terminal a view draws on: where bytes go, and its size (rows, columns).
pub struct Terminal {
    pub out: Box<dyn Write + Send>,
    pub size: Box<dyn Fn() -> (u16, u16) + Send + Sync>,
}

/// Time since the build began.
pub type Clock = Box<dyn Fn() -> Duration + Send + Sync>;

/// The view; `finished` draws its final form.
pub struct TtyView {
    inner: Arc<Inner>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    state: Mutex<ViewState>,
    clock: Clock,
    /// Minimum time between redraws caused by events.
    interval: Duration,
    stopped: AtomicBool,
}

struct ViewState {
    terminal: Terminal,
    steps: Vec<Step>,
    by_vertex: HashMap<VertexId, usize>,
    /// Lines the live area holds on screen now (to move up over when redrawing).
    drawn: usize,
    last_draw: Option<Duration>,
    ended: bool,
}

struct Step {
    name: String,
    status: Status,
    log: VecDeque<String>,
    /// Output after the last newline, per stream.
    partial: HashMap<LogStream, Vec<u8>>,
}

enum Status {
    Running { since: Duration },
    Cached,
    Done(Duration),
    Failed,
}

impl TtyView {
    /// The view on stderr, with the wall clock and a ticker that keeps the timers moving.
    pub fn on_stderr() -> TtyView {
        let began = Instant::now();
        let terminal = Terminal {
            out: Box::new(std::io::stderr()),
            size: Box::new(|| console::Term::stderr().size()),
        };
        let view = TtyView::new(terminal, Box::new(move || began.elapsed()), REDRAW_INTERVAL);
        let inner = Arc::clone(&view.inner);
        let ticker = std::thread::Builder::new()
            .name("rbuild-tty".into())
            .spawn(move || {
                while !inner.stopped.load(Ordering::SeqCst) {
                    std::thread::sleep(REDRAW_INTERVAL);
                    inner.draw_live(true);
                }
            })
            .ok();
        if let Ok(mut slot) = view.ticker.lock() {
            *slot = ticker;
        }
        view
    }

    /// A view on `terminal` with `clock`, redrawing at most every `interval` on events
    /// (zero: on every event) and never on its own.
    pub fn new(terminal: Terminal, clock: Clock, interval: Duration) -> TtyView {
        TtyView {
            inner: Arc::new(Inner {
                state: Mutex::new(ViewState {
                    terminal,
                    steps: Vec::new(),
                    by_vertex: HashMap::new(),
                    drawn: 0,
                    last_draw: None,
                    ended: false,
                }),
                clock,
                interval,
                stopped: AtomicBool::new(false),
            }),
            ticker: Mutex::new(None),
        }
    }

    fn stop_ticker(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        let handle = self.ticker.lock().ok().and_then(|mut slot| slot.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl Drop for TtyView {
    fn drop(&mut self) {
        self.stop_ticker();
    }
}

impl ProgressSink for TtyView {
    fn event(&self, event: ProgressEvent) {
        let now = (self.inner.clock)();
        if let Ok(mut state) = self.inner.state.lock() {
            state.apply(event, now);
        }
        self.inner.draw_live(false);
    }
}

impl BuildView for TtyView {
    fn finished(&self, ending: BuildEnding, summary: &BuildSummary) {
        self.stop_ticker();
        let now = (self.inner.clock)();
        let Ok(mut state) = self.inner.state.lock() else {
            return;
        };
        let (_, width) = (state.terminal.size)();
        let mut lines = vec![state.header(now, Some(ending))];
        lines.extend(state.steps.iter().map(|s| s.line(now, width)));
        lines.push(summary_line(&state.steps, summary));
        state.redraw(&lines, width);
        state.drawn = 0;
        state.ended = true;
    }
}

impl Inner {
    /// Redraws the live area, unless one was drawn less than `interval` ago (`tick`: the
    /// ticker's periodic redraw, which always draws).
    fn draw_live(&self, tick: bool) {
        let now = (self.clock)();
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.ended {
            return;
        }
        let recent = state
            .last_draw
            .is_some_and(|last| now.saturating_sub(last) < self.interval);
        if recent && !tick {
            return;
        }
        let (rows, width) = (state.terminal.size)();
        let lines = state.live_lines(now, rows, width);
        state.redraw(&lines, width);
        state.last_draw = Some(now);
    }
}

impl ViewState {
    fn apply(&mut self, event: ProgressEvent, now: Duration) {
        match event {
            ProgressEvent::Started { vertex, name } => {
                self.by_vertex.insert(vertex, self.steps.len());
                self.steps.push(Step {
                    name,
                    status: Status::Running { since: now },
                    log: VecDeque::new(),
                    partial: HashMap::new(),
                });
            }
            ProgressEvent::Cached { vertex } => self.set_status(vertex, Status::Cached),
            ProgressEvent::Done { vertex, duration } => {
                self.set_status(vertex, Status::Done(duration))
            }
            ProgressEvent::Failed { vertex, .. } => self.set_status(vertex, Status::Failed),
            ProgressEvent::Log {
                vertex,
                stream,
                bytes,
            } => {
                if let Some(step) = self.step_mut(vertex) {
                    step.add_output(stream, &bytes);
                }
            }
        }
    }

    fn step_mut(&mut self, vertex: VertexId) -> Option<&mut Step> {
        let index = *self.by_vertex.get(&vertex)?;
        self.steps.get_mut(index)
    }

    fn set_status(&mut self, vertex: VertexId, status: Status) {
        if let Some(step) = self.step_mut(vertex) {
            step.status = status;
        }
    }

    fn header(&self, now: Duration, ending: Option<BuildEnding>) -> String {
        let finished = self
            .steps
            .iter()
            .filter(|s| !matches!(s.status, Status::Running { .. }))
            .count();
        let mut header = format!(
            "[+] Building {:.1}s ({finished}/{})",
            now.as_secs_f64(),
            self.steps.len()
        );
        if let Some(ending) = ending {
            header.push(' ');
            header.push_str(ending.word());
        }
        header
    }

    /// The header, every step and the output of running ones; when that is taller than the
    /// terminal, the header and the newest lines that fit.
    fn live_lines(&self, now: Duration, rows: u16, width: u16) -> Vec<String> {
        let mut body = Vec::new();
        for step in &self.steps {
            body.push(step.line(now, width));
            if matches!(step.status, Status::Running { .. }) {
                body.extend(step.log.iter().map(|l| format!(" => => # {l}")));
            }
        }
        let room = usize::from(rows).saturating_sub(2).max(1);
        let skip = body.len().saturating_sub(room);
        let mut lines = vec![self.header(now, None)];
        lines.extend(body.into_iter().skip(skip));
        lines
    }

    /// Replaces the lines drawn last with `lines`, each cut to `width`.
    fn redraw(&mut self, lines: &[String], width: u16) {
        let mut frame = String::new();
        if self.drawn > 0 {
            frame.push_str(&format!("\r\x1b[{}A", self.drawn));
        }
        frame.push_str("\x1b[J");
        let width = usize::from(width).saturating_sub(1).max(10);
        for line in lines {
            frame.push_str(&console::truncate_str(line, width, ""));
            // CR too: the terminal may not be translating newlines (raw mode, a recorder).
            frame.push_str("\r\n");
        }
        let out = &mut self.terminal.out;
        let _ = out.write_all(frame.as_bytes()).and_then(|()| out.flush());
        self.drawn = lines.len();
    }
}

impl Step {
    /// ` => [2/3] RUN make` with its time at the right edge.
    fn line(&self, now: Duration, width: u16) -> String {
        let (label, time) = match self.status {
            Status::Running { since } => ("", Some(now.saturating_sub(since))),
            Status::Cached => ("CACHED ", Some(Duration::ZERO)),
            Status::Done(duration) => ("", Some(duration)),
            Status::Failed => ("ERROR ", None),
        };
        let left = format!(" => {label}{}", self.name);
        let Some(time) = time else {
            return left;
        };
        let time = format!("{:.1}s", time.as_secs_f64());
        let room = usize::from(width)
            .saturating_sub(1)
            .saturating_sub(time.len() + 1);
        let left = console::truncate_str(&left, room, "");
        let pad = room.saturating_sub(console::measure_text_width(&left));
        format!("{left}{} {time}", " ".repeat(pad))
    }

    fn add_output(&mut self, stream: LogStream, bytes: &[u8]) {
        let pending = self.partial.entry(stream).or_default();
        pending.extend_from_slice(bytes);
        let mut complete = Vec::new();
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            complete.push(printable(&line[..line.len() - 1]));
        }
        for line in complete {
            if self.log.len() == LOG_LINES {
                self.log.pop_front();
            }
            self.log.push_back(line);
        }
    }
}

/// A line of output as one screen line: what follows its last carriage return, without
/// control characters (escape sequences would move the cursor under the view).
fn printable(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let shown = text.rsplit('\r').next().unwrap_or_default();
    shown
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect()
}

/// ` => 2 steps ran, 3 cached (the cache saved 4.1s), exported 1.2MB`.
fn summary_line(steps: &[Step], summary: &BuildSummary) -> String {
    let ran = steps
        .iter()
        .filter(|s| matches!(s.status, Status::Done(_)))
        .count();
    let cached = steps
        .iter()
        .filter(|s| matches!(s.status, Status::Cached))
        .count();
    let mut line = format!(" => {ran} steps ran, {cached} cached");
    if !summary.cache_saved.is_zero() {
        line.push_str(&format!(
            " (the cache saved {:.1}s)",
            summary.cache_saved.as_secs_f64()
        ));
    }
    if summary.exported_bytes > 0 {
        line.push_str(&format!(
            ", exported {}",
            crate::images::human_size(summary.exported_bytes)
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    //! The view drawn into a fixed-size in-memory terminal (`vt100` interprets the escape
    //! sequences into a screen) from a synthetic event sequence with a made-up clock, so
    //! the snapshots are stable.

    use std::sync::atomic::AtomicU64;

    use super::*;

    const ROWS: u16 = 16;
    const COLS: u16 = 60;

    /// Bytes written to the view's terminal.
    #[derive(Clone, Default)]
    struct Screen(Arc<Mutex<Vec<u8>>>);

    impl Write for Screen {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("screen").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct Harness {
        view: TtyView,
        screen: Screen,
        millis: Arc<AtomicU64>,
        next_vertex: usize,
    }

    impl Harness {
        fn new() -> Harness {
            let screen = Screen::default();
            let millis = Arc::new(AtomicU64::new(0));
            let clock_millis = Arc::clone(&millis);
            let terminal = Terminal {
                out: Box::new(screen.clone()),
                size: Box::new(|| (ROWS, COLS)),
            };
            let clock: Clock =
                Box::new(move || Duration::from_millis(clock_millis.load(Ordering::SeqCst)));
            Harness {
                view: TtyView::new(terminal, clock, Duration::ZERO),
                screen,
                millis,
                next_vertex: 0,
            }
        }

        fn at(&self, millis: u64) {
            self.millis.store(millis, Ordering::SeqCst);
        }

        fn start(&mut self, name: &str) -> VertexId {
            let vertex = VertexId(self.next_vertex);
            self.next_vertex += 1;
            self.view.event(ProgressEvent::Started {
                vertex,
                name: name.to_string(),
            });
            vertex
        }

        fn log(&self, vertex: VertexId, text: &str) {
            self.view.event(ProgressEvent::Log {
                vertex,
                stream: LogStream::Stdout,
                bytes: text.as_bytes().to_vec(),
            });
        }

        fn done(&self, vertex: VertexId, millis: u64) {
            self.view.event(ProgressEvent::Done {
                vertex,
                duration: Duration::from_millis(millis),
            });
        }

        fn cached(&mut self, name: &str) {
            let vertex = self.start(name);
            self.view.event(ProgressEvent::Cached { vertex });
        }

        /// The screen as the terminal shows it now.
        fn contents(&self) -> String {
            let size = |n: u16| std::num::NonZeroU16::new(n).expect("non-zero size");
            let mut parser = vt100::Parser::new(size(ROWS), size(COLS), 0);
            parser.process(&self.screen.0.lock().expect("screen"));
            assert!(!parser.screen().hide_cursor(), "the cursor stays visible");
            parser.screen().contents()
        }
    }

    #[test]
    fn an_uncached_build_shows_running_output_then_the_summary() {
        let mut h = Harness::new();
        h.cached("[1/3] FROM docker.io/library/busybox:latest@sha256:0123456789abcdef");
        h.at(100);
        let run = h.start("[2/3] RUN ./configure && make -j2 all install");
        for n in 1..=8 {
            h.log(run, &format!("compiling unit {n}\n"));
        }
        h.log(
            run,
            "a very long line of compiler output that cannot fit on one row at all\n",
        );
        h.log(run, "progress 10%\rprogress 90%\n");
        h.at(1_400);
        // The ticker's redraw: the running step's timer moves on.
        h.view.inner.draw_live(true);
        insta::assert_snapshot!("uncached_running", h.contents());
        h.done(run, 1_300);
        let copy = h.start("[3/3] COPY --from=build /out /usr/local/bin");
        h.at(1_600);
        h.done(copy, 200);
        h.at(1_700);
        h.view.finished(
            BuildEnding::Finished,
            &BuildSummary {
                exported_bytes: 4_250_000,
                cache_saved: Duration::ZERO,
            },
        );
        insta::assert_snapshot!("uncached_finished", h.contents());
    }

    #[test]
    fn a_cached_build_says_what_the_cache_saved() {
        let mut h = Harness::new();
        h.cached("[1/3] FROM docker.io/library/busybox:latest");
        h.cached("[2/3] RUN ./configure && make -j2 all install");
        h.cached("[3/3] COPY --from=build /out /usr/local/bin");
        h.at(80);
        h.view.finished(
            BuildEnding::Finished,
            &BuildSummary {
                exported_bytes: 0,
                cache_saved: Duration::from_millis(1_500),
            },
        );
        insta::assert_snapshot!("cached_finished", h.contents());
    }

    #[test]
    fn ctrl_c_leaves_the_final_list_and_no_live_lines() {
        let mut h = Harness::new();
        h.cached("[1/2] FROM docker.io/library/busybox:latest");
        let run = h.start("[2/2] RUN sleep 100");
        h.log(run, "waiting\n");
        h.at(2_000);
        h.view.event(ProgressEvent::Failed {
            vertex: run,
            message: "the build was interrupted".to_string(),
        });
        h.view
            .finished(BuildEnding::Canceled, &BuildSummary::default());
        let screen = h.contents();
        assert!(!screen.contains("=> => #"), "live output left:\n{screen}");
        assert!(
            screen.starts_with("[+] Building 2.0s (2/2) CANCELED\n"),
            "{screen}"
        );
        assert!(screen.contains(" => ERROR [2/2] RUN sleep 100"), "{screen}");
        assert_eq!(screen.matches("[+] Building").count(), 1, "{screen}");
    }
}
