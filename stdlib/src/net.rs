//! IP addresses and CIDR ranges, as used by `cidr_match`, `is_private_ip`, `is_public_ip` and the
//! `cidr` operator.
//!
//! - [`parse_ip`] accepts plain addresses only: `10.1.2.3`, `2001:db8::1`, `::ffff:10.1.2.3`. Not
//!   accepted: a port (`10.1.2.3:443`), brackets (`[2001:db8::1]`), a zone (`fe80::1%eth0`),
//!   surrounding whitespace, and IPv4 octets with leading zeros (`010.1.2.3`, ambiguous between
//!   octal and decimal).
//! - An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is treated as the IPv4 address `a.b.c.d`
//!   everywhere, and a range inside `::ffff:0:0/96` as the IPv4 range it maps: so
//!   `::ffff:10.1.2.3` is in `10.0.0.0/8`, and `10.1.2.3` is in `::ffff:10.0.0.0/104`. No other
//!   IPv6 form that embeds an IPv4 address (6to4, NAT64, the deprecated IPv4-compatible `::a.b.c.d`)
//!   is converted, and an IPv4 address is never in a plain IPv6 range, not even `::/0`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A CIDR range: a network address and a prefix length.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    v6: bool,
    /// The network's bits, host bits cleared; an IPv4 network sits in the low 32 bits.
    bits: u128,
    mask: u128,
    prefix: u8,
}

impl Cidr {
    /// Parses `ADDRESS/PREFIX` (`10.0.0.0/8`, `fd00::/8`) or a plain address, which stands for a
    /// single-address range (`/32` or `/128`). Host bits may be set and are ignored:
    /// `10.1.2.3/8` is `10.0.0.0/8`. The error is the reason the range is malformed, one line,
    /// lowercase, without the range (e.g. `the prefix length must be at most 32 for IPv4`), for
    /// the caller to put after its own ``invalid CIDR range `...` ``.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let quote = crate::args::quote;
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let ip =
            parse_ip(address).ok_or_else(|| format!("{} is not an IP address", quote(address)))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => {
                // Digits only: `u8::from_str` would also take `+8`.
                let n = Some(p)
                    .filter(|p| {
                        !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit())
                    })
                    .and_then(|p| p.parse::<u8>().ok())
                    .ok_or_else(|| format!("the prefix length {} is not a number", quote(p)))?;
                if n > max {
                    let family = if max == 32 { "IPv4" } else { "IPv6" };
                    return Err(format!(
                        "the prefix length must be at most {max} for {family}"
                    ));
                }
                n
            }
        };
        Ok(Cidr::new(ip, prefix))
    }

    /// The range of `prefix` leading bits of `ip`. Panics never: a prefix longer than the family
    /// allows is clamped to it.
    fn new(ip: IpAddr, prefix: u8) -> Cidr {
        match ip {
            IpAddr::V4(v4) => Cidr::v4(v4, prefix.min(32)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                // A range inside ::ffff:0:0/96 is the IPv4 range it maps.
                Some(v4) if prefix >= 96 => Cidr::v4(v4, prefix.min(128) - 96),
                _ => {
                    let prefix = prefix.min(128);
                    let mask = if prefix == 0 {
                        0
                    } else {
                        u128::MAX << (128 - prefix)
                    };
                    Cidr {
                        v6: true,
                        bits: u128::from(v6) & mask,
                        mask,
                        prefix,
                    }
                }
            },
        }
    }

    fn v4(ip: Ipv4Addr, prefix: u8) -> Cidr {
        let mask = if prefix == 0 {
            0
        } else {
            u128::from(u32::MAX << (32 - prefix))
        };
        Cidr {
            v6: false,
            bits: u128::from(u32::from(ip)) & mask,
            mask,
            prefix,
        }
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v6, bits) = canonical(ip);
        v6 == self.v6 && bits & self.mask == self.bits
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(self.bits))
        } else {
            // INVARIANT: an IPv4 range keeps its bits in the low 32 bits.
            IpAddr::V4(Ipv4Addr::from(self.bits as u32))
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cidr({self})")
    }
}

/// The family and bits of an address, IPv4-mapped addresses as IPv4.
fn canonical(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => (false, u128::from(u32::from(v4))),
            None => (true, u128::from(v6)),
        },
    }
}

/// Parses a plain IPv4 or IPv6 address (see the module docs for what is not accepted).
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse().ok()
}

/// The ranges `is_private_ip` accepts, in the order the docs list them.
pub const PRIVATE_RANGES: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
    "::1/128",
];

/// IPv4 ranges that are neither private nor public: "this network", IETF protocol assignments,
/// documentation, benchmarking, multicast, reserved and broadcast.
pub const NON_PUBLIC_V4_RANGES: &[&str] = &[
    "0.0.0.0/8",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
];

/// Whether the address is private: RFC 1918 (`10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`),
/// carrier-grade NAT (`100.64.0.0/10`, RFC 6598), loopback (`127.0.0.0/8`, `::1`), link-local
/// (`169.254.0.0/16`, `fe80::/10`) or an IPv6 unique local address (`fc00::/7`). An
/// IPv4-mapped IPv6 address is judged as its IPv4 address.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private_v4(v4),
            None => {
                let bits = u128::from(v6);
                bits >> 121 == 0xfc >> 1 // fc00::/7
                    || bits >> 118 == 0xfe80 >> 6 // fe80::/10
                    || v6 == Ipv6Addr::LOCALHOST
            }
        },
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    a == 10
        || (a == 172 && b & 0xf0 == 16)
        || (a == 192 && b == 168)
        || (a == 100 && b & 0xc0 == 64)
        || a == 127
        || (a == 169 && b == 254)
}

/// Whether the address is publicly routable. IPv4: not private (see [`is_private`]) and not in
/// [`NON_PUBLIC_V4_RANGES`]. IPv6: inside the global unicast block `2000::/3` and outside the
/// documentation blocks `2001:db8::/32` and `3fff::/20`. An IPv4-mapped IPv6 address is judged as
/// its IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => {
                let bits = u128::from(v6);
                bits >> 125 == 0b001 // 2000::/3
                    && bits >> 96 != 0x2001_0db8 // 2001:db8::/32
                    && bits >> 108 != 0x3fff0 // 3fff::/20
            }
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(is_private_v4(ip)
        || a == 0
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 198 && (b & 0xfe) == 18)
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224)
}

/// A compiled `is_*_ip(ip)` call: whether a string holding a plain IP address passes `test`;
/// missing when it is not one.
pub(crate) struct IpTest(pub fn(IpAddr) -> bool);

impl crate::Compiled for IpTest {
    fn call(
        &self,
        args: &[&serde_json::Value],
    ) -> Result<Option<serde_json::Value>, crate::CallError> {
        let [ip] = crate::args::exact(args)?;
        Ok(ip
            .as_str()
            .and_then(parse_ip)
            .map(|ip| serde_json::Value::Bool((self.0)(ip))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        parse_ip(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    fn contains(cidr: &str, addr: &str) -> bool {
        Cidr::parse(cidr).unwrap().contains(ip(addr))
    }

    #[test]
    fn ipv4_ranges() {
        assert!(contains("10.0.0.0/8", "10.255.0.1"));
        assert!(!contains("10.0.0.0/8", "11.0.0.1"));
        assert!(contains("172.16.0.0/12", "172.31.255.255"));
        assert!(!contains("172.16.0.0/12", "172.32.0.0"));
        assert!(contains("0.0.0.0/0", "203.0.113.9"));
        assert!(contains("192.0.2.7/32", "192.0.2.7"));
        assert!(!contains("192.0.2.7/32", "192.0.2.8"));
        assert!(contains("192.0.2.7", "192.0.2.7"));
        assert!(!contains("192.0.2.7", "192.0.2.6"));
    }

    #[test]
    fn host_bits_are_ignored() {
        let cidr = Cidr::parse("10.1.2.3/8").unwrap();
        assert_eq!(cidr.to_string(), "10.0.0.0/8");
        assert!(cidr.contains(ip("10.9.9.9")));
        assert_eq!(
            Cidr::parse("2001:db8::1/32").unwrap().to_string(),
            "2001:db8::/32"
        );
    }

    #[test]
    fn ipv6_ranges() {
        assert!(contains("2001:db8::/32", "2001:db8:1::5"));
        assert!(!contains("2001:db8::/32", "2001:db9::1"));
        assert!(contains("::/0", "fe80::1"));
        assert!(contains("fd00::/8", "fd12:3456::1"));
        assert!(contains("::1", "::1"));
        assert!(!contains("::1", "::2"));
        assert!(contains("2001:db8::/127", "2001:db8::1"));
        assert!(!contains("2001:db8::/128", "2001:db8::1"));
    }

    #[test]
    fn families_do_not_mix() {
        assert!(!contains("::/0", "10.0.0.1"));
        assert!(!contains("0.0.0.0/0", "2001:db8::1"));
        // ::a.b.c.d (IPv4-compatible, deprecated) is not IPv4-mapped.
        assert!(!contains("10.0.0.0/8", "::10.0.0.1"));
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_ranges() {
        assert!(contains("10.0.0.0/8", "::ffff:10.1.2.3"));
        assert!(contains("10.0.0.0/8", "::ffff:a01:203"));
        assert!(!contains("10.0.0.0/8", "::ffff:11.1.2.3"));
        // and the other way round: a mapped range is an IPv4 range
        let mapped = Cidr::parse("::ffff:10.0.0.0/104").unwrap();
        assert_eq!(mapped.to_string(), "10.0.0.0/8");
        assert!(mapped.contains(ip("10.1.2.3")));
        assert!(mapped.contains(ip("::ffff:10.1.2.3")));
        assert!(!mapped.contains(ip("11.1.2.3")));
        // a wider IPv6 range that covers ::ffff:0:0/96 stays IPv6
        assert!(!contains("::/80", "10.0.0.1"));
    }

    #[test]
    fn malformed_ranges_are_rejected_with_a_message() {
        assert_eq!(
            Cidr::parse("10.0.0.0/33").unwrap_err(),
            "the prefix length must be at most 32 for IPv4"
        );
        assert_eq!(
            Cidr::parse("fd00::/129").unwrap_err(),
            "the prefix length must be at most 128 for IPv6"
        );
        assert_eq!(
            Cidr::parse("10.0.0/8").unwrap_err(),
            "`10.0.0` is not an IP address"
        );
        assert_eq!(
            Cidr::parse("10.0.0.0/x").unwrap_err(),
            "the prefix length `x` is not a number"
        );
        for bad in [
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/8/8",
            "10.0.0.0/0008",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad} should be rejected");
        }
        for bad in [
            "",
            "/8",
            " 10.0.0.0/8",
            "010.0.0.0/8",
            "[::1]/128",
            "fe80::1%eth0/64",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn parse_ip_takes_plain_addresses_only() {
        assert_eq!(
            parse_ip("10.1.2.3"),
            Some(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)))
        );
        assert!(parse_ip("2001:db8::1").is_some());
        assert!(parse_ip("::ffff:10.1.2.3").is_some());
        for bad in [
            "10.1.2.3:443",
            "[::1]",
            "fe80::1%eth0",
            " 10.1.2.3",
            "010.1.2.3",
            "host",
            "",
        ] {
            assert_eq!(parse_ip(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn private_addresses_are_exactly_the_documented_ranges() {
        let ranges: Vec<Cidr> = PRIVATE_RANGES
            .iter()
            .map(|r| Cidr::parse(r).unwrap())
            .collect();
        let samples = [
            "10.0.0.0",
            "10.255.255.255",
            "9.255.255.255",
            "11.0.0.0",
            "172.15.255.255",
            "172.16.0.0",
            "172.31.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.168.0.0",
            "192.168.255.255",
            "192.169.0.0",
            "100.63.255.255",
            "100.64.0.0",
            "100.127.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "127.0.0.1",
            "128.0.0.0",
            "169.253.255.255",
            "169.254.0.1",
            "169.255.0.0",
            "8.8.8.8",
            "0.0.0.0",
            "255.255.255.255",
            "fbff::1",
            "fc00::1",
            "fdff:ffff::1",
            "fe00::1",
            "fe7f::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "::1",
            "::",
            "::2",
            "2001:db8::1",
            "::ffff:192.168.1.1",
            "::ffff:8.8.8.8",
        ];
        for sample in samples {
            let addr = ip(sample);
            let expected = ranges.iter().any(|r| r.contains(addr));
            assert_eq!(is_private(addr), expected, "{sample}");
        }
        assert!(is_private(ip("::ffff:10.0.0.1")));
        assert!(!is_private(ip("8.8.8.8")));
        assert!(is_private(ip("fd00::1")));
    }

    #[test]
    fn public_addresses() {
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "2606:4700::1111",
            "2001::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(public)), "{public} should be public");
        }
        for other in [
            "10.0.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.255",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "3fff:fff::1",
            "64:ff9b::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip(other)), "{other} should not be public");
        }
        assert!(is_public(ip("3fff:1000::1")));
        assert!(is_public(ip("198.20.0.1")));
        for range in NON_PUBLIC_V4_RANGES {
            let cidr = Cidr::parse(range).unwrap();
            assert!(!is_public(cidr.network()), "{range}");
        }
    }
}
