use serde_json::Value;

use crate::args;
use crate::user;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `is_service_account(user)`
pub(crate) struct IsServiceAccount;

const DOCS: &str = "\
Whether the user name is a service account's, `system:serviceaccount:NS:NAME`. `user` is a \
user name or a user object with a `username` (the event's `user` or `impersonatedUser`).

The name is checked as Kubernetes checks it (`serviceaccount.SplitUsername`): NS must be a valid \
namespace name (a DNS-1123 label: at most 63 lowercase letters, digits and `-`, starting and \
ending with a letter or digit) and NAME a valid service account name (a DNS-1123 subdomain: such \
labels joined by `.`, at most 253 characters).

The group `system:serviceaccounts:NS` is not a user name and gives `false`.

Missing when `user` is neither a string nor an object with a string `username`.";

const SPEC: Spec = Spec {
    name: "is_service_account",
    params: &[Param {
        name: "user",
        ty: "string | object",
    }],
    returns: "bool",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"is_service_account("system:serviceaccount:ci:deployer")"#,
            args: r#"["system:serviceaccount:ci:deployer"]"#,
            result: "true",
        },
        Example {
            call: "is_service_account(user)",
            args: r#"[{"username": "system:serviceaccount:kube-system:replicaset-controller", "uid": "9c1f"}]"#,
            result: "true",
        },
        Example {
            call: r#"is_service_account("system:node:worker-1")"#,
            args: r#"["system:node:worker-1"]"#,
            result: "false",
        },
        Example {
            call: r#"is_service_account("system:serviceaccount:ci")"#,
            args: r#"["system:serviceaccount:ci"]"#,
            result: "false",
        },
        Example {
            call: r#"is_service_account("system:serviceaccount:CI:Deployer")"#,
            args: r#"["system:serviceaccount:CI:Deployer"]"#,
            result: "false",
        },
        Example {
            call: "is_service_account(42)",
            args: "[42]",
            result: "null",
        },
    ],
};

impl Function for IsServiceAccount {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(IsServiceAccountFn))
    }
}

struct IsServiceAccountFn;

impl Compiled for IsServiceAccountFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [u] = args::exact(args)?;
        Ok(user::username(u).map(|name| Value::Bool(user::split_service_account(name).is_some())))
    }
}
