use serde_json::Value;

use crate::args;
use crate::net::{self, Cidr};
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `cidr_match(ip, cidr)`
pub(crate) struct CidrMatch;

const DOCS: &str = "\
Whether the IP address `ip` lies in the range `cidr`, written `ADDRESS/PREFIX` \
(`10.0.0.0/8`, `2001:db8::/32`), with the same rules as the `cidr` operator. `cidr` may also be \
a list of ranges, and then the result is whether `ip` lies in any of them.

- IPv4 and IPv6 both work. An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) is treated as its \
IPv4 address, so it lies in `10.0.0.0/8`; a range inside `::ffff:0:0/96` is the IPv4 range it \
maps. Otherwise an IPv4 address never lies in an IPv6 range, not even `::/0`, and the other way \
round.
- A plain address as `cidr` is a one-address range (`/32` or `/128`). Host bits after the prefix \
are ignored: `10.1.2.3/8` is `10.0.0.0/8`.
- `ip` must be a plain address: with a port (`10.1.2.3:443`), in brackets (`[::1]`), with a \
zone (`fe80::1%eth0`), with spaces around it, or with an IPv4 octet written with a leading zero \
(`010.1.2.3`), it is not an address and the result is missing.

A constant `cidr` that is not a valid range (or list of ranges) is an error when the ruleset \
loads; known only per event, an invalid range makes the call report an error, and its result is \
missing. Missing as well when `ip` is not a string holding an IP address.";

const SPEC: Spec = Spec {
    name: "cidr_match",
    params: &[
        Param {
            name: "ip",
            ty: "string",
        },
        Param {
            name: "cidr",
            ty: "string | list of strings",
        },
    ],
    returns: "bool",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"cidr_match("10.20.0.7", "10.0.0.0/8")"#,
            args: r#"["10.20.0.7", "10.0.0.0/8"]"#,
            result: "true",
        },
        Example {
            call: r#"cidr_match("172.32.0.1", "172.16.0.0/12")"#,
            args: r#"["172.32.0.1", "172.16.0.0/12"]"#,
            result: "false",
        },
        Example {
            call: r#"cidr_match("2001:db8:0:1::5", "2001:db8::/32")"#,
            args: r#"["2001:db8:0:1::5", "2001:db8::/32"]"#,
            result: "true",
        },
        Example {
            call: r#"cidr_match("::ffff:192.168.1.10", "192.168.0.0/16")"#,
            args: r#"["::ffff:192.168.1.10", "192.168.0.0/16"]"#,
            result: "true",
        },
        Example {
            call: r#"cidr_match("10.0.0.1", "::/0")"#,
            args: r#"["10.0.0.1", "::/0"]"#,
            result: "false",
        },
        Example {
            call: r#"cidr_match("192.168.3.4", ["10.0.0.0/8", "192.168.0.0/16"])"#,
            args: r#"["192.168.3.4", ["10.0.0.0/8", "192.168.0.0/16"]]"#,
            result: "true",
        },
        Example {
            call: r#"cidr_match("10.0.0.1:443", "10.0.0.0/8")"#,
            args: r#"["10.0.0.1:443", "10.0.0.0/8"]"#,
            result: "null",
        },
    ],
};

impl Function for CidrMatch {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        let ranges = match args::constant(args, 1) {
            None => None,
            Some(value) => Some(ranges(value).map_err(|message| ArgError { index: 1, message })?),
        };
        Ok(Box::new(CidrMatchFn { ranges }))
    }
}

/// One range, with the message for a malformed one.
fn parse(range: &str) -> Result<Cidr, String> {
    Cidr::parse(range).map_err(|reason| args::invalid("CIDR range", range, &reason))
}

/// The ranges of a `cidr` argument: a string or a list of strings.
fn ranges(value: &Value) -> Result<Vec<Cidr>, String> {
    match value {
        Value::String(s) => Ok(vec![parse(s)?]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(position, item)| match item {
                Value::String(s) => parse(s),
                other => Err(format!(
                    "expected a CIDR range or a list of them, item {} is {}",
                    position + 1,
                    args::type_name(other)
                )),
            })
            .collect(),
        other => Err(format!(
            "expected a CIDR range or a list of them, found {}",
            args::type_name(other)
        )),
    }
}

struct CidrMatchFn {
    /// The ranges when they are a constant.
    ranges: Option<Vec<Cidr>>,
}

impl Compiled for CidrMatchFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [ip, cidr] = args::exact(args)?;
        let Some(ip) = ip.as_str().and_then(net::parse_ip) else {
            return Ok(None);
        };
        let found = match &self.ranges {
            Some(ranges) => ranges.iter().any(|r| r.contains(ip)),
            None => match cidr {
                Value::String(_) | Value::Array(_) => ranges(cidr)
                    .map_err(CallError)?
                    .iter()
                    .any(|r| r.contains(ip)),
                _ => return Ok(None),
            },
        };
        Ok(Some(Value::Bool(found)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load_error(cidr: Value) -> ArgError {
        CidrMatch
            .compile(&[ArgShape::Dynamic, ArgShape::Const(&cidr)])
            .err()
            .expect("the constant is rejected")
    }

    #[test]
    fn invalid_constant_ranges_are_load_errors() {
        let err = load_error(json!("10.0.0.0/40"));
        assert_eq!(err.index, 1);
        assert_eq!(
            err.message,
            "invalid CIDR range `10.0.0.0/40`: the prefix length must be at most 32 for IPv4"
        );
        assert_eq!(
            load_error(json!(["10.0.0.0/8", "nope"])).message,
            "invalid CIDR range `nope`: `nope` is not an IP address"
        );
        assert_eq!(
            load_error(json!(["10.0.0.0/8", 8])).message,
            "expected a CIDR range or a list of them, item 2 is a number"
        );
        assert_eq!(
            load_error(json!(8)).message,
            "expected a CIDR range or a list of them, found a number"
        );
    }

    #[test]
    fn dynamic_ranges() {
        let f = CidrMatch
            .compile(&[ArgShape::Dynamic, ArgShape::Dynamic])
            .unwrap();
        let ip = json!("10.1.1.1");
        assert_eq!(f.call(&[&ip, &json!("10.0.0.0/8")]), Ok(Some(json!(true))));
        assert_eq!(
            f.call(&[&ip, &json!(["192.168.0.0/16"])]),
            Ok(Some(json!(false)))
        );
        assert_eq!(f.call(&[&ip, &json!(8)]), Ok(None));
        assert_eq!(
            f.call(&[&ip, &json!("10.0.0.0/x")]),
            Err(CallError(
                "invalid CIDR range `10.0.0.0/x`: the prefix length `x` is not a number".into()
            ))
        );
        // an address that does not parse gives missing before the range is looked at
        assert_eq!(f.call(&[&json!("nope"), &json!("bad")]), Ok(None));
    }
}
