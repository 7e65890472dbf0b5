use serde_json::Value;

use crate::args;
use crate::image;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `image_outside(image, prefixes)`
pub(crate) struct ImageOutside;

const DOCS: &str = "\
Whether the container image `image` comes from outside the places `prefixes` allows: true when \
the repository of the image (normalized as `image_repository` does: `nginx` is \
`docker.io/library/nginx`) starts with none of `prefixes`, and when the reference is malformed, \
since an image nobody can read cannot be vouched for. With `pod_images`, \
`image_outside(pod_images(requestObject), allowed_image_registries)` holds when any image of a \
pod or workload is from elsewhere.

Missing when `image` is not a string or `prefixes` is not a list. A constant `prefixes` must be a \
list of strings; it can be the name of a `list` of the ruleset.";

const SPEC: Spec = Spec {
    name: "image_outside",
    params: &[
        Param {
            name: "image",
            ty: "string",
        },
        Param {
            name: "prefixes",
            ty: "list of strings",
        },
    ],
    returns: "bool",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"image_outside("ttl.sh/4f0c2a9e:1h", ["registry.k8s.io/", "docker.io/library/"])"#,
            args: r#"["ttl.sh/4f0c2a9e:1h", ["registry.k8s.io/", "docker.io/library/"]]"#,
            result: "true",
        },
        Example {
            call: r#"image_outside("nginx:1.25", ["registry.k8s.io/", "docker.io/library/"])"#,
            args: r#"["nginx:1.25", ["registry.k8s.io/", "docker.io/library/"]]"#,
            result: "false",
        },
        Example {
            call: r#"image_outside("Nginx:latest", ["docker.io/"])"#,
            args: r#"["Nginx:latest", ["docker.io/"]]"#,
            result: "true",
        },
        Example {
            call: r#"image_outside(7, ["docker.io/"])"#,
            args: r#"[7, ["docker.io/"]]"#,
            result: "null",
        },
    ],
};

impl Function for ImageOutside {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        let prefixes = args::const_str_list(args, 1)?;
        Ok(Box::new(ImageOutsideFn { prefixes }))
    }
}

struct ImageOutsideFn {
    /// The prefixes when they are a constant.
    prefixes: Option<Vec<String>>,
}

impl Compiled for ImageOutsideFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [image, list] = args::exact(args)?;
        let Some(image) = image.as_str() else {
            return Ok(None);
        };
        let Some(reference) = image::parse(image) else {
            return Ok(Some(Value::Bool(true)));
        };
        let repository = reference.repository.as_str();
        let inside = match &self.prefixes {
            Some(prefixes) => prefixes.iter().any(|p| repository.starts_with(p.as_str())),
            None => match args::str_items(list) {
                Some(mut prefixes) => prefixes.any(|p| repository.starts_with(p)),
                None => return Ok(None),
            },
        };
        Ok(Some(Value::Bool(!inside)))
    }
}
