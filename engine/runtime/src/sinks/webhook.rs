//! The webhook sink: alerts POSTed as JSON, or as Slack-compatible text.
//!
//! - [`WebhookFormat::Json`] sends `{"alerts": [document, ...]}`, the documents of
//!   [`Alert::to_json`](k8scop_engine::alert::Alert::to_json).
//! - [`WebhookFormat::Slack`] sends `{"text": "..."}` with one line per alert,
//!   `[HIGH] title (rule, 3 events)`, which Slack incoming webhooks (and Mattermost, Rocket.Chat,
//!   ...) accept as they are.
//!
//! One request carries at most [`MAX_ALERTS_PER_REQUEST`] alerts. A 2xx answer is a delivery.
//! 429, 408, 5xx, connection errors and timeouts are retried with exponential backoff and
//! jitter (a `Retry-After` in seconds on 429 and 503 is honoured, up to `max_backoff`); any other
//! answer is final. After `max_retries` retries the sink gives up and reports the alerts it could
//! not deliver: it never holds the engine for longer than about
//! `(max_retries + 1) × timeout + max_retries × max_backoff` per request.
//!
//! Once a request has been given up on, the endpoint is taken to be down: later requests are
//! tried once, without retries, until one succeeds. Since a slow sink slows the whole pipeline,
//! this keeps a dead endpoint from stalling the run for the full retry budget on every batch.
//!
//! The URL (Slack's carries a secret) and header values (tokens) never appear in errors, logs or
//! `Debug` output; only the URL's scheme, host and port do.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use k8scop_grammar::ast::Severity;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};

use super::{BoxFuture, Sink, SinkError, SinkFailure};
use crate::pipeline::Notice;
use crate::retry::{backoff, chain, Jitter};
use k8scop_engine::alert::AlertUpdate;

/// The most alerts one request carries; a larger batch is sent in several requests.
pub const MAX_ALERTS_PER_REQUEST: usize = 100;

/// How much of an error answer's body is read, to quote in the error.
const MAX_ERROR_BODY: usize = 1024;

/// The shape of the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// `{"alerts": [document, ...]}`.
    Json,
    /// `{"text": "[HIGH] title (rule, N events)\n..."}`, for Slack incoming webhooks.
    Slack,
}

/// Where and how to POST alerts.
#[derive(Clone)]
pub struct WebhookConfig {
    /// `http://` or `https://`. It may carry a secret (Slack's do): it is never printed.
    pub url: String,
    /// The shape of the request body.
    pub format: WebhookFormat,
    /// Extra request headers, e.g. `("Authorization", "Bearer ...")`. Values are never printed.
    pub headers: Vec<(String, String)>,
    /// The longest one attempt may take, from connecting to the end of the answer.
    pub timeout: Duration,
    /// Retries after the first attempt (0: try once).
    pub max_retries: u32,
    /// The pause before the first retry; it doubles with each further retry.
    pub initial_backoff: Duration,
    /// The longest pause between two attempts, including one asked for with `Retry-After`.
    pub max_backoff: Duration,
    /// Alerts of a lower severity are not sent.
    pub min_severity: Option<Severity>,
}

impl WebhookConfig {
    /// A JSON webhook with the default timeout (10s), retries (3) and backoff (1s doubling up
    /// to 30s), sending every alert.
    pub fn new(url: impl Into<String>) -> WebhookConfig {
        WebhookConfig {
            url: url.into(),
            format: WebhookFormat::Json,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            max_retries: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            min_severity: None,
        }
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = match Url::parse(&self.url) {
            Ok(url) => format!("{}/<redacted>", origin(&url)),
            Err(_) => "<invalid>".into(),
        };
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, _)| (name.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("WebhookConfig")
            .field("url", &url)
            .field("format", &self.format)
            .field("headers", &headers)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("min_severity", &self.min_severity)
            .finish()
    }
}

/// `scheme://host[:port]`: what may be shown of a webhook URL.
fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// POSTs alert updates to a URL.
pub struct WebhookSink {
    config: WebhookConfig,
    url: Url,
    client: reqwest::Client,
    name: String,
    /// Header values, to blank out of anything the server answers before quoting it.
    secrets: Vec<String>,
    /// The retries' jitter, keyed randomly per process, so that several k8scop instances
    /// retrying against one endpoint spread out.
    jitter: Jitter,
    /// The last request was given up on: try the next ones once, without retries.
    failing: bool,
    /// Where each retry is reported ([`Notice::SinkRetry`]), when given.
    notices: Option<std::sync::Arc<dyn Fn(Notice) + Send + Sync>>,
}

impl fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSink")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("failing", &self.failing)
            .finish()
    }
}

/// What one attempt came to.
enum Outcome {
    Delivered,
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    Fatal(String),
}

impl WebhookSink {
    /// Checks the configuration (URL, headers, timeout) and builds the HTTP client.
    pub fn new(config: WebhookConfig) -> Result<WebhookSink, SinkError> {
        let invalid =
            |sink: &str, message: String| SinkError::new(sink, SinkFailure::Settings(message), 0);
        // Not the parser's message: it may quote the URL, which may hold a secret.
        let url = Url::parse(config.url.trim())
            .map_err(|_| invalid("webhook", "the webhook URL is not a valid URL".into()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid(
                "webhook",
                "the webhook URL must start with `http://` or `https://` and name a host".into(),
            ));
        }
        let name = format!("webhook {}", origin(&url));
        if config.timeout.is_zero() {
            return Err(invalid(
                &name,
                "the webhook timeout must be longer than 0s".into(),
            ));
        }

        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("k8scop/", env!("CARGO_PKG_VERSION"))),
        );
        let mut set_by_user = HashSet::new();
        // The URL's path and query are secret in Slack's and many other webhooks, as is a password.
        let mut secrets: Vec<String> = [Some(url.path()), url.query(), url.password()]
            .into_iter()
            .flatten()
            .filter(|s| s.len() >= 4)
            .map(str::to_owned)
            .collect();
        for (header, value) in &config.headers {
            let header_name = HeaderName::from_bytes(header.trim().as_bytes())
                .map_err(|_| invalid(&name, format!("`{header}` is not a valid header name")))?;
            let mut header_value = HeaderValue::from_str(value.trim()).map_err(|_| {
                invalid(
                    &name,
                    format!("the value of header `{header}` is not a valid header value"),
                )
            })?;
            // Keeps it out of reqwest's and hyper's own `Debug` output.
            header_value.set_sensitive(true);
            if set_by_user.insert(header_name.clone()) {
                headers.remove(&header_name);
            }
            headers.append(header_name, header_value);
            if value.trim().len() >= 4 {
                secrets.push(value.trim().to_owned());
            }
        }

        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A redirected POST turns into a GET, and custom auth headers would follow it to
            // another host: a webhook that redirects is misconfigured, say so instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                invalid(
                    &name,
                    format!("cannot set up the HTTP client: {}", chain(&e)),
                )
            })?;
        Ok(WebhookSink {
            url,
            client,
            name,
            secrets,
            jitter: Jitter::new(),
            failing: false,
            notices: None,
            config,
        })
    }

    /// Reports each retry to `notices` as [`Notice::SinkRetry`] (which the metrics count).
    pub fn with_notices(
        mut self,
        notices: std::sync::Arc<dyn Fn(Notice) + Send + Sync>,
    ) -> WebhookSink {
        self.notices = Some(notices);
        self
    }

    /// The body of one request.
    fn body(&self, updates: &[&AlertUpdate]) -> Vec<u8> {
        let body = match self.config.format {
            WebhookFormat::Json => {
                let docs: Vec<Value> = updates.iter().map(|u| u.alert.to_json()).collect();
                json!({ "alerts": docs })
            }
            WebhookFormat::Slack => {
                let lines: Vec<String> = updates.iter().map(|u| slack_line(u)).collect();
                json!({ "text": lines.join("\n") })
            }
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// Sends one body, retrying up to `retries` times. Returns the number of attempts, or why it
    /// gave up.
    async fn deliver(&mut self, body: &[u8], retries: u32) -> Result<u32, SinkFailure> {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let failed = |reason: String, final_answer: bool| SinkFailure::Delivery {
                attempts,
                final_answer,
                reason,
                rest_not_sent: false,
            };
            let (reason, retry_after) = match self.attempt(body).await {
                Outcome::Delivered => return Ok(attempts),
                Outcome::Fatal(reason) => return Err(failed(reason, true)),
                Outcome::Retry {
                    reason,
                    retry_after,
                } => (reason, retry_after),
            };
            if attempts > retries {
                return Err(failed(reason, false));
            }
            let delay = match retry_after {
                Some(asked) => asked.min(self.config.max_backoff),
                None => {
                    let c = &self.config;
                    backoff(
                        c.initial_backoff,
                        c.max_backoff,
                        attempts - 1,
                        self.jitter.unit(),
                    )
                }
            };
            if let Some(notices) = &self.notices {
                notices(Notice::SinkRetry {
                    sink: self.name.clone(),
                    message: reason,
                    retry_in: delay,
                });
            }
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, body: &[u8]) -> Outcome {
        let response = match self
            .client
            .post(self.url.clone())
            .body(body.to_vec())
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) if e.is_timeout() => {
                return Outcome::Retry {
                    reason: format!("no answer within {:?}", self.config.timeout),
                    retry_after: None,
                }
            }
            Err(e) if e.is_builder() => return Outcome::Fatal(chain(&e.without_url())),
            Err(e) => {
                return Outcome::Retry {
                    reason: chain(&e.without_url()),
                    retry_after: None,
                }
            }
        };
        let status = response.status();
        if status.is_success() {
            // Read (a little of) the answer so that the connection can be reused; it is
            // delivered whatever happens now.
            let _ = read_excerpt(response).await;
            return Outcome::Delivered;
        }
        let retry_after = if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
        } else {
            None
        };
        let mut reason = format!("the server answered {status}");
        if let Some(excerpt) = read_excerpt(response).await {
            reason.push_str(": ");
            reason.push_str(&self.redact(excerpt));
        }
        if status.is_redirection() {
            reason.push_str("; redirects are not followed: give the webhook's final URL");
        }
        if status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
            || status.is_server_error()
        {
            Outcome::Retry {
                reason,
                retry_after,
            }
        } else {
            Outcome::Fatal(reason)
        }
    }

    /// Blanks header values (tokens) out of text the server sent, in case it echoes them.
    fn redact(&self, mut text: String) -> String {
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "<redacted>");
            }
        }
        text
    }
}

/// The first line of the answer's body, cleaned and shortened for an error message.
async fn read_excerpt(mut response: reqwest::Response) -> Option<String> {
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&body);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut excerpt: String = line
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.chars().nth(200).is_some() {
        excerpt.push('…');
    }
    Some(excerpt)
}

/// `[HIGH] title (rule, 3 events)`, escaped for Slack: `&`, `<` and `>` would otherwise let
/// event data (the title is built from it) write links or `<!channel>` mentions.
fn slack_line(update: &AlertUpdate) -> String {
    let alert = &update.alert;
    let detection = &alert.detection;
    let mut line = format!("[{}] ", detection.severity.as_str().to_uppercase());
    for c in alert.title.chars() {
        match c {
            '&' => line.push_str("&amp;"),
            '<' => line.push_str("&lt;"),
            '>' => line.push_str("&gt;"),
            c if c.is_control() => line.push(' '),
            c => line.push(c),
        }
    }
    line.push_str(&format!(
        " ({}, {} {})",
        detection.name,
        alert.count,
        if alert.count == 1 { "event" } else { "events" }
    ));
    line
}

impl Sink for WebhookSink {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn send<'a>(&'a mut self, updates: &'a [AlertUpdate]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let selected: Vec<&AlertUpdate> = updates
                .iter()
                .filter(|u| {
                    self.config
                        .min_severity
                        .is_none_or(|min| u.alert.detection.severity >= min)
                })
                .collect();
            for (i, chunk) in selected.chunks(MAX_ALERTS_PER_REQUEST).enumerate() {
                let retries = if self.failing {
                    0
                } else {
                    self.config.max_retries
                };
                let body = self.body(chunk);
                match self.deliver(&body, retries).await {
                    Ok(_) => self.failing = false,
                    Err(mut failure) => {
                        self.failing = true;
                        let undelivered = selected.len() - i * MAX_ALERTS_PER_REQUEST;
                        if let SinkFailure::Delivery { rest_not_sent, .. } = &mut failure {
                            // The endpoint is failing: the rest of the batch would most likely
                            // fail too, after as long a wait.
                            *rest_not_sent = undelivered > chunk.len();
                        }
                        return Err(SinkError::new(self.name.clone(), failure, undelivered));
                    }
                }
            }
            Ok(())
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        // Nothing is buffered: `send` returns once its alerts are delivered or given up on.
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::sinks::stdout::fixtures::updates;

    /// What the test server answers to one request.
    #[derive(Clone)]
    enum Reply {
        /// A status, extra header lines (`Name: value\r\n` each) and a body.
        Status(u16, &'static str, &'static str),
        /// Reads the request and never answers.
        Hang,
    }

    /// One request as the server received it.
    #[derive(Debug)]
    struct Received {
        at: Instant,
        /// The request line and headers, as sent.
        head: String,
        body: Vec<u8>,
    }

    impl Received {
        fn json(&self) -> Value {
            serde_json::from_slice(&self.body).unwrap()
        }

        fn header(&self, name: &str) -> Option<&str> {
            self.head.lines().find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim())
            })
        }
    }

    /// A minimal HTTP/1.1 server on 127.0.0.1 that answers the n-th connection with `replies[n]`
    /// (the last reply repeats). Every answer closes its connection.
    struct Server {
        addr: SocketAddr,
        received: Arc<Mutex<Vec<Received>>>,
    }

    impl Server {
        async fn start(replies: Vec<Reply>) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let received = Arc::new(Mutex::new(Vec::new()));
            let log = received.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while let Ok((socket, _)) = listener.accept().await {
                    let reply = replies[n.min(replies.len() - 1)].clone();
                    n += 1;
                    tokio::spawn(answer(socket, reply, log.clone()));
                }
            });
            Server { addr, received }
        }

        fn url(&self) -> String {
            format!("http://{}/hook/T000/s3cret-path", self.addr)
        }

        fn count(&self) -> usize {
            self.received.lock().unwrap().len()
        }

        fn take(&self) -> Vec<Received> {
            std::mem::take(&mut *self.received.lock().unwrap())
        }
    }

    async fn answer(mut socket: TcpStream, reply: Reply, log: Arc<Mutex<Vec<Received>>>) {
        let deadline = Duration::from_secs(5);
        let mut data = Vec::new();
        let mut buf = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match tokio::time::timeout(deadline, socket.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => data.extend_from_slice(&buf[..n]),
                _ => return,
            }
        };
        let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while data.len() < head_end + length {
            match tokio::time::timeout(deadline, socket.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => data.extend_from_slice(&buf[..n]),
                _ => return,
            }
        }
        let body = data[head_end..head_end + length].to_vec();
        log.lock().unwrap().push(Received {
            at: Instant::now(),
            head,
            body,
        });
        match reply {
            Reply::Status(code, headers, body) => {
                let response = format!(
                    "HTTP/1.1 {code} Scripted\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
            // Longer than any client timeout in these tests; the runtime ends it with the test.
            Reply::Hang => tokio::time::sleep(Duration::from_secs(30)).await,
        }
    }

    fn config(url: String) -> WebhookConfig {
        WebhookConfig {
            url,
            format: WebhookFormat::Json,
            headers: vec![("Authorization".into(), "Bearer s3cret-token".into())],
            timeout: Duration::from_secs(2),
            max_retries: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            min_severity: None,
        }
    }

    fn two_alerts() -> Vec<AlertUpdate> {
        updates(&[
            ("alice", "2024-05-01T12:00:00Z"),
            ("bob", "2024-05-01T12:00:01Z"),
        ])
    }

    const OK: Reply = Reply::Status(200, "", "ok");
    const UNAVAILABLE: Reply = Reply::Status(503, "", "try later");

    #[tokio::test]
    async fn delivers_a_batch_in_one_post() {
        let server = Server::start(vec![OK]).await;
        let mut sink = WebhookSink::new(config(server.url())).unwrap();
        assert_eq!(sink.name(), format!("webhook http://{}", server.addr));
        let alerts = two_alerts();
        sink.send(&alerts).await.unwrap();

        let received = server.take();
        assert_eq!(received.len(), 1);
        let request = &received[0];
        assert!(
            request
                .head
                .starts_with("POST /hook/T000/s3cret-path HTTP/1.1\r\n"),
            "{}",
            request.head
        );
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("authorization"), Some("Bearer s3cret-token"));
        let docs: Vec<Value> = alerts.iter().map(|u| u.alert.to_json()).collect();
        assert_eq!(request.json(), json!({ "alerts": docs }));
    }

    #[tokio::test]
    async fn retries_server_errors_with_backoff() {
        let server = Server::start(vec![UNAVAILABLE, UNAVAILABLE, OK]).await;
        let mut sink = WebhookSink::new(config(server.url())).unwrap();
        let alerts = two_alerts();
        sink.send(&alerts).await.unwrap();

        let received = server.take();
        assert_eq!(received.len(), 3);
        // Backoff 100ms then 200ms, each with up to half taken off by the jitter.
        let first = received[1].at - received[0].at;
        let second = received[2].at - received[1].at;
        assert!(first >= Duration::from_millis(50), "{first:?}");
        assert!(second >= Duration::from_millis(100), "{second:?}");
        assert!(second < Duration::from_secs(1), "{second:?}");
        // Every attempt carries the same alerts.
        assert!(received.iter().all(|r| r.body == received[0].body));
    }

    #[tokio::test]
    async fn a_client_error_is_not_retried() {
        let server = Server::start(vec![Reply::Status(400, "", "invalid_payload"), OK]).await;
        let mut sink = WebhookSink::new(config(server.url())).unwrap();
        let err = sink.send(&two_alerts()).await.unwrap_err();
        assert_eq!(err.undelivered, 2);
        assert_eq!(server.count(), 1);
        let text = err.to_string();
        assert!(
            text.contains("400") && text.contains("invalid_payload"),
            "{text}"
        );
        assert!(text.contains("not retried"), "{text}");
        assert!(
            matches!(
                err.failure,
                SinkFailure::Delivery {
                    attempts: 1,
                    final_answer: true,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn too_many_requests_waits_as_long_as_retry_after_says() {
        let server = Server::start(vec![
            Reply::Status(429, "Retry-After: 1\r\n", "slow down"),
            OK,
        ])
        .await;
        let mut cfg = config(server.url());
        cfg.initial_backoff = Duration::from_millis(10);
        cfg.max_backoff = Duration::from_secs(3);
        let mut sink = WebhookSink::new(cfg).unwrap();
        sink.send(&two_alerts()).await.unwrap();
        let received = server.take();
        assert_eq!(received.len(), 2);
        let waited = received[1].at - received[0].at;
        assert!(waited >= Duration::from_millis(950), "{waited:?}");
        assert!(waited < Duration::from_secs(3), "{waited:?}");
    }

    #[tokio::test]
    async fn retry_after_is_capped_by_max_backoff() {
        let server = Server::start(vec![Reply::Status(503, "Retry-After: 3600\r\n", ""), OK]).await;
        let mut cfg = config(server.url());
        cfg.max_backoff = Duration::from_millis(300);
        let mut sink = WebhookSink::new(cfg).unwrap();
        let started = Instant::now();
        sink.send(&two_alerts()).await.unwrap();
        assert_eq!(server.count(), 2);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out_within_the_bound() {
        let server = Server::start(vec![Reply::Hang]).await;
        let mut cfg = config(server.url());
        cfg.timeout = Duration::from_millis(300);
        cfg.max_retries = 1;
        cfg.initial_backoff = Duration::from_millis(50);
        let mut sink = WebhookSink::new(cfg).unwrap();
        let started = Instant::now();
        let err = sink.send(&two_alerts()).await.unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(err.undelivered, 2);
        assert_eq!(server.count(), 2);
        // Two attempts of 300ms and one pause of at most 50ms, with room for a slow machine.
        assert!(elapsed >= Duration::from_millis(600), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        let text = err.to_string();
        assert!(
            text.contains("gave up after 2 attempts: no answer within 300ms"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn connection_refused_is_retried_then_reported() {
        // A port that was just free: nothing listens on it.
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let mut cfg = config(format!("http://{addr}/hook"));
        cfg.max_retries = 2;
        cfg.initial_backoff = Duration::from_millis(10);
        let mut sink = WebhookSink::new(cfg).unwrap();
        let started = Instant::now();
        let err = sink.send(&two_alerts()).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(err.undelivered, 2);
        // Reported under the sink's name, which shows the URL's origin and nothing more.
        assert!(
            err.to_string().starts_with(&format!(
                "sink webhook http://{addr}: gave up after 3 attempts: "
            )),
            "{err}"
        );
        assert!(
            matches!(
                err.failure,
                SinkFailure::Delivery {
                    attempts: 3,
                    final_answer: false,
                    rest_not_sent: false,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn slack_gets_one_escaped_line_per_alert() {
        let server = Server::start(vec![OK]).await;
        let mut cfg = config(server.url());
        cfg.format = WebhookFormat::Slack;
        let mut sink = WebhookSink::new(cfg).unwrap();
        let alerts = updates(&[
            ("alice", "2024-05-01T12:00:00Z"),
            ("alice", "2024-05-01T12:00:05Z"),
            ("<!channel> & co", "2024-05-01T12:00:06Z"),
        ]);
        sink.send(&alerts[1..]).await.unwrap();
        let received = server.take();
        assert_eq!(received.len(), 1);
        assert_eq!(
            received[0].json(),
            json!({ "text": "[HIGH] x alice (r, 2 events)\n[HIGH] x &lt;!channel&gt; &amp; co (r, 1 event)" })
        );
    }

    #[tokio::test]
    async fn large_batches_are_split_and_low_severities_filtered() {
        let server = Server::start(vec![OK]).await;
        let users: Vec<String> = (0..150).map(|i| format!("u{i}")).collect();
        let events: Vec<(&str, &str)> = users
            .iter()
            .map(|u| (u.as_str(), "2024-05-01T12:00:00Z"))
            .collect();
        let alerts = updates(&events);

        let mut sink = WebhookSink::new(config(server.url())).unwrap();
        sink.send(&alerts).await.unwrap();
        let sizes: Vec<usize> = server
            .take()
            .iter()
            .map(|r| r.json()["alerts"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [100, 50]);

        let mut cfg = config(server.url());
        cfg.min_severity = Some(Severity::Critical);
        let mut sink = WebhookSink::new(cfg).unwrap();
        sink.send(&alerts).await.unwrap();
        assert_eq!(
            server.count(),
            0,
            "high alerts below a critical minimum are not sent"
        );

        let mut cfg = config(server.url());
        cfg.min_severity = Some(Severity::High);
        let mut sink = WebhookSink::new(cfg).unwrap();
        sink.send(&alerts[..1]).await.unwrap();
        assert_eq!(server.count(), 1);
    }

    #[tokio::test]
    async fn after_giving_up_it_tries_once_until_the_endpoint_recovers() {
        let server = Server::start(vec![
            UNAVAILABLE,
            UNAVAILABLE,
            UNAVAILABLE, // first batch: given up after 3 attempts
            UNAVAILABLE, // second batch: one attempt
            OK,          // third batch: delivered, back to normal
            UNAVAILABLE,
            UNAVAILABLE,
            OK, // fourth batch: retried again
        ])
        .await;
        let mut cfg = config(server.url());
        cfg.max_retries = 2;
        cfg.initial_backoff = Duration::from_millis(10);
        let mut sink = WebhookSink::new(cfg).unwrap();
        let alerts = two_alerts();
        assert!(sink.send(&alerts).await.is_err());
        assert_eq!(server.count(), 3);
        let err = sink.send(&alerts).await.unwrap_err();
        assert_eq!(server.count(), 4);
        assert!(
            matches!(err.failure, SinkFailure::Delivery { attempts: 1, .. }),
            "{err:?}"
        );
        assert!(!err.to_string().contains("gave up after"), "{err}");
        sink.send(&alerts).await.unwrap();
        assert_eq!(server.count(), 5);
        sink.send(&alerts).await.unwrap();
        assert_eq!(server.count(), 8);
    }

    #[tokio::test]
    async fn secrets_stay_out_of_errors_and_debug_output() {
        // The server echoes the token and the URL; neither may show in the error.
        let server = Server::start(vec![Reply::Status(
            401,
            "",
            "bad token Bearer s3cret-token for /hook/T000/s3cret-path",
        )])
        .await;
        let cfg = config(server.url());
        let debug = format!("{cfg:?}");
        let mut sink = WebhookSink::new(cfg).unwrap();
        let err = sink.send(&two_alerts()).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("401"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        for shown in [debug, format!("{sink:?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains(&server.addr.to_string()), "{shown}");
        }

        // Connection errors don't quote the URL either.
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let mut cfg = config(format!("http://{addr}/hook/s3cret-path"));
        cfg.max_retries = 0;
        let err = WebhookSink::new(cfg)
            .unwrap()
            .send(&two_alerts())
            .await
            .unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let server = Server::start(vec![Reply::Status(
            307,
            "Location: http://127.0.0.1:9/elsewhere\r\n",
            "",
        )])
        .await;
        let err = WebhookSink::new(config(server.url()))
            .unwrap()
            .send(&two_alerts())
            .await
            .unwrap_err();
        assert_eq!(server.count(), 1);
        assert_eq!(err.undelivered, 2);
        assert!(
            err.failure
                .to_string()
                .contains("redirects are not followed"),
            "{err}"
        );
    }

    #[test]
    fn invalid_configurations_are_refused() {
        for (url, expected) in [
            ("not a url", "not a valid URL"),
            (
                "ftp://example.com/x",
                "must start with `http://` or `https://`",
            ),
        ] {
            let err = WebhookSink::new(WebhookConfig::new(url)).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
            assert!(err.to_string().starts_with("sink webhook: "), "{err}");
            assert!(matches!(err.failure, SinkFailure::Settings(_)), "{err:?}");
        }
        let mut cfg = WebhookConfig::new("https://example.com/hook");
        cfg.headers = vec![("X-Token".into(), "bad\nvalue s3cret".into())];
        let err = WebhookSink::new(cfg).unwrap_err();
        assert!(err.to_string().contains("header `X-Token`"), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let mut cfg = WebhookConfig::new("https://example.com/hook");
        cfg.timeout = Duration::ZERO;
        assert!(WebhookSink::new(cfg).is_err());
    }
}
