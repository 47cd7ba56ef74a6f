use std::time::Duration;

use super::*;

fn event(n: usize) -> Event {
    Event::from_json(format!("{{\"n\":{n}}}"))
}

fn number(e: &Event) -> usize {
    let v: serde_json::Value = serde_json::from_slice(&e.json).expect("test events are json");
    v["n"].as_u64().expect("n") as usize
}

#[tokio::test]
async fn events_come_out_in_order_and_the_capacity_bounds_the_queue() {
    let (tx, mut rx) = channel(3);
    for n in 0..3 {
        tx.try_send(event(n)).unwrap();
    }
    assert_eq!(tx.queued(), 3);
    assert_eq!(tx.try_send(event(3)), Err(TrySendError::Full(event(3))));
    let mut got = Vec::new();
    assert_eq!(rx.recv_many(&mut got, 2).await, 2);
    assert_eq!(rx.recv_many(&mut got, 10).await, 1);
    assert_eq!(got.iter().map(number).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(tx.queued(), 0);
    assert_eq!(tx.max_capacity(), 3);
}

#[tokio::test]
async fn a_full_queue_makes_send_all_wait_until_the_receiver_takes_events() {
    let (tx, mut rx) = channel(4);
    let sender = tokio::spawn(async move {
        let mut events: Vec<Event> = (0..10).map(event).collect();
        tx.send_all(&mut events).await.unwrap();
        events.len()
    });
    let mut got = Vec::new();
    while got.len() < 10 {
        let before = got.len();
        rx.recv_many(&mut got, 3).await;
        assert!(got.len() - before <= 3);
    }
    assert_eq!(sender.await.unwrap(), 0);
    assert_eq!(
        got.iter().map(number).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    assert_eq!(
        rx.recv_many(&mut got, 3).await,
        0,
        "the only sender is gone"
    );
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[tokio::test(start_paused = true)]
async fn send_all_cancelled_while_waiting_keeps_what_was_not_queued() {
    let (tx, mut rx) = channel(2);
    let mut events: Vec<Event> = (0..5).map(event).collect();
    let waited = tokio::time::timeout(Duration::from_secs(1), tx.send_all(&mut events)).await;
    assert!(waited.is_err(), "the queue is full: send_all waits");
    assert_eq!(events.iter().map(number).collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(rx.recv().await.map(|e| number(&e)), Some(0));
    assert_eq!(rx.recv().await.map(|e| number(&e)), Some(1));
}

#[tokio::test]
async fn the_queue_ends_after_the_last_sender_and_its_events() {
    let (tx, mut rx) = channel(8);
    let second = tx.clone();
    let weak = tx.downgrade();
    tx.send(event(1)).await.unwrap();
    drop(tx);
    assert!(weak.upgrade().is_some(), "a sender is left");
    second.send(event(2)).await.unwrap();
    drop(second);
    assert!(weak.upgrade().is_none(), "no sender is left");
    assert_eq!(rx.recv().await.map(|e| number(&e)), Some(1));
    assert_eq!(rx.recv().await.map(|e| number(&e)), Some(2));
    assert_eq!(rx.recv().await, None);
}

#[tokio::test]
async fn a_receiver_waiting_when_the_last_sender_goes_sees_the_end() {
    let (tx, mut rx) = channel(8);
    let receiver = tokio::spawn(async move { rx.recv().await });
    tokio::task::yield_now().await;
    drop(tx);
    assert_eq!(receiver.await.unwrap(), None);
}

#[tokio::test]
async fn without_a_receiver_sends_fail_and_give_the_events_back() {
    let (tx, rx) = channel(1);
    tx.send(event(0)).await.unwrap();
    let blocked = {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut events = vec![event(1), event(2)];
            let result = tx.send_all(&mut events).await;
            (result, events.len())
        })
    };
    tokio::task::yield_now().await;
    drop(rx);
    assert_eq!(
        blocked.await.unwrap(),
        (Err(Closed), 2),
        "a waiting sender is woken"
    );
    assert_eq!(tx.send(event(3)).await, Err(SendError(event(3))));
    assert_eq!(tx.try_send(event(4)), Err(TrySendError::Closed(event(4))));
    tx.closed().await;
}

#[tokio::test]
async fn closed_resolves_when_the_receiver_goes() {
    let (tx, rx) = channel(1);
    let waiter = tokio::spawn(async move { tx.closed().await });
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    drop(rx);
    waiter.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_senders_on_two_threads_deliver_every_event_once_in_each_senders_order() {
    const SENDERS: usize = 4;
    const EACH: usize = 20_000;
    let (tx, mut rx) = channel(64);
    let tasks: Vec<_> = (0..SENDERS)
        .map(|s| {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while n < EACH {
                    // Runs of 1..=97 events, some larger than the free room.
                    let run = 1 + (n * 31 + s * 7) % 97;
                    let mut events: Vec<Event> = (n..(n + run).min(EACH))
                        .map(|i| event(s * EACH + i))
                        .collect();
                    n += events.len();
                    if run % 5 == 0 {
                        for e in events.drain(..) {
                            tx.send(e).await.unwrap();
                        }
                    } else {
                        tx.send_all(&mut events).await.unwrap();
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut next = [0usize; SENDERS];
    let mut buf = Vec::new();
    let mut total = 0;
    while rx.recv_many(&mut buf, 100).await > 0 {
        for e in buf.drain(..) {
            let n = number(&e);
            let (s, i) = (n / EACH, n % EACH);
            assert_eq!(i, next[s], "sender {s}'s events in order, each once");
            next[s] += 1;
            total += 1;
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(total, SENDERS * EACH);
}
