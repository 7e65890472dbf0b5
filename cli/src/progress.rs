//! What `run` shows on stderr while it works: a progress bar (static runs on a terminal), a
//! periodic stats line (streaming runs), the pipeline's [`Notice`]s, and the closing summary.
//!
//! Everything is read from the shared [`Stats`] atomics by a ticker thread; nothing here slows the
//! pipeline down. The bar is one line redrawn in place (`\r` and the ANSI erase-line sequence).
//! Whatever else writes to the terminal (a notice, or alerts on stdout when stdout is the same
//! terminal, see [`PausingSink`]) first erases the bar through [`Screen`], and the next tick draws
//! it again below.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use k8scop_engine::AlertUpdate;
use k8scop_runtime::pipeline::{Notice, Stats, Summary};
use k8scop_runtime::sinks::{BoxFuture, Sink, SinkError};

use crate::config::DisplayOptions;
use crate::diagnostics::{self, plural};

/// How often the progress bar is redrawn.
const BAR_INTERVAL: Duration = Duration::from_millis(250);
/// How often a streaming run prints its stats line.
const STATS_INTERVAL: Duration = Duration::from_secs(10);
/// Notices of one kind (malformed, skipped, script errors) printed before they are only counted.
const SHOWN_NOTICES: u64 = 20;
/// `\r` then "erase the whole line".
const ERASE_LINE: &str = "\r\x1b[2K";

/// The terminal's state as far as the bar is concerned. Every write to stderr goes through it so
/// that a line is never printed over the bar.
#[derive(Debug, Default)]
struct Screen {
    inner: Mutex<ScreenState>,
}

#[derive(Debug, Default)]
struct ScreenState {
    /// The bar is on screen, on the current line (no newline after it).
    bar_shown: bool,
    /// Writers to stdout in progress: the bar is not drawn while they write.
    paused: usize,
}

impl Screen {
    fn lock(&self) -> MutexGuard<'_, ScreenState> {
        // A panic while holding the lock leaves only display state behind; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Erases the bar (if shown) and runs `f` with the lock held.
    fn write<R>(&self, f: impl FnOnce() -> R) -> R {
        let mut state = self.lock();
        if state.bar_shown {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(ERASE_LINE.as_bytes());
            let _ = err.flush();
            state.bar_shown = false;
        }
        f()
    }

    /// Prints lines to stderr, above the bar.
    fn print(&self, text: &str) {
        self.write(|| {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{text}");
        });
    }

    fn draw_bar(&self, line: &str) {
        let mut state = self.lock();
        if state.paused > 0 {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{ERASE_LINE}{line}");
        let _ = err.flush();
        state.bar_shown = true;
    }
}

/// Holds the bar off the screen while alerts are written to a stdout that is the same terminal.
struct Pause(Arc<Screen>);

impl Pause {
    fn new(screen: &Arc<Screen>) -> Pause {
        // Erasing and pausing under one lock: the ticker cannot draw in between.
        let mut state = screen.lock();
        if state.bar_shown {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(ERASE_LINE.as_bytes());
            let _ = err.flush();
            state.bar_shown = false;
        }
        state.paused += 1;
        Pause(Arc::clone(screen))
    }
}

impl Drop for Pause {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.paused = state.paused.saturating_sub(1);
    }
}

/// Wraps the stdout sink when stdout and stderr are the same terminal: the bar steps aside while
/// alerts are written, so an alert line never starts in the middle of the bar.
pub struct PausingSink {
    inner: Box<dyn Sink>,
    screen: Arc<Screen>,
}

impl Sink for PausingSink {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn send<'a>(&'a mut self, updates: &'a [AlertUpdate]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let _pause = Pause::new(&self.screen);
            self.inner.send(updates).await
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            let _pause = Pause::new(&self.screen);
            self.inner.flush().await
        })
    }
}

/// The display of one run: started before the pipeline, finished after it.
pub struct Display {
    options: DisplayOptions,
    screen: Arc<Screen>,
    ticker: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl Display {
    /// Starts the ticker thread that draws the bar or prints the stats line, if either is on.
    pub fn start(stats: Arc<Stats>, options: DisplayOptions) -> Display {
        let screen = Arc::new(Screen::default());
        let ticker = if options.progress_bar || options.stats_line {
            let (stop, stopped) = mpsc::channel::<()>();
            let screen = Arc::clone(&screen);
            let spawned = std::thread::Builder::new()
                .name("k8scop-progress".into())
                .spawn(move || tick(&stats, options, &screen, &stopped));
            // Without a thread there is no live display; the run itself is unaffected.
            spawned.ok().map(|handle| (stop, handle))
        } else {
            None
        };
        Display {
            options,
            screen,
            ticker,
        }
    }

    /// Wraps the stdout sink so that the bar steps aside for it, when they share a terminal.
    pub fn wrap_stdout(&self, sink: Box<dyn Sink>) -> Box<dyn Sink> {
        if self.options.stdout_shares_terminal {
            Box::new(PausingSink {
                inner: sink,
                screen: Arc::clone(&self.screen),
            })
        } else {
            sink
        }
    }

    /// The callback the pipeline reports its notices to.
    pub fn notices(&self) -> Arc<dyn Fn(Notice) + Send + Sync> {
        let printer = NoticePrinter {
            screen: Arc::clone(&self.screen),
            malformed: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            script_errors: AtomicU64::new(0),
        };
        Arc::new(move |notice| printer.print(notice))
    }

    /// Prints a line to stderr above the bar (errors of `run` itself).
    pub fn print(&self, text: &str) {
        self.screen.print(text);
    }

    /// Stops the ticker and erases the bar.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some((stop, handle)) = self.ticker.take() {
            drop(stop);
            let _ = handle.join();
        }
        self.screen.write(|| ());
    }

    /// The closing summary, on stderr.
    pub fn summary(&mut self, summary: &Summary) {
        self.stop();
        self.screen.print(&render_summary(summary));
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The ticker thread: until `stopped` is closed, draws the bar or prints the stats line.
fn tick(stats: &Stats, options: DisplayOptions, screen: &Screen, stopped: &mpsc::Receiver<()>) {
    let started = Instant::now();
    let interval = if options.progress_bar {
        BAR_INTERVAL
    } else {
        STATS_INTERVAL
    };
    let mut last = (Instant::now(), Stats::get(&stats.events));
    loop {
        match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let snapshot = Snapshot::take(stats);
        if options.progress_bar {
            let width = terminal_width();
            screen.draw_bar(&bar_line(&snapshot, started.elapsed(), width));
        } else {
            let now = Instant::now();
            let rate = (snapshot.events - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
            last = (now, snapshot.events);
            let lag = lag_ms(snapshot.newest_event, chrono::Utc::now().timestamp_millis());
            screen.print(&stats_line(&snapshot, rate, lag));
        }
    }
}

/// `COLUMNS` when the shell exports it, else the classic 80.
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|&c| c >= 20)
        .unwrap_or(80)
}

/// The counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Snapshot {
    bytes_read: u64,
    bytes_total: u64,
    events: u64,
    malformed: u64,
    alerts_new: u64,
    alerts_updated: u64,
    script_errors: u64,
    newest_event: i64,
    /// Documents read and the total, for sources that count documents (Elasticsearch).
    documents_read: u64,
    documents_total: u64,
}

impl Snapshot {
    fn take(stats: &Stats) -> Snapshot {
        Snapshot {
            bytes_read: Stats::get(&stats.bytes_read),
            bytes_total: Stats::get(&stats.bytes_total),
            events: Stats::get(&stats.events),
            malformed: Stats::get(&stats.malformed),
            alerts_new: Stats::get(&stats.alerts_new),
            alerts_updated: Stats::get(&stats.alerts_updated),
            script_errors: Stats::get(&stats.script_errors),
            newest_event: stats.newest_event.load(Ordering::Relaxed),
            documents_read: Stats::get(&stats.documents_read),
            documents_total: Stats::get(&stats.events_total),
        }
    }
}

/// One line, at most `width - 1` columns (so that the terminal never wraps it):
/// `[#####-------]  40%  ETA 3.00s  12.3k events  6172/s  3 alerts  4.0/10.0 MiB`.
fn bar_line(s: &Snapshot, elapsed: Duration, width: usize) -> String {
    const BAR: usize = 12;
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = s.events as f64 / secs;
    let mut line = String::new();
    let mut size = String::new();
    // Progress in bytes (files) or in documents (Elasticsearch, whose total is known up front).
    let (done, total) = if s.bytes_total > 0 {
        (s.bytes_read, s.bytes_total)
    } else {
        (s.documents_read, s.documents_total)
    };
    if total > 0 {
        let fraction = (done as f64 / total as f64).clamp(0.0, 1.0);
        let filled = (fraction * BAR as f64).round() as usize;
        line.push('[');
        line.push_str(&"#".repeat(filled));
        line.push_str(&"-".repeat(BAR - filled));
        line.push_str(&format!("] {:>3}%  ", (fraction * 100.0).floor() as u64));
        let done_rate = done as f64 / secs;
        if done > 0 && done < total && done_rate > 0.0 {
            let eta = (total - done) as f64 / done_rate;
            let eta = duration(Duration::from_secs_f64(eta.min(1e7)));
            line.push_str(&format!("ETA {eta}  "));
        }
        size = if s.bytes_total > 0 {
            format!("  {}", bytes_of(s.bytes_read, s.bytes_total))
        } else {
            format!("  {}/{} documents", count(done), count(total))
        };
    } else if s.bytes_read > 0 {
        size = format!("  {} read", bytes(s.bytes_read));
    }
    // The sizes come last: on a narrow terminal they are what is cut off.
    line.push_str(&format!(
        "{} events  {}/s  {}{size}",
        count(s.events),
        count(rate as u64),
        plural(s.alerts_new as usize, "alert", "alerts")
    ));
    if line.len() >= width {
        // INVARIANT: the line is ASCII, so any byte index is a char boundary.
        line.truncate(width - 1);
    }
    line
}

/// How far behind the newest event the run is, in ms; `None` before the first event.
fn lag_ms(newest_event: i64, now_ms: i64) -> Option<i64> {
    (newest_event != i64::MIN).then(|| now_ms.saturating_sub(newest_event).max(0))
}

/// `stats: 1.2k events/s (56.7k events), alerts 3 new 10 updated, lag 1.2s, 0 malformed, 0 script errors`.
fn stats_line(s: &Snapshot, rate: f64, lag: Option<i64>) -> String {
    let lag = match lag {
        Some(ms) => duration(Duration::from_millis(ms as u64)),
        None => "-".to_owned(),
    };
    format!(
        "stats: {} events/s ({} events), alerts {} new {} updated, lag {lag}, {} malformed, {}",
        count(rate.max(0.0) as u64),
        count(s.events),
        s.alerts_new,
        s.alerts_updated,
        s.malformed,
        plural(s.script_errors as usize, "script error", "script errors")
    )
}

/// The summary printed at the end of every run.
fn render_summary(s: &Summary) -> String {
    let secs = s.duration.as_secs_f64();
    let mut out = format!(
        "summary: {} in {} ({}/s); {} malformed, {} skipped, {}, {}",
        plural(s.events as usize, "event", "events"),
        duration(s.duration),
        count((s.events as f64 / secs.max(1e-3)) as u64),
        s.malformed,
        s.skipped,
        plural(s.duplicates as usize, "duplicate", "duplicates"),
        plural(s.script_errors as usize, "script error", "script errors"),
    );
    out.push_str(&format!(
        "\nalerts: {} new, {} updated",
        s.alerts_new, s.alerts_updated
    ));
    if s.undelivered > 0 {
        out.push_str(&format!(", {} undelivered", s.undelivered));
    }
    let active: Vec<_> = s
        .detections
        .iter()
        .filter(|(_, d)| d.matches + d.alerts_new + d.alerts_updated + d.script_errors > 0)
        .collect();
    if !active.is_empty() {
        let width = active
            .iter()
            .map(|(d, _)| d.name.len())
            .max()
            .unwrap_or(0)
            .max(4);
        out.push_str(&format!(
            "\n  {:<width$}  {:>8}  {:>6}  {:>8}",
            "rule", "matches", "new", "updated"
        ));
        for (d, st) in active {
            out.push_str(&format!(
                "\n  {:<width$}  {:>8}  {:>6}  {:>8}",
                d.name, st.matches, st.alerts_new, st.alerts_updated
            ));
        }
    }
    if s.checkpoints > 0 {
        out.push_str(&format!("\ncheckpoints: {} committed", s.checkpoints));
    }
    if s.reloads > 0 {
        out.push_str(&format!(
            "\nthe rules were reloaded {}",
            plural(s.reloads as usize, "time", "times")
        ));
    }
    if s.interrupted {
        out.push_str("\nstopped on request (SIGINT or SIGTERM)");
    }
    out
}

/// Prints the pipeline's notices; malformed input, skipped documents and script errors are shown
/// up to [`SHOWN_NOTICES`] each, then only counted (the summary has the totals).
struct NoticePrinter {
    screen: Arc<Screen>,
    malformed: AtomicU64,
    skipped: AtomicU64,
    script_errors: AtomicU64,
}

impl NoticePrinter {
    fn print(&self, notice: Notice) {
        if let Some(text) = self.render(notice) {
            self.screen.print(&text);
        }
    }

    /// Counts one more notice of a kind; the text to add when it is the last one shown.
    fn limited(counter: &AtomicU64, what: &str) -> Option<&'static str> {
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        match n {
            n if n < SHOWN_NOTICES => Some(""),
            n if n == SHOWN_NOTICES => Some(match what {
                "malformed" => " (further malformed input is only counted)",
                "skipped" => " (further skipped documents are only counted)",
                _ => " (further script errors are only counted)",
            }),
            _ => None,
        }
    }

    fn render(&self, notice: Notice) -> Option<String> {
        match notice {
            Notice::Malformed {
                origin,
                line,
                message,
            } => Self::limited(&self.malformed, "malformed")
                .map(|more| format!("warning: {origin}:{line}: malformed input: {message}{more}")),
            Notice::Skipped {
                origin,
                line,
                reason,
            } => Self::limited(&self.skipped, "skipped")
                .map(|more| format!("note: {origin}:{line}: skipped: {reason}{more}")),
            Notice::ScriptError(e) => Self::limited(&self.script_errors, "script").map(|more| {
                format!(
                    "warning: rule `{}`, event `{}`: {}: {}{more}",
                    e.rule, e.event_id, e.origin, e.message
                )
            }),
            Notice::Loaded {
                rules,
                sequences,
                warnings,
            } => {
                self.screen.write(|| {
                    diagnostics::print_all(&warnings);
                });
                Some(format!(
                    "loaded the rules: {}, {}{}",
                    plural(rules, "rule", "rules"),
                    plural(sequences, "sequence", "sequences"),
                    match warnings.len() {
                        0 => String::new(),
                        n => format!(", {}", plural(n, "warning", "warnings")),
                    }
                ))
            }
            Notice::SourceRestarted { origin, reason } => Some(format!(
                "note: `{origin}` {reason}; reading it from its start"
            )),
            Notice::Reloaded {
                rules,
                sequences,
                kept,
                warnings,
            } => {
                let line = format!(
                    "reloaded the rules: {}, {}; state kept for {}",
                    plural(rules, "rule", "rules"),
                    plural(sequences, "sequence", "sequences"),
                    plural(kept.len(), "detection", "detections")
                );
                self.screen.write(|| {
                    diagnostics::print_all(&warnings);
                });
                Some(line)
            }
            Notice::ReloadFailed { diagnostics: list } => {
                let (errors, _) = diagnostics::count(&list);
                self.screen.write(|| {
                    diagnostics::print_all(&list);
                });
                Some(format!(
                    "error: the changed rules have {}; the previous ruleset keeps running",
                    plural(errors, "error", "errors")
                ))
            }
            Notice::SinkFailed(e) => Some(if e.undelivered > 0 {
                format!(
                    "error: {e} ({} undelivered)",
                    plural(e.undelivered as usize, "alert", "alerts")
                )
            } else {
                format!("error: {e}")
            }),
            Notice::ShuttingDown => Some(
                "shutting down: draining events in flight and flushing alerts (a second signal \
                 exits at once)"
                    .to_owned(),
            ),
            Notice::Connected { server } => Some(format!("connected to {server}")),
            Notice::Listening { what, url } => Some(format!("{what}: listening on {url}")),
            Notice::WebhookRefused {
                origin,
                status,
                reason,
            } => Some(format!(
                "warning: {origin}: refused ({status}): {reason}; its events are not evaluated"
            )),
            Notice::Resumed {
                position,
                events,
                dropped_state,
            } => Some(format!(
                "resumed from the checkpoint after {}, at {position}{}",
                plural(events as usize, "event", "events"),
                match dropped_state.len() {
                    0 => String::new(),
                    n => format!(
                        "; {} changed since and start afresh: {}",
                        plural(n, "rule", "rules"),
                        dropped_state
                            .iter()
                            .map(|r| format!("`{r}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            )),
            Notice::CheckpointRetry {
                store,
                message,
                retry_in,
            } => Some(format!(
                "warning: cannot write the checkpoint to {store}: {message}; retrying in {:.1} s",
                retry_in.as_secs_f64()
            )),
            Notice::SourceRetry {
                source,
                message,
                retry_in,
            } => Some(format!(
                "warning: {source}: {message}; reading paused, retrying in {:.1} s",
                retry_in.as_secs_f64()
            )),
            Notice::SinkRetry {
                sink,
                message,
                retry_in,
            } => Some(format!(
                "warning: sink {sink}: {message}; retrying in {:.1} s",
                retry_in.as_secs_f64()
            )),
            Notice::DeadLettered {
                sink,
                count,
                file,
                reason,
            } => Some(format!(
                "error: sink {sink}: the server rejected {} ({reason}); written to `{file}`",
                plural(count as usize, "alert document", "alert documents")
            )),
        }
    }
}

/// `987`, `12.3k`, `4.56M`.
fn count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.2}M", n as f64 / 1e6),
    }
}

/// `512 B`, `1.5 KiB`, `4.0 MiB`, `1.10 GiB`.
fn bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let f = n as f64;
    if f < KIB {
        format!("{n} B")
    } else if f < KIB * KIB {
        format!("{:.1} KiB", f / KIB)
    } else if f < KIB * KIB * KIB {
        format!("{:.1} MiB", f / (KIB * KIB))
    } else {
        format!("{:.2} GiB", f / (KIB * KIB * KIB))
    }
}

/// `4.0/10.0 MiB` when both are in the same unit, else `976.6 KiB/9.5 MiB`.
fn bytes_of(read: u64, total: u64) -> String {
    let (read, total) = (bytes(read), bytes(total));
    match (read.split_once(' '), total.split_once(' ')) {
        (Some((r, unit)), Some((t, unit2))) if unit == unit2 => format!("{r}/{t} {unit}"),
        _ => format!("{read}/{total}"),
    }
}

/// `0.25s`, `12.3s`, `2m05s`, `1h02m`, `893d01h`.
fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.2}s")
    } else if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        let s = secs as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    } else if secs < 2.0 * 86_400.0 {
        let m = secs as u64 / 60;
        format!("{}h{:02}m", m / 60, m % 60)
    } else {
        let h = secs as u64 / 3600;
        format!("{}d{:02}h", h / 24, h % 24)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8scop_runtime::sinks::SinkFailure;

    fn snapshot() -> Snapshot {
        Snapshot {
            bytes_read: 4 * 1024 * 1024,
            bytes_total: 10 * 1024 * 1024,
            events: 12_345,
            malformed: 2,
            alerts_new: 3,
            alerts_updated: 10,
            script_errors: 1,
            newest_event: 1_000,
            documents_read: 0,
            documents_total: 0,
        }
    }

    #[test]
    fn bar_with_a_known_size_shows_percent_and_eta() {
        let line = bar_line(&snapshot(), Duration::from_secs(2), 200);
        assert_eq!(
            line,
            "[#####-------]  40%  ETA 3.00s  12.3k events  6172/s  3 alerts  4.0/10.0 MiB"
        );
    }

    #[test]
    fn bar_without_a_size_and_truncated_to_the_width() {
        let s = Snapshot {
            bytes_total: 0,
            ..snapshot()
        };
        assert_eq!(
            bar_line(&s, Duration::from_secs(1), 200),
            "12.3k events  12.3k/s  3 alerts  4.0 MiB read"
        );
        let narrow = bar_line(&snapshot(), Duration::from_secs(2), 30);
        assert_eq!(narrow, "[#####-------]  40%  ETA 3.00");
    }

    #[test]
    fn stats_line_and_lag() {
        assert_eq!(lag_ms(i64::MIN, 5_000), None);
        assert_eq!(lag_ms(1_000, 2_500), Some(1_500));
        assert_eq!(lag_ms(9_000, 2_500), Some(0));
        assert_eq!(
            stats_line(&snapshot(), 1234.5, Some(1_500)),
            "stats: 1234 events/s (12.3k events), alerts 3 new 10 updated, lag 1.50s, \
             2 malformed, 1 script error"
        );
        assert!(stats_line(&snapshot(), 0.0, None).contains(", lag -, "));
    }

    #[test]
    fn summary_without_active_rules() {
        let summary = Summary {
            events: 1,
            malformed: 2,
            skipped: 3,
            duplicates: 4,
            alerts_new: 5,
            alerts_updated: 6,
            script_errors: 7,
            undelivered: 8,
            reloads: 1,
            checkpoints: 0,
            detections: Vec::new(),
            duration: Duration::from_millis(500),
            interrupted: true,
        };
        assert_eq!(
            render_summary(&summary),
            "summary: 1 event in 0.50s (2/s); 2 malformed, 3 skipped, 4 duplicates, 7 script errors\n\
             alerts: 5 new, 6 updated, 8 undelivered\n\
             the rules were reloaded 1 time\n\
             stopped on request (SIGINT or SIGTERM)"
        );
    }

    #[test]
    fn number_formats() {
        assert_eq!(count(9_999), "9999");
        assert_eq!(count(1_500_000), "1.50M");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes_of(1000 * 1024, 9 * 1024 * 1024), "1000.0 KiB/9.0 MiB");
        assert_eq!(bytes_of(3 * 1024 * 1024, 9 * 1024 * 1024), "3.0/9.0 MiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024 / 2), "1.50 GiB");
        assert_eq!(duration(Duration::from_millis(250)), "0.25s");
        assert_eq!(duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(duration(Duration::from_secs(3720)), "1h02m");
        assert_eq!(duration(Duration::from_secs(3 * 86_400 + 7200)), "3d02h");
    }

    #[test]
    fn noisy_notices_are_limited() {
        let printer = NoticePrinter {
            screen: Arc::new(Screen::default()),
            malformed: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            script_errors: AtomicU64::new(0),
        };
        let malformed = |line| Notice::Malformed {
            origin: "audit.log".into(),
            line,
            message: "expected value".into(),
        };
        let shown: Vec<String> = (1..=25)
            .filter_map(|l| printer.render(malformed(l)))
            .collect();
        assert_eq!(shown.len(), 20);
        assert_eq!(
            shown[0],
            "warning: audit.log:1: malformed input: expected value"
        );
        assert_eq!(
            shown[19],
            "warning: audit.log:20: malformed input: expected value (further malformed input \
             is only counted)"
        );
        // Other kinds have their own allowance; sink failures are always shown.
        let skipped = Notice::Skipped {
            origin: "-".into(),
            line: 3,
            reason: "not an audit event".into(),
        };
        assert_eq!(
            printer.render(skipped).as_deref(),
            Some("note: -:3: skipped: not an audit event")
        );
        let failed = Notice::from(SinkError::new(
            "webhook https://hooks.example.com",
            SinkFailure::Delivery {
                attempts: 5,
                final_answer: false,
                reason: "the server answered 500 Internal Server Error".into(),
                rest_not_sent: false,
            },
            2,
        ));
        assert_eq!(
            printer.render(failed).as_deref(),
            Some(
                "error: sink webhook https://hooks.example.com: gave up after 5 attempts: the \
                 server answered 500 Internal Server Error (2 alerts undelivered)"
            )
        );
    }
}
