//! Kubernetes user names, as `is_system_user`, `is_service_account`, `service_account_namespace`
//! and `service_account_name` take them.

use serde_json::Value;

/// The user name a `user` argument stands for: a string, or an object with a string `username`
/// (the audit event's `user` or `impersonatedUser`).
pub(crate) fn username(value: &Value) -> Option<&str> {
    match value {
        Value::String(name) => Some(name),
        Value::Object(object) => object.get("username")?.as_str(),
        _ => None,
    }
}

const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// The namespace and name of a service account user name, `system:serviceaccount:NS:NAME`, checked
/// as Kubernetes' `serviceaccount.SplitUsername` checks it: NS is a DNS-1123 label and NAME a
/// DNS-1123 subdomain.
pub(crate) fn split_service_account(username: &str) -> Option<(&str, &str)> {
    let (namespace, name) = username
        .strip_prefix(SERVICE_ACCOUNT_PREFIX)?
        .split_once(':')?;
    (is_dns1123_label(namespace) && is_dns1123_subdomain(name)).then_some((namespace, name))
}

/// At most 63 characters of `[a-z0-9-]`, starting and ending with a letter or digit.
fn is_dns1123_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
}

/// At most 253 characters: DNS-1123 labels joined by `.`.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// A compiled `service_account_name(user)` or `service_account_namespace(user)` call: that part
/// of a service account's username; missing for any other user.
pub(crate) enum ServiceAccountPart {
    Namespace,
    Name,
}

impl crate::Compiled for ServiceAccountPart {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, crate::CallError> {
        let [u] = crate::args::exact(args)?;
        Ok(username(u)
            .and_then(split_service_account)
            .map(|(namespace, name)| match self {
                ServiceAccountPart::Namespace => Value::String(namespace.into()),
                ServiceAccountPart::Name => Value::String(name.into()),
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usernames_from_strings_and_user_objects() {
        assert_eq!(username(&json!("alice")), Some("alice"));
        assert_eq!(
            username(&json!({"username": "bob", "groups": []})),
            Some("bob")
        );
        assert_eq!(username(&json!({"uid": "1"})), None);
        assert_eq!(username(&json!({"username": 3})), None);
        assert_eq!(username(&json!(["alice"])), None);
    }

    #[test]
    fn service_account_names() {
        assert_eq!(
            split_service_account("system:serviceaccount:kube-system:default"),
            Some(("kube-system", "default"))
        );
        assert_eq!(
            split_service_account("system:serviceaccount:ns:my.sa-1"),
            Some(("ns", "my.sa-1"))
        );
        for bad in [
            "system:serviceaccount:",
            "system:serviceaccount:ns",
            "system:serviceaccount:ns:",
            "system:serviceaccount::name",
            "system:serviceaccount:ns:a:b",
            "system:serviceaccount:NS:name",
            "system:serviceaccount:ns:Name",
            "system:serviceaccount:-ns:name",
            "system:serviceaccount:ns:name.",
            "system:serviceaccounts:ns",
            "system:node:worker-1",
            "serviceaccount:ns:name",
            "alice",
        ] {
            assert_eq!(split_service_account(bad), None, "{bad}");
        }
        let long_ns = format!("system:serviceaccount:{}:sa", "n".repeat(64));
        assert_eq!(split_service_account(&long_ns), None);
        let ok_ns = format!("system:serviceaccount:{}:sa", "n".repeat(63));
        assert!(split_service_account(&ok_ns).is_some());
    }
}
