//! The classic BPF program the kernel runs on every packet before it reaches the
//! ring, built from `filter:` (transports, ports, hosts), so that packets nobody asked
//! about never cost a copy to user space. Pure: instructions in, instructions out.
//!
//! The capture is cooked, so the program finds the EtherType in the kernel's metadata
//! (`skb->protocol`) and the network header at offset 0 (4 after a VLAN tag left in the
//! data). It also drops loopback's outgoing copies (each loopback packet is seen again
//! as incoming, as libpcap does). Ports are matched on either side for TCP and UDP;
//! ICMP has none. IPv4 fragments after the first are dropped when ports are set, since
//! they carry no ports; IPv6 extension headers are not followed here (a packet with
//! them does not match a port filter). Accepted packets are cut to [`SNAPLEN`] bytes.

use std::net::IpAddr;

use crate::config::FlowsFilter;

use super::packet::{ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, ICMP, ICMPV6, TCP, UDP};

/// Bytes kept of each packet from the network header on: IPv6 with room for extension
/// headers and a TCP header, or IPv4 with options and TCP. Payloads are never kept.
pub const SNAPLEN: u32 = 128;

/// One instruction, laid out as the kernel's `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

pub const LD_W_ABS: u16 = 0x20;
pub const LD_H_ABS: u16 = 0x28;
pub const LD_B_ABS: u16 = 0x30;
pub const LD_H_IND: u16 = 0x48;
pub const LDX_B_MSH: u16 = 0xb1;
pub const LDX_IMM: u16 = 0x01;
pub const AND_K: u16 = 0x54;
pub const JA: u16 = 0x05;
pub const JEQ_K: u16 = 0x15;
pub const JSET_K: u16 = 0x45;
pub const RET_K: u16 = 0x06;

/// `SKF_AD_OFF + n`: loads of the kernel's metadata instead of packet bytes.
const fn ancillary(n: u32) -> u32 {
    0u32.wrapping_sub(0x1000).wrapping_add(n)
}
pub const AD_PROTOCOL: u32 = ancillary(0);
pub const AD_PKTTYPE: u32 = ancillary(4);
pub const AD_HATYPE: u32 = ancillary(28);
const PACKET_OUTGOING: u32 = 4;
const ARPHRD_LOOPBACK: u32 = 772;

/// The kernel's limit on a classic program's length.
const MAX_INSNS: usize = 4096;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the capture filter needs {0} BPF instructions, over the kernel's 4096; list fewer ports or hosts"
)]
pub struct TooLong(usize);

#[derive(Clone, Copy)]
struct Label(usize);

/// Instructions with forward jumps to labels. Conditional jumps only ever skip the
/// one `ja` after them, so any distance can be reached (`ja` has 32 bits).
#[derive(Default)]
struct Asm {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
    jumps: Vec<(usize, Label)>,
}

impl Asm {
    fn op(&mut self, code: u16, k: u32) {
        self.insns.push(Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        });
    }
    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }
    fn here(&mut self, l: Label) {
        self.labels[l.0] = Some(self.insns.len());
    }
    fn goto(&mut self, l: Label) {
        self.jumps.push((self.insns.len(), l));
        self.op(JA, 0);
    }
    /// `if A == k goto l`.
    fn if_eq(&mut self, k: u32, l: Label) {
        self.insns.push(Insn {
            code: JEQ_K,
            jt: 0,
            jf: 1,
            k,
        });
        self.goto(l);
    }
    /// `if A != k goto l`.
    fn if_ne(&mut self, k: u32, l: Label) {
        self.insns.push(Insn {
            code: JEQ_K,
            jt: 1,
            jf: 0,
            k,
        });
        self.goto(l);
    }
    /// `if A & k != 0 goto l`.
    fn if_any(&mut self, k: u32, l: Label) {
        self.insns.push(Insn {
            code: JSET_K,
            jt: 0,
            jf: 1,
            k,
        });
        self.goto(l);
    }
    fn finish(mut self) -> Result<Vec<Insn>, TooLong> {
        if self.insns.len() > MAX_INSNS {
            return Err(TooLong(self.insns.len()));
        }
        for (at, l) in self.jumps {
            let target = self.labels[l.0].expect("every label used is placed");
            self.insns[at].k =
                u32::try_from(target - at - 1).expect("a program is under 4096 instructions");
        }
        Ok(self.insns)
    }
}

/// The program for `filter`.
pub fn program(filter: &FlowsFilter) -> Result<Vec<Insn>, TooLong> {
    let mut a = Asm::default();
    let (accept, reject) = (a.label(), a.label());
    let (protocol, tagged) = (a.label(), a.label());
    a.op(LD_W_ABS, AD_PKTTYPE);
    a.if_ne(PACKET_OUTGOING, protocol);
    a.op(LD_W_ABS, AD_HATYPE);
    a.if_eq(ARPHRD_LOOPBACK, reject);
    a.here(protocol);
    a.op(LD_W_ABS, AD_PROTOCOL);
    a.if_eq(u32::from(ETH_P_8021Q), tagged);
    a.if_eq(u32::from(ETH_P_8021AD), tagged);
    network(&mut a, filter, 0, accept, reject);
    a.here(tagged);
    a.op(LD_H_ABS, 2);
    network(&mut a, filter, 4, accept, reject);
    a.here(accept);
    a.op(RET_K, SNAPLEN);
    a.here(reject);
    a.op(RET_K, 0);
    a.finish()
}

/// With the EtherType in A and the network header at `base`.
fn network(a: &mut Asm, f: &FlowsFilter, base: u32, accept: Label, reject: Label) {
    let (v4, v6) = (a.label(), a.label());
    a.if_eq(u32::from(ETH_P_IP), v4);
    a.if_eq(u32::from(ETH_P_IPV6), v6);
    a.goto(reject);

    a.here(v4);
    hosts(a, f, base, [12, 16], true, reject);
    let ports = a.label();
    a.op(LD_B_ABS, base + 9);
    transports(a, f, ICMP, ports, accept);
    a.goto(reject);
    a.here(ports);
    if f.ports.is_empty() {
        a.goto(accept);
    } else {
        a.op(LD_H_ABS, base + 6);
        a.if_any(0x1fff, reject);
        a.op(LDX_B_MSH, base);
        self::ports(a, f, base, accept);
        a.goto(reject);
    }

    a.here(v6);
    hosts(a, f, base, [8, 24], false, reject);
    let ports = a.label();
    a.op(LD_B_ABS, base + 6);
    transports(a, f, ICMPV6, ports, accept);
    a.goto(reject);
    a.here(ports);
    if f.ports.is_empty() {
        a.goto(accept);
    } else {
        a.op(LDX_IMM, 40);
        self::ports(a, f, base, accept);
        a.goto(reject);
    }
}

/// With the protocol number in A: TCP and UDP on to `ports`, ICMP (`icmp` is 1 or
/// 58) accepted; anything else falls through.
fn transports(a: &mut Asm, f: &FlowsFilter, icmp: u8, ports: Label, accept: Label) {
    if f.tcp {
        a.if_eq(u32::from(TCP), ports);
    }
    if f.udp {
        a.if_eq(u32::from(UDP), ports);
    }
    if f.icmp {
        a.if_eq(u32::from(icmp), accept);
    }
}

/// With the transport header at X + `base`: either port in the list goes to `accept`.
fn ports(a: &mut Asm, f: &FlowsFilter, base: u32, accept: Label) {
    for side in [0, 2] {
        a.op(LD_H_IND, base + side);
        for port in &f.ports {
            a.if_eq(u32::from(*port), accept);
        }
    }
}

/// Passes on only when the source or destination address (at `base + at`) is in one
/// of the hosts of this family; no hosts passes everything.
fn hosts(a: &mut Asm, f: &FlowsFilter, base: u32, at: [u32; 2], v4: bool, reject: Label) {
    if f.hosts.is_empty() {
        return;
    }
    let pass = a.label();
    for (net, prefix) in &f.hosts {
        let words: Vec<u32> = match net {
            IpAddr::V4(ip) if v4 => vec![u32::from(*ip)],
            IpAddr::V6(ip) if !v4 => {
                let o = ip.octets();
                o.chunks(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            }
            _ => continue,
        };
        for side in at {
            let next = a.label();
            for (i, word) in words.iter().enumerate() {
                let bits = u32::from(*prefix).saturating_sub(32 * i as u32).min(32);
                if bits == 0 {
                    continue;
                }
                let mask = u32::MAX << (32 - bits);
                a.op(LD_W_ABS, base + side + 4 * i as u32);
                if mask != u32::MAX {
                    a.op(AND_K, mask);
                }
                a.if_ne(word & mask, next);
            }
            a.goto(pass);
            a.here(next);
        }
    }
    a.goto(reject);
    a.here(pass);
}

#[cfg(test)]
#[path = "bpf_tests.rs"]
mod tests;
