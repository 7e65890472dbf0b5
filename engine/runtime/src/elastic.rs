//! The Elasticsearch (and OpenSearch) client every Elasticsearch part of k8scop shares: the
//! source, the alerts sink and the checkpoint store.
//!
//! It wraps the official `elasticsearch` crate (pinned, rustls) and adds what that crate leaves
//! to its users:
//!
//! - status codes are checked here: a 4xx or 5xx is an [`EsError::Status`] with the server's
//!   error `type` and `reason`, never a success;
//! - retries: connection failures, timeouts, 429 and 502/503/504 are tried again with exponential
//!   backoff and full jitter ([`RetryPolicy`]), bounded by attempts or, for a streaming run,
//!   unbounded so that an outage pauses k8scop and it resumes by itself;
//! - the server is told apart from `GET /` ([`Flavor`]): Elasticsearch 7.10+, 8.x, 9.x and
//!   OpenSearch 2.x/3.x differ in the point-in-time API and in the alert mapping's types;
//! - credentials (basic, API key, bearer) never appear in `Debug` output or messages.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use elasticsearch::auth::Credentials;
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::headers::{HeaderMap, HeaderValue, CONTENT_TYPE};
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use elasticsearch::http::Method;
use elasticsearch::Elasticsearch;
use serde_json::Value;

use crate::retry;

/// How to reach the server.
#[derive(Clone)]
pub struct EsConfig {
    /// `http://host:9200` or `https://...`; a bare `host:port` means `http://host:port`.
    pub url: String,
    /// The credentials sent with every request.
    pub auth: Auth,
    /// A PEM file with the CA that signed the server's certificate, trusted besides the built-in
    /// Mozilla roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate. Only by an explicit flag, never by default.
    pub insecure: bool,
    /// How long one request may take.
    pub timeout: Duration,
    /// How failed requests are tried again.
    pub retry: RetryPolicy,
}

impl EsConfig {
    /// `url` without credentials, TLS options or retries beyond the defaults.
    pub fn new(url: impl Into<String>) -> EsConfig {
        EsConfig {
            url: url.into(),
            auth: Auth::None,
            ca_file: None,
            insecure: false,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

impl fmt::Debug for EsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EsConfig")
            .field("url", &self.url)
            .field("auth", &self.auth)
            .field("ca_file", &self.ca_file)
            .field("insecure", &self.insecure)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

/// Credentials. `Debug` names the kind only.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// No `Authorization` header (a server without security, or a proxy that adds it).
    None,
    /// HTTP basic authentication.
    Basic {
        /// The user.
        username: String,
        /// The user's password.
        password: String,
    },
    /// An API key as Elasticsearch prints it: base64 of `id:key` (or `id:key` itself).
    ApiKey(String),
    /// A bearer token (an OAuth2 or service-account token).
    Bearer(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Auth::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// How failed requests are tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first wait; each later one doubles, up to `max_backoff`, with full jitter.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// Attempts in all (the first included); `None` tries until it works (streaming).
    pub max_attempts: Option<u32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_attempts: Some(5),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (`attempt` counts from 1): a random duration up to
    /// the exponential bound ("full jitter"), never zero.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let retry = attempt.saturating_sub(1);
        retry::full_jitter(
            self.initial_backoff,
            self.max_backoff,
            retry,
            retry::random_unit(),
        )
    }
}

/// Which server answers, from `GET /`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flavor {
    /// Elasticsearch 7.10 or later.
    Elasticsearch {
        /// The major version, which decides the point-in-time API and the sort tiebreaker.
        major: u32,
        /// The full version, as the server gives it.
        version: String,
    },
    /// OpenSearch 2 or later: its own point-in-time API and `flat_object` for `flattened`.
    OpenSearch {
        /// The major version.
        major: u32,
        /// The full version, as the server gives it.
        version: String,
    },
}

impl Flavor {
    /// Reads `GET /`'s answer: OpenSearch says `version.distribution: opensearch`.
    pub fn from_root(root: &Value) -> Result<Flavor, EsError> {
        let version = root
            .pointer("/version/number")
            .and_then(Value::as_str)
            .ok_or_else(|| EsError::Unsupported {
                what:
                    "the server's `GET /` has no `version.number`: not Elasticsearch or OpenSearch"
                        .into(),
            })?
            .to_owned();
        let major: u32 = version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| EsError::Unsupported {
                what: format!("unreadable server version `{version}`"),
            })?;
        let minor: u32 = version
            .split('.')
            .nth(1)
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let opensearch = root
            .pointer("/version/distribution")
            .and_then(Value::as_str)
            == Some("opensearch");
        if opensearch {
            if major < 2 {
                return Err(EsError::Unsupported {
                    what: format!("OpenSearch {version}: k8scop needs OpenSearch 2.x or later"),
                });
            }
            Ok(Flavor::OpenSearch { major, version })
        } else {
            if major < 7 || (major == 7 && minor < 10) {
                return Err(EsError::Unsupported {
                    what: format!("Elasticsearch {version}: k8scop needs 7.10 or later"),
                });
            }
            Ok(Flavor::Elasticsearch { major, version })
        }
    }

    /// Whether the server is OpenSearch, whose APIs differ from Elasticsearch's here and there.
    pub fn is_opensearch(&self) -> bool {
        matches!(self, Flavor::OpenSearch { .. })
    }

    /// Whether a point in time can be sorted on `_shard_doc`, the cheap unique tiebreaker:
    /// Elasticsearch 7.12 and later. OpenSearch (a fork of 7.10) and 7.10/7.11 sort on `_id`.
    pub fn has_shard_doc(&self) -> bool {
        match self {
            Flavor::Elasticsearch { major, version } => {
                *major > 7
                    || version
                        .split('.')
                        .nth(1)
                        .and_then(|m| m.parse::<u32>().ok())
                        .is_some_and(|minor| minor >= 12)
            }
            Flavor::OpenSearch { .. } => false,
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flavor::Elasticsearch { version, .. } => write!(f, "Elasticsearch {version}"),
            Flavor::OpenSearch { version, .. } => write!(f, "OpenSearch {version}"),
        }
    }
}

/// What went wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum EsError {
    /// The client's settings cannot be used; nothing was sent.
    #[error("invalid Elasticsearch settings: {0}")]
    Config(#[from] EsConfigError),
    /// No answer: refused, reset, DNS, TLS, timeout.
    #[error("{method} {path}: {message}")]
    Transport {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The client's message with its causes.
        message: String,
        /// What kind of failure, which decides whether to try again.
        kind: TransportFailure,
    },
    /// An answer with an error status.
    #[error("{method} {path}: {status} {error_type}: {reason}")]
    Status {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The server's `error.type`, e.g. `security_exception`.
        error_type: String,
        /// The server's `error.reason`, or the start of whatever else it answered.
        reason: String,
    },
    /// A 2xx answer whose body is not the JSON expected.
    #[error("{method} {path}: unreadable answer: {message}")]
    Body {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The JSON parser's message.
        message: String,
    },
    /// The server is not a version k8scop works with (Elasticsearch before 7.10, OpenSearch 1).
    #[error("{what}")]
    Unsupported {
        /// Which server it is and what k8scop needs.
        what: String,
    },
    /// Retries ran out; the last failure is inside.
    #[error("{last} (gave up after {attempts} attempts)")]
    GaveUp {
        /// Attempts made, the first included.
        attempts: u32,
        /// The last attempt's failure.
        last: Box<EsError>,
    },
}

impl EsError {
    /// Whether trying the same request again may work.
    pub fn is_retryable(&self) -> bool {
        match self {
            // A certificate the client refuses is a configuration error, not an outage.
            EsError::Transport { kind, .. } => *kind != TransportFailure::Certificate,
            EsError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            EsError::Status { status, .. } => Some(*status),
            EsError::GaveUp { last, .. } => last.status(),
            _ => None,
        }
    }
}

/// Elasticsearch settings that cannot be used, found before anything is sent.
#[derive(Debug, thiserror::Error)]
pub enum EsConfigError {
    /// `--elastic` is not a URL.
    #[error("`{url}` is not a URL: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// The URL parser's message.
        reason: String,
    },
    /// `--elastic` carries `user:password@`, which would show in messages and process listings.
    #[error(
        "credentials in the Elasticsearch URL are not accepted: use the config file or \
         K8SCOP_ES_USERNAME/K8SCOP_ES_PASSWORD, K8SCOP_ES_API_KEY or K8SCOP_ES_BEARER"
    )]
    CredentialsInUrl,
    /// A scheme other than `http://` and `https://`.
    #[error("`{url}`: the Elasticsearch URL must be http:// or https://")]
    NotHttp {
        /// The URL as given.
        url: String,
    },
    /// `--es-ca-file` cannot be read.
    #[error("cannot read the CA file `{}`: {error}", path.display())]
    UnreadableCaFile {
        /// The CA file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        error: std::io::Error,
    },
    /// `--es-ca-file` is not a PEM certificate.
    #[error("`{}` is not a PEM certificate: {reason}", path.display())]
    InvalidCaFile {
        /// The CA file.
        path: PathBuf,
        /// The certificate parser's message.
        reason: String,
    },
    /// The HTTP client cannot be built with these settings.
    #[error("{0}")]
    Client(String),
}

/// Why a request got no answer. Only a certificate failure is final: the rest may be an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// No answer within the timeout.
    Timeout,
    /// The server's certificate was refused: a configuration error (`--es-ca-file`).
    Certificate,
    /// Refused, reset, a DNS failure: the server is down or out of reach.
    Connection,
}

impl TransportFailure {
    /// Sorts a client error; `message` is its text with its causes.
    fn of(e: &elasticsearch::Error, message: &str) -> TransportFailure {
        if e.is_timeout() {
            TransportFailure::Timeout
        } else if message.to_lowercase().contains("certificate") {
            // rustls's certificate errors are not exposed as types through the client: the text
            // is what there is.
            TransportFailure::Certificate
        } else {
            TransportFailure::Connection
        }
    }
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// No body (`GET`, `DELETE`).
    None,
    /// A JSON document.
    Json(Value),
    /// Newline-delimited JSON (`_bulk`).
    NdJson(Vec<u8>),
}

/// A connected client.
#[derive(Clone)]
pub struct EsClient {
    client: Elasticsearch,
    flavor: Flavor,
    retry: RetryPolicy,
    timeout: Duration,
    url: String,
}

impl fmt::Debug for EsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EsClient({} at {})", self.flavor, self.url)
    }
}

/// Called before each retry with the failure and the wait, so the user sees an outage.
pub type OnRetry<'a> = &'a (dyn Fn(&EsError, Duration) + Send + Sync);

impl EsClient {
    /// Builds the client and asks `GET /` which server it is (with retries, so that k8scop can
    /// start before the server does).
    pub async fn connect(config: &EsConfig, on_retry: OnRetry<'_>) -> Result<EsClient, EsError> {
        let url = normalize_url(&config.url)?;
        let pool = SingleNodeConnectionPool::new(url.parse::<elasticsearch::http::Url>().map_err(
            |e| EsConfigError::InvalidUrl {
                url: config.url.clone(),
                reason: e.to_string(),
            },
        )?);
        let mut builder = TransportBuilder::new(pool)
            .timeout(config.timeout)
            .disable_proxy();
        builder = match &config.auth {
            Auth::None => builder,
            Auth::Basic { username, password } => {
                builder.auth(Credentials::Basic(username.clone(), password.clone()))
            }
            Auth::ApiKey(key) => match key.split_once(':') {
                Some((id, secret)) => builder.auth(Credentials::ApiKey(id.into(), secret.into())),
                None => builder.auth(Credentials::EncodedApiKey(key.clone())),
            },
            Auth::Bearer(token) => builder.auth(Credentials::Bearer(token.clone())),
        };
        if config.insecure {
            builder = builder.cert_validation(CertificateValidation::None);
        } else if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|error| EsConfigError::UnreadableCaFile {
                path: path.clone(),
                error,
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|e| EsConfigError::InvalidCaFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            builder = builder.cert_validation(CertificateValidation::Full(cert));
        }
        let transport = builder
            .build()
            .map_err(|e| EsConfigError::Client(e.to_string()))?;
        let mut client = EsClient {
            client: Elasticsearch::new(transport),
            // Replaced below by what the server says.
            flavor: Flavor::Elasticsearch {
                major: 8,
                version: String::new(),
            },
            retry: config.retry,
            timeout: config.timeout,
            url: url.clone(),
        };
        let root = client
            .request(Method::Get, "/", &[], Body::None, on_retry)
            .await?;
        client.flavor = Flavor::from_root(&root)?;
        Ok(client)
    }

    /// The server's kind and version.
    pub fn flavor(&self) -> &Flavor {
        &self.flavor
    }

    /// The server's URL, without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The retry policy of [`EsClient::request`].
    pub fn retry(&self) -> RetryPolicy {
        self.retry
    }

    /// The same client with another retry policy.
    pub fn with_retry(&self, retry: RetryPolicy) -> EsClient {
        EsClient {
            retry,
            ..self.clone()
        }
    }

    /// One request, retried per the policy while the failure is retryable.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Body,
        on_retry: OnRetry<'_>,
    ) -> Result<Value, EsError> {
        let mut attempt = 1;
        loop {
            match self.request_once(method, path, query, &body).await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_retryable() => {
                    if self.retry.max_attempts.is_some_and(|max| attempt >= max) {
                        return Err(EsError::GaveUp {
                            attempts: attempt,
                            last: Box::new(e),
                        });
                    }
                    let wait = self.retry.backoff(attempt);
                    on_retry(&e, wait);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One request, no retry: the answer's JSON on a 2xx, else the typed error.
    pub async fn request_once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: &Body,
    ) -> Result<Value, EsError> {
        let bytes = self.request_bytes(method, path, query, body).await?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| EsError::Body {
            method: String::new(),
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// One request, no retry: the raw answer on a 2xx, else the typed error.
    pub async fn request_bytes(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: &Body,
    ) -> Result<Vec<u8>, EsError> {
        let method_name = format!("{method:?}").to_uppercase();
        let mut headers = HeaderMap::new();
        let transport = |e: elasticsearch::Error| {
            let message = transport_message(&e);
            EsError::Transport {
                method: method_name.clone(),
                path: path.to_owned(),
                kind: TransportFailure::of(&e, &message),
                message,
            }
        };
        let query = (!query.is_empty()).then_some(query);
        let response = match body {
            Body::None => {
                self.client
                    .send::<(), _>(method, path, headers, query, None, Some(self.timeout))
                    .await
            }
            Body::Json(v) => {
                let bytes = serde_json::to_vec(v).map_err(|e| EsError::Body {
                    method: method_name.clone(),
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
                self.client
                    .send(
                        method,
                        path,
                        headers,
                        query,
                        Some(bytes),
                        Some(self.timeout),
                    )
                    .await
            }
            Body::NdJson(bytes) => {
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-ndjson"),
                );
                self.client
                    .send(
                        method,
                        path,
                        headers,
                        query,
                        Some(bytes.as_slice()),
                        Some(self.timeout),
                    )
                    .await
            }
        }
        .map_err(transport)?;
        let status = response.status_code().as_u16();
        let bytes = response.bytes().await.map_err(transport)?;
        if (200..300).contains(&status) {
            return Ok(bytes.to_vec());
        }
        let (error_type, reason) = error_of(&bytes);
        Err(EsError::Status {
            method: method_name,
            path: path.to_owned(),
            status,
            error_type,
            reason,
        })
    }
}

/// `host:9200` becomes `http://host:9200`; credentials in the URL are refused (they would show in
/// messages and process listings).
fn normalize_url(url: &str) -> Result<String, EsError> {
    let url = url.trim().trim_end_matches('/');
    let full = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    if let Some(rest) = full.split("://").nth(1) {
        let authority = rest.split('/').next().unwrap_or("");
        if authority.contains('@') {
            return Err(EsConfigError::CredentialsInUrl.into());
        }
    }
    if !(full.starts_with("http://") || full.starts_with("https://")) {
        return Err(EsConfigError::NotHttp {
            url: url.to_owned(),
        }
        .into());
    }
    Ok(full)
}

/// The message of a transport failure, with its causes (reqwest's own says only "error sending
/// request").
fn transport_message(e: &elasticsearch::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

/// The `error.type` and `error.reason` of an Elasticsearch error body (or the start of whatever
/// else the server said).
fn error_of(body: &[u8]) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(error) = parsed.as_ref().and_then(|v| v.get("error")) {
        if let Some(text) = error.as_str() {
            return ("error".into(), text.to_owned());
        }
        let field = |name: &str| {
            error
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let mut reason = field("reason");
        // A search failure's useful reason is in its root cause, with its own type.
        if let Some(cause) = error
            .pointer("/root_cause/0/reason")
            .and_then(Value::as_str)
        {
            let cause_type = error
                .pointer("/root_cause/0/type")
                .and_then(Value::as_str)
                .unwrap_or("");
            if cause != reason {
                reason = if cause_type.is_empty() || cause_type == field("type") {
                    format!("{reason} ({cause})")
                } else {
                    format!("{reason} ({cause_type}: {cause})")
                };
            }
        }
        return (field("type"), reason);
    }
    let text = String::from_utf8_lossy(body);
    let text: String = text.chars().take(200).collect();
    ("error".into(), text.trim().to_owned())
}

/// Percent-encodes a path segment (an index name, a document id).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'*' | b',' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flavors_are_told_apart_from_the_root_document() {
        let es = json!({"version": {"number": "8.15.0", "build_flavor": "default"}});
        assert_eq!(
            Flavor::from_root(&es).unwrap(),
            Flavor::Elasticsearch {
                major: 8,
                version: "8.15.0".into()
            }
        );
        let os = json!({"version": {"number": "2.17.1", "distribution": "opensearch"}});
        assert!(Flavor::from_root(&os).unwrap().is_opensearch());
        let old = json!({"version": {"number": "7.9.3"}});
        assert!(Flavor::from_root(&old)
            .unwrap_err()
            .to_string()
            .contains("7.10 or later"));
        let es7_10 = Flavor::from_root(&json!({"version": {"number": "7.10.2"}})).unwrap();
        assert!(!es7_10.has_shard_doc());
        let es7_17 = Flavor::from_root(&json!({"version": {"number": "7.17.24"}})).unwrap();
        assert!(es7_17.has_shard_doc());
        assert!(Flavor::from_root(&es).unwrap().has_shard_doc());
        assert!(!Flavor::from_root(&os).unwrap().has_shard_doc());
        assert!(Flavor::from_root(&json!({"tagline": "x"})).is_err());
    }

    #[test]
    fn backoff_grows_is_bounded_and_never_zero() {
        let p = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            max_attempts: None,
        };
        for attempt in 1..40 {
            let d = p.backoff(attempt);
            assert!(d >= Duration::from_millis(1));
            assert!(
                d <= Duration::from_secs(2) + Duration::from_millis(1),
                "{d:?}"
            );
        }
        // Full jitter: the waits of one attempt are spread, not all equal.
        let waits: std::collections::HashSet<_> = (0..20).map(|_| p.backoff(5)).collect();
        assert!(waits.len() > 5, "{waits:?}");
    }

    #[test]
    fn urls_are_normalized_and_credentials_refused() {
        assert_eq!(normalize_url("es:9200").unwrap(), "http://es:9200");
        assert_eq!(
            normalize_url("https://es.example:9243/").unwrap(),
            "https://es.example:9243"
        );
        let e = normalize_url("http://elastic:secret@es:9200").unwrap_err();
        assert!(!e.to_string().contains("secret"));
        assert!(matches!(
            e,
            EsError::Config(EsConfigError::CredentialsInUrl)
        ));
        assert!(matches!(
            normalize_url("ftp://es").unwrap_err(),
            EsError::Config(EsConfigError::NotHttp { url }) if url == "ftp://es"
        ));
    }

    #[test]
    fn error_bodies_give_type_and_reason() {
        let body = br#"{"error":{"root_cause":[{"type":"index_not_found_exception","reason":"no such index [x]"}],"type":"index_not_found_exception","reason":"no such index [x]"},"status":404}"#;
        assert_eq!(
            error_of(body),
            (
                "index_not_found_exception".into(),
                "no such index [x]".into()
            )
        );
        assert_eq!(error_of(b"Bad Gateway").1, "Bad Gateway");
        let os = br#"{"error":"no handler found for uri [/_pit] and method [POST]"}"#;
        assert!(error_of(os).1.contains("no handler"));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let mut c = EsConfig::new("http://es:9200");
        c.auth = Auth::Basic {
            username: "elastic".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        c.auth = Auth::ApiKey("c2VjcmV0".into());
        assert!(!format!("{c:?}").contains("c2VjcmV0"));
        c.auth = Auth::Bearer("tok123".into());
        assert!(!format!("{c:?}").contains("tok123"));
    }
}
