//! Decoding tests: the shapes of real shipper documents, line handling, projection against full
//! parsing (engine results must not change), deduplication.
//!
//! Tests that read the third-party data (`../shared/data`, see [`shared_data`]) fail when it is
//! missing under `CI=true`, and say that they skip elsewhere.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::doc::Ref;
use crate::kinds::KindId;
use serde_json::{json, Value};

use super::*;
use crate::engine::{Engine, Output};
use crate::event::parse_rfc3339_millis;
use crate::{AlertKind, CompileOptions};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The third-party data: `$K8SCOP_SHARED_DATA` when set, else `../shared/data` next to this
/// checkout (where CI has it). The engine's one helper for it (the schema tests use it too).
///
/// When it is missing, a test that needs it must not pass without doing its work: under
/// `CI=true`, or when `K8SCOP_SHARED_DATA` names it, this panics (the test fails, saying what is
/// missing); elsewhere it prints `SKIPPED` with the reason to the test's output and returns
/// `None`, and the test returns.
pub(crate) fn shared_data() -> Option<PathBuf> {
    let (dir, named_by) = match std::env::var_os("K8SCOP_SHARED_DATA") {
        Some(dir) => (PathBuf::from(dir), "K8SCOP_SHARED_DATA"),
        None => (
            root().join("../shared/data"),
            "the default, next to the checkout",
        ),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    let problem = format!(
        "the third-party test data is missing: {} ({named_by}) is not a directory; \
         set K8SCOP_SHARED_DATA to where it is",
        dir.display()
    );
    // Named on purpose, or in CI: the data must be there.
    if named_by == "K8SCOP_SHARED_DATA" || std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{problem} (with CI=true or K8SCOP_SHARED_DATA set, a test that needs it fails rather than skip)");
    }
    eprintln!("SKIPPED: {problem}");
    None
}

fn shipped() -> Arc<Ruleset> {
    let compiled =
        crate::loader::load(&[root().join("rules")], &CompileOptions::default()).unwrap();
    let errors: Vec<_> = compiled
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    Arc::new(compiled.ruleset.expect("the shipped ruleset compiles"))
}

fn ruleset(text: &str) -> Ruleset {
    crate::loader::ruleset_of(text)
}

fn lines(origin: &str, first_line: u64, text: &str) -> Chunk {
    Chunk::Lines {
        origin: origin.into(),
        first_line,
        text: text.to_owned(),
    }
}

fn str_at<'v>(v: &'v Value, path: &str) -> Option<&'v str> {
    path.split('.')
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
}

/// What a user checks of a decoded audit event.
#[derive(Debug, PartialEq)]
struct Key {
    verb: Option<String>,
    user: Option<String>,
    resource: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    audit_id: Option<String>,
    stage: Option<String>,
    time: i64,
}

fn key(e: &Event) -> Key {
    let s = |p: &str| str_at(&e.to_value(), p).map(str::to_owned);
    Key {
        verb: s("verb"),
        user: s("user.username"),
        resource: s("objectRef.resource"),
        namespace: s("objectRef.namespace"),
        name: s("objectRef.name"),
        audit_id: s("auditID"),
        stage: s("stage"),
        time: e.time,
    }
}

fn expect(
    verb: &str,
    user: &str,
    object: [Option<&str>; 3],
    audit_id: &str,
    stage: &str,
    time: &str,
) -> Key {
    let o = |i: usize| object[i].map(str::to_owned);
    Key {
        verb: Some(verb.into()),
        user: Some(user.into()),
        resource: o(0),
        namespace: o(1),
        name: o(2),
        audit_id: Some(audit_id.into()),
        stage: Some(stage.into()),
        time: parse_rfc3339_millis(time).unwrap(),
    }
}

/// Both decoders (projected and full) must give the same key fields.
fn decode_both(ruleset: &Ruleset, chunk: &Chunk) -> Decoded {
    let projected = Decoder::new(ruleset);
    assert!(projected.projects());
    let full = Decoder::without_projection(ruleset).decode(chunk);
    let out = projected.decode(chunk);
    let keys = |d: &Decoded| d.events.iter().map(key).collect::<Vec<_>>();
    assert_eq!(keys(&out), keys(&full));
    assert_eq!(out.problems, full.problems);
    out
}

fn one_line(doc: &Path) -> String {
    let value: Value = serde_json::from_str(&std::fs::read_to_string(doc).unwrap()).unwrap();
    value.to_string()
}

const POD_CREATE: [Option<&str>; 3] = [Some("pods"), Some("default"), None];
const SECRET: [Option<&str>; 3] = [Some("secrets"), Some("default"), Some("example-secret")];
const POD_ID: &str = "a362d22b-db3c-4590-9505-23782f12925f";
const SECRET_ID: &str = "55a81824-ab56-46c5-8b02-96336f5e78d7";
const RS: &str = "system:serviceaccount:kube-system:replicaset-controller";

#[test]
fn every_es_shape_decodes_to_the_raw_event() {
    let Some(data) = shared_data() else { return };
    let ruleset = shipped();
    let pod = |time: &str| expect("create", RS, POD_CREATE, POD_ID, "ResponseComplete", time);
    let pod_received = "2018-10-25T14:09:12.572676Z";
    let secret = |time: &str| {
        expect(
            "create",
            "minikube-user",
            SECRET,
            SECRET_ID,
            "ResponseComplete",
            time,
        )
    };
    let received = "2020-04-21T17:57:05.541358Z";
    // The v1beta1 pod event carries `timestamp` and (in most copies) `requestReceivedTimestamp`.
    let cases: &[(&str, Option<Key>)] = &[
        (
            "elastic_agent_kubernetes_audit_logs",
            Some(pod(pod_received)),
        ),
        (
            "elastic_agent_kubernetes_audit_logs_secret",
            Some(secret(received)),
        ),
        ("fluentbit_raw_log_string", Some(pod(pod_received))),
        ("fluentbit_raw_log_string_secret", Some(secret(received))),
        ("fluentbit_tail_json_logstash", Some(pod(pod_received))),
        (
            "fluentbit_tail_json_logstash_secret",
            Some(secret(received)),
        ),
        // Fluentd's copies lack `requestReceivedTimestamp`: the pod event's v1beta1 `timestamp`
        // stands for it; the v1 secret event falls back to `stageTimestamp`.
        (
            "fluentd_in_tail_json_logstash",
            Some(pod("2018-10-25T14:09:12Z")),
        ),
        (
            "fluentd_in_tail_json_logstash_secret",
            Some(secret("2020-04-21T17:57:05.548299Z")),
        ),
        ("logstash_file_json_codec", Some(pod(pod_received))),
        ("logstash_file_json_codec_secret", Some(secret(received))),
        ("openshift_vector_viaq_audit", Some(pod(pod_received))),
        ("openshift_vector_viaq_audit_secret", Some(secret(received))),
        ("falcosidekick_es_default", None),
        ("falcosidekick_es_flattenfields", None),
        ("kubearmor_relay_es_alert", None),
    ];
    let mut files: Vec<_> = std::fs::read_dir(data.join("es-shapes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        cases.len(),
        "a new shape file needs a case here"
    );
    for (name, expected) in cases {
        let path = data.join("es-shapes").join(format!("{name}.json"));
        // As Elasticsearch returns it (one line) and as a file holds it (pretty JSON).
        for chunk in [
            lines(name, 1, &one_line(&path)),
            Chunk::Whole {
                origin: (*name).into(),
                text: std::fs::read_to_string(&path).unwrap(),
            },
        ] {
            let out = decode_both(&ruleset, &chunk);
            match expected {
                Some(expected) => {
                    assert_eq!(out.problems, vec![], "{name}");
                    assert_eq!(out.events.len(), 1, "{name}");
                    let e = &out.events[0];
                    assert_eq!(&key(e), expected, "{name}");
                    assert_eq!(e.kind, KindId::AUDIT);
                    assert_eq!(
                        &*e.id,
                        format!("{}/ResponseComplete", expected.audit_id.as_deref().unwrap())
                    );
                    if name.ends_with("_secret") {
                        assert_eq!(
                            e.to_value()["annotations"]["authorization.k8s.io/decision"],
                            "allow",
                            "{name}"
                        );
                        assert_eq!(e.to_value()["sourceIPs"], json!(["192.168.64.1"]), "{name}");
                        assert_eq!(
                            str_at(&e.to_value(), "userAgent"),
                            Some("kubectl/v1.17.3 (darwin/amd64) kubernetes/06ad960")
                        );
                    } else {
                        assert_eq!(
                            e.to_value()["requestObject"]["spec"]["containers"][0]
                                ["securityContext"]["privileged"],
                            true,
                            "{name}"
                        );
                    }
                }
                None => {
                    // Not audit events: the shipped ruleset's Falco and KubeArmor rules read
                    // them as events of their kinds.
                    let kind = if name.starts_with("falcosidekick") {
                        "falco"
                    } else {
                        "kubearmor"
                    };
                    assert_eq!(out.problems, vec![], "{name}");
                    assert_eq!(out.events.len(), 1, "{name}");
                    assert_eq!(out.events[0].kind.name(), kind, "{name}");
                }
            }
        }
    }
}

#[test]
fn elastic_integrations_samples_gke_and_aks() {
    let Some(data) = shared_data() else { return };
    let ruleset = shipped();
    let dir = data.join("audit-samples/elastic-integrations");
    let text = std::fs::read_to_string(dir.join("test-audit.log")).unwrap();
    let out = decode_both(&ruleset, &lines("test-audit.log", 1, &text));
    assert_eq!(out.problems, vec![]);
    assert_eq!(out.events.len(), 5);
    assert_eq!(
        key(&out.events[0]),
        expect(
            "get",
            "system:serviceaccounts:default:default",
            [Some("pods"), Some("default"), Some("my-pod")],
            "abcde12345",
            "ResponseComplete",
            "2025-03-04T06:22:18.819232Z"
        )
    );
    // GKE: a health check of a non-resource URL.
    let gke = &out.events[3];
    assert_eq!(
        key(gke),
        expect(
            "get",
            "system:gke-master-healthcheck",
            [None, None, None],
            "1234abcd",
            "ResponseComplete",
            "2025-07-13T08:38:39.127266Z"
        )
    );
    assert_eq!(str_at(&gke.to_value(), "requestURI"), Some("/readyz"));
    assert_eq!(gke.to_value()["sourceIPs"], json!(["67.43.156.1"]));
    assert_eq!(gke.to_value()["responseStatus"]["code"], 200);
    assert_eq!(
        gke.to_value()["annotations"]["authorization.k8s.io/decision"],
        "allow"
    );
    assert_eq!(&*gke.id, "1234abcd/ResponseComplete");
    // AKS with `properties.log` as an object.
    assert_eq!(
        key(&out.events[4]),
        expect(
            "update",
            "aksService",
            [
                Some("leases"),
                Some("kube-system"),
                Some("elastic-agent-cluster-test")
            ],
            "abcde12345",
            "ResponseComplete",
            "2025-09-30T06:23:35.091134Z"
        )
    );

    // AKS with `properties.log` as a JSON string.
    let text = std::fs::read_to_string(dir.join("test-kube-audit.log")).unwrap();
    let out = decode_both(&ruleset, &lines("test-kube-audit.log", 1, &text));
    assert_eq!(out.problems, vec![]);
    assert_eq!(
        out.events.iter().map(key).collect::<Vec<_>>(),
        vec![expect(
            "update",
            "aksService",
            [
                Some("leases"),
                Some("kube-system"),
                Some("kubelet-serving-csr-approver")
            ],
            "ad26f7bc-f1c6-4097-90f1-e0924e12f257",
            "ResponseComplete",
            "2025-10-07T16:19:19.643609Z"
        )]
    );
    assert_eq!(
        out.events[0].to_value()["sourceIPs"],
        json!(["172.31.51.172"])
    );
}

#[test]
fn audit2rbac_v1_events_with_only_timestamp() {
    let Some(data) = shared_data() else { return };
    let ruleset = shipped();
    let text = std::fs::read_to_string(data.join("audit-samples/audit2rbac/demo.log")).unwrap();
    let out = decode_both(&ruleset, &lines("demo.log", 1, &text));
    assert_eq!(out.problems, vec![]);
    assert_eq!(out.events.len(), 37);
    assert_eq!(
        key(&out.events[0]),
        expect(
            "list",
            "system:admin",
            [Some("pods"), Some("default"), None],
            "033d17af-082d-4b24-aa22-627752e83d71",
            "ResponseComplete",
            "2017-09-11T19:55:05Z"
        )
    );
    // `timestamp` is what v1 calls `requestReceivedTimestamp`.
    assert_eq!(
        str_at(&out.events[0].to_value(), "requestReceivedTimestamp"),
        Some("2017-09-11T19:55:05Z")
    );
    assert_eq!(out.events[0].to_value()["responseStatus"]["code"], 403);
}

const RAW: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"r1","stage":"ResponseComplete","verb":"delete","user":{"username":"alice"},"objectRef":{"resource":"secrets","namespace":"prod","name":"db"},"requestReceivedTimestamp":"2024-05-01T12:00:00Z","stageTimestamp":"2024-05-01T12:00:00.1Z","responseObject":{"huge":[1,2,3]}}"#;
const ECS: &str = r#"{"@timestamp":"2024-05-01T12:00:09Z","kubernetes":{"audit":{"auditID":"e1","stage":"ResponseComplete","verb":"create","user":{"username":"bob"},"objectRef":{"resource":"pods","namespace":"web"},"annotations":{"authorization_k8s_io/decision":"allow","mutation_webhook_admission_k8s_io/round_0_index_0":"{}"},"stageTimestamp":"2024-05-01T12:00:01Z"}},"user":{"name":"bob"}}"#;
const FLUENT: &str = r#"{"@timestamp":"2024-05-01T12:00:09Z","log":"{\"auditID\":\"f1\",\"stage\":\"ResponseComplete\",\"verb\":\"get\",\"user\":{\"username\":\"carol\"},\"objectRef\":{\"resource\":\"configmaps\",\"namespace\":\"kube-system\",\"name\":\"x\"},\"requestReceivedTimestamp\":\"2024-05-01T12:00:02Z\"}","stream":"stdout","kubernetes":{"pod_name":"kube-apiserver"}}"#;
const GKE: &str = r#"{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","authenticationInfo":{"principalEmail":"dave@example.com"},"methodName":"io.k8s.core.v1.pods.create","resourceName":"core/v1/namespaces/ci/pods/runner","request":{"kind":"Pod","spec":{"containers":[{"image":"busybox","securityContext":{"privileged":true}}]}},"requestMetadata":{"callerIp":"198.51.100.7","callerSuppliedUserAgent":"kubectl/v1.30.0"},"status":{"code":0},"serviceName":"k8s.io"},"insertId":"g1","timestamp":"2024-05-01T12:00:03Z","logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity"}"#;
const AKS: &str = r#"{"category":"kube-audit","properties":{"log":"{\"auditID\":\"a1\",\"stage\":\"ResponseComplete\",\"verb\":\"patch\",\"user\":{\"username\":\"erin\"},\"objectRef\":{\"resource\":\"nodes\",\"name\":\"n1\"},\"requestReceivedTimestamp\":\"2024-05-01T12:00:04Z\"}","pod":"kube-apiserver-1"},"time":"2024-05-01T12:00:09Z"}"#;
const FALCO: &str = r#"{"output":"12:00:05: Warning shell","priority":"Warning","rule":"Terminal shell in container","time":"2024-05-01T12:00:05Z","output_fields":{"proc.name":"bash"}}"#;

#[test]
fn a_chunk_may_mix_shapes() {
    let ruleset = shipped();
    let text = [
        RAW,
        ECS,
        "",
        FLUENT,
        GKE,
        AKS,
        FALCO,
        r#"{"hello":"world"}"#,
        "[1]",
    ]
    .join("\n");
    let out = decode_both(&ruleset, &lines("mixed.log", 100, &text));
    assert_eq!(
        out.events
            .iter()
            .map(|e| {
                let user = e.root().get("user").and_then(|u| u.get("username"));
                (
                    &*e.id,
                    user.and_then(crate::doc::Ref::as_str).unwrap_or("-"),
                )
            })
            .collect::<Vec<_>>(),
        vec![
            ("r1/ResponseComplete", "alice"),
            ("e1/ResponseComplete", "bob"),
            ("f1/ResponseComplete", "carol"),
            ("g1/ResponseComplete", "dave@example.com"),
            ("a1/ResponseComplete", "erin"),
            // The shipped ruleset's Falco rules read Falco alerts.
            ("mixed.log:106", "-"),
        ]
    );
    let ecs = &out.events[1].to_value();
    assert_eq!(ecs["annotations"]["authorization.k8s.io/decision"], "allow");
    // No rule reads this annotation, so only a full parse keeps it.
    let full = Decoder::without_projection(&ruleset).decode(&lines("mixed.log", 100, &text));
    assert_eq!(
        full.events[1].to_value()["annotations"]
            ["mutation.webhook.admission.k8s.io/round_0_index_0"],
        "{}"
    );
    assert_eq!(
        out.events[1].time,
        parse_rfc3339_millis("2024-05-01T12:00:01Z").unwrap()
    );
    let gke = &out.events[3].to_value();
    assert_eq!(
        (
            str_at(gke, "verb"),
            str_at(gke, "objectRef.resource"),
            str_at(gke, "objectRef.namespace"),
            str_at(gke, "objectRef.name")
        ),
        (Some("create"), Some("pods"), Some("ci"), Some("runner"))
    );
    assert_eq!(gke["responseStatus"]["code"], 201);
    assert_eq!(gke["sourceIPs"], json!(["198.51.100.7"]));
    assert_eq!(
        gke["requestObject"]["spec"]["containers"][0]["securityContext"]["privileged"],
        true
    );
    let problems: Vec<_> = out
        .problems
        .iter()
        .map(|p| (p.line, p.kind, p.message.as_str()))
        .collect();
    assert_eq!(
        problems,
        vec![
            (
                107,
                ProblemKind::Skipped,
                "not a Kubernetes audit event: it has no string `verb`"
            ),
            (
                108,
                ProblemKind::Skipped,
                "not a Kubernetes audit event: a JSON number, not an object"
            ),
        ]
    );
    assert_eq!(out.bytes, text.len() as u64);
    // The shipped rules raise the alerts a user expects from these events.
    let mut engine = Engine::new(Arc::clone(&ruleset));
    let mut output = Output::default();
    for e in &out.events {
        engine.process(e, &mut output);
    }
    let names: Vec<_> = output
        .alerts
        .iter()
        .filter(|a| a.kind == AlertKind::New)
        .map(|a| &*a.alert.detection.name)
        .collect();
    assert!(
        names.iter().any(|n| n.contains("privileged")),
        "the privileged pod created through GKE raises no alert: {names:?}"
    );
}

#[test]
fn a_ruleset_for_falco_accepts_falco_alerts() {
    let ruleset = ruleset(
        r#"rule shell { source falco
                        when rule == "Terminal shell in container" }"#,
    );
    let out = decode_both(&ruleset, &lines("falco.json", 1, &[FALCO, RAW].join("\n")));
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].kind.name(), "falco");
    assert_eq!(out.problems.len(), 1);
    assert_eq!(out.problems[0].line, 2);
    assert!(out.problems[0].message.contains("`source k8s_audit`"));
}

#[test]
fn a_malformed_line_is_reported_with_its_line_and_decoding_goes_on() {
    let ruleset = shipped();
    let text = format!("{RAW}\r\n\n{{\"verb\": oops}}\n{FLUENT}\n{{\"log\":\"{{broken\"}}\n{GKE}");
    let out = decode_both(&ruleset, &lines("audit.log", 41, &text));
    assert_eq!(
        out.problems,
        vec![
            Problem {
                origin: "audit.log".into(),
                line: 43,
                kind: ProblemKind::Malformed,
                message: "malformed JSON: expected value".into(),
            },
            Problem {
                origin: "audit.log".into(),
                line: 45,
                kind: ProblemKind::Malformed,
                message: "malformed JSON in `log`: key must be a string".into(),
            },
        ]
    );
    assert_eq!(out.events.len(), 3);
    // Events without an auditID are named by their position.
    let text = r#"{"verb":"get","stageTimestamp":"2024-05-01T12:00:00Z"}"#;
    let out = decode_both(&ruleset, &lines("audit.log", 7, &format!("\n\n{text}")));
    assert_eq!(&*out.events[0].id, "audit.log:9");
}

#[test]
fn whole_documents_arrays_and_event_lists() {
    let ruleset = shipped();
    let text = format!("{{\"kind\":\"EventList\",\"items\":[{RAW},{FLUENT}]}}\n[{GKE}]\n{{\n  \"a\": oops\n}}\n{AKS}");
    for chunk in [
        Chunk::Whole {
            origin: "list.json".into(),
            text: text.clone(),
        },
        lines("list.json", 1, &text),
    ] {
        let out = decode_both(&ruleset, &chunk);
        assert_eq!(
            out.events.iter().map(|e| &*e.id).collect::<Vec<_>>(),
            vec![
                "r1/ResponseComplete",
                "f1/ResponseComplete",
                "g1/ResponseComplete",
                "a1/ResponseComplete"
            ],
            "{chunk:?}"
        );
        assert!(out
            .problems
            .iter()
            .all(|p| p.kind == ProblemKind::Malformed));
        assert!(
            out.problems.iter().any(|p| p.line == 4),
            "{:?}",
            out.problems
        );
    }
    let restarted = Chunk::Restarted {
        origin: "x".into(),
        reason: "truncated".into(),
    };
    let out = Decoder::new(&ruleset).decode(&restarted);
    assert!(out.events.is_empty() && out.problems.is_empty() && out.bytes == 0);
}

#[test]
fn projection_drops_what_no_rule_reads() {
    let ruleset = shipped();
    let chunk = lines("a", 1, RAW);
    let projected = Decoder::new(&ruleset).decode(&chunk);
    let full = Decoder::without_projection(&ruleset).decode(&chunk);
    // The shipped rules read `responseObject.rules` (a patched role's rules) and
    // `responseObject.spec` (a JSON-patched workload's pod spec), nothing else of it.
    let huge = |v: &serde_json::Value| {
        v.get("responseObject")
            .and_then(|r| r.get("huge"))
            .is_some()
    };
    assert!(huge(&full.events[0].to_value()));
    assert!(!huge(&projected.events[0].to_value()));
    assert!(projected.events[0].to_value().get("verb").is_some());
    assert!(full.events[0].to_value().get("apiVersion").is_some());
    assert!(projected.events[0].to_value().get("apiVersion").is_none());
    // A ruleset with a script sees whole events.
    let scripted = ruleset_with_script();
    assert!(!Decoder::new(&scripted).projects());
    // So does one with a `**` path from the root; `**` under a field keeps that field whole.
    let anywhere = self::ruleset(r#"rule s { when ** contains "huge" }"#);
    assert!(!Decoder::new(&anywhere).projects());
    let under = self::ruleset(r#"rule s { when responseObject.** contains "x" }"#);
    let decoded = Decoder::new(&under).decode(&chunk);
    assert!(Decoder::new(&under).projects());
    assert!(huge(&decoded.events[0].to_value()));
}

fn ruleset_with_script() -> Ruleset {
    ruleset(r#"rule s { when script { event.verb == "get" } }"#)
}

/// Everything an engine run produced, as comparable text.
fn run(ruleset: &Arc<Ruleset>, events: &[Event]) -> Vec<String> {
    let mut engine = Engine::new(Arc::clone(ruleset));
    engine.record_matches(true);
    let mut out = Output::default();
    for e in events {
        engine.process(e, &mut out);
    }
    let mut results = crate::engine::outcome(&engine, &out);
    results.extend(
        events
            .iter()
            .map(|e| format!("{} {} {:?} {:?}", e.id, e.time, e.kind.name(), e.context())),
    );
    results
}

fn assert_projection_is_exact(ruleset: &Arc<Ruleset>, files: &[PathBuf]) -> usize {
    let projected = Decoder::new(ruleset);
    assert!(projected.projects());
    let full = Decoder::without_projection(ruleset);
    let mut chunks = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        let origin: Arc<str> = file.display().to_string().into();
        // Pretty-printed documents become one line each, so that they take the projected path.
        let text = match serde_json::from_str::<Value>(&text) {
            Ok(value) if text.trim_end().contains('\n') => value.to_string(),
            _ => text,
        };
        chunks.push(Chunk::Lines {
            origin,
            first_line: 1,
            text,
        });
    }
    let decode = |d: &Decoder| {
        let mut events = Vec::new();
        let mut problems = Vec::new();
        for c in &chunks {
            let out = d.decode(c);
            events.extend(out.events);
            problems.extend(out.problems);
        }
        (events, problems)
    };
    let (pe, pp) = decode(&projected);
    let (fe, fp) = decode(&full);
    assert_eq!(pp, fp);
    assert_eq!(pe.len(), fe.len());
    let (pr, fr) = (run(ruleset, &pe), run(ruleset, &fe));
    for (p, f) in pr.iter().zip(&fr) {
        assert_eq!(p, f);
    }
    assert_eq!(pr.len(), fr.len());
    pe.len()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_file()
                && !matches!(
                    p.file_name().and_then(|n| n.to_str()),
                    Some("LICENSE" | "SOURCES.md" | "README.md")
                )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn projection_gives_the_same_engine_results_on_the_project_samples() {
    let ruleset = shipped();
    let samples = root().join("rules/samples");
    let mut files = vec![samples.join("attack.jsonl")];
    files.extend(files_in(&samples.join("vendor/falco")));
    files.extend(files_in(&samples.join("vendor/audit2rbac")));
    let events = assert_projection_is_exact(&ruleset, &files);
    assert!(events > 100, "{events} events");
}

#[test]
fn projection_gives_the_same_engine_results_on_third_party_data() {
    let Some(data) = shared_data() else { return };
    let ruleset = shipped();
    let mut files = files_in(&data.join("falco-k8saudit/traces"));
    files.extend(files_in(&data.join("es-shapes")));
    files.extend(files_in(&data.join("audit-samples/elastic-integrations")));
    files.extend(files_in(&data.join("audit-samples/audit2rbac")));
    files.retain(|f| f.extension().is_some_and(|e| e == "json" || e == "log"));
    let events = assert_projection_is_exact(&ruleset, &files);
    assert!(events > 80, "{events} events");
}

#[test]
fn projection_keeps_what_custom_rules_read() {
    // Paths through arrays, indexes and quoted keys, and wrapper shapes.
    let ruleset = Arc::new(ruleset(
        r#"
        rule a { when requestObject.spec.containers[0].image == "busybox" }
        rule b { when annotations["authorization.k8s.io/decision"] == "allow" and verb == "create" }
        rule c { when requestObject.spec.containers.securityContext.privileged == true
                 fields [responseStatus, objectRef.name] }
        rule d { when len(sourceIPs) == 1 and user.username startswith "d" }
        "#,
    ));
    let dir = std::env::temp_dir().join(format!("k8scop-decode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mixed.log");
    std::fs::write(&file, [RAW, ECS, FLUENT, GKE, AKS, FALCO].join("\n")).unwrap();
    let n = assert_projection_is_exact(&ruleset, &[file]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(n, 5);
    let out = Decoder::new(&ruleset).decode(&lines("m", 1, GKE));
    let mut engine = Engine::new(Arc::clone(&ruleset));
    let mut output = Output::default();
    engine.process(&out.events[0], &mut output);
    let names: Vec<_> = output
        .alerts
        .iter()
        .map(|a| &*a.alert.detection.name)
        .collect();
    assert_eq!(names, vec!["a", "c", "d"]);
}

fn audit(id: Option<&str>, stage: Option<&str>) -> Event {
    let mut v = json!({"verb": "get", "requestReceivedTimestamp": "2024-05-01T12:00:00Z"});
    if let Some(id) = id {
        v["auditID"] = id.into();
    }
    if let Some(stage) = stage {
        v["stage"] = stage.into();
    }
    Event::classify(v, "t:1").unwrap()
}

#[test]
fn dedup_on_audit_id_and_stage() {
    let mut d = Dedup::new(100);
    let complete = audit(Some("a"), Some("ResponseComplete"));
    assert!(!d.is_duplicate(&complete));
    assert!(d.is_duplicate(&complete));
    assert!(!d.is_duplicate(&audit(Some("a"), Some("ResponseStarted"))));
    assert!(!d.is_duplicate(&audit(Some("a"), None)));
    assert!(d.is_duplicate(&audit(Some("a"), None)));
    assert!(!d.is_duplicate(&audit(Some("b"), Some("ResponseComplete"))));
    // No auditID: never a duplicate.
    assert!(!d.is_duplicate(&audit(None, Some("ResponseComplete"))));
    assert!(!d.is_duplicate(&audit(None, Some("ResponseComplete"))));
    assert_eq!(d.len(), 4);
}

#[test]
fn dedup_forgets_the_oldest_first() {
    let mut d = Dedup::new(2);
    for id in ["a", "b", "c"] {
        assert!(!d.is_duplicate(&audit(Some(id), Some("ResponseComplete"))));
    }
    assert_eq!(d.len(), 2);
    assert!(d.is_duplicate(&audit(Some("c"), Some("ResponseComplete"))));
    assert!(d.is_duplicate(&audit(Some("b"), Some("ResponseComplete"))));
    // `a` was forgotten when `c` came.
    assert!(!d.is_duplicate(&audit(Some("a"), Some("ResponseComplete"))));
    // ... and remembering `a` again forgot `b`.
    assert!(!d.is_duplicate(&audit(Some("b"), Some("ResponseComplete"))));
    let mut off = Dedup::new(0);
    assert!(!off.is_duplicate(&audit(Some("a"), None)));
    assert!(!off.is_duplicate(&audit(Some("a"), None)));
}

#[test]
fn positions_are_written_in_decimal() {
    for n in [0, 7, 10, 1234, u64::MAX] {
        let mut s = String::from("x:");
        push_decimal(&mut s, n);
        assert_eq!(s, format!("x:{n}"));
    }
}

/// A forged `auditID` (a client's `Audit-ID` header) does not make a different request a
/// duplicate: the key also covers what the API server sets.
#[test]
fn dedup_keys_cover_what_the_server_sets() {
    let event = |id: &str, stage: &str, received: &str, verb: &str, uri: &str, user: &str| {
        Event::classify(
            json!({"auditID": id, "stage": stage, "requestReceivedTimestamp": received,
                   "stageTimestamp": received, "verb": verb, "requestURI": uri,
                   "user": {"username": user}}),
            "t:1",
        )
        .unwrap()
    };
    let id = "c95140e2-cab9-40e7-b946-3e00ec00bcf5";
    let t = "2024-05-01T12:00:00.000001Z";
    let base = event(id, "ResponseComplete", t, "get", "/api/v1/pods", "alice");
    let key = |e: &Event| {
        e.dedup_key
            .expect("an audit event with an auditID has a key")
    };
    assert_eq!(
        key(&base),
        key(&event(
            id,
            "ResponseComplete",
            t,
            "get",
            "/api/v1/pods",
            "alice"
        ))
    );
    for other in [
        event(id, "RequestReceived", t, "get", "/api/v1/pods", "alice"),
        event(
            id,
            "ResponseComplete",
            "2024-05-01T12:00:00.000002Z",
            "get",
            "/api/v1/pods",
            "alice",
        ),
        event(id, "ResponseComplete", t, "create", "/api/v1/pods", "alice"),
        event(
            id,
            "ResponseComplete",
            t,
            "get",
            "/api/v1/pods/x/exec",
            "alice",
        ),
        event(id, "ResponseComplete", t, "get", "/api/v1/pods", "mallory"),
        // The same 128 bits in other halves, and the same id in upper case.
        event(
            "b9463e00-ec00-bcf5-c951-40e2cab940e7",
            "ResponseComplete",
            t,
            "get",
            "/api/v1/pods",
            "alice",
        ),
        event(
            &id.to_uppercase(),
            "ResponseComplete",
            t,
            "get",
            "/api/v1/pods",
            "alice",
        ),
    ] {
        assert_ne!(key(&base), key(&other), "{:?}", other.to_value());
    }
    let mut dedup = Dedup::new(10);
    assert!(!dedup.is_duplicate(&base));
    assert!(dedup.is_duplicate(&base));
    assert!(!dedup.is_duplicate(&event(
        id,
        "ResponseComplete",
        t,
        "create",
        "/api/v1/pods",
        "alice"
    )));
    // No auditID, no key: never a duplicate.
    let anonymous =
        Event::classify(json!({"verb": "get", "requestReceivedTimestamp": t}), "t:1").unwrap();
    assert_eq!(anonymous.dedup_key, None);
}

/// The deduplication key is the SipHash of `DEDUP_FIELDS` written one piece at a time, length
/// first, as it was computed before the decoder read the fields in one pass: a window saved by
/// an earlier version ([`Dedup::snapshot`]) still recognises the copies of its events. Checked
/// with fields missing, of other types, long and repeated.
#[test]
fn dedup_keys_are_the_stream_hash_of_the_fields() {
    use std::hash::Hasher;
    let reference = |event: &Value| -> Option<u64> {
        let doc = Doc::from_value(event);
        let root = doc.root();
        root.get("auditID")?.as_str()?;
        let mut hasher = dedup_hash_key().hasher();
        for path in DEDUP_FIELDS {
            let value = path
                .iter()
                .try_fold(root, |v, key| v.get(key))
                .and_then(Ref::as_str)
                .unwrap_or_default();
            hasher.write_usize(value.len());
            hasher.write(value.as_bytes());
        }
        Some(hasher.finish())
    };
    let t = "2024-05-01T12:00:00.000001Z";
    let long = "/api/v1/namespaces/x/pods/".repeat(40);
    let events = [
        json!({"auditID": "a", "stage": "ResponseComplete", "requestReceivedTimestamp": t,
               "stageTimestamp": t, "verb": "get", "requestURI": "/api/v1/pods",
               "user": {"username": "alice", "groups": ["g"]}, "kind": "Event"}),
        json!({"auditID": "a", "requestReceivedTimestamp": t, "verb": "get"}),
        json!({"auditID": "a", "requestReceivedTimestamp": t, "verb": "get", "stage": 7,
               "user": "alice", "requestURI": long}),
        json!({"auditID": long, "requestReceivedTimestamp": t, "verb": long, "requestURI": long,
               "stageTimestamp": long, "user": {"username": long}}),
        json!({"auditID": 12, "requestReceivedTimestamp": t, "verb": "get"}),
        json!({"requestReceivedTimestamp": t, "verb": "get"}),
    ];
    for event in events {
        let decoded = Event::classify(event.clone(), "t:1").expect("an audit event");
        assert_eq!(decoded.dedup_key, reference(&event), "{event}");
    }
    // A repeated key: the last one counts, in the key as in the event.
    let text = format!(
        r#"{{"auditID":"a","verb":"get","requestReceivedTimestamp":"{t}","stage":"x","stage":"y"}}"#
    );
    let origin: Arc<str> = "t".into();
    let decoded = Decoder::without_projection(&ruleset(
        "rule r {\n  when verb == \"get\"\n  title \"t\"\n}\n",
    ))
    .decode_text(&origin, &text);
    let event = &decoded.events[0];
    assert_eq!(event.dedup_key, reference(&event.to_value()));
    assert_eq!(event.root().get("stage").and_then(Ref::as_str), Some("y"));
}

/// A line that is an `EventList` is expanded into its items even when it also looks like an
/// event itself.
#[test]
fn an_event_list_line_is_expanded_even_with_event_fields() {
    let ruleset = ruleset("rule r {\n  when verb == \"get\"\n  title \"t\"\n}\n");
    let line = r#"{"kind":"EventList","verb":"get","requestReceivedTimestamp":"2024-05-01T12:00:00Z","items":[{"verb":"get","auditID":"a","requestReceivedTimestamp":"2024-05-01T12:00:01Z"},{"verb":"list","auditID":"b","requestReceivedTimestamp":"2024-05-01T12:00:02Z"}]}"#;
    let out = Decoder::new(&ruleset).decode(&lines("list.log", 1, line));
    assert_eq!(
        out.events.iter().map(|e| &*e.id).collect::<Vec<_>>(),
        ["a", "b"]
    );
}

/// Elastic's own test data reuses one `auditID` for different requests: only the true copy is a
/// duplicate.
#[test]
fn a_reused_audit_id_does_not_hide_other_requests() {
    let Some(data) = shared_data() else { return };
    let path = data.join("audit-samples/elastic-integrations/test-audit.log");
    let text = std::fs::read_to_string(&path).unwrap();
    let out = Decoder::new(&shipped()).decode(&lines("test-audit.log", 1, &text));
    let ids: Vec<&str> = out.events.iter().map(|e| &*e.id).collect();
    assert!(
        ids.iter()
            .filter(|id| id.starts_with("abcde12345/"))
            .count()
            >= 3,
        "{ids:?}"
    );
    let mut dedup = Dedup::new(100);
    let kept: Vec<u64> = out
        .events
        .iter()
        .filter(|e| !dedup.is_duplicate(e))
        .map(|e| e.time as u64)
        .collect();
    assert_eq!((out.events.len(), kept.len()), (5, 4), "{kept:?}");
}

/// Where the parse notes the root's members ([`json::RootMembers`]) is where a lookup finds
/// them, whatever the document: repeated keys (the last wins), a repeated key whose last value
/// keeps nothing, nested keys of the same name, escaped keys, values of every type, and every
/// line of the project's samples. Identification reads the noted places instead of looking up.
#[test]
fn root_members_noted_by_the_parse_are_what_lookups_find() {
    let decoder = Decoder::new(&shipped());
    let trie = decoder
        .projection()
        .expect("the shipped rules are projected");
    let numbers = decoder
        .audit_root
        .expect("every root key of an audit event has a number");
    let mut texts: Vec<String> = [
        r#"{"verb":"get","verb":"list","auditID":"a","requestReceivedTimestamp":"2024-01-01T00:00:00Z"}"#,
        r#"{"user":{"username":"a"},"verb":"get","user":"not an object"}"#,
        r#"{"user":"x","user":{"username":"b"},"stage":"ResponseComplete"}"#,
        r#"{"user":{},"verb":"get","requestURI":"/api"}"#,
        r#"{"objectRef":{"verb":"x","stage":"y"},"verb":"get","stageTimestamp":"t"}"#,
        r#"{"stage":null,"auditID":5,"kind":"EventList","items":[{"verb":"get"}]}"#,
        r#"{"requestReceivedTimestamp":"t","requestReceivedTimestamp":"u","@timestamp":1}"#,
        r#"{"ver\u0062":"get","\u0061uditID":"b","timestamp":"2024-01-01T00:00:00Z"}"#,
        r#"{"verb":["get"],"user":[{"username":"c"}],"kind":{"a":1}}"#,
        r#"{"unknown":{"verb":"x"},"level":"Metadata"}"#,
        r#"{}"#,
    ]
    .map(String::from)
    .to_vec();
    for file in files_in(&root().join("rules/samples")) {
        let text = std::fs::read_to_string(&file).expect("readable");
        texts.extend(text.lines().map(String::from));
    }
    let mut checked = 0;
    for text in &texts {
        let (mut builder, mut specials) = (DocBuilder::default(), json::Specials::default());
        let mut noted = json::RootMembers::default();
        if json::parse_into(text, Some(trie), &mut builder, &mut specials, &mut noted).is_err() {
            continue;
        }
        let doc = builder.finish_into();
        if !doc.root().is_object() {
            continue;
        }
        let looked_up = doc
            .root()
            .get_all(kinds::audit::ROOT_KEYS)
            .map(|found| found.map(Ref::index));
        assert_eq!(numbers.map(|n| noted.value_at(n)), looked_up, "{text}");
        checked += 1;
    }
    assert!(checked > 60, "only {checked} documents checked");
}
