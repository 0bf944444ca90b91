//! Source addresses of policy entries: an address (compared as text with the request's, as
//! Java does) or a CIDR block. Java's rendering of a peer address: IPv4 dotted, IPv6 in full
//! without brackets or compression (`0:0:0:0:0:0:0:1`).

use std::net::IpAddr;

/// The request's address as the Java broker writes it for policy checks.
pub fn render(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.segments().iter().map(|s| format!("{s:x}")).collect::<Vec<_>>().join(":"),
        },
    }
}

/// Whether an entry is an address or a CIDR block with a prefix the family allows.
pub fn valid(entry: &str) -> bool {
    match entry.split_once('/') {
        None => entry.parse::<IpAddr>().is_ok(),
        Some((addr, prefix)) => match (addr.parse::<IpAddr>(), prefix.parse::<u8>()) {
            (Ok(IpAddr::V4(_)), Ok(p)) => p <= 32,
            (Ok(IpAddr::V6(_)), Ok(p)) => p <= 128,
            _ => false,
        },
    }
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u32::from(v4) as u128, 32),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => (u32::from(v4) as u128, 32),
            None => (u128::from(v6), 128),
        },
    }
}

/// Whether the request from `ip` (rendered by [`render`]) matches `entry`.
pub fn matches(entry: &str, ip: &str) -> bool {
    let Some((net, prefix)) = entry.split_once('/') else { return entry == ip };
    let (Ok(net), Ok(prefix), Ok(addr)) = (net.parse::<IpAddr>(), prefix.parse::<u32>(), ip.parse::<IpAddr>()) else { return false };
    let ((net, width), (addr, addr_width)) = (bits(net), bits(addr));
    if width != addr_width || prefix > width as u32 {
        return false;
    }
    let host_bits = width as u32 - prefix;
    let mask = if host_bits >= 128 { 0 } else { !0u128 << host_bits };
    net & mask == addr & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_blocks() {
        assert_eq!(render("::1".parse().unwrap()), "0:0:0:0:0:0:0:1");
        assert_eq!(render("::ffff:10.1.2.3".parse().unwrap()), "10.1.2.3");
        assert!(matches("10.0.0.0/8", "10.200.1.1"));
        assert!(!matches("10.0.0.0/8", "11.0.0.1"));
        assert!(matches("0.0.0.0/0", "1.2.3.4"));
        assert!(matches("192.168.1.5", "192.168.1.5"));
        assert!(!matches("192.168.1.5", "192.168.1.50"));
        assert!(matches("fe80::/10", "fe80:0:0:0:0:0:0:1"));
        assert!(!matches("fe80::/10", "10.0.0.1"));
        for ok in ["1.2.3.4", "10.0.0.0/8", "::1", "fe80::/64"] {
            assert!(valid(ok), "{ok}");
        }
        for bad in ["192.168.*.*", "1.2.3.4-1.2.3.9", "*", "10.0.0.0/33", "", "x/8"] {
            assert!(!valid(bad), "{bad}");
        }
    }
}
