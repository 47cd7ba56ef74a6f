//! Header parsing against the examples of RFC 3164 and RFC 5424, years of BSD
//! timestamps around New Year, time zones, and "never panics" on any text.

use std::borrow::Cow;

use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};
use proptest::prelude::*;

use super::header::{Format, Message, ParseOptions, SdElement, parse};

fn utc(format: Format) -> ParseOptions {
    ParseOptions {
        format,
        timezone: TimeZone::UTC,
    }
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// Parses at 2003-10-20 in UTC (the RFCs' examples are from 2003).
fn read(text: &str, format: Format) -> Message<'_> {
    parse(text, &utc(format), at("2003-10-20T00:00:00Z"))
}

#[test]
fn rfc3164_example_with_host_and_tag() {
    let text = "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8";
    let m = read(text, Format::Rfc3164);
    assert_eq!(m.priority, Some(34));
    assert_eq!((m.facility(), m.severity()), (Some(4), Some(2)));
    assert_eq!(m.timestamp, Some(at("2003-10-11T22:14:15Z")));
    assert_eq!(m.hostname, Some("mymachine"));
    assert_eq!(m.appname, Some("su"));
    assert_eq!(m.procid, None);
    assert_eq!(m.msg, "'su root' failed for lonvick on /dev/pts/8");
    assert_eq!(
        read(text, Format::Auto),
        m,
        "auto reads BSD syslog the same"
    );
}

#[test]
fn rfc3164_example_with_an_ip_for_host_and_no_tag() {
    let m = read(
        "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
        Format::Rfc3164,
    );
    assert_eq!(m.priority, Some(13));
    assert_eq!(m.timestamp, Some(at("2003-02-05T17:32:18Z")));
    assert_eq!(m.hostname, Some("10.0.0.99"));
    assert_eq!(m.appname, None);
    assert_eq!(m.msg, "Use the BFG!");
}

#[test]
fn rfc3164_examples_without_a_valid_timestamp_are_all_message() {
    let text = "<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!";
    let m = read(text, Format::Rfc3164);
    assert_eq!(m.priority, Some(0));
    assert_eq!(m.timestamp, None);
    assert_eq!(m.hostname, None);
    assert_eq!(m.msg, &text[3..]);
}

#[test]
fn text_without_a_valid_pri_is_all_message_and_nothing_else() {
    for text in [
        "Use the BFG!",
        "<192>Oct 11 22:14:15 h t: m",
        "<>x",
        "<1x>y",
        "<0013>z",
        "",
        "<",
    ] {
        let m = read(text, Format::Auto);
        assert_eq!(
            m,
            Message {
                msg: text,
                ..Message::default()
            },
            "{text:?}"
        );
    }
}

#[test]
fn tag_with_pid_host_missing_and_iso_timestamps() {
    let m = read(
        "<30>Oct  9 08:01:02 sshd[4242]: Accepted key",
        Format::Rfc3164,
    );
    assert_eq!(m.hostname, None);
    assert_eq!((m.appname, m.procid), (Some("sshd"), Some("4242")));
    assert_eq!(m.msg, "Accepted key");

    let m = read(
        "<30>2003-10-09T08:01:02.123+02:00 web-1 nginx[7]: GET /",
        Format::Rfc3164,
    );
    assert_eq!(m.timestamp, Some(at("2003-10-09T06:01:02.123Z")));
    assert_eq!(
        (m.hostname, m.appname, m.procid),
        (Some("web-1"), Some("nginx"), Some("7"))
    );
    assert_eq!(m.msg, "GET /");

    // A colon that is not followed by a space does not end a tag.
    let m = read(
        "<13>Oct  9 08:01:02 host http://example.com/ is down",
        Format::Rfc3164,
    );
    assert_eq!((m.hostname, m.appname), (Some("host"), None));
    assert_eq!(m.msg, "http://example.com/ is down");
}

#[test]
fn websense_key_values_stay_the_message() {
    let text = "<159>Mar  3 12:00:00 10.1.2.3 vendor=Websense product=Security action=permitted";
    let m = read(text, Format::Auto);
    assert_eq!(m.hostname, Some("10.1.2.3"));
    assert_eq!(m.appname, None);
    assert_eq!(m.msg, "vendor=Websense product=Security action=permitted");
}

#[test]
fn bsd_year_is_the_nearest_not_more_than_a_day_ahead() {
    let o = utc(Format::Rfc3164);
    let time = |text: &str, now: &str| parse(text, &o, at(now)).timestamp;
    let dec31 = "<13>Dec 31 23:59:00 h m";
    assert_eq!(
        time(dec31, "2024-01-01T00:10:00Z"),
        Some(at("2023-12-31T23:59:00Z"))
    );
    let jan1 = "<13>Jan  1 00:01:00 h m";
    assert_eq!(
        time(jan1, "2023-12-31T23:59:00Z"),
        Some(at("2024-01-01T00:01:00Z"))
    );
    let jun17 = "<13>Jun 17 10:00:00 h m";
    assert_eq!(
        time(jun17, "2024-06-15T10:00:00Z"),
        Some(at("2023-06-17T10:00:00Z"))
    );
    assert_eq!(
        time(jun17, "2024-06-16T10:00:01Z"),
        Some(at("2024-06-17T10:00:00Z"))
    );
    let feb29 = "<13>Feb 29 12:00:00 h m";
    assert_eq!(
        time(feb29, "2025-03-01T00:00:00Z"),
        Some(at("2024-02-29T12:00:00Z"))
    );
    assert_eq!(
        time("<13>Feb 30 12:00:00 h m", "2025-03-01T00:00:00Z"),
        None
    );
}

#[test]
fn timestamps_without_a_zone_are_in_the_configured_one() {
    let plus2 = ParseOptions {
        format: Format::Auto,
        timezone: TimeZone::fixed(Offset::constant(2)),
    };
    let now = at("2003-10-20T00:00:00Z");
    let m = parse("<13>Oct 11 22:14:15 h m", &plus2, now);
    assert_eq!(m.timestamp, Some(at("2003-10-11T20:14:15Z")));
    let m = parse("<13>2003-10-11T22:14:15.5 h m", &plus2, now);
    assert_eq!(m.timestamp, Some(at("2003-10-11T20:14:15.5Z")));
    let m = parse("<13>2003-10-11T22:14:15Z h m", &plus2, now);
    assert_eq!(
        m.timestamp,
        Some(at("2003-10-11T22:14:15Z")),
        "its own zone wins"
    );
}

#[test]
fn rfc5424_example_1_with_bom_and_no_structured_data() {
    let text = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{feff}'su root' failed for lonvick on /dev/pts/8";
    let m = read(text, Format::Rfc5424);
    assert_eq!(m.priority, Some(34));
    assert_eq!(m.version, Some(1));
    assert_eq!(m.timestamp, Some(at("2003-10-11T22:14:15.003Z")));
    assert_eq!(m.hostname, Some("mymachine.example.com"));
    assert_eq!(
        (m.appname, m.procid, m.msgid),
        (Some("su"), None, Some("ID47"))
    );
    assert!(m.structured_data.is_empty());
    assert_eq!(m.msg, "'su root' failed for lonvick on /dev/pts/8");
    assert_eq!(read(text, Format::Auto), m);
}

#[test]
fn rfc5424_example_2_with_microseconds_and_an_offset() {
    let text = "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.";
    let m = read(text, Format::Auto);
    assert_eq!(m.timestamp, Some(at("2003-08-24T12:14:15.000003Z")));
    assert_eq!(
        (m.hostname, m.appname, m.procid),
        (Some("192.0.2.1"), Some("myproc"), Some("8710"))
    );
    assert_eq!(m.msgid, None);
    assert_eq!(m.msg, "%% It's time to make the do-nuts.");
}

#[test]
fn rfc5424_examples_3_and_4_with_structured_data() {
    let text = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \u{feff}An application event log entry...";
    let m = read(text, Format::Auto);
    assert_eq!(
        m.structured_data,
        vec![SdElement {
            id: "exampleSDID@32473",
            params: vec![
                ("iut", Cow::Borrowed("3")),
                ("eventSource", Cow::Borrowed("Application")),
                ("eventID", Cow::Borrowed("1011")),
            ],
        }]
    );
    assert_eq!(m.msg, "An application event log entry...");

    let text = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]";
    let m = read(text, Format::Auto);
    assert_eq!(m.structured_data.len(), 2);
    assert_eq!(m.structured_data[1].id, "examplePriority@32473");
    assert_eq!(
        m.structured_data[1].params,
        vec![("class", Cow::Borrowed("high"))]
    );
    assert_eq!(m.msg, "");
}

#[test]
fn structured_data_values_are_unescaped() {
    let text = r#"<13>1 - - - - - [a@1 q="say \"hi\"" b="x\]y\\z" k="\n" e=""] m"#;
    let m = read(text, Format::Auto);
    let params: Vec<(&str, &str)> = m.structured_data[0]
        .params
        .iter()
        .map(|(k, v)| (*k, v.as_ref()))
        .collect();
    assert_eq!(
        params,
        [
            ("q", "say \"hi\""),
            ("b", "x]y\\z"),
            ("k", "\\n"),
            ("e", "")
        ]
    );
    assert_eq!((m.timestamp, m.hostname, m.msg), (None, None, "m"));
}

#[test]
fn malformed_rfc5424_falls_back_by_format() {
    let text = "<13>1 2003-10-11T22:14:15Z host app - - [broken m";
    let m = read(text, Format::Rfc5424);
    assert_eq!((m.priority, m.version, m.hostname), (Some(13), None, None));
    assert_eq!(m.msg, &text[4..], "rfc5424: the rest is the message");
    let m = read(text, Format::Auto);
    assert_eq!(m.version, None);
    assert_eq!(
        m.msg,
        &text[4..],
        "auto: read as BSD syslog, which has no timestamp here"
    );
    let bsd = read("<13>Oct 11 22:14:15 host app: m", Format::Rfc5424);
    assert_eq!(
        (bsd.timestamp, bsd.msg),
        (None, "Oct 11 22:14:15 host app: m")
    );
}

proptest! {
    #[test]
    fn parsing_never_panics(
        head in prop_oneof![
            Just(""), Just("<13>"), Just("<13>1 "), Just("<13>Oct 11 22:14:15 "),
            Just("<13>1 - - - - - ["), Just("<191>2003-10-11T22:14:15"),
        ],
        body in "[ -~\\[\\]\"\\\\=:é\u{feff}]{0,40}",
        format in prop_oneof![Just(Format::Rfc3164), Just(Format::Rfc5424), Just(Format::Auto)],
        now in -100_000_000_000i64..100_000_000_000,
    ) {
        let text = format!("{head}{body}");
        let now = Timestamp::from_second(now).unwrap_or(Timestamp::UNIX_EPOCH);
        let m = parse(&text, &utc(format), now);
        prop_assert!(text.ends_with(m.msg) || m.msg.is_empty() || text.contains(m.msg));
    }
}

mod events {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use serde_json::{Value, json};

    use super::*;
    use crate::config::RateLimitConfig;
    use crate::event::{AgentInfo, EventShape, EventTemplate};
    use crate::input::syslog::intake::{Intake, Shared, Transport};
    use crate::input::syslog::stats::{DropReason, SyslogStats};

    fn intake(rate_limit: Option<RateLimitConfig>) -> (Intake, Arc<SyslogStats>) {
        let shape = EventShape {
            input_type: "syslog".into(),
            ..EventShape::default()
        };
        let template = EventTemplate::new(&AgentInfo::new("lumberwatch", None), &shape);
        let stats = Arc::new(SyslogStats::default());
        let shared = Shared::new(utc(Format::Auto), rate_limit, stats.clone());
        (
            Intake::new(Arc::new(shared), template, Transport::Udp),
            stats,
        )
    }

    fn admit(intake: &mut Intake, raw: &[u8], truncated: bool, peer: &str) -> Option<Value> {
        let peer: SocketAddr = peer.parse().unwrap();
        let mut events = Vec::new();
        intake.admit(
            raw,
            truncated,
            peer,
            at("2003-10-20T00:00:00Z"),
            &mut events,
        );
        assert!(events.len() <= 1, "one event per message without a parser");
        let event = events.pop()?;
        Some(serde_json::from_slice(&event.json).unwrap())
    }

    #[test]
    fn events_are_shaped_like_filebeats_syslog_input() {
        let (mut intake, _) = intake(None);
        let raw = "<165>1 2003-10-11T22:14:15.003Z host.example.com evntslog 42 ID47 [ex@1 a=\"b\\\"c\"][ex@1 d=\"e\"] \u{feff}An entry\r\n";
        let v = admit(&mut intake, raw.as_bytes(), false, "10.10.10.1:5140").unwrap();
        assert_eq!(v["message"], "An entry");
        assert_eq!(v["@timestamp"], "2003-10-11T22:14:15.003Z");
        assert_eq!(
            v["log"],
            json!({
                "source": {"address": "10.10.10.1:5140"},
                "syslog": {
                    "priority": 165,
                    "facility": {"code": 20, "name": "local4"},
                    "severity": {"code": 5, "name": "Notice"},
                    "hostname": "host.example.com",
                    "appname": "evntslog",
                    "procid": "42",
                    "msgid": "ID47",
                    "version": "1",
                    "structured_data": {"ex@1": {"a": "b\"c", "d": "e"}},
                }
            })
        );
        assert_eq!(v["related"], json!({"ip": ["10.10.10.1"]}));
        assert_eq!(v["network"], json!({"transport": "udp"}));
        assert_eq!(v["input"], json!({"type": "syslog"}));
    }

    #[test]
    fn text_without_pri_is_an_event_without_syslog_fields() {
        let (mut intake, _) = intake(None);
        let v = admit(&mut intake, b"\xffnot syslog\n", true, "[::1]:7").unwrap();
        assert_eq!(v["message"], "\u{fffd}not syslog");
        assert_eq!(
            v["log"],
            json!({"source": {"address": "[::1]:7"}, "flags": ["truncated"]})
        );
        assert!(v["@timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert!(
            admit(&mut intake, b"\r\n\0", false, "[::1]:7").is_none(),
            "empty"
        );
    }

    #[test]
    fn a_peer_over_its_rate_is_dropped_and_counted_alone() {
        let limit = RateLimitConfig {
            events_per_sec: 1,
            burst: 2,
        };
        let (mut intake, stats) = intake(Some(limit));
        let sent: Vec<bool> = (0..4)
            .map(|_| admit(&mut intake, b"<13>x", false, "10.0.0.1:1").is_some())
            .collect();
        assert_eq!(sent, [true, true, false, false]);
        assert!(admit(&mut intake, b"<13>x", false, "10.0.0.2:1").is_some());
        let s = stats.snapshot();
        let a = s.peer("10.0.0.1".parse().unwrap());
        assert_eq!(a.dropped(DropReason::RateLimited), 2);
        assert_eq!(s.peer("10.0.0.2".parse().unwrap()).dropped_total(), 0);
    }
}
