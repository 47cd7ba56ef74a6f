use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::event::Origin;

const KEY: FileKey = FileKey::Inode {
    device: 8,
    inode: 42,
};

fn open(dir: &Path) -> Arc<Registry> {
    Registry::open(dir, DEFAULT_CLEAN_REMOVED_AFTER).unwrap()
}

fn line(source: u64, start: u64, end: u64) -> Event {
    Event {
        json: bytes::Bytes::from_static(b"{}"),
        origin: Some(Origin::whole(source, start, end)),
    }
}

#[test]
fn offset_advances_only_over_a_contiguous_acked_range() {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(dir.path());
    let src = reg.open_source(KEY, "in", Path::new("/a.log"), 0);
    // Batches acked out of order: 20..30 and 10..20 before 0..10.
    reg.acked(&[line(src, 20, 25), line(src, 25, 30)]);
    assert_eq!(reg.offset(KEY), Some(0));
    reg.acked(&[line(src, 10, 20)]);
    assert_eq!(reg.offset(KEY), Some(0));
    reg.acked(&[line(src, 0, 10)]);
    assert_eq!(reg.offset(KEY), Some(30));
    // Duplicates (a resend) and overlaps change nothing and do not go backwards.
    reg.acked(&[line(src, 0, 10), line(src, 20, 25)]);
    assert_eq!(reg.offset(KEY), Some(30));
    reg.acked(&[line(src, 40, 50), line(src, 35, 45)]);
    assert_eq!(reg.offset(KEY), Some(30));
    reg.acked(&[line(src, 30, 35)]);
    assert_eq!(reg.offset(KEY), Some(50));
}

#[test]
fn source_merges_touching_and_overlapping_ranges() {
    let mut s = Source {
        key: KEY,
        acked: 100,
        ranges: BTreeMap::new(),
        shared: HashMap::new(),
    };
    assert!(!s.ack(200, 210));
    assert!(!s.ack(150, 160));
    assert!(!s.ack(160, 200));
    assert_eq!(s.ranges, BTreeMap::from([(150, 210)]));
    assert!(!s.ack(50, 90), "entirely before the acked offset");
    assert!(s.ack(90, 150), "overlapping the acked offset and the range");
    assert_eq!(s.acked, 210);
    assert!(s.ranges.is_empty());
}

#[test]
fn a_resumed_source_starts_at_its_offset_and_acks_of_a_superseded_one_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(dir.path());
    let old = reg.open_source(KEY, "in", Path::new("/a.log"), 0);
    reg.acked(&[line(old, 0, 100)]);
    // Truncated: a new run from 0; the old run's late ack must not move it to 200.
    let new = reg.open_source(KEY, "in", Path::new("/a.log"), 0);
    assert_eq!(reg.offset(KEY), Some(0));
    reg.acked(&[line(old, 100, 200)]);
    assert_eq!(reg.offset(KEY), Some(0));
    reg.acked(&[line(new, 0, 7)]);
    assert_eq!(reg.offset(KEY), Some(7));
    // A closed run's late acks still count while no newer run exists.
    reg.close_source(new);
    reg.acked(&[line(new, 7, 9)]);
    assert_eq!(reg.offset(KEY), Some(9));
}

#[test]
fn state_survives_a_flush_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(dir.path());
    let src = reg.open_source(KEY, "in", Path::new("/var/log/a.log"), 0);
    reg.acked(&[line(src, 0, 12)]);
    assert!(reg.flush().unwrap());
    assert!(!reg.flush().unwrap(), "nothing changed: no write");
    drop(reg);
    let reg = open(dir.path());
    assert_eq!(reg.offset(KEY), Some(12));
    assert_eq!(reg.files()[&KEY].path, Path::new("/var/log/a.log"));
}

#[test]
fn state_file_is_0600_in_a_0700_dir_and_no_temp_file_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(dir.path());
    reg.open_source(KEY, "in", Path::new("/a.log"), 0);
    reg.flush().unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(reg.path()), 0o600);
    assert_eq!(mode(reg.path().parent().unwrap()), 0o700);
    let names: Vec<_> = std::fs::read_dir(reg.path().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("filestream.json")]);
}

#[test]
fn a_temp_file_left_by_a_crash_is_ignored_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(dir.path());
    let src = reg.open_source(KEY, "in", Path::new("/a.log"), 0);
    reg.acked(&[line(src, 0, 5)]);
    reg.flush().unwrap();
    let temp = dir.path().join("registry/filestream.json.tmp");
    std::fs::write(&temp, b"{\"version\":1,\"fil").unwrap();
    let reg = open(dir.path());
    assert_eq!(reg.offset(KEY), Some(5));
    assert!(!temp.exists());
}

#[test]
fn a_corrupt_registry_is_an_error_naming_the_file_and_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("registry")).unwrap();
    let file = dir.path().join("registry/filestream.json");
    std::fs::write(&file, b"{\"version\":1,\"files\":[{\"dev").unwrap();
    let e = Registry::open(dir.path(), DEFAULT_CLEAN_REMOVED_AFTER)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("registry {} is corrupt (", file.display())),
        "{e}"
    );
    assert!(
        e.ends_with("move it aside to start over (every file is then read again from its start)"),
        "{e}"
    );
    assert!(!e.contains('\n'));
}

#[test]
fn a_newer_registry_is_an_error_not_a_reread() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("registry")).unwrap();
    let file = dir.path().join("registry/filestream.json");
    std::fs::write(&file, b"{\"version\":4,\"files\":[],\"future\":true}").unwrap();
    let e = Registry::open(dir.path(), DEFAULT_CLEAN_REMOVED_AFTER)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "registry {} has format version 4, newer than this lumberwatch reads (3); run the newer lumberwatch, or move the file aside to start over (every file is then read again from its start)",
            file.display()
        )
    );
}

#[test]
fn entries_of_files_unseen_for_the_clean_interval_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::open(dir.path(), Duration::from_secs(60)).unwrap();
    let other = FileKey::Inode {
        device: 8,
        inode: 43,
    };
    let a = reg.open_source(KEY, "in", Path::new("/a.log"), 0);
    let b = reg.open_source(other, "in", Path::new("/b.log"), 0);
    let start = Instant::now();
    assert_eq!(
        reg.clean(start + Duration::from_secs(3600)),
        0,
        "both are being read"
    );
    reg.close_source(a);
    reg.close_source(b);
    assert_eq!(reg.clean(start + Duration::from_secs(30)), 0);
    reg.seen([other]);
    let later = Instant::now() + Duration::from_secs(61);
    assert_eq!(reg.clean(later), 2);
    assert!(reg.files().is_empty());
    reg.flush().unwrap();
    assert!(open(dir.path()).files().is_empty());
}

#[test]
fn fingerprint_and_inode_entries_round_trip_in_format_3() {
    let dir = tempfile::tempdir().unwrap();
    let fp = FileKey::Fingerprint([0xab; 32]);
    let reg = open(dir.path());
    let a = reg.open_source(KEY, "in", Path::new("/a.log"), 0);
    let b = reg.open_source(fp, "in", Path::new("/b.log"), 0);
    reg.acked(&[line(a, 0, 10), line(b, 0, 20)]);
    reg.flush().unwrap();
    let text = std::fs::read_to_string(reg.path()).unwrap();
    assert!(text.starts_with("{\"version\":3,"), "{text}");
    assert!(
        text.contains(&format!("\"fingerprint\":\"{}\"", "ab".repeat(32))),
        "{text}"
    );
    let again = open(dir.path());
    assert_eq!(again.offset(KEY), Some(10));
    assert_eq!(again.offset(fp), Some(20));
}

#[test]
fn a_format_1_registry_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("registry")).unwrap();
    std::fs::write(
        dir.path().join("registry/filestream.json"),
        br#"{"version":1,"files":[{"device":8,"inode":42,"path":"/a.log","offset":7,"updated":1}]}"#,
    )
    .unwrap();
    assert_eq!(open(dir.path()).offset(KEY), Some(7));
}

#[test]
fn an_entry_without_identity_or_with_a_bad_fingerprint_is_corrupt() {
    for entry in [
        r#"{"path":"/a.log","offset":7,"updated":1}"#,
        r#"{"fingerprint":"zz","path":"/a.log","offset":7,"updated":1}"#,
        r#"{"device":1,"path":"/a.log","offset":7,"updated":1}"#,
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("registry")).unwrap();
        let doc = format!("{{\"version\":2,\"files\":[{entry}]}}");
        std::fs::write(dir.path().join("registry/filestream.json"), doc).unwrap();
        let e = Registry::open(dir.path(), DEFAULT_CLEAN_REMOVED_AFTER)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is corrupt"), "{entry}: {e}");
    }
}

#[test]
fn a_forgotten_file_starts_over_and_late_acks_do_not_revive_it() {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(dir.path());
    let a = reg.open_source(KEY, "in", Path::new("/a.log"), 0);
    reg.acked(&[line(a, 0, 10)]);
    reg.forget(KEY);
    reg.acked(&[line(a, 10, 20)]);
    assert_eq!(reg.offset(KEY), None);
    reg.flush().unwrap();
    assert_eq!(open(dir.path()).offset(KEY), None);
}

#[test]
fn clean_removed_drops_only_unseen_unread_entries_of_the_scanning_input() {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(dir.path());
    let key = |inode| FileKey::Inode { device: 8, inode };
    let (gone, open_file, seen, other_input) = (key(1), key(2), key(3), key(4));
    let a = reg.open_source(gone, "in", Path::new("/logs/gone.log"), 0);
    reg.acked(&[line(a, 0, 10)]);
    reg.close_source(a);
    reg.open_source(open_file, "in", Path::new("/logs/open.log"), 0);
    let s = reg.open_source(seen, "in", Path::new("/logs/seen.log"), 0);
    reg.close_source(s);
    let o = reg.open_source(other_input, "other", Path::new("/logs/x.log"), 0);
    reg.close_source(o);
    let unseen = reg.unseen("in", &HashSet::from([seen]), |_| true);
    assert_eq!(unseen, vec![(gone, PathBuf::from("/logs/gone.log"))]);
    // A harvester that opens the file between the two steps keeps its entry.
    let again = reg.open_source(gone, "in", Path::new("/logs/gone.log"), 10);
    assert_eq!(reg.remove_gone(&[gone]), 0);
    reg.close_source(again);
    assert_eq!(reg.remove_gone(&[gone]), 1);
    assert_eq!(
        reg.offset(gone),
        None,
        "a new file with this inode starts at 0"
    );
    // A late ack of the closed run does not bring the entry back.
    reg.acked(&[line(again, 10, 20)]);
    assert_eq!(reg.offset(gone), None);
    assert_eq!(
        reg.offset(other_input),
        Some(0),
        "another input's entry stays"
    );
    reg.flush().unwrap();
    let reopened = open(dir.path());
    assert_eq!(reopened.offset(gone), None);
    assert_eq!(
        reopened.files()[&other_input].input.as_deref(),
        Some("other")
    );
}

#[test]
fn entries_of_older_formats_belong_to_the_input_whose_globs_match_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("registry")).unwrap();
    std::fs::write(
        dir.path().join("registry/filestream.json"),
        br#"{"version":2,"files":[{"device":8,"inode":42,"path":"/a.log","offset":7,"updated":1}]}"#,
    )
    .unwrap();
    let reg = open(dir.path());
    assert_eq!(reg.files()[&KEY].input, None);
    assert!(
        reg.unseen("in", &HashSet::new(), |p| p != Path::new("/a.log"))
            .is_empty()
    );
    let unseen = reg.unseen("in", &HashSet::new(), |p| p == Path::new("/a.log"));
    assert_eq!(unseen, vec![(KEY, PathBuf::from("/a.log"))]);
}

#[tokio::test(start_paused = true)]
async fn the_first_ack_after_a_start_is_written_at_once_later_ones_batched() {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(dir.path());
    let flusher = tokio::spawn(reg.clone().run_flusher());
    // Let the flusher take its immediate first tick.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let src = reg.open_source(KEY, "in", Path::new("/a.log"), 0);
    reg.flush().unwrap();
    reg.acked(&[line(src, 0, 5)]);
    // Read the file itself: opening a registry would remove the writer's temp file.
    let on_disk = || {
        let path = dir.path().join("registry").join(store::FILE_NAME);
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        doc["files"][0]["offset"].as_u64()
    };
    // The write runs on the blocking pool (fsyncs): wait for it on the real clock, with
    // a deadline far above what it takes even on a loaded machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while on_disk() != Some(5) && std::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(on_disk(), Some(5), "written without waiting for the tick");
    reg.acked(&[line(src, 5, 9)]);
    for _ in 0..20 {
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(on_disk(), Some(5), "later acks wait for the next tick");
    tokio::time::sleep(FLUSH_INTERVAL).await;
    // The write runs on the blocking pool (fsyncs): wait for it on the real clock, with
    // a deadline far above what it takes even on a loaded machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while on_disk() != Some(9) && std::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(on_disk(), Some(9));
    flusher.abort();
}

#[test]
fn a_line_shared_by_several_events_settles_when_all_are_acked_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(dir.path());
    let src = reg.open_source(KEY, "in", Path::new("/a.log"), 0);
    let part = |start, end| Event {
        json: bytes::Bytes::from_static(b"{}"),
        origin: Some(Origin {
            parts: 3,
            ..Origin::whole(src, start, end)
        }),
    };
    reg.acked(&[line(src, 0, 10)]);
    // Three records of the line 10..90, acked last first, over two batches.
    reg.acked(&[part(10, 90)]);
    assert_eq!(reg.offset(KEY), Some(10));
    reg.acked(&[part(10, 90), line(src, 90, 95)]);
    assert_eq!(reg.offset(KEY), Some(10));
    reg.acked(&[part(10, 90)]);
    assert_eq!(reg.offset(KEY), Some(95));
}
