//! From the captured head of one packet to what a flow needs: addresses, ports, the
//! protocol, the length and the TCP flags. Pure; never panics on any bytes.
//!
//! The capture is cooked (the kernel strips the link layer and says which protocol
//! follows, as in Linux's "any" capture), so a packet starts at its network header.
//! A VLAN tag the kernel left in the data (protocol 802.1Q or 802.1ad) is read and
//! skipped. Only the first bytes are captured, so lengths come from the IP header.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::community_id::icmp_ports;

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_8021Q: u16 = 0x8100;
pub const ETH_P_8021AD: u16 = 0x88a8;

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ICMP: u8 = 1;
pub const ICMPV6: u8 = 58;

/// TCP flag bits as in the header's 13th byte.
pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;

/// One packet as a flow sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The IANA protocol number (6, 17, 1, 58, ...).
    pub proto: u8,
    /// Ports for TCP and UDP; for ICMP the type and its counterpart (or code), see
    /// [`icmp_ports`]; 0 for other protocols.
    pub src_port: u16,
    pub dst_port: u16,
    /// Bytes at the IP layer: the length the IP header declares (IPv4 total length,
    /// IPv6 40 + payload length), so link-layer headers and Ethernet padding do not
    /// count. A header that declares 0 (a jumbogram, or a segmentation-offload packet
    /// over 64 KiB) counts as `wire_len`, the length the kernel saw.
    pub ip_len: u32,
    pub tcp_flags: u8,
    pub vlan: Option<u16>,
}

/// Why a packet gave no flow (counted, never logged per packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Not IPv4 or IPv6.
    NotIp,
    /// Shorter than its headers say (or than the capture kept).
    Truncated,
    /// A fragment after the first: it has no transport header.
    Fragment,
}

/// Reads a packet whose link layer said `protocol` (an EtherType), `data` starting at
/// the network header, `wire_len` bytes long before capture cut it, `vlan` from the
/// kernel's metadata when it took the tag out of the data.
pub fn parse(protocol: u16, data: &[u8], wire_len: u32, vlan: Option<u16>) -> Result<Packet, Skip> {
    match protocol {
        ETH_P_8021Q | ETH_P_8021AD => {
            let tci = be16(data, 0).ok_or(Skip::Truncated)?;
            let inner = be16(data, 2).ok_or(Skip::Truncated)?;
            let rest = data.get(4..).ok_or(Skip::Truncated)?;
            parse_ip(inner, rest, wire_len.saturating_sub(4), Some(tci & 0x0fff))
        }
        _ => parse_ip(protocol, data, wire_len, vlan),
    }
}

fn parse_ip(protocol: u16, data: &[u8], wire_len: u32, vlan: Option<u16>) -> Result<Packet, Skip> {
    let (src, dst, proto, ip_len, l4) = match protocol {
        ETH_P_IP => ipv4(data)?,
        ETH_P_IPV6 => ipv6(data)?,
        _ => return Err(Skip::NotIp),
    };
    let ip_len = if ip_len == 0 { wire_len } else { ip_len };
    let (src_port, dst_port, tcp_flags) = match proto {
        TCP => {
            let flags = *l4.get(13).ok_or(Skip::Truncated)?;
            (port(l4, 0)?, port(l4, 2)?, flags)
        }
        UDP => (port(l4, 0)?, port(l4, 2)?, 0),
        ICMP | ICMPV6 => {
            let (t, c) = (l4.first(), l4.get(1));
            let (t, c) = t.zip(c).ok_or(Skip::Truncated)?;
            let (a, b) = icmp_ports(proto, *t, *c);
            (a, b, 0)
        }
        _ => (0, 0, 0),
    };
    Ok(Packet {
        src,
        dst,
        proto,
        src_port,
        dst_port,
        ip_len,
        tcp_flags,
        vlan,
    })
}

type Network<'a> = (IpAddr, IpAddr, u8, u32, &'a [u8]);

fn ipv4(d: &[u8]) -> Result<Network<'_>, Skip> {
    let first = *d.first().ok_or(Skip::Truncated)?;
    let header = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header < 20 || d.len() < header {
        return Err(Skip::Truncated);
    }
    let total = u32::from(be16(d, 2).ok_or(Skip::Truncated)?);
    let fragment_offset = be16(d, 6).ok_or(Skip::Truncated)? & 0x1fff;
    if fragment_offset != 0 {
        return Err(Skip::Fragment);
    }
    let addr = |at: usize| Ipv4Addr::new(d[at], d[at + 1], d[at + 2], d[at + 3]);
    Ok((addr(12).into(), addr(16).into(), d[9], total, &d[header..]))
}

/// IPv6 extension headers followed at most this many deep.
const MAX_EXTENSIONS: usize = 8;

fn ipv6(d: &[u8]) -> Result<Network<'_>, Skip> {
    if d.len() < 40 || d[0] >> 4 != 6 {
        return Err(Skip::Truncated);
    }
    let payload = u32::from(be16(d, 4).ok_or(Skip::Truncated)?);
    let total = if payload == 0 { 0 } else { 40 + payload };
    let addr = |at: usize| {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&d[at..at + 16]);
        IpAddr::from(Ipv6Addr::from(octets))
    };
    let (mut next, mut at) = (d[6], 40usize);
    for _ in 0..MAX_EXTENSIONS {
        match next {
            // Hop-by-hop, routing, destination options: length in 8-byte units after the first 8.
            0 | 43 | 60 => {
                let len = usize::from(*d.get(at + 1).ok_or(Skip::Truncated)?) * 8 + 8;
                next = d[at];
                at += len;
            }
            // Authentication header: length in 4-byte units, less 2.
            51 => {
                let len = (usize::from(*d.get(at + 1).ok_or(Skip::Truncated)?) + 2) * 4;
                next = d[at];
                at += len;
            }
            44 => {
                let offset = be16(d, at + 2).ok_or(Skip::Truncated)? >> 3;
                if offset != 0 {
                    return Err(Skip::Fragment);
                }
                next = d[at];
                at += 8;
            }
            _ => break,
        }
    }
    let l4 = d.get(at..).ok_or(Skip::Truncated)?;
    Ok((addr(8), addr(24), next, total, l4))
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    d.get(at..at.checked_add(2)?)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
}

fn port(d: &[u8], at: usize) -> Result<u16, Skip> {
    be16(d, at).ok_or(Skip::Truncated)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An IPv4 packet of `payload` transport bytes (the transport header included) with
    /// the first bytes of the transport header given.
    pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, transport: &[u8], payload: u16) -> Vec<u8> {
        let total = 20 + payload;
        let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(transport);
        p
    }

    pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, rest: &[u8], payload: u16) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&payload.to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(rest);
        p
    }

    /// The first 14 bytes of a TCP header (ports, flags).
    pub fn tcp(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&sport.to_be_bytes());
        t.extend_from_slice(&dport.to_be_bytes());
        t.extend_from_slice(&[0; 8]);
        t.extend_from_slice(&[0x50, flags]);
        t
    }

    pub fn udp(sport: u16, dport: u16) -> Vec<u8> {
        let mut u = Vec::new();
        u.extend_from_slice(&sport.to_be_bytes());
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&[0; 4]);
        u
    }

    #[test]
    fn an_ipv4_tcp_packet_gives_its_tuple_length_and_flags() {
        let data = ipv4(
            [10, 10, 10, 1],
            [10, 10, 10, 9],
            TCP,
            &tcp(51000, 514, SYN),
            1000,
        );
        let p = parse(ETH_P_IP, &data, 1020, Some(7)).unwrap();
        assert_eq!(p.src, IpAddr::from([10, 10, 10, 1]));
        assert_eq!(p.dst, IpAddr::from([10, 10, 10, 9]));
        assert_eq!((p.proto, p.src_port, p.dst_port), (TCP, 51000, 514));
        assert_eq!((p.ip_len, p.tcp_flags, p.vlan), (1020, SYN, Some(7)));
    }

    #[test]
    fn a_tag_left_in_the_data_is_read_and_skipped() {
        let mut data = vec![0x20, 0x2a, 0x08, 0x00];
        data.extend(ipv4([1, 2, 3, 4], [5, 6, 7, 8], UDP, &udp(53, 3000), 30));
        let p = parse(ETH_P_8021Q, &data, 54, None).unwrap();
        assert_eq!((p.vlan, p.ip_len, p.dst_port), (Some(42), 50, 3000));
    }

    #[test]
    fn ipv6_extension_headers_are_followed_to_the_transport() {
        let (a, b) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let mut rest = vec![UDP, 0, 0, 0, 0, 0, 0, 0]; // hop-by-hop, 8 bytes
        rest.extend(udp(40000, 514));
        let p = parse(ETH_P_IPV6, &ipv6(a, b, 0, &rest, 116), 156, None).unwrap();
        assert_eq!(
            (p.proto, p.src_port, p.dst_port, p.ip_len),
            (UDP, 40000, 514, 156)
        );
    }

    #[test]
    fn icmp_echo_and_reply_get_mirrored_ports() {
        let request = ipv4([1, 1, 1, 1], [2, 2, 2, 2], ICMP, &[8, 0, 0, 0], 64);
        let reply = ipv4([2, 2, 2, 2], [1, 1, 1, 1], ICMP, &[0, 0, 0, 0], 64);
        let (q, r) = (
            parse(ETH_P_IP, &request, 84, None).unwrap(),
            parse(ETH_P_IP, &reply, 84, None).unwrap(),
        );
        assert_eq!((q.src_port, q.dst_port), (r.dst_port, r.src_port));
    }

    #[test]
    fn fragments_truncation_and_other_protocols_are_skipped() {
        let mut fragment = ipv4([1, 1, 1, 1], [2, 2, 2, 2], UDP, &udp(1, 2), 100);
        fragment[6..8].copy_from_slice(&0x00b9u16.to_be_bytes());
        assert_eq!(parse(ETH_P_IP, &fragment, 120, None), Err(Skip::Fragment));
        let whole = ipv4([1, 1, 1, 1], [2, 2, 2, 2], TCP, &tcp(1, 2, ACK), 40);
        assert_eq!(
            parse(ETH_P_IP, &whole[..30], 60, None),
            Err(Skip::Truncated)
        );
        assert_eq!(parse(0x0806, &whole, 60, None), Err(Skip::NotIp));
        let zero = {
            let mut z = whole.clone();
            z[2..4].copy_from_slice(&[0, 0]);
            z
        };
        assert_eq!(parse(ETH_P_IP, &zero, 70000, None).unwrap().ip_len, 70000);
    }

    proptest! {
        #[test]
        fn never_panics_on_any_bytes(protocol in prop::sample::select(vec![ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q, ETH_P_8021AD, 0]),
                                     data in prop::collection::vec(any::<u8>(), 0..160),
                                     wire in any::<u32>()) {
            let _ = parse(protocol, &data, wire, None);
        }

        #[test]
        fn never_panics_on_mutated_packets(flip in prop::collection::vec((0usize..80, any::<u8>()), 0..8), cut in 0usize..80) {
            let (a, b) = ("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap());
            let mut rest = vec![44, 0, 0, 0, 0, 0, 0, 0];
            rest.extend(tcp(1, 2, SYN));
            for mut data in [ipv6(a, b, 60, &rest, 30), ipv4([1; 4], [2; 4], TCP, &tcp(1, 2, 0), 40)] {
                for (at, byte) in &flip {
                    if let Some(slot) = data.get_mut(*at) {
                        *slot = *byte;
                    }
                }
                data.truncate(cut.max(1));
                let _ = parse(ETH_P_IPV6, &data, 0, None);
                let _ = parse(ETH_P_IP, &data, 0, None);
            }
        }
    }
}
