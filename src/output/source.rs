//! Where workers take their next batch from: events the output had to give back
//! (unacked after a failure) first, in order, then fresh events from the queue.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::queue::mem;
use tokio_util::sync::CancellationToken;

use super::OutputStats;
use crate::config::QueueFlush;
use crate::event::Event;

/// Shared by every worker of one output. Giving back is how a failed connection's
/// unacked events reach another host (loadbalance) or the next connection (failover).
pub struct BatchSource {
    returned: Mutex<VecDeque<Vec<Event>>>,
    returned_ready: Notify,
    queue: tokio::sync::Mutex<mem::Receiver>,
    /// Events taken from the queue and not yet acked, wherever they are.
    outstanding: AtomicUsize,
    queue_closed: AtomicBool,
    /// Cancelled once the queue is closed and every event taken from it is acked.
    finished: CancellationToken,
    /// `queue.mem.flush`: how full a batch must be, or how old, before it goes.
    flush: QueueFlush,
    /// Where the high-water mark of `outstanding` is kept.
    stats: Arc<OutputStats>,
}

/// A batch being filled up to `queue.mem.flush.min_events`. If the worker waiting for
/// it is cancelled, its events go back to the front instead of being lost.
struct Forming<'a> {
    source: &'a BatchSource,
    events: Vec<Event>,
}

impl Drop for Forming<'_> {
    fn drop(&mut self) {
        if !self.events.is_empty() {
            self.source
                .give_back(std::iter::once(std::mem::take(&mut self.events)));
        }
    }
}

impl BatchSource {
    pub fn new(queue: mem::Receiver, flush: QueueFlush, stats: Arc<OutputStats>) -> Self {
        BatchSource {
            returned: Mutex::new(VecDeque::new()),
            returned_ready: Notify::new(),
            queue: tokio::sync::Mutex::new(queue),
            outstanding: AtomicUsize::new(0),
            queue_closed: AtomicBool::new(false),
            finished: CancellationToken::new(),
            flush,
            stats,
        }
    }

    fn taken(&self, n: usize) {
        let now = self.outstanding.fetch_add(n, Ordering::AcqRel) + n;
        self.stats
            .events_outstanding_max
            .fetch_max(now as u64, Relaxed);
    }

    /// Fires when there is nothing left to send or to wait for: workers stop.
    pub fn finished(&self) -> &CancellationToken {
        &self.finished
    }

    /// `n` events were acked by Logstash and are off our hands.
    pub fn acked(&self, n: usize) {
        let before = self.outstanding.fetch_sub(n, Ordering::AcqRel);
        debug_assert!(
            before >= n,
            "acked more events than were taken from the queue"
        );
        if before == n && self.queue_closed.load(Ordering::Acquire) {
            self.finished.cancel();
        }
    }

    /// Gives back events that were sent but not acked; they are the next to go out.
    /// `batches` are in the order they were sent.
    pub fn give_back(&self, batches: impl DoubleEndedIterator<Item = Vec<Event>>) {
        let mut returned = self
            .returned
            .lock()
            .expect("the returned-batches lock is never held across a panic");
        for b in batches.rev().filter(|b| !b.is_empty()) {
            returned.push_front(b);
        }
        drop(returned);
        self.returned_ready.notify_waiters();
    }

    fn take_returned(&self, max: usize) -> Option<Vec<Event>> {
        let mut returned = self
            .returned
            .lock()
            .expect("the returned-batches lock is never held across a panic");
        let mut batch = returned.pop_front()?;
        if batch.len() > max {
            returned.push_front(batch.split_off(max));
        }
        Some(batch)
    }

    /// The next batch of at most `max` events. `None` only once everything is acked
    /// (the queue closed and drained, nothing outstanding): until then a drained queue
    /// still waits for events another connection may give back, so that a worker never
    /// leaves them to a host that cannot take them. Cancel-safe.
    pub async fn next_batch(&self, max: usize) -> Option<Vec<Event>> {
        loop {
            // Registered before looking, so a give_back in between still wakes us.
            let returned = self.returned_ready.notified();
            if let Some(batch) = self.take_returned(max) {
                return Some(batch);
            }
            if self.queue_closed.load(Ordering::Acquire) {
                tokio::select! {
                    () = returned => continue,
                    () = self.finished.cancelled() => return None,
                }
            }
            let mut queue = self.queue.lock().await;
            let mut batch = Vec::with_capacity(max.min(4096));
            tokio::select! {
                biased;
                () = returned => continue,
                n = queue.recv_many(&mut batch, max) => {
                    if n == 0 {
                        drop(queue);
                        self.queue_closed.store(true, Ordering::Release);
                        if self.outstanding.load(Ordering::Acquire) == 0 {
                            self.finished.cancel();
                        }
                        continue;
                    }
                    self.taken(n);
                    let want = max.min(self.flush.min_events);
                    if batch.len() >= want {
                        return Some(batch);
                    }
                    let mut forming = Forming { source: self, events: batch };
                    let deadline = tokio::time::Instant::now() + self.flush.timeout;
                    while forming.events.len() < want {
                        let room = max - forming.events.len();
                        tokio::select! {
                            got = queue.recv_many(&mut forming.events, room) => {
                                if got == 0 {
                                    break; // closed: what there is goes now
                                }
                                self.taken(got);
                            }
                            () = tokio::time::sleep_until(deadline) => break,
                        }
                    }
                    return Some(std::mem::take(&mut forming.events));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u32) -> Event {
        Event::from_json(format!("{n}"))
    }

    #[tokio::test]
    async fn given_back_events_go_first_in_order_and_split_to_the_window() {
        let (tx, rx) = mem::channel(16);
        let source = BatchSource::new(rx, QueueFlush::default(), Arc::default());
        tx.send(ev(9)).await.unwrap();
        source.give_back(vec![vec![ev(1), ev(2), ev(3)], vec![ev(4)]].into_iter());
        assert_eq!(source.next_batch(2).await.unwrap(), vec![ev(1), ev(2)]);
        assert_eq!(source.next_batch(2).await.unwrap(), vec![ev(3)]);
        assert_eq!(source.next_batch(2).await.unwrap(), vec![ev(4)]);
        assert_eq!(source.next_batch(2).await.unwrap(), vec![ev(9)]);
        drop(tx);
        assert!(!source.finished().is_cancelled());
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), source.next_batch(2)).await;
        assert!(
            waited.is_err(),
            "event 9 is not acked yet: it may come back"
        );
        assert!(!source.finished().is_cancelled());
        source.acked(1);
        assert!(source.finished().is_cancelled());
        assert_eq!(source.next_batch(2).await, None);
    }

    /// With two load-balanced hosts and one black-holed, the healthy worker must still
    /// be there, after the queue is drained, for the events the other one gives back.
    #[tokio::test]
    async fn a_drained_queue_waits_for_events_given_back_until_all_are_acked() {
        let (tx, rx) = mem::channel(16);
        let source =
            std::sync::Arc::new(BatchSource::new(rx, QueueFlush::default(), Arc::default()));
        tx.send(ev(1)).await.unwrap();
        tx.send(ev(2)).await.unwrap();
        drop(tx);
        let taken = source.next_batch(10).await.unwrap();
        assert_eq!(taken, vec![ev(1), ev(2)]);
        let healthy = tokio::spawn({
            let source = source.clone();
            async move { source.next_batch(10).await }
        });
        tokio::task::yield_now().await;
        assert!(!healthy.is_finished(), "two events are not acked yet");
        source.give_back(std::iter::once(taken));
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), healthy)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, Some(vec![ev(1), ev(2)]));
        source.acked(2);
        assert_eq!(source.next_batch(10).await, None);
    }

    #[tokio::test]
    async fn the_high_water_mark_counts_events_held_not_acked() {
        let (tx, rx) = mem::channel(16);
        let stats = Arc::new(OutputStats::default());
        let source = BatchSource::new(rx, QueueFlush::default(), stats.clone());
        for n in 0..5 {
            tx.send(ev(n)).await.unwrap();
        }
        assert_eq!(source.next_batch(3).await.unwrap().len(), 3);
        source.acked(3);
        assert_eq!(source.next_batch(3).await.unwrap().len(), 2);
        assert_eq!(stats.events_outstanding_max.load(Relaxed), 3);
    }

    #[tokio::test]
    async fn a_waiting_worker_wakes_for_given_back_events() {
        let (_tx, rx) = mem::channel(16);
        let source =
            std::sync::Arc::new(BatchSource::new(rx, QueueFlush::default(), Arc::default()));
        let waiter = tokio::spawn({
            let source = source.clone();
            async move { source.next_batch(10).await }
        });
        tokio::task::yield_now().await;
        source.give_back(std::iter::once(vec![ev(5)]));
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, Some(vec![ev(5)]));
    }
}

#[cfg(test)]
mod flush_tests {
    use std::time::Duration;

    use super::*;

    fn ev(n: u32) -> Event {
        Event::from_json(format!("{n}"))
    }

    fn flush(min_events: usize) -> QueueFlush {
        QueueFlush {
            min_events,
            timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_waits_for_min_events_or_the_timeout() {
        let (tx, rx) = mem::channel(64);
        let source = BatchSource::new(rx, flush(3), Arc::default());
        for n in 0..4 {
            tx.send(ev(n)).await.unwrap();
        }
        assert_eq!(
            source.next_batch(10).await.unwrap().len(),
            4,
            "already at min_events"
        );
        tx.send(ev(9)).await.unwrap();
        let start = tokio::time::Instant::now();
        assert_eq!(source.next_batch(10).await.unwrap(), vec![ev(9)]);
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(1),
            "sent when the timeout ran out"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_wait_gives_its_events_back_in_order() {
        let (tx, rx) = mem::channel(64);
        let source = BatchSource::new(rx, flush(5), Arc::default());
        tx.send(ev(1)).await.unwrap();
        tx.send(ev(2)).await.unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(10), source.next_batch(10)).await;
        assert!(waited.is_err(), "still waiting for min_events");
        tx.send(ev(3)).await.unwrap();
        assert_eq!(source.next_batch(2).await.unwrap(), vec![ev(1), ev(2)]);
    }
}
