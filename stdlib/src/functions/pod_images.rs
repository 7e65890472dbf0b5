use serde_json::Value;

use crate::args;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `pod_images(obj)`
pub(crate) struct PodImages;

const DOCS: &str = "\
The container images of the pod spec in `obj`, as written: the `image` of every container in \
`containers`, `initContainers` and `ephemeralContainers`, in that order. The pod spec is read \
where each kind of object keeps it: a Pod's `spec`, a workload's `spec.template.spec` \
(Deployment, DaemonSet, StatefulSet, ReplicaSet, Job) and a CronJob's \
`spec.jobTemplate.spec.template.spec`. Pass it `requestObject` to check every image an object \
will run, whatever its kind; as an argument of a function that takes one image \
(`image_outside(pod_images(requestObject), allowed_image_registries)`) the function runs once \
per image.

Missing when `obj` is not an object; an empty list when it has no pod spec or no container.";

const SPEC: Spec = Spec {
    name: "pod_images",
    params: &[Param {
        name: "obj",
        ty: "object",
    }],
    returns: "list of strings",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"pod_images(requestObject)"#,
            args: r#"[{"kind": "Pod", "spec": {"initContainers": [{"image": "busybox"}], "containers": [{"image": "nginx:1.25"}, {"image": "envoy"}]}}]"#,
            result: r#"["nginx:1.25", "envoy", "busybox"]"#,
        },
        Example {
            call: r#"pod_images(requestObject)"#,
            args: r#"[{"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"image": "ghcr.io/acme/api:2"}]}}}}]"#,
            result: r#"["ghcr.io/acme/api:2"]"#,
        },
        Example {
            call: r#"pod_images(requestObject)"#,
            args: r#"[{"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": "alpine"}]}}}}}}]"#,
            result: r#"["alpine"]"#,
        },
        Example {
            call: r#"pod_images(requestObject)"#,
            args: r#"[{"kind": "ConfigMap", "data": {"a": "b"}}]"#,
            result: "[]",
        },
        Example {
            call: r#"pod_images("nginx")"#,
            args: r#"["nginx"]"#,
            result: "null",
        },
    ],
};

impl Function for PodImages {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(PodImagesFn))
    }
}

struct PodImagesFn;

/// The pod spec of a Pod, a workload's pod template or a CronJob's job template.
fn pod_spec(obj: &Value) -> Option<&Value> {
    let spec = obj.get("spec")?;
    if let Some(job) = spec.get("jobTemplate").filter(|j| j.is_object()) {
        return job.get("spec")?.get("template")?.get("spec");
    }
    if let Some(template) = spec.get("template").filter(|t| t.is_object()) {
        return template.get("spec");
    }
    Some(spec)
}

impl Compiled for PodImagesFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [obj] = args::exact(args)?;
        if !obj.is_object() {
            return Ok(None);
        }
        let mut images = Vec::new();
        if let Some(spec) = pod_spec(obj).filter(|s| s.is_object()) {
            for list in ["containers", "initContainers", "ephemeralContainers"] {
                let Some(Value::Array(containers)) = spec.get(list) else {
                    continue;
                };
                images.extend(
                    containers
                        .iter()
                        .filter_map(|c| c.get("image"))
                        .filter(|image| !image.is_null())
                        .cloned(),
                );
            }
        }
        Ok(Some(Value::Array(images)))
    }
}
