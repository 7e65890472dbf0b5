//! The stdout sink: one line per alert update, for a person ([`OutputFormat::Human`]) or a program
//! ([`OutputFormat::Json`]).
//!
//! Human lines follow the old K8sCop tool: `[++]` opens a new alert, `[+=]` updates one:
//!
//! ```text
//! [++] HIGH     Command execution by alice on web/api-0  (pod_exec, 1 event, 2024-05-01T12:00:00Z)
//! [+=] HIGH     Command execution by alice on web/api-0  (pod_exec, 3 events, 12:00:00Z .. 12:15:02Z)
//! ```
//!
//! JSON lines are [`Alert::to_json`](k8scop_engine::alert::Alert::to_json), the document that also goes to
//! files and Elasticsearch.
//!
//! Writes happen on tokio's blocking pool: a terminal paused with ^S or a slow pager blocks a
//! blocking thread, never one of the runtime's two workers.

use std::fmt::Write as _;
use std::io::{self, Write};

use chrono::DateTime;
use k8scop_grammar::ast::Severity;

use super::{BoxFuture, Sink, SinkError, SinkFailure};
use k8scop_engine::alert::{AlertKind, AlertUpdate};

/// What the stdout sink prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One readable line per alert update.
    Human,
    /// One alert document (JSON) per line.
    Json,
}

/// Writes alert updates to standard output (or, for tests, to any writer).
pub struct StdoutSink {
    format: OutputFormat,
    colour: bool,
    /// `None` once the reader went away (broken pipe) or a write thread died.
    out: Option<Box<dyn Write + Send>>,
    /// The rendered batch, reused from one batch to the next.
    buf: Vec<u8>,
}

impl std::fmt::Debug for StdoutSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutSink")
            .field("format", &self.format)
            .field("colour", &self.colour)
            .field("open", &self.out.is_some())
            .finish()
    }
}

impl StdoutSink {
    /// A sink on the process's stdout. `colour` colours the severity with ANSI codes; the CLI
    /// turns it on only when stdout is a terminal and `NO_COLOR` is unset.
    pub fn new(format: OutputFormat, colour: bool) -> StdoutSink {
        StdoutSink::to_writer(Box::new(io::stdout()), format, colour)
    }

    /// A sink on any writer, used as stdout would be.
    pub fn to_writer(out: Box<dyn Write + Send>, format: OutputFormat, colour: bool) -> StdoutSink {
        StdoutSink {
            format,
            colour,
            out: Some(out),
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    fn error(failure: SinkFailure, undelivered: usize) -> SinkError {
        SinkError::new("stdout", failure, undelivered)
    }

    /// Writes `self.buf` and flushes, on the blocking pool. `count` is the number of alerts in
    /// the buffer, reported as undelivered if the write fails.
    async fn write_buffer(&mut self, count: usize) -> Result<(), SinkError> {
        let Some(mut out) = self.out.take() else {
            self.buf.clear();
            return Err(StdoutSink::error(
                SinkFailure::Closed("stdout is closed"),
                count,
            ));
        };
        let buf = std::mem::take(&mut self.buf);
        let joined = tokio::task::spawn_blocking(move || {
            // Flushed at the end of every batch: in a streaming run an alert must show up when
            // it happens, not when 64 KiB of later alerts have filled a buffer. Rendering the
            // whole batch first still makes it one write instead of one per line.
            let result = out.write_all(&buf).and_then(|()| out.flush());
            (out, buf, result)
        })
        .await;
        match joined {
            Ok((out, mut buf, result)) => {
                buf.clear();
                self.buf = buf;
                match result {
                    Ok(()) => {
                        self.out = Some(out);
                        Ok(())
                    }
                    // The reader is gone (`k8scop run | head`): nothing written later can arrive.
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(StdoutSink::error(
                        SinkFailure::Closed("stdout was closed by its reader (broken pipe)"),
                        count,
                    )),
                    Err(error) => {
                        self.out = Some(out);
                        Err(StdoutSink::error(
                            SinkFailure::Io {
                                action: "cannot write",
                                error,
                            },
                            count,
                        ))
                    }
                }
            }
            Err(e) => Err(StdoutSink::error(
                SinkFailure::panicked("the write thread", &e),
                count,
            )),
        }
    }
}

impl Sink for StdoutSink {
    fn name(&self) -> String {
        "stdout".into()
    }

    fn send<'a>(&'a mut self, updates: &'a [AlertUpdate]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            if updates.is_empty() {
                return Ok(());
            }
            let mut line = String::new();
            for update in updates {
                match self.format {
                    OutputFormat::Human => {
                        line.clear();
                        render_human(update, self.colour, &mut line);
                        self.buf.extend_from_slice(line.as_bytes());
                    }
                    OutputFormat::Json => {
                        update.alert.doc().write_json(&mut self.buf);
                    }
                }
                self.buf.push(b'\n');
            }
            self.write_buffer(updates.len()).await
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            if self.out.is_none() {
                // Already reported when the pipe closed; nothing is pending.
                return Ok(());
            }
            self.write_buffer(0).await
        })
    }
}

/// Renders one update as a human line (without the final newline) into `out`:
/// marker, severity, title, then rule, count and first/last seen in parentheses. Control
/// characters in the title (which comes from event data) are escaped, so that an event cannot
/// move the cursor, change colours or break the line on the user's terminal.
pub fn render_human(update: &AlertUpdate, colour: bool, out: &mut String) {
    let alert = &update.alert;
    let detection = &alert.detection;
    out.push_str(match update.kind {
        AlertKind::New => "[++] ",
        AlertKind::Updated => "[+=] ",
    });
    let severity = severity_label(detection.severity);
    if colour {
        let _ = write!(
            out,
            "{}{severity}\x1b[0m{:pad$} ",
            severity_colour(detection.severity),
            "",
            pad = 8 - severity.len()
        );
    } else {
        let _ = write!(out, "{severity:<8} ");
    }
    push_escaped(out, &alert.title);
    out.push_str("  (");
    push_escaped(out, &detection.name);
    let _ = write!(
        out,
        ", {} {}, ",
        alert.count,
        if alert.count == 1 { "event" } else { "events" }
    );
    push_seen(out, alert.first_seen, alert.last_seen);
    out.push(')');
}

fn severity_label(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "INFO",
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

fn severity_colour(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "\x1b[34m",
        Severity::Low => "\x1b[36m",
        Severity::Medium => "\x1b[33m",
        Severity::High => "\x1b[31m",
        Severity::Critical => "\x1b[1;31m",
    }
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
}

/// `2024-05-01T12:00:00Z` for one instant (to the second); `12:00:00Z .. 12:15:02Z` for a span
/// within one UTC day; both in full for a span across days.
fn push_seen(out: &mut String, first: i64, last: i64) {
    let (Some(f), Some(l)) = (
        DateTime::from_timestamp_millis(first),
        DateTime::from_timestamp_millis(last),
    ) else {
        let _ = write!(out, "{first} .. {last}");
        return;
    };
    const FULL: &str = "%Y-%m-%dT%H:%M:%SZ";
    const TIME: &str = "%H:%M:%SZ";
    if f.timestamp() == l.timestamp() {
        let _ = write!(out, "{}", f.format(FULL));
    } else if f.date_naive() == l.date_naive() {
        let _ = write!(out, "{} .. {}", f.format(TIME), l.format(TIME));
    } else {
        let _ = write!(out, "{} .. {}", f.format(FULL), l.format(FULL));
    }
}

/// Alert updates for the sinks' tests, made by running a one-rule ruleset through the engine.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::sync::Arc;

    use serde_json::json;

    use k8scop_engine::alert::AlertUpdate;
    use k8scop_engine::engine::{Engine, Output};
    use k8scop_engine::event::Event;

    /// Runs `rule r { title "x {user.username}" severity high when verb == "get" }` over one
    /// `get` by each `(username, time)` and returns every update, in order.
    pub(crate) fn updates(events: &[(&str, &str)]) -> Vec<AlertUpdate> {
        let compiled = k8scop_engine::loader::load_sources(
            vec![k8scop_grammar::SourceFile::new(
                "t.rules",
                "rule r { title \"x {user.username}\" severity high when verb == \"get\" }",
            )],
            &Default::default(),
        );
        let ruleset = compiled.ruleset.expect("the test ruleset compiles");
        let mut engine = Engine::new(Arc::new(ruleset));
        let mut out = Output::default();
        for (i, (user, time)) in events.iter().enumerate() {
            let value = json!({
                "kind": "Event",
                "apiVersion": "audit.k8s.io/v1",
                "auditID": format!("id-{i}"),
                "stage": "ResponseComplete",
                "verb": "get",
                "user": { "username": user },
                "objectRef": { "resource": "pods", "namespace": "web", "name": "api-0" },
                "requestReceivedTimestamp": time,
            });
            let event = Event::classify(value, &format!("t:{}", i + 1)).expect("an audit event");
            engine.process(&event, &mut out);
        }
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        out.alerts
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::fixtures::updates;
    use super::*;

    /// A writer whose output the test can read.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    async fn print(updates: &[AlertUpdate], format: OutputFormat, colour: bool) -> String {
        let shared = Shared::default();
        let mut sink = StdoutSink::to_writer(Box::new(shared.clone()), format, colour);
        sink.send(updates).await.unwrap();
        sink.flush().await.unwrap();
        shared.text()
    }

    fn three_events() -> Vec<AlertUpdate> {
        updates(&[
            ("alice", "2024-05-01T12:00:00.250Z"),
            ("alice", "2024-05-01T12:08:00Z"),
            ("alice", "2024-05-01T12:15:02.900Z"),
        ])
    }

    #[tokio::test]
    async fn human_lines_mark_new_and_updated_alerts() {
        let text = print(&three_events(), OutputFormat::Human, false).await;
        assert_eq!(
            text,
            "[++] HIGH     x alice  (r, 1 event, 2024-05-01T12:00:00Z)\n\
             [+=] HIGH     x alice  (r, 2 events, 12:00:00Z .. 12:08:00Z)\n\
             [+=] HIGH     x alice  (r, 3 events, 12:00:00Z .. 12:15:02Z)\n"
        );
    }

    #[test]
    fn human_line_spells_out_both_dates_across_days() {
        let mut update = updates(&[("bob", "2024-05-01T23:59:00Z")]).remove(0);
        update.alert.last_seen += 120_000;
        update.alert.count = 2;
        update.kind = AlertKind::Updated;
        let mut line = String::new();
        render_human(&update, false, &mut line);
        assert_eq!(
            line,
            "[+=] HIGH     x bob  (r, 2 events, 2024-05-01T23:59:00Z .. 2024-05-02T00:01:00Z)"
        );
    }

    #[tokio::test]
    async fn colour_only_when_asked() {
        let events = updates(&[("alice", "2024-05-01T12:00:00Z")]);
        let plain = print(&events, OutputFormat::Human, false).await;
        assert!(!plain.contains('\x1b'), "{plain:?}");
        let coloured = print(&events, OutputFormat::Human, true).await;
        assert_eq!(
            coloured,
            "[++] \x1b[31mHIGH\x1b[0m     x alice  (r, 1 event, 2024-05-01T12:00:00Z)\n"
        );
    }

    #[test]
    fn human_line_escapes_control_characters_from_events() {
        let update = updates(&[("eve\x1b[2J\nroot", "2024-05-01T12:00:00Z")]).remove(0);
        let mut line = String::new();
        render_human(&update, false, &mut line);
        assert_eq!(
            line,
            "[++] HIGH     x eve\\u{1b}[2J\\nroot  (r, 1 event, 2024-05-01T12:00:00Z)"
        );
    }

    #[tokio::test]
    async fn json_lines_are_the_alert_documents() {
        let events = three_events();
        let text = print(&events, OutputFormat::Json, false).await;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), events.len());
        for (line, update) in lines.iter().zip(&events) {
            assert_eq!(*line, update.alert.to_json().to_string());
        }
        assert!(text.ends_with('\n'));
    }

    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_closed_pipe_is_an_error_not_a_panic() {
        let events = three_events();
        let mut sink = StdoutSink::to_writer(Box::new(ClosedPipe), OutputFormat::Human, false);
        let err = sink.send(&events).await.unwrap_err();
        assert_eq!(err.undelivered, 3);
        assert!(err.to_string().contains("broken pipe"), "{err}");
        // Later batches are reported as undelivered too, without writing.
        let err = sink.send(&events[..1]).await.unwrap_err();
        assert_eq!(err.undelivered, 1);
        assert!(sink.flush().await.is_ok());
    }
}
