use serde_json::Value;

use crate::args;
use crate::image;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `image_repository(image)`
pub(crate) struct ImageRepository;

const DOCS: &str = concat!(
    "\
The repository of the container image reference `image`, normalized: registry and path, without \
tag or digest. `nginx:1.25` gives `docker.io/library/nginx`. Compare it with `==`, `in` or \
`startswith \"registry.example.com/\"` to allow only images from trusted registries.

Missing when `image` is not a string or is malformed.

",
    image_reference_docs!()
);

const SPEC: Spec = Spec {
    name: "image_repository",
    params: &[Param {
        name: "image",
        ty: "string",
    }],
    returns: "string",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"image_repository("nginx")"#,
            args: r#"["nginx"]"#,
            result: r#""docker.io/library/nginx""#,
        },
        Example {
            call: r#"image_repository("bitnami/redis:7.2")"#,
            args: r#"["bitnami/redis:7.2"]"#,
            result: r#""docker.io/bitnami/redis""#,
        },
        Example {
            call: r#"image_repository("gcr.io/ns/img:1.2")"#,
            args: r#"["gcr.io/ns/img:1.2"]"#,
            result: r#""gcr.io/ns/img""#,
        },
        Example {
            call: r#"image_repository("registry:5000/ns/img:1.2")"#,
            args: r#"["registry:5000/ns/img:1.2"]"#,
            result: r#""registry:5000/ns/img""#,
        },
        Example {
            call: r#"image_repository("localhost/img")"#,
            args: r#"["localhost/img"]"#,
            result: r#""localhost/img""#,
        },
        Example {
            call: r#"image_repository("alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")"#,
            args: r#"["alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]"#,
            result: r#""docker.io/library/alpine""#,
        },
        Example {
            call: r#"image_repository("Nginx:latest")"#,
            args: r#"["Nginx:latest"]"#,
            result: "null",
        },
    ],
};

impl Function for ImageRepository {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(ImageRepositoryFn))
    }
}

struct ImageRepositoryFn;

impl Compiled for ImageRepositoryFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [image] = args::exact(args)?;
        Ok(image
            .as_str()
            .and_then(image::parse)
            .map(|reference| Value::String(reference.repository)))
    }
}
