use crate::net;
use crate::{ArgError, ArgShape, Compiled, Example, Function, Param, Spec};

/// `is_public_ip(ip)`
pub(crate) struct IsPublicIp;

const DOCS: &str = "\
Whether the IP address `ip` is publicly routable, the kind of address a request from outside \
the cluster's networks comes from.

- IPv4: not private (see `is_private_ip`) and outside these special ranges: `0.0.0.0/8` \
(\"this network\"), `192.0.0.0/24` (IETF protocol assignments), `192.0.2.0/24`, \
`198.51.100.0/24` and `203.0.113.0/24` (documentation), `198.18.0.0/15` (benchmarking), \
`224.0.0.0/4` (multicast) and `240.0.0.0/4` (reserved, with the broadcast address).
- IPv6: inside the global unicast block `2000::/3` and outside the documentation blocks \
`2001:db8::/32` and `3fff::/20`. So `::`, `::1`, `fc00::/7`, `fe80::/10` and multicast \
`ff00::/8` are not public.
- An IPv4-mapped IPv6 address (`::ffff:8.8.8.8`) is judged as its IPv4 address.

Missing when `ip` is not a string holding a plain IP address (see `cidr_match` for what counts \
as one).";

const SPEC: Spec = Spec {
    name: "is_public_ip",
    params: &[Param {
        name: "ip",
        ty: "string",
    }],
    returns: "bool",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"is_public_ip("203.0.114.9")"#,
            args: r#"["203.0.114.9"]"#,
            result: "true",
        },
        Example {
            call: r#"is_public_ip("10.0.0.8")"#,
            args: r#"["10.0.0.8"]"#,
            result: "false",
        },
        Example {
            call: r#"is_public_ip("0.0.0.0")"#,
            args: r#"["0.0.0.0"]"#,
            result: "false",
        },
        Example {
            call: r#"is_public_ip("2606:4700:4700::1111")"#,
            args: r#"["2606:4700:4700::1111"]"#,
            result: "true",
        },
        Example {
            call: r#"is_public_ip("ff02::1")"#,
            args: r#"["ff02::1"]"#,
            result: "false",
        },
        Example {
            call: r#"is_public_ip("not an ip")"#,
            args: r#"["not an ip"]"#,
            result: "null",
        },
    ],
};

impl Function for IsPublicIp {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(net::IpTest(net::is_public)))
    }
}
