//! The e-mail sink: alerts sent over SMTP to a list of recipients, one e-mail per window.
//!
//! Alert updates are held for a window (60 s by default) that starts with the first alert after
//! a quiet spell; when it closes, everything held goes out as ONE e-mail to every recipient. A
//! burst of alerts is therefore one e-mail, and an alert updated several times within the window
//! is one line, with its latest count. The e-mail has two parts:
//!
//! - a plain-text part, new alerts first, one line per alert:
//!   `[HIGH] title | rule r | 3 events | 2024-05-01T12:00:00Z .. 2024-05-01T12:05:00Z`;
//! - an attachment `alerts.jsonl`: the alert documents of
//!   [`Alert::to_json`](k8scop_engine::alert::Alert::to_json), one per line.
//!
//! An e-mail carries at most [`MAX_ALERTS_PER_EMAIL`] alerts: reaching it sends at once.
//!
//! Sending uses SMTP with implicit TLS (port 465), STARTTLS (587, required: never falls back to
//! plain text) or, for a relay on a trusted network, no TLS (25); with `AUTH PLAIN` or `LOGIN`
//! when credentials are given. The server's certificate is checked against the built-in Mozilla
//! roots and [`EmailConfig::ca_file`]; a certificate refused is final (not retried: nothing was
//! sent, and retrying cannot change it). Connection errors, timeouts and transient (4xx) replies are retried
//! with exponential backoff and jitter, at most `max_retries` times; a permanent (5xx) reply is
//! final. After giving up, the alerts of that e-mail are reported as undelivered under the sink's
//! name, `sink email smtp.example.com: ...`, and later e-mails are tried once, without retries,
//! until one goes through (as the webhook does).
//!
//! Acknowledgement: alerts held for the window are NOT acknowledged to the pipeline when they
//! are buffered, only once the e-mail carrying them was accepted by the server
//! ([`Sink::held_until`]): a checkpoint never moves past alerts still waiting in memory, so a
//! crash during the window makes a restarted run raise them again rather than lose them. At
//! shutdown (and at the end of a static run) the pending window is sent at once.
//!
//! The password never appears in errors, logs or `Debug` output.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat};
use k8scop_engine::alert::{AlertKind, AlertUpdate};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::time::Instant;

use super::{BoxFuture, Sink, SinkError, SinkFailure};
use crate::retry::{backoff, chain, Jitter};

/// The most alerts one e-mail carries; reaching it sends the e-mail before the window ends.
pub const MAX_ALERTS_PER_EMAIL: usize = 1000;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTls {
    /// Plain text, then `STARTTLS` (required: no e-mail is sent if the server does not offer it).
    /// Port 587 by default.
    StartTls,
    /// TLS from the first byte ("SMTPS", implicit TLS). Port 465 by default.
    Tls,
    /// No encryption, for a relay on a trusted network. Port 25 by default.
    None,
}

impl EmailTls {
    /// The port used when none is given: 587, 465 or 25.
    pub fn default_port(self) -> u16 {
        match self {
            EmailTls::StartTls => 587,
            EmailTls::Tls => 465,
            EmailTls::None => 25,
        }
    }
}

/// Where and how to send the e-mails.
#[derive(Clone)]
pub struct EmailConfig {
    /// The SMTP server's host name (also the name its certificate must carry).
    pub host: String,
    /// The port; `None` is the TLS mode's default.
    pub port: Option<u16>,
    /// How the connection is secured.
    pub tls: EmailTls,
    /// A PEM file with the CA (or CAs) of a server certificate from a private CA, trusted on top
    /// of the Mozilla roots built in (`webpki-roots`). Read when the sink is made.
    pub ca_file: Option<PathBuf>,
    /// `(username, password)` for `AUTH PLAIN`/`LOGIN`. The password is never printed.
    pub credentials: Option<(String, String)>,
    /// The sender, `k8scop <k8scop@example.com>` or a bare address.
    pub from: String,
    /// The recipients (at least one), each a mailbox as `from`.
    pub to: Vec<String>,
    /// Put before each subject, e.g. `[k8scop]`.
    pub subject_prefix: String,
    /// How long alerts are held so that a burst becomes one e-mail.
    pub window: Duration,
    /// The longest one SMTP command may take.
    pub timeout: Duration,
    /// Retries after the first attempt (0: try once).
    pub max_retries: u32,
    /// The pause before the first retry; it doubles with each further retry.
    pub initial_backoff: Duration,
    /// The longest pause between two attempts.
    pub max_backoff: Duration,
}

impl EmailConfig {
    /// STARTTLS on the default port, no credentials, a 60 s window, the subject prefix
    /// `[k8scop]`, a 30 s timeout and 3 retries with a backoff of 1 s doubling up to 30 s.
    pub fn new(host: impl Into<String>, from: impl Into<String>, to: Vec<String>) -> EmailConfig {
        EmailConfig {
            host: host.into(),
            port: None,
            tls: EmailTls::StartTls,
            ca_file: None,
            credentials: None,
            from: from.into(),
            to,
            subject_prefix: "[k8scop]".into(),
            window: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            max_retries: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }

    fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.tls.default_port())
    }
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credentials = self
            .credentials
            .as_ref()
            .map(|(user, _)| (user.as_str(), "<redacted>"));
        f.debug_struct("EmailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("credentials", &credentials)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("subject_prefix", &self.subject_prefix)
            .field("window", &self.window)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .finish()
    }
}

/// One alert held for the next e-mail.
struct Held {
    /// Its latest update.
    update: AlertUpdate,
    /// Opened within the window (else an update of an alert sent before).
    new: bool,
}

/// Sends alert updates by e-mail, batched per window.
pub struct EmailSink {
    config: EmailConfig,
    name: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    /// The alerts of the next e-mail, in the order they were first seen.
    held: Vec<Held>,
    /// Alert id to its index in `held`.
    index: HashMap<String, usize>,
    /// When the window closes; `None` while nothing is held.
    due: Option<Instant>,
    /// The retries' jitter (keyed randomly per process).
    jitter: Jitter,
    /// The last e-mail was given up on: try the next ones once, without retries.
    failing: bool,
}

impl fmt::Debug for EmailSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSink")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("held", &self.held.len())
            .field("failing", &self.failing)
            .finish()
    }
}

impl EmailSink {
    /// Checks the configuration (addresses, host, timing) and sets up the SMTP transport. No
    /// connection is made before the first e-mail.
    pub fn new(config: EmailConfig) -> Result<EmailSink, SinkError> {
        let host = config.host.trim().to_owned();
        let name = format!("email {host}");
        let invalid = |message: String| SinkError::new(&name, SinkFailure::Settings(message), 0);
        if host.is_empty() || host.contains(['/', ' ', ':']) {
            return Err(SinkError::new(
                "email",
                SinkFailure::Settings(format!(
                    "`{host}` is not an SMTP host name (give the host alone, e.g. `smtp.example.com`, and the port separately)"
                )),
                0,
            ));
        }
        let from: Mailbox = config.from.parse().map_err(|e| {
            invalid(format!(
                "the sender `{}` is not an e-mail address: {e}",
                config.from
            ))
        })?;
        if config.to.is_empty() {
            return Err(invalid("no recipients: give at least one address".into()));
        }
        let mut to = Vec::with_capacity(config.to.len());
        for address in &config.to {
            to.push(address.parse::<Mailbox>().map_err(|e| {
                invalid(format!(
                    "the recipient `{address}` is not an e-mail address: {e}"
                ))
            })?);
        }
        if config.window.is_zero() {
            return Err(invalid("the e-mail window must be longer than 0s".into()));
        }
        if config.timeout.is_zero() {
            return Err(invalid("the SMTP timeout must be longer than 0s".into()));
        }
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(config.port())
            .timeout(Some(config.timeout));
        builder = match config.tls {
            EmailTls::None => builder.tls(Tls::None),
            EmailTls::StartTls | EmailTls::Tls => {
                let mut parameters = TlsParameters::builder(host.clone());
                if let Some(path) = &config.ca_file {
                    parameters =
                        parameters.add_root_certificate(ca_certificate(path).map_err(invalid)?);
                }
                let parameters = parameters
                    .build_rustls()
                    .map_err(|e| invalid(format!("cannot set up TLS: {e}")))?;
                if config.tls == EmailTls::Tls {
                    builder.tls(Tls::Wrapper(parameters))
                } else {
                    builder.tls(Tls::Required(parameters))
                }
            }
        };
        if let (EmailTls::None, Some(path)) = (config.tls, &config.ca_file) {
            return Err(invalid(format!(
                "the CA file `{}` checks the server's certificate, and `tls: none` has none: use `starttls` or `tls`",
                path.display()
            )));
        }
        if let Some((username, password)) = &config.credentials {
            builder = builder
                .credentials(Credentials::new(username.clone(), password.clone()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(EmailSink {
            transport: builder.build(),
            name,
            from,
            to,
            held: Vec::new(),
            index: HashMap::new(),
            due: None,
            jitter: Jitter::new(),
            failing: false,
            config,
        })
    }

    /// Adds updates to the next e-mail; an alert already held is replaced by its latest state.
    fn hold(&mut self, updates: &[AlertUpdate]) {
        for update in updates {
            let new = update.kind == AlertKind::New;
            match self.index.get(&update.alert.id) {
                Some(&i) => {
                    let held = &mut self.held[i];
                    held.new |= new;
                    held.update = update.clone();
                }
                None => {
                    self.index.insert(update.alert.id.clone(), self.held.len());
                    self.held.push(Held {
                        update: update.clone(),
                        new,
                    });
                }
            }
        }
        if !self.held.is_empty() && self.due.is_none() {
            self.due = Some(Instant::now() + self.config.window);
        }
    }

    /// Sends everything held as one e-mail (with retries), and empties the window whatever
    /// happens: alerts given up on are reported, not kept.
    async fn send_held(&mut self) -> Result<(), SinkError> {
        self.due = None;
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        self.index.clear();
        let retries = if self.failing {
            0
        } else {
            self.config.max_retries
        };
        let result = match self.message(&held) {
            Ok(message) => self.deliver(&message, retries).await,
            Err(failure) => Err(failure),
        };
        match result {
            Ok(()) => {
                self.failing = false;
                Ok(())
            }
            Err(failure) => {
                self.failing = true;
                Err(SinkError::new(self.name.clone(), failure, held.len()))
            }
        }
    }

    /// The e-mail for `held`: the subject, the text part and the JSON Lines attachment.
    fn message(&self, held: &[Held]) -> Result<Message, SinkFailure> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject(&self.config.subject_prefix, held))
            .user_agent(concat!("k8scop/", env!("CARGO_PKG_VERSION")).to_owned());
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let mut documents = String::new();
        for h in held {
            documents.push_str(&h.update.alert.doc().to_text());
            documents.push('\n');
        }
        let json = ContentType::parse("application/json")
            .map_err(|e| SinkFailure::Settings(format!("cannot build the e-mail: {e}")))?;
        builder
            .multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(text(held)))
                    .singlepart(Attachment::new("alerts.jsonl".into()).body(documents, json)),
            )
            .map_err(|e| SinkFailure::Settings(format!("cannot build the e-mail: {e}")))
    }

    /// Sends one e-mail, retrying up to `retries` times.
    async fn deliver(&mut self, message: &Message, retries: u32) -> Result<(), SinkFailure> {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let error = match self.transport.send(message.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            // A certificate k8scop refuses is a setting to fix, not an outage: not retried.
            let refused = refused_certificate(&error);
            let final_answer = error.is_permanent() || refused.is_some();
            let reason = match refused {
                Some(why) => self.certificate_reason(&why),
                None => self.describe(&error),
            };
            if final_answer || attempts > retries {
                return Err(SinkFailure::Delivery {
                    attempts,
                    final_answer,
                    reason,
                    rest_not_sent: false,
                });
            }
            let c = &self.config;
            let wait = backoff(
                c.initial_backoff,
                c.max_backoff,
                attempts - 1,
                self.jitter.unit(),
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Why the server's certificate was refused, and what it must be.
    fn certificate_reason(&self, why: &str) -> String {
        let trusted = match &self.config.ca_file {
            Some(path) => format!("the CA file `{}` or a public CA", path.display()),
            None => "a public CA (for a private CA, give its CA file)".to_owned(),
        };
        format!(
            "TLS: the server's certificate is refused ({why}): it must be issued for `{}` by {trusted}; nothing was sent",
            self.config.host.trim()
        )
    }

    /// The error and its causes, with the password blanked out should the server echo it.
    fn describe(&self, error: &lettre::transport::smtp::Error) -> String {
        let mut text = if error.is_timeout() {
            format!("no answer within {:?}", self.config.timeout)
        } else {
            chain(error)
        };
        if let Some((_, password)) = &self.config.credentials {
            if password.len() >= 3 && text.contains(password.as_str()) {
                text = text.replace(password.as_str(), "<redacted>");
            }
        }
        let text: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        text.trim().to_owned()
    }
}

/// The certificates of a PEM CA file, as one root for lettre; the message says what is wrong.
fn ca_certificate(path: &Path) -> Result<Certificate, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("cannot read the CA file `{shown}`: {e}"))?;
    let mut count = 0;
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        certificate.map_err(|e| format!("the CA file `{shown}` is not valid PEM: {e}"))?;
        count += 1;
    }
    if count == 0 {
        return Err(format!(
            "the CA file `{shown}` holds no certificate (expected PEM, `-----BEGIN CERTIFICATE-----`)"
        ));
    }
    Certificate::from_pem(&pem).map_err(|e| format!("the CA file `{shown}`: {e}"))
}

/// The reason rustls gave for refusing the server's certificate, when that is why `error`
/// happened (lettre wraps it in an I/O error, whose `source` skips it).
fn refused_certificate(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    use tokio_rustls::rustls;
    let mut next = Some(error);
    while let Some(e) = next {
        let tls = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .or_else(|| e.downcast_ref::<rustls::Error>());
        if let Some(rustls::Error::InvalidCertificate(_)) = tls {
            return tls.map(ToString::to_string);
        }
        next = e.source();
    }
    None
}

/// `[k8scop] 3 new alerts, 1 updated (highest: CRITICAL)`.
fn subject(prefix: &str, held: &[Held]) -> String {
    let new = held.iter().filter(|h| h.new).count();
    let updated = held.len() - new;
    let mut parts = Vec::new();
    if new > 0 {
        parts.push(format!(
            "{new} new {}",
            if new == 1 { "alert" } else { "alerts" }
        ));
    }
    if updated > 0 {
        let noun = if new > 0 {
            "updated"
        } else if updated == 1 {
            "updated alert"
        } else {
            "updated alerts"
        };
        parts.push(format!("{updated} {noun}"));
    }
    let highest = held
        .iter()
        .map(|h| h.update.alert.detection.severity)
        .max()
        .map(|s| s.as_str().to_uppercase())
        .unwrap_or_default();
    let text = format!("{} (highest: {highest})", parts.join(", "));
    if prefix.trim().is_empty() {
        text
    } else {
        format!("{} {text}", prefix.trim())
    }
}

/// The text part: new alerts, then updated ones, one line each.
fn text(held: &[Held]) -> String {
    let mut out = String::new();
    for (new, heading) in [(true, "New alerts"), (false, "Updated alerts")] {
        let lines: Vec<String> = held
            .iter()
            .filter(|h| h.new == new)
            .map(|h| line(&h.update))
            .collect();
        if lines.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("{heading} ({}):\n", lines.len()));
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out.push_str(
        "\nThe alert documents are attached as alerts.jsonl, one JSON document per line.\n",
    );
    out
}

/// `[HIGH] title | rule r | 3 events | 2024-05-01T12:00:00Z .. 2024-05-01T12:05:00Z`.
pub fn line(update: &AlertUpdate) -> String {
    let alert = &update.alert;
    let title: String = alert
        .title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "[{}] {title} | rule {} | {} {} | {} .. {}",
        alert.detection.severity.as_str().to_uppercase(),
        alert.detection.name,
        alert.count,
        if alert.count == 1 { "event" } else { "events" },
        time(alert.first_seen),
        time(alert.last_seen),
    )
}

/// Milliseconds since the epoch as `2024-05-01T12:00:00Z`.
fn time(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

impl Sink for EmailSink {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn send<'a>(&'a mut self, updates: &'a [AlertUpdate]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            self.hold(updates);
            if self.held.len() >= MAX_ALERTS_PER_EMAIL {
                return self.send_held().await;
            }
            Ok(())
        })
    }

    fn held_until(&self) -> Option<Instant> {
        self.due
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(self.send_held())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::stdout::fixtures::updates;

    fn config() -> EmailConfig {
        let mut c = EmailConfig::new(
            "smtp.example.com",
            "k8scop <k8scop@example.com>",
            vec!["a@example.com".into(), "Bob <b@example.com>".into()],
        );
        c.credentials = Some(("k8scop".into(), "s3cret-pw".into()));
        c
    }

    #[test]
    fn an_unusable_ca_file_is_refused_when_the_sink_is_made() {
        let dir = std::env::temp_dir().join(format!("k8scop-email-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let error = |ca_file: PathBuf, tls: EmailTls| {
            let mut c = config();
            c.ca_file = Some(ca_file);
            c.tls = tls;
            EmailSink::new(c).unwrap_err().to_string()
        };
        let missing = dir.join("missing.pem");
        let message = error(missing.clone(), EmailTls::StartTls);
        assert!(
            message.starts_with(&format!(
                "sink email smtp.example.com: cannot read the CA file `{}`: ",
                missing.display()
            )),
            "{message}"
        );
        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "just text\n").unwrap();
        let message = error(not_pem.clone(), EmailTls::Tls);
        assert!(
            message.contains(&format!(
                "the CA file `{}` holds no certificate (expected PEM",
                not_pem.display()
            )),
            "{message}"
        );
        let message = error(not_pem, EmailTls::None);
        assert!(message.contains("`tls: none` has none"), "{message}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_burst_is_held_as_one_email_with_updates_coalesced() {
        let mut sink = EmailSink::new(config()).unwrap();
        assert_eq!(sink.name(), "email smtp.example.com");
        assert!(sink.held_until().is_none());
        let alerts = updates(&[
            ("alice", "2024-05-01T12:00:00Z"),
            ("bob", "2024-05-01T12:00:01Z"),
            ("alice", "2024-05-01T12:00:05Z"),
        ]);
        sink.hold(&alerts[..2]);
        let due = sink.held_until().expect("a window is open");
        sink.hold(&alerts[2..]);
        assert_eq!(sink.held_until(), Some(due), "the window does not move");
        assert_eq!(sink.held.len(), 2);
        assert!(sink.held.iter().all(|h| h.new));
        assert_eq!(sink.held[0].update.alert.count, 2);

        let body = text(&sink.held);
        assert_eq!(
            body,
            "New alerts (2):\n\
             [HIGH] x alice | rule r | 2 events | 2024-05-01T12:00:00Z .. 2024-05-01T12:00:05Z\n\
             [HIGH] x bob | rule r | 1 event | 2024-05-01T12:00:01Z .. 2024-05-01T12:00:01Z\n\
             \nThe alert documents are attached as alerts.jsonl, one JSON document per line.\n"
        );
        assert_eq!(
            subject("[k8scop]", &sink.held),
            "[k8scop] 2 new alerts (highest: HIGH)"
        );
        let message = sink.message(&sink.held).unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(
            raw.contains("To: a@example.com, Bob <b@example.com>"),
            "{raw}"
        );
        assert!(raw.contains("filename=\"alerts.jsonl\""), "{raw}");
    }

    #[test]
    fn updates_of_alerts_sent_before_are_told_apart() {
        let alerts = updates(&[
            ("alice", "2024-05-01T12:00:00Z"),
            ("alice", "2024-05-01T12:00:05Z"),
            ("carol", "2024-05-01T12:00:06Z"),
        ]);
        let mut sink = EmailSink::new(config()).unwrap();
        sink.hold(&alerts[1..]);
        assert!(!sink.held[0].new);
        assert!(sink.held[1].new);
        let body = text(&sink.held);
        assert!(
            body.starts_with("New alerts (1):\n[HIGH] x carol")
                && body.contains("\nUpdated alerts (1):\n[HIGH] x alice | rule r | 2 events"),
            "{body}"
        );
        assert_eq!(
            subject("", &sink.held),
            "1 new alert, 1 updated (highest: HIGH)"
        );
        assert_eq!(
            subject("[k]", &sink.held[..1]),
            "[k] 1 updated alert (highest: HIGH)"
        );
    }

    #[test]
    fn invalid_configurations_are_refused() {
        let refused = |c: EmailConfig, expected: &str| {
            let err = EmailSink::new(c).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
            assert!(matches!(err.failure, SinkFailure::Settings(_)), "{err:?}");
        };
        let mut c = config();
        c.from = "not an address".into();
        refused(c, "the sender `not an address` is not an e-mail address");
        let mut c = config();
        c.to.push("b@".into());
        refused(c, "sink email smtp.example.com: the recipient `b@`");
        let mut c = config();
        c.to.clear();
        refused(c, "no recipients");
        let mut c = config();
        c.host = "smtp://x".into();
        refused(c, "not an SMTP host name");
        let mut c = config();
        c.window = Duration::ZERO;
        refused(c, "window must be longer than 0s");
    }

    #[test]
    fn the_password_stays_out_of_debug_output() {
        let c = config();
        let sink = EmailSink::new(c.clone()).unwrap();
        for shown in [format!("{c:?}"), format!("{sink:?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("k8scop"), "{shown}");
        }
    }

    #[test]
    fn default_ports_follow_the_tls_mode() {
        assert_eq!(EmailTls::StartTls.default_port(), 587);
        assert_eq!(EmailTls::Tls.default_port(), 465);
        assert_eq!(EmailTls::None.default_port(), 25);
        let mut c = config();
        c.port = Some(2525);
        assert_eq!(c.port(), 2525);
    }
}
