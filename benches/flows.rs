//! The user-space side of flow capture, per core: a captured packet's head parsed and
//! counted in the flow table, and the table's memory.
//!
//! - `flows/parse_and_observe`: one million IPv4 TCP packets (both directions) over
//!   100,000 flows, through `packet::parse` and `Table::observe`, in packets/s.
//! - Before it runs, the bench prints the heap the table holds for 100,000 flows (a
//!   counting allocator), once.
//!
//! `cargo bench --bench flows -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lumberwatch::input::flows::packet::{ETH_P_IP, parse};
use lumberwatch::input::flows::table::{Limits, Table};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

const FLOWS: u32 = 100_000;

const LIMITS: Limits = Limits {
    period: 10_000_000_000,
    timeout: 30_000_000_000,
    max_flows: 1_000_000,
};

/// The first 40 bytes of an IPv4 TCP packet of flow `i`, in either direction.
fn packet(i: u32, reply: bool) -> Vec<u8> {
    let client = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
    let server = [192, 168, 1, 1];
    let (src, dst, sport, dport) = if reply {
        (server, client, 514u16, 40000 + (i % 20000) as u16)
    } else {
        (client, server, 40000 + (i % 20000) as u16, 514)
    };
    let mut p = vec![0x45, 0, 0x05, 0xdc, 0, 1, 0x40, 0, 64, 6, 0, 0];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&[0x50, 0x10, 0, 0, 0, 0, 0, 0]);
    p
}

fn print_memory() {
    let before = counting_alloc::live();
    let mut table = Table::new(LIMITS, 0);
    for i in 0..FLOWS {
        let p = parse(ETH_P_IP, &packet(i, false), 1500, None).expect("a valid packet");
        table.observe(&p, Some([2, 0, 0, 0, 0, 1]), i64::from(i));
    }
    let bytes = counting_alloc::live() - before;
    println!(
        "flow table: {} flows hold {:.1} MiB ({} bytes per flow)",
        table.len(),
        bytes as f64 / f64::from(1 << 20),
        bytes / i64::from(FLOWS) as isize
    );
    black_box(table);
}

fn bench(c: &mut Criterion) {
    print_memory();
    let packets: Vec<Vec<u8>> = (0..1_000_000u32)
        .map(|n| packet(n % FLOWS, n % 3 == 2))
        .collect();
    let mut group = c.benchmark_group("flows");
    group.throughput(Throughput::Elements(packets.len() as u64));
    group.sample_size(10);
    group.bench_function("parse_and_observe", |b| {
        b.iter(|| {
            let mut table = Table::new(LIMITS, 0);
            for (t, data) in packets.iter().enumerate() {
                if let Ok(p) = parse(ETH_P_IP, data, 1500, None) {
                    table.observe(&p, None, t as i64);
                }
            }
            black_box(table.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
