//! Checkpoints in an Elasticsearch state index, guarded by a lease.
//!
//! One document per cursor (`--state-id`, default derived from the source) holds the checkpoint
//! and the lease: the instance that owns it (`--instance`, the host name by default) and until
//! when. Every write is conditional on the document's `_seq_no`/`_primary_term` as this instance
//! last saw them (optimistic concurrency), so two instances on one cursor cannot both write:
//!
//! - at start, an instance takes the document over only if it is absent, its lease expired, or
//!   it is its own (a restarted instance of the same name resumes at once); otherwise it stops
//!   with [`CheckpointError::Leased`];
//! - each checkpoint renews the lease; a write that finds the document changed by someone else
//!   (HTTP 409) stops this instance with [`CheckpointError::LostLease`].

use std::time::Duration;

use elasticsearch::http::Method;
use serde_json::{json, Value};

use super::{Checkpoint, CheckpointError, CheckpointStore, CHECKPOINT_VERSION};
use crate::elastic::{segment, Body, EsClient, EsError};
use crate::sinks::BoxFuture;

/// Where checkpoints are kept and who may write them.
#[derive(Debug, Clone)]
pub struct EsStateConfig {
    /// The state index (`k8scop-state`).
    pub index: String,
    /// The cursor's document id.
    pub id: String,
    /// This instance's name.
    pub instance: String,
    /// How long a lease lasts without being renewed.
    pub lease: Duration,
}

/// The document's concurrency token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    seq_no: u64,
    primary_term: u64,
}

/// A checkpoint store in an Elasticsearch index.
pub struct EsStateStore {
    client: EsClient,
    config: EsStateConfig,
    /// The document as this instance last wrote or took it over.
    version: Option<Version>,
    /// Wall clock in epoch ms.
    now: fn() -> i64,
    /// Start over: the stored checkpoint is not resumed from (and is overwritten).
    fresh: bool,
}

impl EsStateStore {
    /// A store in `config.index`, on the document `config.id`; nothing is read or written
    /// before [`CheckpointStore::load`].
    pub fn new(client: EsClient, config: EsStateConfig) -> EsStateStore {
        EsStateStore {
            client,
            config,
            version: None,
            now: || chrono::Utc::now().timestamp_millis(),
            fresh: false,
        }
    }

    /// Makes [`CheckpointStore::load`] start over instead of resuming (the lease is still taken).
    pub fn forget_checkpoint(&mut self) {
        self.fresh = true;
    }

    fn path(&self) -> String {
        format!(
            "/{}/_doc/{}",
            segment(&self.config.index),
            segment(&self.config.id)
        )
    }

    fn unavailable(e: EsError) -> CheckpointError {
        CheckpointError::Store(e)
    }

    /// Creates the state index unless it exists. The checkpoint's engine state carries event
    /// fields of any shape, so it is stored but not indexed (`enabled: false`): dynamic mapping
    /// would otherwise reject a field whose type changed between two checkpoints.
    async fn ensure_index(&self) -> Result<(), CheckpointError> {
        let mapping = json!({
            "settings": {"index": {"number_of_shards": 1}},
            "mappings": {
                "dynamic": false,
                "properties": {
                    "owner": {"type": "keyword"},
                    "lease_until": {"type": "long"},
                    "checkpoint": {"type": "object", "enabled": false}
                }
            }
        });
        let quiet = |_: &EsError, _: Duration| {};
        match self
            .client
            .request(
                Method::Put,
                &format!("/{}", segment(&self.config.index)),
                &[],
                Body::Json(mapping),
                &quiet,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(EsError::Status {
                status: 400,
                ref error_type,
                ..
            }) if error_type == "resource_already_exists_exception" => Ok(()),
            Err(e) => Err(Self::unavailable(e)),
        }
    }

    /// The document as stored, with its version; `None` when there is none.
    async fn read(&self) -> Result<Option<(Value, Version)>, CheckpointError> {
        let quiet = |_: &EsError, _: Duration| {};
        match self
            .client
            .request(Method::Get, &self.path(), &[], Body::None, &quiet)
            .await
        {
            Ok(doc) => {
                let version = Version {
                    seq_no: doc.get("_seq_no").and_then(Value::as_u64).unwrap_or(0),
                    primary_term: doc
                        .get("_primary_term")
                        .and_then(Value::as_u64)
                        .unwrap_or(1),
                };
                Ok(Some((
                    doc.get("_source").cloned().unwrap_or(Value::Null),
                    version,
                )))
            }
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(Self::unavailable(e)),
        }
    }

    /// Writes `source` conditionally on `expected` (or creates it when `None`); returns the new
    /// version, or `Ok(None)` on a conflict.
    async fn write(
        &self,
        source: Value,
        expected: Option<Version>,
    ) -> Result<Option<Version>, CheckpointError> {
        let (path, query) = match expected {
            Some(v) => (
                self.path(),
                vec![
                    ("if_seq_no", v.seq_no.to_string()),
                    ("if_primary_term", v.primary_term.to_string()),
                    ("refresh", "false".to_string()),
                ],
            ),
            None => (
                format!(
                    "/{}/_create/{}",
                    segment(&self.config.index),
                    segment(&self.config.id)
                ),
                vec![],
            ),
        };
        let quiet = |_: &EsError, _: Duration| {};
        match self
            .client
            .request(Method::Put, &path, &query, Body::Json(source), &quiet)
            .await
        {
            Ok(answer) => Ok(Some(Version {
                seq_no: answer.get("_seq_no").and_then(Value::as_u64).unwrap_or(0),
                primary_term: answer
                    .get("_primary_term")
                    .and_then(Value::as_u64)
                    .unwrap_or(1),
            })),
            Err(e) if e.status() == Some(409) => Ok(None),
            Err(e) => Err(Self::unavailable(e)),
        }
    }

    fn lease_fields(&self) -> (String, i64) {
        (
            self.config.instance.clone(),
            (self.now)() + self.config.lease.as_millis() as i64,
        )
    }

    fn held_by_other(&self, doc: &Value) -> Option<(String, String)> {
        let owner = doc.get("owner").and_then(Value::as_str).unwrap_or("");
        let until = doc.get("lease_until").and_then(Value::as_i64).unwrap_or(0);
        (owner != self.config.instance && until > (self.now)())
            .then(|| (owner.to_owned(), k8scop_engine::event::format_millis(until)))
    }
}

impl CheckpointStore for EsStateStore {
    fn name(&self) -> String {
        format!(
            "state index `{}` (id `{}`)",
            self.config.index, self.config.id
        )
    }

    fn load(&mut self) -> BoxFuture<'_, Result<Option<Checkpoint>, CheckpointError>> {
        Box::pin(async move {
            self.ensure_index().await?;
            let existing = self.read().await?;
            let (owner, until) = self.lease_fields();
            let (checkpoint, expected) = match existing {
                Some((doc, version)) => {
                    if let Some((other, until)) = self.held_by_other(&doc) {
                        return Err(CheckpointError::Leased {
                            id: format!("{} (held by `{other}`)", self.config.id),
                            until,
                        });
                    }
                    let checkpoint = match doc.get("checkpoint") {
                        _ if self.fresh => None,
                        Some(Value::Null) | None => None,
                        Some(c) => Some(serde_json::from_value::<Checkpoint>(c.clone()).map_err(
                            |error| CheckpointError::Unreadable {
                                store: self.name(),
                                error,
                            },
                        )?),
                    };
                    if let Some(c) = &checkpoint {
                        if c.version != CHECKPOINT_VERSION {
                            return Err(CheckpointError::Version {
                                store: self.name(),
                                found: c.version,
                            });
                        }
                    }
                    (checkpoint, Some(version))
                }
                None => (None, None),
            };
            // Take the lease (over an expired one, or our own).
            let doc = json!({
                "owner": owner,
                "lease_until": until,
                "checkpoint": checkpoint,
            });
            match self.write(doc, expected).await? {
                Some(v) => self.version = Some(v),
                None => {
                    return Err(CheckpointError::Leased {
                        id: self.config.id.clone(),
                        until: "now (another instance took it a moment ago)".into(),
                    })
                }
            }
            Ok(checkpoint)
        })
    }

    fn save<'a>(
        &'a mut self,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        Box::pin(async move {
            let (owner, until) = self.lease_fields();
            let doc = json!({"owner": owner, "lease_until": until, "checkpoint": checkpoint});
            match self.write(doc, self.version).await? {
                Some(v) => {
                    self.version = Some(v);
                    Ok(())
                }
                None => Err(CheckpointError::LostLease {
                    id: self.config.id.clone(),
                }),
            }
        })
    }

    fn release(&mut self) -> BoxFuture<'_, Result<(), CheckpointError>> {
        Box::pin(async move {
            let Some(version) = self.version else {
                return Ok(());
            };
            let Some((doc, _)) = self.read().await? else {
                return Ok(());
            };
            let mut doc = doc;
            doc["lease_until"] = json!(0);
            match self.write(doc, Some(version)).await? {
                Some(v) => {
                    self.version = Some(v);
                    Ok(())
                }
                None => Err(CheckpointError::LostLease {
                    id: self.config.id.clone(),
                }),
            }
        })
    }
}
