use std::borrow::Cow;

use serde_json::Value;

use crate::args;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `uri_param(uri, name)`
pub(crate) struct UriParam;

/// `uri_params(uri, name)`
pub(crate) struct UriParams;

const DOCS: &str = "\
The value of the query parameter `name` in the request URI `uri` (an audit event's \
`requestURI`), percent-decoded, with `+` read as a space. When the parameter is repeated, as \
`command` is in an exec request (`?command=sh&command=-c&command=id`), the **first** value is \
returned: `sh`. A parameter written without `=` (`?watch`) has the empty value.

This is how Falco's k8saudit plugin extracts `ka.uri.param[NAME]` (Go's `net/url`, first \
value), so `k8scop import falco` translates that field to this function. Every value of a \
repeated parameter is [`uri_params`](uri_params.md).

Missing when `uri` is not a string, has no such parameter, or is a URI that Go's `net/url` \
rejects and the plugin then reads nothing from: a control character, a `%` not followed by two \
hex digits (anywhere in the URI), or a `;` in the query. A decoded value that is not UTF-8 has \
its invalid bytes replaced by `�`. A constant `name` that is not a string is an error when the \
ruleset loads.";

const SPEC: Spec = Spec {
    name: "uri_param",
    params: &[
        Param {
            name: "uri",
            ty: "string",
        },
        Param {
            name: "name",
            ty: "string",
        },
    ],
    returns: "string",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"uri_param("/api/v1/namespaces/web/pods/api-0/exec?command=sh&command=-c&command=id&container=api&stdout=true", "command")"#,
            args: r#"["/api/v1/namespaces/web/pods/api-0/exec?command=sh&command=-c&command=id&container=api&stdout=true", "command"]"#,
            result: r#""sh""#,
        },
        Example {
            call: r#"uri_param("/api/v1/namespaces/web/pods/api-0/exec?command=%2Fbin%2Fsh&container=api", "container")"#,
            args: r#"["/api/v1/namespaces/web/pods/api-0/exec?command=%2Fbin%2Fsh&container=api", "container"]"#,
            result: r#""api""#,
        },
        Example {
            call: r#"uri_param("/api/v1/pods?labelSelector=app%3Dweb%2Ctier+in+%28a%29", "labelSelector")"#,
            args: r#"["/api/v1/pods?labelSelector=app%3Dweb%2Ctier+in+%28a%29", "labelSelector"]"#,
            result: r#""app=web,tier in (a)""#,
        },
        Example {
            call: r#"uri_param("/api/v1/pods?watch&limit=500", "watch")"#,
            args: r#"["/api/v1/pods?watch&limit=500", "watch"]"#,
            result: r#""""#,
        },
        Example {
            call: r#"uri_param("/api/v1/pods?limit=500", "watch")"#,
            args: r#"["/api/v1/pods?limit=500", "watch"]"#,
            result: "null",
        },
        Example {
            call: r#"uri_param("/api/v1/pods?limit=500;watch=1", "limit")"#,
            args: r#"["/api/v1/pods?limit=500;watch=1", "limit"]"#,
            result: "null",
        },
        Example {
            call: r#"uri_param("/api/v1/pods?limit=500&x=%zz", "limit")"#,
            args: r#"["/api/v1/pods?limit=500&x=%zz", "limit"]"#,
            result: "null",
        },
        Example {
            call: r#"uri_param(42, "limit")"#,
            args: r#"[42, "limit"]"#,
            result: "null",
        },
    ],
};

const PARAMS_DOCS: &str = "\
Every value of the query parameter `name` in the request URI `uri`, in order, each \
percent-decoded with `+` read as a space: the whole command of an exec request, whose words come \
as repeated `command` parameters (`?command=sh&command=-c&command=id`). \
`join(uri_params(requestURI, \"command\"), \" \")` is the command line, `sh -c id`.

The URI is read as for [`uri_param`](uri_param.md), which gives the first value, but a pair \
that cannot be read (a `;` in it, a `%` without two hex digits) is left out and the others \
are still read, as Go's `url.ParseQuery` and so the API server read them: adding `&x=%zz` to \
an exec request does not hide its command. An empty list when there is no such parameter. \
Missing when `uri` is not a string or holds a control character. A constant `name` that is not a string is an error when the ruleset loads.";

const PARAMS_SPEC: Spec = Spec {
    name: "uri_params",
    params: SPEC.params,
    returns: "list of strings",
    docs: PARAMS_DOCS,
    examples: &[
        Example {
            call: r#"uri_params("/api/v1/namespaces/web/pods/api-0/exec?command=sh&command=-c&command=curl+https%3A%2F%2Fx&container=api", "command")"#,
            args: r#"["/api/v1/namespaces/web/pods/api-0/exec?command=sh&command=-c&command=curl+https%3A%2F%2Fx&container=api", "command"]"#,
            result: r#"["sh", "-c", "curl https://x"]"#,
        },
        Example {
            call: r#"uri_params("/api/v1/pods?limit=500", "command")"#,
            args: r#"["/api/v1/pods?limit=500", "command"]"#,
            result: "[]",
        },
        Example {
            call: r#"uri_params("/api/v1/pods?limit=500&x=%zz;y=1&limit=10", "limit")"#,
            args: r#"["/api/v1/pods?limit=500&x=%zz;y=1&limit=10", "limit"]"#,
            result: r#"["500", "10"]"#,
        },
        Example {
            call: r#"uri_params(42, "command")"#,
            args: r#"[42, "command"]"#,
            result: "null",
        },
    ],
};

impl Function for UriParams {
    fn spec(&self) -> &'static Spec {
        &PARAMS_SPEC
    }

    fn compile(&self, args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        args::const_str(args, 1)?;
        Ok(Box::new(UriParamsFn))
    }
}

struct UriParamsFn;

impl Compiled for UriParamsFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [uri, name] = args::exact(args)?;
        let (Some(uri), Some(name)) = (uri.as_str(), name.as_str()) else {
            return Ok(None);
        };
        Ok(values(uri, name, Pairs::SkipBad)
            .map(|v| Value::Array(v.into_iter().map(Value::String).collect())))
    }
}

impl Function for UriParam {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        args::const_str(args, 1)?;
        Ok(Box::new(UriParamFn))
    }
}

struct UriParamFn;

impl Compiled for UriParamFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [uri, name] = args::exact(args)?;
        let (Some(uri), Some(name)) = (uri.as_str(), name.as_str()) else {
            return Ok(None);
        };
        Ok(first_value(uri, name).map(Value::String))
    }
}

/// The first value of the query parameter `name` in `uri`, as Go's `url.Parse` followed by
/// `url.ParseQuery` and `values[name][0]` give it; `None` where either of them fails or the
/// parameter is absent.
///
/// Go fails on a control character anywhere, on a `%` escape without two hex digits in the path,
/// the query or the fragment (each is unescaped), and on a `;` in any query pair. The
/// fragment is cut at the first `#` before the query at the first `?`.
fn first_value(uri: &str, name: &str) -> Option<String> {
    values(uri, name, Pairs::AllOrNothing)?.into_iter().next()
}

/// What a pair that cannot be read (a `;`, a `%` without two hex digits) does.
#[derive(Clone, Copy, PartialEq)]
enum Pairs {
    /// Nothing is read, as the k8saudit plugin reads nothing (`uri_param`).
    AllOrNothing,
    /// Only that pair is left out, as Go's `url.ParseQuery` keeps the others and the API server
    /// still runs the command (`uri_params`).
    SkipBad,
}

/// Every value of the query parameter `name` in `uri`, in order (none without a query); `None`
/// where Go's parsing fails, as for [`first_value`], unless `pairs` skips the bad pairs.
fn values(uri: &str, name: &str, pairs: Pairs) -> Option<Vec<String>> {
    let bytes = uri.as_bytes();
    if bytes.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return None;
    }
    if pairs == Pairs::AllOrNothing && !escapes_are_valid(bytes) {
        return None;
    }
    let without_fragment = uri.split_once('#').map_or(uri, |(before, _)| before);
    let Some((_, query)) = without_fragment.split_once('?') else {
        return Some(Vec::new());
    };
    if pairs == Pairs::AllOrNothing && query.contains(';') {
        return None;
    }
    Some(
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| !pair.contains(';') && escapes_are_valid(pair.as_bytes()))
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .filter(|(key, _)| decode(key) == name)
            .map(|(_, value)| decode(value).into_owned())
            .collect(),
    )
}

/// Whether every `%` starts an escape of two hex digits.
fn escapes_are_valid(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(a), Some(b)) if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    true
}

/// A query component decoded: `+` is a space and `%XY` the byte XY (the escapes are valid).
/// Bytes that do not form UTF-8 become `�`.
fn decode(component: &str) -> Cow<'_, str> {
    if !component.contains(['%', '+']) {
        return Cow::Borrowed(component);
    }
    let bytes = component.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(bytes[i + 1]) << 4 | hex(bytes[i + 2]));
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(err) => Cow::Owned(String::from_utf8_lossy(err.as_bytes()).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_of_repeated_values_is_taken_as_the_plugin_takes_it() {
        let uri =
            "/api/v1/namespaces/d/pods/p/exec?command=bash&command=-c&command=curl%20x&tty=true";
        assert_eq!(first_value(uri, "command").as_deref(), Some("bash"));
        assert_eq!(first_value(uri, "tty").as_deref(), Some("true"));
        assert_eq!(first_value(uri, "stdin"), None);
    }

    #[test]
    fn every_value_in_order() {
        let uri =
            "/api/v1/namespaces/d/pods/p/exec?command=bash&command=-c&command=curl%20x&tty=true";
        let all = |uri: &str, name: &str| values(uri, name, Pairs::SkipBad);
        assert_eq!(all(uri, "command").unwrap(), ["bash", "-c", "curl x"]);
        assert_eq!(all(uri, "stdin").unwrap(), Vec::<String>::new());
        assert_eq!(
            all("/api/v1/pods", "command").unwrap(),
            Vec::<String>::new()
        );
        // A bad pair is left out; the others are still read, as the API server reads them.
        assert_eq!(all("/x?a=1&b=%zz&a=2;x&a=3", "a").unwrap(), ["1", "3"]);
        assert_eq!(values("/x?a=1&b=%zz", "a", Pairs::AllOrNothing), None);
    }

    #[test]
    fn keys_are_decoded_before_they_are_compared() {
        assert_eq!(first_value("/x?a%62c=1", "abc").as_deref(), Some("1"));
        assert_eq!(first_value("/x?a+b=c+d", "a b").as_deref(), Some("c d"));
        assert_eq!(first_value("/x?Command=1", "command"), None);
    }

    #[test]
    fn empty_values_and_empty_pairs() {
        assert_eq!(first_value("/x?a=&b", "a").as_deref(), Some(""));
        assert_eq!(first_value("/x?a=&b", "b").as_deref(), Some(""));
        assert_eq!(first_value("/x?&&a=1&", "a").as_deref(), Some("1"));
        assert_eq!(first_value("/x?=1", "").as_deref(), Some("1"));
        assert_eq!(first_value("/x?a=b=c", "a").as_deref(), Some("b=c"));
        assert_eq!(first_value("/x?", "a"), None);
        assert_eq!(first_value("/x", "a"), None);
    }

    #[test]
    fn the_fragment_is_not_part_of_the_query() {
        assert_eq!(first_value("/x?a=1#b=2", "a").as_deref(), Some("1"));
        assert_eq!(first_value("/x?a=1#b=2", "b"), None);
        assert_eq!(first_value("/x#?a=1", "a"), None);
        assert_eq!(first_value("/x?a=1?b=2", "a").as_deref(), Some("1?b=2"));
    }

    #[test]
    fn what_go_rejects_gives_nothing() {
        // A bad escape anywhere: in the path, in another pair, in the fragment, at the end.
        assert_eq!(first_value("/%zz?a=1", "a"), None);
        assert_eq!(first_value("/x?a=1&b=%4", "a"), None);
        assert_eq!(first_value("/x?a=1#%", "a"), None);
        // A semicolon in the query, but not in the path or the fragment.
        assert_eq!(first_value("/x?a=1&b=2;c=3", "a"), None);
        assert_eq!(first_value("/x;y?a=1#;", "a").as_deref(), Some("1"));
        // Control characters.
        assert_eq!(first_value("/x?a=1\tb", "a"), None);
        assert_eq!(first_value("/x?a=1\u{7f}", "a"), None);
    }

    #[test]
    fn decoded_bytes_that_are_not_utf8_are_replaced() {
        assert_eq!(first_value("/x?a=%C3%A9", "a").as_deref(), Some("é"));
        assert_eq!(
            first_value("/x?a=%FFok", "a").as_deref(),
            Some("\u{fffd}ok")
        );
    }

    #[test]
    fn a_constant_name_must_be_a_string() {
        let three = json!(3);
        let err = UriParam
            .compile(&[ArgShape::Dynamic, ArgShape::Const(&three)])
            .err()
            .expect("a number name is rejected");
        assert_eq!(err.index, 1);
        assert_eq!(err.message, "expected a string, found a number");
        let f = UriParam
            .compile(&[ArgShape::Dynamic, ArgShape::Dynamic])
            .unwrap();
        assert_eq!(f.call(&[&json!("/x?a=1"), &json!(3)]), Ok(None));
    }
}
