//! `k8scop run` with e-mail (`email:` in the config file), against the local SMTP server of
//! tests/smtp_server.rs: a burst is one e-mail to every recipient, credentials come from the
//! environment, a temporary failure is retried, a permanent one is reported under the sink's name
//! and counted, the password is never printed, and in a streaming run the window closes by
//! itself.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::smtp_server::{header, parts, unfold, Received, SmtpServer, TlsMode};
use crate::util::{arg, root, rules_dir};
use crate::webhook::tls_dir;

const PASSWORD: &str = "hunter2-s3cret";

/// `k8scop run` over rules/samples/attack.jsonl with the shipped rules, the e-mail settings of
/// `email_yaml` (an `email:` section) and the environment `env`.
fn run(email_yaml: &str, extra: &[&str], env: &[(&str, &str)]) -> crate::util::Run {
    let dir = rules_dir(&[("k8scop.yaml", email_yaml)]);
    let config = dir.join("k8scop.yaml");
    let mut command = Command::new(env!("CARGO_BIN_EXE_k8scop"));
    command
        .args([
            "run",
            "--rules",
            "rules",
            "--source",
            "rules/samples/attack.jsonl",
            "--output",
            "json",
            "--config",
            arg(&config),
        ])
        .args(extra)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("K8SCOP_SMTP_USERNAME")
        .env_remove("K8SCOP_SMTP_PASSWORD")
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().expect("the k8scop binary runs");
    crate::util::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An `email:` section for the test server, without TLS (it speaks plain SMTP).
fn section(server: &SmtpServer, more: &str) -> String {
    format!(
        "email:\n  host: 127.0.0.1\n  port: {}\n  tls: none\n  from: \"k8scop <k8scop@example.com>\"\n  \
         to: [oncall@example.com, \"Sec Team <sec@example.com>\", audit@example.org]\n{more}",
        server.addr.port()
    )
}

/// The ids of the alerts written to stdout (`--output json`), distinct, in order.
fn alert_ids(stdout: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON alert"))
        .map(|doc| {
            doc["k8scop"]["id"]
                .as_str()
                .expect("an alert id")
                .to_owned()
        })
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

/// The text part and the attached documents of a received e-mail.
fn content(message: &Received) -> (String, Vec<Value>) {
    let parts = parts(&message.data);
    let text = parts
        .iter()
        .find(|(t, _)| t.starts_with("text/plain"))
        .expect("a text part")
        .1
        .clone();
    let documents = parts
        .iter()
        .find(|(t, _)| t.starts_with("application/json"))
        .unwrap_or_else(|| panic!("the alerts.jsonl attachment: {parts:?}\n{}", message.data))
        .1
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).expect("one JSON document per line"))
        .collect();
    (text, documents)
}

#[test]
fn a_burst_of_alerts_is_one_email_to_every_recipient_with_every_alert() {
    let server = SmtpServer::start(None);
    let out = run(
        &section(&server, "  subject: \"[prod-cluster]\"\n"),
        &[],
        &[],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let ids = alert_ids(&out.stdout);
    assert!(ids.len() >= 10, "the sample raises many alerts: {ids:?}");

    let received = server.received();
    assert_eq!(received.len(), 1, "one e-mail for the burst: {received:#?}");
    let message = &received[0];
    assert_eq!(message.code, 250);
    assert!(!message.tls, "`tls: none` is plain text");
    assert_eq!(message.from, "k8scop@example.com");
    assert_eq!(
        message.to,
        ["oncall@example.com", "sec@example.com", "audit@example.org"]
    );
    let head = message.data.split("\r\n\r\n").next().unwrap();
    let headers = unfold(head);
    let subject = header(&headers, "subject").unwrap();
    assert!(
        subject.starts_with(&format!(
            "[prod-cluster] {} new alerts (highest: ",
            ids.len()
        )),
        "{subject}"
    );
    assert_eq!(
        header(&headers, "to").unwrap(),
        "oncall@example.com, \"Sec Team\" <sec@example.com>, audit@example.org"
    );

    let (text, documents) = content(message);
    let attached: Vec<&str> = documents
        .iter()
        .map(|d| d["k8scop"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(attached, ids, "every alert once, in the order raised");
    // One line per alert: severity, title, rule, count, first and last seen.
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), ids.len(), "{text}");
    for (line, doc) in lines.iter().zip(&documents) {
        let expected = format!(
            "[{}] {} | rule {} | {} ",
            doc["k8scop"]["severity"].as_str().unwrap().to_uppercase(),
            doc["k8scop"]["title"].as_str().unwrap(),
            doc["k8scop"]["rule"].as_str().unwrap(),
            doc["k8scop"]["count"],
        );
        assert!(line.starts_with(&expected), "{line}\nexpected {expected}");
    }
    assert!(
        text.starts_with(&format!("New alerts ({}):\n", ids.len())),
        "{text}"
    );
}

#[test]
fn credentials_come_from_the_environment_and_the_password_is_never_printed() {
    let server = SmtpServer::start(Some(("k8scop-mailer", PASSWORD)));
    let env = [
        ("K8SCOP_SMTP_USERNAME", "k8scop-mailer"),
        ("K8SCOP_SMTP_PASSWORD", PASSWORD),
    ];
    let out = run(&section(&server, ""), &[], &env);
    assert_eq!(out.code, 0, "{out:?}");
    let delivered = server.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].user.as_deref(), Some("k8scop-mailer"));
    assert!(server.transcript().iter().any(|l| l.starts_with("AUTH ")));
    assert!(!out.stderr.contains(PASSWORD) && !out.stdout.contains(PASSWORD));

    // Without the credentials the server refuses the mail (530): reported, counted, exit 1.
    let out = run(&section(&server, ""), &[], &[]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(
            "error: sink email 127.0.0.1: permanent error (530): 5.7.0 Authentication required \
             (not retried) ("
        ),
        "{}",
        out.stderr
    );

    // A wrong password is refused for good; the password stays out of every message.
    let wrong = [
        ("K8SCOP_SMTP_USERNAME", "k8scop-mailer"),
        ("K8SCOP_SMTP_PASSWORD", "wrong-s3cret-pw"),
    ];
    let out = run(&section(&server, ""), &[], &wrong);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("permanent error (535)"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("wrong-s3cret-pw"), "{}", out.stderr);
    assert!(!out.stdout.contains("wrong-s3cret-pw"));
    assert_eq!(server.delivered().len(), 1, "only the first run delivered");

    // Half of the credentials is a configuration error that names what is missing.
    let out = run(
        &section(&server, ""),
        &[],
        &[("K8SCOP_SMTP_PASSWORD", PASSWORD)],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(
        out.stderr,
        "error: SMTP authentication needs both a username and a password: the username is \
         missing (`email.username` or K8SCOP_SMTP_USERNAME)\n"
    );
}

#[test]
fn a_temporary_failure_is_retried_then_delivered() {
    let server = SmtpServer::start(None);
    server.script(&[(451, "4.3.0 Mail server temporarily rejected message")]);
    let out = run(&section(&server, ""), &[], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let received = server.received();
    assert_eq!(
        received.iter().map(|r| r.code).collect::<Vec<_>>(),
        [451, 250],
        "retried once"
    );
    assert_eq!(received[0].data, received[1].data, "the same e-mail again");
    assert!(!out.stderr.contains("error:"), "{}", out.stderr);
}

#[test]
fn a_permanent_failure_is_reported_under_the_sinks_name_and_counted() {
    let server = SmtpServer::start(None);
    server.always(550, "5.7.1 Relaying denied");
    let out = run(&section(&server, ""), &[], &[]);
    assert_eq!(out.code, 1, "undelivered alerts fail the run: {out:?}");
    let ids = alert_ids(&out.stdout);
    assert!(
        out.stderr.contains(&format!(
            "error: sink email 127.0.0.1: permanent error (550): 5.7.1 Relaying denied \
             (not retried) ({} alerts undelivered)\n",
            ids.len()
        )),
        "{}",
        out.stderr
    );
    assert_eq!(server.received().len(), 1, "a 5xx is not retried");
}

#[test]
fn email_settings_are_checked_before_the_run() {
    let server = SmtpServer::start(None);
    let cases: [(&str, &[&str], &str); 4] = [
        (
            "",
            &["--email-to", "oncall@example.com"],
            "error: e-mail needs an SMTP server: config key `email.host` (with `email.from` and \
             `email.to` or `--email-to`)\n",
        ),
        (
            "email: {host: smtp.example.com, from: k@example.com, to: [\"oncall.example.com\"]}\n",
            &[],
            "error: config key `email.to`: `oncall.example.com` is not an e-mail address \
             (expected `name@domain`)\n",
        ),
        (
            "email: {host: \"smtp.example.com:587\", from: k@example.com, to: [a@example.com]}\n",
            &[],
            "error: config key `email.host`: `smtp.example.com:587` is not a host name (give the \
             host alone, e.g. `smtp.example.com`, and the port in `email.port`)\n",
        ),
        (
            "email: {host: smtp.example.com, to: [a@example.com]}\n",
            &[],
            "error: e-mail needs the sender's address: config key `email.from`\n",
        ),
    ];
    for (yaml, extra, expected) in cases {
        let out = run(yaml, extra, &[]);
        assert_eq!(out.code, 2, "{out:?}");
        assert_eq!(out.stderr, expected);
        assert_eq!(out.stdout, "", "nothing runs");
    }
    let out = run(&section(&server, "  tls: ssl\n"), &[], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("duplicate field `tls`")
            || out.stderr.contains("unknown variant `ssl`"),
        "{}",
        out.stderr
    );
    let out = run("email: {hots: x}\n", &[], &[]);
    assert!(
        out.stderr
            .contains("unknown key `email.hots`, expected one of"),
        "{}",
        out.stderr
    );
    assert!(server.received().is_empty());
}

/// A streaming `k8scop run` over a copy of rules/samples/attack.jsonl with the e-mail section;
/// killed on drop should a test fail before it stops it.
struct Streaming {
    child: std::process::Child,
}

impl Streaming {
    fn start(email_yaml: &str) -> Streaming {
        let dir = rules_dir(&[("k8scop.yaml", email_yaml)]);
        let source = dir.join("audit.log");
        std::fs::copy(root().join("rules/samples/attack.jsonl"), &source).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_k8scop"))
            .args(["run", "-A", "streaming", "-d", "0.2", "--rules", "rules"])
            .args(["--source", arg(&source), "--output", "json", "--quiet"])
            .args(["--config", arg(&dir.join("k8scop.yaml"))])
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the k8scop binary runs");
        Streaming { child }
    }

    /// Reads alerts from stdout until `n` lines came.
    fn read_alerts(&mut self, n: usize) -> Vec<String> {
        use std::io::BufRead;
        let stdout = self.child.stdout.as_mut().expect("stdout is piped");
        let mut reader = std::io::BufReader::new(stdout);
        let mut lines = Vec::new();
        while lines.len() < n {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            lines.push(line);
        }
        lines
    }

    /// SIGTERM, then the exit status and stderr.
    fn stop(mut self) -> (Option<i32>, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let status = self.child.wait().expect("k8scop stops");
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut pipe, &mut stderr).unwrap();
        }
        (status.code(), stderr)
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_streaming_run_sends_when_the_window_closes() {
    let server = SmtpServer::start(None);
    let mut run = Streaming::start(&section(&server, "  window: 1\n"));
    let received = server.wait_for(1, Duration::from_secs(60));
    assert_eq!(received.len(), 1, "the window closed while the run goes on");
    assert!(
        run.child.try_wait().unwrap().is_none(),
        "the run is still going"
    );
    assert!(!content(&received[0]).1.is_empty());
    let (code, stderr) = run.stop();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_streaming_run_flushes_the_pending_window_on_shutdown() {
    let server = SmtpServer::start(None);
    let mut run = Streaming::start(&section(&server, "  window: 3600\n"));
    let first = run.read_alerts(1);
    assert_eq!(first.len(), 1, "an alert was raised");
    std::thread::sleep(Duration::from_secs(2));
    assert!(server.received().is_empty(), "held for the hour's window");
    let (code, stderr) = run.stop();
    assert_eq!(code, Some(0), "{stderr}");
    let received = server.received();
    assert_eq!(received.len(), 1, "sent at shutdown: {stderr}");
    assert_eq!(received[0].code, 250);
    let (_, documents) = content(&received[0]);
    assert!(!documents.is_empty());
}

/// An SMTP server with the webhook tests' certificate for 127.0.0.1 (signed by their CA), which
/// requires authentication, and the `email:` section for it with `tls` and `ca_file`.
fn tls_server(mode: TlsMode) -> SmtpServer {
    let dir = tls_dir();
    SmtpServer::start_tls(
        Some(("k8scop-mailer", PASSWORD)),
        mode,
        &dir.join("server.pem"),
        &dir.join("server.key"),
    )
}

fn tls_section(server: &SmtpServer, tls: &str, ca_file: &str) -> String {
    format!(
        "email:\n  host: 127.0.0.1\n  port: {}\n  tls: {tls}\n  ca_file: {ca_file}\n  \
         username: k8scop-mailer\n  password: {PASSWORD}\n  from: k8scop@example.com\n  \
         to: [oncall@example.com]\n",
        server.addr.port()
    )
}

#[test]
fn starttls_delivers_with_the_ca_file_and_a_certificate_it_did_not_sign_is_refused() {
    let server = tls_server(TlsMode::StartTls);
    let ca = tls_dir().join("ca.pem");
    let out = run(&tls_section(&server, "starttls", arg(&ca)), &[], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let delivered = server.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:#?}");
    assert!(delivered[0].tls, "delivered after STARTTLS");
    assert_eq!(delivered[0].user.as_deref(), Some("k8scop-mailer"));
    let ids = alert_ids(&out.stdout);
    let (_, documents) = content(&delivered[0]);
    assert_eq!(documents.len(), ids.len());
    // Nothing but the greeting exchange went in clear: STARTTLS comes before AUTH and MAIL.
    let transcript = server.transcript();
    let at = |verb: &str| transcript.iter().position(|l| l.starts_with(verb));
    assert!(
        at("STARTTLS").unwrap() < at("AUTH").unwrap(),
        "{transcript:?}"
    );
    assert!(
        at("STARTTLS").unwrap() < at("MAIL").unwrap(),
        "{transcript:?}"
    );

    // A CA file that did not sign the server's certificate (the self-signed `stranger`): the
    // handshake is refused, nothing is sent, and the run reports the alerts as undelivered.
    let lines_before = server.transcript().len();
    let stranger = tls_dir().join("stranger.pem");
    let out = run(&tls_section(&server, "starttls", arg(&stranger)), &[], &[]);
    assert_eq!(out.code, 1, "undelivered alerts fail the run: {out:?}");
    let ids = alert_ids(&out.stdout);
    assert!(
        out.stderr.contains(&format!(
            "error: sink email 127.0.0.1: TLS: the server's certificate is refused (invalid peer \
             certificate: UnknownIssuer): it must be issued for `127.0.0.1` by the CA file `{}` or \
             a public CA; nothing was sent (not retried) ({} alerts undelivered)\n",
            stranger.display(),
            ids.len()
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("{} undelivered", ids.len())),
        "counted in the summary: {}",
        out.stderr
    );
    assert!(!out.stderr.contains(PASSWORD), "{}", out.stderr);
    assert_eq!(server.received().len(), 1, "nothing more was received");
    let after: Vec<String> = server.transcript()[lines_before..].to_vec();
    assert!(
        after
            .iter()
            .all(|l| l.starts_with("EHLO") || l == "STARTTLS"),
        "only EHLO and STARTTLS in clear, never AUTH or MAIL: {after:?}"
    );
    assert!(!server
        .handshake_failures(Duration::from_secs(10))
        .is_empty());

    // Without a CA file the built-in roots do not know the private CA either.
    let out = run(
        &tls_section(&server, "starttls", "\"\"").replace("  ca_file: \"\"\n", ""),
        &[],
        &[],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(
            "TLS: the server's certificate is refused (invalid peer certificate: UnknownIssuer): \
             it must be issued for `127.0.0.1` by a public CA (for a private CA, give its CA \
             file); nothing was sent (not retried)"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(server.received().len(), 1);
}

#[test]
fn implicit_tls_delivers_with_the_ca_file() {
    let server = tls_server(TlsMode::Implicit);
    let ca = tls_dir().join("ca.pem");
    let out = run(&tls_section(&server, "tls", arg(&ca)), &[], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let delivered = server.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:#?}");
    assert!(delivered[0].tls);
    assert_eq!(delivered[0].user.as_deref(), Some("k8scop-mailer"));
    assert!(!server.transcript().iter().any(|l| l == "STARTTLS"));
}

#[test]
fn an_unreadable_ca_file_stops_the_run_before_it_starts() {
    let server = tls_server(TlsMode::StartTls);
    let out = run(
        &tls_section(&server, "starttls", "/nonexistent/ca.pem"),
        &[],
        &[],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.starts_with(
            "error: sink email 127.0.0.1: cannot read the CA file `/nonexistent/ca.pem`: "
        ),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "", "nothing runs");
    let not_pem = rules_dir(&[("ca.pem", "not a certificate\n")]).join("ca.pem");
    let out = run(&tls_section(&server, "tls", arg(&not_pem)), &[], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("holds no certificate (expected PEM"),
        "{}",
        out.stderr
    );
    assert!(server.received().is_empty());
}
