//! `type: flows` with Packetbeat's flow names (`period`, `timeout`; `period: -1` as in
//! Packetbeat reports flows only when they end), the capture's `interface` and
//! `buffer_size`, and a `filter` (transports, ports, hosts) that becomes the kernel's
//! BPF program, validated into [`FlowsConfig`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::section::{ADDRESS_FILTER, PIPELINE_NOT_YET, Schema, Section};
use super::syslog::byte_size;
use super::{ConfigError, FlowsConfig, FlowsFilter, Problem};

pub(super) const FLOWS: Schema = Schema {
    keys: &[
        "type",
        "id",
        "enabled",
        "tags",
        "fields",
        "fields_under_root",
        "interface",
        "period",
        "timeout",
        "max_flows",
        "buffer_size",
        "filter",
    ],
    not_supported: &[
        ("parser", Some("flows are connection records already")),
        (
            "snaplen",
            Some("only headers are captured (128 bytes), never payloads"),
        ),
    ],
    not_yet: PIPELINE_NOT_YET,
};

const PERIOD: Duration = Duration::from_secs(10);
const TIMEOUT: Duration = Duration::from_secs(30);
const MAX_FLOWS: usize = 100_000;
const BUFFER_SIZE: usize = 8 << 20;

pub(super) fn flows(s: &Section<'_>) -> Result<FlowsConfig, ConfigError> {
    let invalid = |key: &str, msg: String| s.error(s.line_of(key), key, Problem::Invalid(msg));
    let interface = match s.string("interface")? {
        None => None,
        Some(name) if name == "any" => None,
        Some(name) if name.is_empty() || name.len() > 15 || name.contains(['/', ' ']) => {
            return Err(invalid(
                "interface",
                format!("{name:?} is not an interface name; give one such as eth0, or any"),
            ));
        }
        Some(name) => Some(name),
    };
    let period = match s.string("period")?.as_deref().map(str::trim) {
        Some("-1") => Duration::ZERO,
        _ => s.duration("period")?.unwrap_or(PERIOD),
    };
    let timeout = s.duration("timeout")?.unwrap_or(TIMEOUT);
    if timeout.is_zero() {
        return Err(invalid("timeout", "must be longer than 0s".into()));
    }
    let max_flows = s
        .usize_min("max_flows", 1, "a positive integer")?
        .unwrap_or(MAX_FLOWS);
    let buffer_size = byte_size(s, "buffer_size")?.unwrap_or(BUFFER_SIZE);
    let filter = filter(s)?;
    if let Err(too_long) = crate::input::flows::bpf::program(&filter) {
        return Err(invalid("filter", too_long.to_string()));
    }
    Ok(FlowsConfig {
        interface,
        period,
        timeout,
        max_flows,
        buffer_size,
        filter,
    })
}

fn filter(parent: &Section<'_>) -> Result<FlowsFilter, ConfigError> {
    if parent.entry("filter").is_none() {
        return Ok(FlowsFilter::default());
    }
    let s = parent.child("filter", &ADDRESS_FILTER)?;
    let mut filter = FlowsFilter::default();
    if let Some(items) = s.strings("transports")? {
        (filter.tcp, filter.udp, filter.icmp) = (false, false, false);
        for item in items {
            match item.text.to_ascii_lowercase().as_str() {
                "tcp" => filter.tcp = true,
                "udp" => filter.udp = true,
                "icmp" => filter.icmp = true,
                other => {
                    let msg = format!("expected tcp, udp or icmp, got {other:?}");
                    return Err(s.error(Some(item.line), "transports", Problem::Invalid(msg)));
                }
            }
        }
    }
    for item in s.strings("ports")?.unwrap_or_default() {
        match item.text.trim().parse::<u16>() {
            Ok(port) if port > 0 => filter.ports.push(port),
            _ => {
                let msg = format!("expected a port from 1 to 65535, got {:?}", item.text);
                return Err(s.error(Some(item.line), "ports", Problem::Invalid(msg)));
            }
        }
    }
    for item in s.strings("hosts")?.unwrap_or_default() {
        let host = network(item.text.trim())
            .map_err(|msg| s.error(Some(item.line), "hosts", Problem::Invalid(msg)))?;
        filter.hosts.push(host);
    }
    Ok(filter)
}

/// An address or a network in CIDR notation, with no bits set past its prefix.
fn network(text: &str) -> Result<(IpAddr, u8), String> {
    let (addr, prefix) = text.split_once('/').unwrap_or((text, ""));
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("{text:?} is not an IP address or a network like 10.0.0.0/8"))?;
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        "" => bits,
        p => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= bits)
            .ok_or_else(|| format!("{text:?} has an invalid prefix length (0 to {bits})"))?,
    };
    let keep = u32::from(prefix);
    let masked = match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - keep).unwrap_or(0);
            IpAddr::from(Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - keep).unwrap_or(0);
            IpAddr::from(Ipv6Addr::from(u128::from(v6) & mask))
        }
    };
    if masked != ip {
        return Err(format!(
            "{text:?} has bits set past its /{prefix} prefix; did you mean {masked}/{prefix}?"
        ));
    }
    Ok((ip, prefix))
}

#[cfg(test)]
mod tests {
    use super::network;

    #[test]
    fn networks_are_addresses_or_cidrs_without_host_bits() {
        assert_eq!(
            network("10.10.10.1"),
            Ok(("10.10.10.1".parse().unwrap(), 32))
        );
        assert_eq!(network("10.0.0.0/8"), Ok(("10.0.0.0".parse().unwrap(), 8)));
        assert_eq!(network("0.0.0.0/0"), Ok(("0.0.0.0".parse().unwrap(), 0)));
        assert_eq!(
            network("2001:db8::/32"),
            Ok(("2001:db8::".parse().unwrap(), 32))
        );
        assert!(
            network("10.0.0.1/8")
                .unwrap_err()
                .contains("did you mean 10.0.0.0/8?")
        );
        assert!(
            network("10.0.0.0/33")
                .unwrap_err()
                .contains("invalid prefix length")
        );
        assert!(network("eth0").unwrap_err().contains("not an IP address"));
    }
}
