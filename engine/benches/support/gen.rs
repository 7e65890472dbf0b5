//! A deterministic generator of realistic Kubernetes audit events, for benchmarks.
//!
//! The mix is that of a busy cluster: mostly get/list/watch by controllers and nodes, node status
//! updates and leases, some creates and patches by people and CI, a few pod execs, 403s, secret
//! reads and privileged pods. Events are about 1.1 KB each, like real `RequestResponse`-less
//! (`Metadata` / `Request` level) audit lines.

use std::fmt::Write;

/// xorshift64*: tiny, fast and the same on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const CONTROLLERS: &[&str] = &[
    "system:serviceaccount:kube-system:deployment-controller",
    "system:serviceaccount:kube-system:replicaset-controller",
    "system:serviceaccount:kube-system:endpointslice-controller",
    "system:serviceaccount:kube-system:generic-garbage-collector",
    "system:kube-controller-manager",
    "system:kube-scheduler",
    "system:serviceaccount:kube-system:coredns",
    "system:serviceaccount:monitoring:prometheus",
];
const NAMESPACES: &[&str] = &[
    "default",
    "kube-system",
    "web",
    "payments",
    "monitoring",
    "ci",
    "data",
];
const READ_RESOURCES: &[&str] = &[
    "pods",
    "endpoints",
    "configmaps",
    "services",
    "nodes",
    "deployments",
    "replicasets",
    "events",
];
const PEOPLE: &[&str] = &[
    "alice@example.com",
    "bob@example.com",
    "carol@example.com",
    "system:serviceaccount:ci:deployer",
];

/// The time of event `i`: 2,000 events a second from 2024-05-01T12:00:00Z.
fn timestamp(i: u64, extra_micros: u64) -> String {
    let micros = i * 500 + extra_micros;
    let secs = micros / 1_000_000;
    let (h, m, s) = (12 + secs / 3600, (secs / 60) % 60, secs % 60);
    format!(
        "2024-05-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        1 + h / 24,
        h % 24,
        m,
        s,
        micros % 1_000_000
    )
}

/// One audit event as a JSON line (no trailing newline).
pub fn event(rng: &mut Rng, i: u64) -> String {
    let roll = rng.below(1000);
    let ns = rng.pick(NAMESPACES);
    let (user, verb, resource, subresource, code, ua, group, body): (
        &str,
        &str,
        &str,
        &str,
        u32,
        &str,
        &str,
        String,
    );
    match roll {
        0..=449 => {
            user = rng.pick(CONTROLLERS);
            verb = rng.pick(&["get", "list", "watch", "list", "get"]);
            resource = rng.pick(READ_RESOURCES);
            subresource = "";
            code = 200;
            ua = "kube-controller-manager/v1.29.4 (linux/amd64) kubernetes/55019c8/system:serviceaccount:kube-system:deployment-controller";
            group = if resource == "deployments" || resource == "replicasets" {
                "apps"
            } else {
                ""
            };
            body = String::new();
        }
        450..=799 => {
            user = [
                "system:node:node-1",
                "system:node:node-2",
                "system:node:node-3",
            ][rng.below(3) as usize];
            verb = rng.pick(&["get", "patch", "update", "get", "watch"]);
            resource = rng.pick(&["pods", "nodes", "leases", "configmaps", "secrets"]);
            subresource = if verb == "patch" { "status" } else { "" };
            code = 200;
            ua = "kubelet/v1.29.4 (linux/amd64) kubernetes/55019c8";
            group = if resource == "leases" {
                "coordination.k8s.io"
            } else {
                ""
            };
            body = String::new();
        }
        800..=939 => {
            user = rng.pick(PEOPLE);
            verb = rng.pick(&["create", "patch", "update", "delete", "get", "list"]);
            resource = rng.pick(&[
                "deployments",
                "configmaps",
                "services",
                "rolebindings",
                "cronjobs",
                "serviceaccounts",
            ]);
            subresource = "";
            code = if rng.below(10) == 0 { 403 } else { 200 };
            ua = "kubectl/v1.29.1 (linux/amd64) kubernetes/bc401b9";
            group = match resource {
                "deployments" => "apps",
                "rolebindings" => "rbac.authorization.k8s.io",
                "cronjobs" => "batch",
                _ => "",
            };
            body = String::new();
        }
        940..=969 => {
            user = rng.pick(PEOPLE);
            verb = "create";
            resource = "pods";
            subresource = "";
            code = 201;
            ua = "kubectl/v1.29.1 (linux/amd64) kubernetes/bc401b9";
            group = "";
            let privileged = rng.below(10) == 0;
            let host_path = rng.below(20) == 0;
            body = format!(
                r#","requestObject":{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"job-{i}","namespace":"{ns}"}},"spec":{{"hostPID":{},"containers":[{{"name":"main","image":"registry.example.com:5000/team/app:1.{}","securityContext":{{"privileged":{privileged}}}}}],"volumes":[{}]}}}}"#,
                rng.below(50) == 0,
                rng.below(9),
                if host_path {
                    r#"{"name":"root","hostPath":{"path":"/"}}"#
                } else {
                    r#"{"name":"data","emptyDir":{}}"#
                }
            );
        }
        970..=979 => {
            user = rng.pick(PEOPLE);
            verb = "create";
            resource = "pods";
            subresource = "exec";
            code = 101;
            ua = "kubectl/v1.29.1 (linux/amd64) kubernetes/bc401b9";
            group = "";
            body = String::new();
        }
        _ => {
            user = rng.pick(PEOPLE);
            verb = rng.pick(&["get", "list"]);
            resource = "secrets";
            subresource = "";
            code = if rng.below(4) == 0 { 403 } else { 200 };
            ua = rng.pick(&[
                "kubectl/v1.29.1 (linux/amd64) kubernetes/bc401b9",
                "curl/8.5.0",
                "python-requests/2.31.0",
            ]);
            group = "";
            body = String::new();
        }
    }
    let name = format!("{resource}-{}", rng.below(40));
    let decision = if code == 403 { "forbid" } else { "allow" };
    let reason = if code == 403 {
        String::new()
    } else {
        format!("RBAC: allowed by ClusterRoleBinding \\\"system:{}\\\" of ClusterRole \\\"system:{}\\\" to User \\\"{user}\\\"", rng.below(100), rng.below(100))
    };
    let mut uri = format!(
        "/api{}/namespaces/{ns}/{resource}",
        if group.is_empty() {
            "/v1".to_owned()
        } else {
            format!("s/{group}/v1")
        }
    );
    if verb != "list" && verb != "watch" && verb != "create" {
        let _ = write!(uri, "/{name}");
    }
    if !subresource.is_empty() {
        let _ = write!(
            uri,
            "/{subresource}?command=sh&container=main&stdin=true&tty=true"
        );
    }
    let status_extra = if code == 403 {
        format!(
            r#","status":"Failure","message":"{resource} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" in the namespace \"{ns}\"","reason":"Forbidden","details":{{"kind":"{resource}"}}"#
        )
    } else {
        String::new()
    };
    let name_field = if verb == "list" || verb == "watch" {
        String::new()
    } else {
        format!(r#","name":"{name}""#)
    };
    let sub_field = if subresource.is_empty() {
        String::new()
    } else {
        format!(r#","subresource":"{subresource}""#)
    };
    format!(
        concat!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"{level}","auditID":"{a:08x}-{b:04x}-4{c:03x}-8{d:03x}-{e:012x}","stage":"ResponseComplete","#,
            r#""requestURI":"{uri}","verb":"{verb}","user":{{"username":"{user}","uid":"{uid:08x}-0000-4000-8000-000000000000","groups":["system:authenticated","system:{grp}"],"#,
            r#""extra":{{"authentication.kubernetes.io/credential-id":["JTI={uid:08x}-5d1c-4d0e-9a3b-{e:012x}"],"authentication.kubernetes.io/node-name":["node-{node}"]}}}},"#,
            r#""sourceIPs":["10.{ip1}.{ip2}.{ip3}"],"userAgent":"{ua}","#,
            r#""objectRef":{{"resource":"{resource}","namespace":"{ns}"{name_field},"apiGroup":"{group}","apiVersion":"v1"{sub_field}}},"#,
            r#""responseStatus":{{"metadata":{{}},"code":{code}{status_extra}}}{body},"#,
            r#""requestReceivedTimestamp":"{t0}","stageTimestamp":"{t1}","#,
            r#""annotations":{{"authorization.k8s.io/decision":"{decision}","authorization.k8s.io/reason":"{reason}"}}}}"#
        ),
        level = if body.is_empty() {
            "Metadata"
        } else {
            "Request"
        },
        a = rng.next() as u32,
        b = rng.below(0xffff),
        c = rng.below(0xfff),
        d = rng.below(0xfff),
        e = rng.next() & 0xffff_ffff_ffff,
        uri = uri,
        verb = verb,
        user = user,
        uid = rng.next() as u32,
        node = rng.below(3) + 1,
        grp = if user.starts_with("system:") {
            "serviceaccounts"
        } else {
            "authenticated"
        },
        ip1 = rng.below(255),
        ip2 = rng.below(255),
        ip3 = rng.below(255),
        ua = ua,
        resource = resource,
        ns = ns,
        name_field = name_field,
        group = group,
        sub_field = sub_field,
        code = code,
        status_extra = status_extra,
        body = body,
        t0 = timestamp(i, 0),
        t1 = timestamp(i, 1800 + rng.below(4000)),
        decision = decision,
        reason = reason,
    )
}
