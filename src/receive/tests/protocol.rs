//! Frames in, batches and acks out; resets on bad input, idleness and faults.

use super::*;

#[tokio::test]
async fn acks_the_batch_last_seq_after_handover() {
    let (handle, mut rx) = start(config(), 8).await;
    for level in [0, 6] {
        let mut tcp = connect(&handle).await;
        let sent = events(100);
        let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
        tcp.write_all(&batch(level, &refs)).await.unwrap();
        assert_eq!(read_ack(&mut tcp).await, (b'2', 100));
        let got = rx
            .try_recv()
            .expect("the batch was handed over before the ack");
        assert_eq!(texts(&got), sent);
        assert_eq!(got.peer, tcp.local_addr().unwrap());
        // A second batch on the same connection starts again at seq 1.
        tcp.write_all(&batch(level, &refs[..7])).await.unwrap();
        assert_eq!(read_ack(&mut tcp).await, (b'2', 7));
        assert_eq!(texts(&recv(&mut rx).await), &sent[..7]);
    }
    let s = handle.stats().snapshot();
    assert_eq!(
        (s.events_total, s.batches_total, s.connections_total),
        (214, 4, 2)
    );
    let payload: usize = events(100).iter().map(String::len).sum::<usize>()
        + events(7).iter().map(String::len).sum::<usize>();
    assert_eq!(s.bytes_total, 2 * payload as u64);
}

#[tokio::test]
async fn window_zero_is_answered_with_ack_zero() {
    let (handle, mut rx) = start(config(), 8).await;
    let mut tcp = connect(&handle).await;
    let mut out = Vec::new();
    encode_window(&mut out, 0);
    tcp.write_all(&out).await.unwrap();
    assert_eq!(read_ack(&mut tcp).await, (b'2', 0));
    tcp.write_all(&batch(0, &["{}"])).await.unwrap();
    assert_eq!(read_ack(&mut tcp).await, (b'2', 1));
    assert_eq!(recv(&mut rx).await.events.len(), 1);
}

#[tokio::test]
async fn v1_data_frames_are_acked_with_1a_and_become_json() {
    let (handle, mut rx) = start(config(), 8).await;
    let mut tcp = connect(&handle).await;
    let mut out = b"1W\0\0\0\x02".to_vec();
    encode_data(
        &mut out,
        1,
        &[
            ("line".into(), "hello \"v1\"".into()),
            ("host".into(), "a".into()),
        ],
    );
    encode_data(&mut out, 2, &[]);
    tcp.write_all(&out).await.unwrap();
    assert_eq!(read_ack(&mut tcp).await, (b'1', 2));
    let got = recv(&mut rx).await;
    let first: serde_json::Value = serde_json::from_slice(&got.events[0]).unwrap();
    assert_eq!(
        first,
        serde_json::json!({"line": "hello \"v1\"", "host": "a"})
    );
    assert_eq!(&got.events[1][..], b"{}");
}

#[tokio::test]
async fn keepalives_arrive_while_the_pipeline_is_full_then_the_real_ack() {
    let cfg = ReceiverConfig {
        keepalive_interval: Duration::from_millis(20),
        ..config()
    };
    let (handle, mut rx) = start(cfg, 1).await;
    let mut tcp = connect(&handle).await;
    tcp.write_all(&batch(0, &["{}"])).await.unwrap();
    assert_eq!(read_ack(&mut tcp).await, (b'2', 1));
    // The channel now holds that batch: the next one waits, with keep-alives.
    tcp.write_all(&batch(0, &["{}", "{}", "{}"])).await.unwrap();
    assert_eq!(read_ack(&mut tcp).await, (b'2', 0));
    assert_eq!(read_ack(&mut tcp).await, (b'2', 0));
    assert_eq!(recv(&mut rx).await.events.len(), 1);
    loop {
        match read_ack(&mut tcp).await {
            (b'2', 0) => continue,
            ack => break assert_eq!(ack, (b'2', 3)),
        }
    }
    assert_eq!(recv(&mut rx).await.events.len(), 3);
}

#[tokio::test]
async fn slow_fault_sends_keepalives_before_the_ack() {
    let mut cfg = config();
    cfg.keepalive_interval = Duration::from_millis(20);
    cfg.faults.slow_per_batch = Duration::from_millis(300);
    let (handle, mut rx) = start(cfg, 8).await;
    let mut tcp = connect(&handle).await;
    tcp.write_all(&batch(3, &["{}", "{}"])).await.unwrap();
    let mut keepalives = 0;
    let last = loop {
        match read_ack(&mut tcp).await {
            (b'2', 0) => keepalives += 1,
            ack => break ack,
        }
    };
    assert_eq!(last, (b'2', 2));
    assert!(
        keepalives >= 2,
        "only {keepalives} keep-alives in 300 ms at 20 ms"
    );
    assert_eq!(recv(&mut rx).await.events.len(), 2);
}

#[tokio::test]
async fn malformed_frame_resets_the_connection_without_ack() {
    let (handle, _rx) = start(config(), 8).await;
    let mut tcp = connect(&handle).await;
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    expect_reset_without_ack(&mut tcp).await;
    let s = handle.stats().snapshot();
    assert_eq!(
        (s.bad_frames_total, s.resets_total, s.events_total),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn event_without_window_or_invalid_json_resets() {
    let (handle, mut rx) = start(config(), 8).await;
    let mut tcp = connect(&handle).await;
    tcp.write_all(&batch(0, &["{}"])[6..]).await.unwrap();
    expect_reset_without_ack(&mut tcp).await;
    let mut tcp = connect(&handle).await;
    tcp.write_all(&batch(0, &["{}", "{not json"]))
        .await
        .unwrap();
    expect_reset_without_ack(&mut tcp).await;
    assert_eq!(handle.stats().snapshot().bad_frames_total, 2);
    assert!(rx.try_recv().is_err(), "nothing delivered");
}

#[tokio::test]
async fn huge_declared_length_resets_and_others_are_still_served() {
    let (handle, mut rx) = start(config(), 8).await;
    let mut hostile = connect(&handle).await;
    hostile
        .write_all(b"2W\0\0\0\x012J\0\0\0\x01\xff\xff\xff\xf0{")
        .await
        .unwrap();
    expect_reset_without_ack(&mut hostile).await;
    let mut tcp = connect(&handle).await;
    tcp.write_all(&batch(0, &["{}"])).await.unwrap();
    assert_eq!(read_ack(&mut tcp).await, (b'2', 1));
    assert_eq!(recv(&mut rx).await.events.len(), 1);
    let s = handle.stats().snapshot();
    assert_eq!((s.bad_frames_total, s.bytes_total), (1, 2));
}

#[tokio::test]
async fn zip_bomb_resets_the_connection() {
    let mut cfg = config();
    cfg.limits.max_inflated_bytes = 256 << 10;
    let (handle, _rx) = start(cfg, 8).await;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut z, &vec![0u8; 4 << 20]).unwrap();
    let bomb = z.finish().unwrap();
    let mut frames = b"2W\0\0\0\x01".to_vec();
    frames.extend_from_slice(b"2C");
    frames.extend_from_slice(&(bomb.len() as u32).to_be_bytes());
    frames.extend_from_slice(&bomb);
    let mut tcp = connect(&handle).await;
    tcp.write_all(&frames).await.unwrap();
    expect_reset_without_ack(&mut tcp).await;
    assert_eq!(handle.stats().snapshot().bad_frames_total, 1);
}

#[tokio::test]
async fn idle_client_is_reset_after_the_inactivity_timeout() {
    let cfg = ReceiverConfig {
        client_inactivity_timeout: Duration::from_millis(100),
        ..config()
    };
    let (handle, _rx) = start(cfg, 8).await;
    let mut tcp = connect(&handle).await;
    tcp.write_all(b"2W\0\0").await.unwrap(); // half a frame, then silence
    let started = std::time::Instant::now();
    expect_reset_without_ack(&mut tcp).await;
    assert!(started.elapsed() >= Duration::from_millis(90));
    let s = handle.stats().snapshot();
    assert_eq!((s.resets_total, s.bad_frames_total), (1, 0));
}

#[tokio::test]
async fn drop_after_events_resets_and_discards_the_batch_in_progress() {
    let mut cfg = config();
    cfg.faults.drop_after_events = Some(5);
    let (handle, mut rx) = start(cfg, 8).await;
    let mut tcp = connect(&handle).await;
    tcp.write_all(&batch(0, &["{}", "{}", "{}"])).await.unwrap();
    assert_eq!(read_ack(&mut tcp).await, (b'2', 3));
    tcp.write_all(&batch(0, &["{}", "{}", "{}"])).await.unwrap();
    expect_reset_without_ack(&mut tcp).await;
    assert_eq!(recv(&mut rx).await.events.len(), 3);
    assert!(rx.try_recv().is_err(), "the second batch is not delivered");
    // The count is per connection: a new one gets its own 5.
    let mut tcp = connect(&handle).await;
    tcp.write_all(&batch(0, &["{}", "{}", "{}", "{}"]))
        .await
        .unwrap();
    assert_eq!(read_ack(&mut tcp).await, (b'2', 4));
}

#[tokio::test]
async fn partial_ack_delivers_and_acks_a_prefix_then_resets() {
    let mut cfg = config();
    cfg.faults.partial_ack_percent = Some(50);
    let (handle, mut rx) = start(cfg, 8).await;
    let mut tcp = connect(&handle).await;
    let sent = events(5);
    let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
    tcp.write_all(&batch(2, &refs)).await.unwrap();
    let (end, got) = read_to_end(&mut tcp).await;
    assert_eq!(got, b"2A\0\0\0\x03", "ack of ceil(5 * 50%) = 3 events");
    if let Err(err) = end {
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    }
    assert_eq!(texts(&recv(&mut rx).await), &sent[..3]);
    assert_eq!(handle.stats().snapshot().resets_total, 1);
}

#[tokio::test]
async fn stop_closes_connections_and_frees_the_port() {
    let (handle, _rx) = start(config(), 8).await;
    let addr = handle.local_addr();
    let mut tcp = connect(&handle).await;
    handle.stop().await;
    let (_, got) = read_to_end(&mut tcp).await;
    assert!(got.is_empty());
    let (again, mut rx) = start(
        ReceiverConfig {
            listen: addr,
            ..config()
        },
        8,
    )
    .await;
    let mut tcp = connect(&again).await;
    tcp.write_all(&batch(0, &["{}"])).await.unwrap();
    assert_eq!(read_ack(&mut tcp).await, (b'2', 1));
    assert_eq!(recv(&mut rx).await.events.len(), 1);
}
