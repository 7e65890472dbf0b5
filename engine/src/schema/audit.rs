//! The Kubernetes audit event (`audit.k8s.io/v1` Event, with the fields of the older `v1beta1`
//! and the shipper's `@timestamp`).

use super::kube::{OBJECT_META, STATUS_FIELDS};
use super::ty::{Ty, MAP, S, STRS, T};

/// `Event.stage`.
pub(crate) const STAGES: &[&str] = &[
    "RequestReceived",
    "ResponseStarted",
    "ResponseComplete",
    "Panic",
];

/// `Event.level`.
pub(crate) const LEVELS: &[&str] = &["None", "Metadata", "Request", "RequestResponse"];

/// `Event.verb`, as the API server's `RequestInfoFactory` sets it (k8s.io/apiserver
/// `pkg/endpoints/request/requestinfo.go`):
/// - resource requests: the HTTP method mapped to `create`, `get`, `update`, `patch` and `delete`,
///   then `get` without a name becomes `list` or `watch`, and `delete` without a name
///   `deletecollection`; the path prefixes `/watch/` and `/proxy/` give `watch` and `proxy`
///   (`redirect` in old releases); a method outside those five gives the empty string;
/// - non-resource requests (`/healthz`, `/version`, `/apis`): the lowercase HTTP method.
///
/// Go's HTTP server would pass any method token through to a non-resource request, so the set is
/// closed only up to the HTTP methods outside RFC 9110 and RFC 5789, which no client sends to an
/// API server.
pub(crate) const VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "proxy",
    "redirect",
    "post",
    "put",
    "head",
    "options",
    "connect",
    "trace",
    // A resource request with a method other than the five above (say `OPTIONS`).
    "",
];

const USER_INFO: Ty = Ty::Object(&[
    ("username", S),
    ("uid", S),
    ("groups", STRS),
    ("extra", MAP),
]);

const OBJECT_REF: Ty = Ty::Object(&[
    ("resource", S),
    ("namespace", S),
    ("name", S),
    ("uid", S),
    ("apiGroup", S),
    ("apiVersion", S),
    ("resourceVersion", S),
    ("subresource", S),
]);

/// The audit event. Order matters only for suggestions: on a tie the earlier field wins, so the
/// fields a rule most often means come first (`objectRef.namespace` before the legacy
/// `metadata.namespace`).
pub(crate) const EVENT: Ty = Ty::Object(&[
    ("kind", S),
    ("apiVersion", S),
    ("level", Ty::Enum(LEVELS)),
    ("auditID", S),
    ("stage", Ty::Enum(STAGES)),
    ("requestURI", S),
    ("verb", Ty::Enum(VERBS)),
    ("user", USER_INFO),
    ("impersonatedUser", USER_INFO),
    ("sourceIPs", STRS),
    ("userAgent", S),
    ("objectRef", OBJECT_REF),
    ("responseStatus", Ty::Object(STATUS_FIELDS)),
    ("requestObject", Ty::KubeObject),
    ("responseObject", Ty::KubeObject),
    ("requestReceivedTimestamp", T),
    ("stageTimestamp", T),
    ("annotations", MAP),
    // audit.k8s.io/v1beta1 (removed in 1.24): the event's own time and ObjectMeta.
    ("timestamp", T),
    ("metadata", OBJECT_META),
    // Added by log shippers (Fluent Bit, Logstash, Elastic Agent).
    ("@timestamp", T),
]);
