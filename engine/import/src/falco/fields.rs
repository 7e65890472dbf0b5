//! Falco's `ka.*` (k8saudit plugin) and `jevt.*` (json plugin) fields, mapped to paths of the
//! audit event with the plugins' extraction semantics.
//!
//! The k8saudit plugin gives every field as a string: a JSON string as it is, any other JSON
//! value as its JSON text (`true`, `201`, `{"a":"b"}`). A field is missing when its path is
//! missing. "List" fields give one value per array element (`ka.req.pod.containers.image`), and
//! take an optional index argument (`ka.req.pod.containers.image[0]`). [`Kind`] records which
//! JSON type the path holds, so that the translator compares natively when it can
//! (`ka.req.pod.host_network = true` is `requestObject.spec.hostNetwork == true`) and through the
//! `falco_text` helper when Falco compares the text (`ka.response.code startswith 2`).

use std::fmt::Write;

/// The JSON type a field's path holds in an audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    Str,
    /// A boolean: Falco's values are `true` and `false`.
    Bool,
    /// A number: Falco's value is its decimal text.
    Num,
    /// An object or array, which Falco gives as JSON text.
    Json,
    /// Any type (`jevt.value[...]`): compared natively when the constant cannot be the JSON
    /// text of a non-string value, through `falco_text` otherwise.
    Dynamic,
}

/// One step of an audit event path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// An object member.
    Name(String),
    /// An array item.
    Index(usize),
}

/// A path into the audit event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Path(pub Vec<Seg>);

impl Path {
    fn of(dotted: &str) -> Path {
        Path(dotted.split('.').map(|s| Seg::Name(s.to_owned())).collect())
    }

    fn push(mut self, dotted: &str) -> Path {
        self.0
            .extend(dotted.split('.').map(|s| Seg::Name(s.to_owned())));
        self
    }

    fn index(mut self, index: Option<usize>) -> Path {
        if let Some(i) = index {
            self.0.push(Seg::Index(i));
        }
        self
    }

    /// The path in the rule language. A first segment that `quote_first` says is a list or
    /// macro name is quoted (`["verb"]`), so that it still reads the field.
    pub fn render(&self, quote_first: &dyn Fn(&str) -> bool) -> String {
        let mut out = String::new();
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Name(name) => {
                    let plain = crate::write::is_identifier(name) && !(i == 0 && quote_first(name));
                    if plain {
                        if i > 0 {
                            out.push('.');
                        }
                        out.push_str(name);
                    } else {
                        out.push('[');
                        out.push_str(&crate::write::quote(name));
                        out.push(']');
                    }
                }
                Seg::Index(n) => {
                    let _ = write!(out, "[{n}]");
                }
            }
        }
        out
    }
}

/// How a field's value is taken from the value at its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// The value itself.
    Value,
    /// The image repository of the image at the path
    /// (`ka.req.pod.containers.image.repository`): the image up to its first `:`, then up to
    /// its first `@`.
    ImageRepository,
    /// The first value of this query parameter of the URI at the path (`ka.uri.param[NAME]`),
    /// as the stdlib's `uri_param` gives it.
    UriParam(String),
    /// `ka.req.pod.<list>.host_port`, read from the pod spec: each port's `hostPort`, or its
    /// `containerPort` without one, of the containers of `list` (the one at `index`); the
    /// field's `path` is where a title shows them.
    HostPorts {
        /// `containers`, `initContainers` or `ephemeralContainers`.
        list: String,
        /// The container, when the field has an index argument.
        index: Option<usize>,
    },
    /// `ka.req.pod.volumes.volume_type`, read from the pod spec: the member names of each volume
    /// (the one at `index`) but `name`; the field's `path` is where a title shows them.
    VolumeTypes {
        /// The volume, when the field has an index argument.
        index: Option<usize>,
    },
}

/// A Falco field read from a path of the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// Where the value is.
    pub path: Path,
    /// Its JSON type (of the value at `path`).
    pub kind: Kind,
    /// Whether the plugin declares it a list field (Falco's `in` then means every value).
    pub list: bool,
    /// How the field's value is taken from the value at `path`.
    pub read: Read,
}

/// What a Falco field is for the translator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A value read from the event.
    Mapped(Mapped),
    /// `jevt.rawtime`: the event's time in nanoseconds, present in every event.
    RawTime,
    /// `ka.req.volume.hostpath[PATH]`: `true` when a hostPath volume is PATH (a prefix when
    /// PATH ends with `*`), `false` otherwise; missing without volumes.
    HostPathFlag(String),
    /// `ka.req.container.privileged` (deprecated): `true` when some container is privileged,
    /// `false` otherwise; missing without containers.
    AnyContainerPrivileged,
    /// A field whose value is the same for every event.
    Constant(String),
    /// A field that cannot be read from the event, with the reason.
    Unsupported(String),
}

fn mapped(path: Path, kind: Kind, list: bool) -> Resolved {
    Resolved::Mapped(Mapped {
        path,
        kind,
        list,
        read: Read::Value,
    })
}

/// The index argument of a list field (`[0]`); another argument is ignored, as the plugin does.
fn index_arg(arg: Option<&str>) -> Option<usize> {
    arg.and_then(|a| a.trim().parse().ok())
}

/// The container fields of `ka.req.pod.<list>.<rest>`.
fn container_field(list: &str, rest: &str, arg: Option<&str>) -> Option<Resolved> {
    let base = Path::of("requestObject.spec")
        .push(list)
        .index(index_arg(arg));
    let (sub, kind) = match rest {
        "image" | "image.repository" => ("image", Kind::Str),
        "name" => ("name", Kind::Str),
        "command" => ("command", Kind::Str),
        "args" => ("args", Kind::Str),
        "privileged" => ("securityContext.privileged", Kind::Bool),
        "allow_privilege_escalation" => ("securityContext.allowPrivilegeEscalation", Kind::Bool),
        "read_only_fs" => ("securityContext.readOnlyRootFilesystem", Kind::Bool),
        "run_as_user" => ("securityContext.runAsUser", Kind::Num),
        "run_as_group" => ("securityContext.runAsGroup", Kind::Num),
        "proc_mount" => ("securityContext.procMount", Kind::Str),
        "add_capabilities" => ("securityContext.capabilities.add", Kind::Str),
        "eff_run_as_user" | "eff_run_as_group" => {
            let own = rest.trim_start_matches("eff_");
            let key = if own == "run_as_user" {
                "runAsUser"
            } else {
                "runAsGroup"
            };
            return Some(Resolved::Unsupported(format!(
                "`ka.req.pod.{list}.{rest}` is documented as the pod's and each container's security context combined, but the plugin reads `spec.{key}` and each container's `{key}`, outside any security context, and gives 0 without them, so no translation both matches Falco and means what the rule says; compare `ka.req.pod.{list}.{own}` and `ka.req.pod.{own}` instead"
            )));
        }
        "host_port" => {
            return Some(Resolved::Mapped(Mapped {
                path: Path::of("requestObject.spec")
                    .push(list)
                    .index(index_arg(arg))
                    .push("ports"),
                kind: Kind::Str,
                list: true,
                read: Read::HostPorts {
                    list: list.to_owned(),
                    index: index_arg(arg),
                },
            }))
        }
        _ => return None,
    };
    let path = base.push(sub);
    Some(Resolved::Mapped(Mapped {
        path,
        kind,
        list: true,
        read: if rest == "image.repository" {
            Read::ImageRepository
        } else {
            Read::Value
        },
    }))
}

/// Resolves a Falco field (`name`, with its `[arg]`).
pub fn resolve(name: &str, arg: Option<&str>) -> Resolved {
    let single = |dotted: &str, kind: Kind| mapped(Path::of(dotted), kind, false);
    let annotation = |key: &str| {
        mapped(
            Path(vec![Seg::Name("annotations".into()), Seg::Name(key.into())]),
            Kind::Str,
            false,
        )
    };
    match name {
        "ka.auditid" => single("auditID", Kind::Str),
        "ka.stage" => single("stage", Kind::Str),
        "ka.auth.decision" => annotation("authorization.k8s.io/decision"),
        "ka.auth.reason" => annotation("authorization.k8s.io/reason"),
        "ka.auth.openshift.decision" => annotation("authentication.openshift.io/decision"),
        "ka.auth.openshift.username" => annotation("authentication.openshift.io/username"),
        "ka.validations.admission.policy.failure" => {
            annotation("validation.policy.admission.k8s.io/validation_failure")
        }
        "ka.security.pod.violations" => annotation("pod-security.kubernetes.io/audit-violations"),
        "ka.user.name" => single("user.username", Kind::Str),
        "ka.user.groups" => mapped(Path::of("user.groups"), Kind::Str, true),
        "ka.impuser.name" => single("impersonatedUser.username", Kind::Str),
        "ka.verb" => single("verb", Kind::Str),
        "ka.uri" => single("requestURI", Kind::Str),
        "ka.uri.param" => match arg {
            Some(param) => Resolved::Mapped(Mapped {
                path: Path::of("requestURI"),
                kind: Kind::Str,
                list: false,
                read: Read::UriParam(param.to_owned()),
            }),
            None => Resolved::Unsupported("`ka.uri.param` needs a parameter name argument".into()),
        },
        "ka.target.name" | "ka.req.configmap.name" => single("objectRef.name", Kind::Str),
        "ka.target.namespace" => single("objectRef.namespace", Kind::Str),
        "ka.target.resource" => single("objectRef.resource", Kind::Str),
        "ka.target.subresource" => single("objectRef.subresource", Kind::Str),
        "ka.target.pod.name" => Resolved::Unsupported(
            "`ka.target.pod.name` is documented only as \"the target pod name\", and the pod a request targets is named in different places (`objectRef.name`, or `responseObject.metadata.name` for a pod created with `generateName`); write `ka.target.name` with `ka.target.resource=pods`".into(),
        ),
        "ka.req.binding.subjects.user_names"
        | "ka.req.binding.subjects.serviceaccount_names"
        | "ka.req.binding.subjects.serviceaccount_ns_names"
        | "ka.req.binding.subjects.group_names" => Resolved::Unsupported(format!(
            "`{name}` keeps the binding's subjects of one kind, which no k8scop path selects; compare `ka.req.binding.subjects` (each subject as JSON text) instead"
        )),
        "ka.req.binding.subjects" => mapped(Path::of("requestObject.subjects"), Kind::Json, true),
        "ka.req.binding.role" => single("requestObject.roleRef.name", Kind::Str),
        "ka.req.binding.subject.has_name" => Resolved::Constant("true".into()),
        "ka.req.configmap.obj" => single("requestObject.data", Kind::Json),
        "ka.req.container.image" | "ka.req.container.image.repository" => {
            Resolved::Mapped(Mapped {
                path: Path::of("requestObject.spec.containers")
                    .index(Some(0))
                    .push("image"),
                kind: Kind::Str,
                list: false,
                read: if name.ends_with(".repository") {
                    Read::ImageRepository
                } else {
                    Read::Value
                },
            })
        }
        "ka.req.pod.host_ipc" => single("requestObject.spec.hostIPC", Kind::Bool),
        "ka.req.pod.host_network" | "ka.req.container.host_network" => {
            single("requestObject.spec.hostNetwork", Kind::Bool)
        }
        "ka.req.pod.host_pid" => single("requestObject.spec.hostPID", Kind::Bool),
        "ka.req.container.privileged" => Resolved::AnyContainerPrivileged,
        "ka.req.pod.run_as_user" => single("requestObject.spec.securityContext.runAsUser", Kind::Num),
        "ka.req.pod.run_as_group" => {
            single("requestObject.spec.securityContext.runAsGroup", Kind::Num)
        }
        "ka.req.pod.fs_group" => single("requestObject.spec.securityContext.fsGroup", Kind::Num),
        "ka.req.pod.supplemental_groups" => mapped(
            Path::of("requestObject.spec.securityContext.supplementalGroups"),
            Kind::Num,
            true,
        ),
        "ka.req.role.rules" => mapped(Path::of("requestObject.rules"), Kind::Json, true),
        "ka.req.role.rules.apiGroups"
        | "ka.req.role.rules.nonResourceURLs"
        | "ka.req.role.rules.verbs"
        | "ka.req.role.rules.resources" => mapped(
            Path::of("requestObject.rules")
                .index(index_arg(arg))
                .push(&name["ka.req.role.rules.".len()..]),
            Kind::Str,
            true,
        ),
        "ka.req.service.type" => single("requestObject.spec.type", Kind::Str),
        "ka.req.service.ports" => mapped(
            Path::of("requestObject.spec.ports").index(index_arg(arg)),
            Kind::Json,
            true,
        ),
        "ka.req.pod.volumes.hostpath" => mapped(
            Path::of("requestObject.spec.volumes")
                .index(index_arg(arg))
                .push("hostPath.path"),
            Kind::Str,
            true,
        ),
        "ka.req.volume.hostpath" => match arg {
            Some(a) if !a.is_empty() => Resolved::HostPathFlag(a.to_owned()),
            _ => Resolved::Unsupported("`ka.req.volume.hostpath` needs a path argument".into()),
        },
        "ka.req.pod.volumes.flexvolume_driver" => mapped(
            Path::of("requestObject.spec.volumes")
                .index(index_arg(arg))
                .push("flexVolume.driver"),
            Kind::Str,
            true,
        ),
        "ka.req.pod.volumes.volume_type" => Resolved::Mapped(Mapped {
            path: Path::of("requestObject.spec.volumes").index(index_arg(arg)),
            kind: Kind::Str,
            list: true,
            read: Read::VolumeTypes {
                index: index_arg(arg),
            },
        }),
        "ka.resp.name" => single("responseObject.metadata.name", Kind::Str),
        "ka.response.code" => single("responseStatus.code", Kind::Num),
        "ka.response.reason" => single("responseStatus.reason", Kind::Str),
        "ka.useragent" => single("userAgent", Kind::Str),
        "ka.sourceips" => mapped(
            Path::of("sourceIPs").index(index_arg(arg)),
            Kind::Str,
            true,
        ),
        "ka.cluster.name" => Resolved::Unsupported(
            "`ka.cluster.name` comes from the plugin's configuration, not from the event".into(),
        ),
        "jevt.value" => match arg {
            Some(pointer) => match json_pointer(pointer) {
                Some(path) => mapped(path, Kind::Dynamic, false),
                None => Resolved::Unsupported(format!(
                    "`{pointer}` is not a JSON pointer to a member of the event"
                )),
            },
            None => Resolved::Unsupported("`jevt.value` needs a JSON pointer argument".into()),
        },
        "jevt.rawtime" => Resolved::RawTime,
        "jevt.obj" => Resolved::Unsupported(
            "`jevt.obj` is the whole event as JSON text, which a k8scop condition cannot compare".into(),
        ),
        "jevt.time" | "jevt.time.iso8601" => Resolved::Unsupported(format!(
            "`{name}` is the event time as text; k8scop compares event times with `parse_time` and `hour`"
        )),
        _ => {
            for list in ["containers", "initContainers", "ephemeralContainers"] {
                if let Some(rest) = name
                    .strip_prefix("ka.req.pod.")
                    .and_then(|r| r.strip_prefix(list))
                    .and_then(|r| r.strip_prefix('.'))
                {
                    if let Some(r) = container_field(list, rest, arg) {
                        return r;
                    }
                }
            }
            Resolved::Unsupported(format!("`{name}` is not a field of the k8saudit or json plugin"))
        }
    }
}

/// A JSON pointer (`/requestObject/spec/volumes/0`) as a path: `~1` is `/`, `~0` is `~`, and a
/// segment of digits is an array index.
pub fn json_pointer(pointer: &str) -> Option<Path> {
    let rest = pointer.strip_prefix('/')?;
    let mut segs = Vec::new();
    for raw in rest.split('/') {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        if seg.is_empty() {
            return None;
        }
        if !segs.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            segs.push(Seg::Index(seg.parse().ok()?));
        } else {
            segs.push(Seg::Name(seg));
        }
    }
    Some(Path(segs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: &str, arg: Option<&str>) -> String {
        match resolve(name, arg) {
            Resolved::Mapped(m) => m.path.render(&|_| false),
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn fields_map_to_audit_paths() {
        assert_eq!(path("ka.user.name", None), "user.username");
        assert_eq!(
            path("ka.auth.decision", None),
            r#"annotations["authorization.k8s.io/decision"]"#
        );
        assert_eq!(
            path("ka.req.pod.containers.image", Some("1")),
            "requestObject.spec.containers[1].image"
        );
        assert_eq!(
            path("ka.req.pod.initContainers.privileged", None),
            "requestObject.spec.initContainers.securityContext.privileged"
        );
        assert_eq!(
            path("ka.req.role.rules.verbs", None),
            "requestObject.rules.verbs"
        );
        assert_eq!(
            path(
                "jevt.value",
                Some("/requestObject/ephemeralContainers/0/name")
            ),
            "requestObject.ephemeralContainers[0].name"
        );
        assert_eq!(path("jevt.value", Some("/a~1b/c~0d")), r#"["a/b"]["c~d"]"#);
        let Resolved::Mapped(m) = resolve("ka.req.pod.containers.image.repository", None) else {
            panic!()
        };
        assert!(m.read == Read::ImageRepository && m.list && m.kind == Kind::Str);
        assert!(matches!(
            resolve("ka.req.pod.containers.eff_run_as_user", None),
            Resolved::Unsupported(_)
        ));
        assert!(matches!(resolve("ka.nope", None), Resolved::Unsupported(_)));
    }

    #[test]
    fn newer_plugin_fields_read_their_annotations_or_say_why_not() {
        for (field, key) in [
            (
                "ka.auth.openshift.decision",
                "authentication.openshift.io/decision",
            ),
            (
                "ka.auth.openshift.username",
                "authentication.openshift.io/username",
            ),
            (
                "ka.validations.admission.policy.failure",
                "validation.policy.admission.k8s.io/validation_failure",
            ),
            (
                "ka.security.pod.violations",
                "pod-security.kubernetes.io/audit-violations",
            ),
        ] {
            assert_eq!(path(field, None), format!("annotations[\"{key}\"]"));
        }
        for field in [
            "ka.target.pod.name",
            "ka.req.binding.subjects.user_names",
            "ka.req.binding.subjects.serviceaccount_ns_names",
        ] {
            let Resolved::Unsupported(reason) = resolve(field, None) else {
                panic!("{field}")
            };
            assert!(reason.starts_with(&format!("`{field}`")), "{reason}");
        }
        let Resolved::Mapped(m) = resolve("ka.uri.param", Some("command")) else {
            panic!()
        };
        assert_eq!(m.read, Read::UriParam("command".into()));
        assert_eq!(m.path.render(&|_| false), "requestURI");
    }

    #[test]
    fn a_first_segment_named_like_a_macro_is_quoted() {
        let Resolved::Mapped(m) = resolve("ka.verb", None) else {
            panic!()
        };
        assert_eq!(m.path.render(&|n| n == "verb"), r#"["verb"]"#);
    }
}
