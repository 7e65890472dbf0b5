use crate::user;
use crate::{ArgError, ArgShape, Compiled, Example, Function, Param, Spec};

/// `service_account_namespace(user)`
pub(crate) struct ServiceAccountNamespace;

const DOCS: &str = "\
The namespace of a service account user name `system:serviceaccount:NS:NAME`: NS. `user` is a \
user name or a user object with a `username` (the event's `user` or `impersonatedUser`). Compare \
it with `objectRef.namespace` to find service accounts acting outside their own namespace.

Missing when the user name is not a service account's (by the rules of `is_service_account`), \
and when `user` is neither a string nor an object with a string `username`.";

const SPEC: Spec = Spec {
    name: "service_account_namespace",
    params: &[Param {
        name: "user",
        ty: "string | object",
    }],
    returns: "string",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"service_account_namespace("system:serviceaccount:ci:deployer")"#,
            args: r#"["system:serviceaccount:ci:deployer"]"#,
            result: r#""ci""#,
        },
        Example {
            call: "service_account_namespace(user)",
            args: r#"[{"username": "system:serviceaccount:kube-system:coredns"}]"#,
            result: r#""kube-system""#,
        },
        Example {
            call: r#"service_account_namespace("alice")"#,
            args: r#"["alice"]"#,
            result: "null",
        },
        Example {
            call: r#"service_account_namespace("system:serviceaccount::deployer")"#,
            args: r#"["system:serviceaccount::deployer"]"#,
            result: "null",
        },
    ],
};

impl Function for ServiceAccountNamespace {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(user::ServiceAccountPart::Namespace))
    }
}
