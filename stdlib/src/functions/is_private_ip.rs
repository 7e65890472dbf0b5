use crate::net;
use crate::{ArgError, ArgShape, Compiled, Example, Function, Param, Spec};

/// `is_private_ip(ip)`
pub(crate) struct IsPrivateIp;

const DOCS: &str = "\
Whether the IP address `ip` is private: in a private network (RFC 1918), carrier-grade NAT, \
loopback, link-local or IPv6 unique local range.

Exactly these ranges count:

| range | what |
|---|---|
| `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` | private networks (RFC 1918) |
| `100.64.0.0/10` | carrier-grade NAT, shared address space (RFC 6598) |
| `127.0.0.0/8` | IPv4 loopback |
| `169.254.0.0/16` | IPv4 link-local (cloud metadata services live here) |
| `fc00::/7` | IPv6 unique local addresses (RFC 4193) |
| `fe80::/10` | IPv6 link-local |
| `::1` | IPv6 loopback |

An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) is judged as its IPv4 address. Everything else \
is not private, including `0.0.0.0`, `::`, multicast, broadcast and documentation addresses: \
`is_private_ip` is not the opposite of `is_public_ip`.

Missing when `ip` is not a string holding a plain IP address (see `cidr_match` for what counts \
as one).";

const SPEC: Spec = Spec {
    name: "is_private_ip",
    params: &[Param {
        name: "ip",
        ty: "string",
    }],
    returns: "bool",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"is_private_ip("10.244.1.17")"#,
            args: r#"["10.244.1.17"]"#,
            result: "true",
        },
        Example {
            call: r#"is_private_ip("172.32.0.1")"#,
            args: r#"["172.32.0.1"]"#,
            result: "false",
        },
        Example {
            call: r#"is_private_ip("100.100.1.1")"#,
            args: r#"["100.100.1.1"]"#,
            result: "true",
        },
        Example {
            call: r#"is_private_ip("fd12:3456::1")"#,
            args: r#"["fd12:3456::1"]"#,
            result: "true",
        },
        Example {
            call: r#"is_private_ip("::ffff:192.168.0.5")"#,
            args: r#"["::ffff:192.168.0.5"]"#,
            result: "true",
        },
        Example {
            call: r#"is_private_ip("8.8.8.8")"#,
            args: r#"["8.8.8.8"]"#,
            result: "false",
        },
        Example {
            call: r#"is_private_ip("0.0.0.0")"#,
            args: r#"["0.0.0.0"]"#,
            result: "false",
        },
        Example {
            call: r#"is_private_ip("localhost")"#,
            args: r#"["localhost"]"#,
            result: "null",
        },
    ],
};

impl Function for IsPrivateIp {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(net::IpTest(net::is_private)))
    }
}
