//! The Elasticsearch sink: alert documents into the alerts index with `_bulk`.
//!
//! - At start it installs the alerts index template (`docs/elasticsearch/alerts-index-template.json`,
//!   its pattern set to the alerts index; `flattened` becomes `flat_object` on OpenSearch).
//! - Each alert is an `index` action whose `_id` is the alert's id, carrying absolute values
//!   (count, first and last seen, samples): a new alert and each of its updates replace one
//!   document, and re-running a range or replaying after a crash never makes a second copy.
//! - Faults: the whole request is retried on connection failures, timeouts, 429 and
//!   502/503/504 with exponential backoff and jitter ([`crate::elastic::RetryPolicy`]); a 413
//!   splits the batch in halves; per-item failures are walked: 429 and 5xx items are retried,
//!   items the server rejects for good (a mapping error) are written with the reason to the
//!   dead-letter file and reported. [`Sink::send`] returns only when every document is written
//!   or dead-lettered, so the pipeline's acknowledgement means "in the index".

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use elasticsearch::http::Method;
use k8scop_engine::alert::AlertUpdate;
use serde_json::{json, Value};

use super::discover::DiscoverLink;
use super::{BoxFuture, Sink, SinkError, SinkFailure};
use crate::elastic::{segment, Body, EsClient, EsError};
use crate::pipeline::Notice;

/// The shipped index template (also documented in docs/alerts.md).
const TEMPLATE: &str = include_str!("../../../../docs/elasticsearch/alerts-index-template.json");

/// Where and how alerts are written.
#[derive(Debug, Clone)]
pub struct EsSinkConfig {
    /// The alerts index (`-i`).
    pub index: String,
    /// Install the index template at start.
    pub install_template: bool,
    /// Where documents the server rejects for good are written, one JSON line each.
    pub dead_letter: PathBuf,
    /// Documents per `_bulk` request at most.
    pub max_batch: usize,
    /// The link written as `k8scop.events_url` in each document, when configured.
    pub events_url: Option<DiscoverLink>,
}

impl EsSinkConfig {
    /// Alerts into `index`, with the template installed, rejected documents into
    /// `k8scop-dead-letter.jsonl` and 500 documents per `_bulk` request.
    pub fn new(index: impl Into<String>) -> EsSinkConfig {
        EsSinkConfig {
            index: index.into(),
            install_template: true,
            dead_letter: PathBuf::from("k8scop-dead-letter.jsonl"),
            max_batch: 500,
            events_url: None,
        }
    }
}

/// The Elasticsearch alerts sink.
pub struct EsSink {
    client: EsClient,
    config: EsSinkConfig,
    notices: Arc<dyn Fn(Notice) + Send + Sync>,
    stats: Arc<crate::pipeline::Stats>,
}

/// One document on its way: its id and its `_bulk` lines.
#[derive(Clone)]
struct Doc {
    id: String,
    lines: Vec<u8>,
}

impl EsSink {
    /// Connects the sink; installs the template when asked to. A failure is reported under the
    /// sink's name, as `sink elasticsearch (alerts index k8scop-alerts): ...`.
    pub async fn new(
        client: EsClient,
        config: EsSinkConfig,
        stats: Arc<crate::pipeline::Stats>,
        notices: Arc<dyn Fn(Notice) + Send + Sync>,
    ) -> Result<EsSink, SinkError> {
        let sink = EsSink {
            client,
            config,
            notices,
            stats,
        };
        if sink.config.install_template {
            sink.install_template().await.map_err(|error| {
                SinkError::new(
                    sink.name(),
                    SinkFailure::Elasticsearch {
                        action: "cannot install the alerts index template",
                        error: Box::new(error),
                    },
                    0,
                )
            })?;
        }
        Ok(sink)
    }

    /// Tells the user of each retry, under the sink's name, while the server is unavailable.
    fn on_retry(&self) -> impl Fn(&EsError, Duration) + Send + Sync {
        let notices = Arc::clone(&self.notices);
        let sink = self.name();
        move |e: &EsError, wait: Duration| {
            notices(Notice::SinkRetry {
                sink: sink.clone(),
                message: e.to_string(),
                retry_in: wait,
            })
        }
    }

    /// The index template for this server and index.
    pub fn template(index: &str, opensearch: bool) -> Value {
        let text = if opensearch {
            TEMPLATE.replace("\"flattened\"", "\"flat_object\"")
        } else {
            TEMPLATE.to_owned()
        };
        let mut template: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        template["index_patterns"] = json!([index]);
        template
    }

    async fn install_template(&self) -> Result<(), EsError> {
        let name = format!("k8scop-{}", self.config.index.trim_end_matches('*'));
        let body = Self::template(&self.config.index, self.client.flavor().is_opensearch());
        self.client
            .request(
                Method::Put,
                &format!("/_index_template/{}", segment(&name)),
                &[],
                Body::Json(body),
                &self.on_retry(),
            )
            .await?;
        Ok(())
    }

    fn docs(&self, updates: &[AlertUpdate]) -> Vec<Doc> {
        updates
            .iter()
            .map(|u| {
                let action = json!({"index": {"_index": self.config.index, "_id": u.alert.id}});
                let mut lines = serde_json::to_vec(&action).unwrap_or_default();
                lines.push(b'\n');
                let mut doc = u.alert.doc();
                if let Some(link) = &self.config.events_url {
                    doc = doc.with_events_url(link.render(&u.alert));
                }
                doc.write_json(&mut lines);
                lines.push(b'\n');
                Doc {
                    id: u.alert.id.clone(),
                    lines,
                }
            })
            .collect()
    }

    /// Writes `docs` until each is in the index or dead-lettered. Returns the documents that
    /// could not be written when retries ran out.
    async fn write(&self, docs: Vec<Doc>) -> Result<(), SinkError> {
        let mut queue: Vec<Vec<Doc>> = docs
            .chunks(self.config.max_batch.max(1))
            .map(<[Doc]>::to_vec)
            .collect();
        queue.reverse();
        let mut item_attempts = 0u32;
        while let Some(batch) = queue.pop() {
            let mut body = Vec::with_capacity(batch.iter().map(|d| d.lines.len()).sum());
            for d in &batch {
                body.extend_from_slice(&d.lines);
            }
            let answer = self
                .client
                .request(
                    Method::Post,
                    "/_bulk",
                    &[],
                    Body::NdJson(body),
                    &self.on_retry(),
                )
                .await;
            let answer = match answer {
                Ok(a) => a,
                Err(e) if e.status() == Some(413) && batch.len() > 1 => {
                    // Too large for the server: halve it.
                    let (a, b) = batch.split_at(batch.len() / 2);
                    queue.push(b.to_vec());
                    queue.push(a.to_vec());
                    continue;
                }
                Err(error) => {
                    let undelivered = batch.len() + queue.iter().map(Vec::len).sum::<usize>();
                    return Err(SinkError::new(
                        self.name(),
                        SinkFailure::Elasticsearch {
                            action: "cannot write alerts",
                            error: Box::new(error),
                        },
                        undelivered,
                    ));
                }
            };
            let (retry, rejected) = walk_items(&answer, &batch);
            if !rejected.is_empty() {
                self.dead_letter(&rejected)?;
            }
            if !retry.is_empty() {
                item_attempts += 1;
                let policy = self.client.retry();
                if policy.max_attempts.is_some_and(|max| item_attempts >= max) {
                    let undelivered = retry.len() + queue.iter().map(Vec::len).sum::<usize>();
                    return Err(SinkError::new(
                        self.name(),
                        SinkFailure::Busy {
                            documents: retry.len(),
                            attempts: item_attempts,
                        },
                        undelivered,
                    ));
                }
                let wait = policy.backoff(item_attempts);
                (self.notices)(Notice::SinkRetry {
                    sink: self.name(),
                    message: format!("{} documents refused (busy), retrying", retry.len()),
                    retry_in: wait,
                });
                tokio::time::sleep(wait).await;
                queue.push(retry);
            }
        }
        Ok(())
    }

    /// Appends rejected documents, with the reason, to the dead-letter file, and reports them.
    fn dead_letter(&self, rejected: &[(Doc, Value)]) -> Result<(), SinkError> {
        let path = &self.config.dead_letter;
        let result = (|| -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            let mut out = Vec::new();
            for (doc, error) in rejected {
                let source = doc
                    .lines
                    .split(|b| *b == b'\n')
                    .nth(1)
                    .and_then(|l| serde_json::from_slice::<Value>(l).ok())
                    .unwrap_or(Value::Null);
                serde_json::to_writer(
                    &mut out,
                    &json!({"index": self.config.index, "id": doc.id, "error": error, "document": source}),
                )?;
                out.push(b'\n');
            }
            file.write_all(&out)?;
            file.sync_data()
        })();
        let reason = rejected
            .first()
            .map(|(_, e)| {
                format!(
                    "{}: {}",
                    e.get("type").and_then(Value::as_str).unwrap_or("error"),
                    e.get("reason").and_then(Value::as_str).unwrap_or("")
                )
            })
            .unwrap_or_default();
        match result {
            Ok(()) => {
                self.stats
                    .dead_lettered
                    .fetch_add(rejected.len() as u64, std::sync::atomic::Ordering::Relaxed);
                (self.notices)(Notice::DeadLettered {
                    sink: self.name(),
                    count: rejected.len() as u64,
                    file: path.display().to_string(),
                    reason,
                });
                Ok(())
            }
            Err(error) => Err(SinkError::new(
                self.name(),
                SinkFailure::DeadLetter {
                    documents: rejected.len(),
                    reason,
                    path: path.clone(),
                    error,
                },
                rejected.len(),
            )),
        }
    }
}

/// Splits a `_bulk` answer's items into documents to try again (429, 5xx) and documents
/// rejected for good, with their error.
fn walk_items(answer: &Value, batch: &[Doc]) -> (Vec<Doc>, Vec<(Doc, Value)>) {
    let mut retry = Vec::new();
    let mut rejected = Vec::new();
    if answer.get("errors").and_then(Value::as_bool) != Some(true) {
        return (retry, rejected);
    }
    let items = answer
        .get("items")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (doc, item) in batch.iter().zip(items) {
        let result = item
            .as_object()
            .and_then(|o| o.values().next())
            .cloned()
            .unwrap_or(Value::Null);
        let status = result.get("status").and_then(Value::as_u64).unwrap_or(0);
        if (200..300).contains(&status) {
            continue;
        }
        if status == 429 || status >= 500 {
            retry.push(doc.clone());
        } else {
            let error = result
                .get("error")
                .cloned()
                .unwrap_or(json!({"status": status}));
            rejected.push((doc.clone(), error));
        }
    }
    // Items the answer does not account for are not known to be written: send them again.
    if items.len() < batch.len() {
        retry.extend_from_slice(&batch[items.len()..]);
    }
    (retry, rejected)
}

impl Sink for EsSink {
    fn name(&self) -> String {
        format!("elasticsearch (alerts index {})", self.config.index)
    }

    fn send<'a>(&'a mut self, updates: &'a [AlertUpdate]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let docs = self.docs(updates);
            self.write(docs).await
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        // Every send already waited for its documents to be written.
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str) -> Doc {
        Doc {
            id: id.into(),
            lines: format!("{{\"index\":{{\"_id\":\"{id}\"}}}}\n{{\"a\":1}}\n").into_bytes(),
        }
    }

    #[test]
    fn bulk_items_are_sorted_into_retries_and_rejections() {
        let batch = [doc("a"), doc("b"), doc("c"), doc("d")];
        let answer = json!({"errors": true, "items": [
            {"index": {"_id": "a", "status": 201}},
            {"index": {"_id": "b", "status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "busy"}}},
            {"index": {"_id": "c", "status": 400, "error": {"type": "mapper_parsing_exception", "reason": "bad"}}},
        ]});
        let (retry, rejected) = walk_items(&answer, &batch);
        let ids = |v: &[Doc]| v.iter().map(|d| d.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&retry), ["b", "d"]);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].0.id, "c");
        assert_eq!(rejected[0].1["type"], "mapper_parsing_exception");
        let ok = json!({"errors": false, "items": []});
        assert_eq!(walk_items(&ok, &batch).0.len(), 0);
    }

    #[test]
    fn the_template_follows_the_index_and_the_server() {
        let es = EsSink::template("alerts", false);
        assert_eq!(es["index_patterns"], json!(["alerts"]));
        assert!(es.to_string().contains("\"flattened\""));
        let os = EsSink::template("alerts", true);
        assert!(!os.to_string().contains("\"flattened\""));
        assert!(os.to_string().contains("\"flat_object\""));
    }
}
