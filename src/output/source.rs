//! Where workers take their next batch from: events the output had to give back
//! (unacked after a failure) first, in order, then fresh events from the queue.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::event::Event;

/// Shared by every worker of one output. Giving back is how a failed connection's
/// unacked events reach another host (loadbalance) or the next connection (failover).
pub struct BatchSource {
    returned: Mutex<VecDeque<Vec<Event>>>,
    returned_ready: Notify,
    queue: tokio::sync::Mutex<mpsc::Receiver<Event>>,
    /// Events taken from the queue and not yet acked, wherever they are.
    outstanding: AtomicUsize,
    queue_closed: AtomicBool,
    /// Cancelled once the queue is closed and every event taken from it is acked.
    finished: CancellationToken,
}

impl BatchSource {
    pub fn new(queue: mpsc::Receiver<Event>) -> Self {
        BatchSource {
            returned: Mutex::new(VecDeque::new()),
            returned_ready: Notify::new(),
            queue: tokio::sync::Mutex::new(queue),
            outstanding: AtomicUsize::new(0),
            queue_closed: AtomicBool::new(false),
            finished: CancellationToken::new(),
        }
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

    /// The next batch of at most `max` events. `None` once the queue is closed and
    /// drained and nothing was given back. Cancel-safe.
    pub async fn next_batch(&self, max: usize) -> Option<Vec<Event>> {
        loop {
            // Registered before looking, so a give_back in between still wakes us.
            let returned = self.returned_ready.notified();
            if let Some(batch) = self.take_returned(max) {
                return Some(batch);
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
                        // Closed: a last look for events given back meanwhile.
                        return self.take_returned(max);
                    }
                    self.outstanding.fetch_add(n, Ordering::AcqRel);
                    return Some(batch);
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
        let (tx, rx) = mpsc::channel(16);
        let source = BatchSource::new(rx);
        tx.send(ev(9)).await.unwrap();
        source.give_back(vec![vec![ev(1), ev(2), ev(3)], vec![ev(4)]].into_iter());
        assert_eq!(source.next_batch(2).await.unwrap(), vec![ev(1), ev(2)]);
        assert_eq!(source.next_batch(2).await.unwrap(), vec![ev(3)]);
        assert_eq!(source.next_batch(2).await.unwrap(), vec![ev(4)]);
        assert_eq!(source.next_batch(2).await.unwrap(), vec![ev(9)]);
        drop(tx);
        assert!(!source.finished().is_cancelled());
        assert_eq!(source.next_batch(2).await, None);
        assert!(
            !source.finished().is_cancelled(),
            "event 9 is not acked yet"
        );
        source.acked(1);
        assert!(source.finished().is_cancelled());
    }

    #[tokio::test]
    async fn a_waiting_worker_wakes_for_given_back_events() {
        let (_tx, rx) = mpsc::channel::<Event>(16);
        let source = std::sync::Arc::new(BatchSource::new(rx));
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
