//! The Elasticsearch source: audit events out of an index pattern, over a fixed time range
//! (static analysis) or continuously (streaming analysis).
//!
//! Both modes read a window `[from, to)` of the range field (`@timestamp` by default), sorted by
//! that field and a unique tiebreaker, one page at a time with `search_after`, inside a point in
//! time (Elasticsearch's `_pit`, OpenSearch's `_search/point_in_time`) when the server has one,
//! so that paging is exact while documents keep arriving:
//!
//! - static: one window, `[--start, --end)`; the total is asked for up front (progress bar);
//! - streaming: every `poll_interval` a window from the cursor minus `overlap` to now minus
//!   `query_delay`. The overlap re-reads the last stretch so that documents that became visible
//!   late (ingest lag, the refresh interval, idle shards) are still seen; the documents already
//!   read in it are recognised by index and id and skipped.
//!
//! Each page goes down the pipeline as one batch of JSON lines, the `_source`s of its hits
//! copied as they came (no second parse: the pipeline's decoder is the only one), with the
//! [`Position`] after it: the newest range-field value read and the ids read at that value (and,
//! streaming, within the overlap before it). Resuming from a position reads from that value on
//! and skips those ids, so a restart neither misses nor repeats a document.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use elasticsearch::http::Method;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::elastic::{segment, Body, EsClient, EsError};
use crate::pipeline::Notice;
use crate::sinks::BoxFuture;
use crate::sources::{Batch, Chunk, Position, Source, SourceContext, SourceError};

/// What to read and how.
#[derive(Debug, Clone)]
pub struct EsSourceConfig {
    /// The index pattern (`logstash-*`, `a,b`).
    pub index: String,
    /// The date field ranges and the cursor use: `@timestamp` (the shipper's read time) or
    /// `event.ingested` (Elastic's ingest time, which only grows).
    pub time_field: String,
    /// Static: read `[start, end)` (epoch ms) and stop. Streaming: `start` is where a fresh run
    /// begins (default: now minus the overlap), `end` is not allowed.
    pub start: Option<i64>,
    /// Static: the end of the range (epoch ms, excluded); none reads to the newest document.
    pub end: Option<i64>,
    /// Poll for new documents until shutdown instead of stopping at the end of the range.
    pub streaming: bool,
    /// Hits per page.
    pub page_size: usize,
    /// Streaming: the pause between two polls.
    pub poll_interval: Duration,
    /// Streaming: documents newer than now minus this are left for a later poll.
    pub query_delay: Duration,
    /// Streaming: how far before the cursor each poll reads again, for late documents.
    pub overlap: Duration,
    /// The sort tiebreaker; by default `_shard_doc` inside an Elasticsearch 7.12+ point in time,
    /// else `_id` (OpenSearch, older Elasticsearch, no point in time).
    pub tiebreaker: Option<String>,
    /// How long the server keeps a point in time between two pages.
    pub keep_alive: Duration,
}

impl EsSourceConfig {
    /// Hits per page by default: well under the servers' result window of 10000, and few
    /// enough round trips.
    pub const DEFAULT_PAGE_SIZE: usize = 1000;

    /// A static read of `index` over `[start, end)` with the defaults.
    pub fn new(index: impl Into<String>) -> EsSourceConfig {
        EsSourceConfig {
            index: index.into(),
            time_field: "@timestamp".into(),
            start: None,
            end: None,
            streaming: false,
            page_size: Self::DEFAULT_PAGE_SIZE,
            poll_interval: Duration::from_secs(1),
            query_delay: Duration::from_secs(1),
            overlap: Duration::from_secs(30),
            tiebreaker: None,
            keep_alive: Duration::from_secs(300),
        }
    }
}

/// Where the source is: the newest range-field value read (epoch ms) and the documents read at
/// or after `time - overlap`, by `index/id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The newest time-field value read (epoch ms); none before the first document.
    pub time: Option<i64>,
    /// The documents read near the cursor (`index/id` to their time), so that the overlap
    /// read again does not evaluate them twice.
    pub seen: BTreeMap<String, i64>,
}

impl Cursor {
    /// Forgets documents older than `keep_from`: they are before any later window.
    fn prune(&mut self, keep_from: i64) {
        self.seen.retain(|_, t| *t >= keep_from);
    }
}

/// The Elasticsearch source.
pub struct EsSource {
    client: EsClient,
    config: EsSourceConfig,
    cursor: Cursor,
}

impl EsSource {
    /// A source that reads with `client` as `config` says, from the start of its range (or
    /// from where [`Source::resume_from`] puts it).
    pub fn new(client: EsClient, config: EsSourceConfig) -> EsSource {
        EsSource {
            client,
            config,
            cursor: Cursor::default(),
        }
    }
}

impl Source for EsSource {
    fn name(&self) -> String {
        format!("elasticsearch {} {}", self.client.url(), self.config.index)
    }

    fn identity(&self) -> String {
        format!(
            "elasticsearch {} {} {}",
            self.client.url(),
            self.config.index,
            self.config.time_field
        )
    }

    fn describe(&self, position: &Position) -> String {
        match serde_json::from_value::<Cursor>(position.clone()) {
            Ok(Cursor {
                time: Some(t),
                seen,
            }) => format!(
                "{} = {} ({} documents read at or just before it)",
                self.config.time_field,
                k8scop_engine::event::format_millis(t),
                seen.len()
            ),
            _ => "the start of the range".into(),
        }
    }

    fn resume_from(&mut self, position: Position) {
        if let Ok(cursor) = serde_json::from_value::<Cursor>(position) {
            self.cursor = cursor;
        }
    }

    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), SourceError>> {
        Box::pin(async move {
            let mut reader = Reader {
                client: self.client,
                config: self.config,
                cursor: self.cursor,
                documents: 0,
                ctx,
            };
            let result = if reader.config.streaming {
                reader.stream().await
            } else {
                reader.read_range().await
            };
            match result {
                Ok(()) | Err(Stop::Shutdown) => Ok(()),
                Err(Stop::Failed(e)) => Err(SourceError::Elasticsearch(e)),
            }
        })
    }
}

/// Why reading stopped early.
enum Stop {
    Shutdown,
    Failed(EsError),
}

impl From<EsError> for Stop {
    fn from(e: EsError) -> Stop {
        Stop::Failed(e)
    }
}

/// A point in time, as each server spells it.
struct Pit {
    id: String,
}

/// The hits of one page, with only what the source needs parsed.
#[derive(Deserialize)]
struct SearchResponse<'a> {
    #[serde(borrow)]
    hits: Hits<'a>,
    pit_id: Option<String>,
}

#[derive(Deserialize)]
struct Hits<'a> {
    #[serde(borrow, default)]
    hits: Vec<Hit<'a>>,
    total: Option<Value>,
}

#[derive(Deserialize)]
struct Hit<'a> {
    #[serde(rename = "_index")]
    index: String,
    #[serde(rename = "_id")]
    id: String,
    #[serde(rename = "_source", borrow)]
    source: Option<&'a RawValue>,
    #[serde(default)]
    sort: Vec<Value>,
}

struct Reader {
    client: EsClient,
    config: EsSourceConfig,
    cursor: Cursor,
    documents: u64,
    ctx: SourceContext,
}

impl Reader {
    /// Tells the user of each retry while the server is unavailable (reading is paused).
    fn on_retry(&self) -> impl Fn(&EsError, Duration) + Send + Sync {
        let notices = Arc::clone(&self.ctx.notices);
        let source = format!("elasticsearch {}", self.config.index);
        move |e: &EsError, wait: Duration| {
            notices(Notice::SourceRetry {
                source: source.clone(),
                message: e.to_string(),
                retry_in: wait,
            })
        }
    }

    /// Static: one window over `[start, end)`, resumed after the cursor when there is one.
    async fn read_range(&mut self) -> Result<(), Stop> {
        let from = match self.cursor.time {
            Some(t) => Some(t),
            None => self.config.start,
        };
        let to = self.config.end;
        self.read_window(from, to, true).await?;
        Ok(())
    }

    /// Streaming: poll for documents after the cursor until shutdown.
    async fn stream(&mut self) -> Result<(), Stop> {
        let overlap = self.config.overlap.as_millis() as i64;
        loop {
            let now = chrono::Utc::now().timestamp_millis();
            let to = now - self.config.query_delay.as_millis() as i64;
            let from = match self.cursor.time {
                Some(t) => t - overlap,
                None => self.config.start.unwrap_or(to - overlap),
            };
            if from < to {
                self.read_window(Some(from), Some(to), false).await?;
            }
            // An empty batch carries the position even when nothing new arrived, so that the
            // checkpoint (and the lease that goes with it) stays fresh.
            self.send_lines(String::new(), 0).await?;
            let lag = match self.cursor.time {
                Some(t) => (chrono::Utc::now().timestamp_millis() - t).max(0) as u64,
                None => 0,
            };
            self.ctx.stats.source_lag_ms.store(lag, Ordering::Relaxed);
            let mut shutdown = self.ctx.shutdown.clone();
            tokio::select! {
                biased;
                () = shutdown.requested() => return Err(Stop::Shutdown),
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    /// Reads `[from, to)` page by page and sends each page as a batch.
    async fn read_window(
        &mut self,
        from: Option<i64>,
        to: Option<i64>,
        count_total: bool,
    ) -> Result<(), Stop> {
        let (mut from, mut count_total) = (from, count_total);
        let mut expiries_without_progress = 0;
        loop {
            let before = self.cursor.time;
            let pit = self.open_pit().await?;
            let result = self.page_through(&pit, from, to, count_total).await;
            if let Some(pit) = pit {
                self.close_pit(pit).await;
            }
            match result {
                // The point in time expired (a long pause, a restarted node): open a new one and
                // go on from the cursor; the documents already read at its time are skipped.
                Err(Stop::Failed(EsError::Status {
                    status: 404,
                    ref error_type,
                    ref reason,
                    ..
                })) if (error_type == "search_context_missing_exception"
                    || reason.contains("search_context_missing_exception"))
                    && expiries_without_progress < 3 =>
                {
                    if self.cursor.time == before {
                        expiries_without_progress += 1;
                    } else {
                        expiries_without_progress = 0;
                    }
                    (self.ctx.notices)(Notice::SourceRetry {
                        source: format!("elasticsearch {}", self.config.index),
                        message:
                            "the point in time expired; reading on from the cursor with a new one"
                                .into(),
                        retry_in: Duration::ZERO,
                    });
                    from = self.cursor.time.or(from);
                    count_total = false;
                }
                other => return other,
            }
        }
    }

    async fn page_through(
        &mut self,
        pit: &Option<Pit>,
        from: Option<i64>,
        to: Option<i64>,
        count_total: bool,
    ) -> Result<(), Stop> {
        let mut pit_id = pit.as_ref().map(|p| p.id.clone());
        let mut search_after: Option<Vec<Value>> = None;
        let mut first = true;
        loop {
            if self.ctx.shutdown.is_requested() {
                return Err(Stop::Shutdown);
            }
            let body = self.search_body(
                pit_id.as_deref(),
                from,
                to,
                search_after.as_deref(),
                first && count_total,
            );
            let path = match &pit_id {
                Some(_) => "/_search".to_owned(),
                None => format!("/{}/_search", segment(&self.config.index)),
            };
            let on_retry = self.on_retry();
            let bytes = self
                .request_bytes_retrying(&path, Body::Json(body), &on_retry)
                .await?;
            let response: SearchResponse<'_> =
                serde_json::from_slice(&bytes).map_err(|e| EsError::Body {
                    method: "POST".into(),
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            if let Some(id) = response.pit_id {
                pit_id = Some(id);
            }
            if first && count_total {
                if let Some(total) = response
                    .hits
                    .total
                    .as_ref()
                    .and_then(|t| t.get("value").or(Some(t)))
                    .and_then(Value::as_u64)
                {
                    self.ctx
                        .stats
                        .events_total
                        .fetch_add(total, Ordering::Relaxed);
                }
            }
            first = false;
            let hits = response.hits.hits;
            let full = hits.len() >= self.config.page_size;
            let Some(last) = hits.last() else {
                return Ok(());
            };
            search_after = Some(last.sort.clone());
            let mut text = String::with_capacity(bytes.len());
            let mut lines = 0u64;
            let mut newest = self.cursor.time;
            for hit in &hits {
                let time = hit.sort.first().and_then(sort_millis);
                let key = format!("{}/{}", hit.index, hit.id);
                if let Some(t) = time {
                    if self.cursor.seen.contains_key(&key) {
                        continue;
                    }
                    self.cursor.seen.insert(key, t);
                    newest = Some(newest.map_or(t, |n| n.max(t)));
                }
                let Some(source) = hit.source else { continue };
                text.push_str(source.get());
                text.push('\n');
                lines += 1;
            }
            if let Some(newest) = newest {
                self.cursor.time = Some(newest);
                let overlap = if self.config.streaming {
                    self.config.overlap.as_millis() as i64
                } else {
                    0
                };
                self.cursor.prune(newest - overlap);
            }
            self.documents += hits.len() as u64;
            self.ctx
                .stats
                .documents_read
                .fetch_add(hits.len() as u64, Ordering::Relaxed);
            self.send_lines(text, lines).await?;
            if !full {
                return Ok(());
            }
        }
    }

    /// Sends `lines` JSON lines with the cursor as their position.
    async fn send_lines(&mut self, text: String, lines: u64) -> Result<(), Stop> {
        let position = serde_json::to_value(&self.cursor).unwrap_or(Value::Null);
        let first_line = self.documents.saturating_sub(lines) + 1;
        let batch = Batch {
            chunk: Chunk::Lines {
                origin: Arc::from(format!("elasticsearch {}", self.config.index)),
                first_line,
                text,
            },
            position: Some(position),
        };
        if self.ctx.out.send(batch).await.is_err() {
            return Err(Stop::Shutdown);
        }
        Ok(())
    }

    /// A search request: the range filter, the sort, paging and the point in time.
    fn search_body(
        &self,
        pit: Option<&str>,
        from: Option<i64>,
        to: Option<i64>,
        search_after: Option<&[Value]>,
        count_total: bool,
    ) -> Value {
        let mut range = serde_json::Map::new();
        if let Some(from) = from {
            range.insert("gte".into(), json!(from));
        }
        if let Some(to) = to {
            range.insert("lt".into(), json!(to));
        }
        range.insert("format".into(), json!("epoch_millis"));
        let tiebreaker = self.config.tiebreaker.clone().unwrap_or_else(|| {
            if pit.is_some() && self.client.flavor().has_shard_doc() {
                "_shard_doc".into()
            } else {
                "_id".into()
            }
        });
        let mut body = json!({
            "size": self.config.page_size,
            "query": {"bool": {"filter": [{"range": {self.config.time_field.clone(): range}}]}},
            "sort": [
                {self.config.time_field.clone(): {"order": "asc"}},
                {tiebreaker: {"order": "asc"}},
            ],
            "track_total_hits": count_total,
        });
        if let Some(pit) = pit {
            body["pit"] = json!({"id": pit, "keep_alive": keep_alive(self.config.keep_alive)});
        }
        if let Some(after) = search_after {
            body["search_after"] = Value::Array(after.to_vec());
        }
        body
    }

    /// Opens a point in time on the index pattern; `None` where the server has none (reading
    /// then pages with `search_after` alone).
    async fn open_pit(&self) -> Result<Option<Pit>, Stop> {
        let index = segment(&self.config.index);
        let path = if self.client.flavor().is_opensearch() {
            format!("/{index}/_search/point_in_time")
        } else {
            format!("/{index}/_pit")
        };
        let query = [("keep_alive", keep_alive(self.config.keep_alive))];
        let on_retry = self.on_retry();
        match self
            .client
            .request(Method::Post, &path, &query, Body::None, &on_retry)
            .await
        {
            Ok(v) => {
                let id = v
                    .get("id")
                    .or_else(|| v.get("pit_id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                Ok(id.map(|id| Pit { id }))
            }
            // No such API on this server (an old OpenSearch): page without a point in time.
            Err(EsError::Status {
                status: 400 | 405, ..
            }) => Ok(None),
            Err(e) => Err(Stop::Failed(e)),
        }
    }

    async fn close_pit(&self, pit: Pit) {
        let (path, body) = if self.client.flavor().is_opensearch() {
            ("/_search/point_in_time", json!({"pit_id": [pit.id]}))
        } else {
            ("/_pit", json!({"id": pit.id}))
        };
        // A point in time that cannot be closed expires by itself after its keep-alive.
        let _ = self
            .client
            .request_once(Method::Delete, path, &[], &Body::Json(body))
            .await;
    }

    /// A request retried per the client's policy, stopping at once on shutdown.
    async fn request_bytes_retrying(
        &self,
        path: &str,
        body: Body,
        on_retry: &(dyn Fn(&EsError, Duration) + Send + Sync),
    ) -> Result<Vec<u8>, Stop> {
        let mut attempt = 1;
        let policy = self.client_retry();
        loop {
            match self
                .client
                .request_bytes(Method::Post, path, &[], &body)
                .await
            {
                Ok(bytes) => return Ok(bytes),
                Err(e) if e.is_retryable() => {
                    if policy.max_attempts.is_some_and(|max| attempt >= max) {
                        return Err(Stop::Failed(EsError::GaveUp {
                            attempts: attempt,
                            last: Box::new(e),
                        }));
                    }
                    let wait = policy.backoff(attempt);
                    on_retry(&e, wait);
                    let mut shutdown = self.ctx.shutdown.clone();
                    tokio::select! {
                        biased;
                        () = shutdown.requested() => return Err(Stop::Shutdown),
                        () = tokio::time::sleep(wait) => {}
                    }
                    attempt += 1;
                }
                Err(e) => return Err(Stop::Failed(e)),
            }
        }
    }

    fn client_retry(&self) -> crate::elastic::RetryPolicy {
        self.client.retry()
    }
}

/// A sort value of a date field: epoch milliseconds (a number, or a string of digits for
/// `date_nanos` on some servers).
fn sort_millis(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `300s` style keep-alive.
fn keep_alive(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

/// Distinct ids in `seen` (for tests).
#[cfg(test)]
fn ids(cursor: &Cursor) -> std::collections::HashSet<&str> {
    cursor.seen.keys().map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_through_its_position() {
        let mut c = Cursor {
            time: Some(1_700_000_000_000),
            seen: BTreeMap::new(),
        };
        c.seen.insert("logs-a/1".into(), 1_700_000_000_000);
        c.seen.insert("logs-a/2".into(), 1_699_999_990_000);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(serde_json::from_value::<Cursor>(v).unwrap(), c);
        c.prune(1_700_000_000_000);
        assert_eq!(ids(&c), std::collections::HashSet::from(["logs-a/1"]));
    }

    #[test]
    fn sort_values_read_as_millis() {
        assert_eq!(
            sort_millis(&json!(1_704_067_200_000i64)),
            Some(1_704_067_200_000)
        );
        assert_eq!(
            sort_millis(&json!("1704067200000")),
            Some(1_704_067_200_000)
        );
        assert_eq!(sort_millis(&json!(null)), None);
    }
}
