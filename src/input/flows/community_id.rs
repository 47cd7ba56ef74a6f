//! Community ID v1 (`network.community_id`): the flow hash Zeek, Suricata and the Beats
//! share, so one connection can be found in every tool that saw it.
//!
//! The published algorithm: SHA-1 over the seed (2 bytes), the two addresses and ports
//! in a fixed order (the lower address first, so both directions hash alike), the
//! protocol number and a padding byte, then base64 with a `1:` version prefix. ICMP has
//! no ports: its type and code stand in, and a request/reply pair (echo, timestamp, ...)
//! uses the type and its counterpart so that both directions hash alike; other ICMP
//! messages are one-way and keep their order.

use std::net::IpAddr;

use sha1::{Digest, Sha1};

/// The port-like pair of an ICMP message, `(type, counterpart or code)`, as the flow
/// table and the hash use it. `proto` is 1 (ICMP) or 58 (ICMPv6).
pub fn icmp_ports(proto: u8, icmp_type: u8, code: u8) -> (u16, u16) {
    match counterpart(proto, icmp_type) {
        Some(other) => (u16::from(icmp_type), u16::from(other)),
        None => (u16::from(icmp_type), u16::from(code)),
    }
}

/// The type that answers (or asks) `icmp_type`, for the messages that come in pairs.
fn counterpart(proto: u8, icmp_type: u8) -> Option<u8> {
    let pairs: &[(u8, u8)] = match proto {
        1 => &[(8, 0), (13, 14), (15, 16), (10, 9), (17, 18)],
        58 => &[
            (128, 129),
            (133, 134),
            (135, 136),
            (130, 131),
            (139, 140),
            (144, 145),
        ],
        _ => return None,
    };
    pairs.iter().find_map(|&(a, b)| match icmp_type {
        t if t == a => Some(b),
        t if t == b => Some(a),
        _ => None,
    })
}

/// `1:<base64 of the SHA-1>` of a flow with seed 0. For ICMP, the ports are the
/// [`icmp_ports`] pair.
pub fn community_id(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, proto: u8) -> String {
    let icmp = matches!(proto, 1 | 58);
    let one_way = icmp && u8::try_from(sport).map_or(true, |t| counterpart(proto, t).is_none());
    let (src_bytes, dst_bytes) = (octets(src), octets(dst));
    let ordered = (src_bytes.as_slice(), sport) <= (dst_bytes.as_slice(), dport);
    let ((a, ap), (b, bp)) = if one_way || ordered {
        ((&src_bytes, sport), (&dst_bytes, dport))
    } else {
        ((&dst_bytes, dport), (&src_bytes, sport))
    };
    let mut hash = Sha1::new();
    hash.update(0u16.to_be_bytes());
    hash.update(a);
    hash.update(b);
    hash.update([proto, 0]);
    hash.update(ap.to_be_bytes());
    hash.update(bp.to_be_bytes());
    let mut id = String::from("1:");
    base64(&hash.finalize(), &mut id);
    id
}

fn octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// Standard base64 with padding (RFC 4648 §4).
pub(super) fn base64(bytes: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(src: &str, sport: u16, dst: &str, dport: u16, proto: u8) -> String {
        community_id(
            src.parse().unwrap(),
            sport,
            dst.parse().unwrap(),
            dport,
            proto,
        )
    }

    #[test]
    fn published_vectors_hash_as_published_in_both_directions() {
        let vectors = [
            (
                ("128.232.110.120", 34855),
                ("66.35.250.204", 80),
                6,
                "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            ),
            (
                ("192.168.1.52", 54585),
                ("8.8.8.8", 53),
                17,
                "1:d/FP5EW3wiY1vCndhwleRRKHowQ=",
            ),
            (
                ("2001:470:e5bf:dead:4957:2174:e82c:4887", 63943),
                ("2607:f8b0:400c:c03::1a", 25),
                6,
                "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
            ),
            (
                ("192.168.170.8", 7),
                ("192.168.170.56", 80),
                132,
                "1:jQgCxbku+pNGw8WPbEc/TS/uTpQ=",
            ),
        ];
        for ((src, sport), (dst, dport), proto, expected) in vectors {
            assert_eq!(id(src, sport, dst, dport, proto), expected);
            assert_eq!(id(dst, dport, src, sport, proto), expected);
        }
    }

    #[test]
    fn icmp_pairs_share_an_id_and_one_way_messages_keep_their_order() {
        let (t, c) = icmp_ports(1, 8, 0);
        assert_eq!(
            id("192.168.0.89", t, "192.168.0.1", c, 1),
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
        );
        let (rt, rc) = icmp_ports(1, 0, 0);
        assert_eq!(
            id("192.168.0.1", rt, "192.168.0.89", rc, 1),
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
        );
        let (t, c) = icmp_ports(58, 3, 0);
        assert_eq!((t, c), (3, 0));
        assert_eq!(
            id(
                "3ffe:501:0:1802:260:97ff:feb6:7ff0",
                t,
                "3ffe:507:0:1:200:86ff:fe05:80da",
                c,
                58
            ),
            "1:bnQKq8A2r//dWnkRW2EYcMhShjc="
        );
    }

    #[test]
    fn base64_pads_like_rfc_4648() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = String::new();
            base64(input.as_bytes(), &mut out);
            assert_eq!(out, expected);
        }
    }
}
