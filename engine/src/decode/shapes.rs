//! Event shapes: how shippers wrap a Kubernetes audit event, and how each is turned back into
//! the raw `audit.k8s.io/v1` event that rules are written against. `docs/event-shapes.md` is the
//! user-facing description; keep the two in step.
//!
//! Detection is per document, in this order: a string `verb` at the top (a raw event, maybe
//! with shipper fields beside it), `kubernetes.audit` (Elastic Agent), a `log` string holding
//! JSON (Fluent Bit, Fluentd), `protoPayload` of a Kubernetes method (GKE Cloud Audit Logs),
//! `properties.log` (AKS diagnostics). Anything else is returned unchanged, for
//! [`crate::event::Event::classify`] to recognise or reject.
//!
//! Every key read here must be kept by the projection: `super::Decoder::new` inserts them
//! ([`WRAPPER_KEYS`] and the links it makes for nested events).

use serde_json::{Map, Value};

use super::json::JsonError;
use crate::kinds::audit::TIME_FIELDS as AUDIT_TIME_FIELDS;

/// How deep wrappers may nest (a Fluent Bit `log` holding an AKS record holding an event).
const MAX_DEPTH: u8 = 3;

/// Plain keys of the wrapper shapes that the normalisation reads. Nested events
/// (`kubernetes.audit`, `log`, `properties.log`, `protoPayload.request`/`response`, `labels`) are
/// linked to the event's own keys by the decoder.
pub const WRAPPER_KEYS: &[&[&str]] = &[
    &["protoPayload", "@type"],
    &["protoPayload", "serviceName"],
    &["protoPayload", "methodName"],
    &["protoPayload", "resourceName"],
    &["protoPayload", "authenticationInfo", "principalEmail"],
    &["protoPayload", "requestMetadata", "callerIp"],
    &["protoPayload", "requestMetadata", "callerSuppliedUserAgent"],
    &["protoPayload", "status", "code"],
    &["protoPayload", "status", "message"],
    &["insertId"],
    &["operation", "first"],
    &["operation", "last"],
];

/// Which shape a document had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A raw audit event (v1 or v1beta1), possibly with shipper fields at the top level.
    Raw,
    /// Elastic Agent: the event under `kubernetes.audit`.
    ElasticAgent,
    /// Fluent Bit / Fluentd without a parser: the event as a JSON string in `log`.
    LogString,
    /// GKE Cloud Audit Logs: `protoPayload`.
    Gke,
    /// AKS diagnostic record: `properties.log`, an object or a JSON string.
    Aks,
    /// Nothing known: left for `Event::classify`.
    Other,
}

/// Why a wrapper could not be unwrapped: its nested JSON string is not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadNested {
    /// serde_json's message for the nested string.
    pub message: String,
}

/// Normalises `doc` into a raw audit event when it is one of the known shapes; `parse` reads a
/// nested JSON string (with the same projection as the document).
pub fn normalize(
    doc: Value,
    parse: &dyn Fn(&str) -> Result<Value, JsonError>,
) -> Result<(Value, Shape), BadNested> {
    normalize_at(doc, parse, 0)
}

fn normalize_at(
    doc: Value,
    parse: &dyn Fn(&str) -> Result<Value, JsonError>,
    depth: u8,
) -> Result<(Value, Shape), BadNested> {
    let Value::Object(mut map) = doc else {
        return Ok((doc, Shape::Other));
    };
    if map.get("verb").is_some_and(Value::is_string) {
        fix_v1beta1(&mut map);
        return Ok((Value::Object(map), Shape::Raw));
    }
    if depth >= MAX_DEPTH {
        return Ok((Value::Object(map), Shape::Other));
    }
    let audit = match map.get_mut("kubernetes") {
        Some(Value::Object(k)) if k.get("audit").is_some_and(Value::is_object) => k.remove("audit"),
        _ => None,
    };
    if let Some(Value::Object(audit)) = audit {
        return Ok((
            Value::Object(elastic_agent(audit, &map)),
            Shape::ElasticAgent,
        ));
    }
    if let Some(Value::String(log)) = map.get("log") {
        if log.trim_start().starts_with('{') {
            let inner = parse(log).map_err(|e| BadNested {
                message: format!("malformed JSON in `log`: {}", e.message()),
            })?;
            let (inner, _) = normalize_at(inner, parse, depth + 1)?;
            return Ok((with_shipper_time(inner, &map), Shape::LogString));
        }
    }
    if let Some(Value::Object(payload)) = map.get("protoPayload") {
        if is_kubernetes_method(payload) {
            return Ok((Value::Object(gke(&map)), Shape::Gke));
        }
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        let inner = match properties.remove("log") {
            Some(Value::String(log)) => Some(parse(&log).map_err(|e| BadNested {
                message: format!("malformed JSON in `properties.log`: {}", e.message()),
            })?),
            Some(other @ Value::Object(_)) => Some(other),
            Some(other) => {
                properties.insert("log".into(), other);
                None
            }
            None => None,
        };
        if let Some(inner) = inner {
            let (inner, _) = normalize_at(inner, parse, depth + 1)?;
            return Ok((inner, Shape::Aks));
        }
    }
    Ok((Value::Object(map), Shape::Other))
}

/// Old `audit.k8s.io/v1beta1` events (and some v1 events of old API servers) carry the request
/// time as `timestamp` only; it is what v1 calls `requestReceivedTimestamp`.
fn fix_v1beta1(map: &mut Map<String, Value>) {
    if map.contains_key("requestReceivedTimestamp") {
        return;
    }
    if let Some(Value::String(t)) = map.get("timestamp") {
        let t = t.clone();
        map.insert("requestReceivedTimestamp".into(), Value::String(t));
    }
}

/// The event of an Elastic Agent document, with the annotation keys Elastic renamed
/// (`authorization.k8s.io/decision` became `authorization_k8s_io/decision`) given back.
fn elastic_agent(
    mut audit: Map<String, Value>,
    wrapper: &Map<String, Value>,
) -> Map<String, Value> {
    if let Some(Value::Object(annotations)) = audit.get_mut("annotations") {
        if annotations
            .keys()
            .any(|k| undot_annotation_key(k).is_some())
        {
            let renamed = std::mem::take(annotations)
                .into_iter()
                .map(|(k, v)| (undot_annotation_key(&k).unwrap_or(k), v))
                .collect();
            *annotations = renamed;
        }
    }
    fix_v1beta1(&mut audit);
    match with_shipper_time(Value::Object(audit), wrapper) {
        Value::Object(map) => map,
        _ => unreachable!("with_shipper_time keeps an object an object"),
    }
}

/// `authorization_k8s_io/decision` -> `authorization.k8s.io/decision`. An annotation key is
/// `prefix/name` where the prefix is a DNS subdomain, which never contains `_`: so `_` in the
/// prefix can only be a renamed `.`. The name part may hold real `_` (`round_0_index_0`) and is
/// left alone; a key without a prefix is ambiguous and left alone too.
pub fn undot_annotation_key(key: &str) -> Option<String> {
    let (prefix, name) = key.split_once('/')?;
    prefix
        .contains('_')
        .then(|| format!("{}/{name}", prefix.replace('_', ".")))
}

/// Adds the shipper's `@timestamp` to an event that has no time of its own (it is the last
/// resort of `Event::classify`, as the time the shipper read the line).
fn with_shipper_time(inner: Value, wrapper: &Map<String, Value>) -> Value {
    let Value::Object(mut inner) = inner else {
        return inner;
    };
    if !AUDIT_TIME_FIELDS.iter().any(|f| inner.contains_key(f.key)) {
        if let Some(t @ Value::String(_)) = wrapper.get("@timestamp") {
            inner.insert("@timestamp".into(), t.clone());
        }
    }
    Value::Object(inner)
}

fn is_kubernetes_method(payload: &Map<String, Value>) -> bool {
    let method = payload.get("methodName").and_then(Value::as_str);
    method.is_some_and(|m| m.starts_with("io.k8s."))
        || (method.is_some()
            && payload.get("serviceName").and_then(Value::as_str) == Some("k8s.io"))
}

/// A GKE Cloud Audit Log entry as an audit event.
fn gke(entry: &Map<String, Value>) -> Map<String, Value> {
    let payload = entry.get("protoPayload").and_then(Value::as_object);
    let get = |keys: &[&str]| -> Option<&Value> {
        let mut v = payload?.get(keys[0])?;
        for k in &keys[1..] {
            v = v.get(k)?;
        }
        Some(v)
    };
    let text = |keys: &[&str]| get(keys).and_then(Value::as_str);
    let method = text(&["methodName"]).unwrap_or_default();
    let method = MethodName::parse(method);
    let resource = text(&["resourceName"]).map(ResourceName::parse);

    let mut event = Map::new();
    event.insert("kind".into(), "Event".into());
    event.insert("apiVersion".into(), "audit.k8s.io/v1".into());
    if let Some(id) = entry.get("insertId").and_then(Value::as_str) {
        event.insert("auditID".into(), id.into());
    }
    // One entry per request, written when it completes; a long-running request (a watch) may
    // log its start (`operation.first` without `last`) too.
    let started_only = entry.get("operation").is_some_and(|op| {
        op.get("first").and_then(Value::as_bool) == Some(true)
            && op.get("last").and_then(Value::as_bool) == Some(false)
    });
    let stage = if started_only {
        "ResponseStarted"
    } else {
        "ResponseComplete"
    };
    event.insert("stage".into(), stage.into());
    if let Some(uri) = resource.as_ref().map(ResourceName::request_uri) {
        event.insert("requestURI".into(), uri.into());
    }
    if let Some(verb) = method.verb {
        event.insert("verb".into(), verb.into());
    }
    if let Some(user) = text(&["authenticationInfo", "principalEmail"]) {
        let mut u = Map::new();
        u.insert("username".into(), user.into());
        event.insert("user".into(), Value::Object(u));
    }
    if let Some(ip) = text(&["requestMetadata", "callerIp"]) {
        event.insert("sourceIPs".into(), Value::Array(vec![ip.into()]));
    }
    if let Some(ua) = text(&["requestMetadata", "callerSuppliedUserAgent"]) {
        event.insert("userAgent".into(), ua.into());
    }
    let object_ref = object_ref(&method, resource.as_ref());
    if !object_ref.is_empty() {
        event.insert("objectRef".into(), Value::Object(object_ref));
    }
    if let Some(code) = get(&["status", "code"]).and_then(Value::as_i64) {
        let mut status = Map::new();
        let http = grpc_to_http(code, method.verb);
        status.insert("code".into(), http.into());
        if let Some(message) = text(&["status", "message"]).filter(|m| !m.is_empty()) {
            status.insert("message".into(), message.into());
        }
        event.insert("responseStatus".into(), Value::Object(status));
    }
    if let Some(request) = get(&["request"]) {
        event.insert("requestObject".into(), request.clone());
    }
    if let Some(response) = get(&["response"]) {
        event.insert("responseObject".into(), response.clone());
    }
    if let Some(t @ Value::String(_)) = entry.get("timestamp") {
        event.insert("requestReceivedTimestamp".into(), t.clone());
        event.insert("stageTimestamp".into(), t.clone());
    }
    // GKE puts the API server's annotations (`authorization.k8s.io/decision`, ...) in `labels`.
    if let Some(labels @ Value::Object(_)) = entry.get("labels") {
        event.insert("annotations".into(), labels.clone());
    }
    event
}

/// `io.k8s.core.v1.pods.exec.create` -> group `core`, version `v1`, resource `pods`,
/// subresource `exec`, verb `create`; `io.k8s.get` (a non-resource URL) -> verb `get`.
#[derive(Debug, Default, PartialEq, Eq)]
struct MethodName<'a> {
    group: Vec<&'a str>,
    version: Option<&'a str>,
    resource: Option<&'a str>,
    subresource: Option<&'a str>,
    verb: Option<&'a str>,
}

impl<'a> MethodName<'a> {
    fn parse(method: &'a str) -> MethodName<'a> {
        let rest = method.strip_prefix("io.k8s.").unwrap_or(method);
        let tokens: Vec<&str> = rest.split('.').filter(|t| !t.is_empty()).collect();
        let Some((verb, before)) = tokens.split_last() else {
            return MethodName::default();
        };
        let mut out = MethodName {
            verb: Some(verb),
            ..MethodName::default()
        };
        if let Some(v) = before.iter().position(|t| is_version(t)) {
            out.group = before[..v].to_vec();
            out.version = Some(before[v]);
            out.resource = before.get(v + 1).copied();
            out.subresource = before.get(v + 2).copied();
        }
        out
    }

    /// The API group as Kubernetes spells it: `core` is the empty group; GKE writes built-in
    /// groups reversed without `k8s.io` (`authorization.rbac` for `rbac.authorization.k8s.io`).
    fn api_group(&self) -> Option<String> {
        match self.group.as_slice() {
            [] => None,
            ["core"] => Some(String::new()),
            [g @ ("apps" | "batch" | "autoscaling" | "policy" | "extensions")] => Some((*g).into()),
            parts => {
                let mut reversed: Vec<&str> = parts.to_vec();
                reversed.reverse();
                Some(format!("{}.k8s.io", reversed.join(".")))
            }
        }
    }
}

fn is_version(token: &str) -> bool {
    let Some(rest) = token.strip_prefix('v') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let tail = &rest[digits..];
    tail.is_empty()
        || ["alpha", "beta"].iter().any(|p| {
            tail.strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// `core/v1/namespaces/NS/pods/NAME[/SUB]`, `rbac.authorization.k8s.io/v1/clusterroles/NAME`,
/// or a non-resource path such as `readyz`.
#[derive(Debug, Default, PartialEq, Eq)]
struct ResourceName<'a> {
    whole: &'a str,
    group: Option<&'a str>,
    version: Option<&'a str>,
    namespace: Option<&'a str>,
    resource: Option<&'a str>,
    name: Option<&'a str>,
    subresource: Option<&'a str>,
}

impl<'a> ResourceName<'a> {
    fn parse(whole: &'a str) -> ResourceName<'a> {
        let parts: Vec<&str> = whole.split('/').collect();
        let mut out = ResourceName {
            whole,
            ..ResourceName::default()
        };
        if parts.len() < 3 || !is_version(parts[1]) {
            return out;
        }
        out.group = Some(parts[0]);
        out.version = Some(parts[1]);
        let mut rest = &parts[2..];
        // As the API server's RequestInfo reads a path: a namespace is namespaced in itself, and
        // `namespaces/NS/status` is a subresource of the namespace.
        if rest[0] == "namespaces" && rest.len() > 1 {
            out.namespace = Some(rest[1]);
            if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
                rest = &rest[2..];
            }
        }
        out.resource = rest.first().copied();
        out.name = rest.get(1).copied();
        out.subresource = rest.get(2).copied();
        out
    }

    /// The request path, rebuilt (without the query string, which GKE does not log).
    fn request_uri(&self) -> String {
        match (self.group, self.version) {
            (Some("core" | ""), Some(_)) => {
                format!(
                    "/api/{}",
                    &self.whole[self.whole.find('/').map_or(0, |i| i + 1)..]
                )
            }
            (Some(_), Some(_)) => format!("/apis/{}", self.whole),
            _ => format!("/{}", self.whole.trim_start_matches('/')),
        }
    }
}

fn object_ref(method: &MethodName, resource: Option<&ResourceName>) -> Map<String, Value> {
    let mut out = Map::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            out.insert(k.into(), v.into());
        }
    };
    let from_resource = resource.filter(|r| r.resource.is_some());
    put(
        "resource",
        from_resource.and_then(|r| r.resource).or(method.resource),
    );
    put("namespace", from_resource.and_then(|r| r.namespace));
    put("name", from_resource.and_then(|r| r.name));
    put(
        "subresource",
        from_resource
            .and_then(|r| r.subresource)
            .or(method.subresource),
    );
    let group = match from_resource.and_then(|r| r.group) {
        Some("core") => Some(String::new()),
        Some(g) => Some(g.to_owned()),
        None => method.api_group(),
    };
    put("apiGroup", group.as_deref());
    put(
        "apiVersion",
        from_resource.and_then(|r| r.version).or(method.version),
    );
    out
}

/// The HTTP status the API server answered with, from the gRPC code Cloud Audit Logs records
/// (`google.rpc.Code`). Success of a `create` is 201, as the API server answers.
fn grpc_to_http(code: i64, verb: Option<&str>) -> i64 {
    match code {
        0 if verb == Some("create") => 201,
        0 => 200,
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full(text: &str) -> Result<Value, JsonError> {
        super::super::json::parse(text)
    }

    #[test]
    fn method_names() {
        let m = MethodName::parse("io.k8s.core.v1.pods.exec.create");
        assert_eq!(
            (m.version, m.resource, m.subresource, m.verb),
            (Some("v1"), Some("pods"), Some("exec"), Some("create"))
        );
        assert_eq!(m.api_group().as_deref(), Some(""));
        let m = MethodName::parse("io.k8s.authorization.rbac.v1.clusterrolebindings.create");
        assert_eq!(m.api_group().as_deref(), Some("rbac.authorization.k8s.io"));
        let m = MethodName::parse("io.k8s.apps.v1beta2.deployments.patch");
        assert_eq!(
            (m.api_group().as_deref(), m.version),
            (Some("apps"), Some("v1beta2"))
        );
        let m = MethodName::parse("io.k8s.get");
        assert_eq!((m.verb, m.resource), (Some("get"), None));
        assert!(!is_version("version") && !is_version("v") && !is_version("v1gamma"));
    }

    #[test]
    fn resource_names() {
        let r = ResourceName::parse("core/v1/namespaces/prod/pods/web-1/exec");
        assert_eq!(
            (r.namespace, r.resource, r.name, r.subresource),
            (Some("prod"), Some("pods"), Some("web-1"), Some("exec"))
        );
        assert_eq!(r.request_uri(), "/api/v1/namespaces/prod/pods/web-1/exec");
        let r = ResourceName::parse("core/v1/namespaces/foo");
        assert_eq!(
            (r.namespace, r.resource, r.name),
            (Some("foo"), Some("namespaces"), Some("foo"))
        );
        let r = ResourceName::parse("rbac.authorization.k8s.io/v1/clusterroles/admin");
        assert_eq!(
            (r.namespace, r.resource, r.name),
            (None, Some("clusterroles"), Some("admin"))
        );
        assert_eq!(
            r.request_uri(),
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin"
        );
        let r = ResourceName::parse("readyz");
        assert_eq!((r.resource, r.request_uri().as_str()), (None, "/readyz"));
    }

    #[test]
    fn gke_pod_exec_is_mapped() {
        let doc = json!({
            "protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                "authenticationInfo": {"principalEmail": "mallory@example.com"},
                "methodName": "io.k8s.core.v1.pods.exec.create",
                "resourceName": "core/v1/namespaces/prod/pods/web-1/exec",
                "requestMetadata": {"callerIp": "203.0.113.9", "callerSuppliedUserAgent": "kubectl/v1.30.0"},
                "status": {"code": 7, "message": "forbidden"},
                "serviceName": "k8s.io"},
            "insertId": "i-1", "timestamp": "2024-05-01T12:00:00.5Z",
            "labels": {"authorization.k8s.io/decision": "forbid"}
        });
        let (event, shape) = normalize(doc, &full).unwrap();
        assert_eq!(shape, Shape::Gke);
        assert_eq!(
            event,
            json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "i-1",
                "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/prod/pods/web-1/exec",
                "verb": "create", "user": {"username": "mallory@example.com"},
                "sourceIPs": ["203.0.113.9"], "userAgent": "kubectl/v1.30.0",
                "objectRef": {"resource": "pods", "namespace": "prod", "name": "web-1",
                              "subresource": "exec", "apiVersion": "v1"},
                "responseStatus": {"code": 403, "message": "forbidden"},
                "requestReceivedTimestamp": "2024-05-01T12:00:00.5Z",
                "stageTimestamp": "2024-05-01T12:00:00.5Z",
                "annotations": {"authorization.k8s.io/decision": "forbid"}})
        );
    }

    #[test]
    fn annotation_keys_renamed_by_elastic_are_given_back() {
        assert_eq!(
            undot_annotation_key("authorization_k8s_io/decision").as_deref(),
            Some("authorization.k8s.io/decision")
        );
        assert_eq!(
            undot_annotation_key("mutation_webhook_admission_k8s_io/round_0_index_0").as_deref(),
            Some("mutation.webhook.admission.k8s.io/round_0_index_0")
        );
        assert_eq!(undot_annotation_key("authorization.k8s.io/decision"), None);
        assert_eq!(undot_annotation_key("no_prefix"), None);
    }

    #[test]
    fn broken_nested_json_is_reported() {
        let err = normalize(json!({"log": "{\"verb\": "}), &full).unwrap_err();
        assert!(
            err.message
                .starts_with("malformed JSON in `log`: EOF while parsing"),
            "{}",
            err.message
        );
        // A log line that is not JSON at all is just not an event.
        let (doc, shape) = normalize(json!({"log": "GET /healthz 200"}), &full).unwrap();
        assert_eq!(
            (doc, shape),
            (json!({"log": "GET /healthz 200"}), Shape::Other)
        );
    }

    #[test]
    fn v1beta1_timestamp_becomes_request_received() {
        let (event, shape) = normalize(
            json!({"verb": "get", "timestamp": "2018-10-25T14:09:12Z"}),
            &full,
        )
        .unwrap();
        assert_eq!(shape, Shape::Raw);
        assert_eq!(event["requestReceivedTimestamp"], "2018-10-25T14:09:12Z");
    }
}
