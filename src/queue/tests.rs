//! The disk queue on real files: what is written comes back until acked, across
//! restarts, torn tails, full queues and corruption.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::queue::mem;
use proptest::prelude::*;

use super::*;
use crate::config::{DiskQueueConfig, Fsync, WhenFull};
use crate::event::Event;
use crate::output::AckSink;

fn config(max_size: u64, segment_size: u64) -> DiskQueueConfig {
    DiskQueueConfig {
        max_size,
        segment_size,
        ..DiskQueueConfig::default()
    }
}

fn event(n: u32) -> Event {
    Event::from_json(format!("{{\"n\":{n}}}"))
}

fn number(e: &Event) -> u32 {
    let v: serde_json::Value = serde_json::from_slice(&e.json).unwrap();
    v["n"].as_u64().unwrap() as u32
}

fn open(dir: &Path, cfg: &DiskQueueConfig) -> (Arc<DiskQueue>, Reopened) {
    let (q, r) = DiskQueue::open(dir, cfg).unwrap();
    (Arc::new(q), r)
}

fn write(q: &Arc<DiskQueue>, range: std::ops::Range<u32>) {
    let events: Vec<Event> = range.map(event).collect();
    assert_eq!(q.writer().append(&events).unwrap(), events.len());
}

/// Everything the reader gives until the writers are gone and all is read.
async fn read_all(q: &Arc<DiskQueue>) -> Vec<Event> {
    // No writer is left (this one closes the writing side as it goes).
    drop(q.writer());
    let (tx, mut rx) = mem::channel(100_000);
    run_reader(q.clone(), tx).await;
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

fn segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".seg"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn written_events_come_back_in_order_until_acked_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(1 << 20, 1 << 20);
    let (q, reopened) = open(dir.path(), &cfg);
    assert_eq!(reopened, Reopened::default());
    write(&q, 0..5);
    let read = read_all(&q).await;
    assert_eq!(read.iter().map(number).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert_eq!(
        q.counters.fsyncs.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "one fsync a write"
    );
    q.acked(&read[..2]);
    q.acked(&read[4..]);
    assert_eq!(q.unacked(), 2);
    q.save_floor().unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir.path()), 0o700);
    assert_eq!(mode(&dir.path().join(&segment_files(dir.path())[0])), 0o600);
    assert_eq!(mode(&dir.path().join("acked")), 0o600);
    drop(q);

    // A crash: 2 and 3 were never acked; 4 was, but only the floor (2) is saved.
    let (q, reopened) = open(dir.path(), &cfg);
    assert_eq!(reopened.pending, 3);
    let read = read_all(&q).await;
    assert_eq!(read.iter().map(number).collect::<Vec<_>>(), [2, 3, 4]);
    q.acked(&read);
    assert_eq!(q.unacked(), 0);
    assert!(
        segment_files(dir.path()).is_empty(),
        "an acked sealed segment is deleted"
    );
    write(&q, 5..6);
    q.save_floor().unwrap();
    drop(q);
    let (q, reopened) = open(dir.path(), &cfg);
    assert_eq!(reopened.pending, 1);
    assert_eq!(
        read_all(&q).await.iter().map(number).collect::<Vec<_>>(),
        [5]
    );
}

#[tokio::test]
async fn segments_rotate_and_are_deleted_once_acked_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    // 7-byte payloads + 8-byte headers: a segment is full after 4 records (60 bytes).
    let (q, _) = open(dir.path(), &config(1 << 20, 60));
    for n in 0..12 {
        write(&q, n..n + 1);
    }
    assert_eq!(segment_files(dir.path()).len(), 3);
    let read = read_all(&q).await;
    assert_eq!(read.len(), 12);
    q.acked(&read[4..8]);
    assert_eq!(
        segment_files(dir.path()).len(),
        2,
        "the middle segment goes first"
    );
    q.acked(&read[..4]);
    q.acked(&read[8..]);
    assert_eq!(
        segment_files(dir.path()).len(),
        1,
        "the open segment stays until rotated"
    );
    assert_eq!(q.unacked(), 0);
    assert_eq!(q.bytes(), 62, "two 15-byte and two 16-byte records");
}

#[tokio::test]
async fn a_torn_tail_is_cut_off_counted_and_appends_follow_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(1 << 20, 1 << 20);
    let (q, _) = open(dir.path(), &cfg);
    write(&q, 0..2);
    drop(q);
    let seg = dir.path().join(&segment_files(dir.path())[0]);
    let len = std::fs::metadata(&seg).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    file.set_len(len - 3).unwrap();
    let (q, reopened) = open(dir.path(), &cfg);
    assert_eq!(
        reopened,
        Reopened {
            pending: 1,
            discarded_bytes: 12
        }
    );
    write(&q, 7..8);
    drop(q);
    let (q, _) = open(dir.path(), &cfg);
    assert_eq!(
        read_all(&q).await.iter().map(number).collect::<Vec<_>>(),
        [0, 7]
    );
}

#[tokio::test]
async fn a_corrupt_record_skips_the_rest_of_its_segment_only() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), &config(1 << 20, 30));
    for n in 0..4 {
        write(&q, n..n + 1); // 15 bytes each: two records a segment
    }
    // Damage the second record of the first segment after it was written.
    let first = dir.path().join(&segment_files(dir.path())[0]);
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[15 + 9] ^= 0xff;
    std::fs::write(&first, &bytes).unwrap();
    let read = read_all(&q).await;
    assert_eq!(read.iter().map(number).collect::<Vec<_>>(), [0, 2, 3]);
    assert_eq!(
        q.counters
            .corrupt_bytes
            .load(std::sync::atomic::Ordering::Relaxed),
        15
    );
    q.acked(&read);
    assert_eq!(q.unacked(), 0, "the lost record is not waited for");
}

#[tokio::test]
async fn a_full_queue_blocks_writers_until_acks_free_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), &config(60, 30));
    for n in 0..4 {
        write(&q, n..n + 1); // 15 bytes each, two a segment: 60 bytes, full
    }
    let writing = q.writer();
    let (tx, mut rx) = mem::channel(16);
    let reader = tokio::spawn(run_reader(q.clone(), tx));
    let blocked = {
        let q = q.clone();
        tokio::task::spawn_blocking(move || q.writer().append(&[event(4)]))
    };
    let mut first = Vec::new();
    for _ in 0..4 {
        first.push(rx.recv().await.unwrap());
    }
    assert!(!blocked.is_finished(), "waits for room");
    q.acked(&first[..2]);
    assert_eq!(
        blocked.await.unwrap().unwrap(),
        1,
        "written once a segment is freed"
    );
    assert_eq!(number(&rx.recv().await.unwrap()), 4);
    // Shutting down while full: the writer gives up instead of hanging.
    let full = {
        let q = q.clone();
        tokio::task::spawn_blocking(move || q.writer().append(&[event(5), event(6)]))
    };
    q.close();
    assert!(matches!(full.await.unwrap(), Err(DiskError::Full { .. })));
    drop(writing);
    reader.await.unwrap();
}

#[tokio::test]
async fn drop_oldest_makes_room_and_counts_what_was_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = DiskQueueConfig {
        when_full: WhenFull::DropOldest,
        ..config(60, 30)
    };
    let (q, _) = open(dir.path(), &cfg);
    for n in 0..4 {
        write(&q, n..n + 1);
    }
    write(&q, 4..6); // needs 30 bytes: the oldest segment (0, 1) goes
    let dropped = q
        .counters
        .dropped_oldest
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(dropped, 2);
    let read = read_all(&q).await;
    assert_eq!(read.iter().map(number).collect::<Vec<_>>(), [2, 3, 4, 5]);
    assert_eq!(q.bytes(), 60);
}

#[tokio::test]
async fn fsync_on_an_interval_waits_for_it_or_for_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = DiskQueueConfig {
        fsync: Fsync::Every(Duration::from_secs(3600)),
        ..config(1 << 20, 1 << 20)
    };
    let (q, _) = open(dir.path(), &cfg);
    let fsyncs = || q.counters.fsyncs.load(std::sync::atomic::Ordering::Relaxed);
    write(&q, 0..3);
    write(&q, 3..6);
    assert_eq!(fsyncs(), 0);
    q.sync_if_dirty().unwrap();
    q.sync_if_dirty().unwrap();
    assert_eq!(fsyncs(), 1, "only when something was written");
}

#[tokio::test]
async fn events_too_big_for_a_record_are_counted_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), &config(100, 100));
    let big = Event::from_json(vec![b'x'; 101]);
    assert_eq!(q.writer().append(&[event(1), big]).unwrap(), 1);
    assert_eq!(
        q.counters
            .too_big
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn the_alert_spool_of_earlier_versions_is_shipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = Vec::new();
    segment::encode(b"{\"n\":41}", &mut old);
    segment::encode(b"{\"n\":42}", &mut old);
    std::fs::write(dir.path().join("alerts.spool"), &old).unwrap();
    let (q, reopened) = open(dir.path(), &config(1 << 20, 1 << 20));
    assert_eq!(reopened.pending, 2);
    assert_eq!(
        read_all(&q).await.iter().map(number).collect::<Vec<_>>(),
        [41, 42]
    );
}

#[derive(Debug, Clone)]
enum Step {
    Write(u8),
    /// Ack every `n`th of what was read and not acked yet.
    Ack(u8),
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1u8..6).prop_map(Step::Write),
        (1u8..4).prop_map(Step::Ack),
        Just(Step::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Whatever the writes, acks and crashes, every event written and not acked comes
    /// back; with the floor saved, nothing acked before it does.
    #[test]
    fn nothing_written_is_lost_across_acks_and_restarts(steps in proptest::collection::vec(step(), 1..30)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let cfg = config(1 << 20, 45);
            let (mut q, _) = open(dir.path(), &cfg);
            let mut next = 0u32;
            let mut unacked: std::collections::BTreeSet<u32> = Default::default();
            let mut floor_acked: std::collections::BTreeSet<u32> = Default::default();
            let mut in_hand: Vec<Event> = Vec::new();
            for s in steps {
                match s {
                    Step::Write(n) => {
                        write(&q, next..next + n as u32);
                        unacked.extend(next..next + n as u32);
                        next += n as u32;
                    }
                    Step::Ack(every) => {
                        let (tx, mut rx) = mem::channel(10_000);
                        let reader = tokio::spawn(run_reader(q.clone(), tx));
                        tokio::task::yield_now().await;
                        while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(20), rx.recv()).await {
                            in_hand.push(e);
                        }
                        reader.abort();
                        let (ack, keep): (Vec<_>, Vec<_>) = in_hand.drain(..).enumerate().partition(|(i, _)| i % every as usize == 0);
                        let ack: Vec<Event> = ack.into_iter().map(|(_, e)| e).collect();
                        in_hand = keep.into_iter().map(|(_, e)| e).collect();
                        q.acked(&ack);
                        for e in &ack {
                            unacked.remove(&number(e));
                            floor_acked.insert(number(e));
                        }
                        q.save_floor().unwrap();
                    }
                    Step::Restart => {
                        drop(q);
                        in_hand.clear();
                        let (reopened, r) = open(dir.path(), &cfg);
                        q = reopened;
                        prop_assert!(r.pending >= unacked.len() as u64);
                    }
                }
            }
            drop(q);
            let (q, _) = open(dir.path(), &cfg);
            let back: std::collections::BTreeSet<u32> = read_all(&q).await.iter().map(number).collect();
            prop_assert!(unacked.is_subset(&back), "lost: {:?}", unacked.difference(&back).collect::<Vec<_>>());
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn the_writer_tells_the_registry_once_written_and_ships_refused_events_from_memory() {
    struct Settled(std::sync::Mutex<Vec<u32>>);
    impl AckSink for Settled {
        fn acked(&self, events: &[Event]) {
            self.0.lock().unwrap().extend(events.iter().map(number));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path(), &config(30, 30));
    let settled = Arc::new(Settled(Default::default()));
    let (inputs, events) = mem::channel(8);
    let (direct, mut shipped) = mem::channel(8);
    let writer = tokio::spawn(run_writer(
        q.writer(),
        events,
        Some(settled.clone() as Arc<dyn AckSink>),
        direct,
    ));
    inputs.send(event(1)).await.unwrap();
    inputs.send(event(2)).await.unwrap();
    // Both fit (30 bytes); the queue is full now and shutting down: the next is refused.
    tokio::time::timeout(Duration::from_secs(10), async {
        while q.unacked() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("written");
    q.close();
    inputs.send(event(3)).await.unwrap();
    drop(inputs);
    writer.await.unwrap();
    assert_eq!(
        *settled.0.lock().unwrap(),
        [1, 2],
        "only what the disk holds"
    );
    assert_eq!(
        number(&shipped.recv().await.unwrap()),
        3,
        "refused, shipped from memory"
    );
    assert_eq!(q.unacked(), 2);
}
