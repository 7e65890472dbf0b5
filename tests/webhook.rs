//! `k8scop run --listen`: the audit webhook as the kube-apiserver uses it. Real `EventList`
//! bodies (the shipped sample's events, as the API server batches them) give the same alerts as
//! the file; bodies over the limits get 413, text that is not JSON 400, a full queue 429 until
//! the sink catches up; HTTPS with a server certificate and client-certificate auth. And the
//! metrics and health endpoints, scraped during a run.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::run::{alerts_in, ids_and_counts, Running};
use crate::util::{arg, k8scop, root, rules_dir};

/// The sample's events, each a JSON line.
fn sample_events() -> Vec<String> {
    std::fs::read_to_string(root().join("rules/samples/attack.jsonl"))
        .expect("the sample is there")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// An `EventList` of `items` (JSON texts), compact on one line as the API server sends it.
fn event_list(items: &[String]) -> String {
    format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{}]}}"#,
        items.join(",")
    )
}

/// The URL a run prints once its webhook listens (`audit webhook: listening on URL`).
pub(crate) fn listening_url(running: &mut Running, what: &str) -> String {
    let marker = format!("{what}: listening on ");
    running.wait_for_stderr(&marker, 1);
    let stderr = running.stderr();
    let start = stderr.find(&marker).expect("waited for it") + marker.len();
    stderr[start..]
        .lines()
        .next()
        .expect("a URL follows")
        .to_owned()
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a client")
}

/// POSTs `body` and returns the status and the answer's text.
fn post(client: &reqwest::blocking::Client, url: &str, body: String) -> (u16, String) {
    let response = client
        .post(url)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().unwrap_or_default())
}

fn webhook_run(extra: &[&str]) -> (Running, String) {
    let mut args = vec![
        "run",
        "--listen",
        "127.0.0.1:0",
        "--output",
        "json",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let mut running = Running::start(&args);
    let url = listening_url(&mut running, "audit webhook");
    (running, url)
}

#[test]
fn event_lists_give_the_same_alerts_as_the_same_events_from_a_file() {
    let (mut running, url) = webhook_run(&[]);
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/k8s-audit"),
        "{url}"
    );
    let client = client();
    let events = sample_events();
    // Batches of 7, as the API server's batching backend cuts them.
    for batch in events.chunks(7) {
        let (status, text) = post(&client, &url, event_list(batch));
        assert_eq!((status, text.as_str()), (200, "queued\n"));
    }
    let ended = running.terminate();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert!(
        ended
            .stderr
            .contains(&format!("summary: {} events", events.len())),
        "{}",
        ended.stderr
    );

    let file = k8scop(&[
        "run",
        "--source",
        "rules/samples/attack.jsonl",
        "--output",
        "json",
        "--quiet",
    ]);
    assert_eq!(file.code, 0, "{}", file.stderr);
    let expected = ids_and_counts(&alerts_in(&file.stdout));
    assert!(expected.len() >= 10, "{expected:?}");
    assert_eq!(ids_and_counts(&alerts_in(&ended.stdout)), expected);
}

#[test]
fn bodies_over_the_limits_get_413_text_that_is_not_json_400() {
    let (mut running, url) =
        webhook_run(&["--max-batch-bytes", "20000", "--max-event-bytes", "3000"]);
    let client = client();
    let events = sample_events();

    // A batch over 20000 bytes.
    let big: Vec<String> = events.iter().take(40).cloned().collect();
    let (status, text) = post(&client, &url, event_list(&big));
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("over the limit of 20000 bytes"), "{text}");

    // The second event over 3000 bytes: the API server does not send this batch again, and
    // k8scop says so.
    let mut fat: Value = serde_json::from_str(&events[1]).unwrap();
    fat["requestObject"] = json!({"padding": "x".repeat(3000)});
    let batch = vec![events[0].clone(), fat.to_string(), events[2].clone()];
    let (status, text) = post(&client, &url, event_list(&batch));
    assert_eq!(status, 413, "{text}");
    assert!(text.starts_with("event 2 of the batch is 3"), "{text}");
    assert!(text.contains("over the limit of 3000 bytes"), "{text}");

    // Not JSON: 400, reported as malformed input with the parser's message.
    let (status, text) = post(
        &client,
        &url,
        "{\"kind\":\"EventList\",\"items\":[{]}".into(),
    );
    assert_eq!(status, 400, "{text}");
    assert!(
        text.starts_with("the body is not JSON: key must be a string"),
        "{text}"
    );

    // Wrong method and path.
    let response = client.get(&url).send().unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let other = url.replace("/k8s-audit", "/audit");
    assert_eq!(post(&client, &other, event_list(&events[..1])).0, 404);

    // A good batch still goes through.
    let (status, _) = post(&client, &url, event_list(&events[..5]));
    assert_eq!(status, 200);

    let ended = running.terminate();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    let stderr = &ended.stderr;
    assert!(
        stderr.contains("warning: webhook request 1: refused (413): the batch is")
            && stderr.contains("warning: webhook request 2: refused (413): event 2 of the batch"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: webhook request 3:1: malformed input: key must be a string"),
        "{stderr}"
    );
    assert!(
        stderr.contains("summary: 5 events") && stderr.contains("1 malformed"),
        "{stderr}"
    );
}

/// A run whose stdout nobody reads until told to: its stdout sink blocks once the pipe is full,
/// which fills the pipeline's queues.
struct Stalled {
    child: std::process::Child,
    stdout: Option<std::process::ChildStdout>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Stalled {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_full_queue_answers_429_until_the_sink_catches_up_and_nothing_is_lost() {
    let rules = rules_dir(&[(
        "r.rules",
        r#"rule every_get {
    title "get {objectRef.name}"
    when  verb == "get"
}
"#,
    )]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_k8scop"))
        .args([
            "run",
            "--listen",
            "127.0.0.1:0",
            "--rules",
            arg(&rules),
            "--output",
            "json",
            "--quiet",
        ])
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("k8scop runs");
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    {
        let stderr = std::sync::Arc::clone(&stderr);
        let mut pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    return;
                }
                stderr
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    let mut stalled = Stalled {
        stdout: child.stdout.take(),
        child,
        stderr,
    };
    let start = Instant::now();
    let url = loop {
        let text = stalled.stderr.lock().unwrap().clone();
        if let Some(i) = text.find("listening on ") {
            break text[i + 13..].lines().next().unwrap().to_owned();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let client = client();
    // Each request: 20 gets of distinct pods, so 20 alerts of about 1 KiB; the 64 KiB pipe
    // fills after a few, then the queues behind it (the sink's queue holds 8 batches of up to
    // 1024 alerts, which the engine holds up to 100 ms to merge the updates of an alert).
    let template: Value = serde_json::from_str(&sample_events()[0]).unwrap();
    let batch = |n: usize| {
        let items: Vec<String> = (0..20)
            .map(|i| {
                let mut e = template.clone();
                e["auditID"] = json!(format!("req-{n}-{i}"));
                e["verb"] = json!("get");
                e["objectRef"]["name"] = json!(format!("pod-{n}-{i}"));
                e.to_string()
            })
            .collect();
        event_list(&items)
    };
    let mut accepted = 0;
    let mut refused = None;
    for n in 0..2000 {
        let (status, text) = post(&client, &url, batch(n));
        match status {
            200 => accepted += 1,
            429 => {
                assert!(text.contains("the queue is full"), "{text}");
                refused = Some(n);
                break;
            }
            other => panic!("request {n}: {other} {text}"),
        }
    }
    let refused = refused.expect("a stalled pipeline answers 429 within 2000 requests");
    assert!(accepted >= 3, "{accepted}");
    // The API server sends the batch again later; once stdout is read, it is taken.
    let mut stdout = stalled.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let start = Instant::now();
    loop {
        let (status, text) = post(&client, &url, batch(refused));
        if status == 200 {
            break;
        }
        assert_eq!(status, 429, "{text}");
        assert!(start.elapsed() < Duration::from_secs(20), "still 429");
    }
    let kill = Command::new("kill")
        .args(["-TERM", &stalled.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = stalled.child.wait().unwrap();
    let out = reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{}", stalled.stderr.lock().unwrap());
    // Every event of every batch answered 200 gave its alert: nothing was dropped.
    let alerts = alerts_in(&out);
    assert_eq!(alerts.len(), (accepted + 1) * 20);
}

/// A CA, a server certificate for 127.0.0.1 and two client certificates (one from the CA, one
/// self-signed), made with `openssl` in `dir`.
fn certificates(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let sh = |script: &str| {
        let status = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("sh runs");
        assert!(status.success(), "openssl failed: {script}");
    };
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
        -subj /CN=k8scop-test-ca -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign",
    );
    std::fs::write(
        dir.join("server.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.cnf"), "extendedKeyUsage=clientAuth\n").unwrap();
    sh("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost");
    sh(
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -out server.pem -days 2 -extfile server.cnf",
    );
    sh(
        "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr \
        -subj /CN=kube-apiserver",
    );
    sh(
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -out client.pem -days 2 -extfile client.cnf",
    );
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout stranger.key -out stranger.pem \
        -days 2 -subj /CN=stranger",
    );
}

fn tls_client(dir: &Path, identity: Option<&str>) -> reqwest::blocking::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.pem")).unwrap()).unwrap();
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .add_root_certificate(ca);
    if let Some(name) = identity {
        let mut pem = std::fs::read(dir.join(format!("{name}.pem"))).unwrap();
        pem.extend(std::fs::read(dir.join(format!("{name}.key"))).unwrap());
        builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    builder.build().unwrap()
}

/// The certificates of [`certificates`], made once for the tests that share them.
pub(crate) fn tls_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("k8scop-webhook-tls-{}", std::process::id()));
        certificates(&dir);
        dir
    })
    .clone()
}

#[test]
fn https_with_client_certificates_accepts_the_api_server_and_refuses_others() {
    let dir = tls_dir();
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let (cert, key, ca) = (file("server.pem"), file("server.key"), file("ca.pem"));
    let (mut running, url) = webhook_run(&[
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--client-ca",
        &ca,
        "--listen-path",
        "/audit/v1",
    ]);
    assert!(
        url.starts_with("https://127.0.0.1:") && url.ends_with("/audit/v1"),
        "{url}"
    );
    let events = sample_events();
    let (status, text) = post(
        &tls_client(&dir, Some("client")),
        &url,
        event_list(&events[..9]),
    );
    assert_eq!((status, text.as_str()), (200, "queued\n"));
    // No client certificate, one the CA did not sign: the handshake fails.
    for identity in [None, Some("stranger")] {
        let refused = tls_client(&dir, identity)
            .post(&url)
            .body(event_list(&events[9..12]))
            .send();
        assert!(refused.is_err(), "{identity:?} was let in");
    }
    // Plain HTTP on the HTTPS port gets nowhere either.
    let plain = client()
        .post(url.replace("https:", "http:"))
        .body("[]")
        .send();
    assert!(plain.map(|r| r.status().as_u16() != 200).unwrap_or(true));
    let ended = running.terminate();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert!(
        ended.stderr.contains("summary: 9 events"),
        "{}",
        ended.stderr
    );

    // HTTPS without client certificates: any client that trusts the server gets in.
    let (mut running, url) = webhook_run(&["--tls-cert", &cert, "--tls-key", &key]);
    let (status, _) = post(&tls_client(&dir, None), &url, event_list(&events[..3]));
    assert_eq!(status, 200);
    let ended = running.terminate();
    assert!(
        ended.stderr.contains("summary: 3 events"),
        "{}",
        ended.stderr
    );
}

#[test]
fn unusable_listen_settings_exit_2_before_the_run() {
    let dir = tls_dir();
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let run = k8scop(&[
        "run",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &file("server.pem"),
        "--tls-key",
        &file("client.key"),
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("error: audit webhook: TLS settings: the certificate")
            && run.stderr.contains("cannot be used together"),
        "{}",
        run.stderr
    );
    let run = k8scop(&[
        "run",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        "/nonexistent.pem",
        "--tls-key",
        "/nonexistent.key",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("error: audit webhook: TLS certificate `/nonexistent.pem`: "),
        "{}",
        run.stderr
    );
    // A port already taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let run = k8scop(&["run", "--listen", &address]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(&format!(
            "error: audit webhook: cannot listen on `{address}`: "
        )),
        "{}",
        run.stderr
    );
    let run = k8scop(&["run", "--source", "x.log", "--metrics", &address]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains(&format!("error: metrics: cannot listen on `{address}`: ")),
        "{}",
        run.stderr
    );
}

/// `name{labels} value` lines of a scrape, as a map from `name{labels}` to the value.
fn samples(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (key, value) = l.rsplit_once(' ').expect("name and value");
            (key.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

#[test]
fn metrics_and_probes_are_served_during_a_run() {
    let mut running = Running::start(&[
        "run",
        "--listen",
        "127.0.0.1:0",
        "--metrics",
        "127.0.0.1:0",
        "--output",
        "json",
        "--quiet",
    ]);
    let metrics = listening_url(&mut running, "metrics");
    let webhook = listening_url(&mut running, "audit webhook");
    let base = metrics.trim_end_matches("/metrics").to_owned();
    let client = client();
    let get = |path: &str| {
        let r = client.get(format!("{base}{path}")).send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    assert_eq!(get("/healthz"), (200, "ok\n".into()));
    // Ready once the rules are loaded and the webhook runs (which it does: it printed its URL).
    let start = Instant::now();
    while get("/readyz").0 != 200 {
        assert!(start.elapsed() < Duration::from_secs(10), "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let events = sample_events();
    for batch in events.chunks(10) {
        assert_eq!(post(&client, &webhook, event_list(batch)).0, 200);
    }
    assert_eq!(post(&client, &webhook, "not json".into()).0, 400);
    // The counters catch up with what was queued.
    let total = events.len() as f64;
    let start = Instant::now();
    let scrape = loop {
        let response = client.get(&metrics).send().unwrap();
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = response.text().unwrap();
        let s = samples(&text);
        let rule_alerts: f64 = s
            .iter()
            .filter(|(k, _)| k.starts_with("k8scop_rule_alerts_total{"))
            .map(|(_, v)| v)
            .sum();
        if s.get("k8scop_events_evaluated_total{source=\"webhook\"}") == Some(&total)
            && s.get("k8scop_alerts_total{kind=\"new\"}") == Some(&rule_alerts)
            && s.keys().any(|k| k.starts_with("k8scop_rule_alerts_total{"))
            && s.get("k8scop_sink_alerts_total{sink=\"stdout\"}")
                .is_some_and(|n| *n > 0.0)
        {
            break text;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let s = samples(&scrape);
    assert_eq!(s["k8scop_ready"], 1.0);
    assert_eq!(s["k8scop_events_malformed_total{source=\"webhook\"}"], 1.0);
    assert_eq!(
        s["k8scop_events_read_total{source=\"webhook\"}"],
        total + 1.0
    );
    assert_eq!(s["k8scop_webhook_requests_total{code=\"200\"}"], 8.0);
    assert_eq!(s["k8scop_webhook_requests_total{code=\"400\"}"], 1.0);
    assert_eq!(s["k8scop_reloads_total{result=\"failed\"}"], 0.0);
    assert_eq!(s["k8scop_queue_capacity{queue=\"source\"}"], 8.0);
    assert!(s.contains_key("k8scop_queue_depth{queue=\"sink\",sink=\"stdout\"}"));
    assert!(s.contains_key("k8scop_event_lag_seconds"));
    // Per rule, with its severity: the alerts on stdout, counted by rule.
    let alerts = alerts_in(&running.stdout());
    let mut by_rule = std::collections::BTreeMap::<(String, String), f64>::new();
    for alert in alerts.values() {
        let key = (
            alert["k8scop"]["rule"].as_str().unwrap().to_owned(),
            alert["k8scop"]["severity"].as_str().unwrap().to_owned(),
        );
        *by_rule.entry(key).or_default() += 1.0;
    }
    assert!(!by_rule.is_empty());
    for ((rule, severity), n) in &by_rule {
        let key = format!("k8scop_rule_alerts_total{{rule=\"{rule}\",severity=\"{severity}\"}}");
        assert_eq!(s.get(&key), Some(n), "{key}\n{scrape}");
    }
    let ended = running.terminate();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
}

/// A configuration file written for a test, and its path as an argument.
fn config_file(yaml: &str) -> PathBuf {
    rules_dir(&[("k8scop.yaml", yaml)]).join("k8scop.yaml")
}

#[test]
fn the_config_file_alone_starts_the_receiver_and_metrics_and_flags_override_it() {
    let dir = tls_dir();
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let config = config_file(&format!(
        "listen:\n  address: \"127.0.0.1:0\"\n  path: /from-file\n  tls_cert: {}\n  tls_key: {}\n  \
         client_ca: {}\n  max_event_bytes: 3000\nmetrics: \"127.0.0.1:0\"\noutput: json\nquiet: true\n",
        file("server.pem"),
        file("server.key"),
        file("ca.pem"),
    ));
    let events = sample_events();
    let mut fat: Value = serde_json::from_str(&events[1]).unwrap();
    fat["requestObject"] = json!({"padding": "x".repeat(3000)});
    let fat_batch = event_list(&[events[0].clone(), fat.to_string()]);
    let api_server = tls_client(&dir, Some("client"));

    let mut running = Running::start(&["run", "--config", arg(&config)]);
    let metrics = listening_url(&mut running, "metrics");
    let url = listening_url(&mut running, "audit webhook");
    assert!(
        url.starts_with("https://127.0.0.1:") && url.ends_with("/from-file"),
        "{url}"
    );
    let (status, text) = post(&api_server, &url, event_list(&events[..5]));
    assert_eq!((status, text.as_str()), (200, "queued\n"));
    // The file's event limit and client CA apply.
    assert_eq!(post(&api_server, &url, fat_batch.clone()).0, 413);
    let stranger = tls_client(&dir, Some("stranger"))
        .post(&url)
        .body("[]")
        .send();
    assert!(stranger.is_err(), "a client the CA did not sign was let in");
    let scrape = client().get(&metrics).send().unwrap().text().unwrap();
    assert_eq!(
        samples(&scrape).get("k8scop_webhook_requests_total{code=\"413\"}"),
        Some(&1.0),
        "{scrape}"
    );
    let ended = running.terminate();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert!(
        ended.stderr.contains("summary: 5 events"),
        "{}",
        ended.stderr
    );

    // Flags override their keys; the file's other keys still apply.
    let mut running = Running::start(&[
        "run",
        "--config",
        arg(&config),
        "--listen-path",
        "/from-flag",
        "--max-event-bytes",
        "102400",
    ]);
    let url = listening_url(&mut running, "audit webhook");
    assert!(
        url.starts_with("https://127.0.0.1:") && url.ends_with("/from-flag"),
        "{url}"
    );
    assert_eq!(post(&api_server, &url, fat_batch).0, 200);
    let ended = running.terminate();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert!(
        ended.stderr.contains("summary: 2 events"),
        "{}",
        ended.stderr
    );
}

#[test]
fn bad_listen_and_metrics_keys_are_refused_with_the_key_and_place() {
    let refused = |yaml: &str, extra: &[&str]| {
        let config = config_file(yaml);
        let mut args = vec!["run", "--config", arg(&config)];
        args.extend_from_slice(extra);
        let run = k8scop(&args);
        assert_eq!(run.code, 2, "{yaml}\n{}", run.stderr);
        assert_eq!(run.stdout, "");
        (config.display().to_string(), run.stderr)
    };
    let (path, stderr) = refused(
        "listen:\n  address: \"127.0.0.1:0\"\n  max_batch_bytes: lots\n",
        &[],
    );
    assert_eq!(
        stderr,
        format!(
            "error: {path}:3:20: key `listen.max_batch_bytes`: invalid type: string \"lots\", \
             expected usize\n"
        )
    );
    let (_, stderr) = refused(
        "listen:\n  address: \"127.0.0.1:0\"\n  path: k8s-audit\n",
        &[],
    );
    assert_eq!(
        stderr,
        "error: config key `listen.path` (`k8s-audit`): expected a URL path such as `/k8s-audit`\n"
    );
    let (_, stderr) = refused("listen: {tls_key: /etc/tls.key}\nsources: [x.log]\n", &[]);
    assert_eq!(
        stderr,
        "error: config key `listen.tls_key` configures the audit webhook; it needs `--listen \
         ADDR` (config key `listen.address`)\n"
    );
    let (_, stderr) = refused("listen: {address: \"127.0.0.1:0\"}\n", &["-A", "static"]);
    assert!(
        stderr.starts_with(
            "error: config key `listen.address` receives events until k8scop is stopped"
        ),
        "{stderr}"
    );
    let (_, stderr) = refused("metrics: \"\"\nsources: [x.log]\n", &[]);
    assert_eq!(
        stderr,
        "error: config key `metrics` is empty; give an address such as `0.0.0.0:9090`\n"
    );
}
