//! The table on simulated time: directions, periodic and final reports, deltas, and
//! the bound on flows.

use super::*;
use crate::input::flows::packet::UDP;

const S: i64 = 1_000_000_000;

fn limits() -> Limits {
    Limits {
        period: 10 * S,
        timeout: 30 * S,
        max_flows: 100,
    }
}

fn packet(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, len: u32, flags: u8) -> Packet {
    Packet {
        src: src.into(),
        dst: dst.into(),
        proto: TCP,
        src_port: sport,
        dst_port: dport,
        ip_len: len,
        tcp_flags: flags,
        vlan: None,
    }
}

const CLIENT: [u8; 4] = [10, 10, 10, 1];
const SERVER: [u8; 4] = [10, 10, 10, 9];

fn ticked(t: &mut Table, now: i64) -> Vec<Report> {
    let mut out = Vec::new();
    t.tick(now, &mut out);
    out
}

#[test]
fn both_directions_count_in_one_flow_whose_source_sent_first() {
    // The server's address sorts after the client's, and the other way round.
    for server in [SERVER, [10, 0, 0, 1]] {
        let mut t = Table::new(limits(), 0);
        t.observe(
            &packet(CLIENT, 51000, server, 514, 60, SYN),
            Some([1; 6]),
            S,
        );
        t.observe(
            &packet(server, 514, CLIENT, 51000, 60, SYN | ACK),
            Some([2; 6]),
            2 * S,
        );
        t.observe(
            &packet(CLIENT, 51000, server, 514, 1040, ACK),
            Some([1; 6]),
            3 * S,
        );
        assert_eq!(t.len(), 1);
        let r = ticked(&mut t, 10 * S);
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!((r.source.ip, r.source.port), (IpAddr::from(CLIENT), 51000));
        assert_eq!(
            (r.destination.ip, r.destination.port),
            (IpAddr::from(server), 514)
        );
        assert_eq!(
            r.sent,
            Sent {
                bytes: 1100,
                packets: 2,
                mac: Some([1; 6])
            }
        );
        assert_eq!(
            r.received,
            Sent {
                bytes: 60,
                packets: 1,
                mac: Some([2; 6])
            }
        );
        assert_eq!(
            (r.start, r.end, r.new_bytes, r.new_packets),
            (S, 3 * S, 1160, 3)
        );
        assert!(r.first && !r.last);
    }
}

#[test]
fn a_syn_ack_seen_first_makes_its_receiver_the_source() {
    let mut t = Table::new(limits(), 0);
    t.observe(&packet(SERVER, 514, CLIENT, 51000, 60, SYN | ACK), None, S);
    let r = ticked(&mut t, 10 * S);
    assert_eq!(r[0].source.ip, IpAddr::from(CLIENT));
    assert_eq!(r[0].received.packets, 1);
}

#[test]
fn interim_reports_carry_totals_and_deltas_and_idle_flows_end_final() {
    let mut t = Table::new(limits(), 0);
    t.observe(&packet(CLIENT, 1, SERVER, 514, 100, 0), None, S);
    assert!(
        ticked(&mut t, 9 * S).is_empty(),
        "no report before the period"
    );
    let first = ticked(&mut t, 10 * S);
    assert_eq!(
        (first[0].new_bytes, first[0].first, first[0].last),
        (100, true, false)
    );
    t.observe(&packet(CLIENT, 1, SERVER, 514, 50, 0), None, 12 * S);
    let second = ticked(&mut t, 20 * S);
    assert_eq!(second[0].sent.bytes, 150);
    assert_eq!(
        (second[0].new_bytes, second[0].new_packets, second[0].first),
        (50, 1, false)
    );
    // Reported every period while live, with nothing new.
    let third = ticked(&mut t, 30 * S);
    assert_eq!((third[0].new_bytes, third[0].last), (0, false));
    // Idle for 30 s after its last packet at 12 s.
    assert!(ticked(&mut t, 41 * S).iter().all(|r| !r.last));
    let end = ticked(&mut t, 42 * S);
    assert_eq!(end.len(), 1);
    assert!(end[0].last);
    assert_eq!((end[0].sent.bytes, end[0].new_bytes), (150, 0));
    assert!(t.is_empty());
    // The same tuple again is a new flow.
    t.observe(&packet(CLIENT, 1, SERVER, 514, 70, 0), None, 43 * S);
    let again = ticked(&mut t, 80 * S);
    assert!(again[0].first && again[0].last);
    assert_eq!((again[0].start, again[0].sent.bytes), (43 * S, 70));
}

#[test]
fn a_zero_period_reports_only_when_a_flow_ends() {
    let mut t = Table::new(
        Limits {
            period: 0,
            ..limits()
        },
        0,
    );
    t.observe(&packet(CLIENT, 1, SERVER, 514, 100, 0), None, 0);
    assert!(ticked(&mut t, 29 * S).is_empty());
    assert_eq!(ticked(&mut t, 30 * S).len(), 1);
}

#[test]
fn vlans_and_protocols_keep_flows_apart() {
    let mut t = Table::new(limits(), 0);
    let p = packet(CLIENT, 1, SERVER, 514, 100, 0);
    t.observe(&p, None, 0);
    t.observe(&Packet { vlan: Some(5), ..p }, None, 0);
    t.observe(&Packet { proto: UDP, ..p }, None, 0);
    assert_eq!(t.len(), 3);
}

#[test]
fn past_max_flows_the_longest_idle_end_early_and_are_counted() {
    let mut t = Table::new(
        Limits {
            max_flows: 3,
            ..limits()
        },
        0,
    );
    for port in 1..=3u16 {
        t.observe(
            &packet(CLIENT, port, SERVER, 514, 10, 0),
            None,
            i64::from(port) * S,
        );
    }
    t.observe(&packet(CLIENT, 1, SERVER, 514, 10, 0), None, 4 * S);
    t.observe(&packet(CLIENT, 4, SERVER, 514, 10, 0), None, 5 * S);
    assert_eq!((t.len(), t.evicted()), (3, 1));
    let r = ticked(&mut t, 6 * S);
    assert_eq!(r.len(), 1, "only the ended flow before the period");
    assert_eq!((r[0].source.port, r[0].last, r[0].new_bytes), (2, true, 10));
}
