//! The programs run through a small classic-BPF interpreter (the kernel's semantics for
//! the instructions we emit: a load past the end rejects the packet) against packets
//! built by hand.

use std::net::IpAddr;

use super::*;
use crate::input::flows::packet::tests::{ipv4, ipv6, tcp, udp};

/// What the kernel knows about a packet besides its bytes.
#[derive(Clone, Copy)]
struct Meta {
    protocol: u16,
    pkttype: u32,
    hatype: u32,
}

const INCOMING_V4: Meta = Meta {
    protocol: ETH_P_IP,
    pkttype: 0,
    hatype: 1,
};
const INCOMING_V6: Meta = Meta {
    protocol: ETH_P_IPV6,
    ..INCOMING_V4
};

fn run(program: &[Insn], p: &[u8], meta: Meta) -> u32 {
    let load = |at: u32, n: usize| -> Option<u32> {
        let at = usize::try_from(at).ok()?;
        let bytes = p.get(at..at.checked_add(n)?)?;
        Some(bytes.iter().fold(0u32, |v, b| v << 8 | u32::from(*b)))
    };
    let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
    loop {
        let i = program[pc];
        pc += 1;
        let loaded = match i.code {
            LD_W_ABS | LD_H_ABS | LD_B_ABS if i.k >= AD_PROTOCOL => match i.k {
                AD_PROTOCOL => Some(u32::from(meta.protocol)),
                AD_PKTTYPE => Some(meta.pkttype),
                AD_HATYPE => Some(meta.hatype),
                other => panic!("unexpected ancillary load {other:#x}"),
            },
            LD_W_ABS => load(i.k, 4),
            LD_H_ABS => load(i.k, 2),
            LD_B_ABS => load(i.k, 1),
            LD_H_IND => load(x.wrapping_add(i.k), 2),
            LDX_B_MSH => match load(i.k, 1) {
                Some(b) => {
                    x = (b & 0xf) * 4;
                    None
                }
                None => return 0,
            },
            LDX_IMM => {
                x = i.k;
                None
            }
            AND_K => {
                a &= i.k;
                None
            }
            JA => {
                pc += i.k as usize;
                None
            }
            JEQ_K | JSET_K => {
                let hit = if i.code == JEQ_K {
                    a == i.k
                } else {
                    a & i.k != 0
                };
                pc += usize::from(if hit { i.jt } else { i.jf });
                None
            }
            RET_K => return i.k,
            other => panic!("unexpected instruction {other:#x}"),
        };
        match (i.code, loaded) {
            (LD_W_ABS | LD_H_ABS | LD_B_ABS | LD_H_IND, Some(v)) => a = v,
            (LD_W_ABS | LD_H_ABS | LD_B_ABS | LD_H_IND, None) => return 0,
            _ => {}
        }
    }
}

fn filter(ports: &[u16], hosts: &[(&str, u8)], transports: [bool; 3]) -> FlowsFilter {
    FlowsFilter {
        tcp: transports[0],
        udp: transports[1],
        icmp: transports[2],
        ports: ports.to_vec(),
        hosts: hosts
            .iter()
            .map(|(ip, prefix)| (ip.parse::<IpAddr>().unwrap(), *prefix))
            .collect(),
    }
}

const ALL: [bool; 3] = [true, true, true];
const A: [u8; 4] = [10, 10, 10, 1];
const B: [u8; 4] = [10, 10, 10, 9];

fn tcp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    ipv4(src, dst, TCP, &tcp(sport, dport, 0), 40)
}

#[test]
fn everything_ip_passes_by_default_cut_to_the_snaplen() {
    let p = program(&FlowsFilter::default()).unwrap();
    assert_eq!(run(&p, &tcp4(A, B, 1, 2), INCOMING_V4), SNAPLEN);
    let icmp = ipv4(A, B, ICMP, &[8, 0, 0, 0], 64);
    assert_eq!(run(&p, &icmp, INCOMING_V4), SNAPLEN);
    let v6 = ipv6(
        "::1".parse().unwrap(),
        "::2".parse().unwrap(),
        UDP,
        &udp(5, 6),
        8,
    );
    assert_eq!(run(&p, &v6, INCOMING_V6), SNAPLEN);
    let arp = Meta {
        protocol: 0x0806,
        ..INCOMING_V4
    };
    assert_eq!(run(&p, &[0; 28], arp), 0);
}

#[test]
fn transports_not_listed_are_dropped() {
    let p = program(&filter(&[], &[], [true, false, false])).unwrap();
    assert_eq!(run(&p, &tcp4(A, B, 1, 2), INCOMING_V4), SNAPLEN);
    assert_eq!(run(&p, &ipv4(A, B, UDP, &udp(1, 2), 8), INCOMING_V4), 0);
    assert_eq!(run(&p, &ipv4(A, B, ICMP, &[8, 0], 8), INCOMING_V4), 0);
    assert_eq!(run(&p, &ipv4(A, B, 47, &[0; 8], 8), INCOMING_V4), 0);
}

#[test]
fn ports_match_either_side_over_ipv4_with_options_and_ipv6() {
    let p = program(&filter(&[514, 3000], &[], ALL)).unwrap();
    assert_eq!(run(&p, &tcp4(A, B, 51000, 514), INCOMING_V4), SNAPLEN);
    assert_eq!(run(&p, &tcp4(B, A, 3000, 51000), INCOMING_V4), SNAPLEN);
    assert_eq!(run(&p, &tcp4(A, B, 51000, 5140), INCOMING_V4), 0);
    assert_eq!(
        run(&p, &ipv4(A, B, UDP, &udp(4000, 3000), 20), INCOMING_V4),
        SNAPLEN
    );
    // Four bytes of IPv4 options move the ports.
    let mut with_options = tcp4(A, B, 51000, 514);
    with_options[0] = 0x46;
    with_options.splice(20..20, [1, 1, 1, 1]);
    assert_eq!(run(&p, &with_options, INCOMING_V4), SNAPLEN);
    with_options.splice(24..28, 5140u16.to_be_bytes().repeat(2));
    assert_eq!(run(&p, &with_options, INCOMING_V4), 0);
    let (x, y) = (
        "2001:db8::1".parse().unwrap(),
        "2001:db8::2".parse().unwrap(),
    );
    assert_eq!(
        run(&p, &ipv6(x, y, TCP, &tcp(40000, 514, 0), 20), INCOMING_V6),
        SNAPLEN
    );
    assert_eq!(
        run(&p, &ipv6(x, y, TCP, &tcp(40000, 22, 0), 20), INCOMING_V6),
        0
    );
    // ICMP has no ports: it passes as a transport of its own.
    assert_eq!(run(&p, &ipv4(A, B, ICMP, &[8, 0], 8), INCOMING_V4), SNAPLEN);
}

#[test]
fn later_fragments_and_short_packets_are_dropped_under_a_port_filter() {
    let p = program(&filter(&[514], &[], ALL)).unwrap();
    let mut fragment = tcp4(A, B, 51000, 514);
    fragment[6..8].copy_from_slice(&0x0010u16.to_be_bytes());
    assert_eq!(run(&p, &fragment, INCOMING_V4), 0);
    assert_eq!(run(&p, &tcp4(A, B, 51000, 514)[..21], INCOMING_V4), 0);
}

#[test]
fn hosts_match_source_or_destination_within_their_prefix() {
    let p = program(&filter(&[], &[("10.10.10.0", 30), ("2001:db8::", 32)], ALL)).unwrap();
    assert_eq!(run(&p, &tcp4(A, [8, 8, 8, 8], 1, 2), INCOMING_V4), SNAPLEN);
    assert_eq!(
        run(&p, &tcp4([8, 8, 8, 8], [10, 10, 10, 3], 1, 2), INCOMING_V4),
        SNAPLEN
    );
    assert_eq!(
        run(&p, &tcp4([10, 10, 10, 4], [8, 8, 8, 8], 1, 2), INCOMING_V4),
        0
    );
    let inside = ipv6(
        "2001:db8:5::1".parse().unwrap(),
        "fe80::1".parse().unwrap(),
        UDP,
        &udp(1, 2),
        8,
    );
    assert_eq!(run(&p, &inside, INCOMING_V6), SNAPLEN);
    let outside = ipv6(
        "2001:db9::1".parse().unwrap(),
        "fe80::1".parse().unwrap(),
        UDP,
        &udp(1, 2),
        8,
    );
    assert_eq!(run(&p, &outside, INCOMING_V6), 0);
    let only_v4 = program(&filter(&[], &[("10.10.10.1", 32)], ALL)).unwrap();
    assert_eq!(run(&only_v4, &inside, INCOMING_V6), 0);
    assert_eq!(run(&only_v4, &tcp4(B, A, 1, 2), INCOMING_V4), SNAPLEN);
}

#[test]
fn a_vlan_tag_in_the_data_moves_the_headers() {
    let p = program(&filter(&[514], &[("10.10.10.1", 32)], ALL)).unwrap();
    let mut tagged = vec![0x00, 0x2a, 0x08, 0x00];
    tagged.extend(tcp4(A, B, 51000, 514));
    let meta = Meta {
        protocol: ETH_P_8021Q,
        ..INCOMING_V4
    };
    assert_eq!(run(&p, &tagged, meta), SNAPLEN);
    tagged[4 + 22..4 + 24].copy_from_slice(&22u16.to_be_bytes());
    assert_eq!(run(&p, &tagged, meta), 0);
}

#[test]
fn loopback_copies_of_outgoing_packets_are_dropped() {
    let p = program(&FlowsFilter::default()).unwrap();
    let data = tcp4(A, B, 1, 2);
    let outgoing = |hatype| Meta {
        pkttype: 4,
        hatype,
        ..INCOMING_V4
    };
    assert_eq!(run(&p, &data, outgoing(772)), 0);
    assert_eq!(run(&p, &data, outgoing(1)), SNAPLEN);
    assert_eq!(
        run(
            &p,
            &data,
            Meta {
                hatype: 772,
                ..INCOMING_V4
            }
        ),
        SNAPLEN
    );
}

#[test]
fn a_program_past_the_kernels_limit_is_refused() {
    let ports: Vec<u16> = (1..=600).collect();
    assert!(matches!(program(&filter(&ports, &[], ALL)), Err(TooLong(n)) if n > 4096));
    let ports: Vec<u16> = (1..=64).collect();
    let hosts = vec![("2001:db8::", 48); 16];
    assert!(program(&filter(&ports, &hosts, ALL)).is_ok());
}
