//! `expected`: the keys a rule is about, given one by one or as CIDR blocks.
//!
//! A small block (at most [`Expected::ENUMERATE_MAX`] addresses) is expanded into its
//! addresses, each of which alerts when it never sends, exactly as if listed. A bigger
//! block is matched as a range: an address in it is watched once it has been seen, but
//! its silent addresses cannot alert (a /16 of which ten hosts send would otherwise
//! raise 65,000 alarms). To be told about a silent address in a big block, list it.

use std::collections::HashSet;
use std::net::IpAddr;

/// An IPv4 or IPv6 block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `10.10.10.0/30`, `fd00::/120`. Host bits must be zero, so a typo such as
    /// `10.10.10.1/24` does not silently mean another block.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (ip, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not a CIDR block (address/prefix)"))?;
        let network: IpAddr = ip
            .trim()
            .parse()
            .map_err(|_| format!("{text:?}: {ip:?} is not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("{text:?}: the prefix must be 0 to {max}"))?;
        let cidr = Cidr { network, prefix };
        let masked = cidr.masked(bits(network));
        if masked != bits(network) {
            return Err(format!(
                "{text:?} has host bits set; the block is {}/{prefix}",
                address(network, masked)
            ));
        }
        Ok(cidr)
    }

    fn host_bits(&self) -> u32 {
        let width = if self.network.is_ipv4() { 32 } else { 128 };
        width - u32::from(self.prefix)
    }

    fn masked(&self, value: u128) -> u128 {
        match self.host_bits() {
            128 => 0,
            n => value & !((1u128 << n) - 1),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.network.is_ipv4() && self.masked(bits(ip)) == bits(self.network)
    }

    /// The block's host addresses if there are at most `max`: for IPv4 blocks of four
    /// addresses or more, without the network and broadcast addresses.
    fn addresses(&self, max: u128) -> Option<Vec<IpAddr>> {
        let n = self.host_bits();
        if n >= 127 || (1u128 << n) > max {
            return None;
        }
        let base = bits(self.network);
        let count = 1u128 << n;
        let (first, last) = if self.network.is_ipv4() && n >= 2 {
            (1, count - 2)
        } else {
            (0, count - 1)
        };
        Some(
            (first..=last)
                .map(|i| address(self.network, base + i))
                .collect(),
        )
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn address(like: IpAddr, value: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(u32::try_from(value).unwrap_or(u32::MAX).into()),
        IpAddr::V6(_) => IpAddr::V6(value.into()),
    }
}

/// The keys a rule is about. Empty: every key the rule sees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Keys that alert even if never seen, in config order (IP addresses in their
    /// canonical spelling, as records write them).
    keys: Vec<String>,
    set: HashSet<String>,
    /// Blocks too big to enumerate.
    ranges: Vec<Cidr>,
}

impl Expected {
    /// The largest block expanded into its addresses.
    pub const ENUMERATE_MAX: u128 = 1024;

    /// From the config's list: keys, IP addresses, CIDR blocks.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Expected, String> {
        let mut expected = Expected::default();
        for item in items {
            let item = item.trim();
            if item.is_empty() {
                return Err("an expected key must not be empty".into());
            }
            if item.contains('/') {
                let cidr = Cidr::parse(item)?;
                match cidr.addresses(Self::ENUMERATE_MAX) {
                    Some(ips) => ips.iter().for_each(|ip| expected.add(ip.to_string())),
                    None => expected.ranges.push(cidr),
                }
            } else {
                match item.parse::<IpAddr>() {
                    Ok(ip) => expected.add(ip.to_string()),
                    Err(_) => expected.add(item.to_string()),
                }
            }
        }
        Ok(expected)
    }

    fn add(&mut self, key: String) {
        if self.set.insert(key.clone()) {
            self.keys.push(key);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.ranges.is_empty()
    }

    /// The keys that must be seen: listed, or in a block small enough to enumerate.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// Whether `key` is one of the expected keys, listed or in a block.
    pub fn contains(&self, key: &str) -> bool {
        self.set.contains(key)
            || (!self.ranges.is_empty()
                && key
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| self.ranges.iter().any(|r| r.contains(ip))))
    }

    /// Whether `key` is listed (or in a block small enough to have been listed).
    pub fn lists(&self, key: &str) -> bool {
        self.set.contains(key)
    }

    /// Whether the rule looks at `key`: any key when nothing is expected.
    pub fn watches(&self, key: &str) -> bool {
        self.is_empty() || self.contains(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_blocks_are_expanded_to_their_hosts_and_big_ones_matched() {
        let e = Expected::parse(["10.10.10.0/30", "192.168.1.1", "10.0.0.0/8", "web-1"]).unwrap();
        assert_eq!(
            e.keys(),
            ["10.10.10.1", "10.10.10.2", "192.168.1.1", "web-1"]
        );
        assert!(e.contains("10.200.3.4"));
        assert!(!e.contains("11.0.0.1"));
        assert!(!e.lists("10.10.10.3") && e.contains("10.10.10.3"));
        assert!(e.watches("web-1") && !e.watches("web-2"));
        assert!(Expected::default().watches("anything"));
        let v6 = Expected::parse(["fd00::/127", "FD00:0:0::9"]).unwrap();
        assert_eq!(v6.keys(), ["fd00::", "fd00::1", "fd00::9"]);
        let slash31 = Expected::parse(["10.0.0.0/31", "10.0.0.7/32"]).unwrap();
        assert_eq!(slash31.keys(), ["10.0.0.0", "10.0.0.1", "10.0.0.7"]);
        let big = Expected::parse(["10.1.0.0/22", "10.2.0.0/21"]).unwrap();
        assert_eq!(big.keys().len(), 1022);
        assert!(big.contains("10.2.7.255"));
    }

    #[test]
    fn malformed_blocks_are_refused_with_the_reason() {
        let e = |item: &str| Expected::parse([item]).unwrap_err();
        assert_eq!(
            e("10.10.10.1/24"),
            "\"10.10.10.1/24\" has host bits set; the block is 10.10.10.0/24"
        );
        assert_eq!(
            e("10.0.0.0/33"),
            "\"10.0.0.0/33\": the prefix must be 0 to 32"
        );
        assert_eq!(e("ten/8"), "\"ten/8\": \"ten\" is not an IP address");
        assert_eq!(e(" "), "an expected key must not be empty");
        assert!(Expected::parse(["::/0"]).unwrap().contains("::1"));
    }
}
