//! Prometheus metrics and health endpoints (`run --metrics ADDR`; every metric is described in
//! docs/metrics.md).
//!
//! - `GET /metrics`: the text exposition format 0.0.4, rendered by [`render`] from the run's
//!   [`Stats`] at the time of the scrape.
//! - `GET /healthz`: 200 while the process serves requests (a liveness probe).
//! - `GET /readyz`: 200 once the rules are loaded and the source has started, 503 before and
//!   once the run is stopping (a readiness probe: no audit batches are routed to a pod that
//!   cannot take them).
//!
//! [`Live`] holds what the plain counters of [`Stats`] cannot: per-rule figures published by
//! the engine task, per-sink counters and the depths of the pipeline's queues, read through
//! weak handles so that the metrics never keep a channel open.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response};
use k8scop_engine::engine::DetectionStats;
use k8scop_engine::ruleset::Detection;
use tokio::sync::mpsc;

use crate::pipeline::{Notice, Stats};
use crate::server::{self, Body, ServerError};
use crate::shutdown::Shutdown;

/// The figures of a run that are not plain counters: per rule, per sink, per queue.
#[derive(Default)]
pub struct Live {
    source: Mutex<String>,
    detections: Mutex<Arc<[DetectionRow]>>,
    sinks: Mutex<Vec<Arc<SinkStats>>>,
    queues: Mutex<Vec<QueueGauge>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

/// One rule's or sequence's figures, as the engine last published them.
#[derive(Debug, Clone)]
pub struct DetectionRow {
    /// The rule's or sequence's name.
    pub name: Arc<str>,
    /// Its severity (`info` .. `critical`).
    pub severity: &'static str,
    /// Its counters.
    pub stats: DetectionStats,
}

/// One sink's counters.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// The sink's name, as messages show it (`stdout`, `webhook https://hooks.example.com`).
    pub name: String,
    /// Non-empty batches written.
    pub batches: AtomicU64,
    /// Alert updates written.
    pub alerts: AtomicU64,
    /// Retries after a failed request (webhook, Elasticsearch).
    pub retries: AtomicU64,
    /// Alert updates the sink could not deliver.
    pub undelivered: AtomicU64,
    /// Alert documents written to the dead-letter file.
    pub dead_lettered: AtomicU64,
}

/// A queue's depth, read when scraped.
struct QueueGauge {
    name: &'static str,
    sink: Option<String>,
    capacity: usize,
    depth: Box<dyn Fn() -> usize + Send + Sync>,
}

impl Live {
    /// The source's kind (`file`, `elasticsearch`, `webhook`), the `source` label.
    pub fn set_source(&self, name: &str) {
        let kind = name.split_whitespace().next().unwrap_or(name);
        *lock(&self.source) = kind.to_owned();
    }

    /// Publishes the engine's per-detection counters (the engine task calls it now and then).
    pub fn publish(&self, detections: Vec<(Arc<Detection>, DetectionStats)>) {
        let rows: Arc<[DetectionRow]> = detections
            .into_iter()
            .map(|(d, stats)| DetectionRow {
                name: Arc::clone(&d.name),
                severity: d.severity.as_str(),
                stats,
            })
            .collect();
        *lock(&self.detections) = rows;
    }

    /// The per-detection counters last published.
    pub fn detections(&self) -> Arc<[DetectionRow]> {
        Arc::clone(&lock(&self.detections))
    }

    /// The counters of the sink named `name`, made on first use.
    pub fn sink(&self, name: &str) -> Arc<SinkStats> {
        let mut sinks = lock(&self.sinks);
        if let Some(s) = sinks.iter().find(|s| s.name == name) {
            return Arc::clone(s);
        }
        let s = Arc::new(SinkStats {
            name: name.to_owned(),
            ..SinkStats::default()
        });
        sinks.push(Arc::clone(&s));
        s
    }

    /// Reports the depth of the queue `tx` sends on, as `name` (and `sink` for a sink's queue).
    /// The handle is weak: it does not keep the channel open.
    pub fn queue<T: Send + 'static>(
        &self,
        name: &'static str,
        sink: Option<String>,
        tx: &mpsc::Sender<T>,
    ) {
        let weak = tx.downgrade();
        let capacity = tx.max_capacity();
        lock(&self.queues).push(QueueGauge {
            name,
            sink,
            capacity,
            depth: Box::new(move || {
                weak.upgrade()
                    .map(|tx| tx.max_capacity() - tx.capacity())
                    .unwrap_or(0)
            }),
        });
    }

    /// Counts what a notice tells about a sink (retries and dead letters are reported by the
    /// sinks themselves, as notices).
    pub fn observe(&self, notice: &Notice) {
        match notice {
            Notice::SinkRetry { sink, .. } => {
                self.sink(sink).retries.fetch_add(1, Ordering::Relaxed);
            }
            Notice::DeadLettered { sink, count, .. } => {
                self.sink(sink)
                    .dead_lettered
                    .fetch_add(*count, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `notices`, with [`Live::observe`] counting each notice first: give this to the sinks and
/// the pipeline so that the metrics see what they report.
pub fn observing(
    stats: Arc<Stats>,
    notices: Arc<dyn Fn(Notice) + Send + Sync>,
) -> Arc<dyn Fn(Notice) + Send + Sync> {
    Arc::new(move |notice| {
        stats.live.observe(&notice);
        notices(notice)
    })
}

/// The metrics endpoint, bound and ready to serve.
pub struct MetricsServer {
    listener: TcpListener,
    local: SocketAddr,
}

impl MetricsServer {
    /// Binds `address`, so that a busy port is an error before the run starts.
    pub fn bind(address: &str) -> Result<MetricsServer, ServerError> {
        let listener = server::bind(address)?;
        let local = listener.local_addr().map_err(|error| ServerError::Bind {
            address: address.to_owned(),
            error,
        })?;
        Ok(MetricsServer { listener, local })
    }

    /// `http://127.0.0.1:9090/metrics`.
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.local)
    }

    /// Serves `/metrics`, `/healthz` and `/readyz` until `shutdown`.
    pub async fn run(self, stats: Arc<Stats>, shutdown: Shutdown) -> std::io::Result<()> {
        let handler = move |request: Request<hyper::body::Incoming>| {
            let stats = Arc::clone(&stats);
            async move { respond(&request, &stats) }
        };
        server::serve(self.listener, None, handler, shutdown).await
    }
}

fn respond(request: &Request<hyper::body::Incoming>, stats: &Stats) -> Response<Body> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return server::text(405, "GET only\n");
    }
    match request.uri().path() {
        "/metrics" => {
            let mut response =
                server::text(200, render(stats, chrono::Utc::now().timestamp_millis()));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        "/healthz" => server::text(200, "ok\n"),
        "/readyz" => {
            if stats.ready.load(Ordering::Relaxed) {
                server::text(200, "ready\n")
            } else {
                server::text(
                    503,
                    "not ready: the rules are loading, or the run is stopping\n",
                )
            }
        }
        _ => server::text(
            404,
            "not found: /metrics, /healthz and /readyz are served here\n",
        ),
    }
}

/// Writes metric families in the text format.
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"");
                escape_label(&mut self.out, value);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A family with one sample.
    fn single(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        labels: &[(&str, &str)],
        value: impl std::fmt::Display,
    ) {
        self.family(name, kind, help);
        self.sample(name, labels, value);
    }
}

/// A label value as the text format writes it: `\`, `"` and newlines escaped.
fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A metric family of one value per item: its name, its help, and how an item gives its value.
type Family<T, V> = (&'static str, &'static str, fn(&T) -> V);

/// The run's metrics in the Prometheus text format 0.0.4; `now_ms` is the time of the scrape
/// (for the event-time lag).
pub fn render(stats: &Stats, now_ms: i64) -> String {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let mut e = Exposition { out: String::new() };
    let source = lock(&stats.live.source).clone();
    let s = [("source", source.as_str())];

    e.single(
        "k8scop_ready",
        "gauge",
        "1 once the rules are loaded and the source has started, 0 before and while stopping.",
        &[],
        u8::from(stats.ready.load(Ordering::Relaxed)),
    );

    // Events, per source.
    let (events, duplicates) = (get(&stats.events), get(&stats.duplicates));
    let (malformed, skipped) = (get(&stats.malformed), get(&stats.skipped));
    e.single(
        "k8scop_source_bytes_total",
        "counter",
        "Bytes of text read by the source (after decompression).",
        &s,
        get(&stats.bytes_read),
    );
    e.single(
        "k8scop_events_read_total",
        "counter",
        "Documents read: decoded, malformed and skipped.",
        &s,
        events + duplicates + malformed + skipped,
    );
    e.single(
        "k8scop_events_decoded_total",
        "counter",
        "Documents decoded into events (duplicates included).",
        &s,
        events + duplicates,
    );
    e.single(
        "k8scop_events_malformed_total",
        "counter",
        "Input that is not JSON (lines, documents, webhook bodies).",
        &s,
        malformed,
    );
    e.single(
        "k8scop_events_skipped_total",
        "counter",
        "JSON documents that are not events of a kind the ruleset evaluates.",
        &s,
        skipped,
    );
    e.single(
        "k8scop_events_duplicate_total",
        "counter",
        "Events seen before (same auditID and stage), not evaluated again.",
        &s,
        duplicates,
    );
    e.single(
        "k8scop_events_evaluated_total",
        "counter",
        "Events evaluated by the rules.",
        &s,
        events,
    );

    // Per rule.
    let rows = stats.live.detections();
    let per_rule: [Family<DetectionStats, u64>; 4] = [
        (
            "k8scop_rule_matches_total",
            "Events that satisfied the rule's condition (sequences: completed matches).",
            |d| d.matches,
        ),
        ("k8scop_rule_alerts_total", "Alerts the rule opened.", |d| {
            d.alerts_new
        }),
        (
            "k8scop_rule_alert_updates_total",
            "Updates of the rule's open alerts (repeats within the aggregation window).",
            |d| d.alerts_updated,
        ),
        (
            "k8scop_rule_script_errors_total",
            "Script and function failures in the rule (the condition was taken as false).",
            |d| d.script_errors,
        ),
    ];
    for (name, help, value) in per_rule {
        e.family(name, "counter", help);
        for row in rows.iter() {
            e.sample(
                name,
                &[("rule", &row.name), ("severity", row.severity)],
                value(&row.stats),
            );
        }
    }
    e.family(
        "k8scop_alerts_total",
        "counter",
        "Alert updates sent to the sinks, by kind: new alerts and updates of open ones.",
    );
    e.sample(
        "k8scop_alerts_total",
        &[("kind", "new")],
        get(&stats.alerts_new),
    );
    e.sample(
        "k8scop_alerts_total",
        &[("kind", "updated")],
        get(&stats.alerts_updated),
    );
    e.single(
        "k8scop_script_errors_total",
        "counter",
        "Script and function failures, all rules together.",
        &[],
        get(&stats.script_errors),
    );
    e.family(
        "k8scop_reloads_total",
        "counter",
        "Rule reloads: ok (the new ruleset took over) or failed (the old one kept running).",
    );
    e.sample(
        "k8scop_reloads_total",
        &[("result", "ok")],
        get(&stats.reloads),
    );
    e.sample(
        "k8scop_reloads_total",
        &[("result", "failed")],
        get(&stats.reload_failures),
    );

    // Per sink.
    let sinks: Vec<Arc<SinkStats>> = lock(&stats.live.sinks).clone();
    let per_sink: [Family<SinkStats, u64>; 5] = [
        (
            "k8scop_sink_batches_total",
            "Non-empty batches of alert updates the sink wrote.",
            |s| s.batches.load(Ordering::Relaxed),
        ),
        (
            "k8scop_sink_alerts_total",
            "Alert updates the sink wrote.",
            |s| s.alerts.load(Ordering::Relaxed),
        ),
        (
            "k8scop_sink_retries_total",
            "Requests the sink sent again after a failure.",
            |s| s.retries.load(Ordering::Relaxed),
        ),
        (
            "k8scop_sink_undelivered_total",
            "Alert updates the sink could not deliver.",
            |s| s.undelivered.load(Ordering::Relaxed),
        ),
        (
            "k8scop_sink_dead_lettered_total",
            "Alert documents the server rejected, written to the dead-letter file.",
            |s| s.dead_lettered.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, counter) in per_sink {
        e.family(name, "counter", help);
        for sink in &sinks {
            e.sample(name, &[("sink", &sink.name)], counter(sink));
        }
    }

    // Queues.
    e.family(
        "k8scop_queue_depth",
        "gauge",
        "Items waiting in a pipeline queue: source (batches to decode), decode (decoded \
         batches for the engine), sink (alert batches for one sink).",
    );
    let queues = lock(&stats.live.queues);
    for q in queues.iter() {
        let mut labels = vec![("queue", q.name)];
        if let Some(sink) = &q.sink {
            labels.push(("sink", sink));
        }
        e.sample("k8scop_queue_depth", &labels, (q.depth)());
    }
    e.family(
        "k8scop_queue_capacity",
        "gauge",
        "The bound of each pipeline queue: a full queue slows what feeds it.",
    );
    for q in queues.iter() {
        let mut labels = vec![("queue", q.name)];
        if let Some(sink) = &q.sink {
            labels.push(("sink", sink));
        }
        e.sample("k8scop_queue_capacity", &labels, q.capacity);
    }
    drop(queues);

    // Time.
    let newest = stats.newest_event.load(Ordering::Relaxed);
    if newest != i64::MIN {
        e.single(
            "k8scop_newest_event_timestamp_seconds",
            "gauge",
            "The time of the newest event evaluated (Unix seconds).",
            &[],
            newest as f64 / 1000.0,
        );
        e.single(
            "k8scop_event_lag_seconds",
            "gauge",
            "How far the newest event evaluated is behind the time of the scrape.",
            &[],
            (now_ms - newest) as f64 / 1000.0,
        );
    }
    e.single(
        "k8scop_source_lag_seconds",
        "gauge",
        "How far behind the present a streaming Elasticsearch source reads (0 otherwise).",
        &s,
        get(&stats.source_lag_ms) as f64 / 1000.0,
    );
    e.single(
        "k8scop_checkpoints_total",
        "counter",
        "Checkpoints committed.",
        &[],
        get(&stats.checkpoints),
    );

    // The audit webhook.
    let w = &stats.webhook;
    e.family(
        "k8scop_webhook_requests_total",
        "counter",
        "Audit webhook requests by answer: 200 queued, 400 not JSON, 413 over a size limit, \
         429 queue full, 503 stopping, other (404, 405, 408, 415).",
    );
    for (code, counter) in [
        ("200", &w.accepted),
        ("400", &w.malformed),
        ("413", &w.too_large),
        ("429", &w.throttled),
        ("503", &w.unavailable),
        ("other", &w.other),
    ] {
        e.sample(
            "k8scop_webhook_requests_total",
            &[("code", code)],
            get(counter),
        );
    }
    e.single(
        "k8scop_webhook_bytes_total",
        "counter",
        "Bytes of the audit webhook's queued bodies.",
        &[],
        get(&w.bytes),
    );
    e.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_and_dead_letters_are_counted_per_sink_from_the_notices() {
        let stats = Arc::new(Stats::new());
        let printed = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&printed);
        let notices = observing(
            Arc::clone(&stats),
            Arc::new(move |_| {
                counted.fetch_add(1, Ordering::Relaxed);
            }),
        );
        for _ in 0..2 {
            notices(Notice::SinkRetry {
                sink: "webhook https://h".into(),
                message: "503".into(),
                retry_in: std::time::Duration::from_secs(1),
            });
        }
        notices(Notice::DeadLettered {
            sink: "elasticsearch (alerts index a)".into(),
            count: 3,
            file: "dl.jsonl".into(),
            reason: "mapper_parsing_exception".into(),
        });
        assert_eq!(
            printed.load(Ordering::Relaxed),
            3,
            "every notice is passed on"
        );
        let text = render(&stats, 0);
        assert!(text.contains("k8scop_sink_retries_total{sink=\"webhook https://h\"} 2\n"));
        assert!(text.contains(
            "k8scop_sink_dead_lettered_total{sink=\"elasticsearch (alerts index a)\"} 3\n"
        ));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        escape_label(&mut out, "a\"b\\c\nd");
        assert_eq!(out, r#"a\"b\\c\nd"#);
    }

    #[test]
    fn every_family_has_help_and_type_and_samples_follow_their_family() {
        let stats = Stats::new();
        stats.live.set_source("elasticsearch http://es:9200 logs-*");
        stats.events.store(5, Ordering::Relaxed);
        stats.malformed.store(2, Ordering::Relaxed);
        stats
            .live
            .sink("file a.jsonl")
            .alerts
            .store(3, Ordering::Relaxed);
        stats.newest_event.store(1_000_000, Ordering::Relaxed);
        let text = render(&stats, 1_002_500);
        assert!(text.contains("k8scop_events_read_total{source=\"elasticsearch\"} 7\n"));
        assert!(text.contains("k8scop_sink_alerts_total{sink=\"file a.jsonl\"} 3\n"));
        assert!(text.contains("k8scop_event_lag_seconds 2.5\n"));
        let mut family = "";
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                family = rest.split(' ').next().unwrap();
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(name, family, "{line}");
                assert!(name.starts_with("k8scop_"), "{line}");
            }
        }
    }
}
