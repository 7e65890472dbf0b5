use crate::user;
use crate::{ArgError, ArgShape, Compiled, Example, Function, Param, Spec};

/// `service_account_name(user)`
pub(crate) struct ServiceAccountName;

const DOCS: &str = "\
The name of a service account user name `system:serviceaccount:NS:NAME`: NAME. `user` is a user \
name or a user object with a `username` (the event's `user` or `impersonatedUser`).

Missing when the user name is not a service account's (by the rules of `is_service_account`), \
and when `user` is neither a string nor an object with a string `username`.";

const SPEC: Spec = Spec {
    name: "service_account_name",
    params: &[Param {
        name: "user",
        ty: "string | object",
    }],
    returns: "string",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"service_account_name("system:serviceaccount:ci:deployer")"#,
            args: r#"["system:serviceaccount:ci:deployer"]"#,
            result: r#""deployer""#,
        },
        Example {
            call: "service_account_name(user)",
            args: r#"[{"username": "system:serviceaccount:monitoring:prometheus.k8s"}]"#,
            result: r#""prometheus.k8s""#,
        },
        Example {
            call: r#"service_account_name("system:node:worker-1")"#,
            args: r#"["system:node:worker-1"]"#,
            result: "null",
        },
        Example {
            call: "service_account_name(true)",
            args: "[true]",
            result: "null",
        },
    ],
};

impl Function for ServiceAccountName {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(user::ServiceAccountPart::Name))
    }
}
