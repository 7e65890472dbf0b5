//! KubeArmor's alerts and logs (`karmor logs --json`, the relay's JSON): `source kubearmor`.
//!
//! Recognised by `UpdatedTime` with `Operation` or `HostName`. The time is `UpdatedTime`
//! (RFC 3339), else `Timestamp` (integer seconds); events have no id of their own, so the id is
//! the position.
//!
//! The schema is KubeArmor's `Alert` and `Log` messages (`protobuf/kubearmor.proto`), checked
//! against the 43 real alerts and logs of `shared/data/kubearmor`, with the keys KubeArmor's SaaS
//! exports add. `Severity` is a string, `"1"` to `"10"` (compare it with strings: `Severity in
//! ["9", "10"]`); `Action` is `Allow`, `Audit`, `Block` or `Audit (Block)` (a policy in audit mode
//! that would have blocked).

use super::{
    event_time, first_string, EventKind, EventTime, Identity, NotAnEvent, TimeEncoding, TimeField,
};
use crate::alert::Context;
use crate::doc::Ref;
use crate::schema::ty::{Ty, I, MAP, S, STRS, T};
use crate::schema::Schema;

/// The KubeArmor kind.
#[derive(Debug, Clone, Copy)]
pub struct KubeArmor;

const TIME_FIELDS: &[TimeField] = &[
    TimeField {
        key: "UpdatedTime",
        encoding: TimeEncoding::Rfc3339,
    },
    TimeField {
        key: "Timestamp",
        encoding: TimeEncoding::EpochSeconds,
    },
];

/// An alert or log. Order matters only for suggestions (on a tie the earlier field wins).
const EVENT: Ty = Ty::Object(&[
    ("Timestamp", I),
    ("UpdatedTime", T),
    ("ClusterName", S),
    ("HostName", S),
    ("NamespaceName", S),
    (
        "Owner",
        Ty::Object(&[("Ref", S), ("Name", S), ("Namespace", S)]),
    ),
    ("PodName", S),
    ("Labels", S),
    ("ContainerID", S),
    ("ContainerName", S),
    ("ContainerImage", S),
    ("HostPPID", I),
    ("HostPID", I),
    ("PPID", I),
    ("PID", I),
    ("UID", I),
    ("UserName", S),
    ("ParentProcessName", S),
    ("ProcessName", S),
    ("PolicyName", S),
    ("Severity", S),
    ("Tags", S),
    ("ATags", STRS),
    ("Message", S),
    ("Type", S),
    ("Source", S),
    ("Operation", S),
    ("Resource", S),
    ("Data", S),
    ("EventData", MAP),
    ("Enforcer", S),
    ("Action", S),
    ("Result", S),
    ("Cwd", S),
    ("TTY", S),
    ("HashID", S),
    (
        "ExecEvent",
        Ty::Object(&[("ExecID", S), ("ExecutableName", S)]),
    ),
    ("MaxAlertsPerSec", I),
    ("DroppingAlertsInterval", I),
    ("NodeID", S),
    ("KubeArmorVersion", S),
    ("UpdatedTimeISO", T),
    // Added by KubeArmor's SaaS exports.
    ("cluster_id", S),
    ("component_name", S),
    ("tenant_id", S),
    ("instanceGroup", S),
    ("instanceID", S),
    ("workload", S),
]);

impl EventKind for KubeArmor {
    fn name(&self) -> &'static str {
        "kubearmor"
    }

    fn phrase(&self) -> &'static str {
        "a KubeArmor event"
    }

    fn recognises(&self, doc: Ref<'_>) -> bool {
        doc.get("UpdatedTime").is_some()
            && (doc.get("Operation").is_some() || doc.get("HostName").is_some())
    }

    fn identify(&self, doc: Ref<'_>, position: &str) -> Result<Identity, NotAnEvent> {
        let EventTime::Millis(time) = event_time(doc, TIME_FIELDS) else {
            return Err(NotAnEvent {
                reason: "kubearmor event without a valid `UpdatedTime`".into(),
            });
        };
        Ok(Identity {
            time,
            id: position.into(),
            dedup_key: None,
        })
    }

    fn projection_keys(&self) -> &'static [&'static [&'static str]] {
        &[
            &["Operation"],
            &["HostName"],
            &["UserName"],
            &["NamespaceName"],
            &["PodName"],
            &["ProcessName"],
            &["ContainerName"],
            &["ContainerImage"],
        ]
    }

    fn time_fields(&self) -> &'static [TimeField] {
        TIME_FIELDS
    }

    fn schema(&self) -> Schema {
        Schema::of(&EVENT)
    }

    fn context(&self, doc: Ref<'_>) -> Context {
        let s = |key: &str| first_string(doc, &[key]).filter(|v| !v.is_empty());
        let pod = s("PodName");
        Context {
            user: s("UserName"),
            namespace: s("NamespaceName"),
            resource: pod.as_ref().map(|_| "pods".to_owned()),
            name: pod,
            host: s("HostName"),
            process: s("ProcessName"),
            container: s("ContainerName"),
            image: s("ContainerImage"),
            ..Context::default()
        }
    }
}
