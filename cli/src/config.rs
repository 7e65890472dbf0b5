//! `k8scop run`'s configuration: the command line ([`RunArgs`]), the YAML file (`--config`) and
//! the environment, merged and validated into a [`RunConfig`] before anything runs.
//!
//! As in ripgrep's lowargs -> hiargs, the raw layers ([`RunArgs`], [`FileConfig`]) only hold what
//! the user wrote; [`RunConfig::build`] applies the precedence (flag, then file, then the
//! `K8SCOP_*` variables, then the default), checks every combination and produces the engine's
//! [`PipelineConfig`], the list of sinks and the display options. Its inputs (environment, clock,
//! which streams are terminals) are parameters, so the whole of it is tested without a process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8scop_engine::script::ScriptLimits;
use k8scop_engine::CompileOptions;
use k8scop_runtime::checkpoint::CheckpointPolicy;
use k8scop_runtime::elastic::{Auth, EsConfig, RetryPolicy};
use k8scop_runtime::pipeline::{Analysis, PipelineConfig, SourceSpec};
use k8scop_runtime::server::TlsFiles;
use k8scop_runtime::sinks::discover::{DiscoverLink, DiscoverLinkError};
use k8scop_runtime::sources::elasticsearch::EsSourceConfig;
use k8scop_runtime::sources::file::FileSourceConfig;
use k8scop_runtime::sources::webhook::WebhookConfig;
use serde::Deserialize;

use crate::run_args::{AnalysisArg, EmailTlsArg, OutputArg, RunArgs, WebhookFormatArg};
use crate::time::{parse_time, TimeError};

/// The default aggregation window, in seconds (as `check` and `test-rule`).
const DEFAULT_MAX_ALERT_DELTA: f64 = 600.0;
/// The default `--fetch-delay`, in seconds.
const DEFAULT_FETCH_DELAY: f64 = 1.0;
/// The default `--email-window`, in seconds.
const DEFAULT_EMAIL_WINDOW: f64 = 60.0;
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);
/// Batches decoded and judged at once. On one core, two: one is decoded while the engine applies
/// the other. With more, four per core (at most 64): the engine takes batches in input order,
/// and batches differ in cost (pod creations take longer to judge than health checks), so with
/// one batch per core a worker done early waits for the slowest to be taken; with more in
/// flight it decodes the next (4% faster on two cores). Each costs a chunk (256 KiB) and its
/// events. Decoding and judging the rules' conditions run on the workers, so they scale with the
/// cores; only thresholds, sequences and aggregation stay on the engine's one thread.
fn decode_parallelism() -> usize {
    match std::thread::available_parallelism().map_or(1, |n| n.get()) {
        0 | 1 => 2,
        cores => (cores * 4).min(64),
    }
}

/// A configuration that cannot be used. Each message is one line, ready for `error: `, and
/// says what is wrong and where: the flag or config key, or the file with its line and column.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file (`--config`) cannot be read.
    #[error("cannot read the configuration file `{}`: {error}", path.display())]
    UnreadableFile {
        /// The path given to `--config`.
        path: PathBuf,
        /// Why the operating system refused it.
        #[source]
        error: std::io::Error,
    },
    /// The configuration file is not YAML, or a value in it has the wrong type.
    #[error("{}{}{message}", located(file, location), key_prefix(key))]
    InvalidFile {
        /// The file as named in messages.
        file: String,
        /// Where in the file, when the YAML parser knows.
        location: Option<FileLocation>,
        /// The dotted key the value belongs to (`elastic.page_size`), when known.
        key: Option<String>,
        /// The YAML parser's description of the problem.
        message: String,
    },
    /// A key the configuration file does not have (a typo, or a flag that has no key).
    #[error("{}unknown key `{key}`{expected}", located(file, location))]
    UnknownKey {
        /// The file as named in messages.
        file: String,
        /// Where in the file, when the YAML parser knows.
        location: Option<FileLocation>,
        /// The dotted key as written (`elastic.uri`).
        key: String,
        /// The keys allowed there, as `, expected one of ...` (empty when unknown).
        expected: String,
    },
    /// A `${NAME}` in a config value names a variable that is not set.
    #[error("config key `{key}`: environment variable `{name}` is not set")]
    UnsetVariable {
        /// The dotted key whose value holds the reference.
        key: String,
        /// The variable's name.
        name: String,
    },
    /// A `${...}` in a config value that is not a variable name (`${1X}`).
    #[error("config key `{key}`: `${{{name}}}` is not an environment variable name")]
    InvalidVariableName {
        /// The dotted key whose value holds the reference.
        key: String,
        /// What stands between the braces.
        name: String,
    },
    /// A `${` in a config value without its closing `}`.
    #[error("config key `{key}`: `${{` without a closing `}}` (write `$${{` for a literal `${{`)")]
    UnclosedVariable {
        /// The dotted key whose value holds the reference.
        key: String,
    },
    /// A number out of the option's range (`--fetch-delay 0`, `--page-size 20000`).
    #[error("{}: expected {expected}", option.with_value(value))]
    InvalidValue {
        /// The flag (which for most options also names the config key: `--fetch-delay` is
        /// `fetch_delay`), or the config key when the value came from the file.
        option: Setting,
        /// The value as given.
        value: String,
        /// What the option takes.
        expected: &'static str,
    },
    /// An option given an empty string.
    #[error("{option} is empty; give {expected}")]
    EmptyValue {
        /// The flag, or the config key when the value came from the file.
        option: Setting,
        /// What the option takes.
        expected: &'static str,
    },
    /// `--start` or `--end` is not a time k8scop reads.
    #[error("`{option}`: {error}")]
    InvalidTime {
        /// `--start` or `--end`.
        option: &'static str,
        /// The time and what is wrong with it.
        #[source]
        error: TimeError,
    },
    /// `--end` is not after `--start`.
    #[error(
        "`--end` ({}) is not after `--start` ({})",
        seconds(end),
        seconds(start)
    )]
    EmptyTimeRange {
        /// The start of the range.
        start: DateTime<Utc>,
        /// The end of the range, at or before its start.
        end: DateTime<Utc>,
    },
    /// `--events-url` (`elastic.events_url`) is not a usable URL template.
    #[error("`--events-url`: {0}")]
    InvalidEventsUrl(#[source] DiscoverLinkError),
    /// A webhook URL that is not `http://` or `https://` with a host.
    #[error("webhook URL `{shown}` is not an http(s) URL (expected `https://host/path`)")]
    InvalidWebhookUrl {
        /// The URL up to its host: its path may hold a secret.
        shown: String,
    },
    /// A `webhook.headers` key that HTTP does not allow as a header name.
    #[error("config key `{key}`: not a valid HTTP header name")]
    InvalidHeaderName {
        /// `webhook.headers.<name>`.
        key: String,
    },
    /// A `webhook.headers` value with a line break, which would end the header early.
    #[error("config key `{key}`: a header value cannot span lines")]
    MultilineHeaderValue {
        /// `webhook.headers.<name>`.
        key: String,
    },
    /// Half of the Elasticsearch basic authentication is given, the other half is not.
    #[error(
        "basic authentication needs both a username and a password: the {missing} is missing \
         (`elastic.{missing}` or K8SCOP_ES_{})",
        missing.as_str().to_uppercase()
    )]
    MissingCredential {
        /// The half that is not set anywhere.
        missing: BasicAuthPart,
    },
    /// Half of the SMTP authentication is given, the other half is not.
    #[error(
        "SMTP authentication needs both a username and a password: the {missing} is missing \
         (`email.{missing}` or K8SCOP_SMTP_{})",
        missing.as_str().to_uppercase()
    )]
    MissingSmtpCredential {
        /// The half that is not set anywhere.
        missing: BasicAuthPart,
    },
    /// An `email` setting that cannot be used.
    #[error("{}: {problem}", if key.starts_with("--") { format!("`{key}`") } else { format!("config key `{key}`") })]
    InvalidEmail {
        /// The config key (`email.host`), or the flag.
        key: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// Two options that cannot be used together.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// Something the run, or another option, needs and does not have.
    #[error(transparent)]
    Missing(#[from] Missing),
}

/// A line and column of the configuration file, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLocation {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
}

/// How a message names a setting: by its flag, or by its config key when the value came from the
/// configuration file (the file's own keys do not all follow the flags' names: `--listen` is
/// `listen.address`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// A command-line flag (`--tls-cert`).
    Flag(&'static str),
    /// A dotted config key (`listen.tls_cert`).
    Key(&'static str),
}

impl Setting {
    /// The flag if it is given, else the config key if the file has it.
    fn of(flag: bool, file: bool, name: &'static str, key: &'static str) -> Option<Setting> {
        if flag {
            Some(Setting::Flag(name))
        } else if file {
            Some(Setting::Key(key))
        } else {
            None
        }
    }

    /// `` `--listen-path audit` `` or `` config key `listen.path` (`audit`) ``.
    fn with_value(self, value: &str) -> String {
        match self {
            Setting::Flag(flag) => format!("`{flag} {value}`"),
            Setting::Key(key) => format!("config key `{key}` (`{value}`)"),
        }
    }
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setting::Flag(flag) => write!(f, "`{flag}`"),
            Setting::Key(key) => write!(f, "config key `{key}`"),
        }
    }
}

/// The two halves of basic authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicAuthPart {
    /// `elastic.username`, `K8SCOP_ES_USERNAME`.
    Username,
    /// `elastic.password`, `K8SCOP_ES_PASSWORD`.
    Password,
}

impl BasicAuthPart {
    /// `username` or `password`, as in the config key.
    pub fn as_str(self) -> &'static str {
        match self {
            BasicAuthPart::Username => "username",
            BasicAuthPart::Password => "password",
        }
    }
}

impl std::fmt::Display for BasicAuthPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Two options that cannot be used together; the message says which to keep or why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// `--elastic` and `--source`: a run reads one source.
    #[error("`--elastic` and `--source` are both given: k8scop reads one source per run")]
    ElasticAndSource,
    /// `--listen` with `--source` or `--elastic`: a run reads one source.
    #[error("{listen} and `{other}` are both given: k8scop reads one source per run")]
    ListenAndSource {
        /// `--listen`, or `listen.address` of the file.
        listen: Setting,
        /// `--source` or `--elastic`.
        other: &'static str,
    },
    /// `--listen` in a static run: the webhook has no end to read to.
    #[error(
        "{listen} receives events until k8scop is stopped: it is a streaming run, not `-A static`"
    )]
    ListenWhileStatic {
        /// `--listen`, or `listen.address` of the file.
        listen: Setting,
    },
    /// `--source -` twice: stdin can be read once.
    #[error("`--source -` (stdin) is given more than once")]
    StdinTwice,
    /// `--end` in a streaming run, which has no end.
    #[error("`--end` ends a static run; a streaming run follows the index until it is stopped")]
    EndWhileStreaming,
    /// Basic, API-key and bearer credentials: more than one kind is set.
    #[error(
        "more than one kind of Elasticsearch credentials is set (basic, API key, bearer): keep one"
    )]
    SeveralCredentials,
    /// `--es-insecure` with `--es-ca-file`: a CA file means nothing without verification.
    #[error(
        "`--es-insecure` skips certificate verification; it makes `--es-ca-file` pointless: give one"
    )]
    InsecureWithCaFile,
}

/// An option the run, or another option, needs and that is not given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    /// Neither `--source` nor `--elastic`.
    #[error(
        "{} needs something to read: give `--source PATH|GLOB|-` (or `--elastic`, `--listen`)",
        run_kind(*analysis)
    )]
    Source {
        /// The run's analysis, named in the message.
        analysis: Analysis,
    },
    /// `--elastic` without the index pattern to read (`--pages`).
    #[error(
        "`--elastic {url}` needs the index pattern of the audit logs: `-I logs-*` (`--pages`)"
    )]
    Pages {
        /// The server's URL, without credentials.
        url: String,
    },
    /// A static run over Elasticsearch without `--start`: it would read the whole index.
    #[error(
        "a static run over Elasticsearch needs `--start` (`-s`), e.g. `-s now-1h` or `-s 2024-01-01`"
    )]
    Start,
    /// `--pages` without `--elastic`.
    #[error("`--pages {pages}` names the Elasticsearch index to read; it needs `--elastic`")]
    ElasticForPages {
        /// The index pattern given.
        pages: String,
    },
    /// `--alerts` (the alerts index) without `--elastic`.
    #[error(
        "`--alerts {index}` names the Elasticsearch index alerts go to; it needs `--elastic` \
         (use `--alerts-file` for a file)"
    )]
    ElasticForAlerts {
        /// The index given.
        index: String,
    },
    /// `--start`/`--end` with file sources, which are not selected by time.
    #[error(
        "`--start` and `--end` select the events read from Elasticsearch (`--elastic`); \
         selecting file sources by time is not supported"
    )]
    ElasticForTimeRange,
    /// Elasticsearch credentials in the file without a server to use them on.
    #[error(
        "config keys `elastic.username`, `elastic.password`, `elastic.api_key` and \
         `elastic.bearer` need `elastic.url` (`--elastic`)"
    )]
    ElasticForCredentials,
    /// `--tls-cert`, `--tls-key`, `--client-ca`, `--listen-path` or a size limit (or their
    /// `listen.*` keys) without `--listen` (`listen.address`).
    #[error(
        "{option} configures the audit webhook; it needs `--listen ADDR` (config key \
         `listen.address`)"
    )]
    ListenFor {
        /// The option given.
        option: Setting,
    },
    /// One of `--tls-cert` and `--tls-key` without the other.
    #[error("{given} needs {missing}: HTTPS takes a certificate and its key")]
    TlsPair {
        /// The option given.
        given: Setting,
        /// The option missing, with its config key.
        missing: &'static str,
    },
    /// `--client-ca` without HTTPS.
    #[error(
        "{given} checks client certificates, which needs HTTPS: give `--tls-cert` and \
         `--tls-key` (config keys `listen.tls_cert` and `listen.tls_key`)"
    )]
    TlsForClientCa {
        /// `--client-ca`, or `listen.client_ca` of the file.
        given: Setting,
    },
    /// `--webhook-format` without a webhook.
    #[error("`--webhook-format` needs a webhook URL (`--webhook URL`)")]
    WebhookUrlForFormat,
    /// `--events-url` without the alerts index whose documents it goes into.
    #[error(
        "`--events-url` is written into the documents of the Elasticsearch alerts index; it \
         needs `--elastic` and `--alerts` (`-i`)"
    )]
    AlertsIndexForEventsUrl,
    /// `webhook.headers` without a webhook.
    #[error("config key `webhook.headers` needs a webhook URL (`webhook.url`)")]
    WebhookUrlForHeaders,
    /// E-mail settings or recipients without the SMTP server to send through.
    #[error(
        "e-mail needs an SMTP server: config key `email.host` (with `email.from` and `email.to` \
         or `--email-to`)"
    )]
    SmtpHost,
    /// An SMTP server without anyone to send to.
    #[error("e-mail needs at least one recipient: config key `email.to` or `--email-to ADDRESS`")]
    EmailRecipients,
    /// An SMTP server without the sender's address.
    #[error("e-mail needs the sender's address: config key `email.from`")]
    EmailFrom,
}

/// `file:line:column: ` (or `file: `) before a message about the configuration file.
fn located(file: &str, location: &Option<FileLocation>) -> String {
    match location {
        Some(l) => format!("{file}:{}:{}: ", l.line, l.column),
        None => format!("{file}: "),
    }
}

/// `a static run` or `a streaming run`.
fn run_kind(analysis: Analysis) -> &'static str {
    match analysis {
        Analysis::Static => "a static run",
        Analysis::Streaming => "a streaming run",
    }
}

/// `` key `elastic.url`: `` before a message about a key's value, when the key is known.
fn key_prefix(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!("key `{k}`: "))
        .unwrap_or_default()
}

/// A time as `2024-01-01T00:00:00Z`.
fn seconds(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `--option value: expected ...`.
fn invalid_value<T>(
    option: &'static str,
    value: impl std::fmt::Display,
    expected: &'static str,
) -> Result<T, ConfigError> {
    Err(ConfigError::InvalidValue {
        option: Setting::Flag(option),
        value: value.to_string(),
        expected,
    })
}

// ---------------------------------------------------------------------------------------------
// The configuration file, as written.

/// `k8scop.yaml`. Every key is optional; unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub elastic: Option<ElasticFile>,
    pub rules: Option<Vec<String>>,
    pub sources: Option<Vec<String>>,
    pub analysis: Option<AnalysisArg>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub max_alert_delta: Option<f64>,
    /// `--script-deadline`, in milliseconds.
    pub script_deadline: Option<u32>,
    pub fetch_delay: Option<f64>,
    pub output: Option<OutputArg>,
    pub alerts_file: Option<String>,
    pub webhook: Option<WebhookFile>,
    pub email: Option<EmailFile>,
    /// The audit webhook receiver: `--listen` and its options.
    pub listen: Option<ListenFile>,
    /// `--metrics`: where the metrics and health endpoints listen.
    pub metrics: Option<String>,
    /// `false` is `--no-watch`.
    pub watch: Option<bool>,
    pub quiet: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticFile {
    pub url: Option<String>,
    pub pages: Option<String>,
    pub alerts: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub api_key: Option<String>,
    pub bearer: Option<String>,
    pub ca_file: Option<String>,
    pub insecure: Option<bool>,
    pub time_field: Option<String>,
    pub page_size: Option<usize>,
    pub state_index: Option<String>,
    pub state_id: Option<String>,
    pub instance: Option<String>,
    pub dead_letter: Option<String>,
    pub events_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFile {
    pub url: Option<String>,
    pub format: Option<WebhookFormatArg>,
    pub headers: Option<BTreeMap<String, String>>,
}

/// `listen:`: the audit webhook receiver, as `--listen` and its options.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenFile {
    /// `--listen`.
    pub address: Option<String>,
    /// `--listen-path`.
    pub path: Option<String>,
    /// `--tls-cert`.
    pub tls_cert: Option<String>,
    /// `--tls-key`.
    pub tls_key: Option<String>,
    /// `--client-ca`.
    pub client_ca: Option<String>,
    /// `--max-batch-bytes`.
    pub max_batch_bytes: Option<usize>,
    /// `--max-event-bytes`.
    pub max_event_bytes: Option<usize>,
}

/// `email:`: the SMTP server, the credentials, the sender and the recipients.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailFile {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: Option<EmailTlsArg>,
    /// A PEM file with the CA of the server's certificate.
    pub ca_file: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: Option<String>,
    pub to: Option<Vec<String>>,
    /// Seconds, as `--email-window`.
    pub window: Option<f64>,
    /// The subject's prefix.
    pub subject: Option<String>,
}

impl FileConfig {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::UnreadableFile {
            path: path.to_owned(),
            error,
        })?;
        FileConfig::parse(&text, &path.display().to_string())
    }

    /// Parses the text of a configuration file; `name` is used in error messages.
    pub fn parse(text: &str, name: &str) -> Result<FileConfig, ConfigError> {
        // An empty file (or one with only comments) is an empty configuration.
        match serde_yaml_ng::from_str::<Option<FileConfig>>(text) {
            Ok(c) => Ok(c.unwrap_or_default()),
            Err(e) => Err(yaml_error(&e, name)),
        }
    }
}

/// `k8scop.yaml:3:5: unknown key `elastic.uri`, expected one of ...`: serde's message taken
/// apart into the key, the problem and the location, which is put first.
fn yaml_error(e: &serde_yaml_ng::Error, name: &str) -> ConfigError {
    let mut message = e.to_string();
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    let file = name.to_owned();
    let location = e.location().map(|l| FileLocation {
        line: l.line(),
        column: l.column(),
    });
    // serde prefixes the path of the key in error, as in `elastic: invalid type: ...`.
    let (path, rest) = match message.split_once(": ") {
        Some((p, r)) if !p.contains([' ', '`']) => (Some(p.to_owned()), r.to_owned()),
        _ => (None, message.clone()),
    };
    if let Some(tail) = rest.strip_prefix("unknown field `") {
        let (key, expected) = tail.split_once('`').unwrap_or((tail, ""));
        let key = match &path {
            Some(p) => format!("{p}.{key}"),
            None => key.to_owned(),
        };
        return ConfigError::UnknownKey {
            file,
            location,
            key,
            expected: expected.to_owned(),
        };
    }
    ConfigError::InvalidFile {
        file,
        location,
        key: path,
        message: rest,
    }
}

// ---------------------------------------------------------------------------------------------
// Environment variables.

/// Looks an environment variable up (the process environment, or a map in tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Replaces every `${NAME}` in a configuration value by the variable's value; `$${` is a literal
/// `${`. `key` names the value in errors.
fn substitute(value: &str, key: &str, env: Env<'_>) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                return Err(ConfigError::UnclosedVariable {
                    key: key.to_owned(),
                });
            };
            let name = &after[..end];
            let valid = name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return Err(ConfigError::InvalidVariableName {
                    key: key.to_owned(),
                    name: name.to_owned(),
                });
            }
            match env(name) {
                Some(v) => out.push_str(&v),
                None => {
                    return Err(ConfigError::UnsetVariable {
                        key: key.to_owned(),
                        name: name.to_owned(),
                    })
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn subst_opt(
    value: Option<String>,
    key: &str,
    env: Env<'_>,
) -> Result<Option<String>, ConfigError> {
    value.map(|v| substitute(&v, key, env)).transpose()
}

fn subst_list(
    values: Option<Vec<String>>,
    key: &str,
    env: Env<'_>,
) -> Result<Vec<String>, ConfigError> {
    values
        .unwrap_or_default()
        .iter()
        .map(|v| substitute(v, key, env))
        .collect()
}

/// The flag's value when given, else the file's (with its `${...}` replaced); the file's value is
/// only looked at when it is used, so an unset variable in an overridden key is no error.
fn pick(
    flag: Option<String>,
    file: Option<String>,
    key: &str,
    env: Env<'_>,
) -> Result<Option<String>, ConfigError> {
    match flag {
        Some(f) => Ok(Some(f)),
        None => subst_opt(file, key, env),
    }
}

// ---------------------------------------------------------------------------------------------
// The validated configuration.

/// Which of the standard streams are terminals, and whether `NO_COLOR` is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Terminal {
    pub stdout: bool,
    pub stderr: bool,
    pub no_color: bool,
}

impl Terminal {
    pub fn detect() -> Terminal {
        use std::io::IsTerminal;
        Terminal {
            stdout: std::io::stdout().is_terminal(),
            stderr: std::io::stderr().is_terminal(),
            no_color: std::env::var_os("NO_COLOR").is_some(),
        }
    }
}

/// Where alerts go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkSpec {
    Stdout { format: OutputArg, colour: bool },
    File(PathBuf),
    Webhook(WebhookSpec),
    Email(EmailSpec),
}

/// The e-mail sink's settings. `Debug` leaves the password out.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailSpec {
    pub host: String,
    /// `None`: the TLS mode's default port.
    pub port: Option<u16>,
    pub tls: EmailTlsArg,
    /// The CA of the server's certificate (`email.ca_file`), trusted on top of the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// `(username, password)`.
    pub credentials: Option<(String, String)>,
    pub from: String,
    pub to: Vec<String>,
    pub subject_prefix: String,
    pub window: Duration,
}

impl std::fmt::Debug for EmailSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSpec")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(u, _)| (u, "<redacted>")),
            )
            .field("from", &self.from)
            .field("to", &self.to)
            .field("subject_prefix", &self.subject_prefix)
            .field("window", &self.window)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSpec {
    pub url: String,
    pub format: WebhookFormatArg,
    pub headers: Vec<(String, String)>,
}

/// What is shown on stderr while the run goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisplayOptions {
    /// The in-place progress bar (static runs, stderr a terminal, not `--quiet`).
    pub progress_bar: bool,
    /// The periodic stats line (streaming runs, not `--quiet`).
    pub stats_line: bool,
    /// Alerts written to stdout share the terminal with the bar, which must step aside for them.
    pub stdout_shares_terminal: bool,
}

/// Where events come from.
#[derive(Debug, Clone)]
pub enum SourceSetup {
    Files(FileSourceConfig),
    Elastic(Box<ElasticSetup>),
    Webhook(WebhookConfig),
}

/// The Elasticsearch source, and the alerts index and checkpoints that go with it.
#[derive(Debug, Clone)]
pub struct ElasticSetup {
    pub server: EsConfig,
    pub source: EsSourceConfig,
    /// The alerts index (`-i`), when alerts go to Elasticsearch.
    pub alerts: Option<String>,
    pub dead_letter: PathBuf,
    /// The link to the events written into each alert document (`--events-url`).
    pub events_url: Option<DiscoverLink>,
    /// Checkpoints: the state index, the cursor's id and this instance's name.
    pub state_index: String,
    pub state_id: String,
    pub instance: String,
    /// Ignore a stored checkpoint and start over (`--fresh`).
    pub fresh: bool,
}

/// Everything `run` needs, validated.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub pipeline: PipelineConfig,
    pub source: SourceSetup,
    /// How long a graceful shutdown may take before the process exits anyway.
    pub shutdown_deadline: Duration,
    /// Stdout first, then the alerts file, the webhook and e-mail.
    pub sinks: Vec<SinkSpec>,
    pub display: DisplayOptions,
    /// Where the metrics and health endpoints listen (`--metrics`).
    pub metrics: Option<String>,
}

/// The (validated) time range of `--start`/`--end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TimeRange {
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
}

impl RunConfig {
    /// Merges the flags, the file and the environment (in that order of precedence) and
    /// validates the result. `now` is the clock for relative times.
    pub fn build(
        args: &RunArgs,
        file: FileConfig,
        env: Env<'_>,
        now: DateTime<Utc>,
        terminal: Terminal,
    ) -> Result<RunConfig, ConfigError> {
        let mut elastic_file = file.elastic.unwrap_or_default();
        let webhook_file = file.webhook.unwrap_or_default();

        let max_alert_delta = positive_seconds(
            args.max_alert_delta.or(file.max_alert_delta),
            DEFAULT_MAX_ALERT_DELTA,
            "--max-alert-delta",
        )?;
        let script_deadline = script_deadline(args.script_deadline.or(file.script_deadline))?;
        let fetch_delay = positive_seconds(
            args.fetch_delay.or(file.fetch_delay),
            DEFAULT_FETCH_DELAY,
            "--fetch-delay",
        )?;

        let start = pick(args.start.clone(), file.start, "start", env)?;
        let end = pick(args.end.clone(), file.end, "end", env)?;
        let range = time_range(start.as_deref(), end.as_deref(), now)?;

        let webhook = webhook(args, webhook_file, env)?;
        let email = email(args, file.email.unwrap_or_default(), env)?;

        let elastic_url = pick(
            args.elastic.clone(),
            elastic_file.url.take(),
            "elastic.url",
            env,
        )?;
        let pages = pick(
            args.pages.clone(),
            elastic_file.pages.take(),
            "elastic.pages",
            env,
        )?;
        let alerts_index = pick(
            args.alerts.clone(),
            elastic_file.alerts.take(),
            "elastic.alerts",
            env,
        )?;
        let listen = listen_setup(args, file.listen.unwrap_or_default(), env)?;
        let analysis = match (args.analysis.or(file.analysis), &listen) {
            (Some(AnalysisArg::Static), Some((_, listen))) => {
                return Err(Conflict::ListenWhileStatic { listen: *listen }.into())
            }
            (Some(AnalysisArg::Streaming), _) | (None, Some(_)) => Analysis::Streaming,
            (Some(AnalysisArg::Static) | None, None) => Analysis::Static,
        };
        let sources = if args.sources.is_empty() {
            subst_list(file.sources.clone(), "sources", env)?
        } else {
            args.sources.clone()
        };
        if let Some((_, listen)) = &listen {
            if !sources.is_empty() {
                let other = "--source";
                return Err(Conflict::ListenAndSource {
                    listen: *listen,
                    other,
                }
                .into());
            }
            if elastic_url.is_some() {
                let other = "--elastic";
                return Err(Conflict::ListenAndSource {
                    listen: *listen,
                    other,
                }
                .into());
            }
        }
        let source = match elastic_url {
            _ if listen.is_some() => {
                if let Some(pages) = pages {
                    return Err(Missing::ElasticForPages { pages }.into());
                }
                if let Some(index) = alerts_index {
                    return Err(Missing::ElasticForAlerts { index }.into());
                }
                if range.start.is_some() || range.end.is_some() {
                    return Err(Missing::ElasticForTimeRange.into());
                }
                SourceSetup::Webhook(listen.expect("checked above").0)
            }
            Some(url) => {
                if !sources.is_empty() {
                    return Err(Conflict::ElasticAndSource.into());
                }
                let setup = elastic_setup(ElasticInputs {
                    args,
                    file: elastic_file,
                    url,
                    pages,
                    alerts_index,
                    range,
                    analysis,
                    fetch_delay,
                    env,
                })?;
                SourceSetup::Elastic(Box::new(setup))
            }
            None => {
                if elastic_file.username.is_some()
                    || elastic_file.password.is_some()
                    || elastic_file.api_key.is_some()
                    || elastic_file.bearer.is_some()
                {
                    return Err(Missing::ElasticForCredentials.into());
                }
                if let Some(pages) = pages {
                    return Err(Missing::ElasticForPages { pages }.into());
                }
                if let Some(index) = alerts_index {
                    return Err(Missing::ElasticForAlerts { index }.into());
                }
                if range.start.is_some() || range.end.is_some() {
                    return Err(Missing::ElasticForTimeRange.into());
                }
                if args.events_url.is_some() || elastic_file.events_url.is_some() {
                    return Err(Missing::AlertsIndexForEventsUrl.into());
                }
                SourceSetup::Files(file_source(&sources, analysis, fetch_delay)?)
            }
        };

        let rules: Vec<PathBuf> = if !args.rules.is_empty() {
            args.rules.clone()
        } else {
            match file.rules {
                Some(r) if !r.is_empty() => subst_list(Some(r), "rules", env)?
                    .into_iter()
                    .map(PathBuf::from)
                    .collect(),
                _ => vec![PathBuf::from("rules")],
            }
        };

        let no_watch = args.no_watch || file.watch == Some(false);
        let quiet = args.quiet || file.quiet == Some(true);
        let output = args.output.or(file.output).unwrap_or(OutputArg::Human);

        let mut sinks = vec![SinkSpec::Stdout {
            format: output,
            colour: output == OutputArg::Human && terminal.stdout && !terminal.no_color,
        }];
        let alerts_file = match &args.alerts_file {
            Some(p) => Some(p.clone()),
            None => subst_opt(file.alerts_file, "alerts_file", env)?.map(PathBuf::from),
        };
        if let Some(path) = alerts_file {
            if path.as_os_str().is_empty() {
                return Err(ConfigError::EmptyValue {
                    option: Setting::Flag("--alerts-file"),
                    expected: "a path",
                });
            }
            sinks.push(SinkSpec::File(path));
        }
        if let Some(w) = webhook {
            sinks.push(SinkSpec::Webhook(w));
        }
        if let Some(e) = email {
            sinks.push(SinkSpec::Email(e));
        }

        let progress_bar = analysis == Analysis::Static && terminal.stderr && !quiet;
        let display = DisplayOptions {
            progress_bar,
            stats_line: analysis == Analysis::Streaming && !quiet,
            stdout_shares_terminal: progress_bar && terminal.stdout,
        };
        let pipeline = PipelineConfig {
            rules,
            compile: CompileOptions {
                default_within_ms: (max_alert_delta * 1000.0).round() as i64,
                script_limits: ScriptLimits {
                    deadline: script_deadline,
                    ..ScriptLimits::default()
                },
            },
            analysis,
            watch_rules: analysis == Analysis::Streaming && !no_watch,
            decode_parallelism: decode_parallelism(),
            checkpoints: match args.checkpoint_interval {
                Some(s) => CheckpointPolicy {
                    interval: Duration::from_secs_f64(positive_seconds(
                        Some(s),
                        5.0,
                        "--checkpoint-interval",
                    )?),
                },
                None => CheckpointPolicy::default(),
            },
        };
        let metrics_setting = Setting::of(
            args.metrics.is_some(),
            file.metrics.is_some(),
            "--metrics",
            "metrics",
        );
        let metrics = pick(args.metrics.clone(), file.metrics, "metrics", env)?;
        if let (Some(option), Some("")) = (metrics_setting, metrics.as_deref()) {
            return Err(ConfigError::EmptyValue {
                option,
                expected: "an address such as `0.0.0.0:9090`",
            });
        }
        Ok(RunConfig {
            pipeline,
            source,
            shutdown_deadline: SHUTDOWN_DEADLINE,
            sinks,
            display,
            metrics,
        })
    }
}

/// The audit webhook of `--listen` (`listen.address`) and its options, each flag overriding its
/// key, with the setting that gave the address; `None` without an address (when its options
/// are errors).
fn listen_setup(
    args: &RunArgs,
    file: ListenFile,
    env: Env<'_>,
) -> Result<Option<(WebhookConfig, Setting)>, ConfigError> {
    let path_of = |flag: &Option<PathBuf>, value: Option<String>, key: &'static str| {
        Ok::<_, ConfigError>(match flag {
            Some(p) => Some(p.clone()),
            None => subst_opt(value, key, env)?.map(PathBuf::from),
        })
    };
    let given = [
        Setting::of(
            args.listen_path.is_some(),
            file.path.is_some(),
            "--listen-path",
            "listen.path",
        ),
        Setting::of(
            args.tls_cert.is_some(),
            file.tls_cert.is_some(),
            "--tls-cert",
            "listen.tls_cert",
        ),
        Setting::of(
            args.tls_key.is_some(),
            file.tls_key.is_some(),
            "--tls-key",
            "listen.tls_key",
        ),
        Setting::of(
            args.client_ca.is_some(),
            file.client_ca.is_some(),
            "--client-ca",
            "listen.client_ca",
        ),
        Setting::of(
            args.max_batch_bytes.is_some(),
            file.max_batch_bytes.is_some(),
            "--max-batch-bytes",
            "listen.max_batch_bytes",
        ),
        Setting::of(
            args.max_event_bytes.is_some(),
            file.max_event_bytes.is_some(),
            "--max-event-bytes",
            "listen.max_event_bytes",
        ),
    ];
    let [path_setting, cert_setting, key_setting, client_ca_setting, batch_setting, event_setting] =
        given;
    let Some(listen) = Setting::of(
        args.listen.is_some(),
        file.address.is_some(),
        "--listen",
        "listen.address",
    ) else {
        return match given.into_iter().flatten().next() {
            Some(option) => Err(Missing::ListenFor { option }.into()),
            None => Ok(None),
        };
    };
    let address = pick(args.listen.clone(), file.address, "listen.address", env)?
        .expect("an address is given");
    if address.is_empty() {
        return Err(ConfigError::EmptyValue {
            option: listen,
            expected: "an address such as `0.0.0.0:8443`",
        });
    }
    let mut config = WebhookConfig::new(address);
    if let Some(path) = pick(args.listen_path.clone(), file.path, "listen.path", env)? {
        if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
            return Err(ConfigError::InvalidValue {
                option: path_setting.expect("a path is given"),
                value: path,
                expected: "a URL path such as `/k8s-audit`",
            });
        }
        config.path = path;
    }
    let cert = path_of(&args.tls_cert, file.tls_cert, "listen.tls_cert")?;
    let key = path_of(&args.tls_key, file.tls_key, "listen.tls_key")?;
    let client_ca = path_of(&args.client_ca, file.client_ca, "listen.client_ca")?;
    config.tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert,
            key,
            client_ca,
        }),
        (Some(_), None) => {
            return Err(Missing::TlsPair {
                given: cert_setting.expect("a certificate is given"),
                missing: "`--tls-key` (config key `listen.tls_key`)",
            }
            .into())
        }
        (None, Some(_)) => {
            return Err(Missing::TlsPair {
                given: key_setting.expect("a key is given"),
                missing: "`--tls-cert` (config key `listen.tls_cert`)",
            }
            .into())
        }
        (None, None) => match client_ca_setting {
            Some(given) => return Err(Missing::TlsForClientCa { given }.into()),
            None => None,
        },
    };
    if let Some(n) = args.max_batch_bytes.or(file.max_batch_bytes) {
        if n == 0 {
            return Err(ConfigError::InvalidValue {
                option: batch_setting.expect("a batch limit is given"),
                value: n.to_string(),
                expected: "a number of bytes above 0",
            });
        }
        config.max_batch = n;
    }
    if let Some(n) = args.max_event_bytes.or(file.max_event_bytes) {
        if n == 0 || n > config.max_batch {
            return Err(ConfigError::InvalidValue {
                option: event_setting.expect("an event limit is given"),
                value: n.to_string(),
                expected: "a number of bytes above 0 and at most the batch limit",
            });
        }
        config.max_event = n;
    }
    Ok(Some((config, listen)))
}

/// The file source of `--source` (files, globs, `-`).
fn file_source(
    sources: &[String],
    analysis: Analysis,
    fetch_delay: f64,
) -> Result<FileSourceConfig, ConfigError> {
    if sources.is_empty() {
        return Err(Missing::Source { analysis }.into());
    }
    let mut specs = Vec::with_capacity(sources.len());
    for s in sources {
        if s.is_empty() {
            return Err(ConfigError::EmptyValue {
                option: Setting::Flag("--source"),
                expected: "a path, a glob or `-` for stdin",
            });
        }
        let spec = if s == "-" {
            SourceSpec::Stdin
        } else {
            SourceSpec::Path(s.clone())
        };
        if spec == SourceSpec::Stdin && specs.contains(&SourceSpec::Stdin) {
            return Err(Conflict::StdinTwice.into());
        }
        specs.push(spec);
    }
    Ok(FileSourceConfig {
        poll_interval: Duration::from_secs_f64(fetch_delay),
        ..FileSourceConfig::new(specs, analysis == Analysis::Streaming)
    })
}

/// What [`elastic_setup`] reads.
struct ElasticInputs<'a> {
    args: &'a RunArgs,
    file: ElasticFile,
    url: String,
    pages: Option<String>,
    alerts_index: Option<String>,
    range: TimeRange,
    analysis: Analysis,
    fetch_delay: f64,
    env: Env<'a>,
}

/// The Elasticsearch source, alerts index, credentials, TLS and checkpoints.
fn elastic_setup(i: ElasticInputs<'_>) -> Result<ElasticSetup, ConfigError> {
    let ElasticInputs {
        args,
        file,
        url,
        pages,
        alerts_index,
        range,
        analysis,
        fetch_delay,
        env,
    } = i;
    if url.trim().is_empty() {
        return Err(ConfigError::EmptyValue {
            option: Setting::Flag("--elastic"),
            expected: "the server's URL, e.g. `http://localhost:9200`",
        });
    }
    let Some(pages) = pages.filter(|p| !p.is_empty()) else {
        return Err(Missing::Pages {
            url: without_userinfo(&url),
        }
        .into());
    };
    let streaming = analysis == Analysis::Streaming;
    if streaming && range.end.is_some() {
        return Err(Conflict::EndWhileStreaming.into());
    }
    if !streaming && range.start.is_none() {
        return Err(Missing::Start.into());
    }
    // Credentials: the config file (with ${VAR}), else the environment; never a flag.
    let file_or_env =
        |value: Option<String>, key: &str, var: &str| -> Result<Option<String>, ConfigError> {
            match subst_opt(value, key, env)? {
                Some(v) => Ok(Some(v)),
                None => Ok(env(var).filter(|v| !v.is_empty())),
            }
        };
    let username = file_or_env(file.username, "elastic.username", "K8SCOP_ES_USERNAME")?;
    let password = file_or_env(file.password, "elastic.password", "K8SCOP_ES_PASSWORD")?;
    let api_key = file_or_env(file.api_key, "elastic.api_key", "K8SCOP_ES_API_KEY")?;
    let bearer = file_or_env(file.bearer, "elastic.bearer", "K8SCOP_ES_BEARER")?;
    let auth = match (username, password, api_key, bearer) {
        (None, None, None, None) => Auth::None,
        (Some(username), Some(password), None, None) => Auth::Basic { username, password },
        (Some(_), None, None, None) => {
            return Err(ConfigError::MissingCredential {
                missing: BasicAuthPart::Password,
            })
        }
        (None, Some(_), None, None) => {
            return Err(ConfigError::MissingCredential {
                missing: BasicAuthPart::Username,
            })
        }
        (None, None, Some(key), None) => Auth::ApiKey(key),
        (None, None, None, Some(token)) => Auth::Bearer(token),
        _ => return Err(Conflict::SeveralCredentials.into()),
    };
    let ca_file = match &args.es_ca_file {
        Some(p) => Some(p.clone()),
        None => subst_opt(file.ca_file, "elastic.ca_file", env)?.map(PathBuf::from),
    };
    let insecure = args.es_insecure || file.insecure == Some(true);
    if insecure && ca_file.is_some() {
        return Err(Conflict::InsecureWithCaFile.into());
    }
    let mut server = EsConfig::new(url.clone());
    server.auth = auth;
    server.ca_file = ca_file;
    server.insecure = insecure;
    if streaming {
        // An outage pauses a streaming run; it resumes by itself.
        server.retry = RetryPolicy {
            max_attempts: None,
            ..RetryPolicy::default()
        };
    }
    let time_field = args
        .time_field
        .clone()
        .or(file.time_field)
        .unwrap_or_else(|| "@timestamp".into());
    let page_size = args
        .page_size
        .or(file.page_size)
        .unwrap_or(EsSourceConfig::DEFAULT_PAGE_SIZE);
    if page_size == 0 || page_size > 10_000 {
        return invalid_value(
            "--page-size",
            page_size,
            "1 to 10000 (the servers' default result window)",
        );
    }
    let mut source = EsSourceConfig::new(pages.clone());
    source.time_field = time_field.clone();
    source.start = range.start.map(|t| t.timestamp_millis());
    source.end = range.end.map(|t| t.timestamp_millis());
    source.streaming = streaming;
    source.page_size = page_size;
    source.poll_interval = Duration::from_secs_f64(fetch_delay);
    if let Some(d) = args.query_delay {
        source.query_delay = Duration::from_secs_f64(positive_or_zero(d, "--query-delay")?);
    }
    if let Some(o) = args.overlap {
        source.overlap = Duration::from_secs_f64(positive_or_zero(o, "--overlap")?);
    }
    source.tiebreaker = args.tiebreaker.clone();
    let range_id = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
            .unwrap_or_default()
    };
    let default_state_id = if streaming {
        format!("streaming {pages} {time_field}")
    } else {
        format!(
            "static {pages} {time_field} {} {}",
            range_id(range.start),
            range_id(range.end)
        )
        .trim_end()
        .to_owned()
    };
    let events_url = match args.events_url.clone().or(file.events_url) {
        Some(template) => {
            Some(DiscoverLink::parse(&template).map_err(ConfigError::InvalidEventsUrl)?)
        }
        None => None,
    };
    if events_url.is_some() && alerts_index.as_deref().is_none_or(str::is_empty) {
        return Err(Missing::AlertsIndexForEventsUrl.into());
    }
    let instance = match args.instance.clone().or(file.instance) {
        Some(i) => i,
        None => env("HOSTNAME")
            .filter(|h| !h.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
            })
            .unwrap_or_else(|| "k8scop".into()),
    };
    Ok(ElasticSetup {
        server,
        source,
        alerts: alerts_index.filter(|a| !a.is_empty()),
        dead_letter: args
            .dead_letter
            .clone()
            .or(file.dead_letter.map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("k8scop-dead-letter.jsonl")),
        events_url,
        state_index: args
            .state_index
            .clone()
            .or(file.state_index)
            .unwrap_or_else(|| "k8scop-state".into()),
        state_id: args
            .state_id
            .clone()
            .or(file.state_id)
            .unwrap_or(default_state_id),
        instance,
        fresh: args.fresh,
    })
}

/// A number of seconds that must be zero or more, and finite.
fn positive_or_zero(v: f64, flag: &'static str) -> Result<f64, ConfigError> {
    if v.is_finite() && (0.0..=86_400.0).contains(&v) {
        Ok(v)
    } else {
        invalid_value(flag, v, "0 to 86400 seconds")
    }
}

/// A number of seconds that must be positive and finite.
fn positive_seconds(
    value: Option<f64>,
    default: f64,
    flag: &'static str,
) -> Result<f64, ConfigError> {
    match value {
        None => Ok(default),
        // Duration::from_secs_f64 panics above u64::MAX seconds; a year is plenty.
        Some(v) if v.is_finite() && v > 0.0 && v <= 365.0 * 86_400.0 => Ok(v),
        Some(v) => invalid_value(
            flag,
            v,
            "a positive number of seconds (fractions allowed), at most a year",
        ),
    }
}

/// `--script-deadline MS`: the wall-clock backstop of one script evaluation.
fn script_deadline(ms: Option<u32>) -> Result<Duration, ConfigError> {
    match ms {
        None => Ok(ScriptLimits::DEFAULT_DEADLINE),
        Some(0) => invalid_value(
            "--script-deadline",
            0,
            "a number of milliseconds, at least 1",
        ),
        Some(ms) => Ok(Duration::from_millis(u64::from(ms))),
    }
}

fn time_range(
    start: Option<&str>,
    end: Option<&str>,
    now: DateTime<Utc>,
) -> Result<TimeRange, ConfigError> {
    let parse = |flag: &'static str, s: Option<&str>| {
        s.map(|s| {
            parse_time(s, now).map_err(|error: TimeError| ConfigError::InvalidTime {
                option: flag,
                error,
            })
        })
        .transpose()
    };
    let range = TimeRange {
        start: parse("--start", start)?,
        end: parse("--end", end)?,
    };
    if let (Some(s), Some(e)) = (range.start, range.end) {
        if e <= s {
            return Err(ConfigError::EmptyTimeRange { start: s, end: e });
        }
    }
    Ok(range)
}

fn webhook(
    args: &RunArgs,
    file: WebhookFile,
    env: Env<'_>,
) -> Result<Option<WebhookSpec>, ConfigError> {
    let url = match pick(args.webhook.clone(), file.url, "webhook.url", env)? {
        Some(u) => Some(u),
        None => env("K8SCOP_WEBHOOK_URL").filter(|u| !u.is_empty()),
    };
    let format = args.webhook_format.or(file.format);
    let Some(url) = url else {
        if format.is_some() {
            return Err(Missing::WebhookUrlForFormat.into());
        }
        if file.headers.is_some() {
            return Err(Missing::WebhookUrlForHeaders.into());
        }
        return Ok(None);
    };
    let lower = url.to_ascii_lowercase();
    let host = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    if !host.is_some_and(|h| !h.is_empty() && !h.starts_with('/')) {
        return Err(ConfigError::InvalidWebhookUrl {
            shown: redact_url(&url),
        });
    }
    let mut headers = Vec::new();
    for (name, value) in file.headers.unwrap_or_default() {
        let key = format!("webhook.headers.{name}");
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(ConfigError::InvalidHeaderName { key });
        }
        let value = substitute(&value, &key, env)?;
        if value.contains(['\r', '\n']) {
            return Err(ConfigError::MultilineHeaderValue { key });
        }
        headers.push((name, value));
    }
    Ok(Some(WebhookSpec {
        url,
        format: format.unwrap_or(WebhookFormatArg::Json),
        headers,
    }))
}

/// The `email:` section with `--email-to` and `--email-window`; credentials from the file
/// (with `${VAR}`) or `K8SCOP_SMTP_USERNAME`/`K8SCOP_SMTP_PASSWORD`, never from a flag.
fn email(args: &RunArgs, file: EmailFile, env: Env<'_>) -> Result<Option<EmailSpec>, ConfigError> {
    let host = subst_opt(file.host, "email.host", env)?;
    let Some(host) = host else {
        let given = !args.email_to.is_empty()
            || args.email_window.is_some()
            || file.port.is_some()
            || file.tls.is_some()
            || file.ca_file.is_some()
            || file.username.is_some()
            || file.password.is_some()
            || file.from.is_some()
            || file.to.is_some()
            || file.window.is_some()
            || file.subject.is_some();
        return if given {
            Err(Missing::SmtpHost.into())
        } else {
            Ok(None)
        };
    };
    let host = host.trim().to_owned();
    if host.is_empty() || host.contains(['/', ':', ' ']) {
        return Err(ConfigError::InvalidEmail {
            key: "email.host",
            problem: format!(
                "`{host}` is not a host name (give the host alone, e.g. `smtp.example.com`, \
                 and the port in `email.port`)"
            ),
        });
    }
    if file.port == Some(0) {
        return Err(ConfigError::InvalidEmail {
            key: "email.port",
            problem: "0 is not a port (1 to 65535)".into(),
        });
    }
    let tls = file.tls.unwrap_or(EmailTlsArg::Starttls);
    let ca_file = subst_opt(file.ca_file, "email.ca_file", env)?;
    match (&ca_file, tls) {
        (Some(path), _) if path.trim().is_empty() => {
            return Err(ConfigError::InvalidEmail {
                key: "email.ca_file",
                problem: "no file given; name a PEM file with the CA of the server's certificate"
                    .into(),
            })
        }
        (Some(_), EmailTlsArg::None) => {
            return Err(ConfigError::InvalidEmail {
                key: "email.ca_file",
                problem: "checks the server's certificate, and `email.tls: none` has none: use \
                          `starttls` or `tls`"
                    .into(),
            })
        }
        _ => {}
    }
    let to = if args.email_to.is_empty() {
        subst_list(file.to, "email.to", env)?
    } else {
        args.email_to.clone()
    };
    let to: Vec<String> = to.into_iter().map(|t| t.trim().to_owned()).collect();
    if to.is_empty() {
        return Err(Missing::EmailRecipients.into());
    }
    if let Some(bad) = to.iter().find(|t| !plausible_address(t)) {
        return Err(ConfigError::InvalidEmail {
            key: if args.email_to.is_empty() {
                "email.to"
            } else {
                "--email-to"
            },
            problem: format!("`{bad}` is not an e-mail address (expected `name@domain`)"),
        });
    }
    let Some(from) = subst_opt(file.from, "email.from", env)? else {
        return Err(Missing::EmailFrom.into());
    };
    if !plausible_address(from.trim()) {
        return Err(ConfigError::InvalidEmail {
            key: "email.from",
            problem: format!("`{from}` is not an e-mail address (expected `name@domain`)"),
        });
    }
    let file_or_env =
        |value: Option<String>, key: &str, var: &str| -> Result<Option<String>, ConfigError> {
            match subst_opt(value, key, env)? {
                Some(v) => Ok(Some(v)),
                None => Ok(env(var).filter(|v| !v.is_empty())),
            }
        };
    let username = file_or_env(file.username, "email.username", "K8SCOP_SMTP_USERNAME")?;
    let password = file_or_env(file.password, "email.password", "K8SCOP_SMTP_PASSWORD")?;
    let credentials = match (username, password) {
        (None, None) => None,
        (Some(u), Some(p)) => Some((u, p)),
        (Some(_), None) => {
            return Err(ConfigError::MissingSmtpCredential {
                missing: BasicAuthPart::Password,
            })
        }
        (None, Some(_)) => {
            return Err(ConfigError::MissingSmtpCredential {
                missing: BasicAuthPart::Username,
            })
        }
    };
    let window = positive_seconds(
        args.email_window.or(file.window),
        DEFAULT_EMAIL_WINDOW,
        "--email-window",
    )?;
    Ok(Some(EmailSpec {
        host,
        port: file.port,
        tls,
        ca_file: ca_file.map(PathBuf::from),
        credentials,
        from: from.trim().to_owned(),
        to,
        subject_prefix: subst_opt(file.subject, "email.subject", env)?
            .unwrap_or_else(|| "[k8scop]".into()),
        window: Duration::from_secs_f64(window),
    }))
}

/// `name@domain` or `Name <name@domain>`: a first check, so that a typo is reported with its
/// config key; the sink parses the address fully.
fn plausible_address(text: &str) -> bool {
    let address = match (text.rfind('<'), text.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => text,
    };
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !address.contains(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    }
}

/// The URL without the `user:password@` it may carry.
fn without_userinfo(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let host_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..host_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..start], &url[start + at + 1..]),
        None => url.to_owned(),
    }
}

/// The URL up to its host: webhook URLs often carry their secret in the path (Slack's do).
fn redact_url(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    match url[start..].find(['/', '?', '#']) {
        Some(end) if start + end + 1 < url.len() => format!("{}/...", &url[..start + end]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::TimeProblem;
    use chrono::TimeZone;
    use clap::Parser;
    use std::collections::HashMap;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn args(argv: &[&str]) -> RunArgs {
        let mut full = vec!["run"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).expect("valid arguments").run
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 10, 12, 0, 0).unwrap()
    }

    fn build_env(
        argv: &[&str],
        yaml: &str,
        vars: &[(&str, &str)],
        terminal: Terminal,
    ) -> Result<RunConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |k: &str| vars.get(k).cloned();
        let file = FileConfig::parse(yaml, "k8scop.yaml")?;
        RunConfig::build(&args(argv), file, &env, now(), terminal)
    }

    /// The file source of a configuration that reads files.
    fn files(c: &RunConfig) -> &FileSourceConfig {
        match &c.source {
            SourceSetup::Files(f) => f,
            _ => panic!("expected a file source"),
        }
    }

    fn build(argv: &[&str], yaml: &str) -> Result<RunConfig, ConfigError> {
        build_env(argv, yaml, &[], Terminal::default())
    }

    fn error(argv: &[&str], yaml: &str) -> String {
        build(argv, yaml)
            .expect_err("an invalid configuration")
            .to_string()
    }

    fn webhook_of(c: &RunConfig) -> Option<&WebhookSpec> {
        c.sinks.iter().find_map(|s| match s {
            SinkSpec::Webhook(w) => Some(w),
            _ => None,
        })
    }

    #[test]
    fn defaults_for_a_file_run() {
        let c = build(&["--source", "audit.log"], "").unwrap();
        let p = &c.pipeline;
        assert_eq!(p.rules, vec![PathBuf::from("rules")]);
        assert_eq!(files(&c).specs, vec![SourceSpec::Path("audit.log".into())]);
        assert_eq!(p.analysis, Analysis::Static);
        assert!(!p.watch_rules);
        assert_eq!(files(&c).poll_interval, Duration::from_secs(1));
        assert_eq!(c.shutdown_deadline, Duration::from_secs(10));
        assert_eq!(p.decode_parallelism, decode_parallelism());
        assert!((2..=64).contains(&p.decode_parallelism));
        assert_eq!(p.compile.default_within_ms, 600_000);
        assert_eq!(
            p.compile.script_limits.deadline,
            ScriptLimits::DEFAULT_DEADLINE
        );
        assert_eq!(
            c.sinks,
            vec![SinkSpec::Stdout {
                format: OutputArg::Human,
                colour: false
            }]
        );
        assert!(!c.display.progress_bar && !c.display.stats_line);
    }

    #[test]
    fn old_command_line_flags() {
        let c = build(
            &[
                "-A",
                "streaming",
                "-D",
                "30",
                "-d",
                "0.25",
                "--source",
                "-",
                "--source",
                "a/*.log",
            ],
            "",
        )
        .unwrap();
        assert_eq!(c.pipeline.analysis, Analysis::Streaming);
        assert!(c.pipeline.watch_rules);
        assert_eq!(c.pipeline.compile.default_within_ms, 30_000);
        assert_eq!(files(&c).poll_interval, Duration::from_millis(250));
        assert_eq!(
            files(&c).specs,
            vec![SourceSpec::Stdin, SourceSpec::Path("a/*.log".into())]
        );
        assert!(c.display.stats_line);
        let c = build(
            &["-A", "streaming", "--no-watch", "--quiet", "--source", "x"],
            "",
        )
        .unwrap();
        assert!(!c.pipeline.watch_rules);
        assert!(!c.display.stats_line);
    }

    #[test]
    fn display_depends_on_terminals() {
        let tty = Terminal {
            stdout: true,
            stderr: true,
            no_color: false,
        };
        let c = build_env(&["--source", "x"], "", &[], tty).unwrap();
        assert!(c.display.progress_bar && c.display.stdout_shares_terminal);
        assert_eq!(
            c.sinks[0],
            SinkSpec::Stdout {
                format: OutputArg::Human,
                colour: true
            }
        );
        let c = build_env(
            &["--source", "x", "--quiet", "--output", "json"],
            "",
            &[],
            tty,
        )
        .unwrap();
        assert!(!c.display.progress_bar && !c.display.stdout_shares_terminal);
        assert_eq!(
            c.sinks[0],
            SinkSpec::Stdout {
                format: OutputArg::Json,
                colour: false
            }
        );
        let no_color = Terminal {
            no_color: true,
            ..tty
        };
        let c = build_env(&["--source", "x"], "", &[], no_color).unwrap();
        assert!(matches!(c.sinks[0], SinkSpec::Stdout { colour: false, .. }));
    }

    const FULL: &str = r#"
rules: [a, b]
sources: ["/var/log/audit/*.log"]
analysis: streaming
max_alert_delta: 60
fetch_delay: 2.5
output: json
alerts_file: /tmp/alerts.json
watch: false
quiet: true
webhook:
  url: https://hooks.example/x
  format: slack
  headers:
    Authorization: "Bearer ${TOKEN}"
"#;

    #[test]
    fn the_file_sets_every_option() {
        let c = build_env(&[], FULL, &[("TOKEN", "s3cret")], Terminal::default()).unwrap();
        let p = &c.pipeline;
        assert_eq!(p.rules, vec![PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(
            files(&c).specs,
            vec![SourceSpec::Path("/var/log/audit/*.log".into())]
        );
        assert_eq!(p.analysis, Analysis::Streaming);
        assert!(!p.watch_rules);
        assert!(!c.display.stats_line);
        assert_eq!(p.compile.default_within_ms, 60_000);
        assert_eq!(files(&c).poll_interval, Duration::from_millis(2500));
        assert_eq!(
            c.sinks,
            vec![
                SinkSpec::Stdout {
                    format: OutputArg::Json,
                    colour: false
                },
                SinkSpec::File("/tmp/alerts.json".into()),
                SinkSpec::Webhook(WebhookSpec {
                    url: "https://hooks.example/x".into(),
                    format: WebhookFormatArg::Slack,
                    headers: vec![("Authorization".into(), "Bearer s3cret".into())],
                }),
            ]
        );
    }

    #[test]
    fn flags_override_the_file() {
        let c = build_env(
            &[
                "--rules",
                "mine",
                "--source",
                "other.log",
                "-A",
                "static",
                "-D",
                "5",
                "-d",
                "3",
                "--output",
                "human",
                "--alerts-file",
                "out.json",
                "--webhook",
                "http://localhost:9/h",
                "--webhook-format",
                "json",
            ],
            FULL,
            &[("TOKEN", "t")],
            Terminal::default(),
        )
        .unwrap();
        let p = &c.pipeline;
        assert_eq!(p.rules, vec![PathBuf::from("mine")]);
        assert_eq!(files(&c).specs, vec![SourceSpec::Path("other.log".into())]);
        assert_eq!(p.analysis, Analysis::Static);
        assert_eq!(p.compile.default_within_ms, 5_000);
        assert_eq!(files(&c).poll_interval, Duration::from_secs(3));
        assert!(matches!(
            c.sinks[0],
            SinkSpec::Stdout {
                format: OutputArg::Human,
                ..
            }
        ));
        assert_eq!(c.sinks[1], SinkSpec::File("out.json".into()));
        let w = webhook_of(&c).unwrap();
        assert_eq!(w.url, "http://localhost:9/h");
        assert_eq!(w.format, WebhookFormatArg::Json);
        // The headers come from the file: there is no flag for them.
        assert_eq!(w.headers, vec![("Authorization".into(), "Bearer t".into())]);
    }

    #[test]
    fn env_substitution() {
        let yaml = "sources: [\"${LOGS}/audit.log\"]\nalerts_file: \"$${HOME}/${NAME}x$y\"\n";
        let c = build_env(
            &[],
            yaml,
            &[("LOGS", "/var/log"), ("NAME", "a")],
            Terminal::default(),
        )
        .unwrap();
        assert_eq!(
            files(&c).specs,
            vec![SourceSpec::Path("/var/log/audit.log".into())]
        );
        assert_eq!(c.sinks[1], SinkSpec::File("${HOME}/ax$y".into()));

        assert_eq!(
            error(&[], "sources: [\"${LOGS}\"]"),
            "config key `sources`: environment variable `LOGS` is not set"
        );
        assert_eq!(
            error(&["--source", "x"], "webhook: {url: \"${HOOK\"}"),
            "config key `webhook.url`: `${` without a closing `}` (write `$${` for a literal `${`)"
        );
        assert_eq!(
            error(&["--source", "x"], "alerts_file: \"${1X}\""),
            "config key `alerts_file`: `${1X}` is not an environment variable name"
        );
        assert_eq!(
            error(
                &["--source", "x"],
                "webhook: {url: \"https://h\", headers: {Authorization: \"${TOKEN}\"}}"
            ),
            "config key `webhook.headers.Authorization`: environment variable `TOKEN` is not set"
        );
        // A value the command line overrides is not substituted: its variable may be unset.
        let c = build(
            &["--source", "x", "--webhook", "https://h/1"],
            "webhook: {url: \"${HOOK}\"}",
        )
        .unwrap();
        assert_eq!(webhook_of(&c).unwrap().url, "https://h/1");
    }

    #[test]
    fn k8scop_environment_variables_fill_absent_options() {
        let env = [
            ("K8SCOP_WEBHOOK_URL", "https://env.example/hook"),
            ("K8SCOP_ELASTIC_PASSWORD", "pw"),
        ];
        let c = build_env(&["--source", "x"], "", &env, Terminal::default()).unwrap();
        assert_eq!(webhook_of(&c).unwrap().url, "https://env.example/hook");
        let c = build_env(
            &["--source", "x"],
            "webhook: {url: \"https://file/h\"}",
            &env,
            Terminal::default(),
        )
        .unwrap();
        assert_eq!(webhook_of(&c).unwrap().url, "https://file/h");
        let c = build_env(
            &["--source", "x", "--webhook", "https://flag/h"],
            "webhook: {url: \"https://file/h\"}",
            &env,
            Terminal::default(),
        )
        .unwrap();
        assert_eq!(webhook_of(&c).unwrap().url, "https://flag/h");
        let c = build(&["--source", "x"], "").unwrap();
        assert!(webhook_of(&c).is_none());
    }

    #[test]
    fn script_deadline_from_the_flag_or_the_file() {
        let deadline = |argv: &[&str], yaml: &str| {
            let mut argv = argv.to_vec();
            argv.extend(["--source", "x"]);
            build(&argv, yaml)
                .unwrap()
                .pipeline
                .compile
                .script_limits
                .deadline
        };
        assert_eq!(
            deadline(&["--script-deadline", "250"], ""),
            Duration::from_millis(250)
        );
        assert_eq!(
            deadline(&[], "script_deadline: 40\n"),
            Duration::from_millis(40)
        );
        assert_eq!(
            deadline(&["--script-deadline", "7"], "script_deadline: 40\n"),
            Duration::from_millis(7)
        );
        // Only the deadline changes: the operation limit stays what stops a runaway script.
        let c = build(&["--script-deadline", "7", "--source", "x"], "").unwrap();
        assert_eq!(
            c.pipeline.compile.script_limits.max_operations,
            ScriptLimits::default().max_operations
        );
        assert_eq!(
            error(&["--script-deadline", "0", "--source", "x"], ""),
            "`--script-deadline 0`: expected a number of milliseconds, at least 1"
        );
        assert_eq!(
            error(&["--source", "x"], "script_deadline: 0\n"),
            "`--script-deadline 0`: expected a number of milliseconds, at least 1"
        );
        assert!(error(&["--source", "x"], "script_deadline: -5\n").starts_with("k8scop.yaml:1:"));
    }

    #[test]
    fn config_file_errors_have_location_and_key() {
        assert_eq!(
            error(&[], "rules: [r]\nsourcez: [x]\n"),
            "k8scop.yaml:2:1: unknown key `sourcez`, expected one of `elastic`, `rules`, \
             `sources`, `analysis`, `start`, `end`, `max_alert_delta`, `script_deadline`, \
             `fetch_delay`, `output`, `alerts_file`, `webhook`, `email`, `listen`, `metrics`, `watch`, \
             `quiet`"
        );
        assert_eq!(
            error(&[], "elastic:\n  url: http://es:9200\n  uri: x\n"),
            "k8scop.yaml:3:3: unknown key `elastic.uri`, expected one of `url`, `pages`, \
             `alerts`, `username`, `password`, `api_key`, `bearer`, `ca_file`, `insecure`, \
             `time_field`, `page_size`, `state_index`, `state_id`, `instance`, `dead_letter`, \
             `events_url`"
        );
        assert_eq!(
            error(&[], "analysis: batch\n"),
            "k8scop.yaml:1:11: key `analysis`: unknown variant `batch`, expected `static` or \
             `streaming`"
        );
        assert_eq!(
            error(&[], "fetch_delay: soon\n"),
            "k8scop.yaml:1:14: key `fetch_delay`: invalid type: string \"soon\", expected f64"
        );
        let yaml_syntax = error(&[], "rules: [a\n");
        assert!(yaml_syntax.starts_with("k8scop.yaml:"), "{yaml_syntax}");
        // An empty file, or one with only comments, is an empty configuration.
        assert!(build(&["--source", "x"], "# nothing yet\n").is_ok());
    }

    #[test]
    fn validation_errors() {
        let cases: &[(&[&str], &str)] = &[
            (
                &[],
                "a static run needs something to read: give `--source PATH|GLOB|-` (or `--elastic`, `--listen`)",
            ),
            (
                &["-A", "streaming"],
                "a streaming run needs something to read: give `--source PATH|GLOB|-` (or `--elastic`, `--listen`)",
            ),
            (
                &["-E", "http://localhost:9200", "-I", "k8s-*"],
                "a static run over Elasticsearch needs `--start` (`-s`), e.g. `-s now-1h` or \
                 `-s 2024-01-01`",
            ),
            (
                &["-E", "http://localhost:9200", "-s", "now-1h"],
                "`--elastic http://localhost:9200` needs the index pattern of the audit logs: \
                 `-I logs-*` (`--pages`)",
            ),
            (
                &["-E", "http://es:9200", "-I", "k8s-*", "-A", "streaming", "-e", "now"],
                "`--end` ends a static run; a streaming run follows the index until it is stopped",
            ),
            (
                &["-E", "http://es:9200", "-I", "k8s-*", "--source", "x", "-s", "now-1h"],
                "`--elastic` and `--source` are both given: k8scop reads one source per run",
            ),
            (
                &["-E", "http://es:9200", "-I", "k8s-*", "-s", "now-1h", "--page-size", "0"],
                "`--page-size 0`: expected 1 to 10000 (the servers' default result window)",
            ),
            (
                &["--source", "x", "-s", "2019-2-12-19-30-0", "-e", "2019-2-12-19-0-0"],
                "`--end` (2019-02-12T19:00:00Z) is not after `--start` (2019-02-12T19:30:00Z)",
            ),
            (
                &["--source", "x", "-s", "now-1h"],
                "`--start` and `--end` select the events read from Elasticsearch (`--elastic`); \
                 selecting file sources by time is not supported",
            ),
            (
                &["--source", "x", "-e", "tomorrow"],
                "`--end`: invalid time `tomorrow`: expected `now`, `now-1h` (s, m, h, d or w), \
                 RFC 3339 such as `2019-02-12T19:30:00Z`, `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS` \
                 (UTC) or the old `2019-2-12-19-30-0`",
            ),
            (
                &["--source", "x", "-d", "0"],
                "`--fetch-delay 0`: expected a positive number of seconds (fractions allowed), at most a year",
            ),
            (
                &["--source", "x", "-d", "-1.5"],
                "`--fetch-delay -1.5`: expected a positive number of seconds (fractions allowed), at most a year",
            ),
            (
                &["--source", "x", "-D", "NaN"],
                "`--max-alert-delta NaN`: expected a positive number of seconds (fractions allowed), at most a year",
            ),
            (
                &["--source", "x", "--webhook", "ftp://host/T000/B000/secret"],
                "webhook URL `ftp://host/...` is not an http(s) URL (expected `https://host/path`)",
            ),
            (
                &["--source", "x", "--webhook", "https://"],
                "webhook URL `https://` is not an http(s) URL (expected `https://host/path`)",
            ),
            (
                &["--source", "x", "--webhook-format", "slack"],
                "`--webhook-format` needs a webhook URL (`--webhook URL`)",
            ),
            (
                &["--source", "x", "-I", "k8s-*"],
                "`--pages k8s-*` names the Elasticsearch index to read; it needs `--elastic`",
            ),
            (
                &["--source", "x", "-i", "alerts"],
                "`--alerts alerts` names the Elasticsearch index alerts go to; it needs \
                 `--elastic` (use `--alerts-file` for a file)",
            ),
            (&["--source", "-", "--source", "-"], "`--source -` (stdin) is given more than once"),
        ];
        for (argv, expected) in cases {
            assert_eq!(&error(argv, ""), expected, "{argv:?}");
        }
    }

    fn elastic(c: &RunConfig) -> &ElasticSetup {
        match &c.source {
            SourceSetup::Elastic(e) => e,
            _ => panic!("expected the Elasticsearch source"),
        }
    }

    #[test]
    fn the_audit_webhook_and_its_options() {
        let c = build(
            &[
                "--listen",
                "0.0.0.0:8443",
                "--tls-cert",
                "c.pem",
                "--tls-key",
                "k.pem",
                "--client-ca",
                "ca.pem",
                "--max-event-bytes",
                "2048",
                "--metrics",
                ":9090",
            ],
            "",
        )
        .unwrap();
        let SourceSetup::Webhook(w) = &c.source else {
            panic!("expected the webhook")
        };
        assert_eq!(w.listen, "0.0.0.0:8443");
        assert_eq!(w.path, "/k8s-audit");
        assert_eq!(
            w.tls,
            Some(TlsFiles {
                cert: "c.pem".into(),
                key: "k.pem".into(),
                client_ca: Some("ca.pem".into()),
            })
        );
        assert_eq!((w.max_batch, w.max_event), (10 * 1024 * 1024, 2048));
        assert_eq!(c.pipeline.analysis, Analysis::Streaming);
        assert!(c.pipeline.watch_rules);
        assert_eq!(c.metrics.as_deref(), Some(":9090"));

        let cases: &[(&[&str], &str)] = &[
            (
                &["--listen", ":1", "--source", "x"],
                "`--listen` and `--source` are both given: k8scop reads one source per run",
            ),
            (
                &["--listen", ":1", "-E", "http://es:9200"],
                "`--listen` and `--elastic` are both given: k8scop reads one source per run",
            ),
            (
                &["--listen", ":1", "-A", "static"],
                "`--listen` receives events until k8scop is stopped: it is a streaming run, not `-A static`",
            ),
            (
                &["--source", "x", "--tls-cert", "c"],
                "`--tls-cert` configures the audit webhook; it needs `--listen ADDR` (config key \
                 `listen.address`)",
            ),
            (
                &["--listen", ":1", "--tls-key", "k"],
                "`--tls-key` needs `--tls-cert` (config key `listen.tls_cert`): HTTPS takes a \
                 certificate and its key",
            ),
            (
                &["--listen", ":1", "--client-ca", "ca"],
                "`--client-ca` checks client certificates, which needs HTTPS: give `--tls-cert` and \
                 `--tls-key` (config keys `listen.tls_cert` and `listen.tls_key`)",
            ),
            (
                &["--listen", ":1", "--listen-path", "audit"],
                "`--listen-path audit`: expected a URL path such as `/k8s-audit`",
            ),
            (
                &["--listen", ":1", "--max-batch-bytes", "1000", "--max-event-bytes", "2000"],
                "`--max-event-bytes 2000`: expected a number of bytes above 0 and at most the batch limit",
            ),
            (
                &["--listen", ""],
                "`--listen` is empty; give an address such as `0.0.0.0:8443`",
            ),
            (
                &["--source", "x", "--metrics", ""],
                "`--metrics` is empty; give an address such as `0.0.0.0:9090`",
            ),
        ];
        for (argv, expected) in cases {
            assert_eq!(&error(argv, ""), expected, "{argv:?}");
        }
    }

    const LISTEN: &str = r#"
listen:
  address: "0.0.0.0:8443"
  path: /audit
  tls_cert: ${TLS}/tls.crt
  tls_key: /etc/tls/tls.key
  client_ca: /etc/ca/ca.crt
  max_batch_bytes: 4096
  max_event_bytes: 1024
metrics: "0.0.0.0:9090"
"#;

    fn webhook_source(c: &RunConfig) -> &WebhookConfig {
        match &c.source {
            SourceSetup::Webhook(w) => w,
            _ => panic!("expected the webhook"),
        }
    }

    #[test]
    fn the_file_configures_the_audit_webhook_and_metrics() {
        let c = build_env(&[], LISTEN, &[("TLS", "/etc/tls")], Terminal::default()).unwrap();
        let w = webhook_source(&c);
        assert_eq!(
            (w.listen.as_str(), w.path.as_str()),
            ("0.0.0.0:8443", "/audit")
        );
        assert_eq!(
            w.tls,
            Some(TlsFiles {
                cert: "/etc/tls/tls.crt".into(),
                key: "/etc/tls/tls.key".into(),
                client_ca: Some("/etc/ca/ca.crt".into()),
            })
        );
        assert_eq!((w.max_batch, w.max_event), (4096, 1024));
        assert_eq!(c.pipeline.analysis, Analysis::Streaming);
        assert_eq!(c.metrics.as_deref(), Some("0.0.0.0:9090"));

        // Each flag overrides its key; the other keys still apply.
        let c = build_env(
            &[
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                "mine.pem",
                "--max-event-bytes",
                "10",
                "--metrics",
                "127.0.0.1:9",
            ],
            LISTEN,
            &[],
            Terminal::default(),
        )
        .unwrap();
        let w = webhook_source(&c);
        assert_eq!(
            (w.listen.as_str(), w.path.as_str()),
            ("127.0.0.1:0", "/audit")
        );
        let tls = w.tls.as_ref().unwrap();
        assert_eq!(
            (tls.cert.to_str(), tls.key.to_str()),
            (Some("mine.pem"), Some("/etc/tls/tls.key"))
        );
        assert_eq!((w.max_batch, w.max_event), (4096, 10));
        assert_eq!(c.metrics.as_deref(), Some("127.0.0.1:9"));

        // The flags alone, the file alone, or nothing: no webhook without an address.
        let c = build(&["--source", "x"], "metrics: \":9\"").unwrap();
        assert!(matches!(c.source, SourceSetup::Files(_)));
        assert_eq!(c.metrics.as_deref(), Some(":9"));
    }

    #[test]
    fn listen_errors_name_the_key_the_value_came_from() {
        let cases: &[(&[&str], &str, &str)] = &[
            (
                &["--source", "x"],
                "listen: {tls_cert: c.pem}",
                "config key `listen.tls_cert` configures the audit webhook; it needs `--listen \
                 ADDR` (config key `listen.address`)",
            ),
            (
                &[],
                "listen: {address: \":1\"}\nsources: [x]",
                "config key `listen.address` and `--source` are both given: k8scop reads one \
                 source per run",
            ),
            (
                &[],
                "listen: {address: \":1\"}\nanalysis: static",
                "config key `listen.address` receives events until k8scop is stopped: it is a \
                 streaming run, not `-A static`",
            ),
            (
                &["-A", "static"],
                "listen: {address: \":1\"}",
                "config key `listen.address` receives events until k8scop is stopped: it is a \
                 streaming run, not `-A static`",
            ),
            (
                &["--listen", ":1"],
                "listen: {tls_cert: c.pem}",
                "config key `listen.tls_cert` needs `--tls-key` (config key `listen.tls_key`): \
                 HTTPS takes a certificate and its key",
            ),
            (
                &[],
                "listen: {address: \":1\", client_ca: ca.pem}",
                "config key `listen.client_ca` checks client certificates, which needs HTTPS: give \
                 `--tls-cert` and `--tls-key` (config keys `listen.tls_cert` and `listen.tls_key`)",
            ),
            (
                &[],
                "listen: {address: \":1\", path: audit}",
                "config key `listen.path` (`audit`): expected a URL path such as `/k8s-audit`",
            ),
            (
                &["--listen-path", "/a b"],
                "listen: {address: \":1\", path: /audit}",
                "`--listen-path /a b`: expected a URL path such as `/k8s-audit`",
            ),
            (
                &[],
                "listen: {address: \":1\", max_batch_bytes: 0}",
                "config key `listen.max_batch_bytes` (`0`): expected a number of bytes above 0",
            ),
            (
                &["--max-batch-bytes", "100"],
                "listen: {address: \":1\", max_event_bytes: 200}",
                "config key `listen.max_event_bytes` (`200`): expected a number of bytes above 0 \
                 and at most the batch limit",
            ),
            (
                &[],
                "listen: {address: \"\"}",
                "config key `listen.address` is empty; give an address such as `0.0.0.0:8443`",
            ),
            (
                &["--source", "x"],
                "metrics: \"\"",
                "config key `metrics` is empty; give an address such as `0.0.0.0:9090`",
            ),
            (
                &["--source", "x"],
                "listen: {address: \"${NOPE}\"}",
                "config key `listen.address`: environment variable `NOPE` is not set",
            ),
            (
                &["--source", "x"],
                "listen:\n  address: \":1\"\n  max_batch_bytes: -1\n",
                "k8scop.yaml:3:20: key `listen.max_batch_bytes`: invalid type: integer `-1`, \
                 expected usize",
            ),
            (
                &["--source", "x"],
                "listen:\n  adress: \":1\"\n",
                "k8scop.yaml:2:3: unknown key `listen.adress`, expected one of `address`, `path`, \
                 `tls_cert`, `tls_key`, `client_ca`, `max_batch_bytes`, `max_event_bytes`",
            ),
        ];
        for (argv, yaml, expected) in cases {
            assert_eq!(&error(argv, yaml), expected, "{argv:?} {yaml}");
        }
        // A key a flag overrides is not looked at: its variable may be unset.
        assert!(build(&["--listen", ":1"], "listen: {address: \"${NOPE}\"}").is_ok());
    }

    #[test]
    fn the_old_k8scop_command_line_reads_elasticsearch() {
        let c = build(
            &[
                "-E",
                "es:9200",
                "-I",
                "logstash-*",
                "-i",
                "alerts",
                "-s",
                "2019-2-12-19-30-0",
                "-e",
                "2019-2-13-0-0-0",
                "-D",
                "60",
                "-A",
                "static",
            ],
            "",
        )
        .unwrap();
        let e = elastic(&c);
        assert_eq!(e.server.url, "es:9200");
        assert_eq!(e.server.auth, Auth::None);
        assert_eq!(e.source.index, "logstash-*");
        assert_eq!(e.source.time_field, "@timestamp");
        assert_eq!(e.source.start, Some(1_549_999_800_000));
        assert_eq!(e.source.end, Some(1_550_016_000_000));
        assert!(!e.source.streaming);
        assert_eq!(e.alerts.as_deref(), Some("alerts"));
        assert_eq!(e.state_index, "k8scop-state");
        assert_eq!(
            e.state_id,
            "static logstash-* @timestamp 2019-02-12T19:30:00.000Z 2019-02-13T00:00:00.000Z"
        );
        assert_eq!(c.pipeline.compile.default_within_ms, 60_000);
        // A static run gives up after bounded retries; a streaming run waits out an outage.
        assert!(e.server.retry.max_attempts.is_some());
        let c = build(
            &["-E", "es:9200", "-I", "k8s-*", "-A", "streaming", "-d", "5"],
            "",
        )
        .unwrap();
        let e = elastic(&c);
        assert!(e.source.streaming);
        assert_eq!(e.source.poll_interval, Duration::from_secs(5));
        assert_eq!(e.server.retry.max_attempts, None);
        assert_eq!(e.state_id, "streaming k8s-* @timestamp");
    }

    #[test]
    fn elasticsearch_credentials_come_from_the_file_or_the_environment() {
        let base = ["-E", "https://es:9200", "-I", "k8s-*", "-s", "now-1h"];
        let env = [
            ("K8SCOP_ES_USERNAME", "elastic"),
            ("K8SCOP_ES_PASSWORD", "pw"),
        ];
        let c = build_env(&base, "", &env, Terminal::default()).unwrap();
        assert_eq!(
            elastic(&c).server.auth,
            Auth::Basic {
                username: "elastic".into(),
                password: "pw".into()
            }
        );
        let c = build_env(
            &base,
            "",
            &[("K8SCOP_ES_API_KEY", "a2V5")],
            Terminal::default(),
        )
        .unwrap();
        assert_eq!(elastic(&c).server.auth, Auth::ApiKey("a2V5".into()));
        let c = build_env(
            &base,
            "elastic: {bearer: \"${TOKEN}\"}",
            &[("TOKEN", "t0k")],
            Terminal::default(),
        )
        .unwrap();
        assert_eq!(elastic(&c).server.auth, Auth::Bearer("t0k".into()));
        let both = [("K8SCOP_ES_API_KEY", "a2V5"), ("K8SCOP_ES_BEARER", "t")];
        let e = build_env(&base, "", &both, Terminal::default()).unwrap_err();
        assert!(
            matches!(e, ConfigError::Conflict(Conflict::SeveralCredentials)),
            "{e:?}"
        );
        assert!(e.to_string().contains("more than one kind"), "{e}");
        let c = build(&[&base[..], &["--es-ca-file", "/ca.pem"]].concat(), "").unwrap();
        assert_eq!(
            elastic(&c).server.ca_file.as_deref(),
            Some(Path::new("/ca.pem"))
        );
        assert!(!elastic(&c).server.insecure);
        let e = error(
            &[&base[..], &["--es-ca-file", "/ca.pem", "--es-insecure"]].concat(),
            "",
        );
        assert!(e.contains("--es-insecure"), "{e}");
    }

    fn email_of(c: &RunConfig) -> Option<&EmailSpec> {
        c.sinks.iter().find_map(|s| match s {
            SinkSpec::Email(e) => Some(e),
            _ => None,
        })
    }

    #[test]
    fn email_settings_merge_the_file_the_flags_and_the_environment() {
        let yaml = "email: {host: smtp.example.com, from: k@example.com, to: [a@example.com]}";
        let c = build(&["--source", "x"], yaml).unwrap();
        let e = email_of(&c).unwrap();
        assert_eq!(e.host, "smtp.example.com");
        assert_eq!(e.port, None);
        assert_eq!(e.tls, EmailTlsArg::Starttls);
        assert_eq!(e.credentials, None);
        assert_eq!(e.to, ["a@example.com"]);
        assert_eq!(e.subject_prefix, "[k8scop]");
        assert_eq!(e.window, Duration::from_secs(60));

        let argv = [
            "--source",
            "x",
            "--email-to",
            "b@example.com",
            "--email-to",
            "C <c@example.com>",
            "--email-window",
            "2.5",
        ];
        let env = [
            ("K8SCOP_SMTP_USERNAME", "u"),
            ("K8SCOP_SMTP_PASSWORD", "p4ss"),
        ];
        let c = build_env(&argv, yaml, &env, Terminal::default()).unwrap();
        let e = email_of(&c).unwrap();
        assert_eq!(e.to, ["b@example.com", "C <c@example.com>"]);
        assert_eq!(e.window, Duration::from_millis(2500));
        assert_eq!(e.credentials, Some(("u".into(), "p4ss".into())));
        assert!(
            !format!("{c:?}").contains("p4ss"),
            "Debug leaves the password out"
        );

        // The file's password (with ${VAR}) wins over the environment's.
        let yaml =
            "email: {host: h, port: 2525, tls: tls, ca_file: /etc/ca.pem, from: k@example.com, to: [a@example.com], \
                    username: me, password: \"${PW}\", subject: \"[prod]\", window: 5}";
        let env = [("PW", "from-var"), ("K8SCOP_SMTP_PASSWORD", "ignored")];
        let c = build_env(&["--source", "x"], yaml, &env, Terminal::default()).unwrap();
        let e = email_of(&c).unwrap();
        assert_eq!(e.credentials, Some(("me".into(), "from-var".into())));
        assert_eq!((e.port, e.tls), (Some(2525), EmailTlsArg::Tls));
        assert_eq!(e.ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert_eq!(e.subject_prefix, "[prod]");
        assert_eq!(e.window, Duration::from_secs(5));
        assert!(email_of(&build(&["--source", "x"], "").unwrap()).is_none());
    }

    #[test]
    fn email_errors_name_the_key() {
        let base = "email: {host: h, from: k@example.com, to: [a@example.com]";
        assert_eq!(
            error(&["--source", "x"], &format!("{base}, port: 0}}")),
            "config key `email.port`: 0 is not a port (1 to 65535)"
        );
        assert_eq!(
            error(
                &["--source", "x"],
                &format!("{base}, tls: none, ca_file: ca.pem}}")
            ),
            "config key `email.ca_file`: checks the server's certificate, and `email.tls: none` \
             has none: use `starttls` or `tls`"
        );
        assert_eq!(
            error(&["--source", "x"], &format!("{base}, ca_file: \"\"}}")),
            "config key `email.ca_file`: no file given; name a PEM file with the CA of the \
             server's certificate"
        );
        assert_eq!(
            error(&["--source", "x", "--email-window", "0"], &format!("{base}}}")),
            "`--email-window 0`: expected a positive number of seconds (fractions allowed), at most a year"
        );
        assert_eq!(
            error(
                &["--source", "x", "--email-to", "nobody"],
                &format!("{base}}}")
            ),
            "`--email-to`: `nobody` is not an e-mail address (expected `name@domain`)"
        );
        assert_eq!(
            error(&["--source", "x"], "email: {host: h, from: k@example.com}"),
            "e-mail needs at least one recipient: config key `email.to` or `--email-to ADDRESS`"
        );
        assert_eq!(
            error(&["--source", "x"], &format!("{base}, username: u}}")),
            "SMTP authentication needs both a username and a password: the password is missing \
             (`email.password` or K8SCOP_SMTP_PASSWORD)"
        );
        assert!(plausible_address("Sec Team <sec@example.com>"));
        assert!(!plausible_address("a@b@c"));
        assert!(!plausible_address("@example.com"));
    }

    #[test]
    fn webhook_urls_are_quoted_without_their_path() {
        assert_eq!(
            redact_url("ftp://hooks.slack.com/services/T0/B0/secret"),
            "ftp://hooks.slack.com/..."
        );
        assert_eq!(redact_url("hooks.example/x?token=1"), "hooks.example/...");
        assert_eq!(redact_url("ftp://host/"), "ftp://host/");
        assert_eq!(redact_url("https://"), "https://");
        assert_eq!(
            without_userinfo("https://u:p@es:9200/x"),
            "https://***@es:9200/x"
        );
        assert_eq!(without_userinfo("http://es:9200/a@b"), "http://es:9200/a@b");
    }

    #[test]
    fn validation_errors_from_the_file() {
        assert_eq!(
            error(
                &[],
                "elastic: {url: \"http://es:9200\", password: \"${ES_PW}\"}"
            ),
            "`--elastic http://es:9200` needs the index pattern of the audit logs: `-I logs-*` \
             (`--pages`)"
        );
        assert_eq!(
            error(&["--source", "x"], "elastic: {username: u}"),
            "config keys `elastic.username`, `elastic.password`, `elastic.api_key` and \
             `elastic.bearer` need `elastic.url` (`--elastic`)"
        );
        assert_eq!(
            error(
                &["-s", "now-1h"],
                "elastic: {url: \"http://es:9200\", pages: \"k8s-*\", username: u}"
            ),
            "basic authentication needs both a username and a password: the password is missing \
             (`elastic.password` or K8SCOP_ES_PASSWORD)"
        );
        assert_eq!(
            error(&["--source", "x"], "webhook: {url: \"hooks.example/x\"}"),
            "webhook URL `hooks.example/...` is not an http(s) URL (expected `https://host/path`)"
        );
        assert_eq!(
            error(&["--source", "x"], "webhook: {headers: {X-A: b}}"),
            "config key `webhook.headers` needs a webhook URL (`webhook.url`)"
        );
        assert_eq!(
            error(
                &["--source", "x"],
                "webhook: {url: \"https://h\", headers: {\"X A\": b}}"
            ),
            "config key `webhook.headers.X A`: not a valid HTTP header name"
        );
        assert_eq!(
            error(
                &[],
                "start: \"2024-01-02\"\nend: \"2024-01-01\"\nsources: [x]"
            ),
            "`--end` (2024-01-01T00:00:00Z) is not after `--start` (2024-01-02T00:00:00Z)"
        );
    }

    #[test]
    fn errors_are_typed_by_what_went_wrong() {
        let e = build(&["--source", "x"], "fetch_delay: soon\n").unwrap_err();
        match e {
            ConfigError::InvalidFile {
                file,
                location,
                key,
                ..
            } => {
                assert_eq!(file, "k8scop.yaml");
                assert_eq!(
                    location,
                    Some(FileLocation {
                        line: 1,
                        column: 14
                    })
                );
                assert_eq!(key.as_deref(), Some("fetch_delay"));
            }
            other => panic!("expected an invalid file, got {other:?}"),
        }
        assert!(matches!(
            build(&[], "elastic:\n  uri: x\n").unwrap_err(),
            ConfigError::UnknownKey { key, location: Some(FileLocation { line: 2, column: 3 }), .. }
                if key == "elastic.uri"
        ));
        assert!(matches!(
            build(&["--source", "x"], "alerts_file: \"${ALERTS}\"").unwrap_err(),
            ConfigError::UnsetVariable { key, name } if key == "alerts_file" && name == "ALERTS"
        ));
        assert!(matches!(
            build(&["--source", "x", "-d", "0"], "").unwrap_err(),
            ConfigError::InvalidValue { option: Setting::Flag("--fetch-delay"), value, .. } if value == "0"
        ));
        match build(&["--source", "x", "-s", "now-1y"], "").unwrap_err() {
            ConfigError::InvalidTime { option, error } => {
                assert_eq!(option, "--start");
                assert_eq!(error.problem, TimeProblem::UnknownUnit("y".into()));
            }
            other => panic!("expected an invalid time, got {other:?}"),
        }
        let base = ["-E", "https://es:9200", "-I", "k8s-*", "-s", "now-1h"];
        assert!(matches!(
            build_env(
                &base,
                "",
                &[("K8SCOP_ES_PASSWORD", "pw")],
                Terminal::default()
            )
            .unwrap_err(),
            ConfigError::MissingCredential {
                missing: BasicAuthPart::Username
            }
        ));
        assert_eq!(
            build_env(
                &base,
                "",
                &[("K8SCOP_ES_PASSWORD", "pw")],
                Terminal::default()
            )
            .unwrap_err()
            .to_string(),
            "basic authentication needs both a username and a password: the username is missing \
             (`elastic.username` or K8SCOP_ES_USERNAME)"
        );
        assert!(matches!(
            build(&["--source", "x", "-E", "http://es:9200", "-I", "k"], "").unwrap_err(),
            ConfigError::Conflict(Conflict::ElasticAndSource)
        ));
        assert!(matches!(
            build(&["-E", "http://es:9200"], "").unwrap_err(),
            ConfigError::Missing(Missing::Pages { url }) if url == "http://es:9200"
        ));
        let missing = std::env::temp_dir().join("k8scop-no-such-dir/k8scop.yaml");
        match FileConfig::load(&missing).unwrap_err() {
            ConfigError::UnreadableFile { path, error } => {
                assert_eq!(path, missing);
                assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("expected an unreadable file, got {other:?}"),
        }
    }
}
