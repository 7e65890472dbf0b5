//! The audit webhook source: the kube-apiserver's webhook audit backend POSTs `EventList`
//! batches here (docs/webhook.md).
//!
//! Each request to [`WebhookConfig::path`] is checked before it is queued, and answered:
//!
//! - **413** when the body is over [`WebhookConfig::max_batch`] (10 MiB, the API server's
//!   `--audit-webhook-truncate-max-batch-size` default), or one of its events is over
//!   [`WebhookConfig::max_event`] (100 KiB, `--audit-webhook-truncate-max-event-size`). The API
//!   server does not send such a batch again, so it is reported ([`Notice::WebhookRefused`]).
//! - **400** when the body is not JSON (or not UTF-8): counted as malformed and reported as
//!   [`Notice::Malformed`], as a malformed line of a file would be.
//! - **429** with `Retry-After` when the pipeline's queue stays full for
//!   [`WebhookConfig::queue_wait`]: the API server backs off and sends the batch again, so a
//!   slow sink slows the API server's webhook down instead of k8scop dropping events.
//! - **503** once the run is stopping; **404** for another path, **405** for another method,
//!   **415** for a compressed body.
//! - **200** only once the batch is in the pipeline's queue. The webhook has no cursor to commit:
//!   200 means "queued". On shutdown the server stops accepting, lets the requests in progress
//!   finish, and the pipeline then drains the queue: every queued event is evaluated and its
//!   alerts written before the process exits.
//!
//! The body goes to the same decoder as a file's text: one JSON line (what the API server sends)
//! as [`Chunk::Lines`], anything else (pretty-printed JSON, an array) as [`Chunk::Whole`]; an
//! `EventList` is expanded into its items there.

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, RETRY_AFTER};
use hyper::{Method, Request, Response};
use k8scop_engine::chunk::Chunk;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use tokio::sync::mpsc::{self, error::SendTimeoutError};
use tokio_rustls::TlsAcceptor;

use crate::pipeline::{Notice, Stats};
use crate::server::{self, ServerError, TlsFiles};
use crate::sinks::BoxFuture;
use crate::sources::{Batch, Source, SourceContext, SourceError};

/// How the webhook listens and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The address to listen on: `0.0.0.0:8443`, `127.0.0.1:0` (any free port).
    pub listen: String,
    /// The path the API server POSTs to.
    pub path: String,
    /// HTTPS: the server certificate and key, and the client CA for client certificates.
    pub tls: Option<TlsFiles>,
    /// The largest body accepted, in bytes.
    pub max_batch: usize,
    /// The largest event accepted, in bytes (its JSON text).
    pub max_event: usize,
    /// How long a request waits for room in a full queue before it is answered 429.
    pub queue_wait: Duration,
}

impl WebhookConfig {
    /// `/k8s-audit`, the path docs/webhook.md's kubeconfig uses.
    pub const DEFAULT_PATH: &'static str = "/k8s-audit";
    /// 10 MiB: the API server's default `--audit-webhook-truncate-max-batch-size`.
    pub const DEFAULT_MAX_BATCH: usize = 10 * 1024 * 1024;
    /// 100 KiB: the API server's default `--audit-webhook-truncate-max-event-size`.
    pub const DEFAULT_MAX_EVENT: usize = 100 * 1024;
    /// One second: long enough to ride out a burst, short enough that the API server's own
    /// buffer does not fill while it waits.
    pub const DEFAULT_QUEUE_WAIT: Duration = Duration::from_secs(1);

    /// Listening on `listen`, plain HTTP, with the defaults.
    pub fn new(listen: impl Into<String>) -> WebhookConfig {
        WebhookConfig {
            listen: listen.into(),
            path: Self::DEFAULT_PATH.into(),
            tls: None,
            max_batch: Self::DEFAULT_MAX_BATCH,
            max_event: Self::DEFAULT_MAX_EVENT,
            queue_wait: Self::DEFAULT_QUEUE_WAIT,
        }
    }
}

/// The audit webhook, bound and ready to serve (see the module's documentation).
pub struct WebhookSource {
    config: WebhookConfig,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    local: SocketAddr,
}

impl WebhookSource {
    /// Binds the address and reads the TLS files, so that a busy port or a bad certificate is
    /// an error before the run starts.
    pub fn bind(config: WebhookConfig) -> Result<WebhookSource, ServerError> {
        let tls = config.tls.as_ref().map(server::tls_acceptor).transpose()?;
        let listener = server::bind(&config.listen)?;
        let local = listener.local_addr().map_err(|error| ServerError::Bind {
            address: config.listen.clone(),
            error,
        })?;
        Ok(WebhookSource {
            config,
            listener,
            tls,
            local,
        })
    }

    /// The address listened on (the actual port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// `https://127.0.0.1:8443/k8s-audit`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{}", self.local, self.config.path)
    }
}

impl Source for WebhookSource {
    fn name(&self) -> String {
        "webhook".into()
    }

    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), SourceError>> {
        Box::pin(async move {
            (ctx.notices)(Notice::Listening {
                what: "audit webhook",
                url: self.url(),
            });
            let shared = Arc::new(Shared {
                config: self.config,
                out: ctx.out,
                stats: ctx.stats,
                notices: ctx.notices,
                requests: AtomicU64::new(0),
            });
            let handler = move |request| {
                let shared = Arc::clone(&shared);
                async move { shared.handle(request).await }
            };
            server::serve(self.listener, self.tls, handler, ctx.shutdown)
                .await
                .map_err(|error| {
                    SourceError::Webhook(ServerError::Bind {
                        address: self.local.to_string(),
                        error,
                    })
                })
        })
    }
}

/// What every request handler shares.
struct Shared {
    config: WebhookConfig,
    out: mpsc::Sender<Batch>,
    stats: Arc<Stats>,
    notices: Arc<dyn Fn(Notice) + Send + Sync>,
    requests: AtomicU64,
}

impl Shared {
    async fn handle(&self, request: Request<Incoming>) -> Response<server::Body> {
        let webhook = &self.stats.webhook;
        if request.uri().path() != self.config.path {
            webhook.other.fetch_add(1, Ordering::Relaxed);
            return server::text(
                404,
                format!(
                    "not found: the audit webhook is at `{}`\n",
                    self.config.path
                ),
            );
        }
        if request.method() != Method::POST {
            webhook.other.fetch_add(1, Ordering::Relaxed);
            let mut response = server::text(405, "the audit webhook takes POST requests\n");
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        if let Some(encoding) = request.headers().get(CONTENT_ENCODING) {
            if encoding.as_bytes() != b"identity" {
                webhook.other.fetch_add(1, Ordering::Relaxed);
                return server::text(415, "compressed bodies are not accepted\n");
            }
        }
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let origin: Arc<str> = Arc::from(format!("webhook request {n}"));
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body = match self.read_body(request.into_body(), declared).await {
            Body::Complete(body) => body,
            Body::TooLarge(size) => {
                return self.too_large(
                    &origin,
                    format!(
                        "the batch is {size}{} bytes, over the limit of {} bytes",
                        if size >= DRAIN_LIMIT as u64 {
                            " or more"
                        } else {
                            ""
                        },
                        self.config.max_batch
                    ),
                )
            }
            Body::Broken => {
                // The client went away mid-body: nobody reads the answer.
                webhook.other.fetch_add(1, Ordering::Relaxed);
                return server::text(400, "the body could not be read\n");
            }
            Body::Late => {
                webhook.other.fetch_add(1, Ordering::Relaxed);
                return server::text(408, "the body did not arrive in time\n");
            }
        };
        let text = match String::from_utf8(body) {
            Ok(text) => text,
            Err(e) => return self.malformed(&origin, 1, format!("the body is not UTF-8: {e}")),
        };
        match check(&text, self.config.max_event) {
            Ok(()) => {}
            Err(BodyProblem::NotJson(e)) => {
                return self.malformed(&origin, e.line() as u64, plain_error(&e));
            }
            Err(BodyProblem::EventTooLarge { index, size }) => {
                return self.too_large(
                    &origin,
                    format!(
                        "event {index} of the batch is {size} bytes, over the limit of {} bytes",
                        self.config.max_event
                    ),
                );
            }
        }
        let bytes = text.len() as u64;
        let chunk = if k8scop_engine::decode::framing::is_document(&text) {
            Chunk::Whole { origin, text }
        } else {
            Chunk::Lines {
                origin,
                first_line: 1,
                text,
            }
        };
        match self
            .out
            .send_timeout(Batch::unpositioned(chunk), self.config.queue_wait)
            .await
        {
            Ok(()) => {
                webhook.accepted.fetch_add(1, Ordering::Relaxed);
                webhook.bytes.fetch_add(bytes, Ordering::Relaxed);
                server::text(200, "queued\n")
            }
            Err(SendTimeoutError::Timeout(_)) => {
                webhook.throttled.fetch_add(1, Ordering::Relaxed);
                let mut response =
                    server::text(429, "the queue is full: send the batch again later\n");
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            Err(SendTimeoutError::Closed(_)) => self.unavailable(),
        }
    }

    /// The whole body, up to the batch limit. A larger body is still read to its end (and
    /// thrown away, up to [`DRAIN_LIMIT`]) so that the client, which is still sending it, gets
    /// the 413 rather than a broken connection, which the API server would take as a reason to
    /// send the batch again.
    async fn read_body(&self, mut body: Incoming, declared: Option<u64>) -> Body {
        let max = self.config.max_batch;
        let read = async {
            let capacity = declared.map_or(0, |n| n.min(max as u64) as usize);
            let mut text = Vec::with_capacity(capacity);
            let mut size: u64 = 0;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else {
                    return Body::Broken;
                };
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                size += data.len() as u64;
                if size <= max as u64 {
                    text.extend_from_slice(&data);
                } else if size >= DRAIN_LIMIT as u64 {
                    return Body::TooLarge(size);
                } else if !text.is_empty() {
                    text = Vec::new();
                }
            }
            if size > max as u64 {
                Body::TooLarge(size)
            } else {
                Body::Complete(text)
            }
        };
        tokio::time::timeout(BODY_TIMEOUT, read)
            .await
            .unwrap_or(Body::Late)
    }

    fn too_large(&self, origin: &Arc<str>, reason: String) -> Response<server::Body> {
        self.stats.webhook.too_large.fetch_add(1, Ordering::Relaxed);
        (self.notices)(Notice::WebhookRefused {
            origin: Arc::clone(origin),
            status: 413,
            reason: reason.clone(),
        });
        server::text(413, format!("{reason}\n"))
    }

    fn malformed(&self, origin: &Arc<str>, line: u64, message: String) -> Response<server::Body> {
        self.stats.webhook.malformed.fetch_add(1, Ordering::Relaxed);
        self.stats.malformed.fetch_add(1, Ordering::Relaxed);
        (self.notices)(Notice::Malformed {
            origin: Arc::clone(origin),
            line,
            message: message.clone(),
        });
        server::text(400, format!("the body is not JSON: {message}\n"))
    }

    fn unavailable(&self) -> Response<server::Body> {
        self.stats
            .webhook
            .unavailable
            .fetch_add(1, Ordering::Relaxed);
        let mut response = server::text(503, "k8scop is stopping: send the batch again later\n");
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("5"));
        response
    }
}

/// What reading a request's body gave.
enum Body {
    /// The body, within the batch limit.
    Complete(Vec<u8>),
    /// The body is over the batch limit: its size, as far as it was read.
    TooLarge(u64),
    /// The connection failed mid-body.
    Broken,
    /// The body did not arrive within [`BODY_TIMEOUT`].
    Late,
}

/// How much of a body over the limit is read (and thrown away) before the connection is
/// closed on it.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// How long a body may take to arrive once its headers are in.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a body is refused before it is queued.
#[derive(Debug)]
enum BodyProblem {
    /// Not JSON: the parser's error, with its line and column.
    NotJson(serde_json::Error),
    /// The `index`th event (from 1, across the body) is `size` bytes, over the limit.
    EventTooLarge { index: usize, size: usize },
}

/// Checks that `text` is JSON (one value, or several as JSON lines) and that no event in it is
/// over `max_event` bytes. An `EventList`'s or an array's items are events; any other value is
/// one. This is a scan that builds nothing: the decoder parses the events afterwards.
fn check(text: &str, max_event: usize) -> Result<(), BodyProblem> {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<Sizes>();
    let mut index = 0;
    let mut start = 0;
    while let Some(value) = values.next() {
        let value = value.map_err(BodyProblem::NotJson)?;
        let end = values.byte_offset();
        let sizes = match value.items {
            Some(items) => items,
            None => vec![text[start..end].trim().len()],
        };
        for size in sizes {
            index += 1;
            if size > max_event {
                return Err(BodyProblem::EventTooLarge { index, size });
            }
        }
        start = end;
    }
    Ok(())
}

/// The JSON parser's message without its ` at line L column C` (the line is reported apart).
fn plain_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => format!("{} (column {})", &text[..i], e.column()),
        None => text,
    }
}

/// One top-level JSON value of a body: `items` holds the sizes of its events when it is a list
/// of them (an `EventList` or an array), `None` when the value is one event.
struct Sizes {
    items: Option<Vec<usize>>,
}

impl<'de> serde::Deserialize<'de> for Sizes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SizesVisitor)
    }
}

struct SizesVisitor;

impl<'de> Visitor<'de> for SizesVisitor {
    type Value = Sizes;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sizes, A::Error> {
        let mut sizes = Vec::new();
        while let Some(item) = seq.next_element::<&RawValue>()? {
            sizes.push(item.get().len());
        }
        Ok(Sizes { items: Some(sizes) })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Sizes, A::Error> {
        let mut kind_is_list = false;
        let mut items = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Kind => kind_is_list = map.next_value::<KindIsList>()?.0,
                Key::Items => items = map.next_value::<ItemSizes>()?.0,
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        // As the decoder: only an `EventList` with an `items` array is a list of events.
        Ok(Sizes {
            items: items.filter(|_| kind_is_list),
        })
    }

    fn visit_bool<E>(self, _: bool) -> Result<Sizes, E> {
        Ok(Sizes { items: None })
    }
    fn visit_i64<E>(self, _: i64) -> Result<Sizes, E> {
        Ok(Sizes { items: None })
    }
    fn visit_u64<E>(self, _: u64) -> Result<Sizes, E> {
        Ok(Sizes { items: None })
    }
    fn visit_f64<E>(self, _: f64) -> Result<Sizes, E> {
        Ok(Sizes { items: None })
    }
    fn visit_str<E>(self, _: &str) -> Result<Sizes, E> {
        Ok(Sizes { items: None })
    }
    fn visit_unit<E>(self) -> Result<Sizes, E> {
        Ok(Sizes { items: None })
    }
}

/// A key of a top-level object: only `kind` and `items` matter.
enum Key {
    Kind,
    Items,
    Other,
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "kind" => Key::Kind,
                    "items" => Key::Items,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// Whether a `kind` value is `"EventList"`.
struct KindIsList(bool);

impl<'de> serde::Deserialize<'de> for KindIsList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&RawValue>::deserialize(deserializer)?;
        Ok(KindIsList(raw.get() == "\"EventList\""))
    }
}

/// The sizes of an `items` array's elements; `None` when `items` is not an array.
struct ItemSizes(Option<Vec<usize>>);

impl<'de> serde::Deserialize<'de> for ItemSizes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ItemSizes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ItemSizes, A::Error> {
                SizesVisitor.visit_seq(seq).map(|s| ItemSizes(s.items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ItemSizes, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ItemSizes(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<ItemSizes, E> {
                Ok(ItemSizes(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<ItemSizes, E> {
                Ok(ItemSizes(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<ItemSizes, E> {
                Ok(ItemSizes(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<ItemSizes, E> {
                Ok(ItemSizes(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<ItemSizes, E> {
                Ok(ItemSizes(None))
            }
            fn visit_unit<E>(self) -> Result<ItemSizes, E> {
                Ok(ItemSizes(None))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str, max: usize) -> String {
        match check(text, max) {
            Ok(()) => "ok".into(),
            Err(BodyProblem::NotJson(e)) => format!("not json: {}", plain_error(&e)),
            Err(BodyProblem::EventTooLarge { index, size }) => format!("event {index}: {size}"),
        }
    }

    #[test]
    fn event_lists_arrays_and_single_events_are_measured_per_event() {
        let list = r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"a":1},{"b":"xxxxxxxxxx"}]}"#;
        assert_eq!(problem(list, 100), "ok");
        assert_eq!(problem(list, 10), "event 2: 18");
        assert_eq!(problem(r#"[{"a":1},{"bb":22}]"#, 8), "event 2: 9");
        // A single event, and JSON lines: each value is an event.
        assert_eq!(problem("{\"a\":1}\n{\"a\":12345}\n", 7), "event 2: 11");
        // `items` of an object that is not an EventList are not events: the object is one.
        assert_eq!(
            problem(r#"{"kind":"Other","items":[{"a":1}]}"#, 20),
            "event 1: 34"
        );
        assert_eq!(problem(r#"{"kind":"EventList","items":5}"#, 100), "ok");
        assert_eq!(problem("", 10), "ok");
    }

    #[test]
    fn text_that_is_not_json_is_reported_with_the_parsers_message() {
        assert_eq!(
            problem(r#"{"kind":"EventList","items":[{"a":1},]}"#, 100),
            "not json: trailing comma (column 38)"
        );
        assert_eq!(
            problem("plain text", 100),
            "not json: expected value (column 1)"
        );
    }
}
