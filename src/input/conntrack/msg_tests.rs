//! The decoder on messages built here attribute by attribute, on two messages a 6.18
//! kernel sent, and on any bytes at all.

use proptest::prelude::*;

use super::*;

/// Builds netlink messages and attributes as the kernel lays them out.
mod build {
    pub fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let len = 4 + value.len();
        let mut a = Vec::with_capacity(len + 3);
        a.extend_from_slice(&(len as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(value);
        a.resize((len + 3) & !3, 0);
        a
    }

    pub fn nested(kind: u16, parts: &[Vec<u8>]) -> Vec<u8> {
        attr(kind | 0x8000, &parts.concat())
    }

    /// A message of `kind` (subsystem << 8 | message) with an nfgenmsg for `family`.
    pub fn message(kind: u16, flags: u16, family: u8, attrs: &[Vec<u8>]) -> Vec<u8> {
        let body = attrs.concat();
        let len = 16 + 4 + body.len();
        let mut m = Vec::with_capacity(len);
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&7u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&[family, 0, 0, 0]);
        m.extend_from_slice(&body);
        m
    }

    pub fn ips(src: std::net::IpAddr, dst: std::net::IpAddr) -> Vec<u8> {
        let (s, d) = match (src, dst) {
            (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) => {
                (attr(1, &s.octets()), attr(2, &d.octets()))
            }
            (std::net::IpAddr::V6(s), std::net::IpAddr::V6(d)) => {
                (attr(3, &s.octets()), attr(4, &d.octets()))
            }
            _ => panic!("a tuple has one family"),
        };
        nested(1, &[s, d])
    }

    pub fn ports(proto: u8, sport: u16, dport: u16) -> Vec<u8> {
        nested(
            2,
            &[
                attr(1, &[proto]),
                attr(2, &sport.to_be_bytes()),
                attr(3, &dport.to_be_bytes()),
            ],
        )
    }

    pub fn counters(kind: u16, packets: u64, bytes: u64) -> Vec<u8> {
        nested(
            kind,
            &[
                attr(1, &packets.to_be_bytes()),
                attr(2, &bytes.to_be_bytes()),
            ],
        )
    }
}

use build::{attr, counters, ips, message, nested, ports};

const NEW: u16 = 0x0100;
const DELETE: u16 = 0x0102;
const CREATE_EXCL: u16 = 0x0600;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn only_event(datagram: &[u8]) -> ConntrackEvent {
    let all: Vec<_> = messages(datagram).collect();
    match all.as_slice() {
        [Ok(Message::Event(e))] => e.clone(),
        other => panic!("expected one event, got {other:?}"),
    }
}

fn tcp_v4_new() -> Vec<u8> {
    let (a, b) = (ip("10.10.10.1"), ip("10.10.10.9"));
    message(
        NEW,
        CREATE_EXCL,
        2,
        &[
            nested(1, &[ips(a, b), ports(6, 40000, 514)]),
            nested(2, &[ips(b, a), ports(6, 514, 40000)]),
            attr(3, &8u32.to_be_bytes()),
            attr(7, &120u32.to_be_bytes()),
            nested(4, &[nested(1, &[attr(1, &[1]), attr(2, &[7])])]),
            attr(12, &0xdead_beefu32.to_be_bytes()),
            attr(8, &5u32.to_be_bytes()),
        ],
    )
}

#[test]
fn a_new_tcp_v4_event_has_both_tuples_state_timeout_and_id() {
    let e = only_event(&tcp_v4_new());
    assert_eq!(e.kind, EventKind::New);
    let t = e.original;
    assert_eq!(
        (t.src, t.dst),
        (Some(ip("10.10.10.1")), Some(ip("10.10.10.9")))
    );
    assert_eq!(
        (t.proto, t.sport, t.dport),
        (Some(6), Some(40000), Some(514))
    );
    assert_eq!(e.reply.sport, Some(514));
    assert_eq!(e.reply.dst, Some(ip("10.10.10.1")));
    assert_eq!(e.status, Some(8));
    assert_eq!(e.timeout, Some(120));
    assert_eq!(e.tcp_state, Some(1));
    assert_eq!(e.id, Some(0xdead_beef));
    assert_eq!(e.mark, Some(5));
    assert_eq!((e.original_counters, e.reply_counters), (None, None));
}

#[test]
fn a_destroyed_udp_v6_event_carries_each_directions_counters_and_times() {
    let (a, b) = (ip("fd00::1"), ip("fd00::9"));
    let m = message(
        DELETE,
        0,
        10,
        &[
            nested(1, &[ips(a, b), ports(17, 5353, 53)]),
            nested(2, &[ips(b, a), ports(17, 53, 5353)]),
            counters(9, 3, 231),
            counters(10, 1, 80),
            nested(
                20,
                &[
                    attr(1, &1_000_000_000u64.to_be_bytes()),
                    attr(2, &3_500_000_000u64.to_be_bytes()),
                ],
            ),
            attr(18, &2u16.to_be_bytes()),
        ],
    );
    let e = only_event(&m);
    assert_eq!(e.kind, EventKind::Destroy);
    assert_eq!(e.original.src, Some(a));
    assert_eq!(e.original.proto, Some(17));
    let counted = |packets, bytes| Some(Counters { packets, bytes });
    assert_eq!(e.original_counters, counted(3, 231));
    assert_eq!(e.reply_counters, counted(1, 80));
    assert_eq!(
        (e.start_ns, e.stop_ns),
        (Some(1_000_000_000), Some(3_500_000_000))
    );
    assert_eq!(e.zone, Some(2));
}

#[test]
fn icmp_tuples_have_id_type_and_code_and_an_update_has_no_create_flag() {
    let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
    let icmp = nested(
        2,
        &[
            attr(1, &[1]),
            attr(4, &77u16.to_be_bytes()),
            attr(5, &[8]),
            attr(6, &[0]),
        ],
    );
    let e = only_event(&message(NEW, 0, 2, &[nested(1, &[ips(a, b), icmp])]));
    assert_eq!(e.kind, EventKind::Update);
    let t = e.original;
    assert_eq!(
        (t.proto, t.icmp_id, t.icmp_type, t.icmp_code),
        (Some(1), Some(77), Some(8), Some(0))
    );
    assert_eq!((t.sport, t.dport), (None, None));
}

#[test]
fn old_kernels_32_bit_counters_are_read_too() {
    let c = nested(
        9,
        &[attr(3, &4u32.to_be_bytes()), attr(4, &400u32.to_be_bytes())],
    );
    let e = only_event(&message(DELETE, 0, 2, &[c]));
    assert_eq!(
        e.original_counters,
        Some(Counters {
            packets: 4,
            bytes: 400
        })
    );
}

#[test]
fn a_datagram_holds_several_messages_acks_and_others() {
    let mut datagram = tcp_v4_new();
    let mut error = Vec::new();
    error.extend_from_slice(&36u32.to_ne_bytes());
    error.extend_from_slice(&2u16.to_ne_bytes());
    error.extend_from_slice(&[0; 10]);
    error.extend_from_slice(&(-1i32).to_ne_bytes());
    error.extend_from_slice(&[0; 16]);
    datagram.extend_from_slice(&error);
    // An nf_tables message: another subsystem.
    datagram.extend_from_slice(&message(0x0a00, 0, 2, &[attr(1, b"lw\0")]));
    datagram.extend_from_slice(&tcp_v4_new());
    let all: Vec<_> = messages(&datagram).collect::<Result<_, _>>().unwrap();
    assert_eq!(all.len(), 4);
    assert!(matches!(all[0], Message::Event(_)));
    assert_eq!(all[1], Message::Error(-1));
    assert_eq!(all[2], Message::Other);
    assert!(matches!(all[3], Message::Event(_)));
}

#[test]
fn every_cut_of_a_message_is_an_error_and_never_a_wrong_event() {
    let whole = tcp_v4_new();
    for end in 1..whole.len() {
        let all: Vec<_> = messages(&whole[..end]).collect();
        assert!(matches!(all.as_slice(), [Err(_)]), "cut at {end}: {all:?}");
    }
}

#[test]
fn attributes_of_the_wrong_size_or_length_are_errors() {
    let short_ip = nested(1, &[nested(1, &[attr(1, &[10, 0, 0])])]);
    let e = messages(&message(NEW, 0, 2, &[short_ip])).next().unwrap();
    assert_eq!(
        e,
        Err(DecodeError::BadValue {
            kind: 1,
            len: 3,
            expected: 4
        })
    );
    let mut overlong = message(NEW, 0, 2, &[attr(3, &8u32.to_be_bytes())]);
    overlong[20] = 200; // the attribute's length
    let e = messages(&overlong).next().unwrap();
    assert!(
        matches!(e, Err(DecodeError::BadAttribute { declared: 200, .. })),
        "{e:?}"
    );
    let bad_header = [0xffu8; 20];
    let e = messages(&bad_header).next().unwrap();
    assert!(matches!(e, Err(DecodeError::BadLength { .. })), "{e:?}");
}

/// `[nlmsghdr][body]` with the header written here and the body as the kernel sent it.
fn from_kernel(kind: u16, flags: u16, body_hex: &str) -> Vec<u8> {
    let body: Vec<u8> = (0..body_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&body_hex[i..i + 2], 16).unwrap())
        .collect();
    let mut m = Vec::new();
    m.extend_from_slice(&(16 + body.len() as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(&body);
    m
}

/// A UDP datagram 127.0.0.1:47517 -> 127.0.0.1:514 in a namespace with accounting on,
/// then the table flushed: the NEW and DESTROY events a 6.18 kernel sent.
#[test]
fn events_a_real_kernel_sent_decode() {
    let tuple = "3400018014000180080001007f000001080002007f0000011c000280050001001100000006000200b99d000006000300020200003400028014000180080001007f000001080002007f0000011c0002800500010011000000060002000202000006000300b99d0000";
    let new = from_kernel(
        NEW,
        CREATE_EXCL,
        &format!("02000000{tuple}08000c009b67615c0800030000000008080007000000001e"),
    );
    let e = only_event(&new);
    assert_eq!(e.kind, EventKind::New);
    assert_eq!(e.original.src, Some(ip("127.0.0.1")));
    assert_eq!(
        (e.original.proto, e.original.sport, e.original.dport),
        (Some(17), Some(47517), Some(514))
    );
    assert_eq!((e.reply.sport, e.reply.dport), (Some(514), Some(47517)));
    assert_eq!(e.timeout, Some(30));
    assert_eq!(e.status, Some(8));
    let destroy = from_kernel(
        DELETE,
        0,
        &format!(
            "02000000{tuple}08000c009b67615c0800030000000208080007000000001d\
             1c0009800c00010000000000000000010c00020000000000000000211c000a80\
             0c00010000000000000000000c0002000000000000000000"
        ),
    );
    let e = only_event(&destroy);
    assert_eq!(e.kind, EventKind::Destroy);
    assert_eq!(
        e.original_counters,
        Some(Counters {
            packets: 1,
            bytes: 33
        })
    );
    assert_eq!(
        e.reply_counters,
        Some(Counters {
            packets: 0,
            bytes: 0
        })
    );
    assert_eq!(e.id, Some(0x9b67_615c));
}

proptest! {
    #[test]
    fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        for m in messages(&bytes) {
            let _ = m;
        }
    }

    #[test]
    fn a_valid_message_with_any_bytes_changed_decodes_without_panicking(
        changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut m = tcp_v4_new();
        for (at, byte) in changes {
            let i = at.index(m.len());
            m[i] = byte;
        }
        prop_assert!(messages(&m).count() <= m.len() / 16 + 1);
    }
}
