//! `k8scop run` end to end: the built binary over crafted rules and events, as a user runs it.
//!
//! Static runs are checked alert by alert (rule, count, first and last seen, stable ids);
//! streaming runs are started as children that the tests feed by appending to files, rotating
//! and truncating them, editing the rules under them, and stopping them with SIGTERM. Every wait
//! polls with a deadline; a child left running by a failed test is killed by [`Running`]'s drop.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::{arg, k8scop, k8scop_stdin, root, rules_dir};

/// How long a streaming run may take to show what it was given.
const DEADLINE: Duration = Duration::from_secs(10);
/// The poll interval given to followed files (`-d`), so that missed notifications cost little.
const FETCH_DELAY: &str = "0.2";

// ---------------------------------------------------------------------------------------------
// Events and rules

/// One audit event line: `resource` may carry a subresource (`pods/exec`); `at` is seconds after
/// 2024-05-01T12:00:00Z.
fn event(id: &str, at: u32, user: &str, verb: &str, resource: &str, name: &str) -> String {
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (resource, None),
    };
    let mut object =
        json!({"resource": resource, "namespace": "web", "name": name, "apiVersion": "v1"});
    if let Some(s) = subresource {
        object["subresource"] = json!(s);
    }
    let doc = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": id,
        "stage": "ResponseComplete",
        "verb": verb,
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["203.0.113.9"],
        "objectRef": object,
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": time(at),
        "stageTimestamp": time(at),
    });
    format!("{doc}\n")
}

/// `at` seconds after 2024-05-01T12:00:00Z, as alerts write times.
fn time(at: u32) -> String {
    format!(
        "2024-05-01T{:02}:{:02}:{:02}.000Z",
        12 + at / 3600,
        at / 60 % 60,
        at % 60
    )
}

/// An aggregating rule, a threshold and a sequence over them.
const ATTACK_RULES: &str = r#"
rule pod_exec {
    title    "{user.username} exec'd into {objectRef.name}"
    severity high
    when     objectRef.resource == "pods" and objectRef.subresource == "exec"
    group by user.username
    within   10m
}

rule secret_reads {
    title     "{user.username} read many secrets"
    when      verb in ["get", "list"] and objectRef.resource == "secrets"
    threshold count >= 3 within 1m by user.username
}

sequence reads_then_exec {
    title    "{user.username} read secrets, then exec'd into {objectRef.name}"
    severity critical
    by       user.username
    within   5m
    steps    secret_reads -> pod_exec
}
"#;

/// Events for [`ATTACK_RULES`], and the alerts they must give (see [`expected_attack_alerts`]).
fn attack_events() -> String {
    [
        event("a1", 0, "alice", "get", "secrets", "s1"),
        event("a2", 20, "alice", "get", "secrets", "s2"),
        // The third read within 1m: a threshold hit, and step 1 of the sequence.
        event("a3", 40, "alice", "get", "secrets", "s3"),
        event("a4", 50, "alice", "list", "secrets", "s4"),
        // Opens alice's exec alert and completes the sequence.
        event("a5", 120, "alice", "create", "pods/exec", "api-0"),
        // Within 10m of the last exec: the same alert; no new sequence match (the partial
        // matches were used up).
        event("a6", 300, "alice", "create", "pods/exec", "api-1"),
        // Bob reads twice only: no hit.
        event("b1", 350, "bob", "get", "secrets", "s1"),
        event("b2", 355, "bob", "get", "secrets", "s2"),
        event("b3", 360, "bob", "create", "pods/exec", "web-0"),
        // Not a match of anything.
        event("c1", 400, "carol", "delete", "pods", "api-0"),
        // More than 10m after alice's last exec: a new alert.
        event("a7", 1200, "alice", "create", "pods/exec", "api-0"),
    ]
    .concat()
}

/// The ids of the alerts of [`attack_events`] (rule, `k8scop.id`), sorted by id.
const PINNED_IDS: [(&str, &str); 5] = [
    ("secret_reads", "14b3b9b728bd10df2ec2ab486f0a196e"),
    ("pod_exec", "19f79d08a61d3d4d1274ee3e2cb8f346"),
    ("pod_exec", "b5f0ea3bf9e8a84fe342cbd7e6cfbd94"),
    ("pod_exec", "d8067bfc8cd78e2d4856d2a403e198dd"),
    ("reads_then_exec", "f98cecf0341b841f893a998a09190d15"),
];

/// (rule, count, first_seen, last_seen) of one alert.
type Shape = (String, u64, String, String);

fn shape(rule: &str, count: u64, first: u32, last: u32) -> Shape {
    (rule.to_owned(), count, time(first), time(last))
}

fn expected_attack_alerts() -> Vec<Shape> {
    let mut v = vec![
        shape("secret_reads", 2, 40, 50),
        shape("pod_exec", 2, 120, 300),
        shape("reads_then_exec", 1, 120, 120),
        shape("pod_exec", 1, 360, 360),
        shape("pod_exec", 1, 1200, 1200),
    ];
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Alerts in output

/// The latest document of each alert in JSON lines (`--output json`, `--alerts-file`), by
/// `k8scop.id`. Only complete lines count; each must be one JSON object.
pub(crate) fn alerts_in(text: &str) -> BTreeMap<String, Value> {
    let mut alerts = BTreeMap::new();
    let complete = match text.rfind('\n') {
        Some(i) => &text[..i],
        None => "",
    };
    for line in complete.lines() {
        let doc: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not an alert document ({e}): {line}"));
        let id = doc["k8scop"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no k8scop.id: {line}"))
            .to_owned();
        alerts.insert(id, doc);
    }
    alerts
}

/// The sorted shapes of alerts.
fn shapes(alerts: &BTreeMap<String, Value>) -> Vec<Shape> {
    let mut v: Vec<Shape> = alerts
        .values()
        .map(|a| {
            let k = &a["k8scop"];
            (
                k["rule"].as_str().unwrap_or_default().to_owned(),
                k["count"].as_u64().unwrap_or_default(),
                k["first_seen"].as_str().unwrap_or_default().to_owned(),
                k["last_seen"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

/// (id, count) of every alert, sorted.
pub(crate) fn ids_and_counts(alerts: &BTreeMap<String, Value>) -> Vec<(String, u64)> {
    alerts
        .iter()
        .map(|(id, a)| (id.clone(), a["k8scop"]["count"].as_u64().unwrap_or(0)))
        .collect()
}

/// The alerts of one rule, by their user.
fn by_user<'a>(alerts: &'a BTreeMap<String, Value>, rule: &str) -> Vec<(&'a str, u64)> {
    let mut v: Vec<(&str, u64)> = alerts
        .values()
        .filter(|a| a["k8scop"]["rule"] == rule)
        .map(|a| {
            (
                a["user"]["name"].as_str().unwrap_or_default(),
                a["k8scop"]["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    v.sort();
    v
}

/// A static `run` over `source` with `rules`, JSON on stdout.
fn static_run(rules: &Path, source: &Path) -> crate::util::Run {
    k8scop(&[
        "run",
        "--rules",
        arg(rules),
        "--source",
        arg(source),
        "--output",
        "json",
        "--quiet",
    ])
}

// ---------------------------------------------------------------------------------------------
// A running k8scop

/// A `k8scop run` child with its stdout and stderr collected by threads. Dropping it kills the
/// child, so that a failed test leaves nothing running.
pub(crate) struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

/// How a [`Running`] child ended.
pub(crate) struct Ended {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Running {
    pub(crate) fn start(args: &[&str]) -> Running {
        Running::spawn(args, Stdio::null()).0
    }

    /// Started with a pipe as stdin, which stays open until the returned end is dropped.
    fn start_with_stdin(args: &[&str]) -> (Running, ChildStdin) {
        let (running, stdin) = Running::spawn(args, Stdio::piped());
        (running, stdin.expect("stdin is piped"))
    }

    fn spawn(args: &[&str], stdin: Stdio) -> (Running, Option<ChildStdin>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_k8scop"))
            .args(args)
            .current_dir(root())
            .env("NO_COLOR", "1")
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the k8scop binary runs");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().expect("piped"), Arc::clone(&stdout)),
            collect(child.stderr.take().expect("piped"), Arc::clone(&stderr)),
        ];
        let stdin = child.stdin.take();
        let running = Running {
            child,
            stdout,
            stderr,
            readers,
        };
        (running, stdin)
    }

    pub(crate) fn stdout(&self) -> String {
        self.stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn alerts(&self) -> BTreeMap<String, Value> {
        alerts_in(&self.stdout())
    }

    /// Polls until `done` holds, or fails the test (with what the child printed) at the deadline.
    pub(crate) fn wait_for(&mut self, what: &str, done: impl Fn(&Running) -> bool) {
        let start = Instant::now();
        loop {
            if done(self) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // One last look: the output may have been read since.
                std::thread::sleep(Duration::from_millis(100));
                if done(self) {
                    return;
                }
                panic!(
                    "k8scop exited ({status}) before {what}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            if start.elapsed() > DEADLINE {
                panic!(
                    "no {what} within {DEADLINE:?}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until stderr holds `text` `times` times.
    pub(crate) fn wait_for_stderr(&mut self, text: &str, times: usize) {
        self.wait_for(&format!("{times} × `{text}` on stderr"), |r| {
            r.stderr().matches(text).count() >= times
        });
    }

    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits (at most `within`) for the child to exit, then for its output.
    pub(crate) fn wait_exit(&mut self, within: Duration) -> Ended {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for k8scop") {
                break status;
            }
            if start.elapsed() > within {
                panic!(
                    "k8scop still running {within:?} later\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Ended {
            code: status.code(),
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }

    /// SIGTERM, then the graceful shutdown (which must end well within its 10 s deadline).
    pub(crate) fn terminate(&mut self) -> Ended {
        self.signal("TERM");
        self.wait_exit(Duration::from_secs(8))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A thread appending everything `pipe` gives to `into`.
fn collect(mut pipe: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => into
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    })
}

/// Appends `text` to `path` (creating it), as a log writer does.
fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    file.write_all(text.as_bytes()).expect("append");
}

/// `run -A streaming` over `source` with `rules`, JSON alerts on stdout.
fn streaming(rules: &Path, source: &Path, quiet: bool) -> Running {
    let mut args = vec![
        "run",
        "-A",
        "streaming",
        "--rules",
        arg(rules),
        "--source",
        arg(source),
        "--output",
        "json",
        "-d",
        FETCH_DELAY,
    ];
    if quiet {
        args.push("--quiet");
    }
    Running::start(&args)
}

/// Whether the output ended cleanly: empty, or whole lines each of which is an alert document.
fn assert_clean_json_lines(stdout: &str) {
    assert!(
        stdout.is_empty() || stdout.ends_with('\n'),
        "stdout ends in the middle of a line:\n{stdout}"
    );
    for line in stdout.lines() {
        let doc: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not an alert document ({e}): {line}"));
        assert!(doc["k8scop"]["id"].is_string(), "{line}");
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Static runs

#[test]
fn static_run_gives_exactly_the_expected_alerts_with_stable_ids() {
    let dir = rules_dir(&[("rules/attack.rules", ATTACK_RULES)]);
    let source = dir.join("audit.jsonl");
    std::fs::write(&source, attack_events()).unwrap();

    let first = static_run(&dir.join("rules"), &source);
    assert_eq!(first.code, 0, "stderr:\n{}", first.stderr);
    assert_clean_json_lines(&first.stdout);
    let alerts = alerts_in(&first.stdout);
    assert_eq!(
        shapes(&alerts),
        expected_attack_alerts(),
        "{}",
        first.stdout
    );
    // The title comes from the event that opened the alert; the sequence's from its last step.
    let titles: Vec<&str> = alerts
        .values()
        .filter_map(|a| a["k8scop"]["title"].as_str())
        .collect();
    for title in [
        "alice read many secrets",
        "alice read secrets, then exec'd into api-0",
        "alice exec'd into api-0",
        "bob exec'd into web-0",
    ] {
        assert!(titles.contains(&title), "no alert `{title}` in {titles:?}");
    }
    // The ids are fixed by the input (rule, key, opening event): a re-run gives the same ones,
    // so that a store indexing by id updates instead of duplicating.
    let second = static_run(&dir.join("rules"), &source);
    assert_eq!(second.code, 0, "stderr:\n{}", second.stderr);
    assert_eq!(
        ids_and_counts(&alerts_in(&second.stdout)),
        ids_and_counts(&alerts),
    );
    // They do not depend on where the files are either, nor on the version of k8scop that
    // computed them (until the id's version tag changes on purpose): pinned here.
    let ids: Vec<(&str, &str)> = alerts
        .iter()
        .map(|(id, a)| {
            (
                a["k8scop"]["rule"].as_str().unwrap_or_default(),
                id.as_str(),
            )
        })
        .collect();
    assert_eq!(ids, PINNED_IDS);
    // The summary counts what was read and raised.
    assert!(
        first.stderr.contains("summary: 11 events in ")
            && first
                .stderr
                .contains("0 malformed, 0 skipped, 0 duplicates, 0 script errors"),
        "{}",
        first.stderr
    );
    assert!(first.stderr.contains("alerts: 5 new, "), "{}", first.stderr);

    // `test-rule` over the same events agrees on every id and count.
    let tested = k8scop(&[
        "test-rule",
        arg(&dir.join("rules")),
        "--events",
        arg(&source),
        "--format",
        "json",
    ]);
    assert_eq!(tested.code, 0, "{}", tested.stderr);
    let tested: BTreeMap<String, Value> = tested.json()["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| (a["k8scop"]["id"].as_str().unwrap().to_owned(), a.clone()))
        .collect();
    assert_eq!(ids_and_counts(&tested), ids_and_counts(&alerts));
}

#[test]
fn static_run_over_the_shipped_rules_and_sample_agrees_with_test_rule() {
    let run = k8scop(&[
        "run",
        "--rules",
        "rules",
        "--source",
        "rules/samples/attack.jsonl",
        "--output",
        "json",
        "--quiet",
    ]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert_clean_json_lines(&run.stdout);
    let alerts = alerts_in(&run.stdout);
    let mut fired: Vec<&str> = alerts
        .values()
        .filter_map(|a| a["k8scop"]["rule"].as_str())
        .collect();
    fired.sort_unstable();
    fired.dedup();
    // The attack the sample replays: discovery, credential access, escalation, escape.
    for rule in [
        "forbidden_request_burst",
        "secret_enumeration",
        "secrets_listed_across_namespaces",
        "pod_exec",
        "exec_credential_access",
        "cluster_admin_binding",
        "privileged_container",
        "host_pid_workload",
        "sensitive_host_path_mount",
        "secrets_then_exec",
        "rbac_escalation_then_workload",
        "escape_pod_then_exec",
    ] {
        assert!(fired.contains(&rule), "`{rule}` did not fire: {fired:?}");
    }
    assert!(
        run.stderr.contains("summary: 71 events in "),
        "{}",
        run.stderr
    );

    let tested = k8scop(&[
        "test-rule",
        "rules",
        "--events",
        "rules/samples/attack.jsonl",
        "--format",
        "json",
    ]);
    assert_eq!(tested.code, 0, "{}", tested.stderr);
    let tested: BTreeMap<String, Value> = tested.json()["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| (a["k8scop"]["id"].as_str().unwrap().to_owned(), a.clone()))
        .collect();
    assert_eq!(ids_and_counts(&alerts), ids_and_counts(&tested));
    assert_eq!(shapes(&alerts), shapes(&tested));
}

// ---------------------------------------------------------------------------------------------
// 2. Streaming

#[test]
fn streaming_follows_a_file_and_stops_cleanly_on_sigterm() {
    let dir = rules_dir(&[("rules/attack.rules", ATTACK_RULES)]);
    let source = dir.join("audit.log");
    std::fs::write(&source, "").unwrap();
    let mut run = streaming(&dir.join("rules"), &source, true);

    let events = attack_events();
    let lines: Vec<&str> = events.split_inclusive('\n').collect();
    // The secret reads: a threshold alert.
    append(&source, &lines[..4].concat());
    run.wait_for("the threshold alert", |r| {
        by_user(&r.alerts(), "secret_reads") == [("alice", 2)]
    });
    // The exec completes the sequence.
    append(&source, &lines[4..6].concat());
    run.wait_for("the sequence alert", |r| {
        by_user(&r.alerts(), "reads_then_exec") == [("alice", 1)]
            && by_user(&r.alerts(), "pod_exec") == [("alice", 2)]
    });
    // Bob's events, then alice's last exec written in two pieces: the line is read once whole.
    append(&source, &lines[6..10].concat());
    let (head, tail) = lines[10].split_at(lines[10].len() / 2);
    append(&source, head);
    std::thread::sleep(Duration::from_millis(300));
    append(&source, tail);
    run.wait_for("the last alerts", |r| {
        shapes(&r.alerts()) == expected_attack_alerts()
    });

    let ended = run.terminate();
    assert_eq!(ended.code, Some(0), "stderr:\n{}", ended.stderr);
    assert_clean_json_lines(&ended.stdout);
    // Nothing lost: the streamed alerts are those of a static run over the same file, ids too.
    let once = static_run(&dir.join("rules"), &source);
    assert_eq!(
        ids_and_counts(&alerts_in(&ended.stdout)),
        ids_and_counts(&alerts_in(&once.stdout))
    );
    assert!(
        ended.stderr.contains("summary: 11 events in "),
        "{}",
        ended.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Hot reload

const DELETES: &str = r#"
rule watched {
    title    "{user.username} {verb}d pods"
    when     verb == "delete" and objectRef.resource == "pods"
    group by user.username
}
"#;

const PATCHES: &str = r#"
rule patched {
    title    "{user.username} patched pods"
    when     verb == "patch" and objectRef.resource == "pods"
    group by user.username
}
"#;

const UPDATES: &str = r#"
rule updated {
    title    "{user.username} updated pods"
    when     verb == "update" and objectRef.resource == "pods"
    group by user.username
}
"#;

#[test]
fn hot_reload_changes_adds_and_survives_broken_rules() {
    let dir = rules_dir(&[("rules/a.rules", DELETES)]);
    let rules = dir.join("rules");
    let source = dir.join("audit.log");
    append(&source, &event("e1", 0, "u1", "delete", "pods", "p"));
    let mut run = streaming(&rules, &source, false);
    run.wait_for("the first alert", |r| {
        by_user(&r.alerts(), "watched") == [("u1", 1)]
    });
    assert!(
        run.stderr()
            .contains("loaded the rules: 1 rule, 0 sequences"),
        "{}",
        run.stderr()
    );

    // Change the condition, in place: deletes no longer match, creates do.
    std::fs::write(
        rules.join("a.rules"),
        DELETES.replace("\"delete\"", "\"create\""),
    )
    .unwrap();
    run.wait_for_stderr("reloaded the rules", 1);
    append(
        &source,
        &[
            event("e2", 10, "u2", "delete", "pods", "p"),
            event("e3", 11, "u3", "create", "pods", "p"),
        ]
        .concat(),
    );
    run.wait_for("an alert of the changed rule", |r| {
        by_user(&r.alerts(), "watched").contains(&("u3", 1))
    });
    // Events are evaluated in order: u2's delete came first and raised nothing.
    assert_eq!(by_user(&run.alerts(), "watched"), [("u1", 1), ("u3", 1)]);

    // A new file: its rule joins.
    std::fs::write(rules.join("b.rules"), PATCHES).unwrap();
    run.wait_for_stderr("reloaded the rules", 2);
    append(&source, &event("e4", 20, "u4", "patch", "pods", "p"));
    run.wait_for("an alert of the added rule", |r| {
        by_user(&r.alerts(), "patched") == [("u4", 1)]
    });

    // A broken file: the diagnostic is shown and the previous ruleset keeps running, with its
    // state (u4's alert is updated, not opened again).
    std::fs::write(
        rules.join("c.rules"),
        "rule broken {\n    when verb ==\n}\n",
    )
    .unwrap();
    run.wait_for_stderr("the previous ruleset keeps running", 1);
    let stderr = run.stderr();
    assert!(
        stderr.contains("c.rules"),
        "no diagnostic for c.rules:\n{stderr}"
    );
    let patched_id = |r: &Running| {
        r.alerts()
            .values()
            .find(|a| a["k8scop"]["rule"] == "patched")
            .map(|a| a["k8scop"]["id"].clone())
    };
    let before = patched_id(&run);
    append(
        &source,
        &[
            event("e5", 30, "u4", "patch", "pods", "p"),
            event("e6", 31, "u5", "create", "pods", "p"),
        ]
        .concat(),
    );
    run.wait_for("alerts of the previous ruleset", |r| {
        by_user(&r.alerts(), "patched") == [("u4", 2)]
            && by_user(&r.alerts(), "watched").contains(&("u5", 1))
    });
    assert_eq!(patched_id(&run), before, "the alert was opened again");

    // An editor's save: a temporary file renamed over the broken one, which fixes it.
    let temp = rules.join(".c.rules.swp");
    std::fs::write(&temp, UPDATES).unwrap();
    std::fs::rename(&temp, rules.join("c.rules")).unwrap();
    run.wait_for_stderr("reloaded the rules: 3 rules", 1);
    append(
        &source,
        &[
            event("e7", 40, "u6", "update", "pods", "p"),
            event("e8", 41, "u4", "patch", "pods", "p"),
        ]
        .concat(),
    );
    run.wait_for("an alert of the renamed-in rule", |r| {
        by_user(&r.alerts(), "updated") == [("u6", 1)]
            && by_user(&r.alerts(), "patched") == [("u4", 3)]
    });
    // Unchanged rules kept their state through every reload: still one alert for u4.
    assert_eq!(patched_id(&run), before);

    let ended = run.terminate();
    assert_eq!(ended.code, Some(0), "stderr:\n{}", ended.stderr);
    assert_clean_json_lines(&ended.stdout);
    assert!(
        ended.stderr.contains("the rules were reloaded 3 times"),
        "{}",
        ended.stderr
    );
}

#[test]
fn sighup_forces_a_reload_that_keeps_the_state() {
    let dir = rules_dir(&[("rules/a.rules", DELETES)]);
    let source = dir.join("audit.log");
    append(&source, &event("h1", 0, "u1", "delete", "pods", "p"));
    let mut run = streaming(&dir.join("rules"), &source, false);
    run.wait_for("the first alert", |r| {
        by_user(&r.alerts(), "watched") == [("u1", 1)]
    });
    let first = run.alerts();
    // The rules did not change: only the signal makes this reload happen.
    run.signal("HUP");
    run.wait_for_stderr(
        "reloaded the rules: 1 rule, 0 sequences; state kept for 1 detection",
        1,
    );
    append(&source, &event("h2", 60, "u1", "delete", "pods", "p"));
    run.wait_for("the alert updated", |r| {
        by_user(&r.alerts(), "watched") == [("u1", 2)]
    });
    assert_eq!(
        run.alerts().keys().collect::<Vec<_>>(),
        first.keys().collect::<Vec<_>>(),
        "the reload opened a new alert"
    );
    let ended = run.terminate();
    assert_eq!(ended.code, Some(0), "stderr:\n{}", ended.stderr);
}

/// A Kubernetes ConfigMap volume: `a.rules -> ..data/a.rules`, `..data -> ..2024_01_01_...`;
/// an update writes a new timestamped folder and renames a new `..data` link over the old one.
#[test]
fn hot_reload_follows_a_configmap_symlink_swap() {
    let dir = rules_dir(&[("source/.keep", "")]);
    let volume = dir.join("volume");
    std::fs::create_dir_all(volume.join("..2024_05_01_12_00_00.1")).unwrap();
    std::fs::write(volume.join("..2024_05_01_12_00_00.1/a.rules"), DELETES).unwrap();
    symlink("..2024_05_01_12_00_00.1", &volume.join("..data"));
    symlink("..data/a.rules", &volume.join("a.rules"));

    let source = dir.join("source/audit.log");
    append(&source, &event("e1", 0, "u1", "delete", "pods", "p"));
    let mut run = streaming(&volume, &source, false);
    run.wait_for("the first alert", |r| {
        by_user(&r.alerts(), "watched") == [("u1", 1)]
    });

    // The kubelet's update: new folder, new link, renamed over `..data`, old folder removed.
    let next = volume.join("..2024_05_01_12_05_00.2");
    std::fs::create_dir_all(&next).unwrap();
    std::fs::write(
        next.join("a.rules"),
        DELETES.replace("\"delete\"", "\"create\""),
    )
    .unwrap();
    symlink("..2024_05_01_12_05_00.2", &volume.join("..data_tmp"));
    std::fs::rename(volume.join("..data_tmp"), volume.join("..data")).unwrap();
    std::fs::remove_dir_all(volume.join("..2024_05_01_12_00_00.1")).unwrap();

    run.wait_for_stderr("reloaded the rules: 1 rule", 1);
    append(
        &source,
        &[
            event("e2", 10, "u2", "delete", "pods", "p"),
            event("e3", 11, "u3", "create", "pods", "p"),
        ]
        .concat(),
    );
    run.wait_for("an alert of the swapped-in rule", |r| {
        by_user(&r.alerts(), "watched").contains(&("u3", 1))
    });
    assert_eq!(by_user(&run.alerts(), "watched"), [("u1", 1), ("u3", 1)]);
    let ended = run.terminate();
    assert_eq!(ended.code, Some(0), "stderr:\n{}", ended.stderr);
}

fn symlink(target: &str, link: &Path) {
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

// ---------------------------------------------------------------------------------------------
// 4. Rotation and truncation

/// A rule that raises one alert per user.
const ANY_POD: &str = r#"
rule pod_change {
    title    "{user.username} changed pods"
    when     objectRef.resource == "pods"
    group by user.username
}
"#;

#[test]
fn streaming_survives_rotation_by_rename_and_create() {
    let dir = rules_dir(&[("rules/a.rules", ANY_POD)]);
    let source = dir.join("audit.log");
    append(&source, &event("r1", 0, "before", "delete", "pods", "p"));
    let mut run = streaming(&dir.join("rules"), &source, true);
    run.wait_for("an alert before rotation", |r| {
        by_user(&r.alerts(), "pod_change") == [("before", 1)]
    });

    // logrotate `create`: rename away; the writer still has the old file open for a moment;
    // then a new file under the old name.
    let rotated = dir.join("audit.log.1");
    std::fs::rename(&source, &rotated).unwrap();
    append(&rotated, &event("r2", 1, "late", "delete", "pods", "p"));
    append(&source, &event("r3", 2, "after", "delete", "pods", "p"));
    run.wait_for("alerts after rotation", |r| {
        by_user(&r.alerts(), "pod_change") == [("after", 1), ("before", 1), ("late", 1)]
    });

    // And once more: the second file is rotated too.
    std::fs::rename(&source, dir.join("audit.log.2")).unwrap();
    append(&source, &event("r4", 3, "again", "delete", "pods", "p"));
    run.wait_for("alerts after the second rotation", |r| {
        by_user(&r.alerts(), "pod_change").contains(&("again", 1))
    });
    let ended = run.terminate();
    assert_eq!(ended.code, Some(0), "stderr:\n{}", ended.stderr);
    assert!(
        ended.stderr.contains("summary: 4 events in "),
        "{}",
        ended.stderr
    );
}

#[test]
fn streaming_survives_truncation_in_place() {
    let dir = rules_dir(&[("rules/a.rules", ANY_POD)]);
    let source = dir.join("audit.log");
    append(
        &source,
        &[
            event("t1", 0, "first", "delete", "pods", "p"),
            event("t2", 1, "first", "delete", "pods", "p"),
        ]
        .concat(),
    );
    let mut run = streaming(&dir.join("rules"), &source, true);
    run.wait_for("alerts before truncation", |r| {
        by_user(&r.alerts(), "pod_change") == [("first", 2)]
    });

    // copytruncate: the file is copied away and emptied in place; the writer goes on at its
    // start. The new text is shorter than what was read, so the truncation is seen whenever it
    // is looked at.
    std::fs::copy(&source, dir.join("audit.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&source)
        .unwrap()
        .set_len(0)
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    append(&source, &event("t3", 2, "second", "delete", "pods", "p"));
    run.wait_for("an alert after truncation", |r| {
        by_user(&r.alerts(), "pod_change") == [("first", 2), ("second", 1)]
    });
    let ended = run.terminate();
    assert_eq!(ended.code, Some(0), "stderr:\n{}", ended.stderr);
    assert!(
        ended.stderr.contains("summary: 3 events in "),
        "{}",
        ended.stderr
    );
}

/// run.md: the notices include "a file that was rotated or truncated".
#[test]
fn rotation_is_reported_on_stderr() {
    let dir = rules_dir(&[("rules/a.rules", ANY_POD)]);
    let source = dir.join("audit.log");
    append(&source, &event("n1", 0, "before", "delete", "pods", "p"));
    let mut run = streaming(&dir.join("rules"), &source, false);
    run.wait_for("an alert before rotation", |r| !r.alerts().is_empty());
    std::fs::rename(&source, dir.join("audit.log.1")).unwrap();
    append(&source, &event("n2", 1, "after", "delete", "pods", "p"));
    run.wait_for("an alert after rotation", |r| r.alerts().len() == 2);
    run.wait_for("a note on the rotation", |r| r.stderr().contains("rotated"));
    let ended = run.terminate();
    assert_eq!(ended.code, Some(0), "stderr:\n{}", ended.stderr);
}

// ---------------------------------------------------------------------------------------------
// 5. Shutdown

#[test]
fn sigterm_flushes_every_alert_of_a_static_run_from_an_open_stdin() {
    let dir = rules_dir(&[("rules/attack.rules", ATTACK_RULES)]);
    let alerts_file = dir.join("alerts.json");
    let (mut run, mut stdin) = Running::start_with_stdin(&[
        "run",
        "--rules",
        arg(&dir.join("rules")),
        "--source",
        "-",
        "--output",
        "json",
        "--alerts-file",
        arg(&alerts_file),
    ]);
    stdin.write_all(attack_events().as_bytes()).unwrap();
    stdin.flush().unwrap();
    // stdin stays open: the run would wait for more forever.
    run.wait_for("the alerts of the events written", |r| {
        shapes(&r.alerts()) == expected_attack_alerts()
    });
    let ended = run.terminate();
    drop(stdin);
    assert_eq!(ended.code, Some(0), "stderr:\n{}", ended.stderr);
    assert_clean_json_lines(&ended.stdout);
    assert!(ended.stderr.contains("shutting down"), "{}", ended.stderr);
    assert!(
        ended.stderr.contains("summary: 11 events in "),
        "{}",
        ended.stderr
    );
    // Every alert, at its last state, is in the alerts file too.
    let written = std::fs::read_to_string(&alerts_file).expect("the alerts file exists");
    assert!(written.ends_with('\n'), "{written}");
    let in_file = alerts_in(&written);
    assert_eq!(shapes(&in_file), expected_attack_alerts(), "{written}");
    assert_eq!(
        ids_and_counts(&in_file),
        ids_and_counts(&alerts_in(&ended.stdout))
    );
}

#[test]
fn a_second_signal_exits_at_once() {
    // A webhook that accepts connections and never answers: the graceful shutdown waits for it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let held = Arc::new(Mutex::new(Vec::new()));
    {
        let held = Arc::clone(&held);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                held.lock().unwrap_or_else(|e| e.into_inner()).push(stream);
            }
        });
    }
    let dir = rules_dir(&[("rules/attack.rules", ATTACK_RULES)]);
    let (mut run, mut stdin) = Running::start_with_stdin(&[
        "run",
        "--rules",
        arg(&dir.join("rules")),
        "--source",
        "-",
        "--output",
        "json",
        "--webhook",
        &url,
    ]);
    stdin.write_all(attack_events().as_bytes()).unwrap();
    stdin.flush().unwrap();
    run.wait_for("the alerts on stdout", |r| {
        shapes(&r.alerts()) == expected_attack_alerts()
    });
    let deadline = Instant::now() + DEADLINE;
    while held.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the webhook was never called");
        std::thread::sleep(Duration::from_millis(20));
    }
    run.signal("TERM");
    run.wait_for_stderr("shutting down", 1);
    // Still flushing to the webhook that does not answer.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        matches!(run.child.try_wait(), Ok(None)),
        "k8scop did not wait for its webhook\nstderr:\n{}",
        run.stderr()
    );
    let asked = Instant::now();
    run.signal("TERM");
    let ended = run.wait_exit(Duration::from_secs(2));
    drop(stdin);
    assert!(asked.elapsed() < Duration::from_secs(2));
    assert_ne!(ended.code, Some(0), "stderr:\n{}", ended.stderr);
    assert!(
        ended.stderr.contains("second signal, exiting at once"),
        "{}",
        ended.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Malformed and duplicated input

#[test]
fn malformed_skipped_and_duplicated_input_is_counted_and_reported() {
    let dir = rules_dir(&[("rules/a.rules", ANY_POD)]);
    let source = dir.join("audit.jsonl");
    let delete = event("d1", 0, "alice", "delete", "pods", "p");
    let text = [
        delete.as_str(),
        "{\"kind\": \"Event\", \"verb\": \n",
        "{\"hello\": \"world\"}\n",
        delete.as_str(),
    ]
    .concat();
    std::fs::write(&source, text).unwrap();
    let run = static_run(&dir.join("rules"), &source);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let origin = arg(&source);
    assert!(
        run.stderr
            .contains(&format!("warning: {origin}:2: malformed input: ")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("note: {origin}:3: skipped: ")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("summary: 1 event in ")
            && run
                .stderr
                .contains("; 1 malformed, 1 skipped, 1 duplicate, "),
        "{}",
        run.stderr
    );
    let alerts = alerts_in(&run.stdout);
    assert_eq!(shapes(&alerts), [shape("pod_change", 1, 0, 0)]);
    assert!(
        run.stderr.contains("alerts: 1 new, 0 updated"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_same_event_on_stdin_is_counted_once() {
    let dir = rules_dir(&[("rules/a.rules", ANY_POD)]);
    let delete = event("d2", 0, "bob", "delete", "pods", "p");
    let mut other_stage = delete.replace("ResponseComplete", "ResponseStarted");
    other_stage.push_str(&delete);
    let run = k8scop_stdin(
        &[
            "run",
            "--rules",
            arg(&dir.join("rules")),
            "--source",
            "-",
            "--output",
            "json",
        ],
        Some(&[delete.as_str(), &other_stage].concat()),
    );
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    // Another stage of the same request is another event; the same stage again is not.
    assert!(
        run.stderr.contains("summary: 2 events in ")
            && run.stderr.contains("0 skipped, 1 duplicate, "),
        "{}",
        run.stderr
    );
    assert_eq!(
        shapes(&alerts_in(&run.stdout)),
        [shape("pod_change", 2, 0, 0)]
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Bad command lines

#[test]
fn a_static_run_without_a_source_exits_2_with_a_clear_message() {
    let dir = rules_dir(&[("rules/a.rules", ANY_POD)]);
    let run = k8scop(&[
        "run",
        "--rules",
        arg(&dir.join("rules")),
        "--output",
        "json",
    ]);
    assert_eq!(run.code, 2, "stderr:\n{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: a static run needs something to read: give `--source PATH|GLOB|-` (or `--elastic`, `--listen`)\n"
    );
}

#[test]
fn a_source_that_does_not_exist_exits_2() {
    let dir = rules_dir(&[("rules/a.rules", ANY_POD)]);
    let missing: PathBuf = dir.join("missing.log");
    let run = static_run(&dir.join("rules"), &missing);
    assert_eq!(run.code, 2, "stderr:\n{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("missing.log"), "{}", run.stderr);
}
