use serde_json::Value;

use crate::args;
use crate::image;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `image_tag(image)`
pub(crate) struct ImageTag;

const DOCS: &str = concat!(
    "\
The tag of the container image reference `image`, as the container runtime sees it: the tag \
written in the reference, or `latest` when there is neither a tag nor a digest. A reference \
pinned by digest only (`img@sha256:...`) has no tag, and the result is missing; with both \
(`img:1.2@sha256:...`) the tag is `1.2`, although the runtime pulls by digest.

Missing when `image` is not a string, is malformed, or has a digest and no tag.

",
    image_reference_docs!()
);

const SPEC: Spec = Spec {
    name: "image_tag",
    params: &[Param {
        name: "image",
        ty: "string",
    }],
    returns: "string",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"image_tag("nginx")"#,
            args: r#"["nginx"]"#,
            result: r#""latest""#,
        },
        Example {
            call: r#"image_tag("gcr.io/ns/img:1.2")"#,
            args: r#"["gcr.io/ns/img:1.2"]"#,
            result: r#""1.2""#,
        },
        Example {
            call: r#"image_tag("registry:5000/ns/img")"#,
            args: r#"["registry:5000/ns/img"]"#,
            result: r#""latest""#,
        },
        Example {
            call: r#"image_tag("img:t@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")"#,
            args: r#"["img:t@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]"#,
            result: r#""t""#,
        },
        Example {
            call: r#"image_tag("img@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")"#,
            args: r#"["img@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]"#,
            result: "null",
        },
        Example {
            call: r#"image_tag("nginx:")"#,
            args: r#"["nginx:"]"#,
            result: "null",
        },
    ],
};

impl Function for ImageTag {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(ImageTagFn))
    }
}

struct ImageTagFn;

impl Compiled for ImageTagFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [image] = args::exact(args)?;
        Ok(image.as_str().and_then(image::parse).and_then(|reference| {
            reference
                .effective_tag()
                .map(|tag| Value::String(tag.into()))
        }))
    }
}
