use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;
use proptest::prelude::*;

const TS: &str = "2026-03-01T04:12:09.123456789Z";

fn line(stream: Stream, text: &str, partial: bool) -> ContainerLine {
    ContainerLine {
        stream,
        time: TS.to_string(),
        text: text.to_string(),
        partial,
        attrs: BTreeMap::new(),
    }
}

// --- Docker json-file (fixtures in the shape of Docker's json-file driver docs) ---

#[test]
fn parses_docker_full_line_and_strips_newline() {
    let l = parse_docker(
        r#"{"log":"Log line is here\n","stream":"stdout","time":"2019-01-01T11:11:11.111111111Z"}"#,
    )
    .unwrap();
    assert_eq!(l.stream, Stream::Stdout);
    assert_eq!(l.time, "2019-01-01T11:11:11.111111111Z");
    assert_eq!(l.text, "Log line is here");
    assert!(!l.partial);
    assert!(l.attrs.is_empty());
}

#[test]
fn parses_docker_stderr_with_attrs_and_file_newline() {
    let l = parse_line(
        b"{\"log\":\"boom\\r\\n\",\"stream\":\"stderr\",\"attrs\":{\"env\":\"prod\",\"app\":\"web\"},\"time\":\"2026-03-01T04:12:09Z\"}\n",
        Format::Docker,
    )
    .unwrap();
    assert_eq!(l.stream, Stream::Stderr);
    assert_eq!(l.text, "boom");
    assert_eq!(l.attrs.get("app").map(String::as_str), Some("web"));
    assert_eq!(l.attrs.len(), 2);
}

#[test]
fn docker_line_without_newline_is_partial_and_keeps_text() {
    let l = parse_docker(&format!(
        r#"{{"log":"first 16k chunk ","stream":"stdout","time":"{TS}"}}"#
    ))
    .unwrap();
    assert!(l.partial);
    assert_eq!(l.text, "first 16k chunk ");
}

#[test]
fn docker_empty_log_line_is_an_empty_message() {
    let l = parse_docker(&format!(
        r#"{{"log":"\n","stream":"stdout","time":"{TS}"}}"#
    ))
    .unwrap();
    assert_eq!(l.text, "");
    assert!(!l.partial);
}

#[test]
fn docker_unicode_escapes_decode() {
    let l = parse_docker(&format!(
        r#"{{"log":"caf\u00e9 \ud83d\ude00 \"q\"\n","stream":"stdout","time":"{TS}"}}"#
    ))
    .unwrap();
    assert_eq!(l.text, "café 😀 \"q\"");
}

#[test]
fn docker_ignores_unknown_fields() {
    let l = parse_docker(&format!(
        r#"{{"log":"x\n","stream":"stdout","time":"{TS}","future":[1,2]}}"#
    ))
    .unwrap();
    assert_eq!(l.text, "x");
}

#[test]
fn docker_truncated_json_is_a_json_error() {
    let err = parse_docker(r#"{"log":"half a line\n","stream":"std"#).unwrap_err();
    assert!(matches!(err, ContainerLineError::Json(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("docker json-file line is not valid json")
    );
}

#[test]
fn docker_missing_fields_are_named() {
    assert_eq!(
        parse_docker(&format!(r#"{{"stream":"stdout","time":"{TS}"}}"#)),
        Err(ContainerLineError::MissingField("log"))
    );
    assert_eq!(
        parse_docker(&format!(r#"{{"log":"x\n","time":"{TS}"}}"#)),
        Err(ContainerLineError::MissingField("stream"))
    );
    assert_eq!(
        parse_docker(r#"{"log":"x\n","stream":"stdout"}"#),
        Err(ContainerLineError::MissingField("time"))
    );
}

#[test]
fn docker_bad_stream_and_bad_time_are_rejected() {
    assert_eq!(
        parse_docker(&format!(
            r#"{{"log":"x\n","stream":"stdin","time":"{TS}"}}"#
        )),
        Err(ContainerLineError::BadStream("stdin".into()))
    );
    assert_eq!(
        parse_docker(r#"{"log":"x\n","stream":"stdout","time":"yesterday"}"#),
        Err(ContainerLineError::BadTime("yesterday".into()))
    );
}

#[test]
fn docker_wrong_types_and_non_objects_are_json_errors() {
    for bad in [
        format!(r#"{{"log":5,"stream":"stdout","time":"{TS}"}}"#),
        "[1,2,3]".to_string(),
        "{}garbage".to_string(),
        "{".to_string(),
    ] {
        assert!(
            matches!(parse_docker(&bad), Err(ContainerLineError::Json(_))),
            "{bad}"
        );
    }
}

#[test]
fn docker_lone_surrogate_escape_is_a_json_error() {
    let err = parse_docker(&format!(
        r#"{{"log":"bad \ud800 escape\n","stream":"stdout","time":"{TS}"}}"#
    ))
    .unwrap_err();
    assert!(matches!(err, ContainerLineError::Json(_)), "{err:?}");
}

#[test]
fn raw_invalid_utf8_is_replaced_not_rejected() {
    let mut raw = br#"{"log":"bytes "#.to_vec();
    raw.extend_from_slice(&[0xff, 0xfe]);
    raw.extend_from_slice(format!(r#"\n","stream":"stdout","time":"{TS}"}}"#).as_bytes());
    let l = parse_line(&raw, Format::Auto).unwrap();
    assert_eq!(l.text, "bytes \u{fffd}\u{fffd}");

    let mut cri = format!("{TS} stdout F ").into_bytes();
    cri.push(0xc3);
    let l = parse_line(&cri, Format::Cri).unwrap();
    assert_eq!(l.text, "\u{fffd}");
}

#[test]
fn error_values_are_clipped() {
    let huge = "x".repeat(10_000);
    let err = parse_cri(&format!("{huge} stdout F hi")).unwrap_err();
    assert!(err.to_string().len() < 200, "{err}");
}

// --- CRI (fixtures in the shape of the Kubernetes CRI logging spec) ---

#[test]
fn parses_cri_full_and_partial_lines() {
    let l = parse_cri("2016-10-06T00:17:09.669794202Z stdout F The content of the log entry 1")
        .unwrap();
    assert_eq!(l.stream, Stream::Stdout);
    assert_eq!(l.time, "2016-10-06T00:17:09.669794202Z");
    assert_eq!(l.text, "The content of the log entry 1");
    assert!(!l.partial);

    let l =
        parse_cri("2016-10-06T00:17:10.113242941Z stderr P First line of log entry 2\n").unwrap();
    assert_eq!(l.stream, Stream::Stderr);
    assert_eq!(l.text, "First line of log entry 2");
    assert!(l.partial);
}

#[test]
fn cri_message_keeps_inner_and_trailing_spaces() {
    let l = parse_cri(&format!("{TS} stdout F  two  spaces ")).unwrap();
    assert_eq!(l.text, " two  spaces ");
}

#[test]
fn cri_empty_message_with_or_without_separator() {
    assert_eq!(parse_cri(&format!("{TS} stdout F ")).unwrap().text, "");
    assert_eq!(parse_cri(&format!("{TS} stdout F")).unwrap().text, "");
}

#[test]
fn cri_tag_uses_only_the_part_before_colon() {
    assert!(parse_cri(&format!("{TS} stdout P:x:y m")).unwrap().partial);
    assert!(
        !parse_cri(&format!("{TS} stdout F:whatever m"))
            .unwrap()
            .partial
    );
}

#[test]
fn cri_bad_tag_is_rejected() {
    assert_eq!(
        parse_cri(&format!("{TS} stdout X msg")),
        Err(ContainerLineError::BadTag("X".into()))
    );
    assert_eq!(
        parse_cri(&format!("{TS} stdout FP msg")),
        Err(ContainerLineError::BadTag("FP".into()))
    );
    assert_eq!(
        parse_cri(&format!("{TS} stdout  msg")),
        Err(ContainerLineError::BadTag("".into()))
    );
}

#[test]
fn cri_too_few_fields_bad_stream_bad_time() {
    assert_eq!(
        parse_cri(&format!("{TS} stdout")),
        Err(ContainerLineError::CriTooFewFields(2))
    );
    assert_eq!(parse_cri(TS), Err(ContainerLineError::CriTooFewFields(1)));
    assert_eq!(
        parse_cri(&format!("{TS} out F m")),
        Err(ContainerLineError::BadStream("out".into()))
    );
    assert_eq!(
        parse_cri("not-a-time stdout F m"),
        Err(ContainerLineError::BadTime("not-a-time".into()))
    );
    assert_eq!(parse_cri(""), Err(ContainerLineError::Empty));
    assert_eq!(parse_cri("\n"), Err(ContainerLineError::Empty));
    assert_eq!(parse_docker("  \n"), Err(ContainerLineError::Empty));
}

#[test]
fn rfc3339_shapes() {
    for ok in [
        "2026-03-01T04:12:09Z",
        "2026-03-01T04:12:09.1Z",
        "2026-03-01T04:12:09.123456789Z",
        "2026-03-01T04:12:09.123456789+01:00",
        "2026-03-01T04:12:09-07:30",
        "2016-12-31T23:59:60Z",
    ] {
        assert!(is_rfc3339(ok), "{ok}");
    }
    for bad in [
        "",
        "2026-03-01",
        "2026-03-01 04:12:09Z",
        "2026-13-01T04:12:09Z",
        "2026-03-01T24:12:09Z",
        "2026-03-01T04:12:09",
        "2026-03-01T04:12:09.Z",
        "2026-03-01T04:12:09+0100",
        "2026-03-01T04:12:09Zjunk",
        "２026-03-01T04:12:09Z",
    ] {
        assert!(!is_rfc3339(bad), "{bad}");
    }
}

// --- format detection ---

#[test]
fn auto_detects_per_line() {
    let docker = format!(r#"{{"log":"d\n","stream":"stderr","time":"{TS}"}}"#);
    let cri = format!("{TS} stdout F c");
    assert_eq!(detect_format(&docker), Format::Docker);
    assert_eq!(detect_format(&cri), Format::Cri);
    assert_eq!(parse_line_str(&docker, Format::Auto).unwrap().text, "d");
    assert_eq!(parse_line_str(&cri, Format::Auto).unwrap().text, "c");
    // A forced format does not fall back.
    assert!(parse_line_str(&cri, Format::Docker).is_err());
    assert!(parse_line_str(&docker, Format::Cri).is_err());
}

#[test]
fn format_and_stream_filter_deserialize_lowercase() {
    let f: Format = serde_json::from_str(r#""cri""#).unwrap();
    assert_eq!(f, Format::Cri);
    let s: StreamFilter = serde_json::from_str(r#""stderr""#).unwrap();
    assert_eq!(s, StreamFilter::Stderr);
    assert!(serde_json::from_str::<Format>(r#""json""#).is_err());
}

// --- joining ---

#[test]
fn joins_docker_partials_into_one_message() {
    let lines = [
        format!(r#"{{"log":"aaa","stream":"stdout","time":"{TS}"}}"#),
        r#"{"log":"bbb","stream":"stdout","time":"2026-03-01T04:12:10Z"}"#.to_string(),
        r#"{"log":"ccc\n","stream":"stdout","time":"2026-03-01T04:12:11Z"}"#.to_string(),
    ];
    let mut j = Joiner::new(1024, StreamFilter::All);
    let mut offset = 0;
    let mut out = Vec::new();
    for l in &lines {
        out.extend(j.push(parse_docker(l).unwrap(), offset));
        offset += l.len() as u64 + 1;
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].text, "aaabbbccc");
    assert_eq!(out[0].time, TS, "time of the first fragment");
    assert_eq!(out[0].offset, 0);
    assert!(!out[0].truncated);
    assert_eq!(j.pending_offset(), None);
}

#[test]
fn joins_cri_partials_per_stream_when_interleaved() {
    let lines = [
        (10, format!("{TS} stdout P out-1 ")),
        (20, format!("{TS} stderr P err-1 ")),
        (30, format!("{TS} stderr F err-2")),
        (40, format!("{TS} stdout P out-2 ")),
        (50, format!("{TS} stdout F out-3")),
    ];
    let mut j = Joiner::new(1024, StreamFilter::All);
    let mut out = Vec::new();
    for (offset, l) in &lines {
        out.extend(j.push(parse_cri(l).unwrap(), *offset));
        if *offset == 20 {
            assert_eq!(j.pending_offset(), Some(10));
        }
    }
    let got: Vec<_> = out
        .iter()
        .map(|m| (m.stream, m.text.as_str(), m.offset))
        .collect();
    assert_eq!(
        got,
        [
            (Stream::Stderr, "err-1 err-2", 20),
            (Stream::Stdout, "out-1 out-2 out-3", 10)
        ]
    );
}

#[test]
fn stream_filter_drops_other_stream_without_disturbing_joins() {
    let mut j = Joiner::new(1024, StreamFilter::Stderr);
    assert_eq!(j.push(line(Stream::Stdout, "o", false), 0), None);
    assert_eq!(j.push(line(Stream::Stderr, "e1", true), 1), None);
    assert_eq!(j.push(line(Stream::Stdout, "o2", true), 2), None);
    let m = j.push(line(Stream::Stderr, "e2", false), 3).unwrap();
    assert_eq!(m.text, "e1e2");
    assert!(
        j.flush().is_empty(),
        "filtered stdout partial was not buffered"
    );

    let mut j = Joiner::new(1024, StreamFilter::Stdout);
    assert_eq!(j.push(line(Stream::Stderr, "e", false), 0), None);
    assert_eq!(
        j.push(line(Stream::Stdout, "o", false), 1).unwrap().text,
        "o"
    );
}

#[test]
fn max_bytes_cuts_and_flags_and_discards_rest_of_line() {
    let mut j = Joiner::new(10, StreamFilter::All);
    assert_eq!(j.push(line(Stream::Stdout, "0123456", true), 0), None);
    assert_eq!(j.push(line(Stream::Stdout, "789abc", true), 7), None);
    for i in 0..1000 {
        assert_eq!(
            j.push(line(Stream::Stdout, &"z".repeat(16 * 1024), true), i),
            None
        );
    }
    let m = j.push(line(Stream::Stdout, "end", false), 99).unwrap();
    assert_eq!(m.text, "0123456789");
    assert!(m.truncated);
    assert_eq!(m.offset, 0);

    // The next line starts fresh.
    let m = j.push(line(Stream::Stdout, "short", false), 100).unwrap();
    assert_eq!(m.text, "short");
    assert!(!m.truncated);
}

#[test]
fn max_bytes_applies_to_single_full_lines_and_respects_char_boundaries() {
    let mut j = Joiner::new(5, StreamFilter::All);
    let m = j.push(line(Stream::Stderr, "abcdéfg", false), 0).unwrap();
    assert_eq!(m.text, "abcd", "é straddles byte 5, cut before it");
    assert!(m.truncated);
    let m = j.push(line(Stream::Stderr, "abcde", false), 0).unwrap();
    assert_eq!(m.text, "abcde");
    assert!(!m.truncated, "exactly max_bytes is not truncated");
}

#[test]
fn flush_returns_pending_partials_oldest_first() {
    let mut j = Joiner::new(1024, StreamFilter::All);
    j.push(line(Stream::Stderr, "late", true), 50);
    j.push(line(Stream::Stdout, "early", true), 5);
    j.push(line(Stream::Stdout, "+more", true), 60);
    let out = j.flush();
    let got: Vec<_> = out.iter().map(|m| (m.text.as_str(), m.offset)).collect();
    assert_eq!(got, [("early+more", 5), ("late", 50)]);
    assert!(j.flush().is_empty());
    assert_eq!(j.pending_offset(), None);
}

// --- paths and metadata ---

const ID: &str = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";

#[test]
fn container_id_from_docker_path() {
    let p = format!("/var/lib/docker/containers/{ID}/{ID}-json.log");
    let parsed = parse_log_path(Path::new(&p)).unwrap();
    assert_eq!(parsed, ContainerLogPath::Docker { id: ID.into() });
    assert_eq!(parsed.container_id(), Some(ID));
    let rotated = format!("/data/docker/containers/{ID}/{ID}-json.log.3");
    assert_eq!(
        parse_log_path(Path::new(&rotated)).unwrap().container_id(),
        Some(ID)
    );
    assert_eq!(
        docker_config_path(Path::new(&p)),
        Some(PathBuf::from(format!(
            "/var/lib/docker/containers/{ID}/config.v2.json"
        )))
    );
}

#[test]
fn docker_path_mismatches_are_not_recognised() {
    let other = ID.replace('3', "4");
    for p in [
        format!("/var/lib/docker/containers/{ID}/{other}-json.log"),
        format!(
            "/var/lib/docker/containers/{}/{}-json.log",
            &ID[1..],
            &ID[1..]
        ),
        format!("/var/lib/docker/containers/{ID}/config.v2.json"),
        format!("/var/lib/docker/containers/{ID}/{ID}-json.logx"),
        "/var/log/syslog".to_string(),
        "/".to_string(),
        "".to_string(),
    ] {
        assert_eq!(parse_log_path(Path::new(&p)), None, "{p}");
        assert_eq!(docker_config_path(Path::new(&p)), None, "{p}");
    }
    let upper = ID.to_uppercase();
    let p = format!("/c/{upper}/{upper}-json.log");
    assert_eq!(parse_log_path(Path::new(&p)), None);
}

#[test]
fn container_id_from_kubelet_containers_symlink() {
    let p = format!("/var/log/containers/web-7d9f8-abcde_default_nginx-proxy-{ID}.log");
    let parsed = parse_log_path(Path::new(&p)).unwrap();
    assert_eq!(
        parsed,
        ContainerLogPath::KubeContainers {
            pod: "web-7d9f8-abcde".into(),
            namespace: "default".into(),
            container: "nginx-proxy".into(),
            id: ID.into(),
        }
    );
    assert_eq!(parsed.container_id(), Some(ID));
    assert_eq!(docker_config_path(Path::new(&p)), None);
    assert_eq!(
        parse_log_path(Path::new(
            "/var/log/containers/web_default_nginx-notanid.log"
        )),
        None
    );
}

#[test]
fn pod_identity_from_kubelet_pods_dir() {
    let p = "/var/log/pods/kube-system_coredns-5d78c9869d-x2x7k_0b9a7d3e-1c2f-4e5a-8b6c-7d8e9f0a1b2c/coredns/3.log";
    let parsed = parse_log_path(Path::new(p)).unwrap();
    assert_eq!(
        parsed,
        ContainerLogPath::KubePods {
            namespace: "kube-system".into(),
            pod: "coredns-5d78c9869d-x2x7k".into(),
            pod_uid: "0b9a7d3e-1c2f-4e5a-8b6c-7d8e9f0a1b2c".into(),
            container: "coredns".into(),
            restart_count: 3,
        }
    );
    assert_eq!(parsed.container_id(), None);
    let rotated = "/var/log/pods/ns_pod_uid/app/0.log.20260301-041209";
    assert!(matches!(
        parse_log_path(Path::new(rotated)),
        Some(ContainerLogPath::KubePods {
            restart_count: 0,
            ..
        })
    ));
    for bad in [
        "/var/log/pods/ns_pod/app/0.log",
        "/var/log/pods/ns_pod_uid_extra/app/0.log",
        "/var/log/pods/ns_pod_uid/app/x.log",
        "/var/log/pods/ns_pod_uid/app/0.txt",
        "/var/log/pods/ns__uid/app/0.log",
    ] {
        assert_eq!(parse_log_path(Path::new(bad)), None, "{bad}");
    }
}

const CONFIG_V2: &str = r#"{
    "StreamConfig": {},
    "State": {"Running": true, "Pid": 4242, "StartedAt": "2026-03-01T04:00:00.000000000Z"},
    "ID": "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899",
    "Created": "2026-03-01T03:59:58.123456789Z",
    "Path": "nginx",
    "Args": ["-g", "daemon off;"],
    "Config": {
        "Hostname": "3f4e5d6c7b8a",
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin"],
        "Image": "nginx:1.27-alpine",
        "Labels": {"com.docker.compose.service": "web"}
    },
    "Image": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "Name": "/web-1",
    "Driver": "overlay2",
    "LogPath": "/var/lib/docker/containers/3f4e/3f4e-json.log"
}"#;

#[test]
fn docker_metadata_reads_name_and_image() {
    assert_eq!(
        docker_metadata(CONFIG_V2),
        Some(ContainerMeta {
            name: "web-1".into(),
            image: "nginx:1.27-alpine".into(),
        })
    );
}

#[test]
fn docker_metadata_rejects_incomplete_configs() {
    for bad in [
        "",
        "{",
        "[]",
        r#"{"Name":"/x"}"#,
        r#"{"Config":{"Image":"i"}}"#,
        r#"{"Name":"/","Config":{"Image":"i"}}"#,
        r#"{"Name":"/x","Config":{"Image":""}}"#,
        r#"{"Name":5,"Config":{"Image":"i"}}"#,
    ] {
        assert_eq!(docker_metadata(bad), None, "{bad}");
    }
}

#[test]
fn read_docker_metadata_from_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.v2.json");
    std::fs::write(&path, CONFIG_V2).unwrap();
    assert_eq!(read_docker_metadata(&path).unwrap().unwrap().name, "web-1");

    std::fs::write(&path, [0xff, 0xfe, b'{']).unwrap();
    assert_eq!(read_docker_metadata(&path).unwrap(), None);

    let missing = dir.path().join("nope.json");
    assert_eq!(
        read_docker_metadata(&missing).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
}

// --- properties ---

proptest! {
    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for format in [Format::Auto, Format::Docker, Format::Cri] {
            let _ = parse_line(&bytes, format);
        }
    }

    #[test]
    fn parsers_never_panic_on_near_valid_lines(
        prefix_len in 0usize..80,
        suffix in "\\PC{0,40}",
        cri in any::<bool>(),
    ) {
        let valid = if cri {
            format!("{TS} stdout P some text")
        } else {
            format!(r#"{{"log":"some text\n","stream":"stdout","time":"{TS}"}}"#)
        };
        let cut = valid.floor_char_boundary(prefix_len.min(valid.len()));
        let line = format!("{}{suffix}", &valid[..cut]);
        let _ = parse_line_str(&line, Format::Auto);
    }

    #[test]
    fn joined_fragments_give_back_the_line_or_its_cut_prefix(
        text in "\\PC{0,200}",
        cuts in proptest::collection::vec(0usize..200, 0..8),
        max_bytes in 0usize..300,
    ) {
        let mut bounds: Vec<usize> = cuts
            .into_iter()
            .map(|c| text.floor_char_boundary(c.min(text.len())))
            .collect();
        bounds.push(0);
        bounds.push(text.len());
        bounds.sort_unstable();
        bounds.dedup();
        let mut j = Joiner::new(max_bytes, StreamFilter::All);
        let mut out = Vec::new();
        let pieces = bounds.windows(2).count().max(1);
        for i in 0..pieces {
            let (a, b) = if bounds.len() >= 2 { (bounds[i], bounds[i + 1]) } else { (0, 0) };
            let l = line(Stream::Stdout, &text[a..b], i + 1 < pieces);
            out.extend(j.push(l, a as u64));
        }
        prop_assert_eq!(out.len(), 1);
        let m = &out[0];
        prop_assert!(m.text.len() <= max_bytes);
        prop_assert!(text.starts_with(&m.text));
        prop_assert_eq!(m.truncated, text.len() > max_bytes);
        if !m.truncated {
            prop_assert_eq!(&m.text, &text);
        }
    }

    #[test]
    fn joiner_text_never_exceeds_max_bytes(
        steps in proptest::collection::vec((any::<bool>(), any::<bool>(), "\\PC{0,64}"), 0..64),
        max_bytes in 0usize..100,
    ) {
        let mut j = Joiner::new(max_bytes, StreamFilter::All);
        for (i, (stderr, partial, text)) in steps.iter().enumerate() {
            let stream = if *stderr { Stream::Stderr } else { Stream::Stdout };
            if let Some(m) = j.push(line(stream, text, *partial), i as u64) {
                prop_assert!(m.text.len() <= max_bytes);
                prop_assert_eq!(m.stream, stream);
            }
        }
        for m in j.flush() {
            prop_assert!(m.text.len() <= max_bytes);
        }
    }
}
