//! `k8scop run -E`: the Elasticsearch source, the alerts sink and checkpoints, end to end, against
//! osmem-server (a real OpenSearch-compatible server) and the project's own Elasticsearch test
//! server (Elasticsearch's point in time, faults, authentication).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::es_server::{Auth, EsOptions, EsServer, Fault, Flavor};
use crate::osmem::Osmem;
use crate::util::root;

/// One HTTP/1.1 request with `Connection: close`; the status and the body.
fn http(base: &str, method: &str, path: &str, content_type: &str, body: &str) -> (u16, String) {
    let authority = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).expect("the server accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// The sample audit events, each with `@timestamp` set to its event time, as a shipper does.
fn sample_events() -> Vec<Value> {
    let text = std::fs::read_to_string(root().join("rules/samples/attack.jsonl")).unwrap();
    let events: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut e: Value = serde_json::from_str(l).unwrap();
            let t = e["requestReceivedTimestamp"].clone();
            e["@timestamp"] = t;
            e
        })
        .collect();
    assert!(events.len() > 50, "the sample has its events");
    events
}

/// Bulk-loads `docs` into `index` on a server over HTTP, refreshed.
fn bulk_load(base: &str, index: &str, docs: &[Value]) {
    let mut body = String::new();
    for d in docs {
        body.push_str(&json!({"index": {"_index": index}}).to_string());
        body.push('\n');
        body.push_str(&d.to_string());
        body.push('\n');
    }
    let (status, answer) = http(
        base,
        "POST",
        "/_bulk?refresh=true",
        "application/x-ndjson",
        &body,
    );
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"errors\":false"), "{answer}");
}

/// Bulk-loads `docs` with ids `000000`, `000001`, ... in their order, refreshed.
fn bulk_load_with_ids(base: &str, index: &str, docs: &[Value]) {
    let mut body = String::new();
    for (i, d) in docs.iter().enumerate() {
        body.push_str(&json!({"index": {"_index": index, "_id": format!("{i:06}")}}).to_string());
        body.push('\n');
        body.push_str(&d.to_string());
        body.push('\n');
    }
    let (status, answer) = http(
        base,
        "POST",
        "/_bulk?refresh=true",
        "application/x-ndjson",
        &body,
    );
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"errors\":false"), "{answer}");
}

/// Every document of `index` as id -> source (refreshes first).
fn index_docs(base: &str, index: &str) -> BTreeMap<String, Value> {
    http(
        base,
        "POST",
        &format!("/{index}/_refresh"),
        "application/json",
        "",
    );
    let (status, body) = http(
        base,
        "POST",
        &format!("/{index}/_search"),
        "application/json",
        r#"{"size": 10000, "query": {"match_all": {}}}"#,
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["_id"].as_str().unwrap().to_owned(), h["_source"].clone()))
        .collect()
}

/// What must be equal between two runs' alerts: every document, whole (id, counts, times,
/// samples, context), by id.
fn alert_summary(docs: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    docs.clone()
}

/// Asserts two sets of alert documents are equal; on failure names the differing ids only.
fn assert_same_alerts(got: &BTreeMap<String, Value>, want: &BTreeMap<String, Value>, what: &str) {
    let differing: Vec<String> = want
        .keys()
        .chain(got.keys())
        .filter(|id| got.get(*id) != want.get(*id))
        .map(|id| {
            let rule = |m: &BTreeMap<String, Value>| {
                m.get(id)
                    .map(|d| format!("{} x{}", d["rule"]["name"], d["event"]["count"]))
                    .unwrap_or_else(|| "absent".into())
            };
            format!("{id}: got {}, want {}", rule(got), rule(want))
        })
        .collect();
    assert!(differing.is_empty(), "{what}: {differing:#?}");
}

/// The alert documents a `--output json` run printed, keyed by id (the latest update wins).
fn printed_alerts(stdout: &str) -> BTreeMap<String, Value> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let d: Value = serde_json::from_str(l).unwrap();
            (d["k8scop"]["id"].as_str().unwrap().to_owned(), d)
        })
        .collect()
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_k8scop"));
    c.arg("run")
        .args(args)
        .current_dir(root())
        .env_remove("K8SCOP_ES_USERNAME")
        .env_remove("K8SCOP_ES_PASSWORD")
        .env_remove("K8SCOP_ES_API_KEY")
        .env_remove("K8SCOP_ES_BEARER")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = command(args, env).output().expect("k8scop runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn dead_letter_path(name: &str) -> String {
    let p = std::env::temp_dir().join(format!("k8scop-dl-{}-{name}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p.to_str().unwrap().to_owned()
}

/// The same events give the same alerts from a file and from OpenSearch (osmem-server), and the
/// alerts index ends with one document per alert, at its final count.
#[test]
fn a_static_range_in_opensearch_gives_the_same_alerts_as_the_file() {
    // Elasticsearch returns events in time order (ties by id): the file gets the same order.
    let mut events = sample_events();
    events.sort_by_key(|e| e["@timestamp"].as_str().unwrap().to_owned());
    let file = std::env::temp_dir().join(format!("k8scop-es-{}.jsonl", std::process::id()));
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let from_file = run(
        &["--source", file.to_str().unwrap(), "--output", "json"],
        &[],
    );
    assert_eq!(from_file.code, 0, "{}", from_file.stderr);
    let expected = printed_alerts(&from_file.stdout);
    assert!(expected.len() >= 10);

    let os = Osmem::start();
    bulk_load_with_ids(os.url(), "k8s-audit-sample", &events);
    let es = run(
        &[
            "-E",
            os.url(),
            "-I",
            "k8s-audit-*",
            "-i",
            "k8scop-alerts",
            "-s",
            "2000-01-01",
            "-A",
            "static",
            "--output",
            "json",
            "--instance",
            "t",
            "--page-size",
            "7",
        ],
        &[],
    );
    assert_eq!(es.code, 0, "{}", es.stderr);
    assert!(
        es.stderr.contains("connected to OpenSearch"),
        "{}",
        es.stderr
    );
    let printed = printed_alerts(&es.stdout);
    assert_eq!(
        printed.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    let stored = index_docs(os.url(), "k8scop-alerts");
    assert_eq!(alert_summary(&stored), alert_summary(&expected));
    assert!(
        es.stderr.contains("checkpoints: 1 committed"),
        "{}",
        es.stderr
    );

    // Re-running the range from scratch updates the same documents: no second copy.
    let again = run(
        &[
            "-E",
            os.url(),
            "-I",
            "k8s-audit-*",
            "-i",
            "k8scop-alerts",
            "-s",
            "2000-01-01",
            "-A",
            "static",
            "--instance",
            "t",
            "--fresh",
        ],
        &[],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        alert_summary(&index_docs(os.url(), "k8scop-alerts")),
        alert_summary(&expected)
    );
    // Without --fresh, the finished range resumes at its end and reads nothing.
    let resumed = run(
        &[
            "-E",
            os.url(),
            "-I",
            "k8s-audit-*",
            "-s",
            "2000-01-01",
            "-A",
            "static",
            "--instance",
            "t",
        ],
        &[],
    );
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(
        resumed.stderr.contains("resumed from the checkpoint"),
        "{}",
        resumed.stderr
    );
    assert!(
        resumed.stderr.contains("summary: 0 events"),
        "{}",
        resumed.stderr
    );
}

/// `-s` is inclusive and `-e` exclusive, to the millisecond.
#[test]
fn a_static_range_has_exact_boundaries() {
    let os = Osmem::start();
    let base = sample_events()[0].clone();
    let at = |t: &str, id: &str| {
        let mut e = base.clone();
        e["@timestamp"] = json!(t);
        e["auditID"] = json!(id);
        e
    };
    bulk_load(
        os.url(),
        "k8s-audit-b",
        &[
            at("2024-03-01T09:59:59.999Z", "before-start"),
            at("2024-03-01T10:00:00.000Z", "at-start"),
            at("2024-03-01T10:59:59.999Z", "before-end"),
            at("2024-03-01T11:00:00.000Z", "at-end"),
        ],
    );
    let out = run(
        &[
            "-E",
            os.url(),
            "-I",
            "k8s-audit-b",
            "-s",
            "2024-03-01T10:00:00Z",
            "-e",
            "2024-03-01T11:00:00Z",
            "--instance",
            "b",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("summary: 2 events"), "{}", out.stderr);
}

/// kill -9 at any moment, then the same command again: the alerts index ends exactly as after an
/// uninterrupted run (same ids, same counts). The test server answers each search slowly, so the
/// kill lands in the middle of the range; it is tried at several moments.
#[test]
fn kill_9_and_restart_ends_as_an_uninterrupted_run() {
    let events = sample_events();
    let args = |url: &str| -> Vec<String> {
        [
            "-E",
            url,
            "-I",
            "k8s-audit-*",
            "-i",
            "alerts",
            "-s",
            "2000-01-01",
            "-A",
            "static",
            "--page-size",
            "4",
            "--checkpoint-interval",
            "0.05",
            "--instance",
            "k",
            "--output",
            "json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // The reference: one uninterrupted run.
    let reference = {
        let es = EsServer::start(EsOptions::default());
        es.index_docs("k8s-audit-ref", &events);
        let a = args(&es.url());
        let out = run(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let docs: BTreeMap<String, Value> = es.docs("alerts").into_iter().collect();
        assert!(docs.len() >= 10);
        alert_summary(&docs)
    };
    // Kill points: early (maybe before anything was written), as soon as the first checkpoint
    // is committed, and once some alerts are in the index.
    for kill_at in ["300 ms", "first checkpoint", "5 alerts"] {
        let es = EsServer::start(EsOptions::default());
        es.index_docs("k8s-audit-x", &events);
        es.faults().push(Fault::Delay {
            path: "_search".into(),
            millis: 120,
            times: 1000,
        });
        let a = args(&es.url());
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let mut child: Child = command(&a, &[]).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let reached = || match kill_at {
            "first checkpoint" => es
                .docs("k8scop-state")
                .iter()
                .any(|(_, d)| d["checkpoint"].is_object()),
            "5 alerts" => es.docs("alerts").len() >= 5,
            _ => true,
        };
        std::thread::sleep(Duration::from_millis(300));
        while !reached() {
            assert!(Instant::now() < deadline, "{kill_at} never happened");
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap(); // SIGKILL
        let killed = child.wait_with_output().unwrap();
        let killed_stderr = String::from_utf8_lossy(&killed.stderr).into_owned();
        let partial = es.docs("alerts").len();
        let state = es.docs("k8scop-state");
        es.faults().clear();
        let out = run(&a, &[]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let docs: BTreeMap<String, Value> = es.docs("alerts").into_iter().collect();
        assert_eq!(
            alert_summary(&docs),
            reference,
            "killed at {kill_at} with {partial} alerts written; restart said:\n{}",
            out.stderr
        );
        if kill_at == "first checkpoint" {
            assert!(
                out.stderr.contains("resumed from the checkpoint"),
                "{}\nkilled run:\n{killed_stderr}\nstate: {state:?}",
                out.stderr
            );
        }
    }
}

/// Two instances on one cursor: the second is refused while the first holds the lease.
#[test]
fn a_second_instance_on_the_same_cursor_is_refused() {
    let es = EsServer::start(EsOptions::default());
    es.index_docs("k8s-audit-s", &sample_events());
    let args = |instance: &'static str| {
        vec![
            "-E".to_owned(),
            es.url(),
            "-I".into(),
            "k8s-audit-*".into(),
            "-A".into(),
            "streaming".into(),
            "-d".into(),
            "0.2".into(),
            "-s".into(),
            "2000-01-01".into(),
            "--instance".into(),
            instance.into(),
            "--checkpoint-interval".into(),
            "0.1".into(),
        ]
    };
    let a = args("first");
    let mut first = command(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[])
        .spawn()
        .unwrap();
    // Wait until the first instance has written its checkpoint.
    let deadline = Instant::now() + Duration::from_secs(20);
    while es.docs("k8scop-state").is_empty() {
        assert!(Instant::now() < deadline, "no checkpoint written");
        std::thread::sleep(Duration::from_millis(50));
    }
    let b = args("second");
    let second = run(&b.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert_eq!(second.code, 2, "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains("another k8scop instance holds the lease")
            && second.stderr.contains("`first`"),
        "{}",
        second.stderr
    );
    first.kill().unwrap();
    first.wait().unwrap();
}

/// Streaming: documents that arrive while k8scop runs are alerted on, late ones (stamped before
/// the cursor, within the overlap) too; SIGTERM stops it gracefully.
#[test]
fn streaming_sees_new_and_late_documents() {
    let os = Osmem::start();
    let exec = sample_events()
        .into_iter()
        .find(|e| e["objectRef"]["subresource"] == "exec")
        .expect("the sample has an exec");
    let now = |offset_ms: i64| {
        chrono::DateTime::from_timestamp_millis(chrono::Utc::now().timestamp_millis() + offset_ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let event = |user: &str, t: String, id: &str| {
        let mut e = exec.clone();
        e["user"]["username"] = json!(user);
        e["auditID"] = json!(id);
        e["requestReceivedTimestamp"] = json!(t);
        e["stageTimestamp"] = json!(t);
        e["@timestamp"] = json!(t);
        e
    };
    let alerted = |user: &str| {
        let (_, body) = http(
            os.url(),
            "POST",
            "/alerts/_search",
            "application/json",
            r#"{"size": 1000}"#,
        );
        body.contains(&format!("\"name\":\"{user}\""))
    };
    let wait_for = |user: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !alerted(user) {
            assert!(Instant::now() < deadline, "no alert for {user}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // The index must exist before the first poll.
    bulk_load(
        os.url(),
        "k8s-audit-live",
        &[event("early", now(-1000), "e0")],
    );
    let url = os.url().to_owned();
    let a = [
        "-E",
        &url,
        "-I",
        "k8s-audit-live",
        "-i",
        "alerts",
        "-A",
        "streaming",
        "-d",
        "0.2",
        "--query-delay",
        "0",
        "--overlap",
        "60",
        "--output",
        "json",
        "--instance",
        "s",
    ];
    let child = command(&a, &[]).spawn().unwrap();
    wait_for("early");
    bulk_load(os.url(), "k8s-audit-live", &[event("alice", now(0), "a1")]);
    wait_for("alice");
    // Late: stamped 3 s before the newest document read, after the cursor passed that time.
    bulk_load(
        os.url(),
        "k8s-audit-live",
        &[event("mallory", now(-3000), "m1")],
    );
    wait_for("mallory");
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let users: Vec<String> = printed_alerts(&stdout)
        .values()
        .filter_map(|d| d["user"]["name"].as_str().map(str::to_owned))
        .collect();
    for user in ["early", "alice", "mallory"] {
        assert!(
            users.iter().any(|u| u == user),
            "{user} in {users:?}\n{stderr}"
        );
    }
    let stored = index_docs(os.url(), "alerts");
    assert_eq!(stored.len(), printed_alerts(&stdout).len(), "{stderr}");
}

/// Faults while writing alerts: whole-request 429/503 and per-item 429 are retried, rejected
/// documents go to the dead-letter file, a 413 splits the batch; every alert ends in the index
/// or in the dead-letter file.
#[test]
fn write_faults_are_retried_split_or_dead_lettered() {
    let events = sample_events();
    let es = EsServer::start(EsOptions::default());
    es.index_docs("k8s-audit-f", &events);
    es.faults().push(Fault::Status {
        path: "_bulk".into(),
        status: 429,
        times: 2,
    });
    es.faults().push(Fault::Status {
        path: "_search".into(),
        status: 503,
        times: 1,
    });
    es.faults().push(Fault::BulkItems {
        status: 429,
        every_nth: 2,
        times: 2,
    });
    // Bulk requests over 4 KB are too large: batches are split until they fit.
    es.faults().push(Fault::PayloadTooLarge {
        path: "_bulk".into(),
        over_bytes: 4000,
    });
    let dl = dead_letter_path("f");
    let url = es.url();
    let out = run(
        &[
            "-E",
            &url,
            "-I",
            "k8s-audit-*",
            "-i",
            "alerts",
            "-s",
            "2000-01-01",
            "--instance",
            "f",
            "--dead-letter",
            &dl,
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Retries of the alerts index are reported under the sink's name.
    assert!(
        out.stderr
            .contains("warning: sink elasticsearch (alerts index alerts): "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("retrying"), "{}", out.stderr);
    let bulks: Vec<u16> = es
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("_bulk"))
        .map(|r| r.status)
        .collect();
    assert!(bulks.contains(&413) && bulks.contains(&200), "{bulks:?}");
    let printed = printed_alerts(&out.stdout);
    let stored: BTreeMap<String, Value> = es.docs("alerts").into_iter().collect();
    assert_eq!(alert_summary(&stored), alert_summary(&printed));

    // Rejected for good: the dead-letter file has them, with the server's reason.
    let es = EsServer::start(EsOptions::default());
    es.index_docs("k8s-audit-g", &events);
    es.faults().push(Fault::BulkItems {
        status: 400,
        every_nth: 3,
        times: 1,
    });
    let dl = dead_letter_path("g");
    let url = es.url();
    let out = run(
        &[
            "-E",
            &url,
            "-I",
            "k8s-audit-*",
            "-i",
            "alerts",
            "-s",
            "2000-01-01",
            "--instance",
            "g",
            "--dead-letter",
            &dl,
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = std::fs::read_to_string(&dl).expect("a dead-letter file");
    let rejected: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!rejected.is_empty());
    assert!(rejected
        .iter()
        .all(|r| r["error"]["type"] == "mapper_parsing_exception" && r["document"].is_object()));
    assert!(
        out.stderr
            .contains("error: sink elasticsearch (alerts index alerts): the server rejected"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("written to"), "{}", out.stderr);
}

/// An alerts index k8scop may not write to: the error names the sink, what it was doing and the
/// server's answer, at setup (the index template: exit 2) and while running (`_bulk`: the alerts
/// are counted as undelivered, exit 1).
#[test]
fn a_failing_alerts_index_is_named_in_the_error() {
    let cases = [
        (
            "_index_template",
            2,
            "error: sink elasticsearch (alerts index alerts): cannot install the alerts index \
             template: PUT /_index_template/k8scop-alerts: 403 security_exception: ",
        ),
        (
            "_bulk",
            1,
            "error: sink elasticsearch (alerts index alerts): cannot write alerts: POST /_bulk: \
             403 security_exception: ",
        ),
    ];
    for (path, code, expected) in cases {
        let es = EsServer::start(EsOptions::default());
        es.index_docs("k8s-audit-t", &sample_events());
        es.faults().push(Fault::Status {
            path: path.into(),
            status: 403,
            times: 1000,
        });
        let (url, dl) = (es.url(), dead_letter_path(path));
        let out = run(
            &[
                "-E",
                &url,
                "-I",
                "k8s-audit-*",
                "-i",
                "alerts",
                "-s",
                "2000-01-01",
                "--instance",
                path,
                "--dead-letter",
                &dl,
            ],
            &[],
        );
        assert_eq!(out.code, code, "{path}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{path}: {}", out.stderr);
    }
}

/// Basic, API key and bearer credentials from the environment; a wrong password is a clear 401
/// and the password never appears in any output.
#[test]
fn credentials_come_from_the_environment_and_are_never_printed() {
    let cases: [(Auth, Vec<(&str, &str)>); 3] = [
        (
            Auth::Basic {
                user: "elastic".into(),
                password: "s3cret-pw".into(),
            },
            vec![
                ("K8SCOP_ES_USERNAME", "elastic"),
                ("K8SCOP_ES_PASSWORD", "s3cret-pw"),
            ],
        ),
        (
            Auth::ApiKey {
                id: "kid".into(),
                key: "s3cret-key".into(),
            },
            vec![("K8SCOP_ES_API_KEY", "kid:s3cret-key")],
        ),
        (
            Auth::Bearer("s3cret-token".into()),
            vec![("K8SCOP_ES_BEARER", "s3cret-token")],
        ),
    ];
    for (auth, env) in cases {
        let es = EsServer::start(EsOptions {
            flavor: Flavor::Es9,
            auth: Some(auth),
            ..EsOptions::default()
        });
        es.index_docs("k8s-audit-a", &sample_events());
        let url = es.url();
        let a = [
            "-E",
            &url,
            "-I",
            "k8s-audit-*",
            "-i",
            "alerts",
            "-s",
            "2000-01-01",
        ];
        let out = run(&a, &env);
        assert_eq!(out.code, 0, "{env:?}: {}", out.stderr);
        assert!(!es.docs("alerts").is_empty());
        let wrong: Vec<(&str, &str)> = env
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    if k.ends_with("USERNAME") {
                        *v
                    } else {
                        "wrong-s3cret"
                    },
                )
            })
            .collect();
        let out = run(&a, &wrong);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("401"), "{}", out.stderr);
        for secret in ["s3cret-pw", "s3cret-key", "s3cret-token", "wrong-s3cret"] {
            assert!(!out.stderr.contains(secret) && !out.stdout.contains(secret));
        }
    }
}

/// An outage while streaming pauses k8scop; when the server is back it resumes by itself, and
/// what arrived meanwhile is alerted on and written.
#[test]
fn streaming_survives_an_outage() {
    let es = EsServer::start(EsOptions::default());
    let exec = sample_events()
        .into_iter()
        .find(|e| e["objectRef"]["subresource"] == "exec")
        .expect("the sample has an exec");
    let event = |user: &str, id: &str| {
        let t = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut e = exec.clone();
        e["user"]["username"] = json!(user);
        e["auditID"] = json!(id);
        e["requestReceivedTimestamp"] = json!(t);
        e["stageTimestamp"] = json!(t);
        e["@timestamp"] = json!(t);
        e
    };
    es.index_docs("k8s-audit-o", &[event("before", "b1")]);
    let url = es.url();
    let a = [
        "-E",
        &url,
        "-I",
        "k8s-audit-o",
        "-i",
        "alerts",
        "-A",
        "streaming",
        "-d",
        "0.2",
        "--query-delay",
        "0",
        "--instance",
        "o",
        "--checkpoint-interval",
        "0.2",
    ];
    let child = command(&a, &[]).spawn().unwrap();
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let alerted = |user: &str| {
        es.docs("alerts")
            .iter()
            .any(|(_, d)| d["user"]["name"] == json!(user))
    };
    wait_for("the first alert", &|| alerted("before"));
    es.stop();
    std::thread::sleep(Duration::from_millis(1500));
    es.index_docs("k8s-audit-o", &[event("during", "d1")]);
    es.restart();
    wait_for("the alert of the outage", &|| alerted("during"));
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("retrying"), "{stderr}");
}

/// Elasticsearch 7.10 (no `_shard_doc`: pages sort on `_id`), 7.17, 8 and 9 give the same alert
/// documents; a point in time that expires in the middle of the range is replaced and reading
/// goes on from the cursor, without losing or repeating a document.
#[test]
fn every_elasticsearch_version_and_an_expired_point_in_time_give_the_same_alerts() {
    let events = sample_events();
    let read = |flavor: Flavor, expire: bool| -> (BTreeMap<String, Value>, String) {
        let es = EsServer::start(EsOptions {
            flavor,
            ..EsOptions::default()
        });
        es.index_docs("k8s-audit-v", &events);
        let url = es.url();
        let a = [
            "-E",
            &url,
            "-I",
            "k8s-audit-*",
            "-i",
            "alerts",
            "-s",
            "2000-01-01",
            "--instance",
            "v",
            "--page-size",
            "5",
        ];
        let out = if expire {
            es.faults().push(Fault::Delay {
                path: "_search".into(),
                millis: 100,
                times: 1000,
            });
            let child = command(&a, &[]).spawn().unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            while es.docs("alerts").len() < 3 {
                assert!(Instant::now() < deadline, "no alerts written");
                std::thread::sleep(Duration::from_millis(10));
            }
            assert!(es.expire_pits() > 0, "a point in time was open");
            es.faults().clear();
            let out = child.wait_with_output().unwrap();
            Output {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        } else {
            run(&a, &[])
        };
        assert_eq!(out.code, 0, "{flavor:?}: {}", out.stderr);
        assert!(out.stderr.contains("summary: 71 events"), "{}", out.stderr);
        (es.docs("alerts").into_iter().collect(), out.stderr)
    };
    let (reference, _) = read(Flavor::Es8, false);
    assert!(reference.len() >= 10);
    for flavor in [Flavor::Es7_10, Flavor::Es7_17, Flavor::Es9] {
        let (docs, stderr) = read(flavor, false);
        assert_same_alerts(&docs, &reference, &format!("{flavor:?}"));
        assert!(stderr.contains(flavor.version()), "{stderr}");
    }
    let (docs, stderr) = read(Flavor::Es8, true);
    assert!(stderr.contains("the point in time expired"), "{stderr}");
    assert_same_alerts(&docs, &reference, "after the point in time expired");
}

/// A TLS front for a plain HTTP server: a CA and a server certificate for 127.0.0.1 made with
/// `openssl`, and a proxy that terminates TLS and forwards to `backend`. Returns the https URL and
/// the CA file; the proxy lives as long as the returned runtime.
fn tls_front(
    backend: &str,
    dir: &std::path::Path,
) -> (String, std::path::PathBuf, tokio::runtime::Runtime) {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
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
    sh("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost");
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    sh(
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -out server.pem -days 2 -extfile ext.cnf",
    );
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let backend = backend.trim_start_matches("http://").to_owned();
    runtime.spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let backend = backend.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to forward.
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(&backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (
        format!("https://127.0.0.1:{port}"),
        dir.join("ca.pem"),
        runtime,
    )
}

/// https: the server's certificate is checked against `--es-ca-file`; without it (an unknown
/// issuer) k8scop refuses the server, and only `--es-insecure` skips the check.
#[test]
fn https_verifies_the_server_against_the_ca_file() {
    let es = EsServer::start(EsOptions::default());
    es.index_docs("k8s-audit-t", &sample_events());
    let dir = std::env::temp_dir().join(format!("k8scop-tls-{}", std::process::id()));
    let (url, ca, _proxy) = tls_front(&es.url(), &dir);
    let ca = ca.to_str().unwrap().to_owned();
    let base = [
        "-E",
        &url,
        "-I",
        "k8s-audit-*",
        "-i",
        "alerts",
        "-s",
        "2000-01-01",
    ];
    let with_ca = run(
        &[&base[..], &["--es-ca-file", &ca, "--instance", "t1"]].concat(),
        &[],
    );
    assert_eq!(with_ca.code, 0, "{}", with_ca.stderr);
    assert!(
        with_ca.stderr.contains("connected to Elasticsearch"),
        "{}",
        with_ca.stderr
    );
    assert!(!es.docs("alerts").is_empty());
    let without = run(&[&base[..], &["--instance", "t2"]].concat(), &[]);
    assert_eq!(without.code, 2, "{}", without.stderr);
    assert!(
        without.stderr.to_lowercase().contains("certificate"),
        "{}",
        without.stderr
    );
    let insecure = run(
        &[&base[..], &["--es-insecure", "--instance", "t3", "--fresh"]].concat(),
        &[],
    );
    assert_eq!(insecure.code, 0, "{}", insecure.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--events-url`: each alert document carries a link back to its events, the template filled
/// in from the alert; a bad template or one without an alerts index is refused before reading.
#[test]
fn alert_documents_link_back_to_their_events() {
    let es = EsServer::start(EsOptions::default());
    es.index_docs("k8s-audit-link", &sample_events());
    let (url, dl) = (es.url(), dead_letter_path("events-url"));
    let template = "http://kibana:5601/app/discover#/?_g=(time:(from:'{start}',to:'{end}'))\
                    &_a=(query:(language:kuery,query:'auditID:({ids})'))";
    let with = |extra: &[&str]| {
        let mut args = vec![
            "-E",
            url.as_str(),
            "-I",
            "k8s-audit-*",
            "-s",
            "2000-01-01",
            "--instance",
            "link",
            "--dead-letter",
            dl.as_str(),
        ];
        args.extend_from_slice(extra);
        run(&args, &[])
    };

    let bad = with(&["-i", "alerts", "--events-url", "http://k/{from}"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains("`--events-url`: unknown placeholder `{from}`"),
        "{}",
        bad.stderr
    );
    let no_index = with(&["--events-url", "http://k/{ids}"]);
    assert_eq!(no_index.code, 2, "{}", no_index.stderr);
    assert!(
        no_index
            .stderr
            .contains("it needs `--elastic` and `--alerts` (`-i`)"),
        "{}",
        no_index.stderr
    );

    let out = with(&["-i", "alerts", "--events-url", template]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let docs = index_docs(&url, "alerts");
    assert!(!docs.is_empty());
    for (id, doc) in &docs {
        let link = doc["k8scop"]["events_url"]
            .as_str()
            .expect("every alert has a link");
        let first_sample = doc["k8scop"]["samples"][0]["id"].as_str().unwrap();
        let audit_id = first_sample.split('/').next().unwrap();
        assert!(
            link.starts_with("http://kibana:5601/app/discover#/?_g=(time:(from:'")
                && link.contains(&format!("auditID:(%22{audit_id}%22")),
            "{id}: {link}"
        );
    }
}
