//! `ip("…")` matching: a single address, a CIDR (`10.0.0.0/8`) or a range
//! (`192.168.0.1-192.168.0.255`), IPv4 or IPv6. Used by line and label filters.

use std::net::IpAddr;

use super::PipelineError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IpMatcher {
    Single(IpAddr),
    Cidr { network: IpAddr, prefix: u8 },
    Range { start: IpAddr, end: IpAddr },
}

impl IpMatcher {
    pub(crate) fn new(pattern: &str) -> Result<IpMatcher, PipelineError> {
        let invalid = |reason: &str| PipelineError::InvalidIp {
            pattern: pattern.to_owned(),
            reason: reason.to_owned(),
        };
        let text = pattern.trim();
        if let Some((start, end)) = text.split_once('-') {
            let start: IpAddr = start
                .trim()
                .parse()
                .map_err(|_| invalid("bad range start"))?;
            let end: IpAddr = end.trim().parse().map_err(|_| invalid("bad range end"))?;
            if start.is_ipv4() != end.is_ipv4() || to_u128(start) > to_u128(end) {
                return Err(invalid("invalid range"));
            }
            return Ok(IpMatcher::Range { start, end });
        }
        if let Some((network, prefix)) = text.split_once('/') {
            let network: IpAddr = network.parse().map_err(|_| invalid("bad address"))?;
            let prefix: u8 = prefix.parse().map_err(|_| invalid("bad prefix"))?;
            if prefix > bits(network) {
                return Err(invalid("prefix too long"));
            }
            return Ok(IpMatcher::Cidr { network, prefix });
        }
        text.parse()
            .map(IpMatcher::Single)
            .map_err(|_| invalid("not an IP address"))
    }

    pub(crate) fn matches(&self, ip: IpAddr) -> bool {
        match *self {
            IpMatcher::Single(want) => want == ip,
            IpMatcher::Cidr { network, prefix } => {
                if network.is_ipv4() != ip.is_ipv4() {
                    return false;
                }
                let shift = u32::from(bits(network) - prefix);
                let mask = if shift >= 128 { 0 } else { u128::MAX << shift };
                to_u128(network) & mask == to_u128(ip) & mask
            }
            IpMatcher::Range { start, end } => {
                start.is_ipv4() == ip.is_ipv4()
                    && (to_u128(start)..=to_u128(end)).contains(&to_u128(ip))
            }
        }
    }

    /// Whether any address in the text matches: IPv4 addresses are read from runs of digits
    /// and dots (so `10.0.0.7:80` holds `10.0.0.7`), IPv6 ones from runs of hex digits,
    /// colons and dots.
    pub(crate) fn matches_in(&self, text: &str) -> bool {
        let matches = |candidate: &str| candidate.parse().is_ok_and(|ip| self.matches(ip));
        let v4 = text
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .map(|run| run.trim_matches('.'))
            .any(|run| run.len() >= 7 && matches(run));
        v4 || text
            .split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':'))
            .filter(|run| run.contains(':'))
            .any(|run| matches(run) || matches(run.trim_end_matches(['.', ':'])))
    }
}

fn bits(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases in the spirit of Loki's ip_test.go.
    #[test]
    fn matches_like_loki() {
        let cases: &[(&str, &str, bool)] = &[
            ("192.168.0.1", "192.168.0.1", true),
            ("192.168.0.1", "192.168.0.2", false),
            ("192.168.0.0/16", "192.168.4.5", true),
            ("192.168.0.0/16", "192.169.0.1", false),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("192.168.0.1-192.168.0.10", "192.168.0.5", true),
            ("192.168.0.1-192.168.0.10", "192.168.0.11", false),
            ("::1", "::1", true),
            ("2001:db8::/32", "2001:db8::ff00:42:8329", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("192.168.0.0/16", "::1", false),
            ("192.168.0.0/16", "not an ip", false),
        ];
        for (pattern, value, want) in cases {
            let m = IpMatcher::new(pattern).unwrap();
            assert_eq!(m.matches_in(value), *want, "{pattern} {value}");
        }
        for bad in [
            "",
            "300.1.1.1",
            "1.1.1.1/33",
            "1.1.1.5-1.1.1.1",
            "::1-1.1.1.1",
        ] {
            assert!(IpMatcher::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn finds_addresses_in_text() {
        let m = IpMatcher::new("10.0.0.0/8").unwrap();
        let cases = [
            ("client=10.1.2.3 status=200", true),
            ("from 10.1.2.3.", true),
            ("client 10.0.0.7:80", true),
            ("abc10.0.0.7", true),
            ("client=11.1.2.3 status=200", false),
            ("10.0.0", false),
            ("", false),
        ];
        for (text, want) in cases {
            assert_eq!(m.matches_in(text), want, "{text}");
        }
        let v6 = IpMatcher::new("::1").unwrap();
        assert!(v6.matches_in("peer [::1]:80 ok"));
        let net6 = IpMatcher::new("2001:db8::/32").unwrap();
        assert!(net6.matches_in("addr=2001:db8::ff00:42:8329 ok"));
        assert!(!net6.matches_in("addr=2001:db9::1"));
    }
}
