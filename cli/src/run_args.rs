//! The raw arguments of `k8scop run`, as clap parses them (the "low" layer).
//!
//! Every option is optional here: a value that is absent may still come from the configuration
//! file or the environment, and the defaults are applied only once everything is merged
//! ([`crate::config`]). Nothing here is validated beyond its type.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Deserialize;

/// `-A`: read the inputs to their end, or follow them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnalysisArg {
    Static,
    Streaming,
}

/// `--output`: how alerts are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputArg {
    /// `[++]` / `[+=]` lines, coloured on a terminal.
    Human,
    /// One alert document per line.
    Json,
}

/// `email.tls`: how the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTlsArg {
    /// Plain text upgraded with STARTTLS (required), port 587.
    Starttls,
    /// TLS from the first byte, port 465.
    Tls,
    /// No encryption (a relay on a trusted network), port 25.
    None,
}

/// `--webhook-format`: the body of the webhook's POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormatArg {
    /// The alert documents as JSON.
    Json,
    /// A Slack-compatible `{"text": ...}` message.
    Slack,
}

#[derive(Debug, Default, Args)]
pub struct RunArgs {
    /// Elasticsearch (or OpenSearch) URL to read audit events from and write alerts to.
    /// Credentials come from the config file or K8SCOP_ES_* variables, never from here.
    #[arg(short = 'E', long = "elastic", value_name = "URL")]
    pub elastic: Option<String>,
    /// The Elasticsearch index pattern of the audit logs (with --elastic).
    #[arg(short = 'I', long = "pages", value_name = "INDEX")]
    pub pages: Option<String>,
    /// The Elasticsearch index alerts are written to (with --elastic).
    #[arg(short = 'i', long = "alerts", value_name = "INDEX")]
    pub alerts: Option<String>,
    /// Only events at or after TIME, UTC (with --elastic): `2019-2-12-19-30-0`, RFC 3339,
    /// `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS`, `now-1h`.
    #[arg(short = 's', long = "start", value_name = "TIME")]
    pub start: Option<String>,
    /// Only events before TIME, UTC (with --elastic); same forms as `--start`.
    #[arg(short = 'e', long = "end", value_name = "TIME")]
    pub end: Option<String>,
    /// The aggregation window of rules without `within`, in seconds [default: 600].
    #[arg(
        short = 'D',
        long = "max-alert-delta",
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub max_alert_delta: Option<f64>,
    /// Wall-clock deadline of one script evaluation, in milliseconds [default: 1000]. A backstop:
    /// the operation limit stops a runaway script long before, the same way on any machine.
    #[arg(long = "script-deadline", value_name = "MS")]
    pub script_deadline: Option<u32>,
    /// `static` reads the inputs to their end and exits; `streaming` follows them [default: static].
    #[arg(short = 'A', long = "analysis", value_enum)]
    pub analysis: Option<AnalysisArg>,
    /// Seconds between polls of a followed input (fractions allowed) [default: 1].
    #[arg(
        short = 'd',
        long = "fetch-delay",
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub fetch_delay: Option<f64>,
    /// Rules file or directory (repeatable) [default: rules].
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Audit log file, glob (`'/var/log/audit/*.log'`) or `-` for stdin (repeatable).
    #[arg(long = "source", value_name = "PATH|GLOB|-")]
    pub sources: Vec<String>,
    /// How alerts are written to stdout [default: human].
    #[arg(long = "output", value_enum)]
    pub output: Option<OutputArg>,
    /// Also append every alert, as a JSON line, to this file.
    #[arg(long = "alerts-file", value_name = "PATH")]
    pub alerts_file: Option<PathBuf>,
    /// Also POST alerts to this http(s) URL (or `K8SCOP_WEBHOOK_URL`).
    #[arg(long = "webhook", value_name = "URL")]
    pub webhook: Option<String>,
    /// The body of the webhook's POST [default: json].
    #[arg(long = "webhook-format", value_enum)]
    pub webhook_format: Option<WebhookFormatArg>,
    /// Also e-mail alerts to this address (repeatable; replaces `email.to` of the config file).
    /// The SMTP server and the sender come from the config file's `email:` section.
    #[arg(long = "email-to", value_name = "ADDRESS")]
    pub email_to: Vec<String>,
    /// Seconds alerts are held so that a burst is one e-mail (fractions allowed) [default: 60].
    #[arg(
        long = "email-window",
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub email_window: Option<f64>,
    /// A YAML configuration file; command-line flags override it.
    #[arg(long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Do not reload the rules when they change (streaming runs).
    #[arg(long = "no-watch")]
    pub no_watch: bool,
    /// The date field Elasticsearch ranges and the cursor use [default: @timestamp]
    /// (`event.ingested` makes late documents impossible to miss).
    #[arg(long = "time-field", value_name = "FIELD")]
    pub time_field: Option<String>,
    /// Hits per Elasticsearch page [default: 1000].
    #[arg(long = "page-size", value_name = "N")]
    pub page_size: Option<usize>,
    /// Streaming: leave documents newer than this many seconds for a later poll [default: 1].
    #[arg(long = "query-delay", value_name = "SECONDS")]
    pub query_delay: Option<f64>,
    /// Streaming: how many seconds before the cursor each poll reads again, for late
    /// documents [default: 30].
    #[arg(long = "overlap", value_name = "SECONDS")]
    pub overlap: Option<f64>,
    /// The sort tiebreaker field [default: `_shard_doc` with a point in time, else `_id`].
    #[arg(long = "tiebreaker", value_name = "FIELD")]
    pub tiebreaker: Option<String>,
    /// A PEM file with the CA of the Elasticsearch server's certificate.
    #[arg(long = "es-ca-file", value_name = "PEM")]
    pub es_ca_file: Option<PathBuf>,
    /// Do not verify the Elasticsearch server's certificate (testing only).
    #[arg(long = "es-insecure")]
    pub es_insecure: bool,
    /// The index checkpoints are kept in [default: k8scop-state].
    #[arg(long = "state-index", value_name = "INDEX")]
    pub state_index: Option<String>,
    /// The checkpoint's id [default: derived from the index pattern, field and range].
    #[arg(long = "state-id", value_name = "ID")]
    pub state_id: Option<String>,
    /// This instance's name, for the checkpoint lease [default: the host name].
    #[arg(long = "instance", value_name = "NAME")]
    pub instance: Option<String>,
    /// Seconds between two checkpoints (fractions allowed) [default: 5].
    #[arg(long = "checkpoint-interval", value_name = "SECONDS")]
    pub checkpoint_interval: Option<f64>,
    /// Ignore a stored checkpoint and start over (it is then overwritten).
    #[arg(long = "fresh")]
    pub fresh: bool,
    /// Where alert documents Elasticsearch rejects are written [default: k8scop-dead-letter.jsonl].
    #[arg(long = "dead-letter", value_name = "PATH")]
    pub dead_letter: Option<PathBuf>,
    /// A URL template (Kibana Discover) written as `k8scop.events_url` in each alert document:
    /// `{start}`, `{end}`, `{ids}`, `{rule}` and `{id}` are filled in (docs/kibana.md).
    #[arg(long = "events-url", value_name = "TEMPLATE")]
    pub events_url: Option<String>,
    /// Receive audit events from the kube-apiserver's webhook backend on ADDR
    /// (`0.0.0.0:8443`); a streaming run (docs/webhook.md).
    #[arg(long = "listen", value_name = "ADDR")]
    pub listen: Option<String>,
    /// The path the audit webhook is served on [default: /k8s-audit].
    #[arg(long = "listen-path", value_name = "PATH")]
    pub listen_path: Option<String>,
    /// HTTPS for `--listen`: the server certificate (PEM, with its chain).
    #[arg(long = "tls-cert", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// HTTPS for `--listen`: the certificate's private key (PEM).
    #[arg(long = "tls-key", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Require a client certificate signed by this CA (PEM) on `--listen`.
    #[arg(long = "client-ca", value_name = "PEM")]
    pub client_ca: Option<PathBuf>,
    /// The largest audit batch accepted, in bytes; larger ones get 413 [default: 10485760].
    #[arg(long = "max-batch-bytes", value_name = "BYTES")]
    pub max_batch_bytes: Option<usize>,
    /// The largest audit event accepted, in bytes; a batch holding a larger one gets 413
    /// [default: 102400].
    #[arg(long = "max-event-bytes", value_name = "BYTES")]
    pub max_event_bytes: Option<usize>,
    /// Serve Prometheus metrics (/metrics) and health probes (/healthz, /readyz) on ADDR
    /// (`0.0.0.0:9090`).
    #[arg(long = "metrics", value_name = "ADDR")]
    pub metrics: Option<String>,
    /// No progress bar and no stats line (notices and the summary are still printed).
    #[arg(long = "quiet", short = 'q')]
    pub quiet: bool,
}
