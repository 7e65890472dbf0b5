//! The Kubernetes kinds that `requestObject` and `responseObject` can hold, from the API types of
//! `k8s.io/api` and `k8s.io/apimachinery` (field names and JSON types as the API defines them).
//!
//! Only what rules are likely to look at is described in depth; a part described as [`ANY`] (a
//! probe, affinity, most `status` objects) is defined but free-form below. Closed value sets are
//! given only where the API server rejects every other value and the set has been stable for
//! years: a false "never true" warning is worse than none.

use super::ty::{Field, Ty, ANY, B, I, INLINE, INTS, MAP, S, STRS, T};

// ---- closed value sets ------------------------------------------------------------------------

pub(crate) const SERVICE_TYPES: &[&str] =
    &["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
/// RFC 6902 operations.
pub(crate) const PATCH_OPS: &[&str] = &["add", "remove", "replace", "move", "copy", "test"];
const PULL_POLICIES: &[&str] = &["Always", "Never", "IfNotPresent"];
const POD_RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];
const PROFILE_TYPES: &[&str] = &["RuntimeDefault", "Unconfined", "Localhost"];
/// `HostPathType`; the empty string is the default (no check).
const HOST_PATH_TYPES: &[&str] = &[
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
];
const ROLE_REF_KINDS: &[&str] = &["Role", "ClusterRole"];
const SUBJECT_KINDS: &[&str] = &["User", "Group", "ServiceAccount"];
const PROPAGATION_POLICIES: &[&str] = &["Orphan", "Background", "Foreground"];

// ---- apimachinery -----------------------------------------------------------------------------

const OWNER_REFERENCE: Ty = Ty::Object(&[
    ("apiVersion", S),
    ("kind", S),
    ("name", S),
    ("uid", S),
    ("controller", B),
    ("blockOwnerDeletion", B),
]);

const MANAGED_FIELDS_ENTRY: Ty = Ty::Object(&[
    ("manager", S),
    ("operation", S),
    ("apiVersion", S),
    ("time", T),
    ("fieldsType", S),
    ("fieldsV1", ANY),
    ("subresource", S),
]);

pub(crate) const OBJECT_META: Ty = Ty::Object(&[
    ("name", S),
    ("generateName", S),
    ("namespace", S),
    ("selfLink", S),
    ("uid", S),
    ("resourceVersion", S),
    ("generation", I),
    ("creationTimestamp", T),
    ("deletionTimestamp", T),
    ("deletionGracePeriodSeconds", I),
    ("labels", MAP),
    ("annotations", MAP),
    ("ownerReferences", Ty::Array(&OWNER_REFERENCE)),
    ("finalizers", STRS),
    ("managedFields", Ty::Array(&MANAGED_FIELDS_ENTRY)),
    // Removed from the API in 1.24 but present in older logs.
    ("clusterName", S),
]);

pub(crate) const LIST_META: Ty = Ty::Object(&[
    ("selfLink", S),
    ("resourceVersion", S),
    ("continue", S),
    ("remainingItemCount", I),
]);

/// `kind`, `apiVersion` and `metadata`, which every kind has.
const KIND_COMMON: Ty = Ty::Object(&[("kind", S), ("apiVersion", S), ("metadata", OBJECT_META)]);

const LABEL_SELECTOR: Ty = Ty::Object(&[
    ("matchLabels", MAP),
    (
        "matchExpressions",
        Ty::Array(&Ty::Object(&[
            ("key", S),
            ("operator", S),
            ("values", STRS),
        ])),
    ),
]);

const OBJECT_REFERENCE: Ty = Ty::Object(&[
    ("kind", S),
    ("namespace", S),
    ("name", S),
    ("uid", S),
    ("apiVersion", S),
    ("resourceVersion", S),
    ("fieldPath", S),
]);

const LOCAL_OBJECT_REFERENCE: Ty = Ty::Object(&[("name", S)]);

/// `metav1.Status`: the event's `responseStatus`, and the body of an error response.
pub(crate) const STATUS_FIELDS: &[Field] = &[
    ("kind", S),
    ("apiVersion", S),
    ("metadata", LIST_META),
    // "Success" or "Failure" in practice, but the type leaves it open.
    ("status", S),
    ("message", S),
    ("reason", S),
    (
        "details",
        Ty::Object(&[
            ("name", S),
            ("group", S),
            ("kind", S),
            ("uid", S),
            (
                "causes",
                Ty::Array(&Ty::Object(&[("reason", S), ("message", S), ("field", S)])),
            ),
            ("retryAfterSeconds", I),
        ]),
    ),
    ("code", I),
];

const DELETE_OPTIONS: Ty = Ty::Object(&[
    ("kind", S),
    ("apiVersion", S),
    ("gracePeriodSeconds", I),
    (
        "preconditions",
        Ty::Object(&[("uid", S), ("resourceVersion", S)]),
    ),
    ("orphanDependents", B),
    ("propagationPolicy", Ty::Enum(PROPAGATION_POLICIES)),
    ("dryRun", STRS),
    ("ignoreStoreReadErrorWithClusterBreakingPotential", B),
]);

/// `meta.k8s.io/v1` Table: what `kubectl get` asks for.
const TABLE: Ty = Ty::Object(&[
    ("kind", S),
    ("apiVersion", S),
    ("metadata", LIST_META),
    (
        "columnDefinitions",
        Ty::Array(&Ty::Object(&[
            ("name", S),
            ("type", S),
            ("format", S),
            ("description", S),
            ("priority", I),
        ])),
    ),
    (
        "rows",
        Ty::Array(&Ty::Object(&[
            ("cells", ANY),
            ("conditions", ANY),
            ("object", ANY),
        ])),
    ),
]);

/// The body of a JSON patch (RFC 6902): an array of operations.
const JSON_PATCH: Ty = Ty::Array(&Ty::Object(&[
    ("op", Ty::Enum(PATCH_OPS)),
    ("path", S),
    ("value", ANY),
    ("from", S),
]));

// ---- core/v1: containers ----------------------------------------------------------------------

const KEY_SELECTOR: Ty = Ty::Object(&[("name", S), ("key", S), ("optional", B)]);
const FIELD_SELECTOR: Ty = Ty::Object(&[("apiVersion", S), ("fieldPath", S)]);
const RESOURCE_FIELD_SELECTOR: Ty =
    Ty::Object(&[("containerName", S), ("resource", S), ("divisor", ANY)]);

const ENV_VAR: Ty = Ty::Object(&[
    ("name", S),
    ("value", S),
    (
        "valueFrom",
        Ty::Object(&[
            ("fieldRef", FIELD_SELECTOR),
            ("resourceFieldRef", RESOURCE_FIELD_SELECTOR),
            ("configMapKeyRef", KEY_SELECTOR),
            ("secretKeyRef", KEY_SELECTOR),
            ("fileKeyRef", ANY),
        ]),
    ),
]);

const ENV_FROM_SOURCE: Ty = Ty::Object(&[
    ("prefix", S),
    ("configMapRef", Ty::Object(&[("name", S), ("optional", B)])),
    ("secretRef", Ty::Object(&[("name", S), ("optional", B)])),
]);

const CONTAINER_PORT: Ty = Ty::Object(&[
    ("name", S),
    ("hostPort", I),
    ("containerPort", I),
    ("protocol", Ty::Enum(PROTOCOLS)),
    ("hostIP", S),
]);

const RESOURCE_REQUIREMENTS: Ty = Ty::Object(&[
    ("limits", MAP),
    ("requests", MAP),
    (
        "claims",
        Ty::Array(&Ty::Object(&[("name", S), ("request", S)])),
    ),
]);

const VOLUME_MOUNT: Ty = Ty::Object(&[
    ("name", S),
    ("readOnly", B),
    ("recursiveReadOnly", S),
    ("mountPath", S),
    ("subPath", S),
    ("mountPropagation", S),
    ("subPathExpr", S),
]);

const SE_LINUX_OPTIONS: Ty = Ty::Object(&[("user", S), ("role", S), ("type", S), ("level", S)]);

const WINDOWS_OPTIONS: Ty = Ty::Object(&[
    ("gmsaCredentialSpecName", S),
    ("gmsaCredentialSpec", S),
    ("runAsUserName", S),
    ("hostProcess", B),
]);

const PROFILE: Ty = Ty::Object(&[("type", Ty::Enum(PROFILE_TYPES)), ("localhostProfile", S)]);

const SECURITY_CONTEXT: Ty = Ty::Object(&[
    ("capabilities", Ty::Object(&[("add", STRS), ("drop", STRS)])),
    ("privileged", B),
    ("seLinuxOptions", SE_LINUX_OPTIONS),
    ("windowsOptions", WINDOWS_OPTIONS),
    ("runAsUser", I),
    ("runAsGroup", I),
    ("runAsNonRoot", B),
    ("readOnlyRootFilesystem", B),
    ("allowPrivilegeEscalation", B),
    // "Default" or "Unmasked"; left open as the API documents it as open for new values.
    ("procMount", S),
    ("seccompProfile", PROFILE),
    ("appArmorProfile", PROFILE),
]);

const CONTAINER_FIELDS: &[Field] = &[
    ("name", S),
    ("image", S),
    ("command", STRS),
    ("args", STRS),
    ("workingDir", S),
    ("ports", Ty::Array(&CONTAINER_PORT)),
    ("envFrom", Ty::Array(&ENV_FROM_SOURCE)),
    ("env", Ty::Array(&ENV_VAR)),
    ("resources", RESOURCE_REQUIREMENTS),
    (
        "resizePolicy",
        Ty::Array(&Ty::Object(&[("resourceName", S), ("restartPolicy", S)])),
    ),
    ("restartPolicy", S),
    ("restartPolicyRules", ANY),
    ("volumeMounts", Ty::Array(&VOLUME_MOUNT)),
    (
        "volumeDevices",
        Ty::Array(&Ty::Object(&[("name", S), ("devicePath", S)])),
    ),
    ("livenessProbe", ANY),
    ("readinessProbe", ANY),
    ("startupProbe", ANY),
    ("lifecycle", ANY),
    ("terminationMessagePath", S),
    ("terminationMessagePolicy", S),
    ("imagePullPolicy", Ty::Enum(PULL_POLICIES)),
    ("securityContext", SECURITY_CONTEXT),
    ("stdin", B),
    ("stdinOnce", B),
    ("tty", B),
];

const CONTAINER: Ty = Ty::Object(CONTAINER_FIELDS);
const EPHEMERAL_CONTAINER: Ty = Ty::Object(&[
    (INLINE, Ty::Object(CONTAINER_FIELDS)),
    ("targetContainerName", S),
]);

// ---- core/v1: volumes -------------------------------------------------------------------------

const KEY_TO_PATH: Ty = Ty::Array(&Ty::Object(&[("key", S), ("path", S), ("mode", I)]));

const DOWNWARD_API_FILES: Ty = Ty::Array(&Ty::Object(&[
    ("path", S),
    ("fieldRef", FIELD_SELECTOR),
    ("resourceFieldRef", RESOURCE_FIELD_SELECTOR),
    ("mode", I),
]));

const PROJECTED_SOURCE: Ty = Ty::Object(&[
    (
        "secret",
        Ty::Object(&[("name", S), ("items", KEY_TO_PATH), ("optional", B)]),
    ),
    ("downwardAPI", Ty::Object(&[("items", DOWNWARD_API_FILES)])),
    (
        "configMap",
        Ty::Object(&[("name", S), ("items", KEY_TO_PATH), ("optional", B)]),
    ),
    (
        "serviceAccountToken",
        Ty::Object(&[("audience", S), ("expirationSeconds", I), ("path", S)]),
    ),
    ("clusterTrustBundle", ANY),
    ("podCertificate", ANY),
]);

const VOLUME: Ty = Ty::Object(&[
    ("name", S),
    (
        "hostPath",
        Ty::Object(&[("path", S), ("type", Ty::Enum(HOST_PATH_TYPES))]),
    ),
    ("emptyDir", Ty::Object(&[("medium", S), ("sizeLimit", ANY)])),
    (
        "secret",
        Ty::Object(&[
            ("secretName", S),
            ("items", KEY_TO_PATH),
            ("defaultMode", I),
            ("optional", B),
        ]),
    ),
    (
        "configMap",
        Ty::Object(&[
            ("name", S),
            ("items", KEY_TO_PATH),
            ("defaultMode", I),
            ("optional", B),
        ]),
    ),
    (
        "persistentVolumeClaim",
        Ty::Object(&[("claimName", S), ("readOnly", B)]),
    ),
    (
        "projected",
        Ty::Object(&[
            ("sources", Ty::Array(&PROJECTED_SOURCE)),
            ("defaultMode", I),
        ]),
    ),
    (
        "downwardAPI",
        Ty::Object(&[("items", DOWNWARD_API_FILES), ("defaultMode", I)]),
    ),
    (
        "nfs",
        Ty::Object(&[("server", S), ("path", S), ("readOnly", B)]),
    ),
    (
        "csi",
        Ty::Object(&[
            ("driver", S),
            ("readOnly", B),
            ("fsType", S),
            ("volumeAttributes", MAP),
            ("nodePublishSecretRef", LOCAL_OBJECT_REFERENCE),
        ]),
    ),
    ("ephemeral", Ty::Object(&[("volumeClaimTemplate", ANY)])),
    (
        "image",
        Ty::Object(&[("reference", S), ("pullPolicy", Ty::Enum(PULL_POLICIES))]),
    ),
    (
        "gitRepo",
        Ty::Object(&[("repository", S), ("revision", S), ("directory", S)]),
    ),
    (
        "flexVolume",
        Ty::Object(&[
            ("driver", S),
            ("fsType", S),
            ("secretRef", LOCAL_OBJECT_REFERENCE),
            ("readOnly", B),
            ("options", MAP),
        ]),
    ),
    // In-tree and deprecated volume plugins: present in the API, rarely worth a rule.
    ("gcePersistentDisk", ANY),
    ("awsElasticBlockStore", ANY),
    ("iscsi", ANY),
    ("glusterfs", ANY),
    ("rbd", ANY),
    ("cinder", ANY),
    ("cephfs", ANY),
    ("flocker", ANY),
    ("fc", ANY),
    ("azureFile", ANY),
    ("azureDisk", ANY),
    ("vsphereVolume", ANY),
    ("quobyte", ANY),
    ("photonPersistentDisk", ANY),
    ("portworxVolume", ANY),
    ("scaleIO", ANY),
    ("storageos", ANY),
]);

// ---- core/v1: PodSpec -------------------------------------------------------------------------

const POD_SECURITY_CONTEXT: Ty = Ty::Object(&[
    ("seLinuxOptions", SE_LINUX_OPTIONS),
    ("windowsOptions", WINDOWS_OPTIONS),
    ("runAsUser", I),
    ("runAsGroup", I),
    ("runAsNonRoot", B),
    ("supplementalGroups", INTS),
    ("supplementalGroupsPolicy", S),
    ("fsGroup", I),
    (
        "sysctls",
        Ty::Array(&Ty::Object(&[("name", S), ("value", S)])),
    ),
    ("fsGroupChangePolicy", S),
    ("seccompProfile", PROFILE),
    ("appArmorProfile", PROFILE),
    ("seLinuxChangePolicy", S),
]);

const TOLERATION: Ty = Ty::Object(&[
    ("key", S),
    ("operator", S),
    ("value", S),
    ("effect", S),
    ("tolerationSeconds", I),
]);

/// Containers first (not in Go's order): the order breaks ties between suggestions, and an `image`
/// is more often a container's than an image volume's.
pub(crate) const POD_SPEC: Ty = Ty::Object(&[
    ("containers", Ty::Array(&CONTAINER)),
    ("initContainers", Ty::Array(&CONTAINER)),
    ("ephemeralContainers", Ty::Array(&EPHEMERAL_CONTAINER)),
    ("volumes", Ty::Array(&VOLUME)),
    ("restartPolicy", Ty::Enum(POD_RESTART_POLICIES)),
    ("terminationGracePeriodSeconds", I),
    ("activeDeadlineSeconds", I),
    ("dnsPolicy", Ty::Enum(DNS_POLICIES)),
    ("nodeSelector", MAP),
    ("serviceAccountName", S),
    // Deprecated alias of serviceAccountName, still filled in by the API server.
    ("serviceAccount", S),
    ("automountServiceAccountToken", B),
    ("nodeName", S),
    ("hostNetwork", B),
    ("hostPID", B),
    ("hostIPC", B),
    ("shareProcessNamespace", B),
    ("securityContext", POD_SECURITY_CONTEXT),
    ("imagePullSecrets", Ty::Array(&LOCAL_OBJECT_REFERENCE)),
    ("hostname", S),
    ("subdomain", S),
    ("affinity", ANY),
    ("schedulerName", S),
    ("tolerations", Ty::Array(&TOLERATION)),
    (
        "hostAliases",
        Ty::Array(&Ty::Object(&[("ip", S), ("hostnames", STRS)])),
    ),
    ("priorityClassName", S),
    ("priority", I),
    (
        "dnsConfig",
        Ty::Object(&[
            ("nameservers", STRS),
            ("searches", STRS),
            (
                "options",
                Ty::Array(&Ty::Object(&[("name", S), ("value", S)])),
            ),
        ]),
    ),
    (
        "readinessGates",
        Ty::Array(&Ty::Object(&[("conditionType", S)])),
    ),
    ("runtimeClassName", S),
    ("enableServiceLinks", B),
    ("preemptionPolicy", S),
    ("overhead", MAP),
    ("topologySpreadConstraints", ANY),
    ("setHostnameAsFQDN", B),
    ("os", Ty::Object(&[("name", S)])),
    ("hostUsers", B),
    ("schedulingGates", Ty::Array(&Ty::Object(&[("name", S)]))),
    (
        "resourceClaims",
        Ty::Array(&Ty::Object(&[
            ("name", S),
            ("source", ANY),
            ("resourceClaimName", S),
            ("resourceClaimTemplateName", S),
        ])),
    ),
    ("resources", RESOURCE_REQUIREMENTS),
    ("hostnameOverride", S),
]);

const POD_TEMPLATE_SPEC: Ty = Ty::Object(&[("metadata", OBJECT_META), ("spec", POD_SPEC)]);

// ---- kinds ------------------------------------------------------------------------------------

const POD: Ty = Ty::Object(&[(INLINE, KIND_COMMON), ("spec", POD_SPEC), ("status", ANY)]);

const DEPLOYMENT: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    (
        "spec",
        Ty::Object(&[
            ("replicas", I),
            ("selector", LABEL_SELECTOR),
            ("template", POD_TEMPLATE_SPEC),
            (
                "strategy",
                Ty::Object(&[
                    ("type", S),
                    (
                        "rollingUpdate",
                        Ty::Object(&[("maxUnavailable", ANY), ("maxSurge", ANY)]),
                    ),
                ]),
            ),
            ("minReadySeconds", I),
            ("revisionHistoryLimit", I),
            ("paused", B),
            ("progressDeadlineSeconds", I),
        ]),
    ),
    ("status", ANY),
]);

const DAEMON_SET: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    (
        "spec",
        Ty::Object(&[
            ("selector", LABEL_SELECTOR),
            ("template", POD_TEMPLATE_SPEC),
            (
                "updateStrategy",
                Ty::Object(&[
                    ("type", S),
                    (
                        "rollingUpdate",
                        Ty::Object(&[("maxUnavailable", ANY), ("maxSurge", ANY)]),
                    ),
                ]),
            ),
            ("minReadySeconds", I),
            ("revisionHistoryLimit", I),
        ]),
    ),
    ("status", ANY),
]);

const STATEFUL_SET: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    (
        "spec",
        Ty::Object(&[
            ("replicas", I),
            ("selector", LABEL_SELECTOR),
            ("template", POD_TEMPLATE_SPEC),
            ("volumeClaimTemplates", Ty::Array(&ANY)),
            ("serviceName", S),
            ("podManagementPolicy", S),
            (
                "updateStrategy",
                Ty::Object(&[
                    ("type", S),
                    (
                        "rollingUpdate",
                        Ty::Object(&[("partition", I), ("maxUnavailable", ANY)]),
                    ),
                ]),
            ),
            ("revisionHistoryLimit", I),
            ("minReadySeconds", I),
            (
                "persistentVolumeClaimRetentionPolicy",
                Ty::Object(&[("whenDeleted", S), ("whenScaled", S)]),
            ),
            ("ordinals", Ty::Object(&[("start", I)])),
        ]),
    ),
    ("status", ANY),
]);

const REPLICA_SET: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    (
        "spec",
        Ty::Object(&[
            ("replicas", I),
            ("minReadySeconds", I),
            ("selector", LABEL_SELECTOR),
            ("template", POD_TEMPLATE_SPEC),
        ]),
    ),
    ("status", ANY),
]);

const REPLICATION_CONTROLLER: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    (
        "spec",
        Ty::Object(&[
            ("replicas", I),
            ("minReadySeconds", I),
            // A plain label map here, unlike the LabelSelector of the apps kinds.
            ("selector", MAP),
            ("template", POD_TEMPLATE_SPEC),
        ]),
    ),
    ("status", ANY),
]);

const JOB_SPEC: Ty = Ty::Object(&[
    ("parallelism", I),
    ("completions", I),
    ("activeDeadlineSeconds", I),
    ("podFailurePolicy", ANY),
    ("successPolicy", ANY),
    ("backoffLimit", I),
    ("backoffLimitPerIndex", I),
    ("maxFailedIndexes", I),
    ("selector", LABEL_SELECTOR),
    ("manualSelector", B),
    ("template", POD_TEMPLATE_SPEC),
    ("ttlSecondsAfterFinished", I),
    ("completionMode", S),
    ("suspend", B),
    ("podReplacementPolicy", S),
    ("managedBy", S),
]);

const JOB: Ty = Ty::Object(&[(INLINE, KIND_COMMON), ("spec", JOB_SPEC), ("status", ANY)]);

const CRON_JOB: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    (
        "spec",
        Ty::Object(&[
            ("schedule", S),
            ("timeZone", S),
            ("startingDeadlineSeconds", I),
            ("concurrencyPolicy", S),
            ("suspend", B),
            (
                "jobTemplate",
                Ty::Object(&[("metadata", OBJECT_META), ("spec", JOB_SPEC)]),
            ),
            ("successfulJobsHistoryLimit", I),
            ("failedJobsHistoryLimit", I),
        ]),
    ),
    ("status", ANY),
]);

const POLICY_RULES: Ty = Ty::Array(&Ty::Object(&[
    ("verbs", STRS),
    ("apiGroups", STRS),
    ("resources", STRS),
    ("resourceNames", STRS),
    ("nonResourceURLs", STRS),
]));

const ROLE: Ty = Ty::Object(&[(INLINE, KIND_COMMON), ("rules", POLICY_RULES)]);

const CLUSTER_ROLE: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    ("rules", POLICY_RULES),
    (
        "aggregationRule",
        Ty::Object(&[("clusterRoleSelectors", Ty::Array(&LABEL_SELECTOR))]),
    ),
]);

const ROLE_BINDING: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    (
        "subjects",
        Ty::Array(&Ty::Object(&[
            ("kind", Ty::Enum(SUBJECT_KINDS)),
            ("apiGroup", S),
            ("name", S),
            ("namespace", S),
        ])),
    ),
    (
        "roleRef",
        Ty::Object(&[
            ("apiGroup", S),
            ("kind", Ty::Enum(ROLE_REF_KINDS)),
            ("name", S),
        ]),
    ),
]);

const CONFIG_MAP: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    ("immutable", B),
    ("data", MAP),
    ("binaryData", MAP),
]);

const SECRET: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    ("immutable", B),
    ("data", MAP),
    ("stringData", MAP),
    // Open: any string is a valid secret type.
    ("type", S),
]);

const SERVICE: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    (
        "spec",
        Ty::Object(&[
            (
                "ports",
                Ty::Array(&Ty::Object(&[
                    ("name", S),
                    ("protocol", Ty::Enum(PROTOCOLS)),
                    ("appProtocol", S),
                    ("port", I),
                    ("targetPort", ANY),
                    ("nodePort", I),
                ])),
            ),
            ("selector", MAP),
            ("clusterIP", S),
            ("clusterIPs", STRS),
            ("type", Ty::Enum(SERVICE_TYPES)),
            ("externalIPs", STRS),
            ("sessionAffinity", S),
            ("loadBalancerIP", S),
            ("loadBalancerSourceRanges", STRS),
            ("externalName", S),
            ("externalTrafficPolicy", S),
            ("healthCheckNodePort", I),
            ("publishNotReadyAddresses", B),
            (
                "sessionAffinityConfig",
                Ty::Object(&[("clientIP", Ty::Object(&[("timeoutSeconds", I)]))]),
            ),
            ("ipFamilies", STRS),
            ("ipFamilyPolicy", S),
            ("allocateLoadBalancerNodePorts", B),
            ("loadBalancerClass", S),
            ("internalTrafficPolicy", S),
            ("trafficDistribution", S),
        ]),
    ),
    ("status", ANY),
]);

/// networking.k8s.io/v1 Ingress.
const INGRESS: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    (
        "spec",
        Ty::Object(&[
            ("ingressClassName", S),
            ("defaultBackend", ANY),
            (
                "tls",
                Ty::Array(&Ty::Object(&[("hosts", STRS), ("secretName", S)])),
            ),
            ("rules", ANY),
        ]),
    ),
    ("status", ANY),
]);

const SERVICE_ACCOUNT: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    ("secrets", Ty::Array(&OBJECT_REFERENCE)),
    ("imagePullSecrets", Ty::Array(&LOCAL_OBJECT_REFERENCE)),
    ("automountServiceAccountToken", B),
]);

const NAMESPACE: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    ("spec", Ty::Object(&[("finalizers", STRS)])),
    ("status", Ty::Object(&[("phase", S), ("conditions", ANY)])),
]);

const USER_INFO: Ty = Ty::Object(&[
    ("username", S),
    ("uid", S),
    ("groups", STRS),
    ("extra", MAP),
]);

const TOKEN_REQUEST: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    (
        "spec",
        Ty::Object(&[
            ("audiences", STRS),
            ("expirationSeconds", I),
            (
                "boundObjectRef",
                Ty::Object(&[("kind", S), ("apiVersion", S), ("name", S), ("uid", S)]),
            ),
        ]),
    ),
    (
        "status",
        Ty::Object(&[("token", S), ("expirationTimestamp", T)]),
    ),
]);

const TOKEN_REVIEW: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    ("spec", Ty::Object(&[("token", S), ("audiences", STRS)])),
    (
        "status",
        Ty::Object(&[
            ("authenticated", B),
            ("user", USER_INFO),
            ("audiences", STRS),
            ("error", S),
        ]),
    ),
]);

const RESOURCE_ATTRIBUTES: Ty = Ty::Object(&[
    ("namespace", S),
    ("verb", S),
    ("group", S),
    ("version", S),
    ("resource", S),
    ("subresource", S),
    ("name", S),
    ("fieldSelector", ANY),
    ("labelSelector", ANY),
]);

const NON_RESOURCE_ATTRIBUTES: Ty = Ty::Object(&[("path", S), ("verb", S)]);

const ACCESS_REVIEW_STATUS: Ty = Ty::Object(&[
    ("allowed", B),
    ("denied", B),
    ("reason", S),
    ("evaluationError", S),
]);

const SUBJECT_ACCESS_REVIEW: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    (
        "spec",
        Ty::Object(&[
            ("resourceAttributes", RESOURCE_ATTRIBUTES),
            ("nonResourceAttributes", NON_RESOURCE_ATTRIBUTES),
            ("user", S),
            ("groups", STRS),
            ("extra", MAP),
            ("uid", S),
        ]),
    ),
    ("status", ACCESS_REVIEW_STATUS),
]);

const SELF_SUBJECT_ACCESS_REVIEW: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    (
        "spec",
        Ty::Object(&[
            ("resourceAttributes", RESOURCE_ATTRIBUTES),
            ("nonResourceAttributes", NON_RESOURCE_ATTRIBUTES),
        ]),
    ),
    ("status", ACCESS_REVIEW_STATUS),
]);

const SELF_SUBJECT_RULES_REVIEW: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    ("spec", Ty::Object(&[("namespace", S)])),
    (
        "status",
        Ty::Object(&[
            (
                "resourceRules",
                Ty::Array(&Ty::Object(&[
                    ("verbs", STRS),
                    ("apiGroups", STRS),
                    ("resources", STRS),
                    ("resourceNames", STRS),
                ])),
            ),
            (
                "nonResourceRules",
                Ty::Array(&Ty::Object(&[("verbs", STRS), ("nonResourceURLs", STRS)])),
            ),
            ("incomplete", B),
            ("evaluationError", S),
        ]),
    ),
]);

const SELF_SUBJECT_REVIEW: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    ("status", Ty::Object(&[("userInfo", USER_INFO)])),
]);

const CERTIFICATE_SIGNING_REQUEST: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    (
        "spec",
        Ty::Object(&[
            ("request", S),
            ("signerName", S),
            ("expirationSeconds", I),
            ("usages", STRS),
            ("username", S),
            ("uid", S),
            ("groups", STRS),
            ("extra", MAP),
        ]),
    ),
    (
        "status",
        Ty::Object(&[
            (
                "conditions",
                Ty::Array(&Ty::Object(&[
                    ("type", S),
                    ("status", S),
                    ("reason", S),
                    ("message", S),
                    ("lastUpdateTime", T),
                    ("lastTransitionTime", T),
                ])),
            ),
            ("certificate", S),
        ]),
    ),
]);

const WEBHOOK_FIELDS: &[Field] = &[
    ("name", S),
    (
        "clientConfig",
        Ty::Object(&[
            ("url", S),
            (
                "service",
                Ty::Object(&[("namespace", S), ("name", S), ("path", S), ("port", I)]),
            ),
            ("caBundle", S),
        ]),
    ),
    (
        "rules",
        Ty::Array(&Ty::Object(&[
            ("operations", STRS),
            ("apiGroups", STRS),
            ("apiVersions", STRS),
            ("resources", STRS),
            ("scope", S),
        ])),
    ),
    ("failurePolicy", S),
    ("matchPolicy", S),
    ("namespaceSelector", LABEL_SELECTOR),
    ("objectSelector", LABEL_SELECTOR),
    ("sideEffects", S),
    ("timeoutSeconds", I),
    ("admissionReviewVersions", STRS),
    (
        "matchConditions",
        Ty::Array(&Ty::Object(&[("name", S), ("expression", S)])),
    ),
];

const MUTATING_WEBHOOK_CONFIGURATION: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    (
        "webhooks",
        Ty::Array(&Ty::Object(&[
            (INLINE, Ty::Object(WEBHOOK_FIELDS)),
            ("reinvocationPolicy", S),
        ])),
    ),
]);

const VALIDATING_WEBHOOK_CONFIGURATION: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    ("webhooks", Ty::Array(&Ty::Object(WEBHOOK_FIELDS))),
]);

// ---- subresource bodies -----------------------------------------------------------------------

const SCALE: Ty = Ty::Object(&[
    (INLINE, KIND_COMMON),
    ("spec", Ty::Object(&[("replicas", I)])),
    ("status", Ty::Object(&[("replicas", I), ("selector", S)])),
]);

const EVICTION: Ty = Ty::Object(&[(INLINE, KIND_COMMON), ("deleteOptions", DELETE_OPTIONS)]);

const BINDING: Ty = Ty::Object(&[(INLINE, KIND_COMMON), ("target", OBJECT_REFERENCE)]);

/// `pods/exec` and `pods/attach`: the API server logs the query parameters as this object.
const POD_EXEC_OPTIONS: Ty = Ty::Object(&[
    ("kind", S),
    ("apiVersion", S),
    ("stdin", B),
    ("stdout", B),
    ("stderr", B),
    ("tty", B),
    ("container", S),
    ("command", STRS),
]);

const POD_PORT_FORWARD_OPTIONS: Ty = Ty::Object(&[("kind", S), ("apiVersion", S), ("ports", INTS)]);

/// `pods/proxy`, `services/proxy`, `nodes/proxy`.
const PROXY_OPTIONS: Ty = Ty::Object(&[("kind", S), ("apiVersion", S), ("path", S)]);

const POD_LOG_OPTIONS: Ty = Ty::Object(&[
    ("kind", S),
    ("apiVersion", S),
    ("container", S),
    ("follow", B),
    ("previous", B),
    ("sinceSeconds", I),
    ("sinceTime", T),
    ("timestamps", B),
    ("tailLines", I),
    ("limitBytes", I),
    ("insecureSkipTLSVerifyBackend", B),
    ("stream", S),
]);

// ---- the kind table ---------------------------------------------------------------------------

/// Which `objectRef.resource` values a kind belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resources {
    /// The kind of these resources: it also comes as a `...List` (`items`) in list responses.
    Primary(&'static [&'static str]),
    /// The body of a subresource of these resources (exec options, a scale, a token request).
    Sub(&'static [&'static str]),
    /// Any described resource may carry it: delete options, a JSON patch, an error status, a table.
    Every,
}

#[derive(Debug)]
pub(crate) struct Kind {
    /// The kind's Kubernetes name: for the reader of the table and the schema's test messages.
    #[cfg_attr(not(test), allow(dead_code))]
    pub name: &'static str,
    pub ty: &'static Ty,
    pub resources: Resources,
}

use Resources::{Every, Primary, Sub};

const fn kind(name: &'static str, ty: &'static Ty, resources: Resources) -> Kind {
    Kind {
        name,
        ty,
        resources,
    }
}

const STATUS: Ty = Ty::Object(STATUS_FIELDS);

/// Every kind the schema describes, most commonly used first (the order breaks ties between
/// suggestions).
pub(crate) const KINDS: &[Kind] = &[
    kind("Pod", &POD, Primary(&["pods"])),
    kind("Deployment", &DEPLOYMENT, Primary(&["deployments"])),
    kind("DaemonSet", &DAEMON_SET, Primary(&["daemonsets"])),
    kind("StatefulSet", &STATEFUL_SET, Primary(&["statefulsets"])),
    kind("ReplicaSet", &REPLICA_SET, Primary(&["replicasets"])),
    kind("Job", &JOB, Primary(&["jobs"])),
    kind("CronJob", &CRON_JOB, Primary(&["cronjobs"])),
    kind(
        "ReplicationController",
        &REPLICATION_CONTROLLER,
        Primary(&["replicationcontrollers"]),
    ),
    kind("Role", &ROLE, Primary(&["roles"])),
    kind("ClusterRole", &CLUSTER_ROLE, Primary(&["clusterroles"])),
    kind("RoleBinding", &ROLE_BINDING, Primary(&["rolebindings"])),
    kind(
        "ClusterRoleBinding",
        &ROLE_BINDING,
        Primary(&["clusterrolebindings"]),
    ),
    kind("ConfigMap", &CONFIG_MAP, Primary(&["configmaps"])),
    kind("Secret", &SECRET, Primary(&["secrets"])),
    kind("Service", &SERVICE, Primary(&["services"])),
    kind("Ingress", &INGRESS, Primary(&["ingresses"])),
    kind(
        "ServiceAccount",
        &SERVICE_ACCOUNT,
        Primary(&["serviceaccounts"]),
    ),
    kind("Namespace", &NAMESPACE, Primary(&["namespaces"])),
    kind(
        "CertificateSigningRequest",
        &CERTIFICATE_SIGNING_REQUEST,
        Primary(&["certificatesigningrequests"]),
    ),
    kind(
        "MutatingWebhookConfiguration",
        &MUTATING_WEBHOOK_CONFIGURATION,
        Primary(&["mutatingwebhookconfigurations"]),
    ),
    kind(
        "ValidatingWebhookConfiguration",
        &VALIDATING_WEBHOOK_CONFIGURATION,
        Primary(&["validatingwebhookconfigurations"]),
    ),
    // Create-only review kinds: never listed, but they are what these resources hold.
    kind("TokenReview", &TOKEN_REVIEW, Sub(&["tokenreviews"])),
    kind(
        "SubjectAccessReview",
        &SUBJECT_ACCESS_REVIEW,
        Sub(&["subjectaccessreviews", "localsubjectaccessreviews"]),
    ),
    kind(
        "SelfSubjectAccessReview",
        &SELF_SUBJECT_ACCESS_REVIEW,
        Sub(&["selfsubjectaccessreviews"]),
    ),
    kind(
        "SelfSubjectRulesReview",
        &SELF_SUBJECT_RULES_REVIEW,
        Sub(&["selfsubjectrulesreviews"]),
    ),
    kind(
        "SelfSubjectReview",
        &SELF_SUBJECT_REVIEW,
        Sub(&["selfsubjectreviews"]),
    ),
    kind("TokenRequest", &TOKEN_REQUEST, Sub(&["serviceaccounts"])),
    kind(
        "Scale",
        &SCALE,
        Sub(&[
            "deployments",
            "statefulsets",
            "replicasets",
            "replicationcontrollers",
        ]),
    ),
    kind("Eviction", &EVICTION, Sub(&["pods"])),
    kind("Binding", &BINDING, Sub(&["pods"])),
    kind("PodExecOptions", &POD_EXEC_OPTIONS, Sub(&["pods"])),
    kind(
        "PodPortForwardOptions",
        &POD_PORT_FORWARD_OPTIONS,
        Sub(&["pods"]),
    ),
    kind("PodLogOptions", &POD_LOG_OPTIONS, Sub(&["pods"])),
    kind(
        "PodProxyOptions",
        &PROXY_OPTIONS,
        Sub(&["pods", "services"]),
    ),
    kind("DeleteOptions", &DELETE_OPTIONS, Every),
    kind("Status", &STATUS, Every),
    kind("Table", &TABLE, Every),
    kind("JSON patch", &JSON_PATCH, Every),
];

/// A set of kinds, as bits indexed by position in [`KINDS`].
pub(crate) type KindSet = u64;

const _: () = assert!(KINDS.len() <= KindSet::BITS as usize);

/// The kinds a list response (`items`) may hold when the object may be of any kind in `set`.
pub(crate) fn listable(set: KindSet) -> KindSet {
    let mut out = 0;
    for (i, kind) in KINDS.iter().enumerate() {
        if set & (1 << i) != 0 && matches!(kind.resources, Primary(_)) {
            out |= 1 << i;
        }
    }
    out
}

/// Every kind.
pub(crate) fn all_kinds() -> KindSet {
    (1u64 << KINDS.len()) - 1
}

/// The kinds `requestObject` may hold when `objectRef.resource` is one of `resources`, or `None`
/// when one of them is not described (a custom resource, or a built-in one not modelled here).
pub(crate) fn kinds_for(resources: &[&str]) -> Option<KindSet> {
    let mut set = 0;
    for resource in resources {
        let mut found = false;
        for (i, kind) in KINDS.iter().enumerate() {
            let names = match kind.resources {
                Primary(names) | Sub(names) => names,
                Every => continue,
            };
            if names.contains(resource) {
                set |= 1 << i;
                found = true;
            }
        }
        if !found {
            return None;
        }
    }
    for (i, kind) in KINDS.iter().enumerate() {
        if matches!(kind.resources, Every) {
            set |= 1 << i;
        }
    }
    Some(set)
}

/// An iterator over the members of a kind set.
pub(crate) fn members(set: KindSet) -> impl Iterator<Item = &'static Kind> {
    KINDS
        .iter()
        .enumerate()
        .filter(move |(i, _)| set & (1 << i) != 0)
        .map(|(_, kind)| kind)
}
