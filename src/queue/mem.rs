//! The in-memory queue (`queue.mem.events`) between the inputs and the output: bounded
//! in events, many senders, one receiver. Events go in and out in runs under one lock,
//! where a channel of single events (tokio's `mpsc`) pays a slot, a permit and a wake-up
//! for each: at 600 k events a second that was ~75 ns of CPU per event, 3-10 % of what
//! shipping one costs. The API mirrors tokio's `mpsc` where the two overlap.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use tokio::sync::Notify;

use crate::event::Event;

/// A queue holding at most `capacity` events (at least one).
pub fn channel(capacity: usize) -> (Sender, Receiver) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            events: VecDeque::new(),
            senders: 1,
            receiver: true,
        }),
        capacity,
        room: Notify::new(),
        ready: Notify::new(),
        gone: Notify::new(),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver { shared },
    )
}

struct Shared {
    state: Mutex<State>,
    capacity: usize,
    /// Senders waiting for room (all woken when the receiver takes events).
    room: Notify,
    /// The receiver waiting for events or for the last sender to go.
    ready: Notify,
    /// Waiters of [`Sender::closed`].
    gone: Notify,
}

struct State {
    events: VecDeque<Event>,
    senders: usize,
    receiver: bool,
}

impl Shared {
    /// The state; a panic elsewhere while holding the lock leaves it consistent (every
    /// change under it is a single push, drain or counter update), so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The receiver is gone: the event could not be queued.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the event queue is closed")]
pub struct SendError(pub Event);

/// Why [`Sender::try_send`] did not queue the event (given back).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrySendError {
    #[error("the event queue is full")]
    Full(Event),
    #[error("the event queue is closed")]
    Closed(Event),
}

/// Why [`Receiver::try_recv`] returned no event.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    #[error("the event queue is empty")]
    Empty,
    #[error("the event queue is empty and every sender is gone")]
    Disconnected,
}

/// Puts events into the queue; cloned for every input.
pub struct Sender {
    shared: Arc<Shared>,
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.senders -= 1;
        let last = state.senders == 0;
        drop(state);
        if last {
            // The receiver may be waiting: it must see the queue end.
            self.shared.ready.notify_one();
        }
    }
}

impl Sender {
    /// Waits for room (back-pressure), then queues the event.
    pub async fn send(&self, event: Event) -> Result<(), SendError> {
        let mut event = Some(event);
        self.when_room(|state, free| {
            if state.receiver && free == 0 {
                return None;
            }
            // Taken once: the call that takes it ends the wait.
            let event = event.take()?;
            Some(if state.receiver {
                state.events.push_back(event);
                Ok(())
            } else {
                Err(SendError(event))
            })
        })
        .await
    }

    /// Queues all of `events` in order (emptying it), as many at a time as there is room
    /// for: waits only while the queue is full. Cancel-safe: what was not queued yet is
    /// still in `events`. On `Err` the receiver is gone and `events` holds the rest.
    pub async fn send_all(&self, events: &mut Vec<Event>) -> Result<(), Closed> {
        while !events.is_empty() {
            self.send_some(events).await?;
        }
        Ok(())
    }

    /// Waits for room, then moves as many of the first of `events` as fit into the queue
    /// and returns how many (0 only when `events` is empty). Cancel-safe: nothing is
    /// moved unless it returns.
    pub async fn send_some(&self, events: &mut Vec<Event>) -> Result<usize, Closed> {
        if events.is_empty() {
            return Ok(0);
        }
        self.when_room(|state, free| {
            if !state.receiver {
                return Some(Err(Closed));
            }
            let n = free.min(events.len());
            state.events.extend(events.drain(..n));
            (n > 0).then_some(Ok(n))
        })
        .await
    }

    /// Calls `put` under the lock with the free room until it returns `Some` (it has
    /// queued what it could, or given up), waiting for the receiver to make room in
    /// between; then wakes the receiver.
    async fn when_room<T>(&self, mut put: impl FnMut(&mut State, usize) -> Option<T>) -> T {
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            // Registered before looking: room made in between still wakes us.
            room.as_mut().enable();
            // The lock is not held across the wait.
            let done = {
                let mut state = self.shared.lock();
                let free = self.shared.capacity - state.events.len();
                put(&mut state, free)
            };
            if let Some(done) = done {
                self.shared.ready.notify_one();
                return done;
            }
            room.await;
        }
    }

    /// Queues the event only if there is room now: for sources that cannot wait.
    pub fn try_send(&self, event: Event) -> Result<(), TrySendError> {
        let mut state = self.shared.lock();
        if !state.receiver {
            return Err(TrySendError::Closed(event));
        }
        if state.events.len() >= self.shared.capacity {
            return Err(TrySendError::Full(event));
        }
        state.events.push_back(event);
        drop(state);
        self.shared.ready.notify_one();
        Ok(())
    }

    /// Resolves once the receiver is gone.
    pub async fn closed(&self) {
        loop {
            let gone = self.shared.gone.notified();
            tokio::pin!(gone);
            gone.as_mut().enable();
            if !self.shared.lock().receiver {
                return;
            }
            gone.await;
        }
    }

    /// `queue.mem.events`: the most events the queue holds.
    pub fn max_capacity(&self) -> usize {
        self.shared.capacity
    }

    /// How many events are queued now.
    pub fn queued(&self) -> usize {
        self.shared.lock().events.len()
    }

    /// A handle that does not keep the queue open.
    pub fn downgrade(&self) -> WeakSender {
        WeakSender {
            shared: Arc::downgrade(&self.shared),
        }
    }
}

/// The receiver is gone (from [`Sender::send_all`]).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the event queue is closed")]
pub struct Closed;

/// A [`Sender`] that does not keep the queue open: [`WeakSender::upgrade`] fails once
/// every sender is gone.
pub struct WeakSender {
    shared: Weak<Shared>,
}

impl WeakSender {
    pub fn upgrade(&self) -> Option<Sender> {
        let shared = self.shared.upgrade()?;
        let mut state = shared.lock();
        if state.senders == 0 {
            return None;
        }
        state.senders += 1;
        drop(state);
        Some(Sender { shared })
    }
}

/// Takes events out of the queue (the output, or the disk queue's writer).
pub struct Receiver {
    shared: Arc<Shared>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver = false;
        // Dropped outside the lock.
        let left = std::mem::take(&mut state.events);
        drop(state);
        drop(left);
        self.shared.room.notify_waiters();
        self.shared.gone.notify_waiters();
    }
}

impl Receiver {
    /// The next event; `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            match self.try_recv() {
                Ok(event) => return Some(event),
                Err(TryRecvError::Disconnected) => return None,
                // A send after the look left a permit: this returns at once then.
                Err(TryRecvError::Empty) => self.shared.ready.notified().await,
            }
        }
    }

    /// Waits for events and appends up to `limit` of them to `buf`; returns how many.
    /// 0 only when `limit` is 0 or once every sender is gone and the queue is empty.
    /// Cancel-safe: events are taken only when it returns.
    pub async fn recv_many(&mut self, buf: &mut Vec<Event>, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        loop {
            match self.take(|events| {
                let n = events.len().min(limit);
                buf.extend(events.drain(..n));
                n
            }) {
                Ok(n) => return n,
                Err(TryRecvError::Disconnected) => return 0,
                Err(TryRecvError::Empty) => self.shared.ready.notified().await,
            }
        }
    }

    /// The next event if one is queued now.
    pub fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        self.take(|events| events.pop_front())
            .map(|e| e.expect("take calls back only with events queued"))
    }

    /// Calls `f` with the queued events when there are some (and makes room for the
    /// senders after); else says why there are none.
    fn take<T>(&mut self, f: impl FnOnce(&mut VecDeque<Event>) -> T) -> Result<T, TryRecvError> {
        let mut state = self.shared.lock();
        if state.events.is_empty() {
            return Err(if state.senders == 0 {
                TryRecvError::Disconnected
            } else {
                TryRecvError::Empty
            });
        }
        let taken = f(&mut state.events);
        drop(state);
        self.shared.room.notify_waiters();
        Ok(taken)
    }
}

#[cfg(test)]
#[path = "mem_tests.rs"]
mod tests;
