use serde_json::Value;

use crate::args;
use crate::user;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `is_system_user(user)`
pub(crate) struct IsSystemUser;

const DOCS: &str = "\
Whether the user name starts with `system:`, the prefix Kubernetes reserves for its own \
identities. `user` is a user name or a user object with a `username` (the event's `user` or \
`impersonatedUser`).

This covers control-plane components (`system:kube-scheduler`, `system:kube-controller-manager`, \
`system:apiserver`), nodes (`system:node:NAME`), every service account \
(`system:serviceaccount:NS:NAME`) and the anonymous user (`system:anonymous`). To leave \
service accounts out, add `and not is_service_account(user)`. The test is on the user name \
only: membership of a group such as `system:masters` does not count.

Missing when `user` is neither a string nor an object with a string `username`.";

const SPEC: Spec = Spec {
    name: "is_system_user",
    params: &[Param {
        name: "user",
        ty: "string | object",
    }],
    returns: "bool",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"is_system_user("system:kube-controller-manager")"#,
            args: r#"["system:kube-controller-manager"]"#,
            result: "true",
        },
        Example {
            call: r#"is_system_user("system:serviceaccount:kube-system:coredns")"#,
            args: r#"["system:serviceaccount:kube-system:coredns"]"#,
            result: "true",
        },
        Example {
            call: r#"is_system_user("alice@example.com")"#,
            args: r#"["alice@example.com"]"#,
            result: "false",
        },
        Example {
            call: "is_system_user(user)",
            args: r#"[{"username": "system:node:worker-1", "groups": ["system:nodes"]}]"#,
            result: "true",
        },
        Example {
            call: r#"is_system_user("System:admin")"#,
            args: r#"["System:admin"]"#,
            result: "false",
        },
        Example {
            call: "is_system_user(user)",
            args: r#"[{"uid": "42"}]"#,
            result: "null",
        },
    ],
};

impl Function for IsSystemUser {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(IsSystemUserFn))
    }
}

struct IsSystemUserFn;

impl Compiled for IsSystemUserFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [u] = args::exact(args)?;
        Ok(user::username(u).map(|name| Value::Bool(name.starts_with("system:"))))
    }
}
