use serde_json::Value;

use crate::args;
use crate::user;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param};

/// `service_account_namespace(user)`
pub(crate) struct ServiceAccountNamespace;

const DOCS: &str = "\
The namespace of a service account user name `system:serviceaccount:NS:NAME`: NS. `user` is a \
user name or a user object with a `username` (the event's `user` or `impersonatedUser`). Compare \
it with `objectRef.namespace` to find service accounts acting outside their own namespace.

Missing when the user name is not a service account's (by the rules of `is_service_account`), \
and when `user` is neither a string nor an object with a string `username`.";

impl Function for ServiceAccountNamespace {
    fn name(&self) -> &'static str {
        "service_account_namespace"
    }

    fn params(&self) -> &'static [Param] {
        &[Param {
            name: "user",
            ty: "string | object",
        }]
    }

    fn returns(&self) -> &'static str {
        "string"
    }

    fn docs(&self) -> &'static str {
        DOCS
    }

    fn examples(&self) -> &'static [Example] {
        &[
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
        ]
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(ServiceAccountNamespaceFn))
    }
}

struct ServiceAccountNamespaceFn;

impl Compiled for ServiceAccountNamespaceFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [u] = args::exact(args)?;
        Ok(user::username(u)
            .and_then(user::split_service_account)
            .map(|(namespace, _)| Value::String(namespace.into())))
    }
}
