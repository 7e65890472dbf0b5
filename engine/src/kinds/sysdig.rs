//! `sysdig -j` events: `source sysdig`.
//!
//! Recognised by `evt.num` or `evt.type`. Field names have dots (`evt.type`, `proc.name`), so a
//! rule writes them as quoted segments: `["evt.type"]`. The time is the first present of
//! `evt.rawtime`, `evt.time`, `evt.outputtime` (what plain `-j` and `-j -pc` print) and
//! `evt.datetime`, all integer nanoseconds; the id is the position and `#evt.num`.
//!
//! The schema is the fields `-j` prints by default (`evt.num`, `evt.outputtime`, `evt.cpu`,
//! `proc.name`, `thread.tid`, `evt.dir`, `evt.type`, `evt.info`), with `-pc` (`container.*`,
//! `thread.vtid`), and the common fields of a custom `-p` format: sysdig's `evt`, `proc`,
//! `thread`, `user`, `group`, `fd`, `container` and `k8s` classes, checked against the 633
//! events of `shared/data/sysdig` (five real captures in all three formats). A field a capture
//! does not have is `null` in custom formats; k8scop treats `null` as missing.

use super::{
    event_time, first_string, EventKind, EventTime, Identity, NotAnEvent, TimeEncoding, TimeField,
};
use crate::alert::Context;
use crate::doc::Ref;
use crate::schema::ty::{Ty, B, I, S};
use crate::schema::Schema;

/// The sysdig kind.
#[derive(Debug, Clone, Copy)]
pub struct Sysdig;

const fn nanos(key: &'static str) -> TimeField {
    TimeField {
        key,
        encoding: TimeEncoding::EpochNanos,
    }
}

const TIME_FIELDS: &[TimeField] = &[
    nanos("evt.rawtime"),
    nanos("evt.time"),
    nanos("evt.outputtime"),
    nanos("evt.datetime"),
];

/// `evt.dir`: `>` for a system call's entry, `<` for its exit.
const DIRECTIONS: &[&str] = &[">", "<"];

/// One event: top-level keys that are sysdig field names.
const EVENT: Ty = Ty::Object(&[
    // evt
    ("evt.num", I),
    ("evt.type", S),
    ("evt.dir", Ty::Enum(DIRECTIONS)),
    ("evt.info", S),
    ("evt.args", S),
    ("evt.res", S),
    ("evt.rawres", I),
    ("evt.failed", B),
    ("evt.cpu", I),
    ("evt.rawtime", I),
    ("evt.time", I),
    ("evt.outputtime", I),
    ("evt.datetime", I),
    ("evt.reltime", I),
    ("evt.latency", I),
    ("evt.buflen", I),
    ("evt.is_io", B),
    ("evt.is_io_read", B),
    ("evt.is_io_write", B),
    ("evt.is_open_read", B),
    ("evt.is_open_write", B),
    ("evt.category", S),
    ("evt.arg.fd", S),
    ("evt.arg.name", S),
    ("evt.arg.path", S),
    ("evt.arg.flags", S),
    ("evt.arg.mode", S),
    ("evt.arg.res", S),
    ("evt.arg.tuple", S),
    ("evt.arg.data", S),
    ("evt.arg.size", S),
    // proc and thread
    ("proc.name", S),
    ("proc.pid", I),
    ("proc.ppid", I),
    ("proc.pname", S),
    ("proc.cmdline", S),
    ("proc.pcmdline", S),
    ("proc.exe", S),
    ("proc.exepath", S),
    ("proc.args", S),
    ("proc.cwd", S),
    ("proc.tty", I),
    ("proc.sid", I),
    ("proc.vpid", I),
    ("proc.aname", S),
    ("proc.apid", I),
    ("proc.duration", I),
    ("proc.loginshellid", I),
    ("thread.tid", I),
    ("thread.vtid", I),
    // user and group
    ("user.name", S),
    ("user.uid", I),
    ("user.homedir", S),
    ("user.shell", S),
    ("user.loginuid", I),
    ("user.loginname", S),
    ("group.gid", I),
    ("group.name", S),
    // fd
    ("fd.num", I),
    ("fd.type", S),
    ("fd.typechar", S),
    ("fd.name", S),
    ("fd.directory", S),
    ("fd.filename", S),
    ("fd.ip", S),
    ("fd.cip", S),
    ("fd.sip", S),
    ("fd.lip", S),
    ("fd.rip", S),
    ("fd.port", I),
    ("fd.cport", I),
    ("fd.sport", I),
    ("fd.lport", I),
    ("fd.rport", I),
    ("fd.l4proto", S),
    ("fd.sockfamily", S),
    ("fd.is_server", B),
    // container and Kubernetes
    ("container.id", S),
    ("container.name", S),
    ("container.image", S),
    ("container.image.repository", S),
    ("container.image.tag", S),
    ("container.type", S),
    ("container.privileged", B),
    ("k8s.ns.name", S),
    ("k8s.pod.name", S),
    ("k8s.pod.id", S),
]);

impl EventKind for Sysdig {
    fn name(&self) -> &'static str {
        "sysdig"
    }

    fn phrase(&self) -> &'static str {
        "a sysdig event"
    }

    fn recognises(&self, doc: Ref<'_>) -> bool {
        doc.get("evt.num").is_some() || doc.get("evt.type").is_some()
    }

    fn identify(&self, doc: Ref<'_>, position: &str) -> Result<Identity, NotAnEvent> {
        let EventTime::Millis(time) = event_time(doc, TIME_FIELDS) else {
            return Err(NotAnEvent {
                reason: "sysdig event without an integer `evt.rawtime`, `evt.time`, \
                         `evt.outputtime` or `evt.datetime` in nanoseconds"
                    .into(),
            });
        };
        let id = match doc.get("evt.num").and_then(Ref::as_i64) {
            Some(n) => format!("{position}#{n}"),
            None => position.to_owned(),
        };
        Ok(Identity {
            time,
            id: id.into(),
            dedup_key: None,
        })
    }

    fn projection_keys(&self) -> &'static [&'static [&'static str]] {
        &[
            &["evt.num"],
            &["evt.type"],
            &["user.name"],
            &["proc.cmdline"],
            &["proc.name"],
            &["container.id"],
            &["container.name"],
            &["container.image"],
            &["k8s.ns.name"],
            &["k8s.pod.name"],
        ]
    }

    fn time_fields(&self) -> &'static [TimeField] {
        TIME_FIELDS
    }

    fn schema(&self) -> Schema {
        Schema::of(&EVENT)
    }

    fn context(&self, doc: Ref<'_>) -> Context {
        // sysdig writes `<NA>` for a value it could not read, and `host` as the container of
        // processes outside containers.
        let s = |key: &str| first_string(doc, &[key]).filter(|v| !v.is_empty() && v != "<NA>");
        let in_container = s("container.id").is_some_and(|id| id != "host");
        let pod = s("k8s.pod.name");
        Context {
            user: s("user.name"),
            namespace: s("k8s.ns.name"),
            resource: pod.as_ref().map(|_| "pods".to_owned()),
            name: pod,
            process: s("proc.cmdline").or_else(|| s("proc.name")),
            container: s("container.name").filter(|_| in_container),
            image: s("container.image").filter(|_| in_container),
            ..Context::default()
        }
    }
}
