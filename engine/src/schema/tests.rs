use k8scop_grammar::ast::{Segment, SegmentKind, Span};

use super::audit::{LEVELS, STAGES, VERBS};
use super::kube::{PATCH_OPS, SERVICE_TYPES};
use super::suggest::{name_cost, osa_distance, osa_within};
use super::*;
use crate::kinds::{self, KindId};

/// Parses a path the way rules write it: `a.b["c d"][0][*].e`.
fn path(text: &str) -> Path {
    let mut segments = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        rest = rest.strip_prefix('.').unwrap_or(rest);
        let kind = if let Some(after) = rest.strip_prefix("[\"") {
            let end = after.find("\"]").expect("unterminated quoted segment");
            rest = &after[end + 2..];
            SegmentKind::Quoted(after[..end].to_owned())
        } else if let Some(after) = rest.strip_prefix("[*]") {
            rest = after;
            SegmentKind::Wildcard
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').expect("unterminated index");
            rest = &after[end + 1..];
            SegmentKind::Index(after[..end].parse().expect("index"))
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let name = &rest[..end];
            rest = &rest[end..];
            SegmentKind::Field(name.to_owned())
        };
        segments.push(Segment {
            kind,
            span: Span::default(),
        });
    }
    Path {
        segments,
        span: Span::default(),
    }
}

fn audit(text: &str) -> Lookup {
    lookup(KindSet::of(KindId::AUDIT), &path(text), None)
}

fn hinted(text: &str, resources: &[&str]) -> Lookup {
    lookup(KindSet::of(KindId::AUDIT), &path(text), Some(resources))
}

fn field(ty: ValueType, multi: bool) -> Lookup {
    Lookup::Field {
        ty,
        values: None,
        multi,
    }
}

fn one(ty: ValueType) -> Lookup {
    field(ty, false)
}

fn many(ty: ValueType) -> Lookup {
    field(ty, true)
}

fn unknown_at(lookup: Lookup) -> usize {
    match lookup {
        Lookup::Unknown { segment, .. } => segment,
        other => panic!("expected an unknown path, got {other:?}"),
    }
}

fn suggestion(text: &str) -> Option<String> {
    match audit(text) {
        Lookup::Unknown { suggestion, .. } => suggestion,
        other => panic!("expected `{text}` to be unknown, got {other:?}"),
    }
}

#[test]
fn test_parser_round_trips() {
    for text in [
        "a",
        "a.b",
        "annotations[\"x.y/z\"]",
        "a[0].b[*].c",
        "[\"@timestamp\"]",
    ] {
        assert_eq!(path(text).to_string(), text);
    }
}

// ---- the event --------------------------------------------------------------------------------

#[test]
fn event_fields_have_their_types() {
    use ValueType::*;
    assert_eq!(audit("auditID"), one(String));
    assert_eq!(audit("requestURI"), one(String));
    assert_eq!(audit("userAgent"), one(String));
    assert_eq!(audit("user.username"), one(String));
    assert_eq!(audit("user.uid"), one(String));
    assert_eq!(audit("impersonatedUser.username"), one(String));
    assert_eq!(audit("objectRef.resource"), one(String));
    assert_eq!(audit("objectRef.subresource"), one(String));
    assert_eq!(audit("objectRef.apiGroup"), one(String));
    assert_eq!(audit("objectRef.resourceVersion"), one(String));
    assert_eq!(audit("responseStatus.code"), one(Integer));
    assert_eq!(audit("responseStatus.status"), one(String));
    assert_eq!(
        audit("responseStatus.details.retryAfterSeconds"),
        one(Integer)
    );
    assert_eq!(audit("responseStatus.details.causes.field"), many(String));
    assert_eq!(audit("requestReceivedTimestamp"), one(Timestamp));
    assert_eq!(audit("stageTimestamp"), one(Timestamp));
    assert_eq!(audit("timestamp"), one(Timestamp));
    assert_eq!(audit("metadata.creationTimestamp"), one(Timestamp));
    assert_eq!(audit("[\"@timestamp\"]"), one(Timestamp));
    assert_eq!(audit("user"), one(Object));
    assert_eq!(audit("objectRef"), one(Object));
    // An object of some kind, or a JSON patch (an array).
    assert_eq!(audit("requestObject"), one(Any));
}

#[test]
fn paths_are_case_sensitive() {
    assert_eq!(unknown_at(audit("User.username")), 0);
    assert_eq!(unknown_at(audit("objectRef.Resource")), 1);
    assert_eq!(unknown_at(audit("requestObject.spec.hostPid")), 2);
}

#[test]
fn ecs_names_are_not_aliases() {
    assert_eq!(unknown_at(audit("user.name")), 1);
    assert_eq!(unknown_at(audit("source.ip")), 0);
}

// ---- arrays -----------------------------------------------------------------------------------

#[test]
fn arrays_are_crossed_implicitly() {
    use ValueType::*;
    assert_eq!(audit("sourceIPs"), many(String));
    assert_eq!(audit("user.groups"), many(String));
    let pods = &["pods"];
    assert_eq!(hinted("requestObject.spec.containers", pods), many(Object));
    assert_eq!(
        hinted("requestObject.spec.containers.image", pods),
        many(String)
    );
    assert_eq!(
        hinted("requestObject.spec.containers.command", pods),
        many(String)
    );
    assert_eq!(
        hinted("requestObject.spec.containers.ports.containerPort", pods),
        many(Integer)
    );
    assert_eq!(
        hinted(
            "requestObject.spec.containers.securityContext.capabilities.add",
            pods
        ),
        many(String)
    );
}

#[test]
fn wildcards_and_indexes_select_array_elements() {
    use ValueType::*;
    assert_eq!(audit("sourceIPs[0]"), one(String));
    assert_eq!(audit("sourceIPs[*]"), many(String));
    let pods = &["pods"];
    assert_eq!(
        hinted("requestObject.spec.containers[0]", pods),
        one(Object)
    );
    assert_eq!(
        hinted("requestObject.spec.containers[0].image", pods),
        one(String)
    );
    assert_eq!(
        hinted("requestObject.spec.containers[*].image", pods),
        many(String)
    );
    assert_eq!(
        hinted("requestObject.spec.containers[1].command[0]", pods),
        one(String)
    );
    assert_eq!(
        hinted("requestObject.spec.containers[0].command", pods),
        many(String)
    );
    // `[*]` on a single value is that value; an index on it gives nothing.
    assert_eq!(
        audit("verb[*]"),
        Lookup::Field {
            ty: String,
            values: Some(VERBS),
            multi: false
        }
    );
    assert_eq!(
        audit("verb[0]"),
        Lookup::Unknown {
            segment: 1,
            suggestion: Some("verb".into())
        }
    );
    // A quoted segment is a key like a field.
    assert_eq!(audit("[\"objectRef\"][\"namespace\"]"), one(String));
}

#[test]
fn lists_and_json_patches_are_described() {
    use ValueType::*;
    let pods = &["pods"];
    assert_eq!(hinted("responseObject.items", pods), many(Object));
    assert_eq!(
        hinted("responseObject.items.spec.containers.image", pods),
        many(String)
    );
    assert_eq!(
        hinted("responseObject.items[0].metadata.name", pods),
        one(String)
    );
    assert_eq!(
        hinted("responseObject.metadata.continue", pods),
        one(String)
    );
    assert_eq!(
        hinted("requestObject.op", pods),
        Lookup::Field {
            ty: String,
            values: Some(PATCH_OPS),
            multi: true
        }
    );
    assert_eq!(hinted("requestObject[0].path", pods), one(String));
    assert_eq!(hinted("requestObject.value", pods), many(Any));
    assert_eq!(
        hinted("requestObject.value.spec.hostPID", pods),
        Lookup::FreeForm
    );
}

// ---- kinds ------------------------------------------------------------------------------------

#[test]
fn pod_fields() {
    use ValueType::*;
    let pods = &["pods"];
    let spec = |rest: &str| hinted(&format!("requestObject.spec.{rest}"), pods);
    assert_eq!(spec("hostPID"), one(Bool));
    assert_eq!(spec("hostNetwork"), one(Bool));
    assert_eq!(spec("hostIPC"), one(Bool));
    assert_eq!(spec("hostUsers"), one(Bool));
    assert_eq!(spec("serviceAccountName"), one(String));
    assert_eq!(spec("automountServiceAccountToken"), one(Bool));
    assert_eq!(spec("nodeName"), one(String));
    assert_eq!(spec("priorityClassName"), one(String));
    assert_eq!(spec("shareProcessNamespace"), one(Bool));
    assert_eq!(spec("runtimeClassName"), one(String));
    assert_eq!(spec("securityContext.runAsUser"), one(Integer));
    assert_eq!(spec("securityContext.supplementalGroups"), many(Integer));
    assert_eq!(spec("tolerations.effect"), many(String));
    assert_eq!(spec("affinity"), one(Any));
    assert_eq!(spec("volumes.hostPath.path"), many(String));
    assert_eq!(spec("volumes.secret.secretName"), many(String));
    assert_eq!(
        spec("volumes.projected.sources.serviceAccountToken.audience"),
        many(String)
    );
    assert_eq!(spec("containers.securityContext.privileged"), many(Bool));
    assert_eq!(
        spec("containers.securityContext.allowPrivilegeEscalation"),
        many(Bool)
    );
    assert_eq!(
        spec("containers.securityContext.seccompProfile.localhostProfile"),
        many(String)
    );
    assert_eq!(
        spec("containers.env.valueFrom.secretKeyRef.name"),
        many(String)
    );
    assert_eq!(spec("containers.envFrom.configMapRef.name"), many(String));
    assert_eq!(spec("containers.volumeMounts.mountPath"), many(String));
    assert_eq!(spec("containers.volumeDevices.devicePath"), many(String));
    assert_eq!(spec("containers.stdin"), many(Bool));
    assert_eq!(spec("containers.livenessProbe"), many(Any));
    assert_eq!(spec("initContainers.image"), many(String));
    assert_eq!(
        spec("ephemeralContainers.targetContainerName"),
        many(String)
    );
    assert_eq!(
        hinted("requestObject.metadata.ownerReferences.kind", pods),
        many(String)
    );
    assert_eq!(
        hinted("requestObject.metadata.creationTimestamp", pods),
        one(Timestamp)
    );
    assert_eq!(hinted("requestObject.status", pods), one(Any));
    // Only ephemeral containers name a target.
    assert_eq!(unknown_at(spec("containers.targetContainerName")), 3);
}

#[test]
fn workload_fields() {
    use ValueType::*;
    for resource in [
        "deployments",
        "daemonsets",
        "statefulsets",
        "replicasets",
        "jobs",
    ] {
        let hint = &[resource];
        assert_eq!(
            hinted("requestObject.spec.template.spec.containers.image", hint),
            many(String),
            "{resource}"
        );
        assert_eq!(
            hinted("requestObject.spec.template.metadata.labels", hint),
            one(Object),
            "{resource}"
        );
        assert_eq!(
            hinted("requestObject.spec.selector.matchLabels", hint),
            one(Object),
            "{resource}"
        );
    }
    assert_eq!(
        hinted("requestObject.spec.replicas", &["deployments"]),
        one(Integer)
    );
    assert_eq!(
        hinted("requestObject.spec.replicas", &["statefulsets"]),
        one(Integer)
    );
    assert_eq!(
        unknown_at(hinted("requestObject.spec.replicas", &["daemonsets"])),
        2
    );
    let cronjobs = &["cronjobs"];
    assert_eq!(hinted("requestObject.spec.schedule", cronjobs), one(String));
    assert_eq!(
        hinted(
            "requestObject.spec.jobTemplate.spec.template.spec.hostNetwork",
            cronjobs
        ),
        one(Bool)
    );
    assert_eq!(
        hinted(
            "requestObject.spec.jobTemplate.spec.template.spec.containers.image",
            cronjobs
        ),
        many(String)
    );
    // The scale subresource of a deployment.
    // (A Deployment's own status is not described, so the type is open.)
    assert_eq!(
        hinted("requestObject.status.selector", &["deployments"]),
        one(Any)
    );
    assert_eq!(
        hinted("requestObject.spec.replicas", &["replicationcontrollers"]),
        one(Integer)
    );
}

#[test]
fn rbac_fields() {
    use ValueType::*;
    for resource in ["roles", "clusterroles"] {
        let hint = &[resource];
        for field in [
            "verbs",
            "apiGroups",
            "resources",
            "resourceNames",
            "nonResourceURLs",
        ] {
            assert_eq!(
                hinted(&format!("requestObject.rules.{field}"), hint),
                many(String)
            );
        }
    }
    assert_eq!(
        hinted(
            "requestObject.aggregationRule.clusterRoleSelectors.matchLabels",
            &["clusterroles"]
        ),
        many(Object)
    );
    assert_eq!(
        unknown_at(hinted("requestObject.aggregationRule", &["roles"])),
        1
    );
    for resource in ["rolebindings", "clusterrolebindings"] {
        let hint = &[resource];
        assert_eq!(hinted("requestObject.roleRef.name", hint), one(String));
        assert_eq!(hinted("requestObject.roleRef.apiGroup", hint), one(String));
        assert_eq!(hinted("requestObject.subjects.name", hint), many(String));
        assert_eq!(
            hinted("requestObject.subjects.namespace", hint),
            many(String)
        );
        assert_eq!(
            hinted("requestObject.subjects.kind", hint),
            Lookup::Field {
                ty: String,
                values: Some(&["User", "Group", "ServiceAccount"]),
                multi: true
            }
        );
    }
    assert_eq!(
        hinted("responseObject.rules.verbs", &["clusterroles"]),
        many(String)
    );
}

#[test]
fn other_kinds() {
    use ValueType::*;
    assert_eq!(hinted("requestObject.data", &["configmaps"]), one(Object));
    assert_eq!(
        hinted("requestObject.binaryData", &["configmaps"]),
        one(Object)
    );
    assert_eq!(
        hinted("requestObject.immutable", &["configmaps"]),
        one(Bool)
    );
    assert_eq!(hinted("requestObject.type", &["secrets"]), one(String));
    assert_eq!(
        hinted("requestObject.stringData", &["secrets"]),
        one(Object)
    );
    let services = &["services"];
    assert_eq!(
        hinted("requestObject.spec.ports.nodePort", services),
        many(Integer)
    );
    assert_eq!(
        hinted("requestObject.spec.ports.targetPort", services),
        many(Any)
    );
    assert_eq!(
        hinted("requestObject.spec.externalIPs", services),
        many(String)
    );
    assert_eq!(
        hinted("requestObject.spec.clusterIPs", services),
        many(String)
    );
    assert_eq!(
        hinted("requestObject.spec.externalName", services),
        one(String)
    );
    let accounts = &["serviceaccounts"];
    assert_eq!(hinted("requestObject.secrets.name", accounts), many(String));
    assert_eq!(
        hinted("requestObject.automountServiceAccountToken", accounts),
        one(Bool)
    );
    // The token subresource.
    assert_eq!(
        hinted("requestObject.spec.audiences", accounts),
        many(String)
    );
    assert_eq!(
        hinted("responseObject.status.expirationTimestamp", accounts),
        one(Timestamp)
    );
    assert_eq!(
        hinted("requestObject.spec.finalizers", &["namespaces"]),
        many(String)
    );
    assert_eq!(
        hinted(
            "requestObject.spec.resourceAttributes.verb",
            &["subjectaccessreviews"]
        ),
        one(String)
    );
    assert_eq!(
        hinted(
            "requestObject.spec.resourceAttributes.resource",
            &["selfsubjectaccessreviews"]
        ),
        one(String)
    );
    assert_eq!(
        hinted(
            "responseObject.status.resourceRules.verbs",
            &["selfsubjectrulesreviews"]
        ),
        many(String)
    );
    assert_eq!(
        hinted("requestObject.spec.usages", &["certificatesigningrequests"]),
        many(String)
    );
    assert_eq!(
        hinted(
            "requestObject.spec.request",
            &["certificatesigningrequests"]
        ),
        one(String)
    );
    let mutating = &["mutatingwebhookconfigurations"];
    assert_eq!(
        hinted("requestObject.webhooks.clientConfig.url", mutating),
        many(String)
    );
    assert_eq!(
        hinted("requestObject.webhooks.clientConfig.service.port", mutating),
        many(Integer)
    );
    assert_eq!(
        hinted("requestObject.webhooks.rules.operations", mutating),
        many(String)
    );
    assert_eq!(
        hinted("requestObject.webhooks.reinvocationPolicy", mutating),
        many(String)
    );
    let validating = &["validatingwebhookconfigurations"];
    assert_eq!(
        hinted("requestObject.webhooks.failurePolicy", validating),
        many(String)
    );
    assert_eq!(
        unknown_at(hinted(
            "requestObject.webhooks.reinvocationPolicy",
            validating
        )),
        2
    );
    // Bodies any request may carry.
    assert_eq!(
        hinted("requestObject.gracePeriodSeconds", &["secrets"]),
        one(Integer)
    );
    assert_eq!(hinted("responseObject.code", &["secrets"]), one(Integer));
    assert_eq!(hinted("requestObject.command", &["pods"]), many(String));
    assert_eq!(hinted("requestObject.container", &["pods"]), one(String));
    // Every kind has kind, apiVersion and metadata.
    for kind in kube::KINDS
        .iter()
        .filter(|k| matches!(k.resources, kube::Resources::Primary(_)))
    {
        let kube::Resources::Primary(resources) = kind.resources else {
            unreachable!()
        };
        for field in [
            "kind",
            "apiVersion",
            "metadata.name",
            "metadata.namespace",
            "metadata.uid",
        ] {
            assert_eq!(
                hinted(&format!("requestObject.{field}"), resources),
                one(String),
                "{} {field}",
                kind.name
            );
        }
    }
}

// ---- free-form parts --------------------------------------------------------------------------

#[test]
fn free_form_parts() {
    use ValueType::*;
    assert_eq!(audit("annotations"), one(Object));
    assert_eq!(
        audit("annotations[\"authorization.k8s.io/decision\"]"),
        Lookup::FreeForm
    );
    assert_eq!(audit("annotations.anything.at.all"), Lookup::FreeForm);
    assert_eq!(audit("user.extra"), one(Object));
    assert_eq!(
        audit("user.extra[\"authentication.kubernetes.io/pod-name\"]"),
        Lookup::FreeForm
    );
    assert_eq!(audit("impersonatedUser.extra.oid"), Lookup::FreeForm);
    assert_eq!(audit("requestObject.metadata.labels.app"), Lookup::FreeForm);
    assert_eq!(
        audit("requestObject.metadata.annotations[\"x/y\"]"),
        Lookup::FreeForm
    );
    assert_eq!(
        hinted("requestObject.data[\"config.yaml\"]", &["configmaps"]),
        Lookup::FreeForm
    );
    assert_eq!(
        hinted("requestObject.data.password", &["secrets"]),
        Lookup::FreeForm
    );
    assert_eq!(
        hinted("requestObject.spec.nodeSelector.zone", &["pods"]),
        Lookup::FreeForm
    );
    assert_eq!(
        hinted(
            "requestObject.spec.containers.resources.limits.cpu",
            &["pods"]
        ),
        Lookup::FreeForm
    );
    assert_eq!(
        hinted(
            "requestObject.spec.affinity.nodeAffinity.requiredDuringScheduling",
            &["pods"]
        ),
        Lookup::FreeForm
    );
    assert_eq!(
        hinted("requestObject.status.phase", &["pods"]),
        Lookup::FreeForm
    );
    assert_eq!(
        hinted("requestObject.spec.selector.app", &["services"]),
        Lookup::FreeForm
    );
    // Free-form values have no index or key checks.
    assert_eq!(audit("annotations[0]"), Lookup::FreeForm);
}

#[test]
fn free_form_does_not_hide_errors_before_it() {
    assert_eq!(unknown_at(audit("annotation[\"x\"]")), 0);
    assert_eq!(unknown_at(audit("user.extras.foo")), 1);
}

// ---- resource hints ---------------------------------------------------------------------------

#[test]
fn resource_hints_narrow_the_kinds() {
    use ValueType::*;
    // Valid for a CronJob, not for a pod.
    assert_eq!(audit("requestObject.spec.schedule"), one(String));
    assert_eq!(
        unknown_at(hinted("requestObject.spec.schedule", &["pods"])),
        2
    );
    assert_eq!(
        hinted("requestObject.spec.schedule", &["pods", "cronjobs"]),
        one(String)
    );
    // Valid for a pod only.
    assert_eq!(hinted("requestObject.spec.hostPID", &["pods"]), one(Bool));
    assert_eq!(
        unknown_at(hinted("requestObject.spec.hostPID", &["deployments"])),
        2
    );
    assert_eq!(unknown_at(hinted("requestObject.spec", &["configmaps"])), 1);
}

#[test]
fn undescribed_resources_are_free_form() {
    use ValueType::*;
    for hint in [&["widgets"][..], &["pods", "widgets"], &["nodes"]] {
        assert_eq!(
            hinted("requestObject.spec.anything", hint),
            Lookup::FreeForm,
            "{hint:?}"
        );
        assert_eq!(
            hinted("responseObject.status.x", hint),
            Lookup::FreeForm,
            "{hint:?}"
        );
        // The object itself and the event around it are still checked.
        assert_eq!(hinted("requestObject", hint), one(Any));
        assert_eq!(hinted("objectRef.name", hint), one(String));
        assert_eq!(unknown_at(hinted("objectRef.nam", hint)), 1);
    }
}

#[test]
fn without_a_hint_objects_are_the_union_of_all_kinds() {
    use ValueType::*;
    assert_eq!(audit("requestObject.spec.containers.image"), many(String));
    assert_eq!(
        audit("requestObject.spec.template.spec.containers.image"),
        many(String)
    );
    assert_eq!(audit("requestObject.rules.verbs"), many(String));
    assert_eq!(
        audit("requestObject.roleRef.kind").clone(),
        Lookup::Field {
            ty: String,
            values: Some(&["Role", "ClusterRole"]),
            multi: false,
        }
    );
    assert_eq!(
        audit("responseObject.items.spec.containers.image"),
        many(String)
    );
    // A label selector in a Deployment, a plain map in a Service: an object either way.
    assert_eq!(audit("requestObject.spec.selector"), one(Object));
    // A map in a Deployment's selector, any value under a Service's selector.
    assert_eq!(audit("requestObject.spec.selector.matchLabels"), one(Any));
    assert_eq!(audit("requestObject.spec.selector.app"), Lookup::FreeForm);
    assert_eq!(unknown_at(audit("requestObject.spec.noSuchField")), 2);
    // An empty hint is no hint.
    assert_eq!(hinted("requestObject.spec.schedule", &[]), one(String));
}

// ---- enum values ------------------------------------------------------------------------------

#[test]
fn closed_value_sets() {
    use ValueType::String;
    assert_eq!(
        audit("stage"),
        Lookup::Field {
            ty: String,
            values: Some(STAGES),
            multi: false
        }
    );
    assert_eq!(
        audit("level"),
        Lookup::Field {
            ty: String,
            values: Some(LEVELS),
            multi: false
        }
    );
    assert_eq!(
        audit("verb"),
        Lookup::Field {
            ty: String,
            values: Some(VERBS),
            multi: false
        }
    );
    assert_eq!(
        hinted("requestObject.spec.type", &["services"]),
        Lookup::Field {
            ty: String,
            values: Some(SERVICE_TYPES),
            multi: false
        }
    );
    // No other described kind has a `spec.type`.
    assert_eq!(
        audit("requestObject.spec.type"),
        Lookup::Field {
            ty: String,
            values: Some(SERVICE_TYPES),
            multi: false
        }
    );
    assert_eq!(audit("responseStatus.status"), field(String, false));
    assert_eq!(
        hinted("requestObject.type", &["secrets"]),
        field(String, false)
    );
}

#[test]
fn verbs_are_those_the_api_server_emits() {
    for verb in [
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
        "proxy",
    ] {
        assert!(VERBS.contains(&verb), "{verb}");
    }
    for method in ["post", "put", "head", "options"] {
        assert!(VERBS.contains(&method), "{method}");
    }
    // Authorization verbs and subresources are never request verbs.
    for not_a_verb in [
        "exec",
        "impersonate",
        "bind",
        "escalate",
        "use",
        "GET",
        "Create",
    ] {
        assert!(!VERBS.contains(&not_a_verb), "{not_a_verb}");
    }
    assert_eq!(
        STAGES,
        [
            "RequestReceived",
            "ResponseStarted",
            "ResponseComplete",
            "Panic"
        ]
    );
    assert_eq!(LEVELS, ["None", "Metadata", "Request", "RequestResponse"]);
    assert_eq!(
        SERVICE_TYPES,
        ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]
    );
}

// ---- suggestions ------------------------------------------------------------------------------

#[test]
fn suggestions() {
    let cases = [
        ("user.name", "user.username"),
        ("namespace", "objectRef.namespace"),
        ("objectRef.resources", "objectRef.resource"),
        (
            "requestObject.spec.container.image",
            "requestObject.spec.containers.image",
        ),
        ("verbs", "verb"),
        ("requestObject.spec.hostPid", "requestObject.spec.hostPID"),
        ("Verb", "verb"),
        ("objectref.name", "objectRef.name"),
        ("sourceIP", "sourceIPs"),
        ("useragent", "userAgent"),
        ("requestRecievedTimestamp", "requestReceivedTimestamp"),
        ("responseStatus.cod", "responseStatus.code"),
        ("objectRef.username", "user.username"),
        (
            "spec.containers.image",
            "requestObject.spec.containers.image",
        ),
        (
            "privileged",
            "requestObject.spec.containers.securityContext.privileged",
        ),
        ("[\"@timestmp\"]", "[\"@timestamp\"]"),
        // The valid prefix is kept as written.
        (
            "requestObject.spec.containers[0].imgae",
            "requestObject.spec.containers[0].image",
        ),
        (
            "requestObject.spec.containers[*].securityContext.privilegd",
            "requestObject.spec.containers[*].securityContext.privileged",
        ),
        // Two typos, and a missing segment.
        (
            "requestObject.spce.contaners.image",
            "requestObject.spec.containers.image",
        ),
        (
            "requestObject.spec.template.containers.image",
            "requestObject.spec.template.spec.containers.image",
        ),
        ("user.username[0]", "user.username"),
    ];
    let mut failures = Vec::new();
    for (written, expected) in cases {
        let got = suggestion(written);
        if got.as_deref() != Some(expected) {
            failures.push(format!("`{written}`: expected `{expected}`, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_suggestion_when_nothing_is_close() {
    assert_eq!(suggestion("foo"), None);
    assert_eq!(suggestion("objectRef.xyzzy"), None);
    assert_eq!(suggestion("requestObject.spec.qqqqqqqq"), None);
    // Nothing under a secret has an image.
    match hinted("requestObject.spec.containers.image", &["secrets"]) {
        Lookup::Unknown {
            segment: 1,
            suggestion: None,
        } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn suggestions_follow_the_resource_hint() {
    match hinted("requestObject.spec.schedul", &["cronjobs"]) {
        Lookup::Unknown {
            segment: 2,
            suggestion,
        } => {
            assert_eq!(suggestion.as_deref(), Some("requestObject.spec.schedule"))
        }
        other => panic!("{other:?}"),
    }
    match hinted("requestObject.rule.verbs", &["clusterroles"]) {
        Lookup::Unknown {
            segment: 1,
            suggestion,
        } => {
            assert_eq!(suggestion.as_deref(), Some("requestObject.rules.verbs"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn name_distance() {
    assert_eq!(osa_distance("", ""), 0);
    assert_eq!(osa_distance("abc", ""), 3);
    assert_eq!(osa_distance("verb", "verbs"), 1);
    assert_eq!(osa_distance("imgae", "image"), 1);
    assert_eq!(osa_distance("kitten", "sitting"), 3);
    assert_eq!(name_cost("hostPid", "hostPID"), Some(1));
    assert_eq!(name_cost("name", "username"), Some(3));
    assert_eq!(name_cost("username", "name"), None);
    assert_eq!(name_cost("uid", "verb"), None);
    assert_eq!(name_cost("ip", "op"), None);
    assert_eq!(name_cost("ip", "IP"), Some(1));
}

#[test]
fn banded_distance_agrees_with_the_full_one() {
    let words = [
        "",
        "a",
        "ab",
        "ba",
        "abc",
        "kitten",
        "sitting",
        "verb",
        "verbs",
        "hostPID",
        "hostpid",
        "containers",
        "initContainers",
        "requestObject.spec.serviceAccount.name",
        "requestObject.spec.serviceAccountName",
        "ünïcödé",
        "unicode",
    ];
    for a in words {
        for b in words {
            let full = osa_distance(a, b);
            for max in 0..6 {
                let expected = (full <= max).then_some(full);
                assert_eq!(osa_within(a, b, max), expected, "{a:?} {b:?} within {max}");
            }
        }
    }
    assert_eq!(osa_distance("ab", "ba"), 1);
    assert_eq!(osa_distance("ünïcödé", "unicode"), 4);
}

// ---- other sources ----------------------------------------------------------------------------

#[test]
fn any_source_is_free_form() {
    let any = kinds::lookup("any").unwrap();
    assert_eq!(lookup(any, &path("ProcessName"), None), Lookup::FreeForm);
    assert_eq!(lookup(any, &path("verb"), None), Lookup::FreeForm);
}

// ---- the schema against real data -------------------------------------------------------------

use crate::decode::tests::shared_data;

/// Every path to a value in `value`, as segments (array elements crossed implicitly).
fn leaf_paths(value: &serde_json::Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                prefix.push(key.clone());
                leaf_paths(value, prefix, out);
                prefix.pop();
            }
        }
        serde_json::Value::Array(items) if !items.is_empty() => {
            for item in items {
                leaf_paths(item, prefix, out);
            }
        }
        _ => out.push(prefix.clone()),
    }
}

fn keys_path(keys: &[String]) -> Path {
    Path {
        segments: keys
            .iter()
            .map(|k| Segment {
                kind: SegmentKind::Quoted(k.clone()),
                span: Span::default(),
            })
            .collect(),
        span: Span::default(),
    }
}

/// Every field of the real audit events in the shared data is in the schema: the schema warns on
/// nothing a real event contains.
#[test]
fn real_audit_events_use_only_schema_fields() {
    let Some(dir) = shared_data() else { return };
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for sub in ["falco-k8saudit/traces", "audit-samples/audit2rbac"] {
        let entries = std::fs::read_dir(dir.join(sub))
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.join(sub).display()));
        files.extend(entries.flatten().map(|e| e.path()));
    }
    files.push(dir.join("audit-samples/elastic-integrations/test-audit.log"));
    let mut events = 0;
    let mut unknown = std::collections::BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        for line in text.lines() {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if event.get("verb").and_then(|v| v.as_str()).is_none() {
                continue;
            }
            events += 1;
            let resource = event
                .pointer("/objectRef/resource")
                .and_then(|v| v.as_str());
            let mut paths = Vec::new();
            leaf_paths(&event, &mut Vec::new(), &mut paths);
            for keys in paths {
                let path = keys_path(&keys);
                for hint in [None, resource.as_ref().map(std::slice::from_ref)] {
                    if let Lookup::Unknown { .. } = lookup(KindSet::of(KindId::AUDIT), &path, hint)
                    {
                        unknown.insert(format!("{} ({:?})", keys.join("."), hint));
                    }
                }
            }
        }
    }
    assert!(events > 50, "only {events} events read");
    assert!(
        unknown.is_empty(),
        "unknown paths in real events:\n{}",
        unknown.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// The fields Elastic's and Sigma's Kubernetes audit rules use are in the schema, except
/// Elastic's `requestObject.spec.container.image`, which is a mistake the suggestion corrects.
#[test]
fn third_party_rule_fields_are_known() {
    let Some(dir) = shared_data() else { return };
    let entries = std::fs::read_dir(dir.join("elastic-k8s-rules"))
        .unwrap_or_else(|e| panic!("cannot read elastic-k8s-rules in {}: {e}", dir.display()));
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in entries.flatten() {
        let text = std::fs::read_to_string(entry.path())
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", entry.path().display()));
        for found in text.split("kubernetes.audit.").skip(1) {
            let end = found
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                .unwrap_or(found.len());
            let written = found[..end].trim_end_matches('.');
            if written.is_empty() {
                continue;
            }
            checked += 1;
            match audit(written) {
                Lookup::Unknown { suggestion, .. }
                    if written == "requestObject.spec.container.image" =>
                {
                    assert_eq!(
                        suggestion.as_deref(),
                        Some("requestObject.spec.containers.image")
                    );
                }
                Lookup::Unknown { suggestion, .. } => {
                    failures.push(format!("{written} (did you mean {suggestion:?})"))
                }
                _ => {}
            }
        }
    }
    assert!(checked > 100, "only {checked} fields checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_described_resource_resolves() {
    for kind in kube::KINDS {
        let resources = match kind.resources {
            kube::Resources::Primary(r) | kube::Resources::Sub(r) => r,
            kube::Resources::Every => continue,
        };
        for resource in resources {
            let set = kube::kinds_for(&[resource]).expect(resource);
            assert!(
                kube::members(set).any(|k| k.name == kind.name),
                "{resource} -> {}",
                kind.name
            );
        }
    }
    assert_eq!(kube::kinds_for(&["widgets"]), None);
}

// ---- the other kinds -----------------------------------------------------------------------------

fn kind(name: &str) -> KindSet {
    kinds::lookup(name).unwrap()
}

fn suggestion_for(kind_name: &str, text: &str) -> Option<String> {
    match lookup(kind(kind_name), &path(text), None) {
        Lookup::Unknown { suggestion, .. } => suggestion,
        other => panic!("`{text}` of {kind_name} is not unknown: {other:?}"),
    }
}

#[test]
fn other_kinds_have_their_own_schema_and_suggestions() {
    assert_eq!(
        lookup(kind("kubearmor"), &path("Severity"), None),
        Lookup::Field {
            ty: ValueType::String,
            values: None,
            multi: false
        }
    );
    assert_eq!(
        suggestion_for("kubearmor", "Severty").as_deref(),
        Some("Severity")
    );
    assert_eq!(
        suggestion_for("kubearmor", "Owner.Nmae").as_deref(),
        Some("Owner.Name")
    );
    // Not an audit path: each kind suggests from its own schema.
    assert_eq!(suggestion_for("kubearmor", "verb"), None);
    assert!(matches!(
        lookup(kind("falco"), &path("priority"), None),
        Lookup::Field { values: Some(v), .. } if v.contains(&"Informational")
    ));
    assert_eq!(
        suggestion_for("falco", "priorty").as_deref(),
        Some("priority")
    );
    assert_eq!(
        lookup(
            kind("falco"),
            &path("output_fields[\"proc.cmdline\"]"),
            None
        ),
        Lookup::FreeForm
    );
    assert!(matches!(
        lookup(kind("sysdig"), &path("[\"evt.rawtime\"]"), None),
        Lookup::Field {
            ty: ValueType::Integer,
            ..
        }
    ));
    // A sysdig field written as a dotted path is found under its quoted name.
    assert_eq!(
        suggestion_for("sysdig", "evt.type").as_deref(),
        Some("[\"evt.type\"]")
    );
    assert_eq!(
        suggestion_for("sysdig", "[\"proc.nmae\"]").as_deref(),
        Some("[\"proc.name\"]")
    );
}

/// The real KubeArmor, Falco and sysdig events of the shared data are recognised as their kind,
/// and every field they have is in that kind's schema, with the schema's type.
#[test]
fn real_events_of_other_kinds_match_their_schema() {
    use crate::doc::Doc;
    use serde_json::Value;
    let Some(dir) = shared_data() else { return };
    let mut files: Vec<(std::path::PathBuf, &str)> = vec![
        (
            dir.join("kubearmor/kubearmor_docs_alerts_logs.jsonl"),
            "kubearmor",
        ),
        (
            dir.join("falco-alerts/single_rule_with_cat_write.json"),
            "falco",
        ),
    ];
    let sysdig = std::fs::read_dir(dir.join("sysdig"))
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.join("sysdig").display()));
    for entry in sysdig.flatten() {
        if entry.path().extension().is_some_and(|e| e == "jsonl") {
            files.push((entry.path(), "sysdig"));
        }
    }
    let mut events = std::collections::BTreeMap::new();
    let mut problems = std::collections::BTreeSet::new();
    for (file, kind_name) in &files {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let event: Value = serde_json::from_str(line).expect("the samples are JSON");
            let doc = Doc::from_value(&event);
            let found = kinds::recognise(doc.root()).map(KindId::name);
            assert_eq!(found, Some(*kind_name), "{}: {line}", file.display());
            *events.entry(*kind_name).or_insert(0) += 1;
            let mut paths = Vec::new();
            leaf_paths(&event, &mut Vec::new(), &mut paths);
            for keys in paths {
                let value = keys
                    .iter()
                    .try_fold(&event, |v, k| v.get(k))
                    .unwrap_or(&Value::Null);
                match lookup(kind(kind_name), &keys_path(&keys), None) {
                    Lookup::Unknown { .. } => {
                        problems.insert(format!("{kind_name}: unknown {}", keys.join(".")));
                    }
                    Lookup::Field { ty, values, .. } => {
                        let items = match value {
                            Value::Array(items) => items.iter().collect(),
                            value => vec![value],
                        };
                        let fits = items.into_iter().all(|value| match (ty, value) {
                            (_, Value::Null) | (ValueType::Any, _) => true,
                            (ValueType::String | ValueType::Timestamp, Value::String(s)) => {
                                values.is_none_or(|v| v.contains(&s.as_str()))
                            }
                            (ValueType::Integer, Value::Number(n)) => n.is_i64(),
                            (ValueType::Number, Value::Number(_)) => true,
                            (ValueType::Bool, Value::Bool(_)) => true,
                            (ValueType::Object, Value::Object(_)) => true,
                            _ => false,
                        });
                        if !fits {
                            problems.insert(format!(
                                "{kind_name}: {} is {value} in {}, the schema says {}",
                                keys.join("."),
                                file.display(),
                                ty.as_str()
                            ));
                        }
                    }
                    Lookup::FreeForm => {}
                }
            }
        }
    }
    assert_eq!(events.get("kubearmor"), Some(&43));
    assert_eq!(events.get("falco"), Some(&8));
    assert_eq!(events.get("sysdig"), Some(&633));
    assert!(
        problems.is_empty(),
        "the samples disagree with the schemas:\n{}",
        problems.into_iter().collect::<Vec<_>>().join("\n")
    );
}
