use bytes::BytesMut;
use proptest::prelude::*;

use super::*;

fn decode_all(decoder: &mut Decoder, buf: &mut BytesMut) -> Result<Vec<Frame>, ProtoError> {
    let mut frames = Vec::new();
    while let Some(f) = decoder.decode(buf)? {
        frames.push(f);
    }
    Ok(frames)
}

fn decode_bytes(bytes: &[u8]) -> Result<Vec<Frame>, ProtoError> {
    decode_all(
        &mut Decoder::new(Limits::default()),
        &mut BytesMut::from(bytes),
    )
}

fn decode_byte_by_byte(bytes: &[u8]) -> Result<Vec<Frame>, ProtoError> {
    let mut decoder = Decoder::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for b in bytes {
        buf.extend_from_slice(&[*b]);
        frames.extend(decode_all(&mut decoder, &mut buf)?);
    }
    assert!(buf.is_empty(), "{} bytes left undecoded", buf.len());
    Ok(frames)
}

fn json_frames(events: &[Vec<u8>]) -> Vec<Frame> {
    let mut frames = vec![Frame::Window {
        version: Version::V2,
        size: events.len() as u32,
    }];
    frames.extend(events.iter().enumerate().map(|(i, e)| Frame::Json {
        version: Version::V2,
        seq: i as u32 + 1,
        payload: e.clone().into(),
    }));
    frames
}

fn encode_batch(level: u32, events: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    BatchEncoder::new(level).encode(&mut out, events.iter().map(Vec::as_slice));
    out
}

#[test]
fn plain_batch_is_window_then_json_frames() {
    let out = encode_batch(0, &[b"{\"a\":1}".to_vec()]);
    assert_eq!(out, b"2W\0\0\0\x012J\0\0\0\x01\0\0\0\x07{\"a\":1}");
}

#[test]
fn compressed_batch_is_window_then_one_c_frame() {
    let events: Vec<Vec<u8>> = (0..100)
        .map(|i| format!("{{\"n\":{i}}}").into_bytes())
        .collect();
    let out = encode_batch(3, &events);
    assert_eq!(&out[..6], b"2W\0\0\0\x64");
    assert_eq!(&out[6..8], b"2C");
    let len = u32::from_be_bytes([out[8], out[9], out[10], out[11]]) as usize;
    assert_eq!(out.len(), 12 + len, "exactly one C frame holds every event");
    assert_eq!(decode_bytes(&out).unwrap(), json_frames(&events));
}

#[test]
fn a_batch_bigger_than_a_compression_piece_is_still_one_c_frame() {
    // 2,048 varied events of ~600 bytes: about ten 128 KiB pieces fed to zlib in turn.
    let events: Vec<Vec<u8>> = (0..2048)
        .map(|i| format!("{{\"n\":{i},\"message\":\"{}\"}}", "x".repeat(580 + i % 17)).into_bytes())
        .collect();
    let mut enc = BatchEncoder::new(3);
    for _ in 0..2 {
        let mut out = Vec::new();
        enc.encode(&mut out, events.iter().map(Vec::as_slice));
        let len = u32::from_be_bytes([out[8], out[9], out[10], out[11]]) as usize;
        assert_eq!((&out[6..8], out.len()), (&b"2C"[..], 12 + len));
        assert_eq!(decode_bytes(&out).unwrap(), json_frames(&events));
    }
}

#[test]
fn encoder_reuse_gives_identical_batches() {
    let events = vec![b"{}".to_vec(); 10];
    let mut enc = BatchEncoder::new(6);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    enc.encode(&mut a, events.iter().map(Vec::as_slice));
    enc.encode(&mut b, events.iter().map(Vec::as_slice));
    assert_eq!(a, b);
}

#[test]
fn acks_and_v1_data_frames_decode() {
    let mut out = Vec::new();
    encode_ack(&mut out, Version::V2, 0);
    encode_ack(&mut out, Version::V1, 7);
    let fields = vec![
        ("line".to_string(), "hello ü".to_string()),
        ("host".into(), "a".into()),
    ];
    encode_data(&mut out, 3, &fields);
    assert_eq!(
        decode_byte_by_byte(&out).unwrap(),
        vec![
            Frame::Ack {
                version: Version::V2,
                seq: 0
            },
            Frame::Ack {
                version: Version::V1,
                seq: 7
            },
            Frame::Data {
                version: Version::V1,
                seq: 3,
                fields
            },
        ]
    );
}

#[test]
fn bad_version_byte_is_an_error() {
    assert_eq!(
        decode_bytes(b"3W\0\0\0\x01"),
        Err(ProtoError::BadVersion(b'3'))
    );
    assert_eq!(
        decode_bytes(b"GET / HTTP/1.1\r\n"),
        Err(ProtoError::BadVersion(b'G'))
    );
}

#[test]
fn unknown_frame_type_is_an_error() {
    assert_eq!(
        decode_bytes(b"2X\0\0"),
        Err(ProtoError::UnknownFrameType {
            version: '2',
            kind: b'X'
        })
    );
}

#[test]
fn oversized_length_is_refused_before_buffering() {
    let limits = Limits {
        max_frame_bytes: 1024,
        ..Limits::default()
    };
    let mut decoder = Decoder::new(limits);
    let mut buf = BytesMut::from(&b"2J\0\0\0\x01\xff\xff\xff\xf0"[..]);
    let err = decoder.decode(&mut buf).unwrap_err();
    assert_eq!(
        err,
        ProtoError::TooLarge {
            frame: 'J',
            declared: 0xffff_fff0,
            limit: 1024
        }
    );
    assert!(
        buf.capacity() < 4096,
        "nothing reserved for the declared length"
    );
    assert_eq!(
        err.to_string(),
        "J frame declares 4294967280 bytes, over the limit of 1024 bytes"
    );
    let mut buf = BytesMut::from(&b"2C\x7f\0\0\0"[..]);
    assert!(matches!(
        decoder.decode(&mut buf),
        Err(ProtoError::TooLarge { frame: 'C', .. })
    ));
}

#[test]
fn data_frame_pair_count_and_total_size_are_bounded() {
    let limits = Limits {
        max_frame_bytes: 64,
        max_pairs: 4,
        ..Limits::default()
    };
    let mut buf = BytesMut::from(&b"1D\0\0\0\x01\0\0\0\x05"[..]);
    assert_eq!(
        Decoder::new(limits).decode(&mut buf),
        Err(ProtoError::TooManyPairs {
            declared: 5,
            limit: 4
        })
    );
    let mut frame = b"1D\0\0\0\x01\0\0\0\x02".to_vec();
    for _ in 0..4 {
        frame.extend_from_slice(&30u32.to_be_bytes());
        frame.extend_from_slice(&[b'x'; 30]);
    }
    let got = Decoder::new(limits).decode(&mut BytesMut::from(&frame[..]));
    assert!(
        matches!(got, Err(ProtoError::TooLarge { frame: 'D', .. })),
        "{got:?}"
    );
}

#[test]
fn compressed_garbage_does_not_inflate() {
    let got = decode_bytes(b"2C\0\0\0\x04abcd");
    assert!(matches!(got, Err(ProtoError::Inflate(_))), "{got:?}");
}

#[test]
fn truncated_zlib_stream_is_an_error() {
    let mut out = encode_batch(3, &[b"{\"x\":\"yyyyyyyyyyyyyyyyyyyyyyyyyyyy\"}".to_vec()]);
    // Shorten the C payload by 3 bytes and fix up its declared length.
    out.truncate(out.len() - 3);
    let len = (out.len() - 12) as u32;
    out[8..12].copy_from_slice(&len.to_be_bytes());
    let got = decode_bytes(&out);
    assert!(matches!(got, Err(ProtoError::Inflate(_))), "{got:?}");
}

#[test]
fn zip_bomb_is_stopped_at_the_inflate_limit() {
    // 64 MiB of zeros compresses to ~64 KiB; the limit is 1 MiB.
    let zeros = vec![0u8; 64 << 20];
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut z, &zeros).unwrap();
    let bomb = z.finish().unwrap();
    let mut frame = b"2C".to_vec();
    frame.extend_from_slice(&(bomb.len() as u32).to_be_bytes());
    frame.extend_from_slice(&bomb);
    let limits = Limits {
        max_inflated_bytes: 1 << 20,
        ..Limits::default()
    };
    let got = Decoder::new(limits).decode(&mut BytesMut::from(&frame[..]));
    assert_eq!(got, Err(ProtoError::InflatedTooLarge { limit: 1 << 20 }));
}

#[test]
fn compressed_frame_ending_inside_a_frame_is_an_error() {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut z, b"2J\0\0\0\x01\0\0\0\x10{}").unwrap();
    let data = z.finish().unwrap();
    let mut frame = b"2C".to_vec();
    frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
    frame.extend_from_slice(&data);
    assert_eq!(
        decode_bytes(&frame),
        Err(ProtoError::TruncatedCompressed { remaining: 12 })
    );
}

#[test]
fn nested_compressed_frame_is_an_error() {
    let inner = encode_batch(1, &[b"{}".to_vec()]);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut z, &inner[6..]).unwrap();
    let data = z.finish().unwrap();
    let mut frame = b"2C".to_vec();
    frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
    frame.extend_from_slice(&data);
    assert_eq!(decode_bytes(&frame), Err(ProtoError::NestedCompressed));
}

#[test]
fn empty_input_needs_more_bytes() {
    assert_eq!(decode_bytes(b""), Ok(vec![]));
    assert_eq!(decode_bytes(b"2"), Ok(vec![]));
    assert_eq!(decode_bytes(b"2J\0\0\0\x01\0\0\0\x05ab"), Ok(vec![]));
}

fn events_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..40)
}

proptest! {
    #[test]
    fn batches_round_trip_at_every_level(events in events_strategy(), level in 0u32..=9) {
        let out = encode_batch(level, &events);
        prop_assert_eq!(decode_bytes(&out).unwrap(), json_frames(&events));
    }

    #[test]
    fn byte_by_byte_decoding_equals_whole(events in events_strategy(), level in 0u32..=3, split in any::<prop::sample::Index>()) {
        let out = encode_batch(level, &events);
        let whole = decode_bytes(&out).unwrap();
        prop_assert_eq!(&decode_byte_by_byte(&out).unwrap(), &whole);
        // Also in two arbitrary chunks.
        let at = split.index(out.len() + 1);
        let mut decoder = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(&out[..at]);
        let mut frames = decode_all(&mut decoder, &mut buf).unwrap();
        buf.extend_from_slice(&out[at..]);
        frames.extend(decode_all(&mut decoder, &mut buf).unwrap());
        prop_assert_eq!(frames, whole);
    }

    #[test]
    fn data_frames_round_trip(fields in prop::collection::vec((".{0,20}", ".{0,40}"), 0..10), seq in any::<u32>()) {
        let mut out = Vec::new();
        encode_data(&mut out, seq, &fields);
        prop_assert_eq!(decode_byte_by_byte(&out).unwrap(), vec![Frame::Data { version: Version::V1, seq, fields }]);
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let limits = Limits { max_frame_bytes: 4096, max_inflated_bytes: 1 << 16, max_pairs: 16 };
        let _ = decode_all(&mut Decoder::new(limits), &mut BytesMut::from(&bytes[..]));
    }

    #[test]
    fn decoder_never_panics_on_framed_garbage(kind in prop::sample::select(b"WJDCA".to_vec()), version in prop::sample::select(b"12".to_vec()), body in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = vec![version, kind];
        bytes.extend_from_slice(&body);
        let limits = Limits { max_frame_bytes: 4096, max_inflated_bytes: 1 << 16, max_pairs: 16 };
        let _ = decode_all(&mut Decoder::new(limits), &mut BytesMut::from(&bytes[..]));
    }
}
